"""Runs the plugin for real: each test writes a temporary project and runs plain pytest on it,
and dx-py (``DXPY_BIN``) on it, in this interpreter, where the package is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest


@dataclass
class Run:
    code: int
    output: str


Runner = Callable[..., Run]


# dx-py's cache directory of a test's project, inside it (hidden: pytest never walks into it).
CACHE_DIR = ".dx-cache"


def dx_py(*args: str) -> list[str]:
    """A ``dx-py`` command line (``DXPY_BIN``)."""
    binary = os.environ.get("DXPY_BIN")
    if not binary:
        pytest.fail("DXPY_BIN must name the dx-py binary (tests/run.sh's snapshots stage sets it)")
    return [binary, *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["DXPY_NO_DAEMON"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _command(runner: str, args: tuple[str, ...]) -> list[str]:
    if runner == "pytest":
        return [sys.executable, "-m", "pytest", *args]
    return dx_py("test", "--no-daemon", "--python", sys.executable, *args)


@pytest.fixture(params=["pytest", "dx-py"])
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    """``run(*args, env=...)`` in the temporary project at ``tmp_path``."""
    return runner_in(request.param, tmp_path)


@pytest.fixture
def runners(tmp_path: Path) -> dict[str, Runner]:
    """Both runners in the temporary project at ``tmp_path``, for tests that need each."""
    return {name: runner_in(name, tmp_path) for name in ("pytest", "dx-py")}


def runner_in(runner: str, tmp_path: Path) -> Runner:
    """``pytest`` or ``dx-py`` as a ``Runner`` in ``tmp_path``."""

    def go(*args: str, env: dict[str, str] | None = None) -> Run:
        # dx-py's cache (discovery's index, the fixture store) private to the project.
        own = {"DXPY_CACHE_DIR": str(tmp_path / CACHE_DIR)}
        proc = subprocess.run(
            _command(runner, args), cwd=tmp_path, env={**_env(), **own, **(env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
        )
        return Run(proc.returncode, proc.stdout)

    go.runner = runner  # type: ignore[attr-defined]
    return go
