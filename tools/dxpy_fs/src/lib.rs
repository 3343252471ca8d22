//! File plumbing every part of dx-py shares, so each guarantee is written (and tested) once:
//!
//! - [`ensure_private_dir`]: a directory only its owner can use (0700, repaired if looser).
//! - [`AtomicWrite`] / [`write_private_atomic`]: replace a file so readers see the old or the
//!   new content, never a mix: exclusive temp file in the same directory, written, fsynced,
//!   renamed over the target, directory fsynced. Private (0600) for caches, or the usual
//!   umask-based mode for files the user asked for.
//! - [`FileStamp`]: the identity of a file's contents (mtime, size, blake3) that caches key on.
//! - [`FileLock`]: an advisory `flock`, for files that must change together.
//!
//! ```
//! use dxpy_fs::{ensure_private_dir, read_stamped, write_private_atomic, AtomicWrite, FileLock};
//!
//! # fn main() -> std::io::Result<()> {
//! let tmp = tempfile::tempdir()?;
//! let cache = tmp.path().join("cache");
//! ensure_private_dir(&cache)?; // 0700
//!
//! // Cache files: 0600, atomic and durable. Two files that belong together are written
//! // under the exclusive lock; readers take it shared.
//! {
//!     let _lock = FileLock::exclusive(&cache.join("lock"))?;
//!     write_private_atomic(&cache.join("index"), b"v2")?;
//!     write_private_atomic(&cache.join("sidecar"), b"v2")?;
//! }
//!
//! // A report at a path the user chose keeps the ordinary (umask) mode.
//! AtomicWrite::public().write(&tmp.path().join("report.xml"), b"<testsuites/>")?;
//!
//! let (contents, stamp) = read_stamped(&cache.join("index"))?;
//! assert_eq!(contents, b"v2");
//! assert!(stamp.matches_metadata(&std::fs::metadata(cache.join("index"))?));
//! # Ok(())
//! # }
//! ```

mod atomic;
mod dir;
mod lock;
mod stamp;

#[cfg(test)]
mod tests;

pub use atomic::{is_temp_of, write_private_atomic, AtomicWrite};
pub use dir::ensure_private_dir;
pub use lock::FileLock;
pub use stamp::{mtime_ns, read_stamped, stamp_of, FileStamp};
