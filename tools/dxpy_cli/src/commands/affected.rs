//! `dx-py affected`: the tests a change can affect, from discovery and the import graph.
//!
//! A test file is affected when it, a `conftest.py` above it, or any first-party module it
//! (transitively) imports is among the changed files.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use dxpy_graph::PythonVersion;

use crate::args::AffectedArgs;
use crate::commands::discover::discover;
use crate::exit::Code;
use crate::project::{git_changed, project_graph};

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

    let graph = project_graph(&discovery, version, args.select.no_cache);
    let (build, test_files) = &*graph;
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
