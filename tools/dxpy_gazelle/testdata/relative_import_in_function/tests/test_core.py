def test_compute():
    from app.core import compute

    assert compute() == 6
