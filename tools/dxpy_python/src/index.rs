//! The per-module index: each snapshot's name, file and Blake3 digest, as sorted JSON so that
//! it is deterministic and merges like the snapshot files it sits beside.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::name;

/// The file name of the index inside `__snapshots__/<module>/`.
pub const INDEX_FILE: &str = "index.json";

/// The `format` value this version writes and accepts.
pub const FORMAT: &str = "dx-py-snapshots/1";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("index format {0:?}, expected {FORMAT:?}")]
    Format(String),
    #[error("index entry {name:?}: {reason}")]
    Entry { name: String, reason: &'static str },
}

/// One snapshot as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub file: String,
    pub blake3: String,
}

/// Name → entry, sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    format: String,
    snapshots: BTreeMap<String, Entry>,
}

impl Index {
    pub fn new() -> Index {
        Index {
            format: FORMAT.to_owned(),
            snapshots: BTreeMap::new(),
        }
    }

    /// Parses and validates: the format, each digest (64 lowercase hex digits) and each file
    /// name (the one [`name::file_name`] gives the entry's name, so it stays inside the
    /// directory).
    pub fn parse(bytes: &[u8]) -> Result<Index, IndexError> {
        let index: Index = serde_json::from_slice(bytes)?;
        if index.format != FORMAT {
            return Err(IndexError::Format(index.format));
        }
        for (snapshot, entry) in &index.snapshots {
            let bad = |reason| IndexError::Entry {
                name: snapshot.clone(),
                reason,
            };
            if !is_digest(&entry.blake3) {
                return Err(bad("digest is not 64 lowercase hex digits"));
            }
            if name::file_name(snapshot).ok().as_deref() != Some(entry.file.as_str()) {
                return Err(bad("file name does not belong to the snapshot name"));
            }
        }
        Ok(index)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.snapshots.get(name)
    }

    pub fn insert(&mut self, name: String, entry: Entry) -> Option<Entry> {
        self.snapshots.insert(name, entry)
    }

    pub fn remove(&mut self, name: &str) -> Option<Entry> {
        self.snapshots.remove(name)
    }

    pub fn len(&self) -> usize {
        self.snapshots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.snapshots.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.snapshots.iter()
    }
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
