//! [`FileStamp`]: the identity of a file's contents as last seen, for every cache's validation.

use std::fs;
use std::io;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// Identity of a file's contents as last seen.
///
/// The discovery index and the import cache encode these three fields byte for byte; changing
/// them is a format change of both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub mtime_ns: i128,
    pub size: u64,
    pub blake3: [u8; 32],
}

impl FileStamp {
    /// The stamp of a file whose `metadata` was taken *before* reading `contents`: if the file
    /// changes during or after the read, its mtime moves past the recorded one and the next run
    /// re-reads it instead of trusting a stale hash.
    pub fn from_metadata(metadata: &fs::Metadata, contents: &[u8]) -> io::Result<FileStamp> {
        Ok(FileStamp {
            mtime_ns: mtime_ns(metadata)?,
            size: metadata.len(),
            blake3: *blake3::hash(contents).as_bytes(),
        })
    }

    /// Whether `metadata` still shows the mtime and size this stamp recorded (the cheap check;
    /// the hash settles ambiguous cases).
    pub fn matches_metadata(&self, metadata: &fs::Metadata) -> bool {
        metadata.len() == self.size && mtime_ns(metadata).is_ok_and(|mtime| mtime == self.mtime_ns)
    }
}

/// Modification time of `metadata` in nanoseconds since the Unix epoch (negative before it).
pub fn mtime_ns(metadata: &fs::Metadata) -> io::Result<i128> {
    let modified = metadata.modified()?;
    Ok(match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    })
}

/// Read `path` and stamp it, taking metadata before the read (see [`FileStamp::from_metadata`]).
pub fn read_stamped(path: &Path) -> io::Result<(Vec<u8>, FileStamp)> {
    let metadata = fs::metadata(path)?;
    let contents = fs::read(path)?;
    let stamp = FileStamp::from_metadata(&metadata, &contents)?;
    Ok((contents, stamp))
}

/// Stamp `contents` already read from `path`. Prefer [`read_stamped`] or
/// [`FileStamp::from_metadata`] with metadata taken before the read: this stats afterwards, so
/// a write racing the caller's read could pair a new mtime with old contents.
pub fn stamp_of(path: &Path, contents: &[u8]) -> io::Result<FileStamp> {
    FileStamp::from_metadata(&fs::metadata(path)?, contents)
}
