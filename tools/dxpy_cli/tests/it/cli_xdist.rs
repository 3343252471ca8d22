//! What pytest-xdist gives its workers, dx-py's workers get: `PYTEST_XDIST_WORKER`,
//! `PYTEST_XDIST_WORKER_COUNT`, `PYTEST_XDIST_TESTRUNUID`, and xdist's `worker_id` and
//! `testrun_uid` fixtures agreeing with them (suites key per-worker databases on either).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::dx_py;
use dxpy_test_support::{clean, pytest, python, Project};

/// Each test writes what its worker was told into `records/`.
const RECORDING_CONFTEST: &str = r#"import json
import os
import uuid
from pathlib import Path

import pytest


@pytest.fixture
def record(worker_id, testrun_uid, request):
    out = Path(__file__).parent / "records"
    out.mkdir(exist_ok=True)
    seen = {
        "test": request.node.nodeid,
        "pid": os.getpid(),
        "worker_id": worker_id,
        "testrun_uid": testrun_uid,
        "env_worker": os.environ.get("PYTEST_XDIST_WORKER"),
        "env_count": os.environ.get("PYTEST_XDIST_WORKER_COUNT"),
        "env_uid": os.environ.get("PYTEST_XDIST_TESTRUNUID"),
    }
    (out / f"{uuid.uuid4().hex}.json").write_text(json.dumps(seen))
"#;

fn project() -> Project {
    let mut project = Project::in_subdir("proj")
        .file("pytest.ini", "[pytest]\n")
        .file("conftest.py", RECORDING_CONFTEST);
    for n in 0..6 {
        project = project.file(
            &format!("test_m{n}.py"),
            "def test_a(record):\n    pass\n\ndef test_b(record):\n    pass\n",
        );
    }
    project
}

/// The records one run left (and removes them).
fn take_records(root: &Path) -> Vec<serde_json::Value> {
    let dir = root.join("records");
    let mut records = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the tests wrote records") {
        let path = entry.expect("a records entry").path();
        let text = std::fs::read_to_string(&path).expect("a record");
        records.push(serde_json::from_str(&text).expect("a JSON record"));
        std::fs::remove_file(path).expect("removing a record");
    }
    records
}

/// One run's records agree with xdist's contract; returns the run's `testrun_uid`.
fn check_run(records: &[serde_json::Value], workers: usize) -> String {
    assert_eq!(records.len(), 12, "{records:#?}");
    let field = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_owned();
    let uids: BTreeSet<String> = records.iter().map(|r| field(r, "testrun_uid")).collect();
    assert_eq!(uids.len(), 1, "one testrun_uid per run: {records:#?}");
    let uid = uids.into_iter().next().unwrap_or_default();
    assert!(
        uid.len() == 32 && uid.chars().all(|c| c.is_ascii_hexdigit()),
        "{uid}"
    );
    let names: BTreeSet<String> = (0..workers).map(|n| format!("gw{n}")).collect();
    for record in records {
        let worker = field(record, "worker_id");
        assert!(names.contains(&worker), "{record}");
        assert_eq!(field(record, "env_worker"), worker, "{record}");
        assert_eq!(field(record, "env_uid"), uid, "{record}");
        assert_eq!(field(record, "env_count"), workers.to_string(), "{record}");
    }
    uid
}

#[test]
fn workers_get_xdist_names_and_one_testrun_uid_per_run() {
    let project = project();
    let root = project.root();
    // Plain pytest: the fixtures exist (xdist is installed) and name the controller.
    let py = pytest(root, &[]);
    assert_eq!(py.code, 0, "{}", py.output);
    for record in take_records(root) {
        assert_eq!(record["worker_id"], "master", "{record}");
    }
    let first = dx_py(root, &["-n", "2", "--no-daemon"]);
    assert_eq!(first.code, 0, "{}", first.output);
    let first_uid = check_run(&take_records(root), 2);
    let second = dx_py(root, &["-n", "2", "--no-daemon"]);
    assert_eq!(second.code, 0, "{}", second.output);
    assert_ne!(
        check_run(&take_records(root), 2),
        first_uid,
        "a new uid per run"
    );
}

/// In the daemon a run may start on a spare worker made ahead of it: the spare carries the
/// first slot's name and the uid the run then gives all its workers.
#[test]
fn daemon_runs_and_their_spares_keep_the_contract() {
    let project = project();
    let root = project.root();
    let python = python();
    let daemon = |args: &[&str]| {
        let mut cmd = Command::new(crate::dx_py_bin());
        cmd.args(args);
        clean(&mut cmd, root);
        cmd.env_remove("DXPY_NO_DAEMON");
        cmd.output().expect("spawn dx-py")
    };
    let result = std::panic::catch_unwind(|| {
        let mut uids = BTreeSet::new();
        for _ in 0..3 {
            let out = daemon(&["test", "--python", &python, "-n", "2"]);
            assert!(
                out.status.success(),
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            uids.insert(check_run(&take_records(root), 2));
        }
        assert_eq!(uids.len(), 3, "a new uid per run");
    });
    let _ = daemon(&["daemon", "stop", "--python", &python]);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A conftest's `worker_id` overrides xdist's under dx-py as under pytest and xdist.
#[test]
fn a_conftests_own_worker_id_still_wins() {
    let project = Project::in_subdir("proj")
        .file("pytest.ini", "[pytest]\n")
        .file(
            "conftest.py",
            "import pytest\n\n@pytest.fixture(scope='session')\ndef worker_id():\n    return 'mine'\n",
        )
        .file(
            "test_w.py",
            "def test_w(worker_id, testrun_uid):\n    assert worker_id == 'mine'\n",
        );
    let root = project.root();
    for args in [&["-n", "2"][..], &[]] {
        let py = pytest(root, args);
        assert_eq!(py.code, 0, "pytest {args:?}: {}", py.output);
    }
    let dx = dx_py(root, &["-n", "2"]);
    assert_eq!(dx.code, 0, "{}", dx.output);
}
