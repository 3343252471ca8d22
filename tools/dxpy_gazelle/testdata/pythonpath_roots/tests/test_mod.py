import mod


def test_value():
    assert mod.value == 1
