"""What every transport offers: a session that sends one message at a time, with a gate
before the point of no return."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol


class NotClaimed(Exception):
    """Not sent: the gate before DATA said no (the delivery's claim was refused or withdrawn).
    Any session raises it; nothing reached the server."""


#: Called by a session once the recipient is accepted and before the message can reach the
#: server; False means "do not send it" (its claim was refused or withdrawn).
Gate = Callable[[], bool]


class Session(Protocol):
    """An open connection (or an open mailbox) that sends one message at a time."""

    def send(self, envelope_from: str, recipient: str, message: bytes, *,
             gate: Gate | None = None) -> str: ...


class Transport(Protocol):
    """A destination for messages; ``session()`` opens a connection to it."""

    @property
    def description(self) -> str:
        """Where messages go, for messages to people: never holds a secret."""

    def session(self) -> AbstractContextManager[Session]: ...
