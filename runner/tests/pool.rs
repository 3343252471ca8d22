//! The pool and scheduler with real worker processes: equivalence with real pytest on a
//! multi-module suite, crash and hang containment, maxfail, recycling, no orphans.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dxpy_runner::pool::PoolConfig;
use dxpy_runner::protocol::{Engine, Outcome, Phase};
use dxpy_runner::run::{Incident, NotRunReason, Run, RunConfig, RunEvent, RunSummary, StopReason};
use dxpy_runner::scheduler::{plan, DurationStore, LoadStatus, ModuleTests, SplitPolicy, WorkUnit};
use support::*;

/// Node IDs as real pytest collects them, grouped by file; a requested file that yields no
/// node ID (a collection error) becomes a unit requesting the file itself.
fn collect(root: &Path, files: &[&str]) -> Vec<ModuleTests> {
    let out = Command::new(python())
        .args([
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .args(files)
        .current_dir(root)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut by_path: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.contains("::") && !l.contains(' '))
    {
        let path = line.split("::").next().unwrap().to_owned();
        by_path.entry(path).or_default().push(line.to_owned());
    }
    let mut modules: Vec<ModuleTests> = Vec::new();
    for file in files {
        let file = file.trim_end_matches('/');
        let matching: Vec<String> = by_path
            .keys()
            .filter(|p| *p == file || p.starts_with(&format!("{file}/")))
            .cloned()
            .collect();
        if matching.is_empty() {
            modules.push(ModuleTests {
                path: file.to_owned(),
                node_ids: vec![file.to_owned()],
            });
        }
        for path in matching {
            let node_ids = by_path.remove(&path).unwrap();
            modules.push(ModuleTests { path, node_ids });
        }
    }
    modules
}

fn config(root: &Path, workers: usize) -> RunConfig {
    require_pytest();
    let mut pool = PoolConfig::new(root);
    pool.workers = workers;
    pool.python = Some(PathBuf::from(python()));
    pool.worker_path = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker"));
    pool.engine = Engine::Pytest;
    pool.output_limit = OUTPUT_LIMIT;
    pool.env = vec![("PYTHONDONTWRITEBYTECODE".into(), "1".into())];
    RunConfig {
        pool,
        maxfail: None,
        interrupt: None,
    }
}

/// Runs to the end, collecting every event.
fn execute(config: RunConfig, units: Vec<WorkUnit>) -> (Vec<RunEvent>, RunSummary) {
    let mut events = Vec::new();
    let summary = Run::new(config)
        .execute(units, |event| {
            events.push(event);
            ControlFlow::Continue(())
        })
        .unwrap();
    (events, summary)
}

/// The events in the shape the worker tests compare with pytest.
fn as_batch(events: &[RunEvent]) -> Batch {
    let mut batch = Batch::default();
    for event in events {
        match event {
            RunEvent::Report { result, .. } | RunEvent::Incident { result, .. } => {
                batch.items.push(result.clone())
            }
            RunEvent::CollectError { report, .. } => batch.collect_errors.push(report.clone()),
            _ => {}
        }
    }
    batch
}

fn worker_pids(events: &[RunEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::WorkerStarted { ready, .. } => Some(ready.pid),
            _ => None,
        })
        .collect()
}

/// A pid that is gone, or a zombie waiting for a reaper outside our control, is not running.
fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

fn assert_no_orphans(pids: &[u32]) {
    assert!(!pids.is_empty(), "no pids to check");
    // A killed grandchild is re-parented and reaped asynchronously.
    for _ in 0..50 {
        if pids.iter().all(|pid| !is_running(*pid)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let alive: Vec<u32> = pids.iter().copied().filter(|p| is_running(*p)).collect();
    panic!("processes left running after the run: {alive:?}");
}

fn grandchild_pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

fn every_report_exactly_once(events: &[RunEvent]) -> BTreeMap<String, u32> {
    let mut finished: BTreeMap<String, u32> = BTreeMap::new();
    for event in events {
        match event {
            RunEvent::Report { result, .. } | RunEvent::Incident { result, .. }
                if result.item_finished =>
            {
                *finished.entry(result.node_id.clone()).or_default() += 1;
            }
            _ => {}
        }
    }
    for (node_id, count) in &finished {
        assert_eq!(*count, 1, "{node_id} finished {count} times");
    }
    finished
}

#[test]
fn two_workers_give_pytests_outcomes_and_record_durations() {
    let root = fixture_root("pytest_suite");
    let files = [
        "test_outcomes.py",
        "test_unittest_cases.py",
        "test_module_skip.py",
        "test_noisy.py",
        "test_flood.py",
        "test_collect_error.py",
        "sub/",
    ];
    let modules = collect(&root, &files);
    // A corrupt store is rebuilt, and the run's durations replace it.
    let store_dir = tempfile::tempdir().unwrap();
    let store_path = store_dir.path().join("durations.json");
    std::fs::write(&store_path, b"{\"version\": 1, \"units\": {\"x\": ").unwrap();
    let (mut store, status) = DurationStore::load(&store_path);
    assert!(matches!(status, LoadStatus::Rebuilt { .. }), "{status:?}");
    let units = plan(&modules, &store, SplitPolicy { max_unit_tests: 8 });
    assert!(
        units.len() > modules.len(),
        "a large module must be split by class"
    );

    let (events, summary) = execute(config(&root, 2), units.clone());
    // Real pytest aborts the whole run on a collection error unless told to go on; the pool
    // always goes on (the CLI decides whether to run when discovery found errors).
    let mut args = files.to_vec();
    args.push("--continue-on-collection-errors");
    let reference = run_pytest(&root, &args, &[]);
    let batch = as_batch(&events);
    assert_matches_pytest(&[&batch], &reference);
    every_report_exactly_once(&events);
    assert_eq!(summary.incidents, 0);
    assert_eq!(summary.not_run, 0, "{events:#?}");
    assert_eq!(summary.stop, None);
    // Both slots took work.
    let slots: BTreeSet<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::UnitFinished { worker, .. } => Some(*worker),
            _ => None,
        })
        .collect();
    assert_eq!(slots.len(), 2, "work was not spread over both workers");
    // The output flood stays capped through the pool.
    let flood = find(&batch, "test_flood.py::test_ten_megabytes", Phase::Call);
    assert!(flood.output_truncated);
    assert!(flood.stdout.len() <= OUTPUT_LIMIT as usize + 200);

    for (key, seconds) in &summary.unit_durations {
        store.record(key, *seconds);
    }
    store.save(&store_path).unwrap();
    let (reloaded, status) = DurationStore::load(&store_path);
    assert_eq!(status, LoadStatus::Loaded { units: units.len() });
    for unit in &units {
        assert!(
            reloaded.get(&unit.key).is_some(),
            "no duration for {}",
            unit.key
        );
    }
    assert_no_orphans(&worker_pids(&events));
}

#[test]
fn crashes_are_reported_with_their_reason_and_the_rest_still_runs() {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log("pool_crash_pids");
    let modules = collect(
        &root,
        &[
            "test_crash_exit.py",
            "test_crash_segv.py",
            "test_crash_kill.py",
            "test_fine.py",
        ],
    );
    let expected: BTreeSet<String> = modules.iter().flat_map(|m| m.node_ids.clone()).collect();
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2);
    config
        .pool
        .env
        .push(("DXPY_POOL_PIDS".into(), pids_file.clone().into()));
    let (events, summary) = execute(config, units);

    let finished = every_report_exactly_once(&events);
    let reported: BTreeSet<String> = finished.keys().cloned().collect();
    assert_eq!(reported, expected, "every test reported exactly once");
    let incidents: BTreeMap<String, String> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Incident {
                incident: Incident::Crash { .. },
                result,
                ..
            } => {
                assert_eq!(result.outcome, Outcome::Failed);
                Some((result.node_id.clone(), result.longrepr.clone()))
            }
            _ => None,
        })
        .collect();
    let crashed: Vec<&str> = incidents.keys().map(String::as_str).collect();
    assert_eq!(
        crashed,
        [
            "test_crash_exit.py::test_os_exit",
            "test_crash_kill.py::test_sigkill",
            "test_crash_segv.py::test_segv"
        ]
    );
    assert!(incidents["test_crash_exit.py::test_os_exit"].contains("exit code 3"));
    assert!(incidents["test_crash_kill.py::test_sigkill"].contains("signal SIGKILL (9)"));
    let segv = &incidents["test_crash_segv.py::test_segv"];
    assert!(segv.contains("signal SIGSEGV (11)"), "{segv}");
    // pytest's faulthandler writes to the worker's real stderr: the report quotes it.
    assert!(segv.contains("Segmentation fault"), "{segv}");
    // Everything else passed (or was skipped) on a fresh worker.
    for event in &events {
        if let RunEvent::Report { result, .. } = event {
            if result.in_summary {
                assert!(
                    matches!(result.outcome, Outcome::Passed | Outcome::Skipped),
                    "{result:?}"
                );
            }
        }
    }
    assert_eq!(summary.failed, 3);
    assert_eq!(
        summary.passed + summary.skipped + summary.failed,
        expected.len() as u32
    );
    assert_eq!(summary.not_run, 0);
    let mut pids = worker_pids(&events);
    assert!(pids.len() >= 4, "each crash needs a fresh worker: {pids:?}");
    pids.extend(grandchild_pids(&pids_file));
    assert_no_orphans(&pids);
}

#[test]
fn a_hang_is_killed_at_the_timeout_and_the_rest_runs() {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log("pool_hang_pids");
    let modules = collect(&root, &["test_hang.py", "test_fine.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2);
    config.pool.test_timeout = Some(Duration::from_secs(3));
    config
        .pool
        .env
        .push(("DXPY_POOL_PIDS".into(), pids_file.clone().into()));
    let (events, summary) = execute(config, units);
    let finished = every_report_exactly_once(&events);
    assert_eq!(finished.len(), 6);
    let timeouts: Vec<(&str, &str, Outcome)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Incident {
                incident: Incident::Timeout { .. },
                result,
                ..
            } => Some((
                result.node_id.as_str(),
                result.longrepr.as_str(),
                result.outcome,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        timeouts,
        [("test_hang.py::test_hang", "Timeout (>3s)", Outcome::Failed)]
    );
    let after = events.iter().any(|e| {
        matches!(e,
        RunEvent::Report { result, .. }
            if result.node_id == "test_hang.py::test_after_hang" && result.phase == Phase::Call
                && result.outcome == Outcome::Passed)
    });
    assert!(after, "the test after the hang did not run");
    assert_eq!(summary.failed, 1);
    let mut pids = worker_pids(&events);
    let grandchildren = grandchild_pids(&pids_file);
    assert_eq!(grandchildren.len(), 1);
    pids.extend(grandchildren);
    assert_no_orphans(&pids);
}

#[test]
fn interrupt_flag_cancels_while_a_test_hangs_and_no_event_arrives() {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log("pool_interrupt_pids");
    let modules = collect(&root, &["test_hang.py"]);
    let units: Vec<WorkUnit> = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 1);
    config
        .pool
        .env
        .push(("DXPY_POOL_PIDS".into(), pids_file.clone().into()));
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    config.interrupt = Some(std::sync::Arc::clone(&flag));
    // Like a Ctrl-C handler: set from another thread once the hang is under way, while the
    // run's callback is not being called at all.
    let setter = {
        let flag = std::sync::Arc::clone(&flag);
        let pids_file = pids_file.clone();
        std::thread::spawn(move || {
            while grandchild_pids(&pids_file).is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let mut events = Vec::new();
    let summary = Run::new(config)
        .execute(units, |event| {
            events.push(event);
            ControlFlow::Continue(())
        })
        .unwrap();
    setter.join().unwrap();
    assert!(summary.not_run > 0, "{events:#?}");
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::NotRun {
            reason: NotRunReason::Cancelled,
            ..
        }
    )));
    let mut pids = worker_pids(&events);
    pids.extend(grandchild_pids(&pids_file));
    assert_no_orphans(&pids);
}

#[test]
fn cancelling_early_kills_every_worker_and_grandchild() {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log("pool_cancel_pids");
    let modules = collect(&root, &["test_hang.py", "test_slow.py"]);
    let units: Vec<WorkUnit> = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2);
    config
        .pool
        .env
        .push(("DXPY_POOL_PIDS".into(), pids_file.clone().into()));
    let mut events = Vec::new();
    let mut broke = false;
    let summary = Run::new(config)
        .execute(units, |event| {
            events.push(event);
            // Stop once the hanging test has started its grandchild.
            if !broke && !grandchild_pids(&pids_file).is_empty() {
                broke = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(broke, "the hanging test never started: {events:#?}");
    assert_eq!(summary.stop, Some(StopReason::Cancelled));
    assert!(summary.not_run > 0);
    let mut pids = worker_pids(&events);
    pids.extend(grandchild_pids(&pids_file));
    assert_no_orphans(&pids);
}

#[test]
fn maxfail_stops_scheduling_after_the_running_unit() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_fails.py", "test_fine.py"]);
    // One worker and a fixed order: test_fails.py runs first.
    let units: Vec<WorkUnit> = modules
        .iter()
        .map(|m| WorkUnit {
            key: m.path.clone(),
            node_ids: m.node_ids.clone(),
            first_index: 0,
        })
        .collect();
    let mut config = config(&root, 1);
    config.maxfail = Some(1);
    let (events, summary) = execute(config, units);
    assert_eq!(summary.stop, Some(StopReason::MaxFail(1)));
    // The running unit finished: both failures and the pass were reported.
    assert_eq!((summary.failed, summary.passed), (2, 1));
    let not_run: BTreeSet<(&str, &NotRunReason)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::NotRun { node_id, reason } => Some((node_id.as_str(), reason)),
            _ => None,
        })
        .collect();
    let expected: BTreeSet<(&str, &NotRunReason)> = modules[1]
        .node_ids
        .iter()
        .map(|n| (n.as_str(), &NotRunReason::Stopped))
        .collect();
    assert_eq!(not_run, expected);
    assert!(!NotRunReason::Stopped.is_error());
    assert_no_orphans(&worker_pids(&events));
}

#[test]
fn workers_are_recycled_after_their_batch_budget() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_fails.py", "test_fine.py"]);
    let units = plan(
        &modules,
        &DurationStore::default(),
        SplitPolicy { max_unit_tests: 1 },
    );
    assert_eq!(
        units.len(),
        3,
        "test_fine.py splits into functions and TestGroup"
    );
    let mut config = config(&root, 1);
    config.pool.max_batches_per_worker = 1;
    let (events, summary) = execute(config, units);
    let pids = worker_pids(&events);
    assert_eq!(pids.len(), 3, "one worker per batch");
    let exits = events
        .iter()
        .filter(|e| matches!(e, RunEvent::WorkerExited { .. }))
        .count();
    assert_eq!(exits, 3);
    assert_eq!((summary.failed, summary.passed, summary.skipped), (2, 3, 1));
    assert_no_orphans(&pids);
}

#[test]
fn missing_worker_package_is_an_error_not_a_hang() {
    let root = fixture_root("pool_suite");
    let mut config = config(&root, 1);
    let empty = tempfile::tempdir().unwrap();
    config.pool.worker_path = Some(empty.path().to_path_buf());
    let err = Run::new(config)
        .execute(Vec::new(), |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(err.to_string().contains("dxpy_worker"), "{err}");
}

#[test]
fn a_broken_interpreter_leaves_every_test_reported_as_lost() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_fine.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2);
    config.pool.python = Some(PathBuf::from("/nonexistent/python"));
    let (events, summary) = execute(config, units);
    let lost: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::NotRun {
                node_id,
                reason: NotRunReason::WorkerLost(message),
            } => {
                assert!(message.contains("/nonexistent/python"), "{message}");
                Some(node_id.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        lost,
        modules[0]
            .node_ids
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(summary.errors, 3);
}

#[test]
fn preloaded_modules_are_imported_before_the_first_batch() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_preload.py"]);
    let outcome_with = |preload: &[&str]| {
        let mut config = config(&root, 1);
        config.pool.preload = preload.iter().map(|m| m.to_string()).collect();
        let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
        execute(config, units)
    };
    let (events, summary) = outcome_with(&["preload_marker", "no_such_module_dxpy"]);
    assert_eq!((summary.passed, summary.failed), (1, 0), "{events:#?}");
    let warnings: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Log { record, .. } => Some(record.message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("no_such_module_dxpy"), "{warnings:?}");
    // Without the preload the same test fails: the check above is not vacuous.
    let (_, summary) = outcome_with(&[]);
    assert_eq!((summary.passed, summary.failed), (0, 1));
}

#[test]
fn a_panicking_callback_still_kills_the_workers() {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log("pool_panic_pids");
    let modules = collect(&root, &["test_hang.py", "test_slow.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2);
    config
        .pool
        .env
        .push(("DXPY_POOL_PIDS".into(), pids_file.clone().into()));
    let started = std::time::Instant::now();
    let pids = std::sync::Mutex::new(Vec::new());
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Run::new(config).execute(units, |event| {
            if let RunEvent::WorkerStarted { ready, .. } = &event {
                pids.lock().unwrap().push(ready.pid);
            }
            if !grandchild_pids(&pids_file).is_empty() {
                panic!("callback bug");
            }
            ControlFlow::Continue(())
        })
    }));
    assert!(outcome.is_err(), "the callback never panicked");
    // Without the cancel the hanging test would keep the scope alive for 600 s.
    assert!(started.elapsed() < Duration::from_secs(60));
    let mut pids = pids.into_inner().unwrap();
    pids.extend(grandchild_pids(&pids_file));
    assert_no_orphans(&pids);
}

#[test]
fn crashing_past_the_restart_budget_stops_and_reports_the_rest_lost() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_crash_loop.py"]);
    assert_eq!(modules[0].node_ids.len(), 6);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 1);
    config.pool.max_worker_restarts = Some(2);
    let (events, summary) = execute(config, units);
    // Two restarts allowed: the third lost worker stops the run.
    assert_eq!(summary.incidents, 3, "{events:#?}");
    assert_eq!(summary.stop, Some(StopReason::CrashLimit(2)));
    let lost: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::NotRun {
                node_id,
                reason: NotRunReason::WorkerLost(message),
            } => {
                assert_eq!(message, "maximum crashed workers reached: 2");
                Some(node_id.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        lost,
        modules[0].node_ids[3..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(summary.errors, 3);
    assert_eq!(summary.failed, 3);
    assert_no_orphans(&worker_pids(&events));
}

#[test]
fn with_capture_off_test_output_is_forwarded_from_stderr() {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_prints.py"]);
    let lines_with = |forward: bool| {
        let mut config = config(&root, 1);
        config.pool.pytest_args = vec!["-s".to_owned()];
        config.pool.forward_stderr = forward;
        let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
        let (events, summary) = execute(config, units);
        assert_eq!(summary.passed, 1);
        events
            .into_iter()
            .filter_map(|e| match e {
                RunEvent::Stderr { line, .. } => Some(line),
                _ => None,
            })
            .collect::<Vec<String>>()
    };
    let forwarded = lines_with(true);
    assert!(
        forwarded.iter().any(|l| l == "dxpy-marker-from-a-test"),
        "{forwarded:?}"
    );
    assert!(lines_with(false).is_empty());
}
