//! The fixture cache's store: one file per key (the Blake3 digest of everything the value
//! depends on), in a private (0700) directory, written atomically (0600) and checked on read,
//! so a damaged entry is a miss that gets rebuilt, never a wrong value.
//!
//! An entry is `MAGIC`, one kind byte (what the payload is: raw bytes or a pickle, decided by
//! the Python side), the payload's Blake3 digest (32 bytes), then the payload.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use dxpy_fs::{ensure_private_dir, write_private_atomic};

const MAGIC: &[u8; 8] = b"dxfixc01";
const HEADER: usize = MAGIC.len() + 1 + 32;

/// The store's directory name inside the project's cache directory.
pub const FIXTURES_DIR: &str = "fixtures";

/// The store of the project whose rootdir is `rootdir` (absolute, as pytest's `rootpath` and
/// dx-py's discovery give it); `None` without a cache root (no `DXPY_CACHE_DIR`, `XDG_CACHE_HOME`
/// or `HOME`), where fixtures are simply built every time.
pub fn store_dir(rootdir: &Path) -> Option<PathBuf> {
    let root = dxpy_discover::session::cache_root()?;
    Some(dxpy_discover::session::project_cache_dir(&root, rootdir).join(FIXTURES_DIR))
}

/// Drops every cached fixture of the project in `project_cache_dir`; a missing store is not
/// an error.
pub fn clear(project_cache_dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(project_cache_dir.join(FIXTURES_DIR)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// The digest of a fixture's key parts: each part length-prefixed, so that no two different
/// lists of parts hash alike.
pub fn key<I, P>(parts: I) -> String
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"dx-py fixture key 1\0");
    for part in parts {
        let part = part.as_ref();
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_hex().to_string()
}

/// The entries of one project's cached fixtures.
#[derive(Debug, Clone)]
pub struct FixtureStore {
    dir: PathBuf,
}

impl FixtureStore {
    pub fn new(dir: PathBuf) -> FixtureStore {
        FixtureStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stored `(kind, payload)` under `key`; `None` when absent or damaged (then removed).
    pub fn load(&self, key: &str) -> io::Result<Option<(u8, Vec<u8>)>> {
        let path = self.path(key)?;
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        match decode(&bytes) {
            Some((kind, payload)) => Ok(Some((kind, payload.to_vec()))),
            None => {
                let _ = fs::remove_file(&path);
                Ok(None)
            }
        }
    }

    /// Stores `payload` under `key`, atomically and private to the user.
    pub fn save(&self, key: &str, kind: u8, payload: &[u8]) -> io::Result<()> {
        ensure_private_dir(&self.dir)?;
        let mut bytes = Vec::with_capacity(HEADER + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.push(kind);
        bytes.extend_from_slice(blake3::hash(payload).as_bytes());
        bytes.extend_from_slice(payload);
        write_private_atomic(&self.path(key)?, &bytes)
    }

    /// A key must be a digest: it names a file inside the store and nothing else.
    fn path(&self, key: &str) -> io::Result<PathBuf> {
        let valid = key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a fixture cache key is 64 lowercase hex digits",
            ));
        }
        Ok(self.dir.join(key))
    }
}

fn decode(bytes: &[u8]) -> Option<(u8, &[u8])> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (&kind, rest) = rest.split_first()?;
    let (digest, payload) = rest.split_at_checked(32)?;
    (blake3::hash(payload).as_bytes() == digest).then_some((kind, payload))
}
