//! The generator on real suites: every dev-corpus suite unpacked under `.cache/corpus`
//! (`python3 tests/corpus/corpus.py fetch`; `DXPY_CACHE` moves the cache) is copied to a
//! temporary directory without BUILD files, generated, and the output checked as text:
//! - every file pytest collects as a test module has a `dx_py_test` with `srcs = [file]`;
//! - every first-party import (resolved independently here, with `dxpy_graph`'s resolver) of
//!   a file is a dependency of that file's target, or the same target; a file's target is the
//!   library holding it, else its test (an imported test module is in both: other targets
//!   reach it through the library);
//! - every `data` label names an existing file in a package with a BUILD file, exported when
//!   the label is another package's;
//! - a second run changes nothing.
//!
//! A missing corpus fails the test; set `DXPY_NO_CORPUS=1` to opt out explicitly.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use dxpy_discover::config::{self, ConfigRequest};
use dxpy_discover::walk;
use dxpy_gazelle::buildfile::{ArgValue, BuildFile, StatementKind};
use dxpy_gazelle::{plan, Manifest, Options};
use dxpy_graph::{extract_imports, ImportForm, PythonVersion, ResolutionKind, Resolver};
use dxpy_test_support::{copy_tree_where, repo_root};

fn corpus_dir() -> PathBuf {
    let repo = repo_root();
    let cache = std::env::var_os("DXPY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".cache"));
    cache.join("corpus")
}

/// A suite's tree without its BUILD files (and without symlinks), which generation must
/// recreate.
fn copy_tree(from: &Path, to: &Path) {
    copy_tree_where(from, to, &|name, kind| {
        kind.is_dir() || (kind.is_file() && name != "BUILD" && name != "BUILD.bazel")
    });
}

/// `(package, name)` of a label written in `package`; `None` for external labels.
fn parse_label(package: &str, label: &str) -> Option<(String, String)> {
    if let Some(name) = label.strip_prefix(':') {
        return Some((package.to_owned(), name.to_owned()));
    }
    let rest = label.strip_prefix("//")?;
    Some(match rest.split_once(':') {
        Some((pkg, name)) => (pkg.to_owned(), name.to_owned()),
        None => (
            rest.to_owned(),
            rest.rsplit('/').next().unwrap_or(rest).to_owned(),
        ),
    })
}

/// `(package, name)` of a target.
type Key = (String, String);

struct Target {
    deps: BTreeSet<Key>,
    /// `data` labels as (package, path in it).
    data: Vec<Key>,
}

/// Every rule of every BUILD.bazel.
struct Targets {
    targets: BTreeMap<Key, Target>,
    /// File → the library holding it, else the rule holding it.
    owner: BTreeMap<PathBuf, Key>,
    /// Test file → its `dx_py_test`.
    test_of: BTreeMap<PathBuf, Key>,
    /// (package, file) of every `exports_files` entry.
    exported: BTreeSet<Key>,
}

fn read_targets(root: &Path) -> Targets {
    let mut targets = BTreeMap::new();
    let mut owner: BTreeMap<PathBuf, Key> = BTreeMap::new();
    let mut test_of = BTreeMap::new();
    let mut exported = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable").flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            }
        }
        let build = dir.join("BUILD.bazel");
        let Ok(text) = fs::read_to_string(&build) else {
            continue;
        };
        let package_path = dir.strip_prefix(root).expect("under root").to_path_buf();
        let package = package_path.to_string_lossy().replace('\\', "/");
        let file = BuildFile::parse(&build, text).expect("generated BUILD parses");
        for statement in &file.statements {
            let StatementKind::Rule(rule) = &statement.kind else {
                continue;
            };
            // `exports_files` declares files, not a target.
            if rule.kind == "exports_files" {
                if let Some(ArgValue::StringList(items)) = rule.args.first().map(|a| &a.value) {
                    exported.extend(items.iter().map(|i| (package.clone(), i.value.clone())));
                }
                continue;
            }
            let name = rule.name.clone().expect("named rule");
            let deps = match rule.arg("deps").map(|a| &a.value) {
                Some(ArgValue::StringList(items)) => items
                    .iter()
                    .filter_map(|i| parse_label(&package, &i.value))
                    .collect(),
                _ => BTreeSet::new(),
            };
            for src in rule.literal_srcs().unwrap_or_default() {
                let key = (package.clone(), name.clone());
                if rule.kind == "dx_py_test" {
                    test_of.insert(package_path.join(&src), key.clone());
                    owner.entry(package_path.join(src)).or_insert(key);
                } else {
                    owner.insert(package_path.join(src), key);
                }
            }
            let data = match rule.arg("data").map(|a| &a.value) {
                Some(ArgValue::StringList(items)) => items
                    .iter()
                    .filter_map(|i| parse_label(&package, &i.value))
                    .collect(),
                _ => Vec::new(),
            };
            targets.insert((package.clone(), name), Target { deps, data });
        }
    }
    Targets {
        targets,
        owner,
        test_of,
        exported,
    }
}

fn check_suite(suite: &Path) -> Vec<String> {
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("repo");
    copy_tree(suite, &root);
    let options = Options {
        repo_root: root.clone(),
        python_version: PythonVersion::Py311,
        manifest: Manifest::default(),
        cache_path: None,
        only: Vec::new(),
    };
    let first = plan(&options).expect("generation succeeds");
    first.write(&root).expect("write");
    let mut problems = Vec::new();
    let Targets {
        targets,
        owner,
        test_of,
        exported,
    } = read_targets(&root);

    // 1. Every pytest test module has its dx_py_test.
    let config = config::load(&ConfigRequest {
        invocation_dir: root.clone(),
        args: vec![],
        env_addopts: None,
    })
    .expect("pytest config");
    let tests: Vec<PathBuf> = walk::walk(&config)
        .expect("walk")
        .files
        .into_iter()
        .filter(|f| f.roles.test_module)
        .map(|f| {
            f.path
                .strip_prefix(&root)
                .expect("under root")
                .to_path_buf()
        })
        .collect();
    if tests.is_empty() {
        problems.push("pytest collects no test module: nothing was checked".into());
    }
    for test in &tests {
        let ok = test_of.get(test).is_some_and(|(_, name)| {
            Some(name.as_str()) == test.file_stem().and_then(|s| s.to_str())
        });
        if !ok {
            problems.push(format!("{}: no dx_py_test", test.display()));
        }
    }

    // 2. Every first-party import of every owned file is a dependency.
    let mut roots = vec![PathBuf::new()];
    if root.join("src").is_dir() && !root.join("src/__init__.py").exists() {
        roots.insert(0, PathBuf::from("src"));
    }
    let resolver = Resolver::new(&root, &roots, PythonVersion::Py311);
    let mut checked = 0;
    for (file, key) in &owner {
        let Ok(source) = fs::read(root.join(file)) else {
            continue;
        };
        let target = &targets[key];
        // pytest's prepend import mode puts a test's or conftest's basedir first.
        let mut first_roots = Vec::new();
        if test_of.contains_key(file) || file.ends_with("conftest.py") {
            let mut dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            while root.join(&dir).join("__init__.py").is_file() {
                dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
            }
            first_roots.push(dir);
        }
        for import in extract_imports(&source)
            .imports
            .iter()
            // Computed imports are left to the user, as in the generator.
            .filter(|i| !i.type_only && i.form != ImportForm::Dynamic)
        {
            let resolution = resolver.resolve(file, import, &first_roots);
            if resolution.kind != ResolutionKind::FirstParty {
                continue;
            }
            for dep_file in &resolution.files {
                let Some(dep) = owner.get(dep_file) else {
                    problems.push(format!(
                        "{}: imports {}, which no target owns",
                        file.display(),
                        dep_file.display()
                    ));
                    continue;
                };
                checked += 1;
                if dep != key && !target.deps.contains(dep) {
                    problems.push(format!(
                        "{}:{}: imports {} ({}:{}), not a dep of {}:{}",
                        file.display(),
                        import.line,
                        dep_file.display(),
                        dep.0,
                        dep.1,
                        key.0,
                        key.1
                    ));
                }
            }
        }
    }
    if checked == 0 {
        problems.push("no first-party import was checked".into());
    }

    // 3. Every data label names an existing file of a package that has a BUILD file, and
    // exports it when another package names it.
    for ((package, name), target) in &targets {
        for (data_package, path) in &target.data {
            let dir = root.join(data_package);
            if !dir.join("BUILD.bazel").is_file() || !dir.join(path).is_file() {
                problems.push(format!(
                    "{package}:{name}: data //{data_package}:{path} is not a file of a package"
                ));
            }
            let key = (data_package.clone(), path.clone());
            if data_package != package && !exported.contains(&key) {
                problems.push(format!(
                    "{package}:{name}: data //{data_package}:{path} is not exported"
                ));
            }
        }
    }

    // 4. Idempotence.
    let second = plan(&options).expect("second run");
    problems.extend(
        second
            .files
            .iter()
            .map(|f| format!("second run changes {}", f.path.display())),
    );
    problems
}

#[test]
fn corpus_suites_get_complete_build_files() {
    if std::env::var_os("DXPY_NO_CORPUS").is_some_and(|v| v == "1") {
        return;
    }
    let corpus = corpus_dir();
    let mut suites: Vec<PathBuf> = fs::read_dir(&corpus)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run `python3 tests/corpus/corpus.py fetch` or set DXPY_NO_CORPUS=1",
                corpus.display()
            )
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(".dxpy-corpus-stamp").exists())
        // The harness's venv is stamped too; it is not a suite.
        .filter(|p| p.file_name().is_some_and(|n| n != "venv"))
        .collect();
    suites.sort();
    assert!(
        !suites.is_empty(),
        "no unpacked suite under {}",
        corpus.display()
    );
    let mut failures = Vec::new();
    for suite in &suites {
        let name = suite
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        failures.extend(
            check_suite(suite)
                .into_iter()
                .map(|p| format!("[{name}] {p}")),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
