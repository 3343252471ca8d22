"""What a warm rerun of one test costs: `dx-py test FILE::TEST` in the project's daemon vs
`pytest FILE::TEST`.

    python3 bench/daemon_bench.py [--runs 5] [--suites jinja2 click markupsafe]

Per corpus suite (from its unpacked root, corpus venv, pytest's bytecode cache warm), the first
test pytest collects from the suite's chosen file. Each runner gets one untimed warm-up (for
dx-py it starts the daemon and its zygote), then the median of --runs timed runs:

| column | what is run |
|---|---|
| `pytest_s` | `python -m pytest -q -p no:cacheprovider FILE::TEST` |
| `daemon_s` | `dx-py test -q --python PY FILE::TEST`, the project's daemon warm |
| `no_daemon_s` | the same with `--no-daemon`: interpreter start-up paid in the run |
| `py/daemon` | `pytest_s / daemon_s` (target: at least 5) |

dx-py's cache (and so the daemon's socket) lives in a scratch directory; the daemon is stopped
at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "corpus"))

import collect  # noqa: E402
import corpus  # noqa: E402

# The file each suite's test comes from: a plain module of the suite's main API.
TEST_FILES = {
    "jinja2": "tests/test_api.py",
    "click": "tests/test_basic.py",
    "markupsafe": "tests/test_escape.py",
    "itsdangerous": "tests/test_itsdangerous/test_signer.py",
}


def first_test(root: Path, file: str, env: dict[str, str]) -> str:
    """The first node ID pytest collects from `file`."""
    proc = subprocess.run(
        [str(corpus.venv_python()), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", file],
        cwd=root, env=env, capture_output=True, text=True, check=True)
    return next(line for line in proc.stdout.splitlines() if "::" in line)


def median_time(cmd: list[str], root: Path, env: dict[str, str], runs: int) -> tuple[float, int]:
    """(median seconds, last exit code), after one untimed warm-up."""
    subprocess.run(cmd, cwd=root, env=env, capture_output=True)
    times, code = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True)
        times.append(time.perf_counter() - start)
        code = proc.returncode
    return statistics.median(times), code


def bench_suite(suite: corpus.Suite, dxpy: Path, runs: int, cache: Path) -> tuple[str, ...]:
    env = corpus.clean_env(bytecode=True)
    env["DXPY_CACHE_DIR"] = str(cache)
    env.pop("DXPY_NO_DAEMON", None)
    python = str(corpus.venv_python())
    node = first_test(suite.root, TEST_FILES[suite.name], env)
    pytest_s, py_code = median_time(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", node], suite.root, env, runs)
    dx = [str(dxpy), "test", "-q", "--python", python]
    try:
        daemon_s, dx_code = median_time(dx + [node], suite.root, env, runs)
    finally:
        subprocess.run([str(dxpy), "daemon", "stop", "--python", python], cwd=suite.root, env=env,
                       capture_output=True)
    local_s, local_code = median_time(dx + ["--no-daemon", node], suite.root, env, runs)
    return (suite.name, node, f"{pytest_s:.3f}", f"{daemon_s:.3f}", f"{local_s:.3f}",
            f"{pytest_s / daemon_s:.1f}", f"{py_code}/{dx_code}/{local_code}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="dx-py test FILE::TEST in the warm daemon vs pytest.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--suites", nargs="*", default=["jinja2", "click", "markupsafe"])
    args = parser.parse_args(argv)
    unknown = [s for s in args.suites if s not in TEST_FILES]
    if unknown:
        print(f"daemon_bench: no test file chosen for {unknown}", file=sys.stderr)
        return 2
    try:
        dxpy = collect.find_dxpy_bin()
        all_suites = corpus.load_suites()
        # The venv holds every suite: built from a selection it would be rebuilt without the rest.
        corpus.ensure_venv(all_suites)
        suites = corpus.select(all_suites, args.suites)
    except (corpus.CorpusError, subprocess.CalledProcessError) as err:
        print(f"daemon_bench: error: {err}", file=sys.stderr)
        return 2
    print(f"dx-py: {dxpy}; median of {args.runs} runs after one warm-up")
    head = ("suite", "test", "pytest_s", "daemon_s", "no_daemon_s", "py/daemon", "exit py/dm/nd")
    rows = [head]
    with tempfile.TemporaryDirectory(prefix="dxd-") as tmp:
        for suite in suites:
            rows.append(bench_suite(suite, dxpy, args.runs, Path(tmp)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for i, row in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return 0


if __name__ == "__main__":
    sys.exit(main())
