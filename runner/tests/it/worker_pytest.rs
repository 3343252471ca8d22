//! The pytest engine against real pytest on `tests/fixtures/pytest_suite`.
#![allow(clippy::unwrap_used)]

use crate::support::*;
use dxpy_runner::protocol::{Engine, Outcome, Phase, StopKind};

fn spawn(envs: &[(&str, &std::path::Path)]) -> Worker {
    require_pytest();
    let worker = Worker::spawn(&fixture_root("pytest_suite"), Engine::Pytest, envs);
    assert_eq!(worker.ready.engine, Engine::Pytest);
    assert!(!worker.ready.pytest_version.is_empty());
    worker
}

#[test]
fn outcomes_match_pytest() {
    let args = [
        "test_outcomes.py",
        "test_unittest_cases.py",
        "test_flood.py",
        "test_module_skip.py",
        "test_noisy.py",
    ];
    let mut worker = spawn(&[]);
    let batch = worker.run(&args, false);
    let (done, status, stderr) = worker.shutdown();
    assert!(status.success(), "worker failed: {stderr}");
    assert_eq!(done.stop, StopKind::Completed);

    let reference = run_pytest(&fixture_root("pytest_suite"), &args, &[]);
    assert_matches_pytest(&[&batch], &reference);
    assert_items_finish_once(&batch);

    let batch_done = batch.done.as_ref().unwrap();
    assert_eq!(batch_done.stop, StopKind::Completed);
    let counted = batch
        .items
        .iter()
        .filter(|i| i.in_summary && i.outcome == Outcome::Failed)
        .count();
    assert_eq!(batch_done.counts.failed as usize, counted);

    // Output: captured per phase, flood capped with a note, and the stream stays intact.
    let failing = find(
        &batch,
        "test_outcomes.py::test_output_on_failure",
        Phase::Call,
    );
    assert_eq!(failing.stdout, "to stdout\n");
    assert_eq!(failing.stderr, "to stderr\n");
    assert!(
        failing.longrepr.contains("assert False"),
        "{}",
        failing.longrepr
    );
    let flood = find(&batch, "test_flood.py::test_ten_megabytes", Phase::Call);
    assert_eq!(flood.outcome, Outcome::Passed);
    assert!(flood.output_truncated);
    assert!(
        flood.stdout.len() <= OUTPUT_LIMIT as usize + 200,
        "{} bytes",
        flood.stdout.len()
    );
    assert!(flood.stdout.starts_with(&"x".repeat(1023)));
    assert!(flood.stdout.contains("output truncated"));
    let after = find(&batch, "test_flood.py::test_after_flood", Phase::Call);
    assert_eq!(after.stdout, "small\n");
    assert!(!after.output_truncated);

    // Reasons and locations.
    let skip = find(&batch, "test_outcomes.py::test_skip", Phase::Call);
    assert_eq!(skip.skip_reason, "Skipped: not today");
    let xfail = find(&batch, "test_outcomes.py::test_xfail", Phase::Call);
    assert_eq!(xfail.skip_reason, "known bug");
    assert_eq!(xfail.location.path, "test_outcomes.py");
    assert_eq!(xfail.location.domain, "test_xfail");
    let sysexit = find(&batch, "test_outcomes.py::test_system_exit", Phase::Call);
    assert_eq!(sysexit.outcome, Outcome::Failed);
    assert!(sysexit.longrepr.contains("SystemExit"));

    let warning = batch
        .warnings
        .iter()
        .find(|w| w.node_id == "test_outcomes.py::test_warns")
        .unwrap();
    assert_eq!(warning.category, "UserWarning");
    assert_eq!(warning.message, "careful");
}

#[test]
fn collect_errors_match_pytest() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_collect_error.py"], false);
    let missing = worker.run(
        &[
            "test_collect_error.py",
            "test_outcomes.py::test_does_not_exist",
            "test_outcomes.py::test_pass",
        ],
        false,
    );
    let _ = worker.shutdown();
    let reference = run_pytest(
        &fixture_root("pytest_suite"),
        &["test_collect_error.py"],
        &[],
    );
    assert_matches_pytest(&[&batch], &reference);
    assert!(batch.collect_errors[0]
        .longrepr
        .contains("does_not_exist_anywhere"));

    // A node ID that matches nothing is reported; the rest of the batch still runs.
    // Each problem is reported once, although finding the missing one takes extra passes.
    let mut reported: Vec<&str> = missing
        .collect_errors
        .iter()
        .map(|e| e.node_id.as_str())
        .collect();
    reported.sort_unstable();
    assert_eq!(
        reported,
        [
            "test_collect_error.py",
            "test_outcomes.py::test_does_not_exist"
        ]
    );
    let not_found = missing
        .collect_errors
        .iter()
        .find(|e| e.node_id.contains("does_not_exist"))
        .unwrap();
    assert!(
        not_found.longrepr.contains("not found"),
        "{}",
        not_found.longrepr
    );
    assert_eq!(
        find(&missing, "test_outcomes.py::test_pass", Phase::Call).outcome,
        Outcome::Passed
    );
}

#[test]
fn fixture_setup_and_teardown_order_matches_pytest() {
    let root = fixture_root("pytest_suite");
    let worker_log = temp_log("pytest-order-worker.log");
    let pytest_log = temp_log("pytest-order-pytest.log");
    let mut worker = spawn(&[("DXPY_FIXTURE_LOG", &worker_log)]);
    let batch = worker.run(&["sub"], false);
    let (_, status, stderr) = worker.shutdown();
    assert!(status.success(), "{stderr}");
    let reference = run_pytest(&root, &["sub"], &[("DXPY_FIXTURE_LOG", &pytest_log)]);
    assert_matches_pytest(&[&batch], &reference);
    let ours = std::fs::read_to_string(&worker_log).unwrap();
    let theirs = std::fs::read_to_string(&pytest_log).unwrap();
    assert!(theirs.contains("teardown session"), "{theirs}");
    assert_eq!(ours, theirs);
}

#[test]
fn keep_session_keeps_session_fixtures_across_batches() {
    let log = temp_log("pytest-keep-session.log");
    let mut worker = spawn(&[("DXPY_FIXTURE_LOG", &log)]);
    let first = worker.run(&["sub/test_scopes.py"], true);
    let second = worker.run(&["sub/test_more_scopes.py"], true);
    // Re-collecting a module already run keeps its conftest fixtures visible.
    let third = worker.run(&["sub/test_scopes.py::test_levels"], true);
    assert_eq!(third.done.unwrap().counts.passed, 1);
    let before_shutdown = std::fs::read_to_string(&log).unwrap();
    let (_, status, stderr) = worker.shutdown();
    assert!(status.success(), "{stderr}");
    let after_shutdown = std::fs::read_to_string(&log).unwrap();
    assert_eq!(first.done.unwrap().counts.passed, 5);
    assert_eq!(second.done.unwrap().counts.passed, 2);
    assert_eq!(
        before_shutdown.matches("setup session").count(),
        1,
        "{before_shutdown}"
    );
    assert!(
        !before_shutdown.contains("teardown session"),
        "{before_shutdown}"
    );
    // Module fixtures still end with their batch.
    assert!(before_shutdown.contains("teardown module sub.test_more_scopes"));
    assert_eq!(after_shutdown.lines().last(), Some("teardown session"));
}

#[test]
fn keyboard_interrupt_stops_the_batch_like_pytest() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_keyboard.py"], false);
    let done = batch.done.as_ref().unwrap();
    assert_eq!(done.stop, StopKind::Interrupted);
    let reference = run_pytest(&fixture_root("pytest_suite"), &["test_keyboard.py"], &[]);
    assert_eq!(
        reference.exit_code,
        Some(done.exit_code),
        "{}",
        reference.output
    );
    assert!(reference.output.contains("KeyboardInterrupt"));
    assert_matches_pytest(&[&batch], &reference);
    assert!(batch
        .items
        .iter()
        .all(|i| i.node_id != "test_keyboard.py::test_after"));
    // The worker survives and serves the next batch.
    let again = worker.run(&["test_keyboard.py::test_after"], false);
    assert_eq!(
        find(&again, "test_keyboard.py::test_after", Phase::Call).outcome,
        Outcome::Passed
    );
    let (_, status, _) = worker.shutdown();
    assert!(status.success());
}

#[test]
fn os_exit_ends_the_stream_cleanly_mid_batch() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_os_exit.py"], false);
    assert!(batch.done.is_none(), "a dead worker cannot send Done");
    assert!(find(&batch, "test_os_exit.py::test_before", Phase::Teardown).item_finished);
    assert!(batch
        .items
        .iter()
        .all(|i| i.node_id == "test_os_exit.py::test_before"));
    assert!(worker.read_after_crash().is_none());
    let (status, _) = worker.wait();
    let reference = run_pytest(&fixture_root("pytest_suite"), &["test_os_exit.py"], &[]);
    assert_eq!(status.code(), reference.exit_code);
    assert_eq!(status.code(), Some(7));
}

#[test]
fn raw_fd_output_is_captured_not_mixed_into_the_stream() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_noisy.py::test_raw_fd_writes"], false);
    let _ = worker.shutdown();
    let call = find(&batch, "test_noisy.py::test_raw_fd_writes", Phase::Call);
    assert_eq!(call.stdout, "\u{0}DXRS garbage on fd 1\n");
    assert_eq!(call.stderr, "garbage on fd 2\n");
}

#[test]
fn pytest_exit_ends_the_batch_with_its_return_code() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_exit_call.py"], false);
    let done = batch.done.as_ref().unwrap();
    assert_eq!(done.stop, StopKind::Exit);
    let reference = run_pytest(&fixture_root("pytest_suite"), &["test_exit_call.py"], &[]);
    assert_eq!(
        reference.exit_code,
        Some(done.exit_code),
        "{}",
        reference.output
    );
    assert_matches_pytest(&[&batch], &reference);
    let _ = worker.shutdown();
}

#[test]
fn exitfirst_from_pytest_args_stops_like_pytest() {
    require_pytest();
    let root = fixture_root("pytest_suite");
    let mut worker = Worker::spawn_with_args(&root, Engine::Pytest, &[], &["-x"]);
    let batch = worker.run(&["test_outcomes.py"], false);
    // The next batch starts afresh: the earlier stop does not carry over.
    let next = worker.run(
        &[
            "test_outcomes.py::test_pass",
            "test_outcomes.py::test_param",
        ],
        false,
    );
    let _ = worker.shutdown();
    let next_done = next.done.as_ref().unwrap();
    assert_eq!(
        (
            next_done.stop,
            next_done.counts.passed,
            next_done.counts.failed
        ),
        (StopKind::ShouldStop, 2, 1)
    );
    let done = batch.done.as_ref().unwrap();
    assert_eq!(done.stop, StopKind::ShouldStop);
    let reference = run_pytest(&root, &["-x", "test_outcomes.py"], &[]);
    assert_eq!(
        reference.exit_code,
        Some(done.exit_code),
        "{}",
        reference.output
    );
    assert_matches_pytest(&[&batch], &reference);
}

#[test]
fn run_module_numbers_items_from_the_base_index() {
    let mut worker = spawn(&[]);
    let by_module = worker.run_module("sub/test_more_scopes.py", 100);
    let by_items = worker.run(&["sub/test_more_scopes.py"], false);
    let _ = worker.shutdown();
    let indices: Vec<(u32, &str)> = by_module
        .items
        .iter()
        .filter(|i| i.item_finished)
        .map(|i| (i.test_index, i.node_id.as_str()))
        .collect();
    assert_eq!(
        indices,
        vec![
            (100, "sub/test_more_scopes.py::test_again"),
            (101, "sub/test_more_scopes.py::test_level")
        ]
    );
    let outcomes = |b: &Batch| {
        b.items
            .iter()
            .map(|i| (i.node_id.clone(), i.outcome, i.phase))
            .collect::<Vec<_>>()
    };
    assert_eq!(outcomes(&by_module), outcomes(&by_items));
}
