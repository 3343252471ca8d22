//! dx-py's end-to-end tests, one module per command or area, in one test binary: the real
//! binary against the real pytest (`dxpy_test_support`), whose results are the expected ones.

mod cli_affected;
mod cli_affected_since;
mod cli_bazel;
mod cli_bench;
mod cli_config;
mod cli_cov;
mod cli_daemon;
mod cli_discover;
mod cli_doctests;
mod cli_gazelle;
mod cli_hooks;
mod cli_order_and_stop;
mod cli_passthrough;
mod cli_plugins;
mod cli_results;
mod cli_select;
mod cli_signals;
mod cli_subtests;
mod cli_terminal;
mod cli_test;
mod cli_watch;
mod cli_xdist;

use std::collections::BTreeMap;
use std::path::Path;

use dxpy_test_support::Run;

/// The binary under test; Cargo only names it while compiling this crate's tests.
fn dx_py_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_dx-py"))
}

/// [`dxpy_test_support::dx_py`] with this crate's binary.
fn dx_py(dir: &Path, args: &[&str]) -> Run {
    dxpy_test_support::dx_py(dx_py_bin(), dir, args)
}

/// [`dxpy_test_support::assert_same`] with this crate's binary.
fn assert_same(root: &Path, args: &[&str], dx_only: &[&str]) -> (Run, BTreeMap<String, String>) {
    dxpy_test_support::assert_same(dx_py_bin(), root, args, dx_only)
}
