//! Agreement with real pytest: every module fixture is collected by
//! `$DXPY_TEST_PYTHON -m pytest --collect-only -q` (default `python3`) and the node IDs must
//! equal the analysis exactly; dynamic parametrizations must agree at function level.
//! Fixtures under `errors/` must fail to collect in both.

use std::collections::BTreeMap;

use crate::module_common::{analyze_fixture, fixture_files, fixture_options, fixtures_root};
use dxpy_discover::{ParamState, TestItem};
use dxpy_test_support::pytest::{collect_only_command, Collection};

/// A pytest plugin that writes each item's `iter_markers()` names to `$DXPY_MARKS_OUT`.
const MARKS_PLUGIN: &str = r#"
import os

def pytest_collection_modifyitems(items):
    with open(os.environ["DXPY_MARKS_OUT"], "w", encoding="utf-8") as out:
        for item in items:
            names = " ".join(mark.name for mark in item.iter_markers())
            out.write(item.nodeid + "\t" + names + "\n")
"#;

struct Collected {
    by_file: BTreeMap<String, Vec<String>>,
    /// node ID -> mark names in `iter_markers()` order.
    marks: BTreeMap<String, Vec<String>>,
    code: i32,
    stdout: String,
}

/// Run pytest's collection on some fixture files; node IDs grouped by file, marks, exit code.
fn pytest_collect(files: &[String], options: &[(String, String)]) -> Collected {
    let plugin_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(plugin_dir.path().join("dxpy_marks_probe.py"), MARKS_PLUGIN)
        .expect("plugin written");
    let marks_out = plugin_dir.path().join("marks.tsv");
    let mut command = collect_only_command(&fixtures_root());
    command
        .args(["-p", "no:warnings"])
        .args(["-p", "dxpy_marks_probe"])
        .env("PYTHONPATH", plugin_dir.path())
        .env("DXPY_MARKS_OUT", &marks_out);
    for (key, value) in options {
        command.arg("-o").arg(format!("{key}={value}"));
    }
    command.args(files);
    let collection = Collection::from(command.output().expect("cannot run pytest"));
    let mut by_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node_id in collection.node_ids {
        if let Some((file, _)) = node_id.split_once("::") {
            by_file
                .entry(file.to_owned())
                .or_default()
                .push(node_id.clone());
        }
    }
    let mut marks = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(&marks_out) {
        for line in text.lines() {
            if let Some((node_id, names)) = line.rsplit_once('\t') {
                marks.insert(
                    node_id.to_owned(),
                    names.split_whitespace().map(str::to_owned).collect(),
                );
            }
        }
    }
    Collected {
        by_file,
        marks,
        code: collection.code,
        stdout: collection.stdout,
    }
}

/// Mark names must follow pytest's `iter_markers()` order for every statically known item.
fn compare_marks(ours: &[TestItem], theirs: &BTreeMap<String, Vec<String>>) -> Result<(), String> {
    for item in ours.iter().filter(|i| i.params != ParamState::Dynamic) {
        let names: Vec<String> = item.marks.iter().map(|m| m.name.clone()).collect();
        match theirs.get(&item.node_id) {
            Some(expected) if *expected == names => {}
            other => {
                return Err(format!(
                    "{}: marks ours {names:?} vs pytest {other:?}",
                    item.node_id
                ))
            }
        }
    }
    Ok(())
}

/// Compare our items with pytest's IDs: exact for static items; a dynamic item stands for
/// one or more consecutive pytest IDs of the same function.
fn compare(file: &str, ours: &[TestItem], theirs: &[String]) -> Result<(), String> {
    let mut at = 0usize;
    for item in ours {
        match item.params {
            ParamState::Dynamic => {
                let start = at;
                while at < theirs.len() && strip_params(&theirs[at]) == item.node_id {
                    at += 1;
                }
                if at == start {
                    return Err(format!(
                        "{file}: dynamic item {} has no pytest counterpart at position {start} (pytest has {:?})",
                        item.node_id,
                        theirs.get(start)
                    ));
                }
            }
            _ => {
                if theirs.get(at) != Some(&item.node_id) {
                    return Err(format!(
                        "{file}: item #{at}: ours {} vs pytest {:?}\nours:   {:#?}\npytest: {:#?}",
                        item.node_id,
                        theirs.get(at),
                        ours.iter().map(|i| &i.node_id).collect::<Vec<_>>(),
                        theirs
                    ));
                }
                at += 1;
            }
        }
    }
    if at != theirs.len() {
        return Err(format!(
            "{file}: pytest collected more: {:?}",
            &theirs[at..]
        ));
    }
    Ok(())
}

fn strip_params(node_id: &str) -> &str {
    match node_id.find('[') {
        Some(i) => &node_id[..i],
        None => node_id,
    }
}

#[test]
fn node_ids_agree_with_pytest() {
    let root = fixtures_root();
    // Group fixtures by the ini options they need, so each group is one pytest run.
    let mut groups: BTreeMap<Vec<(String, String)>, Vec<String>> = BTreeMap::new();
    for rel in fixture_files()
        .into_iter()
        .filter(|f| !f.starts_with("errors/"))
    {
        let source = std::fs::read(root.join(&rel)).expect("fixture readable");
        groups
            .entry(fixture_options(&source))
            .or_default()
            .push(rel);
    }
    let mut failures = Vec::new();
    let mut compared = 0usize;
    for (options, files) in &groups {
        let collected = pytest_collect(files, options);
        let (code, stdout) = (collected.code, &collected.stdout);
        assert!(
            code == 0 || code == 5,
            "pytest failed to collect {files:?} (exit {code}):\n{stdout}"
        );
        for rel in files {
            let analysis = analyze_fixture(rel);
            assert!(
                analysis.result.errors.is_empty(),
                "{rel}: unexpected errors {:?}",
                analysis.result.errors
            );
            let theirs = collected.by_file.get(rel).cloned().unwrap_or_default();
            compared += theirs.len();
            if let Err(message) = compare(rel, &analysis.result.items, &theirs) {
                failures.push(message);
            }
            if let Err(message) = compare_marks(&analysis.result.items, &collected.marks) {
                failures.push(format!("{rel}: {message}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) disagree with pytest:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        compared > 100,
        "too few node IDs compared ({compared}): fixtures missing?"
    );
}

#[test]
fn collection_errors_agree_with_pytest() {
    let error_files: Vec<String> = fixture_files()
        .into_iter()
        .filter(|f| f.starts_with("errors/"))
        .collect();
    assert!(
        error_files.len() >= 4,
        "error fixtures missing: {error_files:?}"
    );
    for rel in error_files {
        let Collected {
            by_file: collected,
            code,
            stdout,
            ..
        } = pytest_collect(std::slice::from_ref(&rel), &[]);
        assert_eq!(
            code, 2,
            "{rel}: pytest should report a collection error:\n{stdout}"
        );
        assert!(
            stdout.contains("ERROR collecting"),
            "{rel}: no collection error in pytest output:\n{stdout}"
        );
        let analysis = analyze_fixture(&rel);
        assert!(
            !analysis.result.errors.is_empty(),
            "{rel}: pytest fails to collect it but the analysis reports no error"
        );
        let theirs = collected.get(&rel).cloned().unwrap_or_default();
        if let Err(message) = compare(&rel, &analysis.result.items, &theirs) {
            panic!("{message}");
        }
    }
}
