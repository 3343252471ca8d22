import unittest

import pytest


def test_sorted(numbers):
    assert sorted(numbers) == [1, 2, 3]


@pytest.mark.parametrize("a, b, total", [(1, 2, 3), (2, 2, 4), pytest.param(0.5, 0.25, 0.75, id="halves")])
def test_add(a, b, total):
    assert a + b == total


@pytest.mark.parametrize("word", ["café", "tab\there", b"raw"])
def test_words(word):
    assert len(word) > 0


class TestStack:
    def test_push(self):
        stack = []
        stack.append(1)
        assert stack == [1]

    @pytest.mark.slow
    def test_many(self):
        assert len(list(range(1000))) == 1000

    @pytest.mark.skip(reason="shows a skip")
    def test_skipped(self):
        raise AssertionError("not run")


class TestAsDict(unittest.TestCase):
    def test_keys(self):
        self.assertEqual(sorted({"b": 1, "a": 2}), ["a", "b"])


@pytest.mark.xfail(reason="known rounding issue", strict=True)
def test_float_rounding():
    assert 0.1 + 0.2 == 0.3
