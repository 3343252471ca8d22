def test_root():
    pass
