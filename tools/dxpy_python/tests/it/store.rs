#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use dxpy_python::file::{self, Kind};
use dxpy_python::index::INDEX_FILE;
use dxpy_python::store::Loaded;
use dxpy_python::{Check, ModuleStore};

fn project() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let test_file = tmp.path().join("test_mod.py");
    fs::write(&test_file, "def test_a(): pass\n").unwrap();
    (tmp, test_file)
}

fn snapshot_dir(tmp: &Path) -> PathBuf {
    tmp.join("__snapshots__").join("test_mod")
}

fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn missing_then_written_then_matched_then_mismatched_with_a_diff() {
    let (tmp, test_file) = project();
    let mut store = ModuleStore::open(&test_file).unwrap();
    assert_eq!(store.loaded(), Loaded::Empty);
    assert_eq!(
        store.check("test_a", Kind::Value, "[1]").unwrap(),
        Check::Missing
    );
    assert!(!snapshot_dir(tmp.path()).exists(), "a check writes nothing");

    assert!(store.write("test_a", Kind::Value, "[\n  1,\n]").unwrap());
    assert_eq!(
        snapshot_files(&snapshot_dir(tmp.path())),
        ["index.json", "test_a.txt"]
    );
    assert_eq!(
        store.check("test_a", Kind::Value, "[\n  1,\n]").unwrap(),
        Check::Match
    );
    assert!(
        !store.write("test_a", Kind::Value, "[\n  1,\n]").unwrap(),
        "unchanged"
    );

    let Check::Mismatch { diff } = store.check("test_a", Kind::Value, "[\n  2,\n]").unwrap() else {
        panic!("expected a mismatch");
    };
    assert!(
        diff.contains("--- snapshot") && diff.contains("+++ received"),
        "{diff}"
    );
    assert!(
        diff.contains("-  1,\n") && diff.contains("+  2,\n"),
        "{diff}"
    );
    // Text and formatted values never match each other.
    assert!(matches!(
        store.check("test_a", Kind::Text, "[\n  1,\n]").unwrap(),
        Check::Mismatch { .. }
    ));
}

#[test]
fn a_match_never_reads_the_stored_file() {
    let (tmp, test_file) = project();
    let mut store = ModuleStore::open(&test_file).unwrap();
    store.write("test_a", Kind::Text, "hello").unwrap();
    let path = snapshot_dir(tmp.path()).join("test_a.txt");
    // Unreadable content: only the digest in the index can decide the match.
    fs::write(&path, b"\xff\xfe garbage").unwrap();
    assert_eq!(
        store.check("test_a", Kind::Text, "hello").unwrap(),
        Check::Match
    );
    assert!(matches!(
        store.check("test_a", Kind::Text, "bye").unwrap(),
        Check::Mismatch { .. }
    ));
}

#[test]
fn a_store_reopened_reads_the_index_and_matches() {
    let (_tmp, test_file) = project();
    let mut store = ModuleStore::open(&test_file).unwrap();
    store.write("test_a", Kind::Value, "1").unwrap();
    store.write("test_a.1", Kind::Text, "two").unwrap();
    let again = ModuleStore::open(&test_file).unwrap();
    assert_eq!(again.loaded(), Loaded::Index);
    assert_eq!(again.names().collect::<Vec<_>>(), ["test_a", "test_a.1"]);
    assert_eq!(
        again.check("test_a.1", Kind::Text, "two").unwrap(),
        Check::Match
    );
    let parsed = again.read("test_a.1").unwrap().unwrap();
    assert_eq!((parsed.kind, parsed.body.as_str()), (Kind::Text, "two"));
}

#[test]
fn a_corrupt_or_stale_index_is_rebuilt_from_the_files() {
    let (tmp, test_file) = project();
    let mut store = ModuleStore::open(&test_file).unwrap();
    store.write("test_a", Kind::Value, "1").unwrap();
    store.write("test_b[x/y]", Kind::Text, "b").unwrap();
    let dir = snapshot_dir(tmp.path());
    let good = fs::read(dir.join(INDEX_FILE)).unwrap();

    for corrupt in [&b"{ truncated"[..], b"", b"\x00\x01"] {
        fs::write(dir.join(INDEX_FILE), corrupt).unwrap();
        let rebuilt = ModuleStore::open(&test_file).unwrap();
        assert_eq!(rebuilt.loaded(), Loaded::Rebuilt);
        assert_eq!(
            rebuilt.check("test_b[x/y]", Kind::Text, "b").unwrap(),
            Check::Match
        );
        assert_eq!(
            fs::read(dir.join(INDEX_FILE)).unwrap(),
            good,
            "rewritten as it was"
        );
    }

    // A snapshot file the index does not list (a crashed writer, a merge): rebuilt too.
    fs::write(
        dir.join("test_c.txt"),
        file::render("test_c", Kind::Value, "3"),
    )
    .unwrap();
    let rebuilt = ModuleStore::open(&test_file).unwrap();
    assert_eq!(rebuilt.loaded(), Loaded::Rebuilt);
    assert_eq!(
        rebuilt.check("test_c", Kind::Value, "3").unwrap(),
        Check::Match
    );

    fs::remove_file(dir.join(INDEX_FILE)).unwrap();
    assert_eq!(
        ModuleStore::open(&test_file).unwrap().loaded(),
        Loaded::Rebuilt
    );
}

#[test]
fn remove_deletes_files_and_entries_and_the_empty_directory() {
    let (tmp, test_file) = project();
    let mut store = ModuleStore::open(&test_file).unwrap();
    store.write("test_a", Kind::Value, "1").unwrap();
    store.write("test_b", Kind::Value, "2").unwrap();
    assert_eq!(store.remove(&["test_a", "test_nope"]).unwrap(), 1);
    let dir = snapshot_dir(tmp.path());
    assert_eq!(snapshot_files(&dir), ["index.json", "test_b.txt"]);
    assert_eq!(
        ModuleStore::open(&test_file)
            .unwrap()
            .names()
            .collect::<Vec<_>>(),
        ["test_b"]
    );
    assert_eq!(store.remove(&["test_b"]).unwrap(), 1);
    assert!(!dir.exists());
}

#[test]
fn writes_are_atomic_and_merge_with_another_writers_entries() {
    let (tmp, test_file) = project();
    let mut first = ModuleStore::open(&test_file).unwrap();
    let mut second = ModuleStore::open(&test_file).unwrap();
    first.write("test_a", Kind::Value, "1").unwrap();
    // `second` opened before `first` wrote: its write must keep test_a.
    second.write("test_b", Kind::Value, "2").unwrap();
    let dir = snapshot_dir(tmp.path());
    assert_eq!(
        snapshot_files(&dir),
        ["index.json", "test_a.txt", "test_b.txt"]
    );
    let reopened = ModuleStore::open(&test_file).unwrap();
    assert_eq!(reopened.loaded(), Loaded::Index);
    assert_eq!(reopened.names().collect::<Vec<_>>(), ["test_a", "test_b"]);
    // Rewriting replaces the file whole: it parses as the new snapshot, no temp files left.
    first.write("test_a", Kind::Value, "one").unwrap();
    let text = fs::read_to_string(dir.join("test_a.txt")).unwrap();
    assert_eq!(file::parse(&text).unwrap().body, "one");
    assert!(snapshot_files(&dir).iter().all(|f| !f.ends_with(".tmp")));
}

#[test]
fn the_digest_is_the_rendered_files_and_parse_inverts_render() {
    let text = file::render("t\"q\n", Kind::Text, "a\nb");
    assert_eq!(
        file::digest("t\"q\n", Kind::Text, "a\nb"),
        blake3::hash(text.as_bytes())
    );
    let parsed = file::parse(&text).unwrap();
    assert_eq!(
        (parsed.name.as_str(), parsed.kind, parsed.body.as_str()),
        ("t\"q\n", Kind::Text, "a\nb")
    );
    assert!(file::parse("not a snapshot").is_none());
}
