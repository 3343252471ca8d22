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

Directives are comments in BUILD files, inherited by subdirectories:
`# dxpy:python_root`, `# dxpy:generation_mode package|file`, `# dxpy:ignore [GLOB]`,
`# dxpy:resolve MODULE LABEL`, `# dxpy:test_file_pattern GLOB[,GLOB]`, and
`# dxpy:data GLOB` (files matching GLOB, relative to the BUILD file's directory, become
`data` of every generated dx_py_test at or below it, besides the data inferred from the
code's string literals). `# keep` on a rule, an attribute or a list element holds it.
""",
    attrs = {
        "_launcher_template": launcher_template_attr("//rules/private:launchers/gazelle_launcher.sh.tpl", "dx_py_gazelle"),
    },
    toolchains = [TOOLCHAIN_TYPE],
)
