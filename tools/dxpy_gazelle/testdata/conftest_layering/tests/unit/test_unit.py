from .shared import VALUE


def test_unit():
    assert VALUE
