//! File-system side of the index: mapping and atomic replacement (through `dxpy_fs`, which
//! also owns the private cache directory and file stamps).
//!
//! Safety model for the memory map: an index is only ever replaced by writing a fresh file and
//! renaming it over the old path ([`install`]); nothing in dx-py truncates or rewrites an index
//! in place, so an inode we have mapped keeps its bytes until we unmap it. The file lives in a
//! 0700 directory and must itself have no group/other permission bits, so only the same user
//! (or root) could modify it underneath us.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use memmap2::Mmap;

use super::IndexError;

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

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
    dxpy_fs::AtomicWrite::private()
        .write_with(path, |file| write(file, bytes))
        .map_err(IndexError::Io)
}
