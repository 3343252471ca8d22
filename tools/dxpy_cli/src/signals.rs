//! How `dx-py test` answers SIGINT and SIGTERM. The first Ctrl-C asks the run to stop: the
//! workers are killed and the tests that finished are reported, as pytest reports a
//! KeyboardInterrupt. A second Ctrl-C (the report is stuck, e.g. on a paused pager) and
//! SIGTERM end dx-py at once. The interpreters run in process groups of their own (the
//! terminal's Ctrl-C never reaches them), so before exiting dx-py kills every process it
//! started, forks of the zygote included: none is left running a test.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::process::{kill_process, kill_process_group, Pid, Signal};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::exit::Code;

/// Handles SIGINT and SIGTERM on a thread of their own; `interrupted` is set by the first
/// Ctrl-C.
pub fn install(interrupted: Arc<AtomicBool>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new()
        .name("dx-py signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGINT && !interrupted.swap(true, Ordering::SeqCst) {
                    continue;
                }
                kill_descendants();
                if signal == SIGTERM {
                    // Die of SIGTERM as without a handler, now that no worker outlives us.
                    let _ = signal_hook::low_level::emulate_default_handler(SIGTERM);
                }
                std::process::exit(Code::Interrupted as i32);
            }
        })?;
    Ok(())
}

/// SIGKILLs every process below this one, and the process group each leads. They are
/// stopped first, until a scan finds no new one, so a zygote cannot fork a worker that the
/// kill would miss.
pub(crate) fn kill_descendants() {
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let mut seen: BTreeSet<i32> = BTreeSet::new();
    loop {
        let found: Vec<Pid> = descendants(me)
            .into_iter()
            .filter(|pid| seen.insert(*pid))
            .filter_map(Pid::from_raw)
            .collect();
        if found.is_empty() {
            break;
        }
        for pid in found {
            let _ = kill_process(pid, Signal::STOP);
        }
    }
    for pid in seen.into_iter().filter_map(Pid::from_raw) {
        // A pid that leads no group (a zygote's fork before its `setpgid`) fails the first.
        let _ = kill_process_group(pid, Signal::KILL);
        let _ = kill_process(pid, Signal::KILL);
    }
}

/// The processes whose chain of parents leads to `root`, from `/proc`.
fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_of(&entry.path().join("stat")) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            found.push(child);
            todo.push(child);
        }
    }
    found
}

/// The parent pid in a `/proc/PID/stat` (the field after the state, past the `)` that ends
/// the command name, which may itself hold spaces and parentheses).
fn parent_of(stat: &std::path::Path) -> Option<i32> {
    let text = std::fs::read_to_string(stat).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child and the child's child are found (through /proc, as the kill finds them).
    #[test]
    fn a_spawned_child_and_its_child_are_descendants() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .expect("spawn sh");
        let sh = i32::try_from(child.id()).expect("pid");
        let start = std::time::Instant::now();
        // sh starts its sleep in its own time: wait for it, boundedly.
        let grandchildren = loop {
            let grandchildren = descendants(sh);
            if !grandchildren.is_empty() || start.elapsed() > std::time::Duration::from_secs(30) {
                break grandchildren;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let ours = descendants(rustix::process::getpid().as_raw_nonzero().get());
        for pid in grandchildren.iter().copied().filter_map(Pid::from_raw) {
            let _ = kill_process(pid, Signal::KILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(grandchildren.len(), 1, "sh's sleep: {grandchildren:?}");
        assert!(ours.contains(&sh), "{ours:?}");
        assert!(ours.contains(&grandchildren[0]), "{ours:?}");
    }
}
