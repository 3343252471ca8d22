//! Zero-import discovery of pytest tests.
//!
//! Layout:
//! - [`item`]: the data model shared by every stage (a [`TestItem`] is one pytest node).
//! - [`config`]: pytest's configuration files (`pytest.ini`, `pyproject.toml`, `tox.ini`,
//!   `setup.cfg`), rootdir/inifile resolution and the options that shape collection.
//! - [`walk`]: which files pytest would collect (args, `testpaths`, `norecursedirs`, `--ignore`).
//! - [`module`]: tree-sitter analysis of one test module into test items (classes, functions,
//!   unittest cases, marks, inheritance).
//! - [`options`]: the option values config produces and analysis reads (a leaf).
//! - [`params`]: `@pytest.mark.parametrize` expansion into pytest's exact node IDs.
//! - [`expr`]: `-k` and `-m` expressions, evaluated the way pytest evaluates them.
//! - [`index`]: the memory-mapped, validated binary cache of per-file results.
//! - [`session`]: ties the stages together: files are scanned in parallel and served from the
//!   index when unchanged.

pub mod config;
pub mod expr;
pub mod index;
pub mod item;
pub mod module;
pub mod options;
pub mod params;
pub mod session;
pub mod walk;

pub use item::{CollectError, FileResult, Mark, ParamState, TestItem, TestKind};
