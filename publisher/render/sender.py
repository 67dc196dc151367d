"""Who a newsletter message is from: the sender's identity as a small frozen value built from
the Config once, at the edge (``Sender.from_config``), and how addresses and display names are
written into headers.

Everything that can be wrong with the sender (an unusable From, Reply-To, bounce or unsubscribe
address, a list id that is not one) is found when the value is built, as a ConfigError naming
the key; the message template then only writes what it is given.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from urllib.parse import quote
from zoneinfo import ZoneInfo

from ..config import Config
from ..errors import AddressError, ConfigError
from ..text import header_text
from .tokens import MANAGE, PREVIEW_SUBSCRIBER, is_list_id, make_token, query, unsubscribe_token

_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")
_ADDRESS_FORBIDDEN = re.compile(r'[\s<>()\[\],;:"\\]')


def encoded_words(text: str) -> str:
    """RFC 2047 base64 encoded-words of at most 75 characters, folded onto separate lines."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > 45 and chunk:  # 45 octets -> 60 base64 characters -> a 72-char word
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    words.append("".join(chunk))
    return "\r\n ".join(
        "=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words
    )


_EMPTY_WORD = re.compile(rb"=\?[^?]*\?[bBqQ]\?\?=")


def fold_subject(subject: str) -> bytes:
    """The Subject header line, RFC 2047 encoded when not ASCII, folded with CRLF."""
    header = policy.SMTP.header_factory("Subject", subject)
    folded = header.fold(policy=policy.SMTP).encode("ascii")
    # The email package's folder has had bugs with encoded-words, and ASCII text that looks
    # like an encoded-word would be decoded by readers: keep its result only if it parses back
    # to the same text, else write the subject as plain encoded-words. It also writes an empty
    # "=?utf-8?q??=" where a fold falls just before non-ASCII text: RFC 2047 forbids that (its
    # encoded-text is 1*CHAR) and Python reads it back as nothing, so look for it too.
    parsed = message_from_bytes(folded + b"\r\n", policy=policy.default)["Subject"]
    if str(parsed) != subject or _EMPTY_WORD.search(folded):
        return f"Subject: {encoded_words(subject)}\r\n".encode("ascii")
    return bytes(folded)


def phrase(name: str) -> str:
    """A display name as an RFC 5322 phrase: atoms as they are, else a quoted string, else
    (non-ASCII, very long, or text that would read as an encoded-word) RFC 2047 words."""
    if name.isascii() and "=?" not in name and len(name) <= 64:
        if _ATOM_PHRASE.fullmatch(name):
            return name
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return encoded_words(name)


def header_address(email: str) -> str:
    """The address as a header carries it; raises AddressError for anything unsafe."""
    reason = ""
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        reason = "it has no local part and domain"
    elif _ADDRESS_FORBIDDEN.search(email) or not email.isprintable():
        reason = "it contains white space, control characters or <>()[],;:\"\\"
    elif len(email.encode("utf-8")) > 254 or len(local.encode("utf-8")) > 64:
        reason = "it is longer than SMTP allows (64 octets before the @, 254 in all)"
    if reason:
        raise AddressError(f"{email!r} is not a usable address: {reason}")
    if local.isascii() and not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise AddressError(f"{email!r} is not a usable address: bad domain") from None
        return f"{local}@{domain}"
    # A non-ASCII local part stays UTF-8 (RFC 6532): such a message needs SMTPUTF8.
    return email


def requires_smtputf8(email: str) -> bool:
    """True when the address's local part is not ASCII (the relay must offer SMTPUTF8)."""
    return not email.rpartition("@")[0].isascii()


def format_address(name: str, email: str) -> str:
    """``Name <address>`` ready for a header (folded with CRLF when long); the address alone
    when there is no name. Raises AddressError for an unusable address."""
    address = header_address(email)
    name = header_text(name)
    return f"{phrase(name)} <{address}>" if name else address


@dataclass(frozen=True)
class Sender:
    """The newsletter's sending identity, every value ready for the header that carries it.

    Build it with ``from_config``, which checks every address and the list id; a Sender made
    by hand is trusted as it is.
    """

    from_header: str  # 'Name <address>', folded when long
    reply_to: str  # an address for Reply-To, or "" for none
    envelope_from: str  # the SMTP envelope sender (MAIL FROM), where bounces go
    list_id: str  # RFC 2919 identifier: List-Id, unsubscribe tokens, Message-IDs
    list_name: str  # the List-Id display name
    unsubscribe_base: str  # the one-click endpoint, ending in "?" or "&" for the query
    unsubscribe_mailto: str  # "mailto:ADDRESS?subject=unsubscribe" for List-Unsubscribe
    campaign: str  # the Feedback-ID campaign part
    domain: str  # the right-hand side of Message-IDs, the Feedback-ID sender part
    tz: ZoneInfo  # the time zone of the Date header (the newsletter's)
    #: The preferences page, ending in "?" or "&" for the token; "" when built by hand.
    preferences_base: str = ""

    @classmethod
    def from_config(cls, config: Config) -> Sender:
        """The [newsletter] sender of ``config``. Raises ConfigError naming the file and key for
        an address that cannot go in a header or a list id that is not a dotted name."""
        nl = config.newsletter
        where = f"{config.path}: newsletter"
        try:
            from_header = format_address(nl.from_name or config.title, nl.from_address)
            reply_to = format_address("", nl.reply_to) if nl.reply_to else ""
            envelope_from = header_address(nl.bounce_address or nl.from_address)
        except AddressError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        lid = nl.list_id or config.domain
        if not is_list_id(lid):
            raise ConfigError(
                f"{where}.list_id: {lid!r} is not a list identifier; write a dotted name such "
                "as \"reviews.example.org\""
            )
        try:
            mailto = header_address(nl.unsubscribe_mailto or nl.from_address)
        except AddressError as exc:
            raise ConfigError(f"{where}.unsubscribe_mailto: {exc}") from None
        base = _ascii_url(nl.unsubscribe_url or config.reader_url("unsubscribe"))
        preferences = _ascii_url(nl.preferences_url or config.reader_url("preferences"))
        return cls(
            from_header=from_header,
            reply_to=reply_to,
            envelope_from=envelope_from,
            list_id=lid,
            list_name=header_text(nl.name or config.title),
            unsubscribe_base=base + ("&" if "?" in base else "?"),
            unsubscribe_mailto=f"mailto:{mailto}?subject=unsubscribe",
            campaign=re.sub(r"[^A-Za-z0-9._-]", "-", nl.feedback_id or lid),
            domain=config.domain,
            tz=config.newsletter_tz,
            preferences_base=preferences + ("&" if "?" in preferences else "?"),
        )

    def unsubscribe_url(self, secret: str, email: str) -> str:
        """The one-click unsubscribe URL for ``email``: ...?address=...&token=... (urlencoded),
        the token signed with ``secret``."""
        return self.unsubscribe_base + query(email, unsubscribe_token(secret, self.list_id,
                                                                      email))

    def preview_unsubscribe_url(self) -> str:
        """The unsubscribe URL of PREVIEW_SUBSCRIBER in previews: the real form, a dummy token."""
        return self.unsubscribe_base + query(PREVIEW_SUBSCRIBER.email, "preview")

    def preferences_url(self, secret: str | None, email: str) -> str:
        """The preferences page for ``email``: ...?token=... (a self-contained token that never
        expires, as the unsubscribe link does); a dummy token without a secret (previews)."""
        if not self.preferences_base:
            return ""
        token = "preview" if secret is None else make_token(secret, MANAGE, self.list_id, email)
        return f"{self.preferences_base}token={token}"


def _ascii_url(url: str) -> str:
    # A header carries ASCII only; a URL configured with non-ASCII path text is percent-encoded.
    return url if url.isascii() else quote(url, safe=":/?#[]@!$&'()*+,;=%~")
