//! Shared helpers for the worker integration tests: spawning `python -m dxpy_worker`,
//! driving it over the protocol, and running real pytest on the same fixture suite to get
//! the reference outcomes (parsed from `-rA` and the summary line, never hard-coded).
#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, ExitStatus, Stdio};
use std::thread::JoinHandle;

#[macro_use]
pub mod runs;

use dxpy_runner::protocol::{
    CollectErrorReport, Done, Engine, FrameReader, FrameWriter, Hello, ItemResult, Outcome, Ready,
    Request, RequestFrame, RunItems, RunModule, WarningRecord, WorkerMessage,
};

pub use dxpy_test_support::pytest::{reference as run_pytest, Reference as PytestReference};
pub use dxpy_test_support::python;
use dxpy_test_support::{bounded, worker_package};

pub fn fixture_root(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Fails (never skips) when the interpreter under test has no pytest: these tests compare
/// against real pytest and drive the pytest engine.
pub fn require_pytest() {
    python();
}

pub fn temp_log(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dxpy-runner-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// Everything one batch produced.
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<ItemResult>,
    pub collect_errors: Vec<CollectErrorReport>,
    pub warnings: Vec<WarningRecord>,
    /// `None` when the stream ended before Done (the worker died).
    pub done: Option<Done>,
}

pub struct Worker {
    child: Child,
    writer: FrameWriter<ChildStdin>,
    reader: FrameReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    next_request: u64,
    pub ready: Ready,
}

pub const OUTPUT_LIMIT: u32 = 64 * 1024;

impl Worker {
    pub fn spawn(root: &Path, engine: Engine, envs: &[(&str, &Path)]) -> Worker {
        Self::spawn_with_args(root, engine, envs, &[])
    }

    pub fn spawn_with_args(
        root: &Path,
        engine: Engine,
        envs: &[(&str, &Path)],
        pytest_args: &[&str],
    ) -> Worker {
        let mut command = bounded(python());
        command
            .args(["-m", "dxpy_worker"])
            .current_dir(root)
            .env("PYTHONPATH", worker_package())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("cannot spawn the worker");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        // Drained on a thread so a chatty worker can never block on a full stderr pipe.
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let mut writer = FrameWriter::new(stdin);
        let mut reader = FrameReader::new(stdout);
        let hello = Hello {
            rootdir: root.to_string_lossy().into_owned(),
            sys_path: vec![],
            engine,
            pytest_args: pytest_args.iter().map(|s| s.to_string()).collect(),
            output_limit: OUTPUT_LIMIT,
            terminal_width: 0,
            record_execution: false,
            park: false,
        };
        writer
            .write_request(&RequestFrame {
                request_id: 1,
                request: Request::Hello(hello),
            })
            .unwrap();
        // Config-time warnings and logs may precede Ready.
        let (frame, ready) = loop {
            let frame = reader
                .read_result()
                .unwrap()
                .expect("worker closed its stream before Ready");
            match frame.message {
                WorkerMessage::Ready(ref ready) => break (frame.clone(), ready.clone()),
                WorkerMessage::Warning(_) | WorkerMessage::Log(_) => continue,
                other => panic!("expected Ready, got {other:?}"),
            }
        };
        assert_eq!(frame.request_id, 1);
        Worker {
            child,
            writer,
            reader,
            stderr: Some(stderr),
            next_request: 2,
            ready,
        }
    }

    pub fn run(&mut self, node_ids: &[&str], keep_session: bool) -> Batch {
        let run = RunItems {
            first_index: 0,
            keep_session,
            node_ids: node_ids.iter().map(|s| s.to_string()).collect(),
        };
        self.request(Request::RunItems(run))
    }

    pub fn run_module(&mut self, path: &str, first_index: u32) -> Batch {
        let run = RunModule {
            first_index,
            keep_session: false,
            path: path.to_owned(),
        };
        self.request(Request::RunModule(run))
    }

    fn request(&mut self, request: Request) -> Batch {
        let request_id = self.next_request;
        self.next_request += 1;
        self.writer
            .write_request(&RequestFrame {
                request_id,
                request,
            })
            .unwrap();
        let mut batch = Batch::default();
        while let Some(frame) = self
            .reader
            .read_result()
            .expect("malformed frame from the worker")
        {
            assert_eq!(
                frame.request_id, request_id,
                "result for the wrong request: {frame:?}"
            );
            match frame.message {
                WorkerMessage::ItemResult(item) => batch.items.push(*item),
                WorkerMessage::CollectError(report) => batch.collect_errors.push(report),
                WorkerMessage::Warning(warning) => batch.warnings.push(warning),
                WorkerMessage::Log(_) => {}
                WorkerMessage::Done(done) => {
                    batch.done = Some(done);
                    break;
                }
                other => panic!("unexpected message in a batch: {other:?}"),
            }
        }
        batch
    }

    /// Sends Shutdown; returns its Done, the exit status and the worker's stderr.
    pub fn shutdown(mut self) -> (Done, ExitStatus, String) {
        let request_id = self.next_request;
        self.writer
            .write_request(&RequestFrame {
                request_id,
                request: Request::Shutdown,
            })
            .unwrap();
        let done = loop {
            let frame = self
                .reader
                .read_result()
                .unwrap()
                .expect("no Done after Shutdown");
            match frame.message {
                WorkerMessage::Done(done) => break done,
                WorkerMessage::Log(_) | WorkerMessage::Warning(_) => {}
                other => panic!("unexpected message after Shutdown: {other:?}"),
            }
        };
        let (status, stderr) = self.wait();
        (done, status, stderr)
    }

    /// Waits for a worker that is exiting by itself.
    pub fn wait(mut self) -> (ExitStatus, String) {
        drop(self.writer);
        let status = self.child.wait().unwrap();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        (status, stderr)
    }

    /// The next read after a crash: must be a clean end of stream, not an error or a hang.
    pub fn read_after_crash(&mut self) -> Option<WorkerMessage> {
        self.reader
            .read_result()
            .unwrap()
            .map(|frame| frame.message)
    }
}

fn outcome_word(outcome: Outcome) -> Option<&'static str> {
    match outcome {
        Outcome::Passed => Some("PASSED"),
        Outcome::Failed => Some("FAILED"),
        Outcome::Error => Some("ERROR"),
        Outcome::XFailed => Some("XFAIL"),
        Outcome::XPassed => Some("XPASS"),
        Outcome::Skipped => None,
    }
}

fn summary_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Error => "errors",
        Outcome::XFailed => "xfailed",
        Outcome::XPassed => "xpassed",
        Outcome::Skipped => "skipped",
    }
}

/// The worker's reports in the shape of [`PytestReference`].
pub fn worker_view(batches: &[&Batch]) -> (BTreeMap<(String, String), u32>, BTreeMap<String, u32>) {
    let mut reports = BTreeMap::new();
    let mut summary: BTreeMap<String, u32> = BTreeMap::new();
    for batch in batches {
        for item in batch.items.iter().filter(|item| item.in_summary) {
            *summary
                .entry(summary_word(item.outcome).to_owned())
                .or_default() += 1;
            if let Some(word) = outcome_word(item.outcome) {
                *reports
                    .entry((word.to_owned(), item.node_id.clone()))
                    .or_default() += 1;
            }
        }
        for error in &batch.collect_errors {
            *summary
                .entry(summary_word(error.outcome).to_owned())
                .or_default() += 1;
            if error.outcome == Outcome::Error {
                *reports
                    .entry(("ERROR".to_owned(), error.node_id.clone()))
                    .or_default() += 1;
            }
        }
    }
    (reports, summary)
}

/// The summary counts that both sides must agree on.
pub fn comparable(summary: &BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    summary
        .iter()
        .filter(|(word, _)| {
            matches!(
                word.as_str(),
                "passed" | "failed" | "skipped" | "xfailed" | "xpassed" | "errors"
            )
        })
        .map(|(word, count)| (word.clone(), *count))
        .collect()
}

/// Asserts the worker reported exactly what pytest reported for the same node IDs.
pub fn assert_matches_pytest(batches: &[&Batch], reference: &PytestReference) {
    let (reports, summary) = worker_view(batches);
    assert!(
        !reference.reports.is_empty(),
        "pytest reported nothing:\n{}",
        reference.output
    );
    assert_eq!(
        reports, reference.reports,
        "per-node outcomes differ from pytest's -rA"
    );
    assert_eq!(
        comparable(&summary),
        comparable(&reference.summary),
        "summary counts differ from pytest's"
    );
}

/// Every item's frames end with exactly one teardown frame marked `item_finished`.
pub fn assert_items_finish_once(batch: &Batch) {
    let mut finished: BTreeMap<&str, u32> = BTreeMap::new();
    let mut last_for: BTreeMap<&str, &ItemResult> = BTreeMap::new();
    for item in &batch.items {
        last_for.insert(&item.node_id, item);
        if item.item_finished {
            *finished.entry(&item.node_id).or_default() += 1;
        }
    }
    for (node_id, last) in last_for {
        assert!(
            last.item_finished,
            "{node_id}: last frame is not marked finished"
        );
        assert_eq!(
            finished.get(node_id),
            Some(&1),
            "{node_id}: finished more than once"
        );
    }
}

pub fn find<'a>(
    batch: &'a Batch,
    node_id: &str,
    phase: dxpy_runner::protocol::Phase,
) -> &'a ItemResult {
    batch
        .items
        .iter()
        .find(|item| item.node_id == node_id && item.phase == phase)
        .unwrap_or_else(|| panic!("no {phase:?} report for {node_id}"))
}
