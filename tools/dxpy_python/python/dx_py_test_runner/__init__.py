"""dx-py's Python package: Blake3 hash-first snapshot testing for pytest and dx-py.

``assert snapshot == value`` (the ``snapshot`` fixture) or ``dx.snapshot(value)``; run with
``--update-snapshots`` to write new and changed snapshots and delete unused ones.
``@dx.fixture(cache=True)`` stores a fixture's value and reuses it while its inputs hold.
``dx.discover()`` lists tests without importing them; ``dx.run()`` runs ``dx-py test``.
"""

from __future__ import annotations

from dx_py_test_runner._api import Item, RunResult, TestResult, discover, dx_py_binary, run
from dx_py_test_runner._fixture_cache import fixture
from dx_py_test_runner._serialize import Serializer, register_serializer, serialize
from dx_py_test_runner.plugin import SnapshotAssertion, SnapshotReport, snapshot

__all__ = [
    "Item", "RunResult", "Serializer", "SnapshotAssertion", "SnapshotReport", "TestResult", "discover",
    "dx_py_binary", "fixture", "register_serializer", "run", "serialize", "snapshot",
]
