//! `dx-py test --affected`: tests whose inputs did not change are replayed from the result
//! cache, the rest run; after every edit the per-test outcomes, the summary counts and the
//! exit code must be pytest's on the edited tree. Each kind of input gets its own edit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dxpy_test_support::{junit, pytest, python, run, summary, write, Run};

use crate::dx_py;

fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("proj");
    for (rel, text) in files {
        write(&root, rel, text);
    }
    (tmp, root)
}

/// `3 passed (2 cached)` → (`3 passed`, 2).
fn split_cached(line: &str) -> (String, usize) {
    match line.rsplit_once(" (") {
        Some((counts, rest)) if rest.ends_with(" cached)") => {
            let n = rest
                .trim_end_matches(" cached)")
                .parse()
                .expect("cached count");
            (counts.to_owned(), n)
        }
        _ => (line.to_owned(), 0),
    }
}

/// `dx-py test --affected ARGS` and pytest on the same tree agree on every test's outcome,
/// the summary counts and the exit code; returns dx-py's run and how many it replayed.
fn affected_like_pytest(root: &Path, args: &[&str]) -> (Run, usize) {
    let (run, cached, _) = affected_vs_pytest(root, args, &[]);
    (run, cached)
}

/// [`affected_like_pytest`] with extra environment for dx-py; also returns the JUnit cases.
fn affected_vs_pytest(
    root: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Run, usize, BTreeMap<String, String>) {
    // pytest's report outside the tree: a file another tool writes into a test's directory is
    // data that changed. (dx-py's own report is never counted as data.)
    let py_xml = root.parent().expect("parent").join("py.xml");
    let dx_xml = root.join("dx.xml");
    let py_flags = [
        "-p",
        "no:cacheprovider",
        "--junit-xml",
        py_xml.to_str().expect("utf-8"),
    ];
    let py = pytest(root, &[args, &py_flags].concat());
    let dx_flags = ["--affected", "--junit-xml", dx_xml.to_str().expect("utf-8")];
    let mut cmd = Command::new(crate::dx_py_bin());
    cmd.arg("test")
        .args(["--python", &python()])
        .args([&dx_flags, args].concat())
        .envs(env.iter().copied());
    let dx = run(cmd, root);
    let cases = junit(&dx_xml);
    assert_eq!(
        cases,
        junit(&py_xml),
        "cases differ\n--- dx-py\n{}\n--- pytest\n{}",
        dx.output,
        py.output
    );
    // `DXPY_EXPLAIN` lines ("... recorded in 0.002s") are not the summary.
    let report: String = dx
        .output
        .lines()
        .filter(|l| !l.starts_with("dx-py: "))
        .map(|l| format!("{l}\n"))
        .collect();
    let (counts, cached) = split_cached(&summary(&report));
    assert_eq!(counts, summary(&py.output), "{}", dx.output);
    assert_eq!(dx.code, py.code, "{}", dx.output);
    std::fs::remove_file(&py_xml).expect("rm");
    std::fs::remove_file(&dx_xml).expect("rm");
    (dx, cached, cases)
}

const PKG: &[(&str, &str)] = &[
    ("pytest.ini", "[pytest]\ntestpaths = tests\n"),
    ("pkg/__init__.py", "from pkg import a, b\n"),
    (
        "pkg/a.py",
        "def one():\n    return 1\n\n\ndef unused():\n    return 0\n",
    ),
    (
        "pkg/b.py",
        "from pkg.c import two\n\n\ndef double():\n    return two() * 2\n",
    ),
    ("pkg/c.py", "def two():\n    return 2\n"),
    (
        "tests/conftest.py",
        "import pytest\n\n\n@pytest.fixture\ndef base():\n    return 0\n",
    ),
    (
        "tests/test_a.py",
        "from pkg.a import one\n\n\ndef test_one(base):\n    assert one() + base == 1\n",
    ),
    (
        "tests/test_b.py",
        "from pkg.b import double\n\n\ndef test_double():\n    assert double() == 4\n\n\n\
         def test_plain():\n    pass\n",
    ),
    (
        "tests/data/test_data.py",
        "from pathlib import Path\n\n\ndef test_reads():\n    \
         assert (Path(__file__).parent / 'value.txt').read_text() == 'ok'\n",
    ),
    ("tests/data/value.txt", "ok"),
];

/// A first run records everything; an unchanged rerun replays everything.
fn recorded(root: &Path) {
    let (_, cached) = affected_like_pytest(root, &[]);
    assert_eq!(cached, 0);
    let (run, cached) = affected_like_pytest(root, &[]);
    assert_eq!(cached, 4, "{}", run.output);
}

#[test]
fn an_unchanged_tree_replays_every_test_and_marks_them_at_v() {
    let (_tmp, root) = tree(PKG);
    recorded(&root);
    let run = dx_py(&root, &["--affected", "-v"]);
    // `-v` is another context (verbosity shapes reports): it runs, then replays.
    assert_eq!(split_cached(&summary(&run.output)).1, 0, "{}", run.output);
    let run = dx_py(&root, &["--affected", "-v"]);
    assert!(
        run.output
            .contains("tests/test_b.py::test_plain PASSED (cached)"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("result cache: 0 to run, 4 replayed"),
        "{}",
        run.output
    );
}

/// `root/res/pkg.zip` holding `zpkg/__init__.py` with `text`, written by Python's zipfile.
fn zip_package(root: &Path, text: &str) {
    let script = "import sys, zipfile\n\
                  with zipfile.ZipFile(sys.argv[1], 'w') as z:\n    \
                  z.writestr('zpkg/__init__.py', sys.argv[2])\n";
    std::fs::create_dir_all(root.join("res")).expect("mkdir");
    let made = Command::new(python())
        .args(["-c", script])
        .arg(root.join("res/pkg.zip"))
        .arg(text)
        .status()
        .expect("python");
    assert!(made.success());
}

#[test]
fn a_module_imported_from_a_zip_archive_is_replayed_until_the_archive_changes() {
    // As jinja2's test_package_zip_source: the module has no file of its own to digest; the
    // archive stands for it, whole.
    let (_tmp, root) = tree(&[
        ("pytest.ini", "[pytest]\n"),
        (
            "test_zip.py",
            "import pathlib\nimport sys\n\n\ndef test_zip():\n    \
             sys.path.insert(0, str(pathlib.Path(__file__).parent / 'res' / 'pkg.zip'))\n    \
             import zpkg\n    \
             assert zpkg.VALUE == 1\n",
        ),
        ("other/test_other.py", "def test_other():\n    pass\n"),
    ]);
    zip_package(&root, "VALUE = 1\n");
    let (_, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 0);
    let (run, cached) = affected_like_pytest(&root, &[]);
    // Before, the zip-imported module's path could not be read and the test was never recorded.
    assert_eq!(cached, 2, "both replayed:\n{}", run.output);
    zip_package(&root, "VALUE = 2\n");
    let (run, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(
        cached, 1,
        "the archive changed: its test runs:\n{}",
        run.output
    );
    assert_eq!(run.code, 1, "{}", run.output);
}

#[test]
fn each_kind_of_input_change_reruns_the_tests_it_reaches() {
    let (_tmp, root) = tree(PKG);
    recorded(&root);
    // (edit, how many tests must run again: the rest are replayed)
    let edits: &[(&str, &str, &str, usize)] = &[
        // a test module: its own tests
        ("tests/test_b.py", "== 4", "== 5", 2),
        ("tests/test_b.py", "== 5", "== 4", 2),
        // inside a function body of a transitive import (pkg.b -> pkg.c): only the test that
        // executed that function
        ("pkg/c.py", "return 2", "return 3", 1),
        ("pkg/c.py", "return 3", "return 2", 1),
        // inside a function no test executes: nothing
        ("pkg/a.py", "return 0", "return 5", 0),
        // outside function bodies of a transitive import: every test reaching it (through
        // pkg/__init__, all but test_data, which imports no first-party module)
        ("pkg/c.py", "def two", "LIMIT = 1\n\n\ndef two", 3),
        ("pkg/c.py", "LIMIT = 1\n\n\n", "", 3),
        // a conftest: the tests below it
        ("tests/conftest.py", "return 0", "return 1", 4),
        ("tests/conftest.py", "return 1", "return 0", 4),
        // a data file in a test's directory tree: tests/data/ is below every test's
        ("tests/data/value.txt", "ok", "changed", 4),
        ("tests/data/value.txt", "changed", "ok", 4),
        // the config
        (
            "pytest.ini",
            "testpaths = tests\n",
            "testpaths = tests\nxfail_strict = true\n",
            4,
        ),
    ];
    for (file, from, to, expected_run) in edits {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
        let (run, cached) = affected_like_pytest(&root, &[]);
        assert_eq!(
            4 - cached,
            *expected_run,
            "after {file}: {from:?} -> {to:?}\n{}",
            run.output
        );
        // The failures are not cached: an unchanged rerun runs them again, nothing else.
        let failed = run.code != 0;
        let (run, cached) = affected_like_pytest(&root, &[]);
        assert_eq!(cached < 4, failed, "rerun after {file}\n{}", run.output);
    }
}

#[test]
fn installing_a_distribution_or_another_interpreter_reruns_everything() {
    let (tmp, root) = tree(PKG);
    let (venv_python, site) = dxpy_test_support::venv_with_test_packages(tmp.path());
    let with_venv = |root: &Path| {
        let mut cmd = Command::new(crate::dx_py_bin());
        cmd.args(["test", "--affected", "--python"])
            .arg(&venv_python);
        dxpy_test_support::run(cmd, root)
    };
    let first = with_venv(&root);
    assert_eq!(first.code, 0, "{}", first.output);
    let again = with_venv(&root);
    assert_eq!(
        split_cached(&summary(&again.output)).1,
        4,
        "{}",
        again.output
    );
    write(
        &site,
        "newdist-1.0.dist-info/METADATA",
        "Name: newdist\nVersion: 1.0\n",
    );
    let after = with_venv(&root);
    assert_eq!(
        split_cached(&summary(&after.output)).1,
        0,
        "{}",
        after.output
    );
    // Another interpreter (the base one instead of the venv's) is another context too.
    let base = dx_py(&root, &["--affected"]);
    assert_eq!(split_cached(&summary(&base.output)).1, 0, "{}", base.output);
}

#[test]
fn a_corrupt_or_truncated_cache_is_rebuilt_with_a_notice() {
    let (_tmp, root) = tree(PKG);
    recorded(&root);
    let file = find_results_file(&root.join(".dxpy-cache"));
    let bytes = std::fs::read(&file).expect("read");
    for broken in [bytes[..bytes.len() / 2].to_vec(), {
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        flipped
    }] {
        std::fs::write(&file, &broken).expect("write");
        let (run, cached) = affected_like_pytest(&root, &[]);
        assert_eq!(cached, 0, "{}", run.output);
        assert!(
            run.output.contains("result cache rebuilt"),
            "{}",
            run.output
        );
        let (_, cached) = affected_like_pytest(&root, &[]);
        assert_eq!(cached, 4);
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file).expect("stat").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn new_and_deleted_tests_and_dynamic_parameters() {
    let (_tmp, root) = tree(PKG);
    write(
        &root,
        "tests/test_dyn.py",
        "import pytest\n\n\ndef cases():\n    return [1, 2, 3]\n\n\n\
         @pytest.mark.parametrize('n', cases())\ndef test_n(n):\n    assert n\n",
    );
    let (_, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 0);
    // The dynamic function is one record holding its three expansions: 4 + 3 tests.
    let (run, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 7, "{}", run.output);
    write(&root, "tests/test_new.py", "def test_new():\n    pass\n");
    let (run, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 7, "{}", run.output);
    std::fs::remove_file(root.join("tests/test_b.py")).expect("rm");
    let (run, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 6, "{}", run.output);
}

#[test]
fn two_runs_at_once_keep_a_valid_cache() {
    let (_tmp, root) = tree(PKG);
    let spawn = || {
        let mut cmd = Command::new(crate::dx_py_bin());
        cmd.args(["test", "--affected", "--python", &python()]);
        dxpy_test_support::clean(&mut cmd, &root);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (first, second) = (spawn(), spawn());
    for child in [first, second] {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let (run, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 4, "{}", run.output);
}

fn find_results_file(dir: &Path) -> PathBuf {
    for entry in walk(dir) {
        if entry.file_name().is_some_and(|n| n == "results.bin") {
            return entry;
        }
    }
    panic!("no results.bin under {}", dir.display());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn since_narrows_the_run_to_tests_reaching_files_changed_in_git() {
    let (_tmp, root) = tree(PKG);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(&root)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    write(&root, ".gitignore", ".dxpy-cache/\n*.xml\n");
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    recorded(&root);
    // Nothing changed since HEAD: every test is deselected.
    let run = dx_py(&root, &["--affected", "--since", "HEAD"]);
    assert!(
        summary(&run.output).starts_with("4 deselected"),
        "{}",
        run.output
    );
    assert_eq!(run.code, 5, "{}", run.output);
    // An uncommitted edit of test_b.py: its two tests run, the other two are deselected.
    let path = root.join("tests/test_b.py");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("== 4", "== 5")).expect("write");
    let run = dx_py(&root, &["--affected", "--since", "HEAD"]);
    assert_eq!(
        summary(&run.output),
        "1 failed, 1 passed, 2 deselected",
        "{}",
        run.output
    );
    assert_eq!(run.code, 1);
    // --since needs --affected.
    let run = dx_py(&root, &["--since", "HEAD"]);
    assert_eq!(run.code, 2, "{}", run.output);
}

/// Parameter IDs holding `[`, `]` and `::` (click's ANSI sequences) still group under their
/// function: a replay holds every expansion, as pytest reports them.
#[test]
fn replayed_dynamic_parameters_keep_every_expansion() {
    let (_tmp, root) = tree(&[
        ("pytest.ini", "[pytest]\n"),
        (
            "test_ids.py",
            "import pytest\n\n\ndef ids():\n    return ['a[1]', '\\x1b[1;38:2::255m', 'x::y', 'plain']\n\n\n\
             @pytest.mark.parametrize('s', ids())\ndef test_s(s):\n    assert s\n",
        ),
    ]);
    let (_, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 0);
    let (run, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 4, "{}", run.output);
}

/// A conftest `pytest_collect_file` hook turning each line of the `.txt` files under `data/`
/// into an item that checks one function of `pkg.check` (as pygments' turns example files
/// into lexer tests), beside an ordinary test module elsewhere. With `HOOK_LOG` set (not an
/// input of any record) the hook logs every file it is asked about: proof it ran.
const HOOKS: &[(&str, &str)] = &[
    ("pytest.ini", "[pytest]\ntestpaths = tests data\n"),
    ("pkg/__init__.py", ""),
    (
        "pkg/check.py",
        "def upper(text):\n    return text.upper()\n\n\ndef lower(text):\n    return text.lower()\n",
    ),
    (
        "data/conftest.py",
        "import os\n\nimport pytest\n\nfrom pkg import check\n\n\n\
         class LineItem(pytest.Item):\n\
         \x20   def __init__(self, *, spec, **kwargs):\n\
         \x20       super().__init__(**kwargs)\n\
         \x20       self.spec = spec\n\n\
         \x20   def runtest(self):\n\
         \x20       kind, text, expected = self.spec\n\
         \x20       assert getattr(check, kind)(text) == expected\n\n\
         \x20   def repr_failure(self, excinfo):\n\
         \x20       return f'{self.spec} failed'\n\n\n\
         class LinesFile(pytest.File):\n\
         \x20   def collect(self):\n\
         \x20       for n, line in enumerate(self.path.read_text().splitlines()):\n\
         \x20           yield LineItem.from_parent(self, name=f'line{n}', spec=line.split())\n\n\n\
         def pytest_collect_file(parent, file_path):\n\
         \x20   if 'HOOK_LOG' in os.environ:\n\
         \x20       with open(os.environ['HOOK_LOG'], 'a') as log:\n\
         \x20           log.write(f'{file_path.name}\\n')\n\
         \x20   if file_path.suffix == '.txt':\n\
         \x20       return LinesFile.from_parent(parent, path=file_path)\n",
    ),
    ("data/a/one.txt", "upper a A\nlower B b\n"),
    ("data/b/two.txt", "upper c C\n"),
    ("tests/test_plain.py", "def test_plain():\n    pass\n"),
];

/// One `--affected` run checked against pytest, with what `DXPY_EXPLAIN` says runs.
struct HookRun {
    cached: usize,
    cases: BTreeMap<String, String>,
    /// `KEY: reason` of every `dx-py: runs KEY: reason` line.
    runs: Vec<String>,
    /// The files dx-py's workers offered the conftest hook during the run.
    collected: Vec<String>,
    output: String,
}

impl HookRun {
    fn hook_items(&self) -> usize {
        self.cases.keys().filter(|k| k.contains(".txt")).count()
    }

    fn runs(&self, key: &str) -> bool {
        self.runs.iter().any(|l| l.starts_with(&format!("{key}: ")))
    }
}

fn hook_run(root: &Path) -> HookRun {
    let log = root.parent().expect("parent").join("hook.log");
    let env = [
        ("DXPY_EXPLAIN", "1"),
        ("HOOK_LOG", log.to_str().expect("utf-8")),
    ];
    let (dx, cached, cases) = affected_vs_pytest(root, &[], &env);
    let collected = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let _ = std::fs::remove_file(&log);
    let runs = dx
        .output
        .lines()
        .filter_map(|l| l.strip_prefix("dx-py: runs "))
        .map(str::to_owned)
        .collect();
    HookRun {
        cached,
        cases,
        runs,
        collected,
        output: dx.output,
    }
}

#[test]
fn hook_made_items_are_replayed_until_their_tree_or_what_they_ran_changes() {
    let (_tmp, root) = tree(HOOKS);
    let first = hook_run(&root);
    assert_eq!(first.cached, 0, "{}", first.output);
    assert_eq!(first.hook_items(), 3, "{}", first.output);
    assert!(
        first.collected.contains(&"one.txt".to_owned()),
        "{:?}",
        first.collected
    );

    // Nothing changed: every item replays and no hook-items unit is sent.
    let again = hook_run(&root);
    assert_eq!(again.cached, again.cases.len(), "{}", again.output);
    assert!(again.runs.is_empty(), "{:?}\n{}", again.runs, again.output);
    assert!(again.collected.is_empty(), "{:?}", again.collected);

    // A data file edited: its tree's unit runs (every item in it), the test module elsewhere
    // replays.
    write(&root, "data/b/two.txt", "upper c C\nupper d D\n");
    let edited = hook_run(&root);
    assert!(
        edited.runs("hook items: data/a + data/b"),
        "{:?}",
        edited.runs
    );
    assert_eq!(edited.hook_items(), 4, "{}", edited.output);
    assert_eq!(
        edited.cached,
        edited.cases.len() - edited.hook_items(),
        "{}",
        edited.output
    );
    let settled = hook_run(&root);
    assert_eq!(settled.cached, settled.cases.len(), "{}", settled.output);

    // A data file added: its item appears and runs.
    write(&root, "data/a/three.txt", "upper e E\n");
    let added = hook_run(&root);
    assert!(
        added.cases.keys().any(|k| k.contains("three")),
        "{}",
        added.output
    );
    assert_eq!(
        added.cached,
        added.cases.len() - added.hook_items(),
        "{}",
        added.output
    );
    hook_run(&root);

    // A function only one item executes edited in its body: only that item runs.
    write(
        &root,
        "pkg/check.py",
        "def upper(text):\n    return text.upper()\n\n\ndef lower(text):\n    \
         return str.lower(text)\n",
    );
    let body = hook_run(&root);
    assert_eq!(
        body.runs,
        ["data/a/one.txt::line1: pkg/check.py: lower changed, and it ran"]
    );
    assert_eq!(body.cached, body.cases.len() - 1, "{}", body.output);
}

#[test]
fn a_failing_hook_made_item_runs_again_next_time() {
    let (_tmp, root) = tree(HOOKS);
    hook_run(&root);
    write(&root, "data/b/two.txt", "upper c X\n");
    let failing = hook_run(&root);
    assert!(
        failing.cases.values().any(|o| o != "passed"),
        "{}",
        failing.output
    );
    // The tree is unchanged now: the items that passed replay, the failing one runs.
    let again = hook_run(&root);
    assert_eq!(again.runs.len(), 1, "{:?}", again.runs);
    assert!(again.runs("data/b/two.txt::line0"), "{:?}", again.runs);
    assert_eq!(again.cached, again.cases.len() - 1, "{}", again.output);
    // Fixed: it runs (the tree changed), passes, and is replayed from then on.
    write(&root, "data/b/two.txt", "upper c C\n");
    hook_run(&root);
    let fixed = hook_run(&root);
    assert_eq!(fixed.cached, fixed.cases.len(), "{}", fixed.output);
}

/// Each test module notes its import in `imports.log` beside the project (outside it: a file
/// written into the tree would be a changed data file). `test_b` passes only once `test_a`'s
/// module-level `import pkg.sub` has run, as it has under pytest's collection.
const IMPORT_SIDE_EFFECTS: &[(&str, &str)] = &[
    ("pytest.ini", "[pytest]\ntestpaths = tests\n"),
    ("pkg/__init__.py", ""),
    ("pkg/sub.py", "VALUE = 1\n"),
    ("pkg/helper.py", "def f():\n    return 1\n"),
    (
        "tests/test_a.py",
        "from pathlib import Path\n\nimport pkg.sub\n\n\
         with open(Path(__file__).resolve().parents[2] / 'imports.log', 'a') as log:\n    \
         log.write('a\\n')\n\n\ndef test_sub():\n    assert pkg.sub.VALUE == 1\n",
    ),
    (
        "tests/test_b.py",
        "from pathlib import Path\n\nimport pkg\nimport pkg.helper\n\n\
         with open(Path(__file__).resolve().parents[2] / 'imports.log', 'a') as log:\n    \
         log.write('b\\n')\n\n\ndef test_needs_sub():\n    \
         assert pkg.helper.f() == 1\n    assert pkg.sub.VALUE == 1\n",
    ),
    (
        "tests/test_c.py",
        "from pathlib import Path\n\nimport pkg.helper\n\n\
         with open(Path(__file__).resolve().parents[2] / 'imports.log', 'a') as log:\n    \
         log.write('c\\n')\n\n\ndef test_helper():\n    assert pkg.helper.f() == 1\n",
    ),
];

/// Edits `file` (`from` → `to`), then runs `--affected` beside pytest (outcomes, counts and
/// exit code must agree); returns dx-py's run, how many it replayed, and the modules
/// dx-py's workers imported, in order (pytest's own run imports each once, first).
fn edit_and_rerun(root: &Path, file: &str, from: &str, to: &str) -> (Run, usize, String) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    let log = root.parent().expect("parent").join("imports.log");
    let before = std::fs::read_to_string(&log).map_or(0, |t| t.len());
    let (run, cached) = affected_like_pytest(root, &[]);
    let after = std::fs::read_to_string(&log).expect("imports.log");
    let new = &after[before..];
    let by_dx_py = new
        .strip_prefix("a\nb\nc\n")
        .expect("pytest imports each module once");
    (run, cached, by_dx_py.replace('\n', ""))
}

#[test]
fn a_rerun_imports_only_the_modules_of_its_tests_unless_one_of_them_does_not_pass() {
    let (_tmp, root) = tree(IMPORT_SIDE_EFFECTS);
    let (_, cached) = affected_like_pytest(&root, &[]);
    assert_eq!(cached, 0);
    // Only test_c changed: its module alone is imported, and it passes.
    let (run, cached, imported) = edit_and_rerun(&root, "tests/test_c.py", "f() ==", "f() + 0 ==");
    assert_eq!(cached, 2, "{}", run.output);
    assert!(
        !imported.is_empty() && imported.chars().all(|m| m == 'c'),
        "imported {imported:?}\n{}",
        run.output
    );
    // f changed: test_b and test_c run. Without test_a's import test_b fails, so the run is
    // made again with every module imported, and test_b passes as under pytest.
    let (run, cached, imported) = edit_and_rerun(
        &root,
        "pkg/helper.py",
        "return 1",
        "value = 1\n    return value",
    );
    assert_eq!(cached, 1, "{}", run.output);
    assert!(
        imported.contains('a'),
        "imported {imported:?}\n{}",
        run.output
    );
    assert!(!run.output.contains("AttributeError"), "{}", run.output);
    // A real failure: the run is made again too, and each failure is reported once.
    let (run, _, _) = edit_and_rerun(&root, "pkg/helper.py", "value = 1", "value = 2");
    assert_eq!(run.code, 1, "{}", run.output);
    for test in [
        "tests/test_b.py::test_needs_sub",
        "tests/test_c.py::test_helper",
    ] {
        assert_eq!(
            run.output.matches(&format!("FAILED {test}")).count(),
            1,
            "{}",
            run.output
        );
    }
}
