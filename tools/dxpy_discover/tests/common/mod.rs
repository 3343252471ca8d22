//! Helpers shared by the integration tests: fixture trees are copied into a temporary
//! directory so that config files above the repository cannot influence results.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn fixture(kind: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
        .join(name)
}

/// Copy a fixture tree into a fresh temp dir; returns (guard, root of the copy).
pub fn copy_fixture(kind: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("t");
    copy_tree(&fixture(kind, name), &root);
    (tmp, root)
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else if entry.file_name() != ".gitkeep" {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Python's repr of a list of strings (to compare with output produced by real pytest).
pub fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", inner.join(", "))
}
