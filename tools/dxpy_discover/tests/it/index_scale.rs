//! A realistic-size index (2,200 files × 25 tests) round-trips; prints open and lookup times.
//! Timings are informational (run with `--release -- --nocapture`); only correctness is asserted.

use std::time::Instant;

use dxpy_discover::index::{write_index, FileStamp, Index};
use dxpy_discover::{CollectError, FileResult, Mark, ParamState, TestItem, TestKind};

const FILES: usize = 2_200;
const TESTS_PER_FILE: usize = 25;

fn file_result(path: &str, n: usize) -> FileResult {
    let items = (0..TESTS_PER_FILE)
        .map(|t| TestItem {
            node_id: format!("{path}::TestGroup{}::test_case_{t}[param-{t}]", t % 3),
            line: 10 + t as u32 * 7,
            kind: if t % 5 == 0 {
                TestKind::Function
            } else {
                TestKind::Method
            },
            is_async: t % 4 == 0,
            marks: (0..t % 3)
                .map(|m| Mark {
                    name: ["parametrize", "slow", "skipif"][m].into(),
                    args: format!("'x', [{t}, {m}]"),
                })
                .collect(),
            params: match t % 3 {
                0 => ParamState::None,
                1 => ParamState::Static(format!("param-{t}")),
                _ => ParamState::Dynamic,
            },
        })
        .collect();
    let errors = if n % 50 == 7 {
        vec![CollectError::Other {
            path: path.into(),
            message: "warning".into(),
        }]
    } else {
        vec![]
    };
    FileResult { items, errors }
}

#[test]
#[allow(clippy::print_stdout)] // The measurement is this test's report.
fn index_of_2200_files_by_25_tests() {
    let fingerprint = [3u8; 32];
    let entries: Vec<(String, FileStamp, FileResult)> = (0..FILES)
        .map(|n| {
            let path = format!("tests/pkg_{}/test_module_{n}.py", n % 40);
            let stamp = FileStamp {
                mtime_ns: 1_700_000_000_000_000_000 + n as i128,
                size: 4_000 + n as u64,
                blake3: [n as u8; 32],
            };
            let result = file_result(&path, n);
            (path, stamp, result)
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");

    let started = Instant::now();
    write_index(
        &path,
        &fingerprint,
        entries.iter().map(|(p, s, r)| (p.as_str(), s, r)),
    )
    .expect("write");
    let write_time = started.elapsed();
    let size = std::fs::metadata(&path).expect("metadata").len();

    // The checksum share of opening: Blake3 over the whole file, already in memory.
    let bytes = std::fs::read(&path).expect("read");
    let started = Instant::now();
    let digest = blake3::hash(&bytes);
    let hash_time = started.elapsed();
    assert_ne!(digest.as_bytes(), &[0; 32]);

    let started = Instant::now();
    let index = Index::open(&path, &fingerprint).expect("open");
    let open_time = started.elapsed();

    let started = Instant::now();
    let mut tests = 0;
    for (rel_path, stamp, result) in &entries {
        let (got_stamp, got_result) = index.get(rel_path).expect("present");
        tests += got_result.items.len();
        assert_eq!((&got_stamp, &got_result), (stamp, result));
    }
    let get_all_time = started.elapsed();

    let started = Instant::now();
    let stamps = entries
        .iter()
        .filter(|(p, s, _)| index.stamp(p).as_ref() == Some(s))
        .count();
    let stamp_all_time = started.elapsed();

    assert_eq!(tests, FILES * TESTS_PER_FILE);
    assert_eq!(stamps, FILES);
    println!(
        "index {FILES} files x {TESTS_PER_FILE} tests: {size} bytes; write {write_time:?}, \
         open+validate {open_time:?} (blake3 of the file alone {hash_time:?}), get-all {get_all_time:?} (incl. comparing), stamp-all {stamp_all_time:?}"
    );
}
