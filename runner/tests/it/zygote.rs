//! Warm start with real processes: one shared zygote serving several runs (no state leaks,
//! changed sources seen, other rootdirs), crash replacement by fork, the zygote killed
//! mid-run (fallback to spawning), start-up environment mismatch, the preload rule, no
//! zombies or orphans (/proc), and the start latency of spawn vs fork (printed).
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::runs::*;
use crate::support::*;
use dxpy_runner::pool::{ExitReason, PoolConfig, WarmStart, WorkerProcess, Zygote, ZygoteSpec};
use dxpy_runner::run::{Incident, Run, RunConfig, RunEvent};
use dxpy_runner::scheduler::{plan, DurationStore, SplitPolicy, UnitKind, WorkUnit};

fn shared_zygote(pool: &PoolConfig) -> Arc<Zygote> {
    Zygote::start(&ZygoteSpec::for_pool(pool).unwrap()).unwrap()
}

fn unit(node_ids: &[&str]) -> Vec<WorkUnit> {
    vec![WorkUnit {
        key: node_ids.join(","),
        first_index: 0,
        node_ids: node_ids.iter().map(|s| s.to_string()).collect(),
        kind: UnitKind::Tests,
    }]
}

fn notices(events: &[RunEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Notice { message } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

const ISOLATION_TESTS: &str = r#"
import sys
import helper

def test_import_leaky():
    import dxpy_leaky
    assert dxpy_leaky.LOADED

def test_leaky_not_loaded():
    assert "dxpy_leaky" not in sys.modules

def test_helper_value():
    with open("expected.txt") as f:
        assert helper.VALUE == int(f.read())
"#;

fn project(root: &Path, value: u32) {
    std::fs::write(root.join("pytest.ini"), "[pytest]\n").unwrap();
    std::fs::write(root.join("test_iso.py"), ISOLATION_TESTS).unwrap();
    std::fs::write(root.join("dxpy_leaky.py"), "LOADED = True\n").unwrap();
    std::fs::write(root.join("helper.py"), format!("VALUE = {value}\n")).unwrap();
    std::fs::write(root.join("expected.txt"), value.to_string()).unwrap();
}

#[test]
fn a_shared_zygote_serves_runs_without_leaks_and_sees_changed_sources() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let (root_a, root_b) = (
        first.path().canonicalize().unwrap(),
        second.path().canonicalize().unwrap(),
    );
    project(&root_a, 1);
    project(&root_b, 3);
    let zygote = shared_zygote(&config(&root_a, 1, Mode::Zygote).pool);
    let run_on = |root: &Path, node_ids: &[&str]| {
        // A fresh PoolConfig per request, as the Bazel worker builds them.
        let mut config = config(root, 1, Mode::Zygote);
        config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
        let (events, summary) = execute(config, unit(node_ids));
        assert_eq!(
            (summary.passed, summary.failed, summary.errors),
            (node_ids.len() as u32, 0, 0),
            "{events:#?}"
        );
        worker_pids(&events)
    };
    let mut pids = run_on(
        &root_a,
        &[
            "test_iso.py::test_import_leaky",
            "test_iso.py::test_helper_value",
        ],
    );
    // The source changes between runs; the next worker must see the new value.
    std::fs::write(root_a.join("helper.py"), "VALUE = 22\n").unwrap();
    std::fs::write(root_a.join("expected.txt"), "22").unwrap();
    pids.extend(run_on(
        &root_a,
        &[
            "test_iso.py::test_leaky_not_loaded",
            "test_iso.py::test_helper_value",
        ],
    ));
    // Another rootdir on the same zygote: its own helper.py (3), not the first project's.
    pids.extend(run_on(&root_b, &["test_iso.py::test_helper_value"]));
    assert_eq!(pids.len(), 3, "one fresh worker per run: {pids:?}");
    assert!(zygote.is_alive());
    // Every worker was released and reaped: the zygote holds no zombie.
    assert_no_children(zygote.pid());
    assert_no_orphans(&pids);
    let zygote_pid = zygote.pid();
    drop(zygote);
    assert_eq!(proc_stat(zygote_pid), None, "the zygote was not reaped");
}

const EXIT_TESTS: &str = r#"
import atexit
import gc
import os

def test_the_zygotes_heap_is_frozen():
    assert gc.get_freeze_count() > 0

def test_register_an_atexit_handler():
    path = os.path.join(os.getcwd(), "atexit.txt")

    def write():
        with open(path, "w") as f:
            f.write("ran")

    atexit.register(write)

# Never closed: only the exit's flush writes its buffered text.
LEAKED = open(os.path.join(os.getcwd(), "leaked.txt"), "w")

def test_write_to_a_leaked_file():
    LEAKED.write("tail")
"#;

/// A forked worker skips the interpreter's module teardown at exit (`_exit_forked`) but still
/// runs the `atexit` handlers tests registered and flushes files left open, and it inherits
/// the zygote's frozen heap.
#[test]
fn a_forked_worker_runs_atexit_handlers_flushes_open_files_and_inherits_a_frozen_heap() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::write(root.join("pytest.ini"), "[pytest]\n").unwrap();
    std::fs::write(root.join("test_exit.py"), EXIT_TESTS).unwrap();
    let mut config = config(&root, 1, Mode::Zygote);
    let zygote = shared_zygote(&config.pool);
    config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
    let node_ids = [
        "test_exit.py::test_the_zygotes_heap_is_frozen",
        "test_exit.py::test_register_an_atexit_handler",
        "test_exit.py::test_write_to_a_leaked_file",
    ];
    let (events, summary) = execute(config, unit(&node_ids));
    assert_eq!((summary.passed, summary.failed), (3, 0), "{events:#?}");
    let pids = worker_pids(&events);
    assert_eq!(pids.len(), 1, "{pids:?}");
    // The run is over once the worker's results are in; its exit may trail a little.
    let marker = root.join("atexit.txt");
    let waited = Instant::now();
    while !marker.exists() && waited.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran");
    assert_eq!(
        std::fs::read_to_string(root.join("leaked.txt")).unwrap(),
        "tail"
    );
    assert_no_orphans(&pids);
}

#[test]
fn a_crashed_worker_is_replaced_by_a_fork_and_its_signal_reported() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_crash_segv.py", "test_fine.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 1, Mode::Zygote);
    let zygote = shared_zygote(&config.pool);
    config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
    // `execute` checks each worker's parent is the shared zygote.
    let (events, summary) = execute(config, units);
    let crashes: Vec<ExitReason> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Incident {
                incident: Incident::Crash { reason, .. },
                ..
            } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(crashes, [ExitReason::Signal(11)]);
    assert_eq!(summary.failed, 1);
    let pids = worker_pids(&events);
    assert!(pids.len() >= 2, "the crash needs a replacement: {pids:?}");
    assert_no_children(zygote.pid());
    assert_no_orphans(&pids);
}

#[test]
fn a_zygote_killed_mid_run_leaves_the_run_to_spawned_workers() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_fine.py"]);
    let expected: BTreeSet<String> = modules.iter().flat_map(|m| m.node_ids.clone()).collect();
    // One unit per test.
    let units: Vec<WorkUnit> = expected
        .iter()
        .flat_map(|id| unit(&[id.as_str()]))
        .collect();
    assert!(units.len() >= 3);
    let mut config = config(&root, 1, Mode::Zygote);
    // Each unit needs a new worker: after the kill they can only be spawned.
    config.pool.max_batches_per_worker = 1;
    let zygote = shared_zygote(&config.pool);
    let zygote_pid = zygote.pid();
    config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
    let mut killed = false;
    let mut events = Vec::new();
    let summary = Run::new(config)
        .execute(units, |event| {
            if !killed && matches!(event, RunEvent::WorkerStarted { .. }) {
                let pid = rustix::process::Pid::from_raw(zygote_pid as i32).unwrap();
                rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
                killed = true;
            }
            events.push(event);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(killed);
    let reported: BTreeSet<String> = every_report_exactly_once(&events).into_keys().collect();
    assert_eq!(reported, expected);
    assert_eq!((summary.failed, summary.errors, summary.not_run), (0, 0, 0));
    let notices = notices(&events);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("warm start disabled"), "{notices:?}");
    assert!(!zygote.is_alive());
    let pids = worker_pids(&events);
    assert!(pids.len() >= 3, "{pids:?}");
    assert_no_orphans(&pids);
    drop(zygote);
    assert_eq!(
        proc_stat(zygote_pid),
        None,
        "the killed zygote was not reaped"
    );
}

#[test]
fn a_different_start_up_environment_is_spawned_not_forked() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_fails.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 1, Mode::Zygote);
    let zygote = shared_zygote(&config.pool);
    config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
    // The hash seed is fixed at interpreter start: a fork cannot honour it.
    config.pool.env.push(("PYTHONHASHSEED".into(), "7".into()));
    // `execute_allowing_fallback` checks the workers after the notice were spawned.
    let (events, summary) = execute_allowing_fallback(config, units);
    let notices = notices(&events);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("PYTHON*"), "{notices:?}");
    assert_eq!((summary.failed, summary.passed), (2, 1));
    assert!(
        zygote.is_alive(),
        "a mismatch must not stop a shared zygote"
    );
}

#[test]
fn the_zygote_imports_installed_preloads_only() {
    let root = fixture_root("pool_suite");
    let mut pool = config(&root, 1, Mode::Zygote).pool;
    // preload_marker lives in the project: each worker imports it, never the zygote.
    pool.preload = ["json", "preload_marker", "no_such_module_dxpy"]
        .map(String::from)
        .to_vec();
    let zygote = shared_zygote(&pool);
    let report = zygote.preload_report();
    assert_eq!(report.imported, ["pytest", "json"]);
    let skipped: Vec<&str> = report.skipped.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(skipped, ["preload_marker", "no_such_module_dxpy"]);
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(!zygote.pytest_version().is_empty());
    // Workers still get the project module through their Preload request.
    let mut config = config(&root, 1, Mode::Zygote);
    config.pool.preload = pool.preload.clone();
    config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
    let modules = collect(&root, &["test_preload.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let (events, summary) = execute(config, units);
    assert_eq!((summary.passed, summary.failed), (1, 0), "{events:#?}");
}

/// Time from asking for a worker to its Ready, spawned vs forked; printed, not asserted
/// (`cargo test -p dxpy_runner --test it start_latency -- --nocapture`).
#[test]
fn start_latency_spawn_vs_fork() {
    const SAMPLES: usize = 5;
    let root = fixture_root("pool_suite");
    let config: RunConfig = config(&root, 1, Mode::Zygote);
    let pool = config.pool;
    let resolved = pool.resolve().unwrap();
    let median = |mut samples: Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let mut spawned = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let (worker, _) = WorkerProcess::spawn(&pool, &resolved, None).unwrap();
        spawned.push(started.elapsed());
        assert!(!worker.is_forked());
    }
    let started = Instant::now();
    let zygote = shared_zygote(&pool);
    let zygote_start = started.elapsed();
    let mut forked = Vec::new();
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let child = zygote.fork_worker(&pool, &resolved).unwrap();
        let (worker, _) = WorkerProcess::adopt(child, &pool, &resolved, None).unwrap();
        forked.push(started.elapsed());
        assert!(worker.is_forked());
        assert_eq!(parent_of(worker.pid()), Some(zygote.pid()));
    }
    eprintln!(
        "worker start to Ready (pytest engine, median of {SAMPLES}): spawn {:.1} ms, fork {:.1} ms; \
         zygote start {:.1} ms",
        median(spawned).as_secs_f64() * 1e3,
        median(forked).as_secs_f64() * 1e3,
        zygote_start.as_secs_f64() * 1e3,
    );
    // Dropped workers are killed and released.
    assert_no_children(zygote.pid());
}

/// A run with a spare slot remembers its configuration; spares made like it (one per worker
/// slot) serve the next run with the same configuration (its worker is the first slot's
/// spare), one with other pytest arguments kills it and forks its own; one worker per unit
/// at most is started.
#[test]
fn a_spare_serves_the_next_equal_run_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    project(&root, 1);
    let slot = Arc::new(dxpy_runner::pool::SpareSlot::default());
    let zygote = shared_zygote(&config(&root, 2, Mode::Zygote).pool);
    let run = |extra: &[&str]| {
        let mut config = config(&root, 2, Mode::Zygote);
        config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
        config.pool.spare = Some(Arc::clone(&slot));
        config
            .pool
            .pytest_args
            .extend(extra.iter().map(|a| a.to_string()));
        let (events, summary) = execute(config, unit(&["test_iso.py::test_helper_value"]));
        assert_eq!((summary.passed, summary.failed), (1, 0), "{events:#?}");
        worker_pids(&events)
    };
    let first = run(&[]);
    slot.replenish().unwrap();
    assert_eq!(first.len(), 1, "one unit, one worker: {first:?}");
    assert_eq!(
        slot.pids().len(),
        2,
        "a spare per worker slot: {:?}",
        slot.stats()
    );
    let spare = slot.pid();
    assert!(spare.is_some(), "{:?}", slot.stats());
    let second = run(&[]);
    assert_eq!(second, [spare.unwrap()], "the spare ran the second run");
    assert_eq!(slot.stats().used, 1);
    // The second slot's spare belongs to the run that ended: replaced with the next run's.
    slot.replenish().unwrap();
    let waiting = slot.pid().unwrap();
    let discarded = slot.stats().discarded;
    let third = run(&["-p", "no:cacheprovider"]);
    assert_eq!(slot.stats().used, 1, "{:?}", slot.stats());
    assert_eq!(slot.stats().resumed, 0, "{:?}", slot.stats());
    // The slot's started spare and its parked one: neither was made for these options.
    assert_eq!(slot.stats().discarded, discarded + 2);
    assert_eq!(third.len(), 1);
    assert!(
        !third.contains(&waiting),
        "{third:?} took the spare {waiting}"
    );
    slot.clear("the test ends");
    assert!(slot.pid().is_none());
}

/// Project code changed after the spares were made: the started spare (whose conftest
/// imported it) is discarded, and the run resumes the parked one, which loads the code as
/// it is now.
#[test]
fn a_parked_spare_serves_a_run_after_project_code_changed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    project(&root, 1);
    std::fs::write(
        root.join("conftest.py"),
        "import helper
",
    )
    .unwrap();
    let slot = Arc::new(dxpy_runner::pool::SpareSlot::default());
    let zygote = shared_zygote(&config(&root, 1, Mode::Zygote).pool);
    let run = || {
        let mut config = config(&root, 1, Mode::Zygote);
        config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
        config.pool.spare = Some(Arc::clone(&slot));
        let (events, summary) = execute(config, unit(&["test_iso.py::test_helper_value"]));
        assert_eq!((summary.passed, summary.failed), (1, 0), "{events:#?}");
        worker_pids(&events)
    };
    run();
    slot.replenish().unwrap();
    let parked = slot.parked_pids();
    assert_eq!(parked.len(), 1, "{:?}", slot.stats());
    assert_eq!(slot.pids().len(), 1, "{:?}", slot.stats());
    project(&root, 5);
    slot.discard_started("helper.py changed");
    assert!(slot.pids().is_empty());
    assert_eq!(
        run(),
        parked,
        "the parked spare ran the run: {:?}",
        slot.stats()
    );
    assert_eq!((slot.stats().used, slot.stats().resumed), (0, 1));
    slot.clear("the test ends");
    assert!(slot.parked_pids().is_empty());
}

/// With two units and two workers, both workers of the next equal run are the spares made
/// for their slots.
#[test]
fn every_worker_slot_takes_its_own_spare() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    project(&root, 1);
    let slot = Arc::new(dxpy_runner::pool::SpareSlot::default());
    let zygote = shared_zygote(&config(&root, 2, Mode::Zygote).pool);
    let run = || {
        let mut config = config(&root, 2, Mode::Zygote);
        config.pool.warm_start = WarmStart::Shared(Arc::clone(&zygote));
        config.pool.spare = Some(Arc::clone(&slot));
        let mut units = unit(&["test_iso.py::test_helper_value"]);
        let mut second = unit(&["test_iso.py::test_leaky_not_loaded"]).remove(0);
        second.first_index = 1;
        units.push(second);
        let (events, summary) = execute(config, units);
        assert_eq!((summary.passed, summary.failed), (2, 0), "{events:#?}");
        let mut pids = worker_pids(&events);
        pids.sort_unstable();
        pids.dedup();
        pids
    };
    run();
    slot.replenish().unwrap();
    let mut spares = slot.pids();
    spares.sort_unstable();
    assert_eq!(spares.len(), 2, "{:?}", slot.stats());
    assert_eq!(
        run(),
        spares,
        "both workers were spares: {:?}",
        slot.stats()
    );
    assert_eq!(slot.stats().used, 2);
    slot.clear("the test ends");
}
