//! The wire protocol between the runner and its Python worker processes.
//!
//! Layout:
//! - this file: the typed messages and the byte-level specification below;
//! - `header`: the two fixed headers and their validation;
//! - `payload`: the payload primitives (fixed little-endian ints, length-prefixed strings
//!   and lists) and the per-message payload layouts;
//! - `stream`: blocking frame readers/writers over `Read`/`Write` (pipes).
//!
//! The Python side (`worker/dxpy_worker/protocol.py`) implements the same layout with the
//! standard library's `struct`; `worker/PROTOCOL.md` repeats this specification.
//!
//! # Frames
//!
//! Every message is one frame: a fixed header followed by `payload_len` payload bytes.
//! Requests (runner → worker, on the worker's stdin) use a 32-byte header; results
//! (worker → runner, on the worker's protocol fd) use a 40-byte header. All integers are
//! little-endian. Reserved bytes must be zero and unknown flag bits must be clear: the
//! decoder rejects anything else, so every accepted frame re-encodes to the same bytes.
//!
//! Request header (32 bytes):
//!
//! | offset | size | field                                                    |
//! |-------:|-----:|----------------------------------------------------------|
//! | 0      | 4    | magic `b"DXRQ"`                                          |
//! | 4      | 2    | protocol version (u16, currently 7)                      |
//! | 6      | 1    | message type (u8, [`RequestKind`])                       |
//! | 7      | 1    | flags (u8; bit 0 `KEEP_SESSION` on RunItems/RunModule/   |
//! |        |      | RunHookItems; bits 1 `RECORD` and 2 `PARK` on Hello)     |
//! | 8      | 8    | request id (u64, echoed by every result it causes)       |
//! | 16     | 4    | test index base (u32; index of the batch's first item)   |
//! | 20     | 4    | payload length (u32)                                     |
//! | 24     | 8    | reserved, zero                                           |
//!
//! Result header (40 bytes):
//!
//! | offset | size | field                                                       |
//! |-------:|-----:|-------------------------------------------------------------|
//! | 0      | 4    | magic `b"DXRS"`                                             |
//! | 4      | 2    | protocol version (u16, currently 7)                         |
//! | 6      | 1    | message type (u8, [`ResultKind`])                           |
//! | 7      | 1    | flags (u8; ItemResult only: bit 0 `ITEM_FINISHED`,          |
//! |        |      | bit 1 `OUTPUT_TRUNCATED`, bit 2 `NOT_IN_SUMMARY`)           |
//! | 8      | 8    | request id (u64)                                            |
//! | 16     | 4    | test index (u32; `0xFFFF_FFFF` when not about one item)     |
//! | 20     | 4    | payload length (u32)                                        |
//! | 24     | 8    | duration in nanoseconds (u64; ItemResult only, else 0)      |
//! | 32     | 1    | outcome (u8, [`Outcome`]; ItemResult/CollectError, else 0) |
//! | 33     | 1    | phase (u8, [`Phase`]; ItemResult only, else 0)              |
//! | 34     | 6    | reserved, zero                                              |
//!
//! A payload longer than the reader's configured limit is refused before anything is
//! allocated ([`ProtocolError::FrameTooLarge`]).
//!
//! # Payload primitives
//!
//! - `u8`, `u32`, `i32`, `u64`: fixed width, little-endian;
//! - `bool`: one byte, 0 or 1;
//! - `str`: `u32` byte length, then that many bytes of UTF-8;
//! - `list<T>`: `u32` element count, then the elements;
//! - `opt_u32`: one tag byte (0 absent, 1 present), then a `u32` when present.
//!
//! The payload must be consumed exactly: trailing bytes are an error.
//!
//! # Requests (runner → worker)
//!
//! | type | name          | payload                                                              |
//! |-----:|---------------|----------------------------------------------------------------------|
//! | 1    | Hello         | `str rootdir, list<str> sys_path, u8 engine, list<str> pytest_args,` |
//! |      |               | `u32 output_limit, u32 terminal_width`                               |
//! | 2    | RunItems      | `list<str> node_ids`                                                 |
//! | 3    | RunModule     | `str path` (run everything collected from that file)                 |
//! | 4    | Shutdown      | empty                                                                |
//! | 5    | Preload       | `list<str> modules` (import now; answered by Log per failure + Done) |
//! | 6    | RunHookItems  | `list<str> paths, list<str> skip_dirs, list<str> skip_items`         |
//! | 7    | ImportModules | `list<str> paths` (test modules to import as pytest collects them;   |
//! |      |               | answered by CollectErrors, then Done)                                |
//! | 8    | Resume        | empty (go on after Hello's `PARK`; answered by Ready)                |
//!
//! ImportModules (new in protocol version 5) makes a worker's module-level state what it is
//! under pytest, which imports every collected test module before it runs any test: the
//! runner sends it once per worker, after Ready and before the first batch, with every
//! selected test module (rootdir-relative) in collection order. The worker imports each
//! through pytest's own collection (conftests, `rootdir`/`sys.path` handling, import mode,
//! assertion rewriting) without building items. Since version 6 the collection problems
//! met (a module that failed or skipped itself, a failed conftest) are sent as CollectError
//! frames before Done, so the runner can interrupt the run before any test as pytest does;
//! when it does not, it drops them and the batch that runs such a module reports the same
//! failure again. Warnings raised while importing a module are held and sent with the first
//! batch of this worker that runs that module. Flags and test index base are zero.
//!
//! Hello's `PARK` flag and Resume (new in protocol version 7) split a worker's start in two
//! for spare workers: with `PARK` the worker starts pytest (configuration, ini files,
//! `-p` and entry-point plugins) and stops just before the initial conftests load, sending
//! nothing; Resume lets it go on, and Ready follows with Hello's request id. A worker whose
//! start imported code from outside the interpreter's own directories (first-party code,
//! e.g. an editable install's plugin) before that point cannot park: it exits instead, and
//! the runner starts another worker. Resume after Ready is ignored.
//!
//! RunHookItems (new in protocol version 2, with the Deselected result and ItemResult's
//! `category`; each side refuses frames of another version) runs the items conftest
//! `pytest_collect_file` hooks make: the worker collects `paths` (rootdir-relative
//! directories or files) through pytest, leaving out Python test modules matching
//! `python_files` (the runner schedules those by node ID), directories in `skip_dirs`
//! (collected by other batches) and items in `skip_items` (already run, when a batch is
//! requeued after a crash). A path that yields nothing is not an error. Items pytest's own
//! `-k`/`-m`/`--deselect` drop are announced with one Deselected result.
//!
//! # Results (worker → runner)
//!
//! | type | name         | payload                                                              |
//! |-----:|--------------|----------------------------------------------------------------------|
//! | 1    | Ready        | `u32 pid, u8 engine, str python_version, str pytest_version`         |
//! | 2    | ItemResult   | `str node_id, str longrepr, str stdout, str stderr,`                 |
//! |      |              | `list<(str title, str content)> sections, str skip_reason,`          |
//! |      |              | `str location_path, opt_u32 location_line, str location_domain,`     |
//! |      |              | `str category, str letter, str word, str head_line, str crash_line,` |
//! |      |              | `str crash_message, str skip_location`                               |
//! | 3    | Log          | `u8 level, str message`                                              |
//! | 4    | Warning      | `u8 when, str category, str message, str filename, u32 lineno,`      |
//! |      |              | `str node_id`                                                        |
//! | 5    | CollectError | `str node_id, str longrepr, str skip_location, str crash_message`    |
//! |      |              | (header outcome: error or skipped)                                   |
//! | 6    | Done         | `u32 × 7 counts (passed, failed, skipped, xfailed, xpassed, error,` |
//! |      |              | `collect_errors), u8 stop, i32 exit_code, str message`               |
//! | 7    | Fatal        | `str message, str traceback`                                         |
//! | 8    | Deselected   | `list<str> node_ids` (RunHookItems only: items pytest deselected)    |
//! | 9    | Executed     | `str node_id, u8 flags (bit 0 COARSE), list<str> paths,`             |
//! |      |              | `list<list<u32>> def_lines, list<str> imported` (header: test index) |
//! | 10   | Ambient      | `u8 flags (bit 0 COARSE), list<str> instrumented, list<str> paths,`  |
//! |      |              | `list<list<u32>> def_lines`                                          |
//!
//! Executed and Ambient (new in protocol version 5) come only when Hello sets `RECORD`: the
//! worker then instruments first-party modules and reports, per item, the `def` lines of the
//! outermost functions it executed (`def_lines[i]`: strictly increasing 1-based lines in
//! `paths[i]`, rootdir-relative with `/`), the first-party files first imported while it ran
//! and `COARSE` when code ran outside what instrumentation sees (a subprocess, fork or exec).
//! Executed precedes its item's `ITEM_FINISHED` ItemResult. Ambient precedes each batch's
//! Done with what is new since the worker's previous Ambient: files loaded instrumented, and
//! functions run outside any item (import time, collection, setup of fixtures wider than a
//! function).
//!
//! One ItemResult is sent per pytest report (setup, call, teardown), except a passed setup,
//! which carries nothing (in a RunHookItems batch it is sent, `NOT_IN_SUMMARY`: the runner
//! does not know those items in advance, so it names the running one). The teardown report always comes last and carries
//! `ITEM_FINISHED`, so the runner knows which item was running if the worker dies.
//! `NOT_IN_SUMMARY` marks reports pytest's terminal does not count (a passed teardown).

mod header;
mod payload;
mod stream;
#[cfg(test)]
mod tests;

pub use header::{
    RequestHeader, ResultHeader, NO_TEST_INDEX, PROTOCOL_VERSION, REQUEST_HEADER_LEN,
    REQUEST_MAGIC, RESULT_HEADER_LEN, RESULT_MAGIC,
};
pub use payload::{
    decode_request, decode_result, encode_request, encode_result, DEFAULT_MAX_PAYLOAD,
};
pub use stream::{FrameReader, FrameWriter};

use std::time::Duration;

/// Why a frame could not be encoded, decoded or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("bad magic b\"{}\": expected b\"{}\"", .found.escape_ascii(), .expected.escape_ascii())]
    BadMagic { expected: [u8; 4], found: [u8; 4] },
    #[error("unsupported protocol version {found} (this side speaks {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("unknown {direction} message type {code}")]
    UnknownMessageType { direction: Direction, code: u8 },
    #[error("{message} frame has unknown flag bits {flags:#04x}")]
    UnknownFlags { message: &'static str, flags: u8 },
    #[error("{message} frame has non-zero header field `{field}`")]
    UnexpectedHeaderField {
        message: &'static str,
        field: &'static str,
    },
    #[error("payload of {payload_len} bytes exceeds the frame limit of {limit} bytes")]
    FrameTooLarge { payload_len: u64, limit: u32 },
    #[error("truncated frame: {context} needs {needed} bytes, only {available} available")]
    Truncated {
        context: &'static str,
        needed: u64,
        available: u64,
    },
    #[error("`{field}` declares {declared} bytes/elements but only {remaining} bytes remain")]
    LengthPastEnd {
        field: &'static str,
        declared: u64,
        remaining: u64,
    },
    #[error("`{field}` is not valid UTF-8 (valid up to byte {valid_up_to})")]
    InvalidUtf8 {
        field: &'static str,
        valid_up_to: usize,
    },
    #[error("`{field}` has invalid value {value}")]
    InvalidEnum { field: &'static str, value: u8 },
    #[error("{count} unexpected bytes after the end of the {message} payload")]
    TrailingBytes { message: &'static str, count: u64 },
    #[error("stream ended in the middle of a frame ({read} of {needed} bytes of the {context})")]
    UnexpectedEof {
        context: &'static str,
        read: u64,
        needed: u64,
    },
    #[error("{message} frame: {reason}")]
    InvalidRecord {
        message: &'static str,
        reason: &'static str,
    },
    #[error("`{field}` is too long to encode ({len} bytes/elements)")]
    FieldTooLong { field: &'static str, len: u64 },
    #[error("I/O error ({kind:?}): {message}")]
    Io {
        kind: std::io::ErrorKind,
        message: String,
    },
}

impl From<std::io::Error> for ProtocolError {
    fn from(err: std::io::Error) -> Self {
        ProtocolError::Io {
            kind: err.kind(),
            message: err.to_string(),
        }
    }
}

/// Which way a frame travels; named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Result,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Request => "request",
            Direction::Result => "result",
        })
    }
}

/// Request message type codes (header byte 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RequestKind {
    Hello = 1,
    RunItems = 2,
    RunModule = 3,
    Shutdown = 4,
    Preload = 5,
    RunHookItems = 6,
    ImportModules = 7,
    Resume = 8,
}

/// Result message type codes (header byte 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ResultKind {
    Ready = 1,
    ItemResult = 2,
    Log = 3,
    Warning = 4,
    CollectError = 5,
    Done = 6,
    Fatal = 7,
    Deselected = 8,
    Executed = 9,
    Ambient = 10,
}

/// Which engine runs the tests. On the wire: 0 auto, 1 pytest, 2 native.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Engine {
    /// pytest when importable, else native (only valid in Hello).
    Auto = 0,
    /// One in-process pytest session.
    Pytest = 1,
    /// dx-py's own runner for plain functions, `Test*` classes and unittest.
    Native = 2,
}

/// A report's outcome, as pytest's terminal summary names it. On the wire 1..=6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Outcome {
    Passed = 1,
    Failed = 2,
    Skipped = 3,
    XFailed = 4,
    XPassed = 5,
    Error = 6,
}

/// Which phase of the test protocol produced a report. On the wire 1..=3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Phase {
    Setup = 1,
    Call = 2,
    Teardown = 3,
}

/// Severity of a worker log line. On the wire 0..=3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LogLevel {
    Debug = 0,
    Info = 1,
    Warning = 2,
    Error = 3,
}

/// When a warning was recorded (pytest's `pytest_warning_recorded` `when`). On the wire 1..=3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WarningWhen {
    Config = 1,
    Collect = 2,
    Runtest = 3,
}

/// Why a batch ended. On the wire 0..=3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StopKind {
    /// Every requested item ran.
    Completed = 0,
    /// A test raised `KeyboardInterrupt`: pytest aborts the session (exit code 2).
    Interrupted = 1,
    /// `-x`/`--maxfail` (or a plugin) asked the session to stop.
    ShouldStop = 2,
    /// A test called `pytest.exit()`; `exit_code` carries its return code.
    Exit = 3,
}

/// One runner → worker frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFrame {
    pub request_id: u64,
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Hello(Hello),
    RunItems(RunItems),
    RunModule(RunModule),
    Shutdown,
    Preload(Preload),
    RunHookItems(RunHookItems),
    ImportModules(ImportModules),
    /// Go on from where Hello's `PARK` stopped: load the conftests, start the session and
    /// answer Ready (with Hello's request id).
    Resume,
}

/// Worker configuration; must be the first request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// pytest's rootdir; the worker chdirs there and node IDs are relative to it.
    pub rootdir: String,
    /// Prepended to `sys.path`, in order.
    pub sys_path: Vec<String>,
    pub engine: Engine,
    /// Extra pytest arguments (e.g. `-p no:cacheprovider`, `-o ...`); the suite's own
    /// ini/addopts are read by pytest itself.
    pub pytest_args: Vec<String>,
    /// Cap in bytes for each captured stream and each text field (0: the worker's default,
    /// 1 MiB). Frames stay below roughly `(4 + sections) × output_limit`, so the reader's
    /// payload limit must be larger than that.
    pub output_limit: u32,
    /// Columns the worker's pytest renders reports for (tracebacks' separators), the runner's
    /// terminal width; 0: pytest's own choice. Not exported as `COLUMNS`: tests that read
    /// the terminal size must see what they see under pytest.
    pub terminal_width: u32,
    /// Header flag `RECORD`: report what each test executes ([`Executed`], [`Ambient`]).
    pub record_execution: bool,
    /// Header flag `PARK`: start pytest up to, not including, loading the conftests (the
    /// first project code a session imports), then wait for [`Request::Resume`]. A spare
    /// made so stays valid while only project code changes (see `pool::spare`).
    pub park: bool,
}

/// Run these node IDs, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunItems {
    /// Test index of `node_ids[0]`; results carry `first_index + position`.
    pub first_index: u32,
    /// Keep session-scoped fixtures alive after the batch (more batches follow). The
    /// native engine has no session fixtures and ignores it.
    pub keep_session: bool,
    pub node_ids: Vec<String>,
}

/// Run everything collected from one module (path relative to rootdir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunModule {
    pub first_index: u32,
    pub keep_session: bool,
    pub path: String,
}

/// Run the items `pytest_collect_file` hooks make under `paths` (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHookItems {
    pub first_index: u32,
    pub keep_session: bool,
    /// Rootdir-relative directories (or files) to collect; `""` is the rootdir.
    pub paths: Vec<String>,
    /// Rootdir-relative directories below `paths` that other batches collect.
    pub skip_dirs: Vec<String>,
    /// Node IDs of items not to run again (reported before a crash).
    pub skip_items: Vec<String>,
}

/// Import these modules now (after Ready, before the first batch), so every batch of this
/// worker finds them in `sys.modules`. Answered by one `Log` (level warning) per module that
/// failed to import, then Done with zero counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preload {
    pub modules: Vec<String>,
}

/// Import these test modules (rootdir-relative paths, in collection order) as pytest's
/// collection does, before the first batch (see the module docs). Answered by Done with zero
/// counts; import errors and warnings are left to the batches that run the modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportModules {
    pub paths: Vec<String>,
}

/// One worker → runner frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFrame {
    pub request_id: u64,
    pub message: WorkerMessage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerMessage {
    Ready(Ready),
    /// Boxed: by far the largest message, and the others should not pay for it.
    ItemResult(Box<ItemResult>),
    Log(LogRecord),
    Warning(WarningRecord),
    CollectError(CollectErrorReport),
    Done(Done),
    Fatal(Fatal),
    Deselected(Deselected),
    Executed(Executed),
    Ambient(Ambient),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    pub pid: u32,
    /// The engine actually in use (never `Auto`).
    pub engine: Engine,
    pub python_version: String,
    /// Empty when pytest is not in use.
    pub pytest_version: String,
}

/// pytest's `item.location`: path relative to rootdir, 0-based line, dotted domain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub path: String,
    pub line: Option<u32>,
    pub domain: String,
}

/// A report section such as `("Captured log call", "...")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub title: String,
    pub content: String,
}

/// One report of one test phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    pub test_index: u32,
    pub node_id: String,
    pub outcome: Outcome,
    pub phase: Phase,
    pub duration: Duration,
    /// Last report of this item (its teardown).
    pub item_finished: bool,
    /// Some captured text was cut at the output limit.
    pub output_truncated: bool,
    /// pytest's terminal counts this report in its summary line.
    pub in_summary: bool,
    pub longrepr: String,
    pub stdout: String,
    pub stderr: String,
    /// Other captured sections (logging, ...), excluding stdout/stderr.
    pub sections: Vec<Section>,
    pub skip_reason: String,
    pub location: Location,
    /// pytest's category for a report its stats line counts outside the known types
    /// (`subtests passed`, a plugin's `rerun`): counted after them, in first-seen order.
    /// Empty for every other report.
    pub category: String,
    /// How pytest's terminal shows the report (`pytest_report_teststatus`): the progress
    /// letter and verbose word (`u` / `SUBFAILED(i=2)`, a plugin's `R` / `RERUN`). Both empty
    /// (reports the pool makes for a crash or timeout): the outcome's own.
    pub letter: String,
    pub word: String,
    /// pytest's `head_line` when it is not the location's domain (a subtest's
    /// `T.test_a (i=2)`): the title of the report's FAILURES section.
    pub head_line: String,
    /// With `--tb=line`, the line pytest prints after a failure's text (its `reprcrash`:
    /// `path:lineno: message`); empty otherwise.
    pub crash_line: String,
    /// What pytest's short summary puts after `FAILED nodeid - `: the crash's whole message
    /// (`reprcrash.message`, or a text longrepr); empty when it has none.
    pub crash_message: String,
    /// pytest's terminal wrote this report's progress while the test's output was captured
    /// (a unittest subtest), so none of it showed.
    pub progress_hidden: bool,
    /// Where a skip happened, as pytest's folded `-rs` summary names it (`SKIPPED [2]
    /// path:line: reason`): the skip's path relative to the invocation directory and, unless
    /// pytest folds the skip by file (a `skip` mark outside `pytestmark`), `:line`. Empty for
    /// anything but a skip.
    pub skip_location: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningRecord {
    pub when: WarningWhen,
    pub category: String,
    pub message: String,
    pub filename: String,
    pub lineno: u32,
    pub node_id: String,
    /// The warning as pytest's warnings summary prints it (`warning_record_to_str`: file,
    /// line, category, message and the source line).
    pub summary: String,
    /// Where the summary says it came from when there is no `node_id`: `path:lineno`
    /// relative to the invocation directory (pytest's `WarningReport.get_location`).
    pub location: String,
}

/// A collector that failed (outcome `Error`) or skipped itself (outcome `Skipped`), or a
/// requested node ID that matched nothing (outcome `Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectErrorReport {
    pub node_id: String,
    pub outcome: Outcome,
    pub longrepr: String,
    /// A skipped collector: where it skipped (`path:line`, as in [`ItemResult::skip_location`]).
    pub skip_location: String,
    /// What pytest's short summary shows after the node ID (its crash message); empty when
    /// it shows nothing (an ImportError's report is text, with no crash).
    pub crash_message: String,
}

/// Per-outcome counts of the reports a batch produced, as pytest's summary line counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub xfailed: u32,
    pub xpassed: u32,
    pub error: u32,
    pub collect_errors: u32,
}

/// The end of one RunItems/RunModule/RunHookItems batch (or the answer to Shutdown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub counts: Counts,
    pub stop: StopKind,
    pub exit_code: i32,
    pub message: String,
}

/// Items of a RunHookItems batch that pytest's `-k`/`-m`/`--deselect` left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deselected {
    pub node_ids: Vec<String>,
}

/// The outermost functions executed in one first-party file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutedFile {
    /// Relative to the rootdir, with `/`.
    pub path: String,
    /// The 1-based `def` lines (not decorator lines) of the outermost functions that ran,
    /// strictly increasing: a nested function counts as the outermost function holding it.
    pub def_lines: Vec<u32>,
}

/// What one item executed (Hello's `RECORD`); sent before its `ITEM_FINISHED` ItemResult.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    pub test_index: u32,
    pub node_id: String,
    /// Code ran where instrumentation cannot see (a subprocess, fork or exec): the record
    /// is incomplete.
    pub coarse: bool,
    /// Instrumented files whose functions ran, sorted by path.
    pub files: Vec<ExecutedFile>,
    /// First-party files first imported while the item ran (instrumented or not).
    pub imported: Vec<String>,
}

/// What ran outside any item since the worker's last Ambient (import time, collection,
/// setup of fixtures wider than a function); sent before each batch's Done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambient {
    pub coarse: bool,
    /// Files loaded instrumented since the last Ambient; any other first-party file a test
    /// depends on is a whole-file input.
    pub instrumented: Vec<String>,
    pub files: Vec<ExecutedFile>,
}

/// The worker cannot continue; it exits after sending this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    pub message: String,
    pub traceback: String,
}

macro_rules! wire_enum {
    ($ty:ident, $field:literal, [$($variant:ident),+ $(,)?]) => {
        impl $ty {
            /// The wire code.
            pub fn code(self) -> u8 {
                self as u8
            }

            /// Parses a wire code; `field` names the field in the error.
            pub fn from_code(value: u8) -> Result<Self, ProtocolError> {
                $(if value == $ty::$variant as u8 {
                    return Ok($ty::$variant);
                })+
                Err(ProtocolError::InvalidEnum { field: $field, value })
            }
        }
    };
}

wire_enum!(Engine, "engine", [Auto, Pytest, Native]);
wire_enum!(
    Outcome,
    "outcome",
    [Passed, Failed, Skipped, XFailed, XPassed, Error]
);
wire_enum!(Phase, "phase", [Setup, Call, Teardown]);
wire_enum!(LogLevel, "log level", [Debug, Info, Warning, Error]);
wire_enum!(WarningWhen, "warning when", [Config, Collect, Runtest]);
wire_enum!(
    StopKind,
    "stop kind",
    [Completed, Interrupted, ShouldStop, Exit]
);

impl RequestKind {
    pub fn from_code(code: u8) -> Result<Self, ProtocolError> {
        Ok(match code {
            1 => RequestKind::Hello,
            2 => RequestKind::RunItems,
            3 => RequestKind::RunModule,
            4 => RequestKind::Shutdown,
            5 => RequestKind::Preload,
            6 => RequestKind::RunHookItems,
            7 => RequestKind::ImportModules,
            8 => RequestKind::Resume,
            _ => {
                return Err(ProtocolError::UnknownMessageType {
                    direction: Direction::Request,
                    code,
                })
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Hello => "Hello",
            RequestKind::RunItems => "RunItems",
            RequestKind::RunModule => "RunModule",
            RequestKind::Shutdown => "Shutdown",
            RequestKind::Preload => "Preload",
            RequestKind::RunHookItems => "RunHookItems",
            RequestKind::ImportModules => "ImportModules",
            RequestKind::Resume => "Resume",
        }
    }
}

impl ResultKind {
    pub fn from_code(code: u8) -> Result<Self, ProtocolError> {
        Ok(match code {
            1 => ResultKind::Ready,
            2 => ResultKind::ItemResult,
            3 => ResultKind::Log,
            4 => ResultKind::Warning,
            5 => ResultKind::CollectError,
            6 => ResultKind::Done,
            7 => ResultKind::Fatal,
            8 => ResultKind::Deselected,
            9 => ResultKind::Executed,
            10 => ResultKind::Ambient,
            _ => {
                return Err(ProtocolError::UnknownMessageType {
                    direction: Direction::Result,
                    code,
                })
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ResultKind::Ready => "Ready",
            ResultKind::ItemResult => "ItemResult",
            ResultKind::Log => "Log",
            ResultKind::Warning => "Warning",
            ResultKind::CollectError => "CollectError",
            ResultKind::Done => "Done",
            ResultKind::Fatal => "Fatal",
            ResultKind::Deselected => "Deselected",
            ResultKind::Executed => "Executed",
            ResultKind::Ambient => "Ambient",
        }
    }
}

impl Request {
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::Hello(_) => RequestKind::Hello,
            Request::RunItems(_) => RequestKind::RunItems,
            Request::RunModule(_) => RequestKind::RunModule,
            Request::Shutdown => RequestKind::Shutdown,
            Request::Preload(_) => RequestKind::Preload,
            Request::RunHookItems(_) => RequestKind::RunHookItems,
            Request::ImportModules(_) => RequestKind::ImportModules,
            Request::Resume => RequestKind::Resume,
        }
    }
}

impl WorkerMessage {
    pub fn kind(&self) -> ResultKind {
        match self {
            WorkerMessage::Ready(_) => ResultKind::Ready,
            WorkerMessage::ItemResult(_) => ResultKind::ItemResult,
            WorkerMessage::Log(_) => ResultKind::Log,
            WorkerMessage::Warning(_) => ResultKind::Warning,
            WorkerMessage::CollectError(_) => ResultKind::CollectError,
            WorkerMessage::Done(_) => ResultKind::Done,
            WorkerMessage::Fatal(_) => ResultKind::Fatal,
            WorkerMessage::Deselected(_) => ResultKind::Deselected,
            WorkerMessage::Executed(_) => ResultKind::Executed,
            WorkerMessage::Ambient(_) => ResultKind::Ambient,
        }
    }
}
