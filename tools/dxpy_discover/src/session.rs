//! One discovery run: config, walk, parallel analysis, index.
//!
//! Layout:
//! - this file: [`discover`] and its result types; the run is written against a small
//!   `Backend` (analysis + index I/O) so its mechanics can be tested without the real
//!   analyser.
//! - [`cache`]: the per-file serve/re-hash/analyse decision, cache dir creation, clearing.
//! - [`resolve`]: cross-file knowledge (imported definitions, conftest fixtures and hooks).
//! - [`deps`]: the index's sidecar of cross-file dependency hashes.
//! - [`hook_scope`]: the directories where `pytest_collect_file` hooks make items the runner
//!   has to collect.
//! - [`select`]: assembling items in pytest order and deselecting (`::` selectors,
//!   `--deselect`, `-k`, `-m`).
//!
//! Caching and cross-file results: every loaded conftest's contents (and files it imports
//! fixtures from) are folded into the index fingerprint, so a changed conftest rebuilds the
//! index; a module whose analysis read definitions from other project files is cached with
//! those files' hashes in the [`deps`] sidecar and re-analysed when one of them changes.

pub mod cache;
pub mod deps;
pub mod hook_scope;
pub mod resolve;
pub mod select;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use cache::{cache_root, clear_cache, project_cache_dir, INDEX_FILE_NAME, LOCK_FILE_NAME};
pub use hook_scope::HookScope;

use crate::config::{self, Config, ConfigError, ConfigRequest};
use crate::expr::ExprError;
use crate::index::{self, FileStamp, Index, IndexError};
use crate::item::{CollectError, FileResult, TestItem};
use crate::module::fixtures::{ConftestHook, VisibleFixtures};
use crate::module::{self, ModuleContext};
use crate::params::IdOptions;
use crate::walk::{self, WalkError, WalkProblem};
use cache::{CacheDecision, StatStamp};
use dxpy_fs::FileLock;

/// Version of what the analysis derives from a file: part of the index fingerprint.
const ANALYSIS_SCHEMA: &str =
    "dxpy-analysis-3 (fixture params, imported definitions, hypothesis given)";

/// Files above this size are not analysed by default (generated code, data blobs).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// What to discover and how.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    pub request: ConfigRequest,
    /// Where the index lives, if anywhere.
    pub cache: CacheLocation,
    pub max_file_size: u64,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            request: ConfigRequest::default(),
            cache: CacheLocation::Off,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
        }
    }
}

/// Where a run keeps its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// Neither read nor write an index (`--no-cache`).
    Off,
    /// This exact directory.
    Dir(PathBuf),
    /// The project's own directory below this cache root, named after the resolved rootdir
    /// (which only the run knows): see [`project_cache_dir`].
    UnderRoot(PathBuf),
}

/// A failure that stops discovery: pytest reports these as usage errors (exit code 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error(transparent)]
    Expr(#[from] ExprError),
    /// A `path::name` argument that matched nothing.
    #[error("not found: {arg}\n(no match in any of [<Module {module}>])")]
    NodeNotFound { arg: String, module: String },
}

impl DiscoverError {
    /// pytest's exit code for this error.
    pub fn exit_code(&self) -> i32 {
        4
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryStats {
    /// Test modules considered.
    pub files: usize,
    /// Files not served from the index (analysed, or failed to read / too large).
    pub analysed: usize,
    /// Served because (mtime, size) matched.
    pub served_by_stat: usize,
    /// Served because the contents hash matched.
    pub served_by_hash: usize,
    pub index_written: bool,
}

/// The result of a discovery run.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The resolved configuration (rootdir, inifile, options).
    pub config: Config,
    /// Selected items in pytest's order.
    pub items: Vec<TestItem>,
    /// Collection errors, in collection order.
    pub errors: Vec<CollectError>,
    pub deselected: usize,
    /// Node IDs of kept items whose selection only the runner can decide (parameters known at
    /// run time matched against `-k`, `-m`, `--deselect` or a `[param]` argument).
    pub undecided: Vec<String>,
    /// Under `strict_markers`: `-m` names registered neither in the config nor by pytest.
    /// pytest fails (exit code 4) unless a conftest or plugin registers them at run time.
    pub unknown_markers: Vec<String>,
    /// `conftest.py` files pytest would load, in load order.
    pub conftests: Vec<PathBuf>,
    /// Files only the runner can collect (doctest modules and text files), rootdir-relative.
    pub doctest_files: Vec<String>,
    /// Conftests whose `collect_ignore*` could not be read statically.
    pub dynamic_conftests: Vec<PathBuf>,
    /// Conftests defining hooks that change collection (`pytest_collect_file`,
    /// `pytest_pycollect_makeitem`, `pytest_collection_modifyitems`, `pytest_generate_tests`):
    /// what pytest collects under them needs Python. Tests under a `pytest_generate_tests`
    /// conftest are reported as dynamic; the other hooks are not emulated at all.
    pub hook_conftests: Vec<HookConftest>,
    /// Where `pytest_collect_file` conftests (or pytest's doctest plugin) can make items from
    /// the walked files: the runner collects these directories through pytest (see
    /// [`hook_scope`]).
    pub hook_scopes: Vec<HookScope>,
    /// One-line messages for the user (e.g. a rebuilt cache).
    pub notices: Vec<String>,
    pub stats: DiscoveryStats,
}

/// A conftest defining collection hooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConftest {
    pub path: PathBuf,
    pub hooks: Vec<ConftestHook>,
}

/// Cached results, looked up by rootdir-relative path.
pub(crate) trait CacheSource: Send + Sync {
    fn lookup(&self, rel_path: &str) -> Option<(FileStamp, FileResult)>;
    /// Every path the cache holds, so a narrow run can carry the others over.
    fn paths(&self) -> Vec<String>;
}

impl CacheSource for Index {
    fn lookup(&self, rel_path: &str) -> Option<(FileStamp, FileResult)> {
        self.get(rel_path)
    }

    fn paths(&self) -> Vec<String> {
        Index::paths(self)
            .filter_map(Result::ok)
            .map(str::to_owned)
            .collect()
    }
}

type AnalyzeFn<'a> = &'a (dyn Fn(&[u8], &ModuleContext<'_>) -> FileResult + Sync);
type OpenIndexFn<'a> = &'a dyn Fn(&Path, &[u8; 32]) -> Result<Box<dyn CacheSource>, IndexError>;
type WriteIndexFn<'a> =
    &'a dyn Fn(&Path, &[u8; 32], &[(String, FileStamp, FileResult)]) -> Result<(), IndexError>;

/// The analyser and the index I/O a run uses.
pub(crate) struct Backend<'a> {
    pub analyze: AnalyzeFn<'a>,
    pub open_index: OpenIndexFn<'a>,
    pub write_index: WriteIndexFn<'a>,
}

/// Discover tests the way `pytest --collect-only` would, without importing anything.
pub fn discover(options: &DiscoverOptions) -> Result<Discovery, DiscoverError> {
    let open = |path: &Path, fingerprint: &[u8; 32]| -> Result<Box<dyn CacheSource>, IndexError> {
        Ok(Box::new(Index::open(path, fingerprint)?))
    };
    let write =
        |path: &Path, fingerprint: &[u8; 32], entries: &[(String, FileStamp, FileResult)]| {
            index::write_index(
                path,
                fingerprint,
                entries.iter().map(|(p, s, r)| (p.as_str(), s, r)),
            )
        };
    let backend = Backend {
        analyze: &module::analyze,
        open_index: &open,
        write_index: &write,
    };
    run(options, &backend)
}

/// Keep the cached entries of files this run did not look at (a run over one directory must not
/// evict the rest of the project), as long as the file still exists; whether it is still
/// current is decided by its stamp on the next run that visits it.
fn carry_over_unvisited(
    cache: &dyn CacheSource,
    rootdir: &Path,
    entries: &mut Vec<(String, FileStamp, FileResult)>,
) {
    let visited: std::collections::HashSet<String> =
        entries.iter().map(|(path, _, _)| path.clone()).collect();
    for path in cache.paths() {
        if visited.contains(&path) || !rootdir.join(&path).is_file() {
            continue;
        }
        if let Some((stamp, result)) = cache.lookup(&path) {
            entries.push((path, stamp, result));
        }
    }
}

/// How one file's result was obtained.
enum Outcome {
    Served(FileStamp),
    ServedRefreshed(FileStamp),
    Analysed(FileStamp),
    /// Not cacheable (I/O problem, too large).
    Uncached,
}

pub(crate) fn run(
    options: &DiscoverOptions,
    backend: &Backend<'_>,
) -> Result<Discovery, DiscoverError> {
    let config = config::load(&options.request)?;
    let walked = walk::walk(&config)?;
    let resolver = resolve::ProjectResolver::new(
        &config.rootdir,
        &config.name_rules,
        walked
            .files
            .iter()
            .map(|f| f.path.as_path())
            .chain(walked.conftests.iter().map(PathBuf::as_path)),
    );
    let conftests = resolve::ConftestSet::load(
        &walked.conftests,
        &config.rootdir,
        &config.name_rules,
        &resolver,
    );
    let mut notices = Vec::new();
    let fingerprint = index_fingerprint(&config, &conftests);
    let store = CacheStore::open(
        &options.cache,
        backend,
        &config.rootdir,
        fingerprint,
        &mut notices,
    );
    let project = Project::new(&config, &walked);
    let visible = project.visible_fixtures(&conftests);
    let outcomes = project.analyse(options, backend, &resolver, &visible, &store);
    let mut tally = project.tally(outcomes, &resolver, &store);
    tally.stats.index_written = store.save(backend, &tally, &mut notices);
    let results = tally.results;
    let stats = tally.stats;

    let (mut errors, dynamic_conftests) = walk_problems(&config, &walked, &mut notices);
    let hook_conftests = hook_conftests(&conftests, &mut notices);
    let doctests: Vec<&walk::CollectedFile> = walked
        .files
        .iter()
        .filter(|f| f.roles.doctest_module || (f.roles.doctest_text && has_examples(&f.path)))
        .collect();
    // Doctest items are made by pytest's own `pytest_collect_file` (the doctest plugin):
    // their directories are collected through pytest, as a collecting conftest's are.
    let collecting_files: Vec<&Path> = hook_conftests
        .iter()
        .filter(|c| c.hooks.contains(&ConftestHook::CollectFile))
        .map(|c| c.path.as_path())
        .chain(doctests.iter().map(|f| f.path.as_path()))
        .collect();
    let mut hook_scopes = hook_scope::hook_scopes(&config.rootdir, &collecting_files, &walked.dirs);
    hook_scopes.extend(doctest_file_args(&walked, &hook_scopes));
    let selection = select::select(&config, &walked, &results)?;
    errors.extend(selection.errors);
    let doctest_files = doctests.iter().map(|f| f.rel_path.clone()).collect();
    Ok(Discovery {
        items: selection.items,
        errors,
        deselected: selection.deselected,
        undecided: selection.undecided,
        unknown_markers: selection.unknown_markers,
        conftests: walked.conftests,
        doctest_files,
        dynamic_conftests,
        hook_conftests,
        hook_scopes,
        notices,
        stats,
        config,
    })
}

/// Whether a doctest text file can hold an example: a line whose first characters (after
/// blanks) are doctest's `>>>` prompt. One that cannot makes no item under pytest (pygments'
/// `test*.txt` snippets match the default glob and hold none), so nothing needs collecting.
/// A file that cannot be read, or is not UTF-8 (pytest may fail to decode it: a collection
/// error), is left to the workers.
fn has_examples(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return true;
    };
    std::str::from_utf8(&bytes).map_or(true, |text| {
        text.lines()
            .any(|line| line.trim_start_matches([' ', '\t']).starts_with(">>>"))
    })
}

/// Doctest files given as arguments (`pkg/mod.py`, `pkg/mod.py::pkg.mod.f`) outside every
/// directory scope: each is a scope of its own, collected through pytest as given.
fn doctest_file_args(walked: &walk::Walk, dir_scopes: &[HookScope]) -> Vec<HookScope> {
    let mut scopes: Vec<HookScope> = Vec::new();
    for arg in &walked.args {
        let [index] = arg.files[..] else { continue };
        let file = &walked.files[index];
        if !(file.roles.doctest_module || file.roles.doctest_text) || !arg.path.is_file() {
            continue;
        }
        let dir = file.rel_path.rsplit_once('/').map_or("", |(dir, _)| dir);
        if dir_scopes.iter().any(|s| hook_scope::within(dir, &s.root)) {
            continue;
        }
        let mut root = file.rel_path.clone();
        if let Some(selector) = &arg.selector {
            for part in &selector.parts {
                root.push_str("::");
                root.push_str(part);
            }
            root.push_str(selector.parametrization.as_deref().unwrap_or(""));
        }
        if !scopes.iter().any(|s| s.root == root) {
            scopes.push(HookScope {
                root,
                subdirs: Vec::new(),
            });
        }
    }
    scopes
}

/// The index fingerprint: what makes every cached result invalid when it changes.
fn index_fingerprint(config: &Config, conftests: &resolve::ConftestSet) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    // Bumped whenever the analysis changes what it derives from unchanged files.
    hasher.update(ANALYSIS_SCHEMA.as_bytes());
    hasher.update(&config.fingerprint());
    hasher.update(&conftests.digest);
    *hasher.finalize().as_bytes()
}

/// Where this run's index lives: `None` when caching is off or its directory cannot be made.
fn index_path(
    location: &CacheLocation,
    rootdir: &Path,
    notices: &mut Vec<String>,
) -> Option<PathBuf> {
    let dir = match location {
        CacheLocation::Off => return None,
        CacheLocation::Dir(dir) => dir.clone(),
        CacheLocation::UnderRoot(root) => project_cache_dir(root, rootdir),
    };
    match dxpy_fs::ensure_private_dir(&dir) {
        Ok(()) => Some(dir.join(INDEX_FILE_NAME)),
        Err(e) => {
            notices.push(format!(
                "discovery cache disabled: cannot create {}: {e}",
                dir.display()
            ));
            None
        }
    }
}

/// The run's index and its dependency sidecar: where they live and what they held.
struct CacheStore {
    fingerprint: [u8; 32],
    index_path: Option<PathBuf>,
    deps_path: Option<PathBuf>,
    /// Pairs the index with its sidecar: read under a shared lock, written under an exclusive
    /// one, so a concurrent run's pair is never mixed with ours (an index trusted with another
    /// run's dependency hashes could serve stale results).
    lock_path: Option<PathBuf>,
    cached: Option<Box<dyn CacheSource>>,
    old_deps: deps::DepMap,
    /// Modules whose recorded cross-file dependencies changed: never served.
    stale: std::collections::BTreeSet<String>,
    /// The index is written even when no entry changed (it was unusable).
    rebuild: bool,
}

impl CacheStore {
    /// Open the index (and its sidecar) for this run; problems become notices and a rebuild.
    fn open(
        location: &CacheLocation,
        backend: &Backend<'_>,
        rootdir: &Path,
        fingerprint: [u8; 32],
        notices: &mut Vec<String>,
    ) -> CacheStore {
        let mut index_path = index_path(location, rootdir, notices);
        let lock_path = index_path
            .as_ref()
            .map(|p| p.with_file_name(LOCK_FILE_NAME));
        let read_lock = match &lock_path {
            Some(path) => match FileLock::shared(path) {
                Ok(lock) => Some(lock),
                Err(e) => {
                    notices.push(format!(
                        "discovery cache disabled: cannot lock {}: {e}",
                        path.display()
                    ));
                    index_path = None;
                    None
                }
            },
            None => None,
        };
        let mut rebuild = false;
        let mut cached: Option<Box<dyn CacheSource>> = match &index_path {
            None => None,
            Some(path) => match (backend.open_index)(path, &fingerprint) {
                Ok(index) => Some(index),
                Err(IndexError::Missing) => None,
                // A configuration change is routine: rebuild without a word.
                Err(IndexError::Fingerprint) => {
                    rebuild = true;
                    None
                }
                Err(e) => {
                    notices.push(format!(
                        "discovery cache {} not used ({e}); rebuilding it",
                        path.display()
                    ));
                    rebuild = true;
                    None
                }
            },
        };
        let deps_path = index_path
            .as_ref()
            .map(|p| p.with_file_name(deps::DEPS_FILE_NAME));
        let old_deps: deps::DepMap = match (&cached, &deps_path) {
            (Some(_), Some(path)) => match deps::read(path, &fingerprint) {
                Some(map) => map,
                // Without it, entries that depend on other files cannot be checked.
                None => {
                    cached = None;
                    rebuild = true;
                    deps::DepMap::new()
                }
            },
            _ => deps::DepMap::new(),
        };
        // The mapped index stays valid after a rename replaces it; the lock only pairs the reads.
        drop(read_lock);
        let stale = deps::HashMemo::default().stale_modules(&old_deps);
        CacheStore {
            fingerprint,
            index_path,
            deps_path,
            lock_path,
            cached,
            old_deps,
            stale,
            rebuild,
        }
    }

    /// Write the sidecar, then the index, when anything changed; whether the index was written.
    fn save(&self, backend: &Backend<'_>, tally: &Tally, notices: &mut Vec<String>) -> bool {
        let mut write_index = tally.changed || self.rebuild;
        let _write_lock = match (&self.lock_path, &self.index_path, write_index) {
            (Some(path), Some(index), true) => match FileLock::exclusive(path) {
                Ok(lock) => Some(lock),
                Err(e) => {
                    notices.push(format!(
                        "discovery cache {} not written: cannot lock {}: {e}",
                        index.display(),
                        path.display()
                    ));
                    write_index = false;
                    None
                }
            },
            _ => None,
        };
        if let (Some(path), true) = (&self.deps_path, write_index) {
            // The sidecar goes first: an index without it is never trusted.
            if let Err(e) = deps::write(path, &self.fingerprint, &tally.new_deps) {
                notices.push(format!(
                    "discovery cache {} not written: {e}",
                    path.display()
                ));
                write_index = false;
            }
        }
        if let (Some(path), true) = (&self.index_path, write_index) {
            match (backend.write_index)(path, &self.fingerprint, &tally.entries) {
                Ok(()) => return true,
                Err(e) => notices.push(format!(
                    "discovery cache {} not written: {e}",
                    path.display()
                )),
            }
        }
        false
    }
}

/// The walked files and the test modules among them, as the analysis steps see them.
struct Project<'a> {
    config: &'a Config,
    walked: &'a walk::Walk,
    /// Indexes into `walked.files` of the test modules.
    modules: Vec<usize>,
}

/// What the per-file outcomes add up to: results in walk order, the index's new entries.
struct Tally {
    stats: DiscoveryStats,
    /// Some entry was analysed or re-stamped: the index needs writing.
    changed: bool,
    entries: Vec<(String, FileStamp, FileResult)>,
    /// Indexed like `walked.files`; `None` for files that are not test modules.
    results: Vec<Option<FileResult>>,
    new_deps: deps::DepMap,
}

impl<'a> Project<'a> {
    fn new(config: &'a Config, walked: &'a walk::Walk) -> Self {
        let modules = (0..walked.files.len())
            .filter(|&i| walked.files[i].roles.test_module)
            .collect();
        Project {
            config,
            walked,
            modules,
        }
    }

    /// The conftest fixtures visible in each directory holding a test module.
    fn visible_fixtures(
        &self,
        conftests: &resolve::ConftestSet,
    ) -> std::collections::HashMap<PathBuf, VisibleFixtures> {
        let mut visible = std::collections::HashMap::new();
        for &i in &self.modules {
            let dir = self.walked.files[i]
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            visible
                .entry(dir)
                .or_insert_with_key(|dir| conftests.visible(dir));
        }
        visible
    }

    /// Serve or analyse every test module, in parallel; outcomes follow `self.modules`.
    fn analyse(
        &self,
        options: &DiscoverOptions,
        backend: &Backend<'_>,
        resolver: &resolve::ProjectResolver,
        visible: &std::collections::HashMap<PathBuf, VisibleFixtures>,
        store: &CacheStore,
    ) -> Vec<(FileResult, Outcome)> {
        let config = self.config;
        let now = cache::now_ns();
        let id_options = IdOptions {
            disable_escaping: config.disable_id_escaping,
            long_str: config.long_str_id_strategy,
            empty_set_mark: config.empty_parameter_set_mark,
            strict_ids: config.strict_parametrization_ids.unwrap_or(config.strict),
        };
        self.modules
            .par_iter()
            .map(|&i| {
                let file = &self.walked.files[i];
                let mut ctx = ModuleContext::new(&file.rel_path, &config.name_rules);
                ctx.resolver = Some(resolver);
                ctx.fixtures = file.path.parent().and_then(|dir| visible.get(dir));
                ctx.disable_id_escaping = config.disable_id_escaping;
                ctx.collect_imported_tests = config.collect_imported_tests;
                ctx.id_options = id_options;
                // Only files under rootdir have unique rootdir-relative keys.
                let cache = store.cached.as_deref().filter(|_| {
                    file.path.starts_with(&config.rootdir) && !store.stale.contains(&file.rel_path)
                });
                load_one(
                    &file.path,
                    &ctx,
                    cache,
                    options.max_file_size,
                    now,
                    backend.analyze,
                )
            })
            .collect()
    }

    /// Count the outcomes and gather the index's entries and dependency records.
    fn tally(
        &self,
        outcomes: Vec<(FileResult, Outcome)>,
        resolver: &resolve::ProjectResolver,
        store: &CacheStore,
    ) -> Tally {
        let files = &self.walked.files;
        let mut tally = Tally {
            stats: DiscoveryStats {
                files: self.modules.len(),
                ..DiscoveryStats::default()
            },
            changed: false,
            entries: Vec::new(),
            results: vec![None; files.len()],
            new_deps: deps::DepMap::new(),
        };
        let mut analysed_now = std::collections::HashSet::new();
        for (&i, (result, outcome)) in self.modules.iter().zip(outcomes) {
            let rel = files[i].rel_path.clone();
            let outcome = if files[i].path.starts_with(&self.config.rootdir) {
                outcome
            } else {
                Outcome::Uncached
            };
            match outcome {
                Outcome::Served(stamp) => {
                    tally.stats.served_by_stat += 1;
                    tally.entries.push((rel, stamp, result.clone()));
                }
                Outcome::ServedRefreshed(stamp) => {
                    tally.stats.served_by_hash += 1;
                    tally.changed = true;
                    tally.entries.push((rel, stamp, result.clone()));
                }
                Outcome::Analysed(stamp) => {
                    tally.stats.analysed += 1;
                    tally.changed = true;
                    let dependencies = resolver.dependencies(&rel);
                    if !dependencies.is_empty() {
                        tally.new_deps.insert(rel.clone(), dependencies);
                    }
                    analysed_now.insert(rel.clone());
                    tally.entries.push((rel, stamp, result.clone()));
                }
                Outcome::Uncached => tally.stats.analysed += 1,
            }
            tally.results[i] = Some(result);
        }
        if let (Some(cache), true) = (&store.cached, tally.changed) {
            carry_over_unvisited(cache.as_ref(), &self.config.rootdir, &mut tally.entries);
        }
        // Served and carried-over entries keep the dependencies recorded when they were analysed.
        for (rel, _, _) in &tally.entries {
            if !analysed_now.contains(rel) {
                if let Some(recorded) = store.old_deps.get(rel) {
                    tally.new_deps.insert(rel.clone(), recorded.clone());
                }
            }
        }
        tally
    }
}

/// Problems of the walk: unreadable directories are collection errors, the rest notices;
/// also the conftests whose `collect_ignore` needs the runner.
fn walk_problems(
    config: &Config,
    walked: &walk::Walk,
    notices: &mut Vec<String>,
) -> (Vec<CollectError>, Vec<PathBuf>) {
    let mut errors = Vec::new();
    let mut dynamic_conftests = Vec::new();
    for problem in &walked.problems {
        match problem {
            WalkProblem::UnreadableDir { path, message } => errors.push(CollectError::Unreadable {
                path: rel_to(&config.rootdir, path),
                message: message.clone(),
            }),
            WalkProblem::SymlinkLoop { path } => {
                notices.push(format!("not following symlink loop at {}", path.display()))
            }
            WalkProblem::ConftestNeedsRunner { path, reason } => {
                notices.push(format!(
                    "{}: collect_ignore is only known at run time ({reason}): the \
                     interpreter's pytest is asked which test modules it leaves",
                    path.display()
                ));
                dynamic_conftests.push(path.clone());
            }
        }
    }
    (errors, dynamic_conftests)
}

/// The conftests defining collection hooks, each announced with a notice.
fn hook_conftests(
    conftests: &resolve::ConftestSet,
    notices: &mut Vec<String>,
) -> Vec<HookConftest> {
    let hook_conftests: Vec<HookConftest> = conftests
        .hooks()
        .map(|(path, hooks)| HookConftest {
            path: path.to_path_buf(),
            hooks: hooks.to_vec(),
        })
        .collect();
    for conftest in &hook_conftests {
        let names: Vec<&str> = conftest.hooks.iter().map(|h| h.name()).collect();
        let asked = [ConftestHook::CollectFile, ConftestHook::IgnoreCollect];
        let listing = if conftest.hooks.iter().all(|hook| asked.contains(hook)) {
            "the interpreter's pytest is asked which test modules it leaves out, and, in a \
             directory without test modules, which items it makes"
        } else {
            "`dx-py discover` cannot list it"
        };
        notices.push(format!(
            "{}: defines {}; what it collects is only known at run time (`dx-py test` \
             collects it in the workers; {listing})",
            conftest.path.display(),
            names.join(", ")
        ));
    }
    hook_conftests
}

fn rel_to(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace(std::path::MAIN_SEPARATOR, "/")
}

fn load_one(
    path: &Path,
    ctx: &ModuleContext<'_>,
    cached: Option<&dyn CacheSource>,
    max_size: u64,
    now: i128,
    analyze: AnalyzeFn<'_>,
) -> (FileResult, Outcome) {
    let failed = |error: CollectError| {
        (
            FileResult {
                items: Vec::new(),
                errors: vec![error],
            },
            Outcome::Uncached,
        )
    };
    let unreadable = |e: std::io::Error| {
        failed(CollectError::Unreadable {
            path: ctx.rel_path.to_string(),
            message: e.to_string(),
        })
    };
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return unreadable(e),
    };
    if metadata.len() > max_size {
        return failed(CollectError::TooLarge {
            path: ctx.rel_path.to_string(),
            limit: max_size,
        });
    }
    let stat: StatStamp = cache::stat_stamp(&metadata);
    let entry = cached.and_then(|c| c.lookup(ctx.rel_path));
    let mut source: Option<Vec<u8>> = None;
    let mut read_error: Option<std::io::Error> = None;
    let decision = cache::decide(
        entry.as_ref().map(|(s, _)| s),
        stat,
        now,
        || match std::fs::read(path) {
            Ok(bytes) => {
                let hash = *blake3::hash(&bytes).as_bytes();
                source = Some(bytes);
                hash
            }
            Err(e) => {
                read_error = Some(e);
                [0; 32]
            }
        },
    );
    if let Some(e) = read_error {
        return unreadable(e);
    }
    match (decision, entry) {
        (CacheDecision::Serve, Some((stamp, result))) => (result, Outcome::Served(stamp)),
        (CacheDecision::ServeRefreshed(stamp), Some((_, result))) => {
            (result, Outcome::ServedRefreshed(stamp))
        }
        (CacheDecision::Analyse(stamp), _) => match source {
            Some(bytes) if bytes.len() as u64 <= max_size => {
                (analyze(&bytes, ctx), Outcome::Analysed(stamp))
            }
            Some(_) => failed(CollectError::TooLarge {
                path: ctx.rel_path.to_string(),
                limit: max_size,
            }),
            None => failed(CollectError::Other {
                path: ctx.rel_path.to_string(),
                message: "file vanished while reading".into(),
            }),
        },
        // `decide` only serves when there is an entry.
        (_, None) => failed(CollectError::Other {
            path: ctx.rel_path.to_string(),
            message: "internal cache inconsistency".into(),
        }),
    }
}

#[cfg(test)]
mod tests;
