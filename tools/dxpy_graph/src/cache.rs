//! On-disk cache of per-file extracted imports, keyed by path and [`FileStamp`].
//!
//! Never trusted: [`ImportCache::load`] checks the whole file (magic, version, both
//! checksums, every record, canonical order, no trailing bytes) before anything is used; any
//! failure is an error the caller answers by rebuilding. [`ImportCache::save`] is atomic
//! (temp file in the same directory, fsync, rename, fsync of the directory), mode 0600, in a
//! directory created 0700 when missing; temp files of crashed writers older than 15 minutes
//! are swept after a successful save. A cache file with group/other permission bits is
//! refused ([`CacheError::Insecure`]).
//!
//! # File format (version 2)
//!
//! Little-endian integers. Header (96 bytes): `0` magic `DXPYGRF\0` · `8` version `u32` ·
//! `12` flags `u32` (must be 0) · `16` entry count `u64` · `24` body length `u64` ·
//! `32` Blake3 of the body · `64` Blake3 of header bytes `0..64`. The body follows.
//!
//! A *string* is `u32 length` + UTF-8 bytes; an *optional string* is a `u8` (0 absent, 1
//! present) followed by the string when present.
//!
//! Entry (sorted strictly by path bytes): path string · mtime ns `i128` · size `u64` ·
//! Blake3 of the contents (32 bytes) · error tag `u8` (0 none, 1 syntax: `u32 line, u32
//! column`; 2 not UTF-8: `u64 offset`; 3 unreadable: message string; 4 parser: message
//! string) · import count `u32` · imports.
//!
//! Import: form `u8` (0 import, 1 from, 2 from-star, 3 import_module, 4 `__import__`,
//! 5 dynamic) · flags
//! `u8` (bit 0 optional, bit 1 type-only, others 0) · level `u32` · line `u32` · module string
//! · alias optional string · package optional string · name count `u32` · names (each: name
//! string, alias optional string).

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::Path;

use dxpy_fs::FileStamp;

use crate::extract::{ExtractError, FileImports, Import, ImportForm, ImportedName};

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

const MAGIC: &[u8; 8] = b"DXPYGRF\0";
/// Bump whenever the format or the extractor's output for the same source changes.
pub const CACHE_VERSION: u32 = 2;
const HEADER_LEN: usize = 96;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("import cache not found")]
    Missing,
    #[error("import cache is corrupt: {0}")]
    Corrupt(String),
    #[error("import cache has format version {found}, expected {expected}")]
    Version { found: u32, expected: u32 },
    #[error("import cache is not private: {0}")]
    Insecure(String),
    #[error("import cache I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Extracted imports of many files, each with the stamp of the contents they came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportCache {
    entries: BTreeMap<String, (FileStamp, FileImports)>,
}

impl ImportCache {
    pub fn new() -> ImportCache {
        ImportCache::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, path: &str) -> Option<&(FileStamp, FileImports)> {
        self.entries.get(path)
    }

    pub fn insert(&mut self, path: String, stamp: FileStamp, imports: FileImports) {
        self.entries.insert(path, (stamp, imports));
    }

    /// Read and fully validate the cache at `path`.
    pub fn load(path: &Path) -> Result<ImportCache, CacheError> {
        let mut file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => CacheError::Missing,
            _ => CacheError::Io(e),
        })?;
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Err(CacheError::Corrupt(format!(
                "{} is not a file",
                path.display()
            )));
        }
        #[cfg(unix)]
        {
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(CacheError::Insecure(format!(
                    "{} has mode {mode:03o}; the cache must be private (0600)",
                    path.display()
                )));
            }
        }
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        io::Read::read_to_end(&mut file, &mut bytes)?;
        decode(&bytes)
    }

    /// Write the cache atomically to `path` (mode 0600; a missing directory is created 0700).
    pub fn save(&self, path: &Path) -> Result<(), CacheError> {
        install(path, &encode(self))
    }
}

fn encode(cache: &ImportCache) -> Vec<u8> {
    let mut body = Vec::new();
    for (path, (stamp, imports)) in &cache.entries {
        put_str(&mut body, path);
        body.extend_from_slice(&stamp.mtime_ns.to_le_bytes());
        body.extend_from_slice(&stamp.size.to_le_bytes());
        body.extend_from_slice(&stamp.blake3);
        match &imports.error {
            None => body.push(0),
            Some(ExtractError::Syntax { line, column }) => {
                body.push(1);
                body.extend_from_slice(&line.to_le_bytes());
                body.extend_from_slice(&column.to_le_bytes());
            }
            Some(ExtractError::NotUtf8 { offset }) => {
                body.push(2);
                body.extend_from_slice(&offset.to_le_bytes());
            }
            Some(ExtractError::Unreadable { message }) => {
                body.push(3);
                put_str(&mut body, message);
            }
            Some(ExtractError::Parser { message }) => {
                body.push(4);
                put_str(&mut body, message);
            }
        }
        body.extend_from_slice(&(imports.imports.len() as u32).to_le_bytes());
        for import in &imports.imports {
            body.push(match import.form {
                ImportForm::Import => 0,
                ImportForm::From => 1,
                ImportForm::FromStar => 2,
                ImportForm::ImportModule => 3,
                ImportForm::DunderImport => 4,
                ImportForm::Dynamic => 5,
            });
            body.push(u8::from(import.optional) | (u8::from(import.type_only) << 1));
            body.extend_from_slice(&import.level.to_le_bytes());
            body.extend_from_slice(&import.line.to_le_bytes());
            put_str(&mut body, &import.module);
            put_opt_str(&mut body, import.alias.as_deref());
            put_opt_str(&mut body, import.package.as_deref());
            body.extend_from_slice(&(import.names.len() as u32).to_le_bytes());
            for name in &import.names {
                put_str(&mut body, &name.name);
                put_opt_str(&mut body, name.alias.as_deref());
            }
        }
    }
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CACHE_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(cache.entries.len() as u64).to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(&body).as_bytes());
    let header_hash = blake3::hash(&out[..64]);
    out.extend_from_slice(header_hash.as_bytes());
    out.extend_from_slice(&body);
    out
}

// Strings over 4 GiB cannot occur (paths, identifiers, messages); truncating the length
// would only produce a cache that fails validation and is rebuilt.
fn put_str(out: &mut Vec<u8>, value: &str) {
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            put_str(out, value);
        }
    }
}

fn corrupt(message: impl Into<String>) -> CacheError {
    CacheError::Corrupt(message.into())
}

/// Bounds-checked reader over the body.
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, len: usize, what: &str) -> Result<&'b [u8], CacheError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| corrupt(format!("truncated {what} at byte {}", self.at)))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], CacheError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, CacheError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, CacheError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, CacheError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String, CacheError> {
        let len = self.u32(what)? as usize;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| corrupt(format!("{what} is not UTF-8")))
    }

    fn opt_string(&mut self, what: &str) -> Result<Option<String>, CacheError> {
        match self.u8(what)? {
            0 => Ok(None),
            1 => self.string(what).map(Some),
            tag => Err(corrupt(format!("bad option tag {tag} for {what}"))),
        }
    }
}

fn decode(bytes: &[u8]) -> Result<ImportCache, CacheError> {
    if bytes.len() < HEADER_LEN {
        return Err(corrupt("shorter than the header"));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt("bad magic"));
    }
    if blake3::hash(&bytes[..64]).as_bytes() != &bytes[64..96] {
        return Err(corrupt("header checksum mismatch"));
    }
    let mut header = Reader {
        bytes: &bytes[..64],
        at: 8,
    };
    let version = header.u32("version")?;
    if version != CACHE_VERSION {
        return Err(CacheError::Version {
            found: version,
            expected: CACHE_VERSION,
        });
    }
    if header.u32("flags")? != 0 {
        return Err(corrupt("unknown flags"));
    }
    let count = header.u64("entry count")?;
    let body_len = header.u64("body length")?;
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != body_len {
        return Err(corrupt(format!(
            "body is {} bytes, header says {body_len}",
            body.len()
        )));
    }
    if blake3::hash(body).as_bytes() != &bytes[32..64] {
        return Err(corrupt("body checksum mismatch"));
    }
    let mut reader = Reader { bytes: body, at: 0 };
    let mut cache = ImportCache::new();
    let mut previous: Option<String> = None;
    for _ in 0..count {
        let path = reader.string("path")?;
        if previous
            .as_ref()
            .is_some_and(|prev| prev.as_str() >= path.as_str())
        {
            return Err(corrupt("entries are not strictly sorted by path"));
        }
        let stamp = FileStamp {
            mtime_ns: i128::from_le_bytes(reader.array("mtime")?),
            size: reader.u64("size")?,
            blake3: reader.array("hash")?,
        };
        let error = match reader.u8("error tag")? {
            0 => None,
            1 => Some(ExtractError::Syntax {
                line: reader.u32("line")?,
                column: reader.u32("column")?,
            }),
            2 => Some(ExtractError::NotUtf8 {
                offset: reader.u64("offset")?,
            }),
            3 => Some(ExtractError::Unreadable {
                message: reader.string("message")?,
            }),
            4 => Some(ExtractError::Parser {
                message: reader.string("message")?,
            }),
            tag => return Err(corrupt(format!("bad error tag {tag}"))),
        };
        let import_count = reader.u32("import count")?;
        let mut imports = Vec::new();
        for _ in 0..import_count {
            imports.push(decode_import(&mut reader)?);
        }
        previous = Some(path.clone());
        cache.insert(path, stamp, FileImports { imports, error });
    }
    if reader.at != body.len() {
        return Err(corrupt("trailing bytes after the last entry"));
    }
    Ok(cache)
}

fn decode_import(reader: &mut Reader) -> Result<Import, CacheError> {
    let form = match reader.u8("form")? {
        0 => ImportForm::Import,
        1 => ImportForm::From,
        2 => ImportForm::FromStar,
        3 => ImportForm::ImportModule,
        4 => ImportForm::DunderImport,
        5 => ImportForm::Dynamic,
        tag => return Err(corrupt(format!("bad import form {tag}"))),
    };
    let flags = reader.u8("flags")?;
    if flags & !0b11 != 0 {
        return Err(corrupt(format!("bad import flags {flags:#x}")));
    }
    let level = reader.u32("level")?;
    let line = reader.u32("line")?;
    let module = reader.string("module")?;
    let alias = reader.opt_string("alias")?;
    let package = reader.opt_string("package")?;
    let name_count = reader.u32("name count")?;
    let mut names = Vec::new();
    for _ in 0..name_count {
        names.push(ImportedName {
            name: reader.string("name")?,
            alias: reader.opt_string("name alias")?,
        });
    }
    Ok(Import {
        form,
        module,
        level,
        alias,
        names,
        package,
        line,
        optional: flags & 1 != 0,
        type_only: flags & 2 != 0,
    })
}

/// Replace `path` with `bytes` atomically and privately, like every dx-py cache.
fn install(path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    dxpy_fs::write_private_atomic(path, bytes).map_err(CacheError::Io)
}
