//! `dx-py test` on items that a conftest's `pytest_collect_file` hook makes from data files:
//! static discovery cannot list them, so the workers collect those directories through
//! pytest. The real binary and the real pytest (`DXPY_TEST_PYTHON`, else `python3`) run the
//! same fixture tree; every test appends its node ID to `ran.log` (and the Python test module
//! a line naming its interpreter when it is imported), so the comparison covers the exact node
//! IDs and proves that nothing runs twice, nor is imported twice by one interpreter (each
//! worker imports the run's test modules before its first batch, as pytest's collection does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::dx_py;
use dxpy_test_support::{junit, pytest, summary, Project, Run};

/// Takes `ran.log` (one line per test run or module import), sorted; duplicates kept.
fn take_log(root: &Path) -> Vec<String> {
    let path = root.join("ran.log");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

const CONFTEST: &str = r#"import os

import pytest


def log(config, line):
    with open(config.rootpath / "ran.log", "a") as f:
        f.write(line + "\n")


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".yaml":
        return YamlFile.from_parent(parent, path=file_path)


class YamlFile(pytest.File):
    def collect(self):
        for line in self.path.read_text().splitlines():
            name, _, outcome = line.partition(":")
            yield YamlItem.from_parent(self, name=name.strip(), outcome=outcome.strip())


class YamlItem(pytest.Item):
    def __init__(self, *, outcome, **kwargs):
        super().__init__(**kwargs)
        self.outcome = outcome

    def runtest(self):
        log(self.config, self.nodeid)
        if self.outcome == "fail":
            raise AssertionError(f"{self.name} failed")
        if self.outcome == "skip":
            pytest.skip("skipped by its data file")
        if self.outcome == "crash":
            os._exit(3)

    def repr_failure(self, excinfo):
        return str(excinfo.value)

    def reportinfo(self):
        return self.path, 0, f"yaml: {self.name}"
"#;

const TEST_MODULE: &str = r#"import os
import pathlib

with open(pathlib.Path(__file__).parents[2] / "ran.log", "a") as f:
    f.write(f"import tests/data/test_mod.py (pid {os.getpid()})\n")


def test_plain(request):
    with open(request.config.rootpath / "ran.log", "a") as f:
        f.write(request.node.nodeid + "\n")


def test_other(request):
    with open(request.config.rootpath / "ran.log", "a") as f:
        f.write(request.node.nodeid + "\n")
"#;

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let files: &[(&str, &str)] = &[
        ("pytest.ini", "[pytest]\n"),
        ("tests/data/conftest.py", CONFTEST),
        (
            "tests/data/one.yaml",
            "alpha: pass\nbeta: fail\ngamma: skip\n",
        ),
        ("tests/data/notes.txt", "not a test\n"),
        ("tests/data/test_mod.py", TEST_MODULE),
        ("tests/data/sub/two.yaml", "delta: pass\nepsilon: pass\n"),
        ("tests/data/sub/deeper/three.yaml", "zeta: fail\n"),
        ("tests/data/empty/readme.md", "nothing to collect here\n"),
        ("tests/test_outside.py", "def test_out():\n    pass\n"),
    ];
    Project::in_subdir("proj").files(files).into_parts()
}

/// Runs pytest and dx-py with `args`; asserts equal JUnit cases, summary line, exit code and
/// `ran.log`, and that dx-py ran nothing twice. Returns dx-py's run, cases and log.
fn same_as_pytest(root: &Path, args: &[&str]) -> (Run, BTreeMap<String, String>, Vec<String>) {
    let _ = take_log(root);
    let py_xml = root.join("py.xml");
    let dx_xml = root.join("dx.xml");
    let py = pytest(
        root,
        &[args, &[&format!("--junit-xml={}", py_xml.display())]].concat(),
    );
    let py_log = take_log(root);
    let dx = dx_py(
        root,
        &[args, &[&format!("--junit-xml={}", dx_xml.display())]].concat(),
    );
    let dx_log = take_log(root);
    let (py_cases, dx_cases) = (junit(&py_xml), junit(&dx_xml));
    assert_eq!(
        dx_cases, py_cases,
        "per-case outcomes differ for {args:?}\n{}",
        dx.output
    );
    // pytest imports a module whose tests are all deselected, dx-py does not: imports are
    // only checked for duplicates below.
    let tests_only = |log: &[String]| -> Vec<String> {
        log.iter()
            .filter(|l| !l.starts_with("import "))
            .cloned()
            .collect()
    };
    assert_eq!(
        tests_only(&dx_log),
        tests_only(&py_log),
        "tests run differ for {args:?}\n{}",
        dx.output
    );
    let mut unique = dx_log.clone();
    unique.dedup();
    assert_eq!(unique, dx_log, "something ran twice for {args:?}");
    assert_eq!(
        summary(&dx.output),
        summary(&py.output),
        "summary differs for {args:?}\n{}\npytest:\n{}",
        dx.output,
        py.output
    );
    assert_eq!(
        dx.code, py.code,
        "exit code differs for {args:?}\n{}",
        dx.output
    );
    (dx, dx_cases, dx_log)
}

#[test]
fn hook_items_run_with_pytests_node_ids_and_outcomes() {
    let (_tmp, root) = fixture();
    let (run, cases, log) = same_as_pytest(&root, &[]);
    assert_eq!(run.code, 1, "{}", run.output);
    assert_eq!(summary(&run.output), "2 failed, 6 passed, 1 skipped");
    // The fixture must really make hook items in the directory and its subdirectories.
    for node_id in [
        "tests/data/one.yaml::alpha",
        "tests/data/sub/two.yaml::delta",
        "tests/data/sub/deeper/three.yaml::zeta",
        "tests/data/test_mod.py::test_plain",
        "import tests/data/test_mod.py",
    ] {
        assert!(
            log.iter()
                .any(|l| l == node_id || l.starts_with(&format!("{node_id} (pid "))),
            "{node_id} missing: {log:?}"
        );
    }
    assert_eq!(
        cases
            .get("tests.data.sub.deeper.three.yaml::zeta")
            .map(String::as_str),
        Some("failed")
    );
}

#[test]
fn hook_items_run_on_one_worker_and_under_a_narrower_path() {
    let (_tmp, root) = fixture();
    // One worker: the hook units and the module's unit share an interpreter, so a module
    // imported by a hook unit would show as a second import line.
    let one = dx_py(&root, &["-n", "1"]);
    assert_eq!(
        summary(&one.output),
        "2 failed, 6 passed, 1 skipped",
        "{}",
        one.output
    );
    let log = take_log(&root);
    let mut unique = log.clone();
    unique.dedup();
    assert_eq!(unique, log, "something ran twice on one worker");
    // A path argument inside the hook directory collects only below it.
    let (run, _, log) = same_as_pytest(&root, &["tests/data/sub"]);
    assert_eq!(summary(&run.output), "1 failed, 2 passed");
    assert!(
        log.iter().all(|l| l.starts_with("tests/data/sub/")),
        "{log:?}"
    );
}

#[test]
fn keyword_selection_reaches_hook_items() {
    let (_tmp, root) = fixture();
    for args in [
        &["-k", "alpha or delta or plain"][..],
        &["-k", "beta or zeta"],
        &["-k", "not sub"],
    ] {
        let (run, cases, _) = same_as_pytest(&root, args);
        assert!(!cases.is_empty(), "{args:?} ran nothing\n{}", run.output);
        assert!(run.output.contains("deselected"), "{}", run.output);
    }
    // Only hook items match: nothing comes from discovery, the hook units still run.
    let (run, cases, _) = same_as_pytest(&root, &["-k", "epsilon"]);
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(summary(&run.output), "1 passed, 8 deselected");
    // Nothing matches anywhere: pytest's exit code 5.
    let (run, _, _) = same_as_pytest(&root, &["-k", "no_such_test"]);
    assert_eq!(run.code, 5, "{}", run.output);
}

#[test]
fn exitfirst_and_last_failed_treat_hook_items_like_tests() {
    let (_tmp, root) = fixture();
    let first = dx_py(&root, &["-x", "-n", "1"]);
    assert_eq!(first.code, 1, "{}", first.output);
    assert!(
        summary(&first.output).starts_with("1 failed"),
        "{}",
        first.output
    );
    let _ = take_log(&root);
    // A full run records the failures (hook items included); --lf reruns exactly those.
    let all = dx_py(&root, &[]);
    assert_eq!(all.code, 1, "{}", all.output);
    let _ = take_log(&root);
    let xml = root.join("lf.xml");
    let again = dx_py(&root, &["--lf", &format!("--junit-xml={}", xml.display())]);
    let cases = junit(&xml);
    let rerun: Vec<&str> = cases.keys().map(String::as_str).collect();
    assert_eq!(
        rerun,
        [
            "tests.data.one.yaml::beta",
            "tests.data.sub.deeper.three.yaml::zeta"
        ],
        "{}",
        again.output
    );
    assert_eq!(
        take_log(&root),
        [
            "tests/data/one.yaml::beta",
            "tests/data/sub/deeper/three.yaml::zeta"
        ]
    );
}

#[test]
fn a_crashing_hook_item_is_reported_and_the_rest_runs_once() {
    let (_tmp, root) = fixture();
    std::fs::write(
        root.join("tests/data/sub/crash.yaml"),
        "boom: crash\nafter: pass\n",
    )
    .expect("write");
    let run = dx_py(&root, &["-n", "1"]);
    assert_eq!(run.code, 1, "{}", run.output);
    assert_eq!(
        summary(&run.output),
        "3 failed, 7 passed, 1 skipped",
        "{}",
        run.output
    );
    assert!(
        run.output.contains("tests/data/sub/crash.yaml::boom"),
        "{}",
        run.output
    );
    let log = take_log(&root);
    let mut unique = log.clone();
    unique.dedup();
    assert_eq!(unique, log, "the requeued unit ran something again");
    for node_id in [
        "tests/data/sub/crash.yaml::boom",
        "tests/data/sub/crash.yaml::after",
        "tests/data/sub/two.yaml::delta",
        "tests/data/one.yaml::alpha",
    ] {
        assert!(
            log.iter().any(|l| l == node_id),
            "{node_id} missing: {log:?}"
        );
    }
}

/// `dx-py discover` lists the items a conftest's `pytest_collect_file` makes in a directory
/// of data files only, as pytest does: the interpreter's pytest collects that directory once.
#[test]
fn discover_lists_hook_items_of_a_data_directory_as_pytest_does() {
    let project = Project::in_subdir("proj")
        .file("pytest.ini", "[pytest]\n")
        .file("tests/test_plain.py", "def test_plain():\n    pass\n")
        .file("tests/data/conftest.py", CONFTEST)
        .file("tests/data/a.yaml", "one: pass\ntwo: fail\n")
        .file("tests/data/sub/b.yaml", "three: skip\n");
    let root = project.root();
    let listed = |out: &str| -> Vec<String> {
        out.lines()
            .take_while(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let py = pytest(root, &["--collect-only", "-q"]);
    let mut cmd = std::process::Command::new(crate::dx_py_bin());
    cmd.args(["discover", "--python", &dxpy_test_support::python()]);
    let dx = dxpy_test_support::run(cmd, root);
    assert_eq!(dx.code, py.code, "{}", dx.output);
    assert_eq!(listed(&dx.output), listed(&py.output));
    assert!(listed(&dx.output).contains(&"tests/data/sub/b.yaml::three".to_owned()));
    // A new data file is collected on the next listing.
    std::fs::write(root.join("tests/data/c.yaml"), "four: pass\n").expect("write");
    let dx = dxpy_test_support::run(
        {
            let mut cmd = std::process::Command::new(crate::dx_py_bin());
            cmd.args(["discover", "--python", &dxpy_test_support::python()]);
            cmd
        },
        root,
    );
    assert!(
        listed(&dx.output).contains(&"tests/data/c.yaml::four".to_owned()),
        "{}",
        dx.output
    );
}
