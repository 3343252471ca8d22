from foo.bar import f


def test_f():
    assert f() == 2
