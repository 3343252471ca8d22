//! `dx-py bench`: pytest and `dx-py test` side by side; a baseline is recorded only when
//! every test's outcome agrees, and later runs of the same selection name the ratio on
//! their stats line.

use dxpy_test_support::Project;

use crate::dx_py;

const SUITE: &[(&str, &str)] = &[
    ("pytest.ini", "[pytest]\n"),
    (
        "test_mixed.py",
        "import pytest\n\n\ndef test_ok():\n    pass\n\n\ndef test_bad():\n    assert 0\n\n\n\
         @pytest.mark.skip(reason='no')\ndef test_skipped():\n    pass\n\n\n\
         @pytest.mark.xfail\ndef test_xfail():\n    assert 0\n\n\n\
         @pytest.mark.parametrize('n', [1, 2])\ndef test_param(n):\n    assert n\n",
    ),
];

fn bench(project: &Project, args: &[&str]) -> dxpy_test_support::Run {
    let mut cmd = std::process::Command::new(crate::dx_py_bin());
    cmd.arg("bench")
        .args(["--python", &dxpy_test_support::python()])
        .args(args);
    dxpy_test_support::run(cmd, project.root())
}

#[test]
fn agreeing_outcomes_record_a_baseline_that_later_runs_compare_with() {
    let project = Project::in_subdir("proj").files(SUITE);
    let run = bench(&project, &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(
        run.output.contains("outcomes agree on all 6 tests"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("baseline recorded in"),
        "{}",
        run.output
    );
    // The same selection: the stats line ends with the comparison.
    let test = dx_py(project.root(), &[]);
    let line = test
        .output
        .lines()
        .rev()
        .find(|l| l.contains(" in "))
        .unwrap_or_default()
        .trim_matches(|c| c == '=' || c == ' ');
    let (counts, rest) = line.split_once(" in ").unwrap_or_default();
    assert_eq!(
        counts, "1 failed, 3 passed, 1 skipped, 1 xfailed",
        "{}",
        test.output
    );
    assert!(
        rest.ends_with(')') && rest.contains("x pytest's "),
        "{}",
        test.output
    );
    // Another selection has no baseline.
    let other = dx_py(project.root(), &["-k", "param"]);
    assert!(!other.output.contains("x pytest's"), "{}", other.output);
}

#[test]
fn a_disagreement_is_listed_and_records_nothing() {
    // Passes under pytest, fails in a worker that pytest-xdist's variables name.
    let project = Project::in_subdir("proj").files(SUITE).file(
        "test_env.py",
        "import os\n\n\ndef test_not_a_worker():\n    \
         assert os.environ.get('PYTEST_XDIST_WORKER') is None\n",
    );
    let run = bench(&project, &[]);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        run.output.contains("outcomes differ on 1 of 7 tests")
            && run
                .output
                .contains("test_env::test_not_a_worker: pytest passed, dx-py failed"),
        "{}",
        run.output
    );
    let test = dx_py(project.root(), &[]);
    assert!(!test.output.contains("x pytest's"), "{}", test.output);
}
