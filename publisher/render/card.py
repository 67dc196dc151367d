"""The card: one review as every renderer shows it (digest, archive pages, feeds, JSON-LD).

A card is built once per review and holds what readers see, decided once: the credits line,
the rating as stars, words and a number, the logline that does not repeat the excerpt, the
poster's alt text. Each output then only encodes it for its format (escaped HTML, XML without
illegal characters, JSON), so the digest, the archive and the feeds cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import orjson
from markupsafe import Markup

from ..models import ImageFacts, Review, quick_init
from ..text import excerpt, one_line, rating_value, stars
from .engine import safe_text
from .site import Site
from .words import ENGLISH, Words

#: MIME types of poster images by file suffix (feeds must name one).
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
}


@quick_init
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
    poster_src: str  # absolute URL; empty when there is no poster
    poster_alt: str  # the poster's alt text, "Poster for <title>" when the source gives none
    poster_type: str  # its MIME type, from the file suffix ("application/octet-stream" unknown)
    poster_length: int | None  # bytes, when the file is in static/
    poster_width: int | None  # pixels, when the file is in static/ and its format says
    poster_height: int | None
    availability: str
    trailer_url: str  # the trailer's page on its video site; empty when there is none
    trailer_embed_url: str  # its player, for a page (feeds and mail link to trailer_url)
    tags: tuple[str, ...]
    published: datetime
    updated: datetime
    excerpt_words: int = field(default=60, repr=False)
    # What tells this card from another of the same title in one issue ("1978"; "1960, Sam
    # Okafor" for one film reviewed twice); empty when its title is alone (digest.issue_cards).
    distinction: str = ""

    @property
    def distinct_title(self) -> str:
        """The title, with its distinction in brackets when it has one: "Halloween (1978)"."""
        return f"{self.title} ({self.distinction})" if self.distinction else self.title

    # The excerpt and the logline are made when a renderer first asks (the digest and the
    # archive do; feeds and pages mostly do not, and at 10,000 reviews the excerpts cost half
    # a second).

    @cached_property
    def excerpt(self) -> str:
        """The first ``excerpt_words`` words of the body as plain text."""
        return excerpt(self.review.body_html, self.excerpt_words)

    def poster_size(self, most: int) -> tuple[int, int] | None:
        """The poster's width and height in pixels shown at most ``most`` wide: its own when
        narrower (never enlarged), the height in proportion; None when its size is unknown."""
        if not self.poster_width or not self.poster_height:
            return None
        width = min(most, self.poster_width)
        return width, max(1, round(self.poster_height * width / self.poster_width))

    @cached_property
    def logline(self) -> str:
        """The summary on one line; empty when it only repeats the excerpt's opening (a
        summary derived from the body): shown once."""
        logline = one_line(self.review.summary)
        opening = self.excerpt
        if "\u202f" in opening or "\u00a0" in opening:  # French punctuation's no-break
            opening = opening.translate(_PLAIN_SPACES)  # spaces, plain in one_line
        if logline and opening.startswith(logline.rstrip("…").rstrip()):
            return ""
        return logline


_PLAIN_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " "})


def _suffix(path: str) -> str:
    """What ``PurePosixPath(path).suffix`` gives (the last component's, from its last dot,
    neither leading nor final), in a twentieth of the time: a card took 18 µs over it."""
    for name in reversed(path.split("/")):
        if name and name != ".":  # pathlib drops empty and "." components
            dot = name.rfind(".")
            return name[dot:] if 0 < dot < len(name) - 1 else ""
    return ""


#: A URL whose path urlsplit finds without removing or checking anything: http or https, a
#: host of ASCII without brackets, no tab or line break. The path is the group.
_PLAIN_URL = re.compile(r"https?://[^/?#\[\]\t\r\n\x80-\U0010ffff]*"
                        r"(/[^?#\t\r\n]*)?(?:[?#][^\t\r\n]*)?")


def _url_path(url: str) -> str:
    """``urlsplit(url).path`` (raising as it raises), read off a plain URL (``_PLAIN_URL``) by
    one match: urlsplit keeps only its last 20 answers, and a card took 28,000 instructions
    over a poster's."""
    plain = _PLAIN_URL.fullmatch(url)
    return (plain.group(1) or "") if plain is not None else urlsplit(url).path


def review_card(review: Review, excerpt_words: int, poster: ImageFacts | None = None,
                words: Words = ENGLISH) -> Card:
    """The card for one review, with an excerpt of ``excerpt_words`` words of its body;
    ``poster`` gives the poster file's size and dimensions when they are known; its own words
    (credits, the rating, a poster's alt text) in ``words``' language."""
    film = review.film
    credits = []
    if film.director:
        credits.append(words("directed_by", name=film.director))
    if film.starring:
        credits.append(words("starring", names=words.names(film.starring)))
    image = review.poster
    rating = review.rating
    suffix = _suffix(_url_path(image.src)).lower() if image else ""
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
        rating_text=words.rating(rating),
        reviewer=review.reviewer,
        summary=review.summary,
        poster_src=image.src if image else "",
        poster_alt=(image.alt or words("poster_alt", title=review.title)) if image else "",
        poster_type=IMAGE_TYPES.get(suffix, "application/octet-stream") if image else "",
        poster_length=poster.length if image and poster else None,
        poster_width=poster.width if image and poster else None,
        poster_height=poster.height if image and poster else None,
        availability=review.availability,
        trailer_url=review.trailer.url if review.trailer else "",
        trailer_embed_url=review.trailer.embed_url if review.trailer else "",
        tags=review.tags,
        published=review.date,
        updated=review.updated,
        excerpt_words=excerpt_words,
    )


def review_json_ld(card: Card, site: Site, date_published: str = "",
                   author_url: str = "") -> dict[str, Any]:
    """schema.org Review data for one review, as Google documents it for critic reviews:
    itemReviewed Movie (director, actors, poster), the rating out of 5, the author (with
    ``author_url``, the reviewer's page, when there is one) and the date published
    (``date_published``, when the caller has it already: the day in the site's time zone, ISO
    8601)."""
    movie: dict[str, Any] = {"@type": "Movie", "name": card.title}
    if card.year:
        movie["dateCreated"] = str(card.year)
    if card.director:
        movie["director"] = {"@type": "Person", "name": card.director}
    if card.cast:
        movie["actor"] = [{"@type": "Person", "name": name} for name in card.cast]
    if card.poster_src:
        movie["image"] = card.poster_src
    # No "trailer": the VideoObject Google reads needs the video's uploadDate and thumbnailUrl,
    # which only the video site knows, and one without them is reported as invalid.
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Review",
        "name": card.title,
        "url": card.url,
        "datePublished": (date_published
                          or card.published.astimezone(site.tz).date().isoformat()),
        # With the page about the reviewer, as Google's author markup best practices ask: the
        # url tells two critics of one name apart, and one critic's reviews together.
        "author": ({"@type": "Person", "name": card.reviewer, "url": author_url} if author_url
                   else {"@type": "Person", "name": card.reviewer}),
        "publisher": {"@type": "Organization", "name": site.title, "url": site.base_url},
        "itemReviewed": movie,
    }
    if card.summary:
        data["description"] = card.summary
    if card.rating_value:
        data["reviewRating"] = {"@type": "Rating", "ratingValue": card.rating_value,
                                "bestRating": "5", "worstRating": "0"}
    return data


def script_json(data: dict[str, Any]) -> Markup:
    """JSON safe inside <script>: no '<', '>' or '&' can end the element or start markup."""
    # orjson writes what json.dumps(ensure_ascii=False, separators=(",", ":")) writes, byte for
    # byte, ten times faster: 2 µs a page where the standard encoder took 21.
    text = orjson.dumps(data).decode("utf-8")
    for char, escaped in _SCRIPT_ESCAPES:
        # Looked for first: `in` finds a character with memchr, while replace counts it in a
        # loop of its own even when it is absent (1 µs a page's JSON-LD, against 0.03).
        if char in text:
            text = text.replace(char, escaped)
    return safe_text(text)


#: What script_json writes as escapes: U+2028/2029 are legal in JSON but end a line in older
#: JavaScript parsers.
_SCRIPT_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                   ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))
