//! Imports whose module name is computed at run time (`__import__(table[key])`,
//! `importlib.import_module(f"pkg.sub.{name}")`): every module the computed name could
//! reach is a dependency, so `affected` never misses a test that loads a plugin this way.
//! Fixture project: `fixtures/dynamic/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dxpy_graph::{build_graph, python_files_under, GraphConfig, PythonVersion, Resolver};

fn affected_tests(changed: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dynamic");
    let tests: BTreeSet<PathBuf> = ["tests/test_plugins.py", "tests/test_named.py"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let config = GraphConfig {
        resolver: Resolver::new(&root, &[PathBuf::new()], PythonVersion::Py311),
        test_files: tests.clone(),
        prepend_import_mode: true,
        cache_path: None,
    };
    let files: Vec<PathBuf> = tests.iter().cloned().collect();
    let build = build_graph(&config, &files);
    assert!(
        python_files_under(&root, Path::new("plugins")).len() == 4,
        "fixture layout changed"
    );
    let changed = PathBuf::from(changed);
    build
        .graph
        .tests_affected([changed.as_path()], tests.iter().map(PathBuf::as_path))
        .into_iter()
        .map(|p| p.display().to_string())
        .collect()
}

#[test]
fn variable_name_reaches_every_module_of_the_own_package() {
    for module in [
        "plugins/alpha.py",
        "plugins/beta/deep.py",
        "plugins/beta/__init__.py",
    ] {
        assert_eq!(
            affected_tests(module),
            BTreeSet::from(["tests/test_plugins.py".to_string()]),
            "{module}"
        );
    }
}

#[test]
fn literal_prefix_bounds_the_reachable_modules() {
    assert_eq!(
        affected_tests("named/sub/one.py"),
        BTreeSet::from(["tests/test_named.py".to_string()])
    );
    // `named/other.py` is outside `named.sub`, and nothing imports it statically.
    assert_eq!(affected_tests("named/other.py"), BTreeSet::new());
}
