//! Snapshot names and where their files go.

use std::path::{Component, Path, PathBuf};

/// The directory, next to a test file, that holds every snapshot of the tests beside it.
pub const SNAPSHOTS_DIR: &str = "__snapshots__";

/// Extension of a snapshot file; the index (`index.json`) can never collide with one.
pub const SNAPSHOT_EXT: &str = ".txt";

/// File names longer than this are cut and given a digest suffix (file systems allow 255 bytes).
const MAX_STEM: usize = 120;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error("test file {0:?} has no module name")]
    NoModule(PathBuf),
    #[error("snapshot path {path:?} is not inside {root:?}")]
    Outside { path: PathBuf, root: PathBuf },
    #[error("empty snapshot name")]
    Empty,
}

/// `__snapshots__/<module>/` for the test file at `test_file` (`tests/test_a.py` →
/// `tests/__snapshots__/test_a/`).
pub fn module_dir(test_file: &Path) -> Result<PathBuf, NameError> {
    let stem = test_file
        .file_stem()
        .map(|s| s.to_string_lossy())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| NameError::NoModule(test_file.to_path_buf()))?;
    let parent = test_file.parent().unwrap_or(Path::new(""));
    Ok(parent.join(SNAPSHOTS_DIR).join(sanitize(&stem, MAX_STEM)))
}

/// The file name of the snapshot called `name`: the name with every character outside
/// `[A-Za-z0-9_.-[]]` replaced by `_`, never starting with a dot, and, when that changed or cut
/// it, a Blake3 suffix of the original so that distinct names never share a file.
pub fn file_name(name: &str) -> Result<String, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let clean = sanitize(name, MAX_STEM);
    if clean == name {
        return Ok(format!("{clean}{SNAPSHOT_EXT}"));
    }
    let digest = blake3::hash(name.as_bytes()).to_hex();
    Ok(format!("{clean}-{}{SNAPSHOT_EXT}", &digest.as_str()[..12]))
}

/// Replaces what a file name must not hold, and cuts to `max` bytes. Kept: ASCII letters,
/// digits, `_ - . [ ]` (parametrize IDs stay readable); a leading dot becomes `_`.
fn sanitize(name: &str, max: usize) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with('.') {
        out.replace_range(0..1, "_");
    }
    out.truncate(max);
    out
}

/// Whether `path` is a file directly inside `dir`, which is inside a `__snapshots__`
/// directory: lexically, with no `..` or other component that could lead elsewhere.
pub fn check_inside(dir: &Path, path: &Path) -> Result<(), NameError> {
    let outside = || NameError::Outside {
        path: path.to_path_buf(),
        root: dir.to_path_buf(),
    };
    let in_snapshots = dir
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == SNAPSHOTS_DIR);
    let relative = path.strip_prefix(dir).map_err(|_| outside())?;
    let mut components = relative.components();
    let simple =
        matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none();
    let clean_dir = dir
        .components()
        .all(|c| !matches!(c, Component::ParentDir | Component::CurDir));
    if in_snapshots && simple && clean_dir {
        Ok(())
    } else {
        Err(outside())
    }
}
