"""What a message that came back means: a bounce, a complaint, an unsubscribe request, or
nothing of ours. Pure: bytes in, a ``Returned`` out, parsed with the email package.

- A delivery status notification (RFC 3464, ``multipart/report;
  report-type=delivery-status``) with ``Action: failed``: a hard bounce for a 5.x.x status, a
  soft one for 4.x.x — and for 5.7.x, which is about us (policy, reputation), not the address,
  as the sending path treats it. ``Action: delayed`` is a warning, not a bounce.
- A qmail bounce (QSBMF: plain text beginning "Hi. This is the", a paragraph for each
  recipient that failed, then the message returned), read as a DSN is: qmail-send still runs
  many shared hosts' mail, and it writes no RFC 3464 report.
- A complaint (RFC 5965 ARF, ``report-type=feedback-report``) of type abuse or fraud.
- Mail to the List-Unsubscribe ``mailto:`` address (or with the subject "unsubscribe"), not
  sent by a machine (RFC 3834 Auto-Submitted, Precedence: bulk/junk/list).

Reports are tied to our message by the Message-ID they quote (the returned headers, the
returned message, or Gmail's X-Original-Message-ID), not by the recipient they name: providers
redact the recipient of a complaint, and our Message-IDs are keyed with the secret, so a forged
report cannot name someone else's message. (A VERP envelope sender, bounces+TOKEN@domain, would
tie bounces without quoted headers too, but needs the relay and the bounce mailbox to keep
plus-addresses, and most hosted relays rewrite the envelope sender; every DSN the shapes we
target send quotes the headers.)

Every header is read as text (``_UNTRUSTED``), and an address strictly out of its raw value
(``_mailboxes``): what comes back is anyone's mail, the email package's structured header
parsers raise, rather than note a defect, on some malformed values ("Message-ID: <<<>>>" is an
IndexError), and a lenient reading acts on someone else (CVE-2023-27043: CPython's parseaddr
reads "ann@example.org <eve@example.net>" as Ann's). An unsubscribe acts only on a From of one
well-formed address. A message the email package still cannot read is ``other``, with why; a
fault in publisher's own code is not taken for one (``_email_package_fault``).
"""

from __future__ import annotations

import email
import hashlib
import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from email import message_from_bytes, message_from_string
from email.errors import MessageError, ObsoleteHeaderDefect
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.policy import default

HARD = "hard-bounce"
SOFT = "soft-bounce"
COMPLAINT = "complaint"
UNSUBSCRIBE = "unsubscribe"
OTHER = "other"

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_COMPLAINT_TYPES = {"abuse", "fraud"}

#: The default policy (RFC 2047 words decoded, an EmailMessage for get_content), with every
#: header unstructured text: the structured ones (addresses, Message-ID, Content-Type) parse
#: on first read and raise on some malformed values, in the middle of the feed parser too.
_UNTRUSTED = default.clone(header_factory=HeaderRegistry(use_default_map=False))

#: What the email package raises on mail it cannot read: a nesting too deep for its recursive
#: parser, a charset it does not know; and its header parser, on malformed values found by
#: fuzzing, an IndexError, AttributeError, TypeError or UnboundLocalError of its own making.
_UNREADABLE = (LookupError, ValueError, TypeError, AttributeError, UnboundLocalError,
               MessageError, RecursionError)
_EMAIL_PACKAGE = os.path.dirname(email.__file__) + os.sep
_PUBLISHER = os.path.dirname(os.path.dirname(__file__)) + os.sep


@dataclass(frozen=True)
class Returned:
    """One message from the inbox, understood.

    ``key`` identifies the message itself (its own Message-ID, else a hash of its bytes) so
    that acting on it twice can be refused; ``message_ids`` are the Message-IDs of the message
    it reports on; ``addresses`` the recipients it names (a DSN) or its sender (a mailto
    unsubscribe); ``detail`` one line for the subscriber's history; ``reason`` why it is
    ``other``."""

    kind: str
    key: str
    message_ids: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    detail: str = ""
    reason: str = ""


def _one_line(text: object, limit: int = 300) -> str:
    return " ".join(str(text or "").split())[:limit]


def message_key(raw: bytes, message: Message) -> str:
    mid = _one_line(message.get("Message-ID", ""), 180).strip("<>")
    if mid:
        return f"mid:{mid}"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _raw_values(message: Message, name: str) -> list[str]:
    """Header ``name``'s values as the message holds them, unfolded, RFC 2047 words undecoded:
    an address is read from these, never from the decoded text ("=?utf-8?q?ann=40example.org?=
    <eve@example.net>" is Eve's)."""
    return [re.sub(r"[\r\n]", "", str(value)) for key, value in message.raw_items()
            if key.lower() == name.lower()]


def _mailboxes(value: str) -> tuple[str, ...] | None:
    """The addresses an address header's raw ``value`` names, read strictly (RFC 5322; RFC
    6532's UTF-8): None when the email package notes a defect in it or cannot parse it. The
    parse alone is no guard: "ann@example.org <eve@example.net>" gives Ann, with a defect.
    RFC 5322's obsolete forms, which it says a reader must accept ("J. Smith <j@example.org>",
    a period in the name unquoted), are no doubt about the address."""
    try:
        text = value.encode("utf-8", "surrogateescape").decode("utf-8")
        header = default.header_factory("to", text)
    except _UNREADABLE:  # not UTF-8, or one of the parser's own faults
        return None
    if any(not isinstance(defect, ObsoleteHeaderDefect) for defect in header.defects):
        return None
    return tuple(str(address.addr_spec) for address in header.addresses)


def _parts(message: Message) -> Iterator[Message]:
    yield from message.walk()


def _header_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
        raw = part.get_payload(decode=True)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else text
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [message_from_string(block + "\n") for block in blocks if block.strip()]


def _quoted_message_ids(message: Message) -> list[str]:
    """Message-IDs of the message a report returns: in text/rfc822-headers or message/rfc822
    parts, and Gmail's X-Original-Message-ID in the per-message DSN fields."""
    ids: list[str] = []
    for part in _parts(message):
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                mid = inner[0].get("Message-ID")
                if mid:
                    ids.append(str(mid))
        elif kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
            mid = message_from_string(text.split("\n\n", 1)[0] + "\n").get("Message-ID")
            if mid:
                ids.append(str(mid))
        elif kind == "message/delivery-status":
            for block in _header_blocks(part)[:1]:
                if block.get("X-Original-Message-ID"):
                    ids.append(str(block["X-Original-Message-ID"]))
    return [_one_line(mid, 250) for mid in dict.fromkeys(ids)]


def _address(field: object) -> str:
    """'rfc822; ann@example.org' → 'ann@example.org'."""
    text = _one_line(field)
    kind, sep, value = text.partition(";")
    return (value if sep else kind).strip().strip("<>")


def _dsn(message: Message, key: str) -> Returned:
    part = next((p for p in _parts(message) if p.get_content_type() == "message/delivery-status"),
                None)
    if part is None:
        return Returned(OTHER, key, reason="a delivery report without its status part")
    failed: list[tuple[str, str, str]] = []  # (status, recipient, diagnostic)
    delayed = False
    for block in _header_blocks(part)[1:]:
        action = _one_line(block.get("Action")).lower()
        status = _STATUS.search(_one_line(block.get("Status")))
        code = status.group(0) if status else ""
        recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
        diagnostic = _one_line(block.get("Diagnostic-Code"))
        if re.match(r"[\w-]+;", diagnostic):  # "smtp; 550 …": the type is noise here
            diagnostic = diagnostic.partition(";")[2].strip()
        if action == "failed":
            if not code:  # some MTAs put the status only in the diagnostic
                found = _STATUS.search(diagnostic)
                code = found.group(0) if found else "5.0.0"
            failed.append((code, recipient, diagnostic))
        elif action == "delayed":
            delayed = True
    if not failed:
        reason = ("a delay warning (the server is still trying)" if delayed
                  else "a delivery report of no failure")
        return Returned(OTHER, key, reason=reason)
    return _bounce(failed, key, tuple(_quoted_message_ids(message)))


def _bounce(failed: list[tuple[str, str, str]], key: str,
            message_ids: tuple[str, ...]) -> Returned:
    """A bounce of the message ``message_ids`` name, from its failures (status, recipient,
    diagnostic): hard when one is 5.x.x other than 5.7.x (policy: about us, not the address),
    soft otherwise; its detail is the first hard failure's, else the first's."""
    hard = [f for f in failed if f[0].startswith("5.") and not f[0].startswith("5.7.")]
    code, _recipient, diagnostic = (hard or failed)[0]
    return Returned(HARD if hard else SOFT, key, message_ids,
                    tuple(dict.fromkeys(r for _, r, _ in failed if r)),
                    f"{code}: {diagnostic}" if diagnostic else code)


#: QSBMF's status, when an explanation gives one: "… (#5.1.1)".
_QSBMF_STATUS = re.compile(r"\(#([245]\.\d{1,3}\.\d{1,3})\)")
_QSBMF_RECIPIENT = re.compile(r"<([^<>\s]*)>:")


def _qsbmf(message: Message, key: str) -> Returned | None:
    """A qmail-send bounce (D. J. Bernstein's QSBMF): a plain text body that begins "Hi. This
    is the", then paragraphs (lines up to a blank one): the introduction, one for each
    recipient that failed ("<address>:" and the explanation), a break paragraph beginning
    "-", and the message returned, whole or its headers. qmail-send bounces only once it has
    given up, so each is a failure, of the status the explanation gives ("(#4.4.2)", or the
    remote server's "550 5.1.1"; 5.0.0 when none), read as a DSN's. None when ``message``
    is not such a bounce with at least one recipient."""
    if not isinstance(message, EmailMessage) or message.get_content_type() != "text/plain":
        return None  # (read with the default policy, a message is an EmailMessage)
    try:
        text = message.get_content()
    except (LookupError, ValueError, TypeError):
        # An unknown charset, a broken encoding, or one in RFC 2231 form ("charset*=x'y'…"):
        # the email package passes that on as a tuple, where bytes.decode wants a str.
        return None
    if not isinstance(text, str) or not text.startswith("Hi. This is the"):
        return None
    lines = text.splitlines()
    failed: list[tuple[str, str, str]] = []  # (status, recipient, explanation)
    paragraph: list[str] = []
    returned: list[str] = []
    for index, line in enumerate(lines + [""]):
        if line.strip():
            if not paragraph and line.startswith("-"):  # the break: the message follows
                after = lines[index:]
                blank = next((i for i, rest in enumerate(after) if not rest.strip()),
                             len(after))
                returned = after[blank + 1:]
                break
            paragraph.append(line)
            continue
        recipient = _QSBMF_RECIPIENT.fullmatch(paragraph[0].strip()) if paragraph else None
        if recipient is not None:
            explanation = _one_line(" ".join(paragraph[1:]))
            given, said = _QSBMF_STATUS.search(explanation), _STATUS.search(explanation)
            code = given.group(1) if given else said.group(0) if said else "5.0.0"
            failed.append((code, recipient.group(1), explanation))
        paragraph = []
    if not failed:
        return None
    headers = "\n".join(returned[:next((i for i, line in enumerate(returned)
                                        if not line.strip()), len(returned))])
    mid = message_from_string(headers + "\n").get("Message-ID") if headers else None
    return _bounce(failed, key, (_one_line(mid, 250),) if mid else ())


def _arf(message: Message, key: str) -> Returned:
    part = next((p for p in _parts(message)
                 if p.get_content_type() == "message/feedback-report"), None)
    fields = _header_blocks(part)[0] if part is not None and _header_blocks(part) else None
    feedback = _one_line(fields.get("Feedback-Type") if fields else "").lower()
    if feedback not in _COMPLAINT_TYPES:
        return Returned(OTHER, key, reason=f"a feedback report of type {feedback or 'unknown'}")
    agent = _one_line(fields.get("User-Agent") if fields else "", 80)
    rcpt = _address(fields.get("Original-Rcpt-To") if fields else "")
    return Returned(COMPLAINT, key, tuple(_quoted_message_ids(message)),
                    (rcpt,) if "@" in rcpt else (),
                    f"complaint ({feedback}) via {agent or 'a feedback loop'}")


def _automatic(message: Message) -> str:
    auto = _one_line(message.get("Auto-Submitted")).lower()
    if auto and auto != "no":
        return f"sent by a machine (Auto-Submitted: {auto})"
    precedence = _one_line(message.get("Precedence")).lower()
    if precedence in ("bulk", "junk", "list"):
        return f"sent by a machine (Precedence: {precedence})"
    if message.get("List-Id") or message.get("X-Autoreply") or message.get("X-Autorespond"):
        return "sent by a machine (a list or an auto-reply)"
    return ""


def _email_package_fault(exc: BaseException) -> bool:
    """Whether ``exc`` arose in the email package: the last call publisher's code made on the
    way to it was into that package. One raised in publisher's own code is a bug, for its
    traceback."""
    callee = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(_PUBLISHER):
            callee = ""
        elif not callee:
            callee = filename
        tb = tb.tb_next
    return callee.startswith(_EMAIL_PACKAGE)


def classify(raw: bytes, *, unsubscribe_addresses: Collection[str],
             reply_addresses: Collection[str] = ()) -> Returned:
    """What ``raw`` (one message as stored in the mailbox) means. ``unsubscribe_addresses``:
    the List-Unsubscribe mailto addresses, lower-case; ``reply_addresses``: where readers'
    replies go (From, Reply-To), lower-case: mail there asks to leave only by its subject.
    Whatever ``raw`` holds, it is never an exception: a message the email package cannot read
    is ``other``, so that it is left in the mailbox and counted, and the run goes on."""
    try:
        return _classify(raw, unsubscribe_addresses, reply_addresses)
    except _UNREADABLE as exc:
        if not _email_package_fault(exc):
            raise
        return Returned(OTHER, "sha256:" + hashlib.sha256(raw).hexdigest(),
                        reason=f"unreadable by Python's email package ({type(exc).__name__})")


def _classify(raw: bytes, unsubscribe_addresses: Collection[str],
              reply_addresses: Collection[str]) -> Returned:
    message = message_from_bytes(raw, policy=_UNTRUSTED)
    key = message_key(raw, message)
    kind = message.get_content_type()
    report = str(message.get_param("report-type", "", header="content-type") or "").lower()
    if kind == "multipart/report" and report == "delivery-status":
        return _dsn(message, key)
    if kind == "multipart/report" and report == "feedback-report":
        return _arf(message, key)
    if kind == "multipart/report":
        return Returned(OTHER, key, reason=f"a report of type {report or 'unknown'}")
    qmail = _qsbmf(message, key)
    if qmail is not None:
        return qmail
    recipients = {address.lower() for name in ("To", "Cc", "Delivered-To", "X-Original-To")
                  for value in _raw_values(message, name) for address in _mailboxes(value) or ()}
    subject = _one_line(message.get("Subject")).lower()
    addressed = recipients & set(unsubscribe_addresses)
    if not addressed and subject != "unsubscribe":
        return Returned(OTHER, key, reason="not a report, nor addressed to the unsubscribe "
                                           "address")
    automatic = _automatic(message)
    if automatic:
        return Returned(OTHER, key, reason=automatic)
    if subject != "unsubscribe" and addressed <= set(reply_addresses):
        # The mailto defaults to from_address: "Re: issue #3, loved it" must not unsubscribe.
        return Returned(OTHER, key, reason="a reply to the newsletter's own address")
    # One From (RFC 5322) of one mailbox: of two, whose request would it be?
    froms = _raw_values(message, "From")
    senders = _mailboxes(froms[0]) if len(froms) == 1 else None if froms else ()
    if senders is None or len(senders) > 1 or (senders and "@" not in senders[0]):
        return Returned(OTHER, key, reason="an unsubscribe request whose From is not one "
                                           "well-formed address")
    if not senders:  # no From, or a group of no one ("undisclosed-recipients:;")
        return Returned(OTHER, key, reason="an unsubscribe request without a sender address")
    return Returned(UNSUBSCRIBE, key, (), senders, "by mail to the unsubscribe address")
