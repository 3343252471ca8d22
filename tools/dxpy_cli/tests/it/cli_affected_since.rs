//! `dx-py affected --since GITREF` in a real git repository whose project is a subdirectory:
//! files changed in commits after the ref, staged, unstaged and untracked ones all count,
//! each as the same path `--changed` takes, and changes outside the project select nothing.

use std::path::Path;
use std::process::Command;

use dxpy_test_support::write;

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=dx-py tests",
            "-c",
            "user.email=tests@dx-py.invalid",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The affected node IDs (the lines before the blank one) and the exit code.
fn affected(project: &Path, cache: &Path, args: &[&str]) -> (Vec<String>, i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .arg("affected")
        .args(args)
        .current_dir(project)
        .env("DXPY_CACHE_DIR", cache)
        .output()
        .expect("spawn dx-py");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let ids = stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let text = stdout + &String::from_utf8_lossy(&out.stderr);
    (ids, out.status.code().unwrap_or(-1), text)
}

#[test]
fn since_a_ref_selects_what_commits_and_the_work_tree_changed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    let project = repo.join("proj");
    let cache = tmp.path().join("cache");
    write(&project, "pytest.ini", "[pytest]\n");
    for name in ["a", "b", "c"] {
        write(&project, &format!("pkg/{name}.py"), "X = 1\n");
        write(
            &project,
            &format!("tests/test_{name}.py"),
            format!("import pkg.{name}\n\ndef test_{name}():\n    pass\n"),
        );
    }
    write(&project, "pkg/__init__.py", "");
    write(
        &project,
        "tests/test_plain.py",
        "def test_plain():\n    pass\n",
    );
    // Outside the project: never a path inside it.
    write(&repo, "pkg/a.py", "X = 1\n");
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    write(&project, "pkg/a.py", "X = 2\n");
    write(&repo, "pkg/a.py", "X = 2\n");
    git(&repo, &["commit", "-q", "-am", "second"]);

    let since = |rev: &str| affected(&project, &cache, &["--since", rev]);
    let (ids, code, text) = since("HEAD~1");
    assert_eq!(ids, ["tests/test_a.py::test_a"], "{text}");
    assert_eq!(code, 0, "{text}");
    // The same selection as naming the changed file.
    let (named, _, text) = affected(&project, &cache, &["--changed", "pkg/a.py"]);
    assert_eq!(named, ids, "{text}");
    // Nothing changed since HEAD: pytest's "no tests" code.
    let (ids, code, text) = since("HEAD");
    assert!(ids.is_empty(), "{text}");
    assert_eq!(code, 5, "{text}");

    // Staged, unstaged and untracked changes count as well.
    write(&project, "pkg/b.py", "X = 3\n");
    git(&repo, &["add", "proj/pkg/b.py"]);
    write(&project, "pkg/c.py", "X = 3\n");
    write(&project, "tests/test_new.py", "def test_new():\n    pass\n");
    let (ids, code, text) = since("HEAD");
    assert_eq!(
        ids,
        [
            "tests/test_b.py::test_b",
            "tests/test_c.py::test_c",
            "tests/test_new.py::test_new",
        ],
        "{text}"
    );
    assert_eq!(code, 0, "{text}");
    let (ids, _, text) = since("HEAD~1");
    assert_eq!(
        ids,
        [
            "tests/test_a.py::test_a",
            "tests/test_b.py::test_b",
            "tests/test_c.py::test_c",
            "tests/test_new.py::test_new",
        ],
        "{text}"
    );

    // A ref git does not know is a usage error that says what git said.
    let (ids, code, text) = since("no-such-ref");
    assert!(ids.is_empty(), "{text}");
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("no-such-ref"), "{text}");
}
