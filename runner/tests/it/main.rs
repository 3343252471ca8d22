//! dxpy_runner's integration tests, one module per area, in one test binary; `support`
//! drives a worker over `dxpy_runner::protocol` and a run through the pool.

// First, so that its `modes!` macro is in scope in the modules below.
#[macro_use]
mod support;

mod pool;
mod record;
mod worker_native;
mod worker_pytest;
mod zygote;
