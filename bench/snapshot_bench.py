"""What a matching snapshot assertion costs: dx_py_test_runner vs syrupy, side by side.

    python3 bench/snapshot_bench.py [--assertions 10000] [--runs 3] [--python PATH]

A generated test module asserts --assertions small, nested values (dicts, lists, sets,
strings, numbers), spread over 100 tests; each test times only its own loop of
``assert snapshot == value`` and the totals are written out by a conftest. Each plugin first
runs once to write its snapshots (dx: missing ones are written; syrupy:
``--snapshot-update``), then --runs timed runs in which every assertion matches, alternating
the two plugins (each run disables the other plugin's ``snapshot`` fixture with ``-p no:``).
Printed: the median time per matching assertion for each, and dx's share of syrupy's (the
target is at most 0.20).

The interpreter needs pytest, syrupy and dx-py-test-runner; without --python one is made
once at ``${DXPY_CACHE:-.cache}/snapshot-bench-venv`` (the corpus pytest pin, syrupy from
PyPI, ``./tools/dxpy_python``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "corpus"))

import corpus  # noqa: E402

TESTS = 100

CONFTEST = """
import os
import time

TOTAL = [0.0]


def pytest_sessionfinish(session):
    with open(os.environ["SNAPSHOT_BENCH_OUT"], "w") as out:
        out.write(repr(TOTAL[0]))
"""

MODULE_HEAD = """
import time

from conftest import TOTAL


def value(i):
    return {
        "id": i,
        "name": f"item-{i}",
        "tags": {"a", "b", f"t{i % 7}"},
        "sizes": [i, i * 2, i * 3],
        "nested": {"ok": i % 2 == 0, "ratio": i / 7, "note": None},
    }
"""

TEST = """

def test_{n}(snapshot):
    values = [value(i) for i in range({start}, {stop})]
    started = time.perf_counter()
    for v in values:
        assert snapshot == v
    TOTAL[0] += time.perf_counter() - started
"""


def bench_venv() -> Path:
    cache = Path(os.environ.get("DXPY_CACHE", REPO_ROOT / ".cache"))
    venv = cache / "snapshot-bench-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        pin = next(line.strip() for line in corpus.constraints_path().read_text().splitlines()
                   if line.startswith("pytest=="))
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", pin, "syrupy",
                        str(REPO_ROOT / "tools" / "dxpy_python")], check=True)
    return python


def write_project(root: Path, assertions: int) -> None:
    (root / "conftest.py").write_text(CONFTEST)
    per_test = -(-assertions // TESTS)
    parts = [MODULE_HEAD]
    for n in range(TESTS):
        start, stop = n * per_test, min((n + 1) * per_test, assertions)
        if start < stop:
            parts.append(TEST.format(n=n, start=start, stop=stop))
    (root / "test_bench.py").write_text("".join(parts))


PLUGINS = {
    # (pytest args that pick this plugin's fixture, args of the first, writing run)
    "dx": (["-p", "no:syrupy"], []),
    "syrupy": (["-p", "no:dx_py_test_runner"], ["--snapshot-update"]),
}


def timed_pytest(python: Path, cwd: Path, out_var: str, out: Path, args: list[str]) -> float:
    """Runs pytest in ``cwd`` with ``args``; returns the seconds the suite wrote to ``out``
    (named to it by the environment variable ``out_var``). Exits on a failed run."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env[out_var] = str(out)
    proc = subprocess.run([str(python), "-m", "pytest", "-q", *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.exit(f"pytest failed in {cwd} ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return float(out.read_text())


def run(python: Path, root: Path, plugin: str, extra: list[str]) -> float:
    select, _ = PLUGINS[plugin]
    return timed_pytest(python, root / plugin, "SNAPSHOT_BENCH_OUT", root / f"{plugin}.total",
                        ["-p", "no:cacheprovider", *select, *extra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assertions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", type=Path)
    args = parser.parse_args()
    # Absolute, not resolved: a venv's python is a symlink that must keep its venv.
    python = args.python.absolute() if args.python else bench_venv()
    with tempfile.TemporaryDirectory(prefix="snapshot-bench-") as tmp:
        root = Path(tmp)
        for plugin, (_, first) in PLUGINS.items():
            (root / plugin).mkdir()
            write_project(root / plugin, args.assertions)
            run(python, root, plugin, first)
        times: dict[str, list[float]] = {plugin: [] for plugin in PLUGINS}
        for _ in range(args.runs):
            for plugin in PLUGINS:
                # dx under --ci: a missing snapshot would fail instead of being written.
                times[plugin].append(run(python, root, plugin, ["--ci"] if plugin == "dx" else []))
    per = {p: statistics.median(t) / args.assertions for p, t in times.items()}
    print(f"{args.assertions} matching assertions, median of {args.runs} runs")
    print(f"{'plugin':<8}{'per assertion':>16}{'total':>12}")
    for plugin, seconds in per.items():
        print(f"{plugin:<8}{seconds * 1e6:>13.1f} us{seconds * args.assertions:>11.3f}s")
    print(f"dx / syrupy: {per['dx'] / per['syrupy']:.3f} (target <= 0.20)")


if __name__ == "__main__":
    main()
