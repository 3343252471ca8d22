//! The caches of a run: a no-op run parses no file for imports or literals, an edited file is
//! parsed again (and its new data found), and a damaged literal cache only costs a re-parse.

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use dxpy_gazelle::literals_cache::LITERALS_CACHE_FILE;
use dxpy_gazelle::{plan, Manifest, Options, Plan};
use dxpy_graph::PythonVersion;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(&path, text).expect("write");
}

fn run(root: &Path, cache: &Path) -> Plan {
    let options = Options {
        repo_root: root.to_path_buf(),
        python_version: PythonVersion::Py311,
        manifest: Manifest::default(),
        cache_path: Some(cache.join("gazelle_imports.bin")),
        only: Vec::new(),
    };
    let plan = plan(&options).expect("plan");
    assert_eq!(plan.cache_warning, None);
    plan
}

#[test]
fn noop_runs_reuse_literals_and_edits_are_rescanned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (root, cache) = (tmp.path().join("repo"), tmp.path().join("cache"));
    write(&root, "tests/data/x.json", "{}\n");
    write(&root, "tests/data/y.json", "[]\n");
    write(&root, "tests/helper.py", "NAME = 'helper'\n");
    let test = "from pathlib import Path\n\nfrom tests import helper\n\n\ndef test_x():\n    assert (Path(__file__).parent / \"data\" / \"x.json\").exists()\n";
    write(&root, "tests/__init__.py", "");
    write(&root, "tests/test_x.py", test);

    let first = run(&root, &cache);
    assert_eq!(
        (first.stats.literals_parsed, first.stats.literals_reused),
        (3, 0)
    );
    first.write(&root).expect("write BUILD files");
    assert!(cache.join(LITERALS_CACHE_FILE).is_file());
    let build = fs::read_to_string(root.join("tests/BUILD.bazel")).expect("BUILD");
    assert!(build.contains("\"data/x.json\""), "{build}");

    let noop = run(&root, &cache);
    assert!(noop.files.is_empty(), "a no-op run changes nothing");
    assert_eq!(
        (noop.stats.literals_parsed, noop.stats.literals_reused),
        (0, 3)
    );
    assert_eq!(noop.stats.parsed, 0);

    // Same length, other file: the stamp's mtime moves, the contents hash differs.
    write(&root, "tests/test_x.py", &test.replace("x.json", "y.json"));
    let file = fs::File::options()
        .write(true)
        .open(root.join("tests/test_x.py"))
        .expect("open");
    file.set_modified(SystemTime::now() + Duration::from_secs(5))
        .expect("set mtime");
    let edit = run(&root, &cache);
    assert_eq!(
        (edit.stats.literals_parsed, edit.stats.literals_reused),
        (1, 2)
    );
    let new = &edit.files.first().expect("the BUILD file changes").new;
    assert!(new.contains("\"data/y.json\""), "{new}");
    // Exactly what a run without any cache plans.
    let uncached = plan(&Options {
        repo_root: root.clone(),
        python_version: PythonVersion::Py311,
        manifest: Manifest::default(),
        cache_path: None,
        only: Vec::new(),
    })
    .expect("plan");
    assert_eq!(uncached.files.len(), 1);
    assert_eq!(&uncached.files[0].new, new);

    fs::write(cache.join(LITERALS_CACHE_FILE), b"DXPYGLT\0damaged").expect("damage");
    let rebuilt = run(&root, &cache);
    assert_eq!(rebuilt.stats.literals_parsed, 3);
    assert_eq!(rebuilt.files.len(), edit.files.len());
    assert_eq!(rebuilt.files[0].new, edit.files[0].new);
}
