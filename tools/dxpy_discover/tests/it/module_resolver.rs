//! Cross-file resolution contract and thread safety of the analysis.

use crate::module_common::{analyze_fixture, fixture_files, fixtures_root, render};
use dxpy_discover::module::{self, ExternalUse, ModuleContext, NameRules};

const IMPORTER: &str = "xfile/test_inherit_external.py";

#[test]
fn without_resolver_imported_bases_are_reported_and_treated_as_object() {
    let source = std::fs::read(fixtures_root().join(IMPORTER)).expect("fixture readable");
    let rules = NameRules::default();
    let analysis = module::analyze_detailed(&source, &ModuleContext::new(IMPORTER, &rules));
    let ids: Vec<&str> = analysis
        .result
        .items
        .iter()
        .map(|i| i.node_id.as_str())
        .collect();
    // Only what the file itself defines remains; nothing is inherited or imported.
    assert_eq!(
        ids,
        vec![
            "xfile/test_inherit_external.py::TestUsesMixin::test_own",
            "xfile/test_inherit_external.py::TestUsesMixin::test_overridden",
        ]
    );
    let unresolved: Vec<(String, String, ExternalUse, u32)> = analysis
        .unresolved
        .iter()
        .map(|r| (r.module.clone(), r.name.clone(), r.usage, r.line))
        .collect();
    assert_eq!(
        unresolved,
        vec![
            (
                ".base_mixins".to_owned(),
                "Mixin".to_owned(),
                ExternalUse::BaseClass,
                3
            ),
            (
                ".base_mixins".to_owned(),
                "CaseBase".to_owned(),
                ExternalUse::BaseClass,
                3
            ),
            (
                ".base_mixins".to_owned(),
                "Mixin".to_owned(),
                ExternalUse::BaseClass,
                2
            ),
            (
                ".base_mixins".to_owned(),
                "TestImportedCollected".to_owned(),
                ExternalUse::CollectedName,
                4
            ),
            (
                ".base_mixins".to_owned(),
                "test_imported_function".to_owned(),
                ExternalUse::CollectedName,
                5
            ),
        ]
    );
}

#[test]
fn with_resolver_nothing_is_left_unresolved() {
    let analysis = analyze_fixture(IMPORTER);
    assert!(analysis.unresolved.is_empty(), "{:?}", analysis.unresolved);
    assert!(analysis
        .result
        .items
        .iter()
        .any(|i| i.node_id.ends_with("TestUsesMixin::test_deep")));
}

#[test]
fn exported_definitions_lists_module_level_classes_and_functions() {
    let rel = "xfile/base_mixins.py";
    let source = std::fs::read(fixtures_root().join(rel)).expect("fixture readable");
    let rules = NameRules::default();
    let names: Vec<String> =
        module::exported_definitions(&source, &ModuleContext::new(rel, &rules))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
    assert_eq!(
        names,
        vec![
            "Mixin",
            "CaseBase",
            "TestImportedCollected",
            "test_imported_function"
        ]
    );
}

#[test]
fn parallel_analysis_matches_sequential() {
    let files = fixture_files();
    let sequential: Vec<String> = files.iter().map(|f| render(&analyze_fixture(f))).collect();
    let parallel: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| scope.spawn(move || render(&analyze_fixture(f))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("analysis thread panicked"))
            .collect()
    });
    assert_eq!(sequential, parallel);
}
