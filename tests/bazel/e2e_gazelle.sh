# A real dev-corpus suite laid out as a Bazel workspace with no BUILD files:
# `bazel run //:gazelle_dxpy` writes them, a second run (`--mode check`)
# finds nothing to change, and `bazel test //...` gives, test by test, the
# outcomes pytest gives on the same tree with the chroot's interpreter. Then
# the same on a small project whose tests need inferred deps, data and import
# roots (check_gazelle_inference).
# Sourced by e2e.sh (which defines bazel_step, expect_in, fail, the paths).
# shellcheck shell=bash

# markupsafe: a src layout, a conftest with parametrized fixtures, skips.
GAZELLE_SUITE=${DXPY_GAZELLE_SUITE:-markupsafe}

check_gazelle_corpus() {
    local dev=--repo_env=DXPY_DEV_BINARY="$DXPY_BIN" suite_dir reference=$SCRATCH/gazelle-pytest
    suite_dir=$(find "$REPO_ROOT/.cache/corpus" -maxdepth 1 -type d -name "$GAZELLE_SUITE-*" | head -n 1)
    [[ -n $suite_dir ]] || { fail "corpus suite $GAZELLE_SUITE is not unpacked (run tests/run.sh setup)"; return 1; }
    rm -rf "$GAZELLE_WS" "$reference"
    mkdir -p "$GAZELLE_WS"
    cp -r "$suite_dir/." "$GAZELLE_WS/"
    find "$GAZELLE_WS" -name __pycache__ -prune -exec rm -rf {} +
    cp -r "$GAZELLE_WS" "$reference"

    # pytest's outcomes: the suite's own config, its src/ importable as the
    # generated imports attribute makes it for Bazel.
    "$SID" run -- sh -c "cd '$reference' && PYTHONPATH=src python3 -m pytest -q -p no:cacheprovider --junit-xml='$SCRATCH/gazelle-pytest.xml'" \
        >"$LOG_DIR/gazelle-pytest.log" 2>&1 || true
    [[ -s $SCRATCH/gazelle-pytest.xml ]] || { fail "pytest wrote no JUnit XML"; cat "$LOG_DIR/gazelle-pytest.log" >&2; return 1; }

    cat >"$GAZELLE_WS/MODULE.bazel" <<MODULE
module(name = "dxpy_e2e_gazelle", version = "0.0.0")

bazel_dep(name = "rules_dxpy", version = "0.1.0")
local_path_override(module_name = "rules_dxpy", path = "$REPO_ROOT")
bazel_dep(name = "rules_python", version = "0.22.1")

dxpy = use_extension("@rules_dxpy//dxpy:extensions.bzl", "dxpy")
dxpy.development()
use_repo(dxpy, "dxpy_toolchains")
register_toolchains("@dxpy_toolchains//:all")
MODULE
    cat >"$GAZELLE_WS/BUILD.bazel" <<'BUILD'
load("@rules_dxpy//rules:defs.bzl", "dx_py_gazelle")

# Hand-written: gazelle_dxpy must keep it and add its own targets around it.
dx_py_gazelle(name = "gazelle_dxpy")
BUILD

    bazel_step gazelle-fix "$GAZELLE_WS" run "$dev" //:gazelle_dxpy || return 1
    expect_in "$GAZELLE_WS/tests/BUILD.bazel" 'dx_py_test\(' "generated test targets" || return 1
    expect_in "$GAZELLE_WS/BUILD.bazel" 'name = "gazelle_dxpy"' "hand-written rule kept" || return 1
    bazel_step gazelle-check "$GAZELLE_WS" run "$dev" //:gazelle_dxpy -- --mode check || return 1

    bazel_step gazelle-test "$GAZELLE_WS" test "$dev" //... || return 1
    bazel_paths gazelle-info "$GAZELLE_WS" "$dev" || return 1
    python3 "$SCRIPT_DIR/compare_junit.py" "$SCRATCH/gazelle-pytest.xml" "$TESTLOGS" \
        >"$LOG_DIR/gazelle-compare.log" 2>&1 || {
        fail "bazel test outcomes differ from pytest's:"
        cat "$LOG_DIR/gazelle-compare.log" >&2
        return 1
    }
    cat "$LOG_DIR/gazelle-compare.log" >&2
    check_gazelle_inference
}

# A new user's package (no BUILD files): a unittest module importing another
# test module inside setUp, a data file beside a test and one beside a plugin,
# an import root only pytest.ini's `pythonpath` names, fixtures from a
# conftest's `pytest_plugins`. Each needs an inferred dep, data or import root
# to pass under `bazel test` as it does under pytest.
GAZELLE_INFER_WS=$SCRATCH/gazelle-infer-ws

write_inference_project() {
    local ws=$1
    mkdir -p "$ws/lib/calc" "$ws/helpers" "$ws/tests/data"
    printf '[pytest]\npythonpath = lib\ntestpaths = tests\n' >"$ws/pytest.ini"
    printf 'def add(a, b):\n    return a + b\n' >"$ws/lib/calc/__init__.py"
    printf 'pytest_plugins = ["helpers.fixtures"]\n' >"$ws/conftest.py"
    : >"$ws/helpers/__init__.py"
    echo '[1, 2, 3]' >"$ws/helpers/numbers.json"
    cat >"$ws/helpers/fixtures.py" <<'PY'
import json
from pathlib import Path

import pytest


@pytest.fixture
def numbers():
    return json.loads((Path(__file__).parent / "numbers.json").read_text())
PY
    : >"$ws/tests/__init__.py"
    echo case >"$ws/tests/data/case.txt"
    cat >"$ws/tests/test_base.py" <<'PY'
import unittest


class Base(unittest.TestCase):
    factor = 2

    def test_factor(self):
        self.assertEqual(self.factor, 2)
PY
    cat >"$ws/tests/test_derived.py" <<'PY'
import unittest


class Derived(unittest.TestCase):
    def setUp(self):
        from . import test_base

        self.base = test_base.Base

    def test_uses_base(self):
        self.assertEqual(self.base.factor * 2, 4)
PY
    cat >"$ws/tests/test_data.py" <<'PY'
from pathlib import Path


def test_case_file():
    assert (Path(__file__).parent / "data" / "case.txt").read_text() == "case\n"
PY
    cat >"$ws/tests/test_calc.py" <<'PY'
import calc


def test_add(numbers):
    assert calc.add(*numbers[:2]) == 3
PY
}

# Its workspace is not among e2e.sh's (whose exit trap shuts those down), so
# its server is shut down here whatever the outcome.
check_gazelle_inference() {
    local status=0
    gazelle_inference_steps || status=1
    "$SID" bazel --workspace "$GAZELLE_INFER_WS" -- shutdown >/dev/null 2>&1 || status=1
    return "$status"
}

gazelle_inference_steps() {
    local dev=--repo_env=DXPY_DEV_BINARY="$DXPY_BIN" ws=$GAZELLE_INFER_WS xml=$SCRATCH/gazelle-infer-pytest.xml
    rm -rf "$ws" "$xml"
    write_inference_project "$ws"
    "$SID" run --workspace "$ws" -- sh -c "cd '$ws' && python3 -m pytest -q -p no:cacheprovider --junit-xml='$xml'" \
        >"$LOG_DIR/gazelle-infer-pytest.log" 2>&1 || { fail "pytest fails on the inference project"; cat "$LOG_DIR/gazelle-infer-pytest.log" >&2; return 1; }
    find "$ws" -name __pycache__ -prune -exec rm -rf {} +
    sed "s/dxpy_e2e_gazelle/dxpy_e2e_gazelle_infer/" "$GAZELLE_WS/MODULE.bazel" >"$ws/MODULE.bazel"
    printf 'load("@rules_dxpy//rules:defs.bzl", "dx_py_gazelle")\n\ndx_py_gazelle(name = "gazelle_dxpy")\n' >"$ws/BUILD.bazel"

    bazel_step gazelle-infer-fix "$ws" run "$dev" //:gazelle_dxpy || return 1
    expect_in "$ws/tests/BUILD.bazel" 'name = "test_base_lib"' "imported test module's library" || return 1
    expect_in "$ws/tests/BUILD.bazel" '"data/case.txt"' "data beside a test" || return 1
    expect_in "$ws/helpers/BUILD.bazel" '"numbers.json"' "data beside a plugin" || return 1
    expect_in "$ws/lib/calc/BUILD.bazel" 'imports = \["\.\."\]' "pythonpath import root" || return 1
    expect_in "$ws/BUILD.bazel" '"//helpers"' "pytest_plugins dep" || return 1
    bazel_step gazelle-infer-check "$ws" run "$dev" //:gazelle_dxpy -- --mode check || return 1
    bazel_step gazelle-infer-test "$ws" test "$dev" //... || return 1
    bazel_paths gazelle-infer-info "$ws" "$dev" || return 1
    python3 "$SCRIPT_DIR/compare_junit.py" "$xml" "$TESTLOGS" >"$LOG_DIR/gazelle-infer-compare.log" 2>&1 || {
        fail "bazel test outcomes differ from pytest's on the inference project:"
        cat "$LOG_DIR/gazelle-infer-compare.log" >&2
        return 1
    }
    cat "$LOG_DIR/gazelle-infer-compare.log" >&2
}
