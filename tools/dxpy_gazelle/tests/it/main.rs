//! dxpy_gazelle's integration tests, one module per area, in one test binary.

mod cache;
mod corpus;
mod golden;
mod lock_manifest;
