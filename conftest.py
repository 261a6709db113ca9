pytest_plugins = ["yici.testing.fixtures"]
