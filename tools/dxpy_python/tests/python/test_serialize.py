"""The serialiser on its own: deterministic, readable, no addresses; the custom hook."""

from __future__ import annotations

import collections
import dataclasses
import enum

import dx_py_test_runner as dx


class Color(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


class Plain:
    def __init__(self) -> None:
        self.b = 2
        self.a = "one"


Pair = collections.namedtuple("Pair", ["left", "right"])


def test_text_is_stored_verbatim_and_other_values_formatted() -> None:
    assert dx.serialize("a\nb") == (True, "a\nb")
    assert dx.serialize(1) == (False, "1")
    assert dx.serialize("1") != dx.serialize(1)
    assert dx.serialize(b"\x00x") == (False, "b'\\x00x'")


def test_dicts_and_sets_are_sorted_whatever_their_order() -> None:
    one = {"b": {3, 1, 2}, "a": frozenset({"y", "x"})}
    two = {"a": frozenset({"x", "y"}), "b": {2, 3, 1}}
    assert dx.serialize(one) == dx.serialize(two)
    assert dx.serialize(one)[1] == (
        "{\n  'a': frozenset({\n    'x',\n    'y',\n  }),\n"
        "  'b': {\n    1,\n    2,\n    3,\n  },\n}"
    )
    assert dx.serialize({1: "x", "1": "y"})[1] == "{\n  '1': 'y',\n  1: 'x',\n}"
    assert dx.serialize([set(), {}, (), []])[1] == "[\n  set(),\n  {},\n  (),\n  [],\n]"


def test_objects_show_fields_never_addresses() -> None:
    assert dx.serialize(Point(1, [2]))[1] == "Point(\n  x=1,\n  y=[\n    2,\n  ],\n)"
    assert dx.serialize(Plain())[1] == "Plain(\n  a='one',\n  b=2,\n)"
    assert dx.serialize(Pair(1, Color.RED))[1] == "Pair(\n  left=1,\n  right=Color.RED,\n)"
    assert "0x" not in dx.serialize([Plain(), object.__new__(Plain)])[1]


def test_cycles_end_in_a_marker() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    assert dx.serialize(loop)[1] == "[\n  1,\n  <cycle>,\n]"


def test_custom_serializers_win_per_type_and_per_call() -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    dx.register_serializer(Money, lambda m: f"${m.cents / 100:.2f}")
    assert dx.serialize({"price": Money(250)})[1] == "{\n  'price': $2.50,\n}"
    assert dx.serialize(Money(1), serializer=lambda m: "custom") == (False, "custom")


def test_int_enums_show_their_member_not_their_value() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert dx.serialize([Level.HIGH])[1] == "[\n  Level.HIGH,\n]"
