"""Greeting words, read from a data file shipped in the runfiles."""

from pathlib import Path

_DATA = Path(__file__).with_name("greetings.txt")


def greetings() -> list[str]:
    return [line.strip() for line in _DATA.read_text().splitlines() if line.strip()]
