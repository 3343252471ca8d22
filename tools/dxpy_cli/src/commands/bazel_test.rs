//! `dx-py bazel-test @argsfile`: the dx_py_test executable (§2 of the contract in `dxpy_bazel`).
//!
//! The argsfile has the action's arguments in runfiles form plus `--result-*` (the action's
//! outputs, in the runfiles). [`decide`] picks REPLAY (the recorded log to stdout, JUnit to
//! `$XML_OUTPUT_FILE`, undeclared outputs copied, the recorded exit code) or EXECUTE (a
//! real, cold run inside the runfiles tree honouring `--test_filter`, sharding and JUnit).
//! Either way the first line says which.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use dxpy_bazel::args::{expand_args_files, split_test_command_line, ActionOutputs, TestArgs};
use dxpy_bazel::coverage::{report_name, COVERAGE_OUTPUT_FILE};
use dxpy_bazel::decision::{decide, Decision, ExecuteReason};
use dxpy_bazel::status::RecordedStatus;
use dxpy_bazel::test_env::{self, find_runfiles, non_empty, Shard};

use crate::args::BazelArgs;
use crate::commands::bazel_run::{
    embedded_worker_package, CoverageRequest, Interpreter, RunfilesSuite,
};
use crate::exit::Code;

pub fn run(args: BazelArgs) -> anyhow::Result<Code> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    let Some((argsfile, extra_args)) = split_test_command_line(&args.args) else {
        return Err(anyhow!(
            "usage: dx-py bazel-test @ARGSFILE [PYTEST ARGS...]"
        ));
    };
    let extra_args = extra_args.to_vec();
    let expanded = expand_args_files(&[argsfile], &cwd)?;
    let mut test_args = TestArgs::parse(&expanded)?;
    test_args.require_test_results()?;
    let argsfile = argsfile.strip_prefix('@').map(|file| cwd.join(file));
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let runfiles = find_runfiles(&env, argsfile.as_deref(), &test_args.runfiles_landmark())?;
    let recorded = match test_args.result.clone() {
        Some(results) => RecordedStatus::read(&runfiles.join(&results.status))
            .map(|status| (status, results))
            .map_err(anyhow::Error::from),
        None => Err(anyhow!(
            "no recorded result: the target is tagged exclusive, so it has no DxPyTest action"
        )),
    };
    let decision = decide(
        &env,
        &test_args,
        &extra_args,
        recorded
            .as_ref()
            .map(|(status, _)| status)
            .map_err(|err| err.to_string()),
    );
    test_args.pytest_args.extend(extra_args);
    match (decision, recorded) {
        (Decision::Replay, Ok((status, results))) => {
            replay_coverage(&test_args, &runfiles, &env)?;
            replay(&runfiles, &results, &status, &env)
        }
        (Decision::Execute(reason), _) => execute(&test_args, &runfiles, &env, &reason),
        (Decision::Replay, Err(err)) => Err(err),
    }
}

fn replay(
    runfiles: &Path,
    results: &ActionOutputs,
    status: &RecordedStatus,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Code> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "dx-py: replaying the result of the DxPyTest action")?;
    let log = runfiles.join(&results.log);
    let text = std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
    stdout.write_all(&text)?;
    stdout.flush()?;
    if let Some(xml) = non_empty(env, test_env::XML_OUTPUT_FILE) {
        let recorded = runfiles.join(&results.xml);
        copy_contents(&recorded, Path::new(xml))?;
    }
    if let Some(dir) = non_empty(env, test_env::TEST_UNDECLARED_OUTPUTS_DIR) {
        copy_tree(&runfiles.join(&results.undeclared), Path::new(dir))?;
    }
    Ok(Code::from_pytest(status.exit_code))
}

/// Under `bazel coverage`: the DxPyTest action's LCOV report to `$COVERAGE_OUTPUT_FILE`.
fn replay_coverage(
    args: &TestArgs,
    runfiles: &Path,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    match (&args.result_coverage, non_empty(env, COVERAGE_OUTPUT_FILE)) {
        (Some(recorded), Some(output)) => {
            copy_contents(&runfiles.join(recorded), Path::new(output))
        }
        _ => Ok(()),
    }
}

/// Under `bazel coverage` with instrumented sources: measure this run, report to
/// `$COVERAGE_OUTPUT_FILE`.
fn coverage_request(
    args: &TestArgs,
    runfiles: &Path,
    env: &BTreeMap<String, String>,
) -> Option<CoverageRequest> {
    let output = non_empty(env, COVERAGE_OUTPUT_FILE)?;
    let sources = args
        .coverage_sources
        .iter()
        .map(|path| (runfiles.join(path), report_name(path, &args.main_repo)))
        .collect();
    Some(CoverageRequest {
        sources,
        output: PathBuf::from(output),
    })
}

/// Copies a file's bytes only: action outputs are read-only, and Bazel must be able to
/// post-process (and delete) what the test wrote.
fn copy_contents(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    std::fs::write(to, bytes).with_context(|| format!("writing {}", to.display()))
}

/// Copies the files below `from` into `to` (symlinks followed: runfiles are symlinks).
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        // An action that wrote no undeclared outputs may have an empty or absent tree.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", from.display())),
    };
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if std::fs::metadata(&source)?.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            copy_contents(&source, &target)?;
        }
    }
    Ok(())
}

fn execute(
    args: &TestArgs,
    runfiles: &Path,
    env: &BTreeMap<String, String>,
    reason: &ExecuteReason,
) -> anyhow::Result<Code> {
    println!("dx-py: executing tests in the test action (reason: {reason})");
    let shard = Shard::from_env(env)?;
    if let Some(file) = non_empty(env, test_env::TEST_SHARD_STATUS_FILE) {
        // Tells Bazel this runner understands sharding.
        std::fs::write(file, b"").with_context(|| format!("touching {file}"))?;
    }
    let from_runfiles = |path: &Path| {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            runfiles.join(path)
        }
    };
    let mut pytest_args = args.pytest_args.clone();
    if test_env::fail_fast(env) {
        // `--test_runner_fail_fast`: pytest's -x, last so it wins over `args`' --maxfail.
        // A replay needs nothing: a recorded failure always executes.
        pytest_args.push("--exitfirst".to_owned());
    }
    let mut tests_env = args.env.clone();
    tests_env.push(("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()));
    let interrupt = Arc::new(AtomicBool::new(false));
    // Ctrl-C stops the run gracefully, as the first Ctrl-C stops `dx-py test`.
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupt));
    // TEST_TMPDIR is the test's own; `bazel run` has none, so a private one is made.
    let private = PrivateDir::new(non_empty(env, test_env::TEST_TMPDIR))?;
    let suite = RunfilesSuite {
        runfiles: std::path::absolute(runfiles)?,
        main_repo: args.main_repo.clone(),
        tests: args.tests.clone(),
        import_roots: args.import_roots.clone(),
        config: args.config.clone(),
        private_dir: private.path.clone(),
        pytest_args,
        keyword: non_empty(env, test_env::TESTBRIDGE_TEST_ONLY).map(str::to_owned),
        shard,
        env_addopts: env.get("PYTEST_ADDOPTS").cloned(),
        interpreter: Interpreter {
            python: from_runfiles(&args.python),
            worker_package: Some(match args.worker_package.as_deref() {
                Some(dir) => from_runfiles(dir),
                None => embedded_worker_package()?,
            }),
            preload: args.preload.clone(),
        },
        env: tests_env,
        deadline: None,
        interrupt,
        color: (!env.contains_key(test_env::TEST_SRCDIR)
            || env.contains_key(test_env::BUILD_WORKSPACE_DIRECTORY))
            && !env.contains_key("NO_COLOR")
            && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        rootdir_label: None,
        share_zygote: false,
        coverage: coverage_request(args, runfiles, env),
    };
    let outcome = suite.run(std::io::stdout().lock())?;
    if let Some(message) = &outcome.start_failure {
        eprintln!("ERROR: no worker could start: {}", message.trim_end());
        return Ok(outcome.code);
    }
    if let Some(xml) = non_empty(env, test_env::XML_OUTPUT_FILE) {
        let target = args.target.as_str();
        outcome
            .junit
            .write_named(Path::new(xml), outcome.elapsed, target)?;
    }
    Ok(outcome.code)
}

/// A directory for the run's own files: a fresh 0700 directory under TEST_TMPDIR (or the
/// system temp directory), removed on drop.
struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    fn new(parent: Option<&str>) -> anyhow::Result<PrivateDir> {
        use std::os::unix::fs::DirBuilderExt as _;
        let parent = parent.map_or_else(std::env::temp_dir, PathBuf::from);
        let path = parent.join(format!("dx-py-bazel-test-{}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(PrivateDir { path })
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
