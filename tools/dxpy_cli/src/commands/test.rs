//! `dx-py test`: discover without importing, plan units longest-first, run them in warm
//! workers, and report like pytest (terminal, JUnit XML, exit code).

use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal as _;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dxpy_discover::session::{self, Discovery};
use dxpy_discover::ParamState;
use dxpy_runner::pool::PoolConfig;
use dxpy_runner::protocol::{Engine, Outcome};
use dxpy_runner::run::{NotRunReason, Run, RunConfig, RunEvent, StopReason};
use dxpy_runner::scheduler::{plan_batched, DurationStore, ModuleTests, SplitPolicy};

use crate::args::TestArgs;
use crate::commands::discover::{discover, pytest_args};
use crate::exit::Code;
use crate::junit::JunitBuilder;
use crate::render;
use crate::terminal::{Stat, Terminal};

const DURATIONS_FILE: &str = "durations.json";
const LAST_FAILED_FILE: &str = "lastfailed.json";

pub fn run(args: TestArgs) -> anyhow::Result<Code> {
    let start = Instant::now();
    let discovery = match discover(&args.select)? {
        Ok(d) => d,
        Err(err) => {
            eprintln!("ERROR: {err}");
            return Ok(Code::UsageError);
        }
    };
    for notice in &discovery.notices {
        eprintln!("dx-py: {notice}");
    }
    let state_dir = session::cache_root()
        .map(|root| session::project_cache_dir(&root, &discovery.config.rootdir));
    let last_failed = state_dir
        .as_deref()
        .map(load_last_failed)
        .unwrap_or_default();

    let mut node_ids: Vec<String> = discovery.items.iter().map(|i| i.node_id.clone()).collect();
    let mut lf_note = None;
    if args.last_failed {
        let failed: Vec<String> = node_ids
            .iter()
            .filter(|id| is_recorded_failure(&last_failed, id))
            .cloned()
            .collect();
        lf_note = Some(if failed.is_empty() {
            "run-last-failure: no previously failed tests, not deselecting items.".to_string()
        } else {
            format!("run-last-failure: rerun previous {} failures", failed.len())
        });
        if !failed.is_empty() {
            node_ids = failed;
        }
    }
    let modules = group_by_module(&node_ids);
    let durations_path = state_dir.as_ref().map(|d| d.join(DURATIONS_FILE));
    let (mut store, _) = match &durations_path {
        Some(path) => DurationStore::load(path),
        None => DurationStore::load(Path::new("")),
    };
    let mut units = plan_batched(&modules, &store, SplitPolicy::default());
    if args.failed_first {
        // Units holding a recorded failure go first; the rest keep the longest-first order.
        units.sort_by_key(|u| {
            !u.node_ids
                .iter()
                .any(|id| is_recorded_failure(&last_failed, id))
        });
    }

    let verbosity = (args.verbose as i8) - (args.quiet as i8);
    let color = match args.color.as_str() {
        "yes" => true,
        "no" => false,
        _ => std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal(),
    };
    let total = node_ids.len();
    let mut terminal = Terminal::new(std::io::stdout().lock(), verbosity, color, total);
    terminal.add_deselected(discovery.deselected + discovery.items.len() - total);

    let pool = pool_config(&args, &discovery)?;
    let mut header = vec![
        format!(
            "dx-py {} -- {} workers",
            env!("CARGO_PKG_VERSION"),
            pool.worker_count()
        ),
        format!("rootdir: {}", discovery.config.rootdir.display()),
    ];
    if let Some(ini) = &discovery.config.inifile {
        header.push(format!(
            "configfile: {}",
            rel_or_abs(ini, &discovery.config.rootdir)
        ));
    }
    if let Some(note) = &lf_note {
        header.push(note.clone());
    }
    header.push(collected_line(&discovery, total));
    terminal.header(&header)?;

    // Collection errors found statically are pytest's "ERROR collecting": reported, and like
    // pytest the session stops before running anything.
    if !discovery.errors.is_empty() {
        terminal.write_raw(&render::collect_errors(&discovery.errors))?;
        terminal.add_errors(discovery.errors.len());
        terminal.finish(start.elapsed(), None, None)?;
        return Ok(Code::Interrupted);
    }
    if total == 0 {
        terminal.finish(start.elapsed(), None, None)?;
        return Ok(Code::NoTestsCollected);
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        // A second Ctrl-C while we flush falls through to the default handler.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let maxfail = maxfail_of(&args);
    let runner = Run::new(RunConfig {
        pool,
        maxfail,
        interrupt: Some(Arc::clone(&interrupted)),
    });
    let mut junit = JunitBuilder::default();
    let mut failed_now: BTreeSet<String> = BTreeSet::new();
    let mut passed_now: BTreeSet<String> = BTreeSet::new();
    let mut io_error = None;
    let mut workers_started = 0usize;
    let mut start_failure: Option<String> = None;
    let summary = runner
        .execute(units, |event| {
            let result = match &event {
                RunEvent::Report { result, .. } | RunEvent::Incident { result, .. } => {
                    junit.report(result);
                    if result.in_summary {
                        match result.outcome {
                            Outcome::Failed | Outcome::Error => {
                                failed_now.insert(result.node_id.clone());
                            }
                            Outcome::Passed => {
                                passed_now.insert(result.node_id.clone());
                            }
                            _ => {}
                        }
                    }
                    terminal.report(result)
                }
                RunEvent::CollectError { report, .. } => {
                    junit.collect_error(&report.node_id, &report.longrepr);
                    failed_now.insert(report.node_id.clone());
                    terminal.collect_error(report)
                }
                RunEvent::WorkerStarted { .. } => {
                    workers_started += 1;
                    Ok(())
                }
                RunEvent::WorkerStartFailed { message, .. } => {
                    start_failure.get_or_insert_with(|| message.clone());
                    Ok(())
                }
                // No worker ever started: one clear error at the end beats one per test.
                RunEvent::NotRun {
                    reason: NotRunReason::WorkerLost(_),
                    ..
                } if workers_started == 0 && start_failure.is_some() => Ok(()),
                RunEvent::NotRun {
                    node_id,
                    reason: NotRunReason::WorkerLost(message),
                } => {
                    junit.collect_error(node_id, &format!("not run: worker lost: {message}"));
                    failed_now.insert(node_id.clone());
                    terminal.lost(node_id, message)
                }
                RunEvent::Warning { .. } => {
                    terminal.add_warnings(1);
                    Ok(())
                }
                _ => Ok(()),
            };
            if let Err(err) = result {
                io_error.get_or_insert(err);
            }
            if interrupted.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .context("starting the worker pool")?;
    if let Some(err) = io_error {
        // A closed stdout (e.g. piped into `head`) must not lose the JUnit file or the state.
        eprintln!("dx-py: output error: {err}");
    }

    if workers_started == 0 {
        if let Some(message) = start_failure {
            eprintln!("ERROR: no worker could start: {}", message.trim_end());
            eprintln!(
                "hint: pass --python, or activate the virtualenv that has the suite's dependencies"
            );
            return Ok(Code::InternalError);
        }
    }
    let elapsed = start.elapsed();
    let was_interrupted = interrupted.load(Ordering::SeqCst)
        || matches!(
            summary.stop,
            Some(StopReason::Interrupted | StopReason::Cancelled)
        );
    let banner = match &summary.stop {
        _ if was_interrupted => Some("KeyboardInterrupt".to_string()),
        Some(StopReason::MaxFail(n)) => Some(format!("stopping after {n} failures")),
        Some(StopReason::Exit(code)) => Some(format!("_pytest.outcomes.Exit: exit code {code}")),
        _ => None,
    };
    terminal.finish(elapsed, args.durations, banner)?;

    if let Some(path) = &args.junit_xml {
        junit
            .write(path, elapsed)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(dir) = &state_dir {
        for (key, seconds) in &summary.unit_durations {
            store.record(key, *seconds);
        }
        if let Some(path) = &durations_path {
            if let Err(err) = store.save(path) {
                eprintln!("dx-py: durations not saved: {err}");
            }
        }
        save_last_failed(dir, last_failed, &failed_now, &passed_now);
    }

    Ok(if was_interrupted {
        Code::Interrupted
    } else if let Some(StopReason::Exit(code)) = summary.stop {
        exit_code_of(code)
    } else if terminal.count(Stat::Failed) + terminal.count(Stat::Error) > 0 {
        Code::TestsFailed
    } else if total == 0 {
        Code::NoTestsCollected
    } else {
        Code::Ok
    })
}

/// `-x` is `--maxfail=1`; `--maxfail=0` means no limit, as in pytest.
fn maxfail_of(args: &TestArgs) -> Option<u32> {
    if args.exitfirst {
        Some(1)
    } else {
        args.maxfail.filter(|&n| n > 0)
    }
}

fn exit_code_of(code: i32) -> Code {
    match code {
        0 => Code::Ok,
        1 => Code::TestsFailed,
        2 => Code::Interrupted,
        3 => Code::InternalError,
        4 => Code::UsageError,
        _ => Code::NoTestsCollected,
    }
}

fn collected_line(discovery: &Discovery, selected: usize) -> String {
    let collected = discovery.items.len() + discovery.deselected;
    let noun = if collected == 1 { "item" } else { "items" };
    let mut line = format!("collected {collected} {noun}");
    match discovery.errors.len() {
        0 => {}
        1 => line.push_str(" / 1 error"),
        n => line.push_str(&format!(" / {n} errors")),
    }
    let deselected = collected - selected;
    if deselected > 0 {
        line.push_str(&format!(" / {deselected} deselected / {selected} selected"));
    }
    line
}

fn rel_or_abs(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Node IDs grouped by module in first-seen order: the scheduler's input.
fn group_by_module(node_ids: &[String]) -> Vec<ModuleTests> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut modules: Vec<ModuleTests> = Vec::new();
    for id in node_ids {
        let path = id.split("::").next().unwrap_or(id);
        let slot = *index.entry(path).or_insert_with(|| {
            modules.push(ModuleTests {
                path: path.to_string(),
                node_ids: Vec::new(),
            });
            modules.len() - 1
        });
        modules[slot].node_ids.push(id.clone());
    }
    modules
}

fn pool_config(args: &TestArgs, discovery: &Discovery) -> anyhow::Result<PoolConfig> {
    let mut pool = PoolConfig::new(discovery.config.rootdir.clone());
    pool.workers = match args.workers.as_str() {
        "auto" | "logical" => 0,
        n => n
            .parse()
            .with_context(|| format!("-n expects a number or 'auto', got {n:?}"))?,
    };
    // Workers start in the rootdir: a relative interpreter path means relative to here.
    // A bare name (`python3.12`) is left for PATH lookup.
    pool.python = match &args.python {
        Some(p) if p.components().count() > 1 && p.is_relative() => Some(std::path::absolute(p)?),
        other => other.clone(),
    };
    // A suite that uses pytest (conftests, marks, parametrize) needs the pytest engine: a
    // missing pytest is then a clear start-up error, not a wall of ImportErrors. Plain suites
    // run under pytest when it is installed, else under the native engine.
    let uses_pytest = !discovery.conftests.is_empty()
        || discovery
            .items
            .iter()
            .any(|i| !i.marks.is_empty() || i.params != ParamState::None);
    pool.engine = if uses_pytest {
        Engine::Pytest
    } else {
        Engine::Auto
    };
    // The workers' pytest sees the same selection arguments (it needs `-k`/`-m` for items
    // whose parameters only exist at run time) and the project's own configuration.
    pool.pytest_args = pytest_args(&args.select)
        .into_iter()
        .filter(|a| !args.select.paths.contains(a))
        .collect();
    // Stopping inside a unit is the worker's pytest session's job (its `shouldfail`); the pool
    // stops handing out units. Both count failures and errors, as pytest does.
    if let Some(n) = maxfail_of(args) {
        pool.pytest_args.push(format!("--maxfail={n}"));
    }
    pool.test_timeout = args
        .timeout
        .filter(|t| *t > 0.0)
        .map(Duration::from_secs_f64);
    pool.preload = preload_modules(&discovery.config.rootdir.join("pyproject.toml"))?;
    Ok(pool)
}

/// `[tool.dx-py] preload = ["numpy", ...]` in the project's pyproject.toml: modules every
/// worker imports before its first test.
fn preload_modules(pyproject: &Path) -> anyhow::Result<Vec<String>> {
    let text = match std::fs::read_to_string(pyproject) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("reading {}", pyproject.display())),
    };
    let doc: toml::Table = text
        .parse()
        .with_context(|| format!("{}: invalid TOML", pyproject.display()))?;
    let Some(value) = doc
        .get("tool")
        .and_then(|t| t.get("dx-py"))
        .and_then(|t| t.get("preload"))
    else {
        return Ok(Vec::new());
    };
    let bad = || {
        anyhow::anyhow!(
            "{}: [tool.dx-py] preload must be a list of module names",
            pyproject.display()
        )
    };
    value
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

/// The node IDs that failed in earlier runs: a JSON list, validated; anything else is empty.
fn load_last_failed(dir: &Path) -> BTreeSet<String> {
    std::fs::read(dir.join(LAST_FAILED_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok())
        .map(|ids| ids.into_iter().collect())
        .unwrap_or_default()
}

/// A failure recorded for this node, or for the function it parametrizes (dynamic IDs).
fn is_recorded_failure(recorded: &BTreeSet<String>, node_id: &str) -> bool {
    if recorded.contains(node_id) {
        return true;
    }
    // The set is sorted: the first entry at or after `node_id[` is the only candidate, so this
    // stays a lookup instead of a scan per test.
    let prefix = format!("{node_id}[");
    recorded
        .range(prefix.clone()..)
        .next()
        .is_some_and(|r| r.starts_with(&prefix))
}

/// pytest's cacheprovider rule: tests that passed now leave the set, new failures join it.
fn save_last_failed(
    dir: &Path,
    mut recorded: BTreeSet<String>,
    failed: &BTreeSet<String>,
    passed: &BTreeSet<String>,
) {
    recorded.retain(|id| !passed.contains(id));
    recorded.extend(failed.iter().cloned());
    let ids: Vec<&String> = recorded.iter().collect();
    let result = serde_json::to_vec(&ids)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            dxpy_discover::index::write_private_atomic(&dir.join(LAST_FAILED_FILE), &bytes)
        });
    if let Err(err) = result {
        eprintln!("dx-py: last-failed state not saved: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_id_matches_its_recorded_parametrizations_only() {
        let recorded: BTreeSet<String> = ["a.py::test_x[2]", "a.py::test_xA", "b.py::test_y"]
            .map(String::from)
            .into();
        assert!(is_recorded_failure(&recorded, "a.py::test_x"));
        assert!(is_recorded_failure(&recorded, "b.py::test_y"));
        assert!(!is_recorded_failure(&recorded, "a.py::test"));
        assert!(!is_recorded_failure(&recorded, "b.py::test"));
        assert!(!is_recorded_failure(&recorded, "a.py::test_x[1]"));
    }
}
