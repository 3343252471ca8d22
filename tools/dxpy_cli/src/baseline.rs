//! pytest's time on the user's suite, recorded by `dx-py bench` and shown beside later runs
//! of the same selection (`79 passed in 0.37s (2.6x pytest's 0.97s)`).
//!
//! Kept per project in `<cache>/projects/<hash>/bench/baselines.json`, one entry per
//! selection (the interpreter and the arguments pytest sees), written atomically (0600 in a
//! 0700 directory); an unreadable file counts as no baseline and is replaced by the next
//! `dx-py bench`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use dxpy_discover::session;
use serde::{Deserialize, Serialize};

use crate::args::TestArgs;
use crate::commands::discover::pytest_args;

/// One selection's last side-by-side run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub pytest_seconds: f64,
    pub dxpy_seconds: f64,
    /// Tests whose outcomes were compared (they all agreed).
    pub tests: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Baselines {
    by_selection: BTreeMap<String, Baseline>,
}

/// The arguments pytest would see for `args` (selection, pass-through options, and the
/// options dx-py takes that change which tests run or how: `-x`, `--maxfail`, `--lf`,
/// `--ff`, `-s`, `--capture`), without dx-py's own (`-n`, `--affected`, `--python`, output).
pub fn pytest_side(args: &TestArgs) -> Vec<String> {
    let mut out = pytest_args(&args.select);
    out.extend(args.pytest.passthrough.iter().cloned());
    if args.exitfirst {
        out.push("-x".into());
    }
    if let Some(n) = args.maxfail {
        out.push(format!("--maxfail={n}"));
    }
    if args.last_failed {
        out.push("--lf".into());
    }
    if args.failed_first {
        out.push("--ff".into());
    }
    if args.no_capture {
        out.push("-s".into());
    }
    if let Some(method) = &args.capture {
        out.push(format!("--capture={method}"));
    }
    out
}

/// What identifies a selection: the interpreter and what pytest sees.
pub fn key(python: &Path, args: &TestArgs) -> String {
    let mut parts = vec![python.to_string_lossy().into_owned()];
    parts.extend(pytest_side(args));
    parts.join("\0")
}

fn file(rootdir: &Path) -> Option<PathBuf> {
    let root = session::cache_root()?;
    Some(
        session::project_cache_dir(&root, rootdir)
            .join("bench")
            .join("baselines.json"),
    )
}

fn load(path: &Path) -> Option<Baselines> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The recorded baseline of `key` in the project at `rootdir`, if any.
pub fn lookup(rootdir: &Path, key: &str) -> Option<Baseline> {
    load(&file(rootdir)?)?.by_selection.remove(key)
}

/// Records `baseline` for `key`; returns where.
pub fn record(rootdir: &Path, key: &str, baseline: Baseline) -> anyhow::Result<PathBuf> {
    let path = file(rootdir).context("no cache directory (set XDG_CACHE_HOME or HOME)")?;
    let mut all = load(&path).unwrap_or_default();
    all.by_selection.insert(key.to_owned(), baseline);
    let dir = path.parent().context("baseline file without a directory")?;
    dxpy_fs::ensure_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = serde_json::to_vec_pretty(&all)?;
    dxpy_fs::write_private_atomic(&path, &bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The summary line's note: `2.6x pytest's 0.97s`.
pub fn note(baseline: &Baseline, elapsed: Duration) -> String {
    let ratio = baseline.pytest_seconds / elapsed.as_secs_f64().max(0.001);
    format!("{ratio:.1}x pytest's {:.2}s", baseline.pytest_seconds)
}
