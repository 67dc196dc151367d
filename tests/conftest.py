"""pytest finds the shared fixtures here; they live in tests/fixtures.py."""

pytest_plugins = ["tests.fixtures"]
