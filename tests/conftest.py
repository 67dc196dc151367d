"""pytest finds the shared fixtures here; they live in tests/fixtures.py."""

from hypothesis import settings

pytest_plugins = ["tests.fixtures"]

# Property tests pin behaviour, not speed (timings live in bench/). Hypothesis's default
# deadline of 200 ms an example is the one check in them that a busy machine can fail: a
# property test of quick_init failed once at a load of 9 and passed in every run since.
# Every other setting stays hypothesis's own.
settings.register_profile("publisher", deadline=None)
settings.load_profile("publisher")
