//! `dx-py test --ff` runs the tests that failed last time first, in pytest's `--ff` order;
//! `-x` and `--maxfail N` given through the project's `addopts` (pytest.ini or pyproject.toml)
//! stop the run where pytest stops. pytest on the same tree gives every expected value.

use std::path::{Path, PathBuf};
use std::process::Command;

use dxpy_test_support::{python, run, summary, write, Run};

use crate::{assert_same, dx_py};

fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("proj");
    for (rel, text) in files {
        write(&root, rel, text);
    }
    (tmp, root)
}

/// pytest with its cache (which `--ff` reads), kept inside the tree.
fn pytest_with_cache(root: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "pytest", "-o", "cache_dir=.pytest-cache"])
        .args(args);
    run(cmd, root)
}

/// The node IDs of `-v` progress lines, in the order they were printed.
fn verbose_order(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|l| l.ends_with("%]"))
        .filter_map(|l| l.split_once(' ').map(|(id, _)| id.to_string()))
        .filter(|id| id.contains("::"))
        .collect()
}

/// Passing and failing tests interleaved over two modules: pytest's `--ff` moves the
/// failures ahead of every other test.
const FF_A: &str = "def test_a1():\n    pass\n\ndef test_a2():\n    assert 0\n\n\
                    def test_a3():\n    pass\n";
const FF_B: &str = "def test_b1():\n    pass\n\ndef test_b2():\n    pass\n\n\
                    def test_b3():\n    assert 0\n";

/// With one worker (so dx-py's order is observable), `--ff -v` lists last run's failures
/// first, in pytest's order, then the rest, the same tests pytest runs after them.
#[test]
fn failed_first_runs_last_failures_first_like_pytest() {
    let (_tmp, root) = tree(&[
        ("pytest.ini", "[pytest]\n"),
        ("test_a.py", FF_A),
        ("test_b.py", FF_B),
    ]);
    let py_first = pytest_with_cache(&root, &[]);
    let dx_first = dx_py(&root, &["-n", "1"]);
    assert_eq!(py_first.code, 1, "pytest itself: {}", py_first.output);
    assert_eq!(dx_first.code, 1, "{}", dx_first.output);

    let py = pytest_with_cache(&root, &["--ff", "-v"]);
    let dx = dx_py(&root, &["--ff", "-v", "-n", "1"]);
    let (py_order, dx_order) = (verbose_order(&py.output), verbose_order(&dx.output));
    // How many failed last time: the tests `--ff` moves ahead.
    let first: usize = summary(&py_first.output)
        .strip_suffix(" passed")
        .and_then(|s| s.split_once(" failed"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no failures to move: {}", py_first.output));
    assert!(py_order.len() > first, "{}", py.output);
    assert_eq!(
        dx_order[..first],
        py_order[..first],
        "failures first, in pytest's order\n--- dx-py\n{}\n--- pytest\n{}",
        dx.output,
        py.output
    );
    // The rest's order follows dx-py's schedule; it must be the same tests.
    let sorted = |ids: &[String]| {
        let mut ids = ids.to_vec();
        ids.sort();
        ids
    };
    assert_eq!(
        sorted(&dx_order[first..]),
        sorted(&py_order[first..]),
        "{}",
        dx.output
    );
    assert_eq!(summary(&dx.output), summary(&py.output), "{}", dx.output);
    assert_eq!(dx.code, py.code, "{}", dx.output);
}

/// Forty tests over four modules (one scheduling unit each): `test_m0.py` fails at 03 and
/// 06, every other module at 05.
fn stopping_tree(config: (&str, &str)) -> (tempfile::TempDir, PathBuf) {
    let modules: Vec<(String, String)> = (0..4)
        .map(|m| {
            let failing: &[usize] = if m == 0 { &[3, 6] } else { &[5] };
            let body: String = (0..10)
                .map(|i| {
                    format!(
                        "def test_{i:02}():\n    assert {}\n\n",
                        !failing.contains(&i)
                    )
                })
                .collect();
            (format!("test_m{m}.py"), body)
        })
        .collect();
    let mut files: Vec<(&str, &str)> = modules
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    files.push(config);
    tree(&files)
}

/// `-x` or `--maxfail N` in `addopts` (pytest.ini or pyproject.toml, a string or a list)
/// stops `dx-py test` where pytest stops when the limit is reached inside one module: the
/// same tests ran (JUnit), the same summary line and exit code. One worker, so the order is
/// pytest's.
#[test]
fn addopts_exitfirst_and_maxfail_stop_like_pytest() {
    let configs = [
        ("pytest.ini", "[pytest]\naddopts = -x\n"),
        ("pytest.ini", "[pytest]\naddopts = --maxfail 2\n"),
        (
            "pyproject.toml",
            "[tool.pytest.ini_options]\naddopts = \"--maxfail=2\"\n",
        ),
        (
            "pyproject.toml",
            "[tool.pytest.ini_options]\naddopts = [\"--exitfirst\"]\n",
        ),
    ];
    for config in configs {
        let (_tmp, root) = stopping_tree(config);
        let (run, cases) = assert_same(&root, &[], &["-n", "1"]);
        assert!(
            cases.len() < 40,
            "{config:?}: the run did not stop: {}",
            run.output
        );
        assert_eq!(run.code, 1, "{config:?}: {}", run.output);
    }
}

/// The difference README.md documents: when `--maxfail N` is reached in a later module than
/// the first failures, dx-py (like pytest-xdist) lets that module's unit finish, so it runs
/// every test pytest ran, with the same outcomes, and stops after that unit.
#[test]
fn addopts_maxfail_across_modules_stops_at_the_end_of_the_unit() {
    let (_tmp, root) = stopping_tree(("pytest.ini", "[pytest]\naddopts = --maxfail 3\n"));
    let (py_xml, dx_xml) = (root.join("py.xml"), root.join("dx.xml"));
    let py = dxpy_test_support::pytest(&root, &[&format!("--junit-xml={}", py_xml.display())]);
    let dx = dx_py(
        &root,
        &["-n", "1", "--junit-xml", &dx_xml.to_string_lossy()],
    );
    let (py_cases, dx_cases) = (
        dxpy_test_support::junit(&py_xml),
        dxpy_test_support::junit(&dx_xml),
    );
    assert_eq!(dx.code, py.code, "{}", dx.output);
    for (id, outcome) in &py_cases {
        assert_eq!(dx_cases.get(id), Some(outcome), "{id}\n{}", dx.output);
    }
    // pytest stopped inside test_m1.py; dx-py runs it to its end and no further.
    let module_of = |id: &String| id.split("::").next().unwrap_or(id).to_string();
    let last_module = py_cases
        .keys()
        .map(module_of)
        .max()
        .expect("pytest ran tests");
    let extra: Vec<&String> = dx_cases
        .keys()
        .filter(|id| !py_cases.contains_key(*id))
        .collect();
    assert!(
        extra.iter().all(|id| module_of(id) == last_module),
        "dx-py ran past the unit where the limit was reached: {extra:?}\n{}",
        dx.output
    );
    assert!(dx_cases.len() < 40, "the run did not stop: {}", dx.output);
}
