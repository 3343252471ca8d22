//! Walk unit tests: selector matching, I/O failures through the lister seam, ordering.
use super::*;
use crate::config::{load, ConfigRequest};

#[test]
fn selector_matching_follows_pytest_levels() {
    let sel = |parts: &[&str], param: Option<&str>| NodeSelector {
        parts: parts.iter().map(|s| s.to_string()).collect(),
        parametrization: param.map(String::from),
    };
    assert!(sel(&["test_a"], None).matches(&["test_a[1]"]));
    assert!(sel(&["test_a"], None).matches(&["test_a"]));
    assert!(!sel(&["test_a"], None).matches(&["test_ab"]));
    assert!(sel(&["test_a"], Some("[1]")).matches(&["test_a[1]"]));
    assert!(!sel(&["test_a"], Some("[1]")).matches(&["test_a[10]"]));
    assert!(sel(&["TestC"], None).matches(&["TestC", "test_m"]));
    assert!(sel(&["TestC", "test_m"], None).matches(&["TestC", "test_m[x]"]));
    assert!(!sel(&["TestC", "test_m"], None).matches(&["TestD", "test_m"]));
    assert!(!sel(&["TestC", "test_m"], None).matches(&["TestC"]));
}

/// Root ignores directory permissions, so an unreadable directory is simulated through the
/// lister seam: the walk must report it and still collect everything else.
#[test]
fn unreadable_directory_is_reported_and_the_scan_continues() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::write(root.join("pytest.ini"), "[pytest]\n").expect("write");
    for dir in ["a_secret", "b_open"] {
        std::fs::create_dir(root.join(dir)).expect("mkdir");
        std::fs::write(root.join(dir).join("test_x.py"), "def test_x(): pass\n").expect("write");
    }
    let config = load(&ConfigRequest {
        invocation_dir: root.to_path_buf(),
        ..Default::default()
    })
    .expect("config");
    let secret = root.join("a_secret");
    let lister = |dir: &Path| -> io::Result<Vec<Entry>> {
        if dir == secret {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "Permission denied",
            ))
        } else {
            list_dir_fs(dir)
        }
    };
    let walked = walk_with(&config, &lister).expect("walk");
    let files: Vec<&str> = walked.files.iter().map(|f| f.rel_path.as_str()).collect();
    assert_eq!(files, ["b_open/test_x.py"]);
    assert_eq!(
        walked.problems,
        [WalkProblem::UnreadableDir {
            path: secret.clone(),
            message: "Permission denied".into()
        }]
    );
}

#[test]
fn package_init_sorts_first_and_files_interleave_with_dirs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    std::fs::write(root.join("pytest.ini"), "[pytest]\npython_files = *.py\n").expect("write");
    for file in [
        "pkg/__init__.py",
        "pkg/_a.py",
        "pkg/b/test_1.py",
        "pkg/c.py",
        "pkg/B.py",
    ] {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, "").expect("write");
    }
    let config = load(&ConfigRequest {
        invocation_dir: root.to_path_buf(),
        ..Default::default()
    })
    .expect("config");
    let walked = walk(&config).expect("walk");
    let files: Vec<&str> = walked.args[0]
        .files
        .iter()
        .map(|&i| walked.files[i].rel_path.as_str())
        .collect();
    assert_eq!(
        files,
        [
            "pkg/__init__.py",
            "pkg/B.py",
            "pkg/_a.py",
            "pkg/b/test_1.py",
            "pkg/c.py"
        ]
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Without packages, pytest's depth-first walk over name-sorted entries yields files
    /// in the lexicographic order of their path components.
    #[test]
    fn walk_order_is_component_order(paths in proptest::collection::btree_set("(test_[a-c]|[a-c]_dir/test_[a-c]|[a-c]_dir/[a-c]_dir/test_[a-c])", 1..12)) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        std::fs::write(root.join("pytest.ini"), "[pytest]\n").expect("write");
        for p in &paths {
            let file = root.join(format!("{p}.py"));
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(&file, "").expect("write");
        }
        let config = load(&ConfigRequest { invocation_dir: root.to_path_buf(), ..Default::default() }).expect("config");
        let walked = walk(&config).expect("walk");
        let got: Vec<String> = walked.files.iter().map(|f| f.rel_path.clone()).collect();
        let mut want: Vec<String> = paths.iter().map(|p| format!("{p}.py")).collect();
        want.sort_by(|a, b| a.split('/').cmp(b.split('/')));
        proptest::prop_assert_eq!(got, want);
    }
}
