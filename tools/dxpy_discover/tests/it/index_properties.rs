//! Properties of the index through its public API: arbitrary results round-trip exactly, and
//! any truncation or byte flip of a written index is refused at open.

use std::collections::BTreeMap;
use std::path::Path;

use dxpy_discover::index::{write_index, FileStamp, Index, IndexError};
use dxpy_discover::{CollectError, FileResult, Mark, ParamState, TestItem, TestKind};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const FINGERPRINT: [u8; 32] = [0x5a; 32];

/// Arbitrary Unicode, biased towards the empty string and short text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "\\PC{0,12}", any::<String>()]
}

fn stamp() -> impl Strategy<Value = FileStamp> {
    (any::<i128>(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(mtime_ns, size, blake3)| {
        FileStamp {
            mtime_ns,
            size,
            blake3,
        }
    })
}

fn item() -> impl Strategy<Value = TestItem> {
    let kind = prop_oneof![
        Just(TestKind::Function),
        Just(TestKind::Method),
        Just(TestKind::UnitTest)
    ];
    let params = prop_oneof![
        Just(ParamState::None),
        Just(ParamState::Dynamic),
        text().prop_map(ParamState::Static)
    ];
    let marks = vec(
        (text(), text()).prop_map(|(name, args)| Mark { name, args }),
        0..4,
    );
    (text(), any::<u32>(), kind, any::<bool>(), marks, params).prop_map(
        |(node_id, line, kind, is_async, marks, params)| TestItem {
            node_id,
            line,
            kind,
            is_async,
            marks,
            params,
        },
    )
}

fn error() -> impl Strategy<Value = CollectError> {
    prop_oneof![
        (text(), any::<u32>(), any::<u32>(), text()).prop_map(|(path, line, column, message)| {
            CollectError::Syntax {
                path,
                line,
                column,
                message,
            }
        }),
        (text(), any::<u64>()).prop_map(|(path, offset)| CollectError::NotUtf8 { path, offset }),
        (text(), text()).prop_map(|(path, message)| CollectError::Unreadable { path, message }),
        (text(), any::<u64>()).prop_map(|(path, limit)| CollectError::TooLarge { path, limit }),
        (text(), text()).prop_map(|(path, message)| CollectError::Other { path, message }),
    ]
}

fn file_result() -> impl Strategy<Value = FileResult> {
    (vec(item(), 0..12), vec(error(), 0..3))
        .prop_map(|(items, errors)| FileResult { items, errors })
}

fn entries() -> impl Strategy<Value = BTreeMap<String, (FileStamp, FileResult)>> {
    btree_map(text(), (stamp(), file_result()), 0..12)
}

fn write(
    path: &Path,
    entries: &BTreeMap<String, (FileStamp, FileResult)>,
) -> Result<(), IndexError> {
    write_index(
        path,
        &FINGERPRINT,
        entries.iter().map(|(p, (s, r))| (p.as_str(), s, r)),
    )
}

/// A fixed index with every record kind, used as the subject of the corruption properties.
fn sample_bytes(dir: &Path) -> Vec<u8> {
    let item = |node_id: &str, params| TestItem {
        node_id: node_id.into(),
        line: 10,
        kind: TestKind::Function,
        is_async: false,
        marks: vec![Mark {
            name: "parametrize".into(),
            args: "'x', [1, 2]".into(),
        }],
        params,
    };
    let mut entries = BTreeMap::new();
    for n in 0..4u8 {
        let path = format!("pkg/test_{n}.py");
        let result = FileResult {
            items: vec![
                item(
                    &format!("{path}::test_x[1]"),
                    ParamState::Static("1".into()),
                ),
                item(&format!("{path}::test_y"), ParamState::Dynamic),
            ],
            errors: vec![CollectError::NotUtf8 {
                path: path.clone(),
                offset: u64::from(n),
            }],
        };
        entries.insert(
            path,
            (
                FileStamp {
                    mtime_ns: i128::from(n),
                    size: 1,
                    blake3: [n; 32],
                },
                result,
            ),
        );
    }
    let path = dir.join("sample.idx");
    write(&path, &entries).expect("write sample");
    std::fs::read(&path).expect("read sample")
}

fn open_bytes(dir: &Path, bytes: &[u8]) -> Result<Index, IndexError> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("edited.idx");
    std::fs::write(&path, bytes).expect("write edited");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Index::open(&path, &FINGERPRINT)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        // Integration tests have no lib.rs for the default persistence to anchor on.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_results_round_trip(entries in entries(), absent in text()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache").join("index.bin");
        write(&path, &entries).expect("write");
        let index = Index::open(&path, &FINGERPRINT).expect("open");
        prop_assert_eq!(index.len(), entries.len());
        for (rel_path, (stamp, result)) in &entries {
            let (got_stamp, got_result) = index.get(rel_path).expect("present");
            prop_assert_eq!(&got_stamp, stamp);
            prop_assert_eq!(&got_result, result);
            prop_assert_eq!(index.stamp(rel_path), Some(stamp.clone()));
        }
        if !entries.contains_key(&absent) {
            prop_assert!(index.get(&absent).is_none());
            prop_assert!(index.stamp(&absent).is_none());
        }
        let paths: Vec<String> = index.paths().map(|p| p.expect("path").to_owned()).collect();
        prop_assert_eq!(paths, entries.keys().cloned().collect::<Vec<_>>());
        let all: BTreeMap<String, (FileStamp, FileResult)> = index
            .iter()
            .map(|entry| entry.map(|(p, s, r)| (p.to_owned(), (s, r))))
            .collect::<Result<_, _>>()
            .expect("iterate");
        prop_assert_eq!(all, entries);
    }

    #[test]
    fn truncation_anywhere_is_refused(cut in any::<prop::sample::Index>()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let bytes = sample_bytes(dir.path());
        let len = cut.index(bytes.len());
        let result = open_bytes(dir.path(), &bytes[..len]);
        prop_assert!(matches!(result, Err(IndexError::Corrupt(_))), "cut at {}: {:?}", len, result);
    }

    #[test]
    fn flipping_any_byte_is_refused(at in any::<prop::sample::Index>(), mask in 1u8..=255) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = sample_bytes(dir.path());
        let position = at.index(bytes.len());
        bytes[position] ^= mask;
        let result = open_bytes(dir.path(), &bytes);
        // Bytes 8..12 hold the format version, reported as such; everything else is corrupt.
        let refused = match result {
            Err(IndexError::Version { .. }) => (8..12).contains(&position),
            Err(IndexError::Corrupt(_)) => !(8..12).contains(&position),
            _ => false,
        };
        prop_assert!(refused, "flip at {}: {:?}", position, result.map(|i| i.len()));
    }
}
