//! The native engine (no pytest inside the worker) against real pytest on
//! `tests/fixtures/native_suite`. pytest is still needed to produce the reference.
#![allow(clippy::unwrap_used)]

use crate::support::*;
use dxpy_runner::protocol::{Engine, Outcome, Phase, StopKind};

fn spawn(envs: &[(&str, &std::path::Path)]) -> Worker {
    require_pytest();
    let worker = Worker::spawn(&fixture_root("native_suite"), Engine::Native, envs);
    assert_eq!(worker.ready.engine, Engine::Native);
    assert_eq!(worker.ready.pytest_version, "");
    worker
}

#[test]
fn native_outcomes_and_xunit_order_match_pytest() {
    let args = [
        "test_plain.py",
        "test_unittest_module.py",
        "test_unittest_cases.py",
        "test_flood.py",
        "test_noisy.py",
    ];
    let worker_log = temp_log("native-worker.log");
    let pytest_log = temp_log("native-pytest.log");
    let mut worker = spawn(&[("DXPY_FIXTURE_LOG", &worker_log)]);
    let batch = worker.run(&args, false);
    let (_, status, stderr) = worker.shutdown();
    assert!(status.success(), "{stderr}");
    let reference = run_pytest(
        &fixture_root("native_suite"),
        &args,
        &[("DXPY_FIXTURE_LOG", &pytest_log)],
    );
    assert_matches_pytest(&[&batch], &reference);
    assert_items_finish_once(&batch);
    let expected_log = std::fs::read_to_string(&pytest_log).unwrap();
    assert!(
        expected_log.contains("setup_class TestChild") && expected_log.contains("tearDownModule")
    );
    assert_eq!(
        std::fs::read_to_string(&worker_log).unwrap(),
        std::fs::read_to_string(&pytest_log).unwrap(),
        "xunit setup/teardown order differs from pytest's"
    );

    let failing = find(&batch, "test_plain.py::test_output_on_failure", Phase::Call);
    assert_eq!(failing.stdout, "to stdout\n");
    assert_eq!(failing.stderr, "to stderr\n");
    assert!(failing.longrepr.contains("with output"));
    let flood = find(&batch, "test_flood.py::test_ten_megabytes", Phase::Call);
    assert!(flood.output_truncated);
    assert!(flood.stdout.len() <= OUTPUT_LIMIT as usize + 200);
    assert_eq!(
        find(&batch, "test_flood.py::test_after_flood", Phase::Call).stdout,
        "small\n"
    );
    let subtest = batch
        .items
        .iter()
        .find(|i| i.node_id.ends_with("test_subtest_msg") && i.outcome == Outcome::Failed)
        .unwrap();
    assert_eq!(
        (subtest.word.as_str(), subtest.head_line.as_str()),
        ("SUBFAILED[labelled]", "Cases.test_subtest_msg [labelled]")
    );
    let skipped = find(
        &batch,
        "test_unittest_cases.py::Cases::test_skipped",
        Phase::Call,
    );
    assert_eq!(skipped.skip_reason, "skipped method");
    let class_skip = find(
        &batch,
        "test_unittest_cases.py::SkippedClass::test_a",
        Phase::Setup,
    );
    assert_eq!(class_skip.outcome, Outcome::Skipped);
}

#[test]
fn native_collect_error_and_missing_node() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_collect_error.py"], false);
    let missing = worker.run(
        &["test_plain.py::test_nope", "test_plain.py::test_pass"],
        false,
    );
    let _ = worker.shutdown();
    let reference = run_pytest(
        &fixture_root("native_suite"),
        &["test_collect_error.py"],
        &[],
    );
    assert_matches_pytest(&[&batch], &reference);
    assert!(batch.collect_errors[0]
        .longrepr
        .contains("does_not_exist_anywhere"));
    assert_eq!(
        missing.collect_errors[0].node_id,
        "test_plain.py::test_nope"
    );
    assert_eq!(
        find(&missing, "test_plain.py::test_pass", Phase::Call).outcome,
        Outcome::Passed
    );
}

#[test]
fn native_keyboard_interrupt_stops_the_batch_like_pytest() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_keyboard.py"], false);
    let done = batch.done.as_ref().unwrap();
    assert_eq!(done.stop, StopKind::Interrupted);
    let reference = run_pytest(&fixture_root("native_suite"), &["test_keyboard.py"], &[]);
    assert_eq!(reference.exit_code, Some(done.exit_code));
    assert_matches_pytest(&[&batch], &reference);
    let again = worker.run(&["test_keyboard.py::test_after"], false);
    assert_eq!(
        find(&again, "test_keyboard.py::test_after", Phase::Call).outcome,
        Outcome::Passed
    );
    let (_, status, _) = worker.shutdown();
    assert!(status.success());
}

#[test]
fn native_os_exit_ends_the_stream_cleanly() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_os_exit.py"], false);
    assert!(batch.done.is_none());
    assert!(find(&batch, "test_os_exit.py::test_before", Phase::Teardown).item_finished);
    assert!(worker.read_after_crash().is_none());
    let (status, _) = worker.wait();
    let reference = run_pytest(&fixture_root("native_suite"), &["test_os_exit.py"], &[]);
    assert_eq!(status.code(), reference.exit_code);
}

#[test]
fn native_raw_fd_output_is_captured_not_mixed_into_the_stream() {
    let mut worker = spawn(&[]);
    let batch = worker.run(&["test_noisy.py::test_raw_fd_writes"], false);
    let (_, _, stderr) = worker.shutdown();
    let call = find(&batch, "test_noisy.py::test_raw_fd_writes", Phase::Call);
    assert_eq!(call.stdout, "\u{0}DXRS garbage on fd 1\n");
    assert_eq!(call.stderr, "garbage on fd 2\n");
    // Import-time output is not a test's: it lands on the worker's stderr.
    assert!(stderr.contains("raw fd 1 at import time"), "{stderr}");
}

#[test]
fn pytest_engine_without_pytest_is_a_fatal_error() {
    // `-I` isolates the interpreter from site-packages, so pytest cannot be imported.
    use dxpy_runner::protocol::{
        FrameReader, FrameWriter, Hello, Request, RequestFrame, WorkerMessage,
    };
    use std::process::{Command, Stdio};
    let worker_dir = dxpy_test_support::worker_package();
    let mut child = Command::new(python())
        .args(["-I", "-S", "-c", "import sys; sys.path.insert(0, sys.argv[1]); from dxpy_worker.channel import main; sys.exit(main())"])
        .arg(&worker_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut writer = FrameWriter::new(child.stdin.take().unwrap());
    let hello = Hello {
        rootdir: String::new(),
        sys_path: vec![],
        engine: Engine::Pytest,
        pytest_args: vec![],
        output_limit: 1024,
        terminal_width: 0,
        record_execution: false,
        park: false,
    };
    writer
        .write_request(&RequestFrame {
            request_id: 5,
            request: Request::Hello(hello),
        })
        .unwrap();
    let mut reader = FrameReader::new(child.stdout.take().unwrap());
    let frame = reader.read_result().unwrap().unwrap();
    assert_eq!(frame.request_id, 5);
    match frame.message {
        WorkerMessage::Fatal(fatal) => {
            assert!(fatal.message.contains("cannot import pytest"), "{fatal:?}")
        }
        other => panic!("expected Fatal, got {other:?}"),
    }
    assert_eq!(reader.read_result().unwrap(), None);
    assert_eq!(child.wait().unwrap().code(), Some(1));
}
