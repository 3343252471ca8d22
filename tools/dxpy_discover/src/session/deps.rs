//! Cross-file dependencies of cached results: a sidecar next to the index.
//!
//! A module whose analysis read definitions from other project files (imported test classes,
//! bases, fixtures) is only current while those files are unchanged. The sidecar records, per
//! such module, each file it depended on with the blake3 of its contents at analysis time.
//! A run hashes each recorded dependency once (memoised) and re-analyses the modules whose
//! dependencies changed; the rest are served from the index as usual.
//!
//! Format (UTF-8 text): a header line `dxpy-deps-1 <fingerprint hex>`, then one line per
//! dependency `<module rel path>\t<dependency path>\t<blake3 hex>`. The header must carry the
//! index's fingerprint; a missing or mismatching sidecar next to an existing index means the
//! index's cross-file entries cannot be trusted, so the caller rebuilds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

/// The sidecar's file name, next to the index.
pub const DEPS_FILE_NAME: &str = "deps-v1.tsv";

const HEADER: &str = "dxpy-deps-1";

/// module rel path -> (dependency path -> content hash).
pub type DepMap = BTreeMap<String, BTreeMap<PathBuf, [u8; 32]>>;

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Read the sidecar; `None` when missing, unreadable, malformed or for another fingerprint.
pub fn read(path: &Path, fingerprint: &[u8; 32]) -> Option<DepMap> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let expected = format!("{HEADER} {}", hex(fingerprint));
    if lines.next()? != expected {
        return None;
    }
    let mut map = DepMap::new();
    for line in lines {
        let mut fields = line.split('\t');
        let (Some(module), Some(dep), Some(hash), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return None;
        };
        map.entry(module.to_owned())
            .or_default()
            .insert(PathBuf::from(dep), unhex(hash)?);
    }
    Some(map)
}

/// Write the sidecar atomically (temporary file, then rename; see [`dxpy_fs::AtomicWrite`]).
pub fn write(path: &Path, fingerprint: &[u8; 32], map: &DepMap) -> io::Result<()> {
    let mut text = format!("{HEADER} {}\n", hex(fingerprint));
    for (module, deps) in map {
        for (dep, hash) in deps {
            let dep = dep.to_string_lossy();
            // Tabs or newlines in a path would break the format: such modules stay uncached.
            if module.contains(['\t', '\n']) || dep.contains(['\t', '\n']) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "path contains a tab or newline",
                ));
            }
            text.push_str(&format!("{module}\t{dep}\t{}\n", hex(hash)));
        }
    }
    // Same mode as ever (the umask's): the sidecar sits in the private cache directory.
    dxpy_fs::AtomicWrite::public().write(path, text.as_bytes())
}

/// Content hashes of dependency files, each read once per run.
#[derive(Debug, Default)]
pub struct HashMemo {
    hashes: HashMap<PathBuf, Option<[u8; 32]>>,
}

impl HashMemo {
    /// The current hash of `path`, `None` when it cannot be read.
    pub fn hash(&mut self, path: &Path) -> Option<[u8; 32]> {
        *self.hashes.entry(path.to_path_buf()).or_insert_with(|| {
            std::fs::read(path)
                .ok()
                .map(|b| *blake3::hash(&b).as_bytes())
        })
    }

    /// Modules of `map` with a dependency whose contents changed (or vanished).
    pub fn stale_modules(&mut self, map: &DepMap) -> BTreeSet<String> {
        map.iter()
            .filter(|(_, deps)| {
                deps.iter()
                    .any(|(dep, hash)| self.hash(dep).as_ref() != Some(hash))
            })
            .map(|(module, _)| module.clone())
            .collect()
    }
}
