#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use dxpy_python::file::{self, Kind};
use dxpy_python::index::{Index, INDEX_FILE};
use dxpy_python::store::Loaded;
use dxpy_python::{Check, ModuleStore};

/// The stamps cache goes below `DXPY_CACHE_DIR`: one private directory for this test binary
/// (set once, to the same value, by whichever test comes first).
fn private_cache() {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        std::env::set_var("DXPY_CACHE_DIR", &dir);
        dir
    });
}

/// A module with one stored snapshot, `test_a` = "old", its file dated in the past (older
/// than the racy window, so it is stamped).
fn stored() -> (tempfile::TempDir, PathBuf, PathBuf) {
    private_cache();
    let tmp = tempfile::tempdir().unwrap();
    let test_file = tmp.path().join("test_mod.py");
    fs::write(&test_file, "").unwrap();
    ModuleStore::open(&test_file)
        .unwrap()
        .write("test_a", Kind::Text, "old")
        .unwrap();
    let path = tmp.path().join("__snapshots__/test_mod/test_a.txt");
    age(&path, 60);
    (tmp, test_file, path)
}

fn age(path: &Path, seconds: u64) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(seconds))
        .unwrap();
}

fn edit(path: &Path, body: &str) {
    fs::write(path, file::render("test_a", Kind::Text, body)).unwrap();
    age(path, 30);
}

#[test]
fn a_hand_edited_file_is_judged_by_its_content() {
    let (tmp, test_file, path) = stored();
    assert_eq!(
        ModuleStore::open(&test_file).unwrap().loaded(),
        Loaded::Index
    );
    edit(&path, "new");
    let store = ModuleStore::open(&test_file).unwrap();
    assert_eq!(store.loaded(), Loaded::Corrected);
    assert_eq!(
        store.check("test_a", Kind::Text, "new").unwrap(),
        Check::Match
    );
    let Check::Mismatch { diff } = store.check("test_a", Kind::Text, "old").unwrap() else {
        panic!("the old value no longer matches what the file says");
    };
    assert!(diff.contains("-new") && diff.contains("+old"), "{diff}");
    // The index describes the files again.
    let index = Index::parse(
        &fs::read(tmp.path().join("__snapshots__/test_mod").join(INDEX_FILE)).unwrap(),
    )
    .unwrap();
    let digest = blake3::hash(&fs::read(&path).unwrap()).to_hex().to_string();
    assert_eq!(index.get("test_a").unwrap().blake3, digest);
    assert_eq!(
        ModuleStore::open(&test_file).unwrap().loaded(),
        Loaded::Index
    );
}

#[test]
fn an_edit_of_the_same_size_and_a_file_written_just_now_are_both_seen() {
    let (_tmp, test_file, path) = stored();
    ModuleStore::open(&test_file).unwrap();
    edit(&path, "odd");
    let store = ModuleStore::open(&test_file).unwrap();
    assert_eq!(
        store.check("test_a", Kind::Text, "odd").unwrap(),
        Check::Match
    );
    // Modified just now: not stamped, so an edit within the same clock tick is still seen.
    fs::write(&path, file::render("test_a", Kind::Text, "one")).unwrap();
    assert_eq!(
        ModuleStore::open(&test_file)
            .unwrap()
            .check("test_a", Kind::Text, "one")
            .unwrap(),
        Check::Match
    );
    fs::write(&path, file::render("test_a", Kind::Text, "two")).unwrap();
    assert_eq!(
        ModuleStore::open(&test_file)
            .unwrap()
            .check("test_a", Kind::Text, "two")
            .unwrap(),
        Check::Match
    );
}

#[test]
fn an_unchanged_stamp_is_trusted_without_reading_the_file() {
    let (_tmp, test_file, path) = stored();
    ModuleStore::open(&test_file).unwrap();
    // Same size, same mtime, other content: only a read could tell, and none is made (the
    // cost of an unchanged file is one stat).
    let mtime = fs::metadata(&path).unwrap().modified().unwrap();
    fs::write(&path, file::render("test_a", Kind::Text, "new")).unwrap();
    fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let store = ModuleStore::open(&test_file).unwrap();
    assert_eq!(store.loaded(), Loaded::Index);
    assert_eq!(
        store.check("test_a", Kind::Text, "old").unwrap(),
        Check::Match
    );
}
