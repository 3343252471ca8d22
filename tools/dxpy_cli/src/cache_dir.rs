//! Where dx-py keeps its caches: `$DXPY_CACHE_DIR`, else `$XDG_CACHE_HOME/dx-py`, else
//! `~/.cache/dx-py`; one private subdirectory per project rootdir.

use std::path::{Path, PathBuf};

/// The root of all dx-py caches for this user.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("DXPY_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("dx-py");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("dx-py")
}

/// The cache directory of one project, named by a hash of its canonical rootdir so that two
/// checkouts never share (or clobber) an index.
pub fn project_cache_dir(rootdir: &Path) -> PathBuf {
    let canonical = rootdir.canonicalize().unwrap_or_else(|_| rootdir.to_path_buf());
    let digest = blake3::hash(canonical.as_os_str().as_encoded_bytes());
    cache_root().join("projects").join(&digest.to_hex()[..32])
}
