//! The lower bound tree-sitter puts on a cold `dx-py discover` of a tree: parses every `.py`
//! file under DIR once per round on one thread (no analysis, no I/O in the timing) and prints
//! the bytes, the parse time, the throughput and the wall time the parse alone needs when
//! spread perfectly over this machine's cores. Run with `--release`:
//!
//! `cargo run --release -p dxpy_discover --example parse_floor -- DIR [ROUNDS]`
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Instant;

fn python_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            python_files(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "py") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: parse_floor DIR [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: u32 = args.next().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let mut paths = Vec::new();
    if let Err(err) = python_files(Path::new(&dir), &mut paths) {
        eprintln!("parse_floor: cannot walk {dir}: {err}");
        std::process::exit(2);
    }
    let sources: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    let bytes: usize = sources.iter().map(Vec::len).sum();
    let mut parser = tree_sitter::Parser::new();
    if parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .is_err()
    {
        eprintln!("parse_floor: tree-sitter-python does not load");
        std::process::exit(1);
    }
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let start = Instant::now();
        for source in &sources {
            std::hint::black_box(parser.parse(source, None));
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{} files, {:.2} MB: tree-sitter parse {best:.3} s on one thread ({:.2} MB/s, best of {rounds}); \
         on {cores} cores at best {:.3} s",
        sources.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / best,
        best / cores as f64
    );
}
