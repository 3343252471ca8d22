"""Imports `words` although the target does not depend on //src:words."""

import words


def test_words():
    assert words.greetings()
