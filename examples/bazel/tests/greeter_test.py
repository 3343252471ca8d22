"""pytest-style tests run through a rules_python py_test."""

import sys
from pathlib import Path

import pytest

import greeter
import words


def test_greet_uses_data_file_from_dx_py_library():
    assert greeter.greet("bazel") == "hello, bazel"


def test_greet_uses_plain_py_library_dep():
    assert greeter.greet("bazel", loud=True) == "HELLO, BAZEL!"


def test_all_greetings_read_from_runfiles():
    assert words.greetings() == ["hello", "howdy"]


def test_import_roots_come_from_dx_py_library():
    # `imports = ["."]` on //src targets must put <runfiles>/_main/src on sys.path.
    roots = [Path(entry) for entry in sys.path]
    assert any(root.parts[-2:] == ("_main", "src") for root in roots), sys.path
    assert any(root.parts[-2:] == ("_main", "vendor") for root in roots), sys.path


@pytest.mark.parametrize("name", ["a", "b"])
def test_parametrized(name):
    assert greeter.greet(name).endswith(name)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-p", "no:cacheprovider"]))
