"""Ask the interpreter's pytest what only Python can tell about the given files: which test
modules skip themselves while it collects them (``pytest.importorskip``,
``pytest.skip(allow_module_level=True)``, ``unittest.SkipTest`` at module level), and which
items the doctest files and the directories of conftests' ``pytest_collect_file`` hooks make.
dx-py runs this as ``python -c`` with those paths, in the directory ``dx-py discover`` runs
in, so the suite's config (its ``--doctest-modules``, ``--doctest-glob``), conftests and
installed distributions decide, as they would for ``pytest --collect-only``.

The last line of stdout is the marker followed by one JSON object: ``skipped`` (the node IDs
of the modules that skipped themselves), ``items`` (every collected item's node ID, in
collection order), ``site_dirs`` (where installed distributions come from, for the answer's
cache key) and ``exit`` (pytest's exit code).
"""

import json
import os
import sys
from typing import Any

import pytest

MARKER = "DXPY_COLLECT_PROBE "


class _Verdicts:
    def __init__(self) -> None:
        self.skipped: list[str] = []
        self.items: list[str] = []

    def pytest_collectreport(self, report: Any) -> None:
        if report.skipped and report.nodeid:
            self.skipped.append(report.nodeid)

    def pytest_collection_finish(self, session: Any) -> None:
        self.items = [item.nodeid for item in session.items]


def _site_dirs() -> list[str]:
    return [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]


def _run(paths: list[str]) -> None:
    verdicts = _Verdicts()
    args = ["--collect-only", "-qq", "-p", "no:cacheprovider", *paths]
    code = pytest.main(args, plugins=[verdicts])
    report = {"skipped": verdicts.skipped, "items": verdicts.items,
              "site_dirs": _site_dirs(), "exit": int(code)}
    sys.stdout.write("\n" + MARKER + json.dumps(report) + "\n")
    sys.stdout.flush()


_run(sys.argv[1:])
