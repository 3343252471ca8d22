//! Payload primitives and the payload layout of every message.
//!
//! [`Cursor`] reads primitives out of a payload, failing with a [`ProtocolError`] on any
//! short read; [`PayloadWriter`] appends them. The `decode_*`/`encode_*` functions handle a
//! whole frame (header + payload) and enforce which header fields each type may use.

use std::time::Duration;

use super::header::{
    RequestHeader, ResultHeader, NO_TEST_INDEX, REQUEST_HEADER_LEN, RESULT_HEADER_LEN,
};
use super::{
    Ambient, CollectErrorReport, Counts, Deselected, Done, Engine, Executed, ExecutedFile, Fatal,
    Hello, ImportModules, ItemResult, Location, LogLevel, LogRecord, Outcome, Phase, Preload,
    ProtocolError, Ready, Request, RequestFrame, RequestKind, ResultFrame, ResultKind,
    RunHookItems, RunItems, RunModule, Section, StopKind, WarningRecord, WarningWhen,
    WorkerMessage,
};

/// Default payload limit (64 MiB): far above any capped report, far below a runaway.
pub const DEFAULT_MAX_PAYLOAD: u32 = 64 * 1024 * 1024;

/// Request flag: keep session-scoped fixtures after the batch.
pub(crate) const FLAG_KEEP_SESSION: u8 = 0b001;
/// Request flag (Hello only): record what each test executes.
pub(crate) const FLAG_RECORD: u8 = 0b010;
/// Hello: stop before the conftests load until Resume.
pub(crate) const FLAG_PARK: u8 = 0b100;
/// Executed/Ambient payload flag: code ran outside what instrumentation sees.
pub(crate) const RECORD_COARSE: u8 = 0b001;
/// Result flags (ItemResult only).
pub(crate) const FLAG_ITEM_FINISHED: u8 = 0b001;
pub(crate) const FLAG_OUTPUT_TRUNCATED: u8 = 0b010;
pub(crate) const FLAG_NOT_IN_SUMMARY: u8 = 0b100;
pub(crate) const FLAG_PROGRESS_HIDDEN: u8 = 0b1000;

/// Reads primitives from one payload.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], ProtocolError> {
        if len > self.remaining() {
            return Err(ProtocolError::Truncated {
                context: field,
                needed: len as u64,
                available: self.remaining() as u64,
            });
        }
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ProtocolError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, ProtocolError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, ProtocolError> {
        Ok(i32::from_le_bytes(self.array(field)?))
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, ProtocolError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(ProtocolError::InvalidEnum { field, value }),
        }
    }

    /// A length or count, checked against what remains so no huge allocation follows.
    fn length(
        &mut self,
        field: &'static str,
        min_element_size: usize,
    ) -> Result<usize, ProtocolError> {
        let declared = self.u32(field)? as u64;
        let needed = declared.saturating_mul(min_element_size as u64);
        if needed > self.remaining() as u64 {
            return Err(ProtocolError::LengthPastEnd {
                field,
                declared,
                remaining: self.remaining() as u64,
            });
        }
        usize::try_from(declared).map_err(|_| ProtocolError::LengthPastEnd {
            field,
            declared,
            remaining: self.remaining() as u64,
        })
    }

    fn str(&mut self, field: &'static str) -> Result<String, ProtocolError> {
        let len = self.length(field, 1)?;
        let bytes = self.take(len, field)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(err) => Err(ProtocolError::InvalidUtf8 {
                field,
                valid_up_to: err.valid_up_to(),
            }),
        }
    }

    fn str_list(&mut self, field: &'static str) -> Result<Vec<String>, ProtocolError> {
        let count = self.length(field, 4)?;
        (0..count).map(|_| self.str(field)).collect()
    }

    fn u32_list(&mut self, field: &'static str) -> Result<Vec<u32>, ProtocolError> {
        let count = self.length(field, 4)?;
        (0..count).map(|_| self.u32(field)).collect()
    }

    /// `u8 flags (bit 0 COARSE)` of Executed/Ambient.
    fn record_flags(&mut self, message: &'static str) -> Result<bool, ProtocolError> {
        let flags = self.u8("record flags")?;
        if flags & !RECORD_COARSE != 0 {
            return Err(ProtocolError::UnknownFlags { message, flags });
        }
        Ok(flags & RECORD_COARSE != 0)
    }

    /// `list<str> paths, list<list<u32>> def_lines` as files (the two lists pair up).
    fn executed_files(
        &mut self,
        message: &'static str,
    ) -> Result<Vec<ExecutedFile>, ProtocolError> {
        let paths = self.str_list("paths")?;
        let count = self.length("def_lines", 4)?;
        if count != paths.len() {
            return Err(ProtocolError::InvalidRecord {
                message,
                reason: "`paths` and `def_lines` differ in length",
            });
        }
        paths
            .into_iter()
            .map(|path| {
                let def_lines = self.u32_list("def_lines")?;
                check_def_lines(message, &def_lines)?;
                Ok(ExecutedFile { path, def_lines })
            })
            .collect()
    }

    fn opt_u32(&mut self, field: &'static str) -> Result<Option<u32>, ProtocolError> {
        if self.bool(field)? {
            Ok(Some(self.u32(field)?))
        } else {
            Ok(None)
        }
    }

    fn finish(self, message: &'static str) -> Result<(), ProtocolError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(ProtocolError::TrailingBytes {
                message,
                count: count as u64,
            }),
        }
    }
}

/// `def_lines` must be strictly increasing from 1, so a frame has one encoding per record.
fn check_def_lines(message: &'static str, lines: &[u32]) -> Result<(), ProtocolError> {
    if lines.first() == Some(&0) || lines.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ProtocolError::InvalidRecord {
            message,
            reason: "`def_lines` must be strictly increasing lines from 1",
        });
    }
    Ok(())
}

/// Appends primitives to a payload.
#[derive(Default)]
struct PayloadWriter {
    out: Vec<u8>,
}

impl PayloadWriter {
    fn u8(&mut self, value: u8) {
        self.out.push(value);
    }

    fn u32(&mut self, value: u32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    fn i32(&mut self, value: i32) {
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    fn length(&mut self, field: &'static str, len: usize) -> Result<(), ProtocolError> {
        let len = u32::try_from(len).map_err(|_| ProtocolError::FieldTooLong {
            field,
            len: len as u64,
        })?;
        self.u32(len);
        Ok(())
    }

    fn str(&mut self, field: &'static str, value: &str) -> Result<(), ProtocolError> {
        self.length(field, value.len())?;
        self.out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn str_list(&mut self, field: &'static str, values: &[String]) -> Result<(), ProtocolError> {
        self.length(field, values.len())?;
        values.iter().try_for_each(|value| self.str(field, value))
    }

    fn executed_files(
        &mut self,
        message: &'static str,
        files: &[ExecutedFile],
    ) -> Result<(), ProtocolError> {
        self.length("paths", files.len())?;
        for file in files {
            self.str("paths", &file.path)?;
        }
        self.length("def_lines", files.len())?;
        for file in files {
            check_def_lines(message, &file.def_lines)?;
            self.length("def_lines", file.def_lines.len())?;
            for &line in &file.def_lines {
                self.u32(line);
            }
        }
        Ok(())
    }

    fn opt_u32(&mut self, value: Option<u32>) {
        match value {
            Some(value) => {
                self.u8(1);
                self.u32(value);
            }
            None => self.u8(0),
        }
    }

    fn into_payload(self, field: &'static str) -> Result<(Vec<u8>, u32), ProtocolError> {
        let len = u32::try_from(self.out.len()).map_err(|_| ProtocolError::FieldTooLong {
            field,
            len: self.out.len() as u64,
        })?;
        Ok((self.out, len))
    }
}

fn check_payload_limit(payload_len: u32, max_payload: u32) -> Result<(), ProtocolError> {
    if payload_len > max_payload {
        return Err(ProtocolError::FrameTooLarge {
            payload_len: payload_len as u64,
            limit: max_payload,
        });
    }
    Ok(())
}

/// Splits `bytes` into a header and its payload, checking the limit before the length.
fn frame_payload(
    bytes: &[u8],
    header_len: usize,
    payload_len: u32,
    max_payload: u32,
) -> Result<&[u8], ProtocolError> {
    check_payload_limit(payload_len, max_payload)?;
    let end = header_len + payload_len as usize;
    bytes.get(header_len..end).ok_or(ProtocolError::Truncated {
        context: "frame payload",
        needed: payload_len as u64,
        available: bytes.len().saturating_sub(header_len) as u64,
    })
}

/// Decodes one request frame from the start of `bytes`; returns it and its encoded length.
pub fn decode_request(
    bytes: &[u8],
    max_payload: u32,
) -> Result<(RequestFrame, usize), ProtocolError> {
    let header = RequestHeader::parse(bytes)?;
    let payload = frame_payload(bytes, REQUEST_HEADER_LEN, header.payload_len, max_payload)?;
    let frame = decode_request_parts(&header, payload)?;
    Ok((frame, REQUEST_HEADER_LEN + payload.len()))
}

/// Decodes one result frame from the start of `bytes`; returns it and its encoded length.
pub fn decode_result(
    bytes: &[u8],
    max_payload: u32,
) -> Result<(ResultFrame, usize), ProtocolError> {
    let header = ResultHeader::parse(bytes)?;
    let payload = frame_payload(bytes, RESULT_HEADER_LEN, header.payload_len, max_payload)?;
    let frame = decode_result_parts(&header, payload)?;
    Ok((frame, RESULT_HEADER_LEN + payload.len()))
}

pub(crate) fn check_request_limit(
    header: &RequestHeader,
    max_payload: u32,
) -> Result<(), ProtocolError> {
    check_payload_limit(header.payload_len, max_payload)
}

pub(crate) fn check_result_limit(
    header: &ResultHeader,
    max_payload: u32,
) -> Result<(), ProtocolError> {
    check_payload_limit(header.payload_len, max_payload)
}

pub(crate) fn decode_request_parts(
    header: &RequestHeader,
    payload: &[u8],
) -> Result<RequestFrame, ProtocolError> {
    let name = header.kind.name();
    let allowed_flags = match header.kind {
        RequestKind::RunItems | RequestKind::RunModule | RequestKind::RunHookItems => {
            FLAG_KEEP_SESSION
        }
        RequestKind::Hello => FLAG_RECORD | FLAG_PARK,
        RequestKind::Shutdown
        | RequestKind::Preload
        | RequestKind::ImportModules
        | RequestKind::Resume => 0,
    };
    if header.flags & !allowed_flags != 0 {
        return Err(ProtocolError::UnknownFlags {
            message: name,
            flags: header.flags,
        });
    }
    let keep_session = header.flags & FLAG_KEEP_SESSION != 0;
    let first_index = header.test_index;
    if matches!(
        header.kind,
        RequestKind::Hello
            | RequestKind::Shutdown
            | RequestKind::Preload
            | RequestKind::ImportModules
            | RequestKind::Resume
    ) && first_index != 0
    {
        return Err(ProtocolError::UnexpectedHeaderField {
            message: name,
            field: "test index",
        });
    }
    let mut cursor = Cursor::new(payload);
    let request = match header.kind {
        RequestKind::Hello => Request::Hello(Hello {
            rootdir: cursor.str("rootdir")?,
            sys_path: cursor.str_list("sys_path")?,
            engine: Engine::from_code(cursor.u8("engine")?)?,
            pytest_args: cursor.str_list("pytest_args")?,
            output_limit: cursor.u32("output_limit")?,
            terminal_width: cursor.u32("terminal_width")?,
            record_execution: header.flags & FLAG_RECORD != 0,
            park: header.flags & FLAG_PARK != 0,
        }),
        RequestKind::RunItems => Request::RunItems(RunItems {
            first_index,
            keep_session,
            node_ids: cursor.str_list("node_ids")?,
        }),
        RequestKind::RunModule => Request::RunModule(RunModule {
            first_index,
            keep_session,
            path: cursor.str("path")?,
        }),
        RequestKind::Shutdown => Request::Shutdown,
        RequestKind::Resume => Request::Resume,
        RequestKind::Preload => Request::Preload(Preload {
            modules: cursor.str_list("modules")?,
        }),
        RequestKind::RunHookItems => Request::RunHookItems(RunHookItems {
            first_index,
            keep_session,
            paths: cursor.str_list("paths")?,
            skip_dirs: cursor.str_list("skip_dirs")?,
            skip_items: cursor.str_list("skip_items")?,
        }),
        RequestKind::ImportModules => Request::ImportModules(ImportModules {
            paths: cursor.str_list("paths")?,
        }),
    };
    cursor.finish(name)?;
    Ok(RequestFrame {
        request_id: header.request_id,
        request,
    })
}

/// Encodes a request frame (header + payload).
pub fn encode_request(frame: &RequestFrame) -> Result<Vec<u8>, ProtocolError> {
    let mut w = PayloadWriter::default();
    let (flags, test_index) = match &frame.request {
        Request::Hello(hello) => {
            w.str("rootdir", &hello.rootdir)?;
            w.str_list("sys_path", &hello.sys_path)?;
            w.u8(hello.engine.code());
            w.str_list("pytest_args", &hello.pytest_args)?;
            w.u32(hello.output_limit);
            w.u32(hello.terminal_width);
            let record = if hello.record_execution {
                FLAG_RECORD
            } else {
                0
            };
            let park = if hello.park { FLAG_PARK } else { 0 };
            (record | park, 0)
        }
        Request::RunItems(run) => {
            w.str_list("node_ids", &run.node_ids)?;
            (
                if run.keep_session {
                    FLAG_KEEP_SESSION
                } else {
                    0
                },
                run.first_index,
            )
        }
        Request::RunModule(run) => {
            w.str("path", &run.path)?;
            (
                if run.keep_session {
                    FLAG_KEEP_SESSION
                } else {
                    0
                },
                run.first_index,
            )
        }
        Request::Shutdown | Request::Resume => (0, 0),
        Request::Preload(preload) => {
            w.str_list("modules", &preload.modules)?;
            (0, 0)
        }
        Request::ImportModules(import) => {
            w.str_list("paths", &import.paths)?;
            (0, 0)
        }
        Request::RunHookItems(run) => {
            w.str_list("paths", &run.paths)?;
            w.str_list("skip_dirs", &run.skip_dirs)?;
            w.str_list("skip_items", &run.skip_items)?;
            (
                if run.keep_session {
                    FLAG_KEEP_SESSION
                } else {
                    0
                },
                run.first_index,
            )
        }
    };
    let (payload, payload_len) = w.into_payload("request payload")?;
    let header = RequestHeader {
        kind: frame.request.kind(),
        flags,
        request_id: frame.request_id,
        test_index,
        payload_len,
    };
    let mut out = Vec::with_capacity(REQUEST_HEADER_LEN + payload.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Header fields a result type must leave at their neutral value.
fn check_neutral_result_header(
    header: &ResultHeader,
    keep_outcome: bool,
) -> Result<(), ProtocolError> {
    let message = header.kind.name();
    let field = if header.flags != 0 {
        return Err(ProtocolError::UnknownFlags {
            message,
            flags: header.flags,
        });
    } else if header.test_index != NO_TEST_INDEX {
        "test index"
    } else if header.duration_ns != 0 {
        "duration"
    } else if !keep_outcome && header.outcome != 0 {
        "outcome"
    } else if header.phase != 0 {
        "phase"
    } else {
        return Ok(());
    };
    Err(ProtocolError::UnexpectedHeaderField { message, field })
}

fn collect_outcome(value: u8) -> Result<Outcome, ProtocolError> {
    match Outcome::from_code(value) {
        Ok(outcome @ (Outcome::Error | Outcome::Skipped)) => Ok(outcome),
        _ => Err(ProtocolError::InvalidEnum {
            field: "collect outcome",
            value,
        }),
    }
}

pub(crate) fn decode_result_parts(
    header: &ResultHeader,
    payload: &[u8],
) -> Result<ResultFrame, ProtocolError> {
    let mut c = Cursor::new(payload);
    let message = match header.kind {
        ResultKind::ItemResult => {
            let all = FLAG_ITEM_FINISHED
                | FLAG_OUTPUT_TRUNCATED
                | FLAG_NOT_IN_SUMMARY
                | FLAG_PROGRESS_HIDDEN;
            if header.flags & !all != 0 {
                return Err(ProtocolError::UnknownFlags {
                    message: "ItemResult",
                    flags: header.flags,
                });
            }
            WorkerMessage::ItemResult(Box::new(ItemResult {
                test_index: header.test_index,
                outcome: Outcome::from_code(header.outcome)?,
                phase: Phase::from_code(header.phase)?,
                duration: Duration::from_nanos(header.duration_ns),
                item_finished: header.flags & FLAG_ITEM_FINISHED != 0,
                output_truncated: header.flags & FLAG_OUTPUT_TRUNCATED != 0,
                in_summary: header.flags & FLAG_NOT_IN_SUMMARY == 0,
                progress_hidden: header.flags & FLAG_PROGRESS_HIDDEN != 0,
                node_id: c.str("node_id")?,
                longrepr: c.str("longrepr")?,
                stdout: c.str("stdout")?,
                stderr: c.str("stderr")?,
                sections: {
                    let count = c.length("sections", 8)?;
                    (0..count)
                        .map(|_| {
                            Ok(Section {
                                title: c.str("section title")?,
                                content: c.str("section content")?,
                            })
                        })
                        .collect::<Result<_, ProtocolError>>()?
                },
                skip_reason: c.str("skip_reason")?,
                location: Location {
                    path: c.str("location path")?,
                    line: c.opt_u32("location line")?,
                    domain: c.str("location domain")?,
                },
                category: c.str("category")?,
                letter: c.str("letter")?,
                word: c.str("word")?,
                head_line: c.str("head_line")?,
                crash_line: c.str("crash_line")?,
                crash_message: c.str("crash_message")?,
                skip_location: c.str("skip_location")?,
            }))
        }
        ResultKind::CollectError => {
            check_neutral_result_header(header, true)?;
            WorkerMessage::CollectError(CollectErrorReport {
                outcome: collect_outcome(header.outcome)?,
                node_id: c.str("node_id")?,
                longrepr: c.str("longrepr")?,
                skip_location: c.str("skip_location")?,
                crash_message: c.str("crash_message")?,
            })
        }
        ResultKind::Ready => {
            check_neutral_result_header(header, false)?;
            WorkerMessage::Ready(Ready {
                pid: c.u32("pid")?,
                engine: Engine::from_code(c.u8("engine")?)?,
                python_version: c.str("python_version")?,
                pytest_version: c.str("pytest_version")?,
            })
        }
        ResultKind::Log => {
            check_neutral_result_header(header, false)?;
            WorkerMessage::Log(LogRecord {
                level: LogLevel::from_code(c.u8("level")?)?,
                message: c.str("message")?,
            })
        }
        ResultKind::Warning => {
            check_neutral_result_header(header, false)?;
            WorkerMessage::Warning(WarningRecord {
                when: WarningWhen::from_code(c.u8("when")?)?,
                category: c.str("category")?,
                message: c.str("message")?,
                filename: c.str("filename")?,
                lineno: c.u32("lineno")?,
                node_id: c.str("node_id")?,
                summary: c.str("summary")?,
                location: c.str("location")?,
            })
        }
        ResultKind::Done => {
            check_neutral_result_header(header, false)?;
            WorkerMessage::Done(Done {
                counts: Counts {
                    passed: c.u32("passed")?,
                    failed: c.u32("failed")?,
                    skipped: c.u32("skipped")?,
                    xfailed: c.u32("xfailed")?,
                    xpassed: c.u32("xpassed")?,
                    error: c.u32("error")?,
                    collect_errors: c.u32("collect_errors")?,
                },
                stop: StopKind::from_code(c.u8("stop")?)?,
                exit_code: c.i32("exit_code")?,
                message: c.str("message")?,
            })
        }
        ResultKind::Fatal => {
            check_neutral_result_header(header, false)?;
            WorkerMessage::Fatal(Fatal {
                message: c.str("message")?,
                traceback: c.str("traceback")?,
            })
        }
        ResultKind::Deselected => {
            check_neutral_result_header(header, false)?;
            WorkerMessage::Deselected(Deselected {
                node_ids: c.str_list("node_ids")?,
            })
        }
        ResultKind::Executed => {
            // About one item: the header carries its test index, nothing else.
            let item_header = ResultHeader {
                test_index: NO_TEST_INDEX,
                ..*header
            };
            check_neutral_result_header(&item_header, false)?;
            WorkerMessage::Executed(Executed {
                test_index: header.test_index,
                node_id: c.str("node_id")?,
                coarse: c.record_flags("Executed")?,
                files: c.executed_files("Executed")?,
                imported: c.str_list("imported")?,
            })
        }
        ResultKind::Ambient => {
            check_neutral_result_header(header, false)?;
            WorkerMessage::Ambient(Ambient {
                coarse: c.record_flags("Ambient")?,
                instrumented: c.str_list("instrumented")?,
                files: c.executed_files("Ambient")?,
            })
        }
    };
    c.finish(header.kind.name())?;
    Ok(ResultFrame {
        request_id: header.request_id,
        message,
    })
}

/// Encodes a result frame (header + payload).
pub fn encode_result(frame: &ResultFrame) -> Result<Vec<u8>, ProtocolError> {
    let mut w = PayloadWriter::default();
    let mut header = ResultHeader {
        kind: frame.message.kind(),
        flags: 0,
        request_id: frame.request_id,
        test_index: NO_TEST_INDEX,
        payload_len: 0,
        duration_ns: 0,
        outcome: 0,
        phase: 0,
    };
    match &frame.message {
        WorkerMessage::Ready(ready) => {
            w.u32(ready.pid);
            w.u8(ready.engine.code());
            w.str("python_version", &ready.python_version)?;
            w.str("pytest_version", &ready.pytest_version)?;
        }
        WorkerMessage::ItemResult(item) => {
            header.test_index = item.test_index;
            header.duration_ns = u64::try_from(item.duration.as_nanos()).map_err(|_| {
                ProtocolError::FieldTooLong {
                    field: "duration",
                    len: u64::MAX,
                }
            })?;
            header.outcome = item.outcome.code();
            header.phase = item.phase.code();
            header.flags = (if item.item_finished {
                FLAG_ITEM_FINISHED
            } else {
                0
            }) | (if item.output_truncated {
                FLAG_OUTPUT_TRUNCATED
            } else {
                0
            }) | (if item.in_summary {
                0
            } else {
                FLAG_NOT_IN_SUMMARY
            }) | (if item.progress_hidden {
                FLAG_PROGRESS_HIDDEN
            } else {
                0
            });
            w.str("node_id", &item.node_id)?;
            w.str("longrepr", &item.longrepr)?;
            w.str("stdout", &item.stdout)?;
            w.str("stderr", &item.stderr)?;
            w.length("sections", item.sections.len())?;
            for section in &item.sections {
                w.str("section title", &section.title)?;
                w.str("section content", &section.content)?;
            }
            w.str("skip_reason", &item.skip_reason)?;
            w.str("location path", &item.location.path)?;
            w.opt_u32(item.location.line);
            w.str("location domain", &item.location.domain)?;
            w.str("category", &item.category)?;
            w.str("letter", &item.letter)?;
            w.str("word", &item.word)?;
            w.str("head_line", &item.head_line)?;
            w.str("crash_line", &item.crash_line)?;
            w.str("crash_message", &item.crash_message)?;
            w.str("skip_location", &item.skip_location)?;
        }
        WorkerMessage::Log(log) => {
            w.u8(log.level.code());
            w.str("message", &log.message)?;
        }
        WorkerMessage::Warning(warning) => {
            w.u8(warning.when.code());
            w.str("category", &warning.category)?;
            w.str("message", &warning.message)?;
            w.str("filename", &warning.filename)?;
            w.u32(warning.lineno);
            w.str("node_id", &warning.node_id)?;
            w.str("summary", &warning.summary)?;
            w.str("location", &warning.location)?;
        }
        WorkerMessage::CollectError(report) => {
            header.outcome = collect_outcome(report.outcome.code())?.code();
            w.str("node_id", &report.node_id)?;
            w.str("longrepr", &report.longrepr)?;
            w.str("skip_location", &report.skip_location)?;
            w.str("crash_message", &report.crash_message)?;
        }
        WorkerMessage::Done(done) => {
            let c = &done.counts;
            for count in [
                c.passed,
                c.failed,
                c.skipped,
                c.xfailed,
                c.xpassed,
                c.error,
                c.collect_errors,
            ] {
                w.u32(count);
            }
            w.u8(done.stop.code());
            w.i32(done.exit_code);
            w.str("message", &done.message)?;
        }
        WorkerMessage::Fatal(fatal) => {
            w.str("message", &fatal.message)?;
            w.str("traceback", &fatal.traceback)?;
        }
        WorkerMessage::Deselected(deselected) => {
            w.str_list("node_ids", &deselected.node_ids)?;
        }
        WorkerMessage::Executed(executed) => {
            header.test_index = executed.test_index;
            w.str("node_id", &executed.node_id)?;
            w.u8(if executed.coarse { RECORD_COARSE } else { 0 });
            w.executed_files("Executed", &executed.files)?;
            w.str_list("imported", &executed.imported)?;
        }
        WorkerMessage::Ambient(ambient) => {
            w.u8(if ambient.coarse { RECORD_COARSE } else { 0 });
            w.str_list("instrumented", &ambient.instrumented)?;
            w.executed_files("Ambient", &ambient.files)?;
        }
    }
    let (payload, payload_len) = w.into_payload("result payload")?;
    header.payload_len = payload_len;
    let mut out = Vec::with_capacity(RESULT_HEADER_LEN + payload.len());
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}
