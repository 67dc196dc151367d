"""Deliver an issue to its subscribers, exactly once each, over N parallel connections.

How "never twice" holds: the main thread is the only one that touches the ledger. It claims
deliveries (queued → sending, committed) BEFORE handing their messages to the sender threads, and
records each outcome when the sender reports it: ``sent`` only after the server's 250. A crash
leaves the claimed-but-unconfirmed deliveries in ``sending``: ambiguous, never resent by a later
run, only by ``publisher issue resend-ambiguous N``. Claims are taken ``CLAIM_BATCH`` at a time in
one transaction (see the note there), and at most ``2 * (connections + CLAIM_BATCH)`` are claimed
and unconfirmed at any moment (24 with 4 connections), so a crash makes at most that many
ambiguous.

What each reply does (transports.py classifies them):

- 250: sent.  4xx: back to the queue with exponential backoff (retry_base_seconds * 2**attempts);
  after give_up_hours since the delivery was queued it fails (not bounced).
- 5.1.x / 550 / 551 / 553 at RCPT: failed, subscriber bounced (later issues skip them).
- 5.7.x / 554 (policy): stop sending this issue — release what is not yet sent, report
  ``paused`` — and suppress nobody. The pause is kept in the ledger: later runs leave the issue
  alone until ``publisher issue send N`` resumes it.
- Lost connection after DATA: ambiguous (left in ``sending``) and counted.
- TransportError (refused connection, TLS or authentication failure): release everything not
  sent and raise it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .compose import issue_from_record
from .config import Config
from .digest import render_digest
from .errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    PolicyDeliveryError,
    PublisherError,
    TemporaryDeliveryError,
    TransportError,
)
from .mail import MessageTemplate
from .models import Issue, Subscriber
from .sources import Catalog
from .store import DeliveryRecord, Store
from .transports import Session, Transport, transport_from_url

#: Deliveries claimed per transaction. Every claim is a committed (fsynced: synchronous=FULL)
#: SQLite transaction of about 1 ms, as is every ``mark_sent``; claiming one at a time made the
#: ledger, not SMTP, the bottleneck (bench/deliver.py: about 1.8x slower with 1 than with 8).
#: The price: a crash can leave the claimed-but-unsent part of a group ambiguous too.
CLAIM_BATCH = 8

#: Outcomes recorded per transaction at most (the 250s, with Store.mark_sent_many): a crash
#: before the commit leaves those sent messages ambiguous, never resent.
RECORD_BATCH = 32

#: How many ambiguous addresses the summary names before "and N more".
_LIST_AMBIGUOUS = 10


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery run did. ``ambiguous`` counts every delivery of the issue left in
    ``sending`` (this run's lost connections and earlier crashes); ``paused`` is one line when a
    policy reply (5.7.x) stopped the run."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    bounced: int = 0
    ambiguous: int = 0
    paused: str | None = None
    waiting: int = 0  # queued for a later try
    state: str = ""  # the issue's state afterwards

    def summary(self, number: int, where: str, seconds: float) -> str:
        line = (f"issue #{number}: {self.sent} sent, {self.retried} to retry later, "
                f"{self.bounced} bounced, {self.failed} failed, {self.ambiguous} ambiguous "
                f"via {where} in {seconds:.1f} s")
        if self.state == "sent":
            line += f"; issue #{number} is sent"
        elif self.waiting:
            line += f"; {self.waiting} waiting for a retry"
        return line


# --- preparing an issue -----------------------------------------------------------------------


def _message_template(config: Config, issue: Issue, *, secret: str,
                      now: datetime) -> MessageTemplate:
    return MessageTemplate.from_digest(render_digest(issue, config), config, secret=secret,
                                       date=now)


def _subscriber(record: DeliveryRecord) -> Subscriber:
    return Subscriber(email=record.email, name=record.name, id=record.subscriber_id)


# --- the senders ------------------------------------------------------------------------------


class _NotSent(Exception):
    """The run stopped before this message was handed to the server."""


class _Unknown(Exception):
    """An unexpected error while sending: whether the message went out is unknown."""


class _Pacer:
    """A shared rate limit: messages per minute across every connection (0: none)."""

    def __init__(self, per_minute: int):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            slot = max(self._next, time.monotonic())
            self._next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)


@dataclass
class _Job:
    record: DeliveryRecord
    message: bytes


class _Shared:
    """What the sender threads share: the stop flag; a gate so that only one of them tries the
    first connection (a wrong password is tried once, not once per connection); and how many
    are still working, so that a relay refusing a second connection leaves the others going."""

    def __init__(self, senders: int) -> None:
        self.stop = threading.Event()
        self.gate = threading.Event()
        self.connected = False  # some connection opened: the relay and credentials are fine
        self.notes: list[str] = []
        self._alive = senders
        self._lock = threading.Lock()
        self._opener_taken = False

    def first_open(self) -> bool:
        """True for the one sender that opens the first connection; the others wait for it and
        get _NotSent if it failed."""
        with self._lock:
            if not self._opener_taken:
                self._opener_taken = True
                return True
        self.gate.wait()
        if self.stop.is_set():
            raise _NotSent()
        return False

    def opened(self, ok: bool) -> None:
        if ok:
            self.connected = True
        else:
            self.stop.set()
        self.gate.set()

    def leave(self, reason: str) -> bool:
        """True if this sender may stop and leave its job to the others: some connection works
        and another sender is still at it. The last one never leaves, so jobs never strand."""
        with self._lock:
            if self.connected and self._alive > 1 and not self.stop.is_set():
                self._alive -= 1
                self.notes.append(reason)
                return True
        return False


def _sender(transport: Transport, envelope_from: str, jobs: queue.Queue[_Job | None],
            results: queue.Queue[tuple[_Job, str | BaseException]], shared: _Shared,
            pacer: _Pacer, session_messages: int) -> None:
    """One connection: send jobs until the None sentinel; every job gets exactly one result."""
    stack = ExitStack()
    session: Session | None = None
    in_session = 0
    first, opener = True, False
    try:
        while (job := jobs.get()) is not None:
            outcome: str | BaseException
            try:
                if shared.stop.is_set():
                    raise _NotSent()
                if session is None:
                    if first:
                        opener = shared.first_open()
                    try:
                        session = stack.enter_context(transport.session())
                    except DeliveryError:
                        if opener:
                            shared.opened(False)
                        raise
                    except Exception as exc:  # not a transport failure we know: say what
                        if opener:
                            shared.opened(False)
                        raise TransportError(f"{transport.description}: cannot open a "
                                             f"connection: {type(exc).__name__}: {exc}") from exc
                    if opener:
                        shared.opened(True)
                    first, opener, in_session = False, False, 0
                pacer.wait()
                try:
                    outcome = session.send(envelope_from, job.record.email, job.message)
                except DeliveryError:
                    raise
                except Exception as exc:  # after the message may have gone: not knowable
                    raise _Unknown(f"{type(exc).__name__}: {exc}") from exc
                in_session += 1
            except (_NotSent, DeliveryError, _Unknown) as exc:
                outcome = exc
            if isinstance(outcome, TransportError) or in_session >= session_messages:
                stack.close()
                session = None
            # A connection that cannot be had leaves its job to the others; a refusal the server
            # replied (the sender refused: it carries ``reply``) would be the same on any of them.
            if (isinstance(outcome, TransportError) and getattr(outcome, "reply", None) is None
                    and shared.leave(str(outcome))):
                jobs.put(job)  # nothing was sent: another connection takes it
                return
            results.put((job, outcome))
    finally:
        stack.close()


def _render_all(template: MessageTemplate, due: list[DeliveryRecord]
                ) -> Iterator[tuple[DeliveryRecord, bytes | DeliveryError]]:
    """Each delivery with its message, or with the error that stops it being rendered.

    render_many signs DKIM in worker processes, so signing never serialises sending; it cannot
    say which subscriber failed, so after a failure the next one is rendered alone and
    render_many starts again after it.
    """
    start = 0
    while start < len(due):
        try:
            for message in template.render_many(_subscriber(d) for d in due[start:]):
                yield due[start], message
                start += 1
        except DeliveryError:
            record = due[start]
            try:
                yield record, template.render(_subscriber(record))
            except DeliveryError as exc:
                yield record, exc
            start += 1


# --- the run ----------------------------------------------------------------------------------


class _Run:
    """One delivery run of one issue (main thread: ledger; sender threads: SMTP)."""

    def __init__(self, config: Config, store: Store, number: int, *, now: datetime,
                 transport: Transport, template: MessageTemplate, progress: bool):
        self.config, self.store, self.number, self.now = config, store, number, now
        self.transport, self.template, self.progress = transport, template, progress
        self.counts = dict.fromkeys(("sent", "retried", "failed", "bounced"), 0)
        self.pause_reason = ""  # set by the first policy refusal
        self.error: TransportError | None = None
        self.unknown: BaseException | None = None
        self.shared = _Shared(1)  # replaced in run(), once the number of senders is known

    # outcome handling (main thread only) ----------------------------------------------------

    def _record_many(self, batch: list[tuple[_Job, str | BaseException]]) -> None:
        """Record outcomes; the 250s of a batch in one transaction (Store.mark_sent_many)."""
        sent = [(job, outcome) for job, outcome in batch if isinstance(outcome, str)]
        if sent:
            self._record_sent(sent)
        for job, outcome in batch:
            if not isinstance(outcome, str):
                self._record(job, outcome)

    def _record_sent(self, sent: list[tuple[_Job, str]]) -> None:
        """The 250s, however many, in one transaction: one path for one reply or thirty-two."""
        stale = self.store.mark_sent_many(
            [(job.record.id, reply, self.template.message_id(_subscriber(job.record)))
             for job, reply in sent], now=self.now)
        self.counts["sent"] += len(sent) - len(stale)

    def _record(self, job: _Job, outcome: str | BaseException) -> None:
        d, store, now = job.record, self.store, self.now
        if isinstance(outcome, str):
            self._record_sent([(job, outcome)])
        elif isinstance(outcome, TemporaryDeliveryError):
            reply = str(outcome)
            if now - d.created_at >= timedelta(hours=self.config.delivery.give_up_hours):
                store.mark_failed(d.id, now=now, bounced=False, reply=(
                    f"gave up after {self.config.delivery.give_up_hours:g} hours: {reply}"))
                self.counts["failed"] += 1
            else:
                delay = self.config.delivery.retry_base_seconds * 2 ** d.attempts
                store.mark_retry(d.id, now=now, reply=reply,
                                 next_attempt_at=now + timedelta(seconds=delay))
                self.counts["retried"] += 1
        elif isinstance(outcome, PermanentDeliveryError):
            bounce = bool(getattr(outcome, "bounce", False))
            store.mark_failed(d.id, now=now, reply=str(outcome), bounced=bounce)
            self.counts["bounced" if bounce else "failed"] += 1
        elif isinstance(outcome, AmbiguousDeliveryError):
            pass  # stays in sending; the report counts the ledger's ambiguous deliveries
        elif isinstance(outcome, PolicyDeliveryError):
            store.release([d.id], now=now)
            if not self.pause_reason:
                self.pause_reason = (f"the server refused {d.email} for policy reasons "
                                     f"({outcome}); nobody was unsubscribed")
            self.shared.stop.set()
        elif isinstance(outcome, TransportError):
            store.release([d.id], now=now)
            if self.error is None:
                self.error = outcome
            self.shared.stop.set()
        elif isinstance(outcome, _NotSent):
            store.release([d.id], now=now)
        else:  # _Unknown or another DeliveryError: it may have gone out — leave it ambiguous
            if self.unknown is None:
                self.unknown = outcome
            self.shared.stop.set()

    # the loop ----------------------------------------------------------------------------

    def _work(self) -> Iterator[tuple[DeliveryRecord, bytes | DeliveryError]]:
        due = self.store.due_deliveries(self.number, now=self.now)
        self.total = len(due)
        return _render_all(self.template, due)

    def run(self) -> DeliveryReport:
        delivery = self.config.delivery
        connections = max(1, delivery.connections)
        jobs: queue.Queue[_Job | None] = queue.Queue()
        results: queue.Queue[tuple[_Job, str | BaseException]] = queue.Queue()
        pacer = _Pacer(delivery.rate_limit)
        work = self._work()
        window = 2 * (connections + CLAIM_BATCH)  # claimed ahead: senders never wait
        senders = min(connections, max(1, self.total))
        self.shared = _Shared(senders)
        threads = [
            threading.Thread(
                target=_sender, name=f"publisher-sender-{i}", daemon=True,
                args=(self.transport, self.template.envelope_from, jobs, results, self.shared,
                      pacer, max(1, delivery.session_messages)))
            for i in range(senders)
        ]
        in_flight: dict[int, _Job] = {}
        pending: deque[tuple[DeliveryRecord, bytes | DeliveryError]] = deque()
        exhausted = self.total == 0
        bar = _ProgressBar(self.total, f"issue #{self.number}") if self.progress else None
        for thread in threads:
            thread.start()
        try:
            while True:
                while (not exhausted and not self.shared.stop.is_set()
                       and len(in_flight) + CLAIM_BATCH <= window):
                    while len(pending) < CLAIM_BATCH and (item := next(work, None)):
                        pending.append(item)
                    if not pending:
                        exhausted = True
                        break
                    group = []
                    while pending and len(group) < CLAIM_BATCH:
                        record, message = pending.popleft()
                        if isinstance(message, DeliveryError):  # an address we cannot send to
                            self.store.mark_failed(record.id, now=self.now, reply=str(message),
                                                   bounced=False)
                            self.counts["failed"] += 1
                            if bar is not None:
                                bar.advance()
                        else:
                            group.append((record, message))
                    if not group:
                        continue
                    taken = set(self.store.mark_sending([d.id for d, _ in group], now=self.now))
                    for record, message in group:
                        if record.id in taken:  # others were taken by another sender
                            job = _Job(record, message)
                            in_flight[record.id] = job
                            jobs.put(job)
                        elif bar is not None:
                            bar.advance()
                if not in_flight:
                    break
                batch = [results.get()]
                while len(batch) < RECORD_BATCH:
                    try:
                        batch.append(results.get_nowait())
                    except queue.Empty:
                        break
                for job, _ in batch:
                    del in_flight[job.record.id]
                self._record_many(batch)
                if bar is not None:
                    bar.advance(len(batch))
        except BaseException:
            # Interrupted (Ctrl-C, a ledger error): senders finish what they are sending and
            # return the rest unsent, which goes back to the queue; the rest stays ambiguous.
            self.shared.stop.set()
            self._drain(in_flight, results)
            raise
        finally:
            for _ in threads:
                jobs.put(None)
            for thread in threads:
                thread.join()
            work.close()  # stops render_many's workers when the run stopped early
            if bar is not None:
                bar.close()
        return self._finish()

    def _drain(self, in_flight: dict[int, _Job],
               results: queue.Queue[tuple[_Job, str | BaseException]]) -> None:
        deadline = time.monotonic() + self.config.delivery.timeout + 5
        while in_flight and time.monotonic() < deadline:
            try:
                job, outcome = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            in_flight.pop(job.record.id, None)
            try:
                self._record(job, outcome)
            except Exception:  # the ledger itself may be what failed
                break

    def _finish(self) -> DeliveryReport:
        store, number = self.store, self.number
        counts = store.delivery_counts(number)
        ambiguous = counts.get("sending", 0)
        state = store.issue(number).state
        if (self.error is None and not self.pause_reason and self.unknown is None
                and counts.get("queued", 0) == 0 and ambiguous == 0 and state == "sending"):
            state = store.set_issue_state(number, "sent", now=self.now).state
        c = self.counts
        paused = _paused_line(number, self.pause_reason) if self.pause_reason else None
        return DeliveryReport(sent=c["sent"], retried=c["retried"], failed=c["failed"],
                              bounced=c["bounced"], ambiguous=ambiguous, paused=paused,
                              waiting=counts.get("queued", 0), state=state)


class _ProgressBar:
    """A rich progress bar on stderr (only on a terminal: the CLI decides)."""

    def __init__(self, total: int, label: str):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeRemainingColumn(),
                                  console=Console(stderr=True))
        self._task = self._progress.add_task(label, total=total)
        self._progress.start()

    def advance(self, count: int = 1) -> None:
        self._progress.advance(self._task, count)

    def close(self) -> None:
        self._progress.stop()


# --- public API -------------------------------------------------------------------------------


def deliver_issue(config: Config, store: Store, number: int, *, now: datetime, secret: str,
                  catalog: Catalog, progress: bool = False, echo: Callable[[str], Any] = print,
                  transport: Transport | None = None, resume: bool = False) -> DeliveryReport:
    """Deliver issue ``number``: queue it if it is a draft, then send what is due.

    A policy refusal (5.7.x) pauses the issue in the ledger, so that cron runs do not keep
    knocking on a relay that refuses us; a paused issue sends nothing until ``resume`` (what
    ``publisher issue send N`` passes: a person decided the cause is fixed).

    Renders the digest and the message template once. Prints a summary line (and the ambiguous
    deliveries, if any) with ``echo``; a progress bar on stderr when ``progress``. Raises
    TransportError (after releasing everything not sent) when the transport is unusable, and
    PublisherError for a cancelled issue.
    """
    transport = transport or transport_from_url(config)  # a bad URL fails before anything else
    record = store.issue(number)
    if record.state == "cancelled":
        raise PublisherError(f"issue #{number} is cancelled; there is nothing to send")
    if record.state == "sent":
        echo(f"issue #{number} was sent at {record.sent_at:%Y-%m-%d %H:%M %Z}; nothing to do")
        return DeliveryReport(state="sent")
    if record.paused_reason:
        if not resume:
            return DeliveryReport(state=record.state,
                                  paused=_paused_line(number, record.paused_reason))
        store.resume_issue(number)
        echo(f"issue #{number}: resuming after the pause ({record.paused_reason})")
    issue = issue_from_record(record, catalog, config)
    template = _message_template(config, issue, secret=secret, now=now)
    if record.state == "draft":
        store.queue_deliveries(number, now=now)  # draft → sending, in the same transaction
    started = time.monotonic()
    run = _Run(config, store, number, now=now, transport=transport, template=template,
               progress=progress)
    report = run.run()
    if run.pause_reason:
        store.pause_issue(number, run.pause_reason)
    echo(report.summary(number, transport.description, time.monotonic() - started))
    for note in dict.fromkeys(run.shared.notes):
        echo(f"issue #{number}: a connection failed and the others carried on: {note}")
    if report.ambiguous:
        echo(ambiguous_line(store, number))
    if run.error is not None:
        raise run.error
    if run.unknown is not None:
        raise DeliveryError(f"issue #{number}: sending stopped by an unexpected error: "
                            f"{run.unknown}") from run.unknown
    return report


def _paused_line(number: int, reason: str) -> str:
    """The one line a person reads about a paused issue."""
    return (f"issue #{number} paused: {reason}; fix the cause (sender authorisation, reputation, "
            f"content), then 'publisher issue send {number}' resumes it")


def ambiguous_line(store: Store, number: int) -> str:
    """One line naming the ambiguous deliveries of issue ``number`` and what to do about them."""
    records = store.ambiguous_deliveries(number)
    names = ", ".join(r.email for r in records[:_LIST_AMBIGUOUS])
    if len(records) > _LIST_AMBIGUOUS:
        names += f" and {len(records) - _LIST_AMBIGUOUS} more"
    return (f"issue #{number}: {len(records)} ambiguous (the server may or may not have accepted "
            f"them; not resent automatically): {names}; to send them again on purpose run "
            f"'publisher issue resend-ambiguous {number}', or to record them as delivered "
            f"'publisher issue settle-ambiguous {number}'")


def resend_ambiguous(config: Config, store: Store, number: int, *, now: datetime, secret: str,
                     catalog: Catalog, progress: bool = False, echo: Callable[[str], Any] = print,
                     transport: Transport | None = None) -> DeliveryReport:
    """Requeue issue ``number``'s ambiguous deliveries (some recipients may get a second copy)
    and deliver them."""
    transport = transport or transport_from_url(config)
    count = store.requeue_ambiguous(number, now=now)
    echo(f"issue #{number}: requeued {count} ambiguous deliver{'y' if count == 1 else 'ies'}")
    return deliver_issue(config, store, number, now=now, secret=secret, catalog=catalog,
                         progress=progress, echo=echo, transport=transport, resume=True)


def send_test(config: Config, issue: Issue, address: str, *, secret: str, now: datetime,
              transport: Transport | None = None) -> str:
    """Send one copy of ``issue`` to ``address`` and record nothing; returns the server's reply."""
    from email_validator import EmailNotValidError, validate_email

    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise DeliveryError(f"--to {address!r}: {exc}") from None
    transport = transport or transport_from_url(config)
    template = _message_template(config, issue, secret=secret, now=now)
    subscriber = Subscriber(email=address)
    with transport.session() as session:
        return session.send(template.envelope_from, address, template.render(subscriber))


def plan(config: Config, store: Store, number: int, *, now: datetime) -> list[str]:
    """What ``issue send N`` would do, without doing it (``--dry-run``)."""
    transport = transport_from_url(config)
    record = store.issue(number)
    lines = [f"issue #{number} ({record.state}): {record.subject}"]
    if record.state == "draft":
        active = store.subscriber_counts()["active"]
        lines.append(f"would queue {active} deliveries (one per active subscriber) and send "
                     f"them via {transport.description}")
    elif record.state == "sending":
        counts = store.delivery_counts(number)
        due = len(store.due_deliveries(number, now=now))
        lines.append(f"would send {due} due deliveries via {transport.description}; "
                     f"{counts.get('queued', 0) - due} wait for a retry, "
                     f"{counts.get('sent', 0)} sent, {counts.get('sending', 0)} ambiguous")
    else:
        lines.append("nothing to send")
    return lines
