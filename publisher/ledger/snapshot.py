"""What an issue is, frozen as JSON when sending starts: its reviews and its rendered digest.

Retries, resends, test copies and the archive page read these, never the sources again, so a
review edited or deleted while an issue is being sent changes nothing its recipients get.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..errors import StoreError
from ..models import Film, Issue, Poster, RenderedDigest, Review, Trailer

#: Bump when the shape below changes; decode refuses a version it does not know.
VERSION = 1


def _review(review: Review) -> dict[str, Any]:
    film = review.film
    return {
        "slug": review.slug, "title": review.title, "date": review.date.isoformat(),
        "updated": review.updated.isoformat(), "reviewer": review.reviewer, "id": review.id,
        "url": review.url, "body_html": review.body_html, "summary": review.summary,
        "film": {"year": film.year, "director": film.director, "starring": list(film.starring),
                 "runtime": film.runtime, "classification": film.classification,
                 "credits": list(film.credits)},
        "rating": None if review.rating is None else str(review.rating),
        "tags": list(review.tags),
        "poster": None if review.poster is None else {"src": review.poster.src,
                                                      "alt": review.poster.alt},
        "availability": review.availability, "draft": review.draft,
        "source_path": review.source_path,
        "trailer": None if review.trailer is None else [review.trailer.site,
                                                        review.trailer.video_id,
                                                        review.trailer.key],
    }


def _review_from(data: dict[str, Any]) -> Review:
    film, poster = data["film"], data["poster"]
    return Review(
        slug=data["slug"], title=data["title"], date=datetime.fromisoformat(data["date"]),
        updated=datetime.fromisoformat(data["updated"]), reviewer=data["reviewer"],
        id=data["id"], url=data["url"], body_html=data["body_html"], summary=data["summary"],
        film=Film(year=film["year"], director=film["director"],
                  starring=tuple(film["starring"]), runtime=film["runtime"],
                  classification=film["classification"], credits=tuple(film["credits"])),
        rating=None if data["rating"] is None else Decimal(data["rating"]),
        tags=tuple(data["tags"]),
        poster=None if poster is None else Poster(src=poster["src"], alt=poster["alt"]),
        availability=data["availability"], draft=data["draft"],
        source_path=data["source_path"],
        # Issues frozen before trailers were kept have none: an added key, not a new version.
        trailer=Trailer(*data["trailer"]) if data.get("trailer") else None,
    )


def encode_issue(issue: Issue) -> str:
    return json.dumps({
        "version": VERSION, "number": issue.number, "subject": issue.subject,
        "date": issue.date.isoformat(), "note_html": issue.note_html,
        "reviews": [_review(r) for r in issue.reviews],
    }, ensure_ascii=False, sort_keys=True)


def decode_issue(text: str) -> Issue:
    data = _load(text)
    return Issue(number=data["number"], subject=data["subject"],
                 date=datetime.fromisoformat(data["date"]),
                 reviews=tuple(_review_from(r) for r in data["reviews"]),
                 note_html=data["note_html"])


def encode_digest(digest: RenderedDigest) -> str:
    """The rendered digest without its issue (``encode_issue`` keeps that)."""
    return json.dumps({"version": VERSION, "subject": digest.subject, "html": digest.html,
                       "text": digest.text, "markers": digest.markers},
                      ensure_ascii=False, sort_keys=True)


def decode_digest(text: str, issue: Issue) -> RenderedDigest:
    data = _load(text)
    return RenderedDigest(issue=issue, subject=data["subject"], html=data["html"],
                          text=data["text"], markers=dict(data["markers"]))


def _load(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise StoreError("a frozen issue in the ledger is unreadable or from a newer "
                         "publisher; upgrade publisher")
    return data
