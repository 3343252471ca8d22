"""What pytest-xdist tells its workers, told to dx-py's.

The runner sets ``PYTEST_XDIST_WORKER`` (``gw0``, ``gw1``, ...), ``PYTEST_XDIST_WORKER_COUNT``
and ``PYTEST_XDIST_TESTRUNUID`` in each worker's environment before its session starts, as an
xdist worker has them. When pytest-xdist is installed, its ``worker_id`` and ``testrun_uid``
fixtures would still name the controller (``master``, a fresh uid per process): they read
``config.workerinput``, which only an xdist controller fills. Those two fixtures are made to
answer from the environment instead, so per-worker state keyed on either (databases, ports,
directories) is distinct between dx-py's workers, as between xdist's. A conftest's own
``worker_id`` still overrides xdist's, as under xdist.

``config.workerinput`` itself is not set: plugins take it to mean that an xdist controller
configured the worker (``pytest_configure_node``) and read the keys that controller adds
(pytest-cov's ``cov_master_*``, a seed), which no controller added here. So code that asks
``xdist.is_xdist_worker`` or ``xdist.get_xdist_worker_id`` sees a plain pytest session, as do
pytest's own cache and JUnit plugins (dx-py writes both itself).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

XDIST_MODULE = "xdist.plugin"


def xdist_fixtures(environ: Mapping[str, str]) -> dict[str, Callable[[Any], str]] | None:
    """Replacements for xdist's fixtures answering with the identity the runner gave this
    worker, or None when it gave none."""
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    count = environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    uid = environ.get("PYTEST_XDIST_TESTRUNUID", "")
    if not (worker and count.isdigit() and uid):
        return None

    # Named and shaped as xdist's: pytest passes the arguments it found on the original.
    def worker_id(request: Any) -> str:  # noqa: ARG001
        return worker

    def testrun_uid(request: Any) -> str:  # noqa: ARG001
        return uid

    return {"worker_id": worker_id, "testrun_uid": testrun_uid}


def _visible_fixturedefs(session: pytest.Session, name: str) -> Sequence[Any]:
    manager: Any = getattr(session, "_fixturemanager", None)
    if manager is None:
        return ()
    try:
        found = manager.getfixturedefs(name, session)
    except TypeError:  # pytest < 8.1 looked fixtures up by node ID
        found = manager.getfixturedefs(name, "")
    return found or ()


class XdistIdentity:
    """Registered into the worker's session (see the module docs)."""

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not session.config.pluginmanager.has_plugin("xdist"):
            return
        replacements = xdist_fixtures(os.environ)
        if replacements is None:
            return
        for name, function in replacements.items():
            for fixturedef in _visible_fixturedefs(session, name):
                if getattr(fixturedef.func, "__module__", "") == XDIST_MODULE:
                    fixturedef.func = function
