"""Running a whole suite under pytest and under `dx-py test`, and reading what each reports.

Both runners write JUnit XML; `parse_junit` turns it into {(classname, name): outcome} and
`parse_summary` reads the final "537 passed, 2 xfailed in 1.2s" line into a Counter. Used by
compare_outcomes.py and bench/test_bench.py; tested by test_outcomes_harness.py.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import collect
import corpus

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")

# "537 passed, 2 xfailed, 1 xpassed in 3.21s", optionally framed by "=" (non -q output).
SUMMARY_LINE = re.compile(r"^=*\s*(.*?)\s+in\s+[\d.]+s(?:\s+\([^)]*\))?\s*=*$")
SUMMARY_PART = re.compile(r"^(\d+)\s+(\w[\w ]*)$")
# Summary words are plural-insensitive in pytest's output ("1 error", "2 errors", "1 warning").
WORD_NORMAL = {"errors": "error", "warning": "warnings"}


@dataclasses.dataclass
class RunResult:
    cases: dict[tuple[str, str], list[str]]  # (classname, name) -> outcomes (more than one if repeated)
    summary: collections.Counter
    exit_code: int
    wall_s: float
    stdout: str
    stderr: str


def case_outcome(testcase: ET.Element) -> str:
    """One <testcase>'s outcome: the worst child wins (a teardown error after a pass is an error)."""
    tags = {child.tag: child for child in testcase}
    if "error" in tags:
        return "error"
    if "failure" in tags:
        return "failed"
    if "skipped" in tags:
        return "xfailed" if tags["skipped"].get("type") == "pytest.xfail" else "skipped"
    return "passed"


def parse_junit(text: str) -> dict[tuple[str, str], list[str]]:
    """JUnit XML -> {(classname, name): [outcome, ...]}; raises CorpusError on malformed XML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise corpus.CorpusError(f"malformed JUnit XML: {err}") from err
    cases: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for testcase in root.iter("testcase"):
        key = (testcase.get("classname", ""), testcase.get("name", ""))
        cases[key].append(case_outcome(testcase))
    return dict(cases)


def parse_summary(text: str) -> collections.Counter:
    """The last summary line's counts, e.g. {"passed": 537, "xfailed": 2}; empty if none."""
    for line in reversed(text.splitlines()):
        match = SUMMARY_LINE.match(line.strip())
        if not match:
            continue
        counts: collections.Counter = collections.Counter()
        parts = [p.strip() for p in match.group(1).split(",")]
        if parts == ["no tests ran"]:
            return counts
        ok = True
        for part in parts:
            m = SUMMARY_PART.match(part)
            if not m:
                ok = False
                break
            word = WORD_NORMAL.get(m.group(2), m.group(2))
            counts[word] += int(m.group(1))
        if ok:
            return counts
    return collections.Counter()


def summary_text(counts: collections.Counter) -> str:
    order = ["failed", "passed", "skipped", "deselected", "xfailed", "xpassed", "warnings", "error",
             "subtests"]
    keys = sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k))
    return ", ".join(f"{counts[k]} {k}" for k in keys if counts[k]) or "no tests ran"


def _run(cmd: list[str], cwd: Path, junit: Path, timeout: float) -> RunResult:
    if junit.exists():
        junit.unlink()
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=corpus.clean_env(True), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise corpus.CorpusError(f"{cmd[0]} timed out after {timeout}s in {cwd}") from err
    wall = time.perf_counter() - start
    if not junit.is_file():
        raise corpus.CorpusError(f"{' '.join(cmd[:4])}... wrote no JUnit XML (exit {proc.returncode}):\n"
                                 f"{proc.stderr[-2000:]}{proc.stdout[-2000:]}")
    cases = parse_junit(junit.read_text(encoding="utf-8"))
    return RunResult(cases, parse_summary(proc.stdout), proc.returncode, wall, proc.stdout, proc.stderr)


def run_pytest(root: Path, junit: Path, extra: list[str] | None = None, timeout: float = 1800) -> RunResult:
    cmd = [str(corpus.venv_python()), "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q",
           f"--junit-xml={junit}", *(extra or [])]
    return _run(cmd, root, junit, timeout)


def run_dxpy(root: Path, junit: Path, extra: list[str] | None = None, dxpy: Path | None = None,
             timeout: float = 1800) -> RunResult:
    # -q like pytest's run: pytest 9 prints "N subtests passed" only at non-default verbosity.
    cmd = [str(dxpy or collect.find_dxpy_bin()), "test", "-q", "--junit-xml", str(junit), "--python",
           str(corpus.venv_python()), *(extra or [])]
    return _run(cmd, root, junit, timeout)
