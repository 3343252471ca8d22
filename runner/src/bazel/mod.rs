//! Bazel integration: the pieces of `dx-py bazel-worker` and `dx-py bazel-test` that are not
//! about printing (the CLI crate holds the command glue and the reporters).
//!
//! Layout:
//! - [`proto`]: Bazel's persistent-worker messages (`WorkRequest`, `WorkResponse`, written by
//!   hand as prost messages) and their varint length-delimited framing;
//! - [`server`]: the multiplex worker loop (one thread per request, bounded; responses written
//!   whole under a lock; cancellation; a clean end on EOF or a malformed frame);
//! - [`args`]: the typed request arguments of `BAZEL_INTERFACE.md` §1/§2 and `@argsfile`
//!   expansion;
//! - [`forest`]: execroot → runfiles path mapping and the private symlink forest one request
//!   runs in;
//! - [`status`]: the recorded result (`--out-status`), dx-py's private format;
//! - [`decision`]: replay or execute in the test action (§2), a pure function of the
//!   environment and the recorded status.

pub mod args;
pub mod decision;
pub mod forest;
pub mod proto;
pub mod server;
pub mod status;
