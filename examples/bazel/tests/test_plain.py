"""Plain assert functions: nothing from pytest."""

import greeter


def test_quiet():
    assert greeter.greet("x") == "hello, x"


def test_loud():
    assert greeter.greet("x", loud=True) == "HELLO, X!"
