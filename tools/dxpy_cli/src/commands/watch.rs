//! `dx-py test --watch`: run, then after every change under the rootdir run what it affects
//! (the `--affected` rules: the result cache replays the rest), keeping one warm zygote across
//! runs. When stdin is a terminal, keys act as in jest: Enter or `a` runs every test, `f` the
//! last failures, `q` quits; Ctrl-C stops a run and quits.

use std::cell::RefCell;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify::{RecursiveMode, Watcher as _};

use crate::args::TestArgs;
use crate::commands::discover::discover_with;
use crate::commands::test::{run_with, TestContext, ZygoteKeeper};
use crate::exit::Code;
use crate::test_context::Deferred;

/// Quiet time that ends a burst of file events (an editor's save is several).
const DEBOUNCE: Duration = Duration::from_millis(60);
/// A burst never delays a run longer than this.
const DEBOUNCE_MAX: Duration = Duration::from_millis(500);
/// How often an idle loop looks at the Ctrl-C flag.
const POLL: Duration = Duration::from_millis(100);

/// What wakes the loop.
#[derive(Debug)]
enum Wake {
    Changed(PathBuf),
    Key(u8),
    WatchError(String),
}

/// What the next run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    /// The tests the changes affect (`--affected`).
    Affected,
    /// Every selected test, recorded afresh.
    All,
    /// Last run's failures.
    Failures,
}

pub fn run(args: TestArgs) -> anyhow::Result<Code> {
    let interrupted = Arc::new(AtomicBool::new(false));
    crate::signals::install(Arc::clone(&interrupted)).context("handling Ctrl-C")?;
    let (rootdir, junit_xml) = match discover_with(args.discovery_args(), args.select.no_cache)? {
        Ok(discovery) => {
            let junit_xml = super::test::junit_path(&args, &discovery);
            (discovery.config.rootdir, junit_xml)
        }
        Err(err) => {
            eprintln!("ERROR: {err}");
            return Ok(Code::UsageError);
        }
    };
    let (wake, events) = mpsc::channel::<Wake>();
    let mut watcher = file_watcher(wake.clone())?;
    watcher
        .watch(&rootdir, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", rootdir.display()))?;
    let keys = std::io::stdin().is_terminal();
    let _terminal = if keys {
        Some(KeyMode::enter(wake)?)
    } else {
        None
    };
    let ignore = Ignore::new(&rootdir, junit_xml.as_deref());
    let zygotes = ZygoteKeeper::default();
    let mut kind = RunKind::Affected;
    let mut code;
    loop {
        // The run's recording waits until its report and the waiting line are out (what the
        // developer reads), and ends before the next run plans from the cache.
        let recording: RefCell<Option<Deferred>> = RefCell::new(None);
        code = run_kind(&args, kind, &zygotes, &interrupted, &recording);
        let finish_recording = || {
            if let Some(work) = recording.take() {
                work();
            }
        };
        if interrupted.load(Ordering::SeqCst) {
            finish_recording();
            return Ok(Code::Interrupted);
        }
        // Files the run itself wrote (reports, data the tests make) are not edits; a Python
        // file changed meanwhile is, and runs next.
        let during: Vec<PathBuf> = events
            .try_iter()
            .filter_map(|w| match w {
                Wake::Changed(path) if ignore.relevant(&path) => Some(path),
                _ => None,
            })
            .filter(|p| p.extension().is_some_and(|e| e == "py"))
            .collect();
        if !during.is_empty() {
            finish_recording();
            announce(&rootdir, &during);
            kind = RunKind::Affected;
            continue;
        }
        print_waiting(keys);
        finish_recording();
        match wait(&events, &ignore, &interrupted) {
            Next::Run(kind_next, changed) => {
                if !changed.is_empty() {
                    announce(&rootdir, &changed);
                }
                kind = kind_next;
            }
            Next::Quit => return Ok(code),
            Next::Interrupted => return Ok(Code::Interrupted),
        }
    }
}

fn run_kind(
    args: &TestArgs,
    kind: RunKind,
    zygotes: &ZygoteKeeper,
    interrupted: &Arc<AtomicBool>,
    recording: &RefCell<Option<Deferred>>,
) -> Code {
    let mut args = args.clone();
    args.watch = false;
    args.affected = true;
    args.last_failed = kind == RunKind::Failures;
    let keep = |pool: &dxpy_runner::pool::PoolConfig, _: &dxpy_discover::session::Discovery| {
        zygotes.warm_start(pool)
    };
    let defer = |work: Deferred| *recording.borrow_mut() = Some(work);
    let context = TestContext {
        interrupt: Some(Arc::clone(interrupted)),
        zygote: Some(&keep),
        replay: kind != RunKind::All,
        spare: None,
        defer: Some(&defer),
    };
    match run_with(args, &context, std::io::stdout().lock(), Instant::now()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ERROR: {err:#}");
            Code::InternalError
        }
    }
}

enum Next {
    Run(RunKind, Vec<PathBuf>),
    Quit,
    Interrupted,
}

/// Until a burst of relevant changes ends, a key asks for a run, or Ctrl-C.
fn wait(events: &mpsc::Receiver<Wake>, ignore: &Ignore, interrupted: &AtomicBool) -> Next {
    let mut changed: Vec<PathBuf> = Vec::new();
    let mut burst_started: Option<Instant> = None;
    loop {
        if interrupted.load(Ordering::SeqCst) {
            return Next::Interrupted;
        }
        let timeout = if burst_started.is_some() {
            DEBOUNCE
        } else {
            POLL
        };
        match events.recv_timeout(timeout) {
            Ok(Wake::Changed(path)) => {
                if ignore.relevant(&path) && !changed.contains(&path) {
                    changed.push(path);
                    burst_started.get_or_insert_with(Instant::now);
                }
                if burst_started.is_some_and(|t| t.elapsed() >= DEBOUNCE_MAX) {
                    return Next::Run(RunKind::Affected, changed);
                }
            }
            Ok(Wake::Key(b'q' | b'Q')) => return Next::Quit,
            Ok(Wake::Key(b'a' | b'A' | b'\n' | b'\r')) => return Next::Run(RunKind::All, changed),
            Ok(Wake::Key(b'f' | b'F')) => return Next::Run(RunKind::Failures, changed),
            Ok(Wake::Key(_)) => {}
            Ok(Wake::WatchError(message)) => eprintln!("dx-py: watching: {message}"),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if burst_started.is_some() {
                    return Next::Run(RunKind::Affected, changed);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Next::Quit,
        }
    }
}

fn file_watcher(wake: mpsc::Sender<Wake>) -> anyhow::Result<notify::RecommendedWatcher> {
    notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let sent = match event {
            // Access events (a file opened or read) change nothing.
            Ok(event) if matches!(event.kind, notify::EventKind::Access(_)) => Ok(()),
            Ok(event) => event
                .paths
                .into_iter()
                .try_for_each(|path| wake.send(Wake::Changed(path))),
            Err(err) => wake.send(Wake::WatchError(err.to_string())),
        };
        // The loop has ended: nothing to tell.
        drop(sent);
    })
    .context("starting the file watcher")
}

/// Which changed paths count: project files, not what tools and editors leave around.
#[derive(Debug)]
struct Ignore {
    rootdir: PathBuf,
    junit_xml: Option<PathBuf>,
}

impl Ignore {
    fn new(rootdir: &Path, junit_xml: Option<&Path>) -> Ignore {
        Ignore {
            rootdir: rootdir.to_path_buf(),
            junit_xml: junit_xml.and_then(|p| std::path::absolute(p).ok()),
        }
    }

    fn relevant(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.rootdir) else {
            return false;
        };
        if self.junit_xml.as_deref() == Some(path) {
            return false;
        }
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let scratch = is_scratch_file(&name);
        let in_skipped_dir = rel.components().any(|c| {
            let part = c.as_os_str().to_string_lossy();
            part.starts_with('.') || part == "__pycache__" || part == "node_modules"
        });
        !scratch && !in_skipped_dir && !self.in_virtualenv(rel)
    }

    fn in_virtualenv(&self, rel: &Path) -> bool {
        let mut dir = self.rootdir.clone();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            dir.push(part);
            if dir.join("pyvenv.cfg").is_file() {
                return true;
            }
        }
        false
    }
}

/// Editors' and tools' temporary files around a save: swap and backup files, vim's `4913`
/// directory probe, emacs' lock and autosave files, JetBrains' safe-write copies and the
/// `sedXXXXXX` file of `sed -i`.
fn is_scratch_file(name: &str) -> bool {
    let sed_temp = name.len() == 9
        && name.starts_with("sed")
        && name[3..].chars().all(|c| c.is_ascii_alphanumeric());
    name.ends_with('~')
        || [
            ".swp",
            ".swx",
            ".pyc",
            ".pyo",
            ".tmp",
            "___jb_tmp___",
            "___jb_old___",
        ]
        .iter()
        .any(|s| name.ends_with(s))
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
        || sed_temp
}

fn announce(rootdir: &Path, changed: &[PathBuf]) {
    let names: Vec<String> = changed
        .iter()
        .map(|p| p.strip_prefix(rootdir).unwrap_or(p).display().to_string())
        .collect();
    let mut out = std::io::stdout().lock();
    let shown = if names.len() > 5 {
        format!("{} and {} more", names[..5].join(", "), names.len() - 5)
    } else {
        names.join(", ")
    };
    let _ = writeln!(out, "\ndx-py: changed: {shown}");
    let _ = out.flush();
}

fn print_waiting(keys: bool) {
    let mut out = std::io::stdout().lock();
    let keys = if keys {
        " (Enter or a: run all, f: run failures, q: quit)"
    } else {
        ""
    };
    let _ = writeln!(out, "\ndx-py: watching for changes{keys}");
    let _ = out.flush();
}

/// stdin without line buffering while watching, so single keys arrive; echo stays on, and
/// Ctrl-C still signals. Restored when dropped.
struct KeyMode {
    saved: rustix::termios::Termios,
}

impl std::fmt::Debug for KeyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyMode")
    }
}

impl KeyMode {
    fn enter(wake: mpsc::Sender<Wake>) -> anyhow::Result<KeyMode> {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).context("reading the terminal's mode")?;
        let mut keys = saved.clone();
        keys.local_modes.remove(LocalModes::ICANON);
        tcsetattr(&stdin, OptionalActions::Now, &keys).context("setting the terminal's mode")?;
        std::thread::Builder::new()
            .name("dx-py keys".into())
            .spawn(move || {
                let mut byte = [0u8; 1];
                let mut stdin = std::io::stdin().lock();
                while let Ok(1) = stdin.read(&mut byte) {
                    if wake.send(Wake::Key(byte[0])).is_err() {
                        break;
                    }
                }
            })?;
        Ok(KeyMode { saved })
    }
}

impl Drop for KeyMode {
    fn drop(&mut self) {
        use rustix::termios::{tcsetattr, OptionalActions};
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editor_scratch_files_are_not_changes() {
        for name in [
            "a.py~",
            ".a.py.swp",
            "4913",
            "#a.py#",
            "a.py___jb_tmp___",
            "sedN5dguS",
        ] {
            assert!(is_scratch_file(name), "{name}");
        }
        for name in ["a.py", "data.json", "sed.py", "conftest.py", "pytest.ini"] {
            assert!(!is_scratch_file(name), "{name}");
        }
    }

    #[test]
    fn hidden_cache_and_virtualenv_paths_are_not_changes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        std::fs::create_dir_all(root.join("venv")).expect("mkdir");
        std::fs::write(root.join("venv/pyvenv.cfg"), "").expect("write");
        let ignore = Ignore::new(root, Some(&root.join("report.xml")));
        assert!(ignore.relevant(&root.join("pkg/mod.py")));
        assert!(ignore.relevant(&root.join("tests/data.json")));
        for path in [
            ".git/index",
            "pkg/__pycache__/mod.cpython-311.pyc",
            ".dxpy-cache/results/results.bin",
            "venv/lib/python3.11/site-packages/x.py",
            "report.xml",
        ] {
            assert!(!ignore.relevant(&root.join(path)), "{path}");
        }
        assert!(!ignore.relevant(Path::new("/elsewhere/a.py")));
    }
}
