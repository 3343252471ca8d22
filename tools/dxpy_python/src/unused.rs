//! Unused snapshots of a run whose tests ran in several processes (`dx-py test`'s workers):
//! each worker appends one [`TestRecord`] per test it ran to a file of its own in the run's
//! directory ([`RECORDS_ENV`]); after the run, [`find`] merges them and judges, as the plugin
//! does within one pytest session.
//!
//! A snapshot is unused when no test used it and either its test (the name itself, or the
//! part before a dot: `test_x.1`, `test_x.named`) ran and passed, or no test of its module
//! has its name and the run was whole (every test of the suite selected and run to the end):
//! then its test is gone. A run narrowed by `-k`, `-m`, node IDs, `--lf` or `--affected`, or
//! stopped early, never calls another test's snapshots unused, as syrupy does.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::{ModuleStore, StoreError};

/// Names the directory below which a dx-py worker's plugin writes its records: the run's are
/// in `<dir>/<PYTEST_XDIST_TESTRUNUID>/`, one `<pid>.jsonl` per worker.
pub const RECORDS_ENV: &str = "DXPY_SNAPSHOT_RUNS";

/// What one test did with snapshots: one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRecord {
    /// The test module's path, absolute.
    pub file: String,
    /// Its snapshot key (`Class.test_name[params]`).
    pub key: String,
    /// Every phase passed (not failed, errored, skipped or xfailed).
    pub passed: bool,
    /// The snapshot names it compared.
    pub used: Vec<String>,
    /// The plugin's options in that worker: `--update-snapshots`, and `--ci` or `CI=true`.
    pub update: bool,
    pub ci: bool,
}

/// One unused snapshot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unused {
    pub file: String,
    pub name: String,
}

/// The records in `dir` (every `*.jsonl`), removed as they are read, so that a second run
/// with the same id (a rerun of the same selection) judges its own. A line that does not
/// parse (a worker killed mid-write) is skipped: its test did not finish.
pub fn take_records(dir: &Path) -> io::Result<Vec<TestRecord>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "jsonl") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut records = Vec::new();
    for path in paths {
        let text = fs::read_to_string(&path)?;
        records.extend(
            text.lines()
                .filter_map(|line| serde_json::from_str::<TestRecord>(line).ok()),
        );
        fs::remove_file(&path)?;
    }
    Ok(records)
}

/// The test key a snapshot name belongs to: the name itself, or a prefix before a dot.
pub fn owner<'k>(name: &str, keys: &'k BTreeSet<String>) -> Option<&'k str> {
    if let Some(key) = keys.get(name) {
        return Some(key);
    }
    name.match_indices('.')
        .find_map(|(i, _)| keys.get(&name[..i]))
        .map(String::as_str)
}

/// The unused snapshots of the modules the records name, sorted; `whole`: every test of the
/// suite was selected and the run finished.
pub fn find(records: &[TestRecord], whole: bool) -> Result<Vec<Unused>, StoreError> {
    #[derive(Default)]
    struct Module {
        ran: BTreeSet<String>,
        failed: BTreeSet<String>,
        used: BTreeSet<String>,
    }
    let mut modules: BTreeMap<&str, Module> = BTreeMap::new();
    for record in records {
        let module = modules.entry(record.file.as_str()).or_default();
        module.ran.insert(record.key.clone());
        if !record.passed {
            module.failed.insert(record.key.clone());
        }
        module.used.extend(record.used.iter().cloned());
    }
    let mut unused = Vec::new();
    for (file, module) in modules {
        let store = ModuleStore::open(Path::new(file))?;
        for name in store.names() {
            if module.used.contains(name) {
                continue;
            }
            let gone = match owner(name, &module.ran) {
                Some(key) => !module.failed.contains(key),
                None => whole,
            };
            if gone {
                unused.push(Unused {
                    file: file.to_owned(),
                    name: name.to_owned(),
                });
            }
        }
    }
    Ok(unused)
}

/// Deletes these snapshots (`--update-snapshots`); how many existed.
pub fn remove(unused: &[Unused]) -> Result<usize, StoreError> {
    let mut by_file: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for snapshot in unused {
        by_file
            .entry(snapshot.file.as_str())
            .or_default()
            .push(snapshot.name.as_str());
    }
    let mut removed = 0;
    for (file, names) in by_file {
        removed += ModuleStore::open(Path::new(file))?.remove(&names)?;
    }
    Ok(removed)
}
