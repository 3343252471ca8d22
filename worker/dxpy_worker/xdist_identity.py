"""What pytest-xdist tells its workers, told to dx-py's.

The runner sets ``PYTEST_XDIST_WORKER`` (``gw0``, ``gw1``, ...), ``PYTEST_XDIST_WORKER_COUNT``
and ``PYTEST_XDIST_TESTRUNUID`` in each worker's environment before its session starts, as an
xdist worker has them. When pytest-xdist is installed, its ``worker_id`` and ``testrun_uid``
fixtures (and ``xdist.get_xdist_worker_id``) read ``config.workerinput`` instead: it is set
here, as xdist's worker sets it, right before ``pytest_cmdline_main``. So per-worker state
keyed on either (databases, ports, directories) is distinct between dx-py's workers, as
between xdist's.

One exception: pytest-cov measuring in the worker (``--cov``) takes ``workerinput`` to mean
that an xdist controller configured it, and fails on the keys that controller adds; there the
fixtures see no ``workerinput`` (the environment variables are still set).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Mapping


def workerinput_from(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """xdist's ``workerinput`` for the identity the runner gave this worker, if it gave one."""
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    count = environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    uid = environ.get("PYTEST_XDIST_TESTRUNUID", "")
    if not (worker and count.isdigit() and uid):
        return None
    return {"workerid": worker, "workercount": int(count), "testrunuid": uid,
            "mainargv": list(sys.argv)}


class XdistIdentity:
    """Registered into the worker's session (see the module docs)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_cmdline_main(self, config: pytest.Config) -> None:
        manager = config.pluginmanager
        if not manager.has_plugin("xdist") or hasattr(config, "workerinput"):
            return
        cov: Any = manager.get_plugin("_cov")
        if cov is not None and not getattr(getattr(cov, "options", None), "no_cov", False):
            return
        workerinput = workerinput_from(os.environ)
        if workerinput is None:
            return
        setattr(config, "workerinput", workerinput)  # noqa: B010 - xdist's own attribute
        setattr(config, "workeroutput", {})  # noqa: B010
