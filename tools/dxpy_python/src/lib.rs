//! The Rust side of `dx_py_test_runner`, dx-py's Python package: Blake3 hash-first snapshots.
//!
//! Everything here but [`python`] is plain Rust that `cargo test` tests without libpython:
//!
//! - [`name`]: snapshot names to file names (sanitised, collision-free) and the
//!   `__snapshots__/<module>/` directory of a test file; every write path is checked to stay
//!   inside it.
//! - [`file`]: one snapshot file's text (a header naming it, then the serialised value) and
//!   its Blake3 digest, computed without building the text.
//! - [`index`]: the per-module index of digests (`index.json`), validated on read.
//! - [`store`]: one module's snapshots: match by digest alone (the stored file is read only on a
//!   mismatch, for the diff), atomic writes under a lock, removal, and the index rebuilt from
//!   the files when it is corrupt or does not list exactly the files present.
//! - [`verify`]: hand-edited snapshot files: each file's content digest (kept beside its
//!   stamp, so an unchanged file costs a `stat`) against its index entry; the content wins.
//! - [`diff`]: the unified diff a mismatch reports (`similar`).
//! - [`unused`]: a `dx-py test` run's unused snapshots, from the records its workers wrote.
//! - [`api`]: `dx.discover()`, the Rust discovery's items.
//! - [`fixture_cache`]: `@dx.fixture(cache=True)`'s store: entries keyed by the Blake3 digest
//!   of what the fixture depends on, private, atomic, checked on read.
//!
//! [`python`] (feature `python`, which maturin enables) exposes a store to Python; the
//! serialisation of Python values and the pytest plugin live in `python/dx_py_test_runner`.

pub mod api;
pub mod diff;
pub mod file;
pub mod fixture_cache;
pub mod index;
pub mod name;
pub mod store;
pub mod unused;
pub mod verify;

#[cfg(feature = "python")]
mod python;

pub use store::{Check, ModuleStore, StoreError};
