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
more on the new connection. Every exception carries ``reply`` (the server's words, "" when no
server spoke).

Secrets: the SMTP password comes only from PUBLISHER_SMTP_PASSWORD and is never put into a
message, a repr or a log; smtplib's debug output (which prints AUTH PLAIN) is never enabled.
A private CA for the relay's certificate (tests use a self-signed one) is named by the
PUBLISHER_SMTP_CAFILE environment variable; certificates are always verified.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..config import Config, secret_from_env
from ..errors import ConfigError
from ..text import masked_url
from .local import FileTransport, MaildirTransport
from .session import Gate, NotClaimed, Session, Transport
from .smtp import CAFILE_ENV, PASSWORD_ENV, SmtpTransport

__all__ = ["Gate", "NotClaimed", "Session", "Transport", "transport_from_url"]

SUPPORTED = "smtp://host:port, smtps://host:port, maildir:///path, file:///dir"


def transport_from_url(config: Config) -> Transport:
    """The transport named by ``delivery.transport``.

    Raises ConfigError for an unknown scheme or a malformed URL, when the URL holds a password,
    or when a needed environment variable is missing.
    """
    url = config.delivery.transport
    where = f"{config.path}: delivery.transport"
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("smtp", "smtps", "maildir", "file"):
        raise ConfigError(f"{where}: unsupported transport URL {masked_url(url)!r}; "
                             f"supported: {SUPPORTED}")
    if scheme in ("maildir", "file"):
        raw = unquote(rest.split("?", 1)[0])
        if not raw.strip("/"):
            raise ConfigError(f"{where}: {url!r} names no directory; e.g. {scheme}:///var/mail")
        path = config.resolve(raw)
        return MaildirTransport(path) if scheme == "maildir" else FileTransport(path)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "smtp://[::1:25": Invalid IPv6 URL
        raise ConfigError(f"{where}: {masked_url(url)!r} is not a valid URL ({exc}); write it as "
                          f"{scheme}://host:port, an IPv6 address in brackets") from None
    # An "@" anywhere means credentials, also when a "/", "?" or "#" in the password hides
    # them from urlsplit (an SMTP URL has no other use for one).
    if parts.username is not None or parts.password is not None or "@" in url:
        raise ConfigError(
            f"{where}: put no user or password in the URL; set delivery.smtp_user, and the "
            f"password in the environment variable {PASSWORD_ENV}"
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{where}: {masked_url(url)!r} has an invalid port") from None
    if not parts.hostname or parts.path.strip("/"):
        raise ConfigError(f"{where}: {masked_url(url)!r} is not of the form "
                          f"{scheme}://host:port")
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

