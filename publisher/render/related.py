"""Related reviews: what a review's page suggests reading next, and why.

Film sites link a review to the others of the same film, of the director's other films and of
the cast's; Hugo's related content matches on tags and keywords. Tags are left out here: on a
review site they are broad ("drama"), and the tag pages list them already. Ranked: another
review of the same film (title and year), then the director's films, then shared cast (more
shared names first), the newest first within each.

Each review is compared with at most a few of the newest reviews under each of its names, not
with every review that shares one: a prolific actor's hundreds of reviews would otherwise make
10,000 pages cost seconds, and the newest are what a reader is sent to anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

from ..models import Review
from ..text import slugify
from .words import ENGLISH, Words


class Related(NamedTuple):  # a tuple: 40,000 of them at 10,000 reviews, made in a blink
    """A review suggested on another's page, and why (“Also directed by Justin Lin”)."""

    review: Review
    reason: str


def find_related(reviews: Sequence[Review], limit: int,
                 words: Words = ENGLISH) -> list[tuple[Related, ...]]:
    """For each of ``reviews`` (oldest first, as a build orders them), up to ``limit``
    related ones, each with its reason in ``words``' language."""
    suggestions = Suggestions(reviews, limit, words)
    return [suggestions[i] for i in range(len(reviews))]


class Suggestions:
    """What each of ``reviews`` (oldest first) suggests: ``suggestions[i]`` for the review at
    ``i``, found when first asked for. The names are indexed once, here; each review's picks
    wait until its page is made, so that a build shared among processes makes them where the
    page is rendered, not all of them before it forks."""

    def __init__(self, reviews: Sequence[Review], limit: int, words: Words = ENGLISH) -> None:
        self.reviews = reviews
        self.limit = limit
        self.words = words
        self._found: dict[int, tuple[Related, ...]] = {}
        key = self._key = functools.cache(slugify)  # once per distinct name, not per review

        # Each review's names as keys, once: the comparisons below are then set operations.
        films: list[tuple[str, int] | None] = []
        directors: list[str] = []
        casts: list[tuple[str, ...]] = []
        for review in reviews if limit > 0 else ():
            film = review.film
            # A film without a year could be any of the films of that name (Halloween, 1978
            # or 2018): it is nobody's "same film".
            # Titles told apart as a reader would, case and spacing aside (slugifying 10,000
            # distinct titles would cost more than all the rest).
            films.append((" ".join(review.title.casefold().split()), film.year)
                         if film.year is not None else None)
            directors.append(key(film.director) if film.director else "")
            casts.append(tuple(dict.fromkeys(map(key, film.starring))))
        self._films, self._directors, self._casts = films, directors, casts
        by_film: dict[tuple[str, int], list[int]] = {}
        by_director: dict[str, list[int]] = {}
        by_actor: dict[str, list[int]] = {}
        for i in range(len(films) - 1, -1, -1):  # newest first, so that each list is too
            film_key = films[i]
            if film_key is not None:
                by_film.setdefault(film_key, []).append(i)
            if directors[i]:
                by_director.setdefault(directors[i], []).append(i)
            for actor in casts[i]:
                by_actor.setdefault(actor, []).append(i)
        self._by_film, self._by_director, self._by_actor = by_film, by_director, by_actor
        self._same_film_reason = words("same_film")  # the same words for every review
        # Once per director, not once per suggestion: formatting the reason was half of the
        # time at 10,000 reviews (and one string for each director's reviews makes the
        # build's digests of the suggestions cheaper to look up).
        self._same_director = functools.cache(lambda name: words("same_director", name=name))
        self._same_cast = functools.cache(
            lambda names: words("same_cast", names=words.names(names)))
        # A review is suggested for the same reason on many pages (a director's film on each
        # of the director's others): one tuple for each, not one per page.
        self._made: dict[tuple[int, str], Related] = {}

    def __getitem__(self, i: int) -> tuple[Related, ...]:
        found = self._found.get(i)
        if found is None:
            found = self._found[i] = self._pick(i) if self.limit > 0 else ()
        return found

    def _related(self, other: int, reason: str) -> Related:
        """The review at ``other``, suggested for ``reason``: one tuple for every page."""
        found = self._made.get((other, reason))
        if found is None:
            found = self._made[other, reason] = Related(self.reviews[other], reason)
        return found

    def _pick(self, i: int) -> tuple[Related, ...]:
        reviews, limit = self.reviews, self.limit
        review = reviews[i]
        directors, casts = self._directors, self._casts
        picked: list[Related] = []
        seen = {i}
        film_key = self._films[i]
        same_film = self._by_film[film_key] if film_key is not None else []
        for other in same_film[:limit + 1]:
            if other not in seen:
                seen.add(other)
                picked.append(Related(reviews[other], self._same_film_reason))
        if len(picked) < limit and directors[i]:
            reason = self._same_director(review.film.director)
            for other in self._by_director[directors[i]][:limit + 1]:
                if other not in seen:
                    seen.add(other)
                    picked.append(self._related(other, reason))
                    if len(picked) == limit:
                        break  # the cast's turn never comes, and what is past ``limit`` goes
        if len(picked) < limit and casts[i]:
            mine = casts[i]
            common = set(mine).intersection
            # (-shared, -other, shared): most shared names first, then the newest; ``other``
            # is seen once, so the set is never compared.
            scored = []
            for actor in mine:
                for other in self._by_actor[actor][:limit + 1]:
                    if other not in seen:
                        seen.add(other)
                        shared = common(casts[other])
                        scored.append((-len(shared), -other, shared))
            scored.sort()
            names: dict[str, str] = {}
            for actor in review.film.starring:
                names.setdefault(self._key(actor), actor)
            for _count, newest_first, shared in scored[:limit - len(picked)]:
                other = -newest_first
                reason = self._same_cast(tuple([names[a] for a in mine if a in shared]))
                picked.append(self._related(other, reason))
        return tuple(picked[:limit])
