//! `dx-py test --affected`: the run's side of the result cache (`dxpy_results`).
//!
//! Before the run, [`plan`] digests the run's context (interpreter, installed
//! distributions, config files, options, environment, `[tool.dx-py] inputs`), finds each
//! test's inputs through the import graph and splits the selection into tests to replay and
//! tests to run. After it, [`AffectedRun::record`] stores what the run reported for every
//! test that ran to completion without failing, unless a file changed while it ran.
//!
//! Items conftest `pytest_collect_file` hooks make are cached per hook-items unit: the
//! unit's list of items is recorded under the digest of what decides which items exist
//! (every file under its directories, the conftests in scope and the first-party files they
//! reach, the context); while that holds, each item is decided as a test, and the unit runs
//! only for the items that cannot be replayed ([`AffectedRun::apply_to_units`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use dxpy_discover::session::hook_scope::within;
use dxpy_discover::session::{self, Discovery};
use dxpy_graph::PythonVersion;
use dxpy_results::{
    distributions_fingerprint, Checker, ContextBuilder, Decision, Digest, Execution, Finished,
    HookDecision, LoadError, RunReason, RunRecorder, Snapshot, Store, StorePaths, TestInputs,
};
use dxpy_runner::pool::{resolve_python, PoolConfig};
use dxpy_runner::protocol::{
    decode_result, encode_result, Outcome, ResultFrame, WorkerMessage, DEFAULT_MAX_PAYLOAD,
};
use dxpy_runner::scheduler::{hook_units, HookTree, UnitKind, WorkUnit};

use crate::project::{git_changed, project_graph};
use crate::suite::Capture;

/// A `--affected` run between planning and recording.
#[derive(Debug)]
pub struct AffectedRun {
    paths: StorePaths,
    snapshot: Snapshot,
    context: Digest,
    inputs: HashMap<String, TestInputs>,
    /// Every first-party Python file the graph knows: what a coarse test depends on.
    all_files: Vec<String>,
    /// Messages of each replayed test, in selection order.
    pub replay: Vec<Vec<WorkerMessage>>,
    /// The tests that must run, in selection order.
    pub run_ids: Vec<String>,
    /// Every test of the run, replayed or run (narrowed by `--since`), in selection order.
    pub selected: Vec<String>,
    /// What was decided for each hook-items unit.
    hooks: Vec<HookPlan>,
    /// Every test to run passed in an earlier run and only its inputs changed since (see
    /// [`AffectedRun::modules_to_import`]).
    only_stale_records: bool,
}

/// One hook-items unit of the run and what the cache decided for it.
#[derive(Debug)]
struct HookPlan {
    /// The scheduler's key of the unit (`hook items: ...`).
    unit_key: String,
    /// The store's key: the directories the unit collects and those it leaves out.
    store_key: String,
    /// The inputs of its collection; `None` when it cannot be cached (no conftest in scope,
    /// or the run selects with `-k`/`-m`/`--deselect`/`--ignore`: the worker's pytest
    /// decides those for hook items).
    inputs: Option<TestInputs>,
    /// The recorded list of items, when its inputs are unchanged.
    known: Option<Vec<String>>,
    /// Items replayed: the unit leaves them out (`skip_items`).
    replayed: Vec<String>,
    /// The unit is sent to a worker (something of it must run).
    send: bool,
}

/// Split `node_ids` into tests to replay and tests to run (all of them without `replay`); with
/// `since`, first keep only the tests the import graph connects to the files git says changed
/// since that revision.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    discovery: &Discovery,
    node_ids: &[String],
    hook_trees: &[HookTree],
    pool: &PoolConfig,
    no_cache: bool,
    since: Option<&str>,
    use_records: bool,
    outputs: &[&Path],
) -> anyhow::Result<AffectedRun> {
    let rootdir = &discovery.config.rootdir;
    let cache_dir = session::cache_root()
        .map(|root| session::project_cache_dir(&root, rootdir))
        .context("--affected needs a cache directory (set XDG_CACHE_HOME or HOME)")?;
    let interpreter = probe_interpreter(pool, &cache_dir.join("results"))?;
    let mut steps = crate::trace::Steps::start();
    let graph = project_graph(discovery, interpreter.version, no_cache);
    let (build, test_files) = &*graph;
    steps.done("result cache: import graph built");
    let selected: Vec<String> = match since {
        Some(rev) => {
            let changed = git_changed(rootdir, rev)?;
            let reached = build.graph.tests_affected(
                changed.iter().map(PathBuf::as_path),
                test_files.iter().map(PathBuf::as_path),
            );
            node_ids
                .iter()
                .filter(|id| reached.contains(Path::new(module_of(id))))
                .cloned()
                .collect()
        }
        None => node_ids.to_vec(),
    };
    let node_ids = selected.as_slice();
    let mut snapshot = Snapshot::new(rootdir);
    for output in outputs {
        if let Ok(absolute) = std::path::absolute(output) {
            snapshot.exclude_output(&absolute);
        }
    }
    let context = context_digest(discovery, pool, &interpreter)?;
    let mut inputs: HashMap<String, TestInputs> = HashMap::new();
    let mut deps_of_module: HashMap<&str, Vec<String>> = HashMap::new();
    for key in node_ids {
        let test_file = module_of(key);
        let deps = deps_of_module
            .entry(test_file)
            .or_insert_with(|| {
                build
                    .graph
                    .dependencies_of(Path::new(test_file))
                    .into_iter()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect()
            })
            .clone();
        let dir = Path::new(test_file)
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = snapshot.data_digest(&dir);
        inputs.insert(
            key.clone(),
            TestInputs {
                test_file: test_file.to_owned(),
                deps,
                data,
            },
        );
    }
    steps.done("result cache: inputs listed");
    let paths = StorePaths::in_dir(&cache_dir.join("results"));
    let store = load_store(&paths);
    steps.done("result cache: store loaded");
    let mut checker = Checker::new(&store, context);
    let explain = explaining();
    let mut replay = Vec::new();
    let mut run_ids = Vec::new();
    let mut only_stale_records = true;
    for key in node_ids {
        let decision = if use_records {
            checker.decide(key, &inputs[key], &mut snapshot)
        } else {
            Decision::Run(RunReason::Asked)
        };
        match decision {
            Decision::Replay(record) => match decode_messages(&record.reports) {
                Some(messages) => replay.push(messages),
                None => run_ids.push(key.clone()),
            },
            Decision::Run(reason) => {
                if explain {
                    eprintln!("dx-py: runs {key}: {}", explain_reason(&reason));
                }
                only_stale_records &= is_stale_record(&reason);
                run_ids.push(key.clone());
            }
        }
    }
    steps.done("result cache: tests decided");
    let hooks = plan_hooks(
        &HookScope {
            discovery,
            graph: &build.graph,
            // A doctest runs the code of its module and of what that imports, which the
            // hook-items inputs (the collecting conftest, the files below) do not cover.
            cacheable: discovery.doctest_files.is_empty()
                && !pool
                    .pytest_args
                    .iter()
                    .any(|a| SELECTION_OPTIONS.contains(&a.as_str())),
            use_records,
        },
        hook_trees,
        &mut checker,
        &mut snapshot,
        &mut replay,
    );
    let all_files = build
        .graph
        .files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    Ok(AffectedRun {
        selected: node_ids.to_vec(),
        paths,
        snapshot,
        context,
        inputs,
        all_files,
        only_stale_records: only_stale_records && hooks.iter().all(|h| !h.send),
        replay,
        run_ids,
        hooks,
    })
}

/// The test has a record, so it passed in an earlier run, and only what it depends on changed
/// since; no record (new, or it did not pass), or a new context, is not that.
fn is_stale_record(reason: &RunReason) -> bool {
    match reason {
        RunReason::File(_)
        | RunReason::Unit { .. }
        | RunReason::Data
        | RunReason::NewDependency(_) => true,
        RunReason::NoRecord | RunReason::Asked | RunReason::Context => false,
    }
}

/// What deciding a hook-items unit needs besides the store.
struct HookScope<'a> {
    discovery: &'a Discovery,
    graph: &'a dxpy_graph::ImportGraph,
    /// The run may replay and record hook items (see [`HookPlan::inputs`]).
    cacheable: bool,
    use_records: bool,
}

/// Decide every hook-items unit of `trees`: its replayable items go to `replay`.
fn plan_hooks(
    scope: &HookScope<'_>,
    trees: &[HookTree],
    checker: &mut Checker<'_>,
    now: &mut Snapshot,
    replay: &mut Vec<Vec<WorkerMessage>>,
) -> Vec<HookPlan> {
    let explain = explaining();
    let mut plans = Vec::new();
    for unit in hook_units(trees) {
        let UnitKind::HookItems { skip_dirs, .. } = &unit.kind else {
            continue;
        };
        let store_key = format!("{}\0{}", unit.node_ids.join("\0"), skip_dirs.join("\0"));
        let inputs = scope
            .cacheable
            .then(|| hook_inputs(scope, &unit.node_ids, now))
            .flatten();
        let mut plan = HookPlan {
            unit_key: unit.key.clone(),
            store_key,
            inputs,
            known: None,
            replayed: Vec::new(),
            send: true,
        };
        let decision = match &plan.inputs {
            None => HookDecision::Run(RunReason::Asked),
            Some(_) if !scope.use_records => HookDecision::Run(RunReason::Asked),
            Some(inputs) => checker.decide_hooks(&plan.store_key, inputs, now),
        };
        match decision {
            HookDecision::Run(reason) => {
                if explain {
                    let why = match (&plan.inputs, reason) {
                        (None, _) => "-k/-m/--deselect/--ignore, doctests, or no conftest \
                                      in scope: hook items are not cached"
                            .to_owned(),
                        (_, RunReason::Data) => {
                            "a file under its directories or a conftest in scope changed".to_owned()
                        }
                        (_, reason) => explain_reason(&reason),
                    };
                    eprintln!("dx-py: runs {}: {why}", unit.key);
                }
            }
            HookDecision::Known(hook) => {
                let inputs = plan.inputs.as_ref().map(|i| (i.deps.clone(), i.data));
                let (deps, data) = inputs.unwrap_or_default();
                let mut to_run = 0usize;
                for item in &hook.items {
                    let item_inputs = TestInputs {
                        test_file: module_of(item).to_owned(),
                        deps: deps.clone(),
                        data,
                    };
                    let messages = match checker.decide(item, &item_inputs, now) {
                        Decision::Replay(record) => decode_messages(&record.reports),
                        Decision::Run(reason) => {
                            if explain {
                                eprintln!("dx-py: runs {item}: {}", explain_reason(&reason));
                            }
                            None
                        }
                    };
                    match messages {
                        Some(messages) => {
                            replay.push(messages);
                            plan.replayed.push(item.clone());
                        }
                        None => to_run += 1,
                    }
                }
                plan.send = to_run > 0;
                plan.known = Some(hook.items.clone());
            }
        }
        plans.push(plan);
    }
    plans
}

/// The inputs of a hook-items unit's collection over `dirs`; `None` when no conftest is in
/// scope (a plugin's hook: nothing here says what it reads).
fn hook_inputs(scope: &HookScope<'_>, dirs: &[String], now: &mut Snapshot) -> Option<TestInputs> {
    let rootdir = &scope.discovery.config.rootdir;
    let conftests: Vec<String> = scope
        .discovery
        .conftests
        .iter()
        .filter_map(|c| {
            let rel = c.strip_prefix(rootdir).unwrap_or(c);
            let rel = rel
                .to_string_lossy()
                .replace(std::path::MAIN_SEPARATOR, "/");
            let dir = rel.rsplit_once('/').map_or("", |(dir, _)| dir);
            dirs.iter()
                .any(|d| within(d, dir) || within(dir, d))
                .then_some(rel)
        })
        .collect();
    // The nearest conftest above the directories: byte for byte, as a test's module.
    let hook_file = conftests
        .iter()
        .rfind(|c| {
            let dir = c.rsplit_once('/').map_or("", |(dir, _)| dir);
            dirs.iter().all(|d| within(d, dir))
        })?
        .clone();
    let mut deps: BTreeSet<String> = BTreeSet::new();
    for conftest in &conftests {
        deps.insert(conftest.clone());
        deps.extend(
            scope
                .graph
                .dependencies_of(Path::new(conftest))
                .into_iter()
                .map(|p| p.to_string_lossy().into_owned()),
        );
    }
    let mut data = ContextBuilder::new();
    for dir in dirs {
        data.bytes(dir, &now.tree_digest(dir));
    }
    for conftest in &conftests {
        match now.file(conftest) {
            Some(state) => data.bytes(conftest, &state.full),
            None => data.text(conftest, "<absent>"),
        };
    }
    Some(TestInputs {
        test_file: hook_file,
        deps: deps.into_iter().collect(),
        data: data.finish(),
    })
}

impl AffectedRun {
    /// Leave out of `units` the hook-items units whose every item is replayed, and the
    /// replayed items of the others.
    pub fn apply_to_units(&self, units: &mut Vec<WorkUnit>) {
        let by_key: HashMap<&str, &HookPlan> = self
            .hooks
            .iter()
            .map(|h| (h.unit_key.as_str(), h))
            .collect();
        units.retain_mut(|unit| {
            let Some(plan) = by_key.get(unit.key.as_str()) else {
                return true;
            };
            if let UnitKind::HookItems { skip_items, .. } = &mut unit.kind {
                skip_items.extend(plan.replayed.iter().cloned());
                return plan.send;
            }
            true
        });
    }

    /// The test modules each worker imports before its first batch when fewer than every
    /// selected one will do: those of the tests to run, in selection order, when every one of
    /// those tests passed in an earlier run (with every test module imported) and only its
    /// inputs changed since, and no hook-items unit runs. `None`: import every selected module,
    /// as pytest's collection does.
    ///
    /// A module whose tests all replay is unchanged where its import runs code (its inputs
    /// would have changed otherwise), so leaving it out changes nothing it would report. What
    /// it could change is another test's world (a module-level `import pkg.sub` a running test
    /// needs): a run with fewer modules is therefore reported only when every test in it
    /// passed, else the run is made again with every module imported (`commands::test`).
    pub fn modules_to_import(&self) -> Option<Vec<String>> {
        if !self.only_stale_records || self.run_ids.is_empty() {
            return None;
        }
        let needed = crate::suite::test_modules(&self.run_ids);
        (needed.len() < crate::suite::test_modules(&self.selected).len()).then_some(needed)
    }

    /// The header line that says what the cache decided.
    pub fn header_note(&self) -> String {
        format!(
            "result cache: {} to run, {} replayed",
            self.run_ids.len(),
            self.replay.len()
        )
    }

    /// Record every test of `run_ids` that ran to the end and did not fail. Returns how many
    /// were recorded. A run that stopped early or saw files change records nothing, and
    /// forgets the records of every test it selected to run.
    pub fn record(mut self, capture: &Capture, stopped: bool) -> anyhow::Result<usize> {
        let changed = self.snapshot.changed_since_read();
        if !changed.is_empty() {
            eprintln!(
                "dx-py: {} changed while the tests ran; their results are not cached",
                changed.join(", ")
            );
        }
        if stopped || !changed.is_empty() {
            let hooks: Vec<String> = self
                .hooks
                .iter()
                .filter(|h| h.send)
                .map(|h| h.store_key.clone())
                .collect();
            Store::default()
                .merge_save_forgetting(&self.paths, &self.run_ids, &hooks)
                .context("saving the result cache")?;
            return Ok(0);
        }
        let by_key = messages_by_key(&self.inputs, capture);
        let mut recorder = RunRecorder::new(
            self.context,
            capture.instrumented.clone(),
            &capture.ambient,
            std::mem::take(&mut self.all_files),
            &mut self.snapshot,
        );
        // A test that ran and did not pass (or did not finish) loses its old record: it
        // runs next time even if its inputs go back to what they were when it passed.
        let mut forget = Vec::new();
        let explain = explaining();
        for key in &self.run_ids {
            let Some(messages) = by_key.get(key.as_str()) else {
                if explain {
                    eprintln!("dx-py: not recorded {key}: no report names it");
                }
                forget.push(key.clone());
                continue;
            };
            let Some(reports) = recordable(messages, capture) else {
                if explain {
                    eprintln!("dx-py: not recorded {key}: it did not pass or did not finish");
                }
                forget.push(key.clone());
                continue;
            };
            let pins = pins_lines(messages);
            let execution = execution_of_key(key, messages, capture);
            let added = recorder.add(
                Finished {
                    key,
                    inputs: &self.inputs[key],
                    execution: execution.as_ref(),
                    reports_pin_lines: pins,
                    reports,
                },
                &mut self.snapshot,
            );
            if let Err(unreadable) = added {
                if explain {
                    eprintln!("dx-py: not recorded {key}: cannot read {unreadable}");
                }
                forget.push(key.clone());
            }
        }
        let forget_hooks = self.record_hooks(&mut recorder, capture, &mut forget);
        let recorded = recorder.len();
        recorder
            .into_store()
            .merge_save_forgetting(&self.paths, &forget, &forget_hooks)
            .context("saving the result cache")?;
        Ok(recorded)
    }

    /// Record the items of every hook-items unit that ran, each as a test, and the list of
    /// a unit that ran whole; returns the units whose old list must go.
    fn record_hooks(
        &mut self,
        recorder: &mut RunRecorder,
        capture: &Capture,
        forget: &mut Vec<String>,
    ) -> Vec<String> {
        let explain = explaining();
        let mut forget_hooks = Vec::new();
        for hook in self.hooks.iter().filter(|h| h.send) {
            let unit = capture.units.get(&hook.unit_key);
            let ran: &[String] = unit.map_or(&[], |u| u.items.as_slice());
            let (deps, data) = hook
                .inputs
                .as_ref()
                .map(|i| (i.deps.clone(), i.data))
                .unwrap_or_default();
            for item in ran {
                let inputs = TestInputs {
                    test_file: module_of(item).to_owned(),
                    deps: deps.clone(),
                    data,
                };
                let added = match (&hook.inputs, capture.messages.get(item)) {
                    (Some(_), Some(messages)) => {
                        let messages: Vec<&WorkerMessage> = messages.iter().collect();
                        record_one(
                            recorder,
                            item,
                            &inputs,
                            &messages,
                            capture,
                            &mut self.snapshot,
                        )
                    }
                    _ => Err("hook items are not cached in this run".to_owned()),
                };
                if let Err(why) = added {
                    if explain {
                        eprintln!("dx-py: not recorded {item}: {why}");
                    }
                    forget.push(item.clone());
                }
            }
            let whole = unit.is_some_and(|u| u.whole());
            let list = match (&hook.inputs, whole) {
                (Some(inputs), true) => Some((inputs, items_now(hook, ran))),
                _ => None,
            };
            let added = match list {
                Some((inputs, items)) => recorder
                    .add_hooks(&hook.store_key, inputs, items, &mut self.snapshot)
                    .map_err(|path| format!("cannot read {path}")),
                None => Err(
                    "it did not run to the end, or reported a collection error or \
                             deselected items"
                        .to_owned(),
                ),
            };
            if let Err(why) = added {
                if explain && hook.inputs.is_some() {
                    eprintln!("dx-py: not recorded {}: {why}", hook.unit_key);
                }
                forget_hooks.push(hook.store_key.clone());
            }
        }
        forget_hooks
    }
}

/// The items a hook-items unit makes now: the recorded ones this run replayed or ran, in
/// their order, then those it ran for the first time.
fn items_now(hook: &HookPlan, ran: &[String]) -> Vec<String> {
    let Some(known) = &hook.known else {
        return ran.to_vec();
    };
    let replayed: BTreeSet<&str> = hook.replayed.iter().map(String::as_str).collect();
    let ran_set: BTreeSet<&str> = ran.iter().map(String::as_str).collect();
    let known_set: BTreeSet<&str> = known.iter().map(String::as_str).collect();
    known
        .iter()
        .filter(|i| replayed.contains(i.as_str()) || ran_set.contains(i.as_str()))
        .chain(ran.iter().filter(|i| !known_set.contains(i.as_str())))
        .cloned()
        .collect()
}

/// Record one hook-made item that ran, as a test; why not when it cannot be.
fn record_one(
    recorder: &mut RunRecorder,
    item: &str,
    inputs: &TestInputs,
    messages: &[&WorkerMessage],
    capture: &Capture,
    now: &mut Snapshot,
) -> Result<(), String> {
    let reports = recordable(messages, capture)
        .ok_or_else(|| "it did not pass or did not finish".to_owned())?;
    let execution = execution_of_key(item, messages, capture);
    recorder
        .add(
            Finished {
                key: item,
                inputs,
                execution: execution.as_ref(),
                reports_pin_lines: pins_lines(messages),
                reports,
            },
            now,
        )
        .map_err(|path| format!("cannot read {path}"))
}

/// Reports other than passes (and warnings) hold line numbers of other files.
fn pins_lines(messages: &[&WorkerMessage]) -> bool {
    messages.iter().any(|m| match m {
        WorkerMessage::ItemResult(r) => r.outcome != Outcome::Passed,
        _ => true,
    })
}

/// The captured messages grouped by the key the test was scheduled under: its own node ID,
/// or the function's when pytest expanded its parameters at run time.
fn messages_by_key<'c>(
    inputs: &HashMap<String, TestInputs>,
    capture: &'c Capture,
) -> BTreeMap<String, Vec<&'c WorkerMessage>> {
    let mut by_key: BTreeMap<String, Vec<&WorkerMessage>> = BTreeMap::new();
    for (node_id, messages) in &capture.messages {
        let Some(key) = key_of(inputs, node_id) else {
            continue;
        };
        by_key.entry(key.to_owned()).or_default().extend(messages);
    }
    by_key
}

fn key_of<'k>(inputs: &'k HashMap<String, TestInputs>, node_id: &str) -> Option<&'k str> {
    if let Some((key, _)) = inputs.get_key_value(node_id) {
        return Some(key);
    }
    inputs
        .get_key_value(function_id(node_id))
        .map(|(key, _)| key.as_str())
}

/// The function a parametrized node ID expands: everything before the first `[` after the
/// path (names are identifiers; a parameter ID may hold brackets and `::` itself:
/// `test_x[a[1]::b]` is `test_x`'s; a directory may hold brackets).
fn function_id(node_id: &str) -> &str {
    let names = node_id.find("::").unwrap_or(0);
    match node_id[names..].find('[') {
        Some(at) => &node_id[..names + at],
        None => node_id,
    }
}

/// What the items of one key executed together; `None` when any item has no recording.
fn execution_of_key(
    key: &str,
    messages: &[&WorkerMessage],
    capture: &Capture,
) -> Option<Execution> {
    let mut items: BTreeSet<&str> = messages
        .iter()
        .filter_map(|m| match m {
            WorkerMessage::ItemResult(r) => Some(r.node_id.as_str()),
            _ => None,
        })
        .collect();
    items.insert(key);
    let mut merged = Execution::default();
    let mut any = false;
    for item in items {
        match capture.executed.get(item) {
            Some(execution) => {
                merged.merge(execution.clone());
                any = true;
            }
            // The key itself need not be an item (a function whose parameters expand).
            None if item == key => {}
            None => return None,
        }
    }
    any.then_some(merged)
}

/// The encoded reports of a test that finished every item and passed (or skipped, or
/// xfailed); `None` for anything to run again next time.
fn recordable(messages: &[&WorkerMessage], capture: &Capture) -> Option<Vec<Vec<u8>>> {
    let mut reports = Vec::with_capacity(messages.len());
    let mut items = BTreeSet::new();
    for message in messages {
        if let WorkerMessage::ItemResult(result) = message {
            if matches!(result.outcome, Outcome::Failed | Outcome::Error) {
                return None;
            }
            items.insert(result.node_id.as_str());
        }
        let frame = ResultFrame {
            request_id: 0,
            message: (*message).clone(),
        };
        reports.push(encode_result(&frame).ok()?);
    }
    let complete = !items.is_empty()
        && items
            .iter()
            .all(|id| capture.finished.contains(*id) && !capture.incidents.contains(*id));
    complete.then_some(reports)
}

/// `DXPY_EXPLAIN=1`: why each test runs and why a test that ran is not recorded, on stderr
/// (a record's inputs are invisible otherwise).
pub fn explaining() -> bool {
    std::env::var_os("DXPY_EXPLAIN").is_some_and(|v| v == "1")
}

#[cfg(test)]
mod tests {
    use super::{function_id, outcome_options};

    #[test]
    fn pass_through_options_are_outcome_options_and_selection_is_not() {
        let tokens: Vec<String> = [
            "-k",
            "x",
            "-W",
            "error",
            "--runxfail",
            "-o",
            "xfail_strict=true",
            "-p",
            "no:cacheprovider",
            "--import-mode",
            "importlib",
            "--greeting=hi",
        ]
        .map(String::from)
        .into();
        let args = crate::args::parse_test_args(&tokens, &Default::default()).expect("parses");
        let mut worker_args = vec!["-k".to_owned(), "x".to_owned(), "--maxfail=1".to_owned()];
        worker_args.extend(args.pytest.passthrough.iter().cloned());
        assert_eq!(outcome_options(&worker_args), args.pytest.passthrough);
        assert_eq!(args.pytest.passthrough.len(), 6);
    }

    #[test]
    fn a_parametrized_id_belongs_to_its_function_even_with_brackets_in_its_parameters() {
        assert_eq!(function_id("t.py::test_x[a[1]-[b]]"), "t.py::test_x");
        assert_eq!(
            function_id("t.py::test_x[\\x1b[1;38:2::255m]"),
            "t.py::test_x"
        );
        assert_eq!(function_id("t.py::TestC::test_y[p]"), "t.py::TestC::test_y");
        assert_eq!(function_id("t.py::test_plain"), "t.py::test_plain");
        assert_eq!(function_id("dir[1]/t.py::test_z[2]"), "dir[1]/t.py::test_z");
    }
}

fn explain_reason(reason: &RunReason) -> String {
    match reason {
        RunReason::NoRecord => "no record (new, or it did not pass last time)".into(),
        RunReason::Asked => "every test was asked for".into(),
        RunReason::Context => {
            "the context changed (config, options, interpreter, packages, environment)".into()
        }
        RunReason::Data => "a data file in its directory changed".into(),
        RunReason::File(path) => format!("{path} changed"),
        RunReason::Unit { path, name } => format!("{path}: {name} changed, and it ran"),
        RunReason::NewDependency(path) => format!("it now imports {path}"),
    }
}

fn decode_messages(reports: &[Vec<u8>]) -> Option<Vec<WorkerMessage>> {
    reports
        .iter()
        .map(|bytes| {
            decode_result(bytes, DEFAULT_MAX_PAYLOAD)
                .ok()
                .map(|(frame, _)| frame.message)
        })
        .collect()
}

fn load_store(paths: &StorePaths) -> Store {
    match Store::load(paths) {
        Ok(store) => store,
        Err(err @ LoadError::Corrupt { .. }) => {
            eprintln!("dx-py: result cache rebuilt: {err}");
            Store::default()
        }
        Err(err) => {
            eprintln!("dx-py: result cache not read: {err}");
            Store::default()
        }
    }
}

fn module_of(node_id: &str) -> &str {
    node_id.split("::").next().unwrap_or(node_id)
}

/// What the run's interpreter says of itself.
#[derive(Debug)]
struct Interpreter {
    executable: PathBuf,
    version_text: String,
    version: PythonVersion,
    /// `sys.path` directories outside the project: where distributions are installed.
    site_dirs: Vec<PathBuf>,
}

const PROBE: &str = "import json, sys; print(json.dumps([sys.executable, sys.version, \
                     list(sys.version_info[:2]), sys.path]))";

/// The interpreter's answer to [`PROBE`], from `cache_dir` when still valid: same
/// interpreter file, same `PYTHON*` environment, and no directory of its `sys.path` changed
/// since (installing or removing a package changes its site directory's mtime).
fn probe_interpreter(pool: &PoolConfig, cache_dir: &Path) -> anyhow::Result<Interpreter> {
    let python = resolve_python(pool.python.as_deref(), std::env::var_os("VIRTUAL_ENV"));
    let key = probe_key(&python);
    let cached = cache_dir.join(format!("python-{}.json", &key[..16]));
    let answer = match read_cached_probe(&cached, &key) {
        Some(answer) => answer,
        None => {
            let answer = run_probe(&python)?;
            let entry = CachedProbe {
                key,
                dirs: dir_stamps(&answer.3),
                answer: answer.clone(),
            };
            if let Ok(bytes) = serde_json::to_vec(&entry) {
                // A cache: failing to write it only costs the next run a probe.
                let _ = dxpy_fs::ensure_private_dir(cache_dir)
                    .and_then(|()| dxpy_fs::write_private_atomic(&cached, &bytes));
            }
            answer
        }
    };
    let (executable, version_text, (major, minor), path) = answer;
    let version = PythonVersion::from_minor(major, minor)
        .with_context(|| format!("Python {major}.{minor} is not supported"))?;
    let site_dirs = path
        .into_iter()
        .filter(|p| p.is_absolute() && p.is_dir())
        .collect();
    Ok(Interpreter {
        executable,
        version_text,
        version,
        site_dirs,
    })
}

/// sys.executable, sys.version, (major, minor), sys.path.
type ProbeAnswer = (PathBuf, String, (u32, u32), Vec<PathBuf>);

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedProbe {
    key: String,
    /// (directory, mtime) of every `sys.path` entry.
    dirs: Vec<(PathBuf, String)>,
    answer: ProbeAnswer,
}

fn probe_key(python: &Path) -> String {
    let mut key = ContextBuilder::new();
    key.text("python", &python.to_string_lossy());
    let canonical = std::fs::canonicalize(python).unwrap_or_else(|_| python.to_path_buf());
    key.text("canonical", &canonical.to_string_lossy());
    key.text("stamp", &stamp_text(&canonical));
    if let Some(venv) = python.parent().and_then(Path::parent) {
        key.file("pyvenv.cfg", &venv.join("pyvenv.cfg"));
    }
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PYTHON") || k == "VIRTUAL_ENV")
        .collect();
    env.sort();
    for (name, value) in env {
        key.text(&name, &value);
    }
    blake3::Hash::from(key.finish()).to_hex().to_string()
}

fn dir_stamps(path: &[PathBuf]) -> Vec<(PathBuf, String)> {
    path.iter()
        .filter(|p| p.is_absolute())
        .map(|p| (p.clone(), stamp_text(p)))
        .collect()
}

fn read_cached_probe(file: &Path, key: &str) -> Option<ProbeAnswer> {
    let entry: CachedProbe = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    let dirs_unchanged = entry
        .dirs
        .iter()
        .all(|(dir, stamp)| stamp_text(dir) == *stamp);
    (entry.key == key && dirs_unchanged && dir_stamps(&entry.answer.3) == entry.dirs)
        .then_some(entry.answer)
}

fn run_probe(python: &Path) -> anyhow::Result<ProbeAnswer> {
    let output = Command::new(python)
        .args(["-c", PROBE])
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed: {}",
        python.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    serde_json::from_slice(&output.stdout).context("reading the interpreter's answer")
}

/// Config files pytest may read at the rootdir.
const CONFIG_FILES: [&str; 5] = [
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
];

/// Options that only select or stop, never change a test's outcome.
const SELECTION_OPTIONS: [&str; 5] = ["-k", "-m", "--deselect", "--ignore", "--ignore-glob"];

fn context_digest(
    discovery: &Discovery,
    pool: &PoolConfig,
    interpreter: &Interpreter,
) -> anyhow::Result<Digest> {
    let rootdir = &discovery.config.rootdir;
    let mut context = ContextBuilder::new();
    let executable = std::fs::canonicalize(&interpreter.executable)
        .unwrap_or_else(|_| interpreter.executable.clone());
    context.text("python", &executable.to_string_lossy());
    context.text("python stamp", &stamp_text(&executable));
    context.text("python version", &interpreter.version_text);
    let site_dirs: Vec<&Path> = interpreter
        .site_dirs
        .iter()
        .map(PathBuf::as_path)
        .filter(|p| !p.starts_with(rootdir))
        .collect();
    context.text("distributions", &distributions_fingerprint(&site_dirs));
    for name in CONFIG_FILES {
        context.file(name, &rootdir.join(name));
    }
    if let Some(ini) = &discovery.config.inifile {
        context.file("inifile", ini);
    }
    context.text("options", &outcome_options(&pool.pytest_args).join("\0"));
    context.text("engine", &format!("{:?}", pool.engine));
    context.text("timeout", &format!("{:?}", pool.test_timeout));
    context.text("preload", &pool.preload.join("\0"));
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PYTHON") || k.starts_with("PYTEST"))
        .collect();
    env.sort();
    for (key, value) in env {
        context.text(&format!("env {key}"), &value);
    }
    context.bytes("inputs", &configured_inputs_digest(rootdir)?);
    Ok(context.finish())
}

fn stamp_text(path: &Path) -> String {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some(format!("{} {}", dxpy_fs::mtime_ns(&m).ok()?, m.len())))
        .unwrap_or_default()
}

/// The worker options without those that only select tests or stop the run.
fn outcome_options(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if SELECTION_OPTIONS.contains(&arg.as_str()) {
            iter.next();
        } else if !arg.starts_with("--maxfail") {
            out.push(arg.clone());
        }
    }
    out
}

/// `[tool.dx-py] inputs = ["data/**", ...]`: globs (rootdir-relative) of files every test
/// depends on. Their names and contents go into the context.
fn configured_inputs_digest(rootdir: &Path) -> anyhow::Result<Digest> {
    let globs = crate::config::string_list(&rootdir.join("pyproject.toml"), "inputs")?;
    let mut hasher = blake3::Hasher::new();
    if globs.is_empty() {
        return Ok(*hasher.finalize().as_bytes());
    }
    let mut builder = globset::GlobSetBuilder::new();
    for glob in &globs {
        builder.add(
            globset::Glob::new(glob)
                .with_context(|| format!("[tool.dx-py] inputs: bad glob {glob:?}"))?,
        );
    }
    let set = builder.build()?;
    let mut matched = Vec::new();
    walk_files(rootdir, Path::new(""), &mut |rel| {
        if set.is_match(rel) {
            matched.push(rel.to_path_buf());
        }
    });
    matched.sort();
    for rel in matched {
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update(&[0]);
        let bytes = std::fs::read(rootdir.join(&rel)).unwrap_or_default();
        hasher.update(blake3::hash(&bytes).as_bytes());
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Every file below `root`, leaving out hidden entries, `__pycache__` and virtualenvs.
fn walk_files(root: &Path, rel: &Path, found: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" {
            continue;
        }
        let child = rel.join(&*name);
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => {
                if !entry.path().join("pyvenv.cfg").exists() {
                    walk_files(root, &child, found);
                }
            }
            Ok(_) => found(&child),
            Err(_) => {}
        }
    }
}
