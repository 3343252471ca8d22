"""The pytest engine: one in-process pytest session serving many batches.

Like pytest-xdist's worker, ``pytest.main`` runs with a plugin that replaces collection
(nothing is collected up front) and the run-test loop (``Channel.serve``). Each batch is
collected with ``session.perform_collect(node_ids)`` and run through
``pytest_runtest_protocol(item, nextitem)``. The last item of a batch gets ``nextitem=None``
(everything torn down) or, when the runner keeps the session, the session node itself, so
only session-scoped fixtures survive. Reports are mapped to outcomes with pytest's own
``pytest_report_teststatus`` hook, exactly as its terminal does.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pytest

from dxpy_worker import builtin_hooks, cov_worker, warm_pytest
from dxpy_worker import protocol as P
from dxpy_worker.fastpath import DirectProtocol
from dxpy_worker.import_once import FailedImports, deliver
from dxpy_worker.park import ParkBeforeConftests
from dxpy_worker.xdist_identity import SharedSeed, XdistIdentity

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable
    from typing import Union

    from dxpy_worker.channel import BatchOutcome, Channel
    from dxpy_worker.recorder import Recorder

    # (node ID, ERROR or SKIPPED, text, skip location) of a collector that failed or skipped.
    # (node ID, outcome, text, skip location, crash message): CollectError's fields
    CollectProblem = tuple[str, P.Outcome, str, str, str]
    # Items, or the UsageError of a collection that matched nothing.
    Collected = Union[list[pytest.Item], pytest.UsageError]


def _pytest_private(module: str, name: str) -> Any:
    """One of pytest's private objects, or None when this pytest lacks it (Any: no stable
    type to promise for a private API)."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # pragma: no cover - very old pytest
        return None


# pytest's own recorder of warnings raised while collecting (private, but stable since 6).
_catch_warnings_for_item = _pytest_private("_pytest.warnings", "catch_warnings_for_item")
_TerminalWriter = _pytest_private("_pytest._io", "TerminalWriter")
# pytest's reordering of items by higher-scoped parameters (private, stable since 3).
_reorder_items = _pytest_private("_pytest.fixtures", "reorder_items")
# A Module subclass that imports its file its own way (and only with --doctest-modules).
_DoctestModule = _pytest_private("_pytest.doctest", "DoctestModule")
# Both doctest collectors subclass pytest.Module, though neither is a test module.
_DOCTEST_COLLECTORS: tuple[type, ...] = tuple(
    c for c in (_DoctestModule, _pytest_private("_pytest.doctest", "DoctestTextfile"))
    if c is not None)


def _collect_warnings(config: pytest.Config) -> contextlib.AbstractContextManager[None]:
    if _catch_warnings_for_item is None:
        return contextlib.nullcontext()
    recorder: contextlib.AbstractContextManager[None] = _catch_warnings_for_item(
        config=config, ihook=config.hook, when="collect", item=None)
    return recorder

def _terminal_text(report: pytest.TestReport | pytest.CollectReport, width: int = 0) -> str:
    """A report's longrepr as pytest's terminal prints it, ``width`` columns wide (0: pytest's
    own choice). ``longreprtext`` strips the text, losing the blank line that opens a long
    traceback entry and its first line's indent."""
    if _TerminalWriter is None:  # pragma: no cover - very old pytest
        return report.longreprtext
    out = io.StringIO()
    writer = _TerminalWriter(out)
    writer.hasmarkup = False
    if width:
        writer.fullwidth = width
    report.toterminal(writer)
    return out.getvalue()


def _warning_summary(warning_message: warnings.WarningMessage) -> str:
    """pytest's text for a warning in its warnings summary (with the source line)."""
    try:
        from _pytest.warnings import warning_record_to_str
    except ImportError:  # pragma: no cover - very old pytest
        return str(warning_message.message)
    return warning_record_to_str(warning_message)


def _crash_message(report: pytest.TestReport) -> str:
    """The message pytest's short summary shows for a failure or error (all of it: the
    terminal cuts it unless on CI or at ``-vv``)."""
    if not report.failed:
        return ""
    longrepr: Any = report.longrepr  # any object a plugin made: duck-typed below
    if isinstance(longrepr, str):
        return longrepr
    try:
        return str(longrepr.reprcrash.message)
    except AttributeError:
        return ""


def _collect_crash_message(report: pytest.CollectReport) -> str:
    """The message pytest's short summary shows for a collection error: its crash's, when
    the report has one (an ImportError's report is text: none)."""
    if not report.failed:
        return ""
    longrepr: Any = report.longrepr  # any object a plugin made: duck-typed
    try:
        return str(longrepr.reprcrash.message)
    except AttributeError:
        return ""


def _skip_location(report: pytest.TestReport | pytest.CollectReport, invocation_dir: Path) -> str:
    """Where pytest's folded ``-rs`` summary says a skip happened: its ``(path, line,
    reason)`` longrepr's path relative to the invocation directory, then ``:line`` unless
    pytest folds the skip by file (``_folded_skips``: a ``skip`` mark met at setup that is
    not the module's ``pytestmark``)."""
    longrepr = report.longrepr
    if not report.skipped or not isinstance(longrepr, tuple) or len(longrepr) != 3:
        return ""
    path = longrepr[0]
    line: int | None = longrepr[1]
    try:
        from _pytest.pathlib import bestrelpath
        shown = bestrelpath(invocation_dir, Path(path))
    except (ImportError, ValueError):  # pragma: no cover - very old pytest, other drive
        shown = str(path)
    keywords = getattr(report, "keywords", {})
    if getattr(report, "when", None) == "setup" and "skip" in keywords \
            and "pytestmark" not in keywords:
        line = None
    return shown if line is None else f"{shown}:{line}"


def _head_line(report: pytest.TestReport, domain: str) -> str:
    """pytest's ``head_line`` (a FAILURES section's title) when it is not the domain."""
    try:
        head_line = report.head_line
    except Exception:  # noqa: BLE001 - a plugin's report class; the domain will do
        return ""
    return head_line if isinstance(head_line, str) and head_line != domain else ""


_CATEGORY = {
    "passed": P.Outcome.PASSED,
    "failed": P.Outcome.FAILED,
    "skipped": P.Outcome.SKIPPED,
    "xfailed": P.Outcome.XFAILED,
    "xpassed": P.Outcome.XPASSED,
    "error": P.Outcome.ERROR,
}
_PHASE = {"setup": P.Phase.SETUP, "call": P.Phase.CALL, "teardown": P.Phase.TEARDOWN}
_WHEN = {"config": P.WarningWhen.CONFIG, "collect": P.WarningWhen.COLLECT}

# Hooks that run a different number of times, or on different items, when a whole module is
# collected instead of the batch's node IDs: the module shortcut needs them all builtin.
MODULE_SHORTCUT_HOOKS = (
    "pytest_collectstart", "pytest_make_collect_report", "pytest_collectreport",
    "pytest_pycollect_makeitem", "pytest_generate_tests", "pytest_make_parametrize_id",
    "pytest_itemcollected", "pytest_collection_modifyitems", "pytest_deselected",
)

# Hooks whose implementations decide what a directory collects: the directory cache is used
# only while all of them are pytest's own (a conftest's could answer differently each time).
DIRECTORY_CACHE_HOOKS = (
    "pytest_collect_directory", "pytest_collect_file", "pytest_ignore_collect",
    "pytest_collectstart", "pytest_make_collect_report", "pytest_collectreport",
)


def _fallback_outcome(report: pytest.TestReport) -> P.Outcome:
    if report.passed:
        return P.Outcome.PASSED
    if report.skipped:
        return P.Outcome.SKIPPED
    return P.Outcome.FAILED if report.when == "call" else P.Outcome.ERROR


class CollectedModule:
    """A module's items from one whole collection, and those pytest's -k/-m dropped."""

    def __init__(self) -> None:
        self.items: list[pytest.Item] = []
        self.deselected: list[pytest.Item] = []


def _module_path(item: pytest.Item) -> str:
    return item.nodeid.partition("::")[0]


class WorkerPlugin:
    """Registered into the session; drives batches and turns reports into frames."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        # Set by pytest_sessionstart, before any batch (``_config``/``_session`` read them).
        self.config: pytest.Config | None = None
        self.session: pytest.Session | None = None
        self.index_of: dict[str, int] = {}
        self.shutdown_frame: P.RequestFrame | None = None
        # collect problems held during ``perform_collect``
        self.held_reports: list[CollectProblem] | None = None
        self.root_conftest_scoped_to_directory: bool | None = None  # see ``rearm_conftests``
        # warnings held while the module shortcut is tried (pytest_warning_recorded's kwargs)
        self.held_warnings: list[dict[str, Any]] | None = None
        self.visited: set[str] | None = None  # node IDs of the collectors it collected
        self.module_shortcuts = 0  # batches the shortcut collected (tests read it)
        self.batch_direct = 0  # items of the current batch run by the direct protocol
        self.pending: list[P.ResultMessage] = []  # not yet written (see ``emit``)
        # Set when the runner asks what each test executes (Hello's RECORD flag).
        self.recorder: Recorder | None = None
        # With -s the tests' output streams live beside the results: keep their order.
        self.hold_call_results = True
        self.direct_refusal = ""  # why the last batch could not use it
        # DXPY_NO_FASTPATH=1 turns both shortcuts off (to compare, or to rule them out).
        self.fast = os.environ.get("DXPY_NO_FASTPATH", "") in ("", "0")
        self.log_shortcuts = os.environ.get("DXPY_DEBUG_FASTPATH", "") not in ("", "0")
        self.real_stdout: TextIO | None = None  # sys.stdout before the terminal reporter got /dev/null
        self.deselected: list[pytest.Item] | None = None  # items pytest deselected, recorded during a batch
        # A hook batch's items are unknown to the runner: their passed setups are sent, so a
        # crash in a test's call is pinned on that test (else setups carry nothing).
        self.report_passed_setup = False
        # Warnings raised while ImportModules collected a module (pytest_warning_recorded's
        # kwargs), by its path: sent with the first batch that runs that module.
        self.import_warnings: dict[str, list[dict[str, Any]]] = {}
        self.import_once = ImportOnce()  # registered beside this plugin
        # Modules the module shortcut collected whole, by path: later batches select from them.
        self.collected_modules: dict[str, CollectedModule] = {}

    def _config(self) -> pytest.Config:
        """The session's config: batches and reports come after pytest_sessionstart."""
        assert self.config is not None, "no pytest session yet"
        return self.config

    def _session(self) -> pytest.Session:
        assert self.session is not None, "no pytest session yet"
        return self.session

    # --- session lifecycle ----------------------------------------------------------
    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        self.config = session.config
        # With -s/--capture=no tests write to sys.stdout itself: give them the real one (fd 1,
        # the worker's stderr, which the runner drains); the reporter keeps /dev/null.
        if self.config.getoption("capture", "fd") == "no":
            self.hold_call_results = False
            if self.real_stdout is not None:
                sys.stdout = self.real_stdout
        if self.fast:
            self.install_directory_cache(session)
        self.channel.send(P.Ready(
            pid=os.getpid(), engine=P.Engine.PYTEST,
            python_version=platform.python_version(), pytest_version=pytest.__version__,
        ))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> bool:
        return True  # batches are collected on demand

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        self.shutdown_frame = self.channel.serve(
            self.run_batch, self.run_hook_batch, self.import_modules)
        return True

    def install_directory_cache(self, session: pytest.Session) -> None:
        """Keeps directory collectors for the whole session, as one pytest run does.

        Each batch is its own ``perform_collect``, and pytest builds the path from the
        rootdir down afresh each time: every directory on the way is collected again, which
        makes a node for every file in it (100 sibling modules: 100 nodes per batch, over a
        third of a worker's time on such a suite), and registers its conftest's fixtures on
        the new node. Here the Directory nodes (and the result of collecting them) live as
        long as the session, so a directory is collected once, like under plain pytest.
        Used only for reports that passed and while every directory-collection hook is
        pytest's own; pytest versions without these internals are left alone.
        """
        directory_type = getattr(pytest, "Directory", None)
        collect_path = getattr(session, "_collect_path", None)
        collect_one_node = getattr(session, "_collect_one_node", None)
        if directory_type is None or collect_path is None or collect_one_node is None:
            return
        # The session's private collection methods and their results: Any at this boundary.
        path_cache: dict[Path, Any] = {}
        reports: dict[pytest.Directory, Any] = {}
        config = self._config()
        session_internals: Any = session

        def usable() -> bool:
            return builtin_hooks.only_builtin(config, DIRECTORY_CACHE_HOOKS, OWN_PLUGINS)

        def cached_collect_path(path: Path, _per_call_cache: dict[Path, Any]) -> Any:
            if not usable():
                return collect_path(path, _per_call_cache)
            return collect_path(path, path_cache)

        def cached_collect_one_node(node: pytest.Collector, handle_dupes: bool = True) -> Any:
            if not isinstance(node, directory_type) or not usable():
                return collect_one_node(node, handle_dupes)
            report = reports.get(node)
            if report is None:
                report, duplicate = collect_one_node(node, handle_dupes)
                if report.passed:
                    reports[node] = report
                return report, duplicate
            # pytest's own per-call cache sees it too (its duplicate detection).
            session_internals._collection_cache[node] = report
            return report, False

        session_internals._collect_path = cached_collect_path
        session_internals._collect_one_node = cached_collect_one_node

    # --- one batch ------------------------------------------------------------------
    def rearm_conftests(self) -> None:
        """Lets the next collection see every conftest's fixtures again.

        pytest >= 9.1 attaches a conftest's fixtures to its Directory node when that node is
        first collected; a later ``perform_collect`` builds new Directory nodes, which would
        otherwise see none of them. Conftests above the rootdir are session-wide and stay
        attached to the (single) Session; so is the rootdir's own from pytest 9.2 on, while
        pytest 9.1 attaches it to the rootdir's Directory node like any other.
        """
        manager = getattr(self._session(), "_fixturemanager", None)
        pending = getattr(manager, "_pending_conftests", None)
        if pending is None:
            return  # older pytest scopes conftest fixtures by node ID: nothing to redo
        from pathlib import Path

        root = Path(self._config().rootpath)
        if self.root_conftest_scoped_to_directory is None:
            # Before the first collection, the rootdir's conftest is still pending exactly
            # when this pytest will attach it to a Directory node (9.1), not the Session.
            self.root_conftest_scoped_to_directory = root in pending
        for plugin in list(getattr(self._config().pluginmanager, "_conftest_plugins", ())):
            filename = getattr(plugin, "__file__", None)
            if not filename:
                continue
            directory = Path(os.path.abspath(filename)).parent
            if root in directory.parents or (
                    directory == root and self.root_conftest_scoped_to_directory):
                pending.setdefault(directory, plugin)

    def perform_collect(self, node_ids: list[str]) -> tuple[Collected, list[CollectProblem]]:
        """One ``perform_collect``; returns (items or the UsageError, collect problems).
        Collect reports are held back so probing passes never report twice."""
        self.rearm_conftests()
        self.held_reports = []
        try:
            # pytest records collect-time warnings inside its pytest_collection hook, which
            # this engine bypasses: record them the same way here.
            with _collect_warnings(self._config()):
                return list(self._session().perform_collect(node_ids)), self.held_reports
        except pytest.UsageError as err:
            return err, self.held_reports
        finally:
            self.held_reports = None

    def collect_by_module(self, node_ids: list[str]) -> list[pytest.Item] | None:
        """The batch's items from collecting their modules whole, or None when that could
        differ from collecting the node IDs themselves.

        pytest matches each node ID argument separately (a large part of a batch's cost);
        the batch's modules collected whole yield the same item objects. The result is used
        only when it provably equals what ``perform_collect(node_ids)`` returns: each node ID
        names an item (or a parametrized function: all its items) and each item is selected
        once, each module's node IDs are contiguous,
        nothing was reported or warned while collecting (the node IDs' own collection might
        not have touched what did), collection hooks are all builtin (so selection is per
        item) and pytest's fixture-based reordering leaves the requested order unchanged.
        """
        if not node_ids or len(set(node_ids)) != len(node_ids):
            return None
        paths: list[str] = []
        for node_id in node_ids:
            path, sep, _ = node_id.partition("::")
            if not sep:
                return None
            if not paths or paths[-1] != path:
                paths.append(path)
        if len(set(paths)) != len(paths):
            return None  # a module's node IDs are split by another module's
        # Refusals that depend on the request alone come before collecting: collecting a
        # module twice (here, then by node ID) is not always harmless (a parametrize
        # generator is used up by the first collection), so later refusals are kept rare.
        # (Parameter IDs may hold "::"; everything before the first "[" is path and names.)
        functions = {n for n in node_ids if "[" not in n}
        if any("[" in n and n.split("[", 1)[0] in functions for n in node_ids):
            return None  # an item named both by itself and by its function
        if not builtin_hooks.only_builtin(self._config(), MODULE_SHORTCUT_HOOKS, OWN_PLUGINS):
            return None
        known = [self.collected_modules.get(path) for path in paths]
        if all(module is not None for module in known):
            # Collected whole by an earlier batch of this worker, quietly: pytest collects a
            # module once per session, so its items are selected again, not made again (a
            # module cut into ranges would otherwise be collected once per range).
            kept = [module for module in known if module is not None]
            return self.select_collected(
                node_ids, [i for m in kept for i in m.items], [i for m in kept for i in m.deselected],
                [], set(), fresh=False)
        self.held_warnings = []
        self.visited = set()
        self.deselected = []
        failures_before = self.import_once.imports.count()
        try:
            items, problems = self.perform_collect(paths)
        finally:
            warned, self.held_warnings = self.held_warnings, None
            visited, self.visited = self.visited, None
            deselected, self.deselected = self.deselected, None
        if isinstance(items, pytest.UsageError) or problems:
            # Collecting again by node ID raises the same warnings, except those of a module
            # whose import failed here: that import is not run again (``ImportOnce``).
            failed_warned = {id(m) for m in self.import_once.imports.warned_since(failures_before)}
            for kwargs in warned:
                if id(kwargs.get("warning_message")) in failed_warned:
                    self.pytest_warning_recorded(**kwargs)
            return None
        return self.select_collected(node_ids, items, deselected, warned, visited, fresh=True)

    def select_collected(
        self,
        node_ids: list[str],
        items: list[pytest.Item],
        deselected: list[pytest.Item],
        warned: list[dict[str, Any]],
        visited: set[str],
        fresh: bool,
    ) -> list[pytest.Item] | None:
        """``collect_by_module``'s second half: the batch's items out of its modules' whole
        collection (``items``, in order, and what -k/-m dropped), or None. A ``fresh``
        collection is kept for the worker's later batches (what it warned was reported with
        this batch, once, as by pytest's one collection)."""
        by_id = {}
        # "path::test_f" -> its parametrized items, as pytest matches them
        by_function: dict[str, list[pytest.Item]] = {}
        for item in items:
            if item.nodeid in by_id:
                return None
            by_id[item.nodeid] = item
            parent = item.parent
            if "[" in item.name and parent is not None:
                # pytest matches a name argument against ``name.split("[")[0]``.
                function = f"{parent.nodeid}::{item.name.split('[', 1)[0]}"
                by_function.setdefault(function, []).append(item)
        # What pytest's own -k/-m dropped, by node ID and by function: discovery keeps what it
        # cannot decide statically (parameter IDs only known at run time, say).
        dropped = {item.nodeid for item in deselected} | {_function_id(i) for i in deselected}
        selected = []
        requested_dropped: set[str] = set()  # requested, and all pytest kept of it is nothing
        expanded: set[str] = set()  # functions requested by name (their items are news to the runner)
        for node_id in node_ids:
            named = by_id.get(node_id)
            if named is not None:
                selected.append(named)
            elif node_id in by_function:
                # Discovery lists a function whose parameters are only known at run time
                # by its name; pytest's argument matching expands it to all of them.
                selected.extend(by_function[node_id])
                expanded.add(node_id)
            elif node_id in dropped:
                requested_dropped.add(node_id)
            else:
                return None
        if len({id(item) for item in selected}) != len(selected):
            return None
        if _reorder_items is None or any(
            a is not b for a, b in zip(_reorder_items(selected), selected)
        ):
            return None
        if warned and len(selected) < len(items):
            # The batch is part of its modules (a class split out of a large one, or node IDs
            # given by the user): pytest would collect only the collectors holding them, so
            # warnings are the same only if collecting whole visited no other collector.
            # Otherwise collect again by node ID; that is the rare case (collecting a module
            # twice is not always harmless: a parametrize generator is used up by the first
            # collection). A batch that asks for every item its modules keep (after -k/-m)
            # stands for whole modules, which pytest collects whole, warnings included.
            holders = {node.nodeid for item in selected for node in item.listchain()[:-1]}
            if not visited <= holders:
                return None
        if warned:
            for kwargs in warned:
                self.pytest_warning_recorded(**kwargs)
        # Only the requested items pytest dropped are news to the runner (discovery counted
        # the rest); a function's items all go when any of them was requested by name.
        requested = requested_dropped | expanded
        news = [
            item.nodeid for item in deselected
            if item.nodeid in requested or _function_id(item) in requested
        ]
        if news:
            self.channel.send(P.Deselected(news))
        self.module_shortcuts += 1
        if fresh:
            self.keep_collected(items, deselected)
        return selected

    def keep_collected(self, items: list[pytest.Item], deselected: list[pytest.Item]) -> None:
        for item in items:
            self.collected_modules.setdefault(_module_path(item), CollectedModule()).items.append(item)
        for item in deselected:
            self.collected_modules.setdefault(
                _module_path(item), CollectedModule()).deselected.append(item)

    def collect(self, node_ids: list[str]) -> list[pytest.Item]:
        """Collects the batch; node IDs that match nothing become CollectErrors."""
        selected = self.collect_by_module(node_ids) if self.fast else None
        if selected is not None:
            return selected
        items, problems, deselected = self.perform_collect_recording_deselected(node_ids)
        if isinstance(items, pytest.UsageError):
            # Some argument matched nothing: find which, report them, then collect the rest
            # together (so items of one module share their Module node and fixtures).
            good, explained = [], set()
            for node_id in node_ids:
                probe, probe_problems = self.perform_collect([node_id])
                if not isinstance(probe, pytest.UsageError):
                    good.append(node_id)
                elif probe_problems:
                    # A collector that failed or skipped itself (a module-level skip) is why
                    # nothing matched: report that, once for all its requested items.
                    for problem in probe_problems:
                        if problem[0] not in explained:
                            explained.add(problem[0])
                            self.channel.send_collect_error(*problem)
                else:
                    text = "\n".join(map(str, probe.args))
                    self.channel.send_collect_error(node_id, P.Outcome.ERROR, text, "")
            items, problems, deselected = (
                self.perform_collect_recording_deselected(good) if good else ([], [], [])
            )
            if isinstance(items, pytest.UsageError):
                problems.append((" ".join(good), P.Outcome.ERROR, str(items), "", ""))
                items = []
        for problem in problems:
            self.channel.send_collect_error(*problem)
        if deselected and not isinstance(items, pytest.UsageError):
            # Collected by node ID, pytest's -k/-m can only drop requested items.
            self.channel.send(P.Deselected([item.nodeid for item in deselected]))
        return items

    def perform_collect_recording_deselected(
        self, node_ids: list[str]
    ) -> tuple[Collected, list[CollectProblem], list[pytest.Item]]:
        """``perform_collect`` plus the items pytest's own -k/-m deselected."""
        self.deselected = []
        try:
            items, problems = self.perform_collect(node_ids)
        finally:
            deselected, self.deselected = self.deselected, None
        return items, problems, deselected

    def import_modules(self, paths: list[str]) -> None:
        """ImportModules: imports the run's test modules, in collection order, the way
        pytest's collection does before it runs any test (so a test relying on another
        module's import side effects sees them, as under pytest or a pytest-xdist worker).

        The paths are collected through pytest itself, in one collection (conftests, rootdir
        and ``sys.path`` handling, import mode, assertion rewriting), while ``ImportOnly``
        stops at each module: it is imported, its items are not built. Collection problems
        (a module that failed to import or skipped itself, a conftest that failed) are sent,
        so that the runner can interrupt the run before any test as pytest does; without
        that, the batch that runs such a module collects it again and ``ImportOnce`` raises
        the same failure there. Warnings are held for the first batch that runs the module
        that raised them (a conftest's: the first module imported after it loaded).
        One collection, not one per path: each ``perform_collect`` walks from the rootdir
        again, which cost more than the imports themselves (click's 43 modules: 0.26 s per
        path against 0.12 s at once).
        """
        guard, sources = ImportOnly(), WarningSources()
        manager = self._config().pluginmanager
        manager.register(guard, name="dxpy-import-only")
        manager.register(sources, name="dxpy-warning-sources")
        self.held_warnings = []
        try:
            problems: list[CollectProblem] = []
            try:
                _, problems = self.perform_collect(list(paths))
            except Exception:  # noqa: BLE001, S110 - the batches that run them meet it again
                pass
            finally:
                warned, self.held_warnings = self.held_warnings, None
            for problem in problems:
                self.channel.send_collect_error(*problem)
            first = paths[0] if paths else ""
            for kwargs in warned:
                path = sources.raised_by.get(id(kwargs.get("warning_message")), first)
                self.import_warnings.setdefault(path, []).append(kwargs)
        finally:
            manager.unregister(guard)
            manager.unregister(sources)
            # A failed collection counts towards -x/--maxfail; nothing ran yet.
            self.reset_stop()

    def send_import_warnings(self, node_ids: Iterable[str]) -> None:
        """Sends the warnings ImportModules held for the batch's modules, once: the batch
        that imports a module is where they would have been raised."""
        for node_id in node_ids:
            for kwargs in self.import_warnings.pop(node_id.partition("::")[0], ()):
                self.pytest_warning_recorded(**kwargs)

    def reset_stop(self) -> None:
        # Each batch starts like a fresh run: -x/--maxfail count from zero. (The public
        # setters refuse to clear a stop once set, hence the private fields: Any.)
        session: Any = self._session()
        session._shouldstop = False
        session._shouldfail = False
        session.testsfailed = 0

    def run_batch(self, node_ids: list[str], first_index: int, keep_session: bool) -> BatchOutcome:
        self.reset_stop()
        self.send_import_warnings(node_ids)
        shortcuts_before = self.module_shortcuts
        items = self.collect(node_ids)
        shortcut = self.module_shortcuts != shortcuts_before
        return self.run_items(items, first_index, keep_session, shortcut)

    def run_hook_batch(self, request: P.RunHookItems) -> BatchOutcome:
        """Runs what conftest ``pytest_collect_file`` hooks make under the request's paths.

        The paths are collected through pytest itself (so the hooks run, and pytest's own
        ignore rules, ``-k``/``-m``/``--deselect`` apply) while a ``HookItemsGuard`` keeps out
        Python test modules (the runner schedules those by node ID: importing them here
        would import them twice) and the directories other batches collect. Items the
        runner lists as already run (a batch requeued after a crash) are dropped.
        """
        self.reset_stop()
        root = self._config().rootpath
        guard = HookItemsGuard(self._session(), [root / d for d in request.skip_dirs])
        manager = self._config().pluginmanager
        manager.register(guard, name="dxpy-hook-items-guard")
        self.deselected = []
        try:
            args = [str(root / path) for path in request.paths]
            items, problems = self.perform_collect(args)
            if isinstance(items, pytest.UsageError):
                # A path that yields nothing is no error here (a file only some hook
                # collects): collect the others on their own.
                items = []
                for arg in args:
                    found, more = self.perform_collect([arg])
                    problems.extend(more)
                    if not isinstance(found, pytest.UsageError):
                        items.extend(found)
        finally:
            manager.unregister(guard)
            deselected, self.deselected = self.deselected, None
        for problem in problems:
            self.channel.send_collect_error(*problem)
        if deselected:
            self.channel.send(P.Deselected([item.nodeid for item in deselected]))
        skip = set(request.skip_items)
        items = [item for item in items if item.nodeid not in skip]
        self.report_passed_setup = True
        try:
            return self.run_items(items, request.first_index, request.keep_session, False)
        finally:
            self.report_passed_setup = False

    def run_items(
        self, items: list[pytest.Item], first_index: int, keep_session: bool, shortcut: bool
    ) -> BatchOutcome:
        session = self._session()
        self.batch_direct = 0
        self.index_of = {}
        for position, item in enumerate(items):
            self.index_of.setdefault(item.nodeid, first_index + position)
        hook = self._config().hook
        last = session if keep_session else None
        # Decided after collection: conftests register while their directory is collected.
        if self.fast:
            direct, self.direct_refusal = DirectProtocol.for_session(self._config(), self)
        else:
            direct, self.direct_refusal = None, "DXPY_NO_FASTPATH is set"
        recorder = self.recorder
        for position, item in enumerate(items):
            nextitem = items[position + 1] if position + 1 < len(items) else last
            if recorder is not None:
                recorder.begin_item()
            try:
                try:
                    if direct is not None and direct.still_valid():
                        self.batch_direct += 1
                        direct.run(item, nextitem)
                    else:
                        hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                finally:
                    if recorder is not None and recorder.current is not recorder.ambient:
                        recorder.end_item()  # no teardown report: nothing to send
                    self.flush_pending()
            except KeyboardInterrupt:
                self.teardown_all()
                return P.StopKind.INTERRUPTED, 2, f"KeyboardInterrupt in {item.nodeid}"
            except pytest.exit.Exception as exc:
                self.teardown_all()
                code = exc.returncode if exc.returncode is not None else 2
                return P.StopKind.EXIT, int(code), f"Exit: {exc.msg}"
            if session.shouldfail:
                self.teardown_all()
                return P.StopKind.SHOULD_STOP, 1, str(session.shouldfail)
            if session.shouldstop:
                self.teardown_all()
                return P.StopKind.SHOULD_STOP, 2, str(session.shouldstop)
        if self.log_shortcuts:
            self.report_shortcuts(len(items), shortcut)
        return P.StopKind.COMPLETED, 0, ""

    def report_shortcuts(self, n_items: int, by_module: bool) -> None:
        """With DXPY_DEBUG_FASTPATH=1, one DEBUG log per batch: which shortcuts ran and why
        a batch took pytest's normal path (the tests read it)."""
        message = (f"fast path: module collection {'used' if by_module else 'not used'}; "
                   f"direct protocol {self.batch_direct}/{n_items} items")
        if self.direct_refusal:
            message += f" (refused: {self.direct_refusal})"
        self.channel.log(P.LogLevel.DEBUG, message)

    def teardown_all(self) -> None:
        """Tears down every active fixture after an aborted batch."""
        session: Any = self._session()  # (its private SetupState)
        try:
            session._setupstate.teardown_exact(None)
        except BaseException as exc:  # noqa: BLE001 - report, keep serving
            self.channel.log(P.LogLevel.ERROR, f"teardown after abort failed: {exc!r}")

    # --- reports --------------------------------------------------------------------
    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        when = report.when
        if when == "setup" and report.passed and not self.report_passed_setup \
                and not report.sections:
            return  # carries nothing the runner needs (captured output is shown later)
        status = self._config().hook.pytest_report_teststatus(report=report, config=self._config())
        category = status[0] if status else ""
        letter = str(status[1]) if status else ""
        word = status[2] if status else ""
        if isinstance(word, tuple):  # (word, markup)
            word = word[0]
        outcome = _CATEGORY.get(category)
        in_summary = outcome is not None
        # Counted by pytest under a category of its own (subtests, plugins): the runner's
        # stats line adds it after the known ones.
        extra_category = category if not in_summary and isinstance(category, str) else ""
        if outcome is None:
            outcome = _fallback_outcome(report)
        cap = self.channel.cap
        truncated = False
        stdout, stderr, sections = [], [], []
        suffix = " " + when
        for title, content in report.sections:
            if not title.endswith(suffix):
                continue  # an earlier phase's section, already sent
            if title.startswith("Captured stdout"):
                stdout.append(content)
            elif title.startswith("Captured stderr"):
                stderr.append(content)
            else:
                text, cut = cap(content)
                truncated |= cut
                sections.append((title, text))
        out, cut_out = cap("".join(stdout))
        err, cut_err = cap("".join(stderr))
        skip_reason = ""
        longrepr = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            skip_reason = str(report.longrepr[2])
        elif report.longrepr is not None or hasattr(report, "node"):
            # (Rendered through a TerminalWriter even when there is nothing to render; with
            # no longrepr and no xdist worker line it is "".)
            longrepr = _terminal_text(report, self.channel.terminal_width)
        if hasattr(report, "wasxfail"):
            skip_reason = str(report.wasxfail)
        longrepr, cut_repr = cap(longrepr)
        path, line, domain = report.location
        if when == "teardown" and self.recorder is not None:
            self.emit_executed(report.nodeid)
        self.emit(P.ItemResult(
            test_index=self.index_of.get(report.nodeid, P.NO_TEST_INDEX),
            node_id=report.nodeid,
            outcome=outcome,
            phase=_PHASE[when],
            duration_ns=max(0, int(report.duration * 1e9)),
            item_finished=when == "teardown",
            output_truncated=truncated or cut_out or cut_err or cut_repr,
            in_summary=in_summary,
            longrepr=longrepr,
            stdout=out,
            stderr=err,
            sections=sections,
            skip_reason=skip_reason,
            location_path=str(path),
            location_line=line if isinstance(line, int) and line >= 0 else None,
            location_domain=str(domain),
            category=extra_category,
            letter=letter,
            word=str(word),
            head_line=_head_line(report, str(domain)),
            crash_line=self._crash_line(report),
            crash_message=cap(_crash_message(report))[0],
            progress_hidden=bool(letter or word) and self._output_captured(),
            skip_location=("" if hasattr(report, "wasxfail")
                           else _skip_location(report, self._config().invocation_params.dir)),
        ))

    def _crash_line(self, report: pytest.TestReport) -> str:
        """With ``--tb=line``, pytest's terminal follows a failure's text with this line."""
        if not report.failed or getattr(self._config().option, "tbstyle", "auto") != "line":
            return ""
        longrepr: Any = report.longrepr  # any object a plugin made: duck-typed
        try:
            return str(longrepr.reprcrash)
        except AttributeError:
            return str(longrepr)[:50] if longrepr is not None else ""

    def _output_captured(self) -> bool:
        """pytest's global capture is on right now: what its terminal writes (a unittest
        subtest's progress letter, reported from inside the test) goes to the capture."""
        capman = self._config().pluginmanager.getplugin("capturemanager")
        if capman is None or getattr(capman, "_method", "no") in ("no", "tee-sys"):
            return False
        capture = getattr(capman, "_global_capturing", None)
        return getattr(capture, "_state", None) == "started"

    def emit_executed(self, node_id: str) -> None:
        """Ends the item's recording; its Executed frame goes just before its teardown
        report (in the same write)."""
        recorder = self.recorder
        assert recorder is not None
        if recorder.current is recorder.ambient:
            return  # a second teardown report (a plugin's): the item was already sent
        sink, imported = recorder.end_item()
        paths, def_lines = recorder.hits_by_file(sink.hits)
        self.pending.append(P.Executed(
            test_index=self.index_of.get(node_id, P.NO_TEST_INDEX), node_id=node_id,
            coarse=sink.coarse, paths=paths, def_lines=def_lines, imported=imported))

    def ambient(self) -> P.Ambient | None:
        """What ran outside the items since the last Ambient (sent before each Done)."""
        if self.recorder is None:
            return None
        coarse, instrumented, hits = self.recorder.take_ambient()
        paths, def_lines = self.recorder.hits_by_file(hits)
        return P.Ambient(coarse, instrumented, paths, def_lines)

    def emit(self, result: P.ItemResult) -> None:
        """Sends an item result; a call-phase result waits for its item's teardown result,
        so each test costs one write (and one wake-up of the runner) instead of two. A
        result never waits past its own item: any other frame, the end of an item's
        protocol and the end of a batch flush it first."""
        self.pending.append(result)
        if result.phase == P.Phase.CALL and not result.item_finished and self.hold_call_results:
            return
        self.flush_pending()

    def flush_pending(self) -> None:
        if not self.pending:
            return
        results, self.pending = self.pending, []
        self.channel.send_items(results)

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.visited is not None:
            self.visited.add(report.nodeid)
        if report.passed:
            return
        if report.skipped and isinstance(report.longrepr, tuple):
            text = str(report.longrepr[2])
        else:
            text = _terminal_text(report, self.channel.terminal_width)
        outcome = P.Outcome.SKIPPED if report.skipped else P.Outcome.ERROR
        problem = (report.nodeid, outcome, text,
                   _skip_location(report, self._config().invocation_params.dir),
                   _collect_crash_message(report))
        if self.held_reports is not None:
            self.held_reports.append(problem)
        else:
            self.flush_pending()
            self.channel.send_collect_error(*problem)

    @pytest.hookimpl
    def pytest_warning_recorded(
        self,
        warning_message: warnings.WarningMessage,
        when: str,
        nodeid: str,
        location: tuple[str, int, str] | None,
    ) -> None:
        if self.held_warnings is not None:
            self.held_warnings.append({"warning_message": warning_message, "when": when,
                                       "nodeid": nodeid, "location": location})
            return
        self.flush_pending()
        self.channel.send(P.Warning_(
            when=_WHEN.get(when, P.WarningWhen.RUNTEST),
            category=warning_message.category.__name__ if warning_message.category else "",
            message=self.channel.cap(str(warning_message.message))[0],
            filename=str(warning_message.filename or ""),
            lineno=int(warning_message.lineno or 0),
            node_id=nodeid or "",
            summary=self.channel.cap(_warning_summary(warning_message))[0],
            location=self._warning_location(warning_message),
        ))

    def _warning_location(self, warning_message: warnings.WarningMessage) -> str:
        """``path:lineno`` relative to the invocation directory, as pytest's warnings summary
        names a warning that no test raised."""
        if not warning_message.filename:
            return ""
        path = os.path.abspath(str(warning_message.filename))
        try:
            from _pytest.pathlib import bestrelpath
            # (Config-time warnings come before the plugin has its config.)
            config = self.config
            invocation_dir = config.invocation_params.dir if config is not None else Path.cwd()
            shown = bestrelpath(invocation_dir, Path(path))
        except (ImportError, ValueError):  # pragma: no cover - very old pytest, other drive
            shown = path
        return f"{shown}:{warning_message.lineno}"

    @pytest.hookimpl
    def pytest_deselected(self, items: Iterable[pytest.Item]) -> None:
        if self.deselected is not None:
            self.deselected.extend(items)

    @pytest.hookimpl
    def pytest_internalerror(self, excrepr: object, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.flush_pending()
        self.channel.log(P.LogLevel.ERROR, f"pytest internal error:\n{excrepr}")


class ImportOnce:
    """Every ``pytest.Module`` this worker collects imports through one ``FailedImports``
    (``_getobj`` is pytest's ``importtestmodule`` step): see ``import_once``."""

    def __init__(self) -> None:
        self.imports = FailedImports()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, None]:
        # A hook wrapper runs before every plain implementation (ImportOnly reads ``obj`` in
        # one), and a module is reported on before anything imports it.
        if isinstance(collector, pytest.Module) and "_getobj" not in vars(collector):
            original = collector._getobj
            path = collector.path
            collector._getobj = lambda: self.imports.guard(path, original)  # type: ignore[method-assign]
        yield




class WarningSources:
    """Registered while ImportModules collects: which test module each warning belongs to
    (``raised_by``): the one whose import raised it, or for a directory's (a conftest's), the
    next module imported."""

    def __init__(self) -> None:
        self.raised_by: dict[int, str] = {}  # id(WarningMessage) -> module node ID
        self.pending: list[warnings.WarningMessage] = []  # directories' since the last module

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Generator[None, Any, None]:
        with warnings.catch_warnings(record=True) as caught:
            yield
        deliver(caught)  # to pytest's own recorder, as if not caught here
        self.pending.extend(caught)
        if isinstance(collector, pytest.Module):
            for message in self.pending:
                self.raised_by[id(message)] = collector.nodeid
            self.pending = []


class ImportOnly:
    """Registered while ImportModules collects: a test module is imported (``Module.obj``,
    pytest's own ``importtestmodule``) and its collection stops there, without items (building
    them here and again in the batch could use up a parametrize generator). Other files are
    not collected at all; directories are collected as usual (their conftests load)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> pytest.CollectReport | None:
        if not isinstance(collector, pytest.File) or isinstance(collector, pytest.Package):
            return None  # a directory (or pytest 7's Package, a Module): collect it
        if isinstance(collector, pytest.Module) and not isinstance(collector, _DOCTEST_COLLECTORS):
            try:
                collector.obj  # noqa: B018 - the import is the point
            except KeyboardInterrupt:
                raise
            except BaseException:  # noqa: BLE001 - pytest reports it, below
                # pytest's own report of the failure (or module-level skip): collecting
                # raises it again (``ImportOnce``), before any item is built.
                return None
        return pytest.CollectReport(collector.nodeid, "passed", None, [])


# The engine's own plugins: the shortcuts were written against their hooks. (ImportModules'
# ImportOnly and WarningSources leave directories' collection to pytest, so the directory cache
# stays on while they are registered: else each of a directory's modules would collect the whole
# directory again, quadratic in its size. HookItemsGuard changes what directories collect: not
# listed.)
OWN_PLUGINS = (WorkerPlugin, ImportOnce, ImportOnly, WarningSources)


class HookItemsGuard:
    """Registered while a RunHookItems batch collects: keeps that collection to the items
    static discovery cannot plan."""

    def __init__(self, session: pytest.Session, skip_dirs: Iterable[Path]) -> None:
        self.session = session
        self.python_files = session.config.getini("python_files")
        self.skip_dirs = set(skip_dirs)

    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        if collection_path in self.skip_dirs:
            return True  # another batch collects it
        return None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> Generator[None, Any, None]:
        outcome = yield
        collectors = outcome.get_result()
        kept = [c for c in collectors if not self.is_test_module(c, file_path)]
        if len(kept) != len(collectors):
            outcome.force_result(kept)

    def is_test_module(self, collector: pytest.Collector, file_path: Path) -> bool:
        """A Python test module the runner schedules by node ID (``python_files``); a test
        module's doctests (``--doctest-modules``) are not scheduled, so they stay."""
        if isinstance(collector, _DOCTEST_COLLECTORS):
            return False
        return isinstance(collector, pytest.Module) and (
            _path_matches(file_path, self.python_files) or self.session.isinitpath(file_path))


def _path_matches(path: Path, patterns: Iterable[str]) -> bool:
    try:
        from _pytest.python import path_matches_patterns
    except ImportError:  # pragma: no cover - pytest < 7
        import fnmatch
        return any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)
    return path_matches_patterns(path, patterns)


def _function_id(item: pytest.Item) -> str:
    """``path::[Class::]function`` of a parametrized item (its own node ID otherwise)."""
    if "[" in item.name and item.parent is not None:
        return f"{item.parent.nodeid}::{item.name.split('[', 1)[0]}"
    return item.nodeid


def _devnull_stdout() -> TextIO:
    """pytest's terminal reporter writes to ``sys.stdout`` as it was at configure time;
    giving it /dev/null keeps its progress output off the worker's stderr."""
    return open(os.devnull, "w", encoding="utf-8")


def run(channel: Channel, hello: P.Hello) -> int:
    plugin = WorkerPlugin(channel)
    plugins: list[object] = [plugin, plugin.import_once, XdistIdentity(), SharedSeed()]
    if hello.record:
        # Before pytest starts: conftests and plugins import the project too.
        from dxpy_worker.recorder import Recorder, cache_dir_from_env
        from dxpy_worker.recorder_plugin import FixtureScopes

        plugin.recorder = Recorder(hello.rootdir or os.getcwd(), cache_dir_from_env())
        plugin.recorder.install()
        plugins.append(FixtureScopes(plugin.recorder))
        channel.before_done = plugin.ambient
    coverage = cov_worker.from_env()
    if coverage is not None:
        plugins.append(coverage)
    if hello.park:
        plugins.append(ParkBeforeConftests(channel, sys.modules))
    args = list(hello.pytest_args)
    if not any(a == "--rootdir" or a.startswith("--rootdir=") for a in args) and hello.rootdir:
        args.append(f"--rootdir={hello.rootdir}")
    saved_stdout = sys.stdout
    plugin.real_stdout = saved_stdout
    sys.stdout = _devnull_stdout()
    started = time.monotonic()
    warm_pytest.install(args)
    try:
        exit_code = pytest.main(args, plugins=plugins)
    finally:
        sys.stdout = saved_stdout
    if plugin.session is None:
        channel.send(P.Fatal(
            f"pytest could not start a session (exit code {int(exit_code)}); see worker stderr",
            "",
        ))
        return 1
    if plugin.shutdown_frame is not None:
        channel.request_id = plugin.shutdown_frame.request_id
        channel.done = P.Done(exit_code=int(exit_code),
                              message=f"session ran {time.monotonic() - started:.3f}s")
        channel.send(channel.done)
    return 0
