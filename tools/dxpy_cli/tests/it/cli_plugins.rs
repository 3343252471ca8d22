//! Plugins dx-py treats specially, each installed from its wheel into a scratch venv:
//! - pytest-randomly: every worker uses the run's seed, which the header names as pytest's
//!   does, so each test sees the `random` state `pytest --randomly-seed=N` gives it
//!   (pytest-randomly reseeds `random` per test from the seed and the test's node ID);
//! - pytest-timeout: `--timeout` is its option, so a test that runs too long fails with its
//!   report, as under pytest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dxpy_test_support::{
    bounded, install_wheel, run_with_env, summary, venv_with_test_packages, Project, Run,
};

/// Each test writes its node ID and its first `random.random()` to `$RANDOM_LOG`.
const MODULE: &str = "import os\nimport random\n\n\n\
def record(request):\n    with open(os.environ['RANDOM_LOG'], 'a') as log:\n        \
log.write(f'{request.node.nodeid} {random.random()!r}\\n')\n\n\n\
def test_one(request):\n    record(request)\n\n\n\
def test_two(request):\n    record(request)\n\n\n\
def test_three(request):\n    record(request)\n";

const TESTS: usize = 12;

/// A project of four such modules, and a venv that has pytest-randomly besides the test
/// interpreter's packages.
fn setup() -> (Project, PathBuf) {
    let mut project = Project::in_subdir("proj").file("pytest.ini", "[pytest]\n");
    for i in 0..4 {
        project = project.file(&format!("test_m{i}.py"), MODULE);
    }
    let python = venv_with(&project, "pytest-randomly");
    (project, python)
}

/// A venv beside `project` with `plugin` besides the test interpreter's packages.
fn venv_with(project: &Project, plugin: &str) -> PathBuf {
    let (python, site) = venv_with_test_packages(project.temp_dir());
    install_wheel(&site, plugin);
    python
}

/// Runs `command` in `root` with `$RANDOM_LOG` at `log` (outside the project), and returns
/// the run and what each test drew.
fn drawn(root: &Path, command: Command, log: &Path) -> (Run, BTreeMap<String, String>) {
    let _ = std::fs::remove_file(log);
    let run = run_with_env(
        command,
        root,
        &[("RANDOM_LOG", log.to_str().expect("utf-8"))],
    );
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let values = text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(id, value)| (id.to_owned(), value.to_owned()))
        .collect();
    (run, values)
}

fn dx_py(project: &Project, python: &Path, args: &[&str]) -> (Run, BTreeMap<String, String>) {
    let mut command = Command::new(crate::dx_py_bin());
    command.arg("test").arg("--python").arg(python).args(args);
    drawn(project.root(), command, &project.temp_dir().join("dx.log"))
}

fn pytest(project: &Project, python: &Path, args: &[&str]) -> (Run, BTreeMap<String, String>) {
    let mut command = bounded(python);
    command
        .args(["-m", "pytest", "-p", "no:cacheprovider"])
        .args(args);
    drawn(project.root(), command, &project.temp_dir().join("py.log"))
}

/// The seed a header names (`Using --randomly-seed=N`).
fn header_seed(output: &str) -> Option<String> {
    output
        .lines()
        .find_map(|line| line.strip_prefix("Using --randomly-seed="))
        .map(str::to_owned)
}

#[test]
fn every_worker_draws_what_pytest_draws_with_the_seed_the_header_names() {
    let (project, python) = setup();
    let (dx, dx_values) = dx_py(&project, &python, &["-n", "2"]);
    assert_eq!(dx.code, 0, "{}", dx.output);
    assert!(dx.output.contains("2 workers"), "{}", dx.output);
    let seed = header_seed(&dx.output).unwrap_or_else(|| panic!("no seed line\n{}", dx.output));
    assert_eq!(dx_values.len(), TESTS, "{}", dx.output);
    let (py, py_values) = pytest(&project, &python, &[&format!("--randomly-seed={seed}")]);
    assert_eq!(py.code, 0, "{}", py.output);
    assert_eq!(dx_values, py_values, "{}\n{}", dx.output, py.output);
    // A new run, a new seed, as with pytest-randomly alone.
    let (again, _) = dx_py(&project, &python, &["-n", "2"]);
    assert_ne!(header_seed(&again.output), Some(seed), "{}", again.output);
}

#[test]
fn a_given_seed_is_every_workers_and_no_randomly_turns_it_off() {
    let (project, python) = setup();
    let (dx, dx_values) = dx_py(&project, &python, &["-n", "2", "--randomly-seed=123"]);
    assert_eq!(
        header_seed(&dx.output).as_deref(),
        Some("123"),
        "{}",
        dx.output
    );
    let (_, py_values) = pytest(&project, &python, &["--randomly-seed=123"]);
    assert_eq!(dx_values.len(), TESTS, "{}", dx.output);
    assert_eq!(dx_values, py_values, "{}", dx.output);
    let (off, values) = dx_py(&project, &python, &["-n", "2", "-p", "no:randomly"]);
    assert_eq!(off.code, 0, "{}", off.output);
    assert_eq!(header_seed(&off.output), None, "{}", off.output);
    assert_eq!(values.len(), TESTS, "{}", off.output);
}

/// One test that outlives a one-second `--timeout`, one that does not.
const SLOW: &str = "import time\n\n\ndef test_slow():\n    time.sleep(30)\n\n\n\
def test_quick():\n    pass\n";

#[test]
fn timeout_is_pytest_timeouts_option_when_it_is_installed() {
    let project = Project::in_subdir("proj")
        .file("pytest.ini", "[pytest]\n")
        .file("test_slow.py", SLOW);
    let python = venv_with(&project, "pytest-timeout");
    let message = "Failed: Timeout (>1.0s) from pytest-timeout.";
    let (py, _) = pytest(&project, &python, &["--timeout=1", "-q"]);
    assert_eq!(py.code, 1, "{}", py.output);
    assert!(py.output.contains(message), "{}", py.output);
    let (dx, _) = dx_py(&project, &python, &["--timeout=1", "-q"]);
    assert_eq!(dx.code, 1, "{}", dx.output);
    assert!(dx.output.contains(message), "{}", dx.output);
    assert_eq!(summary(&dx.output), summary(&py.output), "{}", dx.output);
    // Without the plugin, dx-py's own bound fails the test (its worker is replaced).
    let (own, _) = dx_py(
        &project,
        &python,
        &["--timeout=1", "-q", "-p", "no:timeout"],
    );
    assert_eq!(own.code, 1, "{}", own.output);
    assert!(!own.output.contains(message), "{}", own.output);
    assert_eq!(summary(&own.output), "1 failed, 1 passed", "{}", own.output);
}
