"""Deliver one issue's due deliveries, exactly once each, over N parallel connections.

How "never twice" holds: one thread, the recorder, writes the ledger. A delivery is
claimed (queued → sending) in a committed transaction before its message can reach a server, and
recorded when its sender reports the outcome: ``sent`` only after the server's 250. A crash
leaves the claimed-but-unrecorded deliveries in ``sending``: ambiguous, never resent by a later
run, only by ``publisher issue resend-ambiguous N`` (or recorded by ``settle-ambiguous``).

How few are left in doubt: each sender holds one claimed message at a time, and has the next
one already handed to it, made but not claimed. The moment it has a reply it starts sending
that next message and reports; the main thread decides what the reply means, and the recorder
thread writes, in ONE transaction, the outcome and the claim of the next delivery (with whatever
else arrived meanwhile: outcomes and claims of several senders share a commit, and the next
commit starts as soon as one ends). The sender meanwhile sends the whole next message but its
final "." and waits there until that commit is done (the gate: ``senders.py``, ``smtp.py``). An
outcome always goes to the recorder with or before the claim that follows it, so a claim is
never durable before the outcome of the same sender's previous message: at any moment a sender
has at most one delivery claimed and unrecorded, and a SIGKILL leaves at most one ambiguous
delivery per connection — the message that was in flight — while the fsync of each commit
overlaps the messages on the wire instead of stopping them.

The recorder is the only thread that writes the ledger; the main thread reads the due
deliveries a page at a time. Neither waits for the other except where the order above needs it.

What each reply means is ``newsletter.policy``'s decision; this module carries it out:

- sent, retry, give up, fail, bounce: recorded as the policy says.
- pause (5.7.x / 554): stop taking messages, release what is not sent, report ``paused``;
  the pause is kept in the ledger (``pipeline.send``).
- ambiguous (connection lost after the message was sent): left claimed. An unexpected error
  after the message may have gone is treated the same way and stops the run; so do
  UNANSWERED_IN_A_ROW deliveries in a row without an answer from the server (a relay slower
  than ``timeout`` on every message, or one that drops every connection after the data, would
  otherwise leave the whole list in doubt).
- stop (the transport is unusable): release everything not sent and raise the TransportError.
- a bounce before the relay has accepted any message of the issue is retried later like a
  4xx (nobody marked), and BOUNCES_BEFORE_ANY_SENT of them stop the run: a relay that refuses
  every recipient is refusing publisher, in words ``policy.classify`` may not know, and would
  otherwise mark the whole list bounced. Once a message is accepted, bounces are bounces; the
  retried ones bounce for good when their turn comes again.

Stopping midway — a signal, a pause, the ledger failing — always drains: no new claims, each
sender finishes the message it is sending or drops it before its final "." (released), and every
outcome is recorded. SIGINT, SIGTERM and SIGHUP are deferred while a run is under way (``Run.run``
installs its own handlers in the main thread): the signal stops the run and, once the run is
drained and recorded, is raised as ``Interrupted``. A second signal stops waiting for messages in
flight: those whose sender went through its gate are left ambiguous, the others released. When
the ledger cannot be written (``database or disk is full``), the outcomes are kept in memory and
written as soon as it can take them again, for up to LEDGER_WAIT seconds.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..config import Config
from ..errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    StoreError,
    TemporaryDeliveryError,
    TransportError,
)
from ..ledger import Store
from ..ledger.deliveries import Attempt
from ..models import DeliveryRecord, DeliveryStatus, IssueState
from ..newsletter.policy import Action, Outcome, Retry, decide
from ..render.message import MessageTemplate, Rendered
from ..signals import on_stop
from .senders import Job, Left, NotSent, Pacer, Report, Sender, Shared, Unknown
from .session import NotClaimed, Transport

#: Due deliveries are read from the ledger this many at a time (memory stays flat however long
#: the list).
PAGE = 1000
#: A run stops after this many deliveries in a row got no answer from the server: lost or
#: timed out after the message (ambiguous) or twice before it. A relay slower than ``timeout``
#: on every message would otherwise leave the whole list ambiguous, or take hours to say no.
UNANSWERED_IN_A_ROW = 3
#: A run stops after this many bounces with no message of the issue accepted yet (see above).
#: Five bad addresses first in a row is rare on a list that was ever mailed; if it happens,
#: the next run sends the others, and those five bounce for good at their retry.
BOUNCES_BEFORE_ANY_SENT = 5
#: How long a run whose ledger failed (a full disk) keeps trying to record what it knows.
LEDGER_WAIT = 300.0
class Progress(Protocol):
    """Where a run reports how far it is (the CLI draws a bar on a terminal) and what it is
    doing that a person should hear of at once (``note``)."""

    def start(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def note(self, line: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery run did. ``ambiguous`` counts every delivery of the issue left in
    ``sending`` (this run's lost connections and earlier crashes); ``gave_up`` those of
    ``failed`` that were retried until give_up_hours. Three lines a person must read: ``paused``
    when a policy reply (5.7.x) stopped the run, ``halted`` when deliveries without an answer
    from the server in a row did (or bounces before any message was accepted),
    ``abandoned`` when deliveries were given up on."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    bounced: int = 0
    ambiguous: int = 0
    paused: str | None = None
    waiting: int = 0  # still queued: for a retry, or not tried yet (a stop, a pause)
    #: Deliveries other live senders have reserved or in flight (PostgreSQL), and how many
    #: senders: theirs to send and record, neither waiting nor in doubt.
    elsewhere: int = 0
    senders: int = 0
    state: str = ""  # the issue's state afterwards
    gave_up: int = 0
    halted: str | None = None
    abandoned: str | None = None

    def problems(self, number: int) -> list[str]:
        """What a person must act on after this run of issue ``number``, one line each. The one
        rule of every command that sends (``run``, ``issue send``, ``issue resend-ambiguous``):
        any line here makes its exit code non-zero."""
        lines = [line for line in (self.paused, self.halted, self.abandoned) if line]
        if self.ambiguous:
            lines.append(ambiguous_problem(number, self.ambiguous))
        return lines

    def summary(self, number: int, where: str, seconds: float) -> str:
        failed = f"{self.failed} failed"
        if self.gave_up:
            failed += f" ({self.gave_up} given up after retrying)"
        line = (f"issue #{number}: {self.sent} sent, {self.retried} to retry later, "
                f"{self.bounced} bounced, {failed}, {self.ambiguous} ambiguous "
                f"via {where} in {seconds:.1f} s")
        if self.state == IssueState.SENT:
            return line + f"; issue #{number} is sent"
        if self.elsewhere:
            who = "another sender" if self.senders == 1 else f"{self.senders} other senders"
            line += f"; {self.elsewhere} being sent by {who}"
        if self.waiting:
            line += f"; {self.waiting} still queued"
        return line


def ambiguous_problem(number: int, count: int) -> str:
    """The one line a person reads while deliveries of issue ``number`` are ambiguous."""
    return (f"issue #{number}: {count} deliver{'y is' if count == 1 else 'ies are'} ambiguous "
            "(a send was interrupted); decide, then run "
            f"'publisher issue resend-ambiguous {number}' to send them again or "
            f"'publisher issue settle-ambiguous {number}' to record them as delivered")


#: How the reason for a pause that ``publisher restore`` sets begins (``pipeline.backup``):
#: its reason says what to do, the policy refusal's hint below does not apply.
RESTORED_PAUSE = "the ledger was restored from a backup"


def paused_line(number: int, reason: str) -> str:
    """The one line a person reads about a paused issue."""
    if reason.startswith(RESTORED_PAUSE):
        return f"issue #{number} paused: {reason}"
    return (f"issue #{number} paused: {reason}; fix the cause (sender authorisation, reputation, "
            f"content), then 'publisher issue send {number}' resumes it")


def stopping_line(signum: int, in_flight: int, timeout: float) -> str:
    """What a send says the moment it takes its first stop signal with ``in_flight`` messages
    on the wire (``Run._note_stopping``): the final line comes only once they are answered."""
    name = signal.Signals(signum).name
    again = "press Ctrl-C again" if signum == signal.SIGINT else f"send {name} again"
    them = "it" if in_flight == 1 else "them"
    return (f"{name} taken: stopping once the {in_flight} message"
            f"{' being sent is' if in_flight == 1 else 's being sent are'} answered (up to "
            f"{timeout:g} s); {again} to stop at once, which may leave {them} ambiguous")


#: A due delivery with its message, or with the error that stops it being rendered.
_Item = tuple[DeliveryRecord, Rendered | DeliveryError]


def _rendered(template: MessageTemplate, due: list[DeliveryRecord]) -> Iterator[_Item]:
    """Each delivery with its message, or with the error that stops it being rendered (an
    address no header can carry)."""
    for record in due:
        try:
            yield record, template.personalise(record.subscriber)
        except DeliveryError as exc:
            yield record, exc


_COUNTED = {Action.SENT: "sent", Action.RETRY: "retried", Action.GIVE_UP: "failed",
            Action.FAIL: "failed", Action.BOUNCE: "bounced"}

#: What the main thread waits on: a sender's report, or None (a signal arrived).
_Results = queue.SimpleQueue[Report | None]


class _Recorder:
    """The thread that writes the ledger during a run: it commits, back to back, the outcomes
    the run has to record and the claims of what it has handed out, then opens those jobs'
    gates. When the ledger fails (a full disk) it stops the run (``on_error``), refuses every
    later claim and keeps the outcomes for ``Run._record_when_possible``."""

    def __init__(self, store: Store, now: datetime, on_error: Callable[[], None]):
        self._store, self._now, self._on_error = store, now, on_error
        self._wake = threading.Condition()
        self._outcomes: list[tuple[Attempt, DeliveryRecord]] = []
        self._unsendable: list[tuple[int, str]] = []
        self._claims: list[Job] = []
        self._closing = False
        self.error: StoreError | None = None
        self._crash: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="publisher-recorder", daemon=True)
        self.thread.start()

    def submit(self, outcomes: list[tuple[Attempt, DeliveryRecord]],
               unsendable: list[tuple[int, str]], claims: list[Job]) -> None:
        """Queue outcomes to record, queued deliveries that cannot be sent at all (their
        message cannot be made) and jobs to claim, for the next commit, all at once: a claim
        never goes into an earlier commit than an outcome submitted with it or before it."""
        with self._wake:
            self._outcomes.extend(outcomes)
            self._unsendable.extend(unsendable)
            if self._crash is None:
                self._claims.extend(claims)
                claims = []
            self._wake.notify()
        for job in claims:
            job.settle_claim(False)  # nobody is left to make the claim

    def _ready(self) -> bool:
        return bool(self._claims or self._closing
                    or (self.error is None and (self._outcomes or self._unsendable)))

    def _run(self) -> None:
        try:
            while True:
                with self._wake:
                    self._wake.wait_for(self._ready)
                    jobs, self._claims = self._claims, []
                    closing, failed = self._closing, self.error is not None
                    outcomes: list[tuple[Attempt, DeliveryRecord]] = []
                    unsendable: list[tuple[int, str]] = []
                    if not failed:
                        outcomes, self._outcomes = self._outcomes, []
                        unsendable, self._unsendable = self._unsendable, []
                if failed or closing:
                    # No claim once the ledger failed, nor once the run is over: a job handed
                    # out then is in no one's hands (a forced stop), and must stay queued.
                    for job in jobs:
                        job.settle_claim(False)
                    jobs = []
                if outcomes or unsendable or jobs:
                    self._commit(outcomes, unsendable, jobs)
                elif closing:
                    return
        except BaseException as exc:  # a bug: say so where the run can see it
            with self._wake:
                self._crash = exc
                jobs, self._claims = self._claims, []
            for job in jobs:
                job.settle_claim(False)
            self._on_error()
            raise

    def _commit(self, outcomes: list[tuple[Attempt, DeliveryRecord]],
                unsendable: list[tuple[int, str]], jobs: list[Job]) -> None:
        try:
            taken = set(self._store.record([a for a, _ in outcomes], now=self._now,
                                           unsendable=unsendable,
                                           claim=[job.record.id for job in jobs]))
        except StoreError as exc:
            with self._wake:
                self.error = exc
                # Keep them, in their order, before anything that arrived meanwhile.
                self._outcomes[:0] = outcomes
                self._unsendable[:0] = unsendable
            self._on_error()
            taken = set()
        for job in jobs:
            job.settle_claim(job.record.id in taken)

    def close(self) -> None:
        """Commit what is queued (unless the ledger failed), then end the thread."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self.thread.join()
        if self._crash is not None:
            raise self._crash

    def pending(self) -> tuple[list[tuple[Attempt, DeliveryRecord]], list[tuple[int, str]]]:
        """What the ledger has not taken (after ``close``)."""
        return self._outcomes, self._unsendable


class Run:
    """One delivery run of one issue: the main thread decides and hands out messages, the
    recorder thread claims and records, senders send."""

    def __init__(self, config: Config, store: Store, number: int, *, now: datetime,
                 transport: Transport, template: MessageTemplate,
                 progress: Progress | None = None, pacer: Pacer | None = None,
                 ledger_wait: float | None = None):
        self.config, self.store, self.number, self.now = config, store, number, now
        self.transport, self.template, self.progress = transport, template, progress
        delivery = config.delivery
        self.retry = Retry(base_seconds=delivery.retry_base_seconds,
                           give_up_hours=delivery.give_up_hours)
        self.pacer = pacer or Pacer(delivery.rate_limit, reserve=store.rate_reserver())
        self.ledger_wait = LEDGER_WAIT if ledger_wait is None else ledger_wait
        self.counts = dict.fromkeys(("sent", "retried", "failed", "bounced", "gave_up"), 0)
        self.pause_reason = ""  # set by the first policy refusal
        self.halted = ""  # set when deliveries without an answer in a row stopped the run, or
        # bounces before any message was accepted (_not_yet_a_bounce)
        self.error: TransportError | None = None
        self.unknown: BaseException | None = None
        #: The ledger failed (a full disk): the first error a commit met, if any.
        self.store_error: StoreError | None = None
        #: What the ledger could not take even after waiting: (delivery, what became of it).
        self.unrecorded: list[tuple[DeliveryRecord, str]] = []
        #: The first stop signal received (SIGINT, SIGTERM, SIGHUP), and how many arrived.
        self.interrupted: int | None = None
        self._signals = 0
        self._stop_noted = False  # the line saying the first signal was taken (_note_stopping)
        self._in_a_row = 0  # deliveries without an answer since the server last replied
        self._last_given_up = ""  # the reply to the last delivery given up on
        #: Whether the relay has accepted a message of this issue, in this run or before it.
        self._trusted = False
        self._refused = 0  # bounces retried while it had not (see above)
        self.shared = Shared(1)  # replaced in run(), once the number of senders is known
        self._results: _Results = queue.SimpleQueue()
        self._recorder: _Recorder | None = None
        self._returned: deque[_Item] = deque()  # jobs a leaving sender handed back
        # For the recorder, submitted together once per turn of the loop (``_submit``).
        self._outcomes: list[tuple[Attempt, DeliveryRecord]] = []
        self._unsendable: list[tuple[int, str]] = []
        self._claims: list[Job] = []

    @property
    def recorder(self) -> _Recorder:
        assert self._recorder is not None, "only while the run runs"
        return self._recorder

    # --- the work, a page at a time ----------------------------------------------------------

    def _work(self) -> Iterator[_Item]:
        after = 0
        while True:
            # On PostgreSQL this reserves the page for this worker (several may share the issue).
            page = self.store.take_due(self.number, now=self.now, limit=PAGE, after=after)
            if not page:
                return
            after = page[-1].id
            yield from _rendered(self.template, page)

    def _next(self, work: Iterator[_Item]) -> tuple[DeliveryRecord, Rendered] | None:
        """The next message to send; a delivery whose message cannot be rendered is failed."""
        while True:
            item = self._returned.popleft() if self._returned else next(work, None)
            if item is None:
                return None
            record, message = item
            if isinstance(message, Rendered):
                return record, message
            self._unsendable.append((record.id, str(message)))
            self.counts["failed"] += 1
            self._advance(1)

    # --- signals -------------------------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        # Runs in the main thread between two bytecodes, perhaps while it holds a lock: it only
        # counts and wakes the loop (SimpleQueue.put is reentrant).
        self._signals += 1
        if self.interrupted is None:
            self.interrupted = signum
        self._results.put(None)

    def _note_stopping(self, handed: dict[int, deque[Job]]) -> None:
        """Once, when the first stop signal is taken with messages on the wire: say so at
        once. Their answers may take up to the delivery timeout, and a person who pressed
        Ctrl-C (or an operator reading the log of a service being stopped) must see that the
        signal was heard, what it waits for, and how not to wait."""
        in_flight = sum(1 for jobs in handed.values() if jobs)
        if self._stop_noted or self.progress is None or not in_flight:
            return
        self._stop_noted = True
        self.progress.note(stopping_line(self.interrupted or signal.SIGTERM, in_flight,
                                         self.config.delivery.timeout))

    def _stop(self) -> None:
        # Called from the recorder thread when the ledger fails: wake the loop as a signal does.
        self.shared.stop.set()
        self._results.put(None)

    # --- the loop ----------------------------------------------------------------------------

    def run(self) -> DeliveryReport:
        delivery = self.config.delivery
        total = self.store.due_count(self.number, now=self.now)
        self._trusted = self.store.delivery_counts(self.number)[DeliveryStatus.SENT] > 0
        count = min(max(1, delivery.connections), max(1, total))
        results = self._results
        self.shared = Shared(count)
        senders = [Sender(i, self.transport, self.template.envelope_from, results, self.shared,
                          self.pacer, max(1, delivery.session_messages)) for i in range(count)]
        # Per sender, the jobs handed to it and not yet reported: the first is its own (claimed
        # with the commit that follows the handing), a second waits behind it, made and handed
        # but not claimed, so that the sender goes on the moment it has a reply.
        handed: dict[int, deque[Job]] = {sender.index: deque() for sender in senders}
        alive = {sender.index for sender in senders}
        work = self._work()
        if self.progress is not None:
            self.progress.start(total)
        forced = False
        with on_stop(self._on_signal):  # deferred: see the module's docstring
            self._recorder = recorder = _Recorder(self.store, self.now, self._stop)
            for sender in senders:
                sender.thread.start()
            try:
                for sender in senders:
                    self._top_up(sender, handed[sender.index], work)
                self._submit()
                while any(handed.values()):
                    batch = self._wait(results, count)
                    if self._signals:
                        self.shared.stop.set()
                        if self._signals > 1:  # asked twice: stop waiting for the wire
                            forced = True
                            break
                        self._note_stopping(handed)
                    done = 0
                    for index, job, outcome in batch:
                        jobs = handed[index]
                        assert jobs and jobs[0] is job, "a sender reports its jobs in order"
                        jobs.popleft()
                        done += self._settle(job, outcome)
                        if isinstance(outcome, Left):  # its connection failed; others go on
                            alive.discard(index)
                            for left in jobs:  # never claimed: for the others
                                left.settle_claim(False)
                                self._returned.append((left.record, left.message))
                            jobs.clear()
                        elif jobs:  # the job waiting behind becomes the sender's own
                            self._claim(jobs[0])
                    if self.shared.stop.is_set():
                        self._refuse_waiting(handed)
                    # Every sender that still works gets its jobs: the one that reported, and
                    # one that ran out earlier when a leaving sender has handed jobs back.
                    for index in sorted(alive):
                        self._top_up(senders[index], handed[index], work)
                    self._submit()
                    self._advance(done)
            except BaseException:
                # A bug: senders finish what they are sending and return the rest unsent;
                # what was in flight stays ambiguous.
                self.shared.stop.set()
                self._drain(handed, results)
                raise
            finally:
                self._refuse_waiting(handed)
                for sender in senders:
                    sender.inbox.put(None)
                if forced:  # nobody will hear how these went: they must not be claimed now
                    for job in self._claims:
                        job.settle_claim(False)
                    self._claims = []
                self._submit()
                recorder.close()
                if forced:
                    self._release_unsent(handed)
                else:
                    for sender in senders:
                        sender.thread.join()
                self._end_leases()
                if self.progress is not None:
                    self.progress.close()
            self.store_error = recorder.error
            if self.store_error is not None:
                self._record_when_possible()
        try:
            return self._finish()
        except StoreError:
            if self.store_error is None:
                raise
        # The ledger is still failing: what this run did, as far as it knows.
        return self._report(ambiguous=len(self.unrecorded), waiting=0,
                            state=IssueState.SENDING)

    def _release_unsent(self, handed: dict[int, deque[Job]]) -> None:
        """After a forced stop: a claimed message whose sender never went through its gate
        (stuck on a silent greeting, say) cannot have reached a server; its claim goes back
        to the queue instead of being left in doubt. Those past the gate stay ambiguous."""
        unsent = [jobs[0] for jobs in handed.values()
                  if jobs and jobs[0].claimed.is_set() and jobs[0].taken and jobs[0].revoke()]
        if not unsent:
            return
        try:
            self.store.record([_released(job) for job in unsent], now=self.now)
        except StoreError:
            pass  # the ledger is failing: left claimed, they are ambiguous, never resent

    def _end_leases(self) -> None:
        """What this worker reserved and did not send is the other workers' to take now, and
        what it leaves in ``sending`` is ambiguous to all (``DeliveryStore.end_leases``)."""
        try:
            self.store.end_leases(self.number)
        except Exception:  # noqa: BLE001 - the ledger may be what failed; the lease lapses
            pass

    def _wait(self, results: _Results, count: int) -> list[Report]:
        """The next report (waiting for it), with any others already there; [] when woken by
        a signal or by the ledger failing."""
        first = results.get()
        batch = [] if first is None else [first]
        while len(batch) < 2 * count:
            try:
                item = results.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                batch.append(item)
        return batch

    def _top_up(self, sender: Sender, jobs: deque[Job], work: Iterator[_Item]) -> None:
        """Hand ``sender`` jobs until it has its own and one waiting behind it (none once the
        run is stopping or the work is done)."""
        while len(jobs) < 2 and not self.shared.stop.is_set():
            item = self._next(work)
            if item is None:
                return
            job = Job(*item)
            sender.inbox.put(job)
            if not jobs:
                self._claim(job)
            jobs.append(job)

    def _claim(self, job: Job) -> None:
        """Have ``job`` claimed at the next commit, after every outcome decided before it."""
        if self.shared.stop.is_set():
            job.settle_claim(False)
        else:
            self._claims.append(job)

    def _refuse_waiting(self, handed: dict[int, deque[Job]]) -> None:
        """The run is stopping: no job waiting behind a sender's own is claimed any more (its
        sender drops it before the server can take it)."""
        for jobs in handed.values():
            for job in list(jobs)[1:]:
                if not job.claimed.is_set():
                    job.settle_claim(False)

    def _submit(self) -> None:
        """Hand the recorder what this turn decided and claimed, all at once."""
        if self._outcomes or self._unsendable or self._claims:
            self.recorder.submit(self._outcomes, self._unsendable, self._claims)
            self._outcomes, self._unsendable, self._claims = [], [], []

    def _record_when_possible(self) -> None:
        """After the ledger failed: try to record what the run knows until it succeeds or
        ``ledger_wait`` seconds have passed; a signal stops the waiting. What could not be
        recorded is listed in ``unrecorded``."""
        outcomes, unsendable = self.recorder.pending()
        deadline = time.monotonic() + self.ledger_wait
        signals = self._signals
        pause = 0.1
        while outcomes or unsendable:
            try:
                self.store.record([a for a, _ in outcomes], now=self.now, unsendable=unsendable)
            except StoreError:
                if time.monotonic() >= deadline or not self._sleep(pause, signals):
                    break
                pause = min(pause * 2, 5.0)
            else:
                return
        self.unrecorded = [(record, attempt.outcome.action.value)
                           for attempt, record in outcomes]

    def _sleep(self, seconds: float, signals: int) -> bool:
        """Wait ``seconds``; False as soon as a signal beyond the first ``signals`` arrives."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                self._results.get(timeout=left)
            except queue.Empty:
                return True
            if self._signals > signals:
                return False
        return True

    def _settle(self, job: Job, outcome: str | BaseException) -> int:
        """What to record for one job, and whether the run stops; 1 if the job is done with
        (for the progress bar), else 0."""
        # A refusal before the gate can come back before the recorder has committed the claim:
        # whether this run holds the delivery is known only then. It can even come in the same
        # batch as the reply before it, whose settling has only just asked for this claim: hand
        # the recorder this turn's outcomes and claims now, or nobody ever commits it.
        if not job.claimed.is_set():
            self._submit()
        job.claimed.wait()
        if not job.taken:
            return 0  # another sender holds it (or the claim never came): nothing of ours
        record = job.record
        if isinstance(outcome, Left):
            self.shared.notes.append(str(outcome))
            self._release(job)
            self._returned.append((record, job.message))  # for a sender that still works
            return 0
        if isinstance(outcome, NotSent | NotClaimed):
            self._release(job)
            return 0
        if isinstance(outcome, Unknown):
            if self.unknown is None:
                self.unknown = outcome
            self.shared.stop.set()
            return 1  # it may have gone out: left claimed, ambiguous
        assert isinstance(outcome, str | DeliveryError)
        decision = decide(outcome, attempts=record.attempts, queued_at=record.created_at,
                          now=self.now, retry=self.retry)
        if decision.action == Action.AMBIGUOUS and not isinstance(outcome,
                                                                   AmbiguousDeliveryError):
            # A DeliveryError no transport raises, after the message may have gone: stop.
            if self.unknown is None:
                self.unknown = DeliveryError(str(outcome))
            self.shared.stop.set()
        if isinstance(outcome, str) or outcome.reply:
            self._in_a_row = 0  # the server answered: the connection carries messages
        elif isinstance(outcome, AmbiguousDeliveryError | TemporaryDeliveryError):
            # Lost (or timed out) after the message, or twice before it: no answer.
            self._in_a_row += 1
            if self._in_a_row >= UNANSWERED_IN_A_ROW and not self.halted:
                self.halted = (
                    f"issue #{self.number}: sending stopped after {self._in_a_row} deliveries "
                    f"in a row got no answer from the relay (the last: {outcome}); it may be "
                    "failing, or slower than delivery.timeout "
                    f"({self.config.delivery.timeout:g} s) to answer; check it before sending "
                    "again")
                self.shared.stop.set()
        if decision.action == Action.SENT:
            self._trusted = True
        elif decision.action == Action.BOUNCE and not self._trusted:
            decision = self._not_yet_a_bounce(record, decision)
        message_id = job.message.message_id if isinstance(outcome, str) else ""
        self._outcomes.append((Attempt(record.id, record.subscriber_id, decision, message_id),
                               record))
        if decision.action in _COUNTED:
            self.counts[_COUNTED[decision.action]] += 1
            if decision.action == Action.GIVE_UP:
                self.counts["gave_up"] += 1
                self._last_given_up = str(outcome)
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
            return 0
        return 1

    def _not_yet_a_bounce(self, record: DeliveryRecord, bounce: Outcome) -> Outcome:
        """A bounce while the relay has accepted nothing of the issue: a retry, like a 4xx (given
        up on after give_up_hours); at BOUNCES_BEFORE_ANY_SENT of them, the run stops."""
        self._refused += 1
        if self._refused >= BOUNCES_BEFORE_ANY_SENT and not self.halted:
            self.halted = (
                f"issue #{self.number}: sending stopped: the relay refused the first "
                f"{self._refused} recipients as if their addresses were bad and accepted no "
                f"message (the last: {bounce.reply}); that is most likely the relay refusing "
                "publisher (a login, the sender or this host), so nobody was marked bounced and "
                f"they are retried later; 'publisher issue send {self.number} --to <your "
                "address>' shows what the relay says to a good one")
            self.shared.stop.set()
        return decide(TemporaryDeliveryError(bounce.reply, reply=bounce.reply),
                      attempts=record.attempts, queued_at=record.created_at, now=self.now,
                      retry=self.retry)

    def _release(self, job: Job) -> None:
        self._outcomes.append((_released(job), job.record))

    def _advance(self, count: int) -> None:
        if self.progress is not None:
            self.progress.advance(count)

    def _drain(self, handed: dict[int, deque[Job]], results: _Results) -> None:
        """After an unexpected error: record what the senders still report, for a while."""
        deadline = time.monotonic() + 2 * self.config.delivery.timeout + 5
        try:
            self._refuse_waiting(handed)
            while any(handed.values()) and time.monotonic() < deadline:
                try:
                    item = results.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    continue
                index, job, outcome = item
                if handed[index] and handed[index][0] is job:
                    handed[index].popleft()
                self._settle(job, outcome)
            self._submit()
        except Exception:  # noqa: BLE001 - the ledger itself may be what failed
            pass

    def _finish(self) -> DeliveryReport:
        record = self.store.finish_if_done(self.number, now=self.now)
        counts = self.store.delivery_counts(self.number)
        # Not every delivery in ``sending`` is in doubt, nor every queued one waiting: other
        # workers may have theirs in flight, and a page of the queue reserved.
        ambiguous = len(self.store.ambiguous_deliveries(self.number)) \
            if counts[DeliveryStatus.SENDING] else 0
        flying = self.store.in_flight(self.number) if counts[DeliveryStatus.SENDING] else {}
        reserved = self.store.reserved_elsewhere(self.number) \
            if counts[DeliveryStatus.QUEUED] else {}
        elsewhere = sum(flying.values()) + sum(reserved.values())
        waiting = counts[DeliveryStatus.QUEUED] - sum(reserved.values())
        if (flying or reserved) and waiting:
            # What is due and not reserved yet, the senders still at work take next: only a
            # retry not due yet waits for a later run.
            later = self.store.retry_count(self.number, now=self.now)
            elsewhere, waiting = elsewhere + max(0, waiting - later), min(waiting, later)
        return self._report(ambiguous=ambiguous, waiting=waiting, state=record.state,
                            elsewhere=elsewhere, senders=len(flying.keys() | reserved.keys()))

    def _report(self, *, ambiguous: int, waiting: int, state: str, elsewhere: int = 0,
                senders: int = 0) -> DeliveryReport:
        c = self.counts
        paused = paused_line(self.number, self.pause_reason) if self.pause_reason else None
        abandoned = None
        if c["gave_up"]:
            n = c["gave_up"]
            abandoned = (f"issue #{self.number}: {n} subscriber{'' if n == 1 else 's'} will not "
                         f"get it: their mail server{' was' if n == 1 else 's were'} still "
                         f"answering 'try again later' after "
                         f"{self.retry.give_up_hours:g} hours (delivery.give_up_hours), so "
                         f"publisher gave up; the last reply: {self._last_given_up}")
        return DeliveryReport(sent=c["sent"], retried=c["retried"], failed=c["failed"],
                              bounced=c["bounced"], ambiguous=ambiguous, paused=paused,
                              waiting=waiting, elsewhere=elsewhere, senders=senders,
                              state=state, gave_up=c["gave_up"],
                              halted=self.halted or None, abandoned=abandoned)


def _released(job: Job) -> Attempt:
    """The attempt that gives ``job``'s claim back: queued again, as if never claimed."""
    return Attempt(job.record.id, job.record.subscriber_id, Outcome(Action.RELEASE, ""))
