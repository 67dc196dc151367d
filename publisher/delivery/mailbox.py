"""Reading the inbox where bounces, complaints and unsubscribe requests arrive: a local Maildir,
or an IMAP folder over TLS. The reverse of the transports: ``messages()`` yields (id, bytes),
``move(id)`` files one message in the processed folder once the ledger holds what it said.

Nothing is marked read on the way: the IMAP fetch is BODY.PEEK, and a Maildir message stays in
new/ until it is moved, so whatever publisher does not act on is left as it was for a person.

``mailbox_from_config(config)`` reads ``[inbox] mailbox``: ``maildir:///path`` (relative to the
publication directory) or ``imaps://host:993/FOLDER`` with ``[inbox] user`` and the password
in PUBLISHER_IMAP_PASSWORD; PUBLISHER_IMAP_CAFILE names a private CA (certificates are always
verified).
"""

from __future__ import annotations

import imaplib
import os
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from ..config import IMAP_PASSWORD_ENV, Config, secret_from_env
from ..errors import ConfigError, MailboxError
from ..text import masked_url

CAFILE_ENV = "PUBLISHER_IMAP_CAFILE"


class Mailbox(Protocol):
    @property
    def description(self) -> str: ...

    def messages(self) -> Iterator[tuple[str, bytes]]: ...

    def move(self, message_id: str) -> None: ...

    def close(self) -> None: ...


class MaildirBox:
    """A Maildir; the processed folder is its Maildir++ subfolder ``.<name>``."""

    def __init__(self, path: Path, processed: str):
        self.path = path
        self.processed = path / f".{processed}"

    @property
    def description(self) -> str:
        return f"maildir://{self.path}"

    def messages(self) -> Iterator[tuple[str, bytes]]:
        if not (self.path / "new").is_dir() and not (self.path / "cur").is_dir():
            raise MailboxError(f"{self.description}: not a Maildir (no new/ or cur/)")
        for sub in ("new", "cur"):
            try:
                names = sorted(os.listdir(self.path / sub))
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise MailboxError(f"{self.description}: cannot list {sub}/: {exc.strerror}") \
                    from None
            for name in names:
                if name.startswith("."):
                    continue
                try:
                    data = (self.path / sub / name).read_bytes()
                except FileNotFoundError:  # moved by someone else meanwhile
                    continue
                except OSError as exc:
                    raise MailboxError(f"{self.description}: cannot read {sub}/{name}: "
                                       f"{exc.strerror}") from None
                yield f"{sub}/{name}", data

    def move(self, message_id: str) -> None:
        sub, _, name = message_id.partition("/")
        base, _, flags = name.partition(":2,")
        seen = "".join(sorted(set(flags) | {"S"}))
        try:
            for folder in ("cur", "new", "tmp"):
                (self.processed / folder).mkdir(parents=True, exist_ok=True)
            os.replace(self.path / sub / name, self.processed / "cur" / f"{base}:2,{seen}")
        except FileNotFoundError:
            return  # already moved (a run killed after the move, say)
        except OSError as exc:
            raise MailboxError(f"{self.description}: cannot move {message_id} to "
                               f"{self.processed.name}: {exc.strerror}") from None

    def close(self) -> None:
        pass


class ImapBox:
    """An IMAP folder over TLS (port 993). Messages are fetched with BODY.PEEK (left unread) and
    moved with MOVE (RFC 6851), or COPY, \\Deleted and EXPUNGE where MOVE is missing."""

    def __init__(self, host: str, port: int, folder: str, user: str, password: str,
                 processed: str, *, cafile: str = "", timeout: float = 30.0):
        self.host, self.port, self.folder = host, port, folder
        self.processed = processed
        context = ssl.create_default_context(cafile=cafile or None)
        try:
            self._imap = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
            if user.isascii() and password.isascii():
                self._imap.login(user, password)
            else:
                # LOGIN's strings are 7-bit (RFC 3501), and imaplib raised UnicodeEncodeError;
                # AUTHENTICATE PLAIN carries them as UTF-8 (RFC 4616), as mail apps send them.
                self._imap.authenticate(
                    "PLAIN", lambda _: f"\0{user}\0{password}".encode())
            status, _ = self._imap.select(self._quote(folder))
        except (OSError, ssl.SSLError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"{self.description}: {self._reason(exc)}") from None
        if status != "OK":
            raise MailboxError(f"{self.description}: no folder {folder!r}")
        # What the server offers once logged in (the greeting's list is often shorter).
        _, data = self._imap.capability()
        listed = data[0] if data and isinstance(data[0], bytes) else b""
        offered = set(listed.decode("ascii", "replace").upper().split())
        self._can_move = "MOVE" in offered
        self._uidplus = "UIDPLUS" in offered
        self._created = False

    @property
    def description(self) -> str:
        return _imap_description(self.host, self.port, self.folder)

    @staticmethod
    def _quote(name: str) -> str:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

    @staticmethod
    def _reason(exc: BaseException) -> str:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return (f"certificate not trusted ({exc.verify_message}); for a private CA set "
                    f"{CAFILE_ENV}")
        if isinstance(exc, socket.timeout):
            return "timed out"
        text = exc.args[0] if exc.args else exc
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return f"{text}" if not isinstance(exc, OSError) or not exc.strerror else exc.strerror

    def _command(self, name: str, *args: str) -> list[bytes | tuple[bytes, bytes] | None]:
        try:
            status, data = self._imap.uid(name, *args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"{self.description}: {name}: {self._reason(exc)}") from None
        if status != "OK":
            raise MailboxError(f"{self.description}: {name} refused: {data!r}")
        return list(data)

    def messages(self) -> Iterator[tuple[str, bytes]]:
        found = self._command("SEARCH", "ALL")
        uids = (found[0] or b"").split() if found and isinstance(found[0], bytes) else []
        for uid in uids:
            for item in self._command("FETCH", uid.decode(), "(BODY.PEEK[])"):
                if isinstance(item, tuple):
                    yield uid.decode(), item[1]

    def move(self, message_id: str) -> None:
        if not self._created:
            self._imap.create(self._quote(self.processed))  # NO when it exists: fine
            self._created = True
        if self._can_move:
            self._command("MOVE", message_id, self._quote(self.processed))
            return
        self._command("COPY", message_id, self._quote(self.processed))
        self._command("STORE", message_id, "+FLAGS", "(\\Deleted)")
        if self._uidplus:  # only this message, not whatever else a person marked deleted
            self._command("EXPUNGE", message_id)
            return
        try:
            self._imap.expunge()
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"{self.description}: EXPUNGE: {self._reason(exc)}") from None

    def close(self) -> None:
        try:
            self._imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


def mailbox_from_config(config: Config) -> Mailbox:
    """The ``[inbox] mailbox``. ConfigError for a URL that is not one we read, a password in
    the URL, or a missing password; MailboxError when it cannot be opened."""
    found = _mailbox(config)
    return found.open() if isinstance(found, _ImapSettings) else found


def mailbox_description(config: Config) -> str:
    """What ``mailbox_from_config`` would open, checked as far as it can be without logging
    in to an IMAP server (``publisher check``): the same ConfigError for the same mistakes."""
    return _mailbox(config).description


@dataclass(frozen=True)
class _ImapSettings:
    """An IMAP mailbox as ``[inbox]`` and the environment give it, not yet logged in to."""

    host: str
    port: int
    folder: str
    user: str
    password: str
    processed: str
    cafile: str

    @property
    def description(self) -> str:
        return _imap_description(self.host, self.port, self.folder)

    def open(self) -> ImapBox:
        return ImapBox(self.host, self.port, self.folder, self.user, self.password,
                       self.processed, cafile=self.cafile)


def _imap_description(host: str, port: int, folder: str) -> str:
    return f"imaps://{host}:{port}/{folder}"


def _mailbox(config: Config) -> MaildirBox | _ImapSettings:
    url = config.inbox.mailbox
    where = f"{config.path}: inbox.mailbox"
    if not url.strip():
        raise ConfigError(f"{where}: not set, so there is no inbox to read; set it in [inbox] "
                          "to the mailbox your bounces and replies reach: maildir:///path or "
                          "imaps://host:993/FOLDER")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    processed = config.inbox.processed_folder
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", processed):
        raise ConfigError(f"{config.path}: inbox.processed_folder: {processed!r} is not a plain "
                          "folder name (letters, digits, '.', '_', '-')")
    if sep and scheme == "maildir":
        raw = unquote(rest.split("?", 1)[0])
        if not raw.strip("/"):
            raise ConfigError(f"{where}: {url!r} names no directory; e.g. maildir:///var/mail/x")
        return MaildirBox(config.resolve(raw), processed)
    if sep and scheme == "imaps":
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # "imaps://[::1:993": Invalid IPv6 URL
            raise ConfigError(f"{where}: {masked_url(url)!r} is not a valid URL ({exc}); write "
                              "it as imaps://host:993/FOLDER, an IPv6 address in brackets") \
                from None
        if parts.password is not None or parts.username is not None:
            raise ConfigError(f"{where}: put no user or password in the URL; set inbox.user, "
                              f"and the password in {IMAP_PASSWORD_ENV}")
        try:
            port = parts.port or 993
        except ValueError:
            raise ConfigError(f"{where}: {masked_url(url)!r} has an invalid port") from None
        if not parts.hostname:
            raise ConfigError(f"{where}: {masked_url(url)!r} is not of the form "
                              "imaps://host:993/FOLDER")
        if not config.inbox.user:
            raise ConfigError(f"{config.path}: inbox.user: required for an IMAP mailbox")
        password = secret_from_env(IMAP_PASSWORD_ENV, f"it is the IMAP password of "
                                   f"{config.inbox.user!r} at {parts.hostname}")
        cafile = os.environ.get(CAFILE_ENV, "")
        if cafile and not Path(cafile).is_file():
            raise ConfigError(f"{CAFILE_ENV}: {cafile}: no such file")
        folder = unquote(parts.path.strip("/")) or "INBOX"
        return _ImapSettings(parts.hostname, port, folder, config.inbox.user, password,
                             processed, cafile)
    raise ConfigError(f"{where}: unsupported mailbox {masked_url(url)!r}; use maildir:///path or "
                      "imaps://host:993/FOLDER (IMAP without TLS is refused)")
