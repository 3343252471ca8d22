"""The public `dx_py_test`: the rule of test.bzl plus what only a select() can tell it.

Bazel trims its test options (`--cache_test_results`, `--test_filter`, ...) from
every target that is not a test, so a rule cannot learn them from a dependency;
a select() in the test target's own attributes can. The test action reruns under
`--nocache_test_results` while the DxPyTest result stays cached, so the rule must
know to execute there instead of replaying.
"""

load(":test.bzl", _dx_py_test_rule = "dx_py_test")

_NOCACHE_TEST_RESULTS = Label("//rules/private:nocache_test_results")

def dx_py_test(name, **kwargs):
    """Declares a dx_py_test target; see the rule's documentation (test.bzl)."""
    if "nocache_test_results" in kwargs:
        fail("%s: `nocache_test_results` follows Bazel's --cache_test_results; " % name +
             "to always run the tests in the test action use --test_env=DXPY_BAZEL_EXECUTE=1")
    _dx_py_test_rule(
        name = name,
        nocache_test_results = select({
            _NOCACHE_TEST_RESULTS: True,
            "//conditions:default": False,
        }),
        **kwargs
    )
