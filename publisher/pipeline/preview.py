"""Digests rendered for inspection: a preview never touches the ledger or a subscriber."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from ..config import Config
from ..errors import PublisherError
from ..files import write_atomic
from ..ledger.probe import readonly_store
from ..models import Issue, RenderedDigest, Review
from ..render.digest import compose_subject, render_digest
from ..render.site import Site
from ..sources import load_reviews
from ..sources.posters import PosterFacts


def write_output(path: Path, data: bytes) -> None:
    """Write a preview file atomically; PublisherError naming the file when that fails."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise PublisherError(f"{path}: cannot write: {exc.strerror or exc}") from None


def preview_issue(config: Config, reviews: Sequence[Review], *, now: datetime,
                  number: int = 1) -> Issue:
    """An issue of ``reviews`` for inspection (never stored), dated ``now``."""
    return Issue(number=number, subject=compose_subject(Site.from_config(config), number, reviews),
                 date=now, reviews=tuple(reviews))


def select_reviews(published: Sequence[Review], *, last: int | None = None,
                   since: date | None = None, config: Config) -> list[Review]:
    """Reviews for a preview, oldest first: those published on or after ``since`` (a date in
    the publication's time zone), else the ``last`` most recent (default
    newsletter.max_reviews)."""
    ordered = sorted(published, key=lambda r: (r.date, r.slug))
    if since is not None:
        return [r for r in ordered if r.date.astimezone(config.tz).date() >= since]
    count = last if last is not None else config.newsletter.max_reviews
    return ordered[-count:] if count > 0 else []



def next_issue_number(config: Config) -> int:
    """The number the next issue will have (1 without a ledger), read without writing."""
    with readonly_store(config) as store:
        last = store.last_issue() if store is not None else None
    return last.number + 1 if last is not None else 1


def preview_digest(config: Config, *, now: datetime, last: int | None = None,
                   since: date | None = None, number: int | None = None) -> RenderedDigest:
    """A digest of the chosen published reviews (never stored, no subscriber data): those
    published on or after ``since``, else the ``last`` most recent; numbered ``number``, by
    default as the next issue will be. PublisherError when none match."""
    published = load_reviews(config).published(now)
    reviews = select_reviews(published, last=last, since=since, config=config)
    if not reviews:
        raise PublisherError("no published reviews match; nothing to preview")
    number = number if number is not None else next_issue_number(config)
    return render_digest(preview_issue(config, reviews, now=now, number=number),
                         Site.from_config(config), PosterFacts(config).facts)
