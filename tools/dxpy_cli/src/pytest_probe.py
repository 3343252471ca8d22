"""Ask the interpreter's pytest whether it accepts a command line, and how its options take
values: dx-py runs this as ``python -c`` with the command line pytest would be given.

pytest parses the arguments exactly as for a run (plugins, ``-p``, conftests, ``addopts``,
``PYTEST_ADDOPTS``); a usage error is printed by pytest itself on stderr with its exit code.
When the command line is accepted, the first ``pytest_cmdline_main`` prints the option table
(one JSON line after the marker) and ends the session before any collection.
"""

import inspect
import json
import os
import sys
from typing import Any

import pytest

MARKER = "DXPY_PYTEST_OPTIONS "


class _Probe:
    @pytest.hookimpl(tryfirst=True)
    def pytest_cmdline_main(self, config: Any) -> int:
        parser = getattr(config._parser, "optparser", None)
        if parser is None:
            parser = config._parser._getparser()
        table: dict[str, str] = {}
        for action in parser._actions:
            nargs = action.nargs
            kind = "flag" if nargs == 0 else "optional" if nargs == "?" else "value"
            for name in action.option_strings:
                table[name] = kind
        report = {
            "options": table,
            "watched": _watched(config),
            "site_dirs": _site_dirs(),
            "pyargs": _pyargs(config),
        }
        sys.stdout.write(MARKER + json.dumps(report) + "\n")
        sys.stdout.flush()
        return 0


CONFIG_NAMES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


def _watched(config: Any) -> list[str]:
    """Files whose change (or creation) could change the verdict: the config file, the
    conftests of the directories searched for them, the config files pytest would find from
    the current directory up."""
    manager = config.pluginmanager
    paths = [os.path.join(str(p), "conftest.py") for p in getattr(manager, "_dirpath2confmods", {})]
    paths += [getattr(m, "__file__", None) or "" for m in getattr(manager, "_conftest_plugins", ())]
    inipath = getattr(config, "inipath", None)
    if inipath is not None:
        paths.append(str(inipath))
    here = os.path.abspath(os.getcwd())
    while True:
        paths += [os.path.join(here, name) for name in CONFIG_NAMES]
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return sorted({p for p in paths if p})


def _pyargs(config: Any) -> list[str] | None:
    """With ``--pyargs``: the collection arguments with each module name replaced by its
    file or package directory, as pytest resolves them (``None`` without ``--pyargs``)."""
    if not getattr(config.option, "pyargs", False):
        return None
    from _pytest.main import search_pypath

    consider = bool(config.getini("consider_namespace_packages"))
    resolved = []
    for arg in config.args:
        base, squacket, rest = arg.partition("[")
        strpath, *parts = base.split("::")
        found = search_pypath(strpath, consider_namespace_packages=consider)
        resolved.append("::".join([found or strpath, *parts]) + squacket + rest)
    return resolved


def _site_dirs() -> list[str]:
    """Where installed distributions (and their plugins' options) come from."""
    return [os.path.abspath(p) for p in sys.path if p and os.path.isdir(p)]


def _run(args: list[str]) -> int:
    """pytest's command-line entry, so its messages name ``pytest`` as the user's would."""
    try:
        from _pytest.config import _main
    except ImportError:
        return int(pytest.main(args, plugins=[_Probe()]))
    if "prog" not in inspect.signature(_main).parameters:
        return int(pytest.main(args, plugins=[_Probe()]))
    return int(_main(args=args, plugins=[_Probe()], prog="pytest"))


sys.exit(_run(sys.argv[1:]))
