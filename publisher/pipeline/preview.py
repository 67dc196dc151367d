"""Digests rendered for inspection: a preview never touches the ledger or a subscriber."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

from ..config import Config
from ..errors import PublisherError
from ..files import write_atomic
from ..ledger import Store
from ..ledger.probe import readonly_store
from ..models import Issue, IssueRecord, IssueState, RenderedDigest, Review
from ..newsletter.compose import next_reviews
from ..render.digest import compose_subject, render_digest
from ..render.site import Site
from ..sources import Catalog, load_reviews
from ..sources.posters import PosterFacts
from .issues import issued_review_ids


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



def preview_digest(config: Config, *, now: datetime, last: int | None = None,
                   since: date | None = None, number: int | None = None,
                   note: Callable[[str], object] = print) -> RenderedDigest:
    """A digest of the chosen published reviews (never stored, no subscriber data): those
    published on or after ``since``, else the ``last`` most recent, else those the next
    issue would hold (when none would, the latest, which ``note`` says); numbered
    ``number``, by default as the next issue will be. PublisherError when none match."""
    catalog = load_reviews(config)
    published = catalog.published(now)
    with readonly_store(config) as store:
        records = store.issues() if store is not None else []
        waiting = _next_issue(config, catalog, store, records, now) \
            if last is None and since is None else ()
    draft = next((r for r in records if r.state == IssueState.DRAFT), None)
    if number is None:  # a draft composed by hand is the next to go out
        number = draft.number if draft else (records[-1].number if records else 0) + 1
    # Numbered as the next issue, the preview holds what it will hold: the latest reviews
    # are what the issues before it mailed.
    reviews = list(waiting) or select_reviews(published, last=last, since=since, config=config)
    if not reviews:
        raise PublisherError("no published reviews match; nothing to preview")
    if last is None and since is None and not waiting:
        note(f"note: no published review is waiting for issue #{number}; showing the latest "
             f"{len(reviews)} instead")
    return render_digest(preview_issue(config, reviews, now=now, number=number),
                         Site.from_config(config), PosterFacts(config).facts)


def _next_issue(config: Config, catalog: Catalog, store: Store | None,
                records: Sequence[IssueRecord], now: datetime) -> tuple[Review, ...]:
    """The reviews the next issue would hold at ``now``: a draft's, when one waits (composed
    by hand, the next slot sends it), else those composing would choose."""
    draft = next((r for r in records if r.state == IssueState.DRAFT), None)
    if draft is not None:
        return tuple(review for rid in draft.review_ids
                     if (review := catalog.by_id(rid)) is not None)
    issued = issued_review_ids(store, catalog) if store is not None else set()
    return next_reviews(config, catalog, issued, now)
