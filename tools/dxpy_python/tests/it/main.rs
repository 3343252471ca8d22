//! `dxpy_python`'s Rust core on real directories: naming and sanitising, the index format,
//! the snapshot store (match by digest, writes, removal, corrupt index rebuilt), and the
//! fixture cache's store. One binary, one module per area; no libpython is linked (the
//! `python` feature is off).

mod edited;
mod fixture_cache;
mod index;
mod naming;
mod store;
mod unused;
