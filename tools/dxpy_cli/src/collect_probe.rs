//! What discovery cannot decide without Python, asked of the interpreter's pytest once and
//! kept:
//! - which test modules skip themselves while collected (`pytest.importorskip`,
//!   `pytest.skip(allow_module_level=True)`, `unittest.SkipTest` at module level): pytest
//!   collects nothing from those, and whether they skip depends on the interpreter and what
//!   is installed;
//! - the doctest items of the doctest modules and text files discovery found (with
//!   `--doctest-modules` or `--doctest-glob`), and the items of conftests'
//!   `pytest_collect_file` hooks in directories of data files, with pytest's own node IDs;
//! - which test modules pytest collects at all under a conftest whose `collect_ignore` is
//!   computed at run time ([`drop_ignored_modules`], also before `dx-py test` runs).
//!
//! A tree-sitter pass finds the modules that may skip ([`skips_at_import`]), and a doctest
//! needs a `>>>` line; `collect_probe.py` runs `pytest --collect-only` on those paths alone
//! (under a dynamic conftest, without importing the test modules). The answer is kept under
//! the project's cache while those files and directories, the conftests, the config file,
//! the interpreter and its installed distributions are unchanged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dxpy_discover::module::fixtures::ConftestHook;
use dxpy_discover::module::skips_at_import;
use dxpy_discover::session::Discovery;
use dxpy_discover::{ParamState, TestItem, TestKind};

use crate::pytest_probe::{interpreter_context, stamp_text};

/// Run as `python -c`: see the script's docstring.
const PROBE: &str = include_str!("collect_probe.py");
const MARKER: &str = "DXPY_COLLECT_PROBE ";

/// The probe's report (see `collect_probe.py`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Report {
    skipped: Vec<String>,
    items: Vec<String>,
    doctests: Vec<String>,
    /// The test modules collected (not imported) under the listing-only directories.
    modules: Vec<String>,
    site_dirs: Vec<String>,
    exit: i32,
}

/// An answer as kept on disk, with the stamps of what it depends on.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Kept {
    report: Report,
    watched: Vec<(PathBuf, String)>,
    distributions: String,
}

impl Kept {
    fn still_holds(&self) -> bool {
        self.watched
            .iter()
            .all(|(path, stamp)| stamp_text(path) == *stamp)
            && distributions(&self.report.site_dirs) == self.distributions
    }
}

/// One question for the probe: the paths to collect, and the directories under which test
/// modules are only listed, not imported.
struct Question<'a> {
    python: &'a Path,
    rootdir: &'a Path,
    paths: Vec<String>,
    listing_dirs: Vec<String>,
    /// Discovery's test modules under `listing_dirs`.
    listing_modules: Vec<String>,
}

impl Question<'_> {
    /// The kept answer while nothing it depends on changed, else the probe's (then kept).
    fn answer(&self, discovery: &Discovery, cache_dir: Option<&Path>) -> Result<Report, String> {
        // A listing-only directory's answer depends on which test modules exist there (in
        // the key, from discovery) and the conftests, not on every file below it.
        let trees: Vec<String> = self
            .paths
            .iter()
            .filter(|path| !self.listing_dirs.contains(path))
            .cloned()
            .collect();
        let watched = watched_files(discovery, self.rootdir, &trees);
        let kept_path = cache_dir
            .zip(self.cache_key())
            .map(|(dir, key)| dir.join("collect-probe").join(format!("{key}.json")));
        let kept = kept_path
            .as_deref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice::<Kept>(&bytes).ok())
            .filter(Kept::still_holds);
        if let Some(kept) = kept {
            return Ok(kept.report);
        }
        let report = self.ask()?;
        if let Some(path) = &kept_path {
            keep(path, &report, &watched);
        }
        Ok(report)
    }

    /// The interpreter, the directory, pytest's environment, the probe and the question
    /// (none without a current directory: nothing is kept then).
    fn cache_key(&self) -> Option<String> {
        let mut hasher = blake3::Hasher::new();
        let mut text = |part: &str| {
            hasher.update(part.as_bytes());
            hasher.update(&[0]);
        };
        for part in interpreter_context(self.python, PROBE).ok()? {
            text(&part);
        }
        for path in &self.paths {
            text(path);
        }
        text("listing only:");
        for dir in &self.listing_dirs {
            text(dir);
        }
        text("test modules there:");
        for module in &self.listing_modules {
            text(module);
        }
        Some(hasher.finalize().to_hex().to_string())
    }

    /// Runs the probe (absolute paths, from the current directory).
    fn ask(&self) -> Result<Report, String> {
        let listing: Vec<PathBuf> = self
            .listing_dirs
            .iter()
            .map(|d| self.rootdir.join(d))
            .collect();
        let listing = std::env::join_paths(listing).map_err(|err| err.to_string())?;
        let output = Command::new(self.python)
            .arg("-c")
            .arg(PROBE)
            .args(self.paths.iter().map(|m| self.rootdir.join(m)))
            .env("DXPY_LISTING_DIRS", listing)
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
            .ok_or_else(|| format!("it exited with {} and no answer", output.status))?;
        // pytest's internal and usage errors: nothing it collected can be trusted.
        if matches!(report.exit, 3 | 4) {
            return Err(format!("its pytest exited with code {}", report.exit));
        }
        Ok(report)
    }
}

/// Drops the items of test modules that pytest does not collect under a conftest whose
/// `collect_ignore` only Python can compute (a version check, an import): the modules it
/// collects there are asked of `python`'s pytest, which imports the conftests but no test
/// module. Returns a notice when pytest could not be asked; the items then stay (and a run
/// reports what pytest would have ignored).
pub fn drop_ignored_modules(
    discovery: &mut Discovery,
    python: &Path,
    cache_dir: Option<&Path>,
) -> Option<String> {
    let rootdir = discovery.config.rootdir.clone();
    let ignoring = discovery
        .hook_conftests
        .iter()
        .filter(|c| c.hooks.contains(&ConftestHook::IgnoreCollect))
        .map(|c| &c.path);
    let mut dirs: Vec<String> = discovery
        .dynamic_conftests
        .iter()
        .chain(ignoring)
        .filter_map(|conftest| {
            let dir = conftest.parent()?.strip_prefix(&rootdir).ok()?;
            Some(
                dir.to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/"),
            )
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    if dirs.is_empty() {
        return None;
    }
    let question = Question {
        python,
        rootdir: &rootdir,
        paths: dirs.clone(),
        listing_dirs: dirs.clone(),
        listing_modules: modules_under(discovery, &dirs),
    };
    let report = match question.answer(discovery, cache_dir) {
        Ok(report) => report,
        Err(why) => {
            return Some(format!(
                "cannot ask {}'s pytest which test modules its conftests' computed \
                 collect_ignore leaves ({why}); discovery's list is used",
                python.display()
            ))
        }
    };
    let collected: BTreeSet<&str> = report.modules.iter().map(String::as_str).collect();
    discovery.items.retain(|item| {
        !under_any(file_of(&item.node_id), &dirs) || collected.contains(file_of(&item.node_id))
    });
    None
}

/// Whether rootdir-relative `file` lies under one of `dirs` (`""`: the rootdir).
fn under_any(file: &str, dirs: &[String]) -> bool {
    dirs.iter()
        .any(|dir| dir.is_empty() || file.starts_with(&format!("{dir}/")))
}

/// Discovery's test modules under `dirs`, sorted.
fn modules_under(discovery: &Discovery, dirs: &[String]) -> Vec<String> {
    let modules: BTreeSet<&str> = discovery
        .items
        .iter()
        .map(|item| file_of(&item.node_id))
        .filter(|file| under_any(file, dirs))
        .collect();
    modules.into_iter().map(str::to_owned).collect()
}

/// Completes the listing with what only `python`'s pytest can tell: drops the items of the
/// modules that skip themselves (pytest lists none of them) and adds the items of doctest
/// files and of `pytest_collect_file` hooks. Returns a notice when pytest could not be
/// asked; the listing then stays static.
pub fn complete_listing(
    discovery: &mut Discovery,
    python: &Path,
    cache_dir: Option<&Path>,
) -> Option<String> {
    let rootdir = discovery.config.rootdir.clone();
    let skip_candidates = skip_candidates(discovery, &rootdir);
    let hook_dirs = hook_dirs(discovery, &rootdir);
    let mut paths = skip_candidates.clone();
    paths.extend(doctest_candidates(discovery, &rootdir));
    paths.extend(hook_dirs.iter().cloned());
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        return None;
    }
    let question = Question {
        python,
        rootdir: &rootdir,
        paths,
        listing_dirs: Vec::new(),
        listing_modules: Vec::new(),
    };
    let report = match question.answer(discovery, cache_dir) {
        Ok(report) => report,
        Err(why) => {
            return Some(format!(
                "cannot ask {}'s pytest which modules skip themselves and which items \
                 doctests and collection hooks make ({why}); the listing is discovery's alone",
                python.display()
            ))
        }
    };
    let skipped: BTreeSet<&str> = report.skipped.iter().map(String::as_str).collect();
    discovery
        .items
        .retain(|item| !skipped.contains(file_of(&item.node_id)));
    // New: doctests, and the items made under the hook directories. (The skip candidates
    // that did not skip keep discovery's items, whose dynamic parameters stay function-level;
    // a doctest file given as an argument is collected as a test module too, which pytest
    // does not do when walking.)
    let doctests: BTreeSet<&str> = report.doctests.iter().map(String::as_str).collect();
    let known: std::collections::HashSet<&str> =
        discovery.items.iter().map(|i| i.node_id.as_str()).collect();
    let under_hook_dir = |id: &str| {
        hook_dirs
            .iter()
            .any(|dir| file_of(id).starts_with(&format!("{dir}/")))
    };
    let new: Vec<String> = report
        .items
        .iter()
        .filter(|id| doctests.contains(id.as_str()) || under_hook_dir(id))
        .filter(|id| !known.contains(id.as_str()))
        .cloned()
        .collect();
    merge_in_walk_order(&mut discovery.items, new);
    None
}

fn file_of(node_id: &str) -> &str {
    node_id.split("::").next().unwrap_or_default()
}

/// Walk order of two node IDs' files: directories and files in name order, component by
/// component, as pytest walks them.
fn walk_order(a: &str, b: &str) -> std::cmp::Ordering {
    file_of(a).split('/').cmp(file_of(b).split('/'))
}

/// Merges pytest's new items (in its collection order) into discovery's: each comes before
/// the first item of a later file, and before a file's own test items, as pytest's doctest
/// and hook collectors come before the Python one for the same file.
fn merge_in_walk_order(items: &mut Vec<TestItem>, new: Vec<String>) {
    if new.is_empty() {
        return;
    }
    let old = std::mem::take(items);
    items.reserve(old.len() + new.len());
    let mut new = new.into_iter().peekable();
    for item in old {
        while let Some(id) = new.next_if(|id| walk_order(id, &item.node_id).is_le()) {
            items.push(probed_item(id));
        }
        items.push(item);
    }
    items.extend(new.map(probed_item));
}

fn probed_item(node_id: String) -> TestItem {
    TestItem {
        node_id,
        line: 0,
        kind: TestKind::Function,
        is_async: false,
        marks: Vec::new(),
        params: ParamState::None,
    }
}

/// The directories of conftests' `pytest_collect_file` hooks that hold none of discovery's
/// test items (data files only, as pygments' examples): collecting them costs pytest no test
/// module import. (Where test modules live too, the workers still collect at run time.)
fn hook_dirs(discovery: &Discovery, rootdir: &Path) -> Vec<String> {
    let args = &discovery.config.args;
    if args.keyword.is_some() || args.markexpr.is_some() || !args.deselect.is_empty() {
        return Vec::new();
    }
    discovery
        .hook_conftests
        .iter()
        .filter(|c| c.hooks.contains(&ConftestHook::CollectFile))
        .filter_map(|c| {
            let dir = c.path.parent()?.strip_prefix(rootdir).ok()?;
            Some(
                dir.to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/"),
            )
        })
        .filter(|dir| {
            !dir.is_empty()
                && discovery
                    .items
                    .iter()
                    .all(|item| !file_of(&item.node_id).starts_with(&format!("{dir}/")))
        })
        .collect()
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

/// What the answer depends on, on disk: the files and directories asked about, the
/// conftests, the config file.
fn watched_files(discovery: &Discovery, rootdir: &Path, paths: &[String]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        add_tree(&rootdir.join(path), &mut files);
    }
    files.extend(discovery.conftests.iter().cloned());
    files.extend(discovery.config.inifile.iter().cloned());
    files
}

/// A file, or a directory with everything under it (a directory's own stamp changes when an
/// entry is added or removed).
fn add_tree(path: &Path, files: &mut Vec<PathBuf>) {
    files.push(path.to_path_buf());
    // Not through symbolic links: a loop would never end.
    let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    if let Some(entries) = is_dir.then(|| std::fs::read_dir(path).ok()).flatten() {
        let mut children: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        children.sort();
        for child in children {
            add_tree(&child, files);
        }
    }
}

fn distributions(site_dirs: &[String]) -> String {
    let dirs: Vec<&Path> = site_dirs.iter().map(Path::new).collect();
    dxpy_results::distributions_fingerprint(&dirs)
}

/// Keeping is best effort: without it the next run asks again.
fn keep(path: &Path, report: &Report, watched: &[PathBuf]) {
    let kept = Kept {
        report: report.clone(),
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
