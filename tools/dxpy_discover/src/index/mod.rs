//! The binary discovery index: a memory-mapped, validated cache of per-file [`FileResult`]s.
//!
//! Contract (used by [`crate::session`]): [`Index::open`] validates the whole file (magic,
//! version, checksums, bounds) before anything is served; [`write_index`] is atomic.

use std::path::Path;

use crate::item::FileResult;

/// Identity of a file's contents as last seen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub mtime_ns: i128,
    pub size: u64,
    pub blake3: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index not found")]
    Missing,
    #[error("index is corrupt: {0}")]
    Corrupt(String),
    #[error("index was written by another format version ({found}, expected {expected})")]
    Version { found: u32, expected: u32 },
    #[error("index was built for another configuration")]
    Fingerprint,
    #[error("index I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An opened, validated index. Placeholder until the real format lands.
#[derive(Debug)]
pub struct Index {
    _private: (),
}

impl Index {
    /// Open and fully validate the index at `path`, built for configuration `fingerprint`.
    pub fn open(_path: &Path, _fingerprint: &[u8; 32]) -> Result<Index, IndexError> {
        Err(IndexError::Missing)
    }

    /// The cached entry for `rel_path`, if present.
    pub fn get(&self, _rel_path: &str) -> Option<(FileStamp, FileResult)> {
        None
    }
}

/// Write an index atomically (temp file in the same directory, fsync, rename), mode 0600.
pub fn write_index<'a>(
    _path: &Path,
    _fingerprint: &[u8; 32],
    _entries: impl IntoIterator<Item = (&'a str, &'a FileStamp, &'a FileResult)>,
) -> Result<(), IndexError> {
    Ok(())
}
