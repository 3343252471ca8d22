"""Deliberately failing (tagged manual): e2e.sh checks the traceback and JUnit, and that
--test_runner_fail_fast stops before the test after the failure."""

import greeter


def test_passes():
    assert greeter.greet("ok") == "hello, ok"


def test_fails_on_purpose():
    expected = "goodbye, bazel"
    assert greeter.greet("bazel") == expected


def test_after_the_failure():
    assert greeter.greet("later") == "hello, later"
