"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, a free port, with fault injection.

    with SmtpServer() as server:
        server.fail("bob@example.org", "550")           # every RCPT for bob gets 550 5.1.1
        server.fail("eve@example.org", "drop_after_data", times=1)
        ...  # deliver to server.url
        server.received_by("ann@example.org")           # the messages accepted for ann

Faults, per recipient (``times`` limits how often one fires; None means always):

- "421": 421 4.3.2 and the server closes the connection (at RCPT).
- "451", "452": temporary failures at RCPT.
- "550" (5.1.1 user unknown), "553" (5.1.3 bad address): permanent failures at RCPT;
  "550_named" is the 550 in Postfix's words, which name the recipient.
- "554": 554 5.7.1 policy rejection at RCPT; "554_data": the same after the message was sent.
- "drop_before_data": the connection is closed at RCPT, without a reply.
- "drop_after_data": the message is received and recorded, then the connection is closed
  without the 250 reply, so the client cannot know it was accepted.

``refuse_sender(reply)`` answers every MAIL FROM with ``reply`` (a relay refusing our sender);
``refuse_sender(None)`` takes mail again.

``hold_after(count)`` holds every message after the first ``count`` at DATA, unanswered, until
``release()``: a test then acts in the middle of a send, however fast the machine sends. It
returns an event set once ``count`` messages are in; ``handler.held`` counts the messages held.

With ``max_connections`` a connection beyond that many at once gets 421 4.7.0 after its
EHLO and is closed. With ``password`` set the server offers AUTH (user ``user``) and refuses
mail without it; wrong credentials get 535 5.7.8. With ``tls`` (a (certfile, keyfile) pair) it
offers STARTTLS, or speaks TLS from the first byte when ``implicit_tls`` is true.
``make_certificate`` writes a self-signed certificate for 127.0.0.1 with the openssl command.

``ScriptedServer(script)`` is a raw socket server for what a real server would never do on its
own: trickle, flood, stall.
"""

from __future__ import annotations

import asyncio
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

REPLIES = {
    "421": "421 4.3.2 Service shutting down, closing channel",
    "451": "451 4.3.0 Temporary local problem, try later",
    "452": "452 4.2.2 Mailbox full, try later",
    "550": "550 5.1.1 User unknown",
    # Postfix's own words, which name the recipient: what a log line must not pass on.
    "550_named": "550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual "
                 "mailbox table",
    "553": "553 5.1.3 Bad recipient address syntax",
    "554": "554 5.7.1 Message refused by policy",
    "554_data": "554 5.7.1 Message content refused by policy",
}
KINDS = (*REPLIES, "drop_before_data", "drop_after_data")


@dataclass(frozen=True)
class Received:
    """One message the server accepted (or, for drop_after_data, received without replying)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: tuple[str, int]  # the client's address: distinct peers are distinct connections
    acknowledged: bool = True  # False when the connection was dropped instead of the 250

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=email.policy.default)  # type: ignore


@dataclass
class _Fault:
    kind: str
    times: int | None


class FaultyHandler:
    """aiosmtpd handler: records messages, injects the faults registered with ``fail``."""

    def __init__(self, max_connections: int | None = None) -> None:
        self.max_connections = max_connections
        self._active: set[int] = set()
        self._lock = threading.Lock()
        self._faults: dict[str, _Fault] = {}
        self.messages: list[Received] = []
        self.rcpt_attempts: dict[str, int] = {}
        self.connections = 0
        self.sender_reply: str | None = None  # set: every MAIL FROM gets this reply
        self.recipient_reply: str | None = None  # set: every RCPT TO gets this reply
        self.hold_count: int | None = None  # set: messages after this many wait for release
        self.holding = threading.Event()  # set once hold_count messages are in
        self.held = 0  # messages that waited (or wait) for the release
        self.released = threading.Event()

    def fail(self, address: str, kind: str, times: int | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
        with self._lock:
            self._faults[address.lower()] = _Fault(kind, times)

    def _take(self, address: str, kinds: tuple[str, ...]) -> str | None:
        with self._lock:
            fault = self._faults.get(address.lower())
            if fault is None or fault.kind not in kinds or fault.times == 0:
                return None
            if fault.times is not None:
                fault.times -= 1
            return fault.kind

    async def handle_EHLO(self, server: SMTP, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if not getattr(session, "counted", False):  # STARTTLS brings a second EHLO
            session.counted = True
            with self._lock:
                busy = (self.max_connections is not None
                        and len(self._active) >= self.max_connections)
                if not busy:
                    self.connections += 1
                    self._active.add(id(session))
            if busy:
                await server.push("421 4.7.0 Too many concurrent connections")
                server.transport.close()
                return []
        return responses

    def closed(self, session: Any) -> None:
        with self._lock:
            self._active.discard(id(session))

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if self.sender_reply is not None:
            return self.sender_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        with self._lock:
            self.rcpt_attempts[address.lower()] = self.rcpt_attempts.get(address.lower(), 0) + 1
        kind = self._take(address, ("421", "451", "452", "550", "550_named", "553", "554",
                                    "drop_before_data"))
        if kind == "drop_before_data":
            server.transport.close()
            return "250 OK"  # never written: the transport is closed
        if kind == "421":
            await server.push(REPLIES["421"])
            server.transport.close()
            return "421 closed"  # never written
        if kind is not None:
            return REPLIES[kind].format(address=address)
        if self.recipient_reply is not None:
            return self.recipient_reply.format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.hold_count is not None and len(self.messages) >= self.hold_count:
            self.holding.set()
            self.held += 1
            # Waited for in a thread, so the other connections are served (and held) too.
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait)
        rcpts = tuple(envelope.rcpt_tos)
        kinds = [k for k in (self._take(r, ("drop_after_data", "554_data")) for r in rcpts) if k]
        record = Received(envelope.mail_from, rcpts, bytes(envelope.original_content),
                          session.peer, acknowledged=not kinds)
        if "554_data" in kinds:
            return REPLIES["554_data"]
        with self._lock:
            self.messages.append(record)
        if kinds:  # drop_after_data: received, but the client never hears so
            server.transport.close()
            return "250 OK"  # never written
        return "250 2.0.0 OK: queued"


class _Controller(Controller):
    """aiosmtpd's Controller, but on port 0: the system picks a free port."""

    def factory(self) -> SMTP:
        with warnings.catch_warnings():  # AUTH without TLS is deliberate here: loopback only
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return _SMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _SMTP(SMTP):
    """aiosmtpd's SMTP, telling the handler when a connection ends (for max_connections)."""

    def connection_lost(self, error: Exception | None) -> None:
        if self.session is not None:
            self.event_handler.closed(self.session)
        super().connection_lost(error)


def _authenticator(user: str, password: str):
    def check(server: SMTP, session: Any, envelope: Any, mechanism: str,
              auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode() and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)

    return check


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 and a free port; a context manager."""

    def __init__(self, *, password: str | None = None, user: str = "user",
                 tls: tuple[Path, Path] | None = None, implicit_tls: bool = False,
                 max_connections: int | None = None, exclude_auth: Sequence[str] = ()
                 ) -> None:
        self.handler = FaultyHandler(max_connections)
        kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": 0,
                                  "server_hostname": "sink.test", "ready_timeout": 10}
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            if implicit_tls:
                kwargs["ssl_context"] = context
            else:
                kwargs["tls_context"] = context
                kwargs["require_starttls"] = True
        if password is not None:
            kwargs["authenticator"] = _authenticator(user, password)
            kwargs["auth_required"] = True
            kwargs["auth_require_tls"] = tls is not None
            kwargs["auth_exclude_mechanism"] = list(exclude_auth)  # to try the one left
        self.scheme = "smtps" if implicit_tls else "smtp"
        self._controller = _Controller(self.handler, **kwargs)

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()  # a held message's thread would keep the stop waiting
        self._controller.stop()

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Received]:
        return list(self.handler.messages)

    def fail(self, address: str, kind: str, times: int | None = None) -> None:
        self.handler.fail(address, kind, times)

    def refuse_sender(self, reply: str | None) -> None:
        self.handler.sender_reply = reply

    def refuse_recipients(self, reply: str | None) -> None:
        """Every RCPT TO without a fault of its own gets ``reply`` ("{address}" is filled)."""
        self.handler.recipient_reply = reply

    def hold_after(self, count: int) -> threading.Event:
        self.handler.hold_count = count
        return self.handler.holding

    def release(self) -> None:
        self.handler.released.set()

    def received_by(self, address: str) -> list[Received]:
        return [m for m in self.handler.messages
                if address.lower() in (r.lower() for r in m.rcpt_tos)]


def make_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1/localhost (cert.pem, key.pem), or None without
    the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


class ScriptedServer:
    """A raw TCP server on 127.0.0.1 and a free port, for faults aiosmtpd cannot make: each
    connection is handed to ``script(conn)`` in a thread of its own (a greeting trickled a line
    at a time, a flood of reply lines, a server that accepts and says nothing). A context
    manager; ``connections`` counts the connections accepted."""

    def __init__(self, script: Any) -> None:
        self._script = script
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.connections = 0
        self.closed = threading.Event()  # set on exit: scripts that loop should end
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._script(self, conn)
        except OSError:
            pass  # the client went away: that is what these faults are for

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed.set()
        self._sock.close()
        for conn in self._conns:
            conn.close()
