"""Which reviews go into the next issue, and issues rebuilt from the ledger.

The choice is a pure function of the catalogue, what the ledger says was already issued, the
config and ``now``: published reviews (not drafts, not dated after now) in no live issue, oldest
first, at most ``newsletter.max_reviews``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from .config import Config
from .digest import compose_subject
from .errors import Problem, PublisherError
from .files import read_text
from .models import Issue, Review
from .sources import Catalog
from .store import IssueRecord, Store


class ComposeError(PublisherError):
    """An issue cannot be composed or rebuilt."""


class NotEnoughReviews(ComposeError):
    """Fewer new published reviews than newsletter.min_reviews."""

    def __init__(self, message: str, *, found: int, needed: int):
        super().__init__(message)
        self.found = found
        self.needed = needed


class MissingReview(ComposeError):
    """An issue in the ledger names a review that is no longer in the sources."""


def next_issue_reviews(catalog: Catalog, store: Store, config: Config, *,
                       now: datetime) -> list[Review]:
    """Published reviews in no (live) issue yet, oldest first, at most max_reviews."""
    return _fresh_reviews(catalog, store, now)[: config.newsletter.max_reviews]


def _fresh_reviews(catalog: Catalog, store: Store, now: datetime) -> list[Review]:
    issued = store.issued_review_ids()
    return [review for review in catalog.published(now) if review.id not in issued]


def compose_issue(config: Config, store: Store, catalog: Catalog, *, now: datetime,
                  slot: datetime | None = None, dry_run: bool = False,
                  note_html: str = "") -> IssueRecord:
    """Create the next issue as a draft (or, with ``dry_run``, only say what it would be).

    Its number is the highest so far plus one (cancelled issues keep their numbers). Raises
    NotEnoughReviews below newsletter.min_reviews, SlotTaken if ``slot`` already has a row.
    """
    fresh = _fresh_reviews(catalog, store, now)
    reviews = fresh[: config.newsletter.max_reviews]
    issues = store.issues()
    number = (issues[-1].number if issues else 0) + 1
    needed = config.newsletter.min_reviews
    if len(reviews) < needed:
        live = [record for record in issues if record.state != "cancelled"]
        since = f"since issue #{live[-1].number}" if live else "for issue #1"
        count = len(fresh)
        raise NotEnoughReviews(
            f"only {count} new published review{'' if count == 1 else 's'} {since}; "
            f"need at least {needed} (newsletter.min_reviews)",
            found=count, needed=needed,
        )
    subject = compose_subject(config, number, reviews)
    ids = tuple(review.id for review in reviews)
    if dry_run:
        return IssueRecord(number=number, subject=subject, state="draft", slot=slot,
                           created_at=now, sent_at=None, review_ids=ids, note_html=note_html)
    return store.create_issue(subject=subject, review_ids=ids, now=now, slot=slot,
                              note_html=note_html, number=number)


def issue_from_record(record: IssueRecord, catalog: Catalog, config: Config) -> Issue:
    """The Issue to render, from the review ids the ledger holds and the current sources.

    Raises MissingReview naming the issue and every review id no longer in the sources.
    """
    missing = [rid for rid in record.review_ids if catalog.by_id(rid) is None]
    if missing:
        listed = ", ".join(missing)
        raise MissingReview(
            f"issue #{record.number} holds review{'s' if len(missing) > 1 else ''} {listed}, "
            f"no longer in the sources ({config.reviews_dir}/); restore the file, or give the "
            "renamed review that id in its front matter (id: ...)"
        )
    reviews = tuple(catalog.by_id(rid) for rid in record.review_ids)
    return Issue(number=record.number, subject=record.subject,
                 date=record.sent_at or record.created_at,
                 reviews=reviews,  # type: ignore[arg-type]  # None excluded above
                 note_html=record.note_html)


def archived_issues(records: Sequence[IssueRecord], catalog: Catalog,
                    config: Config) -> tuple[list[Issue], list[Problem]]:
    """The sent issues among ``records``, for the web archive, with a warning for each review
    that has since left the sources: its archive page leaves that review out rather than
    stopping every later build (the issue went out; its page should stay up)."""
    issues: list[Issue] = []
    warnings: list[Problem] = []
    for record in records:
        if record.state != "sent":
            continue
        present = tuple(rid for rid in record.review_ids if catalog.by_id(rid) is not None)
        for rid in record.review_ids:
            if rid not in present:
                warnings.append(Problem(
                    config.reviews_dir + "/", 0, "id",
                    f"issue #{record.number} held review {rid}, no longer in the sources; its "
                    "archive page leaves it out (restore the file, or give the renamed review "
                    "that id in its front matter)"))
        issues.append(issue_from_record(replace(record, review_ids=present), catalog, config))
    return issues, warnings


def note_from_file(path: Path, config: Config) -> str:
    """An editor's note in Markdown, as sanitised HTML with absolute links."""
    from .render import markdown_to_html

    text = read_text(path, ComposeError, what="an editor's note", hint="save the note as UTF-8")
    return markdown_to_html(text, config.base_url)
