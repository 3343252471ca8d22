//! `dx-py affected`: the tests a change can affect, from discovery and the import graph.
//!
//! A test file is affected when it, a `conftest.py` above it, or any first-party module it
//! (transitively) imports is among the changed files.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use dxpy_discover::session;
use dxpy_discover::session::Discovery;
use dxpy_graph::{build_graph, GraphBuild, GraphConfig, PythonVersion, Resolver};

use crate::args::AffectedArgs;
use crate::commands::discover::discover;
use crate::exit::Code;

pub fn run(args: AffectedArgs) -> anyhow::Result<Code> {
    let discovery = match discover(&args.select)? {
        Ok(d) => d,
        Err(err) => {
            eprintln!("ERROR: {err}");
            return Ok(Code::UsageError);
        }
    };
    let rootdir = discovery.config.rootdir.clone();
    let version = parse_version(&args.python_version)?;
    let changed = match &args.since {
        Some(rev) => git_changed(&rootdir, rev)?,
        None => args
            .files
            .iter()
            .map(|f| relative_to(&rootdir, f))
            .collect::<anyhow::Result<_>>()?,
    };

    let (build, test_files) = project_graph(&discovery, version, args.select.no_cache);
    if let Some(err) = &build.cache_save_error {
        eprintln!("dx-py: import cache not saved: {err}");
    }
    if args.verbose {
        for u in &build.unresolved {
            eprintln!(
                "dx-py: unresolved import in {}:{}: {}",
                u.file.display(),
                u.line,
                u.message
            );
        }
    }
    let affected = build.graph.tests_affected(
        changed.iter().map(PathBuf::as_path),
        test_files.iter().map(PathBuf::as_path),
    );

    // Items a conftest hook makes (pytest_collect_file, ...) exist only at run time: when such
    // a conftest is affected, everything under its directory is, as a path pytest accepts.
    let affected_files = build.graph.affected(changed.iter().map(PathBuf::as_path));
    let hook_dirs: Vec<PathBuf> = discovery
        .hook_conftests
        .iter()
        .filter_map(|hook| hook.path.strip_prefix(&rootdir).ok())
        .filter(|conftest| affected_files.contains(*conftest))
        .map(|conftest| conftest.parent().unwrap_or(Path::new("")).to_path_buf())
        .collect();

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut selected = 0;
    for item in &discovery.items {
        if affected.contains(Path::new(module_of(&item.node_id))) {
            writeln!(out, "{}", item.node_id)?;
            selected += 1;
        }
    }
    for dir in &hook_dirs {
        let shown = dir.display().to_string();
        writeln!(out, "{}/", if shown.is_empty() { "." } else { &shown })?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{selected}/{} tests affected by {} changed file{}",
        discovery.items.len(),
        changed.len(),
        if changed.len() == 1 { "" } else { "s" }
    )?;
    if !hook_dirs.is_empty() {
        writeln!(
            out,
            "and every test that conftest hooks collect under the director{} listed",
            if hook_dirs.len() == 1 { "y" } else { "ies" }
        )?;
    }
    out.flush()?;
    Ok(if selected == 0 && hook_dirs.is_empty() {
        Code::NoTestsCollected
    } else {
        Code::Ok
    })
}

/// The import graph of the project's test modules, their conftests and every first-party
/// file they reach, through the project's import cache; and the test modules.
pub(crate) fn project_graph(
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

pub(crate) fn parse_version(text: &str) -> anyhow::Result<PythonVersion> {
    let parsed = text
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
        .and_then(|(major, minor)| PythonVersion::from_minor(major, minor));
    match parsed {
        Some(v) => Ok(v),
        None => bail!("--python-version expects 3.9 to 3.14, got {text:?}"),
    }
}

/// A changed path given on the command line, as a rootdir-relative path.
fn relative_to(rootdir: &Path, file: &Path) -> anyhow::Result<PathBuf> {
    let absolute =
        std::path::absolute(file).with_context(|| format!("resolving {}", file.display()))?;
    match absolute.strip_prefix(rootdir) {
        Ok(rel) => Ok(rel.to_path_buf()),
        Err(_) => bail!(
            "{} is outside the rootdir {}",
            file.display(),
            rootdir.display()
        ),
    }
}

/// Files changed since `rev` (committed, staged, unstaged and untracked), rootdir-relative.
pub(crate) fn git_changed(rootdir: &Path, rev: &str) -> anyhow::Result<Vec<PathBuf>> {
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
