//! File-level behaviour of the index: errors on open, permissions, atomic replacement, stamps.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use dxpy_discover::index::{
    ensure_private_dir, read_stamped, stamp_of, write_index, FileStamp, Index, IndexError,
    FORMAT_VERSION,
};
use dxpy_discover::{FileResult, ParamState, TestItem, TestKind};

const CONFIG_A: [u8; 32] = [0xaa; 32];
const CONFIG_B: [u8; 32] = [0xbb; 32];

fn result_with(node_id: &str) -> FileResult {
    FileResult {
        items: vec![TestItem {
            node_id: node_id.into(),
            line: 1,
            kind: TestKind::Function,
            is_async: false,
            marks: vec![],
            params: ParamState::None,
        }],
        errors: vec![],
    }
}

fn stamp(size: u64) -> FileStamp {
    FileStamp {
        mtime_ns: 42,
        size,
        blake3: [1; 32],
    }
}

fn write_one(path: &Path, config: &[u8; 32], node_id: &str) -> Result<(), IndexError> {
    let result = result_with(node_id);
    write_index(path, config, [("test_a.py", &stamp(1), &result)])
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn missing_file_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let result = Index::open(&dir.path().join("nope.idx"), &CONFIG_A);
    assert!(matches!(result, Err(IndexError::Missing)), "{result:?}");
}

#[test]
fn another_configuration_is_a_fingerprint_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    write_one(&path, &CONFIG_A, "test_a.py::test_one").expect("write");
    assert!(matches!(
        Index::open(&path, &CONFIG_B),
        Err(IndexError::Fingerprint)
    ));
    assert!(Index::open(&path, &CONFIG_A).is_ok());
}

#[test]
fn another_format_version_is_a_version_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    write_one(&path, &CONFIG_A, "test_a.py::test_one").expect("write");
    let mut bytes = fs::read(&path).expect("read");
    assert_eq!(&bytes[8..12], &FORMAT_VERSION.to_le_bytes());
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    fs::write(&path, &bytes).expect("rewrite");
    match Index::open(&path, &CONFIG_A) {
        Err(IndexError::Version { found, expected }) => {
            assert_eq!((found, expected), (FORMAT_VERSION + 1, FORMAT_VERSION))
        }
        other => panic!("expected Version, got {other:?}"),
    }
}

#[test]
fn foreign_files_are_corrupt_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    for contents in [
        &b""[..],
        b"DXPYIDX",
        b"not an index at all, just some text",
        &[0u8; 4096],
    ] {
        fs::write(&path, contents).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let result = Index::open(&path, &CONFIG_A);
        assert!(
            matches!(result, Err(IndexError::Corrupt(_))),
            "{contents:?}: {result:?}"
        );
    }
    // A directory at the index path is not an index either.
    let result = Index::open(dir.path(), &CONFIG_A);
    assert!(matches!(result, Err(IndexError::Corrupt(_))), "{result:?}");
}

#[test]
fn written_index_is_0600_in_a_created_0700_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache").join("dx-py");
    let path = cache.join("index.bin");
    write_one(&path, &CONFIG_A, "test_a.py::test_one").expect("write");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&dir.path().join("cache")), 0o700);
}

#[test]
fn an_index_readable_or_writable_by_others_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    write_one(&path, &CONFIG_A, "test_a.py::test_one").expect("write");
    for loose in [0o644, 0o620, 0o606] {
        fs::set_permissions(&path, fs::Permissions::from_mode(loose)).expect("chmod");
        let result = Index::open(&path, &CONFIG_A);
        assert!(
            matches!(result, Err(IndexError::Insecure(_))),
            "{loose:o}: {result:?}"
        );
    }
}

#[test]
fn ensure_private_dir_creates_and_repairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("a").join("b");
    ensure_private_dir(&fresh).expect("create");
    assert_eq!(mode(&fresh), 0o700);

    let loose = dir.path().join("loose");
    fs::create_dir(&loose).expect("mkdir");
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o775)).expect("chmod");
    ensure_private_dir(&loose).expect("repair");
    assert_eq!(mode(&loose), 0o700);

    let file = dir.path().join("file");
    fs::write(&file, b"x").expect("write");
    assert!(ensure_private_dir(&file).is_err());
}

#[test]
fn replacing_an_index_does_not_disturb_an_open_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    write_one(&path, &CONFIG_A, "test_a.py::test_old").expect("write old");
    let old = Index::open(&path, &CONFIG_A).expect("open old");
    write_one(&path, &CONFIG_A, "test_a.py::test_new_and_longer").expect("write new");
    // The old mapping still sees the old inode's bytes: writers rename, never rewrite in place.
    assert_eq!(
        old.get("test_a.py").map(|(_, r)| r),
        Some(result_with("test_a.py::test_old"))
    );
    let new = Index::open(&path, &CONFIG_A).expect("open new");
    assert_eq!(
        new.get("test_a.py").map(|(_, r)| r),
        Some(result_with("test_a.py::test_new_and_longer"))
    );
    assert_eq!(dir_names(dir.path()), ["index.bin"]);
}

#[test]
fn rejected_write_leaves_the_old_index_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    write_one(&path, &CONFIG_A, "test_a.py::test_old").expect("write old");
    let before = fs::read(&path).expect("read");
    let result = result_with("x");
    let duplicate = write_index(
        &path,
        &CONFIG_B,
        [("p.py", &stamp(1), &result), ("p.py", &stamp(2), &result)],
    );
    assert!(
        matches!(duplicate, Err(IndexError::InvalidInput(_))),
        "{duplicate:?}"
    );
    assert_eq!(fs::read(&path).expect("read"), before);
    assert_eq!(dir_names(dir.path()), ["index.bin"]);
}

#[test]
fn failed_rename_cleans_up_its_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A non-empty directory where the index should go makes the final rename fail.
    let path = dir.path().join("index.bin");
    fs::create_dir(&path).expect("mkdir");
    fs::write(path.join("keep"), b"x").expect("write");
    let result = write_one(&path, &CONFIG_A, "test_a.py::test_one");
    assert!(matches!(result, Err(IndexError::Io(_))), "{result:?}");
    assert_eq!(dir_names(dir.path()), ["index.bin"]);
    assert_eq!(dir_names(&path), ["keep"]);
}

#[test]
fn leftover_temp_files_from_a_crashed_writer_are_harmless_and_swept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    write_one(&path, &CONFIG_A, "test_a.py::test_one").expect("write");
    let stale = dir.path().join(".index.bin.1.0.0.tmp");
    let recent = dir.path().join(".index.bin.2.0.0.tmp");
    let unrelated = dir.path().join(".other.bin.3.0.0.tmp");
    for stray in [&stale, &recent, &unrelated] {
        fs::write(stray, b"DXPYIDX\0half").expect("stray");
    }
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for old in [&stale, &unrelated] {
        fs::File::options()
            .write(true)
            .open(old)
            .expect("open")
            .set_modified(hour_ago)
            .expect("age");
    }
    write_one(&path, &CONFIG_A, "test_a.py::test_two").expect("write again");
    let index = Index::open(&path, &CONFIG_A).expect("open");
    assert_eq!(
        index.get("test_a.py").map(|(_, r)| r),
        Some(result_with("test_a.py::test_two"))
    );
    // The crashed writer's old temp is swept; a possibly live writer's and other files are not.
    assert_eq!(
        dir_names(dir.path()),
        [".index.bin.2.0.0.tmp", ".other.bin.3.0.0.tmp", "index.bin"]
    );
}

#[test]
fn stamps_describe_size_mtime_and_contents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("test_x.py");
    fs::write(&file, b"def test_x():\n    pass\n").expect("write");
    let (contents, stamp) = read_stamped(&file).expect("stamp");
    assert_eq!(contents, b"def test_x():\n    pass\n");
    assert_eq!(stamp.size, contents.len() as u64);
    assert_eq!(stamp.blake3, *blake3::hash(&contents).as_bytes());
    assert_eq!(stamp_of(&file, &contents).expect("stamp_of"), stamp);
    let metadata = fs::metadata(&file).expect("metadata");
    assert!(stamp.matches_metadata(&metadata));
    let expected_mtime = metadata
        .modified()
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch")
        .as_nanos();
    assert_eq!(stamp.mtime_ns, expected_mtime as i128);

    fs::write(&file, b"def test_x():\n    assert 0\n").expect("rewrite");
    let (_, changed) = read_stamped(&file).expect("stamp");
    assert_ne!(changed.blake3, stamp.blake3);
    assert!(!stamp.matches_metadata(&fs::metadata(&file).expect("metadata")));
}
