#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;

use dxpy_python::fixture_cache::{key, FixtureStore};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keys_are_digests_that_tell_every_part_apart() {
    let k = key(["source", "param"]);
    assert_eq!(k.len(), 64);
    assert_eq!(k, key(["source", "param"]));
    assert_ne!(k, key(["source", "param2"]));
    // Length prefixes: moving a boundary changes the key.
    assert_ne!(key(["ab", "c"]), key(["a", "bc"]));
    assert_ne!(key(["a"]), key(["a", ""]));
}

#[test]
fn a_saved_entry_loads_and_lives_in_a_private_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FixtureStore::new(tmp.path().join("fixtures"));
    let k = key(["f"]);
    assert_eq!(store.load(&k).unwrap(), None);
    store.save(&k, 1, b"payload").unwrap();
    assert_eq!(store.load(&k).unwrap(), Some((1, b"payload".to_vec())));
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(mode(&store.dir().join(&k)), 0o600);
}

#[test]
fn a_damaged_entry_is_a_miss_and_is_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FixtureStore::new(tmp.path().join("fixtures"));
    let k = key(["f"]);
    store.save(&k, 0, b"payload").unwrap();
    let path = store.dir().join(&k);
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, &bytes).unwrap();
    assert_eq!(store.load(&k).unwrap(), None);
    assert!(!path.exists());
    fs::write(&path, b"short").unwrap();
    assert_eq!(store.load(&k).unwrap(), None);
}

#[test]
fn a_key_that_is_not_a_digest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FixtureStore::new(tmp.path().join("fixtures"));
    assert!(store.save("../escape", 0, b"x").is_err());
    assert!(store.load("ABC").is_err());
    assert!(!tmp.path().join("escape").exists());
}
