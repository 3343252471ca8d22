"""Fixtures for the pytest-style tests in this package."""

import pytest

import greeter


@pytest.fixture
def name():
    return "bazel"


@pytest.fixture
def greeting(name):
    return greeter.greet(name)
