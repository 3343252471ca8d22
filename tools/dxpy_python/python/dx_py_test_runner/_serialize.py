"""Deterministic, readable text for Python values: what a snapshot stores.

Top-level ``str`` is stored verbatim (kind "text"); every other value is formatted
(kind "value"): dict and set entries sorted by their formatted key, containers one item per
line, dataclasses, named tuples, enums and plain objects by their fields, never a memory
address. ``register_serializer`` adds a formatter for a type of one's own.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable

Serializer = Callable[[Any], str]

_INDENT = "  "
_custom: dict[type, Serializer] = {}


def register_serializer(cls: type, serializer: Serializer) -> None:
    """Format instances of ``cls`` (and its subclasses) with ``serializer`` from now on."""
    _custom[cls] = serializer


def serialize(value: object, serializer: Serializer | None = None) -> tuple[bool, str]:
    """``(is_text, body)``: the stored form of ``value``."""
    if serializer is not None:
        return False, serializer(value)
    if type(value) is str:
        return True, value
    return False, _format(value, 0, set())


# Exact types whose repr is already deterministic: the common case, decided by one lookup.
_REPR_TYPES = frozenset({type(None), bool, int, float, complex, bytes, str})


def _format(value: object, depth: int, active: set[int]) -> str:
    cls = type(value)
    if cls in _REPR_TYPES and cls not in _custom:
        return repr(value)
    if _custom:
        for base in cls.__mro__:
            custom = _custom.get(base)
            if custom is not None:
                return custom(value)
    # Before the scalars: an IntEnum is an int too.
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, (bool, int, float, complex, bytes, str)):
        return repr(value)
    if id(value) in active:
        return "<cycle>"
    active.add(id(value))
    try:
        return _format_container(value, depth, active)
    finally:
        active.discard(id(value))


def _format_container(value: object, depth: int, active: set[int]) -> str:
    name = type(value).__name__
    if isinstance(value, dict):
        items = sorted(((_format(k, depth + 1, active), v) for k, v in value.items()),
                       key=lambda kv: kv[0])
        body = [f"{k}: {_format(v, depth + 1, active)}" for k, v in items]
        return _block(body, "{", "}", depth, "" if type(value) is dict else name)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        fields = [(f, getattr(value, f)) for f in value._fields]
        return _fields(name, fields, depth, active)
    if isinstance(value, (list, tuple)):
        body = [_format(v, depth + 1, active) for v in value]
        opened, closed = ("[", "]") if isinstance(value, list) else ("(", ")")
        prefix = "" if type(value) in (list, tuple) else name
        return _block(body, opened, closed, depth, prefix)
    if isinstance(value, (set, frozenset)):
        body = sorted(_format(v, depth + 1, active) for v in value)
        prefix = "" if type(value) is set and body else name
        return _block(body, "{", "}", depth, prefix, set_like=True)
    if isinstance(value, bytearray):
        return f"bytearray({bytes(value)!r})"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
        return _fields(name, fields, depth, active)
    if type(value).__repr__ is object.__repr__ and hasattr(value, "__dict__"):
        # The default repr holds an address; the fields are what the value is.
        return _fields(name, sorted(vars(value).items()), depth, active)
    return repr(value)


def _fields(name: str, fields: list[tuple[str, Any]], depth: int, active: set[int]) -> str:
    body = [f"{k}={_format(v, depth + 1, active)}" for k, v in fields]
    return _block(body, "(", ")", depth, name)


def _block(body: list[str], opened: str, closed: str, depth: int, prefix: str,
           set_like: bool = False) -> str:
    if not body:
        if set_like:
            return f"{prefix}()"
        return f"{prefix}{opened}{closed}"
    if set_like and prefix:
        opened, closed = "({", "})"
    inner = _INDENT * (depth + 1)
    lines = "".join(f"{inner}{line},\n" for line in body)
    return f"{prefix}{opened}\n{lines}{_INDENT * depth}{closed}"
