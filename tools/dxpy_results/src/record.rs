//! Turning one run into records: what each test executed, mapped from the worker's `def`
//! lines to units of the files as the run read them.

use std::collections::BTreeSet;

use crate::check::TestInputs;
use crate::snapshot::Snapshot;
use crate::store::{HookRecord, Interner, RunRecord, Store, TestRecord, UnitVersion};
use crate::units::Digest;

/// What a worker saw one test execute (or the run execute outside tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Execution {
    /// Code ran where recording cannot see it (a subprocess, a fork, a foreign tracer).
    pub coarse: bool,
    /// rootdir-relative file → 1-based `def` lines of the outermost functions executed.
    pub hits: Vec<(String, Vec<u32>)>,
    /// First-party files first loaded while the test ran.
    pub imported: Vec<String>,
}

impl Execution {
    /// Fold in another report about the same test (a dynamic test's expansions, subtests).
    pub fn merge(&mut self, other: Execution) {
        self.coarse |= other.coarse;
        self.hits.extend(other.hits);
        self.imported.extend(other.imported);
    }
}

/// One finished test, ready to be recorded.
#[derive(Debug)]
pub struct Finished<'a> {
    pub key: &'a str,
    pub inputs: &'a TestInputs,
    /// `None` when the run did not record execution (recording off, or the engine cannot).
    pub execution: Option<&'a Execution>,
    /// Whether its reports hold line numbers of other files (warnings, a skip outside the
    /// test module, an xfail's traceback): then only byte-identical files replay it.
    pub reports_pin_lines: bool,
    pub reports: Vec<Vec<u8>>,
}

/// Collects one run's records into a [`Store`] to merge into the cache.
#[derive(Debug)]
pub struct RunRecorder {
    store: Store,
    interner: Interner,
    context: Digest,
    /// Every first-party file: what a coarse test depends on.
    all_files: Vec<String>,
    ambient_coarse: bool,
}

impl RunRecorder {
    /// `instrumented`: files the workers loaded with recording; `ambient`: what ran outside
    /// tests; `all_files`: every first-party Python file (a coarse test depends on them all).
    pub fn new(
        context: Digest,
        instrumented: BTreeSet<String>,
        ambient: &Execution,
        all_files: Vec<String>,
        now: &mut Snapshot,
    ) -> RunRecorder {
        let mut store = Store::default();
        let mut interner = Interner::new(&store);
        let ambient_units = match units_of(&ambient.hits, now) {
            Some(units) => units
                .into_iter()
                .map(|u| interner.unit(&mut store, u))
                .collect(),
            None => Vec::new(),
        };
        // An ambient hit that maps to no unit means the run read another version of the
        // file: nothing of it is granular then.
        let ambient_coarse = ambient.coarse || units_of(&ambient.hits, now).is_none();
        store.runs.push(RunRecord {
            instrumented: instrumented.into_iter().collect(),
            ambient: ambient_units,
        });
        RunRecorder {
            store,
            interner,
            context,
            all_files,
            ambient_coarse,
        }
    }

    /// Record one test. Fails with the path of a file it depends on that cannot be read
    /// (e.g. a module imported from inside a zip archive): it is then not recorded, and runs
    /// next time.
    pub fn add(&mut self, test: Finished<'_>, now: &mut Snapshot) -> Result<(), String> {
        let record = self.record_of(
            test.inputs,
            test.execution,
            test.reports_pin_lines,
            test.reports,
            now,
        )?;
        self.store.records.insert(test.key.to_owned(), record);
        Ok(())
    }

    /// Record what hook-items unit `key` collected (`items`, in order) from `inputs` (see
    /// [`crate::store::HookRecord::inputs`]). The collection ran outside any test: what it
    /// executed is the run's ambient. Fails as [`RunRecorder::add`] does.
    pub fn add_hooks(
        &mut self,
        key: &str,
        inputs: &TestInputs,
        items: Vec<String>,
        now: &mut Snapshot,
    ) -> Result<(), String> {
        let nothing = Execution::default();
        let record = self.record_of(inputs, Some(&nothing), false, Vec::new(), now)?;
        self.store.hooks.insert(
            key.to_owned(),
            HookRecord {
                inputs: record,
                items,
            },
        );
        Ok(())
    }

    fn record_of(
        &mut self,
        inputs: &TestInputs,
        execution: Option<&Execution>,
        reports_pin_lines: bool,
        reports: Vec<Vec<u8>>,
        now: &mut Snapshot,
    ) -> Result<TestRecord, String> {
        // Without a recording (off, or an engine that cannot) the test depends on what the
        // import graph says; with one that saw code run out of sight, on every file.
        let coarse = execution.is_some_and(|e| e.coarse || self.ambient_coarse);
        let units = match execution {
            Some(e) if !coarse => units_of(&e.hits, now),
            _ => None,
        };
        let granular = units.is_some() && !reports_pin_lines;
        let mut dep_paths: BTreeSet<&str> = inputs.deps.iter().map(String::as_str).collect();
        dep_paths.insert(&inputs.test_file);
        if coarse {
            dep_paths.extend(self.all_files.iter().map(String::as_str));
        }
        let mut extra_paths: BTreeSet<String> = BTreeSet::new();
        if let Some(e) = execution {
            extra_paths.extend(e.hits.iter().map(|(path, _)| path.clone()));
            extra_paths.extend(e.imported.iter().cloned());
        }
        extra_paths.retain(|p| !dep_paths.contains(p.as_str()));
        let mut deps = Vec::with_capacity(dep_paths.len());
        for path in dep_paths {
            let Some(version) = now.version(path) else {
                return Err(path.to_owned());
            };
            deps.push(self.interner.file(&mut self.store, version));
        }
        let mut extra = Vec::with_capacity(extra_paths.len());
        for path in &extra_paths {
            let Some(version) = now.version(path) else {
                return Err(path.clone());
            };
            extra.push(self.interner.file(&mut self.store, version));
        }
        let deps = self.interner.dep_set(&mut self.store, deps);
        let units = units
            .unwrap_or_default()
            .into_iter()
            .map(|u| self.interner.unit(&mut self.store, u))
            .collect();
        Ok(TestRecord {
            context: self.context,
            data: inputs.data,
            deps,
            extra,
            units,
            run: 0,
            granular,
            reports,
        })
    }

    /// Tests recorded (hook-items lists are not counted).
    pub fn len(&self) -> usize {
        self.store.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.records.is_empty()
    }

    pub fn into_store(self) -> Store {
        self.store
    }
}

/// The units behind `def` lines, from the files as this run read them; `None` when a line
/// is no unit's (the worker read another version of the file).
fn units_of(hits: &[(String, Vec<u32>)], now: &mut Snapshot) -> Option<Vec<UnitVersion>> {
    let mut out = Vec::new();
    for (path, lines) in hits {
        let units = now.file(path)?.units()?;
        for &line in lines {
            let unit = units.unit_at_def_line(line)?;
            out.push(UnitVersion {
                path: path.clone(),
                name: unit.name.clone(),
                body: unit.body,
            });
        }
    }
    Some(out)
}
