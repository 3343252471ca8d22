"""What a warm rerun of one test costs: `dx-py test FILE::TEST` in the project's daemon vs
`pytest FILE::TEST`.

    python3 bench/daemon_bench.py [--runs 5] [--suites jinja2 click markupsafe]

Per corpus suite (from its unpacked root, corpus venv, pytest's bytecode cache warm), the first
test pytest collects from the suite's chosen file. After one untimed warm-up of each (for dx-py
it starts the daemon and its zygote), --runs rounds, each running pytest, then dx-py in the
daemon, then dx-py without it, side by side, so every runner sees the same machine; medians:

| column | what is run |
|---|---|
| `pytest_s` | `python -m pytest -q -p no:cacheprovider FILE::TEST` |
| `daemon_s` | `dx-py test -q --python PY FILE::TEST`, the project's daemon warm (see below) |
| `loop_s` | the same, --runs requests back to back, as a script's loop sends them |
| `no_daemon_s` | the same with `--no-daemon`: interpreter start-up paid in the run |
| `py/daemon` | `pytest_s / daemon_s` (target: at least 5) |

In `daemon_s` each request comes a round after the daemon's last one, as a developer's rerun
comes after a pause: the spare worker the daemon starts after a reply is ready. In `loop_s` each
request waits for the spare the previous one left starting.

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


def timed(cmd: list[str], root: Path, env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True)
    return time.perf_counter() - start, proc.returncode


def bench_suite(suite: corpus.Suite, dxpy: Path, runs: int, cache: Path) -> tuple[str, ...]:
    env = corpus.clean_env(bytecode=True)
    env["DXPY_CACHE_DIR"] = str(cache)
    env.pop("DXPY_NO_DAEMON", None)
    python = str(corpus.venv_python())
    node = first_test(suite.root, TEST_FILES[suite.name], env)
    runners = {
        "pytest": [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", node],
        "daemon": [str(dxpy), "test", "-q", "--python", python, node],
        "no_daemon": [str(dxpy), "test", "-q", "--python", python, "--no-daemon", node],
    }
    times: dict[str, list[float]] = {name: [] for name in runners}
    codes: dict[str, int] = {}
    try:
        for cmd in runners.values():
            subprocess.run(cmd, cwd=suite.root, env=env, capture_output=True)
        for _ in range(runs):
            for name, cmd in runners.items():
                elapsed, codes[name] = timed(cmd, suite.root, env)
                times[name].append(elapsed)
        loop = [timed(runners["daemon"], suite.root, env)[0] for _ in range(runs)]
    finally:
        subprocess.run([str(dxpy), "daemon", "stop", "--python", python], cwd=suite.root, env=env,
                       capture_output=True)
    pytest_s, daemon_s, local_s = (statistics.median(times[n]) for n in runners)
    loop_s = statistics.median(loop)
    return (suite.name, node, f"{pytest_s:.3f}", f"{daemon_s:.3f}", f"{loop_s:.3f}", f"{local_s:.3f}",
            f"{pytest_s / daemon_s:.1f}", f"{codes['pytest']}/{codes['daemon']}/{codes['no_daemon']}")


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
    print(f"dx-py: {dxpy}; medians of {args.runs} interleaved rounds after one warm-up")
    head = ("suite", "test", "pytest_s", "daemon_s", "loop_s", "no_daemon_s", "py/daemon",
            "exit py/dm/nd")
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
