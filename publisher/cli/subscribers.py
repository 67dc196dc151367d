"""``publisher subscribers``: the list, managed by the editor."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from ..files import write_atomic_chunks
from ..ledger import subscribers_csv_lines
from ..models import Subscriber, SubscriberStatus
from ..text import count
from . import State
from .context import open_store, publication_command


@click.group()
def subscribers() -> None:
    """Manage the subscriber list."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="",
              help="The subscriber's name, shown in the To: header of their mail.")
@click.option("--force", is_flag=True,
              help="Subscribe again someone who unsubscribed, bounced or complained.")
@publication_command
def subscribers_add(state: State, email: str, name: str, force: bool) -> None:
    """Add EMAIL to the list (the address is checked, without DNS look-ups)."""
    sub = open_store(state).add_subscriber(email, name, now=state.now(), force=force)
    click.echo(f"subscribed {sub.email}")


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True,
              help="Subscribe again those who unsubscribed, bounced or complained (never "
                   "those who erased their data).")
@publication_command
def subscribers_import(state: State, file: str, force: bool) -> int:
    """Add the subscribers in FILE.csv (a header row naming email and name, then one row each).

    Invalid rows are reported with their line numbers (and the exit code is 1); duplicates are
    skipped; someone who unsubscribed or bounced is not subscribed again without --force.
    """
    report = open_store(state).import_subscribers_csv(Path(file), now=state.now(), force=force)
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    click.echo(report.summary())
    return 1 if report.problems else 0


@subscribers.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@publication_command
def subscribers_export(state: State, file: str | None) -> None:
    """Write every subscriber as CSV to FILE or stdout: email, name, status, source,
    created_at, and their consent (consent_at, consent_ip, consent_form, confirmed_at).

    'subscribers import' reads the file back, keeping unsubscribed and bounced addresses so,
    and when and how each person joined and consented.
    FILE holds personal data: it is written readable by you only (0600). A cell that a
    spreadsheet would run as a formula (=, +, -, @) starts with an apostrophe.
    """
    store = open_store(state)
    written = 0

    def each() -> Iterator[Subscriber]:
        nonlocal written
        for sub in store.each_subscriber():
            written += 1
            yield sub

    # A line at a time, as the ledger gives them a batch at a time: a list of a million
    # never has to fit in memory, as its import does not.
    lines = subscribers_csv_lines(each())
    if file is None or file == "-":
        for text in _joined(lines):
            click.echo(text, nl=False)
    else:
        write_atomic_chunks(Path(file), (text.encode("utf-8") for text in _joined(lines)),
                            mode=0o600)  # personal data
        click.echo(f"wrote {count(written, 'subscriber')} to {file}")


@subscribers.command("list")
@click.option("--status", type=click.Choice([status.value for status in SubscriberStatus]),
              help="Only subscribers with this status.")
@publication_command
def subscribers_list(state: State, status: str | None) -> None:
    """List subscribers: address, status, when and how they joined, name."""
    store = open_store(state)
    # The columns' widths first, so that the rows can be printed as they are read.
    width, source_width = store.subscriber_widths(status)
    tz = state.config.tz

    def rows() -> Iterator[str]:
        for sub in store.each_subscriber(status):
            joined = f"{sub.created_at.astimezone(tz):%Y-%m-%d}" if sub.created_at else "-"
            yield (f"{sub.email:<{width}}  {sub.status:<12}  {joined}  "
                   f"{sub.source:<{source_width}}  {sub.name}".rstrip() + "\n")

    listed = False
    for text in _joined(rows()):
        listed = True
        click.echo(text, nl=False)
    if not listed:
        click.echo(f"no {status + ' ' if status else ''}subscribers")


def _joined(lines: Iterable[str], size: int = 1000) -> Iterator[str]:
    """``lines`` ``size`` at a time, as one text each: a write per line is slow."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)


@subscribers.command("remove")
@click.argument("email")
@publication_command
def subscribers_remove(state: State, email: str) -> None:
    """Forget EMAIL entirely, with its delivery history (to keep someone off the list for good,
    use 'unsubscribe')."""
    open_store(state).remove_subscriber(email)
    click.echo(f"removed {email}")


@subscribers.command("move")
@click.argument("old")
@click.argument("new")
@publication_command
def subscribers_move(state: State, old: str, new: str) -> None:
    """Move OLD's subscription to the address NEW, with its consent, history and queued issues
    (readers do it themselves from their preferences page, confirming the new address)."""
    left, sub = open_store(state).move_subscriber(old, new, now=state.now())
    click.echo(f"moved {left} to {sub.email}")


@subscribers.command("unsubscribe")
@click.argument("email")
@publication_command
def subscribers_unsubscribe(state: State, email: str) -> None:
    """Unsubscribe EMAIL: it stays on record so that no import subscribes it again."""
    sub = open_store(state).set_subscriber_status(email, SubscriberStatus.UNSUBSCRIBED,
                                                  now=state.now())
    click.echo(f"unsubscribed {sub.email}")
