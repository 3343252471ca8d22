//! `dx-py test --cov` (pytest-cov's options) against `pytest --cov` in the same project: the
//! same "tests coverage" section (totals, missing lines, the fail-under line), the same
//! fail-under error, report files and exit code. The interpreter must have pytest-cov
//! (tests/run.sh's setup stage installs it, pinned).

use std::path::Path;
use std::process::Command;

use dxpy_test_support::{clean, pytest, python, run, Project, Run};

use crate::dx_py;

const CALC: &str = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    if a > b:\n        \
                    return a - b\n    return b - a\n\n\ndef never():\n    x = 1\n    return x\n";
const OTHER: &str = "VALUE = 3\n\n\ndef triple(x):\n    return x * VALUE\n";
// Module-level lines of code a conftest imports count only when measuring starts before
// the conftests load, as pytest-cov's does.
const CONFTEST: &str = "import pkg.other\n";
const TEST_CALC: &str = "from pkg.calc import add, sub\n\n\ndef test_add():\n    \
                         assert add(1, 2) == 3\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n";
const TEST_OTHER: &str =
    "from pkg.other import triple\n\n\ndef test_triple():\n    assert triple(2) == 6\n";

/// A package measured by tests in two modules (so two workers each measure a share).
fn project(extra: &[(&str, &str)]) -> Project {
    assert_pytest_cov();
    Project::new()
        .files(&[
            ("pytest.ini", "[pytest]\n"),
            ("pkg/__init__.py", ""),
            ("pkg/calc.py", CALC),
            ("pkg/other.py", OTHER),
            ("tests/conftest.py", CONFTEST),
            ("tests/test_calc.py", TEST_CALC),
            ("tests/test_other.py", TEST_OTHER),
        ])
        .files(extra)
}

/// Fails loudly, never skips, when the interpreter cannot run pytest-cov.
fn assert_pytest_cov() {
    let probe = Command::new(python())
        .args(["-c", "import pytest_cov, coverage"])
        .output()
        .expect("python");
    assert!(
        probe.status.success(),
        "DXPY_TEST_PYTHON={} has no pytest-cov/coverage (tests/run.sh's setup stage installs them)",
        python()
    );
}

/// pytest-cov's "tests coverage" section: its `=` heading to the line before the stats line.
fn coverage_section(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains(" tests coverage "))
        .unwrap_or_else(|| panic!("no coverage section in\n{output}"));
    let end = lines[start..]
        .iter()
        .position(|l| l.starts_with("====") && !l.contains(" tests coverage "))
        .map_or(lines.len(), |n| start + n);
    lines[start..end].join("\n")
}

/// pytest-cov's fail-under error line, if any.
fn fail_under_error(output: &str) -> Option<&str> {
    output
        .lines()
        .find(|l| l.starts_with("ERROR: Coverage failure"))
}

fn both(root: &Path, args: &[&str]) -> (Run, Run) {
    let py = pytest(root, args);
    // The reference run's data file must not be what dx-py reports.
    let _ = std::fs::remove_file(root.join(".coverage"));
    let dx = dx_py(root, &[args, &["-n", "2"]].concat());
    (dx, py)
}

fn assert_same_report(dx: &Run, py: &Run, args: &[&str]) {
    assert_eq!(
        coverage_section(&dx.output),
        coverage_section(&py.output),
        "{args:?}: coverage sections differ\n--- dx-py\n{}\n--- pytest\n{}",
        dx.output,
        py.output
    );
    assert_eq!(
        fail_under_error(&dx.output),
        fail_under_error(&py.output),
        "{args:?}: fail-under errors differ\n--- dx-py\n{}",
        dx.output
    );
    assert_eq!(
        dx.code, py.code,
        "{args:?}: exit codes differ\n--- dx-py\n{}",
        dx.output
    );
}

#[test]
fn term_missing_totals_and_missing_lines_equal_pytest_covs() {
    let project = project(&[]);
    let args = ["--cov=pkg", "--cov-report=term-missing", "tests"];
    let (dx, py) = both(project.root(), &args);
    assert_same_report(&dx, &py, &args);
    assert!(dx.output.contains("pkg/calc.py"), "{}", dx.output);
    // The combined data file is the project's, as pytest-cov leaves it.
    assert!(project.root().join(".coverage").is_file());
}

#[test]
fn fail_under_sets_the_exit_code_as_pytest_cov_does() {
    let project = project(&[]);
    for threshold in ["95", "50"] {
        let under = format!("--cov-fail-under={threshold}");
        let args = ["--cov=pkg", "--cov-report=term", under.as_str(), "tests"];
        let (dx, py) = both(project.root(), &args);
        assert_same_report(&dx, &py, &args);
    }
}

#[test]
fn coverage_config_and_branch_and_addopts_are_read_as_pytest_cov_reads_them() {
    // `[tool.coverage]` (branch, precision, omit) and `--cov` from the ini's addopts.
    let project = project(&[
        (
            "pyproject.toml",
            "[tool.coverage.run]\nbranch = true\nomit = [\"pkg/other.py\"]\n\n\
             [tool.coverage.report]\nprecision = 1\n",
        ),
        (
            "pytest.ini",
            "[pytest]\naddopts = --cov=pkg --cov-report=term-missing\n",
        ),
    ]);
    let args = ["tests"];
    let (dx, py) = both(project.root(), &args);
    assert_same_report(&dx, &py, &args);
    assert!(dx.output.contains("Branch"), "{}", dx.output);
}

#[test]
fn report_files_equal_pytest_covs() {
    let project = project(&[(".coveragerc", "[run]\nbranch = True\n")]);
    let args = ["--cov=pkg", "--cov-report=lcov:cov.lcov", "tests"];
    let py = pytest(project.root(), &args);
    let expected = std::fs::read_to_string(project.root().join("cov.lcov")).expect("pytest's lcov");
    std::fs::remove_file(project.root().join("cov.lcov")).expect("rm");
    let dx = dx_py(project.root(), &[&args[..], &["-n", "2"]].concat());
    assert_same_report(&dx, &py, &args);
    let written = std::fs::read_to_string(project.root().join("cov.lcov")).expect("dx-py's lcov");
    assert_eq!(written, expected, "{}", dx.output);
}

#[test]
fn no_cov_reports_nothing() {
    let project = project(&[]);
    let dx = dx_py(
        project.root(),
        &["--cov=pkg", "--no-cov", "-n", "2", "tests"],
    );
    assert_eq!(dx.code, 0, "{}", dx.output);
    assert!(!dx.output.contains("tests coverage"), "{}", dx.output);
    assert!(!project.root().join(".coverage").exists());
}

#[test]
fn cov_append_adds_to_the_data_as_pytest_cov_does() {
    let project = project(&[]);
    let first = ["--cov=pkg", "--cov-report=", "tests/test_calc.py"];
    let second = [
        "--cov=pkg",
        "--cov-append",
        "--cov-report=term-missing",
        "tests/test_other.py",
    ];
    let py = {
        pytest(project.root(), &first);
        pytest(project.root(), &second)
    };
    std::fs::remove_file(project.root().join(".coverage")).expect("pytest's data");
    let dx = {
        dx_py(project.root(), &first);
        dx_py(project.root(), &second)
    };
    assert_same_report(&dx, &py, &second);
}

#[test]
fn a_run_stopped_by_maxfail_reports_no_coverage_as_under_pytest_cov() {
    // pytest's test loop ends by an exception at `-x`, past pytest-cov's report.
    let project = project(&[("tests/test_zfail.py", "def test_fail():\n    assert 0\n")]);
    let args = ["--cov=pkg", "--cov-report=term-missing", "-x", "tests"];
    let (dx, py) = both(project.root(), &args);
    assert!(!py.output.contains(" tests coverage "), "{}", py.output);
    assert!(!dx.output.contains(" tests coverage "), "{}", dx.output);
    assert_eq!(dx.code, py.code, "{}", dx.output);
}

#[test]
fn affected_replays_nothing_under_cov() {
    // A test replayed from the result cache would be missing from the data: the second
    // run measures every test again.
    let project = project(&[]);
    let args = ["--cov=pkg", "--cov-report=term-missing", "tests"];
    let py = pytest(project.root(), &args);
    for _ in 0..2 {
        let dx = dx_py(
            project.root(),
            &[&args[..], &["--affected", "-n", "2"]].concat(),
        );
        assert_same_report(&dx, &py, &args);
        assert!(
            dx.output.contains("--affected is ignored with --cov"),
            "{}",
            dx.output
        );
    }
}

/// Stops the project's daemon when dropped.
struct DaemonStop<'a>(&'a Path);

impl Drop for DaemonStop<'_> {
    fn drop(&mut self) {
        let mut cmd = Command::new(crate::dx_py_bin());
        cmd.args(["daemon", "stop", "--python", &python()]);
        let _ = run(cmd, self.0);
    }
}

#[test]
fn cov_from_addopts_in_the_daemon_reports_as_pytest_cov_does() {
    // `--cov` only in addopts: the client cannot see it, so the daemon runs it (forking a
    // fresh zygote, not its kept one); the first run starts the daemon, the second is warm.
    let project = project(&[(
        "pytest.ini",
        "[pytest]\naddopts = --cov=pkg --cov-report=term-missing --cov-fail-under=90\n",
    )]);
    let root = project.root();
    let _stop = DaemonStop(root);
    let py = pytest(root, &["tests"]);
    for _ in 0..2 {
        let mut cmd = Command::new(crate::dx_py_bin());
        cmd.args(["test", "--python", &python(), "tests"]);
        clean(&mut cmd, root);
        cmd.env_remove("DXPY_NO_DAEMON");
        let out = cmd.output().expect("dx-py");
        let dx = Run {
            code: out.status.code().unwrap_or(-1),
            output: String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
            elapsed: std::time::Duration::ZERO,
        };
        assert_same_report(&dx, &py, &["(daemon)"]);
    }
}
