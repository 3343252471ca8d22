//! Running a dx_py_test target's tests in a runfiles-shaped tree: the part `bazel-worker`
//! (in its private symlink forest) and `bazel-test` (in the real runfiles tree, when it
//! executes) share. Discovery of the given test files, optional `-k` and sharding, then
//! [`run_suite`] with the pool of [`request_pool_config`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use dxpy_bazel::coverage::{filter_lcov, SourceMap};
use dxpy_bazel::test_env::Shard;
use dxpy_discover::config::ConfigRequest;
use dxpy_discover::session::{self, CacheLocation, DiscoverOptions};
use dxpy_runner::pool::{PoolConfig, PoolError, WarmStart, Zygote, ZygoteSpec};
use dxpy_runner::protocol::Engine;
use dxpy_runner::scheduler::{plan, DurationStore, SplitPolicy};

use crate::cov::Coverage;
use crate::exit::Code;
use crate::suite::{engine_for, group_by_module, run_suite, SuiteOptions, SuiteOutcome};
use crate::terminal::ReportOptions;

/// The interpreter side of a request: what a warm pool is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Interpreter {
    /// Absolute path of the interpreter.
    pub python: PathBuf,
    /// Directory holding `dxpy_worker/` (absolute); `None` uses the pool's fallbacks.
    pub worker_package: Option<PathBuf>,
    /// Modules imported before the first test (`--preload`).
    pub preload: Vec<String>,
}

/// One run of a target's tests in a runfiles tree.
#[derive(Debug)]
pub struct RunfilesSuite {
    pub runfiles: PathBuf,
    pub main_repo: String,
    /// Test files, runfiles paths (`_main/pkg/test_x.py`).
    pub tests: Vec<String>,
    /// sys.path roots, runfiles paths.
    pub import_roots: Vec<String>,
    /// The pytest config file, a runfiles path.
    pub config: Option<String>,
    /// A private writable directory. Without `config`, an empty ini file written here is
    /// passed with `-c`: pytest's config search would otherwise climb out of the runfiles
    /// tree and could pick up an undeclared `pytest.ini` (a non-sandboxed execroot links the
    /// workspace's top-level files, and the worker's forest sits in the temp directory).
    pub private_dir: PathBuf,
    pub pytest_args: Vec<String>,
    /// `-k` expression (`--test_filter`).
    pub keyword: Option<String>,
    pub shard: Option<Shard>,
    /// `PYTEST_ADDOPTS` to honour (only where the test environment may carry it).
    pub env_addopts: Option<String>,
    pub interpreter: Interpreter,
    /// Environment for the interpreters.
    pub env: Vec<(String, String)>,
    pub deadline: Option<Duration>,
    pub interrupt: Arc<AtomicBool>,
    pub color: bool,
    /// Shown as the rootdir in the log (the worker's forest is temporary).
    pub rootdir_label: Option<String>,
    /// Fork the interpreter from a zygote kept for the life of this process (the persistent
    /// worker); else spawn it (one-shot actions and test actions run one suite and exit).
    pub share_zygote: bool,
    /// `bazel coverage`: measure, and write the LCOV report.
    pub coverage: Option<CoverageRequest>,
}

/// `bazel coverage` for one run: line and branch coverage with coverage.py (through
/// pytest-cov, `dx-py test --cov`'s worker side and combiner), reported as LCOV for the
/// instrumented sources only (see `dxpy_bazel::coverage`).
#[derive(Debug)]
pub struct CoverageRequest {
    /// The instrumented sources: (the file as this run sees it, its report name).
    pub sources: Vec<(PathBuf, String)>,
    /// Where the LCOV report goes; always written (empty when nothing was measured).
    pub output: PathBuf,
}

/// What the interpreter must import to measure: checked before the run, so a missing one is
/// one clear error instead of pytest's usage error about `--cov`.
const COVERAGE_PROBE: &str = "import coverage, pytest_cov";

impl CoverageRequest {
    /// The LCOV file pytest-cov writes in the combiner (its report names every file run).
    fn raw_report(private_dir: &Path) -> PathBuf {
        private_dir.join("coverage-all.lcov")
    }

    /// Fails with one message when `python` cannot import coverage.py or pytest-cov.
    fn check_tools(python: &Path) -> anyhow::Result<()> {
        let output = std::process::Command::new(python)
            .args(["-c", COVERAGE_PROBE])
            .output()
            .with_context(|| format!("running {}", python.display()))?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        anyhow::bail!(
            "bazel coverage needs coverage.py and pytest-cov in the Python toolchain's \
             interpreter {}, which cannot import them: {}",
            python.display(),
            stderr.trim_end().lines().last().unwrap_or("")
        )
    }

    /// Sets up the pool so each worker measures into the combiner's directory; returns the
    /// started combiner.
    fn start(&self, pool: &mut PoolConfig, private_dir: &Path) -> anyhow::Result<Coverage> {
        let python = pool.resolve().context("finding the interpreter")?.python;
        Self::check_tools(&python)?;
        // The combined data file (`.coverage`) goes to the private directory, not the tree.
        let coverage = Coverage::start(&python, private_dir, 80)?;
        pool.env.push(coverage.worker_env());
        // pytest-cov starts before the conftests load: pytest's engine, nothing preloaded.
        pool.engine = Engine::Pytest;
        pool.preload.clear();
        pool.pytest_args.extend([
            "--cov".to_owned(),
            "--cov-branch".to_owned(),
            format!(
                "--cov-report=lcov:{}",
                Self::raw_report(private_dir).display()
            ),
        ]);
        Ok(coverage)
    }

    /// After the run: combine, keep the instrumented sources' records, write the report.
    fn finish(
        &self,
        mut coverage: Coverage,
        failed: bool,
        private_dir: &Path,
    ) -> anyhow::Result<()> {
        coverage.finish(failed)?;
        let raw = Self::raw_report(private_dir);
        // No report: nothing was measured (no test ran, or no data to report).
        let text = std::fs::read_to_string(&raw).unwrap_or_default();
        let map = SourceMap::resolve(self.sources.iter().cloned());
        let lcov = filter_lcov(&text, |file| map.name_of(file));
        std::fs::write(&self.output, lcov)
            .with_context(|| format!("writing {}", self.output.display()))
    }
}

/// The persistent worker's zygotes, one per interpreter set-up, started by the first request
/// that needs one and kept while alive. A zygote imports only installed modules (pytest, the
/// preloads), never the target's sources, and every request gets fresh forks: nothing a
/// request imports or changes reaches the next one.
fn shared_zygote(pool: &PoolConfig) -> Result<Arc<Zygote>, PoolError> {
    static ZYGOTES: OnceLock<Mutex<HashMap<ZygoteSpec, Arc<Zygote>>>> = OnceLock::new();
    let mut spec = ZygoteSpec::for_pool(pool)?;
    // Only the start-up variables must match; each fork gets its request's full environment.
    spec.env
        .retain(|(name, _)| name.to_string_lossy().starts_with("PYTHON"));
    // It serves request after request: worth warming up with a probe session.
    spec.probe_session = spec.import_pytest;
    let mut zygotes = ZYGOTES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(zygote) = zygotes.get(&spec).filter(|z| z.is_alive()) {
        return Ok(Arc::clone(zygote));
    }
    let zygote = Zygote::start(&spec)?;
    zygotes.insert(spec, Arc::clone(&zygote));
    Ok(zygote)
}

/// The directory holding the worker package compiled into this binary, written once per
/// process. Bazel actions always use it: the binary is an input of every action, whereas a
/// `worker/` directory found beside it (a development build's checkout) would be an undeclared
/// input, and a filegroup of the package would cost every target a dozen inputs and runfiles.
/// Written under the user's dx-py cache, else (no `HOME`, or a sandbox that makes it read-only)
/// under a per-user private directory of the temporary directory.
pub fn embedded_worker_package() -> anyhow::Result<PathBuf> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = DIR.get() {
        return Ok(dir.clone());
    }
    let fallback =
        std::env::temp_dir().join(format!("dx-py-{}", rustix::process::getuid().as_raw()));
    let mut errors = Vec::new();
    for root in session::cache_root().into_iter().chain([fallback]) {
        match dxpy_runner::pool::embedded::extract(&root) {
            Ok(dir) => return Ok(DIR.get_or_init(|| dir).clone()),
            Err(err) => errors.push(format!("{}: {err}", root.display())),
        }
    }
    anyhow::bail!(
        "cannot write the embedded worker package ({})",
        errors.join("; ")
    )
}

/// The pool of one request: one interpreter (Bazel runs requests in parallel itself), started
/// in `rootdir` with `sys_path` first on its path.
///
/// This is the one place a request's pool is configured: a worker that keeps warm
/// interpreters across requests (a zygote per [`Interpreter`] key: python + worker package +
/// preload) plugs in here, handing this request's rootdir, sys.path and env to a fork.
pub fn request_pool_config(
    interpreter: &Interpreter,
    rootdir: &Path,
    sys_path: Vec<String>,
    env: Vec<(OsString, OsString)>,
    engine: Engine,
    pytest_args: Vec<String>,
) -> PoolConfig {
    let mut pool = PoolConfig::new(rootdir);
    pool.worker_cache_root = dxpy_discover::session::cache_root();
    pool.workers = 1;
    pool.python = Some(interpreter.python.clone());
    pool.worker_path = interpreter.worker_package.clone();
    pool.preload = interpreter.preload.clone();
    pool.sys_path = sys_path;
    pool.env = env;
    pool.engine = engine;
    pool.pytest_args = pytest_args;
    pool
}

impl RunfilesSuite {
    /// `<runfiles>/<main repo>`: the rootdir.
    pub fn rootdir(&self) -> PathBuf {
        self.runfiles.join(&self.main_repo)
    }

    /// A test file as a pytest argument: relative to the rootdir when it is in the main
    /// repository (so node IDs are `pkg/test_x.py::...`), else absolute.
    fn test_arg(&self, runfiles_path: &str) -> String {
        match runfiles_path
            .strip_prefix(&self.main_repo)
            .and_then(|rest| rest.strip_prefix('/'))
        {
            Some(inside) => inside.to_owned(),
            None => self
                .runfiles
                .join(runfiles_path)
                .to_string_lossy()
                .into_owned(),
        }
    }

    /// The pytest options both discovery and the interpreters see (no file arguments).
    fn pytest_options(&self) -> Vec<String> {
        let mut options = vec![
            "--rootdir".to_owned(),
            self.rootdir().to_string_lossy().into_owned(),
        ];
        options.push("-c".to_owned());
        options.push(match &self.config {
            Some(config) => self.runfiles.join(config).to_string_lossy().into_owned(),
            None => self.empty_config().to_string_lossy().into_owned(),
        });
        if let Some(keyword) = &self.keyword {
            options.push("-k".to_owned());
            options.push(keyword.clone());
        }
        // Read with `dx-py test`'s model: each value attached to its option, so discovery
        // never takes a plugin option's value for a path.
        options.extend(crate::pytest_cli::pytest_only(&self.pytest_args).attached);
        options
    }

    /// Where the stand-in for a missing config file is written (see `private_dir`).
    fn empty_config(&self) -> PathBuf {
        self.private_dir.join("dx-py-no-config.ini")
    }

    /// Discovers, selects and runs; reports to `out`. A discovery failure is pytest's usage
    /// error, reported in `out` like pytest does, not an `Err`.
    pub fn run<W: Write>(&self, mut out: W) -> anyhow::Result<SuiteOutcome> {
        let start = Instant::now();
        let rootdir = self.rootdir();
        if self.config.is_none() {
            let path = self.empty_config();
            std::fs::write(&path, b"")
                .with_context(|| format!("writing the empty config {}", path.display()))?;
        }
        let options = self.pytest_options();
        let mut discover_args = options.clone();
        discover_args.extend(self.tests.iter().map(|t| self.test_arg(t)));
        let discovered = session::discover(&DiscoverOptions {
            request: ConfigRequest {
                invocation_dir: rootdir.clone(),
                args: discover_args,
                env_addopts: self.env_addopts.clone(),
            },
            cache: CacheLocation::Off,
            ..DiscoverOptions::default()
        });
        let mut discovery = match discovered {
            Ok(discovery) => discovery,
            Err(err) => {
                writeln!(out, "ERROR: {err}")?;
                return Ok(SuiteOutcome::without_run(Code::UsageError));
            }
        };
        if self.config.is_none() {
            // The stand-in is no config of the user's: the header shows none, as pytest would.
            discovery.config.inifile = None;
        }
        let mut node_ids: Vec<String> = discovery.items.iter().map(|i| i.node_id.clone()).collect();
        if let Some(shard) = self.shard {
            node_ids = shard.select(node_ids);
            if node_ids.is_empty() {
                writeln!(
                    out,
                    "dx-py: shard {} of {} has no tests",
                    shard.index, shard.total
                )?;
                return Ok(SuiteOutcome::without_run(Code::Ok));
            }
        }
        let units = plan(
            &group_by_module(&node_ids),
            &DurationStore::load(Path::new("")).0,
            SplitPolicy::default(),
        );
        let mut sys_path: Vec<String> = self
            .import_roots
            .iter()
            .map(|root| self.runfiles.join(root).to_string_lossy().into_owned())
            .collect();
        sys_path.push(rootdir.to_string_lossy().into_owned());
        sys_path.push(self.runfiles.to_string_lossy().into_owned());
        let env = self
            .env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect();
        let mut pool = request_pool_config(
            &self.interpreter,
            &rootdir,
            sys_path,
            env,
            engine_for(&discovery),
            options,
        );
        let coverage = match &self.coverage {
            Some(request) if !request.sources.is_empty() => {
                Some(request.start(&mut pool, &self.private_dir)?)
            }
            Some(request) => {
                // Nothing instrumented: an empty report.
                std::fs::write(&request.output, b"")
                    .with_context(|| format!("writing {}", request.output.display()))?;
                None
            }
            None => None,
        };
        pool.warm_start = if self.share_zygote {
            match shared_zygote(&pool) {
                Ok(zygote) => WarmStart::Shared(zygote),
                Err(err) => {
                    eprintln!("dx-py: spawning instead of forking from a zygote: {err}");
                    WarmStart::Spawn
                }
            }
        } else {
            WarmStart::Spawn
        };
        // The config's addopts, PYTEST_ADDOPTS and the target's `args`, layered as pytest does.
        let report = discovery.config.args.report.clone();
        let options = SuiteOptions {
            pool,
            // `-x`/`--maxfail` from the config, `args`, --test_arg or --test_runner_fail_fast.
            maxfail: report.maxfail.filter(|&n| n > 0),
            interrupt: Arc::clone(&self.interrupt),
            deadline: self.deadline,
            durations: None,
            header_notes: Vec::new(),
            rootdir_label: self.rootdir_label.clone(),
            verbosity: i8::try_from(report.verbosity.clamp(-2, 3)).unwrap_or(0),
            color: self.color,
            report: ReportOptions::from_args(&report),
            replay: Vec::new(),
            capture: false,
            coverage: None,
            import_modules: None,
            baseline: None,
        };
        let outcome = run_suite(&discovery, &node_ids, units, options, out, start)?;
        if let (Some(request), Some(coverage)) = (&self.coverage, coverage) {
            request.finish(coverage, outcome.failures > 0, &self.private_dir)?;
        }
        Ok(outcome)
    }
}
