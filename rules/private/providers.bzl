"""Providers shared by the rules_dxpy rules."""

DxPyInfo = provider(
    doc = """Python sources and import roots of a dx_py_library and its deps.

dx-py's rules read this instead of PyInfo so they can tell a target's own
sources from what it pulls in. Targets that return DxPyInfo also return the
equivalent PyInfo, so rules_python's py_test/py_binary accept them.
""",
    fields = {
        "srcs": "depset[File]: the target's own `srcs` (.py files).",
        "transitive_sources": "depset[File] (postorder): `srcs` of this target " +
                              "and of every Python dep (dx_py_library or any PyInfo provider).",
        "imports": "depset[str]: import roots (extra sys.path entries) of this target " +
                   "and its deps, relative to the runfiles root, e.g. `_main/src`.",
    },
)
