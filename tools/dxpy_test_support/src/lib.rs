//! Helpers shared by the integration tests of every dx-py crate, each defined once: the
//! interpreter under test ([`python()`]), reference pytest runs whose results are the expected
//! values ([`pytest`]), the clean environment commands run in ([`command`]), the `dx-py`
//! binary driven like pytest ([`dx_py`]), and temporary projects ([`project`]).
//!
//! Only a `[dev-dependencies]` entry: nothing here ships.

pub mod command;
pub mod dx_py;
pub mod paths;
pub mod project;
pub mod pytest;
pub mod python;

pub use command::{clean, run, run_with_env, Run};
pub use dx_py::{assert_same, dx_py};
pub use paths::{repo_root, worker_package};
pub use project::{copy_tree, copy_tree_where, write, Project};
pub use pytest::{collect_only, junit, pytest, summary, summary_counts, Collection};
pub use python::{
    bounded, install_wheel, purelib, python, python_executable, venv_with_test_packages,
};
