//! pytest-randomly under dx-py: one seed per run, shown in the header as pytest shows it.
//!
//! pytest-randomly draws a seed in each process unless it is given one; under pytest-xdist
//! the controller draws it and hands it to every worker. dx-py's workers take the run's seed
//! from its `testrun_uid` (`WorkerIdentity::randomly_seed`, given to the plugin by the
//! worker's `SharedSeed`), so every test sees the `random` state `pytest --randomly-seed=N`
//! gives it. This module decides the header line that names the seed, which is how a user
//! reproduces a run. Whether the plugin is loaded is `crate::plugins::loaded`: when that
//! misses an install, the seed is still shared, only the line is missing.

use std::path::Path;

use dxpy_discover::session::Discovery;
use dxpy_runner::pool::{PoolConfig, WorkerIdentity};

/// The plugin's `pytest11` entry point name (what `-p no:NAME` names), then its module.
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
    if !crate::plugins::loaded(&pool.pytest_args, discovery, python, &PLUGIN_NAMES) {
        return None;
    }
    let seed = match explicit_seed(&args) {
        Some(value) => value.parse::<u32>().ok()?,
        None => WorkerIdentity::randomly_seed(testrun_uid)?,
    };
    Some(format!("Using {SEED_OPTION}={seed}"))
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
}
