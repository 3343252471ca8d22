"""The recorder's pytest side: fixture setups wider than a function go to the ambient sink.

``FixtureScopes`` is registered by the pytest engine when the runner asks for recording. The
module is also a standalone pytest plugin, for measuring the recorder's cost on a plain
pytest run (``bench/record_overhead.py``): ``pytest -p dxpy_worker.recorder_plugin`` with
``DXPY_RECORD=1`` instruments the rootdir's modules, gives each test its own sink and prints
one summary line; without ``DXPY_RECORD=1`` it does nothing.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from dxpy_worker.recorder import Recorder, cache_dir_from_env

if TYPE_CHECKING:
    from collections.abc import Generator


class FixtureScopes:
    """Runs the setup of fixtures whose scope is not ``function`` in the ambient sink: they
    serve many tests, so what they execute belongs to none of them."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any) -> Generator[None, Any, None]:
        # (FixtureDef is private API before pytest 8.1: Any.)
        recorder = self.recorder
        if getattr(fixturedef, "scope", "function") == "function" or recorder.current is recorder.ambient:
            yield
            return
        previous = recorder.switch(recorder.ambient)
        try:
            yield
        finally:
            recorder.switch(previous)


class _Standalone:
    """Per-test sinks for a plain pytest run (the benchmark), with a summary line."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.tests = 0
        self.functions = 0

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, Any, None]:
        self.recorder.begin_item()
        try:
            yield
        finally:
            sink, _ = self.recorder.end_item()
            self.tests += 1
            self.functions += len(sink.hits)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        cache = self.recorder.cache
        _, instrumented, ambient = self.recorder.take_ambient()
        terminalreporter.write_line(
            f"dx-py recorder: {self.tests} tests, {self.functions} test-function pairs, "
            f"{len(ambient)} ambient functions, {len(instrumented)} files instrumented "
            f"(code cache: {cache.hits} hits, {cache.misses} misses)")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Installs before conftests import the project (standalone use only)."""
    if os.environ.get("DXPY_RECORD", "") in ("", "0"):
        return
    recorder = Recorder(str(early_config.rootpath), cache_dir_from_env())
    recorder.install()
    early_config.pluginmanager.register(FixtureScopes(recorder), "dxpy-recorder-scopes")
    early_config.pluginmanager.register(_Standalone(recorder), "dxpy-recorder-standalone")
