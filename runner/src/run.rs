//! A test run over the worker pool: work stealing, streamed events, maxfail, accounting.
//!
//! Layout:
//! - this file: [`RunConfig`], [`Run::execute`] (the coordinator: starts one driver thread per
//!   worker slot, streams [`RunEvent`]s to the caller's callback in arrival order, applies
//!   `--maxfail`, and checks at the end that every scheduled node ID was accounted for);
//! - [`events`]: the event and summary types;
//! - `driver`: one slot's loop (take a unit, run it on its worker, contain crashes and
//!   hangs, requeue what did not run) and the per-batch accounting.
//!
//! # Distribution
//!
//! The planned units (already ordered longest-first) go into a crossbeam `Injector`. Each slot
//! owns a local deque: it takes from its own deque first, then from the injector, then steals
//! from the other slots. Leftovers of a crashed or timed-out batch go to the crashing slot's
//! own deque, so an idle slot can steal them while that slot starts a fresh worker.
//!
//! # Warm start
//!
//! With [`WarmStart::Zygote`] the coordinator starts a zygote before the drivers and every
//! worker (replacements after crashes and recycling included) is forked from it; with
//! [`WarmStart::Shared`] the caller's zygote is used. When the zygote cannot start, does not
//! fit the pool's interpreter or environment, dies, or a forked worker fails at start-up,
//! the run drops it and spawns from then on, with one [`RunEvent::Notice`] saying why.
//!
//! # Test modules first
//!
//! pytest imports every collected test module before it runs any test, and tests may rely
//! on that (a module-level `import pkg.sub` another module's test needs). So, as each
//! pytest-xdist worker collects the whole session, each new worker (replacements and
//! recycled ones included) is sent ImportModules with [`PoolConfig::test_modules`] right
//! after it started and before its first batch, and the slot waits for its Done (within the
//! start-up timeout). A worker that dies, fails or hangs there is replaced, and from then on
//! the run's workers skip the step (one [`RunEvent::Notice`]): the batch that imports the
//! culprit module meets the crash as it would without the step, with its containment.
//!
//! # Collection errors
//!
//! pytest stops before running any test when collection met an error ("Interrupted: N
//! errors during collection", exit code 2) unless `--continue-on-collection-errors`. The
//! workers' ImportModules answers carry the collection problems they met; the first slot
//! whose import finds an error reports them (each node ID once, the skipped collectors
//! beside them as pytest shows them) and stops the run with [`StopReason::CollectErrors`]
//! before any unit starts: every worker imports every test module before its first batch,
//! so no test can have run. Problems found once a unit has started (a replacement worker's
//! import) are left to the batches, which report them as without the step.
//!
//! # Stopping (`-x` / `--maxfail`)
//!
//! pytest-xdist's rule: once the failure count reaches maxfail, the controller stops
//! scheduling and asks every worker to shut down; each worker still runs the tests already
//! sent to it, and their reports are still shown (so more than `maxfail` failures may be
//! reported). Here the tests sent to a worker are its running unit, so: no new unit starts,
//! running units finish completely and their results are delivered, and units never started
//! are reported [`NotRunReason::Stopped`]. A finer stop (after the current test) needs the
//! planned Cancel request (see `worker/PROTOCOL.md`). A batch ending with KeyboardInterrupt or
//! `pytest.exit()` stops the run the same way ([`StopReason`]). The callback returning
//! `ControlFlow::Break` cancels instead: workers are killed at once and everything unfinished
//! is [`NotRunReason::Cancelled`]; a panicking callback cancels too.

mod driver;
pub mod events;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_deque::{Injector, Worker as LocalQueue};

use crate::pool::{PoolConfig, PoolError, WarmStart, WorkerIdentity, Zygote, ZygoteSpec};
use crate::protocol::Outcome;
use crate::scheduler::WorkUnit;

pub use events::{Incident, NotRunReason, RunEvent, RunSummary, StopReason, WorkerId};

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub pool: PoolConfig,
    /// Stop scheduling after this many failures/errors (`-x` is 1).
    pub maxfail: Option<u32>,
    /// Set from outside (a Ctrl-C handler) to cancel the run even while no event arrives:
    /// drivers notice it within their polling interval and kill their workers.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// pytest's `--continue-on-collection-errors`: collection errors workers meet while
    /// importing the test modules do not stop the run (see "Collection errors" above).
    pub continue_on_collection_errors: bool,
}

/// One run of a planned set of units.
#[derive(Debug)]
pub struct Run {
    config: RunConfig,
}

/// Messages from driver threads to the coordinator.
#[derive(Debug)]
enum Internal {
    Event(Box<RunEvent>),
    /// These scheduled node IDs are settled (reported, or reported not run).
    Accounted(Vec<String>),
    /// A driver thread ended.
    DriverFinished,
}

/// Tells the coordinator a driver ended, on drop (also when the driver panics).
struct DriverFinished(mpsc::Sender<Internal>);

impl Drop for DriverFinished {
    fn drop(&mut self) {
        let _ = self.0.send(Internal::DriverFinished);
    }
}

/// State shared by the coordinator and the drivers.
#[derive(Debug)]
struct Shared {
    config: RunConfig,
    resolved: crate::pool::Resolved,
    injector: Injector<WorkUnit>,
    /// No new unit may start.
    stop: AtomicBool,
    /// Kill workers now (the callback asked to stop).
    cancel: AtomicBool,
    /// Why `stop` was set (the first reason wins).
    stop_reason: Mutex<Option<StopReason>>,
    /// Workers lost to crashes and timeouts so far.
    crashes: AtomicU32,
    /// Reports counting towards `--maxfail` so far. Counted by the drivers as they forward
    /// them, so a slot sees the stop before it takes its next unit.
    failures: AtomicU32,
    /// Last worker start-up failure, quoted for units nobody could run.
    last_start_failure: Mutex<Option<String>>,
    /// The zygote workers are forked from, while it is usable.
    zygote: Mutex<Option<Arc<Zygote>>>,
    /// New workers import the run's test modules before their first batch: there are some,
    /// and no worker has broken off doing so yet.
    import_modules: AtomicBool,
    /// Whether a unit started, and the collection problems reported before one did.
    collection: Mutex<Collection>,
    /// pytest-xdist's `testrun_uid` for every worker of this run.
    testrun_uid: String,
}

/// Guarded together so that a run either stops for collection errors or starts units.
#[derive(Debug, Default)]
struct Collection {
    unit_started: bool,
    reported: std::collections::HashSet<String>,
}

impl Shared {
    /// The callback asked to stop, or the caller's interrupt flag is set.
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
            || self
                .config
                .interrupt
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }
}

impl Run {
    pub fn new(config: RunConfig) -> Run {
        Run { config }
    }

    /// Runs `units` (in the given order, see [`crate::scheduler::plan`]) and calls `on_event`
    /// for each event as it arrives. Returns an error only when workers cannot be set up at
    /// all (no worker package); worker crashes and start-up failures become events.
    pub fn execute<F>(&self, units: Vec<WorkUnit>, mut on_event: F) -> Result<RunSummary, PoolError>
    where
        F: FnMut(RunEvent) -> ControlFlow<()>,
    {
        let started = Instant::now();
        let resolved = self.config.pool.resolve()?;
        let (zygote, notice) = match &self.config.pool.warm_start {
            WarmStart::Spawn => (None, None),
            WarmStart::Zygote => {
                let spec = ZygoteSpec::with_resolved(&self.config.pool, &resolved);
                match Zygote::start(&spec) {
                    Ok(zygote) => (Some(zygote), None),
                    Err(err) => (None, Some(fallback_notice(&err.to_string()))),
                }
            }
            WarmStart::Shared(zygote) if zygote.is_alive() => {
                if let Some(slot) = &self.config.pool.spare {
                    slot.remember(&self.config.pool, zygote);
                }
                (Some(Arc::clone(zygote)), None)
            }
            WarmStart::Shared(zygote) => (
                None,
                Some(fallback_notice(&format!(
                    "the shared zygote (pid {}) has exited",
                    zygote.pid()
                ))),
            ),
        };
        let mut expected: HashMap<String, u32> = HashMap::new();
        for node_id in units.iter().flat_map(|u| u.node_ids.iter()) {
            *expected.entry(node_id.clone()).or_default() += 1;
        }
        let shared = Shared {
            config: self.config.clone(),
            resolved,
            injector: Injector::new(),
            stop: AtomicBool::new(false),
            cancel: AtomicBool::new(false),
            stop_reason: Mutex::new(None),
            crashes: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            last_start_failure: Mutex::new(None),
            zygote: Mutex::new(zygote),
            import_modules: AtomicBool::new(!self.config.pool.test_modules.is_empty()),
            collection: Mutex::new(Collection::default()),
            testrun_uid: self
                .config
                .pool
                .testrun_uid
                .clone()
                .or_else(|| {
                    let spare = self.config.pool.spare.as_ref()?;
                    spare.upcoming_testrun_uid()
                })
                .unwrap_or_else(WorkerIdentity::new_testrun_uid),
        };
        // A worker per unit at most: another would start and shut down without a test.
        let slots = self.config.pool.worker_count().min(units.len()).max(1);
        for unit in units {
            shared.injector.push(unit);
        }
        let locals: Vec<LocalQueue<WorkUnit>> =
            (0..slots).map(|_| LocalQueue::new_fifo()).collect();
        let stealers: Vec<_> = locals.iter().map(|l| l.stealer()).collect();
        let mut summary = RunSummary::default();
        if let Some(message) = notice {
            // Nothing else has been delivered yet: the callback cannot have asked to stop.
            let _ = on_event(RunEvent::Notice { message });
        }
        let (sender, receiver) = mpsc::channel::<Internal>();
        std::thread::scope(|scope| {
            for (slot, local) in locals.into_iter().enumerate() {
                let sender = sender.clone();
                let shared = &shared;
                let stealers = &stealers;
                scope.spawn(move || {
                    // Sent even if the driver panics, so the loop below always ends.
                    let _finished = DriverFinished(sender.clone());
                    driver::Driver::new(WorkerId(slot), shared, local, stealers, sender).run();
                });
            }
            drop(sender);
            // If the callback panics, the scope still joins the drivers: make them kill their
            // workers and quit instead of running the rest of the suite unobserved.
            let _cancel_on_unwind = CancelOnUnwind(&shared);
            let mut delivering = true;
            // Ends when every driver has finished, not when every sender is gone: a stderr
            // thread may outlive its worker (a grandchild that left the process group keeps
            // the pipe open), and its late lines are dropped.
            let mut running = slots;
            while running > 0 {
                let Ok(message) = receiver.recv() else { break };
                match message {
                    Internal::DriverFinished => running -= 1,
                    Internal::Accounted(node_ids) => {
                        for node_id in node_ids {
                            if let Some(count) = expected.get_mut(&node_id) {
                                *count = count.saturating_sub(1);
                            }
                        }
                    }
                    Internal::Event(event) => {
                        let event = *event;
                        summary.observe(&event);
                        if delivering && on_event(event).is_break() {
                            delivering = false;
                            shared.request_stop(StopReason::Cancelled);
                            shared.cancel.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
        });
        // Completeness: anything scheduled but never settled.
        summary.stop = shared.stop_reason();
        let lost_reason = match &summary.stop {
            Some(reason) => reason.not_run_reason(),
            None => NotRunReason::WorkerLost(
                shared
                    .last_start_failure
                    .lock()
                    .ok()
                    .and_then(|f| f.clone())
                    .unwrap_or_else(|| "no worker reported it".to_owned()),
            ),
        };
        let mut missing: Vec<(String, u32)> =
            expected.into_iter().filter(|(_, n)| *n > 0).collect();
        missing.sort();
        for (node_id, count) in missing {
            for _ in 0..count {
                let event = RunEvent::NotRun {
                    node_id: node_id.clone(),
                    reason: lost_reason.clone(),
                };
                summary.observe(&event);
                if !shared.cancel.load(Ordering::SeqCst) {
                    let _ = on_event(event);
                }
            }
        }
        summary.elapsed = started.elapsed();
        Ok(summary)
    }
}

/// The one notice of a run that stopped using its zygote.
fn fallback_notice(reason: &str) -> String {
    format!("warm start disabled, spawning workers instead: {reason}")
}

impl Shared {
    /// The zygote to fork from, if the run still uses one.
    fn zygote(&self) -> Option<Arc<Zygote>> {
        self.zygote.lock().ok().and_then(|z| z.clone())
    }

    /// Stops forking; returns the notice for the first caller only.
    fn drop_zygote(&self, reason: &str) -> Option<String> {
        let mut zygote = self.zygote.lock().ok()?;
        zygote.take().map(|_| fallback_notice(reason))
    }

    /// Stops scheduling; the first reason is the one reported.
    fn request_stop(&self, reason: StopReason) {
        if let Ok(mut current) = self.stop_reason.lock() {
            current.get_or_insert(reason);
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stop_reason(&self) -> Option<StopReason> {
        self.stop_reason.lock().ok().and_then(|r| r.clone())
    }

    /// Applies `--maxfail` to an event about to be delivered.
    fn note_failures(&self, event: &RunEvent) {
        let Some(limit) = self.config.maxfail else {
            return;
        };
        if events::failure_count(event) > 0 {
            let seen = self
                .failures
                .fetch_add(1, Ordering::SeqCst)
                .saturating_add(1);
            if seen >= limit {
                self.request_stop(StopReason::MaxFail(limit));
            }
        }
    }

    /// Counts a lost worker; past the restart budget the run stops.
    fn worker_lost(&self) {
        let lost = self
            .crashes
            .fetch_add(1, Ordering::SeqCst)
            .saturating_add(1);
        let budget = self.config.pool.restart_budget();
        if lost > budget {
            self.request_stop(StopReason::CrashLimit(budget));
        }
    }
}

struct CancelOnUnwind<'a>(&'a Shared);

impl Drop for CancelOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop.store(true, Ordering::SeqCst);
            self.0.cancel.store(true, Ordering::SeqCst);
        }
    }
}

/// Whether a report counts towards `--maxfail` (pytest counts failed reports of any phase).
pub(crate) fn counts_as_failure(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Failed | Outcome::Error)
}
