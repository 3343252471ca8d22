//! Spare workers: a worker forked from a long-lived zygote and handed Hello (its pytest
//! session started: config, plugins, conftests) ahead of the run that will use it, so that
//! run skips those costs.
//!
//! A [`SpareSlot`] belongs to the caller that keeps the zygote (the daemon) and reaches runs
//! through [`PoolConfig::spare`]. A run that forks from a shared zygote remembers its pool
//! configuration in the slot ([`SpareSlot::remember`]); later, while idle, the caller asks
//! for spares made like that run's workers ([`SpareSlot::replenish`]): one per worker slot
//! (up to [`MAX_SPARES`]), each with its slot's identity, so that no worker of the next run
//! starts its session then. A run's worker start in slot N takes slot N's spare only if it
//! equals what a fresh fork would be now: the same zygote, interpreter and worker package,
//! working directory, the whole worker environment and every Hello field ([`SpareKey`]);
//! anything else kills it and forks fresh. A spare is taken once and never handed out again
//! after it ran anything.
//!
//! Each slot also gets a parked spare: forked at the same time and sent Hello with `PARK`,
//! it starts pytest (ini files, plugins) and stops before its conftests load, so it has run
//! no project code. When an edit makes the started spare stale, a run takes the parked one
//! and resumes it: conftests and session start are all that is left of a worker's start.
//!
//! The files the spare's session loaded (first-party code, conftests, config files) are not
//! the slot's to judge: the caller must [`SpareSlot::discard_started`] the started spares
//! when any of them may have changed since just before they were forked, and
//! [`SpareSlot::discard`] every spare when the files a parked one read (config files) may
//! have.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::protocol::{Hello, WorkerMessage};

use super::process::{hello_of, ParkedWorker, WorkerProcess};
use super::zygote::{worker_env, Zygote};
use super::{PoolConfig, PoolError, Resolved, WorkerIdentity};

/// Everything a new worker's start depends on besides the files its session loads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpareKey {
    zygote_pid: u32,
    resolved: Resolved,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    /// Kept beside `hello`, whose copy of it is lossy for a path that is not UTF-8.
    rootdir: PathBuf,
    hello: Hello,
    preload: Vec<String>,
    /// Spares have no stderr sink: a run that forwards stderr never takes one.
    forward_stderr: bool,
}

impl SpareKey {
    fn now(zygote: &Zygote, config: &PoolConfig, resolved: &Resolved) -> SpareKey {
        SpareKey {
            zygote_pid: zygote.pid(),
            resolved: resolved.clone(),
            cwd: std::env::current_dir().ok(),
            env: worker_env(config, resolved),
            rootdir: config.rootdir.clone(),
            hello: hello_of(config),
            preload: config.preload.clone(),
            forward_stderr: config.forward_stderr,
        }
    }

    /// Why a spare made with `self` does not serve a run wanting `wanted`: the first part
    /// that differs.
    fn mismatch(&self, wanted: &SpareKey) -> Option<&'static str> {
        let differs = [
            (
                self.zygote_pid != wanted.zygote_pid,
                "its zygote was replaced",
            ),
            (
                self.resolved != wanted.resolved,
                "the run's interpreter differs",
            ),
            (
                self.cwd != wanted.cwd,
                "the run's working directory differs",
            ),
            (self.env != wanted.env, "the run's environment differs"),
            (self.rootdir != wanted.rootdir, "the run's rootdir differs"),
            (
                self.hello != wanted.hello,
                "the run's pytest options differ",
            ),
            (self.preload != wanted.preload, "the run's preloads differ"),
            (
                self.forward_stderr != wanted.forward_stderr,
                "the run forwards stderr",
            ),
        ];
        differs.iter().find(|(d, _)| *d).map(|(_, why)| *why)
    }
}

/// Spares kept at most: one per worker slot of a run up to this many.
pub const MAX_SPARES: usize = 4;

/// A started worker waiting for a run: its Ready came, with the frames that preceded it.
#[derive(Debug)]
struct Spare {
    /// The worker slot it was made for (its `PYTEST_XDIST_WORKER`).
    slot: usize,
    key: SpareKey,
    process: WorkerProcess,
    early: Vec<WorkerMessage>,
}

/// A worker of one slot waiting, parked before its conftests, for a run to resume it.
#[derive(Debug)]
struct Parked {
    slot: usize,
    key: SpareKey,
    worker: ParkedWorker,
}

/// What runs did with spares (for status and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpareStats {
    /// Spares made (started and parked).
    pub made: u64,
    /// Started spares a run took as its worker.
    pub used: u64,
    /// Parked spares a run resumed as its worker.
    pub resumed: u64,
    /// Spares killed unused (stale, discarded, or not matching the run).
    pub discarded: u64,
    /// Why the last spare was discarded.
    pub last_discard: Option<String>,
}

#[derive(Debug, Default)]
struct SlotState {
    /// The waiting spares, one per worker slot, all made for the same next run.
    spares: Vec<Spare>,
    /// The parked spares made with them, one per worker slot.
    parked: Vec<Parked>,
    /// A parked spare failed to resume (it could not park, or its session could not
    /// start): none is made again until the zygote changes ([`SpareSlot::clear`]).
    no_parking: bool,
    /// The last run's pool (without its slot) and zygote: what the next spare is made like.
    template: Option<(PoolConfig, Arc<Zygote>)>,
    /// The `testrun_uid` the waiting spares were made with: the next run's (see
    /// [`SpareSlot::upcoming_testrun_uid`]).
    testrun_uid: Option<String>,
    stats: SpareStats,
}

/// The caller's place for the spare workers of its next run (see the module docs).
#[derive(Debug, Default)]
pub struct SpareSlot {
    state: Mutex<SlotState>,
}

impl SpareSlot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A run forking from `zygote` with `config`: the next spare is made like its workers.
    pub(crate) fn remember(&self, config: &PoolConfig, zygote: &Arc<Zygote>) {
        let mut config = config.clone();
        // The slot must not hold itself.
        config.spare = None;
        self.lock().template = Some((config, Arc::clone(zygote)));
    }

    /// Makes spares like the last remembered run's workers, one per worker slot (up to
    /// [`MAX_SPARES`]), in this process's current directory and environment, unless some are
    /// waiting or that run forwarded stderr. Returns whether spares are now waiting. Each has
    /// its slot's [`WorkerIdentity`], with one new `testrun_uid` that the next run adopts for
    /// all its workers. The spares start at once, each on its own thread.
    pub fn replenish(&self) -> Result<bool, PoolError> {
        let mut stale = (Vec::new(), Vec::new());
        let (config, zygote, park) = {
            let mut state = self.lock();
            if !state.spares.is_empty() || !state.parked.is_empty() {
                if state.testrun_uid.is_some() {
                    return Ok(true);
                }
                // A run adopted their testrun_uid: the spares it left are that run's.
                stale = (
                    std::mem::take(&mut state.spares),
                    std::mem::take(&mut state.parked),
                );
                state.stats.discarded += (stale.0.len() + stale.1.len()) as u64;
                state.stats.last_discard = Some("its run took another slot's spare".to_owned());
            }
            match &state.template {
                Some((config, zygote)) if !config.forward_stderr && zygote.is_alive() => {
                    (config.clone(), Arc::clone(zygote), !state.no_parking)
                }
                _ => return Ok(false),
            }
        };
        drop(stale);
        let testrun_uid = WorkerIdentity::new_testrun_uid();
        let count = config.worker_count().clamp(1, MAX_SPARES);
        // (A start that panicked leaves its slot without a spare.)
        type Made = (Option<Parked>, Result<Spare, PoolError>);
        let made: Vec<Made> = std::thread::scope(|scope| {
            let starts: Vec<_> = (0..count)
                .map(|slot| {
                    let (config, zygote, uid) = (&config, &zygote, &testrun_uid);
                    scope.spawn(move || {
                        // Parked first: it goes on alone while the started one is waited for.
                        let parked = park
                            .then(|| make_parked(config, zygote, slot, uid).ok())
                            .flatten();
                        (parked, make_spare(config, zygote, slot, uid))
                    })
                })
                .collect();
            starts
                .into_iter()
                .filter_map(|start| start.join().ok())
                .collect()
        });
        let mut state = self.lock();
        let mut first_error = None;
        for (parked, result) in made {
            if let Some(parked) = parked {
                state.stats.made += 1;
                state.parked.push(parked);
            }
            match result {
                Ok(spare) => {
                    state.stats.made += 1;
                    state.spares.push(spare);
                }
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        if state.spares.is_empty() && state.parked.is_empty() {
            return first_error.map_or(Ok(false), Err);
        }
        state.testrun_uid = Some(testrun_uid);
        Ok(true)
    }

    /// The `testrun_uid` of the spare made for the next run, once: a run adopts it so that
    /// its workers and the spare share one id (each run gets a new one).
    pub fn upcoming_testrun_uid(&self) -> Option<String> {
        self.lock().testrun_uid.take()
    }

    /// A worker for `config`'s slot from the spares, if one equals what a fresh fork from
    /// `zygote` for `config` would be now and is still running: the started spare, else the
    /// parked one, resumed. A spare that does not is killed.
    pub(crate) fn take(
        &self,
        zygote: &Zygote,
        config: &PoolConfig,
        resolved: &Resolved,
    ) -> Option<(WorkerProcess, Vec<WorkerMessage>)> {
        let slot = config.identity.as_ref().map_or(0, |identity| identity.slot);
        let wanted = SpareKey::now(zygote, config, resolved);
        self.take_started(slot, &wanted)
            .or_else(|| self.resume_parked(slot, &wanted, config, resolved))
    }

    fn take_started(
        &self,
        slot: usize,
        wanted: &SpareKey,
    ) -> Option<(WorkerProcess, Vec<WorkerMessage>)> {
        let mut spare = remove_slot(&mut self.lock().spares, slot, |spare| spare.slot)?;
        let why = if let Some(why) = unusable(&spare.key, wanted, spare.process.is_running()) {
            why
        } else {
            self.lock().stats.used += 1;
            return Some((spare.process, spare.early));
        };
        self.note_discard(why);
        drop(spare);
        None
    }

    fn resume_parked(
        &self,
        slot: usize,
        wanted: &SpareKey,
        config: &PoolConfig,
        resolved: &Resolved,
    ) -> Option<(WorkerProcess, Vec<WorkerMessage>)> {
        let mut parked = remove_slot(&mut self.lock().parked, slot, |parked| parked.slot)?;
        let why = if let Some(why) = unusable(&parked.key, wanted, parked.worker.is_running()) {
            why
        } else {
            match parked.worker.resume(config, resolved) {
                Ok(started) => {
                    self.lock().stats.resumed += 1;
                    return Some(started);
                }
                Err(_) => {
                    // A fresh fork reports whatever the session's start met.
                    self.lock().no_parking = true;
                    "it could not resume"
                }
            }
        };
        self.note_discard(why);
        None
    }

    /// Kills every waiting spare, started and parked (their files changed, the zygote is
    /// replaced, the caller stops).
    pub fn discard(&self, why: &str) {
        self.discard_started(why);
        let parked = std::mem::take(&mut self.lock().parked);
        for _ in &parked {
            self.note_discard(why);
        }
        drop(parked);
    }

    /// Kills the started spares only: project code they loaded changed, which the parked
    /// spares have not run.
    pub fn discard_started(&self, why: &str) {
        let spares = std::mem::take(&mut self.lock().spares);
        for _ in &spares {
            self.note_discard(why);
        }
        drop(spares);
    }

    /// Forgets the remembered run too (its zygote is going away), killing any spare.
    pub fn clear(&self, why: &str) {
        self.discard(why);
        let mut state = self.lock();
        state.template = None;
        state.no_parking = false;
    }

    /// The first slot's waiting spare's pid.
    pub fn pid(&self) -> Option<u32> {
        self.pids().first().copied()
    }

    /// The waiting spares' pids, by slot.
    pub fn pids(&self) -> Vec<u32> {
        let state = self.lock();
        let mut spares: Vec<&Spare> = state.spares.iter().collect();
        spares.sort_by_key(|spare| spare.slot);
        spares.iter().map(|spare| spare.process.pid()).collect()
    }

    /// The parked spares' pids, by slot.
    pub fn parked_pids(&self) -> Vec<u32> {
        let state = self.lock();
        let mut parked: Vec<&Parked> = state.parked.iter().collect();
        parked.sort_by_key(|parked| parked.slot);
        parked.iter().map(|parked| parked.worker.pid()).collect()
    }

    pub fn stats(&self) -> SpareStats {
        self.lock().stats.clone()
    }

    fn note_discard(&self, why: &str) {
        let mut state = self.lock();
        state.stats.discarded += 1;
        state.stats.last_discard = Some(why.to_owned());
    }
}

/// Takes the waiting worker of `slot` out of `list`.
fn remove_slot<T>(list: &mut Vec<T>, slot: usize, slot_of: impl Fn(&T) -> usize) -> Option<T> {
    let place = list.iter().position(|waiting| slot_of(waiting) == slot)?;
    Some(list.swap_remove(place))
}

/// Why a waiting worker made with `key` cannot serve a run wanting `wanted`, if it cannot.
fn unusable(key: &SpareKey, wanted: &SpareKey, running: bool) -> Option<&'static str> {
    key.mismatch(wanted)
        .or_else(|| (!running).then_some("it exited"))
}

/// `config` as worker `slot` of the run `testrun_uid` has it.
fn slot_config(config: &PoolConfig, slot: usize, testrun_uid: &str) -> PoolConfig {
    let mut config = config.clone();
    config.identity = Some(WorkerIdentity {
        slot,
        count: config.worker_count(),
        testrun_uid: testrun_uid.to_owned(),
    });
    config
}

/// Forks the parked spare of worker `slot` for the run `testrun_uid` (it starts pytest on
/// its own and stops before the conftests).
fn make_parked(
    config: &PoolConfig,
    zygote: &Arc<Zygote>,
    slot: usize,
    testrun_uid: &str,
) -> Result<Parked, PoolError> {
    let config = slot_config(config, slot, testrun_uid);
    let resolved = config.resolve()?;
    let key = SpareKey::now(zygote, &config, &resolved);
    let forked = zygote
        .fork_worker(&config, &resolved)
        .map_err(PoolError::Zygote)?;
    let worker = WorkerProcess::adopt_parked(forked, &config, &resolved)?;
    Ok(Parked { slot, key, worker })
}

/// Forks the spare of worker `slot` for the run `testrun_uid`, and starts its session.
fn make_spare(
    config: &PoolConfig,
    zygote: &Arc<Zygote>,
    slot: usize,
    testrun_uid: &str,
) -> Result<Spare, PoolError> {
    let config = slot_config(config, slot, testrun_uid);
    let resolved = config.resolve()?;
    let key = SpareKey::now(zygote, &config, &resolved);
    let forked = zygote
        .fork_worker(&config, &resolved)
        .map_err(PoolError::Zygote)?;
    let (process, early) = WorkerProcess::adopt(forked, &config, &resolved, None)?;
    Ok(Spare {
        slot,
        key,
        process,
        early,
    })
}
