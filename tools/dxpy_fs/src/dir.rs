//! Directories private to the user (0700).

use std::fs;
use std::io;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

/// Make `path` a directory only its owner can use: created 0700 (with missing parents) when
/// missing; an existing directory is set to 0700, repairing group/other bits.
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

/// Create `dir` (and missing parents) with mode 0700; an existing directory is left as is.
pub(crate) fn create_missing_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)
}
