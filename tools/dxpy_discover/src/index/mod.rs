//! The binary discovery index: a memory-mapped, validated cache of per-file [`FileResult`]s.
//!
//! Contract (used by [`crate::session`]): [`Index::open`] validates the whole file (magic,
//! version, checksums, bounds) before anything is served; [`write_index`] is atomic.
//!
//! Submodules: `format` (constants, checked primitive readers), `encode` (writer), `decode`
//! (validation and lookups), `store` (mmap, atomic install, private directory, stamps).
//!
//! # File format (version 1)
//!
//! All integers are little-endian; there is no padding or alignment requirement (fields are
//! read byte-wise). A *string ref* is 8 bytes: `u32 offset, u32 len` into the string pool
//! (the empty string is always `0, 0`). A *span* is 8 bytes: `u32 first, u32 count` into
//! another table.
//!
//! Header (216 bytes):
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0      | 8    | magic `DXPYIDX\0` |
//! | 8      | 4    | format version (`1`) |
//! | 12     | 4    | flags (none defined; any set bit is refused) |
//! | 16     | 32   | configuration fingerprint |
//! | 48     | 4    | file count |
//! | 52     | 4    | test count |
//! | 56     | 4    | mark count |
//! | 60     | 4    | error count |
//! | 64     | 8    | total file length in bytes |
//! | 72     | 80   | five sections, each `u64 offset, u64 len`: files, tests, marks, errors, strings |
//! | 152    | 32   | Blake3 of the body (bytes `216..total`) |
//! | 184    | 32   | Blake3 of the header bytes `0..184` |
//!
//! The sections follow the header contiguously in that order; table lengths are exactly
//! `count × record size`.
//!
//! File record (80 bytes), sorted strictly by path bytes so [`Index::get`] binary-searches:
//! `0` path string ref · `8` mtime in ns (`i128`) · `24` size (`u64`) · `32` Blake3 of the
//! contents (32 bytes) · `64` span of its tests · `72` span of its errors.
//!
//! Test record (32 bytes): `0` node ID string ref · `8` line (`u32`) · `12` kind (`u8`:
//! 0 function, 1 method, 2 unittest) · `13` async (`u8`: 0/1) · `14` params (`u8`: 0 none,
//! 1 static, 2 dynamic) · `15` reserved zero · `16` static parameter ID string ref (`0, 0`
//! unless static) · `24` span of its marks.
//!
//! Mark record (16 bytes): `0` name string ref · `8` argument source string ref.
//!
//! Error record (40 bytes): `0` tag (`u8`: 0 syntax, 1 not UTF-8, 2 unreadable, 3 too large,
//! 4 other) · `1` three zero bytes · `4` line (`u32`) · `8` column (`u32`) · `12` zero `u32` ·
//! `16` number (`u64`: byte offset for not-UTF-8, limit for too-large) · `24` path string ref ·
//! `32` message string ref. Fields a tag does not use are zero.
//!
//! String pool: UTF-8 bytes, deduplicated, referenced only through string refs.
//!
//! Spans are canonical: the files' test spans (and error spans) follow one another from record
//! 0 and cover their table exactly, as do the tests' mark spans. So a valid index has exactly
//! one encoding of its contents, and [`Index::open`] checks all of it once (both checksums,
//! then every record: tags, zero fields, spans, string bounds and UTF-8).

mod decode;
mod encode;
mod format;
mod store;

#[cfg(test)]
mod tests;

use std::path::Path;

use memmap2::Mmap;

use crate::item::FileResult;

pub use dxpy_fs::{
    ensure_private_dir, mtime_ns, read_stamped, stamp_of, write_private_atomic, FileStamp,
};

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = format::FORMAT_VERSION;

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
    /// The index file could have been written by another user (group/other permission bits).
    #[error("index is not private: {0}")]
    Insecure(String),
    /// [`write_index`] was given entries it cannot store (duplicate paths, over 4 GiB of strings).
    #[error("cannot write index: {0}")]
    InvalidInput(String),
    #[error("index I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An opened, validated index.
#[derive(Debug)]
pub struct Index {
    map: Mmap,
    layout: decode::Layout,
}

impl Index {
    /// Open and fully validate the index at `path`, built for configuration `fingerprint`.
    pub fn open(path: &Path, fingerprint: &[u8; 32]) -> Result<Index, IndexError> {
        let map = store::map_index(path)?;
        let layout = decode::check_file(&map, fingerprint)?;
        Ok(Index { map, layout })
    }

    fn tables(&self) -> decode::Tables<'_> {
        self.layout.tables(&self.map)
    }

    /// Number of files in the index.
    pub fn len(&self) -> usize {
        self.layout.file_count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.layout.file_count == 0
    }

    /// The cached entry for `rel_path`, if present. A record that fails to decode (possible
    /// only if the file was modified after [`Index::open`]) is treated as absent.
    pub fn get(&self, rel_path: &str) -> Option<(FileStamp, FileResult)> {
        self.try_get(rel_path).ok().flatten()
    }

    /// Like [`Index::get`], but reports a record that fails to decode.
    pub fn try_get(&self, rel_path: &str) -> Result<Option<(FileStamp, FileResult)>, IndexError> {
        let tables = self.tables();
        let Some(index) = tables.find(rel_path)? else {
            return Ok(None);
        };
        let file = tables.file(index)?;
        let result = tables.file_result(&file)?;
        Ok(Some((file.stamp, result)))
    }

    /// Only the stamp of `rel_path`: no tests, marks or errors are decoded.
    pub fn stamp(&self, rel_path: &str) -> Option<FileStamp> {
        let tables = self.tables();
        let index = tables.find(rel_path).ok().flatten()?;
        tables.file(index).ok().map(|file| file.stamp)
    }

    /// All indexed paths, in sorted order, without decoding their entries.
    pub fn paths(&self) -> impl Iterator<Item = Result<&str, IndexError>> + '_ {
        let tables = self.tables();
        (0..self.layout.file_count).map(move |index| tables.file_path(index))
    }

    /// Every entry, in path order, fully decoded.
    pub fn iter(
        &self,
    ) -> impl Iterator<Item = Result<(&str, FileStamp, FileResult), IndexError>> + '_ {
        let tables = self.tables();
        (0..self.layout.file_count).map(move |index| {
            let file = tables.file(index)?;
            let path = tables.str(file.path, "file path")?;
            let result = tables.file_result(&file)?;
            Ok((path, file.stamp, result))
        })
    }
}

/// Write an index atomically (temp file in the same directory, fsync, rename, fsync of the
/// directory), mode 0600. A missing directory is created 0700; an existing one is left alone
/// (call [`ensure_private_dir`] on the cache directory first). Entries may come in any order;
/// paths must be unique.
pub fn write_index<'a>(
    path: &Path,
    fingerprint: &[u8; 32],
    entries: impl IntoIterator<Item = (&'a str, &'a FileStamp, &'a FileResult)>,
) -> Result<(), IndexError> {
    let bytes = encode::encode(fingerprint, entries)?;
    store::install(path, &bytes)
}
