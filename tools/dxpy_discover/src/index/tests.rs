//! Structural checks that sit behind the checksums: forged files (edited, then resealed with
//! valid checksums) must be refused with a specific message or decode without panicking.

use proptest::prelude::*;

use super::decode::check_file;
use super::encode::{encode, reseal};
use super::format::{HEADER_LEN, OFF_FLAGS};
use super::{FileStamp, IndexError};
use crate::item::{CollectError, FileResult, Mark, ParamState, TestItem, TestKind};

const FINGERPRINT: [u8; 32] = [7; 32];

fn stamp(n: u8) -> FileStamp {
    FileStamp {
        mtime_ns: 1_700_000_000_000_000_000 + i128::from(n),
        size: u64::from(n) * 10,
        blake3: [n; 32],
    }
}

fn item(node_id: &str, params: ParamState, marks: &[(&str, &str)]) -> TestItem {
    TestItem {
        node_id: node_id.to_owned(),
        line: 3,
        kind: TestKind::Method,
        is_async: true,
        marks: marks
            .iter()
            .map(|(n, a)| Mark {
                name: (*n).to_owned(),
                args: (*a).to_owned(),
            })
            .collect(),
        params,
    }
}

/// Two files, every record kind present: tests with and without marks/params, two errors.
fn sample() -> Vec<(String, FileStamp, FileResult)> {
    vec![
        (
            "a/test_a.py".into(),
            stamp(1),
            FileResult {
                items: vec![
                    item(
                        "a/test_a.py::TestX::test_p[1-2]",
                        ParamState::Static("1-2".into()),
                        &[("slow", "")],
                    ),
                    item("a/test_a.py::TestX::test_d", ParamState::Dynamic, &[]),
                ],
                errors: vec![CollectError::Syntax {
                    path: "a/test_a.py".into(),
                    line: 4,
                    column: 2,
                    message: "bad".into(),
                }],
            },
        ),
        (
            "b/test_b.py".into(),
            stamp(2),
            FileResult {
                items: vec![item(
                    "b/test_b.py::test_f",
                    ParamState::None,
                    &[("skip", "reason='x'")],
                )],
                errors: vec![CollectError::TooLarge {
                    path: "b/test_b.py".into(),
                    limit: 9,
                }],
            },
        ),
    ]
}

fn encoded() -> Vec<u8> {
    let entries = sample();
    encode(
        &FINGERPRINT,
        entries.iter().map(|(p, s, r)| (p.as_str(), s, r)),
    )
    .expect("encode sample")
}

/// Section start offsets of an encoded file, read from its header.
fn section_start(bytes: &[u8], section: usize) -> usize {
    let at = 72 + section * 16;
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")) as usize
}

fn forged(edit: impl FnOnce(&mut Vec<u8>)) -> Result<(), IndexError> {
    let mut bytes = encoded();
    edit(&mut bytes);
    reseal(&mut bytes);
    check_file(&bytes, &FINGERPRINT).map(|_| ())
}

fn expect_corrupt(result: Result<(), IndexError>, needle: &str) {
    match result {
        Err(IndexError::Corrupt(message)) => {
            assert!(
                message.contains(needle),
                "message {message:?} lacks {needle:?}"
            )
        }
        other => panic!("expected Corrupt containing {needle:?}, got {other:?}"),
    }
}

#[test]
fn unforged_sample_is_valid_and_decodes_back() {
    let bytes = encoded();
    let layout = check_file(&bytes, &FINGERPRINT).expect("valid");
    let tables = layout.tables(&bytes);
    for (path, stamp, result) in sample() {
        let index = tables.find(&path).expect("search").expect("present");
        let file = tables.file(index).expect("file record");
        assert_eq!(file.stamp, stamp);
        assert_eq!(tables.file_result(&file).expect("decode"), result);
    }
}

#[test]
fn structural_corruption_is_reported_specifically() {
    let tests = section_start(&encoded(), 1);
    let marks = section_start(&encoded(), 2);
    let errors = section_start(&encoded(), 3);
    let strings = section_start(&encoded(), 4);
    expect_corrupt(forged(|b| b[OFF_FLAGS] = 1), "unknown header flags");
    expect_corrupt(forged(|b| b[tests + 12] = 9), "unknown kind tag 9");
    expect_corrupt(forged(|b| b[tests + 13] = 2), "async flag is 2");
    expect_corrupt(forged(|b| b[tests + 14] = 7), "unknown params tag 7");
    expect_corrupt(forged(|b| b[tests + 15] = 1), "reserved byte");
    // Second test is dynamic: giving it a parameter id is not canonical.
    expect_corrupt(forged(|b| b[tests + 32 + 20] = 1), "non-static");
    expect_corrupt(forged(|b| b[errors] = 5), "unknown error tag 5");
    expect_corrupt(forged(|b| b[errors + 1] = 1), "reserved bytes");
    expect_corrupt(forged(|b| b[errors + 12] = 1), "reserved word");
    // Error 1 is TooLarge: a line number is a field its tag does not use.
    expect_corrupt(forged(|b| b[errors + 40 + 4] = 1), "does not use");
    // Node id of test 0 pointing past the pool.
    expect_corrupt(
        forged(|b| b[tests..tests + 4].copy_from_slice(&u32::MAX.to_le_bytes())),
        "outside the",
    );
    // Invalid UTF-8 inside the pool (first byte of the first string).
    expect_corrupt(forged(|b| b[strings] = 0xff), "not UTF-8");
    // File 1's test span must start where file 0's ended.
    expect_corrupt(forged(|b| b[HEADER_LEN + 80 + 64] = 0), "does not follow");
    // Test 0's mark span claims two marks: the next test's span no longer follows.
    expect_corrupt(forged(|b| b[tests + 28] = 2), "does not follow");
    // Swap the two files' path refs: table no longer sorted.
    expect_corrupt(
        forged(|b| {
            let first: Vec<u8> = b[HEADER_LEN..HEADER_LEN + 8].to_vec();
            let second: Vec<u8> = b[HEADER_LEN + 80..HEADER_LEN + 88].to_vec();
            b[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&second);
            b[HEADER_LEN + 80..HEADER_LEN + 88].copy_from_slice(&first);
        }),
        "not strictly sorted",
    );
    // Mark count inflated without data: section length no longer matches.
    expect_corrupt(forged(|b| b[56] += 1), "expected 3 records of 16");
    // Trailing garbage after the pool (header total length updated to match).
    expect_corrupt(
        forged(|b| {
            b.push(b'x');
            let total = b.len() as u64;
            b[64..72].copy_from_slice(&total.to_le_bytes());
        }),
        "trailing bytes",
    );
    // Moving a section start breaks contiguity.
    expect_corrupt(forged(|b| b[72 + 16] ^= 1), "starts at");
    assert!(marks > tests);
}

proptest! {
    /// Any single-byte edit that is resealed is either refused or decodes without panicking;
    /// lookups and full iteration agree with each other.
    #[test]
    fn resealed_byte_edits_never_panic(position in 0usize..4096, value in any::<u8>()) {
        let mut bytes = encoded();
        let position = HEADER_LEN + position % (bytes.len() - HEADER_LEN);
        bytes[position] = value;
        reseal(&mut bytes);
        if let Ok(layout) = check_file(&bytes, &FINGERPRINT) {
            let tables = layout.tables(&bytes);
            for index in 0..layout.file_count {
                let file = tables.file(index).expect("validated file record");
                let path = tables.str(file.path, "path").expect("validated path");
                let result = tables.file_result(&file).expect("validated entry decodes");
                let found = tables.find(path).expect("search").expect("own path is found");
                prop_assert_eq!(found, index);
                prop_assert_eq!(tables.file_result(&tables.file(found).expect("record")).expect("decode"), result);
            }
        }
    }
}

#[test]
fn every_truncation_and_every_byte_flip_is_refused() {
    let bytes = encoded();
    for len in 0..bytes.len() {
        let result = check_file(&bytes[..len], &FINGERPRINT);
        assert!(
            matches!(result, Err(IndexError::Corrupt(_))),
            "truncated to {len}: {result:?}"
        );
    }
    for position in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[position] ^= 1 << bit;
            let result = check_file(&flipped, &FINGERPRINT);
            // The version field is read before any checksum so a newer dx-py's index is
            // reported as such; every other edit fails a checksum or the magic.
            let expected = if (8..12).contains(&position) {
                matches!(result, Err(IndexError::Version { .. }))
            } else {
                matches!(result, Err(IndexError::Corrupt(_)))
            };
            assert!(expected, "byte {position} bit {bit}: {result:?}");
        }
    }
}

#[test]
fn failed_write_leaves_the_old_index_and_no_temp_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    let entries = sample();
    let refs = || entries.iter().map(|(p, s, r)| (p.as_str(), s, r));
    super::write_index(&path, &FINGERPRINT, refs()).expect("first write");
    let before = std::fs::read(&path).expect("read back");

    let replacement = encode(&[9; 32], refs()).expect("encode");
    let result = super::store::install_with(&path, &replacement, |file, bytes| {
        use std::io::Write;
        file.write_all(&bytes[..bytes.len() / 2])?;
        Err(std::io::Error::other("disk full (simulated)"))
    });
    assert!(matches!(result, Err(IndexError::Io(_))), "{result:?}");
    assert_eq!(std::fs::read(&path).expect("old index"), before);
    let index = super::Index::open(&path, &FINGERPRINT).expect("old index still opens");
    assert_eq!(index.get("b/test_b.py").map(|(s, _)| s), Some(stamp(2)));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["index.bin"]);
}

#[test]
fn a_string_ref_splitting_a_character_is_refused() {
    let result = FileResult::default();
    let stamp = stamp(3);
    let mut bytes = encode(&FINGERPRINT, [("é.py", &stamp, &result)]).expect("encode");
    // The path ref's length (bytes 4..8 of file record 0) now ends inside the two-byte 'é'.
    bytes[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&1u32.to_le_bytes());
    reseal(&mut bytes);
    expect_corrupt(
        check_file(&bytes, &FINGERPRINT).map(|_| ()),
        "splits a UTF-8 character",
    );
}

#[test]
fn an_open_index_can_be_shared_across_threads() {
    // Discovery looks files up from rayon workers; this fails to compile if that breaks.
    fn shareable<T: Send + Sync>() {}
    shareable::<super::Index>();
}
