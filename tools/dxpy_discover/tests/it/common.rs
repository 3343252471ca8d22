//! Helpers shared by the integration tests: fixture trees are copied into a temporary
//! directory so that config files above the repository cannot influence results.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use dxpy_test_support::Project;

pub fn fixture(kind: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
        .join(name)
}

/// Copy a fixture tree into a fresh temp dir; returns (guard, root of the copy).
pub fn copy_fixture(kind: &str, name: &str) -> (tempfile::TempDir, PathBuf) {
    Project::in_subdir("t")
        .copy_of(&fixture(kind, name))
        .into_parts()
}

/// Python's repr of a list of strings (to compare with output produced by real pytest).
pub fn py_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", inner.join(", "))
}
