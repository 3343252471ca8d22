//! dxpy_graph's integration tests, one module per area, in one test binary.

mod affected;
mod cache;
mod dynamic;
mod extract;
mod precedence;
mod project;
