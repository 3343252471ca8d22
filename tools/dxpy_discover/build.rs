//! Stamps the build with a hash of this crate's sources, so a discovery index written by one
//! build of the analyser is never trusted by another (its results could differ).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

fn hash_dir(dir: &Path, hasher: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            hash_dir(&path, hasher);
        } else if path.extension().is_some_and(|e| e == "rs") {
            path.strip_prefix(dir).unwrap_or(&path).hash(hasher);
            std::fs::read(&path).unwrap_or_default().hash(hasher);
        }
    }
}

fn main() {
    let src = Path::new("src");
    let mut hasher = DefaultHasher::new();
    hash_dir(src, &mut hasher);
    println!("cargo:rerun-if-changed=src");
    println!(
        "cargo:rustc-env=DXPY_ANALYZER_HASH={:016x}",
        hasher.finish()
    );
}
