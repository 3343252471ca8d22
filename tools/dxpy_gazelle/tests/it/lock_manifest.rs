//! `--update-manifest --requirements LOCK`: the manifest scanned from an environment that also
//! holds the test runner keeps only the lock's distributions, and equals the manifest of the
//! `pip_parse_hub` golden case (so that case's labels are the ones the mechanism writes).

use std::fs;
use std::path::Path;

use dxpy_gazelle::manifest::{lock_distributions, DEFAULT_LABEL_PATTERN};
use dxpy_gazelle::{Manifest, MANIFEST_FILE};

/// A `*.dist-info` directory as an installer leaves it: METADATA's name and a RECORD.
fn install(site: &Path, dist_info: &str, name: &str, files: &[&str]) {
    let dir = site.join(dist_info);
    fs::create_dir_all(&dir).expect("mkdir dist-info");
    fs::write(
        dir.join("METADATA"),
        format!("Metadata-Version: 2.4\nName: {name}\n\n"),
    )
    .expect("METADATA");
    let mut record: String = files.iter().map(|f| format!("{f},,\n")).collect();
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    fs::write(dir.join("RECORD"), record).expect("RECORD");
}

#[test]
fn lock_keeps_its_distributions_and_matches_the_golden_manifest() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/pip_parse_hub");
    let site = tempfile::tempdir().expect("tempdir");
    let site = site.path();
    install(
        site,
        "attrs-26.1.0.dist-info",
        "attrs",
        &["attr/__init__.py", "attr/_make.py", "attrs/__init__.py"],
    );
    install(
        site,
        "jaraco_functools-4.6.0.dist-info",
        "jaraco.functools",
        &["jaraco/functools/__init__.py", "jaraco/functools/py.typed"],
    );
    install(
        site,
        "more_itertools-11.2.1.dist-info",
        "more-itertools",
        &["more_itertools/__init__.py", "more_itertools/more.py"],
    );
    // The runner's own distributions, installed beside them but not in the lock.
    install(
        site,
        "pytest-9.1.1.dist-info",
        "pytest",
        &["pytest/__init__.py", "_pytest/__init__.py", "py.py"],
    );
    install(
        site,
        "pluggy-1.6.0.dist-info",
        "pluggy",
        &["pluggy/__init__.py"],
    );

    let (mut manifest, clashes) =
        Manifest::scan(&[site.to_path_buf()], DEFAULT_LABEL_PATTERN).expect("scan");
    assert!(clashes.is_empty(), "{clashes:?}");
    assert_eq!(
        manifest.label_for("_pytest").as_deref(),
        Some("@pypi//pytest")
    );

    let lock = fs::read_to_string(case.join("requirements_lock.txt")).expect("lock");
    let missing = manifest.retain_locked(&lock_distributions(&lock));
    assert!(missing.is_empty(), "{missing:?}");
    assert_eq!(manifest.label_for("_pytest"), None);
    let golden = fs::read_to_string(case.join(MANIFEST_FILE)).expect("golden manifest");
    assert_eq!(manifest.to_text().expect("text"), golden);
}
