"""Implementation of dx_py_library.

Layout: `_import_roots` turns the `imports` attribute into runfiles-relative
paths (the same convention as rules_python), `_collect_deps` merges what deps
provide (DxPyInfo, or PyInfo alone for plain py_library targets), and the
rule returns DxPyInfo, PyInfo and runfiles holding sources + data.
"""

load("@rules_python//python:py_info.bzl", "PyInfo")
load(":providers.bzl", "DxPyInfo")

def _normalize_relative(path, label):
    """Resolve `.`/`..` in a repository-relative path; fail if it escapes."""
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                fail("%s: imports entry %r points outside its repository" % (label, path))
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)

def _import_roots(ctx):
    """`imports` attribute values as paths relative to the runfiles root."""
    repo = ctx.label.workspace_name or ctx.workspace_name
    roots = []
    for entry in ctx.attr.imports:
        if entry.startswith("/"):
            fail("%s: imports entry %r must be relative to the package" % (ctx.label, entry))
        in_repo = _normalize_relative(
            ctx.label.package + "/" + entry if ctx.label.package else entry,
            ctx.label,
        )
        roots.append(repo + "/" + in_repo if in_repo else repo)
    return roots

def _collect_deps(deps):
    """Transitive sources, imports and flags from Python deps."""
    sources = []
    imports = []
    uses_shared_libraries = False
    for dep in deps:
        if DxPyInfo in dep:
            sources.append(dep[DxPyInfo].transitive_sources)
            imports.append(dep[DxPyInfo].imports)
        else:
            # The `providers` constraint guarantees PyInfo here.
            sources.append(dep[PyInfo].transitive_sources)
            imports.append(dep[PyInfo].imports)
        if PyInfo in dep and dep[PyInfo].uses_shared_libraries:
            uses_shared_libraries = True
    return struct(
        sources = sources,
        imports = imports,
        uses_shared_libraries = uses_shared_libraries,
    )

def _dx_py_library_impl(ctx):
    collected = _collect_deps(ctx.attr.deps)
    srcs = depset(ctx.files.srcs)
    transitive_sources = depset(
        ctx.files.srcs,
        transitive = collected.sources,
        order = "postorder",
    )
    imports = depset(_import_roots(ctx), transitive = collected.imports)

    runfiles = ctx.runfiles(files = ctx.files.srcs + ctx.files.data)
    for target in ctx.attr.data + ctx.attr.deps:
        runfiles = runfiles.merge(target[DefaultInfo].default_runfiles)

    return [
        DefaultInfo(files = transitive_sources, runfiles = runfiles),
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
    ]

dx_py_library = rule(
    implementation = _dx_py_library_impl,
    doc = """A Python library for dx-py test targets.

Works like rules_python's py_library: its sources, data and deps end up in
the runfiles of any py_test/py_binary (or future dx_py_test) depending on it,
and `imports` adds sys.path entries. Returns DxPyInfo and PyInfo.
""",
    attrs = {
        "srcs": attr.label_list(
            allow_files = [".py"],
            doc = "Python source files of this library.",
        ),
        "deps": attr.label_list(
            providers = [[DxPyInfo], [PyInfo]],
            doc = "Other dx_py_library targets or any target providing PyInfo " +
                  "(e.g. rules_python py_library).",
        ),
        "data": attr.label_list(
            allow_files = True,
            doc = "Files needed at run time; added to runfiles.",
        ),
        "imports": attr.string_list(
            doc = "Directories, relative to this package, to add to sys.path " +
                  "(`.` for the package itself). May not leave the repository.",
        ),
    },
    provides = [DxPyInfo, PyInfo],
)
