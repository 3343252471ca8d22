//! Golden cases: `testdata/<case>/` is an input tree whose `BUILD.in` files become
//! `BUILD.bazel` before the run; afterwards every `BUILD.bazel` must equal the `BUILD.out`
//! beside it (a `BUILD.bazel` without `BUILD.out` is a failure, and so is a `BUILD.out` with
//! no file), and `unresolved.out` (if present) lists the unresolved imports, directive
//! warnings and dependency cycles reported. A
//! second run must change nothing. A case may hold `gazelle_dxpy.toml` (the manifest).
//!
//! `DXPY_GOLDEN_UPDATE=1 cargo test -p dxpy_gazelle --test it golden` rewrites the `.out` files
//! from the current output (then read them before committing).

use std::fs;
use std::path::{Path, PathBuf};

use dxpy_gazelle::{plan, Manifest, Options, MANIFEST_FILE};
use dxpy_graph::PythonVersion;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).expect("readable testdata").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("under dir").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn options(root: &Path) -> Options {
    Options {
        repo_root: root.to_path_buf(),
        python_version: PythonVersion::Py311,
        manifest: Manifest::load(&root.join(MANIFEST_FILE)).expect("manifest loads"),
        cache_path: None,
        only: Vec::new(),
    }
}

/// Run one case; returns a description of every mismatch.
fn run_case(case: &Path, update: bool) -> Vec<String> {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("repo");
    let inputs = files_under(case);
    for file in &inputs {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "BUILD.out" || name == "unresolved.out" {
            continue;
        }
        let target = match name {
            "BUILD.in" => root.join(file.with_file_name("BUILD.bazel")),
            _ => root.join(file),
        };
        fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        fs::copy(case.join(file), &target).expect("copy");
    }
    fs::create_dir_all(&root).expect("mkdir root");
    let first = plan(&options(&root)).expect("first run");
    first.write(&root).expect("write");

    let mut problems = Vec::new();
    let unresolved: String = first.unresolved.iter().map(|u| format!("{u}\n")).collect();
    let warnings: String = first
        .directive_warnings
        .iter()
        .map(|w| format!("{}: {}\n", w.build_file.display(), w.error))
        .collect();
    let cycles: String = first
        .dependency_cycles
        .iter()
        .map(|c| format!("cycle: {}\n", c.join(" <-> ")))
        .collect();
    let report = format!("{unresolved}{warnings}{cycles}");
    let report_path = case.join("unresolved.out");
    if update {
        if report.is_empty() {
            let _ = fs::remove_file(&report_path);
        } else {
            fs::write(&report_path, &report).expect("write unresolved.out");
        }
    } else {
        let expected = fs::read_to_string(&report_path).unwrap_or_default();
        if expected != report {
            problems.push(format!(
                "unresolved.out differs:\n--- expected\n{expected}--- got\n{report}"
            ));
        }
    }

    let produced: Vec<PathBuf> = files_under(&root)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "BUILD.bazel"))
        .collect();
    for build in &produced {
        let got = fs::read_to_string(root.join(build)).expect("read output");
        let golden = case.join(build.with_file_name("BUILD.out"));
        if update {
            fs::create_dir_all(golden.parent().expect("parent")).expect("mkdir");
            fs::write(&golden, &got).expect("write golden");
            continue;
        }
        match fs::read_to_string(&golden) {
            Ok(expected) if expected == got => {}
            Ok(expected) => problems.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                build.display()
            )),
            Err(_) => problems.push(format!("{} produced, but no BUILD.out", build.display())),
        }
    }
    for golden in inputs
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "BUILD.out"))
    {
        if !produced.contains(&golden.with_file_name("BUILD.bazel")) {
            problems.push(format!(
                "{} expected, but no BUILD.bazel produced",
                golden.display()
            ));
        }
    }

    let second = plan(&options(&root)).expect("second run");
    for file in &second.files {
        problems.push(format!(
            "not idempotent: the second run changes {}:\n{}",
            file.path.display(),
            dxpy_gazelle::unified_diff(file)
        ));
    }
    problems
}

#[test]
fn golden_cases() {
    let update = std::env::var_os("DXPY_GOLDEN_UPDATE").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = fs::read_dir(testdata())
        .expect("testdata")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 12, "the golden cases are missing");
    let mut failures = Vec::new();
    for case in &cases {
        for problem in run_case(case, update) {
            failures.push(format!(
                "[{}] {problem}",
                case.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
