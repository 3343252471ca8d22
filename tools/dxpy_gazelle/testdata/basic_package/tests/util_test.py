import app.util


def test_helper():
    assert app.util.helper() == 1
