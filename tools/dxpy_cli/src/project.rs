//! What `dx-py affected` and `dx-py test --affected` share about the project: its import
//! graph (through the import cache) and the files git reports changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _};
use dxpy_discover::session::{self, Discovery};
use dxpy_graph::{build_graph, GraphBuild, GraphConfig, PythonVersion, Resolver};

/// The import graph of the project and its test modules ([`project_graph`]).
pub type ProjectGraph = Arc<(GraphBuild, BTreeSet<PathBuf>)>;

/// What one run built: its inputs and the graph. A daemon request needs the graph twice (the
/// result cache, the zygote's preloads); building it once also gives both the same view of
/// the files.
struct Memo {
    discovery_items: usize,
    rootdir: PathBuf,
    version: PythonVersion,
    no_cache: bool,
    graph: ProjectGraph,
}

/// `None` outside a [`GraphScope`]; inside one, what it built so far.
static RUN_GRAPH: Mutex<Option<Option<Memo>>> = Mutex::new(None);

/// Scopes [`project_graph`]'s memo to one run: a run begins with none and leaves none, so a
/// daemon's next request reads the files again. Outside a scope nothing is kept.
#[derive(Debug)]
pub struct GraphScope(());

impl GraphScope {
    pub fn begin() -> GraphScope {
        *run_graph() = Some(None);
        GraphScope(())
    }
}

impl Drop for GraphScope {
    fn drop(&mut self) {
        *run_graph() = None;
    }
}

fn run_graph() -> std::sync::MutexGuard<'static, Option<Option<Memo>>> {
    RUN_GRAPH
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The import graph of the project's test modules, their conftests and every first-party
/// file they reach, through the project's import cache; and the test modules. Within a
/// [`GraphScope`], built once for the same discovery and interpreter version.
pub fn project_graph(
    discovery: &Discovery,
    version: PythonVersion,
    no_cache: bool,
) -> ProjectGraph {
    let mut scope = run_graph();
    let Some(memo) = scope.as_mut() else {
        return Arc::new(build_project_graph(discovery, version, no_cache));
    };
    if let Some(found) = memo.as_ref().filter(|m| {
        m.discovery_items == discovery.items.len()
            && m.rootdir == discovery.config.rootdir
            && m.version == version
            && m.no_cache == no_cache
    }) {
        return Arc::clone(&found.graph);
    }
    let graph = Arc::new(build_project_graph(discovery, version, no_cache));
    *memo = Some(Memo {
        discovery_items: discovery.items.len(),
        rootdir: discovery.config.rootdir.clone(),
        version,
        no_cache,
        graph: Arc::clone(&graph),
    });
    graph
}

fn build_project_graph(
    discovery: &Discovery,
    version: PythonVersion,
    no_cache: bool,
) -> (GraphBuild, BTreeSet<PathBuf>) {
    let rootdir = &discovery.config.rootdir;
    let test_files: BTreeSet<PathBuf> = discovery
        .items
        .iter()
        .map(|i| PathBuf::from(module_of(&i.node_id)))
        .collect();
    let mut seeds: Vec<PathBuf> = test_files.iter().cloned().collect();
    seeds.extend(
        discovery
            .conftests
            .iter()
            .filter_map(|c| c.strip_prefix(rootdir).ok())
            .map(Path::to_path_buf),
    );
    // pytest's `pythonpath` directories come first on sys.path; `src/` layouts put the package
    // root there; the rootdir itself is always a root.
    let mut roots = discovery.config.pythonpath.clone();
    roots.push(PathBuf::new());
    if rootdir.join("src").is_dir() {
        roots.push(PathBuf::from("src"));
    }
    let config = GraphConfig {
        resolver: Resolver::new(rootdir, &roots, version),
        test_files: test_files.clone(),
        prepend_import_mode: true,
        cache_path: session::cache_root()
            .filter(|_| !no_cache)
            .map(|root| session::project_cache_dir(&root, rootdir).join("imports.bin")),
    };
    (build_graph(&config, &seeds), test_files)
}

fn module_of(node_id: &str) -> &str {
    node_id.split("::").next().unwrap_or(node_id)
}

/// Files changed since `rev` (committed, staged, unstaged and untracked), rootdir-relative.
pub fn git_changed(rootdir: &Path, rev: &str) -> anyhow::Result<Vec<PathBuf>> {
    let git = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(rootdir)
            .args(args)
            .output()
            .context("running git")?;
        if !out.status.success() {
            bail!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    for line in git(&["diff", "--name-only", "--relative", rev, "--"])?.lines() {
        files.insert(PathBuf::from(line));
    }
    for line in git(&["ls-files", "--others", "--exclude-standard"])?.lines() {
        files.insert(PathBuf::from(line));
    }
    Ok(files.into_iter().collect())
}
