"""Which reviews go into the next issue, and issues rebuilt from what the ledger recorded.

Pure: the choice is a function of the published reviews, the ids already issued, the config
and ``now``: published reviews (not drafts, not dated after now) in no live issue, oldest
first, at most ``newsletter.max_reviews``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..config import Config
from ..errors import MissingReview, NotEnoughReviews, Problem
from ..models import Issue, IssueRecord, IssueState, Review
from ..render.digest import compose_subject
from ..render.site import Site
from ..sources import Catalog


@dataclass(frozen=True)
class IssuePlan:
    """The next issue as it would be composed: its number, reviews (in order) and subject."""

    number: int
    reviews: tuple[Review, ...]
    subject: str


def fresh_reviews(catalog: Catalog, issued: Collection[str], now: datetime) -> list[Review]:
    """Published reviews in no live issue yet (``issued`` holds their ids), oldest first."""
    return [review for review in catalog.published(now) if review.id not in issued]


def plan_issue(config: Config, catalog: Catalog, *, issued: Collection[str],
               records: Sequence[IssueRecord], now: datetime) -> IssuePlan:
    """The next issue: numbered after the highest in ``records`` (cancelled issues keep their
    numbers), holding the oldest fresh reviews, at most max_reviews.

    Raises NotEnoughReviews below newsletter.min_reviews, TemplateError for a broken subject.
    """
    fresh = fresh_reviews(catalog, issued, now)
    reviews = tuple(fresh[: config.newsletter.max_reviews])
    number = (records[-1].number if records else 0) + 1
    needed = config.newsletter.min_reviews
    if len(reviews) < needed:
        live = [record for record in records if record.state != IssueState.CANCELLED]
        since = f"since issue #{live[-1].number}" if live else "for issue #1"
        count = len(fresh)
        raise NotEnoughReviews(
            f"only {count} new published review{'' if count == 1 else 's'} {since}; "
            f"need at least {needed} (newsletter.min_reviews)",
            found=count, needed=needed,
        )
    return IssuePlan(number, reviews, compose_subject(Site.from_config(config), number, reviews))


def issue_from_record(record: IssueRecord, catalog: Catalog, config: Config, *,
                      now: datetime | None = None) -> Issue:
    """The Issue to render, from the review ids the ledger holds and the current sources.

    Raises MissingReview naming the issue and every review id no longer in the sources, and,
    given ``now`` (a draft issue about to be sent), every review it holds that is not published
    at ``now``: made a draft again, or dated later, since the issue was composed.
    """
    missing = [rid for rid in record.review_ids if catalog.by_id(rid) is None]
    if missing:
        listed = ", ".join(missing)
        raise MissingReview(
            f"issue #{record.number} holds review{'s' if len(missing) > 1 else ''} {listed}, "
            f"no longer in the sources ({config.reviews_dir}/); restore the file, or give the "
            "renamed review that id in its front matter (id: ...)"
        )
    if now is not None:
        # The editor took these off the site after the issue was composed: mailing them to
        # every subscriber (and into the issue's archive page) would publish them anyway.
        hidden = [r for rid in record.review_ids
                  if (r := catalog.by_id(rid)) is not None and not r.is_published(now)]
        if hidden:
            listed = "; ".join(
                f"{r.source_path or r.id} ("
                + ("a draft" if r.draft else f"scheduled for {r.date:%Y-%m-%d %H:%M %Z}") + ")"
                for r in hidden)
            raise MissingReview(
                f"issue #{record.number} holds {listed}, not published now; publish "
                f"{'them' if len(hidden) > 1 else 'it'} again, or cancel the issue "
                f"('publisher issue cancel {record.number}') so that the next one is composed "
                "from what is published"
            )
    reviews = tuple(catalog.by_id(rid) for rid in record.review_ids)
    return Issue(number=record.number, subject=record.subject,
                 date=record.sent_at or record.created_at,
                 reviews=reviews,  # type: ignore[arg-type]  # None excluded above
                 note_html=record.note_html)


def archived_issues(records: Sequence[IssueRecord], catalog: Catalog, config: Config,
                    frozen: Mapping[int, Issue]) -> tuple[list[Issue], list[Problem]]:
    """The sent issues among ``records``, for the web archive: each as it was frozen when it
    was sent (``frozen``), dated as its email was: when its sending started, not when its last
    retry ended. An issue sent before the ledger froze issues
    is rebuilt from the sources, with a warning for each review that has since left them: its
    archive page leaves that review out rather than stopping every later build (the issue went
    out; its page should stay up)."""
    issues: list[Issue] = []
    warnings: list[Problem] = []
    for record in records:
        if record.state != IssueState.SENT:
            continue
        if record.number in frozen:
            issues.append(frozen[record.number])
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
