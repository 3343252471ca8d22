//! Session mechanics with a stand-in analyser and an in-memory index (the real analyser and
//! index are separate modules): order, selection, deselection counts, cache decisions,
//! notices and size limits.
//!
//! The stand-in analyser reads a tiny subset of Python: `def test_*` at module level or in a
//! `class Test*`, `@pytest.mark.NAME(...)` decorators, and a `# ids: a b` / `# ids: dynamic`
//! comment for parameter ids. A line `SYNTAX ERROR` yields a syntax error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::*;
use crate::item::{Mark, ParamState, TestKind};

fn fake_analyze(source: &[u8], ctx: &ModuleContext<'_>) -> FileResult {
    let text = String::from_utf8_lossy(source);
    let mut result = FileResult::default();
    let mut marks: Vec<Mark> = Vec::new();
    let mut ids: Option<Vec<String>> = None;
    let mut dynamic = false;
    let mut class: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed == "SYNTAX ERROR (" {
            result.errors.push(CollectError::Syntax {
                path: ctx.rel_path.into(),
                line: n as u32 + 1,
                column: 14,
                message: "bad".into(),
            });
            continue;
        }
        if !line.starts_with(' ')
            && !trimmed.is_empty()
            && !trimmed.starts_with('@')
            && !trimmed.starts_with('#')
        {
            class = None;
        }
        if let Some(rest) = trimmed.strip_prefix("class ") {
            class = Some(rest.trim_end_matches(':').to_string());
        } else if let Some(rest) = trimmed.strip_prefix("# ids: ") {
            dynamic = rest == "dynamic";
            ids = (!dynamic).then(|| rest.split(' ').map(String::from).collect());
        } else if let Some(rest) = trimmed.strip_prefix("@pytest.mark.") {
            let (name, args) = rest.split_at(rest.find('(').unwrap_or(rest.len()));
            if name != "parametrize" {
                marks.push(Mark {
                    name: name.into(),
                    args: args.into(),
                });
            }
        } else if let Some(rest) = trimmed.strip_prefix("def test") {
            let name = format!("test{}", &rest[..rest.find('(').unwrap_or(rest.len())]);
            let base = match &class {
                Some(c) => format!("{}::{c}::{name}", ctx.rel_path),
                None => format!("{}::{name}", ctx.rel_path),
            };
            let kind = if class.is_some() {
                TestKind::Method
            } else {
                TestKind::Function
            };
            let mut push = |node_id: String, params: ParamState| {
                result.items.push(TestItem {
                    node_id,
                    line: n as u32 + 1,
                    kind,
                    is_async: false,
                    marks: marks.clone(),
                    params,
                });
            };
            match (&ids, dynamic) {
                (_, true) => push(base, ParamState::Dynamic),
                (Some(ids), false) => ids
                    .iter()
                    .for_each(|id| push(format!("{base}[{id}]"), ParamState::Static(id.clone()))),
                (None, false) => push(base, ParamState::None),
            }
            marks.clear();
            ids = None;
            dynamic = false;
        }
    }
    result
}

/// How the in-memory index answers `open`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OpenMode {
    Normal,
    Corrupt,
}

type Entries = HashMap<String, (FileStamp, FileResult)>;

#[derive(Default)]
struct MemoryIndex {
    stored: Mutex<Option<([u8; 32], Entries)>>,
    writes: AtomicUsize,
    analysed: AtomicUsize,
}

struct Snapshot(Entries);

impl CacheSource for Snapshot {
    fn lookup(&self, rel_path: &str) -> Option<(FileStamp, FileResult)> {
        self.0.get(rel_path).cloned()
    }

    fn paths(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

impl MemoryIndex {
    fn run(&self, options: &DiscoverOptions, mode: OpenMode) -> Result<Discovery, DiscoverError> {
        let analyze = |source: &[u8], ctx: &ModuleContext<'_>| {
            self.analysed.fetch_add(1, Ordering::SeqCst);
            fake_analyze(source, ctx)
        };
        let open = |_: &Path, fingerprint: &[u8; 32]| -> Result<Box<dyn CacheSource>, IndexError> {
            if mode == OpenMode::Corrupt {
                return Err(IndexError::Corrupt("bad checksum".into()));
            }
            match &*self.stored.lock().expect("lock") {
                None => Err(IndexError::Missing),
                Some((stored_fp, _)) if stored_fp != fingerprint => Err(IndexError::Fingerprint),
                Some((_, entries)) => Ok(Box::new(Snapshot(entries.clone()))),
            }
        };
        let write = |_: &Path,
                     fingerprint: &[u8; 32],
                     entries: &[(String, FileStamp, FileResult)]|
         -> Result<(), IndexError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            let map = entries
                .iter()
                .map(|(p, s, r)| (p.clone(), (s.clone(), r.clone())))
                .collect();
            *self.stored.lock().expect("lock") = Some((*fingerprint, map));
            Ok(())
        };
        run(
            options,
            &Backend {
                analyze: &analyze,
                open_index: &open,
                write_index: &write,
            },
        )
    }

    fn analysed(&self) -> usize {
        self.analysed.swap(0, Ordering::SeqCst)
    }
}

fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("t");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/session/basic"),
        &root,
    );
    (tmp, root)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Give every file an old mtime so stat-based reuse is trusted.
fn age_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            age_files(&path);
        } else {
            set_mtime(&path, SystemTime::now() - Duration::from_secs(3600));
        }
    }
}

fn set_mtime(path: &Path, time: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(time)
        .expect("set mtime");
}

fn options(root: &Path, cache: Option<&Path>, args: &[&str]) -> DiscoverOptions {
    DiscoverOptions {
        request: ConfigRequest {
            invocation_dir: root.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env_addopts: None,
        },
        cache: cache.map_or(CacheLocation::Off, |dir| {
            CacheLocation::Dir(dir.to_path_buf())
        }),
        ..DiscoverOptions::default()
    }
}

fn render(d: &Discovery) -> String {
    let mut out = String::new();
    for item in &d.items {
        out.push_str(&format!("{}\n", item.node_id));
    }
    out.push_str(&format!("deselected: {}\n", d.deselected));
    for e in &d.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    for u in &d.undecided {
        out.push_str(&format!("undecided: {u}\n"));
    }
    out
}

fn discover_fake(args: &[&str]) -> Result<String, String> {
    let (_tmp, root) = fixture_copy();
    let index = MemoryIndex::default();
    index
        .run(&options(&root, None, args), OpenMode::Normal)
        .map(|d| render(&d))
        .map_err(|e| e.to_string().replace(&root.display().to_string(), "<T>"))
}

#[test]
fn items_in_pytest_order_with_errors() {
    insta::assert_snapshot!(discover_fake(&[]).expect("ok"));
}

#[test]
fn keyword_selection_counts_deselected() {
    insta::assert_snapshot!(discover_fake(&["-k", "one or TestB and not test_m"]).expect("ok"));
}

#[test]
fn mark_selection_and_deselect_prefixes() {
    insta::assert_snapshot!(discover_fake(&[
        "-m",
        "slow or device(serial='123')",
        "--deselect",
        "tests/sub"
    ])
    .expect("ok"));
}

#[test]
fn node_id_args_select_in_argument_order() {
    insta::assert_snapshot!(discover_fake(&[
        "tests/sub/test_b.py::TestB::test_n",
        "tests/test_a.py::test_param[2]",
        "tests/test_a.py::test_dyn[7]"
    ])
    .expect("ok"));
}

#[test]
fn dynamic_items_are_undecided_for_unmatched_keywords() {
    let out = discover_fake(&["tests/test_a.py", "-k", "param or 7"]).expect("ok");
    assert_eq!(out, "tests/test_a.py::test_param[1]\ntests/test_a.py::test_param[2]\ntests/test_a.py::test_dyn\ndeselected: 2\nundecided: tests/test_a.py::test_dyn\n");
}

#[test]
fn unmatched_node_id_is_a_usage_error() {
    let err = discover_fake(&["tests/test_a.py::test_nope"]).expect_err("not found");
    assert_eq!(
        err,
        "not found: <T>/tests/test_a.py::test_nope\n(no match in any of [<Module test_a.py>])"
    );
}

#[test]
fn expression_errors_stop_discovery() {
    assert_eq!(
        discover_fake(&["-k", "one and"]).expect_err("syntax"),
        "Wrong expression passed to '-k': one and: at column 8: expected not OR left parenthesis OR identifier; got end of input"
    );
    assert_eq!(
        discover_fake(&["-k", "one(x=1)"]).expect_err("kwargs"),
        "Keyword expressions do not support call parameters."
    );
    assert_eq!(
        discover_fake(&["--strict-markers", "-m", "slow or fast or skip"]).expect_err("unknown"),
        "Unknown marker(s) in '-m' expression: fast. Use 'pytest --markers' to see available markers."
    );
}

#[test]
fn unknown_markers_are_deferred_when_a_conftest_could_register_them() {
    let (_tmp, root) = fixture_copy();
    std::fs::write(
        root.join("conftest.py"),
        "def pytest_configure(config):\n    config.addinivalue_line('markers', 'fast: x')\n",
    )
    .expect("write");
    let index = MemoryIndex::default();
    let d = index
        .run(
            &options(&root, None, &["--strict-markers", "-m", "fast or slow"]),
            OpenMode::Normal,
        )
        .expect("deferred");
    assert_eq!(d.unknown_markers, vec!["fast".to_string()]);
}

#[test]
fn directory_names_below_the_root_are_keywords() {
    assert_eq!(
        discover_fake(&["-k", "sub and not test_m"]).expect("ok"),
        "tests/sub/test_b.py::TestB::test_n\ntests/test_a.py::test_dyn\ndeselected: 6\nerror: tests/test_broken.py:4:14: syntax error: bad\nundecided: tests/test_a.py::test_dyn\n"
    );
}

#[test]
fn cache_serves_unchanged_files_and_reanalyses_changed_ones() {
    let (tmp, root) = fixture_copy();
    age_files(&root);
    let cache = tmp.path().join("cache/dx-py/abc");
    let index = MemoryIndex::default();
    let opts = options(&root, Some(&cache), &[]);

    let first = index.run(&opts, OpenMode::Normal).expect("run 1");
    assert_eq!(
        (
            first.stats.files,
            first.stats.analysed,
            first.stats.served_by_stat,
            first.stats.index_written
        ),
        (3, 3, 0, true)
    );
    assert_eq!(index.analysed(), 3);
    assert!(cache.is_dir());

    let second = index.run(&opts, OpenMode::Normal).expect("run 2");
    assert_eq!(
        (
            second.stats.analysed,
            second.stats.served_by_stat,
            second.stats.index_written
        ),
        (0, 3, false)
    );
    assert_eq!(index.analysed(), 0);
    assert_eq!(render(&second), render(&first));

    // Touched, same contents: served after hashing, stamp refreshed (index rewritten).
    set_mtime(
        &root.join("tests/test_a.py"),
        SystemTime::now() - Duration::from_secs(60),
    );
    let third = index.run(&opts, OpenMode::Normal).expect("run 3");
    assert_eq!(
        (
            third.stats.analysed,
            third.stats.served_by_stat,
            third.stats.served_by_hash,
            third.stats.index_written
        ),
        (0, 2, 1, true)
    );
    assert_eq!(index.analysed(), 0);

    // Changed contents: analysed again and the new items show up.
    std::fs::write(root.join("tests/test_a.py"), "def test_new():\n    pass\n").expect("write");
    set_mtime(
        &root.join("tests/test_a.py"),
        SystemTime::now() - Duration::from_secs(30),
    );
    let fourth = index.run(&opts, OpenMode::Normal).expect("run 4");
    assert_eq!((fourth.stats.analysed, fourth.stats.served_by_stat), (1, 2));
    assert_eq!(index.analysed(), 1);
    assert!(fourth
        .items
        .iter()
        .any(|i| i.node_id == "tests/test_a.py::test_new"));
    assert!(!fourth
        .items
        .iter()
        .any(|i| i.node_id == "tests/test_a.py::test_one"));
    assert_eq!(index.writes.load(Ordering::SeqCst), 3);
}

#[test]
fn config_change_rebuilds_the_index_quietly() {
    let (tmp, root) = fixture_copy();
    age_files(&root);
    let cache = tmp.path().join("cache");
    let index = MemoryIndex::default();
    index
        .run(&options(&root, Some(&cache), &[]), OpenMode::Normal)
        .expect("run 1");
    index.analysed();
    let other = index
        .run(
            &options(&root, Some(&cache), &["-o", "python_functions=check"]),
            OpenMode::Normal,
        )
        .expect("run 2");
    // Every file is analysed again under the new rules; a routine config change is no news.
    assert_eq!(other.stats.analysed, 3);
    assert!(other.stats.index_written);
    assert_eq!(other.notices, Vec::<String>::new());
}

#[test]
fn corrupt_index_is_rebuilt_with_a_notice() {
    let (tmp, root) = fixture_copy();
    let cache = tmp.path().join("cache");
    let index = MemoryIndex::default();
    let d = index
        .run(&options(&root, Some(&cache), &[]), OpenMode::Corrupt)
        .expect("run");
    assert_eq!(d.stats.analysed, 3);
    assert!(d.stats.index_written);
    assert_eq!(
        d.notices,
        vec![format!(
            "discovery cache {} not used (index is corrupt: bad checksum); rebuilding it",
            cache.join(INDEX_FILE_NAME).display()
        )]
    );
}

#[test]
fn no_cache_neither_reads_nor_writes() {
    let (tmp, root) = fixture_copy();
    let cache = tmp.path().join("cache");
    let index = MemoryIndex::default();
    let mut opts = options(&root, Some(&cache), &[]);
    opts.cache = CacheLocation::Off;
    index.run(&opts, OpenMode::Corrupt).expect("run");
    assert_eq!(index.writes.load(Ordering::SeqCst), 0);
    assert!(!cache.exists());
}

#[test]
fn files_over_the_limit_are_errors_and_others_still_collected() {
    let (_tmp, root) = fixture_copy();
    let mut opts = options(&root, None, &[]);
    opts.max_file_size = 200;
    let index = MemoryIndex::default();
    let d = index.run(&opts, OpenMode::Normal).expect("run");
    let too_large: Vec<String> = d
        .errors
        .iter()
        .filter(|e| matches!(e, CollectError::TooLarge { .. }))
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        too_large,
        vec!["tests/test_a.py: file is larger than 200 bytes; not analysed".to_string()]
    );
    assert!(d
        .items
        .iter()
        .any(|i| i.node_id == "tests/sub/test_b.py::TestB::test_m"));
    assert_eq!(index.analysed(), 2);
}

/// Starts taking the cache lock on another thread (flock waits) and reports when granted.
fn take_lock_elsewhere(path: &Path, exclusive: bool) -> std::sync::mpsc::Receiver<()> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let lock = if exclusive {
            FileLock::exclusive(&path)
        } else {
            FileLock::shared(&path)
        };
        lock.expect("lock");
        let _ = sender.send(());
    });
    receiver
}

#[test]
fn the_cache_dir_is_private_and_the_index_is_read_and_written_under_its_lock() {
    let (tmp, root) = fixture_copy();
    let cache = tmp.path().join("cache/a/b");
    let lock = cache.join(LOCK_FILE_NAME);
    let waiters = Mutex::new(Vec::new());
    let held = Duration::from_millis(200);
    let analyze = |source: &[u8], ctx: &ModuleContext<'_>| fake_analyze(source, ctx);
    let open = |_: &Path, _: &[u8; 32]| -> Result<Box<dyn CacheSource>, IndexError> {
        // Readers share the lock: a writer waits.
        let writer = take_lock_elsewhere(&lock, true);
        assert!(writer.recv_timeout(held).is_err(), "a writer got in");
        waiters.lock().expect("waiters").push(writer);
        Err(IndexError::Missing)
    };
    let write = |_: &Path, _: &[u8; 32], _: &[(String, FileStamp, FileResult)]| {
        // The writer holds it alone: even a reader waits.
        let reader = take_lock_elsewhere(&lock, false);
        assert!(reader.recv_timeout(held).is_err(), "a reader got in");
        waiters.lock().expect("waiters").push(reader);
        Ok(())
    };
    let d = run(
        &options(&root, Some(&cache), &[]),
        &Backend {
            analyze: &analyze,
            open_index: &open,
            write_index: &write,
        },
    )
    .expect("run");
    assert!(d.stats.index_written);
    assert_eq!(d.notices, Vec::<String>::new());
    // Released once the run is done with it.
    let waiters = waiters.into_inner().expect("waiters");
    assert_eq!(waiters.len(), 2);
    for waiter in waiters {
        waiter
            .recv_timeout(Duration::from_secs(30))
            .expect("lock released");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&cache), 0o700);
        assert_eq!(mode(&tmp.path().join("cache/a")), 0o700);
    }
    // `dx-py cache clear` removes the lock file with the rest.
    std::fs::write(cache.join(INDEX_FILE_NAME), b"x").expect("write");
    clear_cache(&cache).expect("clear");
    assert!(!cache.exists());
}

#[test]
fn only_text_files_with_a_prompt_line_are_doctest_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    // doctest's prompt: `>>>` first on a line, after blanks; elsewhere it is just text.
    assert!(has_examples(&write("a.txt", b"intro\n  >>> 1 + 1\n  2\n")));
    assert!(has_examples(&write("b.txt", b"\t>>>\n")));
    assert!(!has_examples(&write("c.txt", b"<< >> <<< >>>\nshift\n")));
    assert!(!has_examples(&write("d.txt", b"pytest==9.2.0\n")));
    // Not UTF-8, or unreadable: the workers decide (pytest may report a decode error).
    assert!(has_examples(&write("e.txt", b"\xff\xfe no prompt\n")));
    assert!(has_examples(&dir.path().join("missing.txt")));
}
