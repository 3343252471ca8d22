# Third-party dependencies through rules_python's pip.parse, offline: a project
# whose library and tests import real wheels (attrs, jaraco.functools and its
# dependency more-itertools) gets a requirements lock (tests/bazel/pypi-wheels.txt)
# and a pip.parse hub installed from a local wheelhouse with --no-index; gazelle's
# manifest, written by `--update-manifest --requirements` from an environment that
# also holds pytest, maps the imports to the hub's @pypi//<dist> labels; then
# `bazel test //...` gives, test by test, pytest's outcomes on the same tree.
#
# rules_python 0.22.1 (Debian's) needs two things for that, both real Bazel
# mechanisms and no copy of anything in the source tree:
# - its pip.parse runs a wheel installer whose own wheels (pip, setuptools,
#   installer, ...) it fetches from files.pythonhosted.org; offline that fails
#   with "Error downloading [https://files.pythonhosted.org/.../build-0.9.0-py3-none-any.whl]
#   ...: Unknown host: files.pythonhosted.org". The same files, pinned by the
#   same sha256 (tests/bazel/rules-python-wheels.txt), are handed to Bazel as
#   --distdir;
# - its pinned pip 22.3.1 and setuptools 60.10.0 cannot run on the chroot's
#   Python 3.14 ("AttributeError: module 'pkgutil' has no attribute
#   'ImpImporter'" from pkg_resources), so override_repo swaps those two
#   repositories of its internal_deps extension for newer wheels (file:// URLs
#   with their sha256).
# Sourced by e2e.sh (which defines bazel_step, expect_in, fail, the paths).
# shellcheck shell=bash

PYPI_WS=$SCRATCH/pypi-ws
PYPI_WHEELHOUSE=$SCRATCH/pypi-wheelhouse
PYPI_DISTDIR=$SCRATCH/pypi-distdir
PYPI_VENV=$SCRATCH/pypi-venv
BAZEL_WHEELS=${DXPY_CACHE:-$REPO_ROOT/.cache}/bazel-wheels

# copy_wheels LIST DIR: the wheels of tests/bazel/LIST-wheels.txt (fetched by the
# setup stage) into DIR, which the chroot can see; fails naming a missing one.
copy_wheels() {
    local list=$1 dir=$2 name version wheel
    mkdir -p "$dir"
    while read -r name _; do
        [[ -n $name && $name != \#* ]] || continue
        version=${name#*==}
        name=${name%%==*}
        # Wheel file names use the normalized name with `_`.
        wheel=$(find "$BAZEL_WHEELS/$list" -maxdepth 1 -iname "${name//-/_}-$version-*.whl" | head -n 1)
        [[ -n $wheel ]] || { fail "no wheel for $name==$version in $BAZEL_WHEELS/$list (run tests/run.sh setup)"; return 1; }
        cp "$wheel" "$dir/"
    done <"$SCRIPT_DIR/$list-wheels.txt"
}

# pinned_sha256 NAME: the sha256 tests/bazel/rules-python-wheels.txt pins NAME to.
pinned_sha256() {
    sed -n "s/^$1==[^ ]* --hash=sha256:\([0-9a-f]\{64\}\)\$/\1/p" "$SCRIPT_DIR/rules-python-wheels.txt"
}

write_pypi_project() {
    local ws=$1 pip_whl setuptools_whl
    pip_whl=$(cd "$PYPI_DISTDIR" && ls pip-*.whl)
    setuptools_whl=$(cd "$PYPI_DISTDIR" && ls setuptools-*.whl)
    mkdir -p "$ws/lib" "$ws/tests"
    cp "$SCRIPT_DIR/pypi-wheels.txt" "$ws/requirements_lock.txt"
    cat >"$ws/MODULE.bazel" <<MODULE
module(name = "dxpy_e2e_pypi", version = "0.0.0")

bazel_dep(name = "rules_dxpy", version = "0.1.0")
local_path_override(module_name = "rules_dxpy", path = "$REPO_ROOT")
bazel_dep(name = "rules_python", version = "0.22.1")

dxpy = use_extension("@rules_dxpy//dxpy:extensions.bzl", "dxpy")
dxpy.development()
use_repo(dxpy, "dxpy_toolchains")
register_toolchains("@dxpy_toolchains//:all")

# The hub @pypi has a package per locked distribution (@pypi//attrs); the
# wheels come from the local wheelhouse only. The interpreter is the chroot's
# python3 (rules_python's default).
pip = use_extension("@rules_python//python/extensions:pip.bzl", "pip")
pip.parse(
    name = "pypi",
    extra_pip_args = ["--no-index", "--find-links=$PYPI_WHEELHOUSE"],
    incompatible_generate_aliases = True,
    requirements_lock = "//:requirements_lock.txt",
)
use_repo(pip, "pypi")

# rules_python 0.22.1 installs wheels with pip 22.3.1 and setuptools 60.10.0,
# which fail on Python >= 3.12; newer ones, pinned, from the distdir.
internal_deps = use_extension("@rules_python//python/extensions/private:internal_deps.bzl", "internal_deps")

http_archive = use_repo_rule("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")

_TOOL_BUILD = 'package(default_visibility = ["//visibility:public"])\nexports_files(glob(["**"]))\n'

http_archive(
    name = "rules_python_pip",
    build_file_content = _TOOL_BUILD,
    sha256 = "$(pinned_sha256 pip)",
    type = "zip",
    urls = ["file://$PYPI_DISTDIR/$pip_whl"],
)

http_archive(
    name = "rules_python_setuptools",
    build_file_content = _TOOL_BUILD,
    sha256 = "$(pinned_sha256 setuptools)",
    type = "zip",
    urls = ["file://$PYPI_DISTDIR/$setuptools_whl"],
)

override_repo(internal_deps, pypi__pip = "rules_python_pip", pypi__setuptools = "rules_python_setuptools")
MODULE
    # rules_python's other tool wheels, by file name and sha256.
    printf 'common --distdir=%s\n' "$PYPI_DISTDIR" >"$ws/.bazelrc"
    printf 'load("@rules_dxpy//rules:defs.bzl", "dx_py_gazelle")\n\ndx_py_gazelle(name = "gazelle_dxpy")\n' >"$ws/BUILD.bazel"
    : >"$ws/lib/__init__.py"
    cat >"$ws/lib/shapes.py" <<'PY'
import attrs


@attrs.define
class Point:
    x: int
    y: int

    def moved(self, dx):
        return attrs.evolve(self, x=self.x + dx)
PY
    : >"$ws/tests/__init__.py"
    cat >"$ws/tests/test_shapes.py" <<'PY'
import attr
import pytest
from jaraco.functools import compose

from lib.shapes import Point


def test_point_as_dict():
    assert attr.asdict(Point(1, 2).moved(2)) == {"x": 3, "y": 2}


def test_compose():
    assert compose(abs, int)("-3") == 3


@pytest.mark.skip(reason="a skip, compared like the rest")
def test_skipped():
    raise AssertionError
PY
    cat >"$ws/tests/test_windowed.py" <<'PY'
def test_windowed():
    from more_itertools import windowed

    assert list(windowed([1, 2, 3], 2)) == [(1, 2), (2, 3)]
PY
}

# Its workspace is not among e2e.sh's at the start, so its server is shut down
# here whatever the outcome.
check_pypi() {
    local status=0 start=$SECONDS
    pypi_steps || status=1
    "$SID" bazel --workspace "$PYPI_WS" -- shutdown >/dev/null 2>&1 || status=1
    echo "e2e: pip.parse step took $((SECONDS - start)) s" >&2
    return "$status"
}

pypi_steps() {
    local dev=--repo_env=DXPY_DEV_BINARY="$DXPY_BIN" ws=$PYPI_WS xml=$SCRATCH/pypi-pytest.xml
    rm -rf "$ws" "$xml" "$PYPI_WHEELHOUSE" "$PYPI_DISTDIR" "$PYPI_VENV"
    copy_wheels pypi "$PYPI_WHEELHOUSE" || return 1
    copy_wheels rules-python "$PYPI_DISTDIR" || return 1
    write_pypi_project "$ws" || return 1

    # pytest's outcomes, and the environment the manifest is read from: a venv
    # over the chroot's Python (so pytest is there too) with the locked wheels
    # installed from the same wheelhouse.
    "$SID" run --workspace "$ws" -- sh -c "python3 -m venv --system-site-packages --without-pip '$PYPI_VENV' &&
        '$PYPI_VENV/bin/python' '$PYPI_DISTDIR/$(cd "$PYPI_DISTDIR" && ls pip-*.whl)/pip' install --isolated --quiet \
            --no-index --no-deps --find-links='$PYPI_WHEELHOUSE' -r '$ws/requirements_lock.txt' &&
        cd '$ws' && '$PYPI_VENV/bin/python' -m pytest -q -p no:cacheprovider --junit-xml='$xml'" \
        >"$LOG_DIR/pypi-pytest.log" 2>&1 || { fail "pytest fails on the pip.parse project"; cat "$LOG_DIR/pypi-pytest.log" >&2; return 1; }
    find "$ws" -name __pycache__ -prune -exec rm -rf {} +

    bazel_step pypi-manifest "$ws" run "$dev" //:gazelle_dxpy -- --update-manifest \
        --python "$PYPI_VENV/bin/python" --requirements requirements_lock.txt || return 1
    expect_in "$ws/gazelle_dxpy.toml" '^attr = "attrs"$' "manifest maps attr" || return 1
    expect_in "$ws/gazelle_dxpy.toml" '^"jaraco.functools" = "jaraco_functools"$' "manifest maps a namespace package" || return 1
    expect_in "$ws/gazelle_dxpy.toml" '^more_itertools = "more_itertools"$' "manifest maps a dependency's module" || return 1
    # pytest is installed too, but the hub has no package for it.
    expect_not_in "$ws/gazelle_dxpy.toml" 'pytest|pluggy' "the lock keeps the runner out of the manifest" || return 1

    bazel_step pypi-gazelle-fix "$ws" run "$dev" //:gazelle_dxpy || return 1
    expect_in "$ws/lib/BUILD.bazel" '"@pypi//attrs"' "library dep on the hub" || return 1
    expect_in "$ws/tests/BUILD.bazel" '"@pypi//jaraco_functools"' "test dep on the hub" || return 1
    expect_in "$ws/tests/BUILD.bazel" '"@pypi//more_itertools"' "import inside a function" || return 1
    bazel_step pypi-gazelle-check "$ws" run "$dev" //:gazelle_dxpy -- --mode check || return 1
    bazel_step pypi-test "$ws" test "$dev" //... || return 1
    # jaraco.functools imports more_itertools: pip.parse's repository for it
    # depends on the one for its dependency, which the test never names.
    bazel_step pypi-deps "$ws" cquery "$dev" --noimplicit_deps 'deps(//tests:test_shapes)' || return 1
    expect_in "$LOG_DIR/pypi-deps.log" 'pypi_more_itertools//:pkg' "the wheel's own dependency" || return 1
    bazel_paths pypi-info "$ws" "$dev" || return 1
    python3 "$SCRIPT_DIR/compare_junit.py" "$xml" "$TESTLOGS" >"$LOG_DIR/pypi-compare.log" 2>&1 || {
        fail "bazel test outcomes differ from pytest's on the pip.parse project:"
        cat "$LOG_DIR/pypi-compare.log" >&2
        return 1
    }
    cat "$LOG_DIR/pypi-compare.log" >&2
}
