//! `dxpy_python`'s snapshot core on real directories: naming and sanitising, the index
//! format, and the store (match by digest, writes, removal, corrupt index rebuilt). One
//! binary, one module per area; no libpython is linked (the `python` feature is off).

mod index;
mod naming;
mod store;
