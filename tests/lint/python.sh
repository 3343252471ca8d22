#!/usr/bin/env bash
# Lints the project's Python; exits non-zero on any finding (after running every check).
#   ruff check    worker/, tests/, bench/ (settings: the root ruff.toml); dx_py_test_runner
#                 (tools/dxpy_python, examples/snapshots) with the same rules
#   mypy          the worker package (settings: worker/mypy.ini), against the pinned pytest;
#                 dx_py_test_runner (--strict)
#   import cycles inside the worker package (tests/lint/import_cycles.py)
#   python3.9     the worker package compiles, and its stdlib-only modules import, on the
#                 oldest Python it supports (when the machine has a python3.9)
# The tools live in a venv of their own, created on first use and reused while the pins hold:
# ${DXPY_CACHE:-<repo>/.cache}/lint-venv. (No `ruff format`: the code is wrapped by hand.)
set -uo pipefail

RUFF_VERSION=0.17.6
MYPY_VERSION=2.4.1

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cache="${DXPY_CACHE:-$repo/.cache}"
venv="$cache/lint-venv"

# pytest's pin is the corpus venv's (shared/corpus/constraints.txt, found as corpus.py finds it).
constraints=$(python3 -c 'import sys; sys.path.insert(0, "tests/corpus"); import corpus; print(corpus.constraints_path())') || exit 1
if [ ! -f "$constraints" ]; then
    echo "lint: no constraints file at $constraints (it pins pytest)" >&2
    exit 1
fi
pytest_pin=$(grep -E '^pytest==' "$constraints")
if [ -z "$pytest_pin" ]; then
    echo "lint: $constraints pins no pytest" >&2
    exit 1
fi

stamp="ruff==$RUFF_VERSION mypy==$MYPY_VERSION $pytest_pin"
if [ "$(cat "$venv/lint-pins" 2>/dev/null)" != "$stamp" ]; then
    echo "lint: installing $stamp into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv" &&
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "ruff==$RUFF_VERSION" "mypy==$MYPY_VERSION" "$pytest_pin" &&
        echo "$stamp" >"$venv/lint-pins" || exit 1
fi

failed=()
check() {
    local name=$1
    shift
    echo "::: lint $name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

# The oldest Python the worker supports, when this machine has it (pyenv keeps it off PATH).
find_python39() {
    local candidate
    for candidate in "${DXPY_PYTHON39:-}" python3.9 "$(pyenv root 2>/dev/null)"/versions/3.9*/bin/python3.9; do
        [ -n "$candidate" ] && "$candidate" -c 'pass' >/dev/null 2>&1 && { echo "$candidate"; return 0; }
    done
    return 1
}

python39_check() {
    local python39
    if ! python39=$(find_python39); then
        echo "lint: no python3.9 here: ruff's py39 target is the only 3.9 check"
        return 0
    fi
    # Every module must compile; each must import unless pytest is what it lacks (the pytest
    # engine runs only where pytest is installed). Nothing is written (-B, compile()).
    PYTHONPATH="$repo/worker" "$python39" -B - "$repo/worker/dxpy_worker" <<'EOF'
import importlib
import pathlib
import sys

failures = 0
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.py")):
    module = "dxpy_worker" if path.stem == "__init__" else f"dxpy_worker.{path.stem}"
    try:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != "pytest":
            print(f"{module}: {err!r}")
            failures += 1
    except Exception as err:
        print(f"{module}: {err!r}")
        failures += 1
print(f"python {sys.version.split()[0]}: worker modules checked, {failures} problem(s)")
sys.exit(1 if failures else 0)
EOF
}

check ruff "$venv/bin/ruff" check --no-cache worker tests bench
# ruff.toml excludes tools/ and examples/ (fixtures live there): the Python package of
# tools/dxpy_python, its tests and its example suite are checked with ruff.toml's rules here.
check ruff-dx_py_test_runner "$venv/bin/ruff" check --no-cache --isolated --line-length 120 \
    --select E,W,F,I,B,UP --target-version py39 \
    tools/dxpy_python/python tools/dxpy_python/tests/python examples/snapshots
check mypy "$venv/bin/mypy" --config-file worker/mypy.ini --cache-dir "$cache/mypy" worker/dxpy_worker
# dx_py_test_runner (tools/dxpy_python): strict, against the stub of its Rust extension.
check mypy-dx_py_test_runner env MYPYPATH=tools/dxpy_python/python "$venv/bin/mypy" --strict \
    --python-version 3.10 --cache-dir "$cache/mypy" -p dx_py_test_runner
check import-cycles python3 tests/lint/import_cycles.py worker/dxpy_worker
check python3.9 python39_check

if [ "${#failed[@]}" -ne 0 ]; then
    echo "lint: FAILED: ${failed[*]}"
    exit 1
fi
echo "lint: all checks passed"
