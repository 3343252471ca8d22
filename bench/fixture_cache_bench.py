"""What ``@dx.fixture(cache=True)`` saves: the setup time of a fixture whose creation takes
1 s (a sleep, then a value of about 1 MB: a dict of lists and a bytes buffer), built on the
first run and loaded on the next.

    python3 bench/fixture_cache_bench.py [--runs 3] [--python PATH]

Each run is a fresh pytest process on a generated project; the fixture's setup time is taken
around pytest's fixture setup hook. One building run (the cache cleared first), then --runs
loading runs; printed: the build time, the median load time and their ratio (the target is at
least 50). The interpreter is the one bench/snapshot_bench.py makes (or --python).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from snapshot_bench import bench_venv, timed_pytest  # noqa: E402

CONFTEST = """
import os
import time

import pytest

import dx_py_test_runner as dx


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        if fixturedef.argname == "slow":
            with open(os.environ["FIXTURE_BENCH_OUT"], "w") as out:
                out.write(repr(time.perf_counter() - started))


@dx.fixture(scope="session", cache=True)
def slow():
    time.sleep(1.0)
    return {"rows": [list(range(50)) for _ in range(2000)], "blob": bytes(200_000)}
"""

TEST = """
def test_slow(slow):
    assert len(slow["rows"]) == 2000 and len(slow["blob"]) == 200_000
"""


def run(python: Path, root: Path, *extra: str) -> float:
    return timed_pytest(python, root, "FIXTURE_BENCH_OUT", root / "setup.time",
                        ["-p", "no:syrupy", *extra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--python", type=Path)
    args = parser.parse_args()
    python = args.python.absolute() if args.python else bench_venv()
    with tempfile.TemporaryDirectory(prefix="fixture-bench-") as tmp:
        root = Path(tmp)
        (root / "conftest.py").write_text(CONFTEST)
        (root / "test_slow.py").write_text(TEST)
        build = run(python, root, "--cache-clear")
        loads = [run(python, root) for _ in range(args.runs)]
    load = statistics.median(loads)
    print(f"cached fixture setup: build {build * 1000:.1f} ms, load {load * 1000:.2f} ms "
          f"(median of {args.runs})")
    print(f"build / load: {build / load:.0f}x (target >= 50x)")


if __name__ == "__main__":
    main()
