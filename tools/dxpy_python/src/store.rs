//! One test module's snapshots on disk: `__snapshots__/<module>/` with its index.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use dxpy_fs::{AtomicWrite, FileLock};

use crate::file::{self, Kind, Parsed};
use crate::index::{Entry, Index, INDEX_FILE};
use crate::name::{self, NameError, SNAPSHOT_EXT};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The outcome of comparing a value with its stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Match,
    Missing,
    /// The unified diff from the stored file to the received one.
    Mismatch {
        diff: String,
    },
}

/// How the index was loaded, for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// No directory yet: no snapshots.
    Empty,
    /// The index was valid and listed exactly the snapshot files present.
    Index,
    /// The index was missing, corrupt or stale, and was rebuilt from the files.
    Rebuilt,
    /// The index listed the files present, but some files' contents no longer had its
    /// digests (edited by hand): their contents' digests replaced those entries.
    Corrected,
}

/// One module's snapshots: the index in memory, the files on disk.
#[derive(Debug)]
pub struct ModuleStore {
    dir: PathBuf,
    index: Index,
    loaded: Loaded,
}

impl ModuleStore {
    /// The store of the test file at `test_file` (its `__snapshots__/<module>/`).
    pub fn open(test_file: &Path) -> Result<ModuleStore, StoreError> {
        ModuleStore::open_dir(name::module_dir(test_file)?)
    }

    /// The store in `dir`, which must be `…/__snapshots__/<module>`.
    pub fn open_dir(dir: PathBuf) -> Result<ModuleStore, StoreError> {
        let (index, loaded) = load(&dir)?;
        Ok(ModuleStore { dir, index, loaded })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn loaded(&self) -> Loaded {
        self.loaded
    }

    /// The stored snapshots' names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.iter().map(|(name, _)| name.as_str())
    }

    /// Compares by digest only; the stored file is read only on a mismatch, for the diff.
    pub fn check(&self, name: &str, kind: Kind, body: &str) -> Result<Check, StoreError> {
        let Some(entry) = self.index.get(name) else {
            return Ok(Check::Missing);
        };
        if file::digest(name, kind, body).to_hex().as_str() == entry.blake3 {
            return Ok(Check::Match);
        }
        let path = self.dir.join(&entry.file);
        // A damaged file still diffs (lossily); it must not hide the mismatch behind an error.
        let stored = match fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(io_at(&path)(err)),
        };
        let diff = crate::diff::unified(&stored, &file::render(name, kind, body));
        Ok(Check::Mismatch { diff })
    }

    /// The stored snapshot, parsed (`None` when there is none or its file is not one).
    pub fn read(&self, name: &str) -> Result<Option<Parsed>, StoreError> {
        let Some(entry) = self.index.get(name) else {
            return Ok(None);
        };
        let path = self.dir.join(&entry.file);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(file::parse(&text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_at(&path)(err)),
        }
    }

    /// Writes (or rewrites) one snapshot and its index entry, atomically, under the module's
    /// lock, merged into the index as it is on disk now (another process may have added
    /// entries). Returns whether anything changed.
    pub fn write(&mut self, name: &str, kind: Kind, body: &str) -> Result<bool, StoreError> {
        let file_name = name::file_name(name)?;
        let path = self.dir.join(&file_name);
        name::check_inside(&self.dir, &path)?;
        fs::create_dir_all(&self.dir).map_err(io_at(&self.dir))?;
        let _lock = self.lock()?;
        let (mut index, _) = load(&self.dir)?;
        let text = file::render(name, kind, body);
        let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
        let entry = Entry {
            file: file_name,
            blake3: digest,
        };
        let changed = index.get(name) != Some(&entry);
        if changed {
            // Cheap to regenerate, written by the hundred: atomic, not fsynced.
            AtomicWrite::public()
                .unsynced()
                .write(&path, text.as_bytes())
                .map_err(io_at(&path))?;
            index.insert(name.to_owned(), entry);
            self.write_index(&index)?;
        }
        self.index = index;
        Ok(changed)
    }

    /// Deletes these snapshots (files and entries) under the lock; returns how many existed.
    pub fn remove<S: AsRef<str>>(&mut self, names: &[S]) -> Result<usize, StoreError> {
        if !self.dir.is_dir() {
            return Ok(0);
        }
        let _lock = self.lock()?;
        let (mut index, _) = load(&self.dir)?;
        let mut removed = 0;
        for name in names {
            let Some(entry) = index.remove(name.as_ref()) else {
                continue;
            };
            let path = self.dir.join(&entry.file);
            name::check_inside(&self.dir, &path)?;
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_at(&path)(err)),
            }
            removed += 1;
        }
        if removed > 0 {
            self.write_index(&index)?;
        }
        self.index = index;
        Ok(removed)
    }

    fn write_index(&self, index: &Index) -> Result<(), StoreError> {
        let path = self.dir.join(INDEX_FILE);
        name::check_inside(&self.dir, &path)?;
        if index.is_empty() {
            // No snapshots left: no index, and no directory once it is empty.
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_at(&path)(err)),
            }
            let _ = fs::remove_dir(&self.dir);
            return Ok(());
        }
        AtomicWrite::public()
            .unsynced()
            .write(&path, &index.to_bytes())
            .map_err(io_at(&path))
    }

    /// The module's advisory lock. It lives in the temp directory, keyed by the directory's
    /// canonical path, so that no lock file appears among the files users commit.
    fn lock(&self) -> Result<FileLock, StoreError> {
        let canonical = self.dir.canonicalize().map_err(io_at(&self.dir))?;
        let key = blake3::hash(canonical.as_os_str().as_encoded_bytes()).to_hex();
        let path =
            std::env::temp_dir().join(format!("dx-py-snapshots-{}.lock", &key.as_str()[..16]));
        FileLock::exclusive(&path).map_err(io_at(&path))
    }
}

/// Loads the index of `dir`: as stored when valid and listing exactly the snapshot files
/// present, else rebuilt from the files and written back.
fn load(dir: &Path) -> Result<(Index, Loaded), StoreError> {
    let files = match snapshot_files(dir) {
        Ok(files) => files,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Ok((Index::new(), Loaded::Empty))
        }
        Err(err) => return Err(io_at(dir)(err)),
    };
    let index_path = dir.join(INDEX_FILE);
    if let Ok(bytes) = fs::read(&index_path) {
        if let Ok(index) = Index::parse(&bytes) {
            let listed: BTreeSet<&str> = index.iter().map(|(_, e)| e.file.as_str()).collect();
            if listed.len() == files.len() && files.iter().all(|f| listed.contains(f.as_str())) {
                return correct_edited(dir, index);
            }
        }
    }
    if files.is_empty() && !index_path.exists() {
        return Ok((Index::new(), Loaded::Empty));
    }
    let index = rebuild(dir, &files)?;
    let path = dir.join(INDEX_FILE);
    AtomicWrite::public()
        .unsynced()
        .write(&path, &index.to_bytes())
        .map_err(io_at(&path))?;
    Ok((index, Loaded::Rebuilt))
}

/// The valid `index` of `dir`, with the entries of hand-edited files given their contents'
/// digests (and written back, so that the index again describes the files).
fn correct_edited(dir: &Path, mut index: Index) -> Result<(Index, Loaded), StoreError> {
    let edited = crate::verify::edited(dir, &index).map_err(io_at(dir))?;
    if edited.is_empty() {
        return Ok((index, Loaded::Index));
    }
    for (name, blake3) in edited {
        if let Some(entry) = index.get(&name) {
            let file = entry.file.clone();
            index.insert(name, Entry { file, blake3 });
        }
    }
    let path = dir.join(INDEX_FILE);
    AtomicWrite::public()
        .unsynced()
        .write(&path, &index.to_bytes())
        .map_err(io_at(&path))?;
    Ok((index, Loaded::Corrected))
}

/// The index of the snapshot files in `dir`, from their contents. A file that is not a
/// snapshot, or whose name is not its snapshot's file name, is left out (and left alone).
fn rebuild(dir: &Path, files: &BTreeSet<String>) -> Result<Index, StoreError> {
    let mut index = Index::new();
    for file_name in files {
        let path = dir.join(file_name);
        let bytes = fs::read(&path).map_err(io_at(&path))?;
        let Some(parsed) = std::str::from_utf8(&bytes).ok().and_then(file::parse) else {
            continue;
        };
        if name::file_name(&parsed.name).ok().as_deref() != Some(file_name.as_str()) {
            continue;
        }
        let entry = Entry {
            file: file_name.clone(),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
        };
        index.insert(parsed.name, entry);
    }
    Ok(index)
}

/// The names of the snapshot files (`*.txt`, not hidden) in `dir`.
fn snapshot_files(dir: &Path) -> io::Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        if file_name.ends_with(SNAPSHOT_EXT)
            && !file_name.starts_with('.')
            && entry.file_type()?.is_file()
        {
            files.insert(file_name);
        }
    }
    Ok(files)
}
