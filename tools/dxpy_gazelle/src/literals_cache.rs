//! On-disk cache of each file's [`Literals`], keyed by path and [`FileStamp`], so a no-op
//! run reads no unchanged file twice (the import cache of `dxpy_graph` does the same for
//! imports; this file lives beside it).
//!
//! Never trusted: [`LiteralCache::load`] checks the whole file (magic, version, checksum,
//! every record, paths strictly ascending, no trailing bytes) and refuses one that group or
//! others may access; any failure is an error the caller answers with an empty cache.
//! [`LiteralCache::save`] is atomic and private (`dxpy_fs::write_private_atomic`).
//!
//! # File format (version 1)
//!
//! Little-endian. Header (60 bytes): `0` magic `DXPYGLT\0` · `8` version `u32` · `12` entry
//! count `u64` · `20` body length `u64` · `28` Blake3 of the body. A *string* is `u32`
//! length + UTF-8. Entry: path string · mtime ns `i128` · size `u64` · Blake3 of the contents
//! (32 bytes) · plugin count `u32` · plugins (name string, line `u32`) · path count `u32` ·
//! paths (text string, anchor `u8`: 0 loose, 1 joined, 2 package followed by its string).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use dxpy_fs::FileStamp;

use crate::literals::{self, Anchor, Literals, PathCandidate};

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

const MAGIC: &[u8; 8] = b"DXPYGLT\0";
/// Bump whenever the format or [`literals::scan`]'s output for the same source changes.
pub const LITERALS_CACHE_VERSION: u32 = 1;
/// The cache's file name, beside the import cache.
pub const LITERALS_CACHE_FILE: &str = "gazelle_literals.bin";
const HEADER_LEN: usize = 60;

#[derive(Debug, thiserror::Error)]
pub enum LiteralCacheError {
    #[error("literal cache not found")]
    Missing,
    #[error("literal cache is corrupt: {0}")]
    Corrupt(String),
    #[error("literal cache is not private: {0}")]
    Insecure(String),
    #[error("literal cache I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Literals of many files, each with the stamp of the contents they came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiteralCache {
    entries: BTreeMap<String, (FileStamp, Literals)>,
}

impl LiteralCache {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, path: &str) -> Option<&(FileStamp, Literals)> {
        self.entries.get(path)
    }

    pub fn insert(&mut self, path: String, stamp: FileStamp, literals: Literals) {
        self.entries.insert(path, (stamp, literals));
    }

    /// Read and fully validate the cache at `path`.
    pub fn load(path: &Path) -> Result<LiteralCache, LiteralCacheError> {
        let metadata = fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LiteralCacheError::Missing,
            _ => LiteralCacheError::Io(e),
        })?;
        #[cfg(unix)]
        {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(LiteralCacheError::Insecure(format!(
                    "{} has mode {mode:03o}; the cache must be private (0600)",
                    path.display()
                )));
            }
        }
        if !metadata.is_file() {
            return Err(LiteralCacheError::Corrupt(format!(
                "{} is not a file",
                path.display()
            )));
        }
        decode(&fs::read(path)?)
    }

    /// Write the cache atomically to `path` (mode 0600).
    pub fn save(&self, path: &Path) -> Result<(), LiteralCacheError> {
        dxpy_fs::write_private_atomic(path, &encode(self)).map_err(LiteralCacheError::Io)
    }
}

/// How a file's literals were obtained.
#[derive(Debug)]
pub enum Scanned {
    Parsed(FileStamp, Literals),
    Reused(FileStamp, Literals),
    /// Unreadable: no literals, nothing to cache.
    Unreadable,
}

/// The literals of `absolute` (cache key `key`): from `cache` when its stamp still holds
/// (mtime and size, or the same Blake3 after a touch), else parsed.
pub fn scan_file(absolute: &Path, key: &str, cache: &LiteralCache) -> Scanned {
    let cached = cache.get(key);
    // Metadata before contents: a write racing the read moves the mtime past the stamp.
    let Ok(metadata) = fs::metadata(absolute) else {
        return Scanned::Unreadable;
    };
    if let Some((stamp, found)) = cached {
        if stamp.matches_metadata(&metadata) {
            return Scanned::Reused(stamp.clone(), found.clone());
        }
    }
    let Ok(contents) = fs::read(absolute) else {
        return Scanned::Unreadable;
    };
    let Ok(stamp) = FileStamp::from_metadata(&metadata, &contents) else {
        return Scanned::Unreadable;
    };
    match cached {
        Some((old, found)) if old.blake3 == stamp.blake3 => Scanned::Reused(stamp, found.clone()),
        _ => {
            let found = literals::scan(&contents);
            Scanned::Parsed(stamp, found)
        }
    }
}

fn encode(cache: &LiteralCache) -> Vec<u8> {
    let mut body = Vec::new();
    for (path, (stamp, found)) in &cache.entries {
        put_str(&mut body, path);
        body.extend_from_slice(&stamp.mtime_ns.to_le_bytes());
        body.extend_from_slice(&stamp.size.to_le_bytes());
        body.extend_from_slice(&stamp.blake3);
        body.extend_from_slice(&(found.plugins.len() as u32).to_le_bytes());
        for (name, line) in &found.plugins {
            put_str(&mut body, name);
            body.extend_from_slice(&line.to_le_bytes());
        }
        body.extend_from_slice(&(found.paths.len() as u32).to_le_bytes());
        for candidate in &found.paths {
            put_str(&mut body, &candidate.text);
            match &candidate.anchor {
                Anchor::Loose => body.push(0),
                Anchor::Joined => body.push(1),
                Anchor::Package(package) => {
                    body.push(2);
                    put_str(&mut body, package);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&LITERALS_CACHE_VERSION.to_le_bytes());
    out.extend_from_slice(&(cache.entries.len() as u64).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(&body).as_bytes());
    out.extend_from_slice(&body);
    out
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn decode(bytes: &[u8]) -> Result<LiteralCache, LiteralCacheError> {
    let corrupt = |what: &str| LiteralCacheError::Corrupt(what.to_owned());
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(corrupt("bad header"));
    }
    let mut header = Reader {
        bytes: &bytes[8..HEADER_LEN],
    };
    let version = header.u32()?;
    if version != LITERALS_CACHE_VERSION {
        return Err(corrupt(&format!(
            "format version {version}, expected {LITERALS_CACHE_VERSION}"
        )));
    }
    let count = header.u64()?;
    let body_len = header.u64()?;
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != body_len || blake3::hash(body).as_bytes() != header.take(32)? {
        return Err(corrupt("body length or checksum mismatch"));
    }
    let mut reader = Reader { bytes: body };
    let mut cache = LiteralCache::default();
    let mut last: Option<String> = None;
    for _ in 0..count {
        let path = reader.string()?;
        if last
            .as_ref()
            .is_some_and(|l| l.as_bytes() >= path.as_bytes())
        {
            return Err(corrupt("entries out of order"));
        }
        let stamp = FileStamp {
            mtime_ns: i128::from_le_bytes(reader.array()?),
            size: reader.u64()?,
            blake3: reader.array()?,
        };
        let mut found = Literals::default();
        for _ in 0..reader.u32()? {
            found.plugins.push((reader.string()?, reader.u32()?));
        }
        for _ in 0..reader.u32()? {
            let text = reader.string()?;
            let anchor = match reader.take(1)?[0] {
                0 => Anchor::Loose,
                1 => Anchor::Joined,
                2 => Anchor::Package(reader.string()?),
                tag => return Err(corrupt(&format!("anchor tag {tag}"))),
            };
            found.paths.push(PathCandidate { text, anchor });
        }
        last = Some(path.clone());
        cache.entries.insert(path, (stamp, found));
    }
    if !reader.bytes.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(cache)
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LiteralCacheError> {
        if self.bytes.len() < n {
            return Err(LiteralCacheError::Corrupt("truncated".to_owned()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], LiteralCacheError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, LiteralCacheError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, LiteralCacheError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, LiteralCacheError> {
        let len = self.u32()? as usize;
        String::from_utf8(self.take(len)?.to_vec())
            .map_err(|_| LiteralCacheError::Corrupt("string is not UTF-8".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LiteralCache {
        let mut cache = LiteralCache::default();
        let stamp = |n: u8| FileStamp {
            mtime_ns: -5 + i128::from(n),
            size: u64::from(n),
            blake3: [n; 32],
        };
        cache.insert(
            "a/conftest.py".into(),
            stamp(1),
            Literals {
                plugins: vec![("helpers.fixtures".into(), 3)],
                paths: vec![
                    PathCandidate {
                        text: "data/x.json".into(),
                        anchor: Anchor::Joined,
                    },
                    PathCandidate {
                        text: "x.txt".into(),
                        anchor: Anchor::Package("pkg.sub".into()),
                    },
                    PathCandidate {
                        text: "é.ini".into(),
                        anchor: Anchor::Loose,
                    },
                ],
            },
        );
        cache.insert("b.py".into(), stamp(2), Literals::default());
        cache
    }

    #[test]
    fn round_trips_through_its_bytes() -> Result<(), LiteralCacheError> {
        let cache = sample();
        assert_eq!(decode(&encode(&cache))?, cache);
        Ok(())
    }

    #[test]
    fn any_damage_is_refused() {
        let bytes = encode(&sample());
        // Every truncation and every single flipped byte fails validation.
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        for at in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            assert!(decode(&damaged).is_err(), "byte {at} flipped");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn save_is_private_and_a_shared_file_is_refused() -> Result<(), LiteralCacheError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("cache").join(LITERALS_CACHE_FILE);
        assert!(matches!(
            LiteralCache::load(&path),
            Err(LiteralCacheError::Missing)
        ));
        sample().save(&path)?;
        assert_eq!(LiteralCache::load(&path)?, sample());
        #[cfg(unix)]
        {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
            assert!(matches!(
                LiteralCache::load(&path),
                Err(LiteralCacheError::Insecure(_))
            ));
        }
        Ok(())
    }

    #[test]
    fn a_file_is_reused_until_its_contents_change() -> Result<(), LiteralCacheError> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("t.py");
        fs::write(&file, "pytest_plugins = ['p']\nDATA = 'x/y.txt'\n")?;
        let mut cache = LiteralCache::default();
        let Scanned::Parsed(stamp, found) = scan_file(&file, "t.py", &cache) else {
            panic!("first read parses");
        };
        assert_eq!(found.plugins, vec![("p".to_owned(), 1)]);
        cache.insert("t.py".into(), stamp, found.clone());
        assert!(matches!(scan_file(&file, "t.py", &cache), Scanned::Reused(_, f) if f == found));
        // Same size, new contents and mtime: parsed again.
        fs::write(&file, "pytest_plugins = ['q']\nDATA = 'x/y.txt'\n")?;
        let file_time = fs::File::options().write(true).open(&file)?;
        file_time.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))?;
        let Scanned::Parsed(_, changed) = scan_file(&file, "t.py", &cache) else {
            panic!("changed contents are parsed");
        };
        assert_eq!(changed.plugins, vec![("q".to_owned(), 1)]);
        Ok(())
    }
}
