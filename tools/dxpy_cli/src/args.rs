//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "dx-py", version, about = "A fast, pytest-compatible Python test runner")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the tests pytest would collect, without importing any Python
    /// (the output of `pytest --collect-only -q`).
    Discover(DiscoverArgs),
    /// Manage dx-py's caches.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Files, directories or node IDs, as given to pytest.
    pub paths: Vec<String>,
    /// Only tests whose keywords match this expression (pytest's `-k`).
    #[arg(short = 'k', value_name = "EXPRESSION")]
    pub keyword: Option<String>,
    /// Only tests whose marks match this expression (pytest's `-m`).
    #[arg(short = 'm', value_name = "MARKEXPR")]
    pub markexpr: Option<String>,
    /// Ignore a path during collection (repeatable).
    #[arg(long = "ignore", value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Ignore paths matching a glob during collection (repeatable).
    #[arg(long = "ignore-glob", value_name = "GLOB")]
    pub ignore_glob: Vec<String>,
    /// Deselect an item by node ID prefix (repeatable).
    #[arg(long = "deselect", value_name = "NODEID_PREFIX")]
    pub deselect: Vec<String>,
    /// Use this configuration file instead of searching for one (pytest's `-c`).
    #[arg(short = 'c', value_name = "FILE")]
    pub inifile: Option<PathBuf>,
    /// Use this directory as rootdir (pytest's `--rootdir`).
    #[arg(long = "rootdir", value_name = "DIR")]
    pub rootdir: Option<PathBuf>,
    /// Print machine-readable JSON instead of pytest's listing.
    #[arg(long)]
    pub json: bool,
    /// Neither read nor write the discovery index.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Print where each file's result came from and timing counters on stderr.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Delete dx-py's caches for the project at `--rootdir` (default: all projects).
    Clear {
        #[arg(long = "rootdir", value_name = "DIR")]
        rootdir: Option<PathBuf>,
    },
    /// Print the cache directory.
    Dir,
}
