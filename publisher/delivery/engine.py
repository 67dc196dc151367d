"""Deliver one issue's due deliveries, exactly once each, over N parallel connections.

How "never twice" holds: the main thread is the only one that touches the ledger. A delivery is
claimed (queued → sending) in a committed transaction before its message can reach a server, and
recorded when its sender reports the outcome: ``sent`` only after the server's 250. A crash
leaves the claimed-but-unrecorded deliveries in ``sending``: ambiguous, never resent by a later
run, only by ``publisher issue resend-ambiguous N`` (or recorded by ``settle-ambiguous``).

How few are left in doubt: each sender holds one message at a time. When it reports an outcome,
the main thread hands it the next message at once and then, in ONE transaction, records the
outcome and claims the next delivery (several senders' outcomes share a commit when they arrive
together). The sender meanwhile opens the SMTP transaction (MAIL FROM, RCPT TO) and waits before
DATA until that commit is done (the gate in ``senders.py``). So at any moment a sender has at
most one delivery claimed and unrecorded, and a SIGKILL leaves at most one ambiguous delivery per
connection — the message that was in flight — while the commit costs no time on the wire.

What each reply means is ``newsletter.policy``'s decision; this module carries it out:

- sent, retry, give up, fail, bounce: recorded as the policy says.
- pause (5.7.x / 554): stop taking messages, release what is not sent, report ``paused``;
  the pause is kept in the ledger (``pipeline.send``).
- ambiguous (connection lost after DATA): left claimed; an unexpected error after the message
  may have gone is treated the same way and stops the run.
- stop (the transport is unusable): release everything not sent and raise the TransportError.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..config import Config
from ..errors import AmbiguousDeliveryError, DeliveryError, TransportError
from ..ledger import Store
from ..ledger.deliveries import Attempt
from ..models import DeliveryRecord, DeliveryStatus, IssueState
from ..newsletter.policy import Action, Outcome, Retry, decide
from ..render.message import MessageTemplate
from .senders import Job, Left, NotSent, Pacer, Sender, Shared, Unknown
from .session import NotClaimed, Transport

#: Due deliveries are read from the ledger this many at a time (memory stays flat however long
#: the list).
PAGE = 1000


class Progress(Protocol):
    """Where a run reports how far it is (the CLI draws a bar on a terminal)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def close(self) -> None: ...


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
        if self.state == IssueState.SENT:
            line += f"; issue #{number} is sent"
        elif self.waiting:
            line += f"; {self.waiting} waiting for a retry"
        return line


def paused_line(number: int, reason: str) -> str:
    """The one line a person reads about a paused issue."""
    return (f"issue #{number} paused: {reason}; fix the cause (sender authorisation, reputation, "
            f"content), then 'publisher issue send {number}' resumes it")


#: A due delivery with its message, or with the error that stops it being rendered.
_Item = tuple[DeliveryRecord, bytes | DeliveryError]


def _rendered(template: MessageTemplate, due: list[DeliveryRecord]) -> Iterator[_Item]:
    """Each delivery with its message, or with the error that stops it being rendered (an
    address no header can carry)."""
    for record in due:
        try:
            yield record, template.render(record.subscriber)
        except DeliveryError as exc:
            yield record, exc


_COUNTED = {Action.SENT: "sent", Action.RETRY: "retried", Action.GIVE_UP: "failed",
            Action.FAIL: "failed", Action.BOUNCE: "bounced"}


class Run:
    """One delivery run of one issue: the main thread claims and records, senders send."""

    def __init__(self, config: Config, store: Store, number: int, *, now: datetime,
                 transport: Transport, template: MessageTemplate,
                 progress: Progress | None = None, pacer: Pacer | None = None):
        self.config, self.store, self.number, self.now = config, store, number, now
        self.transport, self.template, self.progress = transport, template, progress
        delivery = config.delivery
        self.retry = Retry(base_seconds=delivery.retry_base_seconds,
                           give_up_hours=delivery.give_up_hours)
        self.pacer = pacer or Pacer(delivery.rate_limit)
        self.counts = dict.fromkeys(("sent", "retried", "failed", "bounced"), 0)
        self.pause_reason = ""  # set by the first policy refusal
        self.error: TransportError | None = None
        self.unknown: BaseException | None = None
        self.shared = Shared(1)  # replaced in run(), once the number of senders is known
        # What the next commit records, fails and claims.
        self._attempts: list[Attempt] = []
        self._unsendable: list[tuple[int, str]] = []
        self._tentative: list[Job] = []
        self._returned: deque[_Item] = deque()  # jobs a leaving sender handed back

    # --- the work, a page at a time ----------------------------------------------------------

    def _work(self) -> Iterator[_Item]:
        after = 0
        while True:
            page = self.store.due_deliveries(self.number, now=self.now, limit=PAGE, after=after)
            if not page:
                return
            after = page[-1].id
            yield from _rendered(self.template, page)

    def _next(self, work: Iterator[_Item]) -> tuple[DeliveryRecord, bytes] | None:
        """The next message to send; a delivery whose message cannot be rendered is failed."""
        while True:
            item = self._returned.popleft() if self._returned else next(work, None)
            if item is None:
                return None
            record, message = item
            if isinstance(message, bytes):
                return record, message
            self._unsendable.append((record.id, str(message)))
            self.counts["failed"] += 1
            self._advance(1)

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> DeliveryReport:
        delivery = self.config.delivery
        total = self.store.due_count(self.number, now=self.now)
        count = min(max(1, delivery.connections), max(1, total))
        results: queue.Queue[tuple[int, Job, str | BaseException]] = queue.Queue()
        self.shared = Shared(count)
        senders = [Sender(i, self.transport, self.template.envelope_from, results, self.shared,
                          self.pacer, max(1, delivery.session_messages)) for i in range(count)]
        busy: set[int] = set()
        alive = {sender.index for sender in senders}
        work = self._work()
        if self.progress is not None:
            self.progress.start(total)
        for sender in senders:
            sender.thread.start()
        try:
            for sender in senders:
                if self._assign(sender, work):
                    busy.add(sender.index)
            self._commit()
            while busy:
                batch = [results.get()]
                while len(batch) < count:
                    try:
                        batch.append(results.get_nowait())
                    except queue.Empty:
                        break
                for index, job, outcome in batch:
                    busy.discard(index)
                    self._settle(job, outcome)
                    if isinstance(outcome, Left):  # its connection failed; others carry on
                        alive.discard(index)
                # Every idle sender gets work: the one that reported, and one that ran out
                # earlier when a leaving sender has handed a job back.
                for index in sorted(alive - busy):
                    if self._assign(senders[index], work):
                        busy.add(index)
                self._commit()
                self._advance(len(batch))
        except BaseException:
            # Interrupted (Ctrl-C, a ledger error): senders finish what they are sending and
            # return the rest unsent, which goes back to the queue; the rest stays ambiguous.
            self.shared.stop.set()
            self._drain(busy, results)
            raise
        finally:
            for job in self._tentative:  # a claim that was never committed: never sent
                job.settle_claim(False)
            for sender in senders:
                sender.inbox.put(None)
            for sender in senders:
                sender.thread.join()
            if self.progress is not None:
                self.progress.close()
        return self._finish()

    def _assign(self, sender: Sender, work: Iterator[_Item]) -> bool:
        """Hand ``sender`` its next message, to be claimed at the next commit; False when there
        is none (or the run is stopping)."""
        if self.shared.stop.is_set():
            return False
        item = self._next(work)
        if item is None:
            return False
        job = Job(*item)
        self._tentative.append(job)
        sender.inbox.put(job)
        return True

    def _commit(self) -> None:
        """Record what happened and claim what was handed out, in one transaction; then open
        the senders' gates."""
        jobs, self._tentative = self._tentative, []
        taken = set(self.store.record(self._attempts, now=self.now,
                                      unsendable=self._unsendable,
                                      claim=[job.record.id for job in jobs]))
        self._attempts, self._unsendable = [], []
        for job in jobs:
            job.settle_claim(job.record.id in taken)

    def _settle(self, job: Job, outcome: str | BaseException) -> None:
        """What to record for one job (at the next commit), and whether the run stops."""
        if not job.taken:
            return  # another sender holds it (or the claim never came): nothing of ours
        record = job.record
        if isinstance(outcome, Left):
            self.shared.notes.append(str(outcome))
            self._release(job)
            self._returned.append((record, job.message))  # for a sender that still works
            return
        if isinstance(outcome, NotSent | NotClaimed):
            self._release(job)
            return
        if isinstance(outcome, Unknown):
            if self.unknown is None:
                self.unknown = outcome
            self.shared.stop.set()
            return  # it may have gone out: left claimed, ambiguous
        assert isinstance(outcome, str | DeliveryError)
        decision = decide(outcome, attempts=record.attempts, queued_at=record.created_at,
                          now=self.now, retry=self.retry)
        if decision.action == Action.AMBIGUOUS and not isinstance(outcome, AmbiguousDeliveryError):
            # A DeliveryError no transport raises, after the message may have gone: stop.
            if self.unknown is None:
                self.unknown = DeliveryError(str(outcome))
            self.shared.stop.set()
        message_id = self.template.message_id(record.subscriber) if isinstance(outcome, str) \
            else ""
        self._attempts.append(Attempt(record.id, record.subscriber_id, decision, message_id))
        if decision.action in _COUNTED:
            self.counts[_COUNTED[decision.action]] += 1
        elif decision.action == Action.PAUSE:
            if not self.pause_reason:
                self.pause_reason = (f"the server refused {record.email} for policy reasons "
                                     f"({outcome}); nobody was unsubscribed; if only that "
                                     f"address is refused, 'publisher subscribers unsubscribe "
                                     f"{record.email}' lets the others get the issue")
            self.shared.stop.set()
        elif decision.action == Action.STOP:
            assert isinstance(outcome, TransportError)
            if self.error is None:
                self.error = outcome
            self.shared.stop.set()

    def _release(self, job: Job) -> None:
        self._attempts.append(Attempt(job.record.id, job.record.subscriber_id,
                                      Outcome(Action.RELEASE, "")))

    def _advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress.advance(count)

    def _drain(self, busy: set[int],
               results: queue.Queue[tuple[int, Job, str | BaseException]]) -> None:
        """After an interruption: record what the senders still report, for a while."""
        for job in self._tentative:
            job.settle_claim(False)
        self._tentative = []
        deadline = time.monotonic() + self.config.delivery.timeout + 5
        try:
            while busy and time.monotonic() < deadline:
                try:
                    index, job, outcome = results.get(
                        timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    break
                busy.discard(index)
                self._settle(job, outcome)
            self._commit()
        except Exception:  # noqa: BLE001 - the ledger itself may be what failed
            pass

    def _finish(self) -> DeliveryReport:
        record = self.store.finish_if_done(self.number, now=self.now)
        counts = self.store.delivery_counts(self.number)
        c = self.counts
        paused = paused_line(self.number, self.pause_reason) if self.pause_reason else None
        return DeliveryReport(sent=c["sent"], retried=c["retried"], failed=c["failed"],
                              bounced=c["bounced"], ambiguous=counts[DeliveryStatus.SENDING],
                              paused=paused, waiting=counts[DeliveryStatus.QUEUED],
                              state=record.state)

