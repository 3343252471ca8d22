#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use dxpy_python::file::Kind;
use dxpy_python::unused::{self, TestRecord, Unused};
use dxpy_python::ModuleStore;

/// A test module with these snapshots stored.
fn module_with(names: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let test_file = tmp.path().join("test_mod.py");
    fs::write(&test_file, "").unwrap();
    let mut store = ModuleStore::open(&test_file).unwrap();
    for name in names {
        store.write(name, Kind::Value, "1").unwrap();
    }
    (tmp, test_file)
}

fn record(file: &Path, key: &str, passed: bool, used: &[&str]) -> TestRecord {
    TestRecord {
        file: file.to_string_lossy().into_owned(),
        key: key.to_owned(),
        passed,
        used: used.iter().map(|u| (*u).to_owned()).collect(),
        update: false,
        ci: false,
    }
}

fn names(found: &[Unused]) -> Vec<&str> {
    found.iter().map(|u| u.name.as_str()).collect()
}

#[test]
fn owner_is_the_name_or_a_prefix_before_a_dot() {
    let keys: BTreeSet<String> = ["test_a", "T.test_b[x.y]"].map(String::from).into();
    assert_eq!(unused::owner("test_a", &keys), Some("test_a"));
    assert_eq!(unused::owner("test_a.2", &keys), Some("test_a"));
    assert_eq!(
        unused::owner("T.test_b[x.y].named", &keys),
        Some("T.test_b[x.y]")
    );
    assert_eq!(unused::owner("test_ab", &keys), None);
}

#[test]
fn records_of_several_workers_are_merged_before_judging() {
    let (_tmp, file) = module_with(&["test_a", "test_a.1", "test_b", "test_gone"]);
    // Worker 1 ran test_a (using only its first snapshot), worker 2 ran test_b.
    let records = [
        record(&file, "test_a", true, &["test_a"]),
        record(&file, "test_b", true, &["test_b"]),
    ];
    assert_eq!(
        names(&unused::find(&records, true).unwrap()),
        ["test_a.1", "test_gone"]
    );
    // Not whole (a narrowed or stopped run): a snapshot without a test that ran is kept.
    assert_eq!(names(&unused::find(&records, false).unwrap()), ["test_a.1"]);
    // Only worker 2's records, and the run narrowed: test_a's snapshots are not judged.
    let one_worker = &records[1..];
    assert_eq!(
        names(&unused::find(one_worker, false).unwrap()),
        Vec::<&str>::new()
    );
}

#[test]
fn a_test_that_did_not_pass_keeps_its_snapshots() {
    let (_tmp, file) = module_with(&["test_a", "test_a.1"]);
    let records = [record(&file, "test_a", false, &["test_a"])];
    assert!(unused::find(&records, true).unwrap().is_empty());
}

#[test]
fn records_are_read_once_and_removed_and_a_torn_line_is_skipped() {
    let (tmp, file) = module_with(&["test_a", "test_b"]);
    let dir = tmp.path().join("run");
    fs::create_dir(&dir).unwrap();
    let line = serde_json::to_string(&record(&file, "test_a", true, &["test_a"])).unwrap();
    fs::write(dir.join("1.jsonl"), format!("{line}\n{{\"file\": \"torn")).unwrap();
    fs::write(dir.join("notes.txt"), "not a record").unwrap();
    let records = unused::take_records(&dir).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, "test_a");
    assert!(!dir.join("1.jsonl").exists());
    assert!(unused::take_records(&dir).unwrap().is_empty());
    assert!(unused::take_records(&tmp.path().join("absent"))
        .unwrap()
        .is_empty());
}

#[test]
fn remove_deletes_the_files_and_their_index_entries() {
    let (_tmp, file) = module_with(&["test_a", "test_b"]);
    let records = [record(&file, "test_a", true, &[])];
    let found = unused::find(&records, false).unwrap();
    assert_eq!(unused::remove(&found).unwrap(), 1);
    let store = ModuleStore::open(&file).unwrap();
    assert_eq!(store.names().collect::<Vec<_>>(), ["test_b"]);
}
