"""pytest plugin: how much of a run is pytest's per-test machinery and how much the tests.

Sums, over the run, the time inside `pytest_runtest_protocol` (setup, call, teardown and
reports of every test) and inside `pytest_pyfunc_call` (the test functions themselves), and
prints both at the end. Used in bench/README.md:

    PYTHONPATH=bench python -m pytest -q -p no:cacheprovider -p pytest_split
"""
import sys
import time

import pytest

_totals = {"protocol": [0.0, 0.0], "call": [0.0, 0.0]}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    _totals["protocol"][0] += time.perf_counter() - wall
    _totals["protocol"][1] += time.process_time() - cpu


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    _totals["call"][0] += time.perf_counter() - wall
    _totals["call"][1] += time.process_time() - cpu


def pytest_unconfigure(config):
    for name, (wall, cpu) in _totals.items():
        print(f"pytest_split: {name}: wall {wall:.3f} s, cpu {cpu:.3f} s", file=sys.stderr)
