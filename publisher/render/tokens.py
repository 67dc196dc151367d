"""The HMAC tokens in every message's unsubscribe link, and what a list identifier looks like.
(The list's identity itself is ``sender.Sender``.)"""

from __future__ import annotations

import base64
import hmac
import re
from urllib.parse import quote

from ..models import Subscriber

#: Placeholder subscriber for previews: no real address, no secret.
PREVIEW_SUBSCRIBER = Subscriber(email="subscriber@example.org", name="Subscriber")

_LIST_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9_-]+)+")


def is_list_id(value: str) -> bool:
    """True for an RFC 2919 list identifier: a dotted name such as "reviews.example.org"."""
    return _LIST_ID.fullmatch(value) is not None


def unsubscribe_token(secret: str, list_id: str, email: str) -> str:
    """HMAC-SHA256(secret, list_id NUL lower(email)), base64url without padding."""
    mac = hmac.digest(secret.encode("utf-8"), f"{list_id}\0{email.lower()}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def verify_unsubscribe_token(secret: str, list_id: str, email: str, token: str) -> bool:
    """True only for the token ``unsubscribe_token`` gives this address; constant-time."""
    expected = unsubscribe_token(secret, list_id, email).encode("ascii")
    return hmac.compare_digest(expected, token.encode("utf-8", "surrogatepass"))


def query(email: str, token: str) -> str:
    # urlencode's result for these two fields, without its per-call overhead. The parameter is
    # "address", not "email": SpamAssassin's GB_CUSTOM_HTM_URI adds a point to any message
    # whose links carry "email=<the recipient's address>" (phishing kits do that).
    return f"address={quote(email, safe='')}&token={token}"
