//! Spare workers: a worker forked from a long-lived zygote and handed Hello (its pytest
//! session started: config, plugins, conftests) ahead of the run that will use it, so that
//! run skips those costs.
//!
//! A [`SpareSlot`] belongs to the caller that keeps the zygote (the daemon) and reaches runs
//! through [`PoolConfig::spare`]. A run that forks from a shared zygote remembers its pool
//! configuration in the slot ([`SpareSlot::remember`]); later, while idle, the caller asks
//! for a spare made like that run's workers ([`SpareSlot::replenish`]). The next run's
//! first worker start takes it only if it equals what a fresh fork would be now: the same
//! zygote, interpreter and worker package, working directory, the whole worker environment
//! and every Hello field ([`SpareKey`]); anything else kills it and forks fresh. A spare is
//! taken once and never handed out again after it ran anything.
//!
//! The files the spare's session loaded (first-party code, conftests, config files) are not
//! the slot's to judge: the caller must [`SpareSlot::discard`] the spare when any of them
//! may have changed since just before it was forked.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::protocol::{Hello, WorkerMessage};

use super::process::{hello_of, WorkerProcess};
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
}

/// A started worker waiting for a run: its Ready came, with the frames that preceded it.
#[derive(Debug)]
struct Spare {
    key: SpareKey,
    process: WorkerProcess,
    early: Vec<WorkerMessage>,
}

/// What runs did with spares (for status and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpareStats {
    /// Spares made.
    pub made: u64,
    /// Spares a run took as its worker.
    pub used: u64,
    /// Spares killed unused (stale, discarded, or not matching the run).
    pub discarded: u64,
    /// Why the last spare was discarded.
    pub last_discard: Option<String>,
}

#[derive(Debug, Default)]
struct SlotState {
    spare: Option<Spare>,
    /// The last run's pool (without its slot) and zygote: what the next spare is made like.
    template: Option<(PoolConfig, Arc<Zygote>)>,
    /// The `testrun_uid` the waiting spare was made with: the next run's (see
    /// [`SpareSlot::upcoming_testrun_uid`]).
    testrun_uid: Option<String>,
    stats: SpareStats,
}

/// The caller's place for at most one spare worker (see the module docs).
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

    /// Makes a spare like the last remembered run's first worker, in this process's current
    /// directory and environment, unless one is waiting or that run forwarded stderr.
    /// Returns whether a spare is now waiting. Its [`WorkerIdentity`] is the first slot's,
    /// with a new `testrun_uid` that the next run adopts for all its workers.
    pub fn replenish(&self) -> Result<bool, PoolError> {
        let (mut config, zygote) = {
            let state = self.lock();
            if state.spare.is_some() {
                return Ok(true);
            }
            match &state.template {
                Some((config, zygote)) if !config.forward_stderr && zygote.is_alive() => {
                    (config.clone(), Arc::clone(zygote))
                }
                _ => return Ok(false),
            }
        };
        let testrun_uid = WorkerIdentity::new_testrun_uid();
        config.identity = Some(WorkerIdentity {
            slot: 0,
            count: config.worker_count(),
            testrun_uid: testrun_uid.clone(),
        });
        let resolved = config.resolve()?;
        let key = SpareKey::now(&zygote, &config, &resolved);
        let forked = zygote
            .fork_worker(&config, &resolved)
            .map_err(PoolError::Zygote)?;
        let (process, early) = WorkerProcess::adopt(forked, &config, &resolved, None)?;
        let mut state = self.lock();
        state.stats.made += 1;
        state.testrun_uid = Some(testrun_uid);
        state.spare = Some(Spare {
            key,
            process,
            early,
        });
        Ok(true)
    }

    /// The `testrun_uid` of the spare made for the next run, once: a run adopts it so that
    /// its workers and the spare share one id (each run gets a new one).
    pub fn upcoming_testrun_uid(&self) -> Option<String> {
        self.lock().testrun_uid.take()
    }

    /// The waiting spare, if it equals what a fresh fork from `zygote` for `config` would
    /// be now and is still running; a spare that does not is killed.
    pub(crate) fn take(
        &self,
        zygote: &Zygote,
        config: &PoolConfig,
        resolved: &Resolved,
    ) -> Option<(WorkerProcess, Vec<WorkerMessage>)> {
        let mut spare = self.lock().spare.take()?;
        let wanted = SpareKey::now(zygote, config, resolved);
        let why = if spare.key != wanted {
            "the run differs from the one it was made for"
        } else if !spare.process.is_running() {
            "it exited"
        } else {
            self.lock().stats.used += 1;
            return Some((spare.process, spare.early));
        };
        self.note_discard(why);
        drop(spare);
        None
    }

    /// Kills the waiting spare, if any (its files changed, the zygote is replaced, the
    /// caller stops).
    pub fn discard(&self, why: &str) {
        let spare = self.lock().spare.take();
        if spare.is_some() {
            self.note_discard(why);
        }
        drop(spare);
    }

    /// Forgets the remembered run too (its zygote is going away), killing any spare.
    pub fn clear(&self, why: &str) {
        self.discard(why);
        self.lock().template = None;
    }

    /// The waiting spare's pid.
    pub fn pid(&self) -> Option<u32> {
        self.lock().spare.as_ref().map(|s| s.process.pid())
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
