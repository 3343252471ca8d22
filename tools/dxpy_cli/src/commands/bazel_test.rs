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
use dxpy_bazel::args::{expand_args_files, ActionOutputs, TestArgs};
use dxpy_bazel::decision::{decide, Decision, ExecuteReason};
use dxpy_bazel::status::RecordedStatus;

use crate::args::BazelArgs;
use crate::commands::bazel_run::{embedded_worker_package, Interpreter, RunfilesSuite, Shard};
use crate::exit::Code;

pub fn run(args: BazelArgs) -> anyhow::Result<Code> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    // The launcher passes `@argsfile` first; anything after it comes from `--test_arg` (or
    // `bazel run -- ARGS`) and goes to pytest.
    let (argsfile, extra_args) = match args.args.split_first() {
        Some((first, rest)) if first.starts_with('@') => (first, rest.to_vec()),
        _ => {
            return Err(anyhow!(
                "usage: dx-py bazel-test @ARGSFILE [PYTEST ARGS...]"
            ))
        }
    };
    let expanded = expand_args_files(std::slice::from_ref(argsfile), &cwd)?;
    let mut test_args = TestArgs::parse(&expanded)?;
    if !test_args.exclusive {
        test_args.require_results()?;
    }
    let argsfile = argsfile.strip_prefix('@').map(|file| cwd.join(file));
    let env: BTreeMap<String, String> = std::env::vars().collect();
    // Something at a known runfiles path: the recorded status, or (an exclusive target has
    // no DxPyTest action) its first test file.
    let landmark = match &test_args.result {
        Some(results) => results.status.clone(),
        None => PathBuf::from(&test_args.tests[0]),
    };
    let runfiles = find_runfiles(&env, argsfile.as_deref(), &landmark)?;
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
        (Decision::Replay, Ok((status, results))) => replay(&runfiles, &results, &status, &env),
        (Decision::Execute(reason), _) => execute(&test_args, &runfiles, &env, &reason),
        (Decision::Replay, Err(err)) => Err(err),
    }
}

/// `RUNFILES_DIR`, else `TEST_SRCDIR`, else the ancestor of the argsfile that holds
/// `landmark` at its runfiles path (`bazel run` without runfiles variables).
fn find_runfiles(
    env: &BTreeMap<String, String>,
    argsfile: Option<&Path>,
    landmark: &Path,
) -> anyhow::Result<PathBuf> {
    for name in ["RUNFILES_DIR", "TEST_SRCDIR"] {
        if let Some(dir) = env.get(name).filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
    }
    argsfile
        .into_iter()
        .flat_map(Path::ancestors)
        .skip(1)
        .find(|dir| dir.join(landmark).exists())
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("cannot find the runfiles directory (set RUNFILES_DIR)"))
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
    if let Some(xml) = env.get("XML_OUTPUT_FILE").filter(|x| !x.is_empty()) {
        let recorded = runfiles.join(&results.xml);
        copy_contents(&recorded, Path::new(xml))?;
    }
    if let Some(dir) = env
        .get("TEST_UNDECLARED_OUTPUTS_DIR")
        .filter(|d| !d.is_empty())
    {
        copy_tree(&runfiles.join(&results.undeclared), Path::new(dir))?;
    }
    Ok(Code::from_pytest(status.exit_code))
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
    let shard = sharding(env)?;
    if let Some(file) = env.get("TEST_SHARD_STATUS_FILE").filter(|f| !f.is_empty()) {
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
    if env
        .get("TESTBRIDGE_TEST_RUNNER_FAIL_FAST")
        .is_some_and(|v| v == "1")
    {
        // `--test_runner_fail_fast`: pytest's -x, last so it wins over `args`' --maxfail.
        // A replay needs nothing: a recorded failure always executes.
        pytest_args.push("--exitfirst".to_owned());
    }
    let mut test_env = args.env.clone();
    test_env.push(("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()));
    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupt);
        let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    }
    // TEST_TMPDIR is the test's own; `bazel run` has none, so a private one is made.
    let private = PrivateDir::new(env.get("TEST_TMPDIR").filter(|t| !t.is_empty()))?;
    let suite = RunfilesSuite {
        runfiles: std::path::absolute(runfiles)?,
        main_repo: args.main_repo.clone(),
        tests: args.tests.clone(),
        import_roots: args.import_roots.clone(),
        config: args.config.clone(),
        private_dir: private.path.clone(),
        pytest_args,
        keyword: env
            .get("TESTBRIDGE_TEST_ONLY")
            .filter(|k| !k.is_empty())
            .cloned(),
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
        env: test_env,
        deadline: None,
        interrupt,
        color: (!env.contains_key("TEST_SRCDIR") || env.contains_key("BUILD_WORKSPACE_DIRECTORY"))
            && !env.contains_key("NO_COLOR")
            && std::io::IsTerminal::is_terminal(&std::io::stdout()),
        rootdir_label: None,
        share_zygote: false,
    };
    let outcome = suite.run(std::io::stdout().lock())?;
    if let Some(message) = &outcome.start_failure {
        eprintln!("ERROR: no worker could start: {}", message.trim_end());
        return Ok(outcome.code);
    }
    if let Some(xml) = env.get("XML_OUTPUT_FILE").filter(|x| !x.is_empty()) {
        let target = args.target.as_str();
        outcome
            .junit
            .write_named(Path::new(xml), outcome.elapsed, target)?;
    }
    Ok(outcome.code)
}

/// `TEST_TOTAL_SHARDS`/`TEST_SHARD_INDEX`, validated.
fn sharding(env: &BTreeMap<String, String>) -> anyhow::Result<Option<Shard>> {
    let Some(total) = env.get("TEST_TOTAL_SHARDS").filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let total: usize = total
        .parse()
        .ok()
        .filter(|t| *t > 0)
        .ok_or_else(|| anyhow!("TEST_TOTAL_SHARDS={total}: expected a positive number"))?;
    let index = env.get("TEST_SHARD_INDEX").map_or("0", String::as_str);
    let index: usize = index
        .parse()
        .ok()
        .filter(|i| *i < total)
        .ok_or_else(|| anyhow!("TEST_SHARD_INDEX={index}: expected 0..{total}"))?;
    Ok(Some(Shard { index, total }))
}

/// A directory for the run's own files: a fresh 0700 directory under TEST_TMPDIR (or the
/// system temp directory), removed on drop.
struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    fn new(parent: Option<&String>) -> anyhow::Result<PrivateDir> {
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
