//! Byte layout constants and bounds-checked primitive readers shared by the encoder and decoder.
//!
//! The layout itself is documented byte by byte in the parent module ([`crate::index`]).

use super::IndexError;

/// First 8 bytes of every index file.
pub(crate) const MAGIC: [u8; 8] = *b"DXPYIDX\0";
/// Bumped whenever any byte of the layout changes meaning.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// No flags are defined yet; a reader refuses any set bit rather than guess its meaning.
pub(crate) const KNOWN_FLAGS: u32 = 0;

/// Total header size; the body starts right after it.
pub(crate) const HEADER_LEN: usize = 216;
/// The header checksum covers bytes `0..HEADER_HASHED_LEN` (everything before it).
pub(crate) const HEADER_HASHED_LEN: usize = 184;
pub(crate) const OFF_VERSION: usize = 8;
pub(crate) const OFF_FLAGS: usize = 12;
pub(crate) const OFF_FINGERPRINT: usize = 16;
pub(crate) const OFF_COUNTS: usize = 48;
pub(crate) const OFF_TOTAL_LEN: usize = 64;
pub(crate) const OFF_SECTIONS: usize = 72;
pub(crate) const OFF_BODY_CHECKSUM: usize = 152;
pub(crate) const OFF_HEADER_CHECKSUM: usize = HEADER_HASHED_LEN;

pub(crate) const FILE_RECORD_LEN: usize = 80;
pub(crate) const TEST_RECORD_LEN: usize = 32;
pub(crate) const MARK_RECORD_LEN: usize = 16;
pub(crate) const ERROR_RECORD_LEN: usize = 40;

/// The body's sections, in the order they appear in the header and in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Files,
    Tests,
    Marks,
    Errors,
    Strings,
}

impl Section {
    pub(crate) const ALL: [Section; 5] = [
        Section::Files,
        Section::Tests,
        Section::Marks,
        Section::Errors,
        Section::Strings,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Section::Files => "file table",
            Section::Tests => "test table",
            Section::Marks => "mark table",
            Section::Errors => "error table",
            Section::Strings => "string pool",
        }
    }

    /// Fixed record size of a table section; the string pool has none.
    pub(crate) fn record_len(self) -> Option<usize> {
        match self {
            Section::Files => Some(FILE_RECORD_LEN),
            Section::Tests => Some(TEST_RECORD_LEN),
            Section::Marks => Some(MARK_RECORD_LEN),
            Section::Errors => Some(ERROR_RECORD_LEN),
            Section::Strings => None,
        }
    }
}

/// `TestKind` tags (one byte).
pub(crate) const KIND_FUNCTION: u8 = 0;
pub(crate) const KIND_METHOD: u8 = 1;
pub(crate) const KIND_UNITTEST: u8 = 2;

/// `ParamState` tags (one byte).
pub(crate) const PARAMS_NONE: u8 = 0;
pub(crate) const PARAMS_STATIC: u8 = 1;
pub(crate) const PARAMS_DYNAMIC: u8 = 2;

/// `CollectError` tags (one byte).
pub(crate) const ERROR_SYNTAX: u8 = 0;
pub(crate) const ERROR_NOT_UTF8: u8 = 1;
pub(crate) const ERROR_UNREADABLE: u8 = 2;
pub(crate) const ERROR_TOO_LARGE: u8 = 3;
pub(crate) const ERROR_OTHER: u8 = 4;

pub(crate) fn corrupt(message: impl Into<String>) -> IndexError {
    IndexError::Corrupt(message.into())
}

/// A reference into the string pool: `offset` and `len` in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StrRef {
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

impl StrRef {
    pub(crate) const EMPTY: StrRef = StrRef { offset: 0, len: 0 };
}

/// A contiguous run of records in another table: `first` index and `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub(crate) first: u32,
    pub(crate) count: u32,
}

impl Span {
    /// The record indices, or an error when `first + count` overflows.
    pub(crate) fn indices(self, what: &str) -> Result<std::ops::Range<u32>, IndexError> {
        let end = self.first.checked_add(self.count).ok_or_else(|| {
            corrupt(format!(
                "{what}: range {}+{} overflows",
                self.first, self.count
            ))
        })?;
        Ok(self.first..end)
    }
}

/// Sequential little-endian reader over one record; every read is bounds-checked.
#[derive(Debug)]
pub(crate) struct FieldReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'a str,
}

impl<'a> FieldReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'a str) -> Self {
        FieldReader {
            bytes,
            pos: 0,
            what,
        }
    }

    pub(crate) fn take<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        let start = self.pos;
        let slice = start
            .checked_add(N)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| corrupt(format!("{}: truncated at byte {start}", self.what)))?;
        self.pos = start + N;
        <[u8; N]>::try_from(slice)
            .map_err(|_| corrupt(format!("{}: bad field width at byte {start}", self.what)))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, IndexError> {
        Ok(self.take::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    pub(crate) fn i128(&mut self) -> Result<i128, IndexError> {
        Ok(i128::from_le_bytes(self.take()?))
    }

    pub(crate) fn str_ref(&mut self) -> Result<StrRef, IndexError> {
        Ok(StrRef {
            offset: self.u32()?,
            len: self.u32()?,
        })
    }

    pub(crate) fn span(&mut self) -> Result<Span, IndexError> {
        Ok(Span {
            first: self.u32()?,
            count: self.u32()?,
        })
    }
}

/// Record `index` of a fixed-size table, or an error naming the table when out of bounds.
pub(crate) fn record<'t>(
    table: &'t [u8],
    record_len: usize,
    index: u32,
    what: &'static str,
) -> Result<&'t [u8], IndexError> {
    let start = (index as usize).checked_mul(record_len);
    start
        .and_then(|start| Some(start..start.checked_add(record_len)?))
        .and_then(|range| table.get(range))
        .ok_or_else(|| corrupt(format!("{what}: record {index} is out of bounds")))
}

/// The UTF-8 string `r` points to in `pool`.
pub(crate) fn pool_str<'p>(pool: &'p [u8], r: StrRef, what: &str) -> Result<&'p str, IndexError> {
    let start = r.offset as usize;
    let bytes = start
        .checked_add(r.len as usize)
        .and_then(|end| pool.get(start..end))
        .ok_or_else(|| {
            corrupt(format!(
                "{what}: string {}+{} is outside the {}-byte string pool",
                r.offset,
                r.len,
                pool.len()
            ))
        })?;
    std::str::from_utf8(bytes)
        .map_err(|e| corrupt(format!("{what}: string at {} is not UTF-8: {e}", r.offset)))
}

/// The string `r` points to in a pool already known to be UTF-8 as a whole: only bounds and
/// character boundaries need checking.
pub(crate) fn pool_substr<'p>(pool: &'p str, r: StrRef, what: &str) -> Result<&'p str, IndexError> {
    let start = r.offset as usize;
    let end = start
        .checked_add(r.len as usize)
        .filter(|end| *end <= pool.len())
        .ok_or_else(|| {
            corrupt(format!(
                "{what}: string {}+{} is outside the {}-byte string pool",
                r.offset,
                r.len,
                pool.len()
            ))
        })?;
    pool.get(start..end).ok_or_else(|| {
        corrupt(format!(
            "{what}: string {}+{} splits a UTF-8 character",
            r.offset, r.len
        ))
    })
}
