//! `dx-py test`: discover without importing, plan units longest-first, run them in warm
//! workers, and report like pytest (terminal, JUnit XML, exit code).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dxpy_discover::session::{self, Discovery};
use dxpy_runner::pool::{PoolConfig, WarmStart, WorkerIdentity, Zygote, ZygoteSpec};
use dxpy_runner::scheduler::{
    plan_batched_with_hooks, DurationStore, HookTree, SplitPolicy, UnitKind, WorkUnit,
};

use crate::args::TestArgs;
use crate::commands::discover::{discover_with, pytest_args};
use crate::exit::Code;
use crate::render;
use crate::suite::{engine_for, group_by_module, run_suite, SuiteOptions, SuiteOutcome};
use crate::terminal::ReportOptions;
pub use crate::test_context::TestContext;

const DURATIONS_FILE: &str = "durations.json";
const LAST_FAILED_FILE: &str = "lastfailed.json";
/// Marks the durations key of a `--ff` unit of last run's failures.
const FAILED_FIRST_KEY: &str = " (failed first)";

pub fn run(args: TestArgs) -> anyhow::Result<Code> {
    // Sessions only pytest runs get this process's terminal (`--pdb` reads stdin).
    if args.pytest.delegated().is_some() {
        let python = crate::pytest_probe::interpreter(&args);
        return crate::pytest_probe::delegate(&python, &args.pytest.for_pytest, None);
    }
    // `--cov` runs here: its workers must start from a zygote that imported no project code.
    if crate::daemon::wanted(args.no_daemon) && !crate::cov::wanted(&args.pytest.passthrough) {
        match crate::daemon::client::run_test(&args) {
            Ok(code) => return Ok(code),
            Err(err) => eprintln!("dx-py: daemon not used ({err:#}); running in this process"),
        }
    }
    let context = TestContext {
        interrupt: None,
        zygote: None,
        replay: true,
        spare: None,
        defer: None,
    };
    run_with(args, &context, std::io::stdout().lock(), Instant::now())
}

/// The zygote of the last run, reused while its interpreter set-up is the same and it lives
/// (`--watch`'s many runs in one process).
#[derive(Debug, Default)]
pub(crate) struct ZygoteKeeper {
    current: std::sync::Mutex<Option<(ZygoteSpec, Arc<Zygote>)>>,
}

impl ZygoteKeeper {
    pub(crate) fn warm_start(&self, pool: &PoolConfig) -> WarmStart {
        let Ok(mut spec) = ZygoteSpec::for_pool(pool) else {
            return WarmStart::Zygote;
        };
        // Only the start-up variables must match; each fork gets the run's environment.
        spec.env
            .retain(|(name, _)| name.to_string_lossy().starts_with("PYTHON"));
        spec.probe_session = spec.import_pytest;
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((kept, zygote)) = current.as_ref() {
            if *kept == spec && zygote.is_alive() {
                return WarmStart::Shared(Arc::clone(zygote));
            }
        }
        match Zygote::start(&spec) {
            Ok(zygote) => {
                *current = Some((spec, Arc::clone(&zygote)));
                WarmStart::Shared(zygote)
            }
            Err(_) => WarmStart::Zygote,
        }
    }
}

/// The body of `dx-py test`: the report goes to `out`, diagnostics to stderr.
pub fn run_with(
    args: TestArgs,
    context: &TestContext<'_>,
    mut out: impl Write,
    start: Instant,
) -> anyhow::Result<Code> {
    let _graph_scope = crate::project::GraphScope::begin();
    let mut steps = crate::trace::Steps::start();
    let mut args = match crate::pytest_probe::prepare(args, &mut out)? {
        crate::pytest_probe::Prepared::Run(args) => *args,
        crate::pytest_probe::Prepared::Done(code) => return Ok(code),
    };
    let mut discovery = match discover_with(args.discovery_args(), args.select.no_cache)? {
        Ok(d) => d,
        Err(err) => {
            eprintln!("ERROR: {err}");
            return Ok(Code::UsageError);
        }
    };
    steps.done("pytest options read, suite discovered");
    // A conftest's computed `collect_ignore` leaves modules out that pytest never collects:
    // running them would report what pytest does not.
    let python = crate::pytest_probe::interpreter(&args);
    let probe_cache = session::cache_root()
        .filter(|_| !args.select.no_cache)
        .map(|root| session::project_cache_dir(&root, &discovery.config.rootdir));
    if let Some(notice) =
        crate::collect_probe::drop_ignored_modules(&mut discovery, &python, probe_cache.as_deref())
    {
        eprintln!("dx-py: {notice}");
    }
    if let Some(code) =
        crate::pytest_probe::validate_config_options(&args, &discovery.config.args.unknown)?
    {
        return Ok(code);
    }
    args.junit_xml = junit_path(&args, &discovery);
    steps.done("collect_ignore and config options checked");
    for notice in &discovery.notices {
        eprintln!("dx-py: {notice}");
    }
    clear_fixture_cache(&args, &discovery)?;
    if args.pytest.collect_only() {
        return crate::commands::discover::collect_only(&args, &discovery, out, start);
    }
    let state_dir = session::cache_root()
        .map(|root| session::project_cache_dir(&root, &discovery.config.rootdir));
    let last_failed = state_dir
        .as_deref()
        .map(load_last_failed)
        .unwrap_or_default();

    let mut node_ids: Vec<String> = discovery.items.iter().map(|i| i.node_id.clone()).collect();
    // Items conftest `pytest_collect_file` hooks make: collected by the workers, per directory.
    let mut hook_trees: Vec<HookTree> = discovery
        .hook_scopes
        .iter()
        .map(|scope| HookTree {
            root: scope.root.clone(),
            subdirs: scope.subdirs.clone(),
        })
        .collect();
    let mut lf_note = None;
    if args.last_failed {
        let mut failed: Vec<String> = node_ids
            .iter()
            .filter(|id| is_recorded_failure(&last_failed, id))
            .cloned()
            .collect();
        // Recorded failures of hook-made items (no discovery item has their node ID) are
        // rerun by node ID: collecting one goes through its conftest's hook.
        failed.extend(hook_failures(&last_failed, &hook_trees, &node_ids));
        lf_note = Some(if failed.is_empty() {
            "run-last-failure: no previously failed tests, not deselecting items.".to_string()
        } else {
            format!("run-last-failure: rerun previous {} failures", failed.len())
        });
        if !failed.is_empty() {
            node_ids = failed;
            hook_trees.clear();
        }
    }
    let mut pool = pool_config(&args, &discovery)?;
    let coverage = start_coverage(&discovery, &mut pool)?;
    if coverage.is_some() && args.affected {
        // A replayed test would be missing from the coverage data: every selected test runs.
        eprintln!("dx-py: --affected is ignored with --cov (coverage needs every test to run)");
        args.affected = false;
    }
    // The result cache needs to know which functions each test executes.
    pool.record_execution = args.affected;
    let mut affected = if args.affected {
        let since = args.since.as_deref();
        let planning = Instant::now();
        let plan = crate::results::plan(
            &discovery,
            &node_ids,
            &hook_trees,
            &pool,
            args.select.no_cache,
            since,
            context.replay,
            &args
                .junit_xml
                .iter()
                .map(PathBuf::as_path)
                .collect::<Vec<_>>(),
        )?;
        if crate::results::explaining() {
            eprintln!(
                "dx-py: result cache: planned in {:.3}s",
                planning.elapsed().as_secs_f64()
            );
        }
        node_ids = plan.selected.clone();
        steps.done("result cache planned");
        Some(plan)
    } else {
        None
    };
    let mut header_notes: Vec<String> = lf_note.into_iter().collect();
    let mut replay = Vec::new();
    let to_run: &[String] = match &mut affected {
        Some(plan) => {
            header_notes.push(plan.header_note());
            replay = std::mem::take(&mut plan.replay);
            &plan.run_ids
        }
        None => &node_ids,
    };
    let durations_path = state_dir.as_ref().map(|d| d.join(DURATIONS_FILE));
    let (mut store, _) = match &durations_path {
        Some(path) => DurationStore::load(path),
        None => DurationStore::load(Path::new("")),
    };
    let mut units = if args.failed_first {
        plan_failed_first(to_run, &hook_trees, &store, &last_failed)
    } else {
        let modules = group_by_module(to_run);
        plan_batched_with_hooks(&modules, &hook_trees, &store, SplitPolicy::default())
    };
    if let Some(plan) = &affected {
        plan.apply_to_units(&mut units);
    }

    let report = args.report_args(&discovery.config.args.report);
    let verbosity = i8::try_from(report.verbosity.clamp(-2, 3)).unwrap_or(0);
    let color = match args.color.as_str() {
        "yes" => true,
        "no" => false,
        _ => std::env::var_os("NO_COLOR").is_none() && render::stdout_is_terminal(),
    };
    let interrupted = match &context.interrupt {
        Some(flag) => Arc::clone(flag),
        None => {
            let flag = Arc::new(AtomicBool::new(false));
            crate::signals::install(Arc::clone(&flag)).context("handling Ctrl-C")?;
            flag
        }
    };
    // (Not under `--cov`: a kept zygote's preloads may have imported the measured code.)
    if let (Some(zygote), WarmStart::Zygote, None) = (context.zygote, &pool.warm_start, &coverage) {
        pool.warm_start = zygote(&pool, &discovery);
        pool.spare = context.spare.clone();
    }
    // The run's id, chosen now: pytest-randomly's seed derives from it, and pytest names the
    // seed in its header.
    let testrun_uid = pool
        .spare
        .as_ref()
        .and_then(|spare| spare.upcoming_testrun_uid())
        .unwrap_or_else(WorkerIdentity::new_testrun_uid);
    header_notes.extend(crate::randomly::header_line(
        &pool,
        &discovery,
        &python,
        &testrun_uid,
    ));
    pool.testrun_uid = Some(testrun_uid);
    // Kept to the end of the run: dropping it removes the workers' snapshot records.
    let _snapshot_records = crate::snapshots::prepare(&mut pool, state_dir.as_deref());
    let options = SuiteOptions {
        pool,
        // Command line over addopts/PYTEST_ADDOPTS (`report_args`); 0 is no limit.
        maxfail: report.maxfail.filter(|&n| n > 0),
        interrupt: interrupted,
        deadline: None,
        durations: args.durations,
        header_notes,
        rootdir_label: None,
        verbosity,
        color,
        report: ReportOptions::from_args(&report),
        replay,
        capture: affected.is_some(),
        coverage,
        import_modules: None,
        baseline: crate::baseline::lookup(
            &discovery.config.rootdir,
            &crate::baseline::key(&python, &args),
        ),
    };
    steps.done("run planned");
    let fewer_imports = affected
        .as_ref()
        .and_then(crate::results::AffectedRun::modules_to_import)
        .filter(|_| options.coverage.is_none());
    let mut outcome = match fewer_imports {
        Some(modules) => {
            run_importing_fewer(&discovery, &node_ids, units, options, modules, out, start)?
        }
        None => run_suite(&discovery, &node_ids, units, options, out, start)?,
    };
    steps.done("run and report");
    if let Some(err) = &outcome.output_error {
        // A closed stdout (e.g. piped into `head`) must not lose the JUnit file or the state.
        eprintln!("dx-py: output error: {err}");
    }
    if let Some(message) = &outcome.start_failure {
        eprintln!("ERROR: no worker could start: {}", message.trim_end());
        eprintln!(
            "hint: pass --python, or activate the virtualenv that has the suite's dependencies"
        );
        return Ok(outcome.code);
    }
    if let Some(path) = &args.junit_xml {
        outcome
            .junit
            .write(path, outcome.elapsed)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Recording what the run learnt: the caller may do it after the client has its exit
    // code (the daemon); under DXPY_EXPLAIN its messages belong to the run's stderr.
    let code = outcome.code;
    let finish = move || {
        if let Some(plan) = affected {
            let stopped = outcome.summary.as_ref().is_none_or(|s| s.stop.is_some())
                || outcome.code == Code::Interrupted;
            let capture = outcome.capture.take().unwrap_or_default();
            let recording = Instant::now();
            if let Err(err) = plan.record(&capture, stopped) {
                eprintln!("dx-py: {err:#}");
            }
            if crate::results::explaining() {
                eprintln!(
                    "dx-py: result cache: recorded in {:.3}s",
                    recording.elapsed().as_secs_f64()
                );
            }
        }
        if let (Some(dir), Some(summary)) = (&state_dir, &outcome.summary) {
            for (key, seconds) in &summary.unit_durations {
                store.record(key, *seconds);
            }
            if let Some(path) = &durations_path {
                if let Err(err) = store.save(path) {
                    eprintln!("dx-py: durations not saved: {err}");
                }
            }
            save_last_failed(dir, last_failed, &outcome.failed, &outcome.passed);
        }
    };
    match context.defer.filter(|_| !crate::results::explaining()) {
        Some(defer) => defer(Box::new(finish)),
        None => finish(),
    }
    Ok(code)
}

/// [`run_suite`] with each worker importing only `modules` before its first batch (see
/// `results::AffectedRun::modules_to_import`). Its report is held back and shown only when
/// every test in it passed; otherwise the run is made again with every selected test module
/// imported, as pytest's collection does, and that run is the one reported: a test that
/// fails only without another module's import-time effects is never reported failing.
fn run_importing_fewer<W: Write>(
    discovery: &Discovery,
    node_ids: &[String],
    units: Vec<WorkUnit>,
    options: SuiteOptions,
    modules: Vec<String>,
    mut out: W,
    start: Instant,
) -> anyhow::Result<SuiteOutcome> {
    let again = options.for_another_run();
    let cancelled = Arc::clone(&options.interrupt);
    let mut held = Vec::new();
    let fewer = SuiteOptions {
        import_modules: Some(modules),
        ..options
    };
    let mut first = run_suite(discovery, node_ids, units.clone(), fewer, &mut held, start)?;
    let passed = first.code == Code::Ok && first.failed.is_empty();
    if passed || first.start_failure.is_some() || cancelled.load(Ordering::SeqCst) {
        if let Err(err) = out.write_all(&held).and_then(|()| out.flush()) {
            first.output_error.get_or_insert(err);
        }
        return Ok(first);
    }
    if crate::results::explaining() {
        eprintln!(
            "dx-py: result cache: not every test passed with only their own modules imported; \
             running them again with every test module imported"
        );
    }
    run_suite(discovery, node_ids, units, again, out, start)
}

/// pytest's `--ff`: the tests that failed last time run before all others, in collection
/// order (in units of their own, so a unit's passing tests do not run ahead of them), then
/// the rest longest-first; hook-items units with a recorded failure below them lead the rest.
fn plan_failed_first(
    node_ids: &[String],
    hook_trees: &[HookTree],
    store: &DurationStore,
    last_failed: &BTreeSet<String>,
) -> Vec<WorkUnit> {
    let (failed, rest): (Vec<String>, Vec<String>) = node_ids
        .iter()
        .cloned()
        .partition(|id| is_recorded_failure(last_failed, id));
    let policy = SplitPolicy::default();
    let mut units = plan_batched_with_hooks(&group_by_module(&failed), &[], store, policy);
    // pytest runs the failures in collection order, not by how long their modules took.
    let place: std::collections::HashMap<&str, usize> = failed
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    units.sort_by_key(|u| {
        u.node_ids
            .first()
            .and_then(|id| place.get(id.as_str()))
            .copied()
    });
    // A module's failures alone are not the module: their time must not be learnt as its.
    for unit in &mut units {
        unit.key.push_str(FAILED_FIRST_KEY);
    }
    let mut rest = plan_batched_with_hooks(&group_by_module(&rest), hook_trees, store, policy);
    rest.sort_by_key(|u| {
        !matches!(u.kind, UnitKind::HookItems { .. })
            || !u
                .node_ids
                .iter()
                .any(|dir| is_recorded_below(last_failed, dir))
    });
    units.extend(rest);
    // Each plan numbered its tests from 0: number them again across the whole run.
    let mut next_index: u32 = 0;
    for unit in &mut units {
        unit.first_index = next_index;
        next_index =
            next_index.saturating_add(u32::try_from(unit.node_ids.len()).unwrap_or(u32::MAX));
    }
    units
}

/// The JUnit file to write: dx-py's `--junit-xml`, else a `--junitxml` from `addopts` or
/// `PYTEST_ADDOPTS` (relative to the invocation directory, as pytest takes it).
pub(crate) fn junit_path(args: &TestArgs, discovery: &Discovery) -> Option<PathBuf> {
    args.junit_xml
        .clone()
        .or_else(|| config_junit_path(discovery).map(PathBuf::from))
}

/// A `--junitxml` the project's configuration gives pytest (empty: none).
fn config_junit_path(discovery: &Discovery) -> Option<&str> {
    discovery
        .config
        .args
        .report
        .junit_xml
        .as_deref()
        .filter(|p| !p.is_empty())
}

fn pool_config(args: &TestArgs, discovery: &Discovery) -> anyhow::Result<PoolConfig> {
    let mut pool = PoolConfig::new(discovery.config.rootdir.clone());
    pool.worker_cache_root = dxpy_discover::session::cache_root();
    pool.workers = match args.workers.as_str() {
        "auto" | "logical" => 0,
        n => n
            .parse()
            .with_context(|| format!("-n expects a number or 'auto', got {n:?}"))?,
    };
    // Workers start in the rootdir: a relative interpreter path means relative to here.
    // A bare name (`python3.12`) is left for PATH lookup.
    pool.python = match &args.python {
        Some(p) if p.components().count() > 1 && p.is_relative() => Some(std::path::absolute(p)?),
        other => other.clone(),
    };
    pool.engine = engine_for(discovery);
    // The workers' pytest sees the same selection arguments (it needs `-k`/`-m` for items
    // whose parameters only exist at run time) and the project's own configuration.
    pool.pytest_args = pytest_args(&args.select)
        .into_iter()
        .filter(|a| !args.select.paths.contains(a))
        .collect();
    // Every option dx-py does not implement is the workers' pytest's, each value attached
    // to its option.
    pool.pytest_args
        .extend(args.pytest.passthrough.iter().cloned());
    // The workers' pytest reports at the user's verbosity, as pytest would: it shapes
    // assertion diffs and decides whether pytest 9 reports passing subtests.
    for flag in std::iter::repeat_n("-v", args.verbose.into())
        .chain(std::iter::repeat_n("-q", args.quiet.into()))
    {
        pool.pytest_args.push(flag.to_owned());
    }
    // Stopping inside a unit is the worker's pytest session's job (its `shouldfail`); the pool
    // stops handing out units. Both count failures and errors, as pytest does.
    // Only dx-py's own: the workers' pytest reads addopts and PYTEST_ADDOPTS itself.
    if let Some(n) = args.command_line_maxfail().filter(|&n| n > 0) {
        pool.pytest_args.push(format!("--maxfail={n}"));
    }
    // With `-s`/`--capture=no|tee-sys` the tests write to the worker's real stdout (its
    // stderr pipe); those lines are printed as they arrive, as pytest prints them.
    // The workers' pytest renders tracebacks in the asked style.
    if let Some(style) = &args.tb {
        pool.pytest_args.push(format!("--tb={style}"));
    }
    if let Some(method) = args.capture_method() {
        pool.pytest_args.push(format!("--capture={method}"));
        pool.forward_stderr = matches!(method, "no" | "tee-sys");
    }
    // A JUnit file named in addopts is dx-py's to write, whole: each worker's pytest would
    // write its own share of the run to that path, the last one winning.
    if config_junit_path(discovery).is_some() {
        pool.pytest_args.push("--junitxml=".to_owned());
    }
    pool.test_timeout = args
        .timeout
        .filter(|t| *t > 0.0)
        .map(Duration::from_secs_f64);
    if let Some(seconds) = args
        .timeout
        .filter(|_| timeout_plugin_loaded(args, discovery, &pool))
    {
        // One meaning for `--timeout`: pytest-timeout's, whose failure report pytest would
        // print. dx-py's own bound stays behind it, for a hang the plugin cannot interrupt
        // (a blocked C call under its signal method).
        pool.pytest_args.push(format!("--timeout={seconds}"));
        pool.test_timeout = pool.test_timeout.map(|t| t * 2 + TIMEOUT_BACKSTOP);
    }
    pool.preload = preload_modules(&discovery.config.rootdir.join("pyproject.toml"))?;
    // Workers are forked from a warm zygote (the run falls back to spawning by itself).
    pool.warm_start = if args.no_zygote {
        WarmStart::Spawn
    } else {
        WarmStart::Zygote
    };
    Ok(pool)
}

/// How long past twice pytest-timeout's `--timeout` dx-py waits before replacing the worker.
const TIMEOUT_BACKSTOP: Duration = Duration::from_secs(10);

/// pytest-timeout (entry point `timeout`) is loaded by the workers' pytest.
fn timeout_plugin_loaded(args: &TestArgs, discovery: &Discovery, pool: &PoolConfig) -> bool {
    let python = crate::pytest_probe::interpreter(args);
    crate::plugins::loaded(
        &pool.pytest_args,
        discovery,
        &python,
        &["timeout", "pytest_timeout"],
    )
}

/// `--cov` (pytest-cov) among the run's pytest options: the workers measure into a private
/// directory, the run combines and reports ([`crate::cov`]). pytest-cov starts measuring
/// before the conftests load, so the workers run pytest's engine and preload nothing that
/// could be the measured code (the zygote itself imports only pytest and the worker).
fn start_coverage(
    discovery: &Discovery,
    pool: &mut PoolConfig,
) -> anyhow::Result<Option<crate::cov::Coverage>> {
    if !crate::cov::wanted(&discovery.config.args.unknown) {
        return Ok(None);
    }
    let python = pool.resolve().context("finding the interpreter")?.python;
    let coverage = crate::cov::Coverage::start(
        &python,
        &discovery.config.invocation_dir,
        render::terminal_width(),
    )?;
    pool.env.push(coverage.worker_env());
    pool.engine = dxpy_runner::protocol::Engine::Pytest;
    pool.preload.clear();
    Ok(Some(coverage))
}

/// pytest's `--cache-clear` also drops `@dx.fixture(cache=True)`'s store
/// (`dx_py_test_runner`); once, here, before any worker could store a value (the option
/// still reaches the workers' pytest, which clears `.pytest_cache` as it would).
fn clear_fixture_cache(args: &TestArgs, discovery: &Discovery) -> anyhow::Result<()> {
    if !args.pytest.passthrough.iter().any(|a| a == "--cache-clear") {
        return Ok(());
    }
    let Some(root) = session::cache_root() else {
        return Ok(());
    };
    let project = session::project_cache_dir(&root, &discovery.config.rootdir);
    dxpy_python::fixture_cache::clear(&project)
        .with_context(|| format!("clearing the fixture cache in {}", project.display()))
}

/// `[tool.dx-py] preload = ["numpy", ...]` in the project's pyproject.toml: modules every
/// worker imports before its first test.
fn preload_modules(pyproject: &Path) -> anyhow::Result<Vec<String>> {
    crate::config::string_list(pyproject, "preload")
}

/// The node IDs that failed in earlier runs: a JSON list, validated; anything else is empty.
fn load_last_failed(dir: &Path) -> BTreeSet<String> {
    std::fs::read(dir.join(LAST_FAILED_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok())
        .map(|ids| ids.into_iter().collect())
        .unwrap_or_default()
}

/// A failure recorded for a node below directory `dir` (rootdir-relative, `""`: anywhere).
fn is_recorded_below(recorded: &BTreeSet<String>, dir: &str) -> bool {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    recorded
        .range(prefix.clone()..)
        .next()
        .is_some_and(|r| r.starts_with(&prefix))
}

/// Recorded failures inside a hook tree that are not discovery items: hook-made items.
fn hook_failures(recorded: &BTreeSet<String>, trees: &[HookTree], items: &[String]) -> Vec<String> {
    let known: BTreeSet<&str> = items.iter().map(String::as_str).collect();
    let in_tree = |id: &str| {
        let path = id.split("::").next().unwrap_or(id);
        trees.iter().any(|tree| {
            tree.root.is_empty()
                || path
                    .strip_prefix(tree.root.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    };
    recorded
        .iter()
        .filter(|id| id.contains("::") && !known.contains(id.as_str()) && in_tree(id))
        // A Python test module's items are discovery's (deselected ones included).
        .filter(|id| !id.split("::").next().unwrap_or(id).ends_with(".py"))
        .cloned()
        .collect()
}

/// A failure recorded for this node, or for the function it parametrizes (dynamic IDs).
fn is_recorded_failure(recorded: &BTreeSet<String>, node_id: &str) -> bool {
    if recorded.contains(node_id) {
        return true;
    }
    // The set is sorted: the first entry at or after `node_id[` is the only candidate, so this
    // stays a lookup instead of a scan per test.
    let prefix = format!("{node_id}[");
    recorded
        .range(prefix.clone()..)
        .next()
        .is_some_and(|r| r.starts_with(&prefix))
}

/// pytest's cacheprovider rule: tests that passed now leave the set, new failures join it.
fn save_last_failed(
    dir: &Path,
    mut recorded: BTreeSet<String>,
    failed: &BTreeSet<String>,
    passed: &BTreeSet<String>,
) {
    recorded.retain(|id| !passed.contains(id));
    recorded.extend(failed.iter().cloned());
    let ids: Vec<&String> = recorded.iter().collect();
    let result = serde_json::to_vec(&ids)
        .map_err(std::io::Error::other)
        .and_then(|bytes| dxpy_fs::write_private_atomic(&dir.join(LAST_FAILED_FILE), &bytes));
    if let Err(err) = result {
        eprintln!("dx-py: last-failed state not saved: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_failures_are_recorded_ids_below_a_hook_tree_that_discovery_does_not_list() {
        let recorded: BTreeSet<String> = [
            "data/a.yaml::x",
            "data/test_m.py::test_deselected",
            "data/test_m.py::test_listed",
            "other/b.yaml::y",
            "database/c.yaml::z",
        ]
        .map(String::from)
        .into();
        let trees = [HookTree {
            root: "data".into(),
            subdirs: Vec::new(),
        }];
        let items = ["data/test_m.py::test_listed".to_owned()];
        assert_eq!(hook_failures(&recorded, &trees, &items), ["data/a.yaml::x"]);
        assert!(is_recorded_below(&recorded, "data"));
        assert!(is_recorded_below(&recorded, ""));
        assert!(!is_recorded_below(&recorded, "dat"));
        assert!(!is_recorded_below(&recorded, "data/sub"));
    }

    #[test]
    fn a_function_id_matches_its_recorded_parametrizations_only() {
        let recorded: BTreeSet<String> = ["a.py::test_x[2]", "a.py::test_xA", "b.py::test_y"]
            .map(String::from)
            .into();
        assert!(is_recorded_failure(&recorded, "a.py::test_x"));
        assert!(is_recorded_failure(&recorded, "b.py::test_y"));
        assert!(!is_recorded_failure(&recorded, "a.py::test"));
        assert!(!is_recorded_failure(&recorded, "b.py::test"));
        assert!(!is_recorded_failure(&recorded, "a.py::test_x[1]"));
    }
}
