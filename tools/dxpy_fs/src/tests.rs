use std::fs;
use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use super::*;

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn private_dir_is_created_0700_with_its_parents() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("a/b/c");
    ensure_private_dir(&dir).expect("create");
    assert!(dir.is_dir());
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&tmp.path().join("a")), 0o700);
    // Idempotent.
    ensure_private_dir(&dir).expect("again");
    assert_eq!(mode(&dir), 0o700);
}

#[cfg(unix)]
#[test]
fn a_loose_private_dir_is_repaired() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("loose");
    fs::create_dir(&dir).expect("mkdir");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    ensure_private_dir(&dir).expect("repair");
    assert_eq!(mode(&dir), 0o700);
}

#[test]
fn a_file_is_not_a_private_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("file");
    fs::write(&file, b"x").expect("write");
    let err = ensure_private_dir(&file).expect_err("a file");
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert!(err.to_string().contains("is not a directory"), "{err}");
}

#[cfg(unix)]
#[test]
fn private_writes_are_0600_in_a_created_0700_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("new/dir/cache.bin");
    write_private_atomic(&path, b"one").expect("write");
    assert_eq!(fs::read(&path).expect("read"), b"one");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().expect("parent")), 0o700);
    // Replacing keeps it private and leaves nothing else behind.
    write_private_atomic(&path, b"two").expect("rewrite");
    assert_eq!(fs::read(&path).expect("read"), b"two");
    assert_eq!(mode(&path), 0o600);
    assert_eq!(entries(path.parent().expect("parent")), ["cache.bin"]);
}

#[cfg(unix)]
#[test]
fn public_writes_get_the_mode_file_create_gives() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let reference = tmp.path().join("reference");
    fs::File::create(&reference).expect("create");
    let path = tmp.path().join("report.xml");
    AtomicWrite::public().write(&path, b"<x/>").expect("write");
    assert_eq!(fs::read(&path).expect("read"), b"<x/>");
    assert_eq!(mode(&path), mode(&reference));
    let unsynced = tmp.path().join("BUILD");
    AtomicWrite::public()
        .unsynced()
        .write(&unsynced, b"x")
        .expect("write");
    assert_eq!(mode(&unsynced), mode(&reference));
    assert_eq!(entries(tmp.path()), ["BUILD", "reference", "report.xml"]);
}

#[test]
fn public_writes_need_an_existing_parent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = AtomicWrite::public()
        .write(&tmp.path().join("missing/report.xml"), b"x")
        .expect_err("no parent");
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(!tmp.path().join("missing").exists());
}

#[test]
fn a_failing_write_keeps_the_old_file_and_leaves_no_temp() {
    for options in [AtomicWrite::private(), AtomicWrite::public()] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("target");
        options.write(&path, b"old contents").expect("write");
        let err = options
            .write_with(&path, |file| {
                use std::io::Write;
                file.write_all(b"half of the new")?;
                Err(io::Error::other("disk full"))
            })
            .expect_err("the write fails");
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&path).expect("read"), b"old contents");
        assert_eq!(entries(tmp.path()), ["target"], "{options:?}");
    }
}

#[test]
fn a_failing_first_write_creates_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("target");
    let result = AtomicWrite::private().write_with(&path, |_| Err(io::Error::other("boom")));
    assert!(result.is_err());
    assert!(entries(tmp.path()).is_empty());
}

#[test]
fn a_path_without_a_file_name_is_refused() {
    let err = write_private_atomic(Path::new("/"), b"x").expect_err("no file name");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn stale_temps_of_the_target_are_removed_fresh_ones_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let stale = dir.join(".index.bin.123.0.abc.tmp");
    let fresh = dir.join(".index.bin.456.0.def.tmp");
    let other = dir.join(".other.bin.123.0.abc.tmp");
    for path in [&stale, &fresh, &other] {
        fs::write(path, b"partial").expect("write");
    }
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for path in [&stale, &other] {
        fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(an_hour_ago))
            .expect("backdate");
    }
    write_private_atomic(&dir.join("index.bin"), b"x").expect("write");
    assert_eq!(
        entries(dir),
        [
            ".index.bin.456.0.def.tmp",
            ".other.bin.123.0.abc.tmp",
            "index.bin"
        ]
    );
}

#[test]
fn temp_names_are_recognised() {
    assert!(is_temp_of(".index.bin.12.0.ff.tmp", "index.bin"));
    assert!(!is_temp_of("index.bin", "index.bin"));
    assert!(!is_temp_of(".index.bin.tmp.x", "index.bin"));
    assert!(!is_temp_of(".index.binary.1.tmp", "index.bin"));
    assert!(!is_temp_of(".other.1.tmp", "index.bin"));
}

#[test]
fn file_stamps_round_trip_through_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("mod.py");
    fs::write(&path, b"def test_x(): pass\n").expect("write");
    let (contents, stamp) = read_stamped(&path).expect("stamp");
    assert_eq!(contents, b"def test_x(): pass\n");
    assert_eq!(stamp.size, contents.len() as u64);
    assert_eq!(stamp.blake3, *blake3::hash(&contents).as_bytes());
    let metadata = fs::metadata(&path).expect("stat");
    assert_eq!(stamp.mtime_ns, mtime_ns(&metadata).expect("mtime"));
    assert_eq!(
        FileStamp::from_metadata(&metadata, &contents).expect("from_metadata"),
        stamp
    );
    assert_eq!(stamp_of(&path, &contents).expect("stamp_of"), stamp);
    assert!(stamp.matches_metadata(&metadata));

    // Same size, new mtime: no longer matches.
    let later = metadata.modified().expect("mtime") + Duration::from_secs(5);
    fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(later))
        .expect("touch");
    assert!(!stamp.matches_metadata(&fs::metadata(&path).expect("stat")));
}

#[test]
fn mtimes_before_the_epoch_are_negative() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("old");
    fs::write(&path, b"x").expect("write");
    let before = SystemTime::UNIX_EPOCH - Duration::from_secs(2);
    fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(before))
        .expect("backdate");
    let metadata = fs::metadata(&path).expect("stat");
    assert_eq!(mtime_ns(&metadata).expect("mtime"), -2_000_000_000);
}

#[cfg(unix)]
#[test]
fn an_exclusive_lock_holds_off_other_holders_until_dropped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("lock");
    let held = FileLock::exclusive(&path).expect("lock");
    assert_eq!(mode(&path), 0o600);
    let (sender, receiver) = mpsc::channel();
    let waiter = {
        let path = path.clone();
        std::thread::spawn(move || {
            // flock locks belong to the open file, so this separate open contends like
            // another process would.
            let lock = FileLock::shared(&path).expect("shared");
            sender.send(()).expect("send");
            drop(lock);
        })
    };
    assert!(
        receiver.recv_timeout(Duration::from_millis(300)).is_err(),
        "a shared lock was granted while the exclusive one was held"
    );
    drop(held);
    receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("granted once released");
    waiter.join().expect("join");
}

#[cfg(unix)]
#[test]
fn shared_locks_coexist() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("lock");
    let first = FileLock::shared(&path).expect("first");
    let (sender, receiver) = mpsc::channel();
    let other = path.clone();
    let waiter = std::thread::spawn(move || {
        let lock = FileLock::shared(&other).expect("second");
        sender.send(()).expect("send");
        drop(lock);
    });
    receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("a second shared lock is granted");
    drop(first);
    waiter.join().expect("join");
}
