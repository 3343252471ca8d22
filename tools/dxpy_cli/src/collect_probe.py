"""Ask the interpreter's pytest which of the given test modules skip themselves while it
collects them (``pytest.importorskip``, ``pytest.skip(allow_module_level=True)``,
``unittest.SkipTest`` at module level): dx-py runs this as ``python -c`` with the modules'
paths, in the directory ``dx-py discover`` runs in, so the suite's config, conftests and
installed distributions decide, as they would for ``pytest --collect-only``.

The last line of stdout is the marker followed by one JSON object: ``skipped`` (the node IDs
of the modules that skipped themselves), ``site_dirs`` (where installed distributions come
from, for the verdict's cache key) and ``exit`` (pytest's exit code).
"""

import json
import os
import sys
from typing import Any

import pytest

MARKER = "DXPY_COLLECT_PROBE "


class _Skips:
    def __init__(self) -> None:
        self.skipped: list[str] = []

    def pytest_collectreport(self, report: Any) -> None:
        if report.skipped and report.nodeid:
            self.skipped.append(report.nodeid)


def _site_dirs() -> list[str]:
    return [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]


def _run(paths: list[str]) -> None:
    skips = _Skips()
    args = ["--collect-only", "-qq", "-p", "no:cacheprovider", *paths]
    code = pytest.main(args, plugins=[skips])
    report = {"skipped": skips.skipped, "site_dirs": _site_dirs(), "exit": int(code)}
    sys.stdout.write("\n" + MARKER + json.dumps(report) + "\n")
    sys.stdout.flush()


_run(sys.argv[1:])
