//! Resolution and graph snapshots over the fixture project in `fixtures/project/`:
//! a src layout (`src/srcpkg`), a namespace package split over two roots (`ns`, `src/ns`),
//! relative imports (including beyond the top-level package), conftest files, and tests.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use dxpy_graph::{
    build_graph, python_files_under, GraphBuild, GraphConfig, PythonVersion, Resolver,
};

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/project")
}

fn config(roots: &[&str]) -> GraphConfig {
    let root = project_root();
    let roots: Vec<PathBuf> = roots.iter().map(PathBuf::from).collect();
    let files = python_files_under(&root, Path::new("."));
    GraphConfig {
        resolver: Resolver::new(&root, &roots, PythonVersion::Py311),
        test_files: files
            .iter()
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("test_"))
            })
            .cloned()
            .collect(),
        prepend_import_mode: true,
        cache_path: None,
    }
}

fn build(roots: &[&str], files: &[&str]) -> GraphBuild {
    let files: Vec<PathBuf> = if files.is_empty() {
        python_files_under(&project_root(), Path::new("."))
    } else {
        files.iter().map(PathBuf::from).collect()
    };
    build_graph(&config(roots), &files)
}

fn render(build: &GraphBuild) -> String {
    let mut out = String::new();
    for (file, report) in &build.files {
        let _ = writeln!(out, "{}:", file.display());
        for (import, resolution) in report.imports.imports.iter().zip(&report.resolutions) {
            let _ = writeln!(out, "  {import} -> {resolution}");
        }
        if let Some(error) = &report.imports.error {
            let _ = writeln!(out, "  error: {error}");
        }
        for (dependency, kind) in build.graph.dependencies(file) {
            let _ = writeln!(out, "  => {} ({kind:?})", dependency.display());
        }
    }
    out.push_str("unresolved:\n");
    for unresolved in &build.unresolved {
        let _ = writeln!(
            out,
            "  {}:{}: {}",
            unresolved.file.display(),
            unresolved.line,
            unresolved.message
        );
    }
    out
}

#[test]
fn src_layout_resolution() {
    let build = build(&["src", "."], &[]);
    insta::assert_snapshot!(render(&build));
}

#[test]
fn repo_root_only_makes_src_packages_third_party() {
    // Without `src` as a root, `srcpkg` is not first-party (and `ns` has one portion only).
    let build = build(&["."], &["tests/test_a.py", "top.py"]);
    insta::assert_snapshot!(render(&build));
}

#[test]
fn unlisted_first_party_files_are_followed() {
    let build = build(&["src", "."], &["tests/test_a.py"]);
    let files: Vec<String> = build
        .files
        .keys()
        .map(|f| f.display().to_string())
        .collect();
    insta::assert_snapshot!(files.join("\n"));
}

fn affected(build: &GraphBuild, changed: &[&str]) -> Vec<String> {
    build
        .graph
        .affected(changed.iter().map(Path::new))
        .into_iter()
        .map(|f| f.display().to_string())
        .collect()
}

#[test]
fn reverse_dependency_queries() {
    let build = build(&["src", "."], &[]);
    let tests: BTreeSet<PathBuf> = config(&["src", "."]).test_files;
    let mut out = String::new();
    for changed in [
        "pkg/sub/deep.py",
        "src/srcpkg/core.py",
        "tests/conftest.py",
        "tests/unit/conftest.py",
        "src/ns/other.py",
        "tests/helpers.py",
        "new_file.py",
    ] {
        let _ = writeln!(out, "{changed}:");
        let _ = writeln!(
            out,
            "  affected: {}",
            affected(&build, &[changed]).join(", ")
        );
        let selected: Vec<String> = build
            .graph
            .tests_affected([Path::new(changed)], tests.iter().map(PathBuf::as_path))
            .into_iter()
            .map(|f| f.display().to_string())
            .collect();
        let _ = writeln!(out, "  tests: {}", selected.join(", "));
    }
    insta::assert_snapshot!(out);
}
