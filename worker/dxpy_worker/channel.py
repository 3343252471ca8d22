"""The worker's protocol channel and main loop.

``main`` moves the protocol off fds 0/1 (so tests can neither read requests nor corrupt
results), reads Hello, picks an engine and hands it a ``Channel``. Engines call
``Channel.serve`` with a batch runner; ``serve`` reads RunItems/RunModule requests until
Shutdown or end of stream and answers each batch with Done. Engines write nothing to the
protocol stream themselves: every result frame goes through ``send``/``send_items``.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import TYPE_CHECKING

from dxpy_worker import protocol as P

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    # (stop kind, exit code, message) of a batch, as Done reports it.
    BatchOutcome = tuple[P.StopKind, int, str]
    RunBatch = Callable[[list[str], int, bool], BatchOutcome]
    RunHookBatch = Callable[[P.RunHookItems], BatchOutcome]
    ImportModules = Callable[[list[str]], None]

DEFAULT_OUTPUT_LIMIT = 1024 * 1024
_COUNT_FIELD = {
    P.Outcome.PASSED: "passed",
    P.Outcome.FAILED: "failed",
    P.Outcome.SKIPPED: "skipped",
    P.Outcome.XFAILED: "xfailed",
    P.Outcome.XPASSED: "xpassed",
    P.Outcome.ERROR: "error",
}


class Channel:
    """Frames in and out, plus the counts of the batch in progress. The only writer of the
    protocol stream: engines send through its methods."""

    def __init__(self, fd_in: int, fd_out: int, output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self._fd_in = fd_in
        self._fd_out = fd_out
        self.output_limit = output_limit
        self.terminal_width = 0  # the runner's terminal width, from Hello (0: pytest's)
        self.request_id = 0
        self.done = P.Done()
        # A message to send before each batch's Done (the recorder's Ambient), if any.
        self.before_done: Callable[[], P.ResultMessage | None] | None = None

    def next_request(self) -> P.RequestFrame | None:
        """The next request frame (None at end of stream), without answering it."""
        return P.read_request(self._fd_in)

    def send(self, message: P.ResultMessage) -> None:
        self._write(P.encode_result(P.ResultFrame(self.request_id, message)))

    def send_item(self, result: P.ItemResult) -> None:
        self.send_items([result])

    def send_items(self, results: Sequence[P.ResultMessage]) -> None:
        """Sends results in one write (one wake-up of the runner), each item result counted
        in the batch's Done when pytest's summary counts it."""
        for result in results:
            if isinstance(result, P.ItemResult) and result.in_summary:
                field = _COUNT_FIELD[result.outcome]
                setattr(self.done, field, getattr(self.done, field) + 1)
        self._write(b"".join(P.encode_result(P.ResultFrame(self.request_id, r)) for r in results))

    def send_done(self) -> None:
        """Ends a batch: the recorder's Ambient (when recording), then Done."""
        extra = self.before_done() if self.before_done is not None else None
        self.send_items([extra, self.done] if extra is not None else [self.done])

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd_out, view)
            view = view[written:]

    def send_collect_error(
        self, node_id: str, outcome: P.Outcome, longrepr: str | None, skip_location: str = "",
        crash_message: str = "",
    ) -> None:
        if outcome == P.Outcome.ERROR:
            self.done.collect_errors += 1
        else:
            self.done.skipped += 1
        text, _ = self.cap(longrepr)
        self.send(P.CollectError(node_id, outcome, text, skip_location, self.cap(crash_message)[0]))

    def log(self, level: P.LogLevel, message: str) -> None:
        self.send(P.Log(level, self.cap(message)[0]))

    def cap(self, text: str | None) -> tuple[str, bool]:
        from dxpy_worker.capture import cap_text

        return cap_text(text or "", self.output_limit)

    def preload(self, modules: Iterable[str]) -> None:
        """Imports ``modules`` so later batches find them loaded; a failure is a warning
        (the tests that need the module will report it), then Done."""
        import importlib

        for name in modules:
            try:
                importlib.import_module(name)
            except BaseException as err:  # noqa: BLE001 - any import failure, even SystemExit
                if isinstance(err, KeyboardInterrupt):
                    raise
                self.log(P.LogLevel.WARNING, f"preload of {name!r} failed: {err!r}")
        self.done = P.Done()
        self.send(self.done)

    def serve(
        self,
        run_batch: RunBatch,
        run_hook_batch: RunHookBatch | None = None,
        import_modules: ImportModules | None = None,
    ) -> P.RequestFrame | None:
        """Runs batches until Shutdown (returns its frame) or end of stream (returns None).

        ``run_batch(node_ids, first_index, keep_session)`` sends the item results and returns
        (stop kind, exit code, message); ``run_hook_batch(request)`` does the same for a
        RunHookItems request (an engine without it answers with an error log and Done).
        ``import_modules(paths)`` answers ImportModules, sending the modules' collection
        problems (an engine without it imports nothing); Done follows.
        """
        while True:
            frame = P.read_request(self._fd_in)
            if frame is None:
                return None
            self.request_id = frame.request_id
            request = frame.request
            if isinstance(request, P.Shutdown):
                return frame
            if isinstance(request, P.Resume):
                continue  # only a parked start waits for it
            if isinstance(request, P.Hello):
                self.log(P.LogLevel.ERROR, "ignoring a second Hello")
                continue
            if isinstance(request, P.Preload):
                self.preload(request.modules)
                continue
            if isinstance(request, P.ImportModules):
                self.done = P.Done()
                if import_modules is not None:
                    import_modules(list(request.paths))
                self.send(self.done)
                continue
            self.done = P.Done()
            if isinstance(request, P.RunHookItems):
                if run_hook_batch is None:
                    self.log(P.LogLevel.ERROR, "this engine cannot collect hook-made items")
                    self.send_done()
                    continue
                stop, exit_code, message = run_hook_batch(request)
            else:
                if isinstance(request, P.RunModule):
                    node_ids = [request.path]
                else:
                    node_ids = list(request.node_ids)
                stop, exit_code, message = run_batch(
                    node_ids, request.first_index, request.keep_session)
            self.done.stop, self.done.exit_code, self.done.message = stop, exit_code, message
            self.send_done()


def _isolate_protocol_fds() -> tuple[int, int]:
    """Returns (fd_in, fd_out) private copies of fds 0/1; fd 0 becomes /dev/null and fd 1
    a copy of stderr, so stray reads and writes cannot touch the protocol."""
    sys.stdout.flush()
    fd_in = os.dup(0)
    fd_out = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return fd_in, fd_out


def _pytest_available() -> bool:
    try:
        import pytest  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    fd_in, fd_out = _isolate_protocol_fds()
    channel = Channel(fd_in, fd_out)
    try:
        frame = P.read_request(fd_in)
        if frame is None:
            return 0
        channel.request_id = frame.request_id
        hello = frame.request
        if not isinstance(hello, P.Hello):
            channel.send(P.Fatal(f"expected Hello, got {type(hello).__name__}", ""))
            return 1
        channel.output_limit = hello.output_limit or DEFAULT_OUTPUT_LIMIT
        channel.terminal_width = hello.terminal_width
        if hello.rootdir:
            os.chdir(hello.rootdir)
        for entry in reversed(hello.sys_path):
            sys.path.insert(0, entry)
        engine = hello.engine
        if engine == P.Engine.AUTO:
            engine = P.Engine.PYTEST if _pytest_available() else P.Engine.NATIVE
        if engine == P.Engine.PYTEST:
            if not _pytest_available():
                channel.send(P.Fatal(
                    f"the pytest engine was requested but {sys.executable} cannot import pytest", ""))
                return 1
            from dxpy_worker import engine_pytest

            return engine_pytest.run(channel, hello)
        from dxpy_worker import engine_native

        return engine_native.run(channel, hello)
    except P.ProtocolError as err:
        channel.send(P.Fatal(f"protocol error: {err}", traceback.format_exc()))
        return 1
    except BaseException as err:  # the worker must report, never die silently
        try:
            channel.send(P.Fatal(f"worker crashed: {err!r}", traceback.format_exc()))
        except OSError:
            pass
        return 1
