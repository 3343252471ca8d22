//! dx-py's Bazel side: the pieces of `dx-py bazel-worker` and `dx-py bazel-test` that are not
//! about running or printing tests (the CLI crate holds the command glue and the reporters).
//!
//! The contract with rules_dxpy (`rules/private/test.bzl` writes both argument lists):
//! - §1, the `DxPyTest` build action: `dx-py bazel-worker @params` (one-shot) or a persistent
//!   multiplex worker fed WorkRequests with the same arguments; execroot paths. It runs the
//!   target's tests and writes `--out-status`, `--out-log`, `--out-xml` and `--out-undeclared`,
//!   and succeeds when tests fail, so its result is cached like any build output.
//! - §2, the test executable: `dx-py bazel-test @argsfile [ARGS...]`, the same arguments in
//!   runfiles form plus `--result-*` (the §1 outputs) and, under `--nocache_test_results`,
//!   `--cache-test-results=no`. It replays the recorded result or executes the tests itself.
//!   A target tagged `exclusive` has no §1 action: its argsfile carries `--exclusive=yes`
//!   instead of `--result-*`, and the test action (which Bazel runs alone) always executes.
//!
//! Layout:
//! - [`proto`]: Bazel's persistent-worker messages (`WorkRequest`, `WorkResponse`, written by
//!   hand as prost messages) and their varint length-delimited framing;
//! - [`server`]: the multiplex worker loop (one thread per request, bounded; responses written
//!   whole under a lock; cancellation; a clean end on EOF or a malformed frame);
//! - [`args`]: the typed arguments of §1/§2 and `@argsfile` expansion;
//! - [`forest`]: execroot → runfiles path mapping and the private symlink forest one request
//!   runs in;
//! - [`status`]: the recorded result (`--out-status`), dx-py's private format;
//! - [`decision`]: replay or execute in the test action (§2), a pure function of the
//!   environment, the parsed argsfile and the recorded status.

pub mod args;
pub mod decision;
pub mod forest;
pub mod proto;
pub mod server;
pub mod status;
