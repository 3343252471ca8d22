"""dx-py's Python package: Blake3 hash-first snapshot testing for pytest and dx-py.

``assert snapshot == value`` (the ``snapshot`` fixture) or ``dx.snapshot(value)``; run with
``--update-snapshots`` to write new and changed snapshots and delete unused ones.
"""

from __future__ import annotations

from dx_py_test_runner._serialize import Serializer, register_serializer, serialize
from dx_py_test_runner.plugin import SnapshotAssertion, snapshot

__all__ = ["Serializer", "SnapshotAssertion", "register_serializer", "serialize", "snapshot"]
