//! What a run reports while it runs ([`RunEvent`]) and at the end ([`RunSummary`]).

use std::time::Duration;

use crate::pool::ExitReason;
use crate::protocol::{
    Ambient, CollectErrorReport, Done, Executed, ItemResult, LogRecord, Outcome, Ready,
    WarningRecord,
};

use super::counts_as_failure;

/// A worker slot (0-based); a slot's worker may be replaced during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(pub usize);

/// Why the pool itself produced a report for a test.
#[derive(Debug, Clone, PartialEq)]
pub enum Incident {
    /// The worker died while the test was running.
    Crash {
        pid: u32,
        reason: ExitReason,
        /// A broken frame, when the stream ended mid-frame.
        stream_error: Option<String>,
        stderr_tail: Vec<String>,
    },
    /// The test ran longer than the per-test timeout; the worker's group was killed.
    Timeout { pid: u32, seconds: f64 },
}

impl Incident {
    /// The longrepr of the synthesized report.
    pub fn describe(&self, node_id: &str) -> String {
        match self {
            Incident::Crash {
                pid,
                reason,
                stream_error,
                stderr_tail,
            } => {
                let mut text =
                    format!("worker (pid {pid}) crashed while running {node_id}: {reason}");
                if let Some(err) = stream_error {
                    text.push_str(&format!(" [{err}]"));
                }
                if !stderr_tail.is_empty() {
                    text.push_str("\nlast lines of the worker's stderr:\n");
                    text.push_str(&stderr_tail.join("\n"));
                }
                text
            }
            Incident::Timeout { seconds, .. } => format!("Timeout (>{seconds}s)"),
        }
    }
}

/// Why a scheduled node ID has no report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotRunReason {
    /// Its worker was lost and nothing could run it (message: the last start-up failure).
    /// An error in the run's results (`not run: worker lost`).
    WorkerLost(String),
    /// The batch completed without reporting it (deselected by pytest arguments such as
    /// `-k`/`-m`). Not an error.
    NoReport,
    /// `--maxfail`, KeyboardInterrupt or `pytest.exit()` stopped the run first.
    Stopped,
    /// The caller cancelled the run.
    Cancelled,
}

impl NotRunReason {
    /// Whether pytest-compatible output should count it as an error.
    pub fn is_error(&self) -> bool {
        matches!(self, NotRunReason::WorkerLost(_))
    }
}

/// Why the run stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    MaxFail(u32),
    /// A test raised KeyboardInterrupt (pytest's exit code 2).
    Interrupted,
    /// A test called `pytest.exit()` with this exit code.
    Exit(i32),
    Cancelled,
    /// More workers crashed or timed out than the restart budget allows (pytest-xdist's
    /// `--max-worker-restart`); the tests left are lost, i.e. errors.
    CrashLimit(u32),
    /// Workers met collection errors before any test ran, and the run was not told to
    /// continue (pytest's "Interrupted: N errors during collection", exit code 2).
    CollectErrors,
}

impl StopReason {
    /// What the tests that never ran are reported as.
    pub fn not_run_reason(&self) -> NotRunReason {
        match self {
            StopReason::Cancelled => NotRunReason::Cancelled,
            StopReason::CrashLimit(budget) => {
                NotRunReason::WorkerLost(format!("maximum crashed workers reached: {budget}"))
            }
            StopReason::MaxFail(_)
            | StopReason::Interrupted
            | StopReason::Exit(_)
            | StopReason::CollectErrors => NotRunReason::Stopped,
        }
    }
}

/// One event, in arrival order across workers.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    WorkerStarted {
        worker: WorkerId,
        ready: Ready,
    },
    /// A worker could not start; its slot retries with the next unit, then gives up.
    WorkerStartFailed {
        worker: WorkerId,
        message: String,
    },
    /// A worker ended: recycled, shut down at the end, or after an incident.
    WorkerExited {
        worker: WorkerId,
        pid: u32,
        reason: ExitReason,
    },
    Report {
        worker: WorkerId,
        result: ItemResult,
    },
    /// A report the pool made because the worker could not (crash, timeout).
    Incident {
        worker: WorkerId,
        incident: Incident,
        result: ItemResult,
    },
    CollectError {
        worker: WorkerId,
        report: CollectErrorReport,
    },
    Warning {
        worker: WorkerId,
        record: WarningRecord,
    },
    Log {
        worker: WorkerId,
        record: LogRecord,
    },
    /// A line the worker wrote to stderr ([`crate::pool::PoolConfig::forward_stderr`]).
    Stderr {
        worker: WorkerId,
        line: String,
    },
    /// A unit's batch ended with Done (`done`) or with an incident (`None`).
    UnitFinished {
        worker: WorkerId,
        key: String,
        elapsed: Duration,
        done: Option<Done>,
    },
    NotRun {
        node_id: String,
        reason: NotRunReason,
    },
    /// Items a hook-items unit collected that pytest's `-k`/`-m`/`--deselect` left out
    /// (discovery deselects everything else before the run).
    Deselected {
        worker: WorkerId,
        node_ids: Vec<String>,
    },
    /// What one item executed ([`crate::pool::PoolConfig::record_execution`]); comes before
    /// the item's finishing report.
    Executed {
        worker: WorkerId,
        record: Executed,
    },
    /// What ran in a worker outside any item since its previous Ambient (import time,
    /// collection, fixtures wider than a function), and the files it loaded instrumented;
    /// comes before the batch's [`RunEvent::UnitFinished`].
    Ambient {
        worker: WorkerId,
        record: Ambient,
    },
    /// Something the user should know that is not about a test (e.g. the run stopped using
    /// its zygote and spawns workers instead). At most one per cause per run.
    Notice {
        message: String,
    },
}

/// How many `--maxfail` failures an event carries (0 or 1).
pub(crate) fn failure_count(event: &RunEvent) -> u32 {
    let outcome = match event {
        RunEvent::Report { result, .. } | RunEvent::Incident { result, .. }
            if result.in_summary =>
        {
            result.outcome
        }
        RunEvent::CollectError { report, .. } => report.outcome,
        RunEvent::NotRun { reason, .. } => return u32::from(reason.is_error()),
        _ => return 0,
    };
    u32::from(counts_as_failure(outcome))
}

/// Totals over a run's events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub xfailed: u32,
    pub xpassed: u32,
    /// Error reports, collect errors and node IDs lost with their worker.
    pub errors: u32,
    /// Collect errors (outcome error) among `errors`.
    pub collect_errors: u32,
    /// What counts towards `--maxfail`.
    pub failures: u32,
    pub incidents: u32,
    pub not_run: u32,
    pub stop: Option<StopReason>,
    /// Wall time per finished unit key (feed to [`crate::scheduler::DurationStore::record`]).
    pub unit_durations: Vec<(String, f64)>,
    pub elapsed: Duration,
}

impl RunSummary {
    pub(crate) fn observe(&mut self, event: &RunEvent) {
        self.failures += failure_count(event);
        match event {
            RunEvent::Report { result, .. } | RunEvent::Incident { result, .. } => {
                if matches!(event, RunEvent::Incident { .. }) {
                    self.incidents += 1;
                }
                if result.in_summary {
                    self.count(result.outcome);
                }
            }
            RunEvent::CollectError { report, .. } => {
                self.count(report.outcome);
                if report.outcome == Outcome::Error {
                    self.collect_errors += 1;
                }
            }
            RunEvent::UnitFinished {
                key,
                elapsed,
                done: Some(_),
                ..
            } => self
                .unit_durations
                .push((key.clone(), elapsed.as_secs_f64())),
            RunEvent::NotRun { reason, .. } => {
                self.not_run += 1;
                if reason.is_error() {
                    self.errors += 1;
                }
            }
            _ => {}
        }
    }

    /// pytest's exit code for this run: `pytest.exit()`'s code; 2 when interrupted or
    /// cancelled; 1 when anything failed or errored (lost tests included); 5 when nothing
    /// was reported; else 0. Collection errors met while tests run count as errors; met
    /// before any test ran they stop the run ([`StopReason::CollectErrors`], exit 2).
    pub fn pytest_exit_code(&self) -> i32 {
        match self.stop {
            Some(StopReason::Exit(code)) => return code,
            Some(StopReason::Interrupted | StopReason::Cancelled | StopReason::CollectErrors) => {
                return 2
            }
            _ => {}
        }
        if self.failed > 0 || self.errors > 0 {
            1
        } else if self.passed + self.skipped + self.xfailed + self.xpassed == 0 {
            5
        } else {
            0
        }
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::XFailed => self.xfailed += 1,
            Outcome::XPassed => self.xpassed += 1,
            Outcome::Error => self.errors += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_pytest() {
        let passed = RunSummary {
            passed: 3,
            ..Default::default()
        };
        assert_eq!(passed.pytest_exit_code(), 0);
        assert_eq!(RunSummary::default().pytest_exit_code(), 5);
        let failed = RunSummary {
            failed: 1,
            ..passed.clone()
        };
        assert_eq!(failed.pytest_exit_code(), 1);
        let lost = RunSummary {
            errors: 1,
            ..Default::default()
        };
        assert_eq!(lost.pytest_exit_code(), 1);
        let interrupted = RunSummary {
            stop: Some(StopReason::Interrupted),
            ..failed.clone()
        };
        assert_eq!(interrupted.pytest_exit_code(), 2);
        let exited = RunSummary {
            stop: Some(StopReason::Exit(7)),
            ..failed
        };
        assert_eq!(exited.pytest_exit_code(), 7);
    }
}
