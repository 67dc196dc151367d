"""Delivery over SMTP: one connection carrying many messages, every reply classified.

A connection that drops before the message was transmitted is reopened and the message tried
once more on the new connection. Secrets: the SMTP password is never put into a message, a repr
or a log; smtplib's debug output (which prints AUTH PLAIN) is never enabled. Certificates are
always verified (a private CA through PUBLISHER_SMTP_CAFILE).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

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

    def send(self, envelope_from: str, recipient: str, message: bytes, *,
             gate: Gate | None = None) -> str:
        """Send one message; the 250 reply, or one of the DeliveryError kinds. ``gate`` is
        asked once the recipient is accepted, before DATA: False resets the transaction and
        raises NotClaimed."""
        for attempt in (1, 2):
            if self._smtp is None:
                self.connect()
            try:
                return self._transaction(envelope_from, recipient, message, gate)
            except _Dropped as exc:
                self._discard()
                if attempt == 2:
                    raise TemporaryDeliveryError(
                        f"connection to {self._where} lost twice before DATA: {exc}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _transaction(self, envelope_from: str, recipient: str, message: bytes,
                     gate: Gate | None) -> str:
        smtp = self._smtp
        assert smtp is not None
        payload = _data_bytes(message)
        options = []
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(payload)}")
        if not (envelope_from.isascii() and recipient.isascii()):
            if not smtp.has_extn("smtputf8"):
                self._reset()
                raise PermanentDeliveryError(
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
            if gate is not None and not gate():
                self._reset()
                raise NotClaimed()
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
            raise AmbiguousDeliveryError(
                f"connection to {self._where} lost after DATA, before the reply: {exc}") from None
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

