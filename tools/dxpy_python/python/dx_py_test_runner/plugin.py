"""The pytest plugin (entry point ``pytest11``): the ``snapshot`` fixture, ``dx.snapshot``,
``--update-snapshots`` and ``--ci``, the assertion diff and the terminal summary.

The Rust store (``_native.Store``) hashes, compares, diffs and writes; this module names
snapshots after their tests and decides what is written, failed or unused.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import IO, Any

import pytest

from dx_py_test_runner import _native
from dx_py_test_runner._fixture_cache import clear_on_cache_clear
from dx_py_test_runner._serialize import Serializer, serialize

_STATE = pytest.StashKey["_Session"]()


class SnapshotReport(UserWarning):
    """A snapshot written or updated, reported as a warning where no terminal summary of
    this plugin's is shown (in dx-py's workers)."""

_current: _Test | None = None


@dataclass
class _Test:
    """The running test: its file, its snapshot key, and how many unnamed snapshots it took."""

    file: str
    key: str
    session: _Session
    count: int = 0

    def next_name(self, name: str | None) -> str:
        if name is not None:
            return f"{self.key}.{name}"
        n = self.count
        self.count += 1
        return self.key if n == 0 else f"{self.key}.{n}"


@dataclass
class _Session:
    store: _native.Store
    update: bool
    ci: bool
    # In a dx-py worker a session sees only the tests it ran; it never judges whole modules.
    partial: bool
    # dx-py prints the workers' warnings, not their terminal summaries.
    warn: bool = False
    written: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    used: dict[str, set[str]] = field(default_factory=dict)
    collected: dict[str, set[str]] = field(default_factory=dict)
    ran: dict[str, tuple[str, str]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    deselected_files: set[str] = field(default_factory=set)
    # In a dx-py worker: where this worker's records go (the run judges unused snapshots).
    records: _Records | None = None
    used_by: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def assert_match(self, test: _Test, name: str, value: object,
                     serializer: Serializer | None) -> str | None:
        """``None`` when the value matches (or was written); else the failure's report."""
        text, body = serialize(value, serializer)
        self.used.setdefault(test.file, set()).add(name)
        self.used_by.setdefault((test.file, test.key), set()).add(name)
        status, diff = self.store.check(test.file, name, text, body)
        if status == 0:
            return None
        if status == 1:
            if self.ci and not self.update:
                return f"snapshot {name!r} does not exist (not written under --ci)"
            self.store.write(test.file, name, text, body)
            self.written.append(name)
            self._report(f"snapshot {name!r} written")
            return None
        if self.update:
            self.store.write(test.file, name, text, body)
            self.updated.append(name)
            self._report(f"snapshot {name!r} updated")
            return None
        return f"snapshot {name!r} does not match (--update-snapshots to accept):\n{diff}"


    def _report(self, message: str) -> None:
        if self.warn:
            # assert_match <- the fixture's __eq__ or dx.snapshot() <- the test.
            warnings.warn(SnapshotReport(message), stacklevel=4)


class _Records:
    """A dx-py worker's records of the tests it ran (``dxpy_python::unused``'s
    ``TestRecord``, one JSON line each), in ``$DXPY_SNAPSHOT_RUNS/<run id>/<pid>.jsonl``:
    after the run, dx-py merges every worker's and judges unused snapshots over the whole run.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.out: IO[str] | None = None

    @staticmethod
    def for_worker() -> _Records | None:
        base = os.environ.get("DXPY_SNAPSHOT_RUNS")
        return _Records(base) if base else None

    def write(self, record: dict[str, object]) -> None:
        if self.out is None:
            # The run's id is read now, not at configure: a daemon's spare worker gets it
            # with its run.
            run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
            directory = os.path.join(self.base, run)
            os.makedirs(directory, mode=0o700, exist_ok=True)
            self.out = open(os.path.join(directory, f"{os.getpid()}.jsonl"), "a",
                            encoding="utf-8")
        self.out.write(json.dumps(record) + "\n")
        # A worker may be killed after its last test: each finished test's line is on disk.
        self.out.flush()


class SnapshotAssertion:
    """The ``snapshot`` fixture: ``assert snapshot == value``, once or more per test
    (numbered), or ``snapshot(name=..., serializer=...) == value``."""

    def __init__(self, test: _Test, name: str | None = None,
                 serializer: Serializer | None = None) -> None:
        self._test = test
        self._name = name
        self._serializer = serializer
        self.report: str | None = None

    def __call__(self, *, name: str | None = None,
                 serializer: Serializer | None = None) -> SnapshotAssertion:
        return SnapshotAssertion(self._test, name, serializer or self._serializer)

    def __eq__(self, other: object) -> bool:
        name = self._test.next_name(self._name)
        self.report = self._test.session.assert_match(self._test, name, other,
                                                      self._serializer)
        return self.report is None

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"snapshot({self._test.key!r})"


def snapshot(value: object, name: str | None = None,
             serializer: Serializer | None = None) -> None:
    """Assert that ``value`` matches the current test's next snapshot (or the one ``name``d)."""
    if _current is None:
        raise RuntimeError("dx.snapshot() is called outside a running test")
    report = _current.session.assert_match(_current, _current.next_name(name), value, serializer)
    if report is not None:
        raise AssertionError(report)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dx-py snapshots")
    group.addoption("--update-snapshots", action="store_true", default=False,
                    help="write new and changed snapshots, delete unused ones")
    group.addoption("--ci", action="store_true", default=False,
                    help="fail on missing snapshots instead of writing them, and on unused "
                         "ones (also CI=true)")


def pytest_configure(config: pytest.Config) -> None:
    clear_on_cache_clear(config)
    ci_env = os.environ.get("CI", "").strip().lower() in ("true", "1")
    in_dxpy = "dxpy_worker" in sys.modules
    config.stash[_STATE] = _Session(
        store=_native.Store(),
        update=bool(config.getoption("update_snapshots")),
        ci=bool(config.getoption("ci")) or ci_env,
        partial=in_dxpy or any("::" in str(arg) for arg in config.args),
        warn=in_dxpy,
        records=_Records.for_worker() if in_dxpy else None,
    )


def _state(config: pytest.Config) -> _Session:
    return config.stash[_STATE]


def _test_of(item: pytest.Item) -> tuple[str, str]:
    """(file, snapshot key): ``Class.test_name[params]``, classes by qualified name."""
    cls = getattr(item, "cls", None)
    key = f"{cls.__qualname__}.{item.name}" if cls is not None else item.name
    return str(item.path), key


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    for item in items:
        file, key = _test_of(item)
        state.collected.setdefault(file, set()).add(key)


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        _state(item.config).deselected_files.add(str(item.path))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Setup, not the protocol hook: dx-py's workers drive the phases themselves.
    global _current
    state = _state(item.config)
    file, key = _test_of(item)
    state.ran[item.nodeid] = (file, key)
    _current = _Test(file, key, state)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown() -> None:
    global _current
    _current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Any:
    report = yield
    state = _state(item.config)
    if report.when == "call" and report.passed and state.ci and not state.update:
        # Per test, so that --ci fails on them under dx-py too, whose workers each see a
        # part of the session.
        unused = _unused_of_test(state, item)
        if unused:
            report.outcome = "failed"
            report.longrepr = f"unused snapshot(s) under --ci: {', '.join(unused)}"
    if report.failed or report.skipped:
        state.failed.add(item.nodeid)
    if report.when == "teardown" and state.records is not None:
        file, key = _test_of(item)
        state.records.write({
            "file": file, "key": key, "passed": item.nodeid not in state.failed,
            "used": sorted(state.used_by.pop((file, key), set())),
            "update": state.update, "ci": state.ci,
        })
    return report


def _unused_of_test(state: _Session, item: pytest.Item) -> list[str]:
    file, key = _test_of(item)
    used = state.used.get(file, set())
    return [name for name in state.store.names(file)
            if name not in used and _owner(name, {key}) == key]


@pytest.fixture(name="snapshot")
def _snapshot_fixture(request: pytest.FixtureRequest) -> SnapshotAssertion:
    if _current is None:
        file, key = _test_of(request.node)
        return SnapshotAssertion(_Test(file, key, _state(request.config)))
    return SnapshotAssertion(_current)


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    assertion = left if isinstance(left, SnapshotAssertion) else right
    if op != "==" or not isinstance(assertion, SnapshotAssertion) or assertion.report is None:
        return None
    return assertion.report.splitlines()


def _owner(name: str, keys: set[str]) -> str | None:
    """The test key a snapshot name belongs to: the name itself, or a prefix before a dot."""
    if name in keys:
        return name
    for i, ch in enumerate(name):
        if ch == "." and name[:i] in keys:
            return name[:i]
    return None


def _find_unused(session: pytest.Session, state: _Session) -> list[tuple[str, str]]:
    passed: dict[str, set[str]] = {}
    for nodeid, (file, key) in state.ran.items():
        if nodeid not in state.failed:
            passed.setdefault(file, set()).add(key)
    stopped = bool(session.shouldfail or session.shouldstop)
    files = set(passed) | (set() if state.partial or stopped else set(state.collected))
    unused = []
    for file in sorted(files):
        used = state.used.get(file, set())
        whole = (not state.partial and not stopped and file in state.collected
                 and file not in state.deselected_files)
        for name in state.store.names(file):
            if name in used:
                continue
            owner = _owner(name, state.collected.get(file, set()) | passed.get(file, set()))
            if (owner is not None and owner in passed.get(file, set())) or (
                    owner is None and whole):
                unused.append((file, name))
    return unused


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = _state(session.config)
    if state.records is not None:
        return  # dx-py judges the whole run from every worker's records
    unused = _find_unused(session, state)
    state.unused = [f"{os.path.relpath(file)}::{name}" for file, name in unused]
    if state.update:
        by_file: dict[str, list[str]] = {}
        for file, name in unused:
            by_file.setdefault(file, []).append(name)
        for file, names in by_file.items():
            state.store.remove(file, names)
    elif state.ci and unused:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = _state(config)
    if not (state.written or state.updated or state.unused):
        return
    terminalreporter.section("dx-py snapshots")
    if state.written:
        terminalreporter.write_line(f"{len(state.written)} snapshot(s) written")
    if state.updated:
        terminalreporter.write_line(f"{len(state.updated)} snapshot(s) updated")
    if state.unused:
        verb = "deleted" if state.update else (
            "failing under --ci" if state.ci else "--update-snapshots deletes them")
        terminalreporter.write_line(f"{len(state.unused)} unused snapshot(s) ({verb}):")
        for name in state.unused:
            terminalreporter.write_line(f"  {name}")
