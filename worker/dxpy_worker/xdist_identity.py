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


RANDOMLY_PLUGIN = "randomly"  # pytest-randomly's pytest11 entry point name


def shared_seed(environ: Mapping[str, str]) -> int | None:
    """The run's pytest-randomly seed: the first 32 bits of its ``testrun_uid`` (the runner
    derives the same number for its header: ``WorkerIdentity::randomly_seed``)."""
    uid = environ.get("PYTEST_XDIST_TESTRUNUID", "")
    try:
        return int(uid[:8], 16) if len(uid) >= 8 else None
    except ValueError:
        return None


class SharedSeed:
    """Gives pytest-randomly the run's seed, as xdist's controller gives it to every worker.

    The plugin draws a seed in each process unless ``--randomly-seed`` names one, and reads
    an xdist controller's from ``config.workerinput``, which is not set here (see the module
    docs). Without this each worker would shuffle and reseed ``random`` by a seed of its own,
    which no ``--randomly-seed`` could reproduce. With it, every test's ``random`` state is
    the one ``pytest --randomly-seed=N`` gives it. Runs before the plugin's own configure, and
    only when the option was left at its default."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        if not config.pluginmanager.has_plugin(RANDOMLY_PLUGIN):
            return
        if config.getoption("randomly_seed", None) != "default":
            return
        seed = shared_seed(os.environ)
        if seed is not None:
            config.option.randomly_seed = seed
