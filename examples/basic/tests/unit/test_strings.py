import pytest


def test_upper():
    assert "dx".upper() == "DX"


@pytest.fixture(params=["a", "bb"])
def word(request):
    return request.param


def test_lengths(word, numbers):
    assert len(word) <= len(numbers)


def test_slug():
    from text import slug

    assert slug("A B") == "a-b"
