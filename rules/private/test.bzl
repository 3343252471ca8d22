"""Implementation of dx_py_test.

Layout:
- `_python_runtime`: the interpreter from the Python toolchain (a File in
  runfiles/inputs, or an absolute `interpreter_path`).
- `_common_args`, then `_run_tests_action` and `_dx_py_test_impl`: the
  argument list of the contract (§1-2 of the `dxpy_bazel` crate docs,
  runner/bazel/src/lib.rs, which list every flag), once with execroot paths
  for the DxPyTest action, once with runfiles paths (the test argsfile) for
  `dx-py bazel-test`.
- the test executable: a shell script from launchers/test_launcher.sh.tpl
  (see launcher.bzl) that finds the runfiles root and runs
  `dx-py bazel-test @<argsfile>`.

Users reach the rule through the `dx_py_test` macro of test_macro.bzl, which
fills `nocache_test_results` from Bazel's command line.

The DxPyTest action runs the tests in the dx-py persistent (multiplex) worker
and records status, log, JUnit XML and undeclared outputs; it succeeds even
when tests fail, so its result is cached like any build output. The
executable replays that result, or executes the tests itself when Bazel's
test flags require a real run (see README.md, "Bazel"). A target tagged
`exclusive` has no DxPyTest action: its test action, which Bazel runs alone,
always executes.

Under `bazel coverage` the DxPyTest action also writes the LCOV report of the
instrumented sources (so coverage is cached with the result) and the test
argsfile names those sources and the report: the test action replays it to
`$COVERAGE_OUTPUT_FILE`, or measures its own real run. The rule declares no
`_lcov_merger`: the test writes the final report itself.
"""

load(":launcher.bzl", "expand_launcher", "launcher_template_attr")
load(":providers.bzl", "DxPyTestInfo")
load(":python_deps.bzl", "PYTHON_ATTRS", "collect_deps", "collect_runfiles", "import_roots")
load(":runfiles_path.bzl", "runfiles_path")
load(":toolchain.bzl", "TOOLCHAIN_TYPE", "dxpy_binary")

_PYTHON_TOOLCHAIN_TYPE = "@bazel_tools//tools/python:toolchain_type"

# Bazel's test timeouts in seconds, and the default timeout of each size.
_TIMEOUT_SECONDS = {"short": 60, "moderate": 300, "long": 900, "eternal": 3600}
_SIZE_TIMEOUT = {"small": "short", "medium": "moderate", "large": "long", "enormous": "eternal"}

# Target tags that change how the DxPyTest action may run, as for any action.
_PROPAGATED_TAG_PREFIXES = ("no-", "requires-", "block-network", "local")

# Tags that make Bazel run the test action alone. A DxPyTest action would run
# beside other actions, so such a target has none: the test action executes.
_EXCLUSIVE_TAGS = ("exclusive", "exclusive-if-local")

_WORKER_REQUIREMENTS = {
    "supports-workers": "1",
    "supports-multiplex-workers": "1",
    "requires-worker-protocol": "proto",
}

def _timeout_seconds(ctx):
    timeout = ctx.attr.timeout or _SIZE_TIMEOUT.get(ctx.attr.size or "medium", "moderate")
    if timeout not in _TIMEOUT_SECONDS:
        fail("%s: unknown timeout %r" % (ctx.label, timeout))
    return _TIMEOUT_SECONDS[timeout]

def _execution_requirements(ctx):
    requirements = dict(_WORKER_REQUIREMENTS)
    for tag in ctx.attr.tags:
        if tag.startswith(_PROPAGATED_TAG_PREFIXES):
            requirements[tag] = ""
    return requirements

def _python_runtime(ctx):
    """struct(file, path, files) of the target Python 3 interpreter."""
    runtime = ctx.toolchains[_PYTHON_TOOLCHAIN_TYPE].py3_runtime
    if runtime == None:
        fail("%s: the Python toolchain has no py3_runtime" % ctx.label)
    files = runtime.files or depset()
    if runtime.interpreter != None:
        return struct(
            file = runtime.interpreter,
            files = depset([runtime.interpreter], transitive = [files]),
        )
    return struct(file = None, path = runtime.interpreter_path, files = files)

def _common_args(ctx, imports, timeout):
    """Arguments that are the same in execroot and runfiles form."""
    lines = ["--target=%s" % ctx.label, "--main-repo=%s" % ctx.workspace_name]
    lines.extend(["--import-root=%s" % root for root in imports])
    env = _expanded_env(ctx)
    lines.extend(["--env=%s=%s" % (name, env[name]) for name in sorted(env)])
    lines.append("--timeout=%d" % timeout)
    lines.extend(["--pytest-arg=%s" % arg for arg in _expanded_args(ctx)])
    lines.extend(["--preload=%s" % module for module in ctx.attr.preload])
    return lines

def _expanded_args(ctx):
    """`args` as Bazel hands them to the executable: $(location) expanded, shell-tokenized."""
    return [
        token
        for arg in ctx.attr.args
        for token in ctx.tokenize(ctx.expand_location(arg, ctx.attr.data))
    ]

def _shell_quote(text):
    return "'" + text.replace("'", "'\\''") + "'"

def _drop_attribute_args(args):
    """Shell lines that drop the `args` attribute Bazel passes before --test_arg/run args.

    They are in the argsfile already; only what follows them is new to dx-py
    (and forces a real run).
    """
    if not args:
        return ""
    test = " && ".join(['[ "${%d}" = %s ]' % (i + 1, _shell_quote(arg)) for i, arg in enumerate(args)])
    return "if [ $# -ge %d ] && %s; then\n    shift %d\nfi\n" % (len(args), test, len(args))

def _expanded_env(ctx):
    return {
        name: ctx.expand_location(value, ctx.attr.data)
        for name, value in ctx.attr.env.items()
    }

def _instrumented_files_info(ctx):
    """InstrumentedFilesInfo of the target: its `srcs` and what its deps and data provide.

    Bazel fills it only under `bazel coverage`, with the files `--instrumentation_filter`
    (and `--instrument_test_targets` for the target's own `srcs`) selects.
    """
    return coverage_common.instrumented_files_info(
        ctx,
        source_attributes = ["srcs"],
        dependency_attributes = ["deps", "data"],
        extensions = ["py"],
    )

def _run_tests_action(ctx, binary, python, common, inputs, config, prefix, coverage_sources):
    """Registers the DxPyTest action.

    Returns its outputs [status, log, xml, undeclared], plus the LCOV report when
    `coverage_sources` is not None (`bazel coverage`).
    """
    status = ctx.actions.declare_file(prefix + "status")
    log = ctx.actions.declare_file(prefix + "test.log")
    xml = ctx.actions.declare_file(prefix + "test.xml")
    undeclared = ctx.actions.declare_directory(prefix + "undeclared_outputs")

    # The DxPyTest action: execroot paths, one argument per line in a param file.
    # `bazel-worker` stays on the command line (Bazel starts the persistent
    # worker with it plus --persistent_worker); the rest goes to the param file.
    command = ctx.actions.args()
    command.add("bazel-worker")
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add_all(common)
    if python.file:
        args.add(python.file, format = "--python=%s")
    else:
        args.add(python.path, format = "--python=%s")
    args.add_all(ctx.files.srcs, format_each = "--test=%s")
    args.add_all(inputs, format_each = "--input=%s")
    if config:
        args.add(config, format = "--config=%s")
    args.add(status, format = "--out-status=%s")
    args.add(log, format = "--out-log=%s")
    args.add(xml, format = "--out-xml=%s")
    args.add(undeclared.path, format = "--out-undeclared=%s")
    outputs = [status, log, xml, undeclared]
    if coverage_sources != None:
        # Measured here, so the coverage is cached with the test result.
        lcov = ctx.actions.declare_file(prefix + "coverage.dat")
        args.add_all(coverage_sources, format_each = "--coverage-source=%s")
        args.add(lcov, format = "--out-coverage=%s")
        outputs.append(lcov)
    ctx.actions.run(
        executable = binary,
        arguments = [command, args],
        # No worker package among the inputs: dx-py uses the copy compiled into it.
        inputs = depset(transitive = [inputs, python.files]),
        outputs = outputs,
        mnemonic = "DxPyTest",
        progress_message = "Testing %{label} with dx-py",
        execution_requirements = _execution_requirements(ctx),
        # The autodetected interpreter is a wrapper that finds python3 on PATH.
        use_default_shell_env = True,
    )
    return outputs

def _dx_py_test_impl(ctx):
    binary = dxpy_binary(ctx)
    python = _python_runtime(ctx)
    collected = collect_deps(ctx.attr.deps)
    imports = depset(import_roots(ctx), transitive = collected.imports).to_list()
    timeout = _timeout_seconds(ctx)
    config = ctx.file.config

    # Everything the tests may read: sources, data and deps' runfiles.
    test_runfiles = collect_runfiles(ctx)
    if config:
        test_runfiles = test_runfiles.merge(ctx.runfiles(files = [config]))

    prefix = ctx.label.name + ".dxpy/"
    common = _common_args(ctx, imports, timeout)
    exclusive = [tag for tag in ctx.attr.tags if tag in _EXCLUSIVE_TAGS] != []
    instrumented = _instrumented_files_info(ctx)
    coverage_sources = None
    if ctx.configuration.coverage_enabled:
        coverage_sources = instrumented.instrumented_files.to_list()
    outputs = [] if exclusive else _run_tests_action(
        ctx,
        binary,
        python,
        common,
        test_runfiles.files,
        config,
        prefix,
        coverage_sources,
    )
    results = outputs[:4]
    lcov = outputs[4] if len(outputs) > 4 else None

    # The test argsfile: the same arguments in runfiles form, plus the result.
    lines = list(common)
    lines.append("--python=%s" % (runfiles_path(ctx, python.file) if python.file else python.path))
    lines.extend(["--test=%s" % runfiles_path(ctx, f) for f in ctx.files.srcs])
    lines.extend(["--input=%s" % runfiles_path(ctx, f) for f in test_runfiles.files.to_list()])
    if config:
        lines.append("--config=%s" % runfiles_path(ctx, config))
    if exclusive:
        lines.append("--exclusive=yes")
    else:
        status, log, xml, undeclared = results
        lines.append("--result-status=%s" % runfiles_path(ctx, status))
        lines.append("--result-log=%s" % runfiles_path(ctx, log))
        lines.append("--result-xml=%s" % runfiles_path(ctx, xml))
        lines.append("--result-undeclared=%s" % runfiles_path(ctx, undeclared))
    if coverage_sources != None:
        # A real run in the test action measures the same files; a replay copies `lcov`.
        lines.extend(["--coverage-source=%s" % runfiles_path(ctx, f) for f in coverage_sources])
        if lcov:
            lines.append("--result-coverage=%s" % runfiles_path(ctx, lcov))
    if ctx.attr.nocache_test_results:
        # Only in the test argsfile: the DxPyTest action stays cached and unchanged.
        lines.append("--cache-test-results=no")
    argsfile = ctx.actions.declare_file(prefix + "test.args")
    ctx.actions.write(argsfile, "\n".join(lines) + "\n")

    launcher = ctx.actions.declare_file(ctx.label.name)
    expand_launcher(ctx, launcher, "dx_py_test", {
        "%{binary}": runfiles_path(ctx, binary),
        "%{argsfile}": runfiles_path(ctx, argsfile),
        "%{drop_attribute_args}": _drop_attribute_args(_expanded_args(ctx)),
    })

    runfiles = ctx.runfiles(
        files = [binary, argsfile] + outputs,
        transitive_files = python.files,
    ).merge(test_runfiles)

    return [
        DefaultInfo(executable = launcher, files = depset([launcher]), runfiles = runfiles),
        RunEnvironmentInfo(environment = _expanded_env(ctx)),
        OutputGroupInfo(dxpy_result = depset(outputs)),
        instrumented,
        DxPyTestInfo(
            status = results[0] if results else None,
            log = results[1] if results else None,
            xml = results[2] if results else None,
            undeclared_outputs = results[3] if results else None,
            coverage = lcov,
            argsfile = argsfile,
            exclusive = exclusive,
        ),
    ]

_TEST_ATTRS = dict(PYTHON_ATTRS)
_TEST_ATTRS.update({
    "srcs": attr.label_list(
        allow_files = [".py"],
        mandatory = True,
        doc = "The test files (test_*.py / *_test.py) whose tests this target runs.",
    ),
    "env": attr.string_dict(
        doc = "Environment of the tests ($(location) expanded over `data`); " +
              "also returned as RunEnvironmentInfo.",
    ),
    "config": attr.label(
        allow_single_file = True,
        doc = "Optional pytest config file (pytest.ini, pyproject.toml, tox.ini, setup.cfg).",
    ),
    "nocache_test_results": attr.bool(
        doc = "Set by the `dx_py_test` macro from `--nocache_test_results` " +
              "(`--cache_test_results=no`): the test action then executes the tests " +
              "instead of replaying the DxPyTest result, which Bazel keeps cached.",
    ),
    "preload": attr.string_list(
        doc = "Third-party modules the warm interpreters import before forking " +
              "(never the target's own sources, so changes cannot leak between runs).",
    ),
    "_launcher_template": launcher_template_attr("//rules/private:launchers/test_launcher.sh.tpl", "dx_py_test"),
})

# The rule class keeps the public name, so `kind(dx_py_test, ...)` queries and
# error messages say dx_py_test; test_macro.bzl wraps it under the same name.
dx_py_test = rule(
    implementation = _dx_py_test_impl,
    test = True,
    doc = """Python tests (pytest style, plain functions or unittest) run by dx-py.

Building the target runs its tests in the dx-py persistent worker as the
cacheable, remotely executable action `DxPyTest`; the test executable
replays that result, or executes the tests itself when `--test_filter`,
sharding, `--runs_per_test` > 1, a retry of a non-passing result, an extra
`--test_env`, `--nocache_test_results` or `bazel run` require a real run.
A target tagged `exclusive` (or `exclusive-if-local`) has no DxPyTest action:
tests that must run alone always execute in the test action, which Bazel
runs alone.
Under `bazel coverage`, the run also measures line and branch coverage with
coverage.py (through pytest-cov, both from the Python toolchain's interpreter)
and writes an LCOV report of the instrumented sources (`--instrumentation_filter`;
the target's own `srcs` with `--instrument_test_targets`): the DxPyTest action
records it with the result (so it is cached like the result) and the test
action copies it to `$COVERAGE_OUTPUT_FILE`, or measures its own real run.
`args` are passed to pytest. `size`/`timeout` bound the run; `--test_arg` and `bazel run -- ARGS` reach pytest
(and force a real run). Returns DefaultInfo, RunEnvironmentInfo(env),
OutputGroupInfo(dxpy_result), InstrumentedFilesInfo and DxPyTestInfo.
""",
    attrs = _TEST_ATTRS,
    toolchains = [TOOLCHAIN_TYPE, _PYTHON_TOOLCHAIN_TYPE],
)
