def test_windowed():
    from more_itertools import windowed

    assert list(windowed([1, 2, 3], 2)) == [(1, 2), (2, 3)]
