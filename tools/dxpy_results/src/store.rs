//! The on-disk result cache: one file, `results.bin`, beside a lock file.
//!
//! Layout: magic `DXRC`, a `u32` format version, the blake3 digest of the body, then the
//! body (postcard). Anything that does not check out — another version, a short file, a
//! digest mismatch, a body that does not decode or whose indices point nowhere — is
//! [`LoadError::Corrupt`]: the caller starts from an empty cache and says so. Writes are
//! atomic and private (0600, in a 0700 directory); [`Store::merge_save`] re-reads the file
//! under an exclusive lock so two `dx-py` runs in one project keep each other's records.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::units::Digest;

const MAGIC: &[u8; 4] = b"DXRC";
/// Bump when the body's shape or meaning changes: older files are then rebuilt.
const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 4 + 4 + 32;

/// One version of one file, as a record depends on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileVersion {
    /// rootdir-relative, `/`-separated.
    pub path: String,
    pub full: Digest,
    /// The skeleton digest (see [`crate::units`]); equal to `full` for non-Python files.
    pub skeleton: Digest,
}

/// One version of one unit (function) of a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitVersion {
    pub path: String,
    pub name: String,
    pub body: Digest,
}

/// What one run saw outside any test: shared by every record the run made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Files the workers loaded with function-level recording: only for these is an edit
    /// inside a function body judged by what each test executed.
    pub instrumented: Vec<String>,
    /// Units executed at import time or by fixtures broader than a function ([`UnitVersion`]
    /// indices): a change to any of them reruns every test of the run.
    pub ambient: Vec<u32>,
}

/// One test's record: the digests of its inputs and the reports to replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRecord {
    /// Config files, outcome-changing options, interpreter, distributions, environment.
    pub context: Digest,
    /// Non-Python files of the test's directory tree and the configured input globs.
    pub data: Digest,
    /// [`FileVersion`] indices: the test module, its conftests and every first-party file
    /// they reach, plus files the test executed or loaded.
    pub deps: u32,
    /// Extra [`FileVersion`] indices of this test alone (executed or loaded at run time).
    pub extra: Vec<u32>,
    /// [`UnitVersion`] indices this test executed.
    pub units: Vec<u32>,
    /// The [`RunRecord`] index.
    pub run: u32,
    /// The test's execution was recorded (no subprocess, no foreign tracer) and its reports
    /// hold no line numbers that an edit elsewhere could shift: function-body edits are
    /// judged unit by unit. Otherwise every dependency must be byte-identical.
    pub granular: bool,
    /// The reports as result frames (`dxpy_runner::protocol::encode_result`), in order.
    pub reports: Vec<Vec<u8>>,
}

/// What one hook-items unit (conftest `pytest_collect_file` hooks over some directories)
/// collected: its items in order, and the inputs that decide which items exist. Each item's
/// reports are an ordinary [`TestRecord`] under its node ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRecord {
    /// The collection's inputs, checked as a test's are: `data` digests every file under the
    /// unit's directories and the conftests in scope, `deps` holds those conftests and the
    /// first-party files they reach; `reports` is empty.
    pub inputs: TestRecord,
    /// The node IDs the unit collected, in the order it ran them.
    pub items: Vec<String>,
}

/// The whole cache in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub files: Vec<FileVersion>,
    pub units: Vec<UnitVersion>,
    /// Interned dependency sets ([`FileVersion`] indices, sorted).
    pub dep_sets: Vec<Vec<u32>>,
    pub runs: Vec<RunRecord>,
    /// By the node ID the scheduler ran (a dynamic function's ID covers all its expansions).
    pub records: BTreeMap<String, TestRecord>,
    /// By hook-items unit (see [`HookRecord`]).
    pub hooks: BTreeMap<String, HookRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("encoding the result cache: {0}")]
    Encode(#[from] postcard::Error),
}

/// Where the cache lives: `results.bin` and `results.lock` in a private directory.
#[derive(Debug, Clone)]
pub struct StorePaths {
    pub file: PathBuf,
    pub lock: PathBuf,
}

impl StorePaths {
    pub fn in_dir(dir: &Path) -> StorePaths {
        StorePaths {
            file: dir.join("results.bin"),
            lock: dir.join("results.lock"),
        }
    }
}

impl Store {
    /// The cache at `paths`: empty when there is none yet; an error when it is unreadable or
    /// corrupt (the caller reports it and starts empty).
    pub fn load(paths: &StorePaths) -> Result<Store, LoadError> {
        if let Some(dir) = paths.lock.parent() {
            dxpy_fs::ensure_private_dir(dir).map_err(|source| LoadError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let _lock = dxpy_fs::FileLock::shared(&paths.lock).map_err(|source| LoadError::Io {
            path: paths.lock.clone(),
            source,
        })?;
        Store::read(&paths.file)
    }

    fn read(path: &Path) -> Result<Store, LoadError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Store::default()),
            Err(source) => {
                return Err(LoadError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Store::decode(&bytes).map_err(|reason| LoadError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Parse and validate a cache file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Store, String> {
        if bytes.len() < HEADER_LEN {
            return Err(format!("truncated ({} bytes)", bytes.len()));
        }
        if &bytes[..4] != MAGIC {
            return Err("not a dx-py result cache".into());
        }
        let version = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        if version != FORMAT_VERSION {
            return Err(format!(
                "format version {version}, this dx-py writes {FORMAT_VERSION}"
            ));
        }
        let body = &bytes[HEADER_LEN..];
        if blake3::hash(body).as_bytes() != &bytes[8..HEADER_LEN] {
            return Err("checksum mismatch".into());
        }
        let store: Store = postcard::from_bytes(body).map_err(|e| format!("undecodable: {e}"))?;
        store.check_indices()?;
        Ok(store)
    }

    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        let body = postcard::to_allocvec(self)?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(blake3::hash(&body).as_bytes());
        bytes.extend_from_slice(&body);
        Ok(bytes)
    }

    /// Every index points at something: a checksum only proves the bytes are the ones
    /// written, not that the writer was right.
    fn check_indices(&self) -> Result<(), String> {
        let (files, units) = (self.files.len(), self.units.len());
        let bad = |what: &str| Err(format!("{what} index out of range"));
        for set in &self.dep_sets {
            if set.iter().any(|&i| i as usize >= files) {
                return bad("dependency");
            }
        }
        for run in &self.runs {
            if run.ambient.iter().any(|&i| i as usize >= units) {
                return bad("ambient unit");
            }
        }
        let hook_inputs = self.hooks.values().map(|h| &h.inputs);
        for record in self.records.values().chain(hook_inputs) {
            if record.deps as usize >= self.dep_sets.len() || record.run as usize >= self.runs.len()
            {
                return bad("record");
            }
            if record.extra.iter().any(|&i| i as usize >= files)
                || record.units.iter().any(|&i| i as usize >= units)
            {
                return bad("record file or unit");
            }
        }
        Ok(())
    }

    /// Write `self` merged over what is on disk now: records of `self` replace the disk's
    /// records of the same test, records of `forget` (tests that did not pass this time)
    /// go, the disk's other records stay (another run's). Under the exclusive lock,
    /// atomically.
    pub fn merge_save(self, paths: &StorePaths, forget: &[String]) -> Result<(), SaveError> {
        self.merge_save_forgetting(paths, forget, &[])
    }

    /// [`Store::merge_save`], also dropping the disk's [`HookRecord`]s of `forget_hooks`
    /// (hook-items units that ran and did not complete).
    pub fn merge_save_forgetting(
        self,
        paths: &StorePaths,
        forget: &[String],
        forget_hooks: &[String],
    ) -> Result<(), SaveError> {
        if self.records.is_empty()
            && self.hooks.is_empty()
            && forget.is_empty()
            && forget_hooks.is_empty()
        {
            // Nothing to add or drop (a run that replayed everything): rewriting the file
            // would only repeat what it says, at the cost of reading and encoding it.
            return Ok(());
        }
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SaveError::Io { path, source }
        };
        if let Some(dir) = paths.lock.parent() {
            dxpy_fs::ensure_private_dir(dir).map_err(io_err(dir))?;
        }
        let _lock = dxpy_fs::FileLock::exclusive(&paths.lock).map_err(io_err(&paths.lock))?;
        // A corrupt or unreadable file on disk is replaced, not merged.
        let mut merged = Store::read(&paths.file).unwrap_or_default();
        merged.absorb(self);
        for key in forget {
            merged.records.remove(key);
        }
        for key in forget_hooks {
            merged.hooks.remove(key);
        }
        let bytes = merged.compact().encode()?;
        dxpy_fs::write_private_atomic(&paths.file, &bytes).map_err(io_err(&paths.file))
    }

    /// Take `other`'s records over ours, re-interning its files, units, sets and runs.
    pub fn absorb(&mut self, other: Store) {
        let mut interner = Interner::new(self);
        let files: Vec<u32> = other
            .files
            .into_iter()
            .map(|f| interner.file(self, f))
            .collect();
        let units: Vec<u32> = other
            .units
            .into_iter()
            .map(|u| interner.unit(self, u))
            .collect();
        let map = |ids: &[u32], table: &[u32]| -> Vec<u32> {
            ids.iter().map(|&i| table[i as usize]).collect()
        };
        let sets: Vec<u32> = other
            .dep_sets
            .iter()
            .map(|set| interner.dep_set(self, map(set, &files)))
            .collect();
        let runs: Vec<u32> = other
            .runs
            .into_iter()
            .map(|run| {
                self.runs.push(RunRecord {
                    instrumented: run.instrumented,
                    ambient: map(&run.ambient, &units),
                });
                u32::try_from(self.runs.len() - 1).unwrap_or(u32::MAX)
            })
            .collect();
        let remap = |record: &mut TestRecord| {
            record.deps = sets[record.deps as usize];
            record.extra = map(&record.extra, &files);
            record.units = map(&record.units, &units);
            record.run = runs[record.run as usize];
        };
        for (key, mut record) in other.records {
            remap(&mut record);
            self.records.insert(key, record);
        }
        for (key, mut hook) in other.hooks {
            remap(&mut hook.inputs);
            self.hooks.insert(key, hook);
        }
    }

    /// Drop files, units, sets and runs no record uses any more, renumbering the rest.
    pub fn compact(mut self) -> Store {
        let mut out = Store::default();
        let mut interner = Interner::new(&out);
        let mut run_map: HashMap<u32, u32> = HashMap::new();
        let records = std::mem::take(&mut self.records);
        let hooks = std::mem::take(&mut self.hooks);
        let mut moved = |record: TestRecord, out: &mut Store| -> TestRecord {
            self.move_record(record, out, &mut interner, &mut run_map)
        };
        for (key, record) in records {
            let record = moved(record, &mut out);
            out.records.insert(key, record);
        }
        for (key, hook) in hooks {
            let inputs = moved(hook.inputs, &mut out);
            out.hooks.insert(
                key,
                HookRecord {
                    inputs,
                    items: hook.items,
                },
            );
        }
        out
    }

    /// `record` (of `self`) re-interned into `out`, its run copied once (`run_map`).
    fn move_record(
        &self,
        record: TestRecord,
        out: &mut Store,
        interner: &mut Interner,
        run_map: &mut HashMap<u32, u32>,
    ) -> TestRecord {
        let files = |ids: &[u32], out: &mut Store, interner: &mut Interner| -> Vec<u32> {
            ids.iter()
                .map(|&i| interner.file(out, self.files[i as usize].clone()))
                .collect()
        };
        let units = |ids: &[u32], out: &mut Store, interner: &mut Interner| -> Vec<u32> {
            ids.iter()
                .map(|&i| interner.unit(out, self.units[i as usize].clone()))
                .collect()
        };
        let set = files(&self.dep_sets[record.deps as usize], out, interner);
        let deps = interner.dep_set(out, set);
        let extra = files(&record.extra, out, interner);
        let unit_ids = units(&record.units, out, interner);
        let run = match run_map.get(&record.run) {
            Some(&run) => run,
            None => {
                let old = &self.runs[record.run as usize];
                let ambient = units(&old.ambient, out, interner);
                out.runs.push(RunRecord {
                    instrumented: old.instrumented.clone(),
                    ambient,
                });
                let run = u32::try_from(out.runs.len() - 1).unwrap_or(u32::MAX);
                run_map.insert(record.run, run);
                run
            }
        };
        TestRecord {
            deps,
            extra,
            units: unit_ids,
            run,
            ..record
        }
    }
}

/// Index of each file, unit and dependency set already in a store.
#[derive(Debug)]
pub(crate) struct Interner {
    files: HashMap<FileVersion, u32>,
    units: HashMap<UnitVersion, u32>,
    sets: HashMap<Vec<u32>, u32>,
}

fn index(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

impl Interner {
    pub(crate) fn new(store: &Store) -> Interner {
        Interner {
            files: (0..)
                .zip(&store.files)
                .map(|(i, f)| (f.clone(), i))
                .collect(),
            units: (0..)
                .zip(&store.units)
                .map(|(i, u)| (u.clone(), i))
                .collect(),
            sets: (0..)
                .zip(&store.dep_sets)
                .map(|(i, s)| (s.clone(), i))
                .collect(),
        }
    }

    pub(crate) fn file(&mut self, store: &mut Store, file: FileVersion) -> u32 {
        *self.files.entry(file).or_insert_with_key(|file| {
            store.files.push(file.clone());
            index(store.files.len() - 1)
        })
    }

    pub(crate) fn unit(&mut self, store: &mut Store, unit: UnitVersion) -> u32 {
        *self.units.entry(unit).or_insert_with_key(|unit| {
            store.units.push(unit.clone());
            index(store.units.len() - 1)
        })
    }

    pub(crate) fn dep_set(&mut self, store: &mut Store, mut set: Vec<u32>) -> u32 {
        set.sort_unstable();
        set.dedup();
        *self.sets.entry(set).or_insert_with_key(|set| {
            store.dep_sets.push(set.clone());
            index(store.dep_sets.len() - 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, n: u8) -> FileVersion {
        FileVersion {
            path: path.into(),
            full: [n; 32],
            skeleton: [n; 32],
        }
    }

    fn record(deps: u32, run: u32) -> TestRecord {
        TestRecord {
            context: [0; 32],
            data: [0; 32],
            deps,
            extra: vec![],
            units: vec![],
            run,
            granular: false,
            reports: vec![],
        }
    }

    /// The dependency paths of every record, by key: what must survive re-interning.
    fn deps_by_key(store: &Store) -> BTreeMap<String, Vec<String>> {
        store
            .records
            .iter()
            .map(|(key, r)| {
                let paths = store.dep_sets[r.deps as usize]
                    .iter()
                    .map(|&i| store.files[i as usize].path.clone())
                    .collect();
                (key.clone(), paths)
            })
            .collect()
    }

    fn sample() -> Store {
        let mut store = Store {
            files: vec![file("a.py", 1), file("b.py", 2), file("c.py", 3)],
            dep_sets: vec![vec![0, 2], vec![1]],
            runs: vec![RunRecord::default()],
            ..Store::default()
        };
        store.records.insert("t::x".into(), record(0, 0));
        store.records.insert("t::y".into(), record(1, 0));
        store
    }

    #[test]
    fn compact_and_absorb_keep_each_records_dependencies() {
        let store = sample();
        let expected = deps_by_key(&store);
        assert_eq!(deps_by_key(&store.clone().compact()), expected);
        let mut merged = Store::default();
        merged.absorb(store.clone());
        assert_eq!(deps_by_key(&merged), expected);
        let mut merged = store.clone();
        merged.absorb(Store::default());
        assert_eq!(deps_by_key(&merged.compact()), expected);
        let decoded = Store::decode(&store.encode().expect("encode")).expect("decode");
        assert_eq!(deps_by_key(&decoded), expected);
    }

    #[test]
    fn damaged_bytes_are_corrupt_never_a_panic() {
        let bytes = sample().encode().expect("encode");
        for cut in 0..bytes.len() {
            assert!(Store::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x40;
            assert!(Store::decode(&flipped).is_err(), "flip at {at}");
        }
    }
}
