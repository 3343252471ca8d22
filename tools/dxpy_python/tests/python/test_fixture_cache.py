"""``@dx.fixture(cache=True)`` end to end, under plain pytest and under dx-py: built once,
loaded on later runs, rebuilt when any part of its key changes."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from conftest import CACHE_DIR, Run, Runner, dx_py

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


def store(root: Path) -> Path:
    """The fixture store: ``fixtures/`` in dx-py's cache directory of the project."""
    stores = list((root / CACHE_DIR / "projects").glob("*/fixtures"))
    assert len(stores) == 1, stores
    return stores[0]


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
    entries = list(store(tmp_path).iterdir())
    assert len(entries) == 3
    assert (store(tmp_path).stat().st_mode & 0o777) == 0o700


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
    for entry in store(tmp_path).iterdir():
        entry.write_bytes(entry.read_bytes()[:-1])
    assert project.run()[1] == ["blob1", "blob2", "table"]


def test_cache_clear_drops_it(run: Runner, tmp_path: Path) -> None:
    project = Project(tmp_path, run)
    project.run()
    assert project.run()[1] == []
    # pytest's own meaning stays: its cache directory is cleared too (dx-py passes it on).
    marker = tmp_path / ".pytest_cache" / "d" / "marker"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")
    assert project.run("--cache-clear")[1] == ["blob1", "blob2", "table"]
    assert not marker.exists()
    assert project.run()[1] == [], "what the cleared run built is stored again"


def test_dx_py_cache_clear_drops_it(run: Runner, tmp_path: Path) -> None:
    project = Project(tmp_path, run)
    project.run()
    assert project.run()[1] == []
    for args in (("cache", "clear", "--rootdir", str(tmp_path)), ("cache", "clear")):
        cleared = subprocess.run(dx_py(*args), env={"DXPY_CACHE_DIR": str(tmp_path / CACHE_DIR)},
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert cleared.returncode == 0, cleared.stdout
        assert project.run()[1] == ["blob1", "blob2", "table"], args
