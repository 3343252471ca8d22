import json

VALUE = 1


def test_b():
    assert json.loads("1") == VALUE
