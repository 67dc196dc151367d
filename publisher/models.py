"""Domain values: frozen dataclasses that renderers and the ledger take, never config objects."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


def slugify(text: str) -> str:
    """A lower-case ASCII slug: 'Sam Okafor' -> 'sam-okafor', 'Amélie' -> 'amelie'. Text with
    letters but none in the Latin alphabet gets their Punycode, so that names in other scripts
    keep distinct slugs ('王伟' -> 'cpqu10g'); text without letters or digits is 'untitled'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if not slug:
        letters = re.sub(r"[\W_]+", "", unicodedata.normalize("NFC", text).lower())
        slug = letters.encode("punycode").decode("ascii") if letters else ""
    return slug or "untitled"


@dataclass(frozen=True)
class Film:
    """The film under review."""

    year: int | None = None
    director: str = ""
    starring: tuple[str, ...] = ()
    runtime: int | None = None  # minutes
    classification: str = ""
    credits: tuple[str, ...] = ()  # the director's earlier films


@dataclass(frozen=True)
class Poster:
    """A poster image: an absolute URL and its alt text."""

    src: str
    alt: str


@dataclass(frozen=True)
class Review:
    """One review, loaded, validated and rendered; everything a feed or digest needs."""

    slug: str
    title: str
    date: datetime  # aware
    updated: datetime  # aware; equals date unless the source says otherwise
    reviewer: str
    id: str  # stable entry id (front matter `id`, else derived from domain, date and slug)
    url: str  # absolute permalink
    body_html: str  # sanitised HTML with absolute URLs
    summary: str  # the logline (plain text); derived from the body when not given
    film: Film = field(default_factory=Film)
    rating: Decimal | None = None  # 0-5 in half steps
    tags: tuple[str, ...] = ()
    poster: Poster | None = None
    availability: str = ""
    draft: bool = False
    source_path: str = ""  # as given to the loader, for messages

    @property
    def reviewer_slug(self) -> str:
        return slugify(self.reviewer)

    @property
    def tag_slugs(self) -> tuple[str, ...]:
        return tuple(slugify(t) for t in self.tags)

    def is_published(self, now: datetime) -> bool:
        """Published means not a draft and not dated in the future (as Hugo does by default)."""
        return not self.draft and self.date <= now


def stars(rating: Decimal | None) -> str:
    """★★★½ for 3.5; empty for no rating."""
    if rating is None:
        return ""
    whole = int(rating)
    return "★" * whole + ("½" if rating - whole else "")


def rating_text(rating: Decimal | None) -> str:
    """'3.5 out of 5' for 3.5, '4 out of 5' for 4; empty for no rating."""
    if rating is None:
        return ""
    value = f"{rating:f}".rstrip("0").rstrip(".") if "." in f"{rating:f}" else f"{rating:f}"
    return f"{value} out of 5"


@dataclass(frozen=True)
class Issue:
    """A numbered newsletter issue: the reviews it carries, in order."""

    number: int
    subject: str
    date: datetime  # aware; when it was composed (or sent)
    reviews: tuple[Review, ...]
    note_html: str = ""  # optional editor's note, sanitised HTML


@dataclass(frozen=True)
class Subscriber:
    """Someone on the list."""

    email: str
    name: str = ""
    id: int = 0
    status: str = "active"  # active / unsubscribed / bounced / complained
    source: str = ""  # how they joined: "cli", "import:subscribers.csv", ...
    created_at: datetime | None = None  # aware (UTC) when read from the ledger


#: Per-subscriber values stamped into a compiled digest after compiling it once.
PERSONAL_FIELDS = ("email", "name", "unsubscribe_url")


def personal_markers(seed: str) -> dict[str, str]:
    """Markers for PERSONAL_FIELDS: ASCII, no '=', unique to ``seed`` (say, an issue's identity)
    so that review text cannot collide with them, and deterministic for the same seed."""
    import hashlib

    nonce = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:12]
    return {name: f"@@PUB-{name.upper()}-{nonce}@@" for name in PERSONAL_FIELDS}


@dataclass(frozen=True)
class RenderedDigest:
    """An issue rendered once: subject, compiled HTML and text, personal fields as markers.

    In ``html`` a marker stands where the HTML-escaped value goes; in ``text`` where the raw value
    goes. ``markers`` maps each of PERSONAL_FIELDS to its marker.
    """

    issue: Issue
    subject: str
    html: str
    text: str
    markers: dict[str, str]
