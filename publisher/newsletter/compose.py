"""Which reviews go into the next issue, and issues rebuilt from what the ledger recorded.

Pure: the choice is a function of the published reviews, the ids already issued, the config
and ``now``: published reviews (not drafts, not dated after now) in no live issue, oldest
first, at most ``newsletter.max_reviews``. The first issue is the exception: it holds the newest
of them, and what is older is the back catalogue, never mailed. A publication that starts its
newsletter with five hundred reviews imported from its old site would otherwise send the ten
oldest as issue #1 and the rest ten an issue for a year, every new review waiting behind them;
the newsletters readers know start from what is new (Mailchimp's and Buttondown's RSS emails
send only what was published after they were set up). From the first issue on, a review dated
before the oldest review any live issue holds is back catalogue too (an old review imported
later); anything newer that misses an issue, a surge beyond ``max_reviews`` or a review added
late with an earlier date, goes in the next.

The sample review ``publisher init`` writes is never mailed while it is untouched: it is the
newest review of a new publication, so the first issue would lead with it (its title in the
subject) and, dating the newsletter's start, make every review imported before it back
catalogue. Nor is a review that still shows a placeholder of ``publisher new``'s skeleton (its
body's "Write the review here" or its summary's "One sentence that sells the film"), or whose
body is still the publication's own skeleton's, untouched: the editor published it before
writing it (``Review.unwritten``, which the parse decides). The site and feeds show them,
with a warning from ``check`` and ``build``; an email cannot be taken back. Written, such a
review goes in the next issue.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from ..config import Config
from ..errors import MissingReview, NotEnoughReviews, Problem
from ..models import Issue, IssueRecord, IssueState, Review
from ..render.digest import compose_subject
from ..render.site import Site
from ..sources import Catalog
from ..sources.schema import SAMPLE


@dataclass(frozen=True)
class IssuePlan:
    """The next issue as it would be composed: its number, reviews (in order) and subject."""

    number: int
    reviews: tuple[Review, ...]
    subject: str


def issued_ids(catalog: Catalog, issued: Collection[str], mailed: Iterable[Review]) -> set[str]:
    """The ids of the reviews already in a live issue: ``issued`` (the ids the ledger holds),
    and those the sources now give to reviews that an issue mailed (``mailed``, as the issues
    froze them) under another id. A review without an ``id:`` line gets a new id when its file
    is renamed, its date corrected or base_url's domain changes; mailed again, it would reach
    every reader twice (``Review.identities`` says which are one)."""
    known = {key for review in mailed for key in review.identities()}
    found = set(issued)
    if not known:  # nothing mailed: no review's identities need making (a few µs each)
        return found
    found.update(review.id for review in catalog.reviews
                 if review.id not in found and not known.isdisjoint(review.identities()))
    return found


def newsletter_start(catalog: Catalog, issued: Collection[str]) -> datetime | None:
    """The date of the oldest review in a live issue (``issued`` holds their ids) still in the
    sources: what is older is the back catalogue. None before the first issue."""
    dates = [review.date for rid in issued if (review := catalog.by_id(rid)) is not None]
    return min(dates, default=None)


def fresh_reviews(catalog: Catalog, issued: Collection[str], now: datetime) -> list[Review]:
    """Published reviews in no live issue yet (``issued`` holds their ids) and not in the back
    catalogue, oldest first."""
    return _unissued(catalog, issued, now, newsletter_start(catalog, issued))[0]


def back_catalogue(catalog: Catalog, issued: Collection[str], now: datetime) -> list[Review]:
    """Published reviews older than the newsletter's start and in no live issue: never mailed
    (empty before the first issue)."""
    return _unissued(catalog, issued, now, newsletter_start(catalog, issued))[1]


def _unissued(catalog: Catalog, issued: Collection[str], now: datetime,
              start: datetime | None) -> tuple[list[Review], list[Review]]:
    """The published reviews in no live issue, oldest first: (fresh, back catalogue), told
    apart by the newsletter's ``start``; a review not written yet (``Review.unwritten``) is
    neither."""
    fresh: list[Review] = []
    older: list[Review] = []
    for review in catalog.published(now):
        if review.id not in issued and not review.unwritten:
            (older if start is not None and review.date < start else fresh).append(review)
    return fresh, older


def first_issue_note(catalog: Catalog, issued: Collection[str], number: int,
                     review_ids: Collection[str], now: datetime) -> str | None:
    """What composing issue ``number`` (holding ``review_ids``) should tell the editor when it
    is the newsletter's first (nothing in ``issued``, the ids in live issues before it) and
    leaves older reviews out as the back catalogue; None otherwise."""
    if newsletter_start(catalog, issued) is not None:
        return None
    count = len(back_catalogue(catalog, review_ids, now))
    if not count:
        return None
    ones = "review" if count == 1 else "reviews"
    return (f"issue #{number} is the newsletter's first: it holds the newest reviews, and the "
            f"{count:,} older published {ones} are the back catalogue, on the site and in the "
            "feeds but never mailed")


def waiting_note(config: Config, catalog: Catalog, issued: Collection[str],
                 review_ids: Collection[str], now: datetime) -> str | None:
    """What an issue holding ``review_ids`` (``issued``: the ids in live issues before it) left
    for the next: the fresh reviews beyond ``max_reviews``, which wait (a newsletter whose
    reviews outpace its issues mails each later than the last); None when it took them all."""
    left = len(fresh_reviews(catalog, {*issued, *review_ids}, now))
    if not left:
        return None
    ones = "review waits" if left == 1 else "reviews wait"
    return (f"{left:,} more new {ones} for the next issue: an issue holds at most "
            f"newsletter.max_reviews = {config.newsletter.max_reviews}")


def next_reviews(config: Config, catalog: Catalog, issued: Collection[str],
                 now: datetime) -> tuple[Review, ...]:
    """The reviews the next issue holds (``issued``: the ids in live issues): the oldest
    fresh ones, at most max_reviews; the first issue, the newest (the module's docstring)."""
    start = newsletter_start(catalog, issued)
    fresh = _unissued(catalog, issued, now, start)[0]
    most = config.newsletter.max_reviews
    return tuple(fresh[-most:] if start is None else fresh[:most])


def plan_issue(config: Config, catalog: Catalog, *, issued: Collection[str],
               records: Sequence[IssueRecord], now: datetime) -> IssuePlan:
    """The next issue: numbered after the highest in ``records`` (cancelled issues keep their
    numbers), holding the oldest fresh reviews, at most max_reviews; the first issue holds the
    newest (the module's docstring says why).

    Raises NotEnoughReviews below newsletter.min_reviews, TemplateError for a broken subject.
    """
    reviews = next_reviews(config, catalog, issued, now)
    number = (records[-1].number if records else 0) + 1
    needed = config.newsletter.min_reviews
    if len(reviews) < needed:
        live = [record for record in records if record.state != IssueState.CANCELLED]
        since = f"since issue #{live[-1].number}" if live else "for issue #1"
        count = len(fresh_reviews(catalog, issued, now))
        left_out = "".join(
            f"; {review.source_path or review.id} "
            + ("is the sample publisher init wrote, never mailed: write your own review there, "
               "or delete it" if why == SAMPLE else
               f"is not written yet ({why}), never mailed until it is")
            for review in catalog.published(now)
            if review.id not in issued and (why := review.unwritten))
        raise NotEnoughReviews(
            f"only {count} new published review{'' if count == 1 else 's'} {since}; "
            f"need at least {needed} (newsletter.min_reviews){left_out}",
            found=count, needed=needed,
        )
    return IssuePlan(number, reviews, compose_subject(Site.from_config(config), number, reviews))


def issue_from_record(record: IssueRecord, catalog: Catalog, config: Config, *,
                      now: datetime | None = None) -> Issue:
    """The Issue to render, from the review ids the ledger holds and the current sources.

    Raises MissingReview naming the issue and every review id no longer in the sources, and,
    given ``now`` (a draft issue about to be sent), every review it holds that is not published
    at ``now``: made a draft again, or dated later, since the issue was composed; and the
    untouched sample or a review still showing a skeleton's placeholder or body
    (``Review.unwritten``), which a draft composed before such reviews were kept out may hold.
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
        held = [f"{r.source_path or r.id}, " + (
                    "still the sample review publisher init wrote" if why == SAMPLE else
                    f"not written yet ({why})")
                for rid in record.review_ids
                if (r := catalog.by_id(rid)) is not None and (why := r.unwritten)]
        if held:  # composed before such reviews were kept out of issues
            raise MissingReview(
                f"issue #{record.number} holds {'; '.join(held)}, which is never mailed; write "
                "your own review there (the issue then carries it), or cancel the issue "
                f"('publisher issue cancel {record.number}') so that the next one is composed "
                "without it")
    reviews = tuple(catalog.by_id(rid) for rid in record.review_ids)
    return Issue(number=record.number, subject=record.subject,
                 date=record.sent_at or record.created_at,
                 reviews=reviews,  # type: ignore[arg-type]  # None excluded above
                 note_html=record.note_html)


def archived_issues(records: Sequence[IssueRecord], catalog: Catalog, config: Config,
                    frozen: Mapping[int, Issue]) -> tuple[list[Issue], list[Problem]]:
    """The issues among ``records`` on the web archive: each as it was frozen when it was sent
    (``frozen``: ``Store.frozen_issues``, which holds those still being sent once a copy has
    gone), dated as its email was: when its sending started, not when its last retry ended. An
    issue sent before the ledger froze issues is rebuilt from the sources, with a warning for
    each review that has since left them: its archive page leaves that review out rather than
    stopping every later build (the issue went out; its page should stay up)."""
    issues: list[Issue] = []
    warnings: list[Problem] = []
    for record in records:
        if record.number in frozen:
            issues.append(frozen[record.number])
            continue
        if record.state != IssueState.SENT:
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
