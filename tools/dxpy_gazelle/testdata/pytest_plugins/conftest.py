pytest_plugins = ["fixtures.db", "pytester"]
