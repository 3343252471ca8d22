//! What `dx-py affected` and `dx-py test --affected` share about the project: its import
//! graph (through the import cache) and the files git reports changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use dxpy_discover::session::{self, Discovery};
use dxpy_graph::{build_graph, GraphBuild, GraphConfig, PythonVersion, Resolver};

/// The import graph of the project's test modules, their conftests and every first-party
/// file they reach, through the project's import cache; and the test modules.
pub fn project_graph(
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
