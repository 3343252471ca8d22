//! The client side: connect to the project's daemon (starting it when none runs), check it
//! is of this very build, and hand it a `dx-py test` run, writing what it streams back.

use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};

use super::wire::{self, Reply, Request, RunRequest, Status};
use super::{identity, Location};
use crate::args::TestArgs;
use crate::exit::Code;

/// How long a daemon started on demand may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a daemon may take to answer anything but a run.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a replaced daemon may take to let go of its lock.
const REPLACE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection that passed the handshake.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
}

impl Connection {
    pub fn send(&mut self, request: &Request) -> anyhow::Result<()> {
        wire::write_frame(&mut self.stream, request).context("writing to the daemon")
    }

    pub fn receive(&mut self) -> anyhow::Result<Reply> {
        wire::read_frame(&mut self.stream)
            .context("reading from the daemon")?
            .ok_or_else(|| anyhow!("the daemon closed the connection"))
    }
}

/// What connecting found.
#[derive(Debug)]
pub enum Found {
    Running(Connection),
    /// Nobody listens (no socket file, or a stale one).
    NotRunning,
    /// A daemon of another build answered; it shuts down on seeing us.
    OtherBuild(wire::Identity),
}

/// Connects and shakes hands.
pub fn connect(location: &Location) -> anyhow::Result<Found> {
    let stream = match UnixStream::connect(&location.socket) {
        Ok(stream) => stream,
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(Found::NotRunning)
        }
        Err(err) => {
            return Err(err).with_context(|| format!("connecting to {}", location.socket.display()))
        }
    };
    // A daemon that cannot answer a handshake or a status in this long is broken; a run's
    // stream has no such bound (its tests may take any time).
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    let mut connection = Connection { stream };
    connection.send(&Request::Hello(identity()))?;
    match connection.receive()? {
        Reply::Hello {
            accepted: true,
            identity: theirs,
        } if theirs == identity() => Ok(Found::Running(connection)),
        Reply::Hello {
            identity: theirs, ..
        } => Ok(Found::OtherBuild(theirs)),
        other => bail!("unexpected answer to the handshake: {other:?}"),
    }
}

/// A connection to a daemon of this build, started (in the background) when none runs and
/// replacing one of another build.
pub fn connect_or_start(
    location: &Location,
    start_args: &[std::ffi::OsString],
) -> anyhow::Result<Connection> {
    match connect(location)? {
        Found::Running(connection) => return Ok(connection),
        Found::OtherBuild(theirs) => {
            wait_for_lock_release(location, REPLACE_TIMEOUT).with_context(|| {
                format!(
                    "the daemon of another build ({}) did not stop",
                    theirs.binary
                )
            })?;
        }
        Found::NotRunning => {}
    }
    // sockaddr_un holds 108 bytes, the terminating NUL included.
    let length = location.socket.as_os_str().len();
    if length >= 108 {
        bail!(
            "the socket path {} is too long for a Unix socket ({length} bytes); set DXPY_CACHE_DIR to a shorter directory",
            location.socket.display()
        );
    }
    let mut child = spawn_daemon(location, start_args)?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        // A daemon that failed to start says why in its log; one that found another daemon
        // holding the lock exits successfully, and that other one is awaited.
        if let Some(status) = child.try_wait()?.filter(|s| !s.success()) {
            let log = std::fs::read_to_string(&location.log).unwrap_or_default();
            let last = log.lines().last().unwrap_or("").to_owned();
            bail!("the daemon exited at start ({status}): {last}");
        }
        match connect(location)? {
            Found::Running(connection) => return Ok(connection),
            Found::OtherBuild(theirs) => {
                bail!("another build's daemon took over: {}", theirs.binary)
            }
            Found::NotRunning if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Found::NotRunning => bail!(
                "the daemon did not start within {START_TIMEOUT:?} (see {})",
                location.log.display()
            ),
        }
    }
}

/// Waits until no process holds the daemon's lock (a replaced daemon has exited).
fn wait_for_lock_release(location: &Location, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if dxpy_fs::FileLock::try_exclusive(&location.lock)?.is_some() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("its lock {} is still held", location.lock.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `dx-py daemon serve ARGS` detached: its own process group, stdio on its log. (Not
/// waited for once it listens: the client is short-lived and the daemon then belongs to init.)
fn spawn_daemon(
    location: &Location,
    args: &[std::ffi::OsString],
) -> anyhow::Result<std::process::Child> {
    dxpy_fs::ensure_private_dir(&location.dir)
        .with_context(|| format!("creating {}", location.dir.display()))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode_private()
        .open(&location.log)
        .with_context(|| format!("opening {}", location.log.display()))?;
    let exe = std::env::current_exe().context("locating the dx-py binary")?;
    let mut command = Command::new(exe);
    command
        .args(["daemon", "serve"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command.spawn().context("starting the daemon")
}

trait PrivateOpen {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateOpen for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

/// `dx-py test` through the daemon: the exit code, or an error before anything was written
/// (the caller then runs the tests itself).
pub fn run_test(args: &TestArgs) -> anyhow::Result<Code> {
    // The pass-through options too: `--config-file` locates the rootdir as `-c` does.
    let location = Location::find(args.discovery_args(), args.python.as_deref())?;
    let mut start_args: Vec<std::ffi::OsString> =
        vec!["--rootdir".into(), location.rootdir.clone().into()];
    if let Some(python) = &args.python {
        start_args.push("--python".into());
        start_args.push(std::path::absolute(python)?.into());
    }
    let mut connection = connect_or_start(&location, &start_args)?;
    let request = run_request()?;
    connection.stream.set_read_timeout(None)?;
    connection.send(&Request::Run(request))?;
    stream_run(connection)
}

/// This process as the daemon must reproduce it.
fn run_request() -> anyhow::Result<RunRequest> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    Ok(RunRequest {
        argv: std::env::args_os()
            .skip(1)
            .map(|a| a.as_bytes().to_vec())
            .collect(),
        cwd: cwd.as_os_str().as_bytes().to_vec(),
        env: std::env::vars_os()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        stdout_is_terminal: std::io::IsTerminal::is_terminal(&std::io::stdout()),
        terminal_width: u32::try_from(crate::render::own_terminal_width()).unwrap_or(80),
    })
}

/// Writes the run's output as it arrives; the first Ctrl-C asks the daemon to stop the run
/// (a second one, or SIGTERM, ends this process: the closed connection cancels the run too).
fn stream_run(mut connection: Connection) -> anyhow::Result<Code> {
    let interrupted = Arc::new(AtomicBool::new(false));
    crate::signals::install(Arc::clone(&interrupted)).context("handling Ctrl-C")?;
    let writer = Arc::new(Mutex::new(connection.stream.try_clone()?));
    let done = Arc::new(AtomicBool::new(false));
    {
        let (interrupted, done, writer) = (
            Arc::clone(&interrupted),
            Arc::clone(&done),
            Arc::clone(&writer),
        );
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if interrupted.load(Ordering::SeqCst) {
                    let mut stream = writer
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let _ = wire::write_frame(&mut *stream, &Request::Cancel);
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    }
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let code = loop {
        match connection.receive() {
            Ok(Reply::Stdout(bytes)) => {
                // A closed stdout must not stop the run early: the daemon goes on, as
                // `dx-py test` does.
                let _ = stdout.write_all(&bytes).and_then(|()| stdout.flush());
            }
            Ok(Reply::Stderr(bytes)) => {
                let _ = stderr.write_all(&bytes);
            }
            Ok(Reply::Exit(code)) => break Code::from_pytest(code),
            Ok(Reply::Refused(message)) => bail!("the daemon refused the run: {message}"),
            Ok(other) => {
                eprintln!("dx-py: unexpected message from the daemon: {other:?}");
                break Code::InternalError;
            }
            Err(err) => {
                // Output may have been written already: running again here could print the
                // session twice.
                eprintln!("dx-py: the daemon was lost during the run: {err:#}");
                break Code::InternalError;
            }
        }
    };
    done.store(true, Ordering::SeqCst);
    Ok(code)
}

/// One request-reply exchange with a running daemon (`status`, `stop`); `None` when none
/// runs.
pub fn ask(location: &Location, request: &Request) -> anyhow::Result<Option<Reply>> {
    match connect(location)? {
        Found::Running(mut connection) => {
            connection.send(request)?;
            Ok(Some(connection.receive()?))
        }
        Found::OtherBuild(_) | Found::NotRunning => Ok(None),
    }
}

/// `status`, when a daemon runs.
pub fn status(location: &Location) -> anyhow::Result<Option<Status>> {
    match ask(location, &Request::Status)? {
        Some(Reply::Status(status)) => Ok(Some(status)),
        Some(other) => bail!("unexpected answer to status: {other:?}"),
        None => Ok(None),
    }
}

/// Asks the daemon to stop and waits until it has (its lock released); whether one ran.
pub fn stop(location: &Location) -> anyhow::Result<bool> {
    match ask(location, &Request::Stop)? {
        Some(Reply::Stopping) => {}
        Some(other) => bail!("unexpected answer to stop: {other:?}"),
        None => return Ok(false),
    }
    wait_for_lock_release(location, REPLACE_TIMEOUT)?;
    Ok(true)
}
