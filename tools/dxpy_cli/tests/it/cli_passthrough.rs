//! Any pytest option works with `dx-py test`: options dx-py does not implement go to discovery
//! and the workers' pytest, with the same results, output and exit code as pytest's own run of
//! the same command line in the same project; an option nobody knows is pytest's usage error.

use std::path::Path;
use std::process::Command;

use dxpy_test_support::{clean, collect_only, pytest, python, run_with_env, Project, Run};

use crate::{assert_same, dx_py};

const WARNS: &str = "import warnings\n\n\ndef test_warns():\n    \
                     warnings.warn(UserWarning('boom'))\n\n\ndef test_quiet():\n    pass\n";

/// A project whose tests pass under pytest's defaults.
fn project(files: &[(&str, &str)]) -> Project {
    Project::new().file("pytest.ini", "[pytest]\n").files(files)
}

fn dx_py_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(crate::dx_py_bin());
    cmd.arg("test").args(["--python", &python()]).args(args);
    run_with_env(cmd, dir, env)
}

fn pytest_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(python());
    cmd.args(["-m", "pytest", "-p", "no:cacheprovider"])
        .args(args);
    run_with_env(cmd, dir, env)
}

/// pytest's usage error line (`pytest: error: ...`) without the program name, which is
/// `python -m pytest` for the reference run.
fn usage_error(output: &str) -> Option<&str> {
    output
        .lines()
        .find_map(|line| line.split_once(": error: ").map(|(_, message)| message))
}

#[test]
fn plugin_disabling_and_warning_filters_behave_as_in_pytest() {
    let project = project(&[("test_w.py", WARNS)]);
    let root = project.root();
    assert_same(root, &["-p", "no:cacheprovider"], &[]);
    assert_same(root, &["-pno:cacheprovider", "-q"], &[]);
    // `-W error` turns the warning into the test's failure, exactly as pytest reports it.
    let (run, cases) = assert_same(root, &["-W", "error"], &[]);
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(
        cases.values().any(|outcome| outcome.contains("fail")),
        "{cases:?}"
    );
    assert_same(root, &["-Werror"], &[]);
    assert_same(root, &["--pythonwarnings=error::UserWarning"], &[]);
}

#[test]
fn strict_markers_and_ini_overrides_reach_collection_and_the_workers() {
    let project = project(&[
        (
            "test_marks.py",
            "import pytest\n\n\n@pytest.mark.unregistered\ndef test_marked():\n    pass\n",
        ),
        (
            "test_xfail.py",
            "import pytest\n\n\n@pytest.mark.xfail\ndef test_xpass():\n    pass\n\n\n\
             @pytest.mark.xfail\ndef test_xfail():\n    assert False\n",
        ),
    ]);
    let root = project.root();
    // The unregistered mark is pytest's collection error. (Reported by the worker that
    // imports the module, the error does not interrupt the other modules: compared with
    // pytest's --continue-on-collection-errors, as dx-py reports an import error.)
    let (run, _) = assert_same(
        root,
        &["--strict-markers", "--continue-on-collection-errors"],
        &[],
    );
    assert_ne!(run.code, 0, "{}", run.output);
    let reference = pytest(root, &["--strict-markers"]);
    let message = "'unregistered' not found in `markers` configuration option";
    assert!(reference.output.contains(message), "{}", reference.output);
    assert!(run.output.contains(message), "{}", run.output);
    assert_same(root, &["-o", "xfail_strict=true", "test_xfail.py"], &[]);
    assert_same(
        root,
        &["--override-ini=xfail_strict=true", "test_xfail.py"],
        &[],
    );
    assert_same(root, &["--runxfail", "test_xfail.py"], &[]);
}

#[test]
fn import_mode_and_confcutdir_change_collection_as_in_pytest() {
    let same_basenames = project(&[
        ("a/test_same.py", "def test_a():\n    pass\n"),
        ("b/test_same.py", "def test_b():\n    pass\n"),
    ]);
    let root = same_basenames.root();
    assert_same(root, &["--import-mode=importlib"], &[]);
    assert_same(root, &["--import-mode", "importlib"], &[]);

    let cut = project(&[
        (
            "conftest.py",
            "import pytest\n\n\n@pytest.fixture\ndef value():\n    return 1\n",
        ),
        (
            "sub/test_uses.py",
            "def test_uses(value):\n    assert value == 1\n",
        ),
    ]);
    let root = cut.root();
    assert_same(root, &[], &[]);
    let (run, _) = assert_same(root, &["--confcutdir", "sub"], &[]);
    assert_ne!(run.code, 0, "the root conftest is cut off: {}", run.output);
}

#[test]
fn log_options_shape_the_captured_log_as_in_pytest() {
    let project = project(&[(
        "test_log.py",
        "import logging\n\n\ndef test_logs():\n    logging.getLogger('app').info('hello there')\n    \
         assert False\n",
    )]);
    let root = project.root();
    for args in [&["--log-level", "INFO"][..], &["--log-level=INFO"], &[]] {
        let (run, _) = assert_same(root, args, &[]);
        let reference = pytest(root, args);
        assert_eq!(
            run.output.contains("hello there"),
            reference.output.contains("hello there"),
            "{args:?}\n--- dx-py\n{}\n--- pytest\n{}",
            run.output,
            reference.output
        );
    }
}

#[test]
fn plugin_and_conftest_options_take_their_value_in_either_spelling() {
    let project = project(&[
        (
            "conftest.py",
            "import pytest\n\n\ndef pytest_addoption(parser):\n    \
             parser.addoption('--greeting', action='store', default='none')\n\n\n\
             @pytest.fixture\ndef greeting(request):\n    \
             return request.config.getoption('--greeting')\n",
        ),
        (
            "test_greet.py",
            "def test_greet(greeting):\n    assert greeting == 'hi'\n",
        ),
    ]);
    let root = project.root();
    // The value is the option's, not a path (a path `hi` would be pytest's usage error).
    let (run, _) = assert_same(root, &["--greeting", "hi"], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_same(root, &["--greeting=hi", "test_greet.py"], &[]);
    assert_same(root, &["test_greet.py", "--greeting", "hi"], &[]);
    let (run, _) = assert_same(root, &["--greeting", "bye"], &[]);
    assert_eq!(run.code, 1, "{}", run.output);
    // pytest-xdist is installed: its `--dist` takes a value in both spellings.
    assert_same(root, &["--greeting", "hi", "--dist", "load"], &[]);
    assert_same(root, &["--greeting=hi", "--dist=load"], &[]);
}

#[test]
fn an_option_nobody_knows_is_pytests_usage_error_once() {
    let project = project(&[("test_ok.py", "def test_ok():\n    pass\n")]);
    let root = project.root();
    for args in [&["--no-such-option"][..], &["-Z"], &["--greeting", "hi"]] {
        let dx = dx_py(root, args);
        let py = pytest(root, args);
        assert_eq!(py.code, 4, "{}", py.output);
        assert_eq!(dx.code, 4, "{args:?}: {}", dx.output);
        let expected = usage_error(&py.output).expect("pytest's usage error");
        assert_eq!(usage_error(&dx.output), Some(expected), "{}", dx.output);
        assert_eq!(dx.output.matches(expected).count(), 1, "{}", dx.output);
        assert!(!dx.output.contains("passed"), "no test runs: {}", dx.output);
    }
}

#[test]
fn an_unknown_option_in_the_config_addopts_is_pytests_usage_error_once() {
    let project = Project::new()
        .file("pytest.ini", "[pytest]\naddopts = --no-such-option\n")
        .file("test_ok.py", "def test_ok():\n    pass\n");
    let root = project.root();
    let dx = dx_py(root, &[]);
    let py = pytest(root, &[]);
    assert_eq!(py.code, 4, "{}", py.output);
    assert_eq!(dx.code, 4, "{}", dx.output);
    let expected = usage_error(&py.output).expect("pytest's usage error");
    assert_eq!(usage_error(&dx.output), Some(expected), "{}", dx.output);
    assert_eq!(dx.output.matches(expected).count(), 1, "{}", dx.output);
    assert!(!dx.output.contains("passed"), "no test runs: {}", dx.output);
}

#[test]
fn collect_only_lists_what_pytest_collects() {
    let project = project(&[
        (
            "test_a.py",
            "def test_one():\n    pass\n\n\ndef test_two():\n    pass\n",
        ),
        ("sub/test_b.py", "def test_three():\n    pass\n"),
    ]);
    let root = project.root();
    for args in [
        &["--co", "-q"][..],
        &["--collect-only", "-q"],
        &["-q", "--co", "-k", "two"],
    ] {
        let dx = dx_py(root, args);
        let filter: Vec<&str> = args
            .iter()
            .copied()
            .filter(|a| !["--co", "--collect-only", "-q"].contains(a))
            .collect();
        let reference = collect_only(root, &filter);
        let listed: Vec<String> = dx
            .output
            .lines()
            .filter(|l| l.contains("::"))
            .map(str::to_owned)
            .collect();
        assert_eq!(listed, reference.node_ids, "{args:?}: {}", dx.output);
        assert_eq!(dx.code, reference.code, "{}", dx.output);
        assert!(!dx.output.contains("passed"), "nothing runs: {}", dx.output);
    }
    // `-qq`: each file with its count, exactly pytest's lines.
    let dx = dx_py(root, &["--co", "-qq"]);
    let py = pytest(root, &["--co", "-qq"]);
    assert_eq!((dx.code, &dx.output), (py.code, &py.output));
    // Without `-q`, and where only Python can list the items, pytest's own listing: the
    // same lines but for the timing.
    std::fs::write(
        root.join("test_dyn.py"),
        "import pytest\n\n\n@pytest.mark.parametrize('n', range(3))\ndef test_n(n):\n    pass\n",
    )
    .expect("write");
    let untimed = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split(" in ").next().unwrap_or(l).to_owned())
            .collect()
    };
    for args in [&["--co"][..], &["--co", "-v"], &["--co", "-q"]] {
        // The reference run has no cache plugin (no `cachedir:` line): neither has this one.
        let dx = dx_py(root, &[args, &["-p", "no:cacheprovider"]].concat());
        let py = pytest(root, args);
        assert_eq!(dx.code, py.code, "{args:?}: {}", dx.output);
        assert_eq!(untimed(&dx.output), untimed(&py.output), "{args:?}");
        assert!(dx.output.contains("test_n[2]"), "{}", dx.output);
    }
}

#[test]
fn informational_options_are_pytests_own_output() {
    let project = project(&[(
        "conftest.py",
        "import pytest\n\n\n@pytest.fixture\ndef project_fixture():\n    \
         \"\"\"A fixture of this project.\"\"\"\n",
    )]);
    let root = project.root();
    let dx = dx_py(root, &["--fixtures"]);
    let py = pytest(root, &["--fixtures"]);
    assert_eq!(dx.code, py.code, "{}", dx.output);
    assert!(
        dx.output.contains("A fixture of this project."),
        "{}",
        dx.output
    );
    let dx = dx_py(root, &["--markers"]);
    assert_eq!(dx.code, 0, "{}", dx.output);
    assert!(dx.output.contains("@pytest.mark.xfail"), "{}", dx.output);
}

#[test]
fn debugger_and_setup_sessions_are_pytests_own() {
    let project = project(&[
        (
            "conftest.py",
            "import pytest


@pytest.fixture
def resource():
    return 1
",
        ),
        (
            "test_f.py",
            "def test_fails(resource):
    assert resource == 2


             def test_passes(resource):
    assert resource == 1
",
        ),
    ]);
    let root = project.root();
    // stdin is empty: the debugger quits at the first failure, as under pytest.
    for args in [
        &["--pdb"][..],
        &["--trace"],
        &["--setup-plan"],
        &["--setup-show"],
    ] {
        let dx = dx_py(root, args);
        let py = pytest(root, args);
        assert_eq!(
            dx.code, py.code,
            "{args:?}
{}
---
{}",
            dx.output, py.output
        );
        assert_eq!(
            dxpy_test_support::summary(&dx.output),
            dxpy_test_support::summary(&py.output),
            "{args:?}
{}",
            dx.output
        );
        for marker in [
            "Quitting debugger",
            "SETUP    F resource",
            "(fixtures used: resource)",
        ] {
            assert_eq!(
                dx.output.contains(marker),
                py.output.contains(marker),
                "{args:?} {marker:?}
{}
---
{}",
                dx.output,
                py.output
            );
        }
    }
}

#[test]
fn addopts_and_pytest_addopts_layer_with_the_command_line_as_in_pytest() {
    let project = Project::new()
        .file("pytest.ini", "[pytest]\naddopts = -W error\n")
        .file("test_w.py", WARNS);
    let root = project.root();
    // addopts first, then the command line: its filter is the later, winning one.
    let (run, _) = assert_same(root, &[], &[]);
    assert_eq!(run.code, 1, "{}", run.output);
    let (run, _) = assert_same(root, &["-W", "ignore::UserWarning"], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    for (env, args) in [
        ("-W ignore::UserWarning", &[][..]),
        ("-p no:cacheprovider", &["-W", "ignore::UserWarning"][..]),
        ("--no-such-option", &[][..]),
        ("--no-such-option", &["-p", "no:cacheprovider"][..]),
    ] {
        let envs = [("PYTEST_ADDOPTS", env)];
        let dx = dx_py_env(root, args, &envs);
        let py = pytest_env(root, args, &envs);
        assert_eq!(
            dx.code, py.code,
            "{env} {args:?}\n{}\n---\n{}",
            dx.output, py.output
        );
        assert_eq!(
            usage_error(&dx.output),
            usage_error(&py.output),
            "{env} {args:?}\n{}",
            dx.output
        );
        assert_eq!(
            dxpy_test_support::summary(&dx.output),
            dxpy_test_support::summary(&py.output),
            "{env} {args:?}\n{}",
            dx.output
        );
    }
}

#[test]
fn the_daemon_runs_the_same_pass_through_options() {
    let project = Project::in_subdir("proj")
        .file("pytest.ini", "[pytest]\n")
        .file("test_w.py", WARNS);
    let root = project.root();
    let daemon = |args: &[&str]| {
        let mut cmd = Command::new(crate::dx_py_bin());
        cmd.args(args);
        clean(&mut cmd, root);
        cmd.env_remove("DXPY_NO_DAEMON");
        cmd.output().expect("spawn dx-py")
    };
    let python = python();
    let through_daemon = |args: &[&str]| {
        let out = daemon(&[&["test", "--python", &python][..], args].concat());
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let result = std::panic::catch_unwind(|| {
        for args in [
            &["-W", "error"][..],
            &["-p", "no:cacheprovider"],
            &["--bogus-option"],
        ] {
            let (code, output) = through_daemon(args);
            let py = pytest(root, args);
            assert_eq!(code, py.code, "{args:?}: {output}");
            assert_eq!(
                dxpy_test_support::summary(&output),
                dxpy_test_support::summary(&py.output),
                "{args:?}: {output}"
            );
            assert_eq!(usage_error(&output), usage_error(&py.output), "{output}");
        }
    });
    let _ = daemon(&["daemon", "stop", "--python", &python]);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn pytests_verdict_is_kept_until_a_conftest_changes() {
    let option = |attrs: &str| {
        format!(
            "import pytest\n\n\ndef pytest_addoption(parser):\n    \
             parser.addoption('--greeting', {attrs})\n\n\n\
             @pytest.fixture\ndef greeting(request):\n    \
             return request.config.getoption('--greeting')\n"
        )
    };
    let project = project(&[
        ("conftest.py", &option("action='store', default='none'")),
        (
            "test_greet.py",
            "def test_greet(greeting):\n    assert greeting\n",
        ),
    ]);
    let root = project.root();
    let kept = || {
        std::fs::read_dir(root.join(".dxpy-cache").join("pytest-probe"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    for _ in 0..2 {
        let (run, _) = assert_same(root, &["--greeting", "hi"], &[]);
        assert_eq!(run.code, 0, "{}", run.output);
    }
    assert_eq!(kept(), 1, "the accepted verdict is kept");
    // Now a flag: `hi` is a path that does not exist, as pytest says.
    std::fs::write(
        root.join("conftest.py"),
        option("action='store_true', help='a flag now'"),
    )
    .expect("write");
    let dx = dx_py(root, &["--greeting", "hi"]);
    let py = pytest(root, &["--greeting", "hi"]);
    assert_eq!(dx.code, py.code, "{}\n---\n{}", dx.output, py.output);
    assert_ne!(dx.code, 0, "{}", dx.output);
    assert!(dx.output.contains("not found: hi"), "{}", dx.output);
    // No such option any more: pytest's usage error, not the kept verdict.
    std::fs::write(root.join("conftest.py"), "# no options here any more\n").expect("write");
    let dx = dx_py(root, &["--greeting=hi"]);
    let py = pytest(root, &["--greeting=hi"]);
    assert_eq!((dx.code, py.code), (4, 4), "{}", dx.output);
    assert_eq!(
        usage_error(&dx.output),
        usage_error(&py.output),
        "{}",
        dx.output
    );
}

#[test]
fn pyargs_module_names_are_resolved_by_pytest() {
    let project = project(&[
        ("pkg/__init__.py", ""),
        (
            "pkg/test_mod.py",
            "def test_one():\n    pass\n\n\ndef test_two():\n    assert False\n",
        ),
        ("pkg/sub/__init__.py", ""),
        ("pkg/sub/test_deep.py", "def test_deep():\n    pass\n"),
    ]);
    let root = project.root();
    assert_same(root, &["--pyargs", "pkg"], &[]);
    assert_same(root, &["--pyargs", "pkg.sub"], &[]);
    let (run, cases) = assert_same(root, &["--pyargs", "pkg.test_mod::test_one"], &[]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(cases.len(), 1, "{cases:?}");
}
