LIMITS = {"a": 1}


def test_c():
    assert LIMITS
