"""The card: one review as every renderer shows it (digest, archive pages, feeds, JSON-LD).

A card is built once per review and holds what readers see, decided once: the credits line,
the rating as stars, words and a number, the logline that does not repeat the excerpt, the
poster's alt text. Each output then only encodes it for its format (escaped HTML, XML without
illegal characters, JSON), so the digest, the archive and the feeds cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..models import Review
from ..text import excerpt, join_names, one_line, rating_text, rating_value, stars


@dataclass(frozen=True)
class Card:
    """What a renderer shows for one review: every field plain text except ``review``.

    Empty strings (and None, and empty tuples) mean "not given": a template leaves the part out.
    """

    review: Review  # the source value, for templates that want more than the card carries
    id: str  # the stable entry id
    url: str  # absolute permalink
    title: str
    year: int | None
    director: str
    cast: tuple[str, ...]
    runtime: int | None  # minutes
    certificate: str  # the film's classification, e.g. "15"
    credits: str  # "Directed by … · Starring …"
    rating: Decimal | None
    rating_value: str  # "3.5", "4"; empty when unrated
    stars: str  # "★★★½"; empty when unrated and for 0, which rating_text says in words
    rating_text: str  # "3.5 out of 5"
    reviewer: str
    summary: str  # the review's summary as written (feeds, schema.org, the archive's list)
    logline: str  # the summary on one line, empty when it only repeats the excerpt's opening
    excerpt: str  # the first words of the body as plain text
    poster_src: str  # absolute URL; empty when there is no poster
    poster_alt: str  # the poster's alt text, "Poster for <title>" when the source gives none
    availability: str
    tags: tuple[str, ...]
    published: datetime
    updated: datetime


def review_card(review: Review, excerpt_words: int) -> Card:
    """The card for one review, with an excerpt of ``excerpt_words`` words of its body."""
    film = review.film
    credits = []
    if film.director:
        credits.append(f"Directed by {film.director}")
    if film.starring:
        credits.append(f"Starring {join_names(film.starring)}")
    logline = one_line(review.summary)
    body = excerpt(review.body_html, excerpt_words)
    # A logline derived from the body repeats the excerpt's opening: show it once.
    if logline and body.startswith(logline.rstrip("…").rstrip()):
        logline = ""
    poster = review.poster
    rating = review.rating
    return Card(
        review=review,
        id=review.id,
        url=review.url,
        title=review.title,
        year=film.year,
        director=film.director,
        cast=film.starring,
        runtime=film.runtime,
        certificate=film.classification,
        credits=" · ".join(credits),
        rating=rating,
        rating_value="" if rating is None else rating_value(rating),
        stars=stars(rating),
        rating_text=rating_text(rating),
        reviewer=review.reviewer,
        summary=review.summary,
        logline=logline,
        excerpt=body,
        poster_src=poster.src if poster else "",
        poster_alt=(poster.alt or f"Poster for {review.title}") if poster else "",
        availability=review.availability,
        tags=review.tags,
        published=review.date,
        updated=review.updated,
    )
