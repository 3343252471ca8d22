//! Doctests (`--doctest-modules`, `--doctest-glob`, and pytest's default `test*.txt`): pytest's
//! doctest plugin makes their items from imported modules, so the workers collect those files
//! through pytest (as conftest `pytest_collect_file` items) while discovery schedules the test
//! functions. Each case runs real pytest and dx-py on the same tree and compares every JUnit
//! case, the summary line and the exit code.

use dxpy_test_support::Project;

use crate::assert_same;

const MODULE: &str = r#"def add(a, b):
    """
    >>> add(1, 2)
    3
    """
    return a + b


class Box:
    def size(self):
        """
        >>> Box().size()
        5
        """
        return 4


def test_in_module():
    assert add(2, 2) == 4
"#;

const TEST_MODULE: &str = r#"def test_a():
    """
    >>> 2 * 3
    6
    """
    assert True
"#;

fn project(config: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    Project::in_subdir("proj")
        .files(&[
            ("pytest.ini", config),
            ("pkg/__init__.py", ""),
            ("pkg/mod.py", MODULE),
            ("pkg/sub/other.py", "\"\"\"\n>>> 1 + 1\n2\n\"\"\"\n"),
            ("tests/test_x.py", TEST_MODULE),
            ("tests/test_doc.txt", ">>> 1\n1\n"),
            ("docs/guide.rst", ">>> 'a' * 2\n'aa'\n"),
        ])
        .into_parts()
}

#[test]
fn doctest_modules_from_the_config_run_as_under_pytest() {
    let (_tmp, root) = project("[pytest]\naddopts = --doctest-modules\n");
    let (run, cases) = assert_same(&root, &[], &[]);
    // The doctests ran, a failing one included (Box.size), beside the test functions.
    assert!(
        cases.keys().any(|k| k.contains("pkg.mod.Box.size")),
        "{}",
        run.output
    );
    assert_eq!(run.code, 1, "{}", run.output);
    for args in [
        &["pkg"][..],
        &["pkg/mod.py"],
        &["pkg/mod.py::pkg.mod.add"],
        &["tests/test_x.py"],
        &["-k", "add"],
    ] {
        assert_same(&root, args, &[]);
    }
}

#[test]
fn text_doctests_run_by_default_glob_and_by_doctest_glob() {
    let (_tmp, root) = project("[pytest]\n");
    // pytest's default glob, test*.txt, applies without any option.
    let (run, cases) = assert_same(&root, &[], &[]);
    assert!(
        cases.keys().any(|k| k.contains("test_doc.txt")),
        "{}",
        run.output
    );
    assert_same(&root, &["tests/test_doc.txt"], &[]);
    let (_tmp, root) = project("[pytest]\naddopts = --doctest-glob=*.rst\n");
    let (run, cases) = assert_same(&root, &[], &[]);
    assert!(
        cases.keys().any(|k| k.contains("guide.rst")),
        "{}",
        run.output
    );
}

/// `dx-py discover` lists the doctest items with pytest's node IDs, in its order: the doctest
/// modules and text files (and only those) are collected by the interpreter's pytest once.
#[test]
fn discover_lists_doctest_items_as_pytest_collects_them() {
    for config in [
        "[pytest]\naddopts = --doctest-modules\n",
        "[pytest]\naddopts = --doctest-glob=*.rst\n",
    ] {
        let (_tmp, root) = project(config);
        let listed = |out: &str| -> Vec<String> {
            out.lines()
                .take_while(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let py = dxpy_test_support::pytest(&root, &["--collect-only", "-q"]);
        let mut cmd = std::process::Command::new(crate::dx_py_bin());
        cmd.args(["discover", "--python", &dxpy_test_support::python()]);
        let dx = dxpy_test_support::run(cmd, &root);
        assert_eq!(dx.code, py.code, "{config}: {}", dx.output);
        assert_eq!(listed(&dx.output), listed(&py.output), "{config}");
        assert!(
            listed(&dx.output)
                .iter()
                .any(|id| id.contains("::")
                    && (id.contains("pkg.mod.add") || id.contains("guide.rst"))),
            "{config}: no doctest item: {}",
            dx.output
        );
    }
}
