//! Helpers for the pool tests: collecting with real pytest, run configuration per warm-start
//! mode, running with start-mode checks, and /proc checks for orphans and zombies.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dxpy_runner::pool::{PoolConfig, WarmStart};
use dxpy_runner::protocol::Engine;
use dxpy_runner::run::{Run, RunConfig, RunEvent, RunSummary};
use dxpy_runner::scheduler::{ModuleTests, WorkUnit};
use dxpy_test_support::{collect_only, worker_package};

use super::*;

/// How the run's workers start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Spawn,
    Zygote,
}

/// One `#[test]` per warm-start mode: `modes!(name);` runs `name(Mode::Spawn)` and
/// `name(Mode::Zygote)` as `name::spawn` and `name::zygote`.
macro_rules! modes {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn spawn() {
                    super::$name($crate::support::runs::Mode::Spawn)
                }
                #[test]
                fn zygote() {
                    super::$name($crate::support::runs::Mode::Zygote)
                }
            }
        )*
    };
}

/// Node IDs as real pytest collects them, grouped by file; a requested file that yields no
/// node ID (a collection error) becomes a unit requesting the file itself.
pub fn collect(root: &Path, files: &[&str]) -> Vec<ModuleTests> {
    let mut by_path: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node_id in collect_only(root, files).node_ids {
        let path = node_id.split("::").next().unwrap().to_owned();
        by_path.entry(path).or_default().push(node_id);
    }
    let mut modules: Vec<ModuleTests> = Vec::new();
    for file in files {
        let file = file.trim_end_matches('/');
        let matching: Vec<String> = by_path
            .keys()
            .filter(|p| *p == file || p.starts_with(&format!("{file}/")))
            .cloned()
            .collect();
        if matching.is_empty() {
            modules.push(ModuleTests {
                path: file.to_owned(),
                node_ids: vec![file.to_owned()],
            });
        }
        for path in matching {
            let node_ids = by_path.remove(&path).unwrap();
            modules.push(ModuleTests { path, node_ids });
        }
    }
    modules
}

pub fn config(root: &Path, workers: usize, mode: Mode) -> RunConfig {
    require_pytest();
    let mut pool = PoolConfig::new(root);
    pool.workers = workers;
    pool.python = Some(PathBuf::from(python()));
    pool.worker_path = Some(worker_package());
    pool.engine = Engine::Pytest;
    pool.output_limit = OUTPUT_LIMIT;
    pool.env = vec![("PYTHONDONTWRITEBYTECODE".into(), "1".into())];
    pool.warm_start = match mode {
        Mode::Spawn => WarmStart::Spawn,
        Mode::Zygote => WarmStart::Zygote,
    };
    RunConfig {
        pool,
        maxfail: None,
        interrupt: None,
        continue_on_collection_errors: false,
    }
}

/// Runs to the end, collecting every event, and checks how each worker was started: by
/// this process (spawn), or forked by the run's zygote or the shared one (a forked worker's
/// parent is the zygote), spawning only after a fallback notice. With a per-run zygote, the
/// zygote must be gone afterwards (reaped, not a zombie) and have left no child behind.
pub fn execute(config: RunConfig, units: Vec<WorkUnit>) -> (Vec<RunEvent>, RunSummary) {
    let (events, summary) = execute_allowing_fallback(config, units);
    let notices: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, RunEvent::Notice { .. }))
        .collect();
    assert!(notices.is_empty(), "unexpected fallback: {notices:?}");
    (events, summary)
}

/// [`execute`] for runs where the zygote may be dropped (a notice, then spawned workers).
pub fn execute_allowing_fallback(
    config: RunConfig,
    units: Vec<WorkUnit>,
) -> (Vec<RunEvent>, RunSummary) {
    let warm = config.pool.warm_start.clone();
    let mut events = Vec::new();
    let mut parents: Vec<(u32, Option<u32>, bool)> = Vec::new();
    let mut fell_back = false;
    let summary = Run::new(config)
        .execute(units, |event| {
            match &event {
                RunEvent::Notice { .. } => fell_back = true,
                RunEvent::WorkerStarted { ready, .. } => {
                    parents.push((ready.pid, parent_of(ready.pid), fell_back))
                }
                _ => {}
            }
            events.push(event);
            ControlFlow::Continue(())
        })
        .unwrap();
    let me = std::process::id();
    let mut zygotes = BTreeSet::new();
    for (pid, parent, after_fallback) in parents {
        // A spawned worker that already crashed was reaped by us: nothing to read.
        let Some(parent) = parent else { continue };
        match (&warm, after_fallback) {
            (WarmStart::Spawn, _) | (_, true) => assert_eq!(parent, me, "worker {pid} not spawned"),
            (WarmStart::Zygote, false) => {
                assert_ne!(parent, me, "worker {pid} was spawned, not forked");
                zygotes.insert(parent);
            }
            (WarmStart::Shared(zygote), false) => assert_eq!(parent, zygote.pid()),
        }
    }
    if matches!(warm, WarmStart::Zygote) {
        assert!(zygotes.len() <= 1, "one zygote per run: {zygotes:?}");
        for zygote in zygotes {
            assert_eq!(
                proc_stat(zygote),
                None,
                "the run's zygote {zygote} was not reaped"
            );
            assert_no_children(zygote);
        }
    }
    (events, summary)
}

/// (state letter, parent pid) from /proc, or `None` when the pid does not exist.
pub fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit(')').next()?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

pub fn parent_of(pid: u32) -> Option<u32> {
    proc_stat(pid).map(|(_, parent)| parent)
}

/// Processes (zombies included) whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| parent_of(*child) == Some(pid))
        .collect()
}

/// Waits (bounded) until `pid` has no child left, zombie or not.
pub fn assert_no_children(pid: u32) {
    for _ in 0..50 {
        if children_of(pid).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<_> = children_of(pid)
        .into_iter()
        .map(|c| (c, proc_stat(c)))
        .collect();
    panic!("children of {pid} left behind: {left:?}");
}

/// The events in the shape the worker tests compare with pytest.
pub fn as_batch(events: &[RunEvent]) -> Batch {
    let mut batch = Batch::default();
    for event in events {
        match event {
            RunEvent::Report { result, .. } | RunEvent::Incident { result, .. } => {
                batch.items.push(result.clone())
            }
            RunEvent::CollectError { report, .. } => batch.collect_errors.push(report.clone()),
            _ => {}
        }
    }
    batch
}

pub fn worker_pids(events: &[RunEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::WorkerStarted { ready, .. } => Some(ready.pid),
            _ => None,
        })
        .collect()
}

/// A pid that is gone, or a zombie waiting for a reaper outside our control, is not running.
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

pub fn assert_no_orphans(pids: &[u32]) {
    assert!(!pids.is_empty(), "no pids to check");
    // A killed grandchild is re-parented and reaped asynchronously.
    for _ in 0..50 {
        if pids.iter().all(|pid| !is_running(*pid)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let alive: Vec<u32> = pids.iter().copied().filter(|p| is_running(*p)).collect();
    panic!("processes left running after the run: {alive:?}");
}

pub fn grandchild_pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

pub fn every_report_exactly_once(events: &[RunEvent]) -> BTreeMap<String, u32> {
    let mut finished: BTreeMap<String, u32> = BTreeMap::new();
    for event in events {
        match event {
            RunEvent::Report { result, .. } | RunEvent::Incident { result, .. }
                if result.item_finished =>
            {
                *finished.entry(result.node_id.clone()).or_default() += 1;
            }
            _ => {}
        }
    }
    for (node_id, count) in &finished {
        assert_eq!(*count, 1, "{node_id} finished {count} times");
    }
    finished
}
