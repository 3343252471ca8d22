//! `dx_py_test_runner`'s unused snapshots over a whole `dx-py test` run.
//!
//! Each worker sees only its share of the tests, so none can tell which snapshots the run
//! left unused. The run hands the workers a records directory ([`RECORDS_ENV`], its id
//! below it); the plugin in each worker appends one line per test it ran to a file of its
//! own there; after the workers exit, the run merges them (`dxpy_python::unused`) in [`Judge::report`], lists
//! the unused snapshots in the summary as the plugin does under pytest, deletes them under
//! `--update-snapshots` and fails the run under `--ci`. Without the plugin nothing is
//! written and nothing is reported.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use dxpy_discover::session::Discovery;
use dxpy_python::unused::{self, RECORDS_ENV};
use dxpy_runner::pool::PoolConfig;

use crate::terminal::Terminal;

/// The directory (below the project's cache directory) of the runs' records.
const RUNS_DIR: &str = "snapshot-runs";

/// One run's records directory, removed when the run is over.
#[derive(Debug)]
pub struct Records {
    dir: PathBuf,
}

impl Drop for Records {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Makes the run's records directory (`<project cache>/snapshot-runs/<testrun uid>`) and
/// names its parent to the workers. The parent is the same for every run, so a daemon's
/// spare worker, made before its run, still finds it; the run's id it already has.
pub fn prepare(pool: &mut PoolConfig, project_cache: Option<&Path>) -> Option<Records> {
    let base = project_cache?.join(RUNS_DIR);
    let dir = base.join(pool.testrun_uid.as_ref()?);
    dxpy_fs::ensure_private_dir(&dir).ok()?;
    pool.env
        .push((OsString::from(RECORDS_ENV), base.into_os_string()));
    Some(Records { dir })
}

/// The run's records, to judge once its workers exited.
#[derive(Debug)]
pub struct Judge {
    dir: PathBuf,
    /// Some tests were replayed from the result cache (`--affected`), not run.
    replayed: bool,
}

impl Judge {
    /// The judge of a run with these workers; `None` when they write no records.
    pub fn for_run(pool: &PoolConfig, replayed: bool) -> Option<Judge> {
        let (_, base) = pool
            .env
            .iter()
            .rev()
            .find(|(name, _)| name == RECORDS_ENV)?;
        let dir = Path::new(base).join(pool.testrun_uid.as_ref()?);
        Some(Judge { dir, replayed })
    }

    /// After the run (`finished`: it ran to its end, not stopped): lists the unused
    /// snapshots in the summary and deletes them under `--update-snapshots`; whether they
    /// fail the run (`--ci`).
    pub fn report<W: Write>(
        self,
        discovery: &Discovery,
        node_ids: &[String],
        finished: bool,
        terminal: &mut Terminal<W>,
    ) -> bool {
        let whole = finished && whole_selection(discovery, node_ids, self.replayed);
        match judge(&self.dir, whole, &discovery.config.invocation_dir) {
            Ok(Some((lines, failed))) => {
                if let Err(err) = terminal.plugin_section("dx-py snapshots", lines) {
                    eprintln!("dx-py: output error: {err}");
                }
                failed
            }
            Ok(None) => false,
            Err(err) => {
                eprintln!("dx-py: unused snapshots not judged: {err:#}");
                false
            }
        }
    }
}

/// Whether the run is the whole suite: nothing deselected (`-k`, `-m`, `--deselect`), no
/// node ID among the arguments, no `--lf` narrowing, nothing replayed (`--affected`). Only
/// then is a snapshot that no test of its module names unused (its test is gone).
fn whole_selection(discovery: &Discovery, node_ids: &[String], replayed: bool) -> bool {
    !replayed
        && discovery.deselected == 0
        && node_ids.len() == discovery.items.len()
        && !discovery
            .config
            .args
            .positional
            .iter()
            .any(|arg| arg.contains("::"))
}

/// The section's lines and whether the run fails; `None` when nothing is unused.
fn judge(dir: &Path, whole: bool, cwd: &Path) -> anyhow::Result<Option<(Vec<String>, bool)>> {
    let records = unused::take_records(dir)?;
    let found = unused::find(&records, whole)?;
    if found.is_empty() {
        return Ok(None);
    }
    let update = records.iter().any(|r| r.update);
    let ci = records.iter().any(|r| r.ci);
    if update {
        unused::remove(&found)?;
    }
    let verb = if update {
        "deleted"
    } else if ci {
        "failing under --ci"
    } else {
        "--update-snapshots deletes them"
    };
    let mut lines = vec![format!("{} unused snapshot(s) ({verb}):", found.len())];
    for snapshot in &found {
        let file = Path::new(&snapshot.file);
        let shown = file.strip_prefix(cwd).unwrap_or(file);
        lines.push(format!("  {}::{}", shown.display(), snapshot.name));
    }
    Ok(Some((lines, ci && !update)))
}
