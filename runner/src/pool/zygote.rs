//! Warm start: a zygote interpreter that forks workers (`python -m dxpy_worker --zygote`).
//!
//! Layout: [`ZygoteSpec`] (what to start, also a cache key), [`Zygote`] (the handle: start,
//! fork, exit statuses, release, stop on drop), the control-socket codec ([`Order`],
//! [`Event`]) and the reader thread that turns events into shared state.
//!
//! # Design
//!
//! The zygote imports the worker package, pytest (when the engine may be pytest) and the
//! preload modules that are installed under the interpreter's prefixes — never project code,
//! so one zygote can serve many runs with different rootdirs and `sys.path`s (the Bazel
//! worker keeps one per [`ZygoteSpec`]). It starts in `/` with only the worker package on
//! `PYTHONPATH`, in its own process group (Ctrl-C does not reach it).
//!
//! Control channel: a `SOCK_SEQPACKET` socket pair; the zygote's end is its stdin. One JSON
//! object per packet. To fork, the pool creates the worker's three pipes (requests, results,
//! stderr), sends the child's ends with the order as `SCM_RIGHTS`, and closes them. The
//! order carries everything a spawned worker would get from its command line and
//! environment: working directory and the full environment (`PYTHONPATH` included; the
//! child redoes `sys.path`'s head from them). Rootdir, `sys.path` additions, engine and
//! pytest arguments then arrive in Hello as for a spawned worker.
//!
//! Exit statuses: the zygote is the workers' parent and reports each exit (code or signal)
//! over the socket, but keeps the zombie until the pool sends `release`. So the pool can
//! still kill the worker's process group (tests' grandchildren) after the exit without
//! racing a reused pid, and crash reports name the signal as with spawned workers. (The
//! alternative, making this process a child subreaper and double-forking, would make every
//! orphan of the Bazel worker ours to reap and clash with `std::process::Child::wait`.)
//!
//! Failure: if the zygote dies, forks fail with [`ZygoteError::Dead`] and the run falls back
//! to spawning (one notice). Workers it already forked keep running; their exit status is
//! then unknown ([`ExitReason::Unknown`]). The zygote exits when this handle is dropped
//! (`stop`, then SIGKILL after a grace period) or when its control socket closes (this
//! process died); it reaps reported zombies before exiting.
//!
//! Caveats: forked workers share the zygote's hash seed; environment variables read only at
//! interpreter start-up (`PYTHON*` other than `PYTHONPATH`/`PYTHONDONTWRITEBYTECODE`) must
//! match the zygote's, else the pool spawns ([`ZygoteError::Incompatible`]). Preload modules
//! that start threads make forking less safe; the zygote reports its thread count.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::net::{
    AddressFamily, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags,
    SocketType,
};
use serde::{Deserialize, Serialize};

use super::exit::ExitReason;
use super::stderr::{spawn_stderr_reader, StderrTail};
use super::{PoolConfig, PoolError, Resolved};

/// How long a fork may take to be acknowledged.
const FORK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopped zygote may take to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Largest event packet accepted from the zygote.
const MAX_EVENT: usize = 1 << 20;
/// Variables the forked child applies itself; every other `PYTHON*` variable is read only at
/// interpreter start-up and must match the zygote's.
const APPLIED_AFTER_FORK: [&str; 2] = ["PYTHONPATH", "PYTHONDONTWRITEBYTECODE"];

/// What a zygote is started with. Equal specs can share one zygote (use it as a cache key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZygoteSpec {
    pub python: PathBuf,
    /// The directory holding `dxpy_worker`; the zygote's only `PYTHONPATH` entry.
    pub worker_dir: PathBuf,
    /// Imported in the zygote when installed under the interpreter's prefixes; the others
    /// are left to each worker's Preload request.
    pub preload: Vec<String>,
    pub import_pytest: bool,
    /// Run one throwaway pytest session in a forked child at start-up and import the
    /// standard-library modules it imported lazily (pdb, asyncio, ...), so forks skip them.
    /// Worth its ~0.1 s only for a zygote that serves many runs (the Bazel worker's).
    pub probe_session: bool,
    /// Extra environment on top of this process's (`PYTHONPATH` is ignored).
    pub env: Vec<(OsString, OsString)>,
    pub startup_timeout: Duration,
}

impl ZygoteSpec {
    /// The zygote a pool configured like `config` would fork its workers from.
    pub fn for_pool(config: &PoolConfig) -> Result<ZygoteSpec, PoolError> {
        let resolved = config.resolve()?;
        Ok(ZygoteSpec::with_resolved(config, &resolved))
    }

    pub(crate) fn with_resolved(config: &PoolConfig, resolved: &Resolved) -> ZygoteSpec {
        ZygoteSpec {
            python: resolved.python.clone(),
            worker_dir: resolved.worker_dir.clone(),
            preload: config.preload.clone(),
            import_pytest: config.engine != crate::protocol::Engine::Native,
            probe_session: false,
            env: config.env.clone(),
            startup_timeout: config.startup_timeout,
        }
    }
}

/// Why the zygote could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZygoteError {
    #[error("cannot start the zygote `{}`: {message}{}", .python.display(), tail(.stderr))]
    Start {
        python: PathBuf,
        message: String,
        stderr: Vec<String>,
    },
    #[error("the zygote is gone: {reason}{}", tail(.stderr))]
    Dead { reason: String, stderr: Vec<String> },
    #[error("the zygote cannot fork this worker: {0}")]
    Incompatible(String),
    #[error("the zygote could not fork: {0}")]
    Fork(String),
}

fn tail(stderr: &[String]) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; last stderr lines:\n{}", stderr.join("\n"))
    }
}

/// What the zygote imported at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PreloadReport {
    pub imported: Vec<String>,
    /// (module, why): not installed under the interpreter's prefixes, so each worker
    /// imports it itself.
    pub skipped: Vec<(String, String)>,
    /// (module, error): installed but failed to import (reported, not fatal).
    pub failed: Vec<(String, String)>,
    /// Standard-library modules imported because a probe session needed them
    /// ([`ZygoteSpec::probe_session`]).
    #[serde(default)]
    pub session_modules: Vec<String>,
}

/// Runner → zygote.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Order<'a> {
    Start {
        preload: &'a [String],
        import_pytest: bool,
        probe_session: bool,
    },
    Fork {
        id: u64,
        cwd: &'a str,
        env: BTreeMap<&'a str, &'a str>,
    },
    Release {
        pid: u32,
    },
    Stop,
}

/// Zygote → runner.
#[derive(Debug, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
enum Event {
    Ready {
        python_version: String,
        pytest_version: String,
        threads: u32,
        preload: PreloadReport,
    },
    Forked {
        id: u64,
        pid: u32,
    },
    ForkFailed {
        id: u64,
        message: String,
    },
    Exited {
        pid: u32,
        code: Option<i32>,
        signal: Option<i32>,
    },
    Fatal {
        message: String,
        traceback: String,
    },
}

/// The zygote's side as reported by its events.
#[derive(Debug, Default)]
struct State {
    ready: Option<Event>,
    forks: HashMap<u64, Result<u32, String>>,
    exits: HashMap<u32, ExitReason>,
    /// Why the control socket ended (the zygote exited or broke the protocol).
    dead: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until `found` yields a value or `deadline` passes.
    fn wait_for<T>(
        &self,
        deadline: Instant,
        mut found: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(value) = found(&mut state) {
                return Some(value);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = match self.changed.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// A worker just forked: its pid and the pool's ends of its pipes.
#[derive(Debug)]
pub struct ForkedWorker {
    pub zygote: Arc<Zygote>,
    pub pid: u32,
    pub requests: File,
    pub results: File,
    pub stderr: File,
}

/// A running zygote. Stops (and reaps) it when dropped.
pub struct Zygote {
    spec: ZygoteSpec,
    pid: u32,
    control: OwnedFd,
    shared: Arc<Shared>,
    child: Mutex<Child>,
    stderr_tail: Arc<Mutex<StderrTail>>,
    /// `PYTHON*` variables the zygote started with (see [`APPLIED_AFTER_FORK`]).
    startup_env: BTreeMap<OsString, OsString>,
    preload: PreloadReport,
    python_version: String,
    pytest_version: String,
    threads: u32,
    next_fork: AtomicU64,
}

impl std::fmt::Debug for Zygote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zygote")
            .field("pid", &self.pid)
            .field("python", &self.spec.python)
            .field("preload", &self.spec.preload)
            .finish_non_exhaustive()
    }
}

impl Zygote {
    /// Starts a zygote and waits (up to the spec's start-up timeout) until it has imported
    /// everything. A preload module that fails to import is in [`Zygote::preload_report`].
    pub fn start(spec: &ZygoteSpec) -> Result<Arc<Zygote>, PoolError> {
        Zygote::start_inner(spec).map_err(PoolError::Zygote)
    }

    fn start_inner(spec: &ZygoteSpec) -> Result<Arc<Zygote>, ZygoteError> {
        let failed = |message: String| ZygoteError::Start {
            python: spec.python.clone(),
            message,
            stderr: Vec::new(),
        };
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|err| failed(format!("socketpair: {err}")))?;
        let mut command = Command::new(&spec.python);
        command
            .args(["-m", "dxpy_worker", "--zygote"])
            .current_dir("/")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("PYTHONPATH", &spec.worker_dir)
            .process_group(0)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|err| failed(err.to_string()))?;
        // The zygote's end must be closed here, or its death would never read as EOF.
        drop(command);
        let pid = child.id();
        let stderr_tail = Arc::new(Mutex::new(StderrTail::default()));
        if let Some(stderr) = child.stderr.take() {
            spawn_stderr_reader(stderr, Arc::clone(&stderr_tail), None);
        }
        let shared = Arc::new(Shared::default());
        let reader_fd = ours
            .try_clone()
            .map_err(|err| failed(format!("dup: {err}")))?;
        {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || read_events(reader_fd, &shared));
        }
        let startup_env = startup_env(std::env::vars_os().chain(spec.env.iter().cloned()));
        let mut zygote = Zygote {
            spec: spec.clone(),
            pid,
            control: ours,
            shared,
            child: Mutex::new(child),
            stderr_tail,
            startup_env,
            preload: PreloadReport::default(),
            python_version: String::new(),
            pytest_version: String::new(),
            threads: 1,
            next_fork: AtomicU64::new(1),
        };
        let start = Order::Start {
            preload: &spec.preload,
            import_pytest: spec.import_pytest,
            probe_session: spec.probe_session,
        };
        if let Err(err) = zygote.send(&start, &[]) {
            return Err(failed(format!("cannot send start: {err}")));
        }
        let deadline = Instant::now() + spec.startup_timeout;
        let ready = zygote.shared.wait_for(deadline, |state| {
            if let Some(ready) = state.ready.take() {
                Some(Ok(ready))
            } else {
                state.dead.clone().map(Err)
            }
        });
        match ready {
            Some(Ok(Event::Ready {
                python_version,
                pytest_version,
                threads,
                preload,
            })) => {
                zygote.python_version = python_version;
                zygote.pytest_version = pytest_version;
                zygote.threads = threads;
                zygote.preload = preload;
                Ok(Arc::new(zygote))
            }
            Some(Ok(_)) => Err(failed("unexpected start-up event".to_owned())),
            Some(Err(reason)) => {
                let reason = zygote.exit_description(reason);
                Err(ZygoteError::Start {
                    python: spec.python.clone(),
                    message: reason,
                    stderr: zygote.stderr_tail(),
                })
            }
            None => Err(ZygoteError::Start {
                python: spec.python.clone(),
                message: format!("not ready within {}s", spec.startup_timeout.as_secs_f64()),
                stderr: zygote.stderr_tail(),
            }),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn spec(&self) -> &ZygoteSpec {
        &self.spec
    }

    pub fn preload_report(&self) -> &PreloadReport {
        &self.preload
    }

    pub fn python_version(&self) -> &str {
        &self.python_version
    }

    /// Empty when pytest was not imported.
    pub fn pytest_version(&self) -> &str {
        &self.pytest_version
    }

    /// Threads alive in the zygote when it became ready (1 unless a preload started some).
    pub fn threads(&self) -> u32 {
        self.threads
    }

    /// False once the zygote exited; a caller caching zygotes should start a new one.
    pub fn is_alive(&self) -> bool {
        self.shared.lock().dead.is_none()
    }

    /// The zygote's last stderr lines.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail
            .lock()
            .map(|tail| tail.lines())
            .unwrap_or_default()
    }

    /// Forks a worker configured like a spawned one for `config` (working directory, full
    /// environment). The worker then needs Hello as usual.
    pub fn fork_worker(
        self: &Arc<Self>,
        config: &PoolConfig,
        resolved: &Resolved,
    ) -> Result<ForkedWorker, ZygoteError> {
        if resolved.python != self.spec.python {
            return Err(ZygoteError::Incompatible(format!(
                "it runs `{}`, the pool wants `{}`",
                self.spec.python.display(),
                resolved.python.display()
            )));
        }
        let env = worker_env(config, resolved);
        let wanted = startup_env(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        if wanted != self.startup_env {
            return Err(ZygoteError::Incompatible(
                "start-up environment variables (PYTHON*) differ from the zygote's".to_owned(),
            ));
        }
        let mut text_env = BTreeMap::new();
        for (key, value) in &env {
            match (key.to_str(), value.to_str()) {
                (Some(key), Some(value)) => {
                    text_env.insert(key, value);
                }
                _ => {
                    return Err(ZygoteError::Incompatible(format!(
                        "environment variable {} is not UTF-8",
                        key.to_string_lossy()
                    )))
                }
            }
        }
        let cwd = config.rootdir.to_str().ok_or_else(|| {
            ZygoteError::Incompatible(format!("rootdir {} is not UTF-8", config.rootdir.display()))
        })?;
        if let Some(reason) = self.shared.lock().dead.clone() {
            return Err(self.dead(reason));
        }
        let io = |err: std::io::Error| ZygoteError::Fork(format!("pipe: {err}"));
        let (request_read, request_write) = std::io::pipe().map_err(io)?;
        let (result_read, result_write) = std::io::pipe().map_err(io)?;
        let (stderr_read, stderr_write) = std::io::pipe().map_err(io)?;
        let id = self.next_fork.fetch_add(1, Ordering::Relaxed);
        let order = Order::Fork {
            id,
            cwd,
            env: text_env,
        };
        let fds = [
            request_read.as_fd(),
            result_write.as_fd(),
            stderr_write.as_fd(),
        ];
        if let Err(err) = self.send(&order, &fds) {
            if let Some(reason) = self.shared.lock().dead.clone() {
                return Err(self.dead(reason));
            }
            return Err(ZygoteError::Fork(format!(
                "cannot send the fork order: {err}"
            )));
        }
        // The worker holds these now; keeping them would hide its end of stream.
        drop((request_read, result_write, stderr_write));
        let deadline = Instant::now() + FORK_TIMEOUT;
        let answer = self.shared.wait_for(deadline, |state| {
            if let Some(result) = state.forks.remove(&id) {
                Some(result.map_err(ZygoteError::Fork))
            } else {
                state.dead.clone().map(|reason| {
                    Err(ZygoteError::Dead {
                        reason,
                        stderr: Vec::new(),
                    })
                })
            }
        });
        match answer {
            Some(Ok(pid)) => Ok(ForkedWorker {
                zygote: Arc::clone(self),
                pid,
                requests: File::from(OwnedFd::from(request_write)),
                results: File::from(OwnedFd::from(result_read)),
                stderr: File::from(OwnedFd::from(stderr_read)),
            }),
            Some(Err(ZygoteError::Dead { reason, .. })) => Err(self.dead(reason)),
            Some(Err(err)) => Err(err),
            None => Err(ZygoteError::Fork(format!(
                "no answer within {}s",
                FORK_TIMEOUT.as_secs()
            ))),
        }
    }

    /// The exit of a forked worker, if the zygote reported it.
    pub(crate) fn exit_status(&self, pid: u32) -> Option<ExitReason> {
        self.shared.lock().exits.get(&pid).copied()
    }

    /// Waits up to `timeout` for a forked worker's exit. `None`: not reported in time, or
    /// the zygote is gone (the status is lost).
    pub(crate) fn wait_exit(&self, pid: u32, timeout: Duration) -> Option<ExitReason> {
        let deadline = Instant::now() + timeout;
        self.shared
            .wait_for(deadline, |state| match state.exits.get(&pid) {
                Some(reason) => Some(Some(*reason)),
                None if state.dead.is_some() => Some(None),
                None => None,
            })
            .flatten()
    }

    /// Lets the zygote reap a reported worker: after this its pid may be reused.
    pub(crate) fn release(&self, pid: u32) {
        self.shared.lock().exits.remove(&pid);
        let _ = self.send(&Order::Release { pid }, &[]);
    }

    fn send(&self, order: &Order<'_>, fds: &[std::os::fd::BorrowedFd<'_>]) -> std::io::Result<()> {
        let payload = serde_json::to_vec(order).map_err(std::io::Error::other)?;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(std::io::Error::other("too many descriptors"));
        }
        let sent = rustix::net::sendmsg(
            &self.control,
            &[IoSlice::new(&payload)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        if sent != payload.len() {
            return Err(std::io::Error::other("short send on a packet socket"));
        }
        Ok(())
    }

    fn dead(&self, reason: String) -> ZygoteError {
        ZygoteError::Dead {
            reason: self.exit_description(reason),
            stderr: self.stderr_tail(),
        }
    }

    /// `reason`, plus the zygote's exit status once it has exited.
    fn exit_description(&self, reason: String) -> String {
        let deadline = Instant::now() + Duration::from_millis(500);
        let Ok(mut child) = self.child.lock() else {
            return reason;
        };
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    return format!("{reason} ({})", ExitReason::from_status(status));
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => return reason,
            }
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        let _ = self.send(&Order::Stop, &[]);
        let Ok(child) = self.child.get_mut() else {
            return;
        };
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => break,
            }
        }
        // We are its parent and have not reaped it: the pid cannot have been reused.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The environment a spawned worker would get: ours, then `PYTHONPATH`, then the pool's.
pub(crate) fn worker_env(config: &PoolConfig, resolved: &Resolved) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    env.insert("PYTHONPATH".into(), resolved.pythonpath.clone());
    env.extend(config.worker_vars());
    env.into_iter().collect()
}

/// The `PYTHON*` variables an interpreter reads only at start-up.
fn startup_env(vars: impl Iterator<Item = (OsString, OsString)>) -> BTreeMap<OsString, OsString> {
    vars.filter(|(key, _)| {
        key.to_str()
            .is_some_and(|key| key.starts_with("PYTHON") && !APPLIED_AFTER_FORK.contains(&key))
    })
    .collect()
}

/// The reader thread: events into `shared` until the socket ends.
fn read_events(socket: OwnedFd, shared: &Shared) {
    let mut buffer = vec![0u8; MAX_EVENT];
    let reason = loop {
        let length = match rustix::net::recv(&socket, &mut buffer[..], RecvFlags::empty()) {
            Ok((_, 0)) => break "its control socket closed".to_owned(),
            Ok((_, n)) => n.min(buffer.len()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => break format!("reading its control socket failed: {err}"),
        };
        let event: Event = match serde_json::from_slice(&buffer[..length]) {
            Ok(event) => event,
            Err(err) => break format!("it sent a malformed event: {err}"),
        };
        let mut state = shared.lock();
        match event {
            Event::Ready { .. } => state.ready = Some(event),
            Event::Forked { id, pid } => {
                state.forks.insert(id, Ok(pid));
            }
            Event::ForkFailed { id, message } => {
                state.forks.insert(id, Err(message));
            }
            Event::Exited { pid, code, signal } => {
                let reason = match (code, signal) {
                    (Some(code), _) => ExitReason::Code(code),
                    (None, Some(signal)) => ExitReason::Signal(signal),
                    (None, None) => ExitReason::Unknown,
                };
                state.exits.insert(pid, reason);
            }
            Event::Fatal { message, traceback } => {
                state.dead = Some(format!("it failed: {message}\n{traceback}"));
            }
        }
        drop(state);
        shared.changed.notify_all();
    };
    let mut state = shared.lock();
    state.dead.get_or_insert(reason);
    drop(state);
    shared.changed.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_env_keeps_only_python_variables_read_at_start_up() {
        let vars = [
            ("PYTHONPATH", "/a"),
            ("PYTHONDONTWRITEBYTECODE", "1"),
            ("PYTHONHASHSEED", "0"),
            ("PATH", "/bin"),
            ("PYTHONOPTIMIZE", "2"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let kept: Vec<_> = startup_env(vars.into_iter())
            .into_keys()
            .map(|k| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(kept, ["PYTHONHASHSEED", "PYTHONOPTIMIZE"]);
    }

    #[test]
    fn orders_and_events_use_the_documented_json_shape() {
        let order = Order::Fork {
            id: 3,
            cwd: "/r",
            env: BTreeMap::from([("A", "1")]),
        };
        let json = serde_json::to_string(&order).unwrap_or_default();
        assert_eq!(json, r#"{"op":"fork","id":3,"cwd":"/r","env":{"A":"1"}}"#);
        assert_eq!(
            serde_json::to_string(&Order::Release { pid: 9 }).unwrap_or_default(),
            r#"{"op":"release","pid":9}"#
        );
        let exited: Result<Event, _> =
            serde_json::from_str(r#"{"ev":"exited","pid":5,"signal":11}"#);
        assert!(matches!(
            exited,
            Ok(Event::Exited {
                pid: 5,
                code: None,
                signal: Some(11)
            })
        ));
    }
}
