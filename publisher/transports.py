"""Where messages go: an SMTP relay, a local Maildir, or a directory of .eml files.

``transport_from_url(config)`` reads ``delivery.transport``; ``Transport.session()`` is a context
manager whose ``send(envelope_from, recipient, message)`` returns the server's reply or raises one
of the DeliveryError kinds, so that the ledger can decide what happens next:

- TemporaryDeliveryError: a 4xx reply (retry later); also a connection that dropped twice before
  the message was transmitted.
- PermanentDeliveryError: a 5xx reply about the recipient. ``exc.bounce`` is true for 5.1.x and
  550/551/553 at RCPT (the address does not exist: mark the subscriber bounced).
- PolicyDeliveryError: 5.7.x or 554 (policy, authentication, reputation): pause, suppress nobody.
- AmbiguousDeliveryError: the connection was lost after the message was transmitted and before
  the reply: the server may have accepted it.
- TransportError: the relay is unusable (refused connection, TLS or authentication failure, the
  sender refused): stop.

A connection that drops before the message was transmitted is reopened and the message tried once
more on the new connection. Every exception carries ``reply`` (the server's words, for the ledger).

Secrets: the SMTP password comes only from PUBLISHER_SMTP_PASSWORD and is never put into a
message, a repr or a log; smtplib's debug output (which prints AUTH PLAIN) is never enabled.
A private CA for the relay's certificate (tests use a self-signed one) is named by the
PUBLISHER_SMTP_CAFILE environment variable; certificates are always verified.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import mailbox
import os
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from .config import Config, secret_from_env
from .errors import (
    AmbiguousDeliveryError,
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    PolicyDeliveryError,
    TemporaryDeliveryError,
    TransportError,
)
from .files import write_atomic

PASSWORD_ENV = "PUBLISHER_SMTP_PASSWORD"
CAFILE_ENV = "PUBLISHER_SMTP_CAFILE"
SUPPORTED = "smtp://host:port, smtps://host:port, maildir:///path, file:///dir"
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


class Session(Protocol):
    """An open connection (or an open mailbox) that sends one message at a time."""

    def send(self, envelope_from: str, recipient: str, message: bytes) -> str: ...


class Transport(Protocol):
    """A destination for messages; ``session()`` opens a connection to it."""

    description: str  # for messages: never holds a secret

    def session(self) -> AbstractContextManager[Session]: ...


# --- reply classification ----------------------------------------------------------------------


def _error(cls: type[DeliveryError], reply: str, *, bounce: bool = False,
           context: str = "") -> DeliveryError:
    exc = cls(f"{context}{reply}" if context else reply)
    exc.reply = reply  # type: ignore[attr-defined]
    exc.bounce = bounce  # type: ignore[attr-defined]
    return exc


def reply_text(code: int, text: bytes | str) -> str:
    """'550 5.1.1 User unknown': one line, however many lines the server sent."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(f"{code} {' '.join(text.split())}".split())[:500]


def classify(stage: str, code: int, text: bytes | str) -> DeliveryError:
    """The error for an unwanted reply ``code`` at ``stage`` ("mail", "rcpt" or "data").

    4xx is temporary; 5.7.x and 554 are policy; 5.1.x, and 550/551/553 at RCPT, bounce;
    other 5xx at RCPT or after DATA fail the delivery without a bounce; other 5xx at MAIL
    (the sender refused, 5.1.x included: 5.1.7/5.1.8 name the sender's address, never the
    subscriber's) make the transport unusable.
    """
    reply = reply_text(code, text)
    detail = reply.split(" ", 1)[1] if " " in reply else ""
    enhanced = _ENHANCED.match(detail)
    subject = enhanced.group(2) if enhanced else ""
    if 400 <= code < 500:
        return _error(TemporaryDeliveryError, reply)
    if subject == "7" or (code == 554 and subject != "1"):
        return _error(PolicyDeliveryError, reply)
    if stage == "mail":
        return _error(TransportError, reply, context="the server refused the sender: ")
    if subject == "1" or (stage == "rcpt" and code in (550, 551, 553)):
        return _error(PermanentDeliveryError, reply, bounce=True)
    if 500 <= code < 600:
        return _error(PermanentDeliveryError, reply)
    return _error(TemporaryDeliveryError, reply, context="unexpected reply: ")


# --- SMTP --------------------------------------------------------------------------------------


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
    """The connection went away before the message was transmitted: safe to try again."""


_BARE_LF = re.compile(rb"(?<!\r)\n")
_DOT_AFTER_LF = re.compile(rb"\n\.")


def _data_bytes(message: bytes) -> bytes:
    """The DATA payload: CRLF line endings, dot-stuffed, terminated by CRLF.CRLF.

    (Written for speed: a digest is some 70 KB, and this runs once per message while holding
    the GIL; a multi-line regular expression for leading dots took 0.5 ms a message.)
    """
    if message.count(b"\n") != message.count(b"\r\n"):
        message = _BARE_LF.sub(b"\r\n", message)
    if b"\n." in message:  # every LF follows a CR by now
        message = _DOT_AFTER_LF.sub(b"\n..", message)
    if message.startswith(b"."):
        message = b"." + message
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
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
        self._smtp: smtplib.SMTP | None = None

    @property
    def _where(self) -> str:
        return self.transport.description

    def connect(self) -> None:
        """Open, secure and authenticate the connection; TransportError when that fails."""
        t = self.transport
        where = self._where
        smtp: smtplib.SMTP | None = None
        if t.user and not (t.implicit_tls or t.starttls or _is_loopback(t.host)):
            raise TransportError(
                f"{where}: refusing to send the SMTP password unencrypted; set "
                "delivery.starttls = true or use smtps://"
            )
        try:
            if t.implicit_tls:
                smtp = smtplib.SMTP_SSL(t.host, t.port, local_hostname=_local_hostname(),
                                        timeout=t.timeout, context=t.tls_context())
            else:
                smtp = smtplib.SMTP(t.host, t.port, local_hostname=_local_hostname(),
                                    timeout=t.timeout)
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

    def send(self, envelope_from: str, recipient: str, message: bytes) -> str:
        """Send one message; the 250 reply, or one of the DeliveryError kinds."""
        for attempt in (1, 2):
            if self._smtp is None:
                self.connect()
            try:
                return self._transaction(envelope_from, recipient, message)
            except _Dropped as exc:
                self._discard()
                if attempt == 2:
                    raise _error(TemporaryDeliveryError,
                                 f"connection to {self._where} lost twice before DATA: {exc}"
                                 ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _transaction(self, envelope_from: str, recipient: str, message: bytes) -> str:
        smtp = self._smtp
        assert smtp is not None
        payload = _data_bytes(message)
        options = []
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(payload)}")
        if not (envelope_from.isascii() and recipient.isascii()):
            if not smtp.has_extn("smtputf8"):
                self._reset()
                raise _error(PermanentDeliveryError,
                             f"{self._where} does not support SMTPUTF8, needed for {recipient}")
            options.append("SMTPUTF8")
        try:
            code, text = smtp.mail(envelope_from, options)
            if code == 421:  # closing (an idle timeout, say): nothing about this message
                raise _Dropped(reply_text(code, text))
            if code != 250:
                raise self._refused("mail", code, text)
            code, text = smtp.rcpt(recipient)
            if code not in (250, 251):
                raise self._refused("rcpt", code, text)
            smtp.putcmd("data")
            code, text = smtp.getreply()
            if code != 354:
                raise self._refused("data", code, text)
            smtp.send(payload)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Dropped(str(exc) or type(exc).__name__) from None
        # The message is out: from here on a lost connection leaves us not knowing.
        try:
            code, text = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._discard()
            raise _error(AmbiguousDeliveryError,
                         f"connection to {self._where} lost after DATA, before the reply: {exc}"
                         ) from None
        if code != 250:
            if code == 421:
                self._discard()
            raise classify("data", code, text)
        return reply_text(code, text)


def _hello(smtp: smtplib.SMTP, where: str) -> None:
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


# --- local transports ---------------------------------------------------------------------------


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
            box = mailbox.Maildir(self.path, factory=None, create=True)
        except OSError as exc:
            raise TransportError(f"{self.description}: cannot open the Maildir: {exc}") from None
        yield MaildirSession(self, box)


class MaildirSession:
    def __init__(self, transport: MaildirTransport, box: mailbox.Maildir):
        self.transport = transport
        self._box = box

    def send(self, envelope_from: str, recipient: str, message: bytes) -> str:
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

    def send(self, envelope_from: str, recipient: str, message: bytes) -> str:
        mid = message_id_of(message) or hashlib.sha256(message).hexdigest()[:32]
        name = re.sub(r"[^A-Za-z0-9._@+=-]", "_", mid)[:200] + ".eml"
        target = self.transport.path / name
        try:
            write_atomic(target, message)
        except OSError as exc:
            raise TransportError(f"{self.transport.description}: cannot write: {exc}") from None
        return f"wrote {target}"


# --- choosing one -------------------------------------------------------------------------------


def _masked(url: str) -> str:
    """The URL for messages: whatever precedes an @ (user:password@) shown as ***."""
    if "@" not in url:
        return url
    scheme, sep, _rest = url.partition(":")
    host = url.rpartition("@")[2]
    return f"{scheme}://***@{host}" if sep else f"***@{host}"


def transport_from_url(config: Config) -> SmtpTransport | MaildirTransport | FileTransport:
    """The transport named by ``delivery.transport``.

    Raises TransportError for an unknown scheme or a malformed URL, and ConfigError when the URL
    holds a password or a needed environment variable is missing.
    """
    url = config.delivery.transport
    where = f"{config.path}: delivery.transport"
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("smtp", "smtps", "maildir", "file"):
        raise TransportError(f"{where}: unsupported transport URL {_masked(url)!r}; "
                             f"supported: {SUPPORTED}")
    if scheme in ("maildir", "file"):
        raw = unquote(rest.split("?", 1)[0])
        if not raw.strip("/"):
            raise TransportError(f"{where}: {url!r} names no directory; e.g. {scheme}:///var/mail")
        path = config.resolve(raw)
        return MaildirTransport(path) if scheme == "maildir" else FileTransport(path)
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{where}: put no user or password in the URL; set delivery.smtp_user, and the "
            f"password in the environment variable {PASSWORD_ENV}"
        )
    try:
        port = parts.port
    except ValueError:
        raise TransportError(f"{where}: {url!r} has an invalid port") from None
    if not parts.hostname or parts.path.strip("/"):
        raise TransportError(f"{where}: {url!r} is not of the form {scheme}://host:port")
    delivery = config.delivery
    password = ""
    if delivery.smtp_user:
        password = secret_from_env(PASSWORD_ENV, f"it is the SMTP password for "
                                   f"{delivery.smtp_user!r} at {parts.hostname}")
    cafile = os.environ.get(CAFILE_ENV, "")
    if cafile and not Path(cafile).is_file():
        raise ConfigError(f"{CAFILE_ENV}: {cafile}: no such file")
    return SmtpTransport(
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        implicit_tls=scheme == "smtps",
        starttls=delivery.starttls,
        user=delivery.smtp_user,
        password=password,
        timeout=delivery.timeout,
        cafile=cafile,
    )
