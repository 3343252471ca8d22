//! Reads the index byte layout: header checks, whole-file validation, and per-entry decoding.
//!
//! [`check_file`] runs once per open: magic, version, header checksum, fingerprint, body
//! checksum, then every record of every table (tags, reserved bytes, ranges, string refs and
//! their UTF-8). After that, [`Tables`] lookups cannot fail on a file that is not modified
//! underneath us, but they still go through the same checked readers and return
//! `IndexError::Corrupt` instead of panicking or reading out of bounds.

use std::ops::Range;

use super::format::{
    corrupt, pool_str, pool_substr, record, FieldReader, Section, Span, StrRef, ERROR_NOT_UTF8,
    ERROR_OTHER, ERROR_RECORD_LEN, ERROR_SYNTAX, ERROR_TOO_LARGE, ERROR_UNREADABLE,
    FILE_RECORD_LEN, FORMAT_VERSION, HEADER_HASHED_LEN, HEADER_LEN, KIND_FUNCTION, KIND_METHOD,
    KIND_UNITTEST, KNOWN_FLAGS, MAGIC, MARK_RECORD_LEN, OFF_BODY_CHECKSUM, OFF_COUNTS,
    OFF_FINGERPRINT, OFF_FLAGS, OFF_HEADER_CHECKSUM, OFF_SECTIONS, OFF_TOTAL_LEN, OFF_VERSION,
    PARAMS_DYNAMIC, PARAMS_NONE, PARAMS_STATIC, TEST_RECORD_LEN,
};
use super::{FileStamp, IndexError};
use crate::item::{CollectError, FileResult, Mark, ParamState, TestItem, TestKind};

/// Where each section lives in a validated file, plus the record counts.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    sections: [Range<usize>; 5],
    pub(crate) file_count: u32,
}

impl Layout {
    /// The sections of `bytes` (the same bytes [`check_file`] validated).
    pub(crate) fn tables<'a>(&self, bytes: &'a [u8]) -> Tables<'a> {
        // `get` rather than indexing: even a file changed behind our back cannot panic here.
        let section = |i: usize| bytes.get(self.sections[i].clone()).unwrap_or(&[]);
        Tables {
            files: section(0),
            tests: section(1),
            marks: section(2),
            errors: section(3),
            strings: section(4),
            file_count: self.file_count,
        }
    }
}

fn header_field<const N: usize>(bytes: &[u8], offset: usize) -> Result<[u8; N], IndexError> {
    let mut reader = FieldReader::new(bytes.get(offset..).unwrap_or(&[]), "header");
    reader.take::<N>()
}

/// Validate the whole file once; returns where its sections are.
pub(crate) fn check_file(bytes: &[u8], fingerprint: &[u8; 32]) -> Result<Layout, IndexError> {
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(corrupt("not a dx-py index (bad magic)"));
    }
    let version = u32::from_le_bytes(header_field(bytes, OFF_VERSION)?);
    if version != FORMAT_VERSION {
        return Err(IndexError::Version {
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    let header = bytes.get(..HEADER_LEN).ok_or_else(|| {
        corrupt(format!(
            "truncated header ({} of {HEADER_LEN} bytes)",
            bytes.len()
        ))
    })?;
    let header_checksum: [u8; 32] = header_field(header, OFF_HEADER_CHECKSUM)?;
    if blake3::hash(&header[..HEADER_HASHED_LEN]) != header_checksum {
        return Err(corrupt("header checksum mismatch"));
    }
    let flags = u32::from_le_bytes(header_field(header, OFF_FLAGS)?);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(corrupt(format!("unknown header flags {flags:#x}")));
    }
    // Checked before the body hash: a config change is the common case and needs no hashing.
    if &header_field::<32>(header, OFF_FINGERPRINT)? != fingerprint {
        return Err(IndexError::Fingerprint);
    }
    let total_len = u64::from_le_bytes(header_field(header, OFF_TOTAL_LEN)?);
    if total_len != bytes.len() as u64 {
        return Err(corrupt(format!(
            "file is {} bytes but its header says {total_len}",
            bytes.len()
        )));
    }
    let body_checksum: [u8; 32] = header_field(header, OFF_BODY_CHECKSUM)?;
    if blake3::hash(bytes.get(HEADER_LEN..).unwrap_or(&[])) != body_checksum {
        return Err(corrupt("body checksum mismatch"));
    }

    let mut counts = FieldReader::new(header.get(OFF_COUNTS..).unwrap_or(&[]), "header counts");
    let record_counts = [counts.u32()?, counts.u32()?, counts.u32()?, counts.u32()?];
    let mut fields = FieldReader::new(header.get(OFF_SECTIONS..).unwrap_or(&[]), "section table");
    let mut sections: [Range<usize>; 5] = Default::default();
    let mut expected_offset = HEADER_LEN;
    for (i, section) in Section::ALL.into_iter().enumerate() {
        let offset = fields.u64()?;
        let len = fields.u64()?;
        // Sections are contiguous and in a fixed order, so there is exactly one valid layout.
        if offset != expected_offset as u64 {
            return Err(corrupt(format!(
                "{} starts at {offset}, expected {expected_offset}",
                section.name()
            )));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|len| {
                expected_offset
                    .checked_add(*len)
                    .is_some_and(|end| end <= bytes.len())
            })
            .ok_or_else(|| {
                corrupt(format!(
                    "{} ({len} bytes at {offset}) overruns the file",
                    section.name()
                ))
            })?;
        if let (Some(record_len), Some(count)) = (section.record_len(), record_counts.get(i)) {
            if (*count as usize).checked_mul(record_len) != Some(len) {
                return Err(corrupt(format!(
                    "{} is {len} bytes, expected {count} records of {record_len}",
                    section.name()
                )));
            }
        }
        sections[i] = expected_offset..expected_offset + len;
        expected_offset += len;
    }
    if u32::try_from(sections[4].len()).is_err() {
        return Err(corrupt("string pool is larger than 4 GiB"));
    }
    if expected_offset != bytes.len() {
        return Err(corrupt(format!(
            "{} trailing bytes after the string pool",
            bytes.len() - expected_offset
        )));
    }
    let layout = Layout {
        sections,
        file_count: record_counts[0],
    };
    layout.tables(bytes).validate(record_counts)?;
    Ok(layout)
}

/// One file table record.
#[derive(Debug, Clone)]
pub(crate) struct FileRecord {
    pub(crate) path: StrRef,
    pub(crate) stamp: FileStamp,
    pub(crate) tests: Span,
    pub(crate) errors: Span,
}

#[derive(Debug)]
struct TestRecord {
    node_id: StrRef,
    line: u32,
    kind: TestKind,
    is_async: bool,
    params: ParamRecord,
    marks: Span,
}

#[derive(Debug)]
enum ParamRecord {
    None,
    Static(StrRef),
    Dynamic,
}

#[derive(Debug)]
enum ErrorRecord {
    Syntax {
        path: StrRef,
        line: u32,
        column: u32,
        message: StrRef,
    },
    NotUtf8 {
        path: StrRef,
        offset: u64,
    },
    Unreadable {
        path: StrRef,
        message: StrRef,
    },
    TooLarge {
        path: StrRef,
        limit: u64,
    },
    Other {
        path: StrRef,
        message: StrRef,
    },
}

/// Borrowed views of a file's sections, with checked record decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tables<'a> {
    files: &'a [u8],
    tests: &'a [u8],
    marks: &'a [u8],
    errors: &'a [u8],
    strings: &'a [u8],
    file_count: u32,
}

impl<'a> Tables<'a> {
    pub(crate) fn str(&self, r: StrRef, what: &str) -> Result<&'a str, IndexError> {
        pool_str(self.strings, r, what)
    }

    /// Only the path of file record `index` (binary search reads nothing else).
    pub(crate) fn file_path(&self, index: u32) -> Result<&'a str, IndexError> {
        let bytes = record(self.files, FILE_RECORD_LEN, index, "file table")?;
        let path = FieldReader::new(bytes, "file record").str_ref()?;
        self.str(path, "file path")
    }

    pub(crate) fn file(&self, index: u32) -> Result<FileRecord, IndexError> {
        let mut r = FieldReader::new(
            record(self.files, FILE_RECORD_LEN, index, "file table")?,
            "file record",
        );
        Ok(FileRecord {
            path: r.str_ref()?,
            stamp: FileStamp {
                mtime_ns: r.i128()?,
                size: r.u64()?,
                blake3: r.take()?,
            },
            tests: r.span()?,
            errors: r.span()?,
        })
    }

    /// Binary search of the sorted file table.
    pub(crate) fn find(&self, rel_path: &str) -> Result<Option<u32>, IndexError> {
        let (mut low, mut high) = (0u32, self.file_count);
        while low < high {
            let mid = low + (high - low) / 2;
            match self.file_path(mid)?.as_bytes().cmp(rel_path.as_bytes()) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid)),
            }
        }
        Ok(None)
    }

    fn test(&self, index: u32) -> Result<TestRecord, IndexError> {
        let mut r = FieldReader::new(
            record(self.tests, TEST_RECORD_LEN, index, "test table")?,
            "test record",
        );
        let node_id = r.str_ref()?;
        let line = r.u32()?;
        let kind = match r.u8()? {
            KIND_FUNCTION => TestKind::Function,
            KIND_METHOD => TestKind::Method,
            KIND_UNITTEST => TestKind::UnitTest,
            tag => return Err(corrupt(format!("test {index}: unknown kind tag {tag}"))),
        };
        let is_async = match r.u8()? {
            0 => false,
            1 => true,
            byte => {
                return Err(corrupt(format!(
                    "test {index}: async flag is {byte}, not 0 or 1"
                )))
            }
        };
        let param_tag = r.u8()?;
        if r.u8()? != 0 {
            return Err(corrupt(format!("test {index}: reserved byte is not zero")));
        }
        let param_id = r.str_ref()?;
        let params = match param_tag {
            PARAMS_STATIC => ParamRecord::Static(param_id),
            PARAMS_NONE | PARAMS_DYNAMIC if param_id != StrRef::EMPTY => {
                return Err(corrupt(format!(
                    "test {index}: parameter id set on a non-static test"
                )))
            }
            PARAMS_NONE => ParamRecord::None,
            PARAMS_DYNAMIC => ParamRecord::Dynamic,
            tag => return Err(corrupt(format!("test {index}: unknown params tag {tag}"))),
        };
        Ok(TestRecord {
            node_id,
            line,
            kind,
            is_async,
            params,
            marks: r.span()?,
        })
    }

    fn mark(&self, index: u32) -> Result<(StrRef, StrRef), IndexError> {
        let mut r = FieldReader::new(
            record(self.marks, MARK_RECORD_LEN, index, "mark table")?,
            "mark record",
        );
        Ok((r.str_ref()?, r.str_ref()?))
    }

    fn error(&self, index: u32) -> Result<ErrorRecord, IndexError> {
        let mut r = FieldReader::new(
            record(self.errors, ERROR_RECORD_LEN, index, "error table")?,
            "error record",
        );
        let tag = r.u8()?;
        if r.take::<3>()? != [0; 3] {
            return Err(corrupt(format!(
                "error {index}: reserved bytes are not zero"
            )));
        }
        let (line, column) = (r.u32()?, r.u32()?);
        if r.u32()? != 0 {
            return Err(corrupt(format!("error {index}: reserved word is not zero")));
        }
        let number = r.u64()?;
        let path = r.str_ref()?;
        let message = r.str_ref()?;
        // Fields the variant does not carry must be zero: one encoding per value.
        let unused_zero = |has_position: bool, has_number: bool, has_message: bool| {
            let stray = (!has_position && (line, column) != (0, 0))
                || (!has_number && number != 0)
                || (!has_message && message != StrRef::EMPTY);
            if stray {
                Err(corrupt(format!(
                    "error {index}: field set that tag {tag} does not use"
                )))
            } else {
                Ok(())
            }
        };
        Ok(match tag {
            ERROR_SYNTAX => {
                unused_zero(true, false, true)?;
                ErrorRecord::Syntax {
                    path,
                    line,
                    column,
                    message,
                }
            }
            ERROR_NOT_UTF8 => {
                unused_zero(false, true, false)?;
                ErrorRecord::NotUtf8 {
                    path,
                    offset: number,
                }
            }
            ERROR_UNREADABLE => {
                unused_zero(false, false, true)?;
                ErrorRecord::Unreadable { path, message }
            }
            ERROR_TOO_LARGE => {
                unused_zero(false, true, false)?;
                ErrorRecord::TooLarge {
                    path,
                    limit: number,
                }
            }
            ERROR_OTHER => {
                unused_zero(false, false, true)?;
                ErrorRecord::Other { path, message }
            }
            tag => return Err(corrupt(format!("error {index}: unknown error tag {tag}"))),
        })
    }

    /// Decode everything a file record points to.
    pub(crate) fn file_result(&self, file: &FileRecord) -> Result<FileResult, IndexError> {
        let tests = file.tests.indices("file test range")?;
        let mut items = Vec::with_capacity(tests.len().min(self.tests.len() / TEST_RECORD_LEN));
        for index in tests {
            items.push(self.test_item(index)?);
        }
        let errors = file.errors.indices("file error range")?;
        let mut collect_errors =
            Vec::with_capacity(errors.len().min(self.errors.len() / ERROR_RECORD_LEN));
        for index in errors {
            collect_errors.push(self.collect_error(index)?);
        }
        Ok(FileResult {
            items,
            errors: collect_errors,
        })
    }

    fn test_item(&self, index: u32) -> Result<TestItem, IndexError> {
        let test = self.test(index)?;
        let marks = test.marks.indices("test mark range")?;
        let mut decoded_marks =
            Vec::with_capacity(marks.len().min(self.marks.len() / MARK_RECORD_LEN));
        for mark in marks {
            let (name, args) = self.mark(mark)?;
            decoded_marks.push(Mark {
                name: self.str(name, "mark name")?.to_owned(),
                args: self.str(args, "mark args")?.to_owned(),
            });
        }
        Ok(TestItem {
            node_id: self.str(test.node_id, "node id")?.to_owned(),
            line: test.line,
            kind: test.kind,
            is_async: test.is_async,
            marks: decoded_marks,
            params: match test.params {
                ParamRecord::None => ParamState::None,
                ParamRecord::Static(id) => {
                    ParamState::Static(self.str(id, "parameter id")?.to_owned())
                }
                ParamRecord::Dynamic => ParamState::Dynamic,
            },
        })
    }

    fn collect_error(&self, index: u32) -> Result<CollectError, IndexError> {
        let text = |r: StrRef, what: &str| self.str(r, what).map(str::to_owned);
        Ok(match self.error(index)? {
            ErrorRecord::Syntax {
                path,
                line,
                column,
                message,
            } => CollectError::Syntax {
                path: text(path, "error path")?,
                line,
                column,
                message: text(message, "error message")?,
            },
            ErrorRecord::NotUtf8 { path, offset } => CollectError::NotUtf8 {
                path: text(path, "error path")?,
                offset,
            },
            ErrorRecord::Unreadable { path, message } => CollectError::Unreadable {
                path: text(path, "error path")?,
                message: text(message, "error message")?,
            },
            ErrorRecord::TooLarge { path, limit } => CollectError::TooLarge {
                path: text(path, "error path")?,
                limit,
            },
            ErrorRecord::Other { path, message } => CollectError::Other {
                path: text(path, "error path")?,
                message: text(message, "error message")?,
            },
        })
    }

    /// Check every record without allocating: after this, decoding cannot fail.
    fn validate(&self, [files, tests, marks, errors]: [u32; 4]) -> Result<(), IndexError> {
        // Each file's tests/errors (and each test's marks) must start where the previous
        // one's ended and together cover the table exactly: no overlap, no orphans.
        let (mut next_test, mut next_error, mut next_mark) = (0u32, 0u32, 0u32);
        // One UTF-8 pass over the pool; then a string ref is valid iff it is in bounds and
        // starts and ends on character boundaries, which makes later per-string decoding
        // infallible without re-scanning every string here.
        let pool = std::str::from_utf8(self.strings)
            .map_err(|e| corrupt(format!("string pool is not UTF-8: {e}")))?;
        let mut previous_path: Option<&str> = None;
        for index in 0..files {
            let file = self.file(index)?;
            let path = pool_substr(pool, file.path, "file path")?;
            if previous_path.is_some_and(|previous| previous >= path) {
                return Err(corrupt(format!(
                    "file table not strictly sorted at record {index}"
                )));
            }
            previous_path = Some(path);
            expect_span(file.tests, &mut next_test, tests, "test", index)?;
            expect_span(file.errors, &mut next_error, errors, "error", index)?;
        }
        if (next_test, next_error) != (tests, errors) {
            return Err(corrupt("files do not cover the test and error tables"));
        }
        for index in 0..tests {
            let test = self.test(index)?;
            pool_substr(pool, test.node_id, "node id")?;
            if let ParamRecord::Static(id) = test.params {
                pool_substr(pool, id, "parameter id")?;
            }
            expect_span(test.marks, &mut next_mark, marks, "mark", index)?;
        }
        if next_mark != marks {
            return Err(corrupt("tests do not cover the mark table"));
        }
        for index in 0..marks {
            let (name, args) = self.mark(index)?;
            pool_substr(pool, name, "mark name")?;
            pool_substr(pool, args, "mark args")?;
        }
        for index in 0..errors {
            match self.error(index)? {
                ErrorRecord::Syntax { path, message, .. }
                | ErrorRecord::Unreadable { path, message }
                | ErrorRecord::Other { path, message } => {
                    pool_substr(pool, path, "error path")?;
                    pool_substr(pool, message, "error message")?;
                }
                ErrorRecord::NotUtf8 { path, .. } | ErrorRecord::TooLarge { path, .. } => {
                    pool_substr(pool, path, "error path")?;
                }
            }
        }
        Ok(())
    }
}

fn expect_span(
    span: Span,
    next: &mut u32,
    total: u32,
    what: &str,
    owner: u32,
) -> Result<(), IndexError> {
    let range = span.indices(what)?;
    if range.start != *next || range.end > total {
        return Err(corrupt(format!(
            "record {owner}: {what} range {}..{} does not follow {} within {total}",
            range.start, range.end, *next
        )));
    }
    *next = range.end;
    Ok(())
}
