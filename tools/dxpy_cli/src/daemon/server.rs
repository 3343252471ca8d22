//! The daemon: one per (project rootdir, interpreter), listening on a 0600 Unix socket in the
//! project's 0700 cache directory, holding its lock file for life (a second `serve` finds it
//! held and leaves). Connections are served on threads of their own; runs one at a time, in
//! arrival order (a mutex queue).
//!
//! A run is `commands::test::run_with` (handed to [`serve`]) as the client would have run it: for the run the
//! daemon takes the client's working directory and whole environment as its own (every part
//! of dx-py that reads them, in every crate, then sees the client's), its terminal (width and
//! terminal-ness, through `render::set_client_terminal`), and points its stderr (fd 2) at a
//! pipe whose bytes go to the client as stderr frames; the report goes out as stdout frames.
//! Only the zygote is the daemon's own: kept between runs and rebuilt when what it imported
//! may have changed ([`WarmKey`]).
//!
//! It stops on `dx-py daemon stop`, SIGTERM or SIGINT, after its idle timeout, when a client
//! of another build connects (that client replaces it), or when its socket file is gone or
//! replaced: the current run is interrupted, the zygote stopped, every process below the
//! daemon killed, and the socket removed.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::io::{LineWriter, Read as _, Write};
use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dxpy_discover::session::Discovery;
use dxpy_graph::PythonVersion;
use dxpy_runner::pool::{PoolConfig, SpareSlot, WarmStart, Zygote, ZygoteSpec};

use super::preload;
use super::spare::{Fingerprint, Watched};
use super::wire::{self, Reply, Request, RunRequest, Status};
use super::{identity, Location};
use crate::args::{Cli, Command as CliCommand};
use crate::exit::Code;
use crate::render::{set_client_terminal, ClientTerminal};
use crate::test_context::{Deferred, RunTest, TestContext};

/// How often the daemon checks its idle time and its socket file.
const WATCH_POLL: Duration = Duration::from_millis(500);
/// How long the stderr of a finished run may take to drain.
const STDERR_DRAIN: Duration = Duration::from_secs(2);
/// Config files whose change rebuilds the zygote (it runs a probe pytest session).
const CONFIG_FILES: [&str; 5] = [
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
];

/// Everything a warm zygote depends on: a different key starts a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WarmKey {
    spec: ZygoteSpec,
    /// The `PYTHON*` variables of the environment it started in.
    python_env: PythonEnv,
    /// `dxpy_results::distributions_fingerprint` of the interpreter's site directories.
    distributions: String,
    /// Modification times of the rootdir's pytest config files.
    configs: Vec<(PathBuf, Option<i128>)>,
}

/// The `PYTHON*` variables of an environment, sorted.
type PythonEnv = Vec<(OsString, OsString)>;

#[derive(Debug, Default)]
struct Warm {
    zygote: Option<(WarmKey, Arc<Zygote>)>,
    /// What each interpreter set-up (python, PYTHON* variables) is, asked once.
    interpreters: HashMap<(PathBuf, PythonEnv), Interpreter>,
    /// Third-party modules the project's runs imported so far: preloaded by the next zygote.
    /// Only ever grows, so runs of different selections do not take turns rebuilding it.
    third_party: BTreeSet<String>,
    /// The files the last run's workers' sessions depend on: the next spare's to watch.
    watch_next: Option<Watched>,
    /// The files the waiting spare depends on, as they were just before it was forked.
    spare_files: Option<Fingerprint>,
    /// The running request reached its run (asked for the zygote).
    reached_run: bool,
}

/// What the daemon needs to know of an interpreter.
#[derive(Debug, Clone)]
struct Interpreter {
    /// `sys.path`'s directories: where its distributions are installed.
    site_dirs: Vec<PathBuf>,
    version: Option<PythonVersion>,
}

struct Daemon {
    location: Location,
    /// Taken once at start: a run changes the process environment.
    identity: wire::Identity,
    started: Instant,
    idle: Duration,
    /// The socket file's inode: a socket file with another one is not ours.
    socket_inode: u64,
    requests: AtomicU64,
    /// Runs one request's `dx-py test` command line.
    run_test: RunTest,
    /// Held by the running request: later ones queue on it.
    run_queue: Mutex<()>,
    warm: Mutex<Warm>,
    /// A worker started ahead of the next request (`dxpy_runner::pool::spare`).
    spare: Arc<SpareSlot>,
    /// `DXPY_TRACE=1` in the daemon's own environment: time each request's steps.
    trace: bool,
    /// The running request's stop flag.
    current: Mutex<Option<Arc<AtomicBool>>>,
    last_activity: Mutex<Instant>,
    busy: AtomicBool,
    stopping: AtomicBool,
    /// The daemon's own stderr (its log), while fd 2 may be a client's pipe.
    log: Mutex<File>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `dx-py daemon serve`: serves until stopped. Returns at once when another daemon holds the
/// lock.
pub fn serve(location: Location, run_test: RunTest) -> anyhow::Result<Code> {
    dxpy_fs::ensure_private_dir(&location.dir)
        .with_context(|| format!("creating {}", location.dir.display()))?;
    let Some(_lock) = dxpy_fs::FileLock::try_exclusive(&location.lock)
        .with_context(|| format!("locking {}", location.lock.display()))?
    else {
        eprintln!(
            "dx-py daemon: another daemon holds {}",
            location.lock.display()
        );
        return Ok(Code::Ok);
    };
    // Holding the lock, any socket file is a dead daemon's.
    match std::fs::remove_file(&location.socket) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("removing {}", location.socket.display()))
        }
        _ => {}
    }
    let listener = UnixListener::bind(&location.socket)
        .with_context(|| format!("listening on {}", location.socket.display()))?;
    std::fs::set_permissions(&location.socket, std::fs::Permissions::from_mode(0o600))?;
    let socket_inode = std::fs::metadata(&location.socket)?.ino();
    let idle = super::idle_timeout(&location.rootdir)?;
    let log: OwnedFd = std::io::stderr().as_fd().try_clone_to_owned()?;
    let daemon = Arc::new(Daemon {
        identity: identity(),
        started: Instant::now(),
        idle,
        socket_inode,
        requests: AtomicU64::new(0),
        run_test,
        run_queue: Mutex::new(()),
        warm: Mutex::new(Warm::default()),
        spare: Arc::new(SpareSlot::default()),
        trace: std::env::var_os("DXPY_TRACE").is_some_and(|v| v == "1"),
        current: Mutex::new(None),
        last_activity: Mutex::new(Instant::now()),
        busy: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
        log: Mutex::new(File::from(log)),
        location,
    });
    daemon.log(&format!(
        "pid {} serving {} with {} (idle timeout {idle:?})",
        std::process::id(),
        daemon.location.rootdir.display(),
        daemon.location.interpreter.display()
    ));
    watch_signals(&daemon)?;
    watch_idle(&daemon);
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let daemon = Arc::clone(&daemon);
                std::thread::spawn(move || {
                    if let Err(err) = daemon.handle(stream) {
                        daemon.log(&format!("connection: {err:#}"));
                    }
                });
            }
            Err(err) => daemon.log(&format!("accept: {err}")),
        }
    }
    Ok(Code::Ok)
}

/// SIGTERM and SIGINT stop the daemon gracefully.
fn watch_signals(daemon: &Arc<Daemon>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let daemon = Arc::clone(daemon);
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            daemon.shutdown(&format!("signal {signal}"));
        }
    });
    Ok(())
}

/// Stops the daemon after its idle timeout, or when its socket file is gone or replaced
/// (the project's cache was cleared, or another daemon took the place).
fn watch_idle(daemon: &Arc<Daemon>) {
    let daemon = Arc::clone(daemon);
    std::thread::spawn(move || loop {
        std::thread::sleep(WATCH_POLL);
        let ours = std::fs::metadata(&daemon.location.socket)
            .is_ok_and(|m| m.ino() == daemon.socket_inode);
        if !ours {
            daemon.shutdown("its socket file is gone");
        }
        let idle_for = lock(&daemon.last_activity).elapsed();
        if !daemon.busy.load(Ordering::SeqCst) && idle_for >= daemon.idle {
            daemon.shutdown(&format!("idle for {idle_for:?}"));
        }
    });
}

impl Daemon {
    fn log(&self, message: &str) {
        let _ = writeln!(lock(&self.log), "dx-py daemon: {message}");
    }

    fn touch(&self) {
        *lock(&self.last_activity) = Instant::now();
    }

    /// One connection: the handshake, then one request.
    fn handle(&self, mut stream: UnixStream) -> anyhow::Result<()> {
        let ours = self.identity.clone();
        match wire::read_frame::<Request>(&mut stream)? {
            Some(Request::Hello(theirs)) if theirs == ours => {
                wire::write_frame(
                    &mut stream,
                    &Reply::Hello {
                        identity: ours,
                        accepted: true,
                    },
                )?;
            }
            Some(Request::Hello(theirs)) => {
                let _ = wire::write_frame(
                    &mut stream,
                    &Reply::Hello {
                        identity: ours,
                        accepted: false,
                    },
                );
                drop(stream);
                self.shutdown(&format!(
                    "a client of another build connected ({} {})",
                    theirs.version, theirs.binary
                ));
            }
            other => anyhow::bail!("expected a handshake, got {other:?}"),
        }
        match wire::read_frame::<Request>(&mut stream)? {
            Some(Request::Status) => wire::write_frame(&mut stream, &Reply::Status(self.status()))?,
            Some(Request::Stop) => {
                wire::write_frame(&mut stream, &Reply::Stopping)?;
                drop(stream);
                self.shutdown("asked to stop");
            }
            Some(Request::Run(request)) => self.serve_run(stream, request)?,
            Some(other) => anyhow::bail!("unexpected request {other:?}"),
            None => {}
        }
        Ok(())
    }

    fn status(&self) -> Status {
        // One guard: a second `lock` in the same expression would wait for the first.
        let (zygote_pid, preload) = match &lock(&self.warm).zygote {
            Some((key, zygote)) => (Some(zygote.pid()), key.spec.preload.clone()),
            None => (None, Vec::new()),
        };
        Status {
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            rootdir: self.location.rootdir.display().to_string(),
            interpreter: self.location.interpreter.display().to_string(),
            requests: self.requests.load(Ordering::SeqCst),
            zygote_pid,
            preload,
            spare_pid: self.spare.pid(),
            spares_used: self.spare.stats().used,
            parked_pids: self.spare.parked_pids(),
            parked_resumed: self.spare.stats().resumed,
            busy: self.busy.load(Ordering::SeqCst),
        }
    }

    /// Queues the run, runs it, and sends its exit code. The client's Cancel, or its
    /// disconnecting, stops it.
    fn serve_run(&self, stream: UnixStream, request: RunRequest) -> anyhow::Result<()> {
        self.touch();
        let cancel = Arc::new(AtomicBool::new(false));
        watch_cancel(stream.try_clone()?, Arc::clone(&cancel));
        let writer = Arc::new(Mutex::new(stream));
        let queue = lock(&self.run_queue);
        if self.stopping.load(Ordering::SeqCst) {
            let _ = wire::write_frame(&mut *lock(&writer), &Reply::Refused("stopping".into()));
            return Ok(());
        }
        if cancel.load(Ordering::SeqCst) {
            // The client left while queued.
            return Ok(());
        }
        self.busy.store(true, Ordering::SeqCst);
        *lock(&self.current) = Some(Arc::clone(&cancel));
        let deferred = std::cell::RefCell::new(None);
        let code = self.run(&request, &cancel, &writer, &deferred);
        *lock(&self.current) = None;
        self.requests.fetch_add(1, Ordering::SeqCst);
        // Read before the reply: a client that has its exit code leaves, which reads as a
        // cancel.
        let cancelled = cancel.load(Ordering::SeqCst);
        // The client has all it waits for: its exit code goes out before the recording and
        // the next spare, which the next request (queued behind this one) waits for.
        let sent = code
            .as_ref()
            .ok()
            .map(|code| wire::write_frame(&mut *lock(&writer), &Reply::Exit(*code as i32)));
        // Recording and the next spare at once: both only read the environment the next
        // request will replace, and it waits for both (it queues on `queue`).
        let after = Instant::now();
        let (recorded, spared) = std::thread::scope(|scope| {
            let spare = scope.spawn(|| {
                self.keep_spare(cancelled);
                after.elapsed()
            });
            if let Some(work) = deferred.into_inner() {
                let work: Deferred = work;
                work();
            }
            let recorded = after.elapsed();
            (recorded, spare.join().unwrap_or_default())
        });
        self.log_trace(&format!(
            "after the reply: recording {:.1} ms, spare {:.1} ms (at once)",
            recorded.as_secs_f64() * 1e3,
            spared.as_secs_f64() * 1e3
        ));
        self.touch();
        self.busy.store(false, Ordering::SeqCst);
        drop(queue);
        code?;
        if let Some(sent) = sent {
            sent?;
        }
        Ok(())
    }

    /// After a run, once the client has its answer: makes the next request's worker (not
    /// during the run, whose worker it would slow down on a busy machine); none after a
    /// cancelled run. A request that ended before its run (a usage error) changes nothing.
    fn keep_spare(&self, cancelled: bool) {
        let reached_run = std::mem::take(&mut lock(&self.warm).reached_run);
        match (reached_run, cancelled) {
            (false, _) => {}
            (true, true) => self.spare.discard("its run was cancelled"),
            (true, false) => self.prepare_spare(),
        }
    }

    /// Starts the next request's worker now, while idle, like the last run's: its files are
    /// stamped first (a change after that shows at the next request).
    fn prepare_spare(&self) {
        let watched = lock(&self.warm).watch_next.clone();
        let Some(watched) = watched else {
            self.log_trace("no spare: the run's files are unknown");
            return;
        };
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        // A spare left from before (the run spawned, or forwarded stderr) is stale now.
        self.spare.discard("a newer run ended");
        let fingerprint = watched.stamp();
        match self.spare.replenish() {
            Ok(true) => {
                lock(&self.warm).spare_files = Some(fingerprint);
            }
            Ok(false) => self.log_trace("no spare: the run forked no worker from the zygote"),
            Err(err) => self.log(&format!("no spare worker: {err}")),
        }
    }

    /// A `DXPY_TRACE` line in the daemon's log.
    fn log_trace(&self, message: &str) {
        if self.trace {
            self.log(&format!("trace: {message}"));
        }
    }

    /// The run itself, in the client's cwd, environment and terminal, its stderr captured.
    fn run(
        &self,
        request: &RunRequest,
        cancel: &Arc<AtomicBool>,
        writer: &Arc<Mutex<UnixStream>>,
        deferred: &std::cell::RefCell<Option<Deferred>>,
    ) -> anyhow::Result<Code> {
        let start = Instant::now();
        let argv: Vec<OsString> = std::iter::once(OsString::from("dx-py"))
            .chain(request.argv.iter().map(|a| OsString::from_vec(a.clone())))
            .collect();
        let args = match crate::args::parse_cli(argv) {
            Ok(Cli {
                command: CliCommand::Test(args),
            }) => args,
            Ok(_) => anyhow::bail!("not a `dx-py test` command line"),
            Err(err) => anyhow::bail!("{err}"),
        };
        adopt_environment(&request.env);
        std::env::set_current_dir(OsString::from_vec(request.cwd.clone()))
            .context("entering the client's directory")?;
        set_client_terminal(Some(ClientTerminal {
            width: usize::try_from(request.terminal_width).unwrap_or(80),
            is_terminal: request.stdout_is_terminal,
        }));
        let stderr = StderrCapture::start(Arc::clone(writer))?;
        let zygote = |pool: &PoolConfig, discovery: &Discovery| self.warm_start(pool, discovery);
        let defer = |work: Deferred| *deferred.borrow_mut() = Some(work);
        let context = TestContext {
            interrupt: Some(Arc::clone(cancel)),
            zygote: Some(&zygote),
            replay: true,
            spare: Some(Arc::clone(&self.spare)),
            defer: Some(&defer),
        };
        let code = {
            let mut out = LineWriter::new(FrameOut {
                writer: Arc::clone(writer),
            });
            match (self.run_test)(args, &context, &mut out, start) {
                Ok(code) => code,
                Err(err) => {
                    eprintln!("ERROR: {err:#}");
                    Code::UsageError
                }
            }
        };
        stderr.finish(&lock(&self.log))?;
        set_client_terminal(None);
        self.log_trace(&format!(
            "run {:.1} ms (spares used so far: {}, parked ones resumed: {}, last discarded: {})",
            start.elapsed().as_secs_f64() * 1e3,
            self.spare.stats().used,
            self.spare.stats().resumed,
            self.spare.stats().last_discard.as_deref().unwrap_or("none")
        ));
        Ok(code)
    }

    /// The warm zygote for this run's pool: the kept one while its key holds, else a new one.
    fn warm_start(&self, pool: &PoolConfig, discovery: &Discovery) -> WarmStart {
        let started = Instant::now();
        let warm = self.warm_zygote(pool, discovery);
        self.check_spare(discovery);
        lock(&self.warm).reached_run = true;
        self.log_trace(&format!(
            "zygote and spare checked in {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        ));
        match warm {
            Ok(zygote) => WarmStart::Shared(zygote),
            Err(err) => {
                eprintln!("dx-py: the daemon's zygote could not start ({err:#}); starting one for this run");
                WarmStart::Zygote
            }
        }
    }

    fn warm_zygote(&self, pool: &PoolConfig, discovery: &Discovery) -> anyhow::Result<Arc<Zygote>> {
        let mut spec = ZygoteSpec::for_pool(pool)?;
        // Only the start-up variables must match; each fork gets the run's full environment.
        spec.env
            .retain(|(name, _)| name.to_string_lossy().starts_with("PYTHON"));
        // It serves run after run: worth warming up with a probe session.
        spec.probe_session = spec.import_pytest;
        let python_env: PythonEnv = std::env::vars_os()
            .filter(|(name, _)| name.to_string_lossy().starts_with("PYTHON"))
            .collect::<std::collections::BTreeMap<_, _>>()
            .into_iter()
            .collect();
        let mut steps = crate::trace::Steps::start();
        let mut warm = lock(&self.warm);
        let interpreter_key = (spec.python.clone(), python_env.clone());
        let interpreter = match warm.interpreters.get(&interpreter_key) {
            Some(found) => found.clone(),
            None => {
                let found = probe(&spec.python)?;
                warm.interpreters.insert(interpreter_key, found.clone());
                found
            }
        };
        let outside: Vec<&std::path::Path> = interpreter
            .site_dirs
            .iter()
            .map(PathBuf::as_path)
            .filter(|d| !d.starts_with(&pool.rootdir))
            .collect();
        warm.watch_next = None;
        if spec.import_pytest {
            if let Some(version) = interpreter.version {
                let (found, session_files) = preload::scan(discovery, version, &outside);
                warm.third_party.extend(found);
                warm.watch_next = Some(Watched::new(discovery, &session_files, &CONFIG_FILES));
                steps.done("daemon: import graph scanned for preloads and session files");
            }
            let configured: BTreeSet<&String> = spec.preload.iter().collect();
            let extra: Vec<String> = warm
                .third_party
                .iter()
                .filter(|m| !configured.contains(m))
                .cloned()
                .collect();
            spec.preload.extend(extra);
        }
        let key = WarmKey {
            spec,
            python_env,
            distributions: dxpy_results::distributions_fingerprint(&outside),
            configs: CONFIG_FILES
                .iter()
                .map(|name| {
                    let path = pool.rootdir.join(name);
                    let mtime = std::fs::metadata(&path)
                        .ok()
                        .and_then(|m| dxpy_fs::mtime_ns(&m).ok());
                    (path, mtime)
                })
                .collect(),
        };
        steps.done("daemon: distributions and config files stamped");
        if let Some((kept, zygote)) = &warm.zygote {
            if *kept == key && zygote.is_alive() {
                return Ok(Arc::clone(zygote));
            }
        }
        // The old one stops (dropped, with its spare) before the new one starts: one
        // interpreter at a time.
        self.spare.clear("the zygote is rebuilt");
        warm.spare_files = None;
        warm.zygote = None;
        let zygote = Zygote::start(&key.spec)?;
        self.log(&format!("zygote pid {} started", zygote.pid()));
        warm.zygote = Some((key, Arc::clone(&zygote)));
        Ok(zygote)
    }

    /// Discards the started spares unless every file their sessions depend on is as it was
    /// just before they were forked (and the run's conftests are the same), and the parked
    /// ones too unless the config files are.
    fn check_spare(&self, discovery: &Discovery) {
        let Some(files) = lock(&self.warm).spare_files.take() else {
            self.spare.discard("its files were not stamped");
            return;
        };
        if let Some(why) = files.configs_changed() {
            self.log_trace(&format!("spares discarded, parked ones too: {why}"));
            self.spare.discard(&why);
            return;
        }
        match files.changed(discovery) {
            Some(why) => {
                self.log_trace(&format!("started spares discarded: {why}"));
                self.spare.discard_started(&why);
            }
            None => self.log_trace(&format!("spare valid ({} files stamped)", files.len())),
        }
    }

    /// Stops the daemon: interrupts the run, waits for it to end, stops the zygote, kills
    /// anything left below this process, removes the socket and exits.
    fn shutdown(&self, why: &str) -> ! {
        if self.stopping.swap(true, Ordering::SeqCst) {
            // Another thread is already stopping the daemon; it exits the process.
            loop {
                std::thread::park();
            }
        }
        self.log(&format!("stopping: {why}"));
        if let Some(flag) = lock(&self.current).as_ref() {
            flag.store(true, Ordering::SeqCst);
        }
        let _queue = lock(&self.run_queue);
        self.spare.clear("the daemon stops");
        lock(&self.warm).zygote = None;
        crate::signals::kill_descendants();
        let ours =
            std::fs::metadata(&self.location.socket).is_ok_and(|m| m.ino() == self.socket_inode);
        if ours {
            let _ = std::fs::remove_file(&self.location.socket);
        }
        self.log("stopped");
        std::process::exit(0);
    }
}

/// Sets `cancel` when the client sends Cancel or goes away.
fn watch_cancel(mut stream: UnixStream, cancel: Arc<AtomicBool>) {
    std::thread::spawn(move || loop {
        match wire::read_frame::<Request>(&mut stream) {
            Ok(Some(Request::Cancel)) | Ok(None) | Err(_) => {
                cancel.store(true, Ordering::SeqCst);
                return;
            }
            Ok(Some(_)) => {}
        }
    });
}

/// Makes `env` this process's environment: every variable of it set, every other removed.
/// Safe only because runs are served one at a time and the daemon's other threads read no
/// variables while one runs.
fn adopt_environment(env: &[(Vec<u8>, Vec<u8>)]) {
    let wanted: HashMap<OsString, OsString> = env
        .iter()
        // What `set_var` refuses cannot be in a real environment anyway.
        .filter(|(name, value)| {
            !name.is_empty() && !name.contains(&b'=') && !name.contains(&0) && !value.contains(&0)
        })
        .map(|(name, value)| {
            (
                OsString::from_vec(name.clone()),
                OsString::from_vec(value.clone()),
            )
        })
        .collect();
    for (name, _) in std::env::vars_os() {
        if !wanted.contains_key(&name) {
            std::env::remove_var(&name);
        }
    }
    for (name, value) in &wanted {
        if std::env::var_os(name).as_ref() != Some(value) {
            std::env::set_var(name, value);
        }
    }
}

/// The interpreter's `sys.path` (where its distributions are installed) and version.
fn probe(python: &std::path::Path) -> anyhow::Result<Interpreter> {
    let output = Command::new(python)
        .args([
            "-c",
            "import json, sys; print(json.dumps([sys.path, list(sys.version_info[:2])]))",
        ])
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    anyhow::ensure!(output.status.success(), "{} failed", python.display());
    let (path, (major, minor)): (Vec<PathBuf>, (u32, u32)) =
        serde_json::from_slice(&output.stdout)?;
    Ok(Interpreter {
        site_dirs: path
            .into_iter()
            .filter(|p| p.is_absolute() && p.is_dir())
            .collect(),
        version: PythonVersion::from_minor(major, minor),
    })
}

/// The run's report, as stdout frames.
struct FrameOut {
    writer: Arc<Mutex<UnixStream>>,
}

impl Write for FrameOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        wire::write_frame(&mut *lock(&self.writer), &Reply::Stdout(buf.to_vec()))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// fd 2 pointed at a pipe for one run; what comes out goes to the client as stderr frames.
struct StderrCapture {
    drained: mpsc::Receiver<()>,
}

impl StderrCapture {
    fn start(writer: Arc<Mutex<UnixStream>>) -> std::io::Result<StderrCapture> {
        let (mut reader, pipe) = std::io::pipe()?;
        rustix::stdio::dup2_stderr(&pipe)?;
        drop(pipe);
        let (done, drained) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let chunk = Reply::Stderr(buffer[..n].to_vec());
                        if wire::write_frame(&mut *lock(&writer), &chunk).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = done.send(());
        });
        Ok(StderrCapture { drained })
    }

    /// Points fd 2 back at the daemon's log and waits (boundedly: a process the run started
    /// may still hold the pipe) for the last bytes to go out.
    fn finish(self, log: &File) -> std::io::Result<()> {
        rustix::stdio::dup2_stderr(log)?;
        let _ = self.drained.recv_timeout(STDERR_DRAIN);
        Ok(())
    }
}
