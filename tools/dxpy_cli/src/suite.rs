//! Run a discovered selection and report it: the one path `dx-py test`, `dx-py bazel-worker`
//! and `dx-py bazel-test` share. [`run_suite`] writes the session header, runs the planned
//! units over the pool, feeds every event to the [`Terminal`] (any writer: stdout, or the
//! action's log buffer) and to a [`JunitBuilder`], applies an optional whole-run deadline and
//! returns pytest's exit code with what the callers persist (JUnit, last-failed, durations).
//!
//! Helpers the callers share: [`group_by_module`] (the scheduler's input), [`engine_for`]
//! (which engine a suite needs) and [`header_lines`].

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dxpy_discover::session::Discovery;
use dxpy_discover::ParamState;
use dxpy_results::Execution;
use dxpy_runner::pool::PoolConfig;
use dxpy_runner::protocol::StopKind;
use dxpy_runner::protocol::{Engine, ExecutedFile, Outcome, WorkerMessage};
use dxpy_runner::run::{NotRunReason, Run, RunConfig, RunEvent, RunSummary, StopReason, WorkerId};
use dxpy_runner::scheduler::{ModuleTests, UnitKind, WorkUnit};

use crate::exit::Code;
use crate::junit::JunitBuilder;
use crate::render;
use crate::terminal::{ReportOptions, Stat, Terminal};

/// How often the watchdog checks the caller's stop flag and the deadline.
const WATCHDOG_POLL: Duration = Duration::from_millis(50);

/// How to run and report one selection.
#[derive(Debug)]
pub struct SuiteOptions {
    pub pool: PoolConfig,
    pub maxfail: Option<u32>,
    /// Set from outside (Ctrl-C, a Bazel cancel) to stop the run and kill its interpreters.
    pub interrupt: Arc<AtomicBool>,
    /// Bound of the whole run: past it the interpreters are killed and the run is reported
    /// as timed out.
    pub deadline: Option<Duration>,
    /// `--durations`.
    pub durations: Option<usize>,
    /// Extra header lines after the configfile line (e.g. the `--lf` note).
    pub header_notes: Vec<String>,
    /// Shown as the rootdir instead of its path (a temporary directory that is gone by the
    /// time anyone reads the log).
    pub rootdir_label: Option<String>,
    pub verbosity: i8,
    pub color: bool,
    /// `-r`, `--tb`, `--disable-warnings`, ...: what the sections after the progress show.
    pub report: ReportOptions,
    /// Recorded messages of tests not run this time (`--affected`), one list per test, in
    /// the order they are reported: before anything runs, marked as cached.
    pub replay: Vec<Vec<WorkerMessage>>,
    /// Keep every report and warning by node ID, for the result cache.
    pub capture: bool,
    /// `--cov`: the workers' coverage data, combined and reported after the run.
    pub coverage: Option<crate::cov::Coverage>,
    /// The test modules each worker imports before its first batch; `None`: every module
    /// of the selected tests, as pytest's collection imports them (see `results`).
    pub import_modules: Option<Vec<String>>,
    /// pytest's recorded time for this selection, which the stats line compares with.
    pub baseline: Option<crate::baseline::Baseline>,
}

impl SuiteOptions {
    /// The same options for another run of the same selection, without coverage (whose data
    /// directory belongs to one run) and importing every selected module.
    pub fn for_another_run(&self) -> SuiteOptions {
        SuiteOptions {
            pool: self.pool.clone(),
            maxfail: self.maxfail,
            interrupt: Arc::clone(&self.interrupt),
            deadline: self.deadline,
            durations: self.durations,
            header_notes: self.header_notes.clone(),
            rootdir_label: self.rootdir_label.clone(),
            verbosity: self.verbosity,
            color: self.color,
            report: self.report.clone(),
            replay: self.replay.clone(),
            capture: self.capture,
            coverage: None,
            import_modules: None,
            baseline: self.baseline.clone(),
        }
    }
}

/// What a run reported, by node ID, for the result cache ([`SuiteOptions::capture`]).
#[derive(Debug, Default)]
pub struct Capture {
    /// ItemResult and Warning messages of each node, in arrival order.
    pub messages: HashMap<String, Vec<WorkerMessage>>,
    /// Nodes whose last report (teardown) arrived.
    pub finished: BTreeSet<String>,
    /// Nodes the pool reported for the worker (a crash, a timeout, lost): never cached.
    pub incidents: BTreeSet<String>,
    /// What each node executed (when the pool records execution).
    pub executed: HashMap<String, Execution>,
    /// What ran outside any test, over every worker.
    pub ambient: Execution,
    /// Files the workers loaded with function-level recording.
    pub instrumented: BTreeSet<String>,
    /// What each unit reported, by unit key (a requeued unit's attempts together).
    pub units: HashMap<String, UnitCapture>,
    /// The batch each worker is running, until its unit finishes.
    pending: HashMap<WorkerId, UnitCapture>,
}

/// What one unit's batches reported: the hook-items cache records a unit's items only when
/// it ran them all to the end.
#[derive(Debug, Default)]
pub struct UnitCapture {
    /// Node IDs reported, in first-report order.
    pub items: Vec<String>,
    /// A batch ended with Done, every requested item run.
    pub completed: bool,
    /// A batch was lost (crash, timeout) or an item was reported by the pool.
    pub lost: bool,
    /// It reported a collection error, deselected items or a warning of no item: replaying
    /// its items would not be all it reports.
    pub partial: bool,
}

impl UnitCapture {
    /// Every batch ran to the end and reported every item it collected.
    pub fn whole(&self) -> bool {
        self.completed && !self.lost && !self.partial
    }
}

fn execution_of(coarse: bool, files: &[ExecutedFile], imported: &[String]) -> Execution {
    Execution {
        coarse,
        hits: files
            .iter()
            .map(|f| (f.path.clone(), f.def_lines.clone()))
            .collect(),
        imported: imported.to_vec(),
    }
}

impl Capture {
    fn observe(&mut self, event: &RunEvent) {
        self.observe_unit(event);
        match event {
            RunEvent::Report { result, .. } => {
                if result.item_finished {
                    self.finished.insert(result.node_id.clone());
                }
                self.messages
                    .entry(result.node_id.clone())
                    .or_default()
                    .push(WorkerMessage::ItemResult(Box::new(result.clone())));
            }
            RunEvent::Incident { result, .. } => {
                self.incidents.insert(result.node_id.clone());
            }
            RunEvent::NotRun { node_id, .. } => {
                self.incidents.insert(node_id.clone());
            }
            RunEvent::Executed { record, .. } => {
                let execution = execution_of(record.coarse, &record.files, &record.imported);
                self.executed
                    .entry(record.node_id.clone())
                    .or_default()
                    .merge(execution);
            }
            RunEvent::Ambient { record, .. } => {
                self.ambient
                    .merge(execution_of(record.coarse, &record.files, &[]));
                self.instrumented
                    .extend(record.instrumented.iter().cloned());
            }
            RunEvent::Warning { record, .. } if !record.node_id.is_empty() => {
                self.messages
                    .entry(record.node_id.clone())
                    .or_default()
                    .push(WorkerMessage::Warning(record.clone()));
            }
            _ => {}
        }
    }

    /// Attribute reports, incidents and the batch's end to the unit the worker is running.
    fn observe_unit(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Report { worker, result } => {
                let items = &mut self.pending.entry(*worker).or_default().items;
                // A test's reports arrive together: the last one seen is the only repeat.
                if items.last() != Some(&result.node_id) {
                    items.push(result.node_id.clone());
                }
            }
            RunEvent::Incident { worker, .. } => {
                self.pending.entry(*worker).or_default().lost = true;
            }
            RunEvent::CollectError { worker, .. } | RunEvent::Deselected { worker, .. } => {
                self.pending.entry(*worker).or_default().partial = true;
            }
            RunEvent::Warning { worker, record } => {
                // A warning of no item (collection's) is not replayed with any item.
                let batch = self.pending.entry(*worker).or_default();
                if batch.items.last() != Some(&record.node_id) {
                    batch.partial = true;
                }
            }
            RunEvent::UnitFinished {
                worker, key, done, ..
            } => {
                let batch = self.pending.remove(worker).unwrap_or_default();
                let unit = self.units.entry(key.clone()).or_default();
                for item in batch.items {
                    if !unit.items.contains(&item) {
                        unit.items.push(item);
                    }
                }
                unit.lost |= batch.lost || done.is_none();
                unit.partial |= batch.partial;
                unit.completed |= done.as_ref().is_some_and(|d| d.stop == StopKind::Completed);
            }
            _ => {}
        }
    }
}

/// What a run produced besides the terminal output.
#[derive(Debug)]
pub struct SuiteOutcome {
    pub code: Code,
    pub junit: JunitBuilder,
    /// The run's summary; `None` when nothing ran (collection errors, nothing selected).
    pub summary: Option<RunSummary>,
    pub failed: BTreeSet<String>,
    pub passed: BTreeSet<String>,
    pub elapsed: Duration,
    pub timed_out: bool,
    /// No interpreter could start: the first start-up failure (the code is InternalError).
    pub start_failure: Option<String>,
    /// Writing the terminal output failed (e.g. stdout closed); the run still completed.
    pub output_error: Option<std::io::Error>,
    pub failures: usize,
    /// Tests selected to run.
    pub selected: usize,
    /// With [`SuiteOptions::capture`]: what the run reported.
    pub capture: Option<Capture>,
}

impl SuiteOutcome {
    /// The outcome of a session that ran nothing (a usage error, an empty shard).
    pub fn without_run(code: Code) -> SuiteOutcome {
        SuiteOutcome {
            code,
            junit: JunitBuilder::default(),
            summary: None,
            failed: BTreeSet::new(),
            passed: BTreeSet::new(),
            elapsed: Duration::ZERO,
            timed_out: false,
            start_failure: None,
            output_error: None,
            failures: 0,
            selected: 0,
            capture: None,
        }
    }
}

/// Node IDs grouped by module in first-seen order: the scheduler's input.
pub fn group_by_module(node_ids: &[String]) -> Vec<ModuleTests> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut modules: Vec<ModuleTests> = Vec::new();
    for id in node_ids {
        let path = id.split("::").next().unwrap_or(id);
        let slot = *index.entry(path).or_insert_with(|| {
            modules.push(ModuleTests {
                path: path.to_string(),
                node_ids: Vec::new(),
            });
            modules.len() - 1
        });
        modules[slot].node_ids.push(id.clone());
    }
    modules
}

/// The Python test modules of `node_ids` (rootdir-relative), each once, in first-seen
/// order: with node IDs in discovery order, the order pytest's collection imports them in.
/// Files that are not Python modules (items conftest hooks make from other files) are left
/// out.
pub fn test_modules(node_ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    node_ids
        .iter()
        .map(|id| id.split("::").next().unwrap_or(id))
        .filter(|path| path.ends_with(".py") && seen.insert(*path))
        .map(str::to_owned)
        .collect()
}

/// A suite that uses pytest (conftests, marks, parametrize) needs the pytest engine: a missing
/// pytest is then a clear start-up error, not a wall of ImportErrors. Plain suites run under
/// pytest when it is installed, else under the native engine.
pub fn engine_for(discovery: &Discovery) -> Engine {
    // Hook items (a conftest's or the doctest plugin's) are collected by pytest itself.
    let uses_pytest = !discovery.conftests.is_empty()
        || !discovery.hook_scopes.is_empty()
        || discovery
            .items
            .iter()
            .any(|i| !i.marks.is_empty() || i.params != ParamState::None);
    if uses_pytest {
        Engine::Pytest
    } else {
        Engine::Auto
    }
}

/// The session header: version and workers, rootdir, configfile, notes, collected line.
pub fn header_lines(
    discovery: &Discovery,
    workers: usize,
    selected: usize,
    options: &SuiteOptions,
) -> Vec<String> {
    let rootdir = &discovery.config.rootdir;
    let shown = match &options.rootdir_label {
        Some(label) => label.clone(),
        None => rootdir.display().to_string(),
    };
    let mut header = vec![
        format!("dx-py {} -- {workers} workers", env!("CARGO_PKG_VERSION")),
        format!("rootdir: {shown}"),
    ];
    if let Some(ini) = &discovery.config.inifile {
        header.push(format!("configfile: {}", rel_or_abs(ini, rootdir)));
    }
    header.extend(options.header_notes.iter().cloned());
    // pytest announces collection on the same line when verbose (not on a terminal, where
    // it would rewrite that line instead).
    let on_terminal = render::stdout_is_terminal();
    let collecting = if options.verbosity > 0 && !on_terminal {
        "collecting ... "
    } else {
        ""
    };
    header.push(format!(
        "{collecting}{}",
        collected_line(discovery, selected)
    ));
    header
}

/// Runs `units` (the plan of `node_ids`, a subset of `discovery.items`) and reports to `out`.
pub fn run_suite<W: Write>(
    discovery: &Discovery,
    node_ids: &[String],
    units: Vec<WorkUnit>,
    mut options: SuiteOptions,
    out: W,
    start: Instant,
) -> anyhow::Result<SuiteOutcome> {
    let total = node_ids.len();
    let mut terminal = open_terminal(discovery, node_ids, &units, &options, out)?;
    let mut outcome = SuiteOutcome::without_run(Code::Ok);
    outcome.selected = total;
    // Collection errors found statically are pytest's "ERROR collecting": reported, and like
    // pytest the session stops before running anything.
    if !discovery.errors.is_empty() {
        report_collect_errors(discovery, &mut terminal, &mut outcome, start)?;
        return Ok(outcome);
    }
    // Hook-items units hold tests no one has counted yet: they still have to run.
    if total == 0 && units.is_empty() {
        outcome.elapsed = start.elapsed();
        terminal.finish(outcome.elapsed, None, None)?;
        outcome.code = Code::NoTestsCollected;
        return Ok(outcome);
    }
    let (deadline, durations) = (options.deadline, options.durations);
    let coverage = options.coverage.take();
    let snapshots = crate::snapshots::Judge::for_run(&options.pool, !options.replay.is_empty());
    let replayed = replay(&options.replay, &mut terminal, &mut outcome);
    if let Err(err) = &replayed {
        outcome.output_error = Some(std::io::Error::new(err.kind(), err.to_string()));
    }
    let executed = if units.is_empty() {
        // Everything was replayed: no interpreter needs to start.
        Executed {
            summary: RunSummary::default(),
            timed_out: false,
            interrupted: false,
            workers_started: 1,
        }
    } else {
        let continue_on_errors = discovery.config.args.continue_on_collection_errors;
        let (terminal, outcome) = (&mut terminal, &mut outcome);
        execute(
            units,
            options,
            start,
            node_ids,
            continue_on_errors,
            terminal,
            outcome,
        )?
    };
    let mut summary = executed.summary;
    if let Ok(counts) = replayed {
        add_counts(&mut summary, &counts);
    }
    outcome.elapsed = start.elapsed();
    outcome.timed_out = executed.timed_out;
    if executed.workers_started > 0 {
        outcome.start_failure = None;
    } else if outcome.start_failure.is_some() {
        outcome.code = Code::InternalError;
        outcome.summary = Some(summary);
        return Ok(outcome);
    }
    let was_interrupted = executed.interrupted
        || matches!(
            summary.stop,
            Some(StopReason::Interrupted | StopReason::Cancelled)
        );
    let banner = stop_banner(&summary, outcome.timed_out, was_interrupted, deadline);
    // (A stopped session never reaches pytest-cov's report: it ends the test loop early.)
    let coverage_failed = match coverage.filter(|_| banner.is_none()) {
        Some(mut coverage) => crate::cov::report(&mut coverage, &mut terminal),
        None => false,
    };
    let snapshots_failed = snapshots
        .is_some_and(|judge| judge.report(discovery, node_ids, banner.is_none(), &mut terminal));
    terminal.finish(outcome.elapsed, durations, banner)?;
    outcome.failures = terminal.count(Stat::Failed) + terminal.count(Stat::Error);
    outcome.code = exit_code(&summary, was_interrupted, outcome.failures);
    if (coverage_failed || snapshots_failed)
        && matches!(outcome.code, Code::Ok | Code::NoTestsCollected)
    {
        outcome.code = Code::TestsFailed;
    }
    outcome.summary = Some(summary);
    Ok(outcome)
}

/// The terminal report for this selection, its session header written.
fn open_terminal<W: Write>(
    discovery: &Discovery,
    node_ids: &[String],
    units: &[WorkUnit],
    options: &SuiteOptions,
    out: W,
) -> std::io::Result<Terminal<W>> {
    let total = node_ids.len();
    // Replayed hook-made items are tests of this run no node ID of the selection names.
    let shown_total = total + replayed_beyond(node_ids, &options.replay);
    let mut terminal = Terminal::new(out, options.verbosity, options.color, shown_total);
    terminal.set_report_options(options.report.clone());
    if let Some(baseline) = &options.baseline {
        terminal.compare_with(baseline.clone());
    }
    if total_grows_at_run_time(discovery, node_ids, units) {
        terminal.expect_more_than_total();
    }
    // (With `--lf`, recorded failures of hook-made items are planned beyond discovery's.)
    terminal.add_deselected((discovery.deselected + discovery.items.len()).saturating_sub(total));
    let header = header_lines(discovery, options.pool.worker_count(), total, options);
    terminal.header(&header)?;
    Ok(terminal)
}

/// How many replayed tests no node ID of `node_ids` names, nor the function it expands
/// (a dynamic function's parameters): items conftest hooks made.
fn replayed_beyond(node_ids: &[String], replay: &[Vec<WorkerMessage>]) -> usize {
    if replay.is_empty() {
        return 0;
    }
    let selected: std::collections::HashSet<&str> = node_ids.iter().map(String::as_str).collect();
    replay
        .iter()
        .filter_map(|messages| {
            messages.iter().find_map(|m| match m {
                WorkerMessage::ItemResult(r) => Some(r.node_id.as_str()),
                _ => None,
            })
        })
        .filter(|id| {
            let function = id.find('[').map_or(*id, |at| &id[..at]);
            !selected.contains(id) && !selected.contains(function)
        })
        .count()
}

/// Report discovery's collection errors and end the session as pytest does (interrupted).
fn report_collect_errors<W: Write>(
    discovery: &Discovery,
    terminal: &mut Terminal<W>,
    outcome: &mut SuiteOutcome,
    start: Instant,
) -> std::io::Result<()> {
    terminal.write_raw(&render::collect_errors(&discovery.errors))?;
    terminal.add_errors(discovery.errors.len());
    for error in &discovery.errors {
        outcome
            .junit
            .collect_error(error.path(), &error.to_string());
    }
    outcome.elapsed = start.elapsed();
    terminal.finish(outcome.elapsed, None, None)?;
    outcome.failures = discovery.errors.len();
    outcome.code = Code::Interrupted;
    Ok(())
}

/// What [`execute`] leaves for the closing lines.
struct Executed {
    summary: RunSummary,
    /// The deadline passed.
    timed_out: bool,
    /// The run's stop flag was set (deadline, or the caller's flag).
    interrupted: bool,
    workers_started: usize,
}

/// Run the units over the pool, reporting every event, under a watchdog that stops the run
/// when the caller's flag is set or the deadline passes.
fn execute<W: Write>(
    units: Vec<WorkUnit>,
    options: SuiteOptions,
    start: Instant,
    node_ids: &[String],
    continue_on_collection_errors: bool,
    terminal: &mut Terminal<W>,
    outcome: &mut SuiteOutcome,
) -> anyhow::Result<Executed> {
    // The run's own stop flag: set when the caller's flag is (Ctrl-C, a Bazel cancel) or the
    // deadline passes. The caller's flag is only read, so a timeout never looks like a cancel.
    let interrupted = Arc::new(AtomicBool::new(false));
    let timed_out = AtomicBool::new(false);
    // The workers' pytest renders tracebacks for the width this report is written at.
    let mut pool = options.pool;
    pool.terminal_width = u32::try_from(render::terminal_width()).unwrap_or(0);
    // Each worker imports them before its first batch, as pytest's collection does.
    pool.test_modules = options
        .import_modules
        .unwrap_or_else(|| test_modules(node_ids));
    let runner = Run::new(RunConfig {
        pool,
        maxfail: options.maxfail,
        interrupt: Some(Arc::clone(&interrupted)),
        continue_on_collection_errors,
    });
    let mut workers_started = 0usize;
    let (done, watchdog_wakeup) = mpsc::channel::<()>();
    let summary = std::thread::scope(|scope| {
        let deadline = options.deadline.map(|d| start + d);
        let (timed_out, interrupted, external) = (&timed_out, &interrupted, &options.interrupt);
        scope.spawn(move || watchdog(&watchdog_wakeup, deadline, external, interrupted, timed_out));
        let mut capture = options.capture.then(Capture::default);
        let result = runner.execute(units, |event| {
            if let Some(capture) = capture.as_mut() {
                capture.observe(&event);
            }
            let written = report_event(&event, terminal, outcome, workers_started, node_ids);
            match &event {
                RunEvent::WorkerStarted { .. } => workers_started += 1,
                RunEvent::WorkerStartFailed { message, .. } => {
                    outcome.start_failure.get_or_insert_with(|| message.clone());
                }
                _ => {}
            }
            if let Err(err) = written {
                outcome.output_error.get_or_insert(err);
            }
            if interrupted.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        drop(done);
        outcome.capture = capture;
        result
    })
    .context("starting the worker pool")?;
    Ok(Executed {
        summary,
        timed_out: timed_out.load(Ordering::SeqCst),
        interrupted: interrupted.load(Ordering::SeqCst),
        workers_started,
    })
}

/// Report the recorded messages of tests this run does not execute, as cached, and count
/// their outcomes as the run's summary would have.
fn replay<W: Write>(
    tests: &[Vec<WorkerMessage>],
    terminal: &mut Terminal<W>,
    outcome: &mut SuiteOutcome,
) -> std::io::Result<RunSummary> {
    let mut counts = RunSummary::default();
    for message in tests.iter().flatten() {
        match message {
            WorkerMessage::ItemResult(result) => {
                outcome.junit.report(result);
                if result.in_summary {
                    count_outcome(&mut counts, result.outcome);
                    if result.outcome == Outcome::Passed {
                        outcome.passed.insert(result.node_id.clone());
                    }
                }
                terminal.report_cached(result)?;
            }
            WorkerMessage::Warning(record) => terminal.add_warning(record),
            _ => {}
        }
    }
    Ok(counts)
}

fn count_outcome(summary: &mut RunSummary, outcome: Outcome) {
    match outcome {
        Outcome::Passed => summary.passed += 1,
        Outcome::Failed => summary.failed += 1,
        Outcome::Skipped => summary.skipped += 1,
        Outcome::XFailed => summary.xfailed += 1,
        Outcome::XPassed => summary.xpassed += 1,
        Outcome::Error => summary.errors += 1,
    }
}

fn add_counts(summary: &mut RunSummary, other: &RunSummary) {
    summary.passed += other.passed;
    summary.failed += other.failed;
    summary.skipped += other.skipped;
    summary.xfailed += other.xfailed;
    summary.xpassed += other.xpassed;
    summary.errors += other.errors;
}

/// Until the run ends (`wakeup` disconnects): set `interrupted` when the caller's flag is set
/// or the deadline passes (then `timed_out` too).
fn watchdog(
    wakeup: &mpsc::Receiver<()>,
    deadline: Option<Instant>,
    external: &AtomicBool,
    interrupted: &AtomicBool,
    timed_out: &AtomicBool,
) {
    loop {
        match wakeup.recv_timeout(WATCHDOG_POLL) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The run ended.
            _ => return,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out.store(true, Ordering::SeqCst);
            interrupted.store(true, Ordering::SeqCst);
        } else if external.load(Ordering::SeqCst) {
            interrupted.store(true, Ordering::SeqCst);
        }
    }
}

/// The line the summary closes with when the run stopped early.
fn stop_banner(
    summary: &RunSummary,
    timed_out: bool,
    was_interrupted: bool,
    deadline: Option<Duration>,
) -> Option<String> {
    match &summary.stop {
        _ if timed_out => Some(format!(
            "Timeout: the run exceeded its {}s deadline",
            deadline.map_or(0.0, |d| d.as_secs_f64())
        )),
        _ if was_interrupted => Some("KeyboardInterrupt".to_string()),
        Some(StopReason::MaxFail(n)) => Some(format!("stopping after {n} failures")),
        Some(StopReason::Exit(code)) => Some(format!("_pytest.outcomes.Exit: exit code {code}")),
        Some(StopReason::CollectErrors) => Some(format!(
            "Interrupted: {} during collection",
            render::pluralize(summary.collect_errors as usize, "error")
        )),
        _ => None,
    }
}

/// pytest's exit code for a run that happened.
fn exit_code(summary: &RunSummary, was_interrupted: bool, failures: usize) -> Code {
    if was_interrupted || summary.stop == Some(StopReason::CollectErrors) {
        Code::Interrupted
    } else if let Some(StopReason::Exit(code)) = summary.stop {
        Code::from_pytest(code)
    } else if failures > 0 {
        Code::TestsFailed
    } else if summary_is_empty(summary) {
        // No test ran: pytest's own -k/-m dropped at run time everything discovery could not
        // decide (parameters known only at run time, hook-made items), or found nothing.
        Code::NoTestsCollected
    } else {
        Code::Ok
    }
}

/// Nothing was reported: no test ran, passed, failed or was skipped.
fn summary_is_empty(summary: &RunSummary) -> bool {
    summary.passed
        + summary.failed
        + summary.skipped
        + summary.xfailed
        + summary.xpassed
        + summary.errors
        == 0
}

/// One event into the terminal and the JUnit builder.
fn report_event<W: Write>(
    event: &RunEvent,
    terminal: &mut Terminal<W>,
    outcome: &mut SuiteOutcome,
    workers_started: usize,
    selected: &[String],
) -> std::io::Result<()> {
    match event {
        RunEvent::Report { result, .. } | RunEvent::Incident { result, .. } => {
            outcome.junit.report(result);
            if result.in_summary {
                match result.outcome {
                    Outcome::Failed | Outcome::Error => {
                        outcome.failed.insert(result.node_id.clone());
                    }
                    Outcome::Passed => {
                        outcome.passed.insert(result.node_id.clone());
                    }
                    _ => {}
                }
            }
            terminal.report(result)
        }
        RunEvent::CollectError { report, .. } => {
            if report.outcome == Outcome::Skipped {
                outcome
                    .junit
                    .collect_skip(&report.node_id, &report.longrepr);
            } else {
                outcome
                    .junit
                    .collect_error(&report.node_id, &report.longrepr);
                outcome.failed.insert(report.node_id.clone());
            }
            // pytest's progress total never held the items of a collector that failed or
            // skipped itself.
            let node = report.node_id.as_str();
            let lost = selected
                .iter()
                .filter(|id| {
                    id.strip_prefix(node).is_some_and(|rest| {
                        rest.is_empty() || rest.starts_with("::") || rest.starts_with('/')
                    })
                })
                .count();
            terminal.drop_from_total(lost);
            terminal.collect_error(report)
        }
        // No worker ever started: one clear error at the end beats one per test.
        RunEvent::NotRun {
            reason: NotRunReason::WorkerLost(_),
            ..
        } if workers_started == 0 && outcome.start_failure.is_some() => Ok(()),
        RunEvent::NotRun {
            node_id,
            reason: NotRunReason::WorkerLost(message),
        } => {
            outcome
                .junit
                .collect_error(node_id, &format!("not run: worker lost: {message}"));
            outcome.failed.insert(node_id.clone());
            terminal.lost(node_id, message)
        }
        RunEvent::Warning { record, .. } => {
            terminal.add_warning(record);
            Ok(())
        }
        // Hook-made items pytest's `-k`/`-m` dropped in the worker, counted like discovery's.
        RunEvent::Deselected { node_ids, .. } => {
            terminal.add_deselected(node_ids.len());
            Ok(())
        }
        // Only forwarded with `-s`: the tests' own output, uncaptured.
        RunEvent::Stderr { line, .. } => terminal.passthrough(line),
        // The run goes on (e.g. spawning after the zygote died); stderr, never the report.
        RunEvent::Notice { message } => {
            eprintln!("dx-py: {message}");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether the run will report tests discovery could not count: parameters expanded at run
/// time, or items conftest hooks make.
fn total_grows_at_run_time(discovery: &Discovery, node_ids: &[String], units: &[WorkUnit]) -> bool {
    if units
        .iter()
        .any(|u| matches!(u.kind, UnitKind::HookItems { .. }))
    {
        return true;
    }
    let dynamic: std::collections::HashSet<&str> = discovery
        .items
        .iter()
        .filter(|i| i.params == ParamState::Dynamic)
        .map(|i| i.node_id.as_str())
        .collect();
    !dynamic.is_empty() && node_ids.iter().any(|id| dynamic.contains(id.as_str()))
}

fn collected_line(discovery: &Discovery, selected: usize) -> String {
    let collected = discovery.items.len() + discovery.deselected;
    let noun = if collected == 1 { "item" } else { "items" };
    let mut line = format!("collected {collected} {noun}");
    match discovery.errors.len() {
        0 => {}
        1 => line.push_str(" / 1 error"),
        n => line.push_str(&format!(" / {n} errors")),
    }
    let deselected = collected.saturating_sub(selected);
    if deselected > 0 {
        line.push_str(&format!(" / {deselected} deselected / {selected} selected"));
    }
    line
}

fn rel_or_abs(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_modules_are_the_python_modules_in_first_seen_order() {
        let node_ids: Vec<String> = [
            "tests/test_b.py::test_x",
            "tests/test_a.py::T::test_y[1]",
            "tests/test_b.py::test_z",
            "data/cases.yaml::case",
            "tests/test_a.py::T::test_y[2]",
            "docs/index.rst::index.rst",
            "tests/test_c.py",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            test_modules(&node_ids),
            ["tests/test_b.py", "tests/test_a.py", "tests/test_c.py"]
        );
    }
}
