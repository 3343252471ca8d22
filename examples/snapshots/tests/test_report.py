from __future__ import annotations

import dataclasses

import dx_py_test_runner as dx
import pytest


@dataclasses.dataclass
class Line:
    item: str
    quantity: int
    cents: int


def render(lines: list[Line]) -> str:
    total = sum(line.quantity * line.cents for line in lines)
    rows = [f"{line.item:<10}{line.quantity:>3} x {line.cents / 100:>6.2f}" for line in lines]
    return "\n".join([*rows, f"{'total':<10}{total / 100:>13.2f}"])


LINES = [Line("apple", 3, 45), Line("pear", 1, 120)]


def test_invoice_text(snapshot):
    assert snapshot == render(LINES)


def test_invoice_data(snapshot):
    assert snapshot == {"lines": LINES, "tags": {"fruit", "fresh"}}
    assert snapshot(name="first") == LINES[0]


@pytest.mark.parametrize("quantity", [0, 1, 12])
def test_one_line(quantity):
    dx.snapshot(render([Line("kiwi", quantity, 30)]))


class TestEdgeCases:
    def test_empty(self, snapshot):
        assert snapshot == render([])
