//! `dx-py gazelle`: modes, exit codes, repo-root selection, unresolved-import reports and
//! `--update-manifest` from a fake site-packages.

use std::path::Path;
use std::process::{Command, Output};

use dxpy_test_support::write;

fn gazelle(root: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .arg("gazelle")
        .args(args)
        .env("BUILD_WORKSPACE_DIRECTORY", root)
        .env("DXPY_CACHE_DIR", cache)
        .current_dir(cache)
        .output()
        .expect("spawn dx-py")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_reports_drift_fix_repairs_it_and_diff_shows_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (root, cache) = (tmp.path().join("repo"), tmp.path().join("cache"));
    std::fs::create_dir_all(&cache).expect("mkdir");
    write(&root, "app/__init__.py", "");
    write(&root, "app/core.py", "import yaml\n");
    write(&root, "tests/test_core.py", "import app.core\n");

    let check = gazelle(&root, &cache, &["--mode", "check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
    assert_eq!(text(&check.stdout), "app/BUILD.bazel\ntests/BUILD.bazel\n");
    assert!(text(&check.stderr).contains("app/core.py:1: unresolved import `yaml`"));
    assert!(
        !root.join("app/BUILD.bazel").exists(),
        "check must not write"
    );

    // PATHS restrict which BUILD files are written (the whole tree is still analysed).
    let app = root.join("app");
    let only_app = gazelle(
        &root,
        &cache,
        &["--mode", "check", app.to_str().expect("utf-8")],
    );
    assert_eq!(only_app.status.code(), Some(1));
    assert_eq!(text(&only_app.stdout), "app/BUILD.bazel\n");

    let diff = gazelle(&root, &cache, &["--mode", "diff"]);
    assert_eq!(diff.status.code(), Some(0));
    let diff = text(&diff.stdout);
    assert!(diff.contains("+++ b/tests/BUILD.bazel"), "{diff}");
    assert!(diff.contains("+    deps = [\"//app\"],"), "{diff}");

    let fix = gazelle(&root, &cache, &[]);
    assert_eq!(fix.status.code(), Some(0), "{}", text(&fix.stderr));
    let tests_build = std::fs::read_to_string(root.join("tests/BUILD.bazel")).expect("written");
    assert!(
        tests_build.contains("name = \"test_core\""),
        "{tests_build}"
    );

    let again = gazelle(&root, &cache, &["--mode", "check"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));
    assert_eq!(text(&again.stdout), "");
}

#[test]
fn update_manifest_maps_installed_modules_and_generation_uses_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (root, cache) = (tmp.path().join("repo"), tmp.path().join("cache"));
    std::fs::create_dir_all(&cache).expect("mkdir");
    let site = tmp.path().join("site");
    write(
        &site,
        "PyYAML-6.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: PyYAML\n\nbody\n",
    );
    write(
        &site,
        "PyYAML-6.0.dist-info/RECORD",
        "yaml/__init__.py,,\nyaml/nodes.py,,\nPyYAML-6.0.dist-info/RECORD,,\n",
    );
    // A stand-in interpreter that reports `site` as its only site-packages directory.
    let python = tmp.path().join("python");
    write(
        tmp.path(),
        "python",
        format!("#!/bin/sh\necho '[\"{}\"]'\n", site.display()),
    );
    let mut perms = std::fs::metadata(&python).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&python, perms).expect("chmod");
    write(&root, "lib/use.py", "import yaml.nodes\n");

    let update = gazelle(
        &root,
        &cache,
        &[
            "--update-manifest",
            "--python",
            python.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(update.status.code(), Some(0), "{}", text(&update.stderr));
    let manifest = std::fs::read_to_string(root.join("gazelle_dxpy.toml")).expect("manifest");
    assert!(
        manifest.contains("label_pattern = \"@pypi//{dist}\""),
        "{manifest}"
    );
    assert!(manifest.contains("yaml = \"pyyaml\""), "{manifest}");

    let fix = gazelle(&root, &cache, &[]);
    assert_eq!(fix.status.code(), Some(0));
    assert!(
        !text(&fix.stderr).contains("unresolved"),
        "{}",
        text(&fix.stderr)
    );
    let build = std::fs::read_to_string(root.join("lib/BUILD.bazel")).expect("written");
    assert!(build.contains("deps = [\"@pypi//pyyaml\"]"), "{build}");
}
