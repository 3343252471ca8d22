//! `dx-py affected`: tests selected through the import graph and conftest scoping.

use std::path::Path;
use std::process::Command;

use dxpy_test_support::write;

fn affected(root: &Path, cache: &Path, changed: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .arg("affected")
        .arg("--changed")
        .args(changed)
        .current_dir(root)
        .env("DXPY_CACHE_DIR", cache)
        .output()
        .expect("spawn dx-py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_module_change_selects_its_transitive_importers_and_a_conftest_change_its_subtree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("proj");
    let cache = tmp.path().join("cache");
    write(&root, "pytest.ini", "[pytest]\n");
    write(&root, "pkg/__init__.py", "");
    write(&root, "pkg/a.py", "X = 1\n");
    write(&root, "pkg/b.py", "from pkg.a import X\nY = X\n");
    write(&root, "pkg/c.py", "Z = 3\n");
    write(
        &root,
        "tests/test_a.py",
        "import pkg.a\n\ndef test_a():\n    pass\n",
    );
    write(
        &root,
        "tests/test_b.py",
        "from pkg import b\n\ndef test_b():\n    pass\n",
    );
    write(
        &root,
        "tests/test_c.py",
        "def test_c():\n    import pkg.c\n",
    );
    write(&root, "tests/sub/conftest.py", "");
    write(&root, "tests/sub/test_d.py", "def test_d():\n    pass\n");

    assert_eq!(
        affected(&root, &cache, &["pkg/a.py"]),
        ["tests/test_a.py::test_a", "tests/test_b.py::test_b"]
    );
    // An import inside a function counts too; the package's __init__ is imported by everyone.
    assert_eq!(
        affected(&root, &cache, &["pkg/c.py"]),
        ["tests/test_c.py::test_c"]
    );
    assert_eq!(
        affected(&root, &cache, &["pkg/__init__.py"]),
        [
            "tests/test_a.py::test_a",
            "tests/test_b.py::test_b",
            "tests/test_c.py::test_c"
        ]
    );
    assert_eq!(
        affected(&root, &cache, &["tests/sub/conftest.py"]),
        ["tests/sub/test_d.py::test_d"]
    );
    // Second run comes from the import cache and must agree.
    assert_eq!(
        affected(&root, &cache, &["pkg/a.py"]),
        ["tests/test_a.py::test_a", "tests/test_b.py::test_b"]
    );
}

#[test]
fn pytest_pythonpath_directories_are_import_roots() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("proj");
    let cache = tmp.path().join("cache");
    write(&root, "pytest.ini", "[pytest]\npythonpath = lib\n");
    write(&root, "lib/helper.py", "H = 1\n");
    // A same-named module at the rootdir loses to the `pythonpath` entry, as on sys.path.
    write(&root, "helper.py", "H = 2\n");
    write(
        &root,
        "tests/test_h.py",
        "import helper\n\ndef test_h():\n    pass\n",
    );
    write(
        &root,
        "tests/test_other.py",
        "def test_other():\n    pass\n",
    );
    assert_eq!(
        affected(&root, &cache, &["lib/helper.py"]),
        ["tests/test_h.py::test_h"]
    );
    assert!(affected(&root, &cache, &["helper.py"]).is_empty());
}
