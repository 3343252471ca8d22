"""``dx-py test --cov``: pytest-cov measures in each worker, the runner combines and reports.

pytest-cov (the user's) runs in every worker exactly as under pytest: its plugin starts
coverage.py at ``pytest_load_initial_conftests``, after the fork and before any conftest or
test module is imported (the zygote imports only installed code: the worker package, pytest
and its builtin plugins), and it handles ``no_cover``, the ``cov`` fixture and
``--cov-context=test`` itself. Two things change, both from the plugin's options once it has
read them:

- its data file goes to a directory of its own under the runner's private ``DXPY_COV_DIR``
  (``COVERAGE_FILE`` while the plugin starts), so workers never erase, combine or overwrite
  each other's data or the project's ``.coverage``;
- it reports nothing: each worker only measured its share. The options it resolved (command
  line, ``addopts``, ``PYTEST_ADDOPTS``, the coverage config's ``fail_under``/``precision``)
  are written to ``plan.json`` for the runner, which combines every worker's data once and
  prints pytest-cov's report (``cov_report.py`` in the CLI).

Nothing here imports coverage or pytest-cov: the plugin does, only when ``--cov`` is given.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Generator

ENV_DIR = "DXPY_COV_DIR"
PLAN_FILE = "plan.json"
# pytest-cov registers its plugin object under this name when --cov is active.
PYTEST_COV_PLUGIN = "_cov"


class CovWorker:
    """Registered in a worker whose runner asked for coverage (``DXPY_COV_DIR``)."""

    def __init__(self, directory: str) -> None:
        # This worker's own data directory (a worker restarted later gets another pid).
        self.directory = os.path.join(directory, str(os.getpid()))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_load_initial_conftests(self, early_config: pytest.Config) -> Generator[None, Any, None]:
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        saved = os.environ.get("COVERAGE_FILE")
        # coverage.py reads it while pytest-cov's controller starts (it overrides the config's
        # data_file); the tests must not see it.
        os.environ["COVERAGE_FILE"] = os.path.join(self.directory, ".coverage")
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("COVERAGE_FILE", None)
            else:
                os.environ["COVERAGE_FILE"] = saved
            self.take_over_reporting(early_config)

    def take_over_reporting(self, config: pytest.Config) -> None:
        """Writes the plugin's resolved options for the runner and stops it reporting here."""
        plugin = config.pluginmanager.get_plugin(PYTEST_COV_PLUGIN)
        controller = getattr(plugin, "cov_controller", None)
        if plugin is None or controller is None or getattr(plugin, "_disabled", False):
            return
        options = plugin.options
        cov = controller.cov
        # This worker imports only its share of the modules, and may measure nothing.
        cov._warn_unimported_source = False  # noqa: SLF001 - as pytest-cov's DistWorker does
        cov._warn_no_data = False  # noqa: SLF001
        plan = {
            "cov_source": options.cov_source,
            "cov_report": _reports(options.cov_report),
            "cov_config": options.cov_config,
            "cov_append": bool(options.cov_append),
            "cov_branch": options.cov_branch,
            "cov_precision": options.cov_precision,
            "cov_fail_under": options.cov_fail_under,
            "no_cov_on_fail": bool(getattr(options, "no_cov_on_fail", False)),
            "collect_only": bool(getattr(options, "collectonly", False)),
            "topdir": controller.topdir,
        }
        path = os.path.join(self.directory, PLAN_FILE)
        with open(path + ".tmp", "w", encoding="utf-8") as file:
            json.dump(plan, file)
        os.replace(path + ".tmp", path)
        # pytest-cov reports when it has reports or a fail-under: neither, in a worker.
        options.cov_report = {}
        options.cov_fail_under = None


def _reports(reports: object) -> dict[str, str | None]:
    """pytest-cov's reports: a dict of type to destination, or its default ``["term"]``."""
    if isinstance(reports, dict):
        return {str(kind): None if dest is None else str(dest) for kind, dest in reports.items()}
    return {str(kind): None for kind in reports} if isinstance(reports, list) else {}


def from_env() -> CovWorker | None:
    """The plugin when the runner asked for coverage; the variable leaves the environment
    so the tests never see it."""
    directory = os.environ.pop(ENV_DIR, "")
    return CovWorker(directory) if directory else None
