"""Ask the interpreter's pytest whether it accepts a command line, and how its options take
values: dx-py runs this as ``python -c`` with the command line pytest would be given.

pytest parses the arguments exactly as for a run (plugins, ``-p``, conftests, ``addopts``,
``PYTEST_ADDOPTS``); a usage error is printed by pytest itself on stderr with its exit code.
When the command line is accepted, the first ``pytest_cmdline_main`` prints the option table
(one JSON line after the marker) and ends the session before any collection.
"""

import inspect
import json
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
        sys.stdout.write(MARKER + json.dumps(table) + "\n")
        sys.stdout.flush()
        return 0


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
