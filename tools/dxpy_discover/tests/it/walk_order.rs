//! The walk against fixture trees. File orders were cross-checked with
//! `pytest --co -q` (pytest 9.2) on copies of the same trees.

use crate::common;

use dxpy_discover::config::{self, ConfigRequest};
use dxpy_discover::walk::{self, WalkProblem};

fn render(fixture: &str, cwd: &str, args: &[&str]) -> String {
    let (_tmp, root) = common::copy_fixture("walk", fixture);
    render_at(&root, cwd, args)
}

fn render_at(root: &std::path::Path, cwd: &str, args: &[&str]) -> String {
    let request = ConfigRequest {
        invocation_dir: root.join(cwd),
        args: args.iter().map(|s| s.to_string()).collect(),
        env_addopts: None,
    };
    let redact = |s: String| s.replace(&root.display().to_string(), "<T>");
    let config = match config::load(&request) {
        Ok(c) => c,
        Err(e) => return redact(format!("config error: {e}\n")),
    };
    let walked = match walk::walk(&config) {
        Ok(w) => w,
        Err(e) => return redact(format!("ERROR: {e}\n")),
    };
    let mut out = String::from("files in collection order:\n");
    for arg in &walked.args {
        for &i in &arg.files {
            let f = &walked.files[i];
            let mut roles = Vec::new();
            if f.roles.test_module {
                roles.push("module");
            }
            if f.roles.doctest_module {
                roles.push("doctest-module");
            }
            if f.roles.doctest_text {
                roles.push("doctest-text");
            }
            let selector = arg
                .selector
                .as_ref()
                .map(|s| {
                    format!(
                        " ::{}{}",
                        s.parts.join("::"),
                        s.parametrization.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            out.push_str(&format!(
                "  {}{} ({})\n",
                f.rel_path,
                selector,
                roles.join(", ")
            ));
        }
    }
    out.push_str("conftests:\n");
    for c in &walked.conftests {
        out.push_str(&format!("  {}\n", c.display()));
    }
    if !walked.problems.is_empty() {
        out.push_str("problems:\n");
        for p in &walked.problems {
            let line = match p {
                WalkProblem::UnreadableDir { path, message } => {
                    format!("unreadable {}: {message}", path.display())
                }
                WalkProblem::SymlinkLoop { path } => format!("symlink loop {}", path.display()),
                WalkProblem::ConftestNeedsRunner { path, reason } => {
                    format!("conftest needs runner {}: {reason}", path.display())
                }
            };
            out.push_str(&format!("  {line}\n"));
        }
    }
    redact(out)
}

macro_rules! scenario {
    ($test:ident, $fixture:expr, $cwd:expr, [$($arg:expr),*]) => {
        #[test]
        fn $test() {
            insta::assert_snapshot!(render($fixture, $cwd, &[$($arg),*]));
        }
    };
}

scenario!(default_from_rootdir, "basic", ".", []);
scenario!(
    explicit_args_bypass_ignore_rules,
    "basic",
    ".",
    [
        "tests/sub",
        "tests/test_a.py::test_x",
        "tests/build/test_in_build.py"
    ]
);
scenario!(
    explicit_dir_in_norecursedirs,
    "basic",
    ".",
    ["tests/build", "tests/venv_like", "--collect-in-virtualenv"]
);
scenario!(
    ignore_options,
    "basic",
    ".",
    [
        "--ignore=tests/sub",
        "--ignore-glob=*/test_b*",
        "--ignore",
        "src"
    ]
);
scenario!(
    overlapping_args_are_normalized,
    "basic",
    ".",
    ["tests/sub/test_c.py", "tests", "tests/test_a.py::test_x"]
);
scenario!(
    keep_duplicates,
    "basic",
    ".",
    ["--keep-duplicates", "tests/test_a.py", "tests/test_a.py"]
);
scenario!(
    doctest_modules,
    "basic",
    ".",
    ["--doctest-modules", "tests/pkg", "tests/sub"]
);
scenario!(from_subdir, "basic", "tests/sub", []);
scenario!(
    node_selectors,
    "basic",
    ".",
    [
        "tests/test_b.py::test_x[1]",
        "tests/test_a.py::TestA::test_x"
    ]
);
scenario!(
    noconftest_disables_collect_ignore,
    "basic",
    ".",
    ["--noconftest", "tests"]
);
scenario!(
    custom_norecursedirs_and_python_files,
    "basic",
    ".",
    [
        "-o",
        "norecursedirs=sub",
        "-o",
        "python_files=test_[ab].py helper.py"
    ]
);
scenario!(error_missing_path, "basic", ".", ["tests/nope.py"]);
scenario!(error_missing_node_path, "basic", ".", ["nope.py::test_x"]);
scenario!(error_dir_with_parts, "basic", ".", ["tests::test_x"]);
scenario!(
    error_path_with_parametrization,
    "basic",
    ".",
    ["tests/test_a.py[1]"]
);
scenario!(error_no_collector, "basic", ".", ["tests/notes.md"]);
scenario!(dynamic_conftest, "dynamic_conftest", ".", []);
scenario!(testpaths_globbed, "testpaths", ".", []);
scenario!(testpaths_unused_outside_rootdir, "testpaths", "suite_b", []);

#[cfg(unix)]
#[test]
fn symlinks_followed_and_loops_reported() {
    let (_tmp, root) = common::copy_fixture("walk", "basic");
    std::os::unix::fs::symlink("../tests/sub", root.join("src/linked_sub")).expect("symlink");
    std::os::unix::fs::symlink("..", root.join("tests/sub/loop")).expect("symlink");
    std::os::unix::fs::symlink("missing.py", root.join("tests/test_broken_link.py"))
        .expect("symlink");
    insta::assert_snapshot!(render_at(&root, ".", &[]));
}
