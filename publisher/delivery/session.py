"""What every transport offers: a session that sends one message at a time, with a gate
before the point of no return."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol


class NotClaimed(Exception):
    """Not sent: the gate said no (the delivery's claim was refused or withdrawn). Any session
    raises it; the server never took the message."""


#: Called by a session just before the point of no return — for SMTP, the final "." of DATA;
#: for a mailbox, the write — so that a claim can be committed while the message travels.
#: False means "do not send it" (its claim was refused or withdrawn).
Gate = Callable[[], bool]


class Session(Protocol):
    """An open connection (or an open mailbox) that sends one message at a time."""

    def send(self, envelope_from: str, recipient: str, message: bytes, *,
             gate: Gate | None = None, data: bytes | None = None) -> str:
        """Send ``message`` (RFC 5322, CRLF); ``data`` is the same message as SMTP's DATA
        carries it (dot-stuffed, ending CRLF.CRLF) when the caller has it ready, for sessions
        that speak SMTP. Returns the server's reply; raises the DeliveryError kinds."""


class Transport(Protocol):
    """A destination for messages; ``session()`` opens a connection to it."""

    @property
    def description(self) -> str:
        """Where messages go, for messages to people: never holds a secret."""

    def session(self) -> AbstractContextManager[Session]: ...
