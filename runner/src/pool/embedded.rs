//! The worker package compiled into the binary (see `runner/build.rs`), written out on first
//! use to `<cache root>/worker/<digest>/` so an interpreter can import it.
//!
//! The directory is private to the user (0700), named by the Blake3 digest of the embedded
//! files (two builds never share one), written to a temporary sibling and renamed into place
//! (never seen half-written), and checked file by file on every use: a modified or truncated
//! copy is removed and written again, never trusted.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// `(path relative to the package root, contents)`, sorted by path.
pub const FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/worker_files.rs"));

/// Blake3 over the embedded paths and contents, hex (32 characters).
pub fn digest() -> String {
    let mut hasher = blake3::Hasher::new();
    for (path, contents) in FILES {
        hasher.update(&(path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update(&(contents.len() as u64).to_le_bytes());
        hasher.update(contents);
    }
    hasher.finalize().to_hex()[..32].to_owned()
}

/// The directory to put on `PYTHONPATH` (it holds `dxpy_worker/`), written under
/// `cache_root` if it is missing or differs from the embedded files.
pub fn extract(cache_root: &Path) -> io::Result<PathBuf> {
    if FILES.is_empty() {
        return Err(io::Error::other("this build embeds no worker package"));
    }
    // The threads of one process (the multiplex worker's first requests arrive together)
    // take turns: one writes, the others then find its copy complete.
    static WRITING: Mutex<()> = Mutex::new(());
    let _turn = WRITING.lock().unwrap_or_else(PoisonError::into_inner);
    let parent = cache_root.join("worker");
    let dir = parent.join(digest());
    if matches_embedded(&dir) {
        return Ok(dir);
    }
    dxpy_fs::ensure_private_dir(&parent)?;
    // Unique per call as well as per process, so no other writer's staging is touched.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let staging = parent.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed),
        digest()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    write_files(&staging)?;
    if matches_embedded(&dir) {
        // Another process finished its copy meanwhile, and may be using it already.
        let _ = std::fs::remove_dir_all(&staging);
        return Ok(dir);
    }
    if dir.exists() {
        // A stale or damaged copy: replaced, never trusted.
        std::fs::remove_dir_all(&dir)?;
    }
    match std::fs::rename(&staging, &dir) {
        Ok(()) => Ok(dir),
        // Another dx-py wrote the same files first.
        Err(_) if matches_embedded(&dir) => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(dir)
        }
        Err(err) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(err)
        }
    }
}

fn matches_embedded(dir: &Path) -> bool {
    FILES.iter().all(|(path, contents)| {
        std::fs::read(dir.join(path)).is_ok_and(|on_disk| on_disk == *contents)
    })
}

fn write_files(root: &Path) -> io::Result<()> {
    dxpy_fs::ensure_private_dir(root)?;
    for (path, contents) in FILES {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            dxpy_fs::ensure_private_dir(parent)?;
        }
        std::fs::write(&target, contents)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_package_is_embedded_whole() {
        let names: Vec<&str> = FILES.iter().map(|(path, _)| *path).collect();
        for required in [
            "dxpy_worker/__init__.py",
            "dxpy_worker/__main__.py",
            "dxpy_worker/protocol.py",
        ] {
            assert!(names.contains(&required), "{names:?}");
        }
        let on_disk = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../worker/dxpy_worker"
        ))
        .expect("worker package")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".py"))
        .count();
        assert_eq!(FILES.len(), on_disk);
    }

    #[test]
    fn extracts_privately_and_repairs_a_damaged_copy() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = extract(root.path()).expect("extract");
        assert!(dir.join("dxpy_worker/__init__.py").is_file());
        let mode = std::fs::metadata(&dir).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let mode = std::fs::metadata(root.path().join("worker"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        // Damaged: truncated protocol module, a file missing.
        std::fs::write(dir.join("dxpy_worker/protocol.py"), b"").expect("truncate");
        std::fs::remove_file(dir.join("dxpy_worker/__main__.py")).expect("remove");
        assert!(!matches_embedded(&dir));
        assert_eq!(extract(root.path()).expect("again"), dir);
        assert!(matches_embedded(&dir));
        // Nothing left behind but the one directory.
        let entries: Vec<_> = std::fs::read_dir(root.path().join("worker"))
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
    }

    #[test]
    fn threads_extracting_at_once_all_get_a_complete_copy() {
        // The multiplex worker's first requests arrive together; each used to remove the
        // staging directory another was still writing (same name per process).
        let root = tempfile::tempdir().expect("tempdir");
        let dirs: Vec<PathBuf> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| extract(root.path()).expect("extract")))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("join"))
                .collect()
        });
        for dir in &dirs {
            assert!(matches_embedded(dir), "{}", dir.display());
        }
        let entries = std::fs::read_dir(root.path().join("worker"))
            .expect("list")
            .count();
        assert_eq!(entries, 1);
    }
}
