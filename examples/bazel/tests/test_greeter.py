"""pytest style, run by dx_py_test: conftest fixtures, parametrize, raises."""

import pytest

import greeter


def test_greeting_from_conftest_fixture(greeting):
    assert greeting == "hello, bazel"


def test_greet_loud(name):
    assert greeter.greet(name, loud=True) == "HELLO, BAZEL!"


@pytest.mark.parametrize("who", ["ada", "grace"])
def test_parametrized(who):
    assert greeter.greet(who).endswith(who)


def test_raises():
    with pytest.raises(TypeError):
        greeter.greet()
