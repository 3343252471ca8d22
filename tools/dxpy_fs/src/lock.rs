//! Advisory whole-file locks (`flock`), so concurrent dx-py processes take turns on files that
//! must change together.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;

use rustix::fs::{flock, FlockOperation};

/// A held `flock` on a lock file, released when dropped (or when the process dies, so a crash
/// never leaves it held). Advisory: it only orders processes that take it too.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Wait for and take the lock alone (writers).
    pub fn exclusive(path: &Path) -> io::Result<FileLock> {
        FileLock::take(path, FlockOperation::LockExclusive)
    }

    /// Wait for and take the lock alongside other shared holders (readers).
    pub fn shared(path: &Path) -> io::Result<FileLock> {
        FileLock::take(path, FlockOperation::LockShared)
    }

    /// Take the lock alone if no one holds it; `None` when someone does.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<FileLock>> {
        match FileLock::take(path, FlockOperation::NonBlockingLockExclusive) {
            Ok(lock) => Ok(Some(lock)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn take(path: &Path, operation: FlockOperation) -> io::Result<FileLock> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        // The lock file holds no data; private like the caches it guards.
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(path)?;
        loop {
            match flock(&file, operation) {
                Ok(()) => return Ok(FileLock { _file: file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(errno) => return Err(errno.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_exclusive_fails_while_held_and_succeeds_once_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.lock");
        let held = FileLock::try_exclusive(&path).expect("lock").expect("free");
        // flock conflicts between open files, even within one process.
        assert!(FileLock::try_exclusive(&path).expect("try").is_none());
        drop(held);
        assert!(FileLock::try_exclusive(&path).expect("try").is_some());
    }
}
