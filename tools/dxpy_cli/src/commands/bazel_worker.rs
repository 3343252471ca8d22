//! `dx-py bazel-worker`: the DxPyTest build action (§1 of the contract in `dxpy_bazel`).
//!
//! `--persistent_worker`: serve Bazel's WorkRequests on stdin/stdout (multiplex) until stdin
//! ends; stdout carries only the protocol, diagnostics go to stderr. Otherwise the
//! `@argsfile` arguments are one request, run once (remote execution, sandboxed or local
//! strategies): the same [`run_action`], the same outputs.
//!
//! A request: parse the arguments, build the private symlink forest of its inputs, run the
//! tests there ([`RunfilesSuite`]), write status/log/JUnit (and the undeclared-outputs
//! directory), delete the forest (the persistent worker hands it to a [`Reaper`], which deletes
//! it while the response is on its way). The response is 0 whenever a result was written (failing
//! tests are a result); non-zero only for a broken request, with one clear message.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context as _};
use dxpy_bazel::args::{expand_args_files, TestArgs};
use dxpy_bazel::coverage::report_name;
use dxpy_bazel::forest::{runfiles_path, Forest, ForestError, Reaper};
use dxpy_bazel::proto::WorkRequest;
use dxpy_bazel::server::{is_persistent_worker, serve, CancelToken, Reply};
use dxpy_bazel::status::RecordedStatus;
use dxpy_bazel::test_env::ActionLayout;

use crate::args::BazelArgs;
use crate::commands::bazel_run::{
    embedded_worker_package, CoverageRequest, Interpreter, RunfilesSuite,
};
use crate::exit::Code;

/// Requests run at once, at least (more on machines with more cores).
const MIN_PARALLEL_REQUESTS: usize = 8;

pub fn run(args: BazelArgs) -> anyhow::Result<Code> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    if is_persistent_worker(&args.args) {
        // Bazel already bounds the requests it sends by its own resource accounting; this
        // bound only guards against a runaway, and must not serialize what Bazel overlaps.
        let max_parallel = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .max(MIN_PARALLEL_REQUESTS);
        let reaper = Reaper::new();
        let served = serve(
            std::io::stdin().lock(),
            std::io::stdout(),
            max_parallel,
            |request, cancel| handle_request(request, &cwd, cancel, &reaper),
        );
        // Waits for the last forests to be deleted.
        drop(reaper);
        return match served {
            Ok(()) => Ok(Code::Ok),
            Err(err) => {
                eprintln!("dx-py bazel-worker: {err}; exiting");
                Ok(Code::InternalError)
            }
        };
    }
    let interrupt: CancelToken = Arc::new(AtomicBool::new(false));
    // Ctrl-C stops the run gracefully, as the first Ctrl-C stops `dx-py test`.
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupt));
    let reply = match expand_args_files(&args.args, &cwd) {
        Ok(expanded) => run_action(&expanded, &cwd, &interrupt, None),
        Err(err) => failure(err.into()),
    };
    if !reply.output.is_empty() {
        eprintln!("{}", reply.output.trim_end());
    }
    Ok(if reply.exit_code == 0 {
        Code::Ok
    } else {
        Code::UsageError
    })
}

/// One WorkRequest: paths are relative to its sandbox directory when it has one.
fn handle_request(
    request: &WorkRequest,
    cwd: &Path,
    cancel: &CancelToken,
    reaper: &Reaper,
) -> Reply {
    let base = request.base_dir(cwd);
    match expand_args_files(&request.arguments, &base) {
        Ok(args) => run_action(&args, &base, cancel, Some(reaper)),
        Err(err) => failure(err.into()),
    }
}

fn failure(err: anyhow::Error) -> Reply {
    Reply {
        exit_code: 1,
        output: format!("dx-py bazel-worker: {err:#}"),
    }
}

/// Runs one request with paths relative to `base` (the execroot or the request's sandbox).
/// `persistent` (the reaper of this process's forests): this process serves many requests,
/// so keeping a zygote pays off, and a forest is deleted after the response, not before.
pub fn run_action(
    args: &[String],
    base: &Path,
    cancel: &CancelToken,
    persistent: Option<&Reaper>,
) -> Reply {
    match try_run_action(args, base, cancel, persistent) {
        Ok(()) => Reply {
            exit_code: 0,
            output: String::new(),
        },
        Err(err) => failure(err),
    }
}

fn try_run_action(
    args: &[String],
    base: &Path,
    cancel: &CancelToken,
    persistent: Option<&Reaper>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let base = std::path::absolute(base).context("resolving the execution root")?;
    let args = TestArgs::parse(args)?;
    let outputs = args.require_action_outputs()?.clone();
    let python = resolve_python(&args.python, &base)?;
    let undeclared = base.join(&outputs.undeclared);
    std::fs::create_dir_all(&undeclared)
        .with_context(|| format!("creating {}", undeclared.display()))?;

    let mapped = |path: &String| runfiles_path(path, &args.main_repo);
    let tests = args
        .tests
        .iter()
        .map(mapped)
        .collect::<Result<Vec<_>, _>>()?;
    let config = args.config.as_ref().map(mapped).transpose()?;
    let all_inputs = args
        .tests
        .iter()
        .chain(&args.inputs)
        .chain(&args.config)
        .map(String::as_str);
    let forest = Forest::build(&std::env::temp_dir(), &base, &args.main_repo, all_inputs)?;
    let forest_built = Instant::now();

    // `bazel coverage`: the report names come from the runfiles paths, the files from the
    // execution root (the forest's symlinks lead there). Written empty first: a run that
    // stops before measuring still leaves the declared output.
    let coverage = match &args.out_coverage {
        Some(out) => {
            let output = base.join(out);
            write_file(&output, b"")?;
            let sources = args
                .coverage_sources
                .iter()
                .map(|path| {
                    let name = report_name(&runfiles_path(path, &args.main_repo)?, &args.main_repo);
                    Ok((base.join(path), name))
                })
                .collect::<Result<Vec<_>, ForestError>>()?;
            Some(CoverageRequest { sources, output })
        }
        None => None,
    };

    // The variables of Bazel's test environment that locate files; then the rule's `env`.
    let scratch = forest.scratch_dir();
    let mut env = ActionLayout {
        runfiles: forest.root(),
        main_repo: &args.main_repo,
        target: &args.target,
        tmpdir: &scratch,
        undeclared_outputs: &undeclared,
    }
    .env();
    env.extend(args.env.iter().cloned());
    // Byte-code next to the forest's symlinks would only be deleted with it.
    env.push(("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()));
    let suite = RunfilesSuite {
        runfiles: forest.root().to_path_buf(),
        main_repo: args.main_repo.clone(),
        tests,
        import_roots: args.import_roots.clone(),
        config,
        private_dir: forest.private_dir().to_path_buf(),
        pytest_args: args.pytest_args.clone(),
        keyword: None,
        shard: None,
        env_addopts: None,
        interpreter: Interpreter {
            python,
            worker_package: Some(match &args.worker_package {
                Some(dir) => base.join(dir),
                None => embedded_worker_package()?,
            }),
            preload: args.preload.clone(),
        },
        env,
        deadline: args.timeout,
        interrupt: Arc::clone(cancel),
        color: false,
        share_zygote: persistent.is_some(),
        coverage,
        rootdir_label: Some(format!(
            "<runfiles>/{} (of {}, in the DxPyTest action)",
            args.main_repo, args.target
        )),
    };
    let mut log = Vec::new();
    let outcome = suite.run(&mut log)?;
    let ran = Instant::now();
    match persistent {
        Some(reaper) => reaper.discard(forest),
        None => drop(forest),
    }
    if let Some(message) = &outcome.start_failure {
        return Err(anyhow!(
            "no Python interpreter could start for {}: {}",
            args.target,
            message.trim_end()
        ));
    }
    write_file(&base.join(&outputs.log), &log)?;
    outcome
        .junit
        .write_named(&base.join(&outputs.xml), outcome.elapsed, &args.target)?;
    // The tests ran with this process's environment (the action's, `--action_env`
    // included); the rule's own `env` names are set apart by the replay decision itself.
    let process_env: Vec<(String, String)> = std::env::vars().collect();
    let status = RecordedStatus::new(
        outcome.code as i32,
        outcome.timed_out,
        outcome.selected,
        outcome.failures,
    )
    .with_action_env(
        process_env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    write_file(&base.join(&outputs.status), status.to_json().as_bytes())?;
    if persistent.is_some() {
        // The worker's log (Bazel's output_base/bazel-workers/): where a request's time went.
        let ms = |from: Instant, to: Instant| to.duration_since(from).as_millis();
        let done = Instant::now();
        eprintln!(
            "dx-py bazel-worker: {}: forest {} ms, run {} ms, outputs {} ms, total {} ms",
            args.target,
            ms(started, forest_built),
            ms(forest_built, ran),
            ms(ran, done),
            ms(started, done)
        );
    }
    Ok(())
}

/// `--python`: absolute as given, else an input below the execution root; it must exist.
fn resolve_python(python: &Path, base: &Path) -> anyhow::Result<PathBuf> {
    let path = if python.is_absolute() {
        python.to_path_buf()
    } else {
        base.join(python)
    };
    if !path.exists() {
        return Err(anyhow!(
            "the interpreter `{}` does not exist",
            path.display()
        ));
    }
    Ok(path)
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
