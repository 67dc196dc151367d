"""The card: one review as every renderer shows it (digest, archive, feeds)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Review
from ..text import excerpt, join_names, one_line, rating_text, stars


@dataclass(frozen=True)
class Card:
    """What a template shows for one review: every field plain text except ``review``."""

    review: Review
    title: str
    year: int | None
    stars: str
    rating_text: str
    credits: str  # "Directed by … · Starring …"
    reviewer: str
    logline: str
    excerpt: str
    url: str
    poster_src: str
    poster_alt: str


def review_card(review: Review, excerpt_words: int) -> Card:
    """The card for one review: credits line, logline and an excerpt of ``excerpt_words`` words
    of the body."""
    film = review.film
    credits = []
    if film.director:
        credits.append(f"Directed by {film.director}")
    if film.starring:
        credits.append(f"Starring {join_names(film.starring)}")
    summary = one_line(review.summary)
    body = excerpt(review.body_html, excerpt_words)
    # A logline derived from the body repeats the excerpt's opening: show it once.
    if summary and body.startswith(summary.rstrip("…").rstrip()):
        summary = ""
    poster = review.poster
    return Card(
        review=review,
        title=review.title,
        year=film.year,
        stars=stars(review.rating),
        rating_text=rating_text(review.rating),
        credits=" · ".join(credits),
        reviewer=review.reviewer,
        logline=summary,
        excerpt=body,
        url=review.url,
        poster_src=poster.src if poster else "",
        poster_alt=(poster.alt or f"Poster for {review.title}") if poster else "",
    )

