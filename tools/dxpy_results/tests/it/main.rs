//! `dxpy_results` end to end on real files: record a run, edit the tree, and check what the
//! next run may replay. One binary, one module per area.

mod check;
mod hooks;
mod store;
