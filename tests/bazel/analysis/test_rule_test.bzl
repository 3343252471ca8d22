"""Analysis tests for dx_py_test: the DxPyTest action, the test argsfile,
the launcher, runfiles and the returned providers."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//rules:defs.bzl", "DxPyTestInfo")

_PKG = "tests/bazel/analysis"

def _find_action(env, mnemonic):
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == mnemonic]
    asserts.equals(env, 1, len(actions), "expected one %s action" % mnemonic)
    return actions[0] if actions else None

def _content_of(env, output):
    for action in analysistest.target_actions(env):
        if output in action.outputs.to_list():
            return action.content
    asserts.true(env, False, "no action writes %s" % output.short_path)
    return ""

def _sample_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[DxPyTestInfo]
    action = _find_action(env, "DxPyTest")
    if not action:
        return analysistest.end(env)

    # Execution requirements are not visible to Starlark; e2e.sh checks them via aquery.
    outputs = sorted([f.basename for f in action.outputs.to_list()])
    asserts.equals(env, ["status", "test.log", "test.xml", "undeclared_outputs"], outputs)

    # `dx-py bazel-worker ARGS` (Starlark shows the param file's lines expanded).
    argv = action.argv
    asserts.equals(env, "bazel-worker", argv[1])
    for expected in [
        "--test=%s/fixture/tests/test_sample.py" % _PKG,
        "--input=%s/fixture/pkg/leaf.txt" % _PKG,
        "--config=%s/fixture/tests/pytest.ini" % _PKG,
        "--import-root=_main/%s/fixture" % _PKG,
        "--timeout=60",
        "--out-status=%s" % info.status.path,
        "--out-log=%s" % info.log.path,
        "--out-xml=%s" % info.xml.path,
        "--out-undeclared=%s" % info.undeclared_outputs.path,
    ]:
        asserts.true(env, expected in argv, "%r missing from the DxPyTest arguments %s" % (expected, argv))
    asserts.equals(env, 1, len([a for a in argv if a.startswith("--python=")]), "one --python=")

    inputs = [f.short_path for f in action.inputs.to_list()]
    for expected in [
        _PKG + "/fixture/tests/test_sample.py",
        _PKG + "/fixture/tests/pytest.ini",
        _PKG + "/fixture/pkg/top.py",
        _PKG + "/fixture/pkg/leaf.py",
        _PKG + "/fixture/pkg/leaf.txt",
        _PKG + "/fixture/plain.py",
    ]:
        asserts.true(env, expected in inputs, "%s missing from DxPyTest inputs %s" % (expected, inputs))

    # The worker package is compiled into dx-py: neither an input nor an argument.
    asserts.false(env, [p for p in inputs if "dxpy_worker" in p], "worker package among the inputs %s" % inputs)
    asserts.false(env, [a for a in argv if a.startswith("--worker-package")], "--worker-package in %s" % argv)

    # The test argsfile: runfiles paths, result files, args/env/timeout/preload.
    lines = _content_of(env, info.argsfile).splitlines()
    for expected in [
        "--target=@@//%s:sample_test" % _PKG,
        "--main-repo=_main",
        "--test=_main/%s/fixture/tests/test_sample.py" % _PKG,
        "--input=_main/%s/fixture/pkg/leaf.txt" % _PKG,
        "--input=_main/%s/fixture/pkg/top.py" % _PKG,
        "--config=_main/%s/fixture/tests/pytest.ini" % _PKG,
        "--import-root=_main/%s" % _PKG,
        "--import-root=_main/%s/fixture" % _PKG,
        "--env=GREETING=hi",
        "--env=LEAF=%s/fixture/pkg/leaf.txt" % _PKG,
        "--timeout=60",
        "--pytest-arg=-p",
        "--pytest-arg=no:cacheprovider",
        "--preload=json",
        "--result-status=_main/%s/sample_test.dxpy/status" % _PKG,
        "--result-log=_main/%s/sample_test.dxpy/test.log" % _PKG,
        "--result-xml=_main/%s/sample_test.dxpy/test.xml" % _PKG,
        "--result-undeclared=_main/%s/sample_test.dxpy/undeclared_outputs" % _PKG,
    ]:
        asserts.true(env, expected in lines, "%r missing from the test argsfile:\n%s" % (expected, "\n".join(lines)))
    asserts.false(env, [line for line in lines if line.startswith("--out-")], "runfiles argsfile must not name action outputs")
    asserts.false(env, [line for line in lines if line.startswith("--worker-package")], "--worker-package in the test argsfile")
    asserts.false(env, "--cache-test-results=no" in lines, "--cache-test-results=no without --nocache_test_results")
    python = [line for line in lines if line.startswith("--python=")]
    asserts.equals(env, 1, len(python), "one --python= line")

    # The launcher runs `<dx-py> bazel-test @<argsfile>` from the runfiles root.
    script = _content_of(env, target[DefaultInfo].files_to_run.executable)
    asserts.true(env, "bazel-test \"@$runfiles/_main/%s/sample_test.dxpy/test.args\"" % _PKG in script, script)

    # Bazel passes the `args` attribute first: dropped, the rest forwarded.
    drop = "if [ $# -ge 2 ] && [ \"${1}\" = '-p' ] && [ \"${2}\" = 'no:cacheprovider' ]; then\n    shift 2\nfi\n"
    asserts.true(env, drop in script, "launcher does not drop the args attribute:\n" + script)
    asserts.true(env, script.rstrip().endswith('test.args" "$@"'), "launcher does not forward $@:\n" + script)
    for name in ["RUNFILES_DIR", "TEST_SRCDIR", "$0.runfiles"]:
        asserts.true(env, name in script, "launcher does not consult %s" % name)
    asserts.false(env, "%{" in script, "launcher keeps a template placeholder:\n" + script)

    # Runfiles carry the result, the argsfile and the test's inputs.
    runfiles = [f.short_path for f in target[DefaultInfo].default_runfiles.files.to_list()]
    for f in [info.status, info.log, info.xml, info.undeclared_outputs, info.argsfile]:
        asserts.true(env, f.short_path in runfiles, "%s missing from runfiles" % f.short_path)
    asserts.true(env, _PKG + "/fixture/pkg/leaf.txt" in runfiles, "data missing from runfiles")
    asserts.false(env, [p for p in runfiles if "dxpy_worker" in p], "worker package in the runfiles")

    asserts.equals(
        env,
        {"GREETING": "hi", "LEAF": _PKG + "/fixture/pkg/leaf.txt"},
        target[RunEnvironmentInfo].environment,
    )
    group = sorted([f.basename for f in target[OutputGroupInfo].dxpy_result.to_list()])
    asserts.equals(env, ["status", "test.log", "test.xml", "undeclared_outputs"], group)
    asserts.false(env, info.exclusive, "sample_test is not tagged exclusive")
    asserts.false(env, "--exclusive=yes" in lines, "--exclusive=yes without the tag")
    return analysistest.end(env)

sample_test_test = analysistest.make(_sample_test_impl)

def _eternal_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[DxPyTestInfo]
    lines = _content_of(env, info.argsfile).splitlines()
    asserts.true(env, "--timeout=3600" in lines, "timeout = eternal must give 3600 s")
    return analysistest.end(env)

eternal_test_test = analysistest.make(_eternal_test_impl)

def _nocache_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[DxPyTestInfo]
    lines = _content_of(env, info.argsfile).splitlines()
    asserts.true(env, "--cache-test-results=no" in lines, "--nocache_test_results must reach the test argsfile")
    action = _find_action(env, "DxPyTest")
    if action:
        # The cached DxPyTest action must not change with the flag.
        asserts.false(env, [a for a in action.argv if a.startswith("--cache-test-results")], action.argv)
    return analysistest.end(env)

nocache_test_test = analysistest.make(
    _nocache_test_impl,
    config_settings = {"//command_line_option:cache_test_results": "no"},
)

def _exclusive_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[DxPyTestInfo]

    # Tests that must run alone never run in a build action beside others.
    mnemonics = [a.mnemonic for a in analysistest.target_actions(env)]
    asserts.false(env, "DxPyTest" in mnemonics, "an exclusive target has a DxPyTest action: %s" % mnemonics)
    asserts.true(env, info.exclusive, "DxPyTestInfo.exclusive")
    for result in [info.status, info.log, info.xml, info.undeclared_outputs]:
        asserts.equals(env, None, result)
    asserts.equals(env, [], target[OutputGroupInfo].dxpy_result.to_list())

    # The argsfile tells `dx-py bazel-test` to execute and names no recorded result.
    lines = _content_of(env, info.argsfile).splitlines()
    asserts.true(env, "--exclusive=yes" in lines, "--exclusive=yes missing:\n" + "\n".join(lines))
    asserts.false(env, [line for line in lines if line.startswith("--result-")], "an exclusive target names results")
    asserts.true(env, "--test=_main/%s/fixture/tests/test_sample.py" % _PKG in lines, "\n".join(lines))

    # What a real run needs is in the runfiles: the test, its deps, dx-py.
    runfiles = [f.short_path for f in target[DefaultInfo].default_runfiles.files.to_list()]
    for expected in [_PKG + "/fixture/tests/test_sample.py", _PKG + "/fixture/pkg/leaf.py", info.argsfile.short_path]:
        asserts.true(env, expected in runfiles, "%s missing from runfiles" % expected)
    asserts.true(env, [p for p in runfiles if p.endswith("/dx-py")] != [], "dx-py missing from runfiles")
    return analysistest.end(env)

exclusive_test_test = analysistest.make(_exclusive_test_impl)

def _gazelle_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    executable = target[DefaultInfo].files_to_run.executable
    script = _content_of(env, executable)
    asserts.true(env, 'cd "$BUILD_WORKSPACE_DIRECTORY"' in script, script)
    asserts.true(env, 'dx-py" gazelle "$@"' in script, script)
    for name in ["RUNFILES_DIR", "$0.runfiles"]:
        asserts.true(env, name in script, "launcher does not consult %s" % name)
    asserts.false(env, "%{" in script, "launcher keeps a template placeholder:\n" + script)
    runfiles = target[DefaultInfo].default_runfiles.files.to_list()
    asserts.true(env, [f for f in runfiles if f.basename == "dx-py"] != [], "dx-py missing from runfiles")
    return analysistest.end(env)

gazelle_test = analysistest.make(_gazelle_test_impl)

# `bazel coverage` with the fixture package instrumented (not the test's own
# srcs: no --instrument_test_targets). Test rules then depend on the coverage
# report generator, whose default Bazel downloads: the offline stand-in.
_COVERAGE_SETTINGS = {
    "//command_line_option:collect_code_coverage": True,
    "//command_line_option:instrumentation_filter": "^//tests/bazel/analysis[:/]",
    "//command_line_option:coverage_report_generator": str(Label("//tests/bazel/coverage:lcov_tool")),
}

_INSTRUMENTED = ["fixture/pkg/top.py", "fixture/pkg/leaf.py", "fixture/plain.py"]

def _assert_coverage_sources(env, lines, prefix):
    for path in _INSTRUMENTED:
        expected = "--coverage-source=%s%s/%s" % (prefix, _PKG, path)
        asserts.true(env, expected in lines, "%r missing from %s" % (expected, lines))
    test_file = "--coverage-source=%s%s/fixture/tests/test_sample.py" % (prefix, _PKG)
    asserts.false(env, test_file in lines, "the test's own srcs are instrumented without --instrument_test_targets")

def _coverage_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[DxPyTestInfo]
    asserts.true(env, info.coverage != None, "no LCOV output under coverage")
    instrumented = [f.short_path for f in target[InstrumentedFilesInfo].instrumented_files.to_list()]
    asserts.equals(env, sorted(["%s/%s" % (_PKG, p) for p in _INSTRUMENTED]), sorted(instrumented))
    action = _find_action(env, "DxPyTest")
    if not action or not info.coverage:
        return analysistest.end(env)

    # Measured in the DxPyTest action: the report is one of its (cached) outputs.
    asserts.true(env, info.coverage in action.outputs.to_list(), "the DxPyTest action does not write the report")
    asserts.true(env, "--out-coverage=%s" % info.coverage.path in action.argv, action.argv)
    _assert_coverage_sources(env, action.argv, "")

    # The test argsfile: the same sources in runfiles form, and the report to replay.
    lines = _content_of(env, info.argsfile).splitlines()
    _assert_coverage_sources(env, lines, "_main/")
    asserts.true(env, "--result-coverage=_main/%s" % info.coverage.short_path in lines, lines)
    runfiles = target[DefaultInfo].default_runfiles.files.to_list()
    asserts.true(env, info.coverage in runfiles, "the report is not in the runfiles")
    return analysistest.end(env)

coverage_test_test = analysistest.make(_coverage_test_impl, config_settings = _COVERAGE_SETTINGS)

def _exclusive_coverage_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[DxPyTestInfo]

    # No DxPyTest action, so nothing to replay: the real run measures.
    lines = _content_of(env, info.argsfile).splitlines()
    _assert_coverage_sources(env, lines, "_main/")
    asserts.false(env, [line for line in lines if line.startswith("--result-coverage")], lines)
    return analysistest.end(env)

exclusive_coverage_test_test = analysistest.make(_exclusive_coverage_test_impl, config_settings = _COVERAGE_SETTINGS)

def _no_coverage_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[DxPyTestInfo]
    asserts.equals(env, None, info.coverage)
    lines = _content_of(env, info.argsfile).splitlines()
    action = _find_action(env, "DxPyTest")
    argv = action.argv if action else []
    coverage_flags = [a for a in lines + argv if a.startswith(("--coverage-source", "--out-coverage", "--result-coverage"))]
    asserts.equals(env, [], coverage_flags, "coverage arguments without bazel coverage")
    return analysistest.end(env)

no_coverage_test_test = analysistest.make(_no_coverage_test_impl)

def test_rule_test_suite(name):
    """Declares the dx_py_test analysis tests plus a test_suite `name`.

    Args:
      name: name of the test_suite.
    """
    sample_test_test(name = "sample_test_test", target_under_test = ":sample_test")
    eternal_test_test(name = "eternal_test_test", target_under_test = ":eternal_test")
    nocache_test_test(name = "nocache_test_test", target_under_test = ":eternal_test")
    exclusive_test_test(name = "exclusive_test_test", target_under_test = ":exclusive_test")
    gazelle_test(name = "gazelle_dxpy_test", target_under_test = "//:gazelle_dxpy")
    coverage_test_test(name = "coverage_test_test", target_under_test = ":sample_test")
    exclusive_coverage_test_test(name = "exclusive_coverage_test_test", target_under_test = ":exclusive_test")
    no_coverage_test_test(name = "no_coverage_test_test", target_under_test = ":sample_test")
    native.test_suite(
        name = name,
        tests = [
            ":sample_test_test",
            ":eternal_test_test",
            ":nocache_test_test",
            ":exclusive_test_test",
            ":gazelle_dxpy_test",
            ":coverage_test_test",
            ":exclusive_coverage_test_test",
            ":no_coverage_test_test",
        ],
    )
