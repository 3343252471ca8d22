//! Snapshot of every module fixture's analysis: node IDs, kinds, lines, params, marks,
//! errors and unresolved imports.

use crate::module_common::{analyze_fixture, fixture_files, render};

#[test]
fn module_fixtures_snapshot() {
    let files = fixture_files();
    assert!(files.len() >= 10, "fixtures missing: {files:?}");
    for rel in files {
        let rendered = render(&analyze_fixture(&rel));
        let name = rel.trim_end_matches(".py").replace('/', "__");
        insta::assert_snapshot!(name, rendered);
    }
}
