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

#[test]
fn update_manifest_with_a_lock_keeps_only_its_distributions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (root, cache, site) = (
        tmp.path().join("repo"),
        tmp.path().join("cache"),
        tmp.path().join("site"),
    );
    std::fs::create_dir_all(&cache).expect("mkdir");
    for (dist_info, name, module) in [
        ("attrs-26.1.0.dist-info", "attrs", "attr/__init__.py"),
        ("pytest-9.1.1.dist-info", "pytest", "_pytest/__init__.py"),
    ] {
        write(
            &site,
            &format!("{dist_info}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {name}\n\n"),
        );
        write(
            &site,
            &format!("{dist_info}/RECORD"),
            format!("{module},,\n"),
        );
    }
    let python = tmp.path().join("python");
    write(
        tmp.path(),
        "python",
        format!("#!/bin/sh\necho '[\"{}\"]'\n", site.display()),
    );
    let mut perms = std::fs::metadata(&python).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&python, perms).expect("chmod");
    // Relative to the user's directory, as PATHS are under `bazel run`.
    write(
        &root,
        "deps/requirements_lock.txt",
        "attrs==26.1.0\nsix==1.17.0\n",
    );

    let update = Command::new(env!("CARGO_BIN_EXE_dx-py"))
        .args(["gazelle", "--update-manifest", "--python"])
        .arg(&python)
        .args(["--requirements", "requirements_lock.txt"])
        .env("BUILD_WORKSPACE_DIRECTORY", &root)
        .env("BUILD_WORKING_DIRECTORY", root.join("deps"))
        .env("DXPY_CACHE_DIR", &cache)
        .current_dir(&cache)
        .output()
        .expect("spawn dx-py");
    let stderr = text(&update.stderr);
    assert_eq!(update.status.code(), Some(0), "{stderr}");
    let manifest = std::fs::read_to_string(root.join("gazelle_dxpy.toml")).expect("manifest");
    assert!(manifest.contains("attr = \"attrs\""), "{manifest}");
    assert!(!manifest.contains("pytest"), "{manifest}");
    assert!(
        stderr.contains("names six, which is not installed"),
        "{stderr}"
    );
}
