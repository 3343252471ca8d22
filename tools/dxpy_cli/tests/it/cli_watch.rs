//! `dx-py test --watch`: a real watcher over a temporary project, driven by real file edits
//! (edit, break, fix, add, delete, a syntax error mid-edit), its piped output checked after
//! each one against what pytest says of the same tree.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dxpy_test_support::{pytest, python, summary, write};

const WAITING: &str = "dx-py: watching for changes";

/// A running `dx-py test --watch -q` and the lines of its stdout.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    fn start(root: &Path) -> Watch {
        Watch::start_with_stdin(root, Stdio::null())
    }

    fn start_with_stdin(root: &Path, stdin: Stdio) -> Watch {
        let mut cmd = Command::new(crate::dx_py_bin());
        cmd.args(["test", "--watch", "-q", "--python", &python()]);
        dxpy_test_support::clean(&mut cmd, root);
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    /// Everything printed up to the next "watching" line (one run's report).
    fn next_report(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut report = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| {
                panic!("no report within 60 s; so far:\n{}", report.join("\n"))
            });
            if line.starts_with(WAITING) {
                return report.join("\n");
            }
            report.push(line);
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The summary counts of a watch report, without `(N cached)`.
fn counts(report: &str) -> String {
    let line = summary(report);
    match line.rsplit_once(" (") {
        Some((counts, cached)) if cached.ends_with(" cached)") => counts.to_owned(),
        _ => line,
    }
}

fn pytest_counts(root: &Path) -> String {
    summary(&pytest(root, &["-p", "no:cacheprovider"]).output)
}

/// Edits land in a new second so that no filesystem timestamp can hide them.
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn each_edit_reruns_what_it_affects_and_reports_like_pytest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("proj");
    write(&root, "pytest.ini", "[pytest]\n");
    write(
        &root,
        "lib.py",
        "def one():\n    return 1\n\n\ndef two():\n    return 2\n",
    );
    write(
        &root,
        "test_one.py",
        "from lib import one\n\n\ndef test_one():\n    assert one() == 1\n",
    );
    write(
        &root,
        "test_two.py",
        "from lib import two\n\n\ndef test_two():\n    assert two() == 2\n",
    );
    let watch = Watch::start(&root);
    let first = watch.next_report();
    assert_eq!(counts(&first), pytest_counts(&root), "{first}");

    let steps: &[(&str, Option<&str>, &str)] = &[
        // break a function one test runs: that test runs, and fails
        (
            "lib.py",
            Some("def one():\n    return 0\n\n\ndef two():\n    return 2\n"),
            "changed: lib.py",
        ),
        // fix it
        (
            "lib.py",
            Some("def one():\n    return 1\n\n\ndef two():\n    return 2\n"),
            "changed: lib.py",
        ),
        // add a test module
        (
            "test_three.py",
            Some("def test_three():\n    pass\n"),
            "changed: test_three.py",
        ),
        // a syntax error mid-edit: reported, and watching goes on
        (
            "test_three.py",
            Some("def test_three(:\n"),
            "changed: test_three.py",
        ),
        // finished editing
        (
            "test_three.py",
            Some("def test_three():\n    assert 3\n"),
            "changed: test_three.py",
        ),
        // delete it
        ("test_three.py", None, "changed: test_three.py"),
    ];
    for (file, text, announced) in steps {
        settle();
        match text {
            Some(text) => write(&root, file, text),
            None => std::fs::remove_file(root.join(file)).expect("rm"),
        }
        let report = watch.next_report();
        assert!(report.contains(announced), "{report}");
        if text.is_some_and(|t| t.contains("(:")) {
            assert!(
                report.contains("ERROR collecting test_three.py"),
                "{report}"
            );
            assert!(report.contains("SyntaxError"), "{report}");
            continue;
        }
        assert_eq!(
            counts(&report),
            pytest_counts(&root),
            "after {file}:\n{report}"
        );
    }
    // Only what the edit reaches ran: editing `two` replays test_one.
    settle();
    write(
        &root,
        "lib.py",
        "def one():\n    return 1\n\n\ndef two():\n    return 1 + 1\n",
    );
    let report = watch.next_report();
    assert!(report.contains("(1 cached)"), "{report}");
    assert_eq!(counts(&report), "2 passed", "{report}");
}

/// A pseudo-terminal: the watcher reads keys from its end, the test types on the other.
struct Terminal {
    keyboard: std::fs::File,
    screen: std::fs::File,
}

impl Terminal {
    fn open() -> Terminal {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let screen = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().expect("utf-8 pty name"))
            .expect("open the terminal's end");
        Terminal {
            keyboard: std::fs::File::from(master),
            screen,
        }
    }

    fn type_key(&mut self, key: u8) {
        use std::io::Write as _;
        self.keyboard.write_all(&[key]).expect("type");
    }
}

#[test]
fn keys_on_a_terminal_run_all_the_failures_or_quit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("proj");
    write(&root, "pytest.ini", "[pytest]\n");
    write(&root, "test_ok.py", "def test_ok():\n    pass\n");
    write(&root, "test_bad.py", "def test_bad():\n    assert 1 == 2\n");
    let mut terminal = Terminal::open();
    let stdin = terminal.screen.try_clone().expect("dup");
    let mut watch = Watch::start_with_stdin(&root, Stdio::from(stdin));
    let first = watch.next_report();
    assert_eq!(counts(&first), pytest_counts(&root), "{first}");

    // f: only last run's failures run.
    terminal.type_key(b'f');
    let failures = watch.next_report();
    assert!(
        failures.contains("FAILED test_bad.py::test_bad"),
        "{failures}"
    );
    assert!(
        !failures.contains("passed"),
        "f ran a passing test:\n{failures}"
    );

    // a: everything runs again, nothing replayed.
    terminal.type_key(b'a');
    let all = watch.next_report();
    assert_eq!(summary(&all), pytest_counts(&root), "{all}");

    // Enter is `a` too.
    terminal.type_key(b'\n');
    let again = watch.next_report();
    assert_eq!(summary(&again), pytest_counts(&root), "{again}");

    // q: the watcher ends, with the last run's exit code (a test failed: 1).
    terminal.type_key(b'q');
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = watch.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "q did not end the watcher");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
}
