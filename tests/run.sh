#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (pip venv with pinned pytest,
# the real-suite corpus, the Debian sid chroot with Bazel 7), then runs every stage and ends with one
# summary line. Stages can be narrowed for local work: DXPY_STAGES="rust worker" bash tests/run.sh
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
export DXPY_CACHE="${DXPY_CACHE:-$repo/.cache}"
# The suites' figures were taken with bytecode caching on; some shells here turn it off.
unset PYTHONDONTWRITEBYTECODE
stages="${DXPY_STAGES:-setup lint rust worker harness corpus outcomes affected snapshots bazel remote}"
passed=0
failed=0
failed_names=()

stage() {
    local name=$1
    shift
    case " $stages " in *" $name "*) ;; *) return 0 ;; esac
    echo "::: stage $name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "::: stage $name passed in $((SECONDS - start))s"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        echo "::: stage $name FAILED in $((SECONDS - start))s"
    fi
}

venv_python="$DXPY_CACHE/corpus/venv/bin/python"

setup() {
    python3 tests/corpus/corpus.py fetch && python3 tests/corpus/corpus.py venv &&
        DXPY_CORPUS_SET=plugins python3 tests/corpus/corpus.py setup && cov_tools && plugin_wheels
}

# Plugins that integration tests install into scratch venvs of their own (`install_wheel`).
plugin_wheels() {
    "$venv_python" -m pip download --quiet --disable-pip-version-check --no-deps \
        -d "$DXPY_CACHE/wheels" -r tests/plugin-wheels.txt &&
        bazel_wheels
}

# The offline wheelhouse of the Bazel e2e's pip.parse workspace and rules_python's own tool
# wheels (tests/bazel/e2e_pypi.sh; pinned by sha256 in the lists).
bazel_wheels() {
    local list
    for list in pypi rules-python; do
        "$venv_python" -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: -d "$DXPY_CACHE/bazel-wheels/$list" -r "tests/bazel/$list-wheels.txt" || return 1
    done
}

# `dx-py test --cov` is compared with pytest-cov (tools/dxpy_cli/tests/it/cli_cov.rs): both
# in the test venv, at the plugin set's pins (inactive without --cov).
cov_tools() {
    local constraints
    constraints=$(python3 -c 'import sys; sys.path.insert(0, "tests/corpus"); import corpus; print(corpus.constraints_path())') &&
        "$venv_python" -m pip install --quiet --disable-pip-version-check \
            -c "$(dirname "$constraints")/constraints-plugins.txt" coverage pytest-cov
}

lint() {
    # Every linter runs even when an earlier one fails, so one CI run shows every finding.
    local status=0 check
    for check in rust.sh starlark.sh python.sh; do
        echo "--- lint: $check"
        bash "tests/lint/$check" || { echo "--- lint: $check FAILED"; status=1; }
    done
    echo "--- lint: rust module cycles"
    python3 tests/lint/rust_module_cycles.py || { echo "--- lint: rust module cycles FAILED"; status=1; }
    return $status
}

rust() {
    DXPY_TEST_PYTHON="$venv_python" cargo test --workspace --locked
}

worker() {
    PYTHONPATH="$repo/worker" "$venv_python" -m unittest discover -s worker/tests -t worker
}

harness() {
    DXPY_TEST_PYTHON="$venv_python" python3 -m unittest discover -s tests/corpus -p 'test_*.py'
}

corpus() {
    cargo build --release --locked -p dxpy_cli &&
        DXPY_BIN="$repo/target/release/dx-py" python3 tests/corpus/compare_discovery.py &&
        DXPY_CORPUS_SET=plugins DXPY_BIN="$repo/target/release/dx-py" \
            python3 tests/corpus/compare_discovery.py
}

outcomes() {
    # Then two click modules pytest imports together, in separate batches: the second passes
    # only if its worker imported the first before its first batch (ImportModules); the
    # whole suite's batching happens to put test_echo.py beside test_echo_via_pager.py.
    cargo build --release --locked -p dxpy_cli &&
        DXPY_BIN="$repo/target/release/dx-py" python3 tests/corpus/compare_outcomes.py &&
        DXPY_BIN="$repo/target/release/dx-py" python3 tests/corpus/compare_outcomes.py click \
            --select tests/test_termui.py --select tests/test_utils/test_echo_via_pager.py &&
        # The second set: suites that need pytest plugins (their own venv) and doctests.
        DXPY_CORPUS_SET=plugins DXPY_BIN="$repo/target/release/dx-py" \
            python3 tests/corpus/compare_outcomes.py
}

affected() {
    cargo build --release --locked -p dxpy_cli &&
        DXPY_BIN="$repo/target/release/dx-py" python3 tests/corpus/affected_check.py --modules 2 --functions 1
}

snapshots() {
    # dx_py_test_runner (issue 16) as a user installs it: pip builds it with maturin into a
    # fresh venv beside the pinned pytest; its tests (themselves run by pytest, then by dx-py)
    # run the plugin under pytest and under dx-py, then the example suite passes under both
    # with its stored snapshots (--ci: none may be written), last under the wheel's own dx-py
    # (DXPY_WHEEL_CLI packs the binary just built), which runs its venv's interpreter.
    local venv="$DXPY_CACHE/snapshots-venv" constraints pin
    constraints=$(python3 -c 'import sys; sys.path.insert(0, "tests/corpus"); import corpus; print(corpus.constraints_path())') &&
        pin=$(grep -E '^pytest==' "$constraints") &&
        rm -rf "$venv" && python3 -m venv "$venv" &&
        cargo build --release --locked -p dxpy_cli &&
        DXPY_WHEEL_CLI="$repo/target/release/dx-py" "$venv/bin/pip" install --quiet \
            --disable-pip-version-check "$pin" ./tools/dxpy_python &&
        DXPY_BIN="$repo/target/release/dx-py" "$venv/bin/python" -m pytest -p no:cacheprovider -q \
            tools/dxpy_python/tests/python &&
        DXPY_BIN="$repo/target/release/dx-py" DXPY_NO_DAEMON=1 "$repo/target/release/dx-py" test \
            --python "$venv/bin/python" -q tools/dxpy_python/tests/python &&
        (cd examples/snapshots &&
            "$venv/bin/python" -m pytest -p no:cacheprovider -q --ci &&
            DXPY_NO_DAEMON=1 "$repo/target/release/dx-py" test --python "$venv/bin/python" --ci &&
            DXPY_NO_DAEMON=1 env -u VIRTUAL_ENV "$venv/bin/dx-py" test --ci)
}

bazel() {
    # Then the worker's tests again under the chroot's Python 3.14 and pytest 9.1.1: the engine
    # and its shortcuts must hold for the pytest that Bazel users of Debian get, too.
    bash tests/bazel/e2e.sh &&
        bash tests/bazel/sid.sh run --workspace "$repo" -- sh -c \
            "cd '$repo' && PYTHONPATH=worker python3 -m unittest discover -s worker/tests -t worker"
}

remote() {
    # Remote execution on a real REAPI server: BuildGrid and its bots on loopback
    # (tests/remote/up.sh), the example workspace executed remotely, then from the cache.
    bash tests/remote/e2e.sh
}

stage setup setup
if [ "$failed" -ne 0 ]; then
    # Every later stage needs the venv and the corpus: stop here with the reason above.
    echo "stages: $passed passed, $failed failed"
    exit 1
fi
stage lint lint
stage rust rust
stage worker worker
stage harness harness
stage corpus corpus
stage outcomes outcomes
stage affected affected
stage snapshots snapshots
stage bazel bazel
stage remote remote

if [ "$failed" -ne 0 ]; then
    echo "failed stages: ${failed_names[*]}"
fi
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
