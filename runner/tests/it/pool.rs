//! The pool and scheduler with real worker processes: equivalence with real pytest on a
//! multi-module suite, crash and hang containment, maxfail, recycling, no orphans — each
//! with spawned workers and with workers forked from a zygote.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::runs::*;
use crate::support::*;
use dxpy_runner::protocol::{Outcome, Phase};
use dxpy_runner::run::{Incident, NotRunReason, Run, RunEvent, StopReason};
use dxpy_runner::scheduler::{
    plan, DurationStore, LoadStatus, ModuleTests, SplitPolicy, UnitKind, WorkUnit,
};

// Every test runs twice: workers spawned, and workers forked from a per-run zygote.
modes!(
    two_workers_give_pytests_outcomes_and_record_durations,
    crashes_are_reported_with_their_reason_and_the_rest_still_runs,
    a_hang_is_killed_at_the_timeout_and_the_rest_runs,
    interrupt_flag_cancels_while_a_test_hangs_and_no_event_arrives,
    cancelling_early_kills_every_worker_and_grandchild,
    maxfail_stops_scheduling_after_the_running_unit,
    workers_are_recycled_after_their_batch_budget,
    a_broken_interpreter_leaves_every_test_reported_as_lost,
    preloaded_modules_are_imported_before_the_first_batch,
    test_modules_are_imported_before_each_workers_first_batch,
    collection_errors_met_while_importing_stop_the_run_before_any_test,
    a_worker_dying_while_importing_is_replaced_and_the_rest_run_without_the_step,
    a_panicking_callback_still_kills_the_workers,
    crashing_past_the_restart_budget_stops_and_reports_the_rest_lost,
    with_capture_off_test_output_is_forwarded_from_stderr,
);

fn two_workers_give_pytests_outcomes_and_record_durations(mode: Mode) {
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

    let (events, summary) = execute(config(&root, 2, mode), units.clone());
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

fn crashes_are_reported_with_their_reason_and_the_rest_still_runs(mode: Mode) {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log(&format!("pool_crash_pids_{mode:?}"));
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
    let mut config = config(&root, 2, mode);
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

fn a_hang_is_killed_at_the_timeout_and_the_rest_runs(mode: Mode) {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log(&format!("pool_hang_pids_{mode:?}"));
    let modules = collect(&root, &["test_hang.py", "test_fine.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2, mode);
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

fn interrupt_flag_cancels_while_a_test_hangs_and_no_event_arrives(mode: Mode) {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log(&format!("pool_interrupt_pids_{mode:?}"));
    let modules = collect(&root, &["test_hang.py"]);
    let units: Vec<WorkUnit> = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 1, mode);
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

fn cancelling_early_kills_every_worker_and_grandchild(mode: Mode) {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log(&format!("pool_cancel_pids_{mode:?}"));
    let modules = collect(&root, &["test_hang.py", "test_slow.py"]);
    let units: Vec<WorkUnit> = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2, mode);
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

fn maxfail_stops_scheduling_after_the_running_unit(mode: Mode) {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_fails.py", "test_fine.py"]);
    // One worker and a fixed order: test_fails.py runs first.
    let units: Vec<WorkUnit> = modules
        .iter()
        .map(|m| WorkUnit {
            key: m.path.clone(),
            node_ids: m.node_ids.clone(),
            kind: UnitKind::Tests,
            first_index: 0,
        })
        .collect();
    let mut config = config(&root, 1, mode);
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

fn workers_are_recycled_after_their_batch_budget(mode: Mode) {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_fails.py", "test_fine.py"]);
    let units = plan(
        &modules,
        &DurationStore::default(),
        SplitPolicy { max_unit_tests: 2 },
    );
    assert_eq!(
        units.len(),
        4,
        "test_fails.py's three functions are cut into two ranges; test_fine.py splits into \
         its function and TestGroup"
    );
    let mut config = config(&root, 1, mode);
    config.pool.max_batches_per_worker = 1;
    let (events, summary) = execute(config, units);
    let pids = worker_pids(&events);
    assert_eq!(pids.len(), 4, "one worker per batch");
    let exits = events
        .iter()
        .filter(|e| matches!(e, RunEvent::WorkerExited { .. }))
        .count();
    assert_eq!(exits, 4);
    assert_eq!((summary.failed, summary.passed, summary.skipped), (2, 3, 1));
    assert_no_orphans(&pids);
}

#[test]
fn missing_worker_package_is_an_error_not_a_hang() {
    let mode = Mode::Zygote;
    let root = fixture_root("pool_suite");
    let mut config = config(&root, 1, mode);
    let empty = tempfile::tempdir().unwrap();
    config.pool.worker_path = Some(empty.path().to_path_buf());
    let err = Run::new(config)
        .execute(Vec::new(), |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(err.to_string().contains("dxpy_worker"), "{err}");
}

fn a_broken_interpreter_leaves_every_test_reported_as_lost(mode: Mode) {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_fine.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2, mode);
    config.pool.python = Some(PathBuf::from("/nonexistent/python"));
    let (events, summary) = execute_allowing_fallback(config, units);
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

fn preloaded_modules_are_imported_before_the_first_batch(mode: Mode) {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_preload.py"]);
    let outcome_with = |preload: &[&str]| {
        let mut config = config(&root, 1, mode);
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

/// One unit per module, in the given order (the plan would order them by itself).
fn units_in_order(modules: &[&ModuleTests]) -> Vec<WorkUnit> {
    let mut first_index = 0;
    modules
        .iter()
        .map(|module| {
            let unit = WorkUnit {
                key: module.path.clone(),
                first_index,
                node_ids: module.node_ids.clone(),
                kind: UnitKind::Tests,
            };
            first_index += u32::try_from(module.node_ids.len()).unwrap();
            unit
        })
        .collect()
}

/// Each call report's node ID and outcome, in arrival order.
fn call_outcomes(events: &[RunEvent]) -> Vec<(String, Outcome)> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Report { result, .. } | RunEvent::Incident { result, .. }
                if result.phase == Phase::Call =>
            {
                Some((result.node_id.clone(), result.outcome))
            }
            _ => None,
        })
        .collect()
}

fn test_modules_are_imported_before_each_workers_first_batch(mode: Mode) {
    let root = fixture_root("import_suite");
    let files = ["test_setter.py", "test_needs.py"];
    let modules = collect(&root, &files);
    let (setter, needs) = (&modules[0], &modules[1]);
    let run = |units: Vec<WorkUnit>, test_modules: &[&str], batches_per_worker: u32| {
        let mut config = config(&root, 1, mode);
        config.pool.test_modules = test_modules.iter().map(|m| m.to_string()).collect();
        config.pool.max_batches_per_worker = batches_per_worker;
        execute(config, units)
    };
    // pytest passes both: it imports test_setter.py (which sets `shared.sub`) before it runs
    // test_needs.py's test.
    let reference = run_pytest(&root, &files, &[]);
    let passed = |events: &[RunEvent]| {
        let mut outcomes = call_outcomes(events);
        outcomes.sort_by(|a, b| a.0.cmp(&b.0));
        outcomes
            == [
                ("test_needs.py::test_needs".to_owned(), Outcome::Passed),
                ("test_setter.py::test_setter".to_owned(), Outcome::Passed),
            ]
    };
    // test_needs.py runs first: its worker imported test_setter.py before that first batch.
    let (events, _) = run(units_in_order(&[needs, setter]), &files, 64);
    assert!(passed(&events), "{:?}", call_outcomes(&events));
    assert_matches_pytest(&[&as_batch(&events)], &reference);
    // One batch per worker: test_needs.py runs in a second, recycled worker, which imports the
    // modules before its first batch too.
    let (events, _) = run(units_in_order(&[setter, needs]), &files, 1);
    let started = events
        .iter()
        .filter(|e| matches!(e, RunEvent::WorkerStarted { .. }))
        .count();
    assert_eq!(started, 2, "each batch in a worker of its own");
    assert!(passed(&events), "{:?}", call_outcomes(&events));
    assert_no_orphans(&worker_pids(&events));
    // Without the step test_needs fails in its own batch: the checks above are not vacuous.
    let (events, _) = run(units_in_order(&[needs, setter]), &[], 64);
    assert_eq!(
        call_outcomes(&events)[0],
        ("test_needs.py::test_needs".to_owned(), Outcome::Failed)
    );
}

fn collection_errors_met_while_importing_stop_the_run_before_any_test(mode: Mode) {
    let root = fixture_root("pytest_suite");
    let files = [
        "test_outcomes.py",
        "test_module_skip.py",
        "test_collect_error.py",
    ];
    let modules = collect(&root, &files);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let run = |continue_on_collection_errors: bool| {
        let mut config = config(&root, 2, mode);
        config.pool.test_modules = files.iter().map(|f| f.to_string()).collect();
        config.continue_on_collection_errors = continue_on_collection_errors;
        execute(config, units.clone())
    };
    // pytest stops after collecting: the collection error and the module-level skip are
    // reported, no test runs.
    let reference = run_pytest(&root, &files, &[]);
    assert!(
        reference
            .output
            .contains("Interrupted: 1 error during collection"),
        "pytest itself: {}",
        reference.output
    );
    let (events, summary) = run(false);
    assert_eq!(summary.stop, Some(StopReason::CollectErrors), "{events:#?}");
    assert_eq!(summary.collect_errors, 1);
    // Both workers imported the modules; each problem is reported once.
    assert_matches_pytest(&[&as_batch(&events)], &reference);
    assert!(
        !events.iter().any(|e| matches!(e, RunEvent::Report { .. })),
        "a test ran: {events:#?}"
    );
    assert_no_orphans(&worker_pids(&events));
    // Told to go on, the run is pytest's with --continue-on-collection-errors.
    let mut args = files.to_vec();
    args.push("--continue-on-collection-errors");
    let reference = run_pytest(&root, &args, &[]);
    let (events, summary) = run(true);
    assert_eq!(summary.stop, None);
    assert_matches_pytest(&[&as_batch(&events)], &reference);
    every_report_exactly_once(&events);
}

fn a_worker_dying_while_importing_is_replaced_and_the_rest_run_without_the_step(mode: Mode) {
    let root = fixture_root("import_suite");
    let mut modules = collect(&root, &["test_setter.py"]);
    // (pytest itself would die collecting it: node IDs by hand.)
    modules.push(ModuleTests {
        path: "test_exit_at_import.py".to_owned(),
        node_ids: vec!["test_exit_at_import.py::test_never_runs".to_owned()],
    });
    let units = units_in_order(&[&modules[0], &modules[1]]);
    let mut config = config(&root, 1, mode);
    config.pool.test_modules = vec![
        "test_setter.py".to_owned(),
        "test_exit_at_import.py".to_owned(),
    ];
    let mut events = Vec::new();
    let summary = Run::new(config)
        .execute(units, |event| {
            events.push(event);
            ControlFlow::Continue(())
        })
        .unwrap();
    let notices: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Notice { message } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("importing the test modules") && notices[0].contains("exit code 3"),
        "{notices:?}"
    );
    // The batch that imports the module meets the crash, as without the step.
    assert_eq!(
        call_outcomes(&events),
        [
            ("test_setter.py::test_setter".to_owned(), Outcome::Passed),
            (
                "test_exit_at_import.py::test_never_runs".to_owned(),
                Outcome::Failed
            ),
        ]
    );
    assert_eq!((summary.incidents, summary.not_run), (1, 0), "{events:#?}");
    every_report_exactly_once(&events);
    assert_no_orphans(&worker_pids(&events));
}

fn a_panicking_callback_still_kills_the_workers(mode: Mode) {
    let root = fixture_root("pool_suite");
    let pids_file = temp_log(&format!("pool_panic_pids_{mode:?}"));
    let modules = collect(&root, &["test_hang.py", "test_slow.py"]);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 2, mode);
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

fn crashing_past_the_restart_budget_stops_and_reports_the_rest_lost(mode: Mode) {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_crash_loop.py"]);
    assert_eq!(modules[0].node_ids.len(), 6);
    let units = plan(&modules, &DurationStore::default(), SplitPolicy::default());
    let mut config = config(&root, 1, mode);
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

fn with_capture_off_test_output_is_forwarded_from_stderr(mode: Mode) {
    let root = fixture_root("pool_suite");
    let modules = collect(&root, &["test_prints.py"]);
    let lines_with = |forward: bool| {
        let mut config = config(&root, 1, mode);
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
