//! One worker process: start (spawned, or forked by a zygote), handshake, framed requests,
//! timed reads, kill, exit reason.
//!
//! The process runs in its own process group (`process_group(0)`, or `setpgid` in a forked
//! child), so killing it kills whatever the tests started too. A spawned worker is our child
//! and `waitpid` gives its exit status; a forked one is the zygote's child, which reports the
//! status and keeps the zombie until [`Zygote::release`](super::zygote::Zygote) (so the
//! group can be killed after the exit without racing pid reuse). Two helper threads per process: one reads result frames
//! into a channel (so reads can time out), one drains stderr into a bounded tail (so a chatty
//! worker never blocks and a crash report can quote its last lines). Dropping a
//! [`WorkerProcess`] kills its group and reaps it; the helper threads are detached and end
//! when the pipes close.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::protocol::{
    FrameReader, FrameWriter, Hello, ProtocolError, Ready, Request, RequestFrame, ResultFrame,
    WorkerMessage,
};

pub use super::exit::{signal_name, ExitReason};
pub use super::stderr::StderrSink;
use super::stderr::{spawn_stderr_reader, StderrReader, StderrTail};
use super::zygote::{ForkedWorker, Zygote};
use super::{PoolConfig, PoolError};

/// How long a worker whose stream ended may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);
/// How long the zygote may take to report the exit of a killed worker.
const KILLED_REPORT_GRACE: Duration = Duration::from_secs(5);
/// How long an exited worker's stderr may take to reach end of file.
pub(crate) const STDERR_DRAIN_GRACE: Duration = Duration::from_secs(2);

/// What the reader thread saw.
#[derive(Debug)]
enum StreamItem {
    // Boxed: a result frame is far larger than the other variants.
    Frame(Box<ResultFrame>),
    /// Clean end of stream, or a broken frame (the worker died mid-write or is corrupt).
    End(Option<ProtocolError>),
}

/// The outcome of one timed read.
#[derive(Debug)]
pub(crate) enum Received {
    Frame(Box<ResultFrame>),
    /// The stream ended (the worker exited or crashed); carries a decode error if any.
    End(Option<ProtocolError>),
    TimedOut,
}

/// Who can tell how the worker ended.
#[derive(Debug)]
enum Handle {
    /// Our child: `waitpid`.
    Spawned(Child),
    /// The zygote's child: it reports the exit, we release the zombie.
    Forked(Arc<Zygote>),
}

/// A live worker that answered Hello with Ready.
#[derive(Debug)]
pub struct WorkerProcess {
    handle: Handle,
    reaped: Option<ExitReason>,
    pid: u32,
    writer: FrameWriter<File>,
    frames: Receiver<StreamItem>,
    stderr_tail: Arc<Mutex<StderrTail>>,
    stderr_reader: Option<StderrReader>,
    next_request: u64,
    ready: Ready,
}

/// A worker sent Hello with `PARK` ([`WorkerProcess::adopt_parked`]): its pytest stops
/// before the conftests until [`ParkedWorker::resume`].
#[derive(Debug)]
pub(crate) struct ParkedWorker {
    process: WorkerProcess,
    hello_id: u64,
}

impl ParkedWorker {
    /// Lets the worker go on (Resume) and waits for its Ready, as a fresh start would; a
    /// worker that could not park has exited, which fails here.
    pub(crate) fn resume(
        mut self,
        config: &PoolConfig,
        resolved: &super::Resolved,
    ) -> Result<(WorkerProcess, Vec<WorkerMessage>), PoolError> {
        if let Err(err) = self.process.send(Request::Resume) {
            self.process.kill();
            return Err(PoolError::StartupExit {
                python: resolved.python.clone(),
                reason: format!("cannot send Resume: {err}"),
                stderr: self.process.stderr_tail(),
            });
        }
        let early = self.process.await_ready(self.hello_id, config, resolved)?;
        Ok((self.process, early))
    }

    pub(crate) fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.process.pid()
    }
}

impl WorkerProcess {
    /// Spawns a worker, sends Hello and waits for Ready. Warning/Log frames that precede
    /// Ready are returned so the caller can forward them.
    ///
    /// `stderr_sink`, when given, also receives every stderr line (without its newline) on
    /// the draining thread: with `-s`/`--capture=no` the tests' output lands there.
    pub fn spawn(
        config: &PoolConfig,
        resolved: &super::Resolved,
        stderr_sink: Option<StderrSink>,
    ) -> Result<(WorkerProcess, Vec<WorkerMessage>), PoolError> {
        let mut command = Command::new(&resolved.python);
        command
            .args(["-m", "dxpy_worker"])
            .current_dir(&config.rootdir)
            .env("PYTHONPATH", &resolved.pythonpath)
            .envs(config.worker_vars())
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|err| PoolError::Spawn {
            python: resolved.python.clone(),
            message: err.to_string(),
        })?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            kill_group(pid);
            let _ = child.wait();
            return Err(PoolError::Spawn {
                python: resolved.python.clone(),
                message: "the worker's pipes were not created".to_owned(),
            });
        };
        let pipes = Pipes {
            requests: File::from(OwnedFd::from(stdin)),
            results: File::from(OwnedFd::from(stdout)),
            stderr: File::from(OwnedFd::from(stderr)),
        };
        WorkerProcess::start(
            Handle::Spawned(child),
            pid,
            pipes,
            config,
            resolved,
            stderr_sink,
        )
    }

    /// Takes over a worker the zygote just forked (see [`Zygote::fork_worker`]): sends
    /// Hello and waits for Ready exactly like [`WorkerProcess::spawn`].
    pub fn adopt(
        forked: ForkedWorker,
        config: &PoolConfig,
        resolved: &super::Resolved,
        stderr_sink: Option<StderrSink>,
    ) -> Result<(WorkerProcess, Vec<WorkerMessage>), PoolError> {
        let mut process = WorkerProcess::open_forked(forked, stderr_sink);
        let early = process.handshake(config, resolved)?;
        Ok((process, early))
    }

    /// Takes over a forked worker and sends it Hello with `PARK`, without waiting: it starts
    /// pytest up to its conftests and waits there for [`ParkedWorker::resume`].
    pub(crate) fn adopt_parked(
        forked: ForkedWorker,
        config: &PoolConfig,
        resolved: &super::Resolved,
    ) -> Result<ParkedWorker, PoolError> {
        let mut process = WorkerProcess::open_forked(forked, None);
        let mut hello = hello_of(config);
        hello.park = true;
        match process.send(Request::Hello(hello)) {
            Ok(hello_id) => Ok(ParkedWorker { process, hello_id }),
            Err(err) => {
                process.kill();
                Err(PoolError::StartupExit {
                    python: resolved.python.clone(),
                    reason: format!("cannot send Hello: {err}"),
                    stderr: process.stderr_tail(),
                })
            }
        }
    }

    fn start(
        handle: Handle,
        pid: u32,
        pipes: Pipes,
        config: &PoolConfig,
        resolved: &super::Resolved,
        stderr_sink: Option<StderrSink>,
    ) -> Result<(WorkerProcess, Vec<WorkerMessage>), PoolError> {
        let mut process = WorkerProcess::open(handle, pid, pipes, stderr_sink);
        let early = process.handshake(config, resolved)?;
        Ok((process, early))
    }

    fn open_forked(forked: ForkedWorker, stderr_sink: Option<StderrSink>) -> WorkerProcess {
        let ForkedWorker {
            zygote,
            pid,
            requests,
            results,
            stderr,
        } = forked;
        let pipes = Pipes {
            requests,
            results,
            stderr,
        };
        WorkerProcess::open(Handle::Forked(zygote), pid, pipes, stderr_sink)
    }

    /// The runner's side of a started worker process: its frame reader and stderr threads.
    fn open(
        handle: Handle,
        pid: u32,
        pipes: Pipes,
        stderr_sink: Option<StderrSink>,
    ) -> WorkerProcess {
        let Pipes {
            requests: stdin,
            results: stdout,
            stderr,
        } = pipes;
        let stderr_tail = Arc::new(Mutex::new(StderrTail::default()));
        let stderr_reader = spawn_stderr_reader(stderr, Arc::clone(&stderr_tail), stderr_sink);
        let (sender, frames) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = FrameReader::new(stdout);
            loop {
                match reader.read_result() {
                    Ok(Some(frame)) => {
                        if sender.send(StreamItem::Frame(Box::new(frame))).is_err() {
                            break;
                        }
                    }
                    Ok(None) => {
                        let _ = sender.send(StreamItem::End(None));
                        break;
                    }
                    Err(err) => {
                        let _ = sender.send(StreamItem::End(Some(err)));
                        break;
                    }
                }
            }
        });
        WorkerProcess {
            handle,
            reaped: None,
            pid,
            writer: FrameWriter::new(stdin),
            frames,
            stderr_tail,
            stderr_reader: Some(stderr_reader),
            next_request: 1,
            ready: placeholder_ready(pid),
        }
    }

    fn handshake(
        &mut self,
        config: &PoolConfig,
        resolved: &super::Resolved,
    ) -> Result<Vec<WorkerMessage>, PoolError> {
        let request_id = match self.send(Request::Hello(hello_of(config))) {
            Ok(id) => id,
            Err(err) => {
                self.kill();
                return Err(PoolError::StartupExit {
                    python: resolved.python.clone(),
                    reason: format!("cannot send Hello: {err}"),
                    stderr: self.stderr_tail(),
                });
            }
        };
        self.await_ready(request_id, config, resolved)
    }

    /// Waits for the Ready answering Hello `request_id` (then preloads), keeping the frames
    /// that came before it.
    fn await_ready(
        &mut self,
        request_id: u64,
        config: &PoolConfig,
        resolved: &super::Resolved,
    ) -> Result<Vec<WorkerMessage>, PoolError> {
        let deadline = Instant::now() + config.startup_timeout;
        let mut early = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(Some(left)) {
                Received::Frame(frame) if frame.request_id != request_id => {}
                Received::Frame(frame) => match frame.message {
                    WorkerMessage::Ready(ready) => {
                        self.ready = ready;
                        if !config.preload.is_empty() {
                            self.preload(config, resolved, &mut early)?;
                        }
                        return Ok(early);
                    }
                    WorkerMessage::Fatal(fatal) => {
                        self.kill();
                        return Err(PoolError::WorkerFatal {
                            python: resolved.python.clone(),
                            message: fatal.message,
                            traceback: fatal.traceback,
                        });
                    }
                    other => early.push(other),
                },
                Received::End(err) => {
                    let reason = self.wait_exit();
                    let detail = err.map(|e| format!(" ({e})")).unwrap_or_default();
                    return Err(PoolError::StartupExit {
                        python: resolved.python.clone(),
                        reason: format!("{reason}{detail}"),
                        stderr: self.stderr_tail(),
                    });
                }
                Received::TimedOut => {
                    self.kill();
                    return Err(PoolError::StartupTimeout {
                        python: resolved.python.clone(),
                        seconds: config.startup_timeout.as_secs_f64(),
                        stderr: self.stderr_tail(),
                    });
                }
            }
        }
    }

    /// Sends Preload and waits for its Done; import failures arrive as Log frames.
    fn preload(
        &mut self,
        config: &PoolConfig,
        resolved: &super::Resolved,
        early: &mut Vec<WorkerMessage>,
    ) -> Result<(), PoolError> {
        let request = Request::Preload(crate::protocol::Preload {
            modules: config.preload.clone(),
        });
        let failed = |process: &mut WorkerProcess, reason: String| {
            process.kill();
            PoolError::StartupExit {
                python: resolved.python.clone(),
                reason,
                stderr: process.stderr_tail(),
            }
        };
        let request_id = match self.send(request) {
            Ok(id) => id,
            Err(err) => return Err(failed(self, format!("cannot send Preload: {err}"))),
        };
        let deadline = Instant::now() + config.startup_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(Some(left)) {
                Received::Frame(frame) if frame.request_id != request_id => {}
                Received::Frame(frame) => match frame.message {
                    WorkerMessage::Done(_) => return Ok(()),
                    other => early.push(other),
                },
                Received::End(_) => {
                    let reason = self.wait_exit();
                    return Err(failed(self, format!("died while preloading ({reason})")));
                }
                Received::TimedOut => {
                    return Err(failed(self, "preloading timed out".to_owned()));
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// Writes one request; returns its id.
    pub(crate) fn send(&mut self, request: Request) -> Result<u64, ProtocolError> {
        let request_id = self.next_request;
        self.next_request += 1;
        self.writer.write_request(&RequestFrame {
            request_id,
            request,
        })?;
        Ok(request_id)
    }

    /// Waits for the next frame; `None` waits forever.
    pub(crate) fn recv(&mut self, timeout: Option<Duration>) -> Received {
        let item = match timeout {
            Some(timeout) => match self.frames.recv_timeout(timeout) {
                Ok(item) => item,
                Err(RecvTimeoutError::Timeout) => return Received::TimedOut,
                Err(RecvTimeoutError::Disconnected) => StreamItem::End(None),
            },
            None => self.frames.recv().unwrap_or(StreamItem::End(None)),
        };
        match item {
            StreamItem::Frame(frame) => Received::Frame(frame),
            StreamItem::End(err) => Received::End(err),
        }
    }

    /// The worker's last stderr lines, oldest first.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail
            .lock()
            .map(|tail| tail.lines())
            .unwrap_or_default()
    }

    /// Whether a zygote forked this worker.
    pub fn is_forked(&self) -> bool {
        matches!(self.handle, Handle::Forked(_))
    }

    /// Whether the worker has not exited (as far as anyone can tell).
    pub(crate) fn is_running(&mut self) -> bool {
        self.reaped.is_none() && matches!(self.poll_exit(), Ok(None))
    }

    /// The exit status if the worker has exited.
    fn poll_exit(&mut self) -> Result<Option<ExitReason>, ()> {
        match &mut self.handle {
            Handle::Spawned(child) => match child.try_wait() {
                Ok(status) => Ok(status.map(ExitReason::from_status)),
                Err(_) => Err(()),
            },
            Handle::Forked(zygote) => match zygote.exit_status(self.pid) {
                Some(reason) => Ok(Some(reason)),
                // The zygote is gone: nobody can tell any more.
                None if !zygote.is_alive() => Err(()),
                None => Ok(None),
            },
        }
    }

    /// Waits for the exit of a worker whose group was just killed.
    fn wait_killed(&mut self) -> ExitReason {
        match &mut self.handle {
            Handle::Spawned(child) => match child.wait() {
                Ok(status) => ExitReason::from_status(status),
                Err(_) => ExitReason::Unknown,
            },
            Handle::Forked(zygote) => zygote
                .wait_exit(self.pid, KILLED_REPORT_GRACE)
                .unwrap_or(ExitReason::Unknown),
        }
    }

    /// After the exit was seen and the group killed: a forked worker's zombie may go.
    fn release(&self) {
        if let Handle::Forked(zygote) = &self.handle {
            zygote.release(self.pid);
        }
    }

    /// After the stream ended: waits briefly for the exit status, killing the group if the
    /// process lingers. Also kills anything the tests left in the group.
    pub(crate) fn wait_exit(&mut self) -> ExitReason {
        if let Some(reason) = self.reaped {
            return reason;
        }
        let deadline = Instant::now() + EXIT_GRACE;
        // A worker usually exits within a millisecond or two of its last frame: poll often
        // at first (each request of the Bazel worker waits for this), then back off.
        let mut pause = Duration::from_micros(250);
        let reason = loop {
            let polled = match &self.handle {
                // The zygote reports exits as they happen: wait on that, not on a timer.
                Handle::Forked(zygote) => match zygote.wait_exit(self.pid, EXIT_GRACE) {
                    Some(reason) => Ok(Some(reason)),
                    None if !zygote.is_alive() => Err(()),
                    None => Ok(None),
                },
                Handle::Spawned(_) => self.poll_exit(),
            };
            match polled {
                Ok(Some(reason)) => break reason,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                Ok(None) => {
                    kill_group(self.pid);
                    let _ = self.wait_killed();
                    break ExitReason::KilledByPool;
                }
                Err(_) => break ExitReason::Unknown,
            }
        };
        kill_group(self.pid);
        self.release();
        self.reaped = Some(reason);
        reason
    }

    /// Kills the whole process group and reaps the worker.
    pub(crate) fn kill(&mut self) {
        // Once reaped (and its group killed right then), the pid may be reused: never
        // signal it again.
        if self.reaped.is_some() {
            return;
        }
        kill_group(self.pid);
        let reason = self.wait_killed();
        self.release();
        self.reaped = Some(reason);
    }

    /// Sends Shutdown and waits (bounded) for its Done, forwarding any reports the final
    /// teardown produced; then reaps the process and its group.
    pub(crate) fn shutdown(mut self, timeout: Duration) -> (Vec<WorkerMessage>, ExitReason) {
        let mut late = Vec::new();
        if let Ok(request_id) = self.send(Request::Shutdown) {
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.recv(Some(left)) {
                    Received::Frame(frame) if frame.request_id != request_id => {}
                    Received::Frame(frame) => match frame.message {
                        WorkerMessage::Done(_) => break,
                        other => late.push(other),
                    },
                    Received::End(_) => break,
                    Received::TimedOut => {
                        self.kill();
                        break;
                    }
                }
            }
        }
        let reason = self.wait_exit();
        self.drain_stderr(STDERR_DRAIN_GRACE);
        (late, reason)
    }

    /// Waits (bounded) until stderr reaches end of file, so the lines a worker flushed while
    /// exiting reach the sink before the caller moves on. A grandchild that left the process
    /// group may hold the pipe open; then the thread is left behind.
    pub(crate) fn drain_stderr(&mut self, grace: Duration) {
        if let Some(reader) = self.stderr_reader.take() {
            reader.wait(grace);
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// SIGKILL to the whole group led by `pid`; a group that is already gone is fine.
fn kill_group(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    if let Some(pid) = rustix::process::Pid::from_raw(raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The pool's ends of a worker's three pipes.
struct Pipes {
    requests: File,
    results: File,
    stderr: File,
}

fn placeholder_ready(pid: u32) -> Ready {
    Ready {
        pid,
        engine: crate::protocol::Engine::Native,
        python_version: String::new(),
        pytest_version: String::new(),
    }
}

/// The Hello a worker for `config` is configured with.
pub(super) fn hello_of(config: &PoolConfig) -> Hello {
    Hello {
        rootdir: config.rootdir.to_string_lossy().into_owned(),
        sys_path: config.sys_path.clone(),
        engine: config.engine,
        pytest_args: config.pytest_args.clone(),
        output_limit: config.output_limit,
        terminal_width: config.terminal_width,
        record_execution: config.record_execution,
        park: false,
    }
}
