//! Serialises entries into the index byte layout (see [`crate::index`] for the layout).
//!
//! The whole file is built in memory first: the header carries the body's checksum, and the
//! atomic install writes one buffer.

use std::collections::HashMap;

use super::format::{
    Section, StrRef, ERROR_NOT_UTF8, ERROR_OTHER, ERROR_SYNTAX, ERROR_TOO_LARGE, ERROR_UNREADABLE,
    FORMAT_VERSION, HEADER_HASHED_LEN, HEADER_LEN, KIND_FUNCTION, KIND_METHOD, KIND_UNITTEST,
    KNOWN_FLAGS, MAGIC, PARAMS_DYNAMIC, PARAMS_NONE, PARAMS_STATIC,
};
use super::{FileStamp, IndexError};
use crate::item::{CollectError, FileResult, Mark, ParamState, TestItem, TestKind};

/// Encode `entries` (any order; paths must be unique) into a complete index file.
pub(crate) fn encode<'a>(
    fingerprint: &[u8; 32],
    entries: impl IntoIterator<Item = (&'a str, &'a FileStamp, &'a FileResult)>,
) -> Result<Vec<u8>, IndexError> {
    let mut entries: Vec<_> = entries.into_iter().collect();
    // Sorted by UTF-8 bytes, which is `str`'s order: readers binary-search on it.
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(IndexError::InvalidInput(format!(
            "duplicate path {:?}",
            pair[0].0
        )));
    }
    let mut encoder = Encoder::default();
    for (path, stamp, result) in entries {
        encoder.file(path, stamp, result)?;
    }
    encoder.finish(fingerprint)
}

fn to_u32(n: usize, what: &str) -> Result<u32, IndexError> {
    u32::try_from(n).map_err(|_| IndexError::InvalidInput(format!("too many {what} ({n})")))
}

#[derive(Default)]
struct Encoder<'a> {
    files: Vec<u8>,
    tests: Vec<u8>,
    marks: Vec<u8>,
    errors: Vec<u8>,
    strings: Vec<u8>,
    interned: HashMap<&'a str, StrRef>,
    counts: [usize; 4],
}

impl<'a> Encoder<'a> {
    /// Add `s` to the pool once; repeated strings (paths, mark names) share one copy.
    fn intern(&mut self, s: &'a str) -> Result<StrRef, IndexError> {
        if s.is_empty() {
            return Ok(StrRef::EMPTY);
        }
        if let Some(&r) = self.interned.get(s) {
            return Ok(r);
        }
        let r = StrRef {
            offset: to_u32(self.strings.len(), "string pool bytes")?,
            len: to_u32(s.len(), "bytes in one string")?,
        };
        self.strings.extend_from_slice(s.as_bytes());
        to_u32(self.strings.len(), "string pool bytes")?;
        self.interned.insert(s, r);
        Ok(r)
    }

    fn file(
        &mut self,
        path: &'a str,
        stamp: &FileStamp,
        result: &'a FileResult,
    ) -> Result<(), IndexError> {
        let path_ref = self.intern(path)?;
        let first_test = to_u32(self.counts[1], "tests")?;
        for item in &result.items {
            self.test(item)?;
        }
        let first_error = to_u32(self.counts[3], "errors")?;
        for error in &result.errors {
            self.error(error)?;
        }
        let out = &mut self.files;
        put_str_ref(out, path_ref);
        out.extend_from_slice(&stamp.mtime_ns.to_le_bytes());
        out.extend_from_slice(&stamp.size.to_le_bytes());
        out.extend_from_slice(&stamp.blake3);
        put_span(out, first_test, to_u32(result.items.len(), "tests")?);
        put_span(out, first_error, to_u32(result.errors.len(), "errors")?);
        self.counts[0] += 1;
        Ok(())
    }

    fn test(&mut self, item: &'a TestItem) -> Result<(), IndexError> {
        let node_id = self.intern(&item.node_id)?;
        let (param_tag, param_id) = match &item.params {
            ParamState::None => (PARAMS_NONE, StrRef::EMPTY),
            ParamState::Static(id) => (PARAMS_STATIC, self.intern(id)?),
            ParamState::Dynamic => (PARAMS_DYNAMIC, StrRef::EMPTY),
        };
        let first_mark = to_u32(self.counts[2], "marks")?;
        for mark in &item.marks {
            self.mark(mark)?;
        }
        let kind = match item.kind {
            TestKind::Function => KIND_FUNCTION,
            TestKind::Method => KIND_METHOD,
            TestKind::UnitTest => KIND_UNITTEST,
        };
        let out = &mut self.tests;
        put_str_ref(out, node_id);
        out.extend_from_slice(&item.line.to_le_bytes());
        out.extend_from_slice(&[kind, u8::from(item.is_async), param_tag, 0]);
        put_str_ref(out, param_id);
        put_span(out, first_mark, to_u32(item.marks.len(), "marks")?);
        self.counts[1] += 1;
        Ok(())
    }

    fn mark(&mut self, mark: &'a Mark) -> Result<(), IndexError> {
        let name = self.intern(&mark.name)?;
        let args = self.intern(&mark.args)?;
        put_str_ref(&mut self.marks, name);
        put_str_ref(&mut self.marks, args);
        self.counts[2] += 1;
        Ok(())
    }

    fn error(&mut self, error: &'a CollectError) -> Result<(), IndexError> {
        // Fields a variant does not have are written as zero; readers insist on that.
        let (tag, line, column, number, message) = match error {
            CollectError::Syntax {
                line,
                column,
                message,
                ..
            } => (ERROR_SYNTAX, *line, *column, 0, message.as_str()),
            CollectError::NotUtf8 { offset, .. } => (ERROR_NOT_UTF8, 0, 0, *offset, ""),
            CollectError::Unreadable { message, .. } => {
                (ERROR_UNREADABLE, 0, 0, 0, message.as_str())
            }
            CollectError::TooLarge { limit, .. } => (ERROR_TOO_LARGE, 0, 0, *limit, ""),
            CollectError::Other { message, .. } => (ERROR_OTHER, 0, 0, 0, message.as_str()),
        };
        let path = self.intern(error.path())?;
        let message = self.intern(message)?;
        let out = &mut self.errors;
        out.extend_from_slice(&[tag, 0, 0, 0]);
        out.extend_from_slice(&line.to_le_bytes());
        out.extend_from_slice(&column.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&number.to_le_bytes());
        put_str_ref(out, path);
        put_str_ref(out, message);
        self.counts[3] += 1;
        Ok(())
    }

    fn finish(self, fingerprint: &[u8; 32]) -> Result<Vec<u8>, IndexError> {
        let sections: [&[u8]; 5] = [
            &self.files,
            &self.tests,
            &self.marks,
            &self.errors,
            &self.strings,
        ];
        debug_assert_eq!(sections.len(), Section::ALL.len());
        let body_len: usize = sections.iter().map(|s| s.len()).sum();
        let mut out = Vec::with_capacity(HEADER_LEN + body_len);

        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&KNOWN_FLAGS.to_le_bytes());
        out.extend_from_slice(fingerprint);
        for (count, what) in self
            .counts
            .iter()
            .zip(["files", "tests", "marks", "errors"])
        {
            out.extend_from_slice(&to_u32(*count, what)?.to_le_bytes());
        }
        out.extend_from_slice(&((HEADER_LEN + body_len) as u64).to_le_bytes());
        let mut offset = HEADER_LEN;
        for section in sections {
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            out.extend_from_slice(&(section.len() as u64).to_le_bytes());
            offset += section.len();
        }
        // Body checksum placeholder, filled in once the body is appended.
        let body_checksum_at = out.len();
        out.extend_from_slice(&[0; 32]);
        debug_assert_eq!(out.len(), HEADER_HASHED_LEN);
        out.extend_from_slice(&[0; 32]);
        debug_assert_eq!(out.len(), HEADER_LEN);

        for section in sections {
            out.extend_from_slice(section);
        }
        let body_checksum = blake3::hash(&out[HEADER_LEN..]);
        out[body_checksum_at..body_checksum_at + 32].copy_from_slice(body_checksum.as_bytes());
        let header_checksum = blake3::hash(&out[..HEADER_HASHED_LEN]);
        out[HEADER_HASHED_LEN..HEADER_LEN].copy_from_slice(header_checksum.as_bytes());
        Ok(out)
    }
}

fn put_str_ref(out: &mut Vec<u8>, r: StrRef) {
    out.extend_from_slice(&r.offset.to_le_bytes());
    out.extend_from_slice(&r.len.to_le_bytes());
}

fn put_span(out: &mut Vec<u8>, first: u32, count: u32) {
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
}

/// Recompute both checksums of an encoded file in place, so tests can forge structurally
/// corrupt files that pass the checksum stage and exercise the structural checks.
#[cfg(test)]
pub(crate) fn reseal(bytes: &mut [u8]) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    let body_checksum = blake3::hash(&bytes[HEADER_LEN..]);
    bytes[super::format::OFF_BODY_CHECKSUM..HEADER_HASHED_LEN]
        .copy_from_slice(body_checksum.as_bytes());
    let header_checksum = blake3::hash(&bytes[..HEADER_HASHED_LEN]);
    bytes[HEADER_HASHED_LEN..HEADER_LEN].copy_from_slice(header_checksum.as_bytes());
}
