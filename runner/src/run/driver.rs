//! One worker slot: takes units, runs each as one RunItems batch on its worker, contains
//! crashes and hangs, requeues what did not run.
//!
//! Per batch, a [`BatchTracker`] maps results back to the requested node IDs: a finished
//! item `n` settles the requested `r` when `n == r`, or `n` is `r` plus a parameter suffix
//! (`r[...]`) or a child (`r::...`); a collect error for `c` settles `r == c` and everything
//! under it (`c::...`, `c/...`). When the worker dies, the running test is the item whose
//! last report lacks `ITEM_FINISHED`, else the first unsettled requested node ID (for a
//! parametrized request this may name the function rather than the exact case).
//!
//! A hook-items unit ([`UnitKind::HookItems`]) requests directories, whose items nobody
//! knows before the worker collects them: its reports settle nothing, a completed batch
//! settles its directories, and after a crash the whole unit is requeued with every item
//! it already reported (the crashed one included) in `skip_items`, so nothing runs twice
//! and every requeue makes progress. A crash outside any item blames the first directory,
//! as a plain unit blames its first unsettled node ID.

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_deque::{Steal, Stealer, Worker as LocalQueue};

use crate::pool::process::Received;
use crate::pool::{ExitReason, PoolConfig, WarmStart, WorkerIdentity, WorkerProcess};
use crate::protocol::{
    CollectErrorReport, Done, ImportModules, ItemResult, Location, Outcome, Phase, Request,
    RunHookItems, RunItems, StopKind, WorkerMessage,
};
use crate::scheduler::{UnitKind, WorkUnit};

use super::events::{Incident, NotRunReason, RunEvent, StopReason, WorkerId};
use super::{Internal, Shared};

/// How often a blocked read wakes up to notice a cancelled run.
const POLL: Duration = Duration::from_millis(100);
/// Consecutive start-up failures after which a slot gives up.
const MAX_START_FAILURES: u32 = 2;

/// The requested node IDs of one batch and which are settled.
#[derive(Debug)]
pub(super) struct BatchTracker {
    requested: Vec<String>,
    settled: Vec<bool>,
    /// The last report's node ID, when that item has not finished.
    unfinished: Option<(String, Phase)>,
    /// A hook-items batch: `requested` are directories, reports settle none of them.
    hook_items: bool,
    /// Node IDs of the items reported so far (hook-items batches only).
    reported: Vec<String>,
}

fn covers(requested: &str, reported: &str) -> bool {
    reported == requested
        || reported
            .strip_prefix(requested)
            .is_some_and(|rest| rest.starts_with('[') || rest.starts_with("::"))
}

impl BatchTracker {
    pub(super) fn new(requested: &[String]) -> BatchTracker {
        BatchTracker {
            requested: requested.to_vec(),
            settled: vec![false; requested.len()],
            unfinished: None,
            hook_items: false,
            reported: Vec::new(),
        }
    }

    /// A tracker for a hook-items batch collecting the directories `requested`.
    pub(super) fn for_hook_items(requested: &[String]) -> BatchTracker {
        BatchTracker {
            hook_items: true,
            ..BatchTracker::new(requested)
        }
    }

    fn note_reported(&mut self, node_id: &str) {
        if self.hook_items && self.reported.last().map(String::as_str) != Some(node_id) {
            self.reported.push(node_id.to_owned());
        }
    }

    fn settle_where(&mut self, matches: impl Fn(&str) -> bool) -> Vec<String> {
        let mut newly = Vec::new();
        for (requested, settled) in self.requested.iter().zip(self.settled.iter_mut()) {
            if !*settled && matches(requested) {
                *settled = true;
                newly.push(requested.clone());
            }
        }
        newly
    }

    pub(super) fn item(&mut self, result: &ItemResult) -> Vec<String> {
        self.note_reported(&result.node_id);
        if result.item_finished {
            self.unfinished = None;
            if self.hook_items {
                return Vec::new();
            }
            let node_id = result.node_id.clone();
            self.settle_where(|requested| covers(requested, &node_id))
        } else {
            self.unfinished = Some((result.node_id.clone(), result.phase));
            Vec::new()
        }
    }

    pub(super) fn collect_error(&mut self, node_id: &str) -> Vec<String> {
        self.settle_where(|requested| {
            node_id.is_empty()
                || requested == node_id
                || requested
                    .strip_prefix(node_id)
                    .is_some_and(|rest| rest.starts_with("::") || rest.starts_with('/'))
        })
    }

    /// The test that was running when the batch broke off, the phase it reached, and the
    /// requested node IDs it settles.
    pub(super) fn running(&mut self) -> Option<(String, Option<Phase>, Vec<String>)> {
        if let Some((node_id, phase)) = self.unfinished.take() {
            if self.hook_items {
                // Its report is the one the run gets; the requeued unit skips it.
                return Some((node_id, Some(phase), Vec::new()));
            }
            let settles = self.settle_where(|requested| covers(requested, &node_id));
            if !settles.is_empty() {
                return Some((node_id, Some(phase), settles));
            }
        }
        let position = self.settled.iter().position(|s| !s)?;
        self.settled[position] = true;
        let node_id = self.requested[position].clone();
        Some((node_id.clone(), None, vec![node_id]))
    }

    /// Everything not settled yet, in request order; marks it settled.
    pub(super) fn take_rest(&mut self) -> Vec<String> {
        self.settle_where(|_| true)
    }

    /// The items a hook-items batch reported (finished or not), in report order.
    pub(super) fn reported(&self) -> &[String] {
        &self.reported
    }
}

pub(super) struct Driver<'a> {
    id: WorkerId,
    shared: &'a Shared,
    local: LocalQueue<WorkUnit>,
    stealers: &'a [Stealer<WorkUnit>],
    sender: Sender<Internal>,
    /// The run's pool configuration with this slot's [`WorkerIdentity`]: what its workers
    /// start with.
    pool: PoolConfig,
    process: Option<WorkerProcess>,
    batches: u32,
    start_failures: u32,
}

/// How a batch ended.
enum BatchEnd {
    Done(Done),
    Lost(Incident),
    Cancelled,
}

/// How a new worker's ImportModules ended.
enum ImportEnd {
    Done,
    /// The worker broke off (why, and how it ended).
    Failed(String, ExitReason),
    Cancelled,
}

impl<'a> Driver<'a> {
    pub(super) fn new(
        id: WorkerId,
        shared: &'a Shared,
        local: LocalQueue<WorkUnit>,
        stealers: &'a [Stealer<WorkUnit>],
        sender: Sender<Internal>,
    ) -> Driver<'a> {
        let mut pool = shared.config.pool.clone();
        pool.identity = Some(WorkerIdentity {
            slot: id.0,
            count: pool.worker_count(),
            testrun_uid: shared.testrun_uid.clone(),
        });
        Driver {
            id,
            shared,
            local,
            stealers,
            sender,
            pool,
            process: None,
            batches: 0,
            start_failures: 0,
        }
    }

    /// `DXPY_TRACE=1`: one line on stderr per step of this slot's worker, for finding
    /// where a run's time goes.
    fn trace(&self, step: &str, since: Instant) {
        if std::env::var_os("DXPY_TRACE").is_some_and(|v| v == "1") {
            // A debugging aid on the run's stderr, not part of the library's output.
            let _ = writeln!(
                std::io::stderr(),
                "dx-py trace: worker {}: {step} in {:.1} ms",
                self.id.0,
                since.elapsed().as_secs_f64() * 1e3
            );
        }
    }

    fn emit(&self, event: RunEvent) {
        self.shared.note_failures(&event);
        let _ = self.sender.send(Internal::Event(Box::new(event)));
    }

    fn settle(&self, node_ids: Vec<String>) {
        if !node_ids.is_empty() {
            let _ = self.sender.send(Internal::Accounted(node_ids));
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::SeqCst)
    }

    fn cancelled(&self) -> bool {
        self.shared.cancelled()
    }

    fn next_unit(&self) -> Option<WorkUnit> {
        if let Some(unit) = self.local.pop() {
            return Some(unit);
        }
        loop {
            let mut retry = false;
            match self.shared.injector.steal() {
                Steal::Success(unit) => return Some(unit),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            for stealer in self.stealers {
                match stealer.steal() {
                    Steal::Success(unit) => return Some(unit),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    pub(super) fn run(mut self) {
        while !self.stopping() {
            let Some(unit) = self.next_unit() else { break };
            if !self.ensure_worker() || !self.start_unit() {
                // Back to the shared queue for another slot; the completeness check
                // reports it if no slot can start a worker, or the run stopped meanwhile.
                self.shared.injector.push(unit);
                break;
            }
            self.run_unit(unit);
        }
        // Units left in this slot's own queue (requeued after a crash) when stopping.
        while let Some(unit) = self.local.pop() {
            let reason = match self.shared.stop_reason() {
                _ if self.cancelled() => NotRunReason::Cancelled,
                Some(reason) => reason.not_run_reason(),
                None => NotRunReason::Stopped,
            };
            self.not_run(unit.node_ids, reason);
        }
        self.retire_worker();
    }

    /// Marks that a unit starts, unless the run stopped (a worker's import found
    /// collection errors while this one started): then `false`.
    fn start_unit(&self) -> bool {
        let Ok(mut collection) = self.shared.collection.lock() else {
            return !self.stopping();
        };
        if self.stopping() {
            return false;
        }
        collection.unit_started = true;
        true
    }

    /// What a worker's ImportModules met: before any unit started, an error stops the run
    /// as pytest's collection errors do, reported once per node ID (see [`crate::run`]).
    /// Otherwise the batches that run those modules report them.
    fn settle_import_problems(&self, problems: Vec<CollectErrorReport>) {
        let errors = problems.iter().any(|p| p.outcome == Outcome::Error);
        if !errors || self.shared.config.continue_on_collection_errors {
            return;
        }
        let Ok(mut collection) = self.shared.collection.lock() else {
            return;
        };
        if collection.unit_started {
            return;
        }
        for report in problems {
            if collection.reported.insert(report.node_id.clone()) {
                self.emit(RunEvent::CollectError {
                    worker: self.id,
                    report,
                });
            }
        }
        self.shared.request_stop(StopReason::CollectErrors);
    }

    fn not_run(&self, node_ids: Vec<String>, reason: NotRunReason) {
        for node_id in &node_ids {
            self.emit(RunEvent::NotRun {
                node_id: node_id.clone(),
                reason: reason.clone(),
            });
        }
        self.settle(node_ids);
    }

    /// Shuts the current worker down (bounded), forwarding its last reports.
    fn retire_worker(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        let pid = process.pid();
        let retiring = Instant::now();
        let reason = if self.cancelled() {
            let mut process = process;
            process.kill();
            ExitReason::KilledByPool
        } else {
            let (late, reason) = process.shutdown(self.shared.config.pool.shutdown_timeout);
            for message in late {
                self.forward(message);
            }
            reason
        };
        self.trace("worker shut down", retiring);
        self.emit(RunEvent::WorkerExited {
            worker: self.id,
            pid,
            reason,
        });
    }

    /// Makes sure a live worker is available; `false` when this slot gives up.
    fn ensure_worker(&mut self) -> bool {
        if self.process.is_some() && self.batches >= self.shared.config.pool.max_batches_per_worker
        {
            self.retire_worker();
        }
        while self.process.is_none() {
            let starting = Instant::now();
            match self.start_worker() {
                Ok((process, early)) => {
                    self.start_failures = 0;
                    self.batches = 0;
                    self.emit(RunEvent::WorkerStarted {
                        worker: self.id,
                        ready: process.ready().clone(),
                    });
                    for message in early {
                        self.forward(message);
                    }
                    self.trace("worker started (fork or spare, Hello to Ready)", starting);
                    let importing = Instant::now();
                    let imported = self.import_test_modules(process);
                    self.trace("test modules imported", importing);
                    match imported {
                        Ok(Some(process)) => self.process = Some(process),
                        // Replaced by the next turn of the loop, without the step.
                        Ok(None) => {}
                        Err(()) => return false,
                    }
                }
                Err(err) => {
                    let message = err.to_string();
                    if let Ok(mut last) = self.shared.last_start_failure.lock() {
                        *last = Some(message.clone());
                    }
                    self.emit(RunEvent::WorkerStartFailed {
                        worker: self.id,
                        message,
                    });
                    self.start_failures += 1;
                    if self.start_failures >= MAX_START_FAILURES || self.cancelled() {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Has a new worker import the run's test modules before its first batch (see
    /// [`crate::run`]); returns it, or `None` when it broke off doing so (it is gone, and
    /// from now on the run's workers skip the step, with one notice), or `Err` when the run
    /// was cancelled meanwhile (the worker is killed).
    fn import_test_modules(&self, mut process: WorkerProcess) -> Result<Option<WorkerProcess>, ()> {
        if !self.shared.import_modules.load(Ordering::SeqCst) {
            return Ok(Some(process));
        }
        match self.await_import(&mut process) {
            ImportEnd::Done => Ok(Some(process)),
            ImportEnd::Cancelled => {
                process.kill();
                Err(())
            }
            ImportEnd::Failed(why, reason) => {
                if self.shared.import_modules.swap(false, Ordering::SeqCst) {
                    self.emit(RunEvent::Notice {
                        message: format!(
                            "a worker broke off importing the test modules before its first \
                             batch ({why}); the run's workers skip that step from now on"
                        ),
                    });
                }
                self.emit(RunEvent::WorkerExited {
                    worker: self.id,
                    pid: process.pid(),
                    reason,
                });
                Ok(None)
            }
        }
    }

    /// Sends ImportModules and waits for its Done, within the start-up timeout; anything
    /// else the worker sends meanwhile belongs to no batch.
    fn await_import(&self, process: &mut WorkerProcess) -> ImportEnd {
        let pool = &self.shared.config.pool;
        let request = Request::ImportModules(ImportModules {
            paths: pool.test_modules.clone(),
        });
        let request_id = match process.send(request) {
            Ok(id) => id,
            Err(err) => {
                let reason = process.wait_exit();
                return ImportEnd::Failed(format!("cannot send it: {err}"), reason);
            }
        };
        let deadline = Instant::now() + pool.startup_timeout;
        let mut problems = Vec::new();
        loop {
            if self.cancelled() {
                return ImportEnd::Cancelled;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                process.kill();
                let why = format!("no answer within {}s", pool.startup_timeout.as_secs_f64());
                return ImportEnd::Failed(why, ExitReason::KilledByPool);
            }
            let frame = match process.recv(Some(left.min(POLL))) {
                Received::TimedOut => continue,
                Received::End(err) => {
                    let reason = process.wait_exit();
                    let detail = err.map(|e| format!(": {e}")).unwrap_or_default();
                    return ImportEnd::Failed(format!("{reason}{detail}"), reason);
                }
                Received::Frame(frame) => *frame,
            };
            if frame.request_id != request_id {
                continue;
            }
            match frame.message {
                WorkerMessage::Done(_) => {
                    self.settle_import_problems(problems);
                    return ImportEnd::Done;
                }
                WorkerMessage::Fatal(fatal) => {
                    let reason = process.wait_exit();
                    return ImportEnd::Failed(fatal.message, reason);
                }
                WorkerMessage::CollectError(report) => problems.push(report),
                other => self.forward(other),
            }
        }
    }

    /// Forks a worker from the run's zygote, else spawns one. A zygote failure, or a forked
    /// worker that fails at start-up, makes the run drop the zygote (one notice) and spawn.
    fn start_worker(&self) -> Result<(WorkerProcess, Vec<WorkerMessage>), crate::pool::PoolError> {
        let config = &self.pool;
        let resolved = &self.shared.resolved;
        if let Some(zygote) = self.shared.zygote() {
            // Each slot takes the spare made for it (`SpareSlot::replenish`).
            let spare = config.spare.as_ref().filter(|_| {
                matches!(&config.warm_start, WarmStart::Shared(shared) if Arc::ptr_eq(shared, &zygote))
            });
            if let Some(started) = spare.and_then(|slot| slot.take(&zygote, config, resolved)) {
                return Ok(started);
            }
            let failure = match zygote.fork_worker(config, resolved) {
                Ok(forked) => match WorkerProcess::adopt(forked, config, resolved, self.sink()) {
                    Ok(started) => return Ok(started),
                    Err(err) => format!("a forked worker failed at start-up: {err}"),
                },
                Err(err) => err.to_string(),
            };
            if let Some(message) = self.shared.drop_zygote(&failure) {
                self.emit(RunEvent::Notice { message });
            }
        }
        WorkerProcess::spawn(config, resolved, self.sink())
    }

    /// Where the worker's stderr lines go (`forward_stderr`), else nowhere.
    fn sink(&self) -> Option<crate::pool::StderrSink> {
        if !self.shared.config.pool.forward_stderr {
            return None;
        }
        let sender = self.sender.clone();
        let worker = self.id;
        Some(Box::new(move |line| {
            let event = RunEvent::Stderr { worker, line };
            let _ = sender.send(Internal::Event(Box::new(event)));
        }))
    }

    /// Forwards a message that belongs to no batch (before Ready, during Shutdown).
    fn forward(&self, message: WorkerMessage) {
        let mut unrelated = BatchTracker::new(&[]);
        forward_with(self.id, self.shared, &self.sender, message, &mut unrelated);
    }

    fn run_unit(&mut self, unit: WorkUnit) {
        let started = Instant::now();
        let mut tracker = match unit.kind {
            UnitKind::Tests => BatchTracker::new(&unit.node_ids),
            UnitKind::HookItems { .. } => BatchTracker::for_hook_items(&unit.node_ids),
        };
        let end = self.run_batch(&unit, &mut tracker);
        let elapsed = started.elapsed();
        self.trace("batch ran", started);
        self.batches += 1;
        match end {
            BatchEnd::Done(done) => {
                let rest = tracker.take_rest();
                let reason = match done.stop {
                    StopKind::Completed => NotRunReason::NoReport,
                    StopKind::Interrupted => {
                        self.shared.request_stop(StopReason::Interrupted);
                        NotRunReason::Stopped
                    }
                    StopKind::Exit => {
                        self.shared.request_stop(StopReason::Exit(done.exit_code));
                        NotRunReason::Stopped
                    }
                    StopKind::ShouldStop => NotRunReason::Stopped,
                };
                if unit.kind.is_hook_items() {
                    // Its directories were collected: whatever they held was reported.
                    self.settle(rest);
                } else {
                    self.not_run(rest, reason);
                }
                self.emit(RunEvent::UnitFinished {
                    worker: self.id,
                    key: unit.key,
                    elapsed,
                    done: Some(done),
                });
            }
            BatchEnd::Lost(incident) => {
                let pid = match &incident {
                    Incident::Crash { pid, .. } | Incident::Timeout { pid, .. } => *pid,
                };
                let reason = match &incident {
                    Incident::Crash { reason, .. } => *reason,
                    Incident::Timeout { .. } => ExitReason::KilledByPool,
                };
                self.process = None;
                self.shared.worker_lost();
                if let Some((node_id, phase, settles)) = tracker.running() {
                    let result = synthesized(&node_id, phase, &incident, elapsed);
                    self.emit(RunEvent::Incident {
                        worker: self.id,
                        incident,
                        result,
                    });
                    self.settle(settles);
                }
                self.emit(RunEvent::WorkerExited {
                    worker: self.id,
                    pid,
                    reason,
                });
                let rest = tracker.take_rest();
                self.emit(RunEvent::UnitFinished {
                    worker: self.id,
                    key: unit.key.clone(),
                    elapsed,
                    done: None,
                });
                if !rest.is_empty() {
                    // Requeued on this slot's own deque: a fresh worker picks it up here,
                    // or an idle slot steals it. Not settled yet: it will be run.
                    let kind = match unit.kind {
                        UnitKind::Tests => UnitKind::Tests,
                        UnitKind::HookItems {
                            skip_dirs,
                            mut skip_items,
                        } => {
                            skip_items.extend(tracker.reported().iter().cloned());
                            UnitKind::HookItems {
                                skip_dirs,
                                skip_items,
                            }
                        }
                    };
                    self.local.push(WorkUnit {
                        key: unit.key,
                        first_index: unit.first_index,
                        node_ids: rest,
                        kind,
                    });
                }
            }
            BatchEnd::Cancelled => {
                self.process = None;
                let rest = tracker.take_rest();
                self.not_run(rest, NotRunReason::Cancelled);
            }
        }
    }

    fn run_batch(&mut self, unit: &WorkUnit, tracker: &mut BatchTracker) -> BatchEnd {
        let timeout = self.shared.config.pool.test_timeout;
        let Some(process) = self.process.as_mut() else {
            return BatchEnd::Cancelled;
        };
        let pid = process.pid();
        let request = match &unit.kind {
            UnitKind::Tests => Request::RunItems(RunItems {
                first_index: unit.first_index,
                keep_session: true,
                node_ids: unit.node_ids.clone(),
            }),
            UnitKind::HookItems {
                skip_dirs,
                skip_items,
            } => Request::RunHookItems(RunHookItems {
                first_index: unit.first_index,
                keep_session: true,
                paths: unit.node_ids.clone(),
                skip_dirs: skip_dirs.clone(),
                skip_items: skip_items.clone(),
            }),
        };
        let request_id = match process.send(request) {
            Ok(id) => id,
            Err(err) => return BatchEnd::Lost(crash(process, Some(err.to_string()))),
        };
        let mut last_progress = Instant::now();
        loop {
            if self.shared.cancelled() {
                process.kill();
                return BatchEnd::Cancelled;
            }
            let wait = match timeout {
                Some(limit) => {
                    let left = (last_progress + limit).saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        process.kill();
                        return BatchEnd::Lost(Incident::Timeout {
                            pid,
                            seconds: limit.as_secs_f64(),
                        });
                    }
                    left.min(POLL)
                }
                None => POLL,
            };
            let frame = match process.recv(Some(wait)) {
                Received::TimedOut => continue,
                Received::End(err) => {
                    return BatchEnd::Lost(crash(process, err.map(|e| e.to_string())))
                }
                Received::Frame(frame) => *frame,
            };
            if frame.request_id != request_id {
                continue;
            }
            match frame.message {
                WorkerMessage::Done(done) => return BatchEnd::Done(done),
                WorkerMessage::Fatal(fatal) => {
                    let detail = format!("{}\n{}", fatal.message, fatal.traceback);
                    return BatchEnd::Lost(crash(process, Some(detail)));
                }
                WorkerMessage::ItemResult(ref result) if result.item_finished => {
                    last_progress = Instant::now();
                    let message = frame.message;
                    forward_with(self.id, self.shared, &self.sender, message, tracker);
                }
                message => forward_with(self.id, self.shared, &self.sender, message, tracker),
            }
        }
    }
}

/// [`Driver::forward`] without borrowing the whole driver (the process is borrowed).
fn forward_with(
    worker: WorkerId,
    shared: &Shared,
    sender: &Sender<Internal>,
    message: WorkerMessage,
    tracker: &mut BatchTracker,
) {
    let settled = match &message {
        WorkerMessage::ItemResult(result) => tracker.item(result),
        WorkerMessage::CollectError(report) => tracker.collect_error(&report.node_id),
        _ => Vec::new(),
    };
    let event = match message {
        WorkerMessage::ItemResult(result) => RunEvent::Report {
            worker,
            result: *result,
        },
        WorkerMessage::CollectError(report) => RunEvent::CollectError { worker, report },
        WorkerMessage::Warning(record) => RunEvent::Warning { worker, record },
        WorkerMessage::Log(record) => RunEvent::Log { worker, record },
        WorkerMessage::Deselected(deselected) => RunEvent::Deselected {
            worker,
            node_ids: deselected.node_ids,
        },
        WorkerMessage::Executed(record) => RunEvent::Executed { worker, record },
        WorkerMessage::Ambient(record) => RunEvent::Ambient { worker, record },
        WorkerMessage::Ready(_) | WorkerMessage::Done(_) | WorkerMessage::Fatal(_) => return,
    };
    // The report goes out before its settlement so the coordinator never sees a node ID
    // settled without its event.
    shared.note_failures(&event);
    let _ = sender.send(Internal::Event(Box::new(event)));
    if !settled.is_empty() {
        let _ = sender.send(Internal::Accounted(settled));
    }
}

fn crash(process: &mut WorkerProcess, stream_error: Option<String>) -> Incident {
    let reason = process.wait_exit();
    // The last lines (a faulthandler dump) may still be in the pipe.
    process.drain_stderr(crate::pool::process::STDERR_DRAIN_GRACE);
    Incident::Crash {
        pid: process.pid(),
        reason,
        stream_error,
        stderr_tail: process.stderr_tail(),
    }
}

/// The report the pool makes for the test a worker could not finish: a failed call when the
/// test had not reached teardown, else an errored teardown (pytest's categories).
fn synthesized(
    node_id: &str,
    phase: Option<Phase>,
    incident: &Incident,
    elapsed: Duration,
) -> ItemResult {
    let (phase, outcome) = match phase {
        Some(Phase::Teardown) => (Phase::Teardown, Outcome::Error),
        _ => (Phase::Call, Outcome::Failed),
    };
    let path = node_id.split("::").next().unwrap_or(node_id).to_owned();
    ItemResult {
        test_index: crate::protocol::NO_TEST_INDEX,
        node_id: node_id.to_owned(),
        outcome,
        phase,
        duration: elapsed,
        item_finished: true,
        output_truncated: false,
        in_summary: true,
        longrepr: incident.describe(node_id),
        stdout: String::new(),
        stderr: String::new(),
        sections: Vec::new(),
        skip_reason: String::new(),
        location: Location {
            path,
            line: None,
            domain: node_id
                .split_once("::")
                .map(|(_, d)| d.replace("::", "."))
                .unwrap_or_default(),
        },
        category: String::new(),
        letter: String::new(),
        word: String::new(),
        head_line: String::new(),
        crash_line: String::new(),
        crash_message: String::new(),
        progress_hidden: false,
        skip_location: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker's report on `node_id`, the last of its item when `finished`.
    fn report(node_id: &str, finished: bool) -> ItemResult {
        ItemResult {
            item_finished: finished,
            ..synthesized(
                node_id,
                None,
                &Incident::Timeout {
                    pid: 1,
                    seconds: 1.0,
                },
                Duration::ZERO,
            )
        }
    }

    #[test]
    fn tracker_settles_parametrized_children_and_collect_errors() {
        let requested: Vec<String> = ["a.py::f", "a.py::T", "b.py::g", "b.py::h"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut tracker = BatchTracker::new(&requested);
        let finished = |node_id: &str| report(node_id, true);
        assert_eq!(tracker.item(&finished("a.py::f[1]")), ["a.py::f"]);
        assert!(tracker.item(&finished("a.py::f[2]")).is_empty());
        assert!(
            tracker.item(&finished("a.py::ff")).is_empty(),
            "a prefix is not a child"
        );
        assert_eq!(tracker.item(&finished("a.py::T::test_x")), ["a.py::T"]);
        assert_eq!(tracker.collect_error("b.py"), ["b.py::g", "b.py::h"]);
        assert!(tracker.running().is_none());
    }

    #[test]
    fn hook_tracker_settles_no_directory_by_reports_and_remembers_them() {
        let dirs: Vec<String> = ["data/a", "data/b"].iter().map(|s| s.to_string()).collect();
        let mut tracker = BatchTracker::for_hook_items(&dirs);
        assert!(tracker
            .item(&report("data/a/x.yaml::one", false))
            .is_empty());
        assert!(tracker.item(&report("data/a/x.yaml::one", true)).is_empty());
        assert!(tracker
            .item(&report("data/a/x.yaml::two", false))
            .is_empty());
        assert_eq!(
            tracker.reported(),
            ["data/a/x.yaml::one", "data/a/x.yaml::two"]
        );
        // The crashed item is the unfinished one; it settles no directory.
        let (node_id, phase, settles) = tracker.running().expect("running");
        assert_eq!(
            (node_id.as_str(), phase, settles.len()),
            ("data/a/x.yaml::two", Some(Phase::Call), 0)
        );
        // Both directories are requeued (the reported items will be skipped).
        assert_eq!(tracker.take_rest(), dirs);
        // A crash outside any item blames the first directory, so a retry progresses.
        let mut tracker = BatchTracker::for_hook_items(&dirs);
        let (node_id, phase, settles) = tracker.running().expect("blamed");
        assert_eq!((node_id.as_str(), phase), ("data/a", None));
        assert_eq!(settles, ["data/a"]);
        assert_eq!(tracker.take_rest(), ["data/b"]);
    }

    #[test]
    fn running_item_is_the_unfinished_one_else_the_next_unsettled() {
        let requested: Vec<String> = ["m.py::a", "m.py::b", "m.py::c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut tracker = BatchTracker::new(&requested);
        let mut report = synthesized(
            "m.py::b",
            None,
            &Incident::Timeout {
                pid: 1,
                seconds: 1.0,
            },
            Duration::ZERO,
        );
        report.item_finished = false;
        assert!(tracker.item(&report).is_empty());
        let (node_id, phase, settles) = tracker.running().expect("running");
        assert_eq!(
            (node_id.as_str(), phase, settles),
            ("m.py::b", Some(Phase::Call), vec!["m.py::b".to_owned()])
        );
        let (node_id, phase, _) = tracker.running().expect("next");
        assert_eq!((node_id.as_str(), phase), ("m.py::a", None));
        assert_eq!(tracker.take_rest(), ["m.py::c"]);
    }
}
