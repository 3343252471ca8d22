//! Hook-items records: the list of items a conftest `pytest_collect_file` unit collected,
//! checked like a test's record, kept through merges and compaction, and as strictly
//! validated on load.

use std::collections::BTreeMap;
use std::path::Path;

use dxpy_results::{
    Checker, ContextBuilder, Digest, Execution, HookDecision, HookRecord, LoadError, RunReason,
    RunRecorder, Snapshot, Store, StorePaths, TestInputs, TestRecord,
};
use dxpy_test_support::write;
use proptest::prelude::*;

const KEY: &str = "data\0";

fn project() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(
        tmp.path(),
        "lib.py",
        "def check(text):\n    return text\n\n\ndef other():\n    return 0\n",
    );
    write(
        tmp.path(),
        "data/conftest.py",
        "import lib\n\n\ndef pytest_collect_file(parent, file_path):\n    return None\n",
    );
    write(tmp.path(), "data/one.txt", "a\n");
    tmp
}

fn context() -> Digest {
    ContextBuilder::new().text("options", "-q").finish()
}

/// The collection's inputs as `dx-py` builds them: the conftest byte for byte, what it
/// imports, every file under the directory.
fn inputs(root: &Path) -> TestInputs {
    let mut now = Snapshot::new(root);
    TestInputs {
        test_file: "data/conftest.py".into(),
        deps: vec!["data/conftest.py".into(), "lib.py".into()],
        data: now.tree_digest("data"),
    }
}

fn record(root: &Path, ambient: &Execution) -> StorePaths {
    let paths = StorePaths::in_dir(&root.join(".cache"));
    let mut now = Snapshot::new(root);
    let instrumented = ["lib.py".to_string(), "data/conftest.py".to_string()].into();
    let all = vec!["lib.py".into(), "data/conftest.py".into()];
    let mut recorder = RunRecorder::new(context(), instrumented, ambient, all, &mut now);
    let items = vec!["data/one.txt::a".to_string(), "data/one.txt::b".to_string()];
    recorder
        .add_hooks(KEY, &inputs(root), items, &mut now)
        .expect("record");
    recorder.into_store().merge_save(&paths, &[]).expect("save");
    paths
}

fn decide(root: &Path, paths: &StorePaths) -> Result<Vec<String>, RunReason> {
    let store = Store::load(paths).expect("load");
    let mut checker = Checker::new(&store, context());
    let mut now = Snapshot::new(root);
    match checker.decide_hooks(KEY, &inputs(root), &mut now) {
        HookDecision::Known(hook) => Ok(hook.items.clone()),
        HookDecision::Run(reason) => Err(reason),
    }
}

#[test]
fn a_hook_list_holds_until_its_tree_its_conftest_or_what_collection_ran_changes() {
    let tmp = project();
    let root = tmp.path();
    let paths = record(root, &Execution::default());
    assert_eq!(
        decide(root, &paths),
        Ok(vec!["data/one.txt::a".into(), "data/one.txt::b".into()])
    );
    // A body edit the collection did not run keeps the list.
    write(
        root,
        "lib.py",
        "def check(text):\n    return text\n\n\ndef other():\n    return 1\n",
    );
    assert!(decide(root, &paths).is_ok());
    // A file under the tree, added or edited: the list is stale.
    write(root, "data/two.txt", "b\n");
    assert_eq!(decide(root, &paths), Err(RunReason::Data));
    std::fs::remove_file(root.join("data/two.txt")).expect("rm");
    assert!(decide(root, &paths).is_ok());
    // A conftest edit, even inside a function body.
    write(
        root,
        "data/conftest.py",
        "import lib\n\n\ndef pytest_collect_file(parent, file_path):\n    return 0\n",
    );
    assert!(decide(root, &paths).is_err());
}

#[test]
fn a_function_the_collection_ran_invalidates_the_list() {
    let tmp = project();
    let root = tmp.path();
    // Collection ran `check` (def on line 1): the run's ambient.
    let ambient = Execution {
        coarse: false,
        hits: vec![("lib.py".into(), vec![1])],
        imported: vec![],
    };
    let paths = record(root, &ambient);
    assert!(decide(root, &paths).is_ok());
    write(
        root,
        "lib.py",
        "def check(text):\n    return text + ''\n\n\ndef other():\n    return 0\n",
    );
    assert_eq!(
        decide(root, &paths),
        Err(RunReason::Unit {
            path: "lib.py".into(),
            name: "check".into()
        })
    );
}

fn test_record(deps: u32, marker: u8) -> TestRecord {
    TestRecord {
        context: [marker; 32],
        data: [0; 32],
        deps,
        extra: vec![],
        units: vec![],
        run: 0,
        granular: false,
        reports: vec![vec![marker]],
    }
}

/// A store with `hooks` lists (key → items) and a test record per item, over `files`.
fn store_with(files: usize, hooks: &BTreeMap<String, Vec<String>>) -> Store {
    let mut store = Store::default();
    for i in 0..files {
        store.files.push(dxpy_results::FileVersion {
            path: format!("f{i}.py"),
            full: [u8::try_from(i % 256).unwrap_or(0); 32],
            skeleton: [0; 32],
        });
    }
    store
        .dep_sets
        .push((0..u32::try_from(files).unwrap_or(0)).collect());
    store.runs.push(Default::default());
    for (n, (key, items)) in hooks.iter().enumerate() {
        let marker = u8::try_from(n % 256).unwrap_or(0);
        store.hooks.insert(
            key.clone(),
            HookRecord {
                inputs: test_record(0, marker),
                items: items.clone(),
            },
        );
        for item in items {
            store.records.insert(item.clone(), test_record(0, marker));
        }
    }
    store
}

proptest! {
    #[test]
    fn hook_lists_survive_encoding_merging_and_compaction(
        files in 1usize..4,
        hooks in prop::collection::btree_map(
            "[a-z]{1,6}",
            prop::collection::vec("[a-z]{1,4}\\.txt::[a-z0-9]{1,4}", 0..5),
            0..4,
        ),
    ) {
        let store = store_with(files, &hooks);
        let items = |s: &Store| -> BTreeMap<String, Vec<String>> {
            s.hooks.iter().map(|(k, h)| (k.clone(), h.items.clone())).collect()
        };
        let decoded = Store::decode(&store.encode().expect("encode")).expect("decode");
        prop_assert_eq!(&decoded, &store);
        prop_assert_eq!(items(&store.clone().compact()), hooks.clone());
        let mut merged = Store::default();
        merged.absorb(store.clone());
        let merged = merged.compact();
        prop_assert_eq!(items(&merged), hooks.clone());
        for hook in merged.hooks.values() {
            let deps = &merged.dep_sets[hook.inputs.deps as usize];
            prop_assert_eq!(deps.len(), files);
        }
        // Every cut of the file is corrupt, never a panic or a short store.
        let bytes = store.encode().expect("encode");
        for cut in (0..bytes.len()).step_by(7) {
            prop_assert!(Store::decode(&bytes[..cut]).is_err());
        }
    }
}

#[test]
fn a_hook_list_pointing_nowhere_is_corrupt_and_a_forgotten_one_goes() {
    let mut hooks = BTreeMap::new();
    hooks.insert("k".to_string(), vec!["a.txt::x".to_string()]);
    let mut store = store_with(1, &hooks);
    store.hooks.get_mut("k").expect("hook").inputs.deps = 7;
    assert!(Store::decode(&store.encode().expect("encode")).is_err());

    let tmp = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(&tmp.path().join("results"));
    store_with(1, &hooks).merge_save(&paths, &[]).expect("save");
    let bytes = std::fs::read(&paths.file).expect("read");
    std::fs::write(&paths.file, &bytes[..bytes.len() - 1]).expect("truncate");
    assert!(matches!(
        Store::load(&paths),
        Err(LoadError::Corrupt { .. })
    ));
    store_with(1, &hooks).merge_save(&paths, &[]).expect("save");
    Store::default()
        .merge_save_forgetting(&paths, &[], &["k".to_string()])
        .expect("save");
    let store = Store::load(&paths).expect("load");
    assert!(store.hooks.is_empty());
    assert_eq!(store.records.keys().collect::<Vec<_>>(), ["a.txt::x"]);
}
