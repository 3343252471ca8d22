"""Implementation of dx_py_library.

The shared pieces (imports → runfiles roots, dep collection, runfiles) live in
python_deps.bzl, which dx_py_test uses too; this rule returns DxPyInfo, PyInfo
and runfiles holding sources + data.
"""

load("@rules_python//python:py_info.bzl", "PyInfo")
load(":providers.bzl", "DxPyInfo")
load(":python_deps.bzl", "PYTHON_ATTRS", "collect_deps", "collect_runfiles", "import_roots")

def _dx_py_library_impl(ctx):
    collected = collect_deps(ctx.attr.deps)
    srcs = depset(ctx.files.srcs)
    transitive_sources = depset(
        ctx.files.srcs,
        transitive = collected.sources,
        order = "postorder",
    )
    imports = depset(import_roots(ctx), transitive = collected.imports)

    return [
        DefaultInfo(files = transitive_sources, runfiles = collect_runfiles(ctx)),
        DxPyInfo(
            srcs = srcs,
            transitive_sources = transitive_sources,
            imports = imports,
        ),
        PyInfo(
            transitive_sources = transitive_sources,
            imports = imports,
            uses_shared_libraries = collected.uses_shared_libraries,
            has_py2_only_sources = False,
            has_py3_only_sources = True,
        ),
        # `bazel coverage`: its sources are instrumented when --instrumentation_filter
        # matches it; a dx_py_test depending on it reports on them.
        coverage_common.instrumented_files_info(
            ctx,
            source_attributes = ["srcs"],
            dependency_attributes = ["deps", "data"],
            extensions = ["py"],
        ),
    ]

dx_py_library = rule(
    implementation = _dx_py_library_impl,
    doc = """A Python library for dx-py test targets.

Works like rules_python's py_library: its sources, data and deps end up in
the runfiles of any dx_py_test, py_test or py_binary depending on it, and
`imports` adds sys.path entries. Returns DxPyInfo, PyInfo and
InstrumentedFilesInfo (`bazel coverage` reports on its `srcs`).
""",
    attrs = PYTHON_ATTRS,
    provides = [DxPyInfo, PyInfo],
)
