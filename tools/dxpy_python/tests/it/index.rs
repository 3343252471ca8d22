#![allow(clippy::unwrap_used)]

use dxpy_python::index::{Entry, Index, IndexError, FORMAT};
use dxpy_python::name::file_name;

fn entry(name: &str, digest: &str) -> Entry {
    Entry {
        file: file_name(name).unwrap(),
        blake3: digest.to_owned(),
    }
}

#[test]
fn an_index_round_trips_sorted_and_deterministic() {
    let digest = "ab".repeat(32);
    let mut one = Index::new();
    one.insert("test_b".into(), entry("test_b", &digest));
    one.insert("test_a".into(), entry("test_a", &digest));
    let mut two = Index::new();
    two.insert("test_a".into(), entry("test_a", &digest));
    two.insert("test_b".into(), entry("test_b", &digest));
    assert_eq!(
        one.to_bytes(),
        two.to_bytes(),
        "insertion order must not show"
    );
    let text = String::from_utf8(one.to_bytes()).unwrap();
    assert!(text.find("test_a").unwrap() < text.find("test_b").unwrap());
    assert_eq!(Index::parse(&one.to_bytes()).unwrap(), one);
}

#[test]
fn invalid_indexes_are_refused() {
    let digest = "0".repeat(64);
    assert!(matches!(
        Index::parse(b"{not json"),
        Err(IndexError::Json(_))
    ));
    let wrong_format = r#"{"format":"other/9","snapshots":{}}"#;
    assert!(matches!(
        Index::parse(wrong_format.as_bytes()),
        Err(IndexError::Format(_))
    ));
    let bad_digest =
        format!(r#"{{"format":"{FORMAT}","snapshots":{{"t":{{"file":"t.txt","blake3":"XYZ"}}}}}}"#);
    assert!(matches!(
        Index::parse(bad_digest.as_bytes()),
        Err(IndexError::Entry { .. })
    ));
    // A file name that is not the entry's own could point anywhere: refused.
    let escaping = format!(
        r#"{{"format":"{FORMAT}","snapshots":{{"t":{{"file":"../../x.txt","blake3":"{digest}"}}}}}}"#
    );
    assert!(matches!(
        Index::parse(escaping.as_bytes()),
        Err(IndexError::Entry { .. })
    ));
}
