"""dx_py_gazelle: `bazel run` target that runs `dx-py gazelle` on the workspace."""

load(":runfiles_path.bzl", "runfiles_path")
load(":toolchain.bzl", "TOOLCHAIN_TYPE", "dxpy_binary")

_SCRIPT = """\
#!/bin/sh
# Runs `dx-py gazelle "$@"` in the workspace `bazel run` was called from.
if [ -n "${{RUNFILES_DIR:-}}" ]; then
    runfiles=$RUNFILES_DIR
elif [ -d "$0.runfiles" ]; then
    runfiles=$0.runfiles
else
    echo "dx_py_gazelle: cannot find the runfiles (no RUNFILES_DIR or $0.runfiles)" >&2
    exit 2
fi
case "$runfiles" in
    /*) ;;
    *) runfiles=$PWD/$runfiles ;;
esac
if [ -z "${{BUILD_WORKSPACE_DIRECTORY:-}}" ]; then
    echo "dx_py_gazelle: BUILD_WORKSPACE_DIRECTORY is unset; start this with 'bazel run'" >&2
    exit 2
fi
cd "$BUILD_WORKSPACE_DIRECTORY" || exit 2
exec "$runfiles/{binary}" gazelle "$@"
"""

def _dx_py_gazelle_impl(ctx):
    binary = dxpy_binary(ctx)
    script = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.write(script, _SCRIPT.format(binary = runfiles_path(ctx, binary)), is_executable = True)
    return [DefaultInfo(
        executable = script,
        runfiles = ctx.runfiles(files = [binary]),
    )]

dx_py_gazelle = rule(
    implementation = _dx_py_gazelle_impl,
    executable = True,
    doc = """Generates/updates BUILD files for Python tests: `bazel run //:gazelle_dxpy -- [--mode fix|diff|check] [PATHS...]`.

Runs `dx-py gazelle` (from the dx-py toolchain) in $BUILD_WORKSPACE_DIRECTORY.
""",
    toolchains = [TOOLCHAIN_TYPE],
)
