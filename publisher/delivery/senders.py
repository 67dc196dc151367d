"""The sender threads: one SMTP connection each, sending the jobs the engine hands them."""

from __future__ import annotations

import queue
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass

from ..errors import DeliveryError, TransportError
from ..models import DeliveryRecord
from .transports import Session, Transport


class NotSent(Exception):
    """The run stopped before this message was handed to the server."""


class Unknown(Exception):
    """An unexpected error while sending: whether the message went out is unknown."""


class Pacer:
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
class Job:
    record: DeliveryRecord
    message: bytes


class Shared:
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
        get NotSent if it failed."""
        with self._lock:
            if not self._opener_taken:
                self._opener_taken = True
                return True
        self.gate.wait()
        if self.stop.is_set():
            raise NotSent()
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


def sender(transport: Transport, envelope_from: str, jobs: queue.Queue[Job | None],
            results: queue.Queue[tuple[Job, str | BaseException]], shared: Shared,
            pacer: Pacer, session_messages: int) -> None:
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
                    raise NotSent()
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
                    raise Unknown(f"{type(exc).__name__}: {exc}") from exc
                in_session += 1
            except (NotSent, DeliveryError, Unknown) as exc:
                outcome = exc
            if isinstance(outcome, TransportError) or in_session >= session_messages:
                stack.close()
                session = None
            # A connection that cannot be had leaves its job to the others; a refusal the server
            # replied (the sender refused: it carries ``reply``) would be the same on any of them.
            if (isinstance(outcome, TransportError) and not outcome.reply
                    and shared.leave(str(outcome))):
                jobs.put(job)  # nothing was sent: another connection takes it
                return
            results.put((job, outcome))
    finally:
        stack.close()


