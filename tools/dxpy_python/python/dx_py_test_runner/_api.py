"""``dx.discover()`` and ``dx.run()``: dx-py's Rust core from Python.

``discover`` calls the Rust discovery in this process (no test module is imported);
``run`` runs the ``dx-py test`` command (the one installed beside this interpreter, else
``$DXPY_BIN`` or ``dx-py`` on ``PATH``) and reads each test's result from the JUnit XML it
writes, which holds every test of the run, replayed ones (``--affected``) included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dx_py_test_runner import _native


@dataclass(frozen=True)
class Item:
    """A test as ``dx-py discover`` lists it."""

    node_id: str
    #: The test module, absolute.
    file: str
    #: 1-based line of the ``def``.
    line: int
    #: Mark names, closest first (pytest's ``iter_markers()`` order).
    marks: tuple[str, ...]
    #: The parametrize ID (``a-1`` of ``test_x[a-1]``), when known without importing.
    param_id: str | None
    #: Only Python can tell its parameters: ``dx-py test`` collects it through pytest.
    dynamic: bool


@dataclass(frozen=True)
class TestResult:
    """One test's result: ``outcome`` is ``passed``, ``failed``, ``error`` or ``skipped``
    (pytest's JUnit shape: an xfail is ``skipped``)."""

    __test__ = False  # not a pytest test class

    node_id: str
    outcome: str
    duration: float
    #: The failure's, error's or skip's message.
    message: str | None


@dataclass(frozen=True)
class RunResult:
    """``dx-py test``'s exit code (pytest's codes) and each test's result, in run order."""

    exit_code: int
    tests: list[TestResult]


def discover(path: str | os.PathLike[str] = ".", args: Sequence[str] = ()) -> list[Item]:
    """The items ``dx-py discover ARGS`` lists when run in ``path``; a usage error (pytest's
    exit code 4: a bad ``-k``, a node ID that matches nothing) raises ``ValueError``."""
    return [Item(node_id, file, line, tuple(marks), param_id, dynamic)
            for node_id, file, line, marks, param_id, dynamic
            in _native.discover(os.fspath(path), list(args))[1]]


def run(args: Sequence[str] = (), *, cwd: str | os.PathLike[str] | None = None) -> RunResult:
    """Runs ``dx-py test ARGS`` (its report on this process's stdout) with this interpreter
    unless ``--python`` is given; its exit code and per-test results."""
    command = [dx_py_binary(), "test", *args]
    if not any(a == "--python" or a.startswith("--python=") for a in args):
        command += ["--python", sys.executable]
    junit = _junit_option(args)
    with tempfile.TemporaryDirectory(prefix="dx-py-run-") as tmp:
        if junit is None:
            junit = os.path.join(tmp, "junit.xml")
            command += ["--junit-xml", junit]
        code = subprocess.run(command, cwd=cwd).returncode
        path = Path(cwd or ".", junit)
        tests = _results(path, _rootdir(Path(cwd or "."), args)) if path.exists() else []
    return RunResult(code, tests)


def dx_py_binary() -> str:
    """The ``dx-py`` command: ``$DXPY_BIN``, else the one this package's wheel installed
    beside the interpreter, else ``dx-py`` on ``PATH``."""
    explicit = os.environ.get("DXPY_BIN")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / ("dx-py.exe" if os.name == "nt" else "dx-py")
    if beside.exists():
        return str(beside)
    found = shutil.which("dx-py")
    if found is None:
        raise FileNotFoundError("no dx-py command: install dx-py-test-runner's wheel, or set DXPY_BIN")
    return found


def _junit_option(args: Sequence[str]) -> str | None:
    for i, arg in enumerate(args):
        for option in ("--junit-xml", "--junitxml"):
            if arg == option and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(option + "="):
                return arg.split("=", 1)[1]
    return None


def _results(junit: Path, rootdir: Path) -> list[TestResult]:
    results = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome, message = "passed", None
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = "failed" if tag == "failure" else tag
                message = found.get("message")
                break
        node_id = _node_id(case.get("classname", ""), case.get("name", ""), rootdir)
        results.append(TestResult(node_id, outcome, float(case.get("time") or 0.0), message))
    return results


def _rootdir(cwd: Path, args: Sequence[str]) -> Path:
    """pytest's rootdir of the run, which JUnit's names are relative to."""
    for attempt in (list(args), []):
        try:
            return Path(_native.discover(str(cwd), attempt)[0])
        except (ValueError, OSError):
            continue  # dx-py's own options are not pytest's
    return cwd.resolve()


def _node_id(classname: str, name: str, rootdir: Path) -> str:
    """pytest's JUnit ``classname``/``name`` back to the node ID: the longest dotted prefix
    of ``classname`` that names a module under the rootdir is its path."""
    parts = classname.split(".") if classname else []
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if (rootdir / path).is_file():
            return "::".join([path, *parts[cut:], name])
    return "::".join([*parts, name])
