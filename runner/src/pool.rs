//! The worker pool's configuration and how it finds its interpreter and worker package.
//!
//! Layout:
//! - this file: [`PoolConfig`], [`PoolError`], interpreter and worker-package resolution;
//! - [`process`]: one worker process (spawn in its own process group, or adopt a forked
//!   one; Hello/Ready, timed frame reads, kill and reap);
//! - `stderr`: a process's stderr drained into a bounded tail; `exit`: how a process ended
//!   (both shared by `process` and `zygote`);
//! - [`zygote`]: warm start, a zygote interpreter that forks workers ([`WarmStart`]).
//!
//! The pool's scheduling loop lives in [`crate::run`]; this module only knows how to start
//! and stop workers.
//!
//! # Resolution
//!
//! Interpreter: [`PoolConfig::python`] (the CLI's `--python`), else `$VIRTUAL_ENV/bin/python`
//! when it exists, else `python3` from `PATH`.
//!
//! Worker package (the directory holding `dxpy_worker/`): [`PoolConfig::worker_path`], else
//! `$DXPY_WORKER_PATH`, else next to the executable (`<exe dir>/../share/dx-py/worker` for an
//! installed layout, `<exe dir>/../../worker` for a `target/<profile>/` build inside the
//! repository), else the copy embedded in the binary ([`embedded`], written under
//! [`PoolConfig::worker_cache_root`]), else this crate's source checkout (`<crate>/../worker`,
//! compiled in). The first candidate containing `dxpy_worker/__init__.py` wins; it is put
//! first on the worker's `PYTHONPATH`, before any inherited `PYTHONPATH`.

pub mod embedded;
mod exit;
pub mod process;
pub mod spare;
mod stderr;
pub mod zygote;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::Engine;

pub use process::{signal_name, ExitReason, StderrSink, WorkerProcess};
pub use spare::{SpareSlot, SpareStats};
pub use zygote::{PreloadReport, Zygote, ZygoteError, ZygoteSpec};

/// How workers are started.
#[derive(Debug, Clone, Default)]
pub enum WarmStart {
    /// Each worker is a fresh `python -m dxpy_worker`.
    Spawn,
    /// The run starts a zygote and forks every worker (replacements too) from it; it stops
    /// with the run. If it cannot start or dies, the run spawns instead (one notice).
    #[default]
    Zygote,
    /// Fork from this long-lived zygote (e.g. one per [`ZygoteSpec`] kept by the Bazel
    /// worker across requests, see [`Zygote::start`]). Falls back like `Zygote`; check
    /// [`Zygote::is_alive`] before reusing it for the next run.
    Shared(Arc<Zygote>),
}

/// Why workers could not be started.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    #[error("cannot find the dx-py worker package (dxpy_worker); looked in: {}", .searched.join(", "))]
    WorkerPackageNotFound { searched: Vec<String> },
    #[error("cannot start `{}`: {message}", .python.display())]
    Spawn { python: PathBuf, message: String },
    #[error("worker `{}` failed at start-up: {message}\n{traceback}", .python.display())]
    WorkerFatal {
        python: PathBuf,
        message: String,
        traceback: String,
    },
    #[error("worker `{}` exited before Ready ({reason}); last stderr lines:\n{}", .python.display(), .stderr.join("\n"))]
    StartupExit {
        python: PathBuf,
        reason: String,
        stderr: Vec<String>,
    },
    #[error("worker `{}` did not answer Hello within {seconds}s; last stderr lines:\n{}", .python.display(), .stderr.join("\n"))]
    StartupTimeout {
        python: PathBuf,
        seconds: f64,
        stderr: Vec<String>,
    },
    #[error(transparent)]
    Zygote(#[from] ZygoteError),
}

/// How to start and drive the workers.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Number of worker processes; 0 means the available cores.
    pub workers: usize,
    /// Interpreter (`--python`); see the module docs for the fallback order.
    pub python: Option<PathBuf>,
    /// Directory holding the `dxpy_worker` package; see the module docs for the fallbacks.
    pub worker_path: Option<PathBuf>,
    /// Where the embedded worker package may be written when no directory holds one
    /// (dx-py's cache root; `None`: never).
    pub worker_cache_root: Option<PathBuf>,
    /// pytest's rootdir: the workers' working directory; node IDs are relative to it.
    pub rootdir: PathBuf,
    /// Prepended to each worker's `sys.path`.
    pub sys_path: Vec<String>,
    pub engine: Engine,
    pub pytest_args: Vec<String>,
    /// Cap for each captured stream and text field (0: the worker's default, 1 MiB).
    pub output_limit: u32,
    /// The width the workers' pytest renders reports for (0: its own default, 80 columns
    /// when not on a terminal).
    pub terminal_width: u32,
    /// A test (counted from the previous test's end) running longer than this gets its
    /// worker's process group killed and is reported failed with `Timeout (>Ns)`. The
    /// clock for a batch's first test starts when the batch is sent, so it also covers
    /// collecting the unit's module (the protocol has no "test started" frame).
    pub test_timeout: Option<Duration>,
    /// Batches a worker serves before it is shut down and replaced: a long-lived pytest
    /// session accumulates fixture definitions and module state batch after batch.
    pub max_batches_per_worker: u32,
    /// Workers that may be lost to crashes or timeouts before the run stops; `None` means
    /// 4 × the worker count (pytest-xdist's default for `--max-worker-restart`). Guards
    /// against a module that kills every worker at import, one test at a time.
    pub max_worker_restarts: Option<u32>,
    /// Time allowed between spawning a worker and its Ready.
    pub startup_timeout: Duration,
    /// Time allowed for Shutdown's Done (final session teardown) before a kill.
    pub shutdown_timeout: Duration,
    /// Extra environment variables for the workers.
    pub env: Vec<(OsString, OsString)>,
    /// Deliver each line the workers write to stderr as an event (needed with
    /// `-s`/`--capture=no`, where test output goes there); otherwise only the last lines are
    /// kept, for crash reports.
    pub forward_stderr: bool,
    /// Modules each worker imports right after Ready (Preload request), so heavy imports
    /// are paid before the first batch rather than inside the first test's timing.
    pub preload: Vec<String>,
    /// The run's selected test modules (rootdir-relative paths) in collection order. Each
    /// worker imports them (ImportModules request) before its first batch, as pytest's
    /// collection imports every collected module before any test runs (see
    /// [`crate::run`]); empty: no such step.
    pub test_modules: Vec<String>,
    /// Spawn each worker, or fork it from a zygote (the default).
    pub warm_start: WarmStart,
    /// Ask the workers what each test executes (Hello's `RECORD` flag): their Executed and
    /// Ambient results become [`crate::run::RunEvent::Executed`] and
    /// [`crate::run::RunEvent::Ambient`]. Instrumented code is cached under
    /// `worker_cache_root` when it is set.
    pub record_execution: bool,
    /// Where a caller that keeps a zygote offers a spare worker, started ahead of the run
    /// ([`spare`]); only used with [`WarmStart::Shared`].
    pub spare: Option<std::sync::Arc<SpareSlot>>,
    /// Who the worker is, as pytest-xdist tells its workers (set per slot by the run).
    pub identity: Option<WorkerIdentity>,
    /// The run's `testrun_uid` when the caller chose it (to print what derives from it, such
    /// as [`WorkerIdentity::randomly_seed`], before the run starts); `None`: the spare's
    /// ([`SpareSlot::upcoming_testrun_uid`]), else a new one.
    pub testrun_uid: Option<String>,
}

/// What pytest-xdist gives each worker, which suites key per-worker state on (databases,
/// ports, directories): `PYTEST_XDIST_WORKER` (`gw0`, `gw1`, ...),
/// `PYTEST_XDIST_WORKER_COUNT` and `PYTEST_XDIST_TESTRUNUID` (one per run, shared by its
/// workers). The worker also hands them to xdist's `worker_id` and `testrun_uid` fixtures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerIdentity {
    /// The slot: a replacement worker keeps its slot's name, so at most `count` names exist
    /// at once, as under xdist.
    pub slot: usize,
    pub count: usize,
    pub testrun_uid: String,
}

impl WorkerIdentity {
    /// A new run's id: a random UUID's hex, as pytest-xdist makes it.
    pub fn new_testrun_uid() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    /// The seed pytest-randomly uses in every worker of the run whose id is `testrun_uid`
    /// (its first 32 bits; the worker's `SharedSeed` plugin gives it to the plugin), as
    /// pytest-xdist's controller hands its own seed to every worker.
    pub fn randomly_seed(testrun_uid: &str) -> Option<u32> {
        u32::from_str_radix(testrun_uid.get(..8)?, 16).ok()
    }

    fn vars(&self) -> [(OsString, OsString); 3] {
        [
            (
                "PYTEST_XDIST_WORKER".into(),
                format!("gw{}", self.slot).into(),
            ),
            (
                "PYTEST_XDIST_WORKER_COUNT".into(),
                self.count.to_string().into(),
            ),
            (
                "PYTEST_XDIST_TESTRUNUID".into(),
                self.testrun_uid.clone().into(),
            ),
        ]
    }
}

impl PoolConfig {
    pub fn new(rootdir: impl Into<PathBuf>) -> PoolConfig {
        PoolConfig {
            workers: 0,
            python: None,
            worker_path: None,
            worker_cache_root: None,
            rootdir: rootdir.into(),
            sys_path: Vec::new(),
            engine: Engine::Auto,
            pytest_args: Vec::new(),
            output_limit: 0,
            terminal_width: 0,
            test_timeout: None,
            max_batches_per_worker: 64,
            max_worker_restarts: None,
            startup_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(60),
            env: Vec::new(),
            preload: Vec::new(),
            test_modules: Vec::new(),
            forward_stderr: false,
            warm_start: WarmStart::default(),
            record_execution: false,
            spare: None,
            identity: None,
            testrun_uid: None,
        }
    }

    /// The variables every worker gets on top of the inherited environment: [`Self::env`],
    /// its [`WorkerIdentity`]'s, and when recording, `DXPY_WORKER_CACHE_ROOT` (where the
    /// recorder caches instrumented code, in a private directory of its own).
    pub fn worker_vars(&self) -> Vec<(OsString, OsString)> {
        let mut vars = self.env.clone();
        if let Some(identity) = &self.identity {
            vars.extend(identity.vars());
        }
        if let Some(root) = self
            .worker_cache_root
            .as_ref()
            .filter(|_| self.record_execution)
        {
            vars.push((
                "DXPY_WORKER_CACHE_ROOT".into(),
                root.clone().into_os_string(),
            ));
        }
        vars
    }

    /// The worker count after applying the "0 = cores" default.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }

    /// The restart budget after applying the "None = 4 × workers" default.
    pub fn restart_budget(&self) -> u32 {
        self.max_worker_restarts.unwrap_or_else(|| {
            u32::try_from(self.worker_count().saturating_mul(4)).unwrap_or(u32::MAX)
        })
    }

    /// Resolves the interpreter and the worker's `PYTHONPATH` once per run.
    pub fn resolve(&self) -> Result<Resolved, PoolError> {
        let python = resolve_python(self.python.as_deref(), std::env::var_os("VIRTUAL_ENV"));
        let worker_dir = resolve_worker_path(
            self.worker_path.as_deref(),
            std::env::var_os("DXPY_WORKER_PATH"),
            std::env::current_exe().ok().as_deref(),
            self.worker_cache_root.as_deref(),
        )?;
        let mut entries = vec![worker_dir.clone()];
        if let Some(inherited) = std::env::var_os("PYTHONPATH") {
            entries.extend(std::env::split_paths(&inherited));
        }
        let pythonpath =
            std::env::join_paths(entries).unwrap_or_else(|_| worker_dir.clone().into());
        Ok(Resolved {
            python,
            worker_dir,
            pythonpath,
        })
    }
}

/// The interpreter and worker package a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub python: PathBuf,
    pub worker_dir: PathBuf,
    pub pythonpath: OsString,
}

/// `--python`, else `$VIRTUAL_ENV/bin/python` if it exists, else `python3`.
pub fn resolve_python(option: Option<&Path>, virtual_env: Option<OsString>) -> PathBuf {
    if let Some(python) = option {
        return python.to_path_buf();
    }
    if let Some(venv) = virtual_env.filter(|v| !v.is_empty()) {
        let candidate = Path::new(&venv).join("bin").join("python");
        if candidate.exists() {
            return candidate;
        }
    }
    PathBuf::from("python3")
}

/// The first candidate directory that contains `dxpy_worker/__init__.py`; when none next to
/// the executable does, the copy embedded in the binary (written under `cache_root`).
pub fn resolve_worker_path(
    option: Option<&Path>,
    env: Option<OsString>,
    current_exe: Option<&Path>,
    cache_root: Option<&Path>,
) -> Result<PathBuf, PoolError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = option {
        // An explicit option is the only candidate: a typo must not silently fall back.
        candidates.push(path.to_path_buf());
    } else {
        if let Some(env) = env.filter(|v| !v.is_empty()) {
            candidates.push(PathBuf::from(env));
        }
        if let Some(dir) = current_exe.and_then(Path::parent) {
            candidates.push(dir.join("../share/dx-py/worker"));
            candidates.push(dir.join("../../worker"));
        }
    }
    let found = |candidates: &[PathBuf]| {
        candidates
            .iter()
            .find(|c| c.join("dxpy_worker").join("__init__.py").is_file())
            .map(|c| c.canonicalize().unwrap_or_else(|_| c.clone()))
    };
    if let Some(dir) = found(&candidates) {
        return Ok(dir);
    }
    let mut searched: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    if option.is_none() {
        // The embedded copy matches this binary's protocol; a source checkout may not.
        if let Some(root) = cache_root {
            match embedded::extract(root) {
                Ok(dir) => return Ok(dir),
                Err(err) => searched.push(format!(
                    "the embedded copy under {} ({err})",
                    root.display()
                )),
            }
        }
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker");
        if let Some(dir) = found(std::slice::from_ref(&checkout)) {
            return Ok(dir);
        }
        searched.push(checkout.display().to_string());
    }
    Err(PoolError::WorkerPackageNotFound { searched })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_randomly_seed_is_the_first_32_bits_of_the_run_id() {
        // The worker derives the same number (worker/tests/test_xdist_identity.py).
        let uid = "0123456789abcdef0123456789abcdef";
        assert_eq!(WorkerIdentity::randomly_seed(uid), Some(0x0123_4567));
        assert_eq!(WorkerIdentity::randomly_seed("0123"), None);
        assert_eq!(WorkerIdentity::randomly_seed("not-hex-at-all"), None);
        let fresh = WorkerIdentity::new_testrun_uid();
        assert!(WorkerIdentity::randomly_seed(&fresh).is_some(), "{fresh}");
    }

    #[test]
    fn python_option_wins_then_virtualenv_then_python3() {
        let venv = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(venv.path().join("bin")).expect("mkdir");
        std::fs::write(venv.path().join("bin/python"), "").expect("write");
        assert_eq!(
            resolve_python(Some(Path::new("/opt/py")), Some(venv.path().into())),
            PathBuf::from("/opt/py")
        );
        assert_eq!(
            resolve_python(None, Some(venv.path().into())),
            venv.path().join("bin/python")
        );
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            resolve_python(None, Some(empty.path().into())),
            PathBuf::from("python3")
        );
        assert_eq!(resolve_python(None, None), PathBuf::from("python3"));
    }

    #[test]
    fn worker_path_option_is_not_second_guessed() {
        let empty = tempfile::tempdir().expect("tempdir");
        let err = resolve_worker_path(Some(empty.path()), None, None, Some(empty.path()))
            .expect_err("must fail");
        assert!(
            matches!(err, PoolError::WorkerPackageNotFound { ref searched } if searched.len() == 1)
        );
        // Without an option the crate checkout is found.
        let found =
            resolve_worker_path(None, Some(empty.path().into()), None, None).expect("found");
        assert!(found.join("dxpy_worker/__init__.py").is_file());
        // With a cache root and nothing next to the executable: the embedded copy.
        let cache = tempfile::tempdir().expect("tempdir");
        let exe = empty.path().join("bin/dx-py");
        let found = resolve_worker_path(None, None, Some(&exe), Some(cache.path())).expect("found");
        assert!(found.starts_with(cache.path()), "{}", found.display());
        assert!(found.join("dxpy_worker/protocol.py").is_file());
    }
}
