"""Deliberately failing (tagged manual): e2e.sh checks the traceback and JUnit."""

import greeter


def test_passes():
    assert greeter.greet("ok") == "hello, ok"


def test_fails_on_purpose():
    expected = "goodbye, bazel"
    assert greeter.greet("bazel") == expected
