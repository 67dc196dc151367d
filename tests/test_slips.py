"""Which of many names a mistyped one meant (publisher/slips.py)."""

from __future__ import annotations

import pytest

from publisher.slips import Slips

NAMES = ["salt-harbour/", "the-long-goodbye/", "heat-1995.jpg", "film-12/", "ab/", "Alien.png",
         "alien.png"]


@pytest.mark.parametrize(("typed", "meant"), [
    ("salt-harbor/", "salt-harbour/"),          # a character left out
    ("salt-harbourr/", "salt-harbour/"),        # one added
    ("salt-harbpur/", "salt-harbour/"),         # one changed
    ("slat-harbour/", "salt-harbour/"),         # two swapped
    ("The-Long-Goodbye/", "the-long-goodbye/"),  # case
    ("heat-1995.png", "heat-1995.jpg"),         # a suffix
    ("ALIEN.PNG", "Alien.png"),                 # the same name in another case comes first
    ("alien.pn", "alien.png"),
])
def test_a_slip_of_the_keys_finds_the_name_meant(typed, meant):
    assert Slips(NAMES).near(typed) == meant


@pytest.mark.parametrize("typed", [
    "heat-1996.jpg",   # another year: a number, not a slip
    "film-13/",        # another review in a series
    "cb/",             # a short name one character from another is another name
    "salt-marsh/",     # more than a slip away
    "salt-harbour/",   # the name itself is there: nothing to suggest
    "",
])
def test_another_name_is_not_taken_for_a_slip(typed):
    assert Slips(NAMES).near(typed) is None
