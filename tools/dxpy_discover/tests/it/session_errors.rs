//! `discover` end to end with the real backend: failures that stop discovery, per-file
//! errors, and cache-directory handling. (Item contents depend on the module analyser and are
//! covered by its own tests.)

use crate::common;

use dxpy_discover::config::ConfigRequest;
use dxpy_discover::session::{self, DiscoverError, DiscoverOptions, INDEX_FILE_NAME};
use dxpy_discover::CollectError;

fn options(root: &std::path::Path, args: &[&str]) -> DiscoverOptions {
    DiscoverOptions {
        request: ConfigRequest {
            invocation_dir: root.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env_addopts: None,
        },
        ..DiscoverOptions::default()
    }
}

#[test]
fn missing_path_is_a_usage_error() {
    let (_tmp, root) = common::copy_fixture("session", "basic");
    let err = session::discover(&options(&root, &["tests/nope.py"])).expect_err("missing");
    assert_eq!(
        err.to_string(),
        "file or directory not found: tests/nope.py"
    );
    assert_eq!(err.exit_code(), 4);
    assert!(matches!(err, DiscoverError::Walk(_)));
}

#[test]
fn broken_config_is_a_usage_error() {
    let (_tmp, root) = common::copy_fixture("session", "basic");
    std::fs::write(root.join("pytest.ini"), "oops\n").expect("write");
    let err = session::discover(&options(&root, &[])).expect_err("bad ini");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1: unexpected line: 'oops'",
            root.join("pytest.ini").display()
        )
    );
    assert!(matches!(err, DiscoverError::Config(_)));
}

#[test]
fn huge_file_is_reported_not_read() {
    let (_tmp, root) = common::copy_fixture("session", "basic");
    let huge = std::fs::File::create(root.join("tests/test_huge.py")).expect("create");
    // Sparse: cheap to create, but its size is over the default 10 MiB limit.
    huge.set_len(session::DEFAULT_MAX_FILE_SIZE + 1)
        .expect("set_len");
    let d = session::discover(&options(&root, &[])).expect("discover");
    assert!(
        d.errors.contains(&CollectError::TooLarge {
            path: "tests/test_huge.py".into(),
            limit: session::DEFAULT_MAX_FILE_SIZE
        }),
        "{:?}",
        d.errors
    );
    assert_eq!(d.stats.files, 4);
}

#[test]
fn resolved_config_and_conftests_are_reported() {
    let (_tmp, root) = common::copy_fixture("session", "basic");
    std::fs::write(
        root.join("tests/conftest.py"),
        "collect_ignore = ['test_broken.py']\n",
    )
    .expect("write");
    let d = session::discover(&options(&root, &[])).expect("discover");
    assert_eq!(d.config.rootdir, root);
    assert_eq!(
        d.config.inifile.as_deref(),
        Some(root.join("pytest.ini").as_path())
    );
    assert_eq!(d.conftests, vec![root.join("tests/conftest.py")]);
    // test_broken.py is ignored by the conftest: 2 modules left.
    assert_eq!(d.stats.files, 2);
}

#[test]
fn cache_dir_is_created_and_cleared() {
    let (tmp, root) = common::copy_fixture("session", "basic");
    let cache = tmp.path().join("xdg/dx-py/0123");
    let mut opts = options(&root, &[]);
    opts.cache = session::CacheLocation::Dir(cache.clone());
    session::discover(&opts).expect("discover");
    assert!(cache.is_dir());
    std::fs::write(cache.join(INDEX_FILE_NAME), b"stale").expect("write");
    session::clear_cache(&cache).expect("clear");
    assert!(!cache.exists());
}
