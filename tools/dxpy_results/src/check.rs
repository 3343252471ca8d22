//! Which tests can be replayed: a record is used only when every input it was made from is
//! unchanged. When unsure, the test runs.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::snapshot::Snapshot;
use crate::store::{FileVersion, HookRecord, Store, TestRecord};
use crate::units::Digest;

/// What a test depends on in this run, before anything executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestInputs {
    /// The test module, rootdir-relative.
    pub test_file: String,
    /// The test module, its conftests and every first-party file they reach through the
    /// import graph (rootdir-relative, sorted).
    pub deps: Vec<String>,
    /// [`Snapshot::data_digest`] of the test's directory.
    pub data: Digest,
}

/// Why a test runs instead of being replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunReason {
    NoRecord,
    /// The caller asked for every test to run (and be recorded afresh).
    Asked,
    /// Config, options, interpreter, installed distributions or environment changed.
    Context,
    /// A non-Python file in the test's directory changed.
    Data,
    /// A file it depends on changed outside function bodies, or at all when the record is
    /// not granular, or is gone.
    File(String),
    /// A function it (or the run, at import time) executed changed.
    Unit {
        path: String,
        name: String,
    },
    /// The import graph reaches a file the record does not know.
    NewDependency(String),
}

/// The decision for one test.
#[derive(Debug)]
pub enum Decision<'s> {
    Replay(&'s TestRecord),
    Run(RunReason),
}

/// The decision for one hook-items unit's list of items.
#[derive(Debug)]
pub enum HookDecision<'s> {
    /// The items are the recorded ones; each is then decided as a test.
    Known(&'s HookRecord),
    /// Collect and run the whole unit.
    Run(RunReason),
}

/// How a recorded file compares with the same path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileStatus {
    Same,
    /// Only function bodies differ.
    BodiesChanged,
    Changed,
}

/// Decides, memoizing per file and unit version, which records still hold. A run decides
/// every selected test, each over its dependencies and the run's import-time units (often
/// hundreds): memos are indexed by id, and paths interned, to keep that loop cheap.
#[derive(Debug)]
pub struct Checker<'s> {
    store: &'s Store,
    context: Digest,
    files: Vec<Option<FileStatus>>,
    units: Vec<Option<bool>>,
    instrumented: HashMap<u32, HashSet<&'s str>>,
    paths: Paths<'s>,
    /// Per path id, the number of the test whose dependency it was last found unchanged.
    unchanged_in: Vec<u32>,
    /// Numbers the tests decided, from 1.
    test_number: u32,
}

/// Interned paths of the store's file and unit versions, computed on first use.
#[derive(Debug, Default)]
struct Paths<'s> {
    ids: HashMap<&'s str, u32>,
    of_file: Vec<Option<u32>>,
    of_unit: Vec<Option<u32>>,
}

impl<'s> Paths<'s> {
    fn intern(&mut self, path: &'s str) -> u32 {
        let next = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        *self.ids.entry(path).or_insert(next)
    }

    fn of_file(&mut self, store: &'s Store, id: u32) -> u32 {
        if let Some(path) = self.of_file[id as usize] {
            return path;
        }
        let path = self.intern(store.files[id as usize].path.as_str());
        self.of_file[id as usize] = Some(path);
        path
    }

    fn of_unit(&mut self, store: &'s Store, id: u32) -> u32 {
        if let Some(path) = self.of_unit[id as usize] {
            return path;
        }
        let path = self.intern(store.units[id as usize].path.as_str());
        self.of_unit[id as usize] = Some(path);
        path
    }
}

impl<'s> Checker<'s> {
    pub fn new(store: &'s Store, context: Digest) -> Checker<'s> {
        Checker {
            store,
            context,
            files: vec![None; store.files.len()],
            units: vec![None; store.units.len()],
            instrumented: HashMap::new(),
            paths: Paths {
                ids: HashMap::new(),
                of_file: vec![None; store.files.len()],
                of_unit: vec![None; store.units.len()],
            },
            unchanged_in: Vec::new(),
            test_number: 0,
        }
    }

    pub fn decide(&mut self, key: &str, inputs: &TestInputs, now: &mut Snapshot) -> Decision<'s> {
        let Some(record) = self.store.records.get(key) else {
            return Decision::Run(RunReason::NoRecord);
        };
        match self.why_not(record, inputs, now) {
            Some(reason) => Decision::Run(reason),
            None => Decision::Replay(record),
        }
    }

    /// Whether the hook-items unit `key` still collects the items it recorded: its
    /// `inputs` are those of the collection (see [`HookRecord::inputs`]).
    pub fn decide_hooks(
        &mut self,
        key: &str,
        inputs: &TestInputs,
        now: &mut Snapshot,
    ) -> HookDecision<'s> {
        let Some(hook) = self.store.hooks.get(key) else {
            return HookDecision::Run(RunReason::NoRecord);
        };
        match self.why_not(&hook.inputs, inputs, now) {
            Some(reason) => HookDecision::Run(reason),
            None => HookDecision::Known(hook),
        }
    }

    fn why_not(
        &mut self,
        record: &'s TestRecord,
        inputs: &TestInputs,
        now: &mut Snapshot,
    ) -> Option<RunReason> {
        if record.context != self.context {
            return Some(RunReason::Context);
        }
        if record.data != inputs.data {
            return Some(RunReason::Data);
        }
        let store = self.store;
        let run = &store.runs[record.run as usize];
        let set = &store.dep_sets[record.deps as usize];
        let known: BTreeSet<&str> = set
            .iter()
            .chain(&record.extra)
            .map(|&i| store.files[i as usize].path.as_str())
            .collect();
        if let Some(new) = inputs.deps.iter().find(|d| !known.contains(d.as_str())) {
            return Some(RunReason::NewDependency(new.clone()));
        }
        // Files whose whole text is what the record saw: their units are too (the record's
        // files and units were read in one snapshot), so they need not be cut into units.
        self.test_number += 1;
        let test = self.test_number;
        for &id in set.iter().chain(&record.extra) {
            let file = &store.files[id as usize];
            match self.file_status(id, now) {
                FileStatus::Same => {
                    let path = self.paths.of_file(store, id) as usize;
                    if self.unchanged_in.len() <= path {
                        self.unchanged_in.resize(path + 1, 0);
                    }
                    self.unchanged_in[path] = test;
                }
                FileStatus::BodiesChanged
                    if record.granular
                        && file.path != inputs.test_file
                        && self.instrumented(record.run).contains(file.path.as_str()) => {}
                _ => return Some(RunReason::File(file.path.clone())),
            }
        }
        for &id in record.units.iter().chain(&run.ambient) {
            let path = self.paths.of_unit(store, id) as usize;
            if self.unchanged_in.get(path) == Some(&test) {
                continue;
            }
            if !self.unit_same(id, now) {
                let unit = &store.units[id as usize];
                return Some(RunReason::Unit {
                    path: unit.path.clone(),
                    name: unit.name.clone(),
                });
            }
        }
        None
    }

    /// The files a run recorded function by function, as a set.
    fn instrumented(&mut self, run: u32) -> &HashSet<&'s str> {
        let store = self.store;
        self.instrumented.entry(run).or_insert_with(|| {
            store.runs[run as usize]
                .instrumented
                .iter()
                .map(String::as_str)
                .collect()
        })
    }

    fn file_status(&mut self, id: u32, now: &mut Snapshot) -> FileStatus {
        if let Some(status) = self.files[id as usize] {
            return status;
        }
        let recorded: &FileVersion = &self.store.files[id as usize];
        let status = match now.file(&recorded.path) {
            None => FileStatus::Changed,
            Some(state) if state.full == recorded.full => FileStatus::Same,
            Some(state) if state.units().is_some() && state.skeleton() == recorded.skeleton => {
                FileStatus::BodiesChanged
            }
            Some(_) => FileStatus::Changed,
        };
        self.files[id as usize] = Some(status);
        status
    }

    fn unit_same(&mut self, id: u32, now: &mut Snapshot) -> bool {
        if let Some(same) = self.units[id as usize] {
            return same;
        }
        let recorded = &self.store.units[id as usize];
        let same = now
            .file(&recorded.path)
            .and_then(|state| state.units())
            .and_then(|units| units.unit(&recorded.name))
            .is_some_and(|unit| unit.body == recorded.body);
        self.units[id as usize] = Some(same);
        same
    }
}
