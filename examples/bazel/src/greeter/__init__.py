"""Builds greetings from `words` (dx_py_library) and `shout` (py_library)."""

import shout
import words


def greet(name: str, loud: bool = False) -> str:
    text = f"{words.greetings()[0]}, {name}"
    if loud:
        return shout.shout(text)
    return text
