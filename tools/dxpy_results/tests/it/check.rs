//! Every reason a record stops holding, each from one edit of a small project, and the
//! edits that must not invalidate a granular record.

use std::path::Path;

use dxpy_results::{
    Checker, ContextBuilder, Decision, Digest, Execution, Finished, RunReason, RunRecorder,
    Snapshot, Store, StorePaths, TestInputs,
};
use dxpy_test_support::write;

const LIB: &str = "\
import os

LIMIT = 3


def used():
    return helper() + 1


def helper():
    return 1


def untouched():
    return 0


class Box:
    size = 1

    def grow(self):
        return self.size + 1
";

const KEY: &str = "tests/test_lib.py::test_used";

fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "lib.py", LIB);
    write(tmp.path(), "other.py", "def f():\n    return 1\n");
    write(
        tmp.path(),
        "tests/test_lib.py",
        "import lib\n\n\ndef test_used():\n    assert lib.used() == 2\n",
    );
    write(tmp.path(), "tests/data.txt", "1");
    tmp
}

fn inputs(root: &Path, deps: &[&str]) -> TestInputs {
    let mut now = Snapshot::new(root);
    TestInputs {
        test_file: "tests/test_lib.py".into(),
        deps: deps.iter().map(|d| d.to_string()).collect(),
        data: now.data_digest("tests"),
    }
}

fn context(options: &str) -> Digest {
    ContextBuilder::new().text("options", options).finish()
}

/// What `test_used` executes: `used` (def on line 6) and `helper` (line 10); at import time
/// nothing but what `ambient` says.
fn record(root: &Path, execution: Option<Execution>, ambient: Execution) -> StorePaths {
    let paths = StorePaths::in_dir(&root.join(".cache"));
    let mut now = Snapshot::new(root);
    let instrumented = ["lib.py".to_string(), "other.py".to_string()].into();
    let all = vec![
        "lib.py".into(),
        "other.py".into(),
        "tests/test_lib.py".into(),
    ];
    let mut recorder = RunRecorder::new(context("-q"), instrumented, &ambient, all, &mut now);
    let inputs = inputs(root, &["lib.py", "tests/test_lib.py"]);
    assert_eq!(
        recorder.add(
            Finished {
                key: KEY,
                inputs: &inputs,
                execution: execution.as_ref(),
                reports_pin_lines: false,
                reports: vec![b"frame".to_vec()],
            },
            &mut now,
        ),
        Ok(())
    );
    recorder.into_store().merge_save(&paths, &[]).expect("save");
    paths
}

fn ran_used() -> Execution {
    Execution {
        coarse: false,
        hits: vec![("lib.py".into(), vec![6, 10])],
        imported: vec![],
    }
}

fn decide(root: &Path, paths: &StorePaths, options: &str, deps: &[&str]) -> Option<RunReason> {
    let store = Store::load(paths).expect("load");
    let mut checker = Checker::new(&store, context(options));
    let mut now = Snapshot::new(root);
    match checker.decide(KEY, &inputs(root, deps), &mut now) {
        Decision::Replay(_) => None,
        Decision::Run(reason) => Some(reason),
    }
}

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
}

const DEPS: &[&str] = &["lib.py", "tests/test_lib.py"];

#[test]
fn granular_records_survive_edits_to_functions_the_test_did_not_run() {
    let tmp = project();
    let root = tmp.path();
    let paths = record(root, Some(ran_used()), Execution::default());
    assert_eq!(decide(root, &paths, "-q", DEPS), None);
    edit(root, "lib.py", "return 0", "return 5");
    edit(
        root,
        "lib.py",
        "return self.size + 1",
        "return self.size + 2",
    );
    edit(root, "other.py", "return 1", "return 2");
    assert_eq!(decide(root, &paths, "-q", DEPS), None);
    // A blank line above shifts every def: units are found by name, not line.
    edit(root, "lib.py", "import os\n", "import os\n\n");
    assert_eq!(
        decide(root, &paths, "-q", DEPS),
        Some(RunReason::File("lib.py".into())),
        "a blank line outside bodies is a skeleton edit"
    );
}

#[test]
fn each_input_has_its_own_reason() {
    let cases: &[(&str, &str, &str, RunReason)] = &[
        (
            "lib.py",
            "return helper() + 1",
            "return helper() + 2",
            RunReason::Unit {
                path: "lib.py".into(),
                name: "used".into(),
            },
        ),
        (
            "lib.py",
            "return 1\n\n\ndef untouched",
            "return 7\n\n\ndef untouched",
            RunReason::Unit {
                path: "lib.py".into(),
                name: "helper".into(),
            },
        ),
        (
            "lib.py",
            "LIMIT = 3",
            "LIMIT = 4",
            RunReason::File("lib.py".into()),
        ),
        (
            "lib.py",
            "size = 1",
            "size = 2",
            RunReason::File("lib.py".into()),
        ),
        (
            "tests/test_lib.py",
            "== 2",
            "== 3",
            RunReason::File("tests/test_lib.py".into()),
        ),
        ("tests/data.txt", "1", "2", RunReason::Data),
    ];
    for (file, from, to, reason) in cases {
        let tmp = project();
        let root = tmp.path();
        let paths = record(root, Some(ran_used()), Execution::default());
        edit(root, file, from, to);
        assert_eq!(
            decide(root, &paths, "-q", DEPS).as_ref(),
            Some(reason),
            "{file}: {from:?} -> {to:?}"
        );
    }
    let tmp = project();
    let root = tmp.path();
    let paths = record(root, Some(ran_used()), Execution::default());
    assert_eq!(decide(root, &paths, "-v", DEPS), Some(RunReason::Context));
    assert_eq!(
        decide(
            root,
            &paths,
            "-q",
            &["lib.py", "other.py", "tests/test_lib.py"]
        ),
        Some(RunReason::NewDependency("other.py".into()))
    );
    std::fs::remove_file(root.join("lib.py")).expect("rm");
    assert_eq!(
        decide(root, &paths, "-q", DEPS),
        Some(RunReason::File("lib.py".into()))
    );
}

#[test]
fn a_function_run_at_import_time_reruns_every_test_when_it_changes() {
    let tmp = project();
    let root = tmp.path();
    let ambient = Execution {
        coarse: false,
        hits: vec![("other.py".into(), vec![1])],
        imported: vec![],
    };
    let paths = record(root, Some(ran_used()), ambient);
    edit(root, "other.py", "return 1", "return 2");
    assert_eq!(
        decide(root, &paths, "-q", DEPS),
        Some(RunReason::Unit {
            path: "other.py".into(),
            name: "f".into(),
        })
    );
}

#[test]
fn without_a_recording_or_with_a_subprocess_only_identical_files_replay() {
    // No recording: the import graph's files must be byte-identical.
    let tmp = project();
    let root = tmp.path();
    let paths = record(root, None, Execution::default());
    edit(root, "lib.py", "return 0", "return 5");
    assert_eq!(
        decide(root, &paths, "-q", DEPS),
        Some(RunReason::File("lib.py".into()))
    );
    // A subprocess: every first-party file, even one the graph does not reach.
    let tmp = project();
    let root = tmp.path();
    let coarse = Execution {
        coarse: true,
        ..ran_used()
    };
    let paths = record(root, Some(coarse), Execution::default());
    edit(root, "other.py", "return 1", "return 2");
    assert_eq!(
        decide(root, &paths, "-q", DEPS),
        Some(RunReason::File("other.py".into()))
    );
}

#[test]
fn a_hit_on_no_units_def_line_makes_the_record_whole_file() {
    let tmp = project();
    let root = tmp.path();
    // Line 3 is `LIMIT = 3`: the worker read another version of the file.
    let stale = Execution {
        coarse: false,
        hits: vec![("lib.py".into(), vec![3])],
        imported: vec![],
    };
    let paths = record(root, Some(stale), Execution::default());
    edit(root, "lib.py", "return 0", "return 5");
    assert_eq!(
        decide(root, &paths, "-q", DEPS),
        Some(RunReason::File("lib.py".into()))
    );
}
