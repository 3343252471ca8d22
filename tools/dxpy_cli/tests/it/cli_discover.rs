//! `dx-py discover` as a user runs it: real binary, real files, pytest's output shapes and exit
//! codes, and the cache's behaviour when its index is damaged.

use std::path::Path;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run the binary in `dir` with a private cache directory, masking the timing in summaries.
fn dx_py(dir: &Path, cache: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .args(args)
        .current_dir(dir)
        .env("DXPY_CACHE_DIR", cache)
        .env_remove("PYTEST_ADDOPTS")
        .output()
        .expect("spawn dx-py");
    let mask = |s: &[u8]| {
        let text = String::from_utf8_lossy(s).into_owned();
        let re_time = |line: &str| match line.rfind(" in ") {
            Some(i) if line.ends_with('s') => format!("{} in <T>", &line[..i]),
            _ => line.to_string(),
        };
        text.lines().map(re_time).collect::<Vec<_>>().join("\n")
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: mask(&out.stdout),
        stderr: mask(&out.stderr),
    }
}

/// Write a file dated a minute ago: a file modified within the filesystem's timestamp
/// granularity of the last index write is (rightly) re-hashed, which these tests don't exercise.
fn write(root: &Path, rel: &str, contents: &[u8]) {
    dxpy_test_support::write(root, rel, contents);
    let path = root.join(rel);
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_modified(past)
        .expect("mtime");
}

fn project() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("proj");
    let cache = tmp.path().join("cache");
    write(&root, "pytest.ini", b"[pytest]\nmarkers = slow\n");
    write(
        &root,
        "tests/test_a.py",
        b"import pytest\n\ndef test_one():\n    pass\n\n@pytest.mark.slow\n@pytest.mark.parametrize('x', [1, 'b'])\ndef test_two(x):\n    pass\n\nclass TestC:\n    def test_m(self):\n        pass\n",
    );
    (tmp, root, cache)
}

#[test]
fn lists_tests_like_pytest_collect_only_q() {
    let (_tmp, root, cache) = project();
    let run = dx_py(&root, &cache, &["discover"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout, @r"
    tests/test_a.py::test_one
    tests/test_a.py::test_two[1]
    tests/test_a.py::test_two[b]
    tests/test_a.py::TestC::test_m

    4 tests collected in <T>
    ");
}

#[test]
fn keyword_and_mark_selection_count_deselected_items() {
    let (_tmp, root, cache) = project();
    let run = dx_py(
        &root,
        &cache,
        &["discover", "-m", "not slow", "-k", "one or m"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout, @r"
    tests/test_a.py::test_one
    tests/test_a.py::TestC::test_m

    2/4 tests collected (2 deselected) in <T>
    ");
    let none = dx_py(&root, &cache, &["discover", "-k", "nothing_matches"]);
    assert_eq!(none.code, 5);
    insta::assert_snapshot!(none.stdout, @"no tests collected (4 deselected) in <T>");
}

#[test]
fn syntax_errors_are_reported_and_interrupt_like_pytest() {
    let (_tmp, root, cache) = project();
    write(
        &root,
        "tests/test_bad.py",
        b"def test_ok():\n    pass\n\ndef test_broken(:\n    pass\n",
    );
    let run = dx_py(&root, &cache, &["discover"]);
    assert_eq!(
        run.code, 2,
        "collection errors exit with pytest's 'interrupted'"
    );
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn non_utf8_and_binary_files_are_errors_not_crashes() {
    let (_tmp, root, cache) = project();
    write(
        &root,
        "tests/test_latin.py",
        b"def test_x():\n    s = '\xe9\xff'\n",
    );
    write(
        &root,
        "tests/test_binary.py",
        &[0u8, 159, 146, 150, 0, 1, 2],
    );
    let run = dx_py(&root, &cache, &["discover"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("ERROR tests/test_latin.py"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("ERROR tests/test_binary.py"),
        "{}",
        run.stdout
    );
    // The good module is still listed: one bad file never stops the scan.
    assert!(
        run.stdout.contains("tests/test_a.py::test_one"),
        "{}",
        run.stdout
    );
}

#[test]
fn missing_path_is_a_usage_error() {
    let (_tmp, root, cache) = project();
    let run = dx_py(&root, &cache, &["discover", "tests/nothere.py"]);
    assert_eq!(run.code, 4);
    assert_eq!(
        run.stderr.trim(),
        "ERROR: file or directory not found: tests/nothere.py"
    );
    insta::assert_snapshot!(run.stdout, @"no tests collected in <T>");
}

#[test]
fn broken_config_names_the_file() {
    let (_tmp, root, cache) = project();
    write(&root, "pytest.ini", b"[pytest]\naddopts = -k 'unbalanced\n");
    let run = dx_py(&root, &cache, &["discover"]);
    assert_eq!(run.code, 4);
    assert!(run.stderr.contains("pytest.ini"), "{}", run.stderr);
}

#[test]
fn json_output_carries_params_state_and_marks() {
    let (_tmp, root, cache) = project();
    let run = dx_py(&root, &cache, &["discover", "--json"]);
    assert_eq!(run.code, 0);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("valid JSON");
    let items = value["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    assert_eq!(items[1]["node_id"], "tests/test_a.py::test_two[1]");
    assert_eq!(items[1]["params"], "static");
    assert_eq!(items[1]["param_id"], "1");
    let marks: Vec<&str> = items[1]["marks"]
        .as_array()
        .expect("marks")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(marks.contains(&"slow"), "{marks:?}");
    assert_eq!(items[0]["params"], "none");
}

#[test]
fn warm_run_is_served_from_the_index_and_a_corrupt_index_is_rebuilt() {
    let (_tmp, root, cache) = project();
    let cold = dx_py(&root, &cache, &["discover", "-v"]);
    assert!(
        cold.stderr.contains("1 analysed, 0 unchanged"),
        "{}",
        cold.stderr
    );
    let warm = dx_py(&root, &cache, &["discover", "-v"]);
    assert!(
        warm.stderr.contains("0 analysed, 1 unchanged"),
        "{}",
        warm.stderr
    );
    assert_eq!(cold.stdout, warm.stdout);

    // Damage the index: the next run says so once, rebuilds it, and lists the same tests.
    let index = find_index(&cache);
    let mut bytes = std::fs::read(&index).expect("read index");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&index, &bytes).expect("corrupt");
    let repaired = dx_py(&root, &cache, &["discover", "-v"]);
    assert!(repaired.stderr.contains("not used"), "{}", repaired.stderr);
    assert!(
        repaired.stderr.contains("1 analysed"),
        "{}",
        repaired.stderr
    );
    assert_eq!(repaired.stdout, cold.stdout);

    std::fs::write(&index, &bytes[..10]).expect("truncate");
    let truncated = dx_py(&root, &cache, &["discover"]);
    assert!(
        truncated.stderr.contains("not used"),
        "{}",
        truncated.stderr
    );
    assert_eq!(truncated.stdout, cold.stdout);
    let after = dx_py(&root, &cache, &["discover"]);
    assert_eq!(after.stderr, "", "the rebuilt index is trusted again");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&index)
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(index.parent().expect("dir"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
}

#[test]
fn no_cache_writes_nothing_and_cache_clear_removes_the_index() {
    let (_tmp, root, cache) = project();
    let run = dx_py(&root, &cache, &["discover", "--no-cache"]);
    assert_eq!(run.code, 0);
    assert!(!cache.join("projects").exists());
    dx_py(&root, &cache, &["discover"]);
    assert!(find_index(&cache).is_file());
    let clear = dx_py(&root, &cache, &["cache", "clear"]);
    assert_eq!(clear.code, 0, "{}", clear.stderr);
    assert!(!cache.join("projects").exists());
    assert!(cache.exists(), "the cache root itself is never removed");
}

fn find_index(cache: &Path) -> std::path::PathBuf {
    let projects = cache.join("projects");
    let dir = std::fs::read_dir(&projects)
        .expect("projects dir")
        .filter_map(Result::ok)
        .next()
        .expect("one project")
        .path();
    std::fs::read_dir(&dir)
        .expect("project dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_file() && p.extension().is_some_and(|e| e == "idx"))
        .expect("index file")
}

/// The node IDs of a `--collect-only -q` listing (everything before the blank line).
fn listed(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .take_while(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Modules that skip themselves at import list no tests, as under pytest: whether they skip
/// is asked of the interpreter's pytest (what is installed decides), once, then kept until a
/// file it depends on changes.
#[test]
fn modules_that_skip_themselves_at_import_are_listed_as_pytest_lists_them() {
    let (_tmp, root, cache) = project();
    write(
        &root,
        "tests/test_optional.py",
        b"import pytest\n\npytest.importorskip('no_such_module_for_dxpy')\n\ndef test_never():\n    pass\n",
    );
    write(
        &root,
        "tests/test_present.py",
        b"import pytest\n\njson = pytest.importorskip('json')\n\ndef test_json():\n    pass\n",
    );
    write(
        &root,
        "tests/test_platform.py",
        b"import sys\nimport pytest\n\nif sys.platform != 'no-such-platform':\n    pytest.skip('elsewhere', allow_module_level=True)\n\ndef test_elsewhere():\n    pass\n",
    );
    let python = dxpy_test_support::python();
    let pytest_ids = listed(&dxpy_test_support::pytest(&root, &["--collect-only", "-q"]).output);
    assert!(pytest_ids.contains(&"tests/test_present.py::test_json".to_owned()));
    let first = dx_py(&root, &cache, &["discover", "--python", &python]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(listed(&first.stdout), pytest_ids, "{}", first.stderr);
    // Kept privately in the project's cache, and the same answer from there.
    let kept: Vec<_> = walk(&cache)
        .into_iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("collect-probe")))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let again = dx_py(&root, &cache, &["discover", "--python", &python]);
    assert_eq!(listed(&again.stdout), pytest_ids, "{}", again.stderr);
    // A changed module is asked about again: without its skip, its test is listed.
    write(
        &root,
        "tests/test_optional.py",
        b"def test_never():\n    pass\n",
    );
    let changed = dx_py(&root, &cache, &["discover", "--python", &python]);
    assert!(
        listed(&changed.stdout).contains(&"tests/test_optional.py::test_never".to_owned()),
        "{}",
        changed.stdout
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
