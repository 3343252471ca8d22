//! dxpy_discover's integration tests, one module per area, in one test binary.

mod common;
mod config_resolution;
mod fixture_params;
mod fixture_params_proptest;
mod index_files;
mod index_format;
mod index_properties;
mod index_scale;
mod module_agreement;
mod module_common;
mod module_proptest;
mod module_resolver;
mod module_snapshots;
mod session_errors;
mod walk_order;
