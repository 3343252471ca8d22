//! dx-py's execution core. (The Bazel side, rules_dxpy's worker and test executable, is the
//! separate crate `dxpy_bazel` in `runner/bazel/`.)
//!
//! Layout:
//! - [`protocol`]: the framed binary protocol spoken with the Python worker processes
//!   (`worker/dxpy_worker`), its typed messages and codec;
//! - [`pool`]: worker processes (interpreter and worker-package resolution, spawn in an own
//!   process group, handshake, kill);
//! - [`scheduler`]: work units (modules, split by class when large, large classes cut into
//!   ranges), longest-first order, the durations store;
//! - [`run`]: a run over the pool: work stealing, streamed events, crash/timeout
//!   containment, `--maxfail`, completeness.
//!
//! Typical use (the CLI):
//!
//! ```no_run
//! # use dxpy_runner::{pool::PoolConfig, run::{Run, RunConfig}, scheduler::*};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let modules: Vec<ModuleTests> = vec![];
//! let store_path = std::path::Path::new(".dx-py/durations.json");
//! let (mut store, _status) = DurationStore::load(store_path);
//! let units = plan(&modules, &store, SplitPolicy::default());
//! let config = RunConfig { pool: PoolConfig::new("/path/to/rootdir"), maxfail: None, interrupt: None, continue_on_collection_errors: false };
//! let summary = Run::new(config).execute(units, |_event| std::ops::ControlFlow::Continue(()))?;
//! for (key, seconds) in &summary.unit_durations {
//!     store.record(key, *seconds);
//! }
//! store.save(store_path)?;
//! # Ok(()) }
//! ```

pub mod pool;
pub mod protocol;
pub mod run;
pub mod scheduler;
