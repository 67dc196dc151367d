"""Addresses and names as the ledger stores them."""

from __future__ import annotations

import hashlib
import re

from email_validator import EmailNotValidError, validate_email

from ..errors import InvalidAddress
from ..text import header_text
from .schema import NAME_MAX

#: RFC 5321 4.5.3.1: the largest local part and path (address) a server must accept, in octets
#: (UTF-8 octets for an internationalised address, RFC 6531). email-validator's default checks
#: neither in octets, and a longer address is refused at every send.
LOCAL_PART_MAX = 64
ADDRESS_MAX = 254


def normalise_email(address: str) -> str:
    """The address as stored: domain lower-cased, and in its ASCII (IDNA) form when the local
    part is ASCII, so that plain SMTP can deliver to it (only an address with a non-ASCII local
    part needs SMTPUTF8). InvalidAddress if its syntax is wrong. No DNS look-ups."""
    text = address.strip()
    if not text:
        raise InvalidAddress("empty email address")
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{text!r} is not a valid email address: {exc}") from None
    stored: str = info.ascii_email or info.normalized
    local = stored.rpartition("@")[0]
    size = len(local.encode("utf-8"))
    if size > LOCAL_PART_MAX:
        raise InvalidAddress(f"{text!r} is not a valid email address: the part before the @ is "
                             f"{size} bytes, and mail servers accept at most {LOCAL_PART_MAX}")
    if len(stored.encode("utf-8")) > ADDRESS_MAX:
        raise InvalidAddress(f"{text!r} is not a valid email address: it is longer than "
                             f"{ADDRESS_MAX} bytes, the most mail servers accept")
    return stored


#: The providers most readers' addresses are at. A domain one slip away from one of these (a
#: letter wrong, missing, extra or two swapped) is most likely a typo of it; these themselves,
#: and real providers one slip from another (mail.com, email.com, ymail.com), never are.
PROVIDERS = frozenset((
    "gmail.com googlemail.com yahoo.com yahoo.fr yahoo.de yahoo.co.uk ymail.com hotmail.com "
    "hotmail.fr hotmail.de hotmail.co.uk outlook.com outlook.fr outlook.de live.com live.fr "
    "msn.com icloud.com me.com mac.com aol.com mail.com email.com gmx.de gmx.net gmx.fr "
    "web.de t-online.de freenet.de orange.fr free.fr laposte.net sfr.fr wanadoo.fr "
    "protonmail.com proton.me zoho.com yandex.com fastmail.com").split())


def _one_slip(a: str, b: str) -> bool:
    """True when ``a`` becomes ``b`` by one letter changed, dropped, added, or two swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    ra, rb = a[start:], b[start:]
    return (ra[1:] == rb[1:] or ra[1:] == rb or ra == rb[1:]
            or (len(ra) >= 2 and ra[0] == rb[1] and ra[1] == rb[0] and ra[2:] == rb[2:]))


def suggest_address(address: str) -> str | None:
    """``address`` at the provider its domain is one slip from (ann@gmial.com: ann@gmail.com),
    or None when its domain is a provider's own or near none."""
    local, at, domain = address.strip().rpartition("@")
    domain = domain.lower()
    if not at or domain in PROVIDERS:
        return None
    near = sorted(p for p in PROVIDERS if _one_slip(domain, p))
    return f"{local}@{near[0]}" if len(near) == 1 else None


#: A local part that email_validator accepts and leaves as it is: dot-separated atoms of letters,
#: digits, "_", "+" and "-" (at most LOCAL_PART_MAX characters, checked apart).
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*\Z")


class AddressNormaliser:
    """``normalise_email`` for a long list: email_validator's verdict on each domain is kept,
    so a plain address at a domain already seen is normalised without validating the domain
    again (three quarters of the library's time; a million-row import repeats a few thousand
    domains). Anything else — an unusual local part, a domain it refused — goes through
    ``normalise_email`` whole, which also gives its exact message."""

    def __init__(self) -> None:
        self._domains: dict[str, str | None] = {}

    def __call__(self, address: str) -> str:
        text = address.strip()
        local, at, domain = text.rpartition("@")
        if not (at and len(local) <= LOCAL_PART_MAX and _PLAIN_LOCAL.match(local)):
            return normalise_email(text)
        if domain not in self._domains:
            try:
                normalised = normalise_email(text)
            except InvalidAddress:
                self._domains[domain] = None
                raise
            self._domains[domain] = normalised.rpartition("@")[2]
            return normalised
        known = self._domains[domain]
        if known is None:
            return normalise_email(text)
        address = f"{local}@{known}"
        if len(address.encode("utf-8")) > ADDRESS_MAX:
            return normalise_email(text)  # refused, in its words
        return address


def address_key(address: str) -> str:
    """The case-insensitive uniqueness key of a normalised address."""
    return address.lower()


#: Domains whose mailboxes take no notice of dots in the local part: Gmail's.
_DOTS_IGNORED = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(key: str) -> str:
    """The mailbox that the address of uniqueness key ``key`` reaches, as far as can be told
    without asking its server: a "+tag" left out (sub-addressing, as Gmail, Outlook, iCloud,
    Fastmail and most servers take it) and, at Gmail, the dots. For counting what one inbox is
    sent — victim+1@, victim+2@, … are one inbox to flood — never for telling subscribers
    apart (ann+films@ is a subscription of its own)."""
    local, _, domain = key.rpartition("@")
    local = local.partition("+")[0] or local
    if domain in _DOTS_IGNORED:
        return f"{local.replace('.', '')}@gmail.com"
    return f"{local}@{domain}"


def mailbox_patterns(mailbox: str) -> list[str]:
    """SQL LIKE patterns (escaped with "\\") matching every uniqueness key whose
    ``mailbox_key`` may be ``mailbox``, and a few more: to narrow the keys looked at."""
    local, _, domain = mailbox.rpartition("@")

    def like(text: str) -> str:
        return re.sub(r"([\\%_])", r"\\\1", text)

    if domain == "gmail.com":  # dots anywhere but first: only the first letter is sure
        return [f"{like(local[:1])}%@{d}" for d in sorted(_DOTS_IGNORED)]
    return [f"{like(local)}%@{like(domain)}"]


def lookup_key(email: str) -> str:
    """The uniqueness key for looking an address up; a malformed one simply finds nothing."""
    try:
        return address_key(normalise_email(email))
    except InvalidAddress:
        return address_key(email.strip())


def clean_name(name: str) -> str:
    """A subscriber's name as stored: header-safe (it goes into the To: header), at most
    NAME_MAX characters. InvalidAddress for a longer one."""
    cleaned = header_text(name)
    if len(cleaned) > NAME_MAX:
        raise InvalidAddress(f"name {cleaned[:30]!r}… is longer than {NAME_MAX} characters")
    return cleaned


def address_hash(email: str) -> str:
    """What a suppression keeps of an erased address: SHA-256 of its uniqueness key. Not keyed
    with the secret, so that it outlives a change of secret; it tells only whether a given
    address was erased, which is what it is for."""
    return hashlib.sha256(lookup_key(email).encode("utf-8")).hexdigest()
