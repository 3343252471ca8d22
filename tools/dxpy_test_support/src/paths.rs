//! Where the repository's own pieces are, independent of the calling crate.

use std::path::{Path, PathBuf};

/// The repository root (this crate lives at `tools/dxpy_test_support`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding the `dxpy_worker` package (put on `PYTHONPATH` to run it).
pub fn worker_package() -> PathBuf {
    repo_root().join("worker")
}
