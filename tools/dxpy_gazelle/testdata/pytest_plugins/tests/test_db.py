pytest_plugins = ("fixtures.db",)


def test_db(db):
    assert db == {}
