//! File-system side of the index: mapping, atomic replacement, the private cache directory,
//! and file stamps.
//!
//! Safety model for the memory map: an index is only ever replaced by writing a fresh file and
//! renaming it over the old path ([`install`]); nothing in dx-py truncates or rewrites an index
//! in place, so an inode we have mapped keeps its bytes until we unmap it. The file lives in a
//! 0700 directory and must itself have no group/other permission bits, so only the same user
//! (or root) could modify it underneath us.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use memmap2::Mmap;

use super::{FileStamp, IndexError};

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Open `path` read-only and map it, refusing files others could have written.
pub(crate) fn map_index(path: &Path) -> Result<Mmap, IndexError> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => IndexError::Missing,
        _ => IndexError::Io(e),
    })?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(IndexError::Corrupt(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(IndexError::Insecure(format!(
                "{} has mode {mode:03o}; an index must be private (0600)",
                path.display()
            )));
        }
    }
    if metadata.len() == 0 {
        // Mapping zero bytes is an error on some platforms; an empty file is simply corrupt.
        return Err(IndexError::Corrupt("empty file".into()));
    }
    // SAFETY: `Mmap::map` is unsafe because the mapped bytes can change (or, if the file is
    // truncated, vanish and raise SIGBUS) while we hold `&[u8]` into them. dx-py never modifies
    // an index in place: `install` writes a new inode and renames it over the path, so the inode
    // mapped here keeps its bytes until we unmap it. The metadata checked above is of this same
    // open file: a private (no group/other bits) regular file, kept in the 0700 cache directory
    // from `ensure_private_dir`, so only this user or root could rewrite or truncate it in place.
    // We accept that residual risk for a cache (a user editing their own cache by hand while a
    // run is in progress). The whole file is validated after mapping, and every later read is
    // bounds-checked, so even changed bytes cannot make us index out of bounds.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&file)? };
    Ok(map)
}

/// Replace `path` with `bytes` atomically: readers see the old file or the new one, never a mix.
pub(crate) fn install(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    install_with(path, bytes, |file, bytes| file.write_all(bytes))
}

/// [`install`] with the write step injectable, so tests can make it fail halfway.
pub(crate) fn install_with(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> Result<(), IndexError> {
    if path.file_name().is_none() {
        return Err(IndexError::InvalidInput(format!(
            "{} has no file name",
            path.display()
        )));
    }
    replace_private(path, bytes, write).map_err(IndexError::Io)
}

/// Replace the file at `path` with `bytes`, atomically and private to the user: a temp file in
/// the same directory (created 0700 if missing), written, made 0600, fsynced, renamed over the
/// target, and the directory fsynced. Every dx-py cache is written through this.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_private(path, bytes, |file, bytes| file.write_all(bytes))
}

fn replace_private(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    create_missing_private_dir(dir)?;
    let (temp_path, mut file) = create_temp(dir, &file_name)?;
    let result = (|| -> io::Result<()> {
        write(&mut file, bytes)?;
        #[cfg(unix)]
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp_path, path)?;
        sync_dir(dir)
    })();
    if let Err(error) = result {
        // Best effort: the temp file is ours and useless now; the old file is untouched.
        let _ = fs::remove_file(&temp_path);
        return Err(error);
    }
    remove_stale_temps(dir, &file_name);
    Ok(())
}

/// Temp files older than this were left by a writer that crashed (a write takes well under a
/// second); younger ones may belong to a concurrent writer and are left alone.
const STALE_TEMP_AGE: Duration = Duration::from_secs(15 * 60);

/// Best effort removal of temp files crashed writers left next to `file_name`.
fn remove_stale_temps(dir: &Path, file_name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{file_name}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(&prefix) && name.ends_with(".tmp")) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A new, exclusively created temp file next to the target (same file system, so rename is atomic).
fn create_temp(dir: &Path, file_name: &str) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last_error = None;
    for _ in 0..16 {
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(
            ".{file_name}.{}.{unique}.{nanos:x}.tmp",
            std::process::id()
        ));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        match options.open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no unique temp file name")))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        // Makes the rename itself durable; only meaningful (and possible) on Unix.
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Create `dir` (and missing parents) with mode 0700; an existing directory is left as is.
fn create_missing_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)
}

/// Make `path` a directory only its owner can use: created 0700 when missing; an existing
/// directory with group/other bits is repaired to 0700.
///
/// The mode is always (re)set with `chmod`, which the OS allows only for the directory's owner
/// (or a privileged user), so a directory owned by someone else is refused with that error.
pub fn ensure_private_dir(path: &Path) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(metadata) if !metadata.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a directory", path.display()),
            ))
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_missing_private_dir(path)?,
        Err(e) => return Err(e),
    }
    #[cfg(unix)]
    fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot make {} private (0700): {e}", path.display()),
        )
    })?;
    Ok(())
}

/// Modification time of `metadata` in nanoseconds since the Unix epoch (negative before it).
pub fn mtime_ns(metadata: &fs::Metadata) -> io::Result<i128> {
    let modified = metadata.modified()?;
    Ok(match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    })
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
