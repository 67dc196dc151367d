"""Local transports: a Maildir outbox, or a directory of .eml files."""

from __future__ import annotations

import hashlib
import mailbox
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TransportError
from ..files import write_atomic
from .session import Gate, NotClaimed


@dataclass(frozen=True)
class MaildirTransport:
    """A local Maildir outbox (mailbox.Maildir: written in tmp/, renamed into new/), LF endings."""

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def description(self) -> str:
        return f"maildir://{self.path}"

    @contextmanager
    def session(self) -> Iterator[MaildirSession]:
        try:
            # mailbox.Maildir(create=True) checks, then makes the directories: two sessions
            # opening a new outbox at once (serve's confirmation mails) race, and one of them
            # fails with EEXIST or finds no tmp/ yet. Making each directory idempotently first
            # leaves Maildir nothing to create.
            for part in ("", "tmp", "new", "cur"):
                (self.path / part).mkdir(mode=0o700, parents=True, exist_ok=True)
            box = mailbox.Maildir(self.path, factory=None, create=False)
        except OSError as exc:
            raise TransportError(f"{self.description}: cannot open the Maildir: {exc}") from None
        yield MaildirSession(self, box)


class MaildirSession:
    def __init__(self, transport: MaildirTransport, box: mailbox.Maildir):
        self.transport = transport
        self._box = box

    def send(self, envelope_from: str, recipient: str, message: bytes, *,
             gate: Gate | None = None, data: bytes | None = None) -> str:
        if gate is not None and not gate():
            raise NotClaimed()
        data = message.replace(b"\r\n", b"\n")
        try:
            with self.transport._lock:  # one Maildir name counter for all threads
                key = self._box.add(data)
        except OSError as exc:
            raise TransportError(f"{self.transport.description}: cannot write: {exc}") from None
        return f"stored in {self.transport.path} as {key}"


_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)")


def message_id_of(message: bytes) -> str:
    """The Message-ID header of raw message bytes, without angle brackets ('' if none)."""
    end = re.search(rb"\r?\n\r?\n", message)
    head = message[: end.start() + 1] if end else message
    match = _MESSAGE_ID.search(head)
    if not match:
        return ""
    return b" ".join(match.group(1).split()).decode("ascii", "replace").strip("<> ")


@dataclass(frozen=True)
class FileTransport:
    """A directory of .eml files named by Message-ID, each written atomically."""

    path: Path

    @property
    def description(self) -> str:
        return f"file://{self.path}"

    @contextmanager
    def session(self) -> Iterator[FileSession]:
        yield FileSession(self)


class FileSession:
    def __init__(self, transport: FileTransport):
        self.transport = transport

    def send(self, envelope_from: str, recipient: str, message: bytes, *,
             gate: Gate | None = None, data: bytes | None = None) -> str:
        if gate is not None and not gate():
            raise NotClaimed()
        mid = message_id_of(message) or hashlib.sha256(message).hexdigest()[:32]
        name = re.sub(r"[^A-Za-z0-9._@+=-]", "_", mid)[:200] + ".eml"
        target = self.transport.path / name
        try:
            write_atomic(target, message, mode=0o600)  # a subscriber's address, their link
        except OSError as exc:
            raise TransportError(f"{self.transport.description}: cannot write: {exc}") from None
        return f"wrote {target}"

