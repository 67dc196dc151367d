"""The sender threads: one connection each, sending the jobs the engine hands them, one at a time.

A job arrives before its claim is committed: the sender sends the message (MAIL FROM, RCPT TO,
DATA and all of it but the final ".") while the engine commits, and waits at the gate — the
point after which the server has the message — until the claim is durable. So a sender never
holds more than one claimed message whose fate the ledger does not know, and the commit costs no
time on the wire.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import DeliveryError, TransportError
from ..models import DeliveryRecord
from ..render.message import Rendered
from .session import NotClaimed, Session, Transport


class NotSent(Exception):
    """The run stopped before this message was handed to the server."""


class Unknown(Exception):
    """An unexpected error while sending: whether the message went out is unknown."""


class Left(Exception):
    """The sender's connection could not be had; it left, and another sender takes the job."""


class Pacer:
    """A shared rate limit: messages per minute across every connection (0: none). ``clock``
    and ``sleep`` are injected so that tests spend no real seconds. With ``reserve`` (the
    ledger's shared bucket, ``DeliveryStore.reserve_rate``: given the interval, the seconds to
    wait) the pace is kept across every worker on every host instead of in this process."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 reserve: Callable[[float], float] | None = None):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._clock, self._sleep, self._reserve = clock, sleep, reserve
        self._next = clock()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Return when the next message may go: one ``interval`` after the previous one."""
        if not self.interval:
            return
        if self._reserve is not None:
            delay = self._reserve(self.interval)
            if delay > 0:
                self._sleep(delay)
            return
        with self._lock:
            slot = max(self._next, self._clock())
            self._next = slot + self.interval
        delay = slot - self._clock()
        if delay > 0:
            self._sleep(delay)


@dataclass(eq=False)
class Job:
    """One message for one sender. ``claimed`` is set once the engine has committed the claim
    (or given up on it); ``taken`` says whether this run holds the delivery."""

    record: DeliveryRecord
    message: Rendered
    claimed: threading.Event = field(default_factory=threading.Event)
    taken: bool = False

    def settle_claim(self, taken: bool) -> None:
        self.taken = taken
        self.claimed.set()


#: What a sender reports for a job: the server's 250 reply, or what stopped it.
Outcome = str | BaseException
#: A sender's report: (its index, the job, the outcome).
Report = tuple[int, Job, Outcome]


class Results(Protocol):
    """Where senders report (the engine's queue)."""

    def put(self, item: Report, /) -> None: ...


class Shared:
    """What the sender threads share: the stop flag; a gate so that only one of them tries the
    first connection (a wrong password is tried once, not once per connection); and how many
    are still working, so that a relay refusing a second connection leaves the others going."""

    def __init__(self, senders: int) -> None:
        self.stop = threading.Event()
        self.first_done = threading.Event()
        self.connected = False  # some connection opened: the relay and credentials are fine
        self.notes: list[str] = []
        self._alive = senders
        self._lock = threading.Lock()
        self._opener_taken = False

    def first_open(self) -> bool:
        """True for the one sender that opens the first connection; the others wait for it and
        get NotSent if it failed."""
        with self._lock:
            if not self._opener_taken:
                self._opener_taken = True
                return True
        self.first_done.wait()
        if self.stop.is_set():
            raise NotSent()
        return False

    def opened(self, ok: bool) -> None:
        if ok:
            self.connected = True
        else:
            self.stop.set()
        self.first_done.set()

    def leave(self, reason: str) -> bool:
        """True if this sender may stop and leave its job to the others: some connection works
        and another sender is still at it. The last one never leaves, so jobs never strand."""
        with self._lock:
            if self.connected and self._alive > 1 and not self.stop.is_set():
                self._alive -= 1
                self.notes.append(reason)
                return True
        return False


class Sender:
    """One connection's thread: takes jobs from its inbox until None, reports every job's
    outcome exactly once on ``results`` as (this sender's index, job, outcome)."""

    def __init__(self, index: int, transport: Transport, envelope_from: str,
                 results: Results, shared: Shared, pacer: Pacer,
                 session_messages: int):
        self.index = index
        self.inbox: queue.Queue[Job | None] = queue.Queue()
        self._transport, self._envelope_from = transport, envelope_from
        self._results, self._shared, self._pacer = results, shared, pacer
        self._session_messages = session_messages
        self.thread = threading.Thread(target=self._run, name=f"publisher-sender-{index}",
                                       daemon=True)

    def _gate(self, job: Job) -> Callable[[], bool]:
        def gate() -> bool:
            job.claimed.wait()
            return job.taken and not self._shared.stop.is_set()
        return gate

    def _run(self) -> None:
        stack = ExitStack()
        session: Session | None = None
        in_session = 0
        first, opener = True, False
        shared = self._shared
        try:
            while (job := self.inbox.get()) is not None:
                outcome: Outcome
                try:
                    if shared.stop.is_set():
                        raise NotSent()
                    if session is None:
                        if first:
                            opener = shared.first_open()
                        try:
                            session = stack.enter_context(self._transport.session())
                        except DeliveryError:
                            if opener:
                                shared.opened(False)
                            raise
                        except Exception as exc:  # not a transport failure we know: say what
                            if opener:
                                shared.opened(False)
                            raise TransportError(
                                f"{self._transport.description}: cannot open a connection: "
                                f"{type(exc).__name__}: {exc}") from exc
                        if opener:
                            shared.opened(True)
                        first, opener, in_session = False, False, 0
                    self._pacer.wait()
                    try:
                        outcome = session.send(self._envelope_from, job.record.email,
                                               job.message.content, data=job.message.data,
                                               gate=self._gate(job))
                    except (DeliveryError, NotClaimed):
                        raise
                    except Exception as exc:  # after the message may have gone: not knowable
                        raise Unknown(f"{type(exc).__name__}: {exc}") from exc
                    in_session += 1
                except (NotSent, NotClaimed, DeliveryError, Unknown) as exc:
                    outcome = exc
                if isinstance(outcome, TransportError) or in_session >= self._session_messages:
                    stack.close()
                    session = None
                # A connection that cannot be had leaves its job to the others; a refusal the
                # server replied (the sender refused: it carries ``reply``) would be the same on
                # any of them.
                if (isinstance(outcome, TransportError) and not outcome.reply
                        and shared.leave(str(outcome))):
                    self._results.put((self.index, job, Left(str(outcome))))
                    return
                self._results.put((self.index, job, outcome))
        finally:
            stack.close()
