//! Deciding, per file, whether the cached analysis can be served, and cache-directory upkeep.
//!
//! A file is served when its (mtime, size) equal the stamp in the index; otherwise its
//! contents are hashed and served when the hash is unchanged (the stamp is refreshed);
//! otherwise it is analysed again. Stamps taken within [`RACY_WINDOW_NS`] of the clock are
//! stored without an mtime, because a second write in the same clock tick could leave the
//! (mtime, size) pair unchanged; such files are re-hashed on the next run.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::index::FileStamp;

/// The index file inside the cache directory.
pub const INDEX_FILE_NAME: &str = "discovery.idx";

/// The lock file the index and its sidecar are read and written under.
pub const LOCK_FILE_NAME: &str = "discovery.lock";

/// Modifications this close to "now" are not trusted to be visible in the mtime.
pub const RACY_WINDOW_NS: i128 = 2_000_000_000;

/// What stat says about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatStamp {
    pub mtime_ns: i128,
    pub size: u64,
}

/// The outcome for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheDecision {
    /// (mtime, size) unchanged: serve without reading.
    Serve,
    /// Contents unchanged: serve, and store this refreshed stamp.
    ServeRefreshed(FileStamp),
    /// Contents changed (or never seen): analyse; this is the new stamp.
    Analyse(FileStamp),
}

pub fn stat_stamp(metadata: &std::fs::Metadata) -> StatStamp {
    let mtime_ns = metadata
        .modified()
        .ok()
        .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    StatStamp {
        mtime_ns,
        size: metadata.len(),
    }
}

pub fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The stamp to store: the mtime is dropped (0) when it is too recent to be trusted.
pub fn storable_stamp(stat: StatStamp, blake3: [u8; 32], now_ns: i128) -> FileStamp {
    let mtime_ns = if now_ns - stat.mtime_ns < RACY_WINDOW_NS {
        0
    } else {
        stat.mtime_ns
    };
    FileStamp {
        mtime_ns,
        size: stat.size,
        blake3,
    }
}

/// Decide for one file. `contents` is only called when the stat does not match.
pub fn decide(
    cached: Option<&FileStamp>,
    stat: StatStamp,
    now_ns: i128,
    contents: impl FnOnce() -> [u8; 32],
) -> CacheDecision {
    if let Some(stamp) = cached {
        if stamp.mtime_ns != 0 && stamp.mtime_ns == stat.mtime_ns && stamp.size == stat.size {
            return CacheDecision::Serve;
        }
    }
    let hash = contents();
    let fresh = storable_stamp(stat, hash, now_ns);
    match cached {
        Some(stamp) if stamp.blake3 == hash && stamp.size == stat.size => {
            CacheDecision::ServeRefreshed(fresh)
        }
        _ => CacheDecision::Analyse(fresh),
    }
}

/// The root of all of this user's dx-py caches: `$DXPY_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/dx-py`, else `$HOME/.cache/dx-py`; `None` when none is set.
pub fn cache_root() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("DXPY_CACHE_DIR") {
        return Some(dir);
    }
    let base = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|home| home.join(".cache")))?;
    Some(base.join("dx-py"))
}

/// `<root>/projects/<blake3(rootdir)>`: one directory per project, so two checkouts never share
/// (or clobber) an index.
pub fn project_cache_dir(root: &Path, rootdir: &Path) -> PathBuf {
    let digest = blake3::hash(rootdir.as_os_str().as_encoded_bytes());
    root.join("projects").join(&digest.to_hex()[..32])
}

/// Remove the discovery cache in `dir` (`dx-py cache clear`): the index, its dependency
/// sidecar and any temporary files left by an interrupted write, then the directory itself if
/// nothing else is in it.
/// Only files this crate writes are touched. A missing directory is not an error.
pub fn clear_cache(dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let deps_file = super::deps::DEPS_FILE_NAME;
        // Older builds named the sidecar's temp file `<name>.tmp.<pid>`. A run holding the lock
        // while the cache is cleared keeps its (unlinked) lock file: clearing is a user action.
        if name == INDEX_FILE_NAME
            || (name.starts_with(INDEX_FILE_NAME) && name.contains("tmp"))
            || (name.starts_with('.') && name.contains(INDEX_FILE_NAME))
            || name == deps_file
            || (name.starts_with(deps_file) && name.contains("tmp"))
            || dxpy_fs::is_temp_of(&name, deps_file)
            || name == LOCK_FILE_NAME
        {
            std::fs::remove_file(entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        // Something else lives there: leave it.
        Err(_) if dir.exists() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: i128 = 1_000_000_000_000_000_000;
    const NOW: i128 = OLD + 10 * RACY_WINDOW_NS;

    fn stamp(mtime_ns: i128, size: u64, byte: u8) -> FileStamp {
        FileStamp {
            mtime_ns,
            size,
            blake3: [byte; 32],
        }
    }

    #[test]
    fn unchanged_stat_is_served_without_reading() {
        let cached = stamp(OLD, 10, 1);
        let decision = decide(
            Some(&cached),
            StatStamp {
                mtime_ns: OLD,
                size: 10,
            },
            NOW,
            || panic!("must not read"),
        );
        assert_eq!(decision, CacheDecision::Serve);
    }

    #[test]
    fn touched_but_same_contents_is_served_with_a_fresh_stamp() {
        let cached = stamp(OLD, 10, 1);
        let decision = decide(
            Some(&cached),
            StatStamp {
                mtime_ns: OLD + 5,
                size: 10,
            },
            NOW,
            || [1; 32],
        );
        assert_eq!(
            decision,
            CacheDecision::ServeRefreshed(stamp(OLD + 5, 10, 1))
        );
    }

    #[test]
    fn changed_contents_are_analysed() {
        let cached = stamp(OLD, 10, 1);
        assert_eq!(
            decide(
                Some(&cached),
                StatStamp {
                    mtime_ns: OLD + 5,
                    size: 10
                },
                NOW,
                || [2; 32]
            ),
            CacheDecision::Analyse(stamp(OLD + 5, 10, 2))
        );
        assert_eq!(
            decide(
                None,
                StatStamp {
                    mtime_ns: OLD,
                    size: 3
                },
                NOW,
                || [2; 32]
            ),
            CacheDecision::Analyse(stamp(OLD, 3, 2))
        );
    }

    #[test]
    fn recent_mtimes_are_not_trusted() {
        let recent = NOW - 1;
        let decision = decide(
            None,
            StatStamp {
                mtime_ns: recent,
                size: 3,
            },
            NOW,
            || [7; 32],
        );
        assert_eq!(decision, CacheDecision::Analyse(stamp(0, 3, 7)));
        // A stored stamp without mtime always re-hashes.
        let cached = stamp(0, 3, 7);
        let mut read = false;
        let decision = decide(
            Some(&cached),
            StatStamp {
                mtime_ns: 0,
                size: 3,
            },
            NOW,
            || {
                read = true;
                [7; 32]
            },
        );
        assert!(read);
        assert_eq!(decision, CacheDecision::ServeRefreshed(stamp(0, 3, 7)));
    }

    #[test]
    fn clear_cache_removes_only_our_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("c");
        dxpy_fs::ensure_private_dir(&dir).expect("mkdir");
        std::fs::write(dir.join(INDEX_FILE_NAME), b"x").expect("write");
        std::fs::write(dir.join(format!("{INDEX_FILE_NAME}.tmp123")), b"x").expect("write");
        clear_cache(&dir).expect("clear");
        assert!(!dir.exists());
        dxpy_fs::ensure_private_dir(&dir).expect("mkdir");
        std::fs::write(dir.join(INDEX_FILE_NAME), b"x").expect("write");
        std::fs::write(dir.join("keep.txt"), b"x").expect("write");
        clear_cache(&dir).expect("clear");
        assert!(dir.join("keep.txt").exists());
        assert!(!dir.join(INDEX_FILE_NAME).exists());
        clear_cache(&tmp.path().join("missing")).expect("missing is fine");
    }

    #[test]
    fn cache_dir_is_keyed_by_rootdir() {
        let base = Path::new("/xdg");
        let a = project_cache_dir(base, Path::new("/project/a"));
        assert_ne!(a, project_cache_dir(base, Path::new("/project/b")));
        assert_eq!(a, project_cache_dir(base, Path::new("/project/a")));
        assert_eq!(a.parent(), Some(Path::new("/xdg/projects")));
        let key = a
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
