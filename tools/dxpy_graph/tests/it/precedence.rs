//! Resolver precedence across roots (checked against CPython 3.11 with the same `sys.path`),
//! version-dependent standard-library classification, and malformed dynamic imports.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use dxpy_graph::{extract_imports, PythonVersion, Resolver};

fn render(version: PythonVersion) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/precedence");
    let resolver = Resolver::new(
        &root,
        &[PathBuf::from("first"), PathBuf::from("second")],
        version,
    );
    let source = std::fs::read(root.join("main.py")).expect("fixture");
    let extracted = extract_imports(&source);
    assert_eq!(extracted.error, None);
    let mut out = String::new();
    for import in &extracted.imports {
        let resolution = resolver.resolve(Path::new("main.py"), import, &[]);
        let _ = writeln!(out, "{import} -> {resolution}");
    }
    out
}

#[test]
fn precedence_python_3_11() {
    insta::assert_snapshot!(render(PythonVersion::Py311));
}

#[test]
fn tomllib_is_not_stdlib_before_3_11() {
    let (old, new) = (render(PythonVersion::Py310), render(PythonVersion::Py311));
    assert!(
        old.contains("import tomllib -> third-party tomllib"),
        "{old}"
    );
    assert!(new.contains("import tomllib -> stdlib tomllib"), "{new}");
}
