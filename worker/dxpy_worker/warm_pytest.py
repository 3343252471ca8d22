"""Parts of a pytest session that a zygote prepares once, so each forked worker skips them.

A forked worker starts a fresh ``pytest.main`` per request (nothing of one request's session
may leak into the next). Two of its start-up steps do not depend on the request at all and
cost about a third of a small request's time:

- ``get_config``: a plugin manager with pytest's ~30 builtin plugins registered (pluggy
  inspects every attribute of every plugin module) and their ``pytest_addoption`` calls;
- the fixture manager scanning every attribute of every builtin plugin module for fixture
  definitions (``parsefactories``), once per session.

``prepare()`` runs in the zygote (before ``gc.freeze``): it builds that configuration object
with no arguments and records, per builtin plugin module, a stand-in module holding only its
fixture definitions. ``install(args)`` runs in the forked worker just before ``pytest.main``:
when the request is eligible, ``_pytest.config.get_config`` hands out the prepared object
(once, with the request's invocation parameters) and ``parsefactories`` reads the stand-ins.
pytest then does everything else as usual: ini files, ``addopts``, entry-point plugins,
conftests, options, the session.

Not eligible, so pytest's own path runs: ``DXPY_NO_WARM_SESSION`` set (for comparisons),
``-p no:NAME`` among the request's arguments (that must stop a builtin plugin from being
registered at all), a pytest other than the one prepared, a different
``PYTEST_DEBUG``/``TOX_ENV_DIR`` (read while the configuration object is built), or a pytest
whose ``parsefactories`` lacks the ``holder`` keyword (pytest < 9).
A builtin plugin module that changed after ``prepare()`` is scanned as usual.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import sys
import time
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import pytest

    # id(module) -> (module, its attribute count, stand-in module)
    StandIns = dict[int, tuple[types.ModuleType, int, types.ModuleType]]

# Environment variables pytest reads while building the configuration object.
_ENV_READ_AT_BUILD = ("PYTEST_DEBUG", "TOX_ENV_DIR")

class _Prepared:
    def __init__(
        self,
        config: pytest.Config,
        prog: str | None,
        stand_ins: StandIns,
        version: str,
        env: dict[str, str | None],
    ) -> None:
        self.config = config
        self.prog = prog
        # id(module) -> (module, its attribute count, stand-in module)
        self.stand_ins = stand_ins
        self.version = version
        self.env = env


_prepared: _Prepared | None = None


def prepare() -> None:
    """In the zygote: build the request-independent parts. Quietly does nothing when pytest
    is not imported or anything about it is unexpected."""
    global _prepared
    pytest = sys.modules.get("pytest")
    if pytest is None:
        return
    try:
        from _pytest import config as pytest_config
        from _pytest import fixtures
    except ImportError:
        return
    # What pytest.main passes as the program name (pytest >= 9.2; shown in usage errors).
    prog = "pytest.main()" if "prog" in _parameters(pytest_config.get_config) else None
    try:
        config = pytest_config.get_config(prog=prog) if prog else pytest_config.get_config()
    except Exception:  # noqa: BLE001 - the worker's own pytest.main reports any real problem
        return
    stand_ins: StandIns = {}
    definition_type = getattr(fixtures, "FixtureFunctionDefinition", None)
    if definition_type is not None and _has_holder_keyword(fixtures):
        for name, module in list(sys.modules.items()):
            if not name.startswith("_pytest.") or not isinstance(module, types.ModuleType):
                continue
            stand_in = types.ModuleType(module.__name__)
            stand_in.__file__ = getattr(module, "__file__", None)
            for attribute, value in list(vars(module).items()):
                if type(value) is definition_type:
                    setattr(stand_in, attribute, value)
            stand_ins[id(module)] = (module, len(vars(module)), stand_in)
    _prepared = _Prepared(
        config,
        prog,
        stand_ins,
        pytest.__version__,
        {key: os.environ.get(key) for key in _ENV_READ_AT_BUILD},
    )


PROBE_TEST = "def test_probe():\n    pass\n"
PROBE_TIMEOUT = 20.0


def session_modules() -> list[str]:
    """Standard-library modules a pytest session imports lazily (pytest's debugging plugin
    imports pdb at configure time, which on 3.14 pulls in asyncio, ssl and _pyrepl): found by
    running one throwaway session on a one-test suite in a forked child and reporting what it
    added to ``sys.modules``. Empty when anything goes wrong."""
    import json
    import select
    import tempfile

    with tempfile.TemporaryDirectory(prefix="dxpy-probe-") as root:
        with open(os.path.join(root, "pytest.ini"), "w", encoding="utf-8") as ini:
            ini.write("[pytest]\n")
        with open(os.path.join(root, "test_probe.py"), "w", encoding="utf-8") as test:
            test.write(PROBE_TEST)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the probe: never returns
            code = 1
            try:
                os.close(read_end)
                os.chdir(root)
                for key in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
                    os.environ.pop(key, None)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                before = set(sys.modules)
                import pytest

                pytest.main(["-q", "-p", "no:cacheprovider", "test_probe.py"])
                names = sorted(set(sys.modules) - before)
                os.write(write_end, json.dumps(names).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        chunks: list[bytes] = []
        try:
            deadline = time.monotonic() + PROBE_TIMEOUT
            while True:
                left = max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([read_end], [], [], left)
                if not ready:
                    os.kill(pid, 9)
                    break
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(read_end)
            os.waitpid(pid, 0)
    try:
        names = json.loads(b"".join(chunks) or b"[]")
    except ValueError:
        return []
    # (Python >= 3.10; on 3.9 nothing counts as standard library, so nothing is imported.)
    stdlib: frozenset[str] = getattr(sys, "stdlib_module_names", frozenset())
    return [name for name in names if name.split(".")[0] in stdlib]


def import_session_modules() -> list[str]:
    """In the zygote: imports what ``session_modules()`` found. Only standard-library modules,
    which cannot change between runs; never the pytest11 entry points (pytest must see those
    imported after its assertion-rewriting hook). Returns the names imported."""
    imported = []
    for name in session_modules():
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a worker that needs it imports it (and reports)
            continue
        imported.append(name)
    return imported


def _parameters(function: Any) -> tuple[str, ...]:
    """The names of a plain function's parameters (read from its code object)."""
    code: types.CodeType = function.__code__
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def _has_holder_keyword(fixtures: types.ModuleType) -> bool:
    return "holder" in _parameters(fixtures.FixtureManager.parsefactories)


def excluded_plugins(args: Sequence[str]) -> list[str]:
    """The ``-p no:NAME`` arguments, parsed the way pytest's ``consider_preparse`` does."""
    excluded = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not isinstance(arg, str):
            continue
        if arg == "-p":
            if i >= len(args):
                break
            value = args[i]
            i += 1
        elif arg.startswith("-p"):
            value = arg[2:]
        else:
            continue
        value = value.strip()
        if value.startswith("no:"):
            excluded.append(value)
    return excluded


def ineligible_reason(args: Sequence[str]) -> str | None:
    """Why this request must build its configuration from scratch (None: it need not)."""
    prepared = _prepared
    if prepared is None:
        return "nothing prepared"
    if os.environ.get("DXPY_NO_WARM_SESSION"):
        return "DXPY_NO_WARM_SESSION is set"
    pytest = sys.modules.get("pytest")
    if pytest is None or pytest.__version__ != prepared.version:
        return "another pytest"
    if excluded_plugins(args):
        return "-p no:... among the arguments"
    for key, value in prepared.env.items():
        if os.environ.get(key) != value:
            return f"{key} differs"
    return None


def install(args: list[str]) -> bool:
    """In a forked worker, just before ``pytest.main(args, ...)``: use what the zygote
    prepared when eligible. Returns whether it did. One use: the prepared object is handed out
    once, and the stand-ins only serve this process."""
    global _prepared
    prepared = _prepared
    if prepared is None or ineligible_reason(args) is not None:
        return False
    _prepared = None
    from _pytest import config as pytest_config
    from _pytest import fixtures

    original_get_config = pytest_config.get_config

    def get_config(
        args: Iterable[str] | None = None, plugins: Sequence[str | object] | None = None, **kwargs: Any
    ) -> pytest.Config:
        pytest_config.get_config = original_get_config
        if kwargs.get("prog") != prepared.prog:
            return original_get_config(args, plugins, **kwargs)
        config = prepared.config
        config.invocation_params = pytest_config.Config.InvocationParams(
            args=args or (), plugins=plugins, dir=pathlib.Path.cwd()
        )
        return config

    pytest_config.get_config = get_config

    if prepared.stand_ins:
        original_parsefactories = fixtures.FixtureManager.parsefactories
        notset = fixtures.NOTSET

        # (The fixture manager and its arguments: pytest internals, Any at this boundary.)
        def parsefactories(
            self: Any, node_or_obj: Any = notset, nodeid: Any = notset, *, holder: Any = notset,
            node: Any = notset,
        ) -> None:
            entry = prepared.stand_ins.get(id(holder))
            if entry is not None:
                module, attribute_count, stand_in = entry
                if module is holder and len(vars(module)) == attribute_count:
                    holder = stand_in
            original_parsefactories(self, node_or_obj, nodeid, holder=holder, node=node)

        manager_class: Any = fixtures.FixtureManager  # a method replaced: untyped on purpose
        manager_class.parsefactories = parsefactories
    return True
