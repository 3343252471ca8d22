"""What coverage costs: `dx-py test --cov` vs `pytest --cov` (pytest-cov) on corpus suites.

    DXPY_BIN=target/release/dx-py python3 bench/cov_bench.py [--runs 3] [--suites arrow ...]

Each suite is copied to a temporary directory (the report files land there, not in the
corpus) and run from there with the corpus venv's interpreter (it must have pytest-cov:
tests/run.sh's setup stage installs it in the dev venv; the plugins venv has it), four ways:
pytest and dx-py, each with `--no-cov` (the baseline; also turns off a `--cov` in the suite's
own addopts) and with `--cov=PKG --cov-report=term-missing`. One untimed run of each first
(warm `__pycache__`), then --runs timed rounds. Printed per suite: the median wall times,
the extra time coverage adds to each (`cov - baseline`), their ratio (dx-py's extra over
pytest-cov's: below 1 is the goal), and whether the two "tests coverage" sections (totals
and missing lines) are the same.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "corpus"))

import corpus  # noqa: E402

# The package each suite measures (its import name).
PACKAGES = {
    "markupsafe": "markupsafe", "toolz": "toolz", "itsdangerous": "itsdangerous",
    "sqlparse": "sqlparse", "more-itertools": "more_itertools", "jinja2": "jinja2",
    "click": "click", "pygments": "pygments", "structlog": "structlog", "asgiref": "asgiref",
    "arrow": "arrow", "jaraco.functools": "jaraco.functools",
}
DEFAULT_SUITES = ("sqlparse", "jinja2", "itsdangerous")
# pytest's stats line, with `=` rules or (`-q`) without: the end of the coverage section.
STATS_LINE = re.compile(r"^(=+ )?(\d+ \w+|no tests ran).* in [\d.]+s( \([\d:]+\))?( =+)?$")


def dx_py_bin() -> str:
    return os.environ.get("DXPY_BIN") or str(REPO_ROOT / "target" / "release" / "dx-py")


def commands(package: str) -> dict[str, list[str]]:
    python = str(corpus.venv_python())
    pytest = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    dx_py = [dx_py_bin(), "test", "--python", python, "-q"]
    cov = [f"--cov={package}", "--cov-report=term-missing"]
    return {
        "pytest": [*pytest, "--no-cov"],
        "pytest --cov": pytest + cov,
        "dx-py": [*dx_py, "--no-cov"],
        "dx-py --cov": dx_py + cov,
    }


def run_once(cmd: list[str], root: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, proc.stdout


def coverage_section(output: str) -> list[str]:
    """The "tests coverage" section's lines up to the stats line (empty: none)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if " tests coverage " in line), None)
    if start is None:
        return []
    end = next((i for i in range(start + 1, len(lines)) if STATS_LINE.match(lines[i])), len(lines))
    return lines[start:end]


def measure(suite: corpus.Suite, runs: int) -> None:
    package = PACKAGES.get(suite.name, suite.name)
    env = corpus.clean_env(bytecode=True)
    with tempfile.TemporaryDirectory(prefix="dxpy-cov-bench-") as tmp:
        root = Path(tmp) / suite.key
        shutil.copytree(suite.root, root, symlinks=True)
        cmds = commands(package)
        outputs = {name: run_once(cmd, root, env)[1] for name, cmd in cmds.items()}
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(runs):
            for name, cmd in cmds.items():
                samples[name].append(run_once(cmd, root, env)[0])
    wall = {name: statistics.median(values) for name, values in samples.items()}
    py_extra = wall["pytest --cov"] - wall["pytest"]
    dx_extra = wall["dx-py --cov"] - wall["dx-py"]
    ratio = dx_extra / py_extra if py_extra > 0 else float("nan")
    py_section = coverage_section(outputs["pytest --cov"])
    same = bool(py_section) and py_section == coverage_section(outputs["dx-py --cov"])
    times = "  ".join(f"{name} {seconds:.2f}s" for name, seconds in wall.items())
    print(f"{suite.name:18} {times}")
    print(f"{'':18} extra: pytest-cov {py_extra:+.2f}s, dx-py {dx_extra:+.2f}s, "
          f"ratio {ratio:.2f}; coverage report {'same' if same else 'DIFFERENT'}")
    if not same:
        print("\n".join(["--- pytest", *py_section, "--- dx-py",
                         *coverage_section(outputs["dx-py --cov"])]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suites", nargs="*", default=list(DEFAULT_SUITES))
    args = parser.parse_args()
    suites = {suite.name: suite for suite in corpus.load_suites()}
    for name in args.suites:
        if name not in suites:
            print(f"unknown suite {name!r} in this corpus set (DXPY_CORPUS_SET)", file=sys.stderr)
            return 2
        measure(suites[name], args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
