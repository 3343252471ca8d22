//! The project's files as this run sees them: digests computed on first use and kept, with
//! the metadata they were read with, so a file edited while the tests ran is noticed
//! ([`Snapshot::changed_since_read`]) and its results are not cached.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::store::FileVersion;
use crate::units::{Digest, FileUnits};

/// One file's digests now. Units are cut on first use: most files of a run are unchanged,
/// and their whole digest is all a check needs.
#[derive(Debug, Clone)]
pub struct FileState {
    pub full: Digest,
    /// The contents, kept until the units are cut (empty for files that are not Python).
    source: Vec<u8>,
    python: bool,
    units: OnceCell<Option<FileUnits>>,
    stamp: Option<(i128, u64)>,
}

impl FileState {
    /// `None` for files that are not Python.
    pub fn units(&self) -> Option<&FileUnits> {
        self.units
            .get_or_init(|| {
                self.python
                    .then(|| FileUnits::parse(&self.source).ok())
                    .flatten()
            })
            .as_ref()
    }

    pub fn skeleton(&self) -> Digest {
        self.units().map_or(self.full, |u| u.skeleton)
    }
}

/// Lazily digested files under a root, and data digests of directories.
#[derive(Debug)]
pub struct Snapshot {
    root: PathBuf,
    files: HashMap<String, Option<FileState>>,
    /// Digests of what is below a directory: (directory, Python files included) → digest.
    below: HashMap<(String, bool), Digest>,
    /// Files the run writes itself (its JUnit XML): never a test's data.
    outputs: Vec<PathBuf>,
}

impl Snapshot {
    pub fn new(root: &Path) -> Snapshot {
        Snapshot {
            root: root.to_path_buf(),
            files: HashMap::new(),
            below: HashMap::new(),
            outputs: Vec::new(),
        }
    }

    /// Leave `path` (absolute, or relative to the root) out of every data digest: the run
    /// writes it, so it must not invalidate the next run's records.
    pub fn exclude_output(&mut self, path: &Path) {
        self.outputs.push(self.root.join(path));
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` (rootdir-relative) now; `None` when it does not exist or cannot be read. A
    /// module imported from inside an archive (`tests/res/package.zip/pkg/mod.py`) stands for
    /// the archive file itself, compared whole: any change to the archive is a change to it.
    pub fn file(&mut self, path: &str) -> Option<&FileState> {
        if !self.files.contains_key(path) {
            let state = match archive_of(&self.root, path) {
                Some(archive) => read_state(&archive, false),
                None => read_state(&self.root.join(path), path.ends_with(".py")),
            };
            self.files.insert(path.to_owned(), state);
        }
        self.files.get(path).and_then(Option::as_ref)
    }

    /// The [`FileVersion`] of `path` now.
    pub fn version(&mut self, path: &str) -> Option<FileVersion> {
        let state = self.file(path)?;
        Some(FileVersion {
            path: path.to_owned(),
            full: state.full,
            skeleton: state.skeleton(),
        })
    }

    /// Digest of the non-Python files below `dir` (rootdir-relative, `""`: the root): names
    /// and contents, recursively, leaving out hidden files and directories (`.coverage`,
    /// `.pytest_cache`), `__pycache__`, virtualenvs and `node_modules`.
    pub fn data_digest(&mut self, dir: &str) -> Digest {
        self.kept_digest_below(dir, false)
    }

    /// Digest of every file below `dir`, Python ones included, with the same exclusions as
    /// [`Snapshot::data_digest`]: what conftest collection hooks may read or turn into items.
    pub fn tree_digest(&mut self, dir: &str) -> Digest {
        self.kept_digest_below(dir, true)
    }

    /// [`Snapshot::digest_below`], computed once per run.
    fn kept_digest_below(&mut self, dir: &str, python: bool) -> Digest {
        let key = (dir.to_owned(), python);
        if let Some(digest) = self.below.get(&key) {
            return *digest;
        }
        let digest = self.digest_below(dir, python);
        self.below.insert(key, digest);
        digest
    }

    fn digest_below(&self, dir: &str, python: bool) -> Digest {
        let mut hasher = blake3::Hasher::new();
        let mut files = Vec::new();
        let base = self.root.join(dir);
        collect_files(&base, Path::new(""), python, &mut files);
        files.retain(|rel| !self.outputs.contains(&base.join(rel)));
        files.sort();
        for rel in files {
            let bytes = std::fs::read(base.join(&rel)).unwrap_or_default();
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update(&[0]);
            hasher.update(blake3::hash(&bytes).as_bytes());
        }
        *hasher.finalize().as_bytes()
    }

    /// Files read so far whose metadata differs now: edited while the tests ran.
    pub fn changed_since_read(&self) -> Vec<String> {
        let mut changed: Vec<String> = self
            .files
            .iter()
            .filter(|(path, state)| {
                let read = archive_of(&self.root, path).unwrap_or_else(|| self.root.join(path));
                stamp(&read) != state.as_ref().and_then(|s| s.stamp)
            })
            .map(|(path, _)| path.clone())
            .collect();
        changed.sort();
        changed
    }
}

fn stamp(path: &Path) -> Option<(i128, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((dxpy_fs::mtime_ns(&metadata).ok()?, metadata.len()))
}

/// The archive file (under `root`) that `path` lies inside, when `path` is no file itself but
/// one of its ancestors is: zipimport's paths look like that.
fn archive_of(root: &Path, path: &str) -> Option<PathBuf> {
    let full = root.join(path);
    if full.exists() {
        return None;
    }
    full.ancestors()
        .skip(1)
        .take_while(|ancestor| ancestor.starts_with(root) && *ancestor != root)
        .find(|ancestor| ancestor.is_file())
        .map(Path::to_path_buf)
}

fn read_state(path: &Path, python: bool) -> Option<FileState> {
    let before = stamp(path)?;
    let bytes = std::fs::read(path).ok()?;
    Some(FileState {
        full: *blake3::hash(&bytes).as_bytes(),
        source: if python { bytes } else { Vec::new() },
        python,
        units: OnceCell::new(),
        stamp: Some(before),
    })
}

fn skipped_dir(dir: &Path, name: &str) -> bool {
    name == "__pycache__" || name == "node_modules" || dir.join("pyvenv.cfg").exists()
}

/// Files below `base/rel`; Python sources only with `python`.
fn collect_files(base: &Path, rel: &Path, python: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(base.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let child = rel.join(&*name);
        if kind.is_dir() {
            if !skipped_dir(&entry.path(), &name) {
                collect_files(base, &child, python, out);
            }
        } else if name.ends_with(".pyc") || name.ends_with(".pyo") {
            // Bytecode follows its source.
        } else if python || !name.ends_with(".py") {
            out.push(child);
        }
    }
}
