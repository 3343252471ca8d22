import attr
import pytest
from jaraco.functools import compose

from lib.shapes import Point


def test_point():
    assert attr.asdict(Point(1, 2)) == {"x": 1, "y": 2}


def test_compose():
    assert compose(abs, int)("-3") == 3
