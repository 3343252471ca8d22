//! Whether the daemon's spare workers (`dxpy_runner::pool::spare`) may still serve: a started
//! spare's pytest session loaded the project's config, conftests and the first-party code
//! they reach, so it is valid only while none of those files changed since just before it was
//! forked; a parked spare read only the config files. The daemon stamps them (size, mtimes,
//! ctimes, inode) then, and again before a run may take one; the directories holding them
//! are stamped too, so a file created beside them (a new conftest, a module that now shadows
//! another) also counts as a change.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use dxpy_discover::session::Discovery;

/// What a file was: (size, mtime s, mtime ns, ctime s, ctime ns, inode); `None`: missing.
type Stamp = Option<(u64, i64, i64, i64, i64, u64)>;

/// The files a spare's session depends on, as discovery and the import graph know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    paths: Vec<PathBuf>,
    conftests: Vec<PathBuf>,
    /// What a parked spare read: the config files (present or not).
    configs: Vec<PathBuf>,
}

impl Watched {
    /// `session_files` are rootdir-relative (from `preload::session_files`); the rootdir's
    /// config files and the discovery's conftests and config file are added.
    pub fn new(
        discovery: &Discovery,
        session_files: &BTreeSet<PathBuf>,
        configs: &[&str],
    ) -> Watched {
        let rootdir = &discovery.config.rootdir;
        let mut config_files: BTreeSet<PathBuf> =
            configs.iter().map(|name| rootdir.join(name)).collect();
        config_files.extend(discovery.config.inifile.iter().cloned());
        let mut files: BTreeSet<PathBuf> = session_files.iter().map(|f| rootdir.join(f)).collect();
        files.extend(discovery.conftests.iter().cloned());
        files.extend(config_files.iter().cloned());
        let mut dirs: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        dirs.insert(rootdir.clone());
        dirs.extend(discovery.config.pythonpath.iter().map(|d| rootdir.join(d)));
        files.extend(dirs);
        Watched {
            paths: files.into_iter().collect(),
            conftests: discovery.conftests.clone(),
            configs: config_files.into_iter().collect(),
        }
    }

    /// Stamps every watched file now.
    pub fn stamp(&self) -> Fingerprint {
        Fingerprint {
            watched: self.clone(),
            stamps: self.paths.iter().map(|p| stamp(p)).collect(),
            config_stamps: self.configs.iter().map(|p| stamp(p)).collect(),
        }
    }
}

/// The watched files as they were just before a spare was forked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    watched: Watched,
    stamps: Vec<Stamp>,
    config_stamps: Vec<Stamp>,
}

impl Fingerprint {
    /// Why no spare is valid any more, parked ones included: a config file changed.
    pub fn configs_changed(&self) -> Option<String> {
        first_change(&self.watched.configs, &self.config_stamps)
    }

    /// Why the started spare is no longer valid for a run with `discovery`, if it is not.
    pub fn changed(&self, discovery: &Discovery) -> Option<String> {
        if discovery.conftests != self.watched.conftests {
            return Some("the run's conftests differ".to_owned());
        }
        first_change(&self.watched.paths, &self.stamps)
    }

    /// How many files it covers.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }
}

fn first_change(paths: &[PathBuf], stamps: &[Stamp]) -> Option<String> {
    paths
        .iter()
        .zip(stamps)
        .find(|(path, before)| stamp(path) != **before)
        .map(|(path, _)| format!("{} changed", path.display()))
}

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).ok().map(|m| {
        (
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            m.ino(),
        )
    })
}
