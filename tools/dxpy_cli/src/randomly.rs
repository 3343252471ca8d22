//! pytest-randomly under dx-py: one seed per run, shown in the header as pytest shows it.
//!
//! pytest-randomly draws a seed in each process unless it is given one; under pytest-xdist
//! the controller draws it and hands it to every worker. dx-py's workers take the run's seed
//! from its `testrun_uid` (`WorkerIdentity::randomly_seed`, given to the plugin by the
//! worker's `SharedSeed`), so every test sees the `random` state `pytest --randomly-seed=N`
//! gives it. This module decides the header line that names the seed, which is how a user
//! reproduces a run. Whether the plugin is there is read from the interpreter's
//! `site-packages` and `PYTHONPATH` without starting it: when that misses an install, the
//! seed is still shared, only the line is missing.

use std::path::{Path, PathBuf};

use dxpy_discover::session::Discovery;
use dxpy_runner::pool::{PoolConfig, WorkerIdentity};

/// The plugin's `pytest11` entry point name (what `-p no:NAME` names) and module.
const PLUGIN_NAMES: [&str; 2] = ["randomly", "pytest_randomly"];
const SEED_OPTION: &str = "--randomly-seed";

/// `Using --randomly-seed=N`, pytest-randomly's header line, when the run's workers load the
/// plugin and their seed is known here (not for `--randomly-seed=last`, which each worker
/// reads from pytest's cache).
pub fn header_line(
    pool: &PoolConfig,
    discovery: &Discovery,
    python: &Path,
    testrun_uid: &str,
) -> Option<String> {
    let args: Vec<&str> = discovery
        .config
        .args
        .unknown
        .iter()
        .chain(&pool.pytest_args)
        .map(String::as_str)
        .collect();
    let plugins = &discovery.config.args.plugins;
    let named = |prefix: &str| {
        plugins
            .iter()
            .chain(plugin_values(&pool.pytest_args).iter())
            .any(|p| PLUGIN_NAMES.iter().any(|n| *p == format!("{prefix}{n}")))
    };
    if named("no:") {
        return None;
    }
    let autoload = std::env::var_os("PYTEST_DISABLE_PLUGIN_AUTOLOAD").is_none_or(|v| v.is_empty());
    let loaded = named("") || (autoload && installed(python));
    if !loaded {
        return None;
    }
    let seed = match explicit_seed(&args) {
        Some(value) => value.parse::<u32>().ok()?,
        None => WorkerIdentity::randomly_seed(testrun_uid)?,
    };
    Some(format!("Using {SEED_OPTION}={seed}"))
}

/// The values of `-p NAME` / `-pNAME` / `-p=NAME` in `args`.
fn plugin_values(args: &[String]) -> Vec<String> {
    let mut values = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "-p" {
            values.extend(iter.next().cloned());
        } else if let Some(value) = arg.strip_prefix("-p") {
            values.push(value.trim_start_matches('=').to_owned());
        }
    }
    values
}

/// The last `--randomly-seed=V` (or `--randomly-seed V`) of `args`.
fn explicit_seed<'a>(args: &[&'a str]) -> Option<&'a str> {
    let mut found = None;
    for (i, arg) in args.iter().enumerate() {
        if let Some(value) = arg.strip_prefix(SEED_OPTION) {
            match value.strip_prefix('=') {
                Some(value) => found = Some(value),
                None if value.is_empty() => found = args.get(i + 1).copied(),
                None => {}
            }
        }
    }
    found
}

/// Whether a distribution on the interpreter's path declares pytest-randomly's `pytest11`
/// entry point: its `site-packages` as a virtualenv or a prefix install lays it out, and
/// `PYTHONPATH`.
fn installed(python: &Path) -> bool {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PYTHONPATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let prefix = python.parent().and_then(Path::parent);
    if let Some(lib) = prefix.map(|p| p.join("lib")) {
        for entry in std::fs::read_dir(lib).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                dirs.push(entry.path().join("site-packages"));
            }
        }
    }
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    crate::daemon::preload::pytest_plugin_modules(&dirs).contains(PLUGIN_NAMES[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_seed_option_wins_in_either_spelling() {
        assert_eq!(explicit_seed(&["-x", "--randomly-seed=4"]), Some("4"));
        assert_eq!(
            explicit_seed(&["--randomly-seed=4", "--randomly-seed", "last"]),
            Some("last")
        );
        assert_eq!(explicit_seed(&["--randomly-seeds=4"]), None);
        assert_eq!(explicit_seed(&["-p", "randomly"]), None);
    }

    #[test]
    fn plugin_values_in_every_spelling() {
        let args: Vec<String> = ["-p", "no:randomly", "-pxdist", "-x"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(plugin_values(&args), ["no:randomly", "xdist"]);
    }
}
