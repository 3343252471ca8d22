//! What discovery cannot decide without Python, asked of the interpreter's pytest once and
//! kept:
//! - which test modules skip themselves while collected (`pytest.importorskip`,
//!   `pytest.skip(allow_module_level=True)`, `unittest.SkipTest` at module level): pytest
//!   collects nothing from those, and whether they skip depends on the interpreter and what
//!   is installed;
//! - the doctest items of the doctest modules and text files discovery found (with
//!   `--doctest-modules` or `--doctest-glob`), with pytest's own node IDs.
//!
//! A tree-sitter pass finds the modules that may skip ([`skips_at_import`]), and a doctest
//! needs a `>>>` line; `collect_probe.py` runs `pytest --collect-only` on those files alone.
//! The answer is kept under the project's cache while those files, the conftests, the config
//! file, the interpreter and its installed distributions are unchanged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dxpy_discover::module::skips_at_import;
use dxpy_discover::session::Discovery;
use dxpy_discover::{ParamState, TestItem, TestKind};

/// Run as `python -c`: see the script's docstring.
const PROBE: &str = include_str!("collect_probe.py");
const MARKER: &str = "DXPY_COLLECT_PROBE ";

/// The probe's report (see `collect_probe.py`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Report {
    skipped: Vec<String>,
    doctests: Vec<String>,
    site_dirs: Vec<String>,
    exit: i32,
}

/// A verdict as kept on disk, with the stamps of what it depends on.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Kept {
    skipped: Vec<String>,
    doctests: Vec<String>,
    site_dirs: Vec<String>,
    watched: Vec<(PathBuf, String)>,
    distributions: String,
}

impl Kept {
    fn still_holds(&self) -> bool {
        self.watched
            .iter()
            .all(|(path, stamp)| stamp_text(path) == *stamp)
            && distributions(&self.site_dirs) == self.distributions
    }
}

/// Completes the listing with what only `python`'s pytest can tell: drops the items of the
/// modules that skip themselves (pytest lists none of them) and adds the doctest items.
/// Returns a notice when pytest could not be asked; the listing then stays static.
pub fn complete_listing(
    discovery: &mut Discovery,
    python: &Path,
    cache_dir: Option<&Path>,
) -> Option<String> {
    let rootdir = discovery.config.rootdir.clone();
    let mut candidates = skip_candidates(discovery, &rootdir);
    candidates.extend(doctest_candidates(discovery, &rootdir));
    candidates.sort();
    candidates.dedup();
    if candidates.is_empty() {
        return None;
    }
    let watched = watched_files(discovery, &rootdir, &candidates);
    let kept_path = cache_dir.map(|dir| {
        dir.join("collect-probe")
            .join(format!("{}.json", cache_key(python, &candidates)))
    });
    let kept = kept_path
        .as_deref()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice::<Kept>(&bytes).ok())
        .filter(Kept::still_holds);
    let (skipped, doctests) = match kept {
        Some(kept) => (kept.skipped, kept.doctests),
        None => {
            let report = match ask(python, &rootdir, &candidates) {
                Ok(report) => report,
                Err(why) => {
                    return Some(format!(
                        "cannot ask {}'s pytest which modules skip themselves and which \
                         doctests there are ({why}); the listing is discovery's alone",
                        python.display()
                    ))
                }
            };
            if let Some(path) = &kept_path {
                keep(path, &report, &watched);
            }
            (report.skipped, report.doctests)
        }
    };
    let skipped: BTreeSet<&str> = skipped.iter().map(String::as_str).collect();
    discovery
        .items
        .retain(|item| !skipped.contains(file_of(&item.node_id)));
    insert_doctests(&mut discovery.items, doctests);
    None
}

fn file_of(node_id: &str) -> &str {
    node_id.split("::").next().unwrap_or_default()
}

/// Adds doctest items where pytest's walk meets their files (directories and files in name
/// order), in the probe's order: before a file's own test items, as pytest's doctest
/// collector comes before its Python one for the same file.
fn insert_doctests(items: &mut Vec<TestItem>, doctests: Vec<String>) {
    let walk_key =
        |node_id: &str| -> Vec<String> { file_of(node_id).split('/').map(str::to_owned).collect() };
    let mut inserted: BTreeSet<String> = BTreeSet::new();
    for node_id in doctests {
        if items.iter().any(|item| item.node_id == node_id) {
            continue;
        }
        let key = walk_key(&node_id);
        let at = items
            .iter()
            .position(|item| {
                let other = walk_key(&item.node_id);
                other > key || (other == key && !inserted.contains(&item.node_id))
            })
            .unwrap_or(items.len());
        inserted.insert(node_id.clone());
        items.insert(
            at,
            TestItem {
                node_id,
                line: 0,
                kind: TestKind::Function,
                is_async: false,
                marks: Vec::new(),
                params: ParamState::None,
            },
        );
    }
}

/// The doctest modules and text files that can hold an example, unless the command selects
/// by keyword, mark or deselection, which only pytest applies to doctests (they stay
/// unlisted then, as before).
fn doctest_candidates(discovery: &Discovery, rootdir: &Path) -> Vec<String> {
    let args = &discovery.config.args;
    if args.keyword.is_some() || args.markexpr.is_some() || !args.deselect.is_empty() {
        return Vec::new();
    }
    discovery
        .doctest_files
        .iter()
        .filter(|file| {
            std::fs::read(rootdir.join(file)).map_or(true, |source| contains(&source, b">>>"))
        })
        .cloned()
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Rootdir-relative paths of the listed modules that may skip themselves at import.
fn skip_candidates(discovery: &Discovery, rootdir: &Path) -> Vec<String> {
    let modules: BTreeSet<&str> = discovery
        .items
        .iter()
        .map(|item| item.node_id.split("::").next().unwrap_or_default())
        .collect();
    modules
        .into_iter()
        .filter(|module| {
            std::fs::read(rootdir.join(module)).is_ok_and(|source| skips_at_import(&source))
        })
        .map(str::to_owned)
        .collect()
}

/// What the answer depends on, on disk: the files asked about, the conftests, the config file.
fn watched_files(discovery: &Discovery, rootdir: &Path, candidates: &[String]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = candidates.iter().map(|m| rootdir.join(m)).collect();
    files.extend(discovery.conftests.iter().cloned());
    files.extend(discovery.config.inifile.iter().cloned());
    files
}

/// The interpreter, the directory, pytest's environment, the probe and the candidates.
fn cache_key(python: &Path, candidates: &[String]) -> String {
    let mut hasher = blake3::Hasher::new();
    let mut text = |part: &str| {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    };
    let executable = std::fs::canonicalize(python).unwrap_or_else(|_| python.to_path_buf());
    text(&executable.to_string_lossy());
    text(&stamp_text(&executable));
    text(PROBE);
    if let Ok(dir) = std::env::current_dir() {
        text(&dir.to_string_lossy());
    }
    for name in [
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "PYTHONPATH",
    ] {
        text(&format!("{name}={:?}", std::env::var_os(name)));
    }
    for candidate in candidates {
        text(candidate);
    }
    hasher.finalize().to_hex().to_string()
}

fn stamp_text(path: &Path) -> String {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| Some(format!("{} {}", dxpy_fs::mtime_ns(&m).ok()?, m.len())))
        .unwrap_or_default()
}

fn distributions(site_dirs: &[String]) -> String {
    let dirs: Vec<&Path> = site_dirs.iter().map(Path::new).collect();
    dxpy_results::distributions_fingerprint(&dirs)
}

/// Keeping is best effort: without it the next run asks again.
fn keep(path: &Path, report: &Report, watched: &[PathBuf]) {
    let kept = Kept {
        skipped: report.skipped.clone(),
        doctests: report.doctests.clone(),
        site_dirs: report.site_dirs.clone(),
        watched: watched.iter().map(|p| (p.clone(), stamp_text(p))).collect(),
        distributions: distributions(&report.site_dirs),
    };
    let Some(dir) = path.parent() else { return };
    if dxpy_fs::ensure_private_dir(dir).is_err() {
        return;
    }
    if let Ok(bytes) = serde_json::to_vec(&kept) {
        let _ = dxpy_fs::write_private_atomic(path, &bytes);
    }
}

/// Runs the probe on the candidates (absolute paths, from the current directory).
fn ask(python: &Path, rootdir: &Path, candidates: &[String]) -> Result<Report, String> {
    let output = Command::new(python)
        .arg("-c")
        .arg(PROBE)
        .args(candidates.iter().map(|m| rootdir.join(m)))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|err| format!("running it failed: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(MARKER))
        .and_then(|json| serde_json::from_str::<Report>(json).ok())
        .ok_or_else(|| format!("it exited with {} and no verdict", output.status))?;
    // pytest's internal and usage errors: nothing it collected can be trusted.
    if matches!(report.exit, 3 | 4) {
        return Err(format!("its pytest exited with code {}", report.exit));
    }
    Ok(report)
}
