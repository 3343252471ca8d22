"""Ask the interpreter's pytest what only Python can tell about the given files: which test
modules skip themselves while it collects them (``pytest.importorskip``,
``pytest.skip(allow_module_level=True)``, ``unittest.SkipTest`` at module level), and which
items the doctest files and the directories of conftests' ``pytest_collect_file`` hooks make.
dx-py runs this as ``python -c`` with those paths, in the directory ``dx-py discover`` runs
in, so the suite's config (its ``--doctest-modules``, ``--doctest-glob``), conftests and
installed distributions decide, as they would for ``pytest --collect-only``.

Under the directories listed in ``DXPY_LISTING_DIRS`` (``os.pathsep``-separated), test
modules are listed, not imported: their conftests load (and compute ``collect_ignore``, or
answer ``pytest_ignore_collect``) as pytest's collection loads them, and each Python module
pytest would collect there is named without running it.

The last line of stdout is the marker followed by one JSON object: ``skipped`` (the node IDs
of the modules that skipped themselves), ``items`` (every collected item's node ID, in
collection order), ``doctests`` (those of them that are doctests), ``modules`` (the test modules listed under ``DXPY_LISTING_DIRS``),
``site_dirs`` (where installed distributions come from, for the answer's cache key) and
``exit`` (pytest's exit code).
"""

import json
import os
import sys
from typing import Any

import pytest

MARKER = "DXPY_COLLECT_PROBE "


class _ListingOnly:
    """Stops at each Python test module under the listing directories: named, not imported."""

    def __init__(self, dirs: list[str]) -> None:
        self.dirs = [os.path.abspath(d) for d in dirs if d]
        self.modules: list[str] = []

    def _listed(self, path: str) -> bool:
        return any(path == d or path.startswith(d + os.sep) for d in self.dirs)

    @pytest.hookimpl(tryfirst=True)
    def pytest_make_collect_report(self, collector: Any) -> Any:
        if type(collector).__name__ in ("DoctestModule", "DoctestTextfile"):
            return None
        if isinstance(collector, pytest.Module) and self._listed(str(collector.path)):
            self.modules.append(collector.nodeid)
            return pytest.CollectReport(collector.nodeid, "passed", None, [])
        return None


class _Verdicts:
    def __init__(self) -> None:
        self.skipped: list[str] = []
        self.items: list[str] = []
        self.doctests: list[str] = []

    def pytest_collectreport(self, report: Any) -> None:
        if report.skipped and report.nodeid:
            self.skipped.append(report.nodeid)

    def pytest_collection_finish(self, session: Any) -> None:
        self.items = [item.nodeid for item in session.items]
        self.doctests = [item.nodeid for item in session.items
                         if type(item).__name__ == "DoctestItem"]


def _site_dirs() -> list[str]:
    return [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]


def _run(paths: list[str]) -> None:
    verdicts = _Verdicts()
    listing = _ListingOnly(os.environ.get("DXPY_LISTING_DIRS", "").split(os.pathsep))
    args = ["--collect-only", "-qq", "-p", "no:cacheprovider", *paths]
    code = pytest.main(args, plugins=[verdicts, listing])
    report = {"skipped": verdicts.skipped, "items": verdicts.items,
              "doctests": verdicts.doctests, "modules": listing.modules,
              "site_dirs": _site_dirs(), "exit": int(code)}
    sys.stdout.write("\n" + MARKER + json.dumps(report) + "\n")
    sys.stdout.flush()


_run(sys.argv[1:])
