//! Pins the on-disk format: a hex dump of a small index, header field by field, then the body.
//! If this snapshot changes, the format changed: bump `FORMAT_VERSION` and update the docs.

use std::fmt::Write;

use dxpy_discover::index::{write_index, FileStamp, Index};
use dxpy_discover::{CollectError, FileResult, Mark, ParamState, TestItem, TestKind};

const HEADER_FIELDS: [(&str, usize); 14] = [
    ("magic", 8),
    ("format version", 4),
    ("flags", 4),
    ("config fingerprint", 32),
    ("file / test / mark / error counts", 16),
    ("total length", 8),
    ("files section offset, len", 16),
    ("tests section offset, len", 16),
    ("marks section offset, len", 16),
    ("errors section offset, len", 16),
    ("strings section offset, len", 16),
    ("body blake3", 32),
    ("header blake3", 32),
    ("(end of header)", 0),
];

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (name, len) in HEADER_FIELDS {
        let field = &bytes[at..at + len];
        for (i, chunk) in field.chunks(16).enumerate() {
            let label = if i == 0 { name } else { "" };
            writeln!(out, "{:04x}  {:<48}  {label}", at + i * 16, hex(chunk)).expect("write");
        }
        at += len;
    }
    writeln!(out, "body:").expect("write");
    for (i, chunk) in bytes[at..].chunks(16).enumerate() {
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(out, "{:04x}  {:<48}  {ascii}", at + i * 16, hex(chunk)).expect("write");
    }
    out
}

#[test]
fn small_index_bytes_are_pinned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index.bin");
    let fingerprint: [u8; 32] = std::array::from_fn(|i| i as u8);
    let result = FileResult {
        items: vec![TestItem {
            node_id: "t.py::test_a[1]".into(),
            line: 3,
            kind: TestKind::Function,
            is_async: true,
            marks: vec![Mark {
                name: "slow".into(),
                args: String::new(),
            }],
            params: ParamState::Static("1".into()),
        }],
        errors: vec![CollectError::Syntax {
            path: "t.py".into(),
            line: 9,
            column: 4,
            message: "oops".into(),
        }],
    };
    let stamp = FileStamp {
        mtime_ns: 1_000_000_007,
        size: 77,
        blake3: [0xee; 32],
    };
    write_index(&path, &fingerprint, [("t.py", &stamp, &result)]).expect("write");
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(
        Index::open(&path, &fingerprint).expect("open").get("t.py"),
        Some((stamp, result))
    );
    insta::assert_snapshot!(dump(&bytes));
}
