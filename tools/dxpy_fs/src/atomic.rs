//! Atomic file replacement: readers see the old file or the new one, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::dir::create_missing_private_dir;

#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

/// How [`AtomicWrite::write`] replaces a file. Every variant writes a new, exclusively created
/// temp file in the target's directory (same file system, so the rename is atomic), renames it
/// over the target, and removes it again if any step fails, leaving the old file untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtomicWrite {
    private: bool,
    sync: bool,
}

impl AtomicWrite {
    /// For dx-py's own caches: the file is 0600, a missing parent directory is created 0700,
    /// and the file and the rename are fsynced.
    pub const fn private() -> AtomicWrite {
        AtomicWrite {
            private: true,
            sync: true,
        }
    }

    /// For files the user asked for (reports, BUILD files) or that keep their historical mode:
    /// 0666 less the umask, exactly like [`File::create`]; the parent directory must exist. The
    /// file and the rename are fsynced.
    pub const fn public() -> AtomicWrite {
        AtomicWrite {
            private: false,
            sync: true,
        }
    }

    /// Skip the fsyncs, for outputs that are cheap to regenerate and written by the thousand,
    /// where a crash may lose the new content but never leaves a half-written file.
    pub const fn unsynced(self) -> AtomicWrite {
        AtomicWrite {
            sync: false,
            ..self
        }
    }

    /// Replace the file at `path` with `bytes`.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.write_with(path, |file| file.write_all(bytes))
    }

    /// Replace the file at `path` with what `write` puts into the (empty) temp file.
    pub fn write_with(
        &self,
        path: &Path,
        write: impl FnOnce(&mut File) -> io::Result<()>,
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
        if self.private {
            create_missing_private_dir(dir)?;
        }
        let (temp_path, mut file) = create_temp(dir, &file_name, self.private)?;
        let result = (|| -> io::Result<()> {
            write(&mut file)?;
            // The create mode is reduced by the umask; a private file must end up exactly 0600.
            #[cfg(unix)]
            if self.private {
                file.set_permissions(fs::Permissions::from_mode(0o600))?;
            }
            if self.sync {
                file.sync_all()?;
            }
            drop(file);
            fs::rename(&temp_path, path)?;
            if self.sync {
                sync_dir(dir)?;
            }
            Ok(())
        })();
        if let Err(error) = result {
            // Best effort: the temp file is ours and useless now; the old file is untouched.
            let _ = fs::remove_file(&temp_path);
            return Err(error);
        }
        remove_stale_temps(dir, &file_name);
        Ok(())
    }
}

/// Replace the file at `path` with `bytes`, atomically and private to the user (see
/// [`AtomicWrite::private`]). Every dx-py cache is written through this.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    AtomicWrite::private().write(path, bytes)
}

/// Whether the directory entry `name` is a temp file [`AtomicWrite`] made for `file_name`
/// (for cleaning a cache directory).
pub fn is_temp_of(name: &str, file_name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_prefix(file_name))
        .is_some_and(|rest| rest.starts_with('.') && rest.ends_with(".tmp"))
}

/// Temp files older than this were left by a writer that crashed (a write takes well under a
/// second); younger ones may belong to a concurrent writer and are left alone.
const STALE_TEMP_AGE: Duration = Duration::from_secs(15 * 60);

/// Best effort removal of temp files crashed writers left next to `file_name`.
fn remove_stale_temps(dir: &Path, file_name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !is_temp_of(&entry.file_name().to_string_lossy(), file_name) {
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
fn create_temp(dir: &Path, file_name: &str, private: bool) -> io::Result<(PathBuf, File)> {
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
        options.mode(if private { 0o600 } else { 0o666 });
        #[cfg(not(unix))]
        let _ = private;
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
