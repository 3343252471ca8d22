"""Analysis tests for dx_py_library (DxPyInfo, PyInfo, runfiles, imports)."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("@rules_python//python:py_info.bzl", "PyInfo")
load("//rules:defs.bzl", "DxPyInfo")

_PKG = "tests/bazel/analysis"

def _short_paths(files):
    return sorted([f.short_path for f in files])

def _top_providers_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[DxPyInfo]
    own = [_PKG + "/fixture/pkg/top.py"]
    everything = sorted(own + [
        _PKG + "/fixture/pkg/leaf.py",
        _PKG + "/fixture/plain.py",
    ])
    asserts.equals(env, own, _short_paths(info.srcs.to_list()))
    asserts.equals(env, everything, _short_paths(info.transitive_sources.to_list()))

    # `.` on top, `fixture` on the dx and the plain py_library deps (deduplicated).
    roots = sorted(["_main/" + _PKG, "_main/" + _PKG + "/fixture"])
    asserts.equals(env, roots, sorted(info.imports.to_list()))

    py = target[PyInfo]
    asserts.equals(env, everything, _short_paths(py.transitive_sources.to_list()))
    asserts.equals(env, roots, sorted(py.imports.to_list()))

    runfiles = _short_paths(target[DefaultInfo].default_runfiles.files.to_list())
    for expected in everything + [_PKG + "/fixture/pkg/leaf.txt"]:
        asserts.true(env, expected in runfiles, "%s missing from runfiles %s" % (expected, runfiles))
    return analysistest.end(env)

top_providers_test = analysistest.make(_top_providers_test_impl)

def _leaf_providers_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[DxPyInfo]
    asserts.equals(env, [_PKG + "/fixture/pkg/leaf.py"], _short_paths(info.transitive_sources.to_list()))
    asserts.equals(env, ["_main/" + _PKG + "/fixture"], info.imports.to_list())
    return analysistest.end(env)

leaf_providers_test = analysistest.make(_leaf_providers_test_impl)

def _rejects_import_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.expected_message)
    return analysistest.end(env)

rejects_import_test = analysistest.make(
    _rejects_import_test_impl,
    expect_failure = True,
    attrs = {"expected_message": attr.string()},
)

def library_test_suite(name):
    """Declares every dx_py_library analysis test plus a test_suite `name`.

    Args:
      name: name of the test_suite.
    """
    top_providers_test(name = "top_providers_test", target_under_test = ":top")
    leaf_providers_test(name = "leaf_providers_test", target_under_test = ":leaf")
    rejects_import_test(
        name = "rejects_escaping_import_test",
        target_under_test = ":escapes_repo",
        expected_message = "points outside its repository",
    )
    rejects_import_test(
        name = "rejects_absolute_import_test",
        target_under_test = ":absolute_import",
        expected_message = "must be relative to the package",
    )
    native.test_suite(
        name = name,
        tests = [
            ":top_providers_test",
            ":leaf_providers_test",
            ":rejects_escaping_import_test",
            ":rejects_absolute_import_test",
        ],
    )
