//! `dxpy_graph`: the import graph of a Python project, for "which tests can a change affect?".
//!
//! Layout:
//! - [`extract`]: tree-sitter extraction of every import form from one file's source
//!   (`import`, `from … import`, relative, star, `importlib.import_module`, `__import__`),
//!   with 1-based lines and the `optional` (under `try/except ImportError`) and `type_only`
//!   (under `if TYPE_CHECKING:`) flags. Bad input gives an [`ExtractError`] next to whatever
//!   imports were recovered, never a panic.
//! - [`resolve`]: maps an import to the first-party files it executes under configurable roots
//!   (CPython path-finder precedence, namespace packages, relative imports), or classifies it
//!   as standard library ([`stdlib`], per Python 3.9–3.14), third-party, or unresolved.
//! - [`graph`]: a petgraph of files (edges: imports, and test file → enclosing
//!   `conftest.py`s) with [`ImportGraph::affected`] / [`ImportGraph::tests_affected`].
//! - [`cache`]: the validated on-disk cache of per-file imports (stamp-keyed, checksummed,
//!   atomically written, rebuilt when corrupt).
//! - [`build`]: [`build_graph`] ties them together, parsing files in parallel with rayon and
//!   following first-party imports to files not given.
//!
//! Paths in the graph are project-relative (lexically normalized, no `./`).

pub mod build;
pub mod cache;
pub mod extract;
pub mod graph;
pub mod resolve;
pub mod stdlib;
mod stdlib_data;

pub use build::{
    build_graph, first_roots, python_files_under, CacheOutcome, FileReport, GraphBuild,
    GraphConfig, UnresolvedImport,
};
pub use cache::{CacheError, ImportCache};
pub use extract::{extract_imports, ExtractError, FileImports, Import, ImportForm, ImportedName};
pub use graph::{EdgeKind, ImportGraph};
pub use resolve::{Resolution, ResolutionKind, Resolver};
pub use stdlib::PythonVersion;
