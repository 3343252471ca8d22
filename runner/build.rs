//! Embeds the Python worker package (`worker/dxpy_worker/*.py`) in the binary, so an installed
//! `dx-py` with no `share/dx-py/worker` next to it still has a worker matching its protocol
//! (`pool::embedded` writes it to the user's cache on first use).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("../worker/dxpy_worker");
    println!("cargo:rerun-if-changed={}", package.display());
    let mut names: Vec<String> = std::fs::read_dir(&package)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".py"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from("&[\n");
    for name in &names {
        let path = package.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            out,
            "    (\"dxpy_worker/{name}\", include_bytes!({:?}) as &[u8]),",
            path.canonicalize().unwrap_or(path.clone())
        );
    }
    out.push_str("]\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("worker_files.rs");
    std::fs::write(dest, out).expect("write worker_files.rs");
}
