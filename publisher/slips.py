"""Which of many names a mistyped one meant: a poster's file, a link's address.

As SymSpell finds them: two names are a slip apart when deleting at most one character from
each makes them the same (a character left out, added or changed, two swapped, "png" for
"jpg"), letters' case aside; difflib's ratio then judges among those, and a name that differs
only by a digit for a digit is another number, never a slip ("issues/7/", "heat-1996.jpg").
Names are indexed by length, and only for the lengths a slip of the name asked about can reach:
difflib alone, against each of 10,000 review pages, took 0.4 s a name.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable

#: Below this ratio a short name one character from another is another name ("ab/", "cb/").
LEAST_RATIO = 0.8


#: Said of a file whose name is a typed name with its accents written as separate marks (NFD,
#: as macOS may save names) where typing joins them (NFC): a static host, comparing bytes,
#: never serves it at the address a browser asks for.
WRITTEN_APART = ("a file of that name is there with its accents written apart (decomposed, as "
                 "a Mac may save a name), which no typed address matches: rename it, typing "
                 "its name")


def written_apart(names: Iterable[str], name: str) -> str | None:
    """The one of ``names`` that is ``name`` with its accents written apart, or None."""
    if name.isascii():
        return None
    joined = unicodedata.normalize("NFC", name)
    return next((other for other in names if other != name and not other.isascii()
                 and unicodedata.normalize("NFC", other) == joined), None)


class Slips:
    """Names to find a mistyped one among; the index is made as names are asked about."""

    def __init__(self, names: Iterable[str]):
        self._by_length: dict[int, list[str]] = {}
        for name in sorted(set(names)):
            self._by_length.setdefault(len(name), []).append(name)
        self._variants: dict[int, dict[str, list[str]]] = {}

    def near(self, name: str) -> str | None:
        """The name that ``name`` most likely mistypes (the same name in another case first),
        or None when none is a slip away."""
        wanted = _one_deleted(name.lower())
        found: set[str] = set()
        for length in (len(name) - 1, len(name), len(name) + 1):
            variants = self._variants.get(length)
            if variants is None:
                variants = self._variants[length] = {}
                for other in self._by_length.get(length, ()):
                    for variant in _one_deleted(other.lower()):
                        variants.setdefault(variant, []).append(other)
            found.update(other for variant in wanted for other in variants.get(variant, ()))
        found.discard(name)
        # The same name in another case first, then the closest letters' case aside, then
        # the closest as written; the first in sorted order of equals.
        scored = [(other.lower() == name.lower(),
                   difflib.SequenceMatcher(None, name.lower(), other.lower()).ratio(),
                   difflib.SequenceMatcher(None, name, other).ratio(), other)
                  for other in sorted(found) if not _other_number(name, other)]
        best = max(scored, key=lambda score: score[:3], default=None)
        if best is None or best[1] < LEAST_RATIO:
            return None
        return best[3]


def _other_number(name: str, other: str) -> bool:
    """Whether ``other`` differs from ``name`` only by a digit in place of a digit."""
    return len(name) == len(other) and all(
        a.isdigit() and b.isdigit() for a, b in zip(name, other, strict=True) if a != b)


def _one_deleted(name: str) -> set[str]:
    """``name`` and each text it gives with one character deleted."""
    return {name, *(name[:i] + name[i + 1:] for i in range(len(name)))}
