"""``@dx.fixture(cache=True)`` end to end, under plain pytest and under dx-py: built once,
loaded on later runs, rebuilt when any part of its key changes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import Run, Runner

CONFTEST = """
import os

import pytest

import dx_py_test_runner as dx
import helpers


def log(name):
    with open(os.environ["BUILD_LOG"], "a") as out:
        out.write(name + "\\n")


@pytest.fixture(scope="session")
def base():
    return {BASE}


@dx.fixture(scope="session", cache=True)
def table(base):
    log("table")
    return {{"rows": list(range(base)), "scale": helpers.SCALE}}


PARAMS = {PARAMS}


@dx.fixture(cache=True, params=PARAMS)
def blob(request):
    log(f"blob{{request.param}}")
    return b"x" * request.param
"""

TESTS = """
def test_table(table):
    assert table["rows"] == list(range(10))
    assert table["scale"] in (3, 4)


def test_blob(blob):
    assert set(blob) == {ord("x")}
"""


class Project:
    def __init__(self, root: Path, run: Runner) -> None:
        self.root = root
        self.runner = run
        self.log = root / "builds.log"
        self.write()
        (root / "helpers.py").write_text("SCALE = 3\n")
        (root / "test_cached.py").write_text(TESTS)

    def write(self, base: str = "10", params: str = "[1, 2]", extra: str = "") -> None:
        text = textwrap.dedent(CONFTEST.format(BASE=base, PARAMS=params))
        (self.root / "conftest.py").write_text(text.replace("    log(\"table\")\n",
                                                            f"    log(\"table\"){extra}\n"))

    def run(self, *args: str) -> tuple[Run, list[str]]:
        """The run and the fixtures it built (not loaded)."""
        self.log.write_text("")
        result = self.runner(*args, env={"BUILD_LOG": str(self.log)})
        assert result.code == 0, result.output
        return result, sorted(self.log.read_text().split())


def test_built_once_then_loaded(run: Runner, tmp_path: Path) -> None:
    project = Project(tmp_path, run)
    assert project.run()[1] == ["blob1", "blob2", "table"]
    assert project.run()[1] == [], "every value comes from the cache"
    entries = list((tmp_path / ".pytest_cache" / "d" / "dx-py-fixtures").iterdir())
    assert len(entries) == 3
    assert ((tmp_path / ".pytest_cache" / "d" / "dx-py-fixtures").stat().st_mode & 0o777) == 0o700


def test_each_key_part_rebuilds_only_what_it_is_part_of(run: Runner, tmp_path: Path) -> None:
    project = Project(tmp_path, run)
    project.run()
    project.write(extra="  # a comment in its body")
    assert project.run()[1] == ["table"], "the fixture's own source"
    project.write(base="5 + 5", extra="  # a comment in its body")
    assert project.run()[1] == ["table"], "the source of a fixture it depends on"
    (tmp_path / "helpers.py").write_text("SCALE = 4\n")
    assert project.run()[1] == ["table"], "a first-party module it uses"
    project.write(base="5 + 5", params="[1, 2, 3]", extra="  # a comment in its body")
    assert project.run()[1] == ["blob3"], "a new parameter (the others keep theirs)"
    assert project.run()[1] == []


def test_a_damaged_entry_is_rebuilt(run: Runner, tmp_path: Path) -> None:
    project = Project(tmp_path, run)
    project.run()
    for entry in (tmp_path / ".pytest_cache" / "d" / "dx-py-fixtures").iterdir():
        entry.write_bytes(entry.read_bytes()[:-1])
    assert project.run()[1] == ["blob1", "blob2", "table"]


def test_cache_clear_drops_it(run: Runner, tmp_path: Path) -> None:
    if run.runner != "pytest":  # type: ignore[attr-defined]
        pytest.skip("dx-py test has no --cache-clear (pytest's option) yet")
    project = Project(tmp_path, run)
    project.run()
    assert project.run("--cache-clear")[1] == ["blob1", "blob2", "table"]
