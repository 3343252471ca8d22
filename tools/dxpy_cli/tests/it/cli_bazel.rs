//! `dx-py bazel-worker` and `dx-py bazel-test` end to end: the real binary, real interpreters
//! (`DXPY_TEST_PYTHON`, else `python3`; it must have pytest, and pytest-cov for the `bazel
//! coverage` tests), the execroot-shaped fixture tree `tests/fixtures/bazel_execroot` copied to
//! a temp dir. The worker is driven over its real protocol (length-delimited WorkRequests on
//! stdin); every wait has a deadline, so a hang fails the test instead of stalling it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dxpy_bazel::proto::{read_frame, write_frame, WorkRequest, WorkResponse};
use dxpy_test_support::{copy_tree, junit, python_executable, worker_package};

const DEADLINE: Duration = Duration::from_secs(120);

fn fixture_execroot() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bazel_execroot"),
        dir.path(),
    );
    dir
}

/// The arguments of one DxPyTest action over `tests`, outputs under `out/<name>/`.
fn action_args(name: &str, tests: &[&str], extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        format!("--target=//pkg:{name}"),
        "--main-repo=_main".to_owned(),
        format!("--python={}", python_executable().display()),
        format!("--worker-package={}", worker_package().display()),
        "--input=pkg/conftest.py".to_owned(),
        "--input=external/other/lib/helper.py".to_owned(),
        "--import-root=other/lib".to_owned(),
        format!("--out-status=out/{name}/status"),
        format!("--out-log=out/{name}/log"),
        format!("--out-xml=out/{name}/test.xml"),
        format!("--out-undeclared=out/{name}/undeclared"),
    ];
    args.extend(tests.iter().map(|t| format!("--test={t}")));
    args.extend(extra.iter().map(|e| e.to_string()));
    args
}

fn request(id: i32, arguments: Vec<String>) -> WorkRequest {
    WorkRequest {
        arguments,
        request_id: id,
        ..WorkRequest::default()
    }
}

/// A running `bazel-worker --persistent_worker` with its responses arriving on a channel.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    responses: mpsc::Receiver<WorkResponse>,
}

impl Worker {
    fn start(execroot: &Path) -> Worker {
        Worker::start_with_tmp(execroot, &std::env::temp_dir())
    }

    fn start_with_tmp(execroot: &Path, tmp: &Path) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dx-py"))
            .args(["bazel-worker", "--persistent_worker"])
            .current_dir(execroot)
            .env("TMPDIR", tmp)
            // The snapshot's short summary would show whole messages on CI, as pytest's does.
            .env_remove("CI")
            .env_remove("BUILD_NUMBER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn worker");
        let mut stdout = child.stdout.take().expect("stdout");
        let (sender, responses) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(Some(response)) = read_frame::<WorkResponse>(&mut stdout) {
                if sender.send(response).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Worker {
            child,
            stdin,
            responses,
        }
    }

    fn send(&mut self, request: &WorkRequest) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        write_frame(stdin, request).expect("send request");
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("send bytes");
        stdin.flush().expect("flush");
    }

    fn receive(&self) -> WorkResponse {
        self.responses
            .recv_timeout(DEADLINE)
            .expect("a response before the deadline")
    }

    /// Waits for the process to exit (stdin closed or not); returns its code and stderr.
    fn wait(mut self, close_stdin: bool) -> (Option<i32>, String) {
        if close_stdin {
            drop(self.stdin.take());
        }
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
                }
                return (status.code(), stderr);
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("the worker did not exit within {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&dir.join("status"))).expect("status is JSON")
}

fn outcomes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The log without what differs between runs (timings).
fn stable_log(log: &str) -> String {
    log.lines()
        .map(|l| match l.find(" in ") {
            Some(i) if l.starts_with('=') => l[..i].to_owned(),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn persistent_worker_runs_concurrent_requests_and_writes_each_result() {
    let execroot = fixture_execroot();
    let root = execroot.path();
    let tmp = root.join("worker-tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    let mut worker = Worker::start_with_tmp(root, &tmp);
    worker.send(&request(1, action_args("a", &["pkg/test_a.py"], &[])));
    worker.send(&request(2, action_args("u", &["pkg/test_u.py"], &[])));
    worker.send(&request(3, action_args("h", &["pkg/test_h.py"], &[])));
    worker.send(&request(
        4,
        action_args("bad", &["pkg/test_u.py"], &["--frobnicate=1"]),
    ));
    let mut no_python = action_args("np", &["pkg/test_u.py"], &[]);
    no_python.retain(|a| !a.starts_with("--python="));
    worker.send(&request(5, no_python));
    let mut responses: BTreeMap<i32, WorkResponse> = BTreeMap::new();
    for _ in 0..5 {
        let response = worker.receive();
        assert!(!response.was_cancelled);
        responses.insert(response.request_id, response);
    }
    let (code, stderr) = worker.wait(true);
    assert_eq!(code, Some(0), "worker stderr: {stderr}");

    assert_eq!(
        responses.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    for id in [1, 2, 3] {
        assert_eq!(responses[&id].exit_code, 0, "{:?}", responses[&id]);
    }
    assert_ne!(responses[&4].exit_code, 0);
    assert!(
        responses[&4]
            .output
            .contains("unknown argument `--frobnicate=1`"),
        "{}",
        responses[&4].output
    );
    assert_ne!(responses[&5].exit_code, 0);
    assert!(
        responses[&5]
            .output
            .contains("missing required argument `--python`"),
        "{}",
        responses[&5].output
    );
    assert!(!root.join("out/bad/status").exists());

    // pytest tests with a conftest fixture and a failing test.
    let a = root.join("out/a");
    assert_eq!(status(&a)["exit_code"], 1);
    assert_eq!(status(&a)["failures"], 1);
    let log = read(&a.join("log"));
    assert!(log.contains("def test_fails():"), "{log}");
    assert!(log.contains("E       assert 4 == 5"), "{log}");
    assert!(log.contains("FAILED pkg/test_a.py::test_fails"), "{log}");
    assert!(log.contains("1 failed, 2 passed"), "{log}");
    insta::assert_snapshot!("failing_target_log", stable_log(&log));
    assert_eq!(
        junit(&a.join("test.xml")),
        outcomes(&[
            ("pkg.test_a::test_fails", "failed"),
            ("pkg.test_a::test_uses_fixture", "passed"),
            ("pkg.test_a::test_writes_undeclared", "passed"),
        ])
    );
    assert!(read(&a.join("test.xml")).contains(r#"<testsuite name="//pkg:a""#));
    assert_eq!(read(&a.join("undeclared/note.txt")), "hi");

    // unittest.
    let u = root.join("out/u");
    assert_eq!(status(&u)["exit_code"], 0);
    assert_eq!(
        junit(&u.join("test.xml")),
        outcomes(&[
            ("pkg.test_u.T::test_ok", "passed"),
            ("pkg.test_u.T::test_sees_the_test_environment", "passed"),
        ])
    );

    // Hermeticity: pkg/unlisted.py is on disk but not an input.
    let h = root.join("out/h");
    assert_eq!(status(&h)["exit_code"], 1);
    assert!(read(&h.join("log")).contains("ModuleNotFoundError: No module named 'unlisted'"));

    // The forests (made under the worker's TMPDIR) are gone.
    let leftovers: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("dxpy-runfiles-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn multiplex_requests_really_run_at_the_same_time() {
    let execroot = fixture_execroot();
    let root = execroot.path();
    let meeting = root.join("meeting");
    std::fs::create_dir_all(&meeting).expect("mkdir");
    let mut worker = Worker::start(root);
    for (id, me, other) in [(11, "left", "right"), (12, "right", "left")] {
        let env = [
            format!("--env=RENDEZVOUS={}", meeting.display()),
            format!("--env=ME={me}"),
            format!("--env=OTHER={other}"),
        ];
        let env: Vec<&str> = env.iter().map(String::as_str).collect();
        worker.send(&request(
            id,
            action_args(me, &["pkg/test_rendezvous.py"], &env),
        ));
    }
    let (first, second) = (worker.receive(), worker.receive());
    let (code, stderr) = worker.wait(true);
    assert_eq!(code, Some(0), "{stderr}");
    for response in [first, second] {
        assert_eq!(response.exit_code, 0, "{response:?}");
    }
    for side in ["left", "right"] {
        let log = read(&root.join("out").join(side).join("log"));
        assert_eq!(
            status(&root.join("out").join(side))["exit_code"],
            0,
            "{log}"
        );
    }
}

#[test]
fn one_shot_mode_writes_the_same_outputs_as_the_worker() {
    let execroot = fixture_execroot();
    let root = execroot.path();
    let mut worker = Worker::start(root);
    worker.send(&request(
        0,
        action_args("w", &["pkg/test_a.py", "pkg/test_h.py"], &[]),
    ));
    assert_eq!(worker.receive().exit_code, 0);
    let (code, _) = worker.wait(true);
    assert_eq!(code, Some(0));

    let argsfile = root.join("action.params");
    std::fs::write(
        &argsfile,
        action_args("o", &["pkg/test_a.py", "pkg/test_h.py"], &[]).join("\n"),
    )
    .expect("write argsfile");
    let out = Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .args(["bazel-worker", "@action.params"])
        .current_dir(root)
        .env_remove("CI")
        .env_remove("BUILD_NUMBER")
        .output()
        .expect("one-shot");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "one-shot mode printed to stdout");

    let (w, o) = (root.join("out/w"), root.join("out/o"));
    assert_eq!(status(&w), status(&o));
    // The two actions differ only in their target name.
    assert_eq!(
        stable_log(&read(&w.join("log"))).replace("//pkg:w", "//pkg:o"),
        stable_log(&read(&o.join("log")))
    );
    assert_eq!(junit(&w.join("test.xml")), junit(&o.join("test.xml")));
    assert!(read(&o.join("log")).contains("ModuleNotFoundError: No module named 'unlisted'"));
    assert_eq!(
        junit(&o.join("test.xml"))["pkg.test_h::test_import_unlisted"],
        "failed"
    );
}

#[test]
fn a_malformed_frame_ends_the_worker_with_an_error_without_waiting_for_stdin() {
    let execroot = fixture_execroot();
    let mut worker = Worker::start(execroot.path());
    // A 3-byte message whose first byte is an invalid tag (field 0): not a WorkRequest.
    worker.send_raw(&[3, 0x00, 0x01, 0x02]);
    // stdin stays open: the worker must exit on its own.
    let (code, stderr) = worker.wait(false);
    assert_ne!(code, Some(0));
    assert!(stderr.contains("bad request frame"), "{stderr}");
}

#[test]
fn a_cancel_request_stops_the_run_and_is_answered_as_cancelled() {
    let execroot = fixture_execroot();
    let mut worker = Worker::start(execroot.path());
    let started = Instant::now();
    worker.send(&request(7, action_args("slow", &["pkg/test_slow.py"], &[])));
    std::thread::sleep(Duration::from_secs(2));
    let mut cancel = request(7, Vec::new());
    cancel.cancel = true;
    worker.send(&cancel);
    let response = worker.receive();
    assert_eq!(response.request_id, 7);
    assert!(response.was_cancelled, "{response:?}");
    // The test sleeps 120 s: only a kill answers this soon.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let (code, _) = worker.wait(true);
    assert_eq!(code, Some(0));
}

#[test]
fn the_timeout_bounds_the_whole_run_and_is_recorded() {
    let execroot = fixture_execroot();
    let root = execroot.path();
    std::fs::write(
        root.join("slow.params"),
        action_args("slow", &["pkg/test_slow.py"], &["--timeout=3"]).join("\n"),
    )
    .expect("argsfile");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .args(["bazel-worker", "@slow.params"])
        .current_dir(root)
        .output()
        .expect("one-shot");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = status(&root.join("out/slow"));
    assert_eq!(recorded["timed_out"], true);
    assert_ne!(recorded["exit_code"], 0);
    assert!(read(&root.join("out/slow/log")).contains("Timeout"));
}

/// Lays out a runfiles tree from an execroot whose action ran: sources under `_main/` and
/// `other/`, the action's outputs under `_main/out/<name>/`, and the test argsfile.
fn runfiles_tree(execroot: &Path, name: &str, tests: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let runfiles = tempfile::tempdir().expect("runfiles");
    let rf = runfiles.path();
    copy_tree(&execroot.join("pkg"), &rf.join("_main/pkg"));
    copy_tree(&execroot.join("external/other"), &rf.join("other"));
    copy_tree(
        &execroot.join("out").join(name),
        &rf.join("_main/out").join(name),
    );
    let mut lines = vec![
        format!("--target=//pkg:{name}"),
        "--main-repo=_main".to_owned(),
        format!("--python={}", python_executable().display()),
        format!("--worker-package={}", worker_package().display()),
        "--input=_main/pkg/conftest.py".to_owned(),
        "--input=other/lib/helper.py".to_owned(),
        "--import-root=other/lib".to_owned(),
        "--env=GREETING=hi".to_owned(),
        format!("--result-status=_main/out/{name}/status"),
        format!("--result-log=_main/out/{name}/log"),
        format!("--result-xml=_main/out/{name}/test.xml"),
        format!("--result-undeclared=_main/out/{name}/undeclared"),
    ];
    lines.extend(tests.iter().map(|t| format!("--test=_main/{t}")));
    let argsfile = rf.join(format!("_main/pkg/{name}.test_args"));
    std::fs::write(&argsfile, lines.join("\n")).expect("argsfile");
    (runfiles, argsfile)
}

/// The one-shot DxPyTest action `name` with `args` (its argsfile), run in `execroot`.
fn action_output(execroot: &Path, name: &str, args: &[String]) -> std::process::Output {
    let params = execroot.join(format!("{name}.params"));
    std::fs::write(&params, args.join("\n")).expect("argsfile");
    Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .arg("bazel-worker")
        .arg(format!("@{}", params.display()))
        .current_dir(execroot)
        .output()
        .expect("action")
}

/// The action for `tests` with `extra` arguments, which must succeed.
fn run_action_with(execroot: &Path, name: &str, tests: &[&str], extra: &[&str]) {
    let out = action_output(execroot, name, &action_args(name, tests, extra));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_action(execroot: &Path, name: &str, tests: &[&str]) {
    run_action_with(execroot, name, tests, &[]);
}

struct TestRun {
    code: Option<i32>,
    stdout: String,
}

/// `bazel-test` in a Bazel-like clean environment plus `env`.
fn bazel_test(argsfile: &Path, env: &[(&str, &Path)], extra: &[(&str, &str)]) -> TestRun {
    bazel_test_with_args(argsfile, &[], env, extra)
}

/// `bazel-test @argsfile ARGS...` (`--test_arg`).
fn bazel_test_with_args(
    argsfile: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
    extra: &[(&str, &str)],
) -> TestRun {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dx-py"));
    cmd.arg("bazel-test")
        .arg(format!("@{}", argsfile.display()))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GREETING", "hi");
    for (k, v) in env {
        cmd.env(k, v);
        if *k == "TEST_SRCDIR" {
            // What Bazel's test-setup.sh provides besides.
            cmd.env("TEST_WORKSPACE", "_main")
                .env("TEST_TMPDIR", std::env::temp_dir());
        }
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("bazel-test");
    TestRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

#[test]
fn bazel_test_replays_a_recorded_pass_and_executes_when_bazel_asks_for_a_real_run() {
    let execroot = fixture_execroot();
    run_action(execroot.path(), "a", &["pkg/test_a.py", "pkg/test_u.py"]);
    run_action(execroot.path(), "u", &["pkg/test_u.py"]);
    let scratch = tempfile::tempdir().expect("scratch");
    let xml = scratch.path().join("test.xml");
    let undeclared = scratch.path().join("undeclared");
    std::fs::create_dir_all(&undeclared).expect("mkdir");

    // A recorded pass, plain `bazel test`: replay.
    let (rf_u, args_u) = runfiles_tree(execroot.path(), "u", &["pkg/test_u.py"]);
    let env = [
        ("TEST_SRCDIR", rf_u.path()),
        ("XML_OUTPUT_FILE", xml.as_path()),
        ("TEST_UNDECLARED_OUTPUTS_DIR", undeclared.as_path()),
    ];
    let replay = bazel_test(&args_u, &env, &[]);
    assert_eq!(replay.code, Some(0), "{}", replay.stdout);
    let mut lines = replay.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("dx-py: replaying the result of the DxPyTest action")
    );
    assert!(replay
        .stdout
        .contains(&read(&rf_u.path().join("_main/out/u/log"))));
    assert_eq!(
        junit(&xml),
        outcomes(&[
            ("pkg.test_u.T::test_ok", "passed"),
            ("pkg.test_u.T::test_sees_the_test_environment", "passed"),
        ])
    );

    // `--test_env` beyond the rule's env: execute.
    let extra_env = bazel_test(&args_u, &env, &[("SOMETHING_ELSE", "1")]);
    assert!(
        extra_env.stdout.starts_with(
            "dx-py: executing tests in the test action (reason: --test_env SOMETHING_ELSE)"
        ),
        "{}",
        extra_env.stdout
    );
    assert_eq!(extra_env.code, Some(0));

    // `--test_arg`: pytest arguments the recorded run did not have.
    let with_args = bazel_test_with_args(&args_u, &["-k", "test_ok"], &env, &[]);
    assert_eq!(with_args.code, Some(0), "{}", with_args.stdout);
    assert!(
        with_args
            .stdout
            .starts_with("dx-py: executing tests in the test action (reason: --test_arg)"),
        "{}",
        with_args.stdout
    );
    assert_eq!(
        junit(&xml),
        outcomes(&[("pkg.test_u.T::test_ok", "passed")])
    );

    // A recorded failure is re-run for real (flaky_test_attempts), with its undeclared outputs.
    let (rf_a, args_a) = runfiles_tree(execroot.path(), "a", &["pkg/test_a.py", "pkg/test_u.py"]);
    let env_a = [
        ("TEST_SRCDIR", rf_a.path()),
        ("XML_OUTPUT_FILE", xml.as_path()),
        ("TEST_UNDECLARED_OUTPUTS_DIR", undeclared.as_path()),
    ];
    let rerun = bazel_test(&args_a, &env_a, &[]);
    assert_eq!(rerun.code, Some(1), "{}", rerun.stdout);
    assert!(rerun.stdout.starts_with(
        "dx-py: executing tests in the test action (reason: the recorded result is not a pass)"
    ));
    assert!(
        rerun.stdout.contains("E       assert 4 == 5"),
        "{}",
        rerun.stdout
    );
    assert_eq!(read(&undeclared.join("note.txt")), "hi");
    assert_eq!(junit(&xml).len(), 5);

    // --test_filter: -k over the target's tests.
    let filtered = bazel_test(
        &args_a,
        &env_a,
        &[("TESTBRIDGE_TEST_ONLY", "fixture or test_ok")],
    );
    assert_eq!(filtered.code, Some(0), "{}", filtered.stdout);
    assert!(filtered.stdout.contains("reason: --test_filter"));
    assert_eq!(
        junit(&xml),
        outcomes(&[
            ("pkg.test_a::test_uses_fixture", "passed"),
            ("pkg.test_u.T::test_ok", "passed"),
        ])
    );

    // Sharding: round-robin over the sorted node IDs; the status file is touched.
    let shard_file = scratch.path().join("shard_status");
    let mut seen = BTreeMap::new();
    for index in ["0", "1", "2"] {
        let sharded = bazel_test(
            &args_a,
            &[
                ("TEST_SRCDIR", rf_a.path()),
                ("XML_OUTPUT_FILE", xml.as_path()),
                ("TEST_UNDECLARED_OUTPUTS_DIR", undeclared.as_path()),
                ("TEST_SHARD_STATUS_FILE", shard_file.as_path()),
            ],
            &[("TEST_TOTAL_SHARDS", "3"), ("TEST_SHARD_INDEX", index)],
        );
        assert!(
            sharded.stdout.contains("reason: sharding"),
            "{}",
            sharded.stdout
        );
        let got = junit(&xml);
        let expected_code = if got.values().any(|o| o == "failed") {
            1
        } else {
            0
        };
        assert_eq!(sharded.code, Some(expected_code), "{}", sharded.stdout);
        for (id, outcome) in got {
            assert!(
                seen.insert(id, (index, outcome)).is_none(),
                "a test ran in two shards"
            );
        }
    }
    assert!(shard_file.exists());
    // More shards than tests: an empty shard passes without starting Python.
    let empty = bazel_test(
        &args_a,
        &[("TEST_SRCDIR", rf_a.path())],
        &[("TEST_TOTAL_SHARDS", "9"), ("TEST_SHARD_INDEX", "8")],
    );
    assert_eq!(empty.code, Some(0), "{}", empty.stdout);
    assert!(empty.stdout.contains("has no tests"), "{}", empty.stdout);
    // Sorted IDs: test_fails, test_uses_fixture, test_writes_undeclared, T::test_ok,
    // T::test_sees_the_test_environment.
    let shard_of = |id: &str| seen[id].0;
    assert_eq!(shard_of("pkg.test_a::test_fails"), "0");
    assert_eq!(shard_of("pkg.test_a::test_uses_fixture"), "1");
    assert_eq!(shard_of("pkg.test_a::test_writes_undeclared"), "2");
    assert_eq!(shard_of("pkg.test_u.T::test_ok"), "0");
    assert_eq!(
        shard_of("pkg.test_u.T::test_sees_the_test_environment"),
        "1"
    );
    assert_eq!(seen.len(), 5);

    // A direct run: no TEST_SRCDIR, runfiles found from the argsfile, terminal output.
    let run = bazel_test(&args_u, &[], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let executing = "dx-py: executing tests in the test action (reason: not under `bazel test` \
                     (`bazel run` or a direct run))";
    assert!(run.stdout.starts_with(executing), "{}", run.stdout);
    assert!(run.stdout.contains("1 passed"), "{}", run.stdout);

    // `bazel run` of the test target: Bazel 7 sets TEST_SRCDIR, and BUILD_WORKSPACE_DIRECTORY.
    let workspace = tempfile::tempdir().expect("workspace");
    let env_run = [
        ("TEST_SRCDIR", rf_u.path()),
        ("BUILD_WORKSPACE_DIRECTORY", workspace.path()),
    ];
    let run = bazel_test(&args_u, &env_run, &[]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stdout.starts_with(executing), "{}", run.stdout);
}

/// Without a `config` attribute no pytest config may be found above the tree: in the worker
/// the forest sits in the temp directory, and a non-sandboxed execroot links the workspace's
/// undeclared top-level files. Such an ini here would deselect every test.
#[test]
fn an_undeclared_pytest_ini_above_the_tree_is_never_read() {
    const DESELECT_ALL: &str = "[pytest]\naddopts = -k nothing_is_named_like_this\n";
    let execroot = fixture_execroot();
    let root = execroot.path();
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("pytest.ini"), DESELECT_ALL).expect("ini");
    let params = root.join("u.params");
    std::fs::write(
        &params,
        action_args("u", &["pkg/test_u.py"], &[]).join("\n"),
    )
    .expect("args");
    let out = Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .arg("bazel-worker")
        .arg(format!("@{}", params.display()))
        .current_dir(root)
        .env("TMPDIR", tmp.path())
        .output()
        .expect("action");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = outcomes(&[
        ("pkg.test_u.T::test_ok", "passed"),
        ("pkg.test_u.T::test_sees_the_test_environment", "passed"),
    ]);
    assert_eq!(junit(&root.join("out/u/test.xml")), expected);

    // The test action's real run: the ini sits at the runfiles root, above `_main`.
    let (rf, argsfile) = runfiles_tree(root, "u", &["pkg/test_u.py"]);
    std::fs::write(rf.path().join("pytest.ini"), DESELECT_ALL).expect("ini");
    let xml = tmp.path().join("test.xml");
    let env = [
        ("TEST_SRCDIR", rf.path()),
        ("XML_OUTPUT_FILE", xml.as_path()),
    ];
    let run = bazel_test(&argsfile, &env, &[("DXPY_BAZEL_EXECUTE", "1")]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert_eq!(junit(&xml), expected);
}

/// The persistent worker keeps one zygote for all requests on the same interpreter: both
/// requests' interpreters are children of the same zygote, not of the worker, and the
/// zygote is the worker's child. (One-shot actions spawn: see the other tests.)
#[test]
fn persistent_worker_forks_every_request_from_one_zygote() {
    let execroot = fixture_execroot();
    let root = execroot.path();
    let mut worker = Worker::start(root);
    let worker_pid = worker.child.id().to_string();
    for (id, name) in [(1, "first"), (2, "second")] {
        worker.send(&request(
            id,
            action_args(name, &["pkg/test_parent.py"], &[]),
        ));
        let response = worker.receive();
        assert_eq!(response.exit_code, 0, "{}", response.output);
        assert_eq!(status(&root.join("out").join(name))["exit_code"], 0);
    }
    let parent_of = |name: &str| read(&root.join("out").join(name).join("undeclared/parent"));
    let zygote = parent_of("first").trim().to_owned();
    assert_eq!(
        zygote,
        parent_of("second").trim(),
        "both requests forked from one zygote"
    );
    assert_ne!(zygote, worker_pid, "interpreters were spawned, not forked");
    let stat = read(&Path::new("/proc").join(&zygote).join("stat"));
    let ppid = stat
        .rsplit(')')
        .next()
        .and_then(|rest| rest.split_whitespace().nth(1));
    assert_eq!(
        ppid,
        Some(worker_pid.as_str()),
        "the zygote is the worker's child"
    );
    let (code, stderr) = worker.wait(true);
    assert_eq!(code, Some(0), "{stderr}");
}

/// Per file of an LCOV report: the executable lines and the lines that ran.
fn lcov_lines(text: &str) -> BTreeMap<String, (Vec<u32>, Vec<u32>)> {
    let mut files: BTreeMap<String, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(file) = line.strip_prefix("SF:") {
            current = Some(file.to_owned());
        } else if let (Some(file), Some(da)) = (&current, line.strip_prefix("DA:")) {
            let mut fields = da.split(',');
            let number: u32 = fields.next().and_then(|n| n.parse().ok()).expect("DA line");
            let hits: u64 = fields.next().and_then(|n| n.parse().ok()).expect("DA hits");
            let entry = files.entry(file.clone()).or_default();
            entry.0.push(number);
            if hits > 0 {
                entry.1.push(number);
            }
        }
    }
    files
}

/// `bazel coverage`'s arguments over the fixture: every Python file the run imports.
const COVERAGE_SOURCES: [&str; 3] = [
    "pkg/conftest.py",
    "pkg/test_a.py",
    "external/other/lib/helper.py",
];

#[test]
fn bazel_coverage_records_coverage_pys_lcov_and_the_test_action_replays_or_measures_it() {
    let execroot = fixture_execroot();
    let root = execroot.path();
    let scratch = tempfile::tempdir().expect("scratch");
    // test_fails (which calls helper.double) deselected: a pass, with a line never run.
    let mut extra: Vec<String> = vec![
        "--pytest-arg=-k".into(),
        "--pytest-arg=not test_fails".into(),
    ];
    extra.extend(
        COVERAGE_SOURCES
            .iter()
            .map(|s| format!("--coverage-source={s}")),
    );
    extra.push("--out-coverage=out/c/coverage.dat".into());
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    run_action_with(root, "c", &["pkg/test_a.py"], &extra);
    assert_eq!(status(&root.join("out/c"))["exit_code"], 0);
    let recorded = read(&root.join("out/c/coverage.dat"));

    // coverage.py's own report of the same tests under pytest, named relative to the tree.
    std::fs::write(root.join("reference.ini"), "[pytest]\n").expect("ini");
    let reference = scratch.path().join("reference.lcov");
    let pytest = Command::new(python_executable())
        .args([
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-c",
            "reference.ini",
        ])
        .args(["-k", "not test_fails", "--cov", "--cov-branch"])
        .arg(format!("--cov-report=lcov:{}", reference.display()))
        .arg("pkg/test_a.py")
        .current_dir(root)
        .env("PYTHONPATH", root.join("external/other/lib"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("COVERAGE_FILE", scratch.path().join(".coverage"))
        .env("TEST_UNDECLARED_OUTPUTS_DIR", scratch.path())
        .output()
        .expect("pytest --cov");
    assert_eq!(
        pytest.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&pytest.stdout)
    );
    let expected = lcov_lines(&read(&reference));
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "external/other/lib/helper.py",
            "pkg/conftest.py",
            "pkg/test_a.py"
        ]
    );
    assert_eq!(lcov_lines(&recorded), expected, "{recorded}");
    let (helper_lines, helper_hit) = &expected["external/other/lib/helper.py"];
    assert!(
        helper_hit.len() < helper_lines.len(),
        "helper.double's body never runs"
    );

    // The test action: the argsfile in runfiles form, plus coverage's lines.
    let (rf, argsfile) = runfiles_tree(root, "c", &["pkg/test_a.py"]);
    let mut lines = read(&argsfile);
    lines.push_str("\n--pytest-arg=-k\n--pytest-arg=not test_fails\n");
    for source in COVERAGE_SOURCES {
        let runfiles = source
            .strip_prefix("external/")
            .map_or_else(|| format!("_main/{source}"), str::to_owned);
        lines.push_str(&format!("--coverage-source={runfiles}\n"));
    }
    lines.push_str("--result-coverage=_main/out/c/coverage.dat\n");
    std::fs::write(&argsfile, lines).expect("argsfile");
    let lcov = scratch.path().join("coverage.dat");
    let env = [
        ("TEST_SRCDIR", rf.path()),
        ("TEST_UNDECLARED_OUTPUTS_DIR", scratch.path()),
        ("COVERAGE_OUTPUT_FILE", lcov.as_path()),
        ("COVERAGE_DIR", scratch.path()),
    ];
    // Bazel's coverage variables: a replay, of the recorded report too.
    let replay = bazel_test(&argsfile, &env, &[("COVERAGE", "1")]);
    assert_eq!(replay.code, Some(0), "{}", replay.stdout);
    assert!(
        replay.stdout.starts_with("dx-py: replaying"),
        "{}",
        replay.stdout
    );
    assert_eq!(read(&lcov), recorded);

    // A real run (--test_filter) measures itself: the same lines.
    std::fs::remove_file(&lcov).expect("rm");
    let real = bazel_test(
        &argsfile,
        &env,
        &[("TESTBRIDGE_TEST_ONLY", "not test_fails")],
    );
    assert_eq!(real.code, Some(0), "{}", real.stdout);
    assert!(
        real.stdout.starts_with("dx-py: executing"),
        "{}",
        real.stdout
    );
    assert_eq!(lcov_lines(&read(&lcov)), expected);
}

#[test]
fn bazel_coverage_without_coverage_py_in_the_interpreter_fails_with_one_message() {
    let execroot = fixture_execroot();
    let root = execroot.path();
    // A real interpreter without coverage.py (nor pytest-cov): a bare venv.
    let venv = root.join("bare-venv");
    let made = Command::new(python_executable())
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .output()
        .expect("venv");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let bare = venv.join("bin/python");
    let mut args = action_args(
        "m",
        &["pkg/test_a.py"],
        &[
            "--coverage-source=pkg/conftest.py",
            "--out-coverage=out/m/coverage.dat",
        ],
    );
    for arg in &mut args {
        if arg.starts_with("--python=") {
            *arg = format!("--python={}", bare.display());
        }
    }
    let out = action_output(root, "m", &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "bazel coverage needs coverage.py and pytest-cov in the Python toolchain's interpreter"
        ) && stderr.contains("No module named 'coverage'"),
        "{stderr}"
    );
}
