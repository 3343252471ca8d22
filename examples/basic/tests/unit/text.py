"""Helpers the tests use; their examples run as doctests with ``--doctest-modules``."""


def slug(title: str) -> str:
    """Lower-case words joined by dashes.

    >>> slug("Hello  World")
    'hello-world'
    """
    return "-".join(title.lower().split())
