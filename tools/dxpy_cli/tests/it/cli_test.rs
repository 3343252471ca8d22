//! `dx-py test` end to end: the real binary runs small fixture suites written to temp dirs, with the
//! interpreter named by `DXPY_TEST_PYTHON` (else `python3`; it must have pytest). Wherever pytest can
//! run the same tree, its JUnit XML, summary line and exit code are the expected values, so nothing
//! here is a hand-kept list that could drift from pytest. JUnit XML is parsed with Python's
//! ElementTree (a real XML parser), which also proves the file is well-formed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{assert_same, dx_py};
use dxpy_test_support::{clean, junit, pytest, python, summary, Project, Run};

fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    Project::in_subdir("proj")
        .file("pytest.ini", "[pytest]\nmarkers =\n    slow: slow tests\n")
        .files(files)
        .into_parts()
}

const ALL_KINDS: &str = r#"import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2

@pytest.fixture
def broken():
    raise RuntimeError("setup")

def test_setup_error(broken):
    pass

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown")

def test_teardown_error(bad_teardown):
    pass

def test_skip():
    pytest.skip("not here")

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert 0

@pytest.mark.xfail
def test_xpass():
    pass

@pytest.mark.xfail(strict=True)
def test_xpass_strict():
    pass

@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n != 2

class TestGroup:
    def test_method(self):
        pass
"#;

/// Same tree, same arguments: per-case outcomes, summary line and exit code equal pytest's.
fn assert_same_as_pytest(root: &Path, args: &[&str]) -> (Run, BTreeMap<String, String>) {
    assert_same(root, args, &[])
}

/// A module that skips itself while collected (`allow_module_level`) is one skip, in the
/// summary and as a JUnit case named after the module, and no failure: pytest's exit code.
#[test]
fn a_module_level_skip_is_a_skip_like_pytest() {
    let skipping = "import pytest\n\npytest.skip('not today', allow_module_level=True)\n\n\ndef test_never():\n    pass\n";
    let (_tmp, root) = tree(&[
        ("tests/test_skipped.py", skipping),
        ("tests/test_runs.py", "def test_runs():\n    pass\n"),
    ]);
    let (run, cases) = assert_same_as_pytest(&root, &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(
        cases.get("::tests.test_skipped").map(String::as_str),
        Some("skipped"),
        "{cases:?}"
    );
}

#[test]
fn every_outcome_kind_matches_pytest() {
    let (_tmp, root) = tree(&[("tests/test_kinds.py", ALL_KINDS)]);
    let (run, cases) = assert_same_as_pytest(&root, &[]);
    assert_eq!(run.code, 1);
    // The fixture must really produce every kind, or the comparison proves little.
    let kinds: std::collections::BTreeSet<&str> = cases.values().map(String::as_str).collect();
    for kind in ["passed", "failed", "error", "skipped", "xfailed"] {
        assert!(
            kinds.contains(kind),
            "fixture produced no {kind}: {cases:?}"
        );
    }
    assert!(run.output.contains("xpassed"), "{}", run.output);
    // pytest's classname/name shape: dotted module path, class appended, parameters in the name.
    assert!(
        cases.contains_key("tests.test_kinds.TestGroup::test_method"),
        "{cases:?}"
    );
    assert!(
        cases.contains_key("tests.test_kinds::test_param[2]"),
        "{cases:?}"
    );
}

#[test]
fn exit_code_0_when_all_pass() {
    let (_tmp, root) = tree(&[(
        "test_ok.py",
        "def test_a():\n    pass\n\ndef test_b():\n    pass\n",
    )]);
    let (run, _) = assert_same_as_pytest(&root, &[]);
    assert_eq!(run.code, 0, "{}", run.output);
}

#[test]
fn exit_code_2_on_collection_error() {
    let (_tmp, root) = tree(&[
        ("test_ok.py", "def test_a():\n    pass\n"),
        ("test_broken.py", "def test_x(:\n    pass\n"),
    ]);
    let dx = dx_py(&root, &[]);
    let py = pytest(&root, &[]);
    assert_eq!(py.code, 2, "pytest itself: {}", py.output);
    assert_eq!(dx.code, 2, "{}", dx.output);
    assert_eq!(summary(&dx.output), summary(&py.output), "{}", dx.output);
}

/// Modules that fail while imported (found by the workers, not by discovery) stop the run
/// before any test as pytest's collection does, unless `--continue-on-collection-errors`:
/// the same exit code, summary, short summary lines and "Interrupted" banner.
#[test]
fn import_errors_interrupt_the_run_like_pytest() {
    let (_tmp, root) = tree(&[
        ("test_ok.py", "def test_a():\n    pass\n"),
        (
            "test_missing_dep.py",
            "import no_such_module_for_dxpy\n\ndef test_x():\n    pass\n",
        ),
        (
            "test_name_error.py",
            "undefined_name\n\ndef test_y():\n    pass\n",
        ),
        (
            "test_skipped.py",
            "import pytest\npytest.skip('later', allow_module_level=True)\n\ndef test_z():\n    pass\n",
        ),
    ]);
    let closing = |output: &str| -> Vec<String> {
        let lines: Vec<&str> = output.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.contains("short test summary info"))
            .unwrap_or(lines.len());
        // Up to the summary line, whose timing differs.
        let end = lines.len().saturating_sub(1).max(start);
        lines[start..end].iter().map(|l| l.to_string()).collect()
    };
    for args in [&[][..], &["--continue-on-collection-errors"][..]] {
        let py = pytest(&root, args);
        let dx = dx_py(&root, args);
        assert_eq!(
            dx.code, py.code,
            "{args:?}\n{}\npytest:\n{}",
            dx.output, py.output
        );
        assert_eq!(
            summary(&dx.output),
            summary(&py.output),
            "{args:?}\n{}",
            dx.output
        );
        let (mut dx_closing, mut py_closing) = (closing(&dx.output), closing(&py.output));
        if !args.is_empty() {
            // Going on, each module's error comes from the batch that runs it, in the order
            // the workers finish them (as under pytest-xdist); stopped, they come from one
            // worker's import of every module, in collection order.
            dx_closing.sort();
            py_closing.sort();
        }
        assert_eq!(dx_closing, py_closing, "{args:?}\n{}", dx.output);
    }
    let py = pytest(&root, &[]);
    assert_eq!(py.code, 2, "pytest itself: {}", py.output);
    assert!(py
        .output
        .contains("Interrupted: 2 errors during collection"));
}

/// A conftest that computes `collect_ignore` (here from a flag of the package under test)
/// leaves a module out that pytest never imports: discovery cannot read the list, so the
/// interpreter's pytest is asked which modules it collects there, and neither `dx-py
/// discover` nor `dx-py test` reports the ignored module (it would fail to import).
#[test]
fn a_computed_collect_ignore_is_honoured_like_pytest() {
    let (_tmp, root) = tree(&[
        ("pkg/__init__.py", "FEATURE = False\n"),
        (
            "conftest.py",
            "from pkg import FEATURE\n\ncollect_ignore = []\nif not FEATURE:\n    collect_ignore.append('test_new.py')\n",
        ),
        (
            "test_new.py",
            "from pkg import new_thing\n\ndef test_new():\n    pass\n",
        ),
        ("test_old.py", "def test_old():\n    pass\n"),
    ]);
    runs_and_lists_only(&root, "test_old.py::test_old", "test_new.py");
}

/// `dx-py test` gives pytest's one passing test, and `dx-py discover` lists `kept` and
/// nothing of `left_out`.
fn runs_and_lists_only(root: &Path, kept: &str, left_out: &str) {
    let (run, cases) = assert_same_as_pytest(root, &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(cases.len(), 1, "{cases:?}");
    let mut cmd = Command::new(crate::dx_py_bin());
    cmd.args(["discover", "--python", &python()]);
    let listed = dxpy_test_support::run(cmd, root);
    assert!(listed.output.contains(kept), "{}", listed.output);
    assert!(!listed.output.contains(left_out), "{}", listed.output);
}

/// The same for a conftest's `pytest_ignore_collect` hook.
#[test]
fn a_pytest_ignore_collect_hook_is_honoured_like_pytest() {
    let (_tmp, root) = tree(&[
        (
            "tests/conftest.py",
            "def pytest_ignore_collect(collection_path, config):\n    if collection_path.name.startswith('test_legacy'):\n        return True\n",
        ),
        (
            "tests/test_legacy_api.py",
            "import no_such_module_for_dxpy\n\ndef test_legacy():\n    pass\n",
        ),
        ("tests/test_current.py", "def test_current():\n    pass\n"),
    ]);
    runs_and_lists_only(&root, "tests/test_current.py::test_current", "test_legacy");
}

#[test]
fn exit_code_4_on_usage_error() {
    let (_tmp, root) = tree(&[("test_ok.py", "def test_a():\n    pass\n")]);
    let py = pytest(&root, &["no_such_file.py"]);
    assert_eq!(py.code, 4, "pytest itself: {}", py.output);
    let dx = dx_py(&root, &["no_such_file.py"]);
    assert_eq!(dx.code, 4, "{}", dx.output);
}

#[test]
fn exit_code_5_when_no_tests() {
    let (_tmp, root) = tree(&[("test_empty.py", "x = 1\n")]);
    let py = pytest(&root, &[]);
    assert_eq!(py.code, 5, "pytest itself: {}", py.output);
    let dx = dx_py(&root, &[]);
    assert_eq!(dx.code, 5, "{}", dx.output);
}

#[test]
fn keyword_and_mark_selection_match_pytest() {
    let (_tmp, root) = tree(&[("tests/test_kinds.py", ALL_KINDS)]);
    for args in [
        &["-k", "param or method"][..],
        &["-m", "slow"],
        &["-m", "not slow", "-k", "pass"],
    ] {
        let (_, cases) = assert_same_as_pytest(&root, args);
        assert!(!cases.is_empty(), "selection {args:?} ran nothing");
    }
}

#[test]
fn exitfirst_stops_after_first_failure() {
    let body: String = (0..40)
        .map(|i| format!("def test_{i:02}():\n    assert {i} % 10 != 5\n\n"))
        .collect();
    let (_tmp, root) = tree(&[("test_many.py", body.as_str())]);
    let all = dx_py(&root, &[]);
    assert_eq!(
        summary(&all.output),
        "4 failed, 36 passed",
        "{}",
        all.output
    );
    // One worker runs the tests in pytest's order, so the result must be pytest's exactly.
    assert_same(&root, &["-x"], &["-n", "1"]);
    // With two workers a test or so more may finish, but the run must stop well before the end.
    let first = dx_py(&root, &["-x"]);
    assert_eq!(first.code, 1, "{}", first.output);
    let line = summary(&first.output);
    assert!(
        !line.starts_with("4 failed"),
        "-x ran every test: {line}\n{}",
        first.output
    );
}

#[test]
fn last_failed_reruns_only_failures() {
    let (_tmp, root) = tree(&[("tests/test_kinds.py", ALL_KINDS)]);
    let first = dx_py(&root, &[]);
    assert_eq!(first.code, 1, "{}", first.output);
    let xml = root.join("lf.xml");
    let xml_arg = format!("--junit-xml={}", xml.display());
    let again = dx_py(&root, &["--lf", xml_arg.as_str()]);
    let cases = junit(&xml);
    assert!(!cases.is_empty(), "--lf ran nothing\n{}", again.output);
    assert!(
        cases.values().all(|o| o == "failed" || o == "error"),
        "--lf reran passing tests: {cases:?}\n{}",
        again.output
    );
    assert!(
        cases.contains_key("tests.test_kinds::test_fail"),
        "{cases:?}"
    );
    assert!(
        !cases.contains_key("tests.test_kinds::test_pass"),
        "{cases:?}"
    );
}

#[test]
fn crashing_test_is_reported_and_the_rest_still_run() {
    let body = "import os\n\ndef test_a():\n    pass\n\ndef test_crash():\n    os._exit(7)\n\n\
                def test_b():\n    pass\n\ndef test_c():\n    pass\n";
    let (_tmp, root) = tree(&[("test_crash.py", body)]);
    let xml = root.join("c.xml");
    let xml_arg = format!("--junit-xml={}", xml.display());
    let run = dx_py(&root, &[xml_arg.as_str()]);
    assert_eq!(run.code, 1, "{}", run.output);
    let cases = junit(&xml);
    assert_eq!(
        cases.get("test_crash::test_crash").map(String::as_str),
        Some("failed"),
        "{cases:?}"
    );
    for name in ["test_a", "test_b", "test_c"] {
        let key = format!("test_crash::{name}");
        assert_eq!(
            cases.get(&key).map(String::as_str),
            Some("passed"),
            "{key}: {cases:?}"
        );
    }
}

#[test]
fn hanging_test_times_out() {
    let body = "import time\n\ndef test_hang():\n    time.sleep(120)\n\ndef test_ok():\n    pass\n";
    let (_tmp, root) = tree(&[("test_hang.py", body)]);
    let run = dx_py(&root, &["--timeout", "2"]);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("Timeout"), "{}", run.output);
    assert!(
        run.elapsed < Duration::from_secs(60),
        "took {:?}",
        run.elapsed
    );
    assert_eq!(summary(&run.output), "1 failed, 1 passed", "{}", run.output);
}

/// The parent pid of `pid` and its command line, if it still exists.
fn parent_of(pid: &str) -> Option<(String, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" closing the command name: state, ppid, ...
    let ppid = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))?
        .to_string();
    let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).unwrap_or_default();
    Some((ppid, String::from_utf8_lossy(&cmdline).replace('\0', " ")))
}

/// Worker processes (`python -m dxpy_worker`: spawned workers, zygotes and their forks) with
/// no live dx-py among their ancestors (reparented to pid 1 or to a subreaper). A fork's
/// parent is its zygote, so the whole chain is walked: other tests run concurrently and their
/// forks are not orphans.
fn orphan_workers() -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.contains("dxpy_worker") {
            continue;
        }
        let mut ancestor = pid.clone();
        let mut owned = false;
        for _ in 0..64 {
            match parent_of(&ancestor) {
                Some((ppid, _)) if ppid == "0" || ppid == "1" => break,
                Some((_, parent)) if parent.contains("dx-py") => {
                    owned = true;
                    break;
                }
                Some((ppid, _)) => ancestor = ppid,
                None => break,
            }
        }
        if !owned {
            found.push(format!("pid {pid}: {cmdline}"));
        }
    }
    found
}

/// Orphaned workers that were not there `before`, after a moment for exits to settle.
fn orphans_since(before: &[String]) -> Vec<String> {
    std::thread::sleep(Duration::from_millis(500));
    orphan_workers()
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect()
}

#[test]
fn no_worker_processes_left_behind() {
    let body =
        "import os, time\n\ndef test_a():\n    pass\n\ndef test_crash():\n    os._exit(1)\n\n\
                def test_hang():\n    time.sleep(120)\n";
    let (_tmp, root) = tree(&[("test_w.py", body)]);
    let before = orphan_workers();
    let run = dx_py(&root, &["--timeout", "2", "-n", "2"]);
    assert_eq!(run.code, 1, "{}", run.output);
    let after = orphans_since(&before);
    assert!(after.is_empty(), "dx-py left orphaned workers: {after:#?}");
}

/// Warnings raised while pytest collects (here: parametrize over a generator, deprecated in
/// pytest 9) count on the summary line like run-time ones.
#[test]
fn collection_warnings_are_counted_like_pytest() {
    let body = "import warnings\nimport pytest\n\ndef gen():\n    yield 1\n\n\
                @pytest.mark.parametrize('x', gen())\ndef test_gen(x):\n    pass\n\n\
                def test_warn():\n    warnings.warn(UserWarning('at run time'))\n";
    let (_tmp, root) = tree(&[("test_warn.py", body)]);
    let (run, _) = assert_same_as_pytest(&root, &[]);
    assert!(run.output.contains("warning"), "{}", run.output);
}

/// Parameters only known at run time (fixture params computed by a call) expand into more
/// tests than discovery counted: the progress must still read 100% only on its last line.
#[test]
fn progress_reaches_100_percent_only_at_the_end_with_run_time_parameters() {
    let (_tmp, root) = tree(&[("test_fx.py", RUN_TIME_PARAMS)]);
    let dx = dx_py(&root, &[]);
    assert_eq!(dx.code, 0, "{}", dx.output);
    let full_lines = dx.output.lines().filter(|l| l.ends_with("[100%]")).count();
    assert_eq!(
        full_lines, 1,
        "progress reached 100% more than once:\n{}",
        dx.output
    );
}

const RUN_TIME_PARAMS: &str = "import pytest\n\n@pytest.fixture(params=sorted(range(200)))\n\
    def num(request):\n    return request.param\n\ndef test_num(num):\n    pass\n\n\
    def test_plain():\n    pass\n";

/// The "collected N items" header counts what discovery found without importing: a function
/// whose parameters exist only at run time is one item there, where pytest counts each
/// expanded item (the difference README.md documents; the header is printed before any
/// worker has collected). Progress and the summary line count every expanded item, as pytest's.
#[test]
fn header_counts_discovered_items_and_the_summary_expanded_ones() {
    let (_tmp, root) = tree(&[("test_fx.py", RUN_TIME_PARAMS)]);
    let collected = |text: &str| -> usize {
        text.lines()
            .find_map(|l| l.strip_prefix("collected "))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no collected line:\n{text}"))
    };
    let py = pytest(&root, &[]);
    let dx = dx_py(&root, &[]);
    assert_eq!(py.code, 0, "pytest itself: {}", py.output);
    // pytest's items with their run-time parameters dropped: the functions discovery lists.
    let listing = pytest(&root, &["--collect-only", "-q"]);
    let functions: std::collections::BTreeSet<&str> = listing
        .output
        .lines()
        .filter(|l| l.contains("::"))
        .map(|l| l.split('[').next().unwrap_or(l))
        .collect();
    assert!(
        collected(&py.output) > functions.len(),
        "no run-time expansion: {}",
        py.output
    );
    assert_eq!(collected(&dx.output), functions.len(), "{}", dx.output);
    assert_eq!(summary(&dx.output), summary(&py.output), "{}", dx.output);
    assert_eq!(dx.code, py.code, "{}", dx.output);
}

const JUNIT_SKIP_MESSAGES: &str = r#"
import json, sys, xml.etree.ElementTree as ET
out = {}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    for child in case:
        if child.tag == "skipped":
            out[case.get("name")] = [child.get("type"), child.get("message")]
print(json.dumps(out))
"#;

/// `<skipped>` elements carry pytest's type and message (pytest drops the "Skipped: " prefix).
#[test]
fn junit_skip_elements_match_pytest() {
    let (_tmp, root) = tree(&[("tests/test_kinds.py", ALL_KINDS)]);
    let read = |xml: &Path| -> BTreeMap<String, Vec<String>> {
        let out = Command::new(python())
            .args(["-c", JUNIT_SKIP_MESSAGES])
            .arg(xml)
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let (dx_xml, py_xml) = (root.join("dx.xml"), root.join("py.xml"));
    dx_py(
        &root,
        &[format!("--junit-xml={}", dx_xml.display()).as_str()],
    );
    pytest(
        &root,
        &[format!("--junit-xml={}", py_xml.display()).as_str()],
    );
    let expected = read(&py_xml);
    assert!(
        expected.contains_key("test_skip") && expected.contains_key("test_xfail"),
        "{expected:?}"
    );
    assert_eq!(read(&dx_xml), expected);
}

/// Workers forked from the zygote (the default) and spawned ones (`--no-zygote`) report a
/// failure exactly alike: the fork must leave no exception context behind that pytest would
/// print as "During handling of the above exception, another exception occurred".
#[test]
fn forked_and_spawned_workers_report_failures_alike() {
    let (_tmp, root) = tree(&[(
        "test_f.py",
        "def test_fails():\n    assert [1, 2] == [1, 3]\n\ndef test_raises():\n    raise KeyError('k')\n",
    )]);
    let forked = dx_py(&root, &[]);
    let spawned = dx_py(&root, &["--no-zygote"]);
    assert_eq!(forked.code, 1, "{}", forked.output);
    for run in [&forked, &spawned] {
        assert!(
            !run.output
                .contains("During handling of the above exception"),
            "{}",
            run.output
        );
        assert!(
            run.output.contains("E       KeyError: 'k'"),
            "{}",
            run.output
        );
    }
    let failures = |text: &str| {
        text.lines()
            .skip_while(|l| !l.contains(" FAILURES "))
            .take_while(|l| !l.contains("short test summary"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(failures(&forked.output), failures(&spawned.output));
}

#[test]
fn dash_s_prints_the_tests_output_as_they_write_it() {
    let (_tmp, root) = tree(&[(
        "test_out.py",
        "import sys\n\n\
         def test_prints():\n    print('printed-by-test')\n    sys.stderr.write('stderr-by-test\\n')\n\n\
         def test_fails():\n    print('before-failure')\n    assert 0\n",
    )]);
    let (captured, _) = assert_same_as_pytest(&root, &[]);
    assert!(
        !captured.output.contains("printed-by-test"),
        "{}",
        captured.output
    );
    // Captured: shown in the failure's section only.
    assert!(
        captured.output.contains("Captured stdout call"),
        "{}",
        captured.output
    );

    for flag in [&["-s"][..], &["--capture=no"][..]] {
        let (run, _) = assert_same_as_pytest(&root, flag);
        assert_eq!(run.code, 1, "{}", run.output);
        for line in ["printed-by-test", "stderr-by-test", "before-failure"] {
            assert!(
                run.output.contains(line),
                "{flag:?}: {line} missing: {}",
                run.output
            );
        }
        // Nothing was captured, so the failure has no captured-output section (as in pytest).
        assert!(!run.output.contains("Captured stdout"), "{}", run.output);
        assert!(run.output.contains("1 failed, 1 passed"), "{}", run.output);
    }
}

/// Ctrl-C (SIGINT to dx-py) mid-run: the tests that finished are reported and written to the
/// JUnit file, the exit code is pytest's 2, and no interpreter survives.
#[test]
fn ctrl_c_flushes_partial_results_and_leaves_no_workers() {
    let (_tmp, root) = tree(&[
        (
            "test_fast.py",
            "import os\n\ndef test_fast():\n    open(os.environ['DXPY_MARKER'], 'w').close()\n",
        ),
        (
            "test_slow.py",
            "import time\n\ndef test_slow():\n    time.sleep(120)\n",
        ),
    ]);
    let marker = root.join("fast-ran");
    let xml = root.join("interrupted.xml");
    let before = orphan_workers();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dx-py"));
    cmd.arg("test")
        .args(["--python", &python(), "-n", "2"])
        .arg(format!("--junit-xml={}", xml.display()))
        .env("DXPY_MARKER", &marker)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    clean(&mut cmd, &root);
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn dx-py");
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "test_fast never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Let test_fast's result reach dx-py; test_slow is still sleeping.
    std::thread::sleep(Duration::from_millis(700));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().expect("wait for dx-py");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "the interrupt did not stop the sleeping test: {text}"
    );
    assert!(text.contains("KeyboardInterrupt"), "{text}");
    assert!(summary(&text).contains("1 passed"), "{text}");
    let cases = junit(&xml);
    assert_eq!(
        cases.get("test_fast::test_fast").map(String::as_str),
        Some("passed"),
        "{cases:?}"
    );
    assert!(
        !cases.contains_key("test_slow::test_slow") || cases["test_slow::test_slow"] != "passed"
    );
    let after = orphans_since(&before);
    assert!(after.is_empty(), "workers left after Ctrl-C: {after:#?}");
}

/// A `dx-py` copied away from the repository (as `cargo install` leaves it) finds no worker
/// package next to it and runs with the one embedded in the binary, written privately into
/// its cache.
#[test]
fn an_installed_binary_runs_with_its_embedded_worker() {
    let (_tmp, root) = tree(&[("test_one.py", "def test_one():\n    pass\n")]);
    let bin_dir = tempfile::tempdir().expect("tempdir");
    let binary = bin_dir.path().join("dx-py");
    std::fs::copy(env!("CARGO_BIN_EXE_dx-py"), &binary).expect("copy dx-py");
    let mut cmd = Command::new(&binary);
    cmd.arg("test").args(["--python", &python(), "-q"]);
    clean(&mut cmd, &root);
    cmd.env_remove("DXPY_WORKER_PATH");
    // Another test's fork can still hold the copy's write descriptor until that child execs
    // (ETXTBSY): retry briefly, as nothing here is wrong with the binary.
    let mut attempts = 0;
    let out = loop {
        match cmd.output() {
            Err(err) if err.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.expect("spawn the copied dx-py"),
        }
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(summary(&text), "1 passed", "{text}");
    let extracted: Vec<PathBuf> = std::fs::read_dir(root.join(".dxpy-cache/worker"))
        .expect("the worker was written to the cache")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(extracted.len(), 1, "{extracted:?}");
    assert!(extracted[0].join("dxpy_worker/__init__.py").is_file());
}

/// `--junitxml` in the project's `addopts`: the file holds the whole run, as pytest's does, not
/// the share of whichever worker wrote it last.
#[test]
fn junitxml_from_addopts_holds_every_test() {
    let modules: Vec<(String, String)> = (0..6)
        .map(|i| {
            let tests: String = (0..5)
                .map(|t| format!("def test_{t}():\n    assert {t} != 3\n\n"))
                .collect();
            (format!("tests/test_m{i}.py"), tests)
        })
        .collect();
    let files: Vec<(&str, &str)> = modules
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .chain([(
            "pytest.ini",
            "[pytest]\naddopts = --junitxml=reports/junit.xml\n",
        )])
        .collect();
    let (_tmp, root) = Project::in_subdir("proj").files(&files).into_parts();
    let report = root.join("reports/junit.xml");
    let py = pytest(&root, &[]);
    let expected = junit(&report);
    std::fs::remove_file(&report).expect("pytest wrote the addopts file");
    let dx = dx_py(&root, &["-n", "2"]);
    assert_eq!(dx.code, py.code, "{}", dx.output);
    assert_eq!(junit(&report), expected, "{}", dx.output);
    assert_eq!(expected.len(), modules.len() * 5);
}

/// A parametrization only pytest can name (a conftest fixture's params): a node ID with its
/// `[...]` runs that one test, as pytest does, not every parametrization of the function.
#[test]
fn a_node_id_with_a_runtime_parametrization_runs_only_that_test() {
    let project = Project::new().files(&[
        (
            "conftest.py",
            "import pytest\n\n\n@pytest.fixture(params=['a', 'b'])\ndef flavour(request):\n    \
             return request.param\n",
        ),
        (
            "test_fx.py",
            "import pytest\n\n\n@pytest.mark.parametrize('n', [1, 2])\n\
             def test_n(flavour, n):\n    assert (flavour, n) != ('a', 2)\n",
        ),
    ]);
    for id in ["test_fx.py::test_n[b-1]", "test_fx.py::test_n[a-2]"] {
        let (run, cases) = assert_same(project.root(), &[id], &[]);
        assert_eq!(cases.len(), 1, "{id}: {cases:?}\n{}", run.output);
    }
}
