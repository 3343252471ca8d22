//! The cache file: private, rebuilt when damaged, merged under a lock by concurrent writers.

use std::os::unix::fs::PermissionsExt as _;

use dxpy_results::{LoadError, Store, StorePaths, TestRecord};

fn one_record(key: &str, marker: u8) -> Store {
    let mut store = Store::default();
    store.dep_sets.push(Vec::new());
    store.runs.push(Default::default());
    store.records.insert(
        key.to_owned(),
        TestRecord {
            context: [marker; 32],
            data: [0; 32],
            deps: 0,
            extra: vec![],
            units: vec![],
            run: 0,
            granular: false,
            reports: vec![vec![marker]],
        },
    );
    store
}

#[test]
fn the_cache_is_private_and_damage_is_reported_as_corrupt() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(&tmp.path().join("results"));
    one_record("a", 1).merge_save(&paths, &[]).expect("save");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&paths.file), 0o600);
    assert_eq!(mode(paths.file.parent().expect("dir")), 0o700);
    let bytes = std::fs::read(&paths.file).expect("read");
    std::fs::write(&paths.file, &bytes[..bytes.len() - 3]).expect("truncate");
    assert!(matches!(
        Store::load(&paths),
        Err(LoadError::Corrupt { .. })
    ));
    std::fs::write(&paths.file, b"not a cache at all").expect("garbage");
    assert!(matches!(
        Store::load(&paths),
        Err(LoadError::Corrupt { .. })
    ));
    // A save over a corrupt file replaces it.
    one_record("b", 2).merge_save(&paths, &[]).expect("save");
    let store = Store::load(&paths).expect("load");
    assert_eq!(store.records.keys().collect::<Vec<_>>(), ["b"]);
}

#[test]
fn saves_merge_other_runs_records_and_forget_what_did_not_pass() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(&tmp.path().join("results"));
    one_record("a", 1).merge_save(&paths, &[]).expect("save");
    one_record("b", 2).merge_save(&paths, &[]).expect("save");
    one_record("a", 3).merge_save(&paths, &[]).expect("save");
    let store = Store::load(&paths).expect("load");
    assert_eq!(store.records["a"].context, [3; 32]);
    assert_eq!(store.records["b"].context, [2; 32]);
    Store::default()
        .merge_save(&paths, &["a".to_string()])
        .expect("save");
    let store = Store::load(&paths).expect("load");
    assert_eq!(store.records.keys().collect::<Vec<_>>(), ["b"]);
}

#[test]
fn concurrent_savers_lose_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(&tmp.path().join("results"));
    std::thread::scope(|scope| {
        for t in 0..8u8 {
            let paths = paths.clone();
            scope.spawn(move || {
                for i in 0..10u8 {
                    one_record(&format!("t{t}-{i}"), t)
                        .merge_save(&paths, &[])
                        .expect("save");
                }
            });
        }
    });
    let store = Store::load(&paths).expect("load");
    assert_eq!(store.records.len(), 80);
}

#[test]
fn a_save_with_nothing_to_add_or_forget_leaves_the_file_alone() {
    use std::os::unix::fs::MetadataExt as _;
    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(&tmp.path().join("results"));
    one_record("a", 1).merge_save(&paths, &[]).expect("save");
    let before = std::fs::metadata(&paths.file).expect("stat");
    Store::default()
        .merge_save_forgetting(&paths, &[], &[])
        .expect("save nothing");
    let after = std::fs::metadata(&paths.file).expect("stat");
    assert_eq!(
        (before.ino(), before.mtime_nsec(), before.len()),
        (after.ino(), after.mtime_nsec(), after.len()),
        "the file was not rewritten"
    );
    assert!(Store::load(&paths).expect("load").records.contains_key("a"));
    // Something to forget still saves.
    Store::default()
        .merge_save(&paths, &["a".to_owned()])
        .expect("forget");
    assert!(!Store::load(&paths).expect("load").records.contains_key("a"));
}
