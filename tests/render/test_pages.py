"""The review pages' renderer (publisher.render.pages) at the level of its parts; whole pages
are tested where a build writes them (tests/pipeline/test_site.py)."""

from __future__ import annotations

import random

import pytest
from markupsafe import Markup

from publisher.render.pages import _utf8_join


def test_a_page_encoded_piece_by_piece_is_its_whole_text_encoded():
    # ASCII, Latin-1, two-byte and astral characters, and Markup, in every mix a page's pieces
    # may hold: one wide piece makes the joined text wide, while the others stay narrow.
    rng = random.Random(9)
    alphabet = ["a", "<", "&amp;", "é", "·", "©", "★", "“", "←", "😀", "\u2028", "\n"]
    for _ in range(3000):
        pieces = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(7)))
                  for _ in range(rng.randrange(9))]
        pieces = [Markup(p) if rng.random() < 0.3 else p for p in pieces]
        assert _utf8_join(iter(pieces)) == "".join(pieces).encode("utf-8")


def test_a_piece_utf8_cannot_carry_is_refused_as_the_whole_text_is():
    pieces = ["ok ", "\ud83d", "\ude00"]  # a surrogate pair split across pieces stays two
    with pytest.raises(UnicodeEncodeError):
        "".join(pieces).encode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        _utf8_join(pieces)
