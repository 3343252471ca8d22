"""The snapshot plugin end to end, under plain pytest and under dx-py."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import Runner

MODULE = """
import pytest
import dx_py_test_runner as dx

VALUE = {VALUE}


def test_value(snapshot):
    assert snapshot == {{"b": [1, 2], "a": {{3, 1}}, "v": VALUE}}


def test_several(snapshot):
    assert snapshot == "first\\nline"
    assert snapshot == b"second"
    assert snapshot(name="named") == (1, None)
    dx.snapshot(["via dx.snapshot"])


@pytest.mark.parametrize("n", [1, 2])
def test_param(snapshot, n):
    assert snapshot == n * VALUE


class TestGroup:
    def test_method(self, snapshot):
        assert snapshot == "in a class"
"""


def write(tmp: Path, value: int = 10, name: str = "test_snap.py") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(MODULE.format(VALUE=value)))
    return path


def snapshot_dir(tmp: Path, module: str = "test_snap") -> Path:
    return tmp / "__snapshots__" / module


def files(tmp: Path) -> list[str]:
    return sorted(p.name for p in snapshot_dir(tmp).iterdir())


ALL_FILES = [
    "TestGroup.test_method.txt", "index.json", "test_param[1].txt", "test_param[2].txt",
    "test_several.1.txt", "test_several.2.txt", "test_several.named.txt", "test_several.txt",
    "test_value.txt",
]


def test_missing_snapshots_are_written_with_distinct_names(run: Runner, tmp_path: Path) -> None:
    write(tmp_path)
    first = run()
    assert first.code == 0, first.output
    assert "5 passed" in first.output
    assert files(tmp_path) == ALL_FILES
    if run.runner == "pytest":  # type: ignore[attr-defined]
        assert "8 snapshot(s) written" in first.output
    else:
        # dx-py shows the workers' warnings, not their terminal summaries.
        assert "SnapshotReport: snapshot 'test_value' written" in first.output
        assert "8 warnings" in first.output
    stored = (snapshot_dir(tmp_path) / "test_value.txt").read_text()
    assert stored == textwrap.dedent("""\
        # dx-py snapshot: "test_value"
        # kind: value
        {
          'a': {
            1,
            3,
          },
          'b': [
            1,
            2,
          ],
          'v': 10,
        }
        """)
    assert (snapshot_dir(tmp_path) / "test_several.txt").read_text().endswith(
        "# kind: text\nfirst\nline\n")
    index = json.loads((snapshot_dir(tmp_path) / "index.json").read_text())
    assert sorted(index["snapshots"]) == sorted(f[:-4] for f in ALL_FILES if f != "index.json")


def test_matching_snapshots_pass_and_leave_the_files_alone(run: Runner, tmp_path: Path) -> None:
    write(tmp_path)
    assert run().code == 0
    before = {p: p.stat().st_mtime_ns for p in snapshot_dir(tmp_path).iterdir()}
    again = run()
    assert again.code == 0, again.output
    assert "written" not in again.output
    assert {p: p.stat().st_mtime_ns for p in snapshot_dir(tmp_path).iterdir()} == before


def test_a_mismatch_fails_with_a_unified_diff(run: Runner, tmp_path: Path) -> None:
    write(tmp_path, 10)
    assert run().code == 0
    write(tmp_path, 11)
    failed = run()
    assert failed.code == 1, failed.output
    assert "3 failed, 2 passed" in failed.output
    assert "snapshot 'test_param[2]' does not match" in failed.output
    assert "--- snapshot" in failed.output and "+++ received" in failed.output
    assert "-20" in failed.output and "+22" in failed.output
    assert "-  'v': 10," in failed.output and "+  'v': 11," in failed.output
    # Nothing was written: the stored snapshot is still the old one.
    assert (snapshot_dir(tmp_path) / "test_param[2].txt").read_text().endswith("\n20\n")


def test_update_snapshots_rewrites_changed_ones(run: Runner, tmp_path: Path) -> None:
    write(tmp_path, 10)
    assert run().code == 0
    write(tmp_path, 11)
    updated = run("--update-snapshots")
    assert updated.code == 0, updated.output
    if run.runner == "pytest":  # type: ignore[attr-defined]
        assert "3 snapshot(s) updated" in updated.output
    else:
        assert "SnapshotReport: snapshot 'test_param[2]' updated" in updated.output
    assert (snapshot_dir(tmp_path) / "test_param[2].txt").read_text().endswith("\n22\n")
    after = run()
    assert after.code == 0, after.output


def test_an_unused_numbered_snapshot_is_deleted_by_update(run: Runner, tmp_path: Path) -> None:
    module = write(tmp_path)
    assert run().code == 0
    # test_several now asserts one snapshot less: test_several.2 is unused.
    module.write_text(module.read_text().replace('    assert snapshot == b"second"\n', ""))
    plain = run()
    # dx.snapshot() took number 1 now: it mismatches; the file of number 2 is unused.
    assert plain.code == 1, plain.output
    write(tmp_path)
    assert run().code == 0
    module.write_text(module.read_text().replace('    dx.snapshot(["via dx.snapshot"])\n', ""))
    listed = run()
    assert listed.code == 0, listed.output
    assert "1 unused snapshot(s) (--update-snapshots deletes them)" in listed.output
    assert "test_snap.py::test_several.2" in listed.output
    assert "test_several.2.txt" in files(tmp_path)
    updated = run("--update-snapshots")
    assert updated.code == 0, updated.output
    assert "1 unused snapshot(s) (deleted)" in updated.output
    assert "test_several.2.txt" not in files(tmp_path)
    assert "test_several.1.txt" in files(tmp_path)
    assert "unused snapshot" not in run().output


def test_snapshots_of_a_deleted_test_are_unused(run: Runner, tmp_path: Path) -> None:
    module = write(tmp_path)
    assert run().code == 0
    module.write_text(module.read_text().replace("def test_value(", "def helper_value("))
    listed = run()
    assert listed.code == 0, listed.output
    assert "1 unused snapshot(s)" in listed.output
    assert "test_snap.py::test_value" in listed.output
    failed = run("--ci")
    assert failed.code == 1, "unused snapshots fail the session under --ci"
    assert "1 unused snapshot(s) (failing under --ci)" in failed.output
    assert run(env={"CI": "true"}).code == 1
    # A narrowed run does not know the other tests are gone: it deletes nothing of theirs.
    for selection in (("-k", "test_param"), ("test_snap.py::test_param",)):
        narrowed = run(*selection, "--update-snapshots")
        assert narrowed.code == 0, narrowed.output
        assert "unused snapshot" not in narrowed.output, selection
        assert "test_value.txt" in files(tmp_path), selection
    assert run("--update-snapshots").code == 0
    assert "test_value.txt" not in files(tmp_path)
    assert files(tmp_path) == [f for f in ALL_FILES if f != "test_value.txt"]


PARAMETRIZED = """
import os
import time

import pytest


# Over dx-py's 200 tests per unit: cut into ranges, which two workers share; each test takes
# a little time, so that neither worker runs every range before the other starts.
@pytest.mark.parametrize("n", range(420))
def test_many(snapshot, n):
    time.sleep(0.002)
    with open(os.environ["PID_LOG"], "a") as out:
        out.write(f"{os.getpid()}\\n")
    assert snapshot == n
"""


def test_unused_is_judged_over_every_worker(runners: dict[str, Runner], tmp_path: Path) -> None:
    # A module cut across two workers: neither saw all of its tests, the run did.
    (tmp_path / "test_many.py").write_text(PARAMETRIZED)
    pids = tmp_path / "pids.log"
    env = {"PID_LOG": str(pids)}
    assert runners["pytest"](env=env).code == 0
    stored = sorted(p.name for p in snapshot_dir(tmp_path, "test_many").iterdir())
    gone = snapshot_dir(tmp_path, "test_many") / "test_gone.txt"
    gone.write_text('# dx-py snapshot: "test_gone"\n# kind: value\n1\n')
    pids.write_text("")
    dx = runners["dx-py"]("-n", "2", "--update-snapshots", env=env)
    assert dx.code == 0, dx.output
    assert len(set(pids.read_text().split())) == 2, "the module ran in two workers"
    assert "1 unused snapshot(s) (deleted)" in dx.output, dx.output
    assert "test_many.py::test_gone" in dx.output
    assert sorted(p.name for p in snapshot_dir(tmp_path, "test_many").iterdir()) == stored


def test_ci_fails_on_a_missing_snapshot_and_writes_nothing(run: Runner, tmp_path: Path) -> None:
    write(tmp_path)
    for args, env in [(("--ci",), {}), ((), {"CI": "true"})]:
        failed = run(*args, env=env)
        assert failed.code == 1, failed.output
        assert "snapshot 'test_value' does not exist (not written under --ci)" in failed.output
        assert not (tmp_path / "__snapshots__").exists()
    assert run().code == 0
    assert run("--ci").code == 0


def test_ci_fails_a_test_that_leaves_its_snapshot_unused(run: Runner, tmp_path: Path) -> None:
    module = write(tmp_path)
    assert run().code == 0
    module.write_text(module.read_text().replace(
        "        assert snapshot == \"in a class\"\n", "        pass\n"))
    failed = run("--ci")
    assert failed.code == 1, failed.output
    assert "unused snapshot(s) under --ci: TestGroup.test_method" in failed.output


def test_a_corrupt_index_is_rebuilt(run: Runner, tmp_path: Path) -> None:
    write(tmp_path)
    assert run().code == 0
    index = snapshot_dir(tmp_path) / "index.json"
    good = index.read_text()
    index.write_text("{ corrupt")
    again = run()
    assert again.code == 0, again.output
    assert index.read_text() == good


def test_a_hand_edited_snapshot_is_judged_by_its_content(run: Runner, tmp_path: Path) -> None:
    write(tmp_path, 10)
    assert run().code == 0
    # The file now says what value 11 gives; index.json still holds value 10's digest.
    stored = snapshot_dir(tmp_path) / "test_value.txt"
    stored.write_text(stored.read_text().replace("'v': 10,", "'v': 11,"))
    write(tmp_path, 11)
    edited = run("-k", "test_value")
    assert edited.code == 0, edited.output
    write(tmp_path, 10)
    old = run("-k", "test_value")
    assert old.code == 1, old.output
    assert "-  'v': 11," in old.output and "+  'v': 10," in old.output


def test_update_keeps_snapshots_of_tests_that_did_not_run_or_pass(
        run: Runner, tmp_path: Path) -> None:
    module = write(tmp_path)
    assert run().code == 0
    for selection in (("-k", "test_param"), ("test_snap.py::test_param",)):
        narrowed = run(*selection, "--update-snapshots")
        assert narrowed.code == 0, narrowed.output
        assert "2 passed" in narrowed.output
        assert files(tmp_path) == ALL_FILES, selection
    module.write_text(module.read_text().replace(
        "def test_value(", "@pytest.mark.skip\ndef test_value("))
    skipped = run("--update-snapshots")
    assert skipped.code == 0, skipped.output
    assert "1 skipped" in skipped.output
    assert files(tmp_path) == ALL_FILES


def test_affected_reruns_a_test_whose_stored_snapshot_changed(
        runners: dict[str, Runner], tmp_path: Path) -> None:
    # dx-py's result cache must not replay a pass once the stored snapshots say otherwise
    # (a checkout brought other snapshots; the test module is byte for byte the same).
    pytest_run, dx_run = runners["pytest"], runners["dx-py"]
    cache = {"DXPY_CACHE_DIR": str(tmp_path / "dx-cache")}
    write(tmp_path, 10)
    assert pytest_run().code == 0
    assert dx_run("--affected", env=cache).code == 0
    write(tmp_path, 11)
    assert pytest_run("--update-snapshots").code == 0
    write(tmp_path, 10)
    expected = pytest_run()
    assert expected.code == 1 and "3 failed, 2 passed" in expected.output, expected.output
    again = dx_run("--affected", env=cache)
    assert again.code == 1, again.output
    assert "3 failed, 2 passed" in again.output, again.output
