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

DxPyToolchainInfo = provider(
    doc = """The dx-py binary a `@rules_dxpy//dxpy:toolchain_type` toolchain provides.

One binary serves `dx-py bazel-worker` (the DxPyTest action), `dx-py
bazel-test` (the test executable) and `dx-py gazelle`.
""",
    fields = {
        "binary": "File: the `dx-py` executable.",
    },
)

DxPyTestInfo = provider(
    doc = """The result files of a dx_py_test's DxPyTest action.

The action runs the target's tests in the dx-py worker and records the
result; the test executable replays it (or executes the tests itself when
Bazel's test flags demand a real run). These files are also in the
`dxpy_result` output group, so `bazel build --output_groups=dxpy_result`
produces them without running the test action.
""",
    fields = {
        "status": "File: dx-py's private status record (read by `dx-py bazel-test`); " +
                  "None for an exclusive target.",
        "log": "File: pytest-shaped terminal output of the run; None for an exclusive target.",
        "xml": "File: JUnit XML of the run; None for an exclusive target.",
        "undeclared_outputs": "File (directory): what the tests wrote to " +
                              "TEST_UNDECLARED_OUTPUTS_DIR; None for an exclusive target.",
        "coverage": "File: the LCOV report of the DxPyTest action's run under `bazel coverage` " +
                    "(the instrumented sources only); None otherwise and for an exclusive target.",
        "argsfile": "File: the test argsfile (runfiles-form paths) the executable passes to `dx-py bazel-test`.",
        "exclusive": "bool: the target is tagged `exclusive` or `exclusive-if-local`. Its tests " +
                     "must not run beside other actions, so it has no DxPyTest action (and no " +
                     "result files): the test action, which Bazel runs alone, executes them.",
    },
)
