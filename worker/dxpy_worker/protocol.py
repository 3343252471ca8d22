"""The runner <-> worker wire protocol (see worker/PROTOCOL.md and runner/src/protocol.rs).

Layout: constants and enums, the payload primitives (``_Reader``/``_Writer``), message
dataclasses, then ``encode_*``/``decode_*`` for both directions (the worker decodes requests
and encodes results; the other two exist for tests and tools). Every malformed input raises
``ProtocolError``.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import struct
from typing import TypeVar, Union

_E = TypeVar("_E", bound=enum.IntEnum)

REQUEST_MAGIC = b"DXRQ"
RESULT_MAGIC = b"DXRS"
PROTOCOL_VERSION = 7
REQUEST_HEADER = struct.Struct("<4sHBBQII8x")  # 32 bytes
RESULT_HEADER = struct.Struct("<4sHBBQIIQBB6x")  # 40 bytes
NO_TEST_INDEX = 0xFFFFFFFF
DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024

FLAG_KEEP_SESSION = 0b001
FLAG_RECORD = 0b010  # Hello: record what each test executes
FLAG_PARK = 0b100  # Hello: stop before loading conftests until Resume
FLAG_ITEM_FINISHED = 0b001
FLAG_OUTPUT_TRUNCATED = 0b010
FLAG_NOT_IN_SUMMARY = 0b100
FLAG_PROGRESS_HIDDEN = 0b1000
# Executed/Ambient payload flags.
RECORD_COARSE = 0b001

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")


class ProtocolError(Exception):
    """A frame that violates the protocol."""


class RequestKind(enum.IntEnum):
    HELLO = 1
    RUN_ITEMS = 2
    RUN_MODULE = 3
    SHUTDOWN = 4
    PRELOAD = 5
    RUN_HOOK_ITEMS = 6
    IMPORT_MODULES = 7
    RESUME = 8


class ResultKind(enum.IntEnum):
    READY = 1
    ITEM_RESULT = 2
    LOG = 3
    WARNING = 4
    COLLECT_ERROR = 5
    DONE = 6
    FATAL = 7
    DESELECTED = 8
    EXECUTED = 9
    AMBIENT = 10


class Engine(enum.IntEnum):
    AUTO = 0
    PYTEST = 1
    NATIVE = 2


class Outcome(enum.IntEnum):
    PASSED = 1
    FAILED = 2
    SKIPPED = 3
    XFAILED = 4
    XPASSED = 5
    ERROR = 6


class Phase(enum.IntEnum):
    SETUP = 1
    CALL = 2
    TEARDOWN = 3


class LogLevel(enum.IntEnum):
    DEBUG = 0
    INFO = 1
    WARNING = 2
    ERROR = 3


class WarningWhen(enum.IntEnum):
    CONFIG = 1
    COLLECT = 2
    RUNTEST = 3


class StopKind(enum.IntEnum):
    COMPLETED = 0
    INTERRUPTED = 1
    SHOULD_STOP = 2
    EXIT = 3


def _enum(cls: type[_E], value: int, field: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        raise ProtocolError(f"`{field}` has invalid value {value}") from None


# --- messages -------------------------------------------------------------------------

@dataclasses.dataclass
class Hello:
    rootdir: str
    sys_path: list[str]
    engine: Engine
    pytest_args: list[str]
    output_limit: int
    # Columns pytest renders reports for (the runner's terminal); 0: pytest's own choice.
    terminal_width: int = 0
    # Header flag RECORD: report what each test executes (Executed, Ambient).
    record: bool = False
    # Header flag PARK: start pytest, then wait for Resume just before the conftests load.
    park: bool = False


@dataclasses.dataclass
class RunItems:
    first_index: int
    keep_session: bool
    node_ids: list[str]


@dataclasses.dataclass
class RunModule:
    first_index: int
    keep_session: bool
    path: str


@dataclasses.dataclass
class RunHookItems:
    """Run what pytest (and conftest ``pytest_collect_file`` hooks) collects under ``paths``,
    except Python test modules (scheduled by node ID), ``skip_dirs`` and ``skip_items``."""
    first_index: int
    keep_session: bool
    paths: list[str]
    skip_dirs: list[str] = dataclasses.field(default_factory=list)
    skip_items: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Shutdown:
    pass


@dataclasses.dataclass
class Preload:
    modules: list[str]


@dataclasses.dataclass
class Resume:
    """Go on from where Hello's PARK stopped: load the conftests and start the session
    (answered by Ready)."""


@dataclasses.dataclass
class ImportModules:
    """Import these test modules (rootdir-relative, in collection order) as pytest's
    collection does, before the first batch; answered by Done only."""
    paths: list[str]


@dataclasses.dataclass
class RequestFrame:
    request_id: int
    request: Request


@dataclasses.dataclass
class Ready:
    pid: int
    engine: Engine
    python_version: str
    pytest_version: str


@dataclasses.dataclass
class ItemResult:
    test_index: int
    node_id: str
    outcome: Outcome
    phase: Phase
    duration_ns: int = 0
    item_finished: bool = False
    output_truncated: bool = False
    in_summary: bool = True
    longrepr: str = ""
    stdout: str = ""
    stderr: str = ""
    sections: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # [(title, content)]
    skip_reason: str = ""
    location_path: str = ""
    location_line: int | None = None
    location_domain: str = ""
    # pytest's category for a report its stats line counts outside the known types
    # ("subtests passed", a plugin's "rerun"); "" for every other report.
    category: str = ""
    # pytest_report_teststatus's progress letter and verbose word ("u", "SUBFAILED(i=2)", a
    # plugin's "R"/"RERUN"); both "" leaves the outcome's own to the runner.
    letter: str = ""
    word: str = ""
    # pytest's head_line when it is not the location's domain (a subtest's "T.test_a (i=2)").
    head_line: str = ""
    # With --tb=line, what pytest prints after a failure's text: its crash line.
    crash_line: str = ""
    # The message of a failure's short-summary line (reprcrash.message, or a text longrepr).
    crash_message: str = ""
    # pytest's terminal wrote this report's progress while the test's output was captured
    # (unittest subtests), so nothing of it showed.
    progress_hidden: bool = False
    # A skip's place as pytest's folded -rs summary shows it: "path:line" relative to the
    # invocation directory, or "path" when pytest folds it by file; "" for other outcomes.
    skip_location: str = ""


@dataclasses.dataclass
class Log:
    level: LogLevel
    message: str


@dataclasses.dataclass
class Warning_:
    when: WarningWhen
    category: str
    message: str
    filename: str
    lineno: int
    node_id: str
    # The warning as pytest's warnings summary prints it (file, line, category, message,
    # source line), and where it says it came from when there is no node ID.
    summary: str = ""
    location: str = ""


@dataclasses.dataclass
class CollectError:
    node_id: str
    outcome: Outcome  # ERROR or SKIPPED
    longrepr: str
    skip_location: str = ""  # a skipped collector: "path:line" (see ItemResult)
    # The short-summary message (reprcrash.message); empty when pytest shows none (an
    # ImportError's report is text, with no crash).
    crash_message: str = ""


@dataclasses.dataclass
class Done:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    error: int = 0
    collect_errors: int = 0
    stop: StopKind = StopKind.COMPLETED
    exit_code: int = 0
    message: str = ""


@dataclasses.dataclass
class Fatal:
    message: str
    traceback: str


@dataclasses.dataclass
class Deselected:
    """Items of a RunHookItems batch that pytest's ``-k``/``-m``/``--deselect`` left out."""
    node_ids: list[str]


@dataclasses.dataclass
class Executed:
    """What one item executed (sent before its ITEM_FINISHED ItemResult, when recording):
    ``def_lines[i]`` are the sorted 1-based ``def`` lines of the outermost functions run in
    ``paths[i]`` (rootdir-relative, ``/``); ``imported``: first-party files first loaded
    during the item; ``coarse``: code ran where instrumentation cannot see (a subprocess)."""
    test_index: int
    node_id: str
    coarse: bool = False
    paths: list[str] = dataclasses.field(default_factory=list)
    def_lines: list[list[int]] = dataclasses.field(default_factory=list)
    imported: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Ambient:
    """What ran outside any item since the worker's last Ambient (import time, collection,
    setup of fixtures wider than a function); sent before each batch's Done."""
    coarse: bool = False
    instrumented: list[str] = dataclasses.field(default_factory=list)
    paths: list[str] = dataclasses.field(default_factory=list)
    def_lines: list[list[int]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ResultFrame:
    request_id: int
    message: ResultMessage


# (typing.Union: these aliases are evaluated at run time, on Python 3.9 too.)
Request = Union[Hello, RunItems, RunModule, RunHookItems, Shutdown, Preload, ImportModules, Resume]
ResultMessage = Union[Ready, ItemResult, Log, Warning_, CollectError, Done, Fatal, Deselected,
                      Executed, Ambient]
# (kind, flags, request_id, test_index, payload_len) of a request header.
RequestHeader = tuple[RequestKind, int, int, int, int]

_RESULT_KIND: dict[type, ResultKind] = {
    Ready: ResultKind.READY,
    ItemResult: ResultKind.ITEM_RESULT,
    Log: ResultKind.LOG,
    Warning_: ResultKind.WARNING,
    CollectError: ResultKind.COLLECT_ERROR,
    Done: ResultKind.DONE,
    Fatal: ResultKind.FATAL,
    Deselected: ResultKind.DESELECTED,
    Executed: ResultKind.EXECUTED,
    Ambient: ResultKind.AMBIENT,
}
_DONE_COUNTS = ("passed", "failed", "skipped", "xfailed", "xpassed", "error", "collect_errors")


# --- primitives -----------------------------------------------------------------------

class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, field: str) -> memoryview:
        if n > self.remaining():
            raise ProtocolError(
                f"truncated frame: {field} needs {n} bytes, only {self.remaining()} available"
            )
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u32(self, field: str) -> int:
        value: int = _U32.unpack(self.take(4, field))[0]
        return value

    def i32(self, field: str) -> int:
        value: int = _I32.unpack(self.take(4, field))[0]
        return value

    def flag(self, field: str) -> bool:
        value = self.u8(field)
        if value > 1:
            raise ProtocolError(f"`{field}` has invalid value {value}")
        return value == 1

    def length(self, field: str, min_size: int) -> int:
        declared = self.u32(field)
        if declared * min_size > self.remaining():
            raise ProtocolError(
                f"`{field}` declares {declared} bytes/elements but only "
                f"{self.remaining()} bytes remain"
            )
        return declared

    def text(self, field: str) -> str:
        raw = self.take(self.length(field, 1), field)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as err:
            raise ProtocolError(f"`{field}` is not valid UTF-8 (valid up to byte {err.start})") from None

    def str_list(self, field: str) -> list[str]:
        return [self.text(field) for _ in range(self.length(field, 4))]

    def opt_u32(self, field: str) -> int | None:
        return self.u32(field) if self.flag(field) else None

    def u32_lists(self, field: str) -> list[list[int]]:
        return [[self.u32(field) for _ in range(self.length(field, 4))]
                for _ in range(self.length(field, 4))]

    def def_lines(self, paths: list[str]) -> list[list[int]]:
        """``def_lines``: one strictly increasing list of 1-based lines per path."""
        lists = self.u32_lists("def_lines")
        _check_def_lines(paths, lists)
        return lists

    def record_flags(self, field: str) -> bool:
        value = self.u8(field)
        if value & ~RECORD_COARSE:
            raise ProtocolError(f"`{field}` has unknown bits {value:#04x}")
        return bool(value & RECORD_COARSE)

    def finish(self, message: str) -> None:
        if self.remaining():
            raise ProtocolError(
                f"{self.remaining()} unexpected bytes after the end of the {message} payload"
            )


def _check_def_lines(paths: list[str], def_lines: list[list[int]]) -> None:
    if len(paths) != len(def_lines):
        raise ProtocolError(f"{len(paths)} `paths` but {len(def_lines)} `def_lines`")
    for lines in def_lines:
        if any(line < 1 for line in lines[:1]) or any(a >= b for a, b in zip(lines, lines[1:])):
            raise ProtocolError("`def_lines` must be strictly increasing lines from 1")


class _Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def u8(self, value: int) -> None:
        self.parts.append(bytes((value,)))

    def u32(self, value: int) -> None:
        self.parts.append(_U32.pack(value))

    def i32(self, value: int) -> None:
        self.parts.append(_I32.pack(value))

    def text(self, value: str) -> None:
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (from undecodable bytes) cannot be UTF-8: replace them.
            raw = value.encode("utf-8", "replace")
        self.parts.append(_U32.pack(len(raw)))
        self.parts.append(raw)

    def str_list(self, values: list[str]) -> None:
        self.u32(len(values))
        for value in values:
            self.text(value)

    def u32_lists(self, values: list[list[int]]) -> None:
        self.u32(len(values))
        for inner in values:
            self.u32(len(inner))
            for value in inner:
                self.u32(value)

    def opt_u32(self, value: int | None) -> None:
        if value is None:
            self.u8(0)
        else:
            self.u8(1)
            self.u32(value)

    def payload(self) -> bytes:
        return b"".join(self.parts)


# --- requests -------------------------------------------------------------------------

def encode_request(frame: RequestFrame) -> bytes:
    w = _Writer()
    req = frame.request
    flags = 0
    index = 0
    if isinstance(req, Hello):
        kind = RequestKind.HELLO
        flags = (FLAG_RECORD if req.record else 0) | (FLAG_PARK if req.park else 0)
        w.text(req.rootdir)
        w.str_list(req.sys_path)
        w.u8(int(req.engine))
        w.str_list(req.pytest_args)
        w.u32(req.output_limit)
        w.u32(req.terminal_width)
    elif isinstance(req, RunItems):
        kind = RequestKind.RUN_ITEMS
        flags = FLAG_KEEP_SESSION if req.keep_session else 0
        index = req.first_index
        w.str_list(req.node_ids)
    elif isinstance(req, RunModule):
        kind = RequestKind.RUN_MODULE
        flags = FLAG_KEEP_SESSION if req.keep_session else 0
        index = req.first_index
        w.text(req.path)
    elif isinstance(req, RunHookItems):
        kind = RequestKind.RUN_HOOK_ITEMS
        flags = FLAG_KEEP_SESSION if req.keep_session else 0
        index = req.first_index
        w.str_list(req.paths)
        w.str_list(req.skip_dirs)
        w.str_list(req.skip_items)
    elif isinstance(req, Shutdown):
        kind = RequestKind.SHUTDOWN
    elif isinstance(req, Resume):
        kind = RequestKind.RESUME
    elif isinstance(req, Preload):
        kind = RequestKind.PRELOAD
        w.str_list(req.modules)
    elif isinstance(req, ImportModules):
        kind = RequestKind.IMPORT_MODULES
        w.str_list(req.paths)
    else:
        raise ProtocolError(f"not a request: {req!r}")
    payload = w.payload()
    header = REQUEST_HEADER.pack(
        REQUEST_MAGIC, PROTOCOL_VERSION, kind, flags, frame.request_id, index, len(payload)
    )
    return header + payload


def _check_prefix(magic: bytes, version: int, expected: bytes) -> None:
    if magic != expected:
        raise ProtocolError(f"bad magic {magic!r}: expected {expected!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"unsupported protocol version {version} (this side speaks {PROTOCOL_VERSION})"
        )


def parse_request_header(raw: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> RequestHeader:
    """Returns (kind, flags, request_id, test_index, payload_len) of a 32-byte header."""
    if len(raw) < REQUEST_HEADER.size:
        raise ProtocolError(f"truncated frame: request header needs 32 bytes, only {len(raw)} available")
    if any(raw[24:32]):
        raise ProtocolError("request frame has non-zero header field `reserved`")
    magic, version, raw_kind, flags, request_id, index, length = REQUEST_HEADER.unpack_from(raw)
    _check_prefix(magic, version, REQUEST_MAGIC)
    try:
        kind = RequestKind(raw_kind)
    except ValueError:
        raise ProtocolError(f"unknown request message type {raw_kind}") from None
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds the frame limit of {max_payload} bytes")
    return kind, flags, request_id, index, length


def decode_request_payload(
    kind: RequestKind, flags: int, request_id: int, index: int, payload: bytes | memoryview
) -> RequestFrame:
    batches = (RequestKind.RUN_ITEMS, RequestKind.RUN_MODULE, RequestKind.RUN_HOOK_ITEMS)
    hello_flags = FLAG_RECORD | FLAG_PARK
    allowed = FLAG_KEEP_SESSION if kind in batches else hello_flags if kind == RequestKind.HELLO else 0
    if flags & ~allowed:
        raise ProtocolError(f"{kind.name} frame has unknown flag bits {flags:#04x}")
    if kind not in batches and index != 0:
        raise ProtocolError(f"{kind.name} frame has non-zero header field `test index`")
    r = _Reader(payload)
    keep = bool(flags & FLAG_KEEP_SESSION)
    req: Request
    if kind == RequestKind.HELLO:
        req = Hello(
            rootdir=r.text("rootdir"),
            sys_path=r.str_list("sys_path"),
            engine=_enum(Engine, r.u8("engine"), "engine"),
            pytest_args=r.str_list("pytest_args"),
            output_limit=r.u32("output_limit"),
            terminal_width=r.u32("terminal_width"),
            record=bool(flags & FLAG_RECORD),
            park=bool(flags & FLAG_PARK),
        )
    elif kind == RequestKind.RUN_ITEMS:
        req = RunItems(index, keep, r.str_list("node_ids"))
    elif kind == RequestKind.RUN_MODULE:
        req = RunModule(index, keep, r.text("path"))
    elif kind == RequestKind.PRELOAD:
        req = Preload(r.str_list("modules"))
    elif kind == RequestKind.IMPORT_MODULES:
        req = ImportModules(r.str_list("paths"))
    elif kind == RequestKind.RUN_HOOK_ITEMS:
        req = RunHookItems(index, keep, r.str_list("paths"), r.str_list("skip_dirs"),
                           r.str_list("skip_items"))
    elif kind == RequestKind.RESUME:
        req = Resume()
    else:
        req = Shutdown()
    r.finish(kind.name)
    return RequestFrame(request_id, req)


def decode_request(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[RequestFrame, int]:
    """Decodes one request from the start of ``data``; returns (frame, consumed)."""
    kind, flags, request_id, index, length = parse_request_header(data, max_payload)
    end = REQUEST_HEADER.size + length
    if len(data) < end:
        raise ProtocolError(
            f"truncated frame: frame payload needs {length} bytes, only {len(data) - 32} available"
        )
    frame = decode_request_payload(kind, flags, request_id, index, data[REQUEST_HEADER.size:end])
    return frame, end


# --- results --------------------------------------------------------------------------

def encode_result(frame: ResultFrame) -> bytes:
    msg = frame.message
    kind = _RESULT_KIND.get(type(msg))
    if kind is None:
        raise ProtocolError(f"not a result message: {msg!r}")
    w = _Writer()
    flags = 0
    index = NO_TEST_INDEX
    duration = 0
    outcome = 0
    phase = 0
    # (Branches by class: ``kind`` came from the exact type, so each matches its kind.)
    if isinstance(msg, Ready):
        w.u32(msg.pid)
        w.u8(int(msg.engine))
        w.text(msg.python_version)
        w.text(msg.pytest_version)
    elif isinstance(msg, ItemResult):
        index, duration = msg.test_index, msg.duration_ns
        outcome, phase = int(msg.outcome), int(msg.phase)
        flags = (
            (FLAG_ITEM_FINISHED if msg.item_finished else 0)
            | (FLAG_OUTPUT_TRUNCATED if msg.output_truncated else 0)
            | (0 if msg.in_summary else FLAG_NOT_IN_SUMMARY)
            | (FLAG_PROGRESS_HIDDEN if msg.progress_hidden else 0)
        )
        for text in (msg.node_id, msg.longrepr, msg.stdout, msg.stderr):
            w.text(text)
        w.u32(len(msg.sections))
        for title, content in msg.sections:
            w.text(title)
            w.text(content)
        w.text(msg.skip_reason)
        w.text(msg.location_path)
        w.opt_u32(msg.location_line)
        w.text(msg.location_domain)
        w.text(msg.category)
        w.text(msg.letter)
        w.text(msg.word)
        w.text(msg.head_line)
        w.text(msg.crash_line)
        w.text(msg.crash_message)
        w.text(msg.skip_location)
    elif isinstance(msg, Log):
        w.u8(int(msg.level))
        w.text(msg.message)
    elif isinstance(msg, Warning_):
        w.u8(int(msg.when))
        w.text(msg.category)
        w.text(msg.message)
        w.text(msg.filename)
        w.u32(msg.lineno)
        w.text(msg.node_id)
        w.text(msg.summary)
        w.text(msg.location)
    elif isinstance(msg, CollectError):
        if msg.outcome not in (Outcome.ERROR, Outcome.SKIPPED):
            raise ProtocolError(f"`collect outcome` has invalid value {int(msg.outcome)}")
        outcome = int(msg.outcome)
        w.text(msg.node_id)
        w.text(msg.longrepr)
        w.text(msg.skip_location)
        w.text(msg.crash_message)
    elif isinstance(msg, Done):
        for name in _DONE_COUNTS:
            w.u32(getattr(msg, name))
        w.u8(int(msg.stop))
        w.i32(msg.exit_code)
        w.text(msg.message)
    elif isinstance(msg, Deselected):
        w.str_list(msg.node_ids)
    elif isinstance(msg, Executed):
        index = msg.test_index
        _check_def_lines(msg.paths, msg.def_lines)
        w.text(msg.node_id)
        w.u8(RECORD_COARSE if msg.coarse else 0)
        w.str_list(msg.paths)
        w.u32_lists(msg.def_lines)
        w.str_list(msg.imported)
    elif isinstance(msg, Ambient):
        _check_def_lines(msg.paths, msg.def_lines)
        w.u8(RECORD_COARSE if msg.coarse else 0)
        w.str_list(msg.instrumented)
        w.str_list(msg.paths)
        w.u32_lists(msg.def_lines)
    else:
        w.text(msg.message)
        w.text(msg.traceback)
    payload = w.payload()
    header = RESULT_HEADER.pack(
        RESULT_MAGIC, PROTOCOL_VERSION, kind, flags, frame.request_id, index, len(payload),
        duration, outcome, phase,
    )
    return header + payload


def decode_result(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[ResultFrame, int]:
    """Decodes one result from the start of ``data``; returns (frame, consumed)."""
    if len(data) < RESULT_HEADER.size:
        raise ProtocolError(f"truncated frame: result header needs 40 bytes, only {len(data)} available")
    (magic, version, raw_kind, flags, request_id, index, length, duration, outcome, phase) = (
        RESULT_HEADER.unpack_from(data)
    )
    _check_prefix(magic, version, RESULT_MAGIC)
    try:
        kind = ResultKind(raw_kind)
    except ValueError:
        raise ProtocolError(f"unknown result message type {raw_kind}") from None
    if any(data[34:40]):
        raise ProtocolError(f"{kind.name} frame has non-zero header field `reserved`")
    if length > max_payload:
        raise ProtocolError(f"payload of {length} bytes exceeds the frame limit of {max_payload} bytes")
    end = RESULT_HEADER.size + length
    if len(data) < end:
        raise ProtocolError(
            f"truncated frame: frame payload needs {length} bytes, only {len(data) - 40} available"
        )
    r = _Reader(data[RESULT_HEADER.size:end])
    msg: ResultMessage
    if kind == ResultKind.ITEM_RESULT:
        known = FLAG_ITEM_FINISHED | FLAG_OUTPUT_TRUNCATED | FLAG_NOT_IN_SUMMARY | FLAG_PROGRESS_HIDDEN
        if flags & ~known:
            raise ProtocolError(f"ItemResult frame has unknown flag bits {flags:#04x}")
        item = ItemResult(
            test_index=index,
            outcome=_enum(Outcome, outcome, "outcome"),
            phase=_enum(Phase, phase, "phase"),
            duration_ns=duration,
            item_finished=bool(flags & FLAG_ITEM_FINISHED),
            output_truncated=bool(flags & FLAG_OUTPUT_TRUNCATED),
            in_summary=not flags & FLAG_NOT_IN_SUMMARY,
            progress_hidden=bool(flags & FLAG_PROGRESS_HIDDEN),
            node_id=r.text("node_id"),
            longrepr=r.text("longrepr"),
            stdout=r.text("stdout"),
            stderr=r.text("stderr"),
        )
        item.sections = [
            (r.text("section title"), r.text("section content"))
            for _ in range(r.length("sections", 8))
        ]
        item.skip_reason = r.text("skip_reason")
        item.location_path = r.text("location path")
        item.location_line = r.opt_u32("location line")
        item.location_domain = r.text("location domain")
        item.category = r.text("category")
        item.letter = r.text("letter")
        item.word = r.text("word")
        item.head_line = r.text("head_line")
        item.crash_line = r.text("crash_line")
        item.crash_message = r.text("crash_message")
        item.skip_location = r.text("skip_location")
        msg = item
    else:
        if flags:
            raise ProtocolError(f"{kind.name} frame has unknown flag bits {flags:#04x}")
        for field, value in (("test index", index != NO_TEST_INDEX and kind != ResultKind.EXECUTED),
                             ("duration", duration),
                             ("phase", phase),
                             ("outcome", outcome and kind != ResultKind.COLLECT_ERROR)):
            if value:
                raise ProtocolError(f"{kind.name} frame has non-zero header field `{field}`")
        if kind == ResultKind.READY:
            msg = Ready(r.u32("pid"), _enum(Engine, r.u8("engine"), "engine"),
                        r.text("python_version"), r.text("pytest_version"))
        elif kind == ResultKind.LOG:
            msg = Log(_enum(LogLevel, r.u8("level"), "level"), r.text("message"))
        elif kind == ResultKind.WARNING:
            msg = Warning_(_enum(WarningWhen, r.u8("when"), "when"), r.text("category"),
                           r.text("message"), r.text("filename"), r.u32("lineno"), r.text("node_id"),
                           r.text("summary"), r.text("location"))
        elif kind == ResultKind.COLLECT_ERROR:
            if outcome not in (Outcome.ERROR, Outcome.SKIPPED):
                raise ProtocolError(f"`collect outcome` has invalid value {outcome}")
            msg = CollectError(r.text("node_id"), Outcome(outcome), r.text("longrepr"),
                               r.text("skip_location"), r.text("crash_message"))
        elif kind == ResultKind.DONE:
            counts = {name: r.u32(name) for name in _DONE_COUNTS}
            msg = Done(**counts, stop=_enum(StopKind, r.u8("stop"), "stop"),
                       exit_code=r.i32("exit_code"), message=r.text("message"))
        elif kind == ResultKind.DESELECTED:
            msg = Deselected(r.str_list("node_ids"))
        elif kind == ResultKind.EXECUTED:
            node_id, coarse, paths = r.text("node_id"), r.record_flags("flags"), r.str_list("paths")
            msg = Executed(index, node_id, coarse, paths, r.def_lines(paths), r.str_list("imported"))
        elif kind == ResultKind.AMBIENT:
            coarse, instrumented = r.record_flags("flags"), r.str_list("instrumented")
            paths = r.str_list("paths")
            msg = Ambient(coarse, instrumented, paths, r.def_lines(paths))
        else:
            msg = Fatal(r.text("message"), r.text("traceback"))
    r.finish(kind.name)
    return ResultFrame(request_id, msg), end


# --- streams --------------------------------------------------------------------------

def _read_exact(fd: int, n: int, context: str) -> bytes | None:
    chunks = []
    got = 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            if got == 0 and context == "header":
                return None
            raise ProtocolError(f"stream ended in the middle of a frame ({got} of {n} bytes of the {context})")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_request(fd: int, max_payload: int = DEFAULT_MAX_PAYLOAD) -> RequestFrame | None:
    """Reads one request from a file descriptor; ``None`` at a clean end of stream."""
    raw = _read_exact(fd, REQUEST_HEADER.size, "header")
    if raw is None:
        return None
    kind, flags, request_id, index, length = parse_request_header(raw, max_payload)
    payload = _read_exact(fd, length, "payload") if length else b""
    if payload is None:  # (for the type checker: only a header read ends cleanly)
        raise ProtocolError("stream ended before the frame payload")
    return decode_request_payload(kind, flags, request_id, index, payload)
