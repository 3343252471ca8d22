"""dx_py_gazelle: `bazel run` target that runs `dx-py gazelle` on the workspace."""

load(":launcher.bzl", "expand_launcher", "launcher_template_attr")
load(":runfiles_path.bzl", "runfiles_path")
load(":toolchain.bzl", "TOOLCHAIN_TYPE", "dxpy_binary")

def _dx_py_gazelle_impl(ctx):
    binary = dxpy_binary(ctx)
    script = ctx.actions.declare_file(ctx.label.name)
    expand_launcher(ctx, script, "dx_py_gazelle", {"%{binary}": runfiles_path(ctx, binary)})
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
    attrs = {
        "_launcher_template": launcher_template_attr("//rules/private:launchers/gazelle_launcher.sh.tpl", "dx_py_gazelle"),
    },
    toolchains = [TOOLCHAIN_TYPE],
)
