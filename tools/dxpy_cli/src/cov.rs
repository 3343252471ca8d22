//! `dx-py test --cov`: pytest-cov measures in each worker, this run combines and reports once.
//!
//! Under pytest with pytest-xdist, pytest-cov's workers measure and its controller combines;
//! here the workers are dx-py's. When pytest-cov may be active (a `--cov` among the run's
//! pytest options: command line, `addopts`, `PYTEST_ADDOPTS`), the run makes a private
//! directory and hands it to every worker (`DXPY_COV_DIR`): the worker's pytest-cov keeps its
//! data there instead of the project's `.coverage` and reports nothing
//! (`worker/dxpy_worker/cov_worker.py`), and writes the options it resolved (`plan.json`).
//! `cov_report.py` starts in the user's interpreter with the run (its imports overlap the
//! tests); after the workers exited, [`Coverage::finish`] sends it their data: it combines
//! them into the project's data file and produces pytest-cov's report with pytest-cov's own
//! code, so the text, the report files (`xml`, `html`, `lcov`, `json`, ...) and the
//! `--cov-fail-under` verdict are pytest-cov's.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;

use crate::terminal::{Stat, Terminal};

/// The environment variable that hands a worker its coverage directory.
pub const ENV_DIR: &str = "DXPY_COV_DIR";
const PLAN_FILE: &str = "plan.json";
const SCRIPT: &str = include_str!("cov_report.py");

/// Whether pytest's options (as the run's pytest gets them) ask pytest-cov to measure: a
/// `--cov` or `--cov=SOURCE`. A superset is harmless: without an active pytest-cov plugin
/// (`--no-cov`, or pytest-cov not installed, which pytest reports as a usage error) no
/// worker writes a plan and nothing is reported.
pub fn wanted<S: AsRef<str>>(options: &[S]) -> bool {
    options.iter().any(|option| {
        let option = option.as_ref();
        option == "--cov" || option.starts_with("--cov=")
    })
}

/// A run's coverage: its private data directory, removed when dropped, and the combiner,
/// started with the run so that its imports overlap the tests.
#[derive(Debug)]
pub struct Coverage {
    dir: PathBuf,
    combiner: Option<Child>,
}

/// What pytest-cov would write for the run: [`Coverage::finish`]'s answer (the terminal
/// prints it, so it is the terminal's type).
pub use crate::terminal::CoverageReport as Report;

impl Coverage {
    /// Makes the run's private data directory and starts the combiner in `python` (the
    /// workers' interpreter) in `cwd`, where pytest-cov's controller would run (the
    /// invocation directory); `width`: the terminal's, for pytest-cov's `_` rule.
    pub fn start(python: &Path, cwd: &Path, width: usize) -> anyhow::Result<Coverage> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("dxpy-cov-{}-{nanos}", std::process::id()));
        dxpy_fs::ensure_private_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let combiner = Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .current_dir(cwd)
            .env("COLUMNS", width.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("running {}", python.display()))?;
        Ok(Coverage {
            dir,
            combiner: Some(combiner),
        })
    }

    /// The workers' environment entry.
    pub fn worker_env(&self) -> (OsString, OsString) {
        (ENV_DIR.into(), self.dir.clone().into_os_string())
    }

    /// After the workers exited: combine their data and produce pytest-cov's report. `None`
    /// when no worker's pytest-cov was active; `failed`: whether any test failed
    /// (`--no-cov-on-fail`).
    pub fn finish(&mut self, failed: bool) -> anyhow::Result<Option<Report>> {
        let (plan, data_files) = self.worker_outputs()?;
        let mut child = self
            .combiner
            .take()
            .context("the coverage combiner already ran")?;
        let Some(plan) = plan else {
            // Its stdin closes empty: it exits.
            drop(child.stdin.take());
            let _ = child.wait();
            return Ok(None);
        };
        let request = serde_json::json!({
            "plan": plan,
            "data_files": data_files,
            "failed": failed,
        });
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(request.to_string().as_bytes())?;
        }
        let output = child.wait_with_output()?;
        anyhow::ensure!(
            output.status.success(),
            "combining coverage data failed ({})",
            output.status
        );
        let report = serde_json::from_slice(&output.stdout)
            .context("reading the coverage combiner's answer")?;
        Ok(Some(report))
    }

    /// The first worker's plan and every worker's data files (sorted: a stable combine).
    fn worker_outputs(&self) -> anyhow::Result<(Option<serde_json::Value>, Vec<PathBuf>)> {
        let mut plan = None;
        let mut data_files = Vec::new();
        let mut workers: Vec<PathBuf> = read_dir_paths(&self.dir)?;
        workers.sort();
        for worker in workers {
            for path in read_dir_paths(&worker)? {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                if name == PLAN_FILE && plan.is_none() {
                    let bytes = std::fs::read(&path)?;
                    plan = Some(serde_json::from_slice(&bytes).context("reading a plan.json")?);
                } else if name == ".coverage" || name.starts_with(".coverage.") {
                    data_files.push(path);
                }
            }
        }
        data_files.sort();
        Ok((plan, data_files))
    }
}

impl Drop for Coverage {
    fn drop(&mut self) {
        // A run that never reached its report (interrupted, failed to start).
        if let Some(mut child) = self.combiner.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// After the run (every worker exited): writes pytest-cov's report of it into `terminal`.
/// True when `--cov-fail-under` failed (pytest's exit code becomes 1).
pub fn report<W: Write>(coverage: &mut Coverage, terminal: &mut Terminal<W>) -> bool {
    let failed = terminal.count(Stat::Failed) + terminal.count(Stat::Error) > 0;
    match coverage.finish(failed) {
        Ok(Some(report)) => {
            let fail_under = report.tests_failed;
            if let Err(err) = terminal.coverage(report) {
                eprintln!("dx-py: output error: {err}");
            }
            fail_under
        }
        Ok(None) => false,
        Err(err) => {
            eprintln!("dx-py: coverage not reported: {err:#}");
            false
        }
    }
}

fn read_dir_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_only_for_a_cov_source_option() {
        assert!(wanted(&["-q", "--cov"]));
        assert!(wanted(&["--cov=pkg", "--cov-report=xml"]));
        assert!(wanted(&["--cov="]));
        assert!(!wanted(&["--cov-report=term", "--cov-branch", "--no-cov"]));
        assert!(!wanted::<&str>(&[]));
    }
}
