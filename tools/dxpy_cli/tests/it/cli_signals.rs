//! Signals to a running `dx-py test`: a second Ctrl-C ends it at once even while its report is
//! stuck (a paused pager), two quick ones and SIGTERM end it too, and in every case no process
//! it started is left running. (The first Ctrl-C's graceful stop, with its KeyboardInterrupt
//! report, is `cli_test.rs`'s `ctrl_c_flushes_partial_results_and_leaves_no_workers`.)
//!
//! No step waits on a guessed delay: the tests wait for marker files the suite writes, for
//! output dx-py prints, or for a process state, each with a generous bound.

use std::io::Read as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dxpy_test_support::{clean, python, write};
use rustix::process::{kill_process, Pid, Signal};

/// Long enough for a loaded two-core machine to start the workers and run a test.
const PATIENCE: Duration = Duration::from_secs(120);

/// A test that writes `$DXPY_MARKER_<name>` and then sleeps far past any test's patience.
fn sleeper(name: &str) -> String {
    format!(
        "import os\nimport time\n\n\ndef test_{name}():\n    \
         open(os.environ['DXPY_MARKER_{name}'], 'w').close()\n    time.sleep(600)\n"
    )
}

fn spawn_dx_py(root: &Path, args: &[&str], markers: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dx-py"));
    cmd.arg("test")
        .args(["--python", &python()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in markers {
        cmd.env(format!("DXPY_MARKER_{name}"), root.join(name));
    }
    clean(&mut cmd, root);
    cmd.spawn().expect("spawn dx-py")
}

fn wait_for_markers(root: &Path, markers: &[&str], child: &mut Child) {
    let start = Instant::now();
    while !markers.iter().all(|m| root.join(m).exists()) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("dx-py ended ({status}) before its tests started");
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the sleeping tests never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid")).expect("pid");
    kill_process(pid, signal).expect("signal dx-py");
}

/// The exit status, or `None` when the process is still running after `limit`.
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails the test (after killing dx-py) unless it exits within `limit`.
fn expect_exit(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    match wait_at_most(child, limit) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dx-py was still running {limit:?} after {what}");
        }
    }
}

/// The state and the parent pid in `/proc/PID/stat`; `None` once the process is gone.
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

fn cmdline(pid: u32) -> String {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&bytes).replace('\0', " ")
}

/// Every process below `root`, with its command line.
fn descendants(root: u32) -> Vec<(u32, String)> {
    let mut parent = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((_, ppid)) = stat(pid) {
            parent.push((pid, ppid));
        }
    }
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &(pid, _) in parent.iter().filter(|(_, ppid)| *ppid == p) {
            found.push((pid, cmdline(pid)));
            todo.push(pid);
        }
    }
    found
}

/// dx-py's workers (zygote, forks or spawned interpreters), once `count` of them run.
fn workers_of(child: &Child, count: usize) -> Vec<(u32, String)> {
    let start = Instant::now();
    loop {
        let all = descendants(child.id());
        let workers = all
            .iter()
            .filter(|(_, c)| c.contains("dxpy_worker"))
            .count();
        if workers >= count {
            return all;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "fewer than {count} workers: {all:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts none of `processes` still runs (a zombie runs nothing: reaping it is its new
/// parent's job once dx-py is gone). Killed processes take a moment to die: bounded wait.
fn assert_all_gone(processes: &[(u32, String)], what: &str) {
    let running = || -> Vec<&(u32, String)> {
        processes
            .iter()
            .filter(|(pid, _)| stat(*pid).is_some_and(|(state, _)| state != 'Z'))
            .collect()
    };
    let start = Instant::now();
    while !running().is_empty() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = running();
    for (pid, _) in &left {
        let _ = kill_process(
            Pid::from_raw(i32::try_from(*pid).expect("pid")).expect("pid"),
            Signal::KILL,
        );
    }
    assert!(
        left.is_empty(),
        "processes left running after {what}: {left:#?}"
    );
}

/// Reads dx-py's stdout until `needle` appears, then stops reading and hands the pipe back
/// open: from then on whatever dx-py writes piles up in it, as behind a paused pager.
fn read_until(stdout: ChildStdout, needle: &'static str) -> ChildStdout {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = stdout;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            if String::from_utf8_lossy(&seen).contains(needle) {
                let _ = tx.send(stdout);
                return;
            }
        }
    });
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("dx-py never printed {needle:?}"))
}

/// The first Ctrl-C stops the run, but its report (a failure's 300 kB of captured output) is
/// stuck on a pipe nobody reads; the second Ctrl-C ends dx-py at once with pytest's
/// interrupted code, 2.
#[test]
fn a_second_ctrl_c_exits_at_once_while_the_report_is_stuck() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(root, "pytest.ini", "[pytest]\n");
    write(
        root,
        "test_stuck.py",
        format!(
            "def test_loud_failure():\n    print('x' * 300_000)\n    assert 0\n\n\n{}",
            sleeper("stuck")
        ),
    );
    let mut child = spawn_dx_py(root, &["-n", "1"], &["stuck"]);
    let stdout = child.stdout.take().expect("stdout");
    // The failure's progress letter, after the header's blank line.
    let _stdout = read_until(stdout, "\n\nF");
    wait_for_markers(root, &["stuck"], &mut child);
    let processes = workers_of(&child, 1);
    signal(&child, Signal::INT);
    // dx-py now writes its report into the full pipe and stays blocked there.
    assert!(
        wait_at_most(&mut child, Duration::from_secs(3)).is_none(),
        "precondition: the report did not block on the unread pipe"
    );
    signal(&child, Signal::INT);
    let status = expect_exit(&mut child, Duration::from_secs(30), "the second Ctrl-C");
    assert_eq!(status.code(), Some(2), "{status}");
    assert_all_gone(&processes, "the second Ctrl-C");
}

/// A run with two workers, each asleep in a test: the dx-py child and every process below it.
fn two_workers_in_sleeping_tests() -> (tempfile::TempDir, Child, Vec<(u32, String)>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(root, "pytest.ini", "[pytest]\n");
    write(root, "test_one.py", sleeper("one"));
    write(root, "test_two.py", sleeper("two"));
    let mut child = spawn_dx_py(root, &["-n", "2"], &["one", "two"]);
    wait_for_markers(root, &["one", "two"], &mut child);
    let processes = workers_of(&child, 2);
    (tmp, child, processes)
}

/// Two Ctrl-Cs in a row while two workers sleep in tests: dx-py exits with code 2 and takes
/// every worker (the zygote and its forks) with it, whichever Ctrl-C ended it.
#[test]
fn two_quick_ctrl_cs_exit_with_code_2_and_leave_no_process() {
    let (_tmp, mut child, processes) = two_workers_in_sleeping_tests();
    signal(&child, Signal::INT);
    signal(&child, Signal::INT);
    let status = expect_exit(&mut child, Duration::from_secs(60), "two Ctrl-Cs");
    assert_eq!(status.code(), Some(2), "{status}");
    assert_all_gone(&processes, "two Ctrl-Cs");
}

/// SIGTERM ends dx-py as it ends any process (by the signal), after it killed its workers.
#[test]
fn sigterm_ends_dx_py_and_its_workers() {
    let (_tmp, mut child, processes) = two_workers_in_sleeping_tests();
    signal(&child, Signal::TERM);
    let status = expect_exit(&mut child, Duration::from_secs(60), "SIGTERM");
    assert_eq!(status.signal(), Some(15), "{status}");
    assert_all_gone(&processes, "SIGTERM");
}
