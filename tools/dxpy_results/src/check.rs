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

/// Decides, memoizing per file and unit version, which records still hold.
#[derive(Debug)]
pub struct Checker<'s> {
    store: &'s Store,
    context: Digest,
    files: HashMap<u32, FileStatus>,
    units: HashMap<u32, bool>,
    instrumented: HashMap<u32, HashSet<&'s str>>,
}

impl<'s> Checker<'s> {
    pub fn new(store: &'s Store, context: Digest) -> Checker<'s> {
        Checker {
            store,
            context,
            files: HashMap::new(),
            units: HashMap::new(),
            instrumented: HashMap::new(),
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
        let mut unchanged: HashSet<&str> = HashSet::new();
        for &id in set.iter().chain(&record.extra) {
            let file = &store.files[id as usize];
            let granular = record.granular
                && file.path != inputs.test_file
                && self.instrumented(record.run).contains(file.path.as_str());
            match self.file_status(id, now) {
                FileStatus::Same => {
                    unchanged.insert(file.path.as_str());
                }
                FileStatus::BodiesChanged if granular => {}
                _ => return Some(RunReason::File(file.path.clone())),
            }
        }
        for &id in record.units.iter().chain(&run.ambient) {
            if unchanged.contains(store.units[id as usize].path.as_str()) {
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
        if let Some(status) = self.files.get(&id) {
            return *status;
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
        self.files.insert(id, status);
        status
    }

    fn unit_same(&mut self, id: u32, now: &mut Snapshot) -> bool {
        if let Some(same) = self.units.get(&id) {
            return *same;
        }
        let recorded = &self.store.units[id as usize];
        let same = now
            .file(&recorded.path)
            .and_then(|state| state.units())
            .and_then(|units| units.unit(&recorded.name))
            .is_some_and(|unit| unit.body == recorded.body);
        self.units.insert(id, same);
        same
    }
}
