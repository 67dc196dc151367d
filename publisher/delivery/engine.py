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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import Config
from ..errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    PolicyDeliveryError,
    TemporaryDeliveryError,
    TransportError,
)
from ..ledger import Store
from ..models import DeliveryRecord
from ..render.message import MessageTemplate
from .senders import Job, NotSent, Pacer, Shared, sender
from .transports import Transport

#: Deliveries claimed per transaction. Every claim is a committed (fsynced: synchronous=FULL)
#: SQLite transaction of about 1 ms, as is every ``mark_sent``; claiming one at a time made the
#: ledger, not SMTP, the bottleneck (bench/deliver.py: about 1.8x slower with 1 than with 8).
#: The price: a crash can leave the claimed-but-unsent part of a group ambiguous too.
CLAIM_BATCH = 8

#: Outcomes recorded per transaction at most (the 250s, with Store.mark_sent_many): a crash
#: before the commit leaves those sent messages ambiguous, never resent.
RECORD_BATCH = 32


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
            for message in template.render_many(d.subscriber for d in due[start:]):
                yield due[start], message
                start += 1
        except DeliveryError:
            record = due[start]
            try:
                yield record, template.render(record.subscriber)
            except DeliveryError as exc:
                yield record, exc
            start += 1


# --- the run ----------------------------------------------------------------------------------


class Run:
    """One delivery run of one issue (main thread: ledger; sender threads: SMTP)."""

    def __init__(self, config: Config, store: Store, number: int, *, now: datetime,
                 transport: Transport, template: MessageTemplate, progress: bool):
        self.config, self.store, self.number, self.now = config, store, number, now
        self.transport, self.template, self.progress = transport, template, progress
        self.counts = dict.fromkeys(("sent", "retried", "failed", "bounced"), 0)
        self.pause_reason = ""  # set by the first policy refusal
        self.error: TransportError | None = None
        self.unknown: BaseException | None = None
        self.shared = Shared(1)  # replaced in run(), once the number of senders is known

    # outcome handling (main thread only) ----------------------------------------------------

    def _record_many(self, batch: list[tuple[Job, str | BaseException]]) -> None:
        """Record outcomes; the 250s of a batch in one transaction (Store.mark_sent_many)."""
        sent = [(job, outcome) for job, outcome in batch if isinstance(outcome, str)]
        if sent:
            self._record_sent(sent)
        for job, outcome in batch:
            if not isinstance(outcome, str):
                self._record(job, outcome)

    def _record_sent(self, sent: list[tuple[Job, str]]) -> None:
        """The 250s, however many, in one transaction: one path for one reply or thirty-two."""
        stale = self.store.mark_sent_many(
            [(job.record.id, reply, self.template.message_id(job.record.subscriber))
             for job, reply in sent], now=self.now)
        self.counts["sent"] += len(sent) - len(stale)

    def _record(self, job: Job, outcome: str | BaseException) -> None:
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
            bounce = outcome.bounce
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
        elif isinstance(outcome, NotSent):
            store.release([d.id], now=now)
        else:  # Unknown or another DeliveryError: it may have gone out — leave it ambiguous
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
        jobs: queue.Queue[Job | None] = queue.Queue()
        results: queue.Queue[tuple[Job, str | BaseException]] = queue.Queue()
        pacer = Pacer(delivery.rate_limit)
        work = self._work()
        window = 2 * (connections + CLAIM_BATCH)  # claimed ahead: senders never wait
        senders = min(connections, max(1, self.total))
        self.shared = Shared(senders)
        threads = [
            threading.Thread(
                target=sender, name=f"publisher-sender-{i}", daemon=True,
                args=(self.transport, self.template.envelope_from, jobs, results, self.shared,
                      pacer, max(1, delivery.session_messages)))
            for i in range(senders)
        ]
        in_flight: dict[int, Job] = {}
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
                            job = Job(record, message)
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

    def _drain(self, in_flight: dict[int, Job],
               results: queue.Queue[tuple[Job, str | BaseException]]) -> None:
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
        paused = paused_line(number, self.pause_reason) if self.pause_reason else None
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




def paused_line(number: int, reason: str) -> str:
    """The one line a person reads about a paused issue."""
    return (f"issue #{number} paused: {reason}; fix the cause (sender authorisation, reputation, "
            f"content), then 'publisher issue send {number}' resumes it")
