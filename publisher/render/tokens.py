"""The list's identity and the HMAC tokens in every message's unsubscribe link."""

from __future__ import annotations

import base64
import hmac
import re
from urllib.parse import quote

from ..config import Config
from ..errors import ConfigError
from ..models import Subscriber

#: Placeholder subscriber for previews: no real address, no secret.
PREVIEW_SUBSCRIBER = Subscriber(email="subscriber@example.org", name="Subscriber")

_LIST_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9_-]+)+")


def list_id(config: Config) -> str:
    """The RFC 2919 list identifier: newsletter.list_id, else base_url's host."""
    value = config.newsletter.list_id or config.domain
    if not _LIST_ID.fullmatch(value):
        raise ConfigError(
            f"{config.path}: newsletter.list_id: {value!r} is not a list identifier; write a "
            "dotted name such as \"reviews.example.org\""
        )
    return value


def unsubscribe_token(secret: str, list_id: str, email: str) -> str:
    """HMAC-SHA256(secret, list_id NUL lower(email)), base64url without padding."""
    mac = hmac.digest(secret.encode("utf-8"), f"{list_id}\0{email.lower()}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def verify_unsubscribe_token(secret: str, list_id: str, email: str, token: str) -> bool:
    """True only for the token ``unsubscribe_token`` gives this address; constant-time."""
    expected = unsubscribe_token(secret, list_id, email).encode("ascii")
    return hmac.compare_digest(expected, token.encode("utf-8", "surrogatepass"))


def unsubscribe_base(config: Config) -> str:
    base = _ascii_url(config.newsletter.unsubscribe_url or config.url("unsubscribe"))
    return base + ("&" if "?" in base else "?")


def query(email: str, token: str) -> str:
    # urlencode's result for these two fields, without its per-call overhead. The parameter is
    # "address", not "email": SpamAssassin's GB_CUSTOM_HTM_URI adds a point to any message
    # whose links carry "email=<the recipient's address>" (phishing kits do that).
    return f"address={quote(email, safe='')}&token={token}"


def unsubscribe_url(config: Config, secret: str, email: str) -> str:
    """The one-click unsubscribe URL for ``email``: ...?address=...&token=... (urlencoded)."""
    token = unsubscribe_token(secret, list_id(config), email)
    return unsubscribe_base(config) + query(email, token)


def preview_unsubscribe_url(config: Config) -> str:
    """The unsubscribe URL of PREVIEW_SUBSCRIBER in previews: the real form, a dummy token."""
    return unsubscribe_base(config) + query(PREVIEW_SUBSCRIBER.email, "preview")


def _ascii_url(url: str) -> str:
    # A header carries ASCII only; a URL configured with non-ASCII path text is percent-encoded.
    return url if url.isascii() else quote(url, safe=":/?#[]@!$&'()*+,;=%~")

