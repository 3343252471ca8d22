//! Temporary projects: files written into a fresh temporary directory, or a fixture tree
//! copied there so that tests may change it and no config file above the repository can
//! influence results.

use std::fs::FileType;
use std::path::{Path, PathBuf};

/// Writes `contents` to `root/rel`, creating the directories on the way.
pub fn write(root: &Path, rel: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, contents)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

/// Copies the tree at `from` to `to`, without the `.gitkeep` placeholders that keep empty
/// fixture directories in git.
pub fn copy_tree(from: &Path, to: &Path) {
    copy_tree_where(from, to, &|name, _| name != ".gitkeep");
}

/// Copies the tree at `from` to `to`, only the entries (by name and type, symlinks not
/// followed) that `keep` accepts; a kept symlink is copied as the file it points to.
pub fn copy_tree_where(from: &Path, to: &Path, keep: &dyn Fn(&str, &FileType) -> bool) {
    std::fs::create_dir_all(to).expect("mkdir");
    let entries = std::fs::read_dir(from)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", from.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let kind = entry.file_type().expect("file type");
        if !keep(&entry.file_name().to_string_lossy(), &kind) {
            continue;
        }
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree_where(&entry.path(), &target, keep);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A project in a fresh temporary directory, deleted when this is dropped; built file by
/// file:
///
/// ```
/// let project = dxpy_test_support::Project::new()
///     .file("pytest.ini", "[pytest]\n")
///     .file("test_a.py", "def test_a():\n    pass\n");
/// assert!(project.root().join("test_a.py").is_file());
/// ```
#[derive(Debug)]
pub struct Project {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    /// An empty project rooted at the temporary directory itself.
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        Project { dir, root }
    }

    /// An empty project rooted at `name` inside the temporary directory, leaving room
    /// beside it (for a cache, say) that is not part of the project.
    pub fn in_subdir(name: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join(name);
        std::fs::create_dir_all(&root).expect("mkdir");
        Project { dir, root }
    }

    /// Adds `rel` with `contents`.
    pub fn file(self, rel: &str, contents: impl AsRef<[u8]>) -> Project {
        write(&self.root, rel, contents);
        self
    }

    /// Adds every `(rel, contents)`.
    pub fn files<C: AsRef<[u8]>>(self, files: &[(&str, C)]) -> Project {
        for (rel, contents) in files {
            write(&self.root, rel, contents);
        }
        self
    }

    /// Adds a copy of the tree at `from` (see [`copy_tree`]).
    pub fn copy_of(self, from: &Path) -> Project {
        copy_tree(from, &self.root);
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The temporary directory (the root's parent for [`Project::in_subdir`]).
    pub fn temp_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The guard that deletes the directory, and the root.
    pub fn into_parts(self) -> (tempfile::TempDir, PathBuf) {
        (self.dir, self.root)
    }
}
