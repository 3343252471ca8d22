# A real dev-corpus suite laid out as a Bazel workspace with no BUILD files:
# `bazel run //:gazelle_dxpy` writes them, a second run (`--mode check`)
# finds nothing to change, and `bazel test //...` gives, test by test, the
# outcomes pytest gives on the same tree with the chroot's interpreter.
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
}
