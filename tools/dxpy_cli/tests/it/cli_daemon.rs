//! The per-project daemon (`dx-py daemon`, and `dx-py test` through it): lifecycle, file
//! permissions, replacing stale sockets and other builds, results equal to `--no-daemon`,
//! reuse of one zygote, rebuilding it on a new distribution or a changed start-up variable,
//! concurrent clients, Ctrl-C, spare workers, and no process left after `daemon stop` or
//! SIGTERM.
//!
//! Every test opts in to the daemon (`dxpy_test_support::clean` turns it off) and stops its
//! daemon when it ends, failed or not.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dxpy_test_support::{clean, junit, python, write, Project, Run};

/// Long enough for a loaded two-core machine to start interpreters and run a test.
const PATIENCE: Duration = Duration::from_secs(120);

const FAILING: &[(&str, &str)] = &[
    ("pytest.ini", "[pytest]\n"),
    (
        "test_mixed.py",
        "import sys\n\nimport pytest\n\n\ndef test_ok():\n    assert True\n\n\n\
         def test_bad():\n    print('to stdout')\n    print('to stderr', file=sys.stderr)\n    \
         assert 1 + 1 == 3\n\n\n@pytest.mark.parametrize('n', [1, 2])\ndef test_param(n):\n    \
         assert n == 1\n",
    ),
    ("sub/test_more.py", "def test_more():\n    pass\n"),
];

/// A project whose daemon is stopped when this is dropped.
struct Daemonized {
    project: Project,
    python: String,
}

impl Daemonized {
    fn new(files: &[(&str, &str)]) -> Daemonized {
        Daemonized::with_python(files, python())
    }

    fn with_python(files: &[(&str, &str)], python: String) -> Daemonized {
        Daemonized {
            project: Project::in_subdir("proj").files(files),
            python,
        }
    }

    fn root(&self) -> &Path {
        self.project.root()
    }

    /// `dx-py ARGS` in the project, the daemon allowed.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::dx_py_bin());
        cmd.args(args);
        clean(&mut cmd, self.root());
        cmd.env_remove("DXPY_NO_DAEMON");
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(args);
        let start = Instant::now();
        let out = cmd.output().expect("spawn dx-py");
        Run {
            code: out.status.code().unwrap_or(-1),
            output: String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
            elapsed: start.elapsed(),
        }
    }

    /// `dx-py test --python PY ARGS`: stdout, stderr and exit code apart.
    fn test(&self, args: &[&str]) -> (String, String, i32) {
        let mut cmd = self.command(&["test", "--python", &self.python]);
        cmd.args(args);
        let out = cmd.output().expect("spawn dx-py");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    }

    fn daemon(&self, action: &str) -> Run {
        self.run(&["daemon", action, "--python", &self.python])
    }

    /// `daemon status` as field → value; `None` when no daemon runs.
    fn status(&self) -> Option<std::collections::BTreeMap<String, String>> {
        let run = self.daemon("status");
        if run.code != 0 {
            assert_eq!(run.code, 1, "{}", run.output);
            return None;
        }
        Some(
            run.output
                .lines()
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    fn field(&self, name: &str) -> String {
        let status = self.status().expect("a daemon runs");
        status[name].clone()
    }

    fn socket(&self) -> PathBuf {
        PathBuf::from(self.field("socket"))
    }
}

impl Drop for Daemonized {
    fn drop(&mut self) {
        let _ = self.daemon("stop");
    }
}

/// Timings differ from run to run; everything else must not.
fn untimed(text: &str) -> String {
    text.lines()
        .map(|line| match line.rfind(" in ") {
            Some(at) if line.ends_with('=') || line.trim_end().ends_with('s') => {
                let (head, tail) = line.split_at(at);
                let rest: String = tail
                    .chars()
                    .skip(4)
                    .skip_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                format!("{head} in T{rest}")
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
        })
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Every process below `pid`, from /proc.
fn descendants(pid: &str) -> Vec<String> {
    let mut children: std::collections::HashMap<String, Vec<String>> = Default::default();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned))
        {
            children.entry(ppid).or_default().push(name);
        }
    }
    let mut found = Vec::new();
    let mut todo = vec![pid.to_owned()];
    while let Some(p) = todo.pop() {
        for child in children.get(&p).into_iter().flatten() {
            found.push(child.clone());
            todo.push(child.clone());
        }
    }
    found
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn start_status_stop_leave_no_process_and_keep_files_private() {
    let project = Daemonized::new(FAILING);
    assert!(project.status().is_none(), "no daemon before start");
    let started = project.daemon("start");
    assert_eq!(started.code, 0, "{}", started.output);
    let status = project.status().expect("running after start");
    let pid = status["pid"].clone();
    assert_eq!(status["rootdir"], project.root().display().to_string());
    assert_eq!(status["interpreter"], project.python);
    assert_eq!(status["requests"], "0");
    // A second start finds it running: same daemon.
    assert_eq!(project.daemon("start").code, 0);
    assert_eq!(project.field("pid"), pid);

    let socket = project.socket();
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600, "{}", socket.display());
    assert_eq!(mode(socket.parent().expect("dir")), 0o700);

    // A run gives the daemon its zygote and workers: all must go with it.
    let (_, _, code) = project.test(&[]);
    assert_eq!(code, 1);
    let zygote = project.field("zygote");
    assert!(is_running(&zygote), "zygote {zygote}");
    let mut family = descendants(&pid);
    assert!(family.contains(&zygote), "{family:?}");
    family.push(pid.clone());

    let stopped = project.daemon("stop");
    assert_eq!(stopped.code, 0, "{}", stopped.output);
    assert!(project.status().is_none(), "still running after stop");
    wait_until("the daemon's processes to exit", || {
        family.iter().all(|p| !is_running(p))
    });
    assert!(!socket.exists(), "the socket is removed");
}

/// Recorded durations order the next run's units: each compared run starts without them.
fn forget_durations(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            forget_durations(&path);
        } else if path.file_name().is_some_and(|n| n == "durations.json") {
            std::fs::remove_file(&path).expect("remove durations");
        }
    }
}

#[test]
fn runs_equal_no_daemon_runs_and_reuse_one_zygote() {
    let project = Daemonized::new(FAILING);
    let xml_local = project.root().join("local.xml");
    let xml_daemon = project.root().join("daemon.xml");
    let junit_arg = |p: &Path| format!("--junit-xml={}", p.display());
    let cache = project.root().join(".dxpy-cache");
    let local = project.test(&["--no-daemon", "-n", "1", "-rA", &junit_arg(&xml_local)]);
    forget_durations(&cache);
    let first = project.test(&["-n", "1", "-rA", &junit_arg(&xml_daemon)]);
    assert_eq!(first.2, local.2, "{}{}", first.0, first.1);
    assert_eq!(untimed(&first.0), untimed(&local.0));
    assert_eq!(first.1, local.1, "stderr");
    assert_eq!(junit(&xml_daemon), junit(&xml_local));

    let pid = project.field("pid");
    let zygote = project.field("zygote");
    assert_eq!(project.field("requests"), "1");
    forget_durations(&cache);
    let second = project.test(&["-n", "1", "-rA", &junit_arg(&xml_daemon)]);
    assert_eq!(untimed(&second.0), untimed(&local.0));
    assert_eq!(second.2, local.2);
    assert_eq!(junit(&xml_daemon), junit(&xml_local));
    assert_eq!(project.field("pid"), pid, "the same daemon");
    assert_eq!(project.field("zygote"), zygote, "the same zygote");
    assert_eq!(project.field("requests"), "2");

    // From a subdirectory, with a selection: as the local run from there.
    let mut local_sub = project.command(&["test", "--no-daemon", "--python", &project.python]);
    let mut daemon_sub = project.command(&["test", "--python", &project.python]);
    for cmd in [&mut local_sub, &mut daemon_sub] {
        cmd.current_dir(project.root().join("sub"))
            .args(["-v", "test_more.py"]);
    }
    let (a, b) = (
        local_sub.output().expect("local"),
        daemon_sub.output().expect("daemon"),
    );
    assert_eq!(
        untimed(&String::from_utf8_lossy(&b.stdout)),
        untimed(&String::from_utf8_lossy(&a.stdout))
    );
    assert_eq!(a.status.code(), b.status.code());
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let project = Daemonized::new(FAILING);
    assert_eq!(project.daemon("start").code, 0);
    let socket = project.socket();
    assert_eq!(project.daemon("stop").code, 0);
    // A socket file nobody listens on, as a killed daemon leaves it.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());
    let (out, err, code) = project.test(&[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!err.contains("daemon not used"), "{err}");
    assert_eq!(project.field("requests"), "1");
}

#[test]
fn a_daemon_of_another_build_is_refused_and_replaced() {
    let project = Daemonized::new(FAILING);
    let mut old = project.command(&["daemon", "start", "--python", &project.python]);
    old.env("DXPY_DAEMON_IDENTITY", "an older build");
    let started = old.output().expect("start");
    assert!(started.status.success());
    let old_pid = String::from_utf8_lossy(&started.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("pid: ").map(str::to_owned))
        .expect("start prints the pid");
    assert!(is_running(&old_pid));
    // This build does not trust it: the old one leaves on seeing this build, and
    // `dx-py test` starts one of its own build and runs there.
    let (out, err, code) = project.test(&[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(!err.contains("daemon not used"), "{err}");
    wait_until("the old daemon to exit", || !is_running(&old_pid));
    let new_pid = project.field("pid");
    assert_ne!(new_pid, old_pid);
    assert_eq!(project.field("requests"), "1");
}

#[test]
fn a_new_distribution_or_config_rebuilds_the_zygote() {
    let venv_dir = tempfile::tempdir().expect("tempdir");
    let (venv_python, site) = dxpy_test_support::venv_with_test_packages(venv_dir.path());
    let project = Daemonized::with_python(FAILING, venv_python.to_string_lossy().into_owned());
    assert_eq!(project.test(&[]).2, 1);
    let zygote = project.field("zygote");
    assert_eq!(project.test(&[]).2, 1);
    assert_eq!(project.field("zygote"), zygote, "nothing changed: kept");
    write(
        &site,
        "newdist-1.0.dist-info/METADATA",
        "Name: newdist\nVersion: 1.0\n",
    );
    assert_eq!(project.test(&[]).2, 1);
    let rebuilt = project.field("zygote");
    assert_ne!(rebuilt, zygote, "a new distribution: a new zygote");
    wait_until("the old zygote to exit", || !is_running(&zygote));
    // So does a changed pytest config file.
    write(
        project.root(),
        "pytest.ini",
        "[pytest]\nconsole_output_style = classic\n",
    );
    assert_eq!(project.test(&[]).2, 1);
    assert_ne!(
        project.field("zygote"),
        rebuilt,
        "a new config: a new zygote"
    );
}

#[test]
fn a_changed_start_up_variable_rebuilds_the_zygote() {
    // PYTHONHASHSEED is read at interpreter start-up: a fork of a zygote started without it
    // would not have it, whatever its environment says.
    let project = Daemonized::new(&[
        ("pytest.ini", "[pytest]\n"),
        (
            "test_seed.py",
            "import os\nimport sys\n\n\ndef test_seed():\n    \
             fixed = os.environ.get('PYTHONHASHSEED') == '0'\n    \
             assert sys.flags.hash_randomization == (0 if fixed else 1)\n",
        ),
    ]);
    let seeded = |seed: Option<&str>| {
        let mut cmd = project.command(&["test", "--python", &project.python]);
        match seed {
            Some(seed) => cmd.env("PYTHONHASHSEED", seed),
            None => cmd.env_remove("PYTHONHASHSEED"),
        };
        let out = cmd.output().expect("spawn dx-py");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(text.contains("1 passed"), "{text}");
        project.field("zygote")
    };
    let random = seeded(None);
    assert_eq!(seeded(None), random, "the same variables: the same zygote");
    let fixed = seeded(Some("0"));
    assert_ne!(fixed, random, "PYTHONHASHSEED set: a new zygote");
    assert_ne!(seeded(None), fixed, "and unset again: another");
}

#[test]
fn sigterm_stops_the_daemon_and_every_interpreter_it_started() {
    let project = Daemonized::new(SPARE_PROJECT);
    assert_eq!(project.test_value("").0, 0);
    let pid = project.field("pid");
    let socket = project.socket();
    let mut family = descendants(&pid);
    assert!(family.contains(&project.field("zygote")), "{family:?}");
    family.push(pid.clone());
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_until("the daemon and its interpreters to exit", || {
        family.iter().all(|p| !is_running(p))
    });
    assert!(project.status().is_none(), "still answering after SIGTERM");
    assert!(!socket.exists(), "the socket is removed");
}

#[test]
fn two_clients_at_once_both_get_their_own_results() {
    let project = Daemonized::new(FAILING);
    let expected_a = project.test(&["--no-daemon", "-v", "test_mixed.py"]);
    let expected_b = project.test(&["--no-daemon", "-v", "sub"]);
    assert_eq!(project.daemon("start").code, 0);
    let spawn = |args: &[&str]| -> Child {
        let mut cmd = project.command(&["test", "--python", &project.python]);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().expect("spawn")
    };
    let a = spawn(&["-v", "test_mixed.py"]);
    let b = spawn(&["-v", "sub"]);
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    assert_eq!(
        untimed(&String::from_utf8_lossy(&a.stdout)),
        untimed(&expected_a.0)
    );
    assert_eq!(a.status.code(), Some(expected_a.2));
    assert_eq!(
        untimed(&String::from_utf8_lossy(&b.stdout)),
        untimed(&expected_b.0)
    );
    assert_eq!(b.status.code(), Some(expected_b.2));
    assert_eq!(project.field("requests"), "2");
}

/// A started daemon (and its pid) serving a client whose test sleeps for ten minutes, once
/// that test has started; `output` is where the client's stdout and stderr go.
fn sleeping_client(output: fn() -> Stdio) -> (Daemonized, String, Child) {
    let project = Daemonized::new(&[
        (
            "test_sleep.py",
            "import os\nimport time\n\n\ndef test_sleep():\n    \
             open(os.environ['DXPY_MARKER'], 'w').close()\n    time.sleep(600)\n",
        ),
        ("test_quick.py", "def test_quick():\n    pass\n"),
    ]);
    assert_eq!(project.daemon("start").code, 0);
    let pid = project.field("pid");
    let marker = project.root().join("sleeping");
    let mut cmd = project.command(&["test", "--python", &project.python, "test_sleep.py"]);
    cmd.env("DXPY_MARKER", &marker)
        .stdout(output())
        .stderr(output());
    let child = cmd.spawn().expect("spawn");
    wait_until("the sleeping test to start", || marker.exists());
    (project, pid, child)
}

#[test]
fn ctrl_c_cancels_the_request_and_the_daemon_serves_the_next() {
    let (project, pid, child) = sleeping_client(Stdio::piped);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let start = Instant::now();
    let out = child.wait_with_output().expect("wait");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(start.elapsed() < PATIENCE, "{text}");
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("KeyboardInterrupt"), "{text}");
    assert_eq!(project.field("pid"), pid, "the daemon survives");
    let (quick, err, code) = project.test(&["test_quick.py"]);
    assert_eq!(code, 0, "{quick}{err}");
    assert!(quick.contains("1 passed"), "{quick}");
    assert_eq!(project.field("pid"), pid);
    assert_eq!(project.field("requests"), "2");
}

#[test]
fn an_idle_daemon_stops_by_itself() {
    let project = Daemonized::new(&[
        ("pyproject.toml", "[tool.dx-py]\ndaemon-idle = \"2s\"\n"),
        ("test_a.py", "def test_a():\n    pass\n"),
    ]);
    assert_eq!(project.test(&[]).2, 0);
    let pid = project.field("pid");
    let family: Vec<String> = descendants(&pid).into_iter().chain([pid.clone()]).collect();
    wait_until("the idle daemon to stop", || {
        family.iter().all(|p| !is_running(p))
    });
    assert!(project.status().is_none());
}

#[test]
fn without_a_reachable_daemon_the_run_happens_here_with_a_notice() {
    let project = Daemonized::new(FAILING);
    let local = project.test(&["--no-daemon", "-n", "1"]);
    // No Unix socket can have a path this long: the daemon cannot listen.
    let long = project.project.temp_dir().join("c".repeat(120));
    let mut cmd = project.command(&["test", "--python", &project.python, "-n", "1"]);
    cmd.env("DXPY_CACHE_DIR", &long);
    let out = cmd.output().expect("spawn");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(local.2), "{stderr}");
    assert_eq!(
        untimed(&String::from_utf8_lossy(&out.stdout)),
        untimed(&local.0)
    );
    let notices: Vec<&str> = stderr.lines().filter(|l| l.contains("daemon")).collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    assert!(notices[0].contains("running in this process"), "{stderr}");
}

#[test]
fn the_zygote_preloads_third_party_imports_but_no_project_code() {
    // An installed module, which records the process that imported it.
    let venv_dir = tempfile::tempdir().expect("tempdir");
    let (venv_python, site) = dxpy_test_support::venv_with_test_packages(venv_dir.path());
    let marker = venv_dir.path().join("imported-by");
    write(
        &site,
        "thirdmod.py",
        format!(
            "import os\nwith open({:?}, 'a') as f:\n    f.write(f'{{os.getpid()}}\\n')\nVALUE = 1\n",
            marker.to_string_lossy()
        ),
    );
    let project = Daemonized::with_python(
        &[
            ("pytest.ini", "[pytest]\n"),
            (
                "test_uses.py",
                "import thirdmod\nimport mypkg\nimport os\n\n\ndef test_uses():\n    \
                 assert thirdmod.VALUE == mypkg.VALUE\n",
            ),
            ("mypkg/__init__.py", "VALUE = 1\n"),
        ],
        venv_python.to_string_lossy().into_owned(),
    );
    let (out, err, code) = project.test(&[]);
    assert_eq!(code, 0, "{out}{err}");
    let status = project.status().expect("a daemon runs");
    let preload: Vec<&str> = status["preload"].split_whitespace().collect();
    assert!(preload.contains(&"thirdmod"), "{status:?}");
    assert!(!preload.contains(&"mypkg"), "first-party: {status:?}");
    assert!(!preload.contains(&"os"), "stdlib: {status:?}");
    // The zygote imported it, before the run's worker was forked from it.
    let importers = std::fs::read_to_string(&marker).expect("thirdmod was imported");
    assert_eq!(
        importers.lines().collect::<Vec<_>>(),
        [status["zygote"].as_str()]
    );
}

#[test]
fn a_client_that_goes_away_cancels_its_run() {
    let (project, pid, mut child) = sleeping_client(Stdio::null);
    // SIGKILL: no Cancel is sent, the connection just closes.
    child.kill().expect("kill the client");
    child.wait().expect("reap the client");
    // Runs are served one at a time: this one waits for the sleeper unless it was cancelled.
    let start = Instant::now();
    let (quick, err, code) = project.test(&["test_quick.py"]);
    assert_eq!(code, 0, "{quick}{err}");
    assert!(
        start.elapsed() < PATIENCE,
        "the abandoned run kept the daemon busy"
    );
    assert_eq!(project.field("pid"), pid);
}

/// A project whose test checks a conftest fixture built from a first-party module, an ini
/// option of pyproject.toml and an environment variable against `expected.txt` (which no
/// spare depends on).
const SPARE_PROJECT: &[(&str, &str)] = &[
    (
        "pyproject.toml",
        "[tool.pytest.ini_options]\nflavour = \"plain\"\n",
    ),
    ("helper.py", "VALUE = 'one'\n"),
    (
        "conftest.py",
        "import os\n\nimport pytest\n\nfrom helper import VALUE\n\n\n\
         def pytest_addoption(parser):\n    parser.addini('flavour', 'a flavour')\n\n\n\
         @pytest.fixture\ndef value(request):\n    \
         return f\"{VALUE}-{request.config.getini('flavour')}-{os.environ.get('SPARE_VAR', '')}\"\n",
    ),
    (
        "test_value.py",
        "from pathlib import Path\n\n\ndef test_value(value):\n    \
         assert value == Path(__file__).with_name('expected.txt').read_text().strip()\n",
    ),
    ("expected.txt", "one-plain-\n"),
];

impl Daemonized {
    /// Waits until the daemon has a spare worker; its pid.
    fn spare(&self) -> String {
        let mut pid = String::new();
        wait_until("a spare worker", || {
            pid = self.field("spare");
            pid != "none"
        });
        pid
    }

    fn spares_used(&self) -> u64 {
        self.field("spares used").parse().expect("a count")
    }

    fn parked_resumed(&self) -> u64 {
        self.field("parked resumed").parse().expect("a count")
    }

    /// `dx-py test` of the spare project's test with `SPARE_VAR=var`: exit code and output.
    fn test_value(&self, var: &str) -> (i32, String) {
        let mut cmd = self.command(&["test", "--python", &self.python, "-rA", "test_value.py"]);
        cmd.env("SPARE_VAR", var);
        let out = cmd.output().expect("spawn dx-py");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

#[test]
fn a_second_identical_request_uses_a_spare_and_equals_the_no_daemon_run() {
    let project = Daemonized::new(SPARE_PROJECT);
    let local = project.test(&["--no-daemon", "-rA", "-v"]);
    assert_eq!(local.2, 0, "{}{}", local.0, local.1);
    let first = project.test(&["-rA", "-v"]);
    assert_eq!(project.spares_used(), 0, "the first request had no spare");
    let spare = project.spare();
    assert!(is_running(&spare), "spare {spare}");
    let second = project.test(&["-rA", "-v"]);
    assert_eq!(
        project.spares_used(),
        1,
        "the second request took the spare"
    );
    for run in [&first, &second] {
        assert_eq!(run.2, local.2, "{}{}", run.0, run.1);
        assert_eq!(untimed(&run.0), untimed(&local.0));
        assert_eq!(run.1, local.1, "stderr");
    }
    // A used spare never serves again: the next one is another process.
    assert_ne!(project.spare(), spare);
}

/// Project code changed: the started spare is discarded and the parked one (which has not
/// loaded the conftest yet) serves; a config file changed: both are discarded.
#[test]
fn a_changed_module_conftest_or_config_discards_the_spare() {
    let project = Daemonized::new(SPARE_PROJECT);
    let root = project.root().to_path_buf();
    assert_eq!(project.test_value("").0, 0);
    let changes: [(&str, &str, &str, u64); 3] = [
        ("helper.py", "VALUE = 'second'\n", "second-plain-\n", 1),
        (
            "conftest.py",
            &SPARE_PROJECT[2].1.replace("return f\"", "return 'c' + f\""),
            "csecond-plain-\n",
            1,
        ),
        (
            "pyproject.toml",
            "[tool.pytest.ini_options]\nflavour = \"spicy\"\n",
            "csecond-spicy-\n",
            0,
        ),
    ];
    for (file, content, expected, resumes) in changes {
        project.spare();
        let (used, resumed) = (project.spares_used(), project.parked_resumed());
        write(&root, file, content);
        write(&root, "expected.txt", expected);
        let (code, output) = project.test_value("");
        assert_eq!(
            code, 0,
            "after changing {file}, the test sees it:\n{output}"
        );
        assert_eq!(
            project.spares_used(),
            used,
            "the spare was discarded ({file})"
        );
        assert_eq!(
            project.parked_resumed(),
            resumed + resumes,
            "the parked spare served after a change to {file} only if it was project code"
        );
    }
    // Unchanged files: the spare serves.
    project.spare();
    let used = project.spares_used();
    assert_eq!(project.test_value("").0, 0);
    assert_eq!(project.spares_used(), used + 1);
}

#[test]
fn another_environment_discards_the_spare() {
    let project = Daemonized::new(SPARE_PROJECT);
    assert_eq!(project.test_value("").0, 0);
    project.spare();
    write(project.root(), "expected.txt", "one-plain-x\n");
    let (code, output) = project.test_value("x");
    assert_eq!(code, 0, "{output}");
    assert_eq!(project.spares_used(), 0);
    project.spare();
    let (code, output) = project.test_value("x");
    assert_eq!(code, 0, "{output}");
    assert_eq!(project.spares_used(), 1, "the same environment takes it");
}

#[test]
fn daemon_stop_leaves_no_spare_worker() {
    let project = Daemonized::new(SPARE_PROJECT);
    assert_eq!(project.test_value("").0, 0);
    let spare = project.spare();
    let zygote = project.field("zygote");
    assert!(is_running(&spare) && is_running(&zygote));
    assert_eq!(project.daemon("stop").code, 0);
    wait_until("the spare and the zygote to exit", || {
        !is_running(&spare) && !is_running(&zygote)
    });
}

#[test]
fn a_request_right_after_another_sees_its_recorded_state() {
    let project = Daemonized::new(FAILING);
    let (out, err, code) = project.test(&["-n", "1"]);
    assert_eq!(code, 1, "{out}{err}");
    // Last-failed is saved after the first client has its exit code: the next request
    // still sees it.
    let (out, err, code) = project.test(&["--lf", "-n", "1", "-rA"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("run-last-failure: rerun previous 2 failures"),
        "{out}{err}"
    );
    assert!(out.contains("2 failed"), "{out}");
    assert!(!out.contains("passed"), "{out}");
}
