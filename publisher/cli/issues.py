"""``publisher issue``: compose, inspect and send newsletter issues.

``issue list`` and ``issue show`` must answer at once on a ledger of a million deliveries, so
this module loads only the ledger; the commands that compose or send import what they need
(the renderer, Jinja and MJML, the delivery engine: 0.1-0.2 s of imports) when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import SourceError, first_line
from ..models import SKIPPED, DeliveryStatus, IssueState, Review
from ..text import count
from . import State
from .context import local_time, open_store, publication_command, warn
from .progress import terminal_progress

if TYPE_CHECKING:
    from ..config import Config
    from ..ledger import Store
    from ..sources import Catalog


@click.group()
def issue() -> None:
    """Compose, inspect and send newsletter issues."""


@issue.command("new")
@click.option("--dry-run", is_flag=True, help="Show what the issue would hold; write nothing.")
@click.option("--note", type=click.Path(dir_okay=False),
              help="An editor's note in Markdown (FILE.md), shown above the reviews.")
@publication_command
def issue_new(state: State, dry_run: bool, note: str | None) -> None:
    """Compose the next issue from the published reviews that are in no issue yet."""
    from ..newsletter.compose import first_issue_note, waiting_note
    from ..pipeline.issues import compose_issue, issued_review_ids, note_from_file
    from ..pipeline.slots import draft_outlook
    from ..sources import load_reviews

    config = state.config
    catalog = load_reviews(config)
    warn(catalog.warnings)
    note_html = note_from_file(Path(note), config) if note else ""
    store = open_store(state)
    issued = issued_review_ids(store, catalog)
    record = compose_issue(config, store, catalog, now=state.now(),
                           dry_run=dry_run, note_html=note_html)
    verb = "would create" if dry_run else "created"
    click.echo(f"{verb} issue #{record.number} (draft): {record.subject}")
    for position, review_id in enumerate(record.review_ids, 1):
        review = catalog.by_id(review_id)
        assert review is not None
        click.echo(f"  {position}. {review.title} ({review.reviewer}, {review.date:%Y-%m-%d})")
    first = first_issue_note(catalog, issued, record.number, record.review_ids, state.now())
    if first:
        click.echo(first)
    waiting = waiting_note(config, catalog, issued, record.review_ids, state.now())
    if waiting:
        click.echo(waiting)
    click.echo(draft_outlook(config, store, record.number, state.now(), dry_run=dry_run))
    if dry_run:
        click.echo("(dry run: nothing written)")


@issue.command("list")
@publication_command
def issue_list(state: State) -> None:
    """List issues: number, state, date, how many reviews, subject."""
    records = open_store(state).issues()
    if not records:
        click.echo("no issues yet; 'publisher issue new' composes one")
        return
    config = state.config
    for record in records:
        when = record.sent_at or record.created_at
        click.echo(f"#{record.number:<4} {record.state:<9}  {local_time(when, config)}  "
                   f"{count(len(record.review_ids), 'review')}  {record.subject}")


@issue.command("show")
@click.argument("number", type=int)
@publication_command
def issue_show(state: State, number: int) -> None:
    """Show issue NUMBER: subject, state, reviews and delivery counts."""
    config = state.config
    store = open_store(state)
    record = store.issue(number)
    # An issue that left draft is frozen in the ledger with its reviews: shown from there,
    # without loading every source of the publication to find ten titles.
    frozen = store.frozen_issue(number)
    find: Callable[[str], Review | None] | None = None
    if frozen is not None:
        find = {review.id: review for review in frozen.reviews}.get
    else:
        from ..sources import load_reviews

        try:
            find = load_reviews(config).by_id
        except SourceError as exc:
            click.echo(f"warning: reviews not shown by title: {exc.problems[0]}", err=True)
    click.echo(f"issue #{record.number}: {record.subject}")
    click.echo(f"state: {record.state}" + (" (paused)" if record.paused_reason else ""))
    if record.paused_reason:
        click.echo(f"paused: {record.paused_reason}; 'publisher issue send {number}' resumes")
    click.echo(f"created: {local_time(record.created_at, config)}")
    if record.slot is not None:
        click.echo(f"slot: {local_time(record.slot, config)}")
    if record.sent_at is not None:
        click.echo(f"sent: {local_time(record.sent_at, config)}")
    released = (" (released when the issue was cancelled)"
                if record.state == IssueState.CANCELLED else "")
    click.echo(f"reviews ({len(record.review_ids)}){released}:")
    for position, review_id in enumerate(record.review_ids, 1):
        review = find(review_id) if find is not None else None
        if review is None:
            missing = " (no longer in the sources)" if find is not None else ""
            click.echo(f"  {position}. {review_id}{missing}")
        else:
            click.echo(f"  {position}. {review.title} ({review.reviewer}, "
                       f"{review.date:%Y-%m-%d})  {review_id}")
    counts = store.delivery_counts(number)
    total = sum(counts.values())
    detail = ", ".join(f"{n} {status}" + (": left the list" if status == SKIPPED else "")
                       for status, n in counts.items() if n)
    click.echo(f"deliveries: {total}" + (f" ({detail})" if detail else ""))
    if counts[DeliveryStatus.SENDING]:
        from ..pipeline.lock import file_lock_holder

        # On SQLite the sender at work holds the publication's lock: what it has on the wire
        # is its to record, as other workers' are on PostgreSQL; not in doubt.
        holder = None if store.postgres else file_lock_holder(config.paths.lock)
        flying = store.in_flight(number, lock_holder=holder)
        if flying:
            click.echo(f"in flight: {sum(flying.values())} with "
                       f"{count(len(flying), 'sender')} at work ({', '.join(sorted(flying))})")
        if counts[DeliveryStatus.SENDING] > sum(flying.values()):
            from ..pipeline.send import ambiguous_line  # the engine: only when there is doubt

            click.echo(ambiguous_line(store, number, lock_holder=holder))


@issue.command("cancel")
@click.argument("number", type=int)
@publication_command
def issue_cancel(state: State, number: int) -> None:
    """Cancel draft issue NUMBER before sending starts; its reviews are released for the next
    issue. (Its number is not reused.)"""
    record = open_store(state).cancel_issue(number, now=state.now())
    # "released", not "will go into the next issue": the next one is composed afresh, so a
    # review made a draft since, or not written yet (Review.unwritten), is left out of it.
    held = len(record.review_ids)
    click.echo(f"cancelled issue #{number}; its {count(held, 'review')} "
               f"{'is' if held == 1 else 'are'} released for the next issue")


@issue.command("send")
@click.argument("number", type=int)
@click.option("--dry-run", is_flag=True, help="Say what would be sent, and send nothing.")
@click.option("--to", "address", metavar="ADDRESS",
              help="Send one test copy to ADDRESS; nothing is queued or recorded.")
@publication_command
def issue_send(state: State, number: int, dry_run: bool, address: str | None) -> int:
    """Queue issue NUMBER for every active subscriber and deliver it."""
    from ..pipeline import send
    from ..pipeline.preflight import sending_secret
    from ..pipeline.rehearsal import refuse_future_clock

    config, now = state.config, state.now()
    store = open_store(state)
    if dry_run:
        catalog = _sources_unless_frozen(config, store, number)
        lines, problems = send.plan(config, store, number, now=now, catalog=catalog)
        for line in lines:
            click.echo(line)
        return _problems(problems)
    refuse_future_clock(state.config, state.fixed_now)
    secret = sending_secret(config, store)
    catalog = _sources_unless_frozen(config, store, number)
    if address is not None:
        reply = send.send_test(config, store, number, address, secret=secret, now=now,
                               catalog=catalog)
        click.echo(f"sent a test copy of issue #{number} to {address}: {reply}")
        return 0
    report, site_problems = send.deliver_published(
        config, store, number, now=now, secret=secret, catalog=catalog,
        progress=terminal_progress(f"issue #{number}"), echo=click.echo, resume=True)
    return _problems([*site_problems, *report.problems(number)])


def _sources_unless_frozen(config: Config, store: Store, number: int) -> Catalog | None:
    """The review sources; None when they do not load but issue ``number`` is frozen, which
    needs none of them (a warning says so): a half-written review does not hold up an issue
    being sent, as it does not in ``publisher run``."""
    from ..sources import load_reviews

    try:
        return load_reviews(config)
    except SourceError as exc:
        if store.frozen_digest(number) is None:
            raise
        click.echo(f"warning: {first_line(exc)}; issue #{number} is frozen and goes out as it "
                   "is", err=True)
        return None


def _problems(lines: list[str]) -> int:
    """Each line a person must act on, on stderr; the exit code (the rule ``run`` follows)."""
    for line in lines:
        click.echo(f"error: {line}", err=True)
    return 1 if lines else 0


@issue.command("resend-ambiguous")
@click.argument("number", type=int)
@publication_command
def issue_resend_ambiguous(state: State, number: int) -> int:
    """Send again, on purpose, the deliveries of NUMBER whose fate is unknown (some recipients
    may receive a second copy)."""
    from ..pipeline import send
    from ..pipeline.preflight import sending_secret
    from ..pipeline.rehearsal import refuse_future_clock

    config = state.config
    refuse_future_clock(state.config, state.fixed_now)
    store = open_store(state)
    report = send.resend_ambiguous(config, store, number, now=state.now(),
                                   secret=sending_secret(config, store),
                                   catalog=_sources_unless_frozen(config, store, number),
                                   progress=terminal_progress(f"issue #{number}"),
                                   echo=click.echo)
    return _problems(report.problems(number))


@issue.command("settle-ambiguous")
@click.argument("number", type=int)
@publication_command
def issue_settle_ambiguous(state: State, number: int) -> None:
    """Record NUMBER's ambiguous deliveries as delivered, without sending them again (when the
    relay's logs show they went out)."""
    from ..pipeline import send

    store = open_store(state)
    settled = send.settle_ambiguous(state.config, store, number, now=state.now())
    record = store.issue(number)
    click.echo(f"issue #{number}: {settled} ambiguous deliver{'y' if settled == 1 else 'ies'} "
               f"recorded as delivered; the issue is {record.state}")
