//! The `dx-py` command line.
//!
//! Layout: [`args`] declares the command line (clap), [`pytest_cli`] splits `dx-py test`'s
//! between dx-py's own options and pytest's, [`pytest_probe`] asks the interpreter's pytest
//! about the latter (and runs the sessions only pytest runs), [`commands`] holds one module per
//! subcommand, [`render`] prints collection results in pytest's shapes, [`suite`] runs a
//! discovered selection and reports it (shared by `test`, `bazel-worker` and `bazel-test`),
//! [`terminal`] is the test run's reporter, [`project`] the import graph and git changes that
//! `affected` and `--affected` share, [`results`] the run's side of the result cache
//! (`--affected`), [`config`] reads `[tool.dx-py]`, [`daemon`] is the per-project daemon
//! `dx-py test` runs in, [`test_context`] what a `dx-py test` run takes from its process,
//! [`junit`] its JUnit XML, [`cov`] combines and reports `--cov` (pytest-cov) after the run, [`signals`] its answer
//! to Ctrl-C and SIGTERM, and [`exit`] maps outcomes to pytest's exit codes, [`trace`] times a run's steps under
//! `DXPY_TRACE=1`. `main.rs` only calls [`main`].
#![allow(clippy::print_stdout, clippy::print_stderr)] // the CLI is the one place that prints

pub mod args;
mod baseline;
mod collect_probe;
pub mod commands;
pub mod config;
pub mod cov;
pub mod daemon;
pub mod exit;
pub mod junit;
mod plugins;
pub mod project;
pub mod pytest_cli;
pub mod pytest_probe;
mod randomly;
pub mod render;
pub mod results;
pub mod signals;
mod snapshots;
pub mod suite;
pub mod terminal;
pub mod test_context;
mod trace;

use std::process::ExitCode;

/// Parse the command line, run the subcommand, and turn errors into pytest's usage-error code.
pub fn main() -> ExitCode {
    adopt_own_virtualenv();
    let cli = args::parse_cli(std::env::args_os()).unwrap_or_else(|err| err.exit());
    match commands::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("ERROR: {err:#}");
            exit::Code::UsageError.into()
        }
    }
}

/// A `dx-py` installed into a virtual environment (`pip install dx-py-test-runner`: the
/// wheel puts it in the venv's `bin/`) runs that environment's interpreter, as if the venv
/// were activated: the one it was installed with, where `dx_py_test_runner` is. An
/// activated venv (`VIRTUAL_ENV`) or `--python` still wins. Run first, before any thread.
fn adopt_own_virtualenv() {
    if std::env::var_os("VIRTUAL_ENV").is_some_and(|v| !v.is_empty()) {
        return;
    }
    let Some(bin) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Into::into))
    else {
        return;
    };
    let bin: std::path::PathBuf = bin;
    let Some(venv) = bin.parent() else {
        return;
    };
    if venv.join("pyvenv.cfg").is_file() && bin.join("python").exists() {
        std::env::set_var("VIRTUAL_ENV", venv);
    }
}
