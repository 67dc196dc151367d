"""What cron will need, checked before it needs it: the schedule, the transport (and, on request,
a real connection to the relay), the addresses, the signing secret, the DKIM key (and, on
request, the record published in DNS), the ledger and the directories a run writes. One
function per concern, each returning ``Findings``; nothing is written, nothing is sent.

Each check uses the code a run uses (``transport_from_url``, ``Sender.from_config``,
``DkimSigner.from_config``, ``config_schedule``), so that nothing this passes fails at send time
for a reason it could have seen.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dns.exception
import dns.resolver

from ..config import SECRET_ENV, SECRET_HINT, SECRET_PURPOSE, Config
from ..delivery.engine import ambiguous_problem, paused_line
from ..delivery.local import FileTransport, MaildirTransport
from ..delivery.mailbox import MaildirBox, mailbox_description, mailbox_from_config
from ..delivery.transports import Transport, transport_from_url
from ..errors import ConfigError, InvalidAddress, PublisherError, StoreError, TemplateError
from ..files import disk_full
from ..ledger import Store
from ..ledger.addresses import normalise_email
from ..ledger.backups import ledger_damage
from ..ledger.health import describe_server
from ..ledger.probe import LedgerStatus, probe_ledger, readonly_store, sqlite_path
from ..ledger.schema import SCHEMA_REVISION
from ..models import DeliveryStatus, IssueState
from ..newsletter.schedule import (
    clock_warning,
    config_schedule,
    day_fields_warning,
    format_local,
    next_times,
    outlook,
)
from ..newsletter.subscriptions import welcome_still_owed
from ..render.dkim import DkimSigner
from ..render.reader import (
    LatestIssue,
    address_changed_message,
    address_link_message,
    confirmation_message,
    on_list_message,
    welcome_message,
)
from ..render.sender import Sender
from ..render.site import Site
from ..render.strings import load_web_strings
from ..render.words import plural_rule
from ..sources import Catalog
from ..text import count
from .issues import lost_ledger
from .lock import file_lock_holder, stuck_holder
from .slots import SOURCES_UNLOADED, ledger_decision, slot_shortfall
from .units import RUN_EVERY_MINUTES

#: Shorter secrets are refused for a new publication (HMAC-SHA256 keys: 32 bytes is its
#: output size, and what secrets.token_urlsafe(32) gives).
SECRET_MIN_BYTES = 32

#: Domains reserved for examples and tests (RFC 2606, RFC 6761): mail from or links to them
#: reach nobody. The scaffold writes example.org until the editor sets their own.
_PLACEHOLDER = re.compile(r"(?:^|\.)(?:example(?:\.(?:org|com|net))?|test|invalid|localhost)\Z",
                          re.IGNORECASE)
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


@dataclass
class Findings:
    """What one check found: ``errors`` (a run would fail, or do harm), ``warnings``, and
    ``info`` lines that say what was checked."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)

    def extend(self, other: Findings) -> Findings:
        self.errors += other.errors
        self.warnings += other.warnings
        self.info += other.info
        return self


def is_local(transport: Transport) -> bool:
    """Whether messages stay on this machine (the Maildir outbox, a directory of files)."""
    return isinstance(transport, MaildirTransport | FileTransport)


def placeholder_domain(host: str) -> bool:
    """Whether ``host`` is a domain reserved for examples (example.org, *.test, …)."""
    return bool(_PLACEHOLDER.search(host.rstrip(".")))


# --- the schedule --------------------------------------------------------------------------------


def check_schedule(config: Config, now: datetime, ledger: LedgerStatus | None = None,
                   catalog: Catalog | None = None, *, sources_broken: bool = False) -> Findings:
    """The schedule parses; what the next run does about a slot that has passed (decided as
    the run decides, on the ledger's slots, read only: ``ledger`` is what ``probe_ledger``
    found; with ``catalog``, the sources, whether it has enough new reviews for an issue; with
    ``sources_broken``, that it composes none until they load) and the next time an issue is
    due; a slot the ledger holds after the clock; the grace
    outlasts the time between the runs that ``publisher schedule`` sets up."""
    found = Findings()
    try:
        expr, tz, grace = config_schedule(config)
    except ConfigError as exc:
        found.errors.append(str(exc))
        return found
    upcoming = next_times(expr, tz, now, 1)
    when = format_local(upcoming[0], tz) if upcoming else "never"
    decision = ledger_decision(config, now, ledger)
    due = decision is not None and decision.slot is not None
    shortfall = (SOURCES_UNLOADED if due and sources_broken
                 else slot_shortfall(config, catalog, now, ledger)
                 if due and catalog is not None else None)
    status = outlook(decision, tz, now, grace, shortfall) if decision is not None else None
    head = f"schedule: {expr!r} in {getattr(tz, 'key', tz)}"
    if decision is not None and decision.slot is not None:
        found.info.append(f"{head}; {status}; the next after it is due {when}")
    elif decision is not None and decision.skipped and not decision.quiet:
        found.warnings.append(f"schedule: {status}")
        found.info.append(f"{head}; next issue due {when}")
    else:
        found.info.append(f"{head}; next issue due {when}{f' ({status})' if status else ''}")
    if decision is not None and decision.ahead is not None:
        found.warnings.append(f"schedule: {clock_warning(decision.ahead, now, tz)}")
    days = day_fields_warning(expr)
    if days is not None:
        found.warnings.append(f"{config.path}: {days}")
    if grace < timedelta(minutes=RUN_EVERY_MINUTES):
        # A run starts a moment after the slot at best, and a busy or missed one a whole
        # interval later: beyond such a grace, the slot is skipped.
        found.warnings.append(
            f"{config.path}: newsletter.grace_hours: {config.newsletter.grace_hours:g} hours is "
            f"shorter than the {RUN_EVERY_MINUTES} minutes between the runs publisher schedule "
            "sets up (crontab or systemd), so a run can find an issue past its grace and skip "
            "it; set grace_hours = 1 or more")
    return found


# --- the transport -------------------------------------------------------------------------------


def check_transport(config: Config, *, connect: bool = False) -> Findings:
    """delivery.transport parses as a send would parse it (and its password is in the
    environment); with ``connect``, a real session is opened — TLS, EHLO, STARTTLS and AUTH as
    configured — and closed with QUIT, sending nothing. A local transport's directory must be
    writable."""
    found = Findings()
    try:
        transport = transport_from_url(config)
    except ConfigError as exc:
        found.errors.append(str(exc))
        return found
    if isinstance(transport, MaildirTransport | FileTransport):
        problem = writable_problem(transport.path)
        if problem:
            found.errors.append(f"{config.path}: delivery.transport: {problem}")
        else:
            found.info.append(f"transport: {transport.description} (local: messages stay on "
                              "this machine)")
        return found
    if not connect:
        found.info.append(f"transport: {transport.description} (not contacted; "
                          "'publisher check --connect' logs in and sends nothing)")
        return found
    try:
        with transport.session():
            pass
    except PublisherError as exc:
        found.errors.append(f"transport: {exc}")
        return found
    user = config.delivery.smtp_user
    steps = ["connected"]
    if urlsplit(config.delivery.transport).scheme.lower() == "smtps":
        steps.append("TLS")
    elif config.delivery.starttls:
        steps.append("STARTTLS")
    if user:
        steps.append(f"logged in as {user}")
    found.info.append(f"transport: {transport.description}: {', '.join(steps)}; nothing sent")
    return found


def check_inbox(config: Config, *, connect: bool = False, sends_mail: bool = False) -> Findings:
    """[inbox] mailbox, when set, reads as every run reads it (its password in the
    environment); a Maildir is one. With ``connect``, an IMAP server is logged in to and its
    folder selected: a run that cannot read the inbox fails before it builds or sends. Unset
    while mail goes to a relay (``sends_mail``), a warning: bounces, complaints and
    unsubscribes by mail then reach nobody."""
    found = Findings()
    if not config.inbox.mailbox:
        if sends_mail:
            # A hosted relay accepts nearly every message and reports a dead address only
            # later, by mail to the envelope sender: unread, the address is mailed every issue
            # and each bounce counts against the sender's reputation.
            nl = config.newsletter
            found.warnings.append(
                "inbox: not set, so nothing reads what comes back by mail: bounces (to "
                f"{nl.bounce_address or nl.from_address}), complaints, and unsubscribes mailed "
                f"to {nl.unsubscribe_mailto or nl.from_address} (List-Unsubscribe's mailto); a "
                "dead address is mailed every issue, and people who asked to leave stay on the "
                "list. Set [inbox] mailbox to where they arrive (README: \"What comes back by "
                "mail\")")
        return found
    imap = not config.inbox.mailbox.lower().startswith("maildir:")
    try:
        if imap and not connect:
            found.info.append(f"inbox: {mailbox_description(config)} (not contacted; "
                              "'publisher check --connect' logs in)")
            return found
        box = mailbox_from_config(config)
        box.close()
    except PublisherError as exc:
        found.errors.append(f"inbox: {exc}")
        return found
    if isinstance(box, MaildirBox) and not ((box.path / "new").is_dir()
                                            or (box.path / "cur").is_dir()):
        found.errors.append(f"inbox: {config.path}: inbox.mailbox: {box.path} is not a Maildir "
                            "(no new/ or cur/); name the Maildir the mail server delivers to")
    else:
        found.info.append(f"inbox: {box.description}{': logged in' if imap else ''}")
    return found


def unsubscribe_link(config: Config) -> tuple[str, str]:
    """The one-click unsubscribe link of every message (as render/sender.py makes it) and the
    setting it hangs off."""
    nl = config.newsletter
    if nl.unsubscribe_url:
        return nl.unsubscribe_url, "newsletter.unsubscribe_url"
    return config.reader_url("unsubscribe"), "server.url" if config.server.url else "base_url"


# --- addresses -----------------------------------------------------------------------------------


def check_addresses(config: Config, *, sends_mail: bool) -> Findings:
    """Every address of [newsletter] is valid and can go in a header; none is a placeholder
    (example.org) when mail goes out for real; base_url, which unsubscribe links hang off, is
    not one either."""
    found = Findings()
    try:
        Sender.from_config(config)
    except ConfigError as exc:
        found.errors.append(str(exc))
        return found
    nl = config.newsletter
    keys = {"newsletter.from_address": nl.from_address, "newsletter.reply_to": nl.reply_to,
            "newsletter.bounce_address": nl.bounce_address,
            "newsletter.unsubscribe_mailto": nl.unsubscribe_mailto,
            "author_email": config.author_email}
    placeholders = []
    for key, address in keys.items():
        if not address:
            continue
        if placeholder_domain(address.rpartition("@")[2]):
            placeholders.append(key)
            continue
        try:
            normalise_email(address)
        except InvalidAddress as exc:
            found.errors.append(f"{config.path}: {key}: {exc}")
    link, setting = unsubscribe_link(config)
    if placeholder_domain(urlsplit(link).hostname or ""):
        placeholders.append(f"{setting} (where the unsubscribe link points)")
    if placeholders:
        line = (f"{config.path}: {', '.join(placeholders)}: a domain reserved for examples "
                "(reaching nobody); set your own")
        (found.errors if sends_mail else found.warnings).append(line)
    if not found.errors:
        sender = nl.bounce_address or nl.from_address
        found.info.append(f"addresses: from {nl.from_address}, bounces to {sender}")
    return found


#: The domains of documentation and of ``publisher init``'s scaffold (RFC 2606: example.org,
#: .com, .net and the .example and .invalid names). ``.test`` and ``.localhost`` (RFC 6761) are
#: left to ``check``: a staging relay may carry them on purpose, where example.org is a setting
#: nobody changed.
_DOCUMENTATION = re.compile(r"(?:^|\.)(?:example(?:\.(?:org|com|net))?|invalid)\Z", re.IGNORECASE)


def documentation_settings(config: Config) -> list[str]:
    """The settings that make or break a real issue — its From, its envelope sender (where
    bounces go) and its one-click unsubscribe link — that are still at a domain reserved for
    documentation."""
    nl = config.newsletter
    named = [key for key, address in (("newsletter.from_address", nl.from_address),
                                      ("newsletter.bounce_address", nl.bounce_address))
             if address and documentation_domain(address.rpartition("@")[2])]
    link, setting = unsubscribe_link(config)
    if documentation_domain(urlsplit(link).hostname or ""):
        named.append(f"{setting} (where the unsubscribe link points)")
    return named


def documentation_domain(host: str) -> bool:
    """Whether ``host`` is a domain of documentation (example.org, x.example.com, …)."""
    return bool(_DOCUMENTATION.search(host.rstrip(".")))


def refuse_documentation_settings(config: Config, transport: Transport, *,
                                  refused: str = "no issue goes to") -> None:
    """ConfigError when ``transport`` sends real mail and the issue would go out from, or let
    readers unsubscribe at, a domain reserved for documentation: ``publisher check`` says so
    too, but cron does not run check, and an issue sent cannot be taken back. ``refused`` says
    what is held back (``publisher serve``: its confirmations and welcomes, from the same
    From, with the same unsubscribe link)."""
    if is_local(transport):
        return
    named = documentation_settings(config)
    if named:
        raise ConfigError(
            f"{config.path}: {', '.join(named)}: still a domain reserved for examples, which "
            f"reaches nobody (replies, bounces, unsubscribes); {refused} "
            f"{transport.description} until you set your own")


# --- the signing secret --------------------------------------------------------------------------


def established(ledger: LedgerStatus) -> bool:
    """A publication is established once an issue has left draft: mail with links signed by its
    secret is in readers' hands, and changing the secret would break them. Until then it is
    new, and must start with a strong secret."""
    return ledger.started > 0


def secret_problem(secret: str, *, new: bool) -> str | None:
    """Why ``secret`` is not good enough, or None."""
    if not secret:
        return f"{SECRET_ENV} is not set; {SECRET_PURPOSE}"
    size = len(secret.encode("utf-8"))
    if size < SECRET_MIN_BYTES and new:
        return (f"{SECRET_ENV} is {size} bytes; a new publication needs at least "
                f"{SECRET_MIN_BYTES} ({SECRET_HINT})")
    return None


def check_secret(ledger: LedgerStatus, *, sends_mail: bool,
                 environ: Mapping[str, str] = os.environ) -> Findings:
    """PUBLISHER_SECRET is set, and at least 32 bytes before a new publication (``established``)
    sends real mail; with the local outbox a short one is a warning (a rehearsal), and so it is
    for an established publication, whose sent links a change would break. The secret itself is
    never shown."""
    found = Findings()
    secret = environ.get(SECRET_ENV, "")
    problem = secret_problem(secret, new=not established(ledger))
    if problem and (sends_mail or not secret):
        found.errors.append(problem)
        return found
    size = len(secret.encode("utf-8"))
    if problem:
        found.warnings.append(f"{problem}; fine in the local outbox, refused before real mail "
                              "goes out")
    elif size < SECRET_MIN_BYTES:
        found.warnings.append(
            f"{SECRET_ENV} is {size} bytes, short for an HMAC key; it is kept, because changing "
            "it would break the unsubscribe links in the issues already sent")
    found.info.append(f"secret: {SECRET_ENV} is set ({size} bytes)")
    return found


def sending_secret(config: Config, store: Store | None,
                   environ: Mapping[str, str] = os.environ) -> str:
    """The secret to sign what is about to be sent: ConfigError when it is missing, or when a
    new publication (no issue has left draft; no ledger yet, ``store`` None) would send real
    mail with one shorter than 32 bytes. (The local outbox takes any secret: a rehearsal.)"""
    secret = environ.get(SECRET_ENV, "")
    new = store is None or not any(r.state in (IssueState.SENDING, IssueState.SENT)
                                   for r in store.issues())
    problem = secret_problem(secret, new=new)
    if problem and (not secret or not is_local(transport_from_url(config))):
        raise ConfigError(problem)
    return secret


# --- DKIM ----------------------------------------------------------------------------------------


def published_dkim(name: str, resolver: dns.resolver.Resolver | None = None) -> list[str]:
    """The TXT records at ``name`` (each one's strings joined), from DNS (``resolver``, the
    system's by default); [] when there are none. dns.exception.DNSException when the look-up
    itself fails."""
    resolver = resolver or dns.resolver.get_default_resolver()
    try:
        answer = resolver.resolve(name, "TXT", lifetime=10)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(rdata.strings).decode("ascii", "replace") for rdata in answer]


def _dkim_tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags[key.strip()] = "".join(value.split())
    return tags


def _check_published(signer: DkimSigner, name: str, found: Findings,
                     resolver: dns.resolver.Resolver | None) -> None:
    """Compare the record published at ``name`` with the key (an error when it is missing or
    holds another key: receivers could not verify a single signature)."""
    expected = _dkim_tags(signer.dns_record())
    try:
        records = published_dkim(name, resolver)
    except dns.exception.DNSException as exc:
        found.warnings.append(f"dkim: could not look up {name} in DNS: {exc}")
        return
    keys = [tags for tags in map(_dkim_tags, records) if "p" in tags]
    if not keys:
        found.errors.append(f"dkim: no DKIM record is published at {name}; receivers cannot "
                            "verify a signature until it is (the record is printed below)")
    elif not any(tags["p"] == expected["p"] for tags in keys):
        revoked = " (an empty p=: revoked)" if any(not t["p"] for t in keys) else ""
        found.errors.append(f"dkim: the record published at {name} holds another key"
                            f"{revoked}; publish the one printed below, or set dkim.key_file "
                            "to the key it was made from")
    else:
        found.info.append(f"dkim: the record published at {name} matches the key")


def check_dkim(config: Config, *, connect: bool = False,
               resolver: dns.resolver.Resolver | None = None) -> Findings:
    """The DKIM key is readable and private, the selector and domain make a DNS name, the domain
    aligns with the From address (DMARC); the TXT record to publish is printed. With
    ``connect``, the record published in DNS (``resolver``, the system's by default) must hold
    this key."""
    found = Findings()
    try:
        signer = DkimSigner.from_config(config)
    except ConfigError as exc:
        found.errors.append(str(exc))
        return found
    if signer is None:
        found.info.append("dkim: not set (fine when the relay signs for you)")
        return found
    d = config.dkim
    for key, name in (("dkim.selector", d.selector), ("dkim.domain", d.domain)):
        if not all(_DNS_LABEL.match(label) for label in name.rstrip(".").split(".")):
            found.errors.append(f"{config.path}: {key}: {name!r} is not a DNS name")
    from_domain = config.newsletter.from_address.rpartition("@")[2].lower()
    domain = d.domain.lower().rstrip(".")
    if from_domain != domain and not from_domain.endswith("." + domain):
        found.warnings.append(
            f"{config.path}: dkim.domain {d.domain} is not the domain of newsletter.from_address "
            f"({from_domain}) or a parent of it: DMARC will not count this signature")
    mode = config.resolve(d.key_file).stat().st_mode
    if mode & 0o077:
        found.warnings.append(f"{config.path}: dkim.key_file: {config.resolve(d.key_file)} is "
                              "readable by others; chmod 600 it")
    if found.errors:
        return found
    name = f"{d.selector}._domainkey.{d.domain}"
    if connect:
        _check_published(signer, name, found, resolver)
    found.info.append(f"dkim: {signer.algorithm} as {name}; publish this DNS TXT record there: "
                      f"{signer.dns_record()}")
    return found


# --- DMARC -----------------------------------------------------------------------------------

#: Mailbox providers' own domains: nobody's relay can send mail from them that passes DMARC
#: (neither SPF nor DKIM can align with them), and yahoo.com's and aol.com's policies have
#: receivers reject it; Google's sender guidelines ask bulk senders never to send as gmail.com.
#: Mailchimp, Buttondown and Substack refuse or rewrite such a From for the same reason.
MAILBOX_PROVIDERS = frozenset({
    "gmail.com", "googlemail.com",
    "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it", "yahoo.ca",
    "yahoo.com.au", "yahoo.co.jp", "ymail.com", "rocketmail.com",
    "aol.com", "aol.co.uk", "aim.com",
    "outlook.com", "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it",
    "hotmail.es", "live.com", "live.co.uk", "live.fr", "msn.com",
    "icloud.com", "me.com", "mac.com",
    "gmx.de", "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "web.de", "t-online.de",
    "orange.fr", "free.fr", "laposte.net", "libero.it",
    "mail.ru", "yandex.ru", "yandex.com", "proton.me", "protonmail.com", "zoho.com",
    "fastmail.com", "comcast.net", "att.net",
})


def dmarc_record(domain: str, resolver: dns.resolver.Resolver | None = None
                 ) -> tuple[str, str] | None:
    """The DMARC record that governs mail from ``domain`` and the name it is at: looked up at
    ``_dmarc.domain``, then at each parent short of the top-level domain (DMARCbis's tree
    walk, which needs no public-suffix list); None when there is none.
    dns.exception.DNSException when a look-up itself fails."""
    labels = domain.rstrip(".").lower().split(".")
    for start in range(len(labels) - 1):
        name = "_dmarc." + ".".join(labels[start:])
        records = [r for r in published_dkim(name, resolver)
                   if r.strip().lower().startswith("v=dmarc1")]
        if records:
            return records[0], name
    return None


def check_dmarc(config: Config, *, connect: bool = False,
                resolver: dns.resolver.Resolver | None = None) -> Findings:
    """The From address is at a domain its mail can pass DMARC for: not a mailbox provider's
    (``MAILBOX_PROVIDERS``). With ``connect``, the domain's DMARC record is looked up in DNS
    (``resolver``, the system's by default): Gmail, Yahoo and Microsoft require one of bulk
    senders."""
    found = Findings()
    domain = config.newsletter.from_address.rpartition("@")[2].lower().rstrip(".")
    if not domain:
        return found  # an address without a domain: check_addresses says so
    if domain in MAILBOX_PROVIDERS:
        found.warnings.append(
            f"{config.path}: newsletter.from_address: {domain} is a mailbox provider's: mail "
            "from it that the provider's own servers did not send fails DMARC, and receivers "
            "reject it or file it as spam; send from an address at a domain of your own")
        return found
    if not connect or placeholder_domain(domain):
        return found
    try:
        record = dmarc_record(domain, resolver)
    except dns.exception.DNSException as exc:
        found.warnings.append(f"dmarc: could not look up _dmarc.{domain} in DNS: {exc}")
        return found
    if record is None:
        found.warnings.append(
            f"dmarc: {domain} has no DMARC record (_dmarc.{domain}, nor at a parent domain): "
            "Gmail, Yahoo and Microsoft refuse bulk mail from a domain without one; publish a "
            "TXT record there, at least 'v=DMARC1; p=none'")
    else:
        found.info.append(f"dmarc: {record[0]} (at {record[1]})")
    return found


# --- the ledger ----------------------------------------------------------------------------------


def check_ledger(config: Config, now: datetime) -> tuple[Findings, LedgerStatus]:
    """The ledger is reachable and readable at a schema revision this publisher can use, and
    (SQLite) private to its owner; with what it holds, and the readers' mail the relay has not
    taken yet. Nothing is created or migrated."""
    found = Findings()
    path = sqlite_path(config)
    if path is not None and disk_full(path.parent):  # SQLite would say "disk I/O error"
        found.errors.append(f"ledger: the disk holding {path.parent} is full; free some space")
    status = probe_ledger(config)
    if status.problem:
        found.errors.append(f"ledger: {status.url}: {status.problem}")
        return found, status
    server = describe_server(config, current=status.current)  # PostgreSQL's version, rights
    found.errors += server.errors
    found.warnings += server.warnings
    found.info += server.info
    lost = lost_ledger(config, status)
    if lost:
        found.errors.append(f"ledger: {lost}")
        return found, status
    if not status.exists:
        if path is None:  # a server's database, there but empty
            found.info.append(f"ledger: {status.url} holds no ledger yet; the first command "
                              "that needs it creates its tables")
        else:
            found.info.append(f"ledger: {status.url} does not exist yet; the first command "
                              "that needs it creates it")
        return found, status
    if not status.current:
        from ..ledger.migrate import known_revisions  # loads Alembic: only when it is needed

        if status.revision not in known_revisions():
            found.errors.append(f"ledger: {status.url}: schema revision {status.revision} is "
                                "unknown: it was written by a newer publisher; upgrade publisher")
            return found, status
        found.info.append(f"ledger: {status.url}: schema {status.revision}, upgraded to "
                          f"{SCHEMA_REVISION} by the next command that opens it")
    else:
        found.info.append(f"ledger: {status.url}: schema {status.revision} (current)")
    damage = ledger_damage(path) if path is not None else None
    if damage:
        found.errors.append(f"ledger: {path}: {damage}; restore the latest backup with "
                            "'publisher restore FILE' (or try: sqlite3 state.db '.recover' | "
                            "sqlite3 new.db)")
        return found, status
    if path is not None and path.stat().st_mode & 0o077:
        found.warnings.append(f"ledger: {path} is readable by others and holds every "
                              "subscriber's address; chmod 600 it")
    found.info.append(f"ledger: {status.url}: {status.subscribers} subscriber"
                      f"{'' if status.subscribers == 1 else 's'}, {status.issues} issue"
                      f"{'' if status.issues == 1 else 's'} ({status.started} sent or being sent)")
    if status.current:
        confirmations = welcomes = 0
        with readonly_store(config, status) as store:
            if store is not None:
                confirmations = len(store.owed_confirmations(now, due_only=False, limit=None))
                if config.newsletter.welcome:  # else the next round gives them up
                    welcomes = sum(welcome_still_owed(owed.subscriber.status, owed.confirmed_at,
                                                      now)
                                   for owed in store.owed_welcomes(now, due_only=False,
                                                                   limit=None))
        if confirmations or welcomes:
            owed = " and ".join(count(n, noun) for n, noun in (
                (confirmations, "confirmation"), (welcomes, "welcome")) if n)
            found.warnings.append(
                f"readers: the relay has not taken {owed} yet; publisher serve tries again "
                "every five minutes (its log says why; publisher check --connect tests the "
                "relay)")
    return found, status


def check_issues(config: Config, ledger: LedgerStatus) -> Findings:
    """The issues being sent that every run stops on until a person decides — paused (a
    policy refusal, a restore), or with ambiguous deliveries — and a stuck run holding the run
    lock, which stops them all, with the line a run gives,
    read from the ledger without writing. Messages a sender at work has on the wire are its
    own, not in doubt (``issue show`` tells them apart the same way)."""
    found = Findings()
    # Under systemd no later run says it (the timer starts none while one is active): check,
    # which monitoring can run, gives the line a run would.
    stuck = stuck_holder(config)
    if stuck is not None:
        found.errors.append(stuck.stepped_aside)
    if ledger.problem or not ledger.exists or not ledger.current or not ledger.started:
        return found
    holder = None if sqlite_path(config) is None else file_lock_holder(config.paths.lock)
    try:
        with readonly_store(config, ledger) as store:
            if store is None:
                return found
            for record in store.issues():
                if record.state != IssueState.SENDING:
                    continue
                if record.paused_reason:
                    found.errors.append(paused_line(record.number, record.paused_reason))
                if store.delivery_counts(record.number)[DeliveryStatus.SENDING]:
                    ambiguous = len(store.ambiguous_deliveries(record.number,
                                                               lock_holder=holder))
                    if ambiguous:
                        found.errors.append(ambiguous_problem(record.number, ambiguous))
    except StoreError:
        pass  # check_ledger says why it cannot be read
    return found


# --- directories ---------------------------------------------------------------------------------


def writable_problem(directory: Path) -> str | None:
    """Why files cannot be written in ``directory`` (created if missing), or None. Asks the
    kernel (access(2)), which also knows a read-only mount; writes nothing."""
    if directory.exists() and not directory.is_dir():
        return f"{directory} is a file, not a directory; move it away"
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            return f"{directory}: no such directory"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file where a directory should be; move it away"
    if not os.access(probe, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only(probe) else "permission denied"
        return f"{probe}: not writable ({why}); a run needs to write there"
    return None


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_readers(config: Config) -> Findings:
    """Where readers' links and forms go (subscribe, confirm, unsubscribe, preferences): to
    ``publisher serve`` at server.url, or under base_url — which a static host answers with
    404 unless a proxy sends those paths to the server, so the line says so."""
    found = Findings()
    one_click, where = unsubscribe_link(config)
    parts = urlsplit(one_click)
    if parts.scheme == "http" and not _loopback(parts.hostname or ""):
        # RFC 8058: a one-click unsubscribe link must be https, and Gmail and Yahoo require
        # one of bulk senders.
        found.warnings.append(
            f"{config.path}: {where}: the unsubscribe link in every message is plain http "
            f"({one_click}); one-click unsubscribe (RFC 8058, which Gmail and Yahoo require "
            "of bulk senders) must be https; serve it over https")
    given = [name for name in ("subscribe_url", "unsubscribe_url", "preferences_url")
             if getattr(config.newsletter, name)]
    also = f" (newsletter.{', newsletter.'.join(given)} given)" if given else ""
    if config.server.url:
        found.info.append(f"readers: publisher serve at {config.server.url}{also}")
    else:
        found.info.append(
            f"readers: forms and links go to {config.reader_url('subscribe')}, …/unsubscribe, "
            f"…/preferences under base_url{also}; the site's host must pass those paths to "
            "publisher serve, or set [server] url to where serve answers")
    return found


def check_reader_messages(config: Config, now: datetime) -> Findings:
    """The messages ``publisher serve`` sends, the confirmation, the note to an address
    already on the list, the welcome (with and without a latest issue), and the link and the
    notice of a change of address, rendered with
    sample values: a template or strings file of the publication's that breaks them is found
    here, not by the first reader, whose message would then go unsent with only a line in the
    server's log."""
    found = Findings()
    try:
        sender = Sender.from_config(config)
    except ConfigError:
        return found  # check_addresses reports it
    sample = "reader@example.org"
    try:
        site = Site.from_config(config)
        strings = load_web_strings(config.templates_path, config.language,
                                   plural_rule(config.language))
        confirmation_message(site, sender, strings, email=sample, name="Sample Reader",
                             confirm_url=config.reader_url("confirm") + "?token=sample",
                             hours=round(config.server.confirm_hours), date=now, signer=None)
        on_list_message(site, sender, strings, email=sample, name="Sample Reader",
                        from_address=config.newsletter.from_address,
                        preferences_url=sender.preferences_url(None, sample), date=now,
                        signer=None)
        address_link_message(site, sender, strings, email="new." + sample, old=sample,
                             change_url=config.reader_url("change-address") + "?token=sample",
                             hours=round(config.server.confirm_hours), date=now, signer=None)
        address_changed_message(site, sender, strings, email=sample, name="Sample Reader",
                                new="new." + sample, date=now, signer=None)
        if config.newsletter.welcome:
            for latest in (None, LatestIssue(1, "Sample issue", site.url("issues/1/"))):
                welcome_message(site, sender, strings, email=sample, name="",
                                unsubscribe_url=sender.preview_unsubscribe_url(),
                                preferences_url=sender.preferences_url(None, sample),
                                next_date="1 January 2027", latest=latest, date=now,
                                signer=None)
    except TemplateError as exc:
        found.errors.append(f"readers' messages: {exc}")
    return found


def _loopback(host: str) -> bool:
    """Whether ``host`` is this machine (a site tried out locally needs no certificate)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_directories(config: Config) -> Findings:
    """The output directory (feeds, archive) and .publisher/ (lock, caches, ledger) can be
    written by this user."""
    found = Findings()
    paths = config.paths
    for what, directory in ((f"{config.output_dir}/", paths.output),
                            (".publisher/", paths.state)):
        problem = writable_problem(directory)
        if problem:
            found.errors.append(f"{what}: {problem}")
        elif disk_full(directory):  # writable, until the next page or ledger write
            found.errors.append(f"{what}: the disk holding {directory} is full; free some space")
    if not found.errors:
        found.info.append(f"directories: {config.output_dir}/ and .publisher/ are writable")
    return found
