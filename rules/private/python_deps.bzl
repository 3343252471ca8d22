"""Dependency collection shared by dx_py_library and dx_py_test.

Layout: `import_roots` turns the `imports` attribute into runfiles-relative
paths (the same convention as rules_python), `collect_deps` merges what deps
provide (DxPyInfo, or PyInfo alone for plain py_library targets), and
`collect_runfiles` merges the runfiles of srcs, data and deps.
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

def import_roots(ctx):
    """`imports` attribute values as paths relative to the runfiles root.

    Args:
      ctx: rule context with an `imports` string_list attribute.

    Returns:
      list of runfiles-relative directories, e.g. `_main/src`.
    """
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

def collect_deps(deps):
    """Transitive sources, imports and flags from Python deps.

    Args:
      deps: targets providing DxPyInfo or PyInfo.

    Returns:
      struct(sources = [depset], imports = [depset], uses_shared_libraries = bool).
    """
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

def collect_runfiles(ctx):
    """Runfiles of `srcs` and `data` files plus those of data and deps targets.

    Args:
      ctx: context of a rule with PYTHON_ATTRS.

    Returns:
      A runfiles object.
    """
    runfiles = ctx.runfiles(files = ctx.files.srcs + ctx.files.data)
    for target in ctx.attr.data + ctx.attr.deps:
        runfiles = runfiles.merge(target[DefaultInfo].default_runfiles)
    return runfiles

# Attributes dx_py_library and dx_py_test share, with the same meaning.
PYTHON_ATTRS = {
    "srcs": attr.label_list(
        allow_files = [".py"],
        doc = "Python source files of this target.",
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
}
