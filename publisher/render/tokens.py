"""Signed tokens for the links a reader follows, and what a list identifier looks like. (The
list's identity itself is ``sender.Sender``.)

Every token is an HMAC-SHA256, keyed with PUBLISHER_SECRET, over its purpose, the list id, the
address it is for and, where it expires, the expiry; it is compared in constant time. The
purpose is part of what is signed, so a token made for one purpose never verifies for another
(an unsubscribe token cannot confirm a subscription, a confirmation token cannot open the
preferences page).

Two shapes:

- The unsubscribe token, in every message's List-Unsubscribe header and footer: the MAC alone,
  beside the address in the URL (``?address=…&token=…``). It never expires: RFC 8058 and the
  mailbox providers want the link in a message to work as long as the message is kept.
  Messages sent before tokens carried their purpose hold an older MAC (over the list id and the
  address only); ``verify_unsubscribe_token`` still accepts it, for unsubscribing only.
- Self-contained tokens (``make_token`` / ``read_token``) for everything else: the signed
  fields travel inside the token (``payload.mac``, both base64url), so the URL holds no address
  of its own, and the expiry, when there is one, cannot be edited without breaking the MAC.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from ..errors import BadToken, ExpiredToken
from ..models import Subscriber

#: Placeholder subscriber for previews: no real address, no secret.
PREVIEW_SUBSCRIBER = Subscriber(email="subscriber@example.org", name="Subscriber")

#: The purposes a token can be made for.
UNSUBSCRIBE = "unsubscribe"
MANAGE = "manage"  # the preferences page: see, rename, export, erase
CONFIRM = "confirm"  # a subscription request's confirmation link
UNDO = "undo"  # "resubscribe" on the page that says you are unsubscribed
CHANGE = "change"  # the link mailed to a new address, to move a subscription to it
PURPOSES = (UNSUBSCRIBE, MANAGE, CONFIRM, UNDO, CHANGE)

_LIST_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9_-]+)+")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_VERSION = "publisher-token-1"
#: A token longer than this is refused before any work (an address is at most 254 octets).
TOKEN_MAX = 600


#: What a mail client or a copy glues onto a link that ends a sentence or sits in brackets or
#: quotes: the full stop, the closing bracket. No token ends in one (base64url has none of
#: them), so they are never the token's own. "=" is not among them: no client adds it.
_GLUED = ".,;:!?)]}>'\"”’»›"


def link_token(text: str) -> str:
    """The token in a link's ``token`` parameter, less what a mail client glued onto its end.
    Trimming cannot make a token of what was not one: the MAC is checked as before."""
    return text.rstrip(_GLUED)


def is_list_id(value: str) -> bool:
    """True for an RFC 2919 list identifier: a dotted name such as "reviews.example.org"."""
    return _LIST_ID.fullmatch(value) is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """The bytes ``_b64`` made ``text`` from; binascii.Error for any other text. The decoder
    alone skips characters outside the alphabet, takes padding and both alphabets, and
    ignores a final character's spare bits: an altered token would read as the genuine one."""
    if not _BASE64URL.fullmatch(text):
        raise binascii.Error("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise binascii.Error("not the canonical base64url of its bytes")
    return data


def _mac(secret: str, purpose: str, list_id: str, payload: str) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    # NUL cannot occur in a list id, a purpose or an address, so the fields cannot run together.
    data = f"{_VERSION}\0{purpose}\0{list_id}\0{payload}".encode("utf-8", "surrogatepass")
    return hmac.digest(secret.encode("utf-8"), data, "sha256")


def unsubscribe_token(secret: str, list_id: str, email: str) -> str:
    """The unsubscribe link's token for ``email``: HMAC-SHA256 over ("unsubscribe", list id,
    lower-cased address), base64url without padding."""
    return _b64(_mac(secret, UNSUBSCRIBE, list_id, email.lower()))


def _legacy_unsubscribe_token(secret: str, list_id: str, email: str) -> bytes:
    # What messages sent before tokens carried their purpose hold: HMAC(list_id NUL address).
    mac = hmac.digest(secret.encode("utf-8"), f"{list_id}\0{email.lower()}".encode(), "sha256")
    return _b64(mac).encode("ascii")


def verify_unsubscribe_token(secret: str, list_id: str, email: str, token: str) -> bool:
    """True only for the token ``unsubscribe_token`` gives this address (or the one messages
    from before purpose-bound tokens carry); constant-time."""
    if len(token) > TOKEN_MAX or len(email) > TOKEN_MAX:
        return False
    given = token.encode("utf-8", "surrogatepass")
    current = hmac.compare_digest(unsubscribe_token(secret, list_id, email).encode("ascii"),
                                  given)
    legacy = hmac.compare_digest(_legacy_unsubscribe_token(secret, list_id, email), given)
    return current | legacy  # both compared, whichever matches: no early exit


def query(email: str, token: str) -> str:
    # urlencode's result for these two fields, without its per-call overhead. The parameter is
    # "address", not "email": SpamAssassin's GB_CUSTOM_HTM_URI adds a point to any message
    # whose links carry "email=<the recipient's address>" (phishing kits do that). Its escapes
    # are written in lower case, which every URL parser reads alike: in List-Unsubscribe,
    # SpamAssassin's UNRESOLVED_TEMPLATE (3 points) takes "%AB" for a mail merge's placeholder,
    # and the escapes of an address's non-ASCII letters (zoë: "zo%C3%AB") are full of them.
    return f"address={_ESCAPE.sub(_lower, quote(email, safe=''))}&token={token}"


_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _lower(escape: re.Match[str]) -> str:
    return escape[0].lower()


@dataclass(frozen=True)
class Claim:
    """What a verified self-contained token says: the subject it was made for (an address, or
    a request's "id address") and its expiry (None: it does not expire)."""

    subject: str
    expires: datetime | None


def make_token(secret: str, purpose: str, list_id: str, subject: str,
               expires: datetime | None = None) -> str:
    """A self-contained token for ``purpose``: ``subject`` and the expiry, signed."""
    if "\n" in subject or "\0" in subject:
        raise ValueError("a token subject is one line")
    until = "" if expires is None else str(int(expires.timestamp()))
    payload = f"{subject}\n{until}"
    return f"{_b64(payload.encode('utf-8'))}.{_b64(_mac(secret, purpose, list_id, payload))}"


def read_token(secret: str, purpose: str, list_id: str, token: str, *,
               now: datetime) -> Claim:
    """The claim of a token made by ``make_token`` for this purpose and list.

    Raises BadToken for anything else — malformed, forged, made for another purpose or list —
    without saying which; ExpiredToken (a BadToken) for a genuine token past its expiry.
    """
    if len(token) > TOKEN_MAX or token.count(".") != 1:
        raise BadToken("malformed token")
    encoded, _, mac_text = token.partition(".")
    try:
        payload = _unb64(encoded).decode("utf-8")
        mac = _unb64(mac_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadToken("malformed token") from None
    if not hmac.compare_digest(_mac(secret, purpose, list_id, payload), mac):
        raise BadToken("token does not verify")
    subject, _, until = payload.partition("\n")
    expires = datetime.fromtimestamp(int(until), UTC) if until.isdigit() else None
    if expires is not None and now >= expires:
        raise ExpiredToken("token expired")
    return Claim(subject=subject, expires=expires)
