"""The native engine: runs plain test functions, ``Test*`` classes and unittest cases
without pytest, producing the same reports pytest would (setup/call/teardown phases,
outcome categories, subtest reports).

Layout: ``SetupStack`` mirrors pytest's SetupState (module and class collectors with their
xunit setup/teardown and cached setup errors); ``UnittestResult`` turns unittest's result
callbacks into outcomes; ``NativeRunner`` runs a batch item by item with fd-level capture.
"""

from __future__ import annotations

import functools
import inspect
import os
import platform
import time
import traceback
import types
import unittest
from typing import TYPE_CHECKING, Any

from dxpy_worker import protocol as P
from dxpy_worker.capture import FdCapture
from dxpy_worker.import_once import FailedImports
from dxpy_worker.native_collect import CollectFailure, Item, collect

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Optional, Union

    from dxpy_worker.channel import BatchOutcome, Channel
    from dxpy_worker.recorder import Recorder

    # (description, error text or None) of one unittest subtest.
    SubtestReport = tuple[str, Optional[str]]
    # What a phase's function returns: the subtest reports to send before its own.
    PhaseResult = Optional[list[SubtestReport]]
    # What unittest hands a TestResult: sys.exc_info() of the problem.
    ExcInfo = Union[tuple[type[BaseException], BaseException, types.TracebackType], tuple[None, None, None]]


class PhaseOutcome(Exception):
    """Raised inside a phase to report a non-exception outcome (skip, xfail...)."""

    def __init__(self, outcome: P.Outcome, text: str = "", skip_reason: str = "") -> None:
        super().__init__(text)
        self.outcome = outcome
        self.text = text
        self.skip_reason = skip_reason
        self.subtests: list[SubtestReport] = []


def _format_exception(exc: BaseException) -> str:
    """Traceback text without the worker's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith("dxpy_worker"):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _call_optional(func: Callable[..., Any], arg: object) -> Any:
    """Calls ``func(arg)`` when it takes an argument, else ``func()`` (as pytest does)."""
    code = getattr(func, "__code__", None)
    takes_arg = code is not None and code.co_argcount > (1 if inspect.ismethod(func) else 0)
    return func(arg) if takes_arg else func()


class SetupStack:
    """Active collectors, outermost first: [(key, finalizers, setup error or None)]."""

    def __init__(self) -> None:
        # [key, finalizers, setup error or None], a list so the error can be recorded.
        self.stack: list[list[Any]] = []

    def setup(self, item: Item) -> None:
        chain = item.chain()
        for depth, (kind, key, obj) in enumerate(chain):
            if depth < len(self.stack):
                if self.stack[depth][0] != key:
                    raise RuntimeError(f"setup stack out of order: {self.stack[depth][0]} vs {key}")
                if self.stack[depth][2] is not None:
                    raise self.stack[depth][2]
                continue
            finalizers: list[Callable[[], object]] = []
            entry: list[Any] = [key, finalizers, None]
            self.stack.append(entry)
            try:
                self._setup_collector(kind, obj, finalizers)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                entry[2] = exc
                raise

    @staticmethod
    def _setup_collector(kind: str, obj: Any, finalizers: list[Callable[[], object]]) -> None:
        if kind == "module":
            setup = getattr(obj, "setUpModule", None) or getattr(obj, "setup_module", None)
            teardown = getattr(obj, "tearDownModule", None) or getattr(obj, "teardown_module", None)
            if teardown is not None:
                finalizers.append(functools.partial(_call_optional, teardown, obj))
            if setup is not None:
                _call_optional(setup, obj)
            return
        if issubclass(obj, unittest.TestCase):
            if getattr(obj, "__unittest_skip__", False):
                raise PhaseOutcome(P.Outcome.SKIPPED, skip_reason=getattr(obj, "__unittest_skip_why__", ""))
            finalizers.append(obj.doClassCleanups)
            finalizers.append(obj.tearDownClass)
            obj.setUpClass()
            return
        setup = getattr(obj, "setup_class", None)
        teardown = getattr(obj, "teardown_class", None)
        if teardown is not None:
            finalizers.append(functools.partial(_call_optional, teardown, obj))
        if setup is not None:
            _call_optional(setup, obj)

    def teardown_exact(self, next_item: Item | None) -> None:
        """Tears down collectors ``next_item`` does not share (all when it is None)."""
        needed = [key for _, key, _ in next_item.chain()] if next_item is not None else []
        errors = []
        while self.stack and [e[0] for e in self.stack] != needed[:len(self.stack)]:
            _, finalizers, _ = self.stack.pop()
            while finalizers:
                try:
                    finalizers.pop()()
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:
                    errors.append(exc)
        if errors:
            raise errors[0]


class UnittestResult(unittest.TestResult):
    """Collects what one TestCase run reported."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []  # traceback texts
        self.skip_reason: str | None = None
        self.expected_failure: str | None = None
        self.unexpected_success = False
        self.subtests: list[SubtestReport] = []

    def addError(self, test: unittest.TestCase, err: ExcInfo) -> None:
        self.problems.append(self._exc_text(err))

    def addFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:
        self.problems.append(self._exc_text(err))

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        self.skip_reason = reason

    def addExpectedFailure(self, test: unittest.TestCase, err: ExcInfo) -> None:
        self.expected_failure = self._exc_text(err)

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        self.unexpected_success = True

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: ExcInfo | None) -> None:
        # unittest's private marker for a subTest() without a message (typeshed omits it).
        _subtest_msg_sentinel: object = vars(unittest.case)["_subtest_msg_sentinel"]
        subtest_any: Any = subtest  # a unittest.case._SubTest (private, untyped)

        parts = []
        if subtest_any._message is not _subtest_msg_sentinel:
            parts.append(f"[{subtest_any._message}]")
        if subtest_any.params:
            parts.append("(" + ", ".join(f"{k}={v}" for k, v in subtest_any.params.items()) + ")")
        description = " ".join(parts) or "(<subtest>)"
        self.subtests.append((description, None if err is None else self._exc_text(err)))

    @staticmethod
    def _exc_text(err: ExcInfo) -> str:
        exc_type, exc, tb = err
        while tb is not None and tb.tb_frame.f_globals.get("__unittest"):
            tb = tb.tb_next
        return "".join(traceback.format_exception(exc_type, exc, tb))


class NativeRunner:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.modules: dict[str, types.ModuleType] = {}
        self.imports = FailedImports()  # a module whose import failed is not imported again
        self.stack = SetupStack()
        self.capture = FdCapture(channel.output_limit)
        self.first_index = 0
        # Set when the runner asks what each test executes (Hello's RECORD flag).
        self.recorder: Recorder | None = None

    # --- one phase --------------------------------------------------------------------
    def phase(
        self, item: Item, index: int, phase: P.Phase, func: Callable[[], PhaseResult], finished: bool = False
    ) -> P.Outcome:
        """Runs ``func`` captured; sends its report unless it is a passed setup. Returns the
        outcome sent (or PASSED)."""
        self.capture.start()
        started = time.perf_counter()
        outcome, text, skip_reason = P.Outcome.PASSED, "", ""
        extra: list[SubtestReport] = []
        try:
            extra = func() or []
        except PhaseOutcome as out:
            outcome, text, skip_reason = out.outcome, out.text, out.skip_reason
            extra = out.subtests
        except unittest.SkipTest as exc:
            outcome, skip_reason = P.Outcome.SKIPPED, str(exc)
        except KeyboardInterrupt:
            self.capture.stop()
            raise
        except BaseException as exc:  # SystemExit included, as in pytest
            outcome, text = (P.Outcome.FAILED if phase == P.Phase.CALL else P.Outcome.ERROR), _format_exception(exc)
        duration = time.perf_counter() - started
        stdout, stderr, truncated = self.capture.stop()
        if outcome == P.Outcome.FAILED and phase != P.Phase.CALL:
            outcome = P.Outcome.ERROR
        for description, error in extra:  # subtest reports come before the test's own
            # As pytest shows them: reported from inside the captured test, so no progress.
            letter, word = ("u", f"SUBFAILED{description}") if error else ("", "")
            self.send(item, index, P.Phase.CALL, P.Outcome.FAILED if error else P.Outcome.PASSED,
                      0.0, error or "", "", "", "", False, in_summary=error is not None,
                      head_line=f"{item.location[2]} {description}", progress_hidden=True,
                      letter=letter, word=word)
        if phase == P.Phase.SETUP and outcome == P.Outcome.PASSED:
            return outcome
        in_summary = not (phase != P.Phase.CALL and outcome == P.Outcome.PASSED)
        if finished and self.recorder is not None:
            self.send_executed(item, index)
        self.send(item, index, phase, outcome, duration, text, stdout, stderr, skip_reason,
                  truncated, in_summary=in_summary, finished=finished)
        return outcome

    def send(
        self,
        item: Item,
        index: int,
        phase: P.Phase,
        outcome: P.Outcome,
        duration: float,
        text: str,
        stdout: str,
        stderr: str,
        skip_reason: str,
        truncated: bool,
        in_summary: bool = True,
        finished: bool = False,
        sections: Iterable[tuple[str, str]] = (),
        letter: str = "",
        word: str = "",
        head_line: str = "",
        progress_hidden: bool = False,
    ) -> None:
        cap = self.channel.cap
        text, cut_text = cap(text)
        stdout, cut_out = cap(stdout)
        stderr, cut_err = cap(stderr)
        path, line, domain = item.location
        self.channel.send_item(P.ItemResult(
            test_index=index, node_id=item.node_id, outcome=outcome, phase=phase,
            duration_ns=int(duration * 1e9), item_finished=finished,
            output_truncated=truncated or cut_text or cut_out or cut_err,
            in_summary=in_summary, longrepr=text, stdout=stdout, stderr=stderr,
            sections=list(sections), skip_reason=skip_reason, location_path=path,
            location_line=line, location_domain=domain, letter=letter, word=word,
            head_line=head_line, progress_hidden=progress_hidden,
        ))

    def send_executed(self, item: Item, index: int) -> None:
        """Ends the item's recording and sends what it executed (before its last report)."""
        recorder = self.recorder
        assert recorder is not None
        sink, imported = recorder.end_item()
        paths, def_lines = recorder.hits_by_file(sink.hits)
        self.channel.send(P.Executed(index, item.node_id, sink.coarse, paths, def_lines, imported))

    def ambient(self) -> P.Ambient | None:
        """What ran outside the items since the last Ambient (sent before each Done)."""
        if self.recorder is None:
            return None
        coarse, instrumented, hits = self.recorder.take_ambient()
        paths, def_lines = self.recorder.hits_by_file(hits)
        return P.Ambient(coarse, instrumented, paths, def_lines)

    def setup_collectors(self, item: Item) -> None:
        """Module and class setups serve many items: recorded as ambient."""
        recorder = self.recorder
        if recorder is None:
            self.stack.setup(item)
            return
        previous = recorder.switch(recorder.ambient)
        try:
            self.stack.setup(item)
        finally:
            recorder.switch(previous)

    # --- one item ---------------------------------------------------------------------
    def run_item(self, item: Item, index: int, next_item: Item | None) -> None:
        state: dict[str, Any] = {}
        if self.recorder is not None:
            self.recorder.begin_item()

        def setup() -> PhaseResult:
            self.setup_collectors(item)
            if item.kind == "function":
                hook = getattr(item.module, "setup_function", None)
                if hook is not None:
                    _call_optional(hook, item.func)
            elif item.kind == "method":
                assert item.cls is not None  # a method item has its class
                state["instance"] = instance = item.cls()
                hook = getattr(instance, "setup_method", None)
                if hook is not None:
                    _call_optional(hook, getattr(instance, item.name))
            state["set_up"] = True
            return None

        def call() -> PhaseResult:
            if item.kind == "unittest":
                return self.call_unittest(item)
            func = getattr(state["instance"], item.name) if item.kind == "method" else item.func
            if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
                # pytest 9 fails these without an async plugin; so does the native engine.
                raise PhaseOutcome(P.Outcome.FAILED, "async def functions are not natively supported.")
            func()
            return []

        def teardown() -> PhaseResult:
            try:
                if state.get("set_up"):
                    if item.kind == "function":
                        hook = getattr(item.module, "teardown_function", None)
                        if hook is not None:
                            _call_optional(hook, item.func)
                    elif item.kind == "method":
                        hook = getattr(state["instance"], "teardown_method", None)
                        if hook is not None:
                            _call_optional(hook, getattr(state["instance"], item.name))
            finally:
                self.stack.teardown_exact(next_item)
            return None

        if self.phase(item, index, P.Phase.SETUP, setup) == P.Outcome.PASSED:
            self.phase(item, index, P.Phase.CALL, call)
        self.phase(item, index, P.Phase.TEARDOWN, teardown, finished=True)

    def call_unittest(self, item: Item) -> list[SubtestReport]:
        """Runs one TestCase method; returns its subtest reports (pytest 9 passes the test
        itself when only subtests failed, and reports each failed subtest separately)."""
        result = UnittestResult()
        test_case: Any = item.cls  # a unittest.TestCase subclass for a "unittest" item
        test_case(item.name).run(result)
        failed_subtests = any(error is not None for _, error in result.subtests)
        outcome = None
        if result.problems:
            outcome = PhaseOutcome(P.Outcome.FAILED, "\n".join(result.problems))
        elif result.unexpected_success:
            outcome = PhaseOutcome(P.Outcome.FAILED, "Unexpected success")
        elif result.expected_failure is not None:
            outcome = PhaseOutcome(P.Outcome.XFAILED, result.expected_failure)
        elif result.skip_reason is not None and not failed_subtests:
            outcome = PhaseOutcome(P.Outcome.SKIPPED, skip_reason=result.skip_reason)
        if outcome is not None:
            outcome.subtests = result.subtests
            raise outcome
        return result.subtests

    def import_modules(self, paths: list[str]) -> None:
        """ImportModules: imports the run's test modules in collection order, as pytest's
        collection would before any test runs. A module that fails (or skips itself) is
        reported, so that the runner can interrupt the run as pytest does; the batch that
        runs it meets the same failure again (``self.imports`` keeps it)."""
        for path in paths:
            relpath = path.replace(os.sep, "/")
            if relpath in self.modules or not os.path.isfile(relpath):
                continue
            try:
                collect(relpath, self.modules, self.imports)
            except CollectFailure as failure:
                self.send_collect_failure(failure)

    def send_collect_failure(self, failure: CollectFailure) -> None:
        outcome = P.Outcome.SKIPPED if failure.skipped else P.Outcome.ERROR
        self.channel.send_collect_error(failure.node_id, outcome, failure.text,
                                        crash_message=failure.crash_message)

    # --- one batch --------------------------------------------------------------------
    def run_batch(self, node_ids: list[str], first_index: int, keep_session: bool) -> BatchOutcome:
        items: list[Item] = []
        for node_id in node_ids:
            try:
                items.extend(collect(node_id, self.modules, self.imports))
            except CollectFailure as failure:
                self.send_collect_failure(failure)
        for position, item in enumerate(items):
            next_item = items[position + 1] if position + 1 < len(items) else None
            try:
                try:
                    self.run_item(item, first_index + position, next_item)
                finally:
                    recorder = self.recorder
                    if recorder is not None and recorder.current is not recorder.ambient:
                        recorder.end_item()  # interrupted: nothing to send
            except KeyboardInterrupt:
                try:
                    self.stack.teardown_exact(None)
                except BaseException as exc:  # noqa: BLE001
                    self.channel.log(P.LogLevel.ERROR, f"teardown after interrupt failed: {exc!r}")
                return P.StopKind.INTERRUPTED, 2, f"KeyboardInterrupt in {item.node_id}"
        return P.StopKind.COMPLETED, 0, ""


def run(channel: Channel, hello: P.Hello) -> int:
    runner = NativeRunner(channel)
    if hello.record:
        from dxpy_worker.recorder import Recorder, cache_dir_from_env

        runner.recorder = Recorder(hello.rootdir or os.getcwd(), cache_dir_from_env())
        runner.recorder.install()
        channel.before_done = runner.ambient
    channel.send(P.Ready(pid=os.getpid(), engine=P.Engine.NATIVE,
                         python_version=platform.python_version(), pytest_version=""))
    shutdown = channel.serve(runner.run_batch, import_modules=runner.import_modules)
    if shutdown is not None:
        channel.done = P.Done()
        channel.send(channel.done)
    return 0
