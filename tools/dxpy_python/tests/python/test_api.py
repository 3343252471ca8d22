"""``dx.discover()`` and ``dx.run()`` against what real pytest collects and reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dx_py_test_runner as dx
import pytest
from conftest import dx_py

MODULE = """
import os

import pytest

# Importing this module leaves a trace: discovery must not.
open(os.environ.get("IMPORT_TRACE", os.devnull), "w").close()


def test_pass():
    pass


def test_fail():
    assert 1 == 2, "one is not two"


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    pass


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_error(broken):
    pass


class TestGroup:
    @pytest.mark.skip(reason="not today")
    def test_skipped(self):
        pass
"""

# A plugin for real pytest: each test's outcome as pytest's reports give it.
RECORDER = """
import json
import os

OUTCOMES = {}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome if report.when == "call" or report.skipped else "error"
        OUTCOMES.setdefault(report.nodeid, outcome)
    elif report.nodeid not in OUTCOMES and report.when == "teardown":
        OUTCOMES[report.nodeid] = "passed"


def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["OUTCOMES"], "w") as out:
        json.dump({"exit": int(exitstatus), "outcomes": OUTCOMES}, out)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mod.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow tests\n")
    return tmp_path


def pytest_collected(root: Path, *args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                           "no:cacheprovider", *args], cwd=root, stdout=subprocess.PIPE, text=True)
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_discover_lists_what_pytest_collects_without_importing(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DXPY_CACHE_DIR", str(project / ".dx-cache"))
    monkeypatch.setenv("IMPORT_TRACE", str(project / "imported"))
    items = dx.discover(project)
    assert not (project / "imported").exists(), "discovery imported the test module"
    assert [i.node_id for i in items] == pytest_collected(project)
    param = next(i for i in items if i.node_id.endswith("test_param[2]"))
    assert param.file == str(project / "tests" / "test_mod.py")
    assert param.line == (project / "tests" / "test_mod.py").read_text().splitlines().index(
        "def test_param(n):") + 1
    assert param.marks == ("parametrize", "slow")
    assert param.param_id == "2" and not param.dynamic
    narrowed = dx.discover(project, ["-k", "param or pass"])
    assert [i.node_id for i in narrowed] == pytest_collected(project, "-k", "param or pass")
    monkeypatch.chdir(project / "tests")
    assert [i.node_id for i in dx.discover()] == [i.node_id for i in items]


def test_discover_raises_pytests_usage_errors(project: Path) -> None:
    with pytest.raises(ValueError):
        dx.discover(project, ["tests/test_mod.py::test_absent"])
    with pytest.raises(ValueError):
        dx.discover(project, ["-k", "and"])


def test_run_returns_pytests_exit_code_and_outcomes(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "recorder.py").write_text(RECORDER)
    outcomes = project / "outcomes.json"
    env = {**os.environ, "PYTHONPATH": str(project), "OUTCOMES": str(outcomes)}
    subprocess.run([sys.executable, "-m", "pytest", "-p", "recorder", "-p", "no:cacheprovider",
                    "-q"], cwd=project, env=env, stdout=subprocess.DEVNULL, check=False)
    expected = json.loads(outcomes.read_text())
    assert set(expected["outcomes"].values()) == {"passed", "failed", "error", "skipped"}
    # The dx-py under test, a private cache.
    monkeypatch.setenv("DXPY_BIN", dx_py()[0])
    monkeypatch.setenv("DXPY_NO_DAEMON", "1")
    monkeypatch.setenv("DXPY_CACHE_DIR", str(project / ".dx-cache"))
    result = dx.run(["-q"], cwd=project)
    assert result.exit_code == expected["exit"]
    assert {t.node_id: t.outcome for t in result.tests} == expected["outcomes"]
    failed = next(t for t in result.tests if t.outcome == "failed")
    assert failed.message is not None and "one is not two" in failed.message
    narrowed = dx.run(["-q", "-k", "pass"], cwd=project)
    assert narrowed.exit_code == 0
    assert [t.node_id for t in narrowed.tests] == ["tests/test_mod.py::test_pass"]

