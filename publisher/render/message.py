"""Personalised newsletter messages: the MIME bytes are built once per issue, then spliced.

Python's email package assembles a few hundred messages a second; a list of thousands wants tens
of thousands. So ``MessageTemplate.from_digest`` builds the message once, with the personal
fields (``models.personal_markers``) still in it, and cuts it into static byte pieces and slots.
``render`` fills the slots for one subscriber and joins: no parsing, no MIME work per message.

Both body parts are quoted-printable, encoded here rather than by the email package, because a
soft line break may fall anywhere and would split a marker (and a spliced value must itself be
encoded). Every marker stands on a QP line of its own: the static text before it ends in a soft
break, the encoded value follows with its own soft breaks and a final one, so substitution can
never lengthen a static line and every line stays within 76 octets (SMTP allows 998).

The body is also written in DKIM "relaxed" canonical form already (no tabs, no runs of spaces,
no trailing spaces: QP encodes those), so the body hash is a plain SHA-256 of the body bytes.
That is what makes per-message DKIM cheap; see ``DkimSigner``.

SMTP carries a message dot-stuffed (a line starting with "." gets a second one) and ended by
CRLF.CRLF. Every piece starts at the beginning of a line, so each static piece is stuffed once
per issue and only the short personal values per message: ``personalise`` gives both forms, and
the SMTP transport never scans the 75 KB again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime

from ..config import SECRET_ENV, SECRET_PURPOSE
from ..errors import AddressError, ConfigError
from ..models import PERSONAL_FIELDS, RenderedDigest, Subscriber
from ..text import SUBJECT_MAX, header_text
from .dkim import (
    DKIM_HEADERS,
    DkimSigner,
    fold_dkim,
    header_fields,
    relaxed_header,
)
from .sender import Sender, fold_subject, header_address, phrase
from .tokens import PREVIEW_SUBSCRIBER, query, unsubscribe_token

# --- quoted-printable in DKIM-relaxed form ---------------------------------------------------

_QP_TOKENS = [chr(b) if 33 <= b <= 126 and b != 61 else f"={b:02X}" for b in range(256)]
_LITERAL_SPACE = re.compile(rb"(?<! ) (?=.)", re.DOTALL)  # a lone space with text after it
_QP_LINE = 75  # characters before a soft break's "=": 76 in all


def _wrap(line: str) -> list[str]:
    """Cut one encoded line into physical lines of at most 76 characters with soft breaks,
    never inside an =XX escape."""
    out, start, end = [], 0, len(line)
    while end - start > _QP_LINE:
        cut = start + _QP_LINE
        eq = line.rfind("=", cut - 2, cut)
        if eq != -1:
            cut = eq
        out.append(line[start:cut] + "=")
        start = cut
    out.append(line[start:])
    return out


def _qp_encode_line(line: str) -> str:
    """One hard line QP-encoded: printable ASCII as is, a space literal only when alone and
    not last (so DKIM relaxed canonicalisation leaves it untouched), all else =XX."""
    data = line.encode("utf-8")
    tokens = [_QP_TOKENS[b] for b in data]
    if b" " in data:
        for m in _LITERAL_SPACE.finditer(data):
            tokens[m.start()] = " "
    return "".join(tokens)


def _qp_static(text: str, *, soft_end: bool) -> bytes:
    """QP for a stretch of text between markers (``soft_end``: a marker follows, so the last,
    unfinished line ends in a soft break and the value starts on a fresh line)."""
    lines = text.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and not line:
            break  # the text ended with a newline: nothing left on the unfinished line
        physical = _wrap(_qp_encode_line(line))
        if last:
            if not soft_end:
                raise AssertionError("the final stretch of a part must end with a newline")
            physical[-1] += "="
        out.extend(physical)
    return "".join(p + "\r\n" for p in out).encode("ascii")


def _qp_value(value: str) -> bytes:
    """A personal value QP-encoded on lines of its own, ending in a soft break. Spaces and tabs
    are encoded too (quotetabs), which keeps the body in relaxed canonical form."""
    if not value:
        return b""
    enc = binascii.b2a_qp(value.encode("utf-8"), quotetabs=True)
    # b2a_qp keeps lines to 76 with "=\n" soft breaks; only its last line may need room for
    # our closing "=", which is rare: then wrap again here.
    if len(enc) - enc.rfind(b"\n") <= _QP_LINE + 1:
        return enc.replace(b"=\n", b"=\r\n") + b"=\r\n"
    flat = enc.replace(b"=\n", b"").decode("ascii")
    return ("\r\n".join(_wrap(flat)) + "=\r\n").encode("ascii")


def _relaxed_invariant(piece: bytes) -> bool:
    return not re.search(rb"\t|  | \r\n", piece)


def _dot_stuffed(piece: bytes) -> bytes:
    """A piece that starts at the beginning of a line, as SMTP's DATA carries it."""
    if b"\n." in piece:
        piece = piece.replace(b"\n.", b"\n..")
    return b"." + piece if piece.startswith(b".") else piece


@dataclass(frozen=True, slots=True)
class Rendered:
    """One subscriber's message in the forms transports take: ``content`` (RFC 5322, CRLF
    lines), ``data`` (the same as SMTP's DATA carries it: dot-stuffed, ending CRLF.CRLF) and
    its Message-ID (the ledger records it)."""

    content: bytes
    data: bytes
    message_id: str



# --- the template ----------------------------------------------------------------------------

# Slots a subscriber fills. Header slots hold whole header lines.
_TO, _MESSAGE_ID, _LIST_UNSUBSCRIBE = "to", "message-id", "list-unsubscribe"


class MessageTemplate:
    """One issue's message, built once; ``render`` makes one subscriber's complete message."""

    def __init__(self, *, sender: Sender, number: int,
                 pieces: list[bytes], slots: list[tuple[int, str, str]], header_end: int,
                 canon_plan: list[bytes | str], secret: str | None,
                 signer: DkimSigner | None, dkim_prefix: bytes):
        self.sender = sender
        self.number = number
        #: The SMTP envelope sender (MAIL FROM), where bounces go.
        self.envelope_from = sender.envelope_from
        self._pieces = pieces
        self._slots = slots
        self._header_end = header_end  # pieces[:header_end] are the header block
        self._canon_plan = canon_plan
        self._header_slots = [(i, field) for i, kind, field in slots if kind == "header"]
        self._secret = secret
        self._signer = signer
        self._dkim_prefix = dkim_prefix
        # Every piece starts a line (a personal value follows a soft line break and ends with
        # one; header slots are whole lines), so each can be dot-stuffed on its own.
        for piece in pieces:
            if piece and not piece.endswith(b"\r\n"):  # pragma: no cover - a bug here
                raise AssertionError("a static piece does not end a line")
            if piece.count(b"\n") != piece.count(b"\r\n"):  # pragma: no cover
                raise AssertionError("a static piece has a bare LF")
        self._stuffed = [_dot_stuffed(piece) for piece in pieces]

    # -- construction --

    @classmethod
    def from_digest(cls, digest: RenderedDigest, sender: Sender, *, secret: str,
                    date: datetime, signer: DkimSigner | None) -> MessageTemplate:
        """Build the message for ``digest`` from ``sender`` once. ``secret`` signs the
        unsubscribe tokens (see ``load_secret``); ``signer`` (``DkimSigner.from_config``) signs
        each message, or None when the relay signs or nobody does."""
        if not secret:
            raise ConfigError(f"{SECRET_ENV} is empty; {SECRET_PURPOSE}")
        return cls._build(digest, sender, secret=secret, date=date, signer=signer)

    @classmethod
    def _build(cls, digest: RenderedDigest, sender: Sender, *, secret: str | None,
               date: datetime, signer: DkimSigner | None) -> MessageTemplate:
        if date.tzinfo is None:
            raise ValueError("date must be timezone-aware")
        number = digest.issue.number
        markers = {f: m for f, m in digest.markers.items() if f in PERSONAL_FIELDS}
        nonce = hashlib.sha256(
            "\0".join([str(number), *sorted(markers.values()), digest.subject]).encode()
        ).hexdigest()[:24]

        # The MIME skeleton comes from the email package, with one placeholder per part body;
        # "=_" cannot occur in quoted-printable, so the boundary cannot occur in a body.
        placeholders = {"plain": f"@@BODY-TEXT-{nonce}@@", "html": f"@@BODY-HTML-{nonce}@@"}
        skeleton = EmailMessage(policy=policy.SMTP)
        skeleton.make_alternative()
        for subtype, placeholder in placeholders.items():
            part = MIMEPart(policy=policy.SMTP)
            part.set_content(placeholder + "\n", subtype=subtype, cte="quoted-printable")
            # A MIMEPart (no MIME-Version of its own) is what belongs inside; typeshed asks for
            # an EmailMessage.
            skeleton.attach(part)  # type: ignore[arg-type]
        skeleton.set_boundary(f"=_{nonce}")
        mime = skeleton.as_bytes()
        content_type, sep, mime_body = mime.partition(b"\r\n\r\n")
        assert sep and content_type.startswith(b"Content-Type: multipart/alternative")

        # Headers. Return-Path is not written here: the receiving server adds it from the
        # envelope sender (MAIL FROM = envelope_from), and any we wrote would be replaced.
        # No "Precedence: bulk": it is obsolete and only hurts with some filters.
        subject = header_text(digest.subject, SUBJECT_MAX)
        head = [
            f"Date: {format_datetime(date.astimezone(sender.tz))}\r\n".encode(),
            f"From: {sender.from_header}\r\n".encode(),
            f"Reply-To: {sender.reply_to}\r\n".encode() if sender.reply_to else b"",
        ]
        pieces: list[bytes] = [b"".join(head)]
        slots: list[tuple[int, str, str]] = [(len(pieces), "header", _TO)]
        pieces.append(b"")
        pieces.append(fold_subject(subject))
        slots.append((len(pieces), "header", _MESSAGE_ID))
        pieces.append(b"")
        pieces.append(
            b"MIME-Version: 1.0\r\n"
            + f"List-Id: {phrase(sender.list_name)} <{sender.list_id}>\r\n".encode("ascii")
        )
        slots.append((len(pieces), "header", _LIST_UNSUBSCRIBE))
        pieces.append(b"")
        feedback_id = f"{number}:{sender.campaign}:digest:{sender.domain}"
        pieces.append(
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            + f"Feedback-ID: {feedback_id}\r\n".encode("ascii")
            + content_type + b"\r\n\r\n"
        )
        header_end = len(pieces)
        static = header_fields(b"".join(pieces))
        personal = {field for _, _, field in slots}
        # What the DKIM header hash takes, in h= order: canonical static lines, precomputed,
        # and the names of the personal fields to canonicalise per message.
        canon_plan: list[bytes | str] = []
        for name in dict.fromkeys(DKIM_HEADERS):
            if name in personal:
                canon_plan.append(name)
            elif name in static:
                canon_plan.append(relaxed_header(name, static[name]))

        # Body: the skeleton around our own QP for each part.
        rest = mime_body
        parts = {"plain": digest.text, "html": digest.html}
        for subtype, placeholder in placeholders.items():
            before, found, rest = rest.partition(placeholder.encode("ascii") + b"\r\n")
            assert found, "the email package changed how it writes a part"
            pieces.append(before)
            text = parts[subtype].replace("\r\n", "\n").replace("\r", "\n")
            if not text.endswith("\n"):
                text += "\n"
            kind = "text" if subtype == "plain" else "html"
            _split_part(text, markers, kind, pieces, slots)
        pieces.append(rest)

        dkim_prefix = b""
        if signer is not None:
            for piece in pieces[header_end:]:
                if not _relaxed_invariant(piece):  # pragma: no cover - a bug in this module
                    raise AssertionError("body piece not in DKIM relaxed canonical form")
            dkim_prefix = fold_dkim(
                f"v=1; a={signer.algorithm}; c=relaxed/relaxed; d={signer.domain}; "
                f"s={signer.selector}; t={int(date.timestamp())}; "
                f"h={':'.join(DKIM_HEADERS)}".encode("ascii")
            ) + b";\r\n bh="
        return cls(sender=sender, number=number, pieces=pieces, slots=slots,
                   header_end=header_end, canon_plan=canon_plan, secret=secret, signer=signer,
                   dkim_prefix=dkim_prefix)

    # -- per subscriber --

    def message_id(self, subscriber: Subscriber) -> str:
        """``<issue-N.HASH@domain>``: the same for this issue and address every time, so a
        resend is recognisable; keyed with the secret so it does not reveal the address."""
        data = (f"message-id\0{self.sender.list_id}\0{self.number}\0"
                f"{subscriber.email.lower()}").encode()
        if self._secret is None:
            digest = hashlib.sha256(data).digest()
        else:
            digest = hmac.digest(self._secret.encode("utf-8"), data, "sha256")
        return f"<issue-{self.number}.{digest[:12].hex()}@{self.sender.domain}>"

    def unsubscribe_url(self, subscriber: Subscriber) -> str:
        """This subscriber's one-click unsubscribe URL (a dummy token in previews)."""
        email = subscriber.email
        if self._secret is None:
            token = "preview"
        else:
            token = unsubscribe_token(self._secret, self.sender.list_id, email)
        return self.sender.unsubscribe_base + query(email, token)

    def preferences_url(self, subscriber: Subscriber) -> str:
        """This subscriber's preferences page (a dummy token in previews)."""
        return self.sender.preferences_url(self._secret, subscriber.email)

    def _fill(self, subscriber: Subscriber) -> tuple[list[bytes], str]:
        email = subscriber.email
        address = header_address(email)  # raises AddressError before anything else
        name = header_text(subscriber.name)
        to = f"{phrase(name)} <{address}>" if name else address
        url = self.unsubscribe_url(subscriber)
        if len(url) > 900:  # List-Unsubscribe must stay within SMTP's 998-octet line
            raise AddressError(f"{email!r} makes an unsubscribe link longer than a header line")
        raw = {"email": email, "name": name, "unsubscribe_url": url,
               "preferences_url": self.preferences_url(subscriber)}
        mailto = self.sender.unsubscribe_mailto
        message_id = self.message_id(subscriber)
        out = self._pieces.copy()
        encoded: dict[str, bytes] = {}  # a value escapes to itself in HTML more often than not
        for index, kind, field in self._slots:
            if kind == "text" or kind == "html":
                value = raw[field] if kind == "text" else html.escape(raw[field])
                if (piece := encoded.get(value)) is None:
                    piece = encoded[value] = _qp_value(value)
                out[index] = piece
            elif field == _TO:
                out[index] = f"To: {to}\r\n".encode()
            elif field == _MESSAGE_ID:
                out[index] = f"Message-ID: {message_id}\r\n".encode("ascii")
            else:
                out[index] = f"List-Unsubscribe: <{url}>,\r\n <{mailto}>\r\n".encode()
        return out, message_id

    def _digest_to_sign(self, out: list[bytes]) -> tuple[bytes, bytes]:
        """The DKIM-Signature value without b= data, and the SHA-256 that b= signs."""
        body_hash = base64.b64encode(hashlib.sha256(b"".join(out[self._header_end:])).digest())
        value = self._dkim_prefix + body_hash + b"; b="
        personal = {field: out[i].partition(b":")[2] for i, field in self._header_slots}
        h = hashlib.sha256()
        for item in self._canon_plan:
            h.update(item if isinstance(item, bytes) else relaxed_header(item, personal[item]))
        # The signature header itself, b= empty and without its CRLF (RFC 6376 3.7).
        h.update(relaxed_header("dkim-signature", b" " + value)[:-2])
        return value, h.digest()

    def _assemble(self, subscriber: Subscriber) -> tuple[bytes, list[bytes], str]:
        """The DKIM-Signature header (b"" unsigned), the filled pieces, the Message-ID."""
        out, message_id = self._fill(subscriber)
        if self._signer is None:
            return b"", out, message_id
        value, digest = self._digest_to_sign(out)
        b = base64.b64encode(self._signer.sign_digest(digest))
        folded = b"\r\n ".join(b[i:i + 72] for i in range(0, len(b), 72))
        return b"DKIM-Signature: " + value + b"\r\n " + folded + b"\r\n", out, message_id

    def render(self, subscriber: Subscriber) -> bytes:
        """The complete message for one subscriber: CRLF lines of at most 998 octets, DKIM-signed
        when configured. Raises AddressError for an address that cannot be sent to."""
        signature, out, _ = self._assemble(subscriber)
        return b"".join([signature, *out])

    def personalise(self, subscriber: Subscriber) -> Rendered:
        """``render``, with the message as SMTP's DATA carries it and its Message-ID (what
        the delivery engine sends and records). Raises AddressError as ``render`` does."""
        signature, out, message_id = self._assemble(subscriber)
        wire = self._stuffed.copy()
        for index, _, _ in self._slots:
            wire[index] = _dot_stuffed(out[index])
        # The signature header's lines start with "DKIM-Signature:" or a space.
        return Rendered(b"".join([signature, *out]), b"".join([signature, *wire, b".\r\n"]),
                        message_id)

    def render_many(self, subscribers: Iterable[Subscriber]) -> Iterator[bytes]:
        """``render`` for each subscriber, in order; an AddressError is raised in its place."""
        return map(self.render, subscribers)



def _split_part(text: str, markers: dict[str, str], kind: str, pieces: list[bytes],
                slots: list[tuple[int, str, str]]) -> None:
    """Append the QP pieces of one part, with a slot wherever a marker stands."""
    by_marker = {m: f for f, m in markers.items()}
    if not by_marker:
        pieces.append(_qp_static(text, soft_end=False))
        return
    pattern = re.compile("|".join(re.escape(m) for m in sorted(by_marker, key=len, reverse=True)))
    position = 0
    for m in pattern.finditer(text):
        pieces.append(_qp_static(text[position:m.start()], soft_end=True))
        slots.append((len(pieces), kind, by_marker[m.group()]))
        pieces.append(b"")
        position = m.end()
    pieces.append(_qp_static(text[position:], soft_end=False))


def preview_message(digest: RenderedDigest, sender: Sender, *, date: datetime) -> bytes:
    """The message as a placeholder reader would get it: no secret, no DKIM, a dummy token."""
    template = MessageTemplate._build(digest, sender, secret=None, date=date, signer=None)
    return template.render(PREVIEW_SUBSCRIBER)


