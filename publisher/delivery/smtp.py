"""Delivery over SMTP: one connection carrying many messages, every reply classified.

smtplib speaks the protocol (EHLO, STARTTLS, AUTH); ``_Client`` changes how it waits. smtplib's
timeout is per read, so a relay that trickles a "220-" line every few seconds, or a reply of
endless continuation lines, holds a run (and the publication's lock) for as long as it likes and
grows memory without bound. Here every step — connecting and the greeting, each command and its
reply, sending the message, the reply to the message — must be over within ``timeout`` seconds
(a deadline, not a per-read limit: Postfix's ``smtp_per_record_deadline``), and a reply longer
than ``REPLY_MAX`` ends the connection.

The point of no return is the final "." of DATA, not the DATA command: a server discards a
message whose end it never saw (a dropped connection, a killed process). So a message is sent
whole but for that dot while the engine commits its claim, and the gate is asked just before the
dot. The commit (an fsync) overlaps MAIL, RCPT, DATA and the body on the wire instead of
following them. A connection that drops before the dot is reopened and the message tried once
more on the new connection; after the dot, a lost connection or an expired deadline leaves the
delivery ambiguous.

Secrets: the SMTP password is never put into a message, a repr or a log; smtplib's debug output
(which prints AUTH PLAIN) is never enabled, and the name of a step that timed out is taken from
a fixed list of verbs, never from the command line (an AUTH continuation is base64 of
credentials). Certificates are always verified (a private CA through PUBLISHER_SMTP_CAFILE).
"""

from __future__ import annotations

import base64
import functools
import hmac
import ipaddress
import math
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    TransportError,
)
from ..newsletter.policy import classify, reply_text
from .session import Gate, NotClaimed

PASSWORD_ENV = "PUBLISHER_SMTP_PASSWORD"
CAFILE_ENV = "PUBLISHER_SMTP_CAFILE"

#: The longest reply (all its lines) read from a server: an EHLO reply is under 1 KB, and a
#: server that sends more is broken or hostile.
REPLY_MAX = 64 * 1024

#: What a step is called in messages, by the command that starts it.
#: Challenges one AUTH exchange may bring (smtplib's limit): more is a server gone round.
_AUTH_CHALLENGES = 5
_STEPS = {"ehlo": "EHLO", "helo": "HELO", "starttls": "STARTTLS", "auth": "AUTH",
          "mail": "MAIL FROM", "rcpt": "RCPT TO", "data": "DATA", "rset": "RSET",
          "noop": "NOOP", "quit": "QUIT"}


@functools.cache
def _local_hostname() -> str:
    return socket.getfqdn()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Dropped(Exception):
    """The connection went away before the message was complete: safe to try again."""


class StepTimeout(TimeoutError):
    """A step of the SMTP conversation was not over by its deadline."""


class ReplyTooLong(ConnectionError):
    """The server's reply was longer than REPLY_MAX (a flood of continuation lines, say)."""


class _Client(smtplib.SMTP):
    """smtplib's SMTP client with a deadline for each step and a bound on each reply.

    A step starts with each command (``putcmd``) and with ``step()``; every read and write of
    the step gets the time left until its deadline as the socket's timeout. Replies are read
    from a buffer of our own rather than smtplib's file object, so that no read can outlast the
    deadline and no reply can outgrow REPLY_MAX. Sockets are TCP_NODELAY: SMTP is a dialogue of
    small writes, and the final "." must not wait for an ACK.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._buffer = bytearray()
        self._buffered: object = None  # the socket the buffer was read from
        self._step = "connect"
        self._deadline = math.inf

    def step(self, name: str) -> None:
        """Start the step ``name``: it must be over within ``timeout`` seconds."""
        self._step = name
        self._deadline = time.monotonic() + float(self.timeout)

    def _left(self, doing: str) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            self.close()
            raise StepTimeout(f"{self._step}: {doing} took longer than {self.timeout:g} s")
        return left

    def open(self, host: str, port: int) -> None:
        """Connect and read the greeting, within one deadline; SMTPConnectError unless 220."""
        self._host = host  # smtplib names the TLS server by it (SNI, certificate check)
        self.step("the greeting")
        code, text = self.connect(host, port)
        if code != 220:
            self.close()
            raise smtplib.SMTPConnectError(code, text)

    def _get_socket(self, host: str, port: int, timeout: float | None) -> socket.socket:
        sock: socket.socket = super()._get_socket(  # type: ignore[misc]
            host, port, self._left("connecting"))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def putcmd(self, cmd: str, args: str = "") -> None:
        # A step is named by its verb only: anything else here may be credentials.
        self.step(_STEPS.get(cmd.split(" ", 1)[0].lower(), "AUTH"))
        super().putcmd(cmd, args)

    def send(self, s: bytes | memoryview | str) -> None:  # type: ignore[override]
        sock = self.sock
        if sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        data = s.encode(self.command_encoding) if isinstance(s, str) else s
        try:
            sock.settimeout(self._left("sending"))
            sock.sendall(data)
        except TimeoutError:
            self.close()
            raise StepTimeout(f"{self._step}: sending took longer than {self.timeout:g} s") \
                from None
        except OSError as exc:
            self.close()
            raise smtplib.SMTPServerDisconnected(f"connection lost: {exc}") from None

    def _readline(self) -> bytes:
        sock = self.sock
        if sock is None:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        buffer = self._buffer
        if sock is not self._buffered:
            # A new socket (after STARTTLS): nothing read before the handshake may count as
            # a reply after it.
            buffer.clear()
            self._buffered = sock
        while (end := buffer.find(b"\n")) < 0:
            if len(buffer) > REPLY_MAX:
                self.close()
                raise ReplyTooLong(f"{self._step}: the reply is longer than {REPLY_MAX} bytes")
            try:
                sock.settimeout(self._left("waiting for the reply"))
                chunk = sock.recv(65536)
            except TimeoutError:
                self.close()
                raise StepTimeout(f"{self._step}: no complete reply within "
                                  f"{self.timeout:g} s") from None
            except OSError as exc:
                self.close()
                raise smtplib.SMTPServerDisconnected(f"connection lost: {exc}") from None
            if not chunk:
                self.close()
                raise smtplib.SMTPServerDisconnected("connection closed by the server")
            buffer += chunk
        line = bytes(buffer[:end + 1])
        del buffer[:end + 1]
        return line

    def getreply(self) -> tuple[int, bytes]:
        """(code, text), as smtplib's; the whole reply within the step's deadline and
        REPLY_MAX bytes."""
        lines: list[bytes] = []
        size = 0
        while True:
            line = self._readline()
            size += len(line)
            if size > REPLY_MAX:
                self.close()
                raise ReplyTooLong(f"{self._step}: the reply is longer than {REPLY_MAX} bytes")
            try:
                code = int(line[:3])
            except ValueError:  # not SMTP (a web server, say): its line kept whole, to quote
                lines.append(line.strip(b" \t\r\n")[:200])
                code = -1
                break
            lines.append(line[4:].strip(b" \t\r\n"))
            if line[3:4] != b"-":
                break
        return code, b"\n".join(lines)

    def close(self) -> None:
        super().close()
        self._buffer.clear()

    def auth(self, mechanism: str, authobject: Callable[..., str | None], *,
             initial_response_ok: bool = True) -> tuple[int, bytes]:
        """smtplib's AUTH exchange, each response sent as UTF-8: smtplib encodes them as
        ASCII, so a password beyond it raised UnicodeEncodeError (CPython gh-73936), a
        traceback. PLAIN is UTF-8 (RFC 4616), and relays read LOGIN's bytes so too."""
        def encoded(response: str | None) -> str:
            return base64.b64encode((response or "").encode("utf-8")).decode("ascii")

        mechanism = mechanism.upper()
        initial = authobject() if initial_response_ok else None
        if initial is not None:
            code, reply = self.docmd("AUTH", f"{mechanism} {encoded(initial)}")
            self._auth_challenge_count = 1  # auth_login answers by how many it has had
        else:
            code, reply = self.docmd("AUTH", mechanism)
            self._auth_challenge_count = 0
        while code == 334:
            self._auth_challenge_count += 1
            if self._auth_challenge_count > _AUTH_CHALLENGES:
                raise smtplib.SMTPException(f"AUTH {mechanism}: the server asked again and "
                                            f"again ({code} {reply!r})")
            code, reply = self.docmd(encoded(authobject(base64.decodebytes(reply))))
        if code in (235, 503):  # 503: already authenticated
            return code, reply
        raise smtplib.SMTPAuthenticationError(code, reply)

    def auth_cram_md5(self, challenge: bytes | None = None  # type: ignore[override]
                      ) -> str | None:
        """The CRAM-MD5 response, keyed with the password as UTF-8 (smtplib's: as ASCII).
        auth() passes bytes; typeshed's overloads accept any buffer, hence the ignore."""
        if challenge is None:  # no initial response in CRAM-MD5
            return None
        return f"{self.user} " + hmac.HMAC(self.password.encode("utf-8"), challenge,
                                           "md5").hexdigest()


class _TlsClient(_Client, smtplib.SMTP_SSL):
    """``_Client`` speaking TLS from the first byte (smtps://)."""


def _stuffed(message: bytes) -> bytes:
    """``message`` as DATA carries it: CRLF line endings, dot-stuffed, ending in CRLF.CRLF.

    For messages that do not come with that form ready (``MessageTemplate`` makes it once per
    issue): a test copy, a message from elsewhere. Plain byte replacements, no regular
    expression over the whole message.
    """
    if message.count(b"\n") != message.count(b"\r\n"):
        message = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    message = message.replace(b"\r\n.", b"\r\n..")
    if message.startswith(b"."):
        message = b"." + message
    return message + b".\r\n"


@dataclass(frozen=True)
class SmtpTransport:
    """An SMTP relay: STARTTLS (``starttls``) or TLS from the start (``implicit_tls``)."""

    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = True
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    cafile: str = ""

    @property
    def description(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        """Verifying context: the system's CAs, or only PUBLISHER_SMTP_CAFILE's when set."""
        return ssl.create_default_context(cafile=self.cafile or None)

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        session = SmtpSession(self)
        try:
            session.connect()
            yield session
        finally:
            session.close()


class SmtpSession:
    """One SMTP connection carrying many messages; reconnects when it drops between them."""

    def __init__(self, transport: SmtpTransport):
        self.transport = transport
        self._smtp: _Client | None = None

    @property
    def _where(self) -> str:
        return self.transport.description

    def connect(self) -> None:
        """Open, secure and authenticate the connection; TransportError when that fails."""
        t = self.transport
        where = self._where
        smtp: _Client | None = None
        if t.user and not (t.implicit_tls or t.starttls or _is_loopback(t.host)):
            raise TransportError(
                f"{where}: refusing to send the SMTP password unencrypted; set "
                "delivery.starttls = true or use smtps://"
            )
        try:
            if t.implicit_tls:
                smtp = _TlsClient(local_hostname=_local_hostname(), timeout=t.timeout,
                                  context=t.tls_context())
            else:
                smtp = _Client(local_hostname=_local_hostname(), timeout=t.timeout)
            smtp.open(t.host, t.port)
            _hello(smtp, where)
            if not t.implicit_tls and t.starttls:
                if not smtp.has_extn("starttls"):
                    raise TransportError(
                        f"{where} does not offer STARTTLS; use a relay that does, or set "
                        "delivery.starttls = false for a trusted local relay"
                    )
                smtp.starttls(context=t.tls_context())
                _hello(smtp, where)
            if t.user:
                if not smtp.has_extn("auth"):
                    raise TransportError(
                        f"{where} does not offer AUTH, but delivery.smtp_user is set"
                    )
                smtp.login(t.user, t.password)
        except TransportError:
            _close_quietly(smtp)
            raise
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(smtp)
            raise TransportError(
                f"{where}: SMTP authentication failed for user {t.user!r} "
                f"({reply_text(exc.smtp_code, exc.smtp_error)}); check delivery.smtp_user "
                f"and {PASSWORD_ENV}"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            _close_quietly(smtp)
            raise TransportError(
                f"{where}: the server's TLS certificate is not trusted ({exc.verify_message}); "
                f"for a private CA set {CAFILE_ENV} to its certificate file"
            ) from None
        except ssl.SSLError as exc:
            _close_quietly(smtp)
            raise TransportError(f"{where}: TLS failed: {exc.reason or exc}") from None
        except smtplib.SMTPConnectError as exc:
            _close_quietly(smtp)
            if exc.smtp_code == -1:
                said = exc.smtp_error
                if isinstance(said, bytes):
                    said = said.decode("utf-8", "replace")
                raise TransportError(
                    f"{where} did not answer as an SMTP server (it said {said!r}); check the "
                    "host and port of delivery.transport") from None
            raise TransportError(
                f"{where} refused the connection: {reply_text(exc.smtp_code, exc.smtp_error)}"
            ) from None
        except ConnectionRefusedError:
            raise TransportError(f"cannot connect to {where}: connection refused") from None
        except socket.gaierror as exc:
            raise TransportError(f"cannot connect to {where}: {exc.strerror}") from None
        except (smtplib.SMTPException, OSError) as exc:
            _close_quietly(smtp)
            raise TransportError(f"cannot connect to {where}: {exc}") from None
        self._smtp = smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                _close_quietly(smtp)

    def _discard(self) -> None:
        _close_quietly(self._smtp)
        self._smtp = None

    def _reset(self) -> None:
        """After a refused command: RSET, or drop the connection if even that fails."""
        if self._smtp is None:
            return
        try:
            code, _ = self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            code = 0
        if code != 250:
            self._discard()

    def _refused(self, stage: str, code: int, text: bytes) -> DeliveryError:
        if code == 421:  # the server is closing the connection
            self._discard()
        else:
            self._reset()
        return classify(stage, code, text)

    def send(self, envelope_from: str, recipient: str, message: bytes, *,
             gate: Gate | None = None, data: bytes | None = None) -> str:
        """Send one message; the 250 reply, or one of the DeliveryError kinds. ``data`` is
        ``message`` as DATA carries it, when the caller has it ready (else it is made here).
        ``gate`` is asked once the whole message but its final "." has been sent: False drops
        the connection, so that the server discards the message, and raises NotClaimed."""
        payload = _stuffed(message) if data is None else data
        for attempt in (1, 2):
            if self._smtp is None:
                self.connect()
            try:
                return self._transaction(envelope_from, recipient, payload, gate)
            except _Dropped as exc:
                self._discard()
                if attempt == 2:
                    raise TemporaryDeliveryError(
                        f"connection to {self._where} lost twice before the end of the "
                        f"message: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _transaction(self, envelope_from: str, recipient: str, payload: bytes,
                     gate: Gate | None) -> str:
        smtp = self._smtp
        assert smtp is not None
        options = ""
        if smtp.has_extn("size"):
            options = f" SIZE={len(payload)}"
        if not (envelope_from.isascii() and recipient.isascii()):
            if not smtp.has_extn("smtputf8"):
                self._reset()
                raise PermanentDeliveryError(
                    f"{self._where} does not support SMTPUTF8, needed for {recipient}")
            options += " SMTPUTF8"
            smtp.command_encoding = "utf-8"  # as smtplib's mail() does for SMTPUTF8
        try:
            # The addresses were validated when they were added: written as they are, without
            # smtplib's quoteaddr (an address parser run twice per message).
            smtp.putcmd("mail", f"FROM:<{envelope_from}>{options}")
            code, text = smtp.getreply()
            if code == 421:  # closing (an idle timeout, say): nothing about this message
                raise _Dropped(reply_text(code, text))
            if code != 250:
                raise self._refused("mail", code, text)
            smtp.putcmd("rcpt", f"TO:<{recipient}>")
            code, text = smtp.getreply()
            if code not in (250, 251):
                raise self._refused("rcpt", code, text)
            smtp.putcmd("data")
            code, text = smtp.getreply()
            if code != 354:
                raise self._refused("data", code, text)
            smtp.step("sending the message")
            smtp.send(memoryview(payload)[:-3])  # all but the final ".\r\n"
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc) or type(exc).__name__) from None
        if gate is not None and not gate():
            # Without its final "." the server never takes the message.
            self._discard()
            raise NotClaimed()
        # From the "." on, a lost connection or a silent server leaves us not knowing.
        try:
            smtp.step("the reply to the message")
            smtp.send(b".\r\n")
            code, text = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._discard()
            raise AmbiguousDeliveryError(
                f"connection to {self._where} lost after DATA, before the reply: {exc}") from None
        if code != 250:
            if code == 421:
                self._discard()
            raise classify("data", code, text)
        return reply_text(code, text)


def _hello(smtp: _Client, where: str) -> None:
    """EHLO (HELO for a server from the last century); TransportError if refused."""
    code, text = smtp.ehlo()
    if code != 250 and not 400 <= code < 500:
        code, text = smtp.helo()
    if code != 250:
        raise TransportError(f"{where} refused the session: {reply_text(code, text)}")


def _close_quietly(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass

