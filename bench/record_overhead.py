"""What recording executed functions costs: plain pytest vs pytest with the recorder.

    python3 bench/record_overhead.py [--runs 3] [--suites click jinja2 sqlparse pygments]

Each corpus suite runs from its unpacked root under the corpus venv's pytest with the
recorder's standalone plugin (``-p dxpy_worker.recorder_plugin``), once with ``DXPY_RECORD=0``
(the plugin does nothing) and once with ``DXPY_RECORD=1`` (first-party modules instrumented,
one sink per test, fixture scopes switched, the audit hook installed): the same work the
worker does when the runner sets Hello's RECORD flag, minus the frames. One untimed run of
each first (warm ``__pycache__`` and a warm instrumented-code cache, in a temporary
``DXPY_WORKER_CACHE_ROOT``), then --runs timed runs alternating the two; printed: the
medians of wall time and of CPU time (user + system of the pytest process: the steadier
figure on a shared machine) side by side, and their ratios (the budget is 1.30).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "corpus"))

import corpus  # noqa: E402

DEFAULT_SUITES = ("click", "jinja2", "sqlparse", "pygments")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(root: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, the recorder's line and pytest's last line) of one run."""
    cmd = [str(corpus.venv_python()), "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-p", "dxpy_worker.recorder_plugin"]
    cpu = children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    cpu = children_cpu() - cpu
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    recorder = [line for line in lines if line.startswith("dx-py recorder:")]
    return elapsed, cpu, " | ".join(recorder + lines[-1:])


def measure(root: Path, runs: int, cache_root: str) -> tuple[list[float], str, str]:
    """Medians (plain wall, record wall, plain CPU, record CPU) and each side's last lines."""
    env = corpus.clean_env(bytecode=True)
    env["PYTHONPATH"] = str(REPO_ROOT / "worker")
    env["DXPY_WORKER_CACHE_ROOT"] = cache_root
    plain_env = dict(env, DXPY_RECORD="0")
    record_env = dict(env, DXPY_RECORD="1")
    run_once(root, plain_env)
    run_once(root, record_env)
    samples: list[list[float]] = [[], [], [], []]
    plain_line = record_line = ""
    for _ in range(runs):
        wall, cpu, plain_line = run_once(root, plain_env)
        samples[0].append(wall)
        samples[2].append(cpu)
        wall, cpu, record_line = run_once(root, record_env)
        samples[1].append(wall)
        samples[3].append(cpu)
    return [statistics.median(s) for s in samples], plain_line, record_line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--suites", nargs="*", default=list(DEFAULT_SUITES))
    args = parser.parse_args()
    suites = {suite.name: suite for suite in corpus.load_suites()}
    print(f"{'suite':<10} {'plain_s':>8} {'record_s':>9} {'ratio':>6} "
          f"{'plain_cpu':>10} {'record_cpu':>11} {'cpu_ratio':>10}")
    details = []
    with tempfile.TemporaryDirectory(prefix="dxpy-record-bench-") as cache_root:
        for name in args.suites:
            suite = suites.get(name)
            if suite is None or not suite.root.is_dir():
                print(f"{name:<10} (not set up: python3 tests/corpus/corpus.py setup)")
                continue
            (plain, recorded, plain_cpu, record_cpu), plain_line, record_line = measure(
                suite.root, args.runs, cache_root)
            print(f"{name:<10} {plain:8.2f} {recorded:9.2f} {recorded / plain:6.2f} "
                  f"{plain_cpu:10.2f} {record_cpu:11.2f} {record_cpu / plain_cpu:10.2f}", flush=True)
            details.append(f"{name}: plain: {plain_line}\n{name}: record: {record_line}")
    print("\n".join(details))
    return 0


if __name__ == "__main__":
    os.environ.pop("DXPY_RECORD", None)
    sys.exit(main())
