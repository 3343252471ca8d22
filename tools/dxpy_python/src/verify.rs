//! Hand-edited snapshot files. A match compares a value's digest with the index's, so an
//! index that no longer describes its file would judge by what the file used to say. The
//! index is therefore not trusted: when a module's store opens, each snapshot file's content
//! digest is compared with its entry, and where they differ (the file was edited by hand)
//! the content's digest replaces the entry's: a value passes when it is what the file says
//! now, and a mismatch diffs against the file as it is.
//!
//! Reading every file on every open would cost what the index saves, so the content digest
//! is kept per file beside its stamp (size, mtime) in a private cache outside the project
//! (`<dx-py cache>/snapshot-stamps/`, never committed): an unchanged file costs one `stat`.
//! A file modified within the last [`RACY`] is not stamped (a later edit in the same clock
//! tick would keep its stamp), and without a cache directory every file is read.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::index::Index;

/// How recent a modification is too recent to trust its stamp.
const RACY: Duration = Duration::from_secs(2);

/// A file's stamp and the digest of the content it had then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    blake3: String,
}

/// The stamps of one snapshot directory, by file name.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stamps {
    files: BTreeMap<String, Stamp>,
}

/// The entries of `index` whose file's content no longer has the recorded digest: snapshot
/// name → the content's digest. A missing or unreadable file is left to the caller.
pub fn edited(dir: &Path, index: &Index) -> io::Result<BTreeMap<String, String>> {
    let stamps_path = stamps_path(dir);
    let mut stamps: Stamps = stamps_path
        .as_deref()
        .and_then(|path| fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let mut changed = false;
    let mut edited = BTreeMap::new();
    let now = SystemTime::now();
    for (name, entry) in index.iter() {
        let path = dir.join(&entry.file);
        let Ok(metadata) = fs::metadata(&path) else {
            continue;
        };
        let mtime_ns = dxpy_fs::mtime_ns(&metadata)
            .ok()
            .and_then(|ns| i64::try_from(ns).ok());
        let known = stamps
            .files
            .get(&entry.file)
            .filter(|stamp| Some(stamp.mtime_ns) == mtime_ns && stamp.size == metadata.len());
        let digest = match known {
            Some(stamp) => stamp.blake3.clone(),
            None => {
                let bytes = fs::read(&path)?;
                let digest = blake3::hash(&bytes).to_hex().to_string();
                let settled = metadata
                    .modified()
                    .ok()
                    .and_then(|modified| now.duration_since(modified).ok())
                    .is_some_and(|age| age >= RACY);
                match mtime_ns.filter(|_| settled) {
                    Some(mtime_ns) => {
                        let stamp = Stamp {
                            size: metadata.len(),
                            mtime_ns,
                            blake3: digest.clone(),
                        };
                        stamps.files.insert(entry.file.clone(), stamp);
                    }
                    None => {
                        stamps.files.remove(&entry.file);
                    }
                }
                changed = true;
                digest
            }
        };
        if digest != entry.blake3 {
            edited.insert(name.clone(), digest);
        }
    }
    if changed {
        if let Some(path) = stamps_path {
            // A cache: losing it (or a race with another process) costs a re-read, no more.
            let _ = save(&path, &stamps);
        }
    }
    Ok(edited)
}

/// `<dx-py cache>/snapshot-stamps/<digest of the directory's canonical path>.json`.
fn stamps_path(dir: &Path) -> Option<PathBuf> {
    let canonical = dir.canonicalize().ok()?;
    let key = blake3::hash(canonical.as_os_str().as_encoded_bytes()).to_hex();
    let root = dxpy_discover::session::cache_root()?;
    Some(
        root.join("snapshot-stamps")
            .join(format!("{}.json", &key.as_str()[..32])),
    )
}

fn save(path: &Path, stamps: &Stamps) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        dxpy_fs::ensure_private_dir(parent)?;
    }
    let bytes = serde_json::to_vec(stamps).map_err(io::Error::other)?;
    dxpy_fs::write_private_atomic(path, &bytes)
}
