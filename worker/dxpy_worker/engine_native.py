"""The native engine: runs plain test functions, ``Test*`` classes and unittest cases
without pytest, producing the same reports pytest would (setup/call/teardown phases,
outcome categories, subtest reports).

Layout: ``SetupStack`` mirrors pytest's SetupState (module and class collectors with their
xunit setup/teardown and cached setup errors); ``UnittestResult`` turns unittest's result
callbacks into outcomes; ``NativeRunner`` runs a batch item by item with fd-level capture.
"""

from __future__ import annotations

import inspect
import os
import platform
import time
import traceback
import unittest

from dxpy_worker import protocol as P
from dxpy_worker.capture import FdCapture
from dxpy_worker.native_collect import CollectFailure, collect


class PhaseOutcome(Exception):
    """Raised inside a phase to report a non-exception outcome (skip, xfail...)."""

    def __init__(self, outcome, text="", skip_reason=""):
        super().__init__(text)
        self.outcome = outcome
        self.text = text
        self.skip_reason = skip_reason


def _format_exception(exc):
    """Traceback text without the worker's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith("dxpy_worker"):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _call_optional(func, arg):
    """Calls ``func(arg)`` when it takes an argument, else ``func()`` (as pytest does)."""
    code = getattr(func, "__code__", None)
    takes_arg = code is not None and code.co_argcount > (1 if inspect.ismethod(func) else 0)
    return func(arg) if takes_arg else func()


class SetupStack:
    """Active collectors, outermost first: [(key, finalizers, setup error or None)]."""

    def __init__(self):
        self.stack = []

    def setup(self, item):
        chain = item.chain()
        for depth, (kind, key, obj) in enumerate(chain):
            if depth < len(self.stack):
                if self.stack[depth][0] != key:
                    raise RuntimeError(f"setup stack out of order: {self.stack[depth][0]} vs {key}")
                if self.stack[depth][2] is not None:
                    raise self.stack[depth][2]
                continue
            finalizers = []
            entry = [key, finalizers, None]
            self.stack.append(entry)
            try:
                self._setup_collector(kind, obj, finalizers)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                entry[2] = exc
                raise

    @staticmethod
    def _setup_collector(kind, obj, finalizers):
        if kind == "module":
            setup = getattr(obj, "setUpModule", None) or getattr(obj, "setup_module", None)
            teardown = getattr(obj, "tearDownModule", None) or getattr(obj, "teardown_module", None)
            if teardown is not None:
                finalizers.append(lambda: _call_optional(teardown, obj))
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
            finalizers.append(lambda: _call_optional(teardown, obj))
        if setup is not None:
            _call_optional(setup, obj)

    def teardown_exact(self, next_item):
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

    def __init__(self):
        super().__init__()
        self.problems = []  # (kind, text)
        self.skip_reason = None
        self.expected_failure = None
        self.unexpected_success = False
        self.subtests = []  # (description, error text or None)

    def addError(self, test, err):
        self.problems.append(self._exc_text(err))

    def addFailure(self, test, err):
        self.problems.append(self._exc_text(err))

    def addSkip(self, test, reason):
        self.skip_reason = reason

    def addExpectedFailure(self, test, err):
        self.expected_failure = self._exc_text(err)

    def addUnexpectedSuccess(self, test):
        self.unexpected_success = True

    def addSubTest(self, test, subtest, err):
        from unittest.case import _subtest_msg_sentinel

        parts = []
        if subtest._message is not _subtest_msg_sentinel:
            parts.append(f"[{subtest._message}]")
        if subtest.params:
            parts.append("(" + ", ".join(f"{k}={v}" for k, v in subtest.params.items()) + ")")
        description = " ".join(parts) or "(<subtest>)"
        self.subtests.append((description, None if err is None else self._exc_text(err)))

    @staticmethod
    def _exc_text(err):
        exc_type, exc, tb = err
        while tb is not None and tb.tb_frame.f_globals.get("__unittest"):
            tb = tb.tb_next
        return "".join(traceback.format_exception(exc_type, exc, tb))


class NativeRunner:
    def __init__(self, channel):
        self.channel = channel
        self.modules = {}
        self.stack = SetupStack()
        self.capture = FdCapture(channel.output_limit)
        self.first_index = 0

    # --- one phase --------------------------------------------------------------------
    def phase(self, item, index, phase, func, finished=False):
        """Runs ``func`` captured; sends its report unless it is a passed setup. Returns the
        outcome sent (or PASSED)."""
        self.capture.start()
        started = time.perf_counter()
        outcome, text, skip_reason, extra = P.Outcome.PASSED, "", "", []
        try:
            extra = func() or []
        except PhaseOutcome as out:
            outcome, text, skip_reason = out.outcome, out.text, out.skip_reason
            extra = getattr(out, "subtests", [])
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
            status = dict(letter="u", word=f"SUBFAILED{description}") if error else {}
            self.send(item, index, P.Phase.CALL, P.Outcome.FAILED if error else P.Outcome.PASSED,
                      0.0, error or "", "", "", "", False, in_summary=error is not None,
                      head_line=f"{item.location[2]} {description}", progress_hidden=True,
                      **status)
        if phase == P.Phase.SETUP and outcome == P.Outcome.PASSED:
            return outcome
        in_summary = not (phase != P.Phase.CALL and outcome == P.Outcome.PASSED)
        self.send(item, index, phase, outcome, duration, text, stdout, stderr, skip_reason,
                  truncated, in_summary=in_summary, finished=finished)
        return outcome

    def send(self, item, index, phase, outcome, duration, text, stdout, stderr, skip_reason,
             truncated, in_summary=True, finished=False, sections=(), letter="", word="",
             head_line="", progress_hidden=False):
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

    # --- one item ---------------------------------------------------------------------
    def run_item(self, item, index, next_item):
        state = {}

        def setup():
            self.stack.setup(item)
            if item.kind == "function":
                hook = getattr(item.module, "setup_function", None)
                if hook is not None:
                    _call_optional(hook, item.func)
            elif item.kind == "method":
                state["instance"] = instance = item.cls()
                hook = getattr(instance, "setup_method", None)
                if hook is not None:
                    _call_optional(hook, getattr(instance, item.name))
            state["set_up"] = True

        def call():
            if item.kind == "unittest":
                return self.call_unittest(item)
            func = getattr(state["instance"], item.name) if item.kind == "method" else item.func
            if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
                # pytest 9 fails these without an async plugin; so does the native engine.
                raise PhaseOutcome(P.Outcome.FAILED, "async def functions are not natively supported.")
            func()
            return []

        def teardown():
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

        if self.phase(item, index, P.Phase.SETUP, setup) == P.Outcome.PASSED:
            self.phase(item, index, P.Phase.CALL, call)
        self.phase(item, index, P.Phase.TEARDOWN, teardown, finished=True)

    def call_unittest(self, item):
        """Runs one TestCase method; returns its subtest reports (pytest 9 passes the test
        itself when only subtests failed, and reports each failed subtest separately)."""
        result = UnittestResult()
        item.cls(item.name).run(result)
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

    # --- one batch --------------------------------------------------------------------
    def run_batch(self, node_ids, first_index, keep_session):
        items = []
        for node_id in node_ids:
            try:
                items.extend(collect(node_id, self.modules))
            except CollectFailure as failure:
                outcome = P.Outcome.SKIPPED if failure.skipped else P.Outcome.ERROR
                self.channel.send_collect_error(failure.node_id, outcome, failure.text)
        for position, item in enumerate(items):
            next_item = items[position + 1] if position + 1 < len(items) else None
            try:
                self.run_item(item, first_index + position, next_item)
            except KeyboardInterrupt:
                try:
                    self.stack.teardown_exact(None)
                except BaseException as exc:  # noqa: BLE001
                    self.channel.log(P.LogLevel.ERROR, f"teardown after interrupt failed: {exc!r}")
                return P.StopKind.INTERRUPTED, 2, f"KeyboardInterrupt in {item.node_id}"
        return P.StopKind.COMPLETED, 0, ""


def run(channel, hello):
    runner = NativeRunner(channel)
    channel.send(P.Ready(pid=os.getpid(), engine=P.Engine.NATIVE,
                         python_version=platform.python_version(), pytest_version=""))
    shutdown = channel.serve(runner.run_batch)
    if shutdown is not None:
        channel.done = P.Done()
        channel.send(channel.done)
    return 0
