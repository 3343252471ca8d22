//! `dx-py discover`: pytest's `--collect-only -q`, without importing Python.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use dxpy_discover::config::ConfigRequest;
use dxpy_discover::session::{self, CacheLocation, DiscoverError, DiscoverOptions, Discovery};
use serde_json::json;

use crate::args::{DiscoverArgs, SelectArgs};
use crate::exit::Code;
use crate::render;

pub(crate) use crate::args::pytest_args;

/// Run discovery for `args` with the user's cache; errors are pytest's usage errors.
pub(crate) fn discover(args: &SelectArgs) -> anyhow::Result<Result<Discovery, DiscoverError>> {
    discover_with(pytest_args(args), args.no_cache)
}

/// Run discovery for a command line in pytest's syntax (`no_cache`: no index).
pub(crate) fn discover_with(
    pytest_args: Vec<String>,
    no_cache: bool,
) -> anyhow::Result<Result<Discovery, DiscoverError>> {
    let request = ConfigRequest::from_process(pytest_args)
        .context("cannot determine the current directory")?;
    let cache = match session::cache_root() {
        Some(root) if !no_cache => CacheLocation::UnderRoot(root),
        _ => CacheLocation::Off,
    };
    let options = DiscoverOptions {
        request,
        cache,
        ..DiscoverOptions::default()
    };
    Ok(session::discover(&options))
}

pub fn run(args: DiscoverArgs) -> anyhow::Result<Code> {
    let start = Instant::now();
    let mut discovery = match discover(&args.select)? {
        Ok(d) => d,
        Err(err) => {
            // pytest's shape for usage errors: the message on stderr, an empty summary, exit 4.
            eprintln!("ERROR: {err}");
            if !args.json {
                println!("{}", render::collect_summary(0, 0, 0, start.elapsed()));
            }
            return Ok(Code::UsageError);
        }
    };
    for notice in &discovery.notices {
        eprintln!("dx-py: {notice}");
    }
    let python =
        dxpy_runner::pool::resolve_python(args.python.as_deref(), std::env::var_os("VIRTUAL_ENV"));
    if let Some(notice) = complete_listing(&mut discovery, &python, args.select.no_cache) {
        eprintln!("dx-py: {notice}");
    }
    if args.verbose {
        let s = &discovery.stats;
        eprintln!(
            "dx-py: {} test modules: {} analysed, {} unchanged, {} identical after touch; index {}",
            s.files,
            s.analysed,
            s.served_by_stat,
            s.served_by_hash,
            if s.index_written {
                "written"
            } else {
                "unchanged"
            }
        );
    }
    let elapsed = start.elapsed();
    // One write per line would be a syscall per test ID: tens of thousands on a large suite.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if args.json {
        writeln!(out, "{}", json_report(&discovery))?;
    } else {
        write_listing(&mut out, &discovery, elapsed)?;
    }
    out.flush()?;
    Ok(exit_code(&discovery))
}

/// Completes the listing with what only `python`'s pytest can tell: the tests of modules a
/// computed `collect_ignore` leaves out and of modules that skip themselves at import go,
/// doctest and hook items come ([`crate::collect_probe`]); a notice when pytest could not
/// be asked.
pub(crate) fn complete_listing(
    discovery: &mut Discovery,
    python: &std::path::Path,
    no_cache: bool,
) -> Option<String> {
    let cache_dir = session::cache_root()
        .filter(|_| !no_cache)
        .map(|root| session::project_cache_dir(&root, &discovery.config.rootdir));
    let ignored =
        crate::collect_probe::drop_ignored_modules(discovery, python, cache_dir.as_deref());
    let listed = crate::collect_probe::complete_listing(discovery, python, cache_dir.as_deref());
    match (ignored, listed) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

/// pytest's `--collect-only -q` listing: node IDs, collection errors, the summary line.
pub(crate) fn write_listing(
    out: &mut impl Write,
    discovery: &Discovery,
    elapsed: std::time::Duration,
) -> std::io::Result<()> {
    for item in &discovery.items {
        writeln!(out, "{}", item.node_id)?;
    }
    if !discovery.items.is_empty() || !discovery.errors.is_empty() {
        writeln!(out)?;
    }
    write!(out, "{}", render::collect_errors(&discovery.errors))?;
    let collected = discovery.items.len() + discovery.deselected;
    writeln!(
        out,
        "{}",
        render::collect_summary(
            collected,
            discovery.deselected,
            discovery.errors.len(),
            elapsed
        )
    )
}

/// `dx-py test --co`: discovery's listing where it is pytest's `-q`/`-qq` one (every item
/// known); the tree of `-v` or no `-q`, and items only Python can list, are pytest's own to
/// print.
pub(crate) fn collect_only(
    args: &crate::args::TestArgs,
    discovery: &Discovery,
    mut out: impl Write,
    start: Instant,
) -> anyhow::Result<Code> {
    let verbosity = args.report_args(&discovery.config.args.report).verbosity;
    let python = crate::pytest_probe::interpreter(args);
    if verbosity >= 0 || !lists_every_item(discovery) {
        return crate::pytest_probe::delegate(&python, &args.pytest.for_pytest, Some(&mut out));
    }
    let mut discovery = discovery.clone();
    if let Some(notice) = complete_listing(&mut discovery, &python, args.select.no_cache) {
        eprintln!("dx-py: {notice}");
    }
    let discovery = &discovery;
    if verbosity <= -2 {
        write_counts(&mut out, discovery)?;
    } else {
        write_listing(&mut out, discovery, start.elapsed())?;
    }
    out.flush()?;
    Ok(exit_code(discovery))
}

/// Discovery's items are every item pytest would collect, with pytest's IDs: nothing only
/// Python can expand or make (dynamic parameters, collection hooks, doctests).
fn lists_every_item(discovery: &Discovery) -> bool {
    discovery
        .items
        .iter()
        .all(|item| !matches!(item.params, dxpy_discover::item::ParamState::Dynamic))
        && discovery.hook_scopes.is_empty()
        && discovery.hook_conftests.is_empty()
        && discovery.doctest_files.is_empty()
        && discovery.dynamic_conftests.is_empty()
}

/// pytest's `--collect-only -qq` listing: each file with its count of tests, in order.
fn write_counts(out: &mut impl Write, discovery: &Discovery) -> std::io::Result<()> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for item in &discovery.items {
        let file = item.node_id.split("::").next().unwrap_or(&item.node_id);
        match counts.last_mut() {
            Some((last, n)) if *last == file => *n += 1,
            _ => counts.push((file, 1)),
        }
    }
    for (file, n) in counts {
        writeln!(out, "{file}: {n}")?;
    }
    writeln!(out)?;
    write!(out, "{}", render::collect_errors(&discovery.errors))
}

/// pytest's exit code for a collect-only session.
fn exit_code(discovery: &Discovery) -> Code {
    if !discovery.errors.is_empty() {
        Code::Interrupted
    } else if discovery.items.is_empty() {
        Code::NoTestsCollected
    } else {
        Code::Ok
    }
}

fn json_report(d: &Discovery) -> serde_json::Value {
    json!({
        "rootdir": d.config.rootdir.to_string_lossy(),
        "inifile": d.config.inifile.as_ref().map(|p| p.to_string_lossy()),
        "items": d.items.iter().map(render::item_json).collect::<Vec<_>>(),
        "errors": d.errors.iter().map(render::error_json).collect::<Vec<_>>(),
        "deselected": d.deselected,
        "undecided": d.undecided,
        "doctest_files": d.doctest_files,
        // What the runner collects through pytest: hook-made and doctest items.
        "hook_scopes": d.hook_scopes.iter().map(|s| json!({
            "root": s.root,
            "subdirs": s.subdirs,
        })).collect::<Vec<_>>(),
        "conftests": d.conftests.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>(),
        // Conftests whose hooks change collection: only Python can finish collecting there.
        "hook_conftests": d.hook_conftests.iter().map(|h| json!({
            "path": h.path.to_string_lossy(),
            "hooks": h.hooks.iter().map(|hook| hook.name()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
