"""Sending an issue: the entry points that send, each under the publication's run lock.

An issue is frozen when it leaves draft: its reviews and its rendered digest are stored in the
ledger (``ledger.snapshot``) in the transaction that queues it, and every later run — retries,
``resend-ambiguous``, test copies — sends that, never the sources as they are by then.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ..config import Config
from ..delivery.engine import DeliveryReport, Progress, Run, paused_line
from ..delivery.transports import Transport, transport_from_url
from ..errors import DeliveryError, Interrupted, PublisherError, StoreError
from ..ledger import Store
from ..models import (
    DeliveryRecord,
    DeliveryStatus,
    IssueRecord,
    IssueState,
    RenderedDigest,
    Subscriber,
)
from ..newsletter.compose import issue_from_record
from ..render.digest import render_digest
from ..render.dkim import DkimSigner
from ..render.lint import check_digest_html
from ..render.message import MessageTemplate
from ..render.sender import Sender
from ..render.site import Site
from ..sources import Catalog
from ..sources.posters import PosterFacts
from .lock import heartbeat, holds_lock, publication_lock
from .preflight import refuse_documentation_settings, sending_secret
from .publish import publish_site

#: How many ambiguous addresses the summary names before "and N more".
_LIST_AMBIGUOUS = 10

Echo = Callable[[str], Any]


def _digest(config: Config, store: Store, record: IssueRecord,
            catalog: Catalog | None, now: datetime) -> tuple[RenderedDigest, bool]:
    """What issue ``record`` sends, and whether that was frozen: the digest frozen when sending
    started, or, for a draft (and an issue being sent since before the ledger froze issues),
    the digest rendered from the sources as they are, a draft dated ``now``. MissingReview
    when a review it holds left the sources, or, for a draft, is not published at ``now``;
    PublisherError when it needs them and they did not load (``catalog`` None: ``publisher
    run`` on broken sources)."""
    frozen = store.frozen_digest(record.number)
    if frozen is not None:
        return frozen, True
    if catalog is None:
        raise PublisherError("not sent yet: a draft is made from the review sources when its "
                             "sending starts, and they have problems (above); the first run "
                             "after they are fixed sends it")
    # An issue already being sent (from before the ledger froze issues) carries on as it began.
    unsent = now if record.state == IssueState.DRAFT else None
    issue = issue_from_record(record, catalog, config, now=unsent)
    if unsent is not None:
        # A draft is dated when its sending starts, not when it was composed: written on
        # Monday for Friday's slot, it goes out saying Friday, and its archive page (which
        # shows the frozen issue) says the same day as every copy of the email.
        issue = replace(issue, date=now)
    return render_digest(issue, Site.from_config(config), PosterFacts(config).facts), False


def _message_template(config: Config, digest: RenderedDigest, *, secret: str,
                      now: datetime) -> MessageTemplate:
    return MessageTemplate.from_digest(digest, Sender.from_config(config), secret=secret,
                                       date=now, signer=DkimSigner.from_config(config))


def deliver_issue(config: Config, store: Store, number: int, *, now: datetime, secret: str,
                  catalog: Catalog | None, progress: Progress | None = None, echo: Echo = print,
                  transport: Transport | None = None, resume: bool = False) -> DeliveryReport:
    """Deliver issue ``number``: freeze and queue it if it is a draft, then send what is due.

    A policy refusal (5.7.x) pauses the issue in the ledger, so that cron runs do not keep
    knocking on a relay that refuses us; a paused issue sends nothing until ``resume`` (what
    ``publisher issue send N`` passes: a person decided the cause is fixed).

    Prints a summary line (and the ambiguous deliveries, if any) with ``echo``; what a person
    must act on is ``report.problems(number)``. Raises TransportError (after releasing everything
    not sent) when the transport is unusable, StoreError when the ledger could not be written
    (after recording what it could), PublisherError for a cancelled issue, LockHeld while another
    run or send holds the publication's lock, ConfigError before anything is frozen or sent
    when real mail would go out from, or unsubscribe at, a domain of documentation
    (``preflight.refuse_documentation_settings``), and Interrupted — once everything in flight
    is recorded — when SIGINT, SIGTERM or SIGHUP stopped the send.
    """
    destination = transport or transport_from_url(config)  # a bad URL fails before all else
    with publication_lock(config, shared=True):  # other workers may send it too (PostgreSQL)
        return deliver(config, store, number, now=now, secret=secret, catalog=catalog,
                       progress=progress, echo=echo, transport=destination, resume=resume)


def deliver_published(config: Config, store: Store, number: int, *, now: datetime,
                      secret: str, catalog: Catalog | None, progress: Progress | None = None,
                      echo: Echo = print, resume: bool = False
                      ) -> tuple[DeliveryReport, list[str]]:
    """``deliver_issue`` as ``publisher run`` sends: the site built first, since the issue links
    to its reviews' pages, which may be new since the last build (else each is a 404 until the
    next one), and again once a copy has gone, for its page in the web archive. With
    ``catalog`` None (the sources do not load) nothing is built. The build's problems come back
    beside the report: a failed build does not hold up the issue (``pipeline.publish``)."""
    problems: list[str] = []

    def build(archive: tuple[int, ...] = ()) -> None:
        if catalog is not None:
            published = publish_site(config, store, catalog, now=now, echo=echo,
                                     archive=archive)
            problems.extend([published.problem] if published.problem else [])

    on_the_web = number in store.web_issue_numbers()
    if not on_the_web:
        build()
    report = deliver_issue(config, store, number, now=now, secret=secret, catalog=catalog,
                           progress=progress, echo=echo, resume=resume)
    if not on_the_web and number in store.web_issue_numbers():
        build(archive=(number,))
    return report, problems


def deliver(config: Config, store: Store, number: int, *, now: datetime, secret: str,
            catalog: Catalog | None, progress: Progress | None = None, echo: Echo = print,
            transport: Transport | None = None, resume: bool = False) -> DeliveryReport:
    """``deliver_issue`` for a caller that already holds the publication's run lock (``run``
    does); PublisherError if it does not. ``catalog`` None: the sources did not load, and only
    an issue already frozen can be sent."""
    if not holds_lock(config):
        raise PublisherError("deliver: the caller must hold the publication's run lock "
                             "(use deliver_issue, which takes it)")
    destination = transport or transport_from_url(config)
    refuse_documentation_settings(config, destination)
    record = store.issue(number)
    if record.state == IssueState.CANCELLED:
        raise PublisherError(f"issue #{number} is cancelled; there is nothing to send")
    if record.state == IssueState.SENT:
        echo(f"issue #{number} was sent at {record.sent_at:%Y-%m-%d %H:%M %Z}; nothing to do")
        return DeliveryReport(state=IssueState.SENT)
    if record.paused_reason:
        if not resume:
            return DeliveryReport(state=record.state,
                                  paused=paused_line(number, record.paused_reason))
        store.resume_issue(number)
        echo(f"issue #{number}: resuming after the pause ({record.paused_reason})")
    digest, frozen = _digest(config, store, record, catalog, now)
    if not frozen:
        # Said once, as sending starts (cron's log): Gmail hides a clipped issue's footer, its
        # unsubscribe link and postal address with it. `publisher check` says it beforehand.
        for warning in check_digest_html(digest.html):
            echo(f"warning: issue #{number}: {warning}")
        store.start_sending(digest, now=now)  # a draft is queued in the same transaction
        # Another worker may have frozen it first, from its own copy of the sources: every
        # worker sends what was frozen.
        digest = store.frozen_digest(number) or digest
    template = _message_template(config, digest, secret=secret, now=now)
    started = time.monotonic()
    run = Run(config, store, number, now=now, transport=destination, template=template,
              progress=_Beating(progress))
    report = run.run()
    if run.pause_reason:
        store.pause_issue(number, run.pause_reason)
    echo(report.summary(number, destination.description, time.monotonic() - started))
    for note in dict.fromkeys(run.shared.notes):
        echo(f"issue #{number}: a connection failed and the others carried on: {note}")
    if report.ambiguous and not run.unrecorded:
        echo(ambiguous_line(store, number))
    if run.store_error is not None:
        raise StoreError(_ledger_failed(number, run.store_error, run.unrecorded, report))
    if run.interrupted is not None:
        raise Interrupted(run.interrupted, _interrupted(number, report))
    if run.error is not None:
        raise run.error
    if run.unknown is not None:
        raise DeliveryError(f"issue #{number}: sending stopped by an unexpected error: "
                            f"{run.unknown}") from run.unknown
    return report


class _Beating:
    """A send's progress, passed on, that beats the run lock's heartbeat with each batch of
    replies: a send paced over days is never taken for a stuck one."""

    def __init__(self, shown: Progress | None):
        self.shown = shown

    def start(self, total: int) -> None:
        heartbeat()
        if self.shown is not None:
            self.shown.start(total)

    def advance(self, count: int) -> None:
        heartbeat()
        if self.shown is not None:
            self.shown.advance(count)

    def note(self, line: str) -> None:
        if self.shown is not None:
            self.shown.note(line)

    def close(self) -> None:
        if self.shown is not None:
            self.shown.close()


def _interrupted(number: int, report: DeliveryReport) -> str:
    """What a stopped send did, for the line the CLI prints."""
    line = f"issue #{number}: sending stopped after {report.sent} sent"
    if report.waiting:
        line += f"; {report.waiting} left queued for the next run"
    if report.ambiguous:
        return line + f"; {report.ambiguous} ambiguous (listed above)"
    return line + "; nothing ambiguous"


def _ledger_failed(number: int, error: StoreError, unrecorded: list[tuple[DeliveryRecord, str]],
                   report: DeliveryReport) -> str:
    """The line for a send the ledger stopped (a full disk, say)."""
    if not unrecorded:
        return (f"issue #{number}: sending stopped: {error}; once it could be written again, "
                f"everything sent so far was recorded; run again to send the "
                f"{report.waiting} left")
    sent = [r.email for r, action in unrecorded if action == "sent"]
    other = [r.email for r, action in unrecorded if action != "sent"]
    facts = "; ".join(part for part in (
        f"the server took {', '.join(sent)}" if sent else "",
        f"{', '.join(other)} never got the message" if other else "") if part)
    return (f"issue #{number}: sending stopped: {error}; the ledger still could not be written "
            f"after waiting, so {len(unrecorded)} deliveries are left ambiguous although "
            f"publisher knows what became of them ({facts}); free space, then settle or resend "
            "them as that says")


def ambiguous_line(store: Store, number: int, *, lock_holder: int | None = None) -> str:
    """One line naming the ambiguous deliveries of issue ``number`` and what to do about them
    (``lock_holder``: the pid of a sender at work, read by one that is not; see
    ``Store.ambiguous_deliveries``)."""
    records = store.ambiguous_deliveries(number, lock_holder=lock_holder)
    names = ", ".join(r.email for r in records[:_LIST_AMBIGUOUS])
    if len(records) > _LIST_AMBIGUOUS:
        names += f" and {len(records) - _LIST_AMBIGUOUS} more"
    return (f"issue #{number}: {len(records)} ambiguous (the server may or may not have accepted "
            f"them; not resent automatically): {names}; to send them again on purpose run "
            f"'publisher issue resend-ambiguous {number}', or to record them as delivered "
            f"'publisher issue settle-ambiguous {number}'")


def resend_ambiguous(config: Config, store: Store, number: int, *, now: datetime, secret: str,
                     catalog: Catalog | None, progress: Progress | None = None, echo: Echo = print,
                     transport: Transport | None = None) -> DeliveryReport:
    """Requeue issue ``number``'s ambiguous deliveries (some recipients may get a second copy)
    and deliver them."""
    destination = transport or transport_from_url(config)
    with publication_lock(config):
        count = store.requeue_ambiguous(number, now=now)
        echo(f"issue #{number}: requeued {count} ambiguous deliver{'y' if count == 1 else 'ies'}")
        return deliver(config, store, number, now=now, secret=secret, catalog=catalog,
                       progress=progress, echo=echo, transport=destination, resume=True)


def settle_ambiguous(config: Config, store: Store, number: int, *, now: datetime) -> int:
    """Record issue ``number``'s ambiguous deliveries as delivered without sending them again
    (a person judged that they went out, e.g. from the relay's logs); returns how many. The
    issue is finished if nothing else is left."""
    with publication_lock(config):
        return store.settle_ambiguous(number, now=now)


def send_test(config: Config, store: Store, number: int, address: str, *, secret: str,
              now: datetime, catalog: Catalog | None, transport: Transport | None = None) -> str:
    """Send one copy of issue ``number`` (as frozen, or as a draft would be sent now) to
    ``address`` and record nothing; returns the server's reply.

    It takes no lock: it touches no delivery in the ledger, so it cannot be mistaken for, or
    mistake, another sender's work, and a test copy can go out while a long send runs."""
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise DeliveryError(f"--to {address!r}: {exc}") from None
    destination = transport or transport_from_url(config)
    digest, _ = _digest(config, store, store.issue(number), catalog, now)
    template = _message_template(config, digest, secret=secret, now=now)
    with destination.session() as session:
        return session.send(template.envelope_from, address,
                            template.render(Subscriber(email=address)))


def plan(config: Config, store: Store, number: int, *, now: datetime, catalog: Catalog | None,
         environ: Mapping[str, str] = os.environ) -> tuple[list[str], list[str]]:
    """What ``issue send N`` would do, without doing it (``--dry-run``): the lines to print,
    and what the send would stop on, one line each (its exit code is non-zero for any): the
    secret, a domain reserved for documentation, and for a draft a review it holds that is
    gone or no longer published (``catalog``: the sources, None when they do not load)."""
    transport = transport_from_url(config)
    record = store.issue(number)
    lines = [f"issue #{number} ({record.state}): {record.subject}"]
    due = 0
    if record.state == IssueState.DRAFT:
        due = store.subscriber_counts()["active"]
        lines.append(f"would queue {due} deliveries (one per active subscriber) and send "
                     f"them via {transport.description}")
    elif record.state == IssueState.SENDING:
        counts = store.delivery_counts(number)
        due = store.due_count(number, now=now)
        lines.append(f"would send {due} due deliveries via {transport.description}; "
                     f"{counts[DeliveryStatus.QUEUED] - due} wait for a retry, "
                     f"{counts[DeliveryStatus.SENT]} sent, "
                     f"{counts[DeliveryStatus.SENDING]} ambiguous")
    else:
        lines.append("nothing to send")
    if not due:
        return lines, []
    problems: list[str] = []
    # The refusals of the send itself, in its order, so that a rehearsal that passes does not
    # send the editor to a send that stops.
    refusals: list[Callable[[], object]] = [
        lambda: sending_secret(config, store, environ),
        lambda: refuse_documentation_settings(config, transport)]
    if record.state == IssueState.DRAFT and catalog is not None:
        refusals.append(lambda: issue_from_record(record, catalog, config, now=now))
    for refusal in refusals:
        try:
            refusal()
        except PublisherError as exc:
            problems.append(str(exc))
    return lines, problems
