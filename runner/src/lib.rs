//! dx-py's execution core.
//!
//! Layout:
//! - [`protocol`]: the framed binary protocol spoken with the Python worker processes
//!   (`worker/dxpy_worker`), its typed messages and codec.

pub mod protocol;
