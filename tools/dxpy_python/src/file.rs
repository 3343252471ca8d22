//! One snapshot file: a header naming the snapshot and its kind, then the serialised value.
//!
//! ```text
//! # dx-py snapshot: "test_parse[utf8].1"
//! # kind: value
//! {
//!   'a': 1,
//! }
//! ```
//!
//! The name is JSON-quoted so any name round-trips; the file's Blake3 digest is what the index
//! stores, so a match hashes the would-be file and never reads the real one.

const NAME_PREFIX: &str = "# dx-py snapshot: ";
const KIND_PREFIX: &str = "# kind: ";

/// How the body was made: `text` (a `str` stored verbatim) or `value` (anything else, formatted
/// by the serialiser). Part of the digest, so `"1"` and `1` differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Value,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Value => "value",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "text" => Some(Kind::Text),
            "value" => Some(Kind::Value),
            _ => None,
        }
    }
}

/// A parsed snapshot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub name: String,
    pub kind: Kind,
    pub body: String,
}

/// The file's text. The body ends with exactly one newline added, so files end in one.
pub fn render(name: &str, kind: Kind, body: &str) -> String {
    let mut text = String::with_capacity(body.len() + name.len() + 40);
    write_parts(name, kind, body, |part| text.push_str(part));
    text
}

/// Blake3 of [`render`]'s text, fed piece by piece (the hot path of a match).
pub fn digest(name: &str, kind: Kind, body: &str) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    write_parts(name, kind, body, |part| {
        hasher.update(part.as_bytes());
    });
    hasher.finalize()
}

fn write_parts(name: &str, kind: Kind, body: &str, mut out: impl FnMut(&str)) {
    let quoted = serde_json::to_string(name).unwrap_or_default();
    out(NAME_PREFIX);
    out(&quoted);
    out("\n");
    out(KIND_PREFIX);
    out(kind.as_str());
    out("\n");
    out(body);
    out("\n");
}

/// Parses a snapshot file; `None` when it is not one.
pub fn parse(text: &str) -> Option<Parsed> {
    let (first, rest) = text.split_once('\n')?;
    let (second, rest) = rest.split_once('\n')?;
    let name: String = serde_json::from_str(first.strip_prefix(NAME_PREFIX)?).ok()?;
    let kind = Kind::parse(second.strip_prefix(KIND_PREFIX)?)?;
    let body = rest.strip_suffix('\n')?.to_owned();
    Some(Parsed { name, kind, body })
}
