"""The reader's requests as library calls: subscribe (and send the confirmation), confirm (and
send the welcome), unsubscribe, undo, preferences. ``publisher serve``'s handlers are thin over
this; so is any other front end one might write.

One ``ReaderDesk`` is built per server from the Config (the sender, the site, the strings and
the DKIM key read once) and is safe to share between threads: the ledger gives each call its own
transaction, and a transport session is opened per message.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from ..config import Config
from ..delivery.transports import Transport, transport_from_url
from ..errors import (
    AmbiguousDeliveryError,
    BadToken,
    ExpiredToken,
    PermanentDeliveryError,
    PublisherError,
)
from ..files import escapes, private_target, read_file
from ..ledger import Store
from ..ledger.addresses import lookup_key, normalise_email
from ..ledger.readers import Owed, SubscriptionRequest
from ..models import IssueState, Subscriber, SubscriberStatus
from ..newsletter.schedule import next_times
from ..newsletter.subscriptions import (
    OWED_RETRY,
    WELCOME_OWED_FOR,
    AddressChange,
    ConfirmOutcome,
    SubscribeAction,
    decide_confirm,
    undo_open,
    welcome_still_owed,
)
from ..render.digest import archive_url
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
from ..render.strings import Strings, load_web_strings
from ..render.tokens import (
    CHANGE,
    CONFIRM,
    MANAGE,
    UNDO,
    make_token,
    read_token,
    verify_unsubscribe_token,
)
from ..render.words import Words, plural_rule

log = logging.getLogger("publisher.serve")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")
R = TypeVar("R")


class Handed(StrEnum):
    """What became of a message to a reader handed to the relay."""

    SENT = "sent"
    OWED = "owed"  # not taken this time (the relay is down, "try later"): tried again
    GIVEN_UP = "given-up"  # refused for good, or it may have arrived: never tried again


def handed_after(exc: PublisherError) -> Handed:
    """What a message that raised ``exc`` on its way out is now."""
    if isinstance(exc, PermanentDeliveryError | AmbiguousDeliveryError):
        # A mailbox that does not exist stays so; a message that may have arrived is not sent
        # again: a second welcome is worse than none, and a reader without their
        # confirmation asks again. (A 5.7.x refusal is the relay's policy about us, not about
        # the reader: owed, as a down relay's or a broken template's.)
        return Handed.GIVEN_UP
    return Handed.OWED


@dataclass(frozen=True)
class Subscribed:
    """What a subscribe request did. The reader is told the same thing whatever ``action``."""

    action: SubscribeAction | str  # or "honeypot": a bot filled the hidden field
    address: str
    request: SubscriptionRequest | None = None


@dataclass(frozen=True)
class ServedIcon:
    """The publication's icon (site.icon) as the server gives it: read once, at the start."""

    name: str  # "icon.png": the server's own path for it, with the file's suffix
    media_type: str
    data: bytes

    @classmethod
    def from_config(cls, config: Config) -> ServedIcon | None:
        """None without site.icon, and when its file cannot be read: the pages then go without
        (one log line; the build and ``publisher check`` name the missing file)."""
        if not config.site.icon:
            return None
        path = config.paths.static / config.icon_path
        root = config.root.resolve()
        if escapes(path, [root]) is not None:  # as the build refuses it
            log.warning("site.icon: static/%s leads out of the publication; the pages show no "
                        "icon", config.icon_path)
            return None
        if private_target(path, root, config.private_files()) is not None:  # and this
            log.warning("site.icon: static/%s leads to a hidden file of the publication or its "
                        "ledger; the pages show no icon", config.icon_path)
            return None
        try:
            data = read_file(path)
        except OSError as exc:
            log.warning("site.icon: static/%s cannot be read (%s); the pages show no icon",
                        config.icon_path, exc.strerror)
            return None
        suffix = PurePosixPath(config.icon_path).suffix.lower()
        return cls(f"icon{suffix}", config.icon_type, data)


class ReaderDesk:
    """The reader's side of one publication, for a server: tokens, URLs and ledger calls."""

    def __init__(self, config: Config, store: Store, *, secret: str,
                 clock: Callable[[], datetime], transport: Transport | None = None):
        self.config = config
        self.store = store
        self.clock = clock
        self._secret = secret
        self.site = Site.from_config(config)
        self.sender = Sender.from_config(config)
        self.strings: Strings = load_web_strings(config.templates_path, config.language,
                                                 plural_rule(config.language))
        self.signer = DkimSigner.from_config(config)
        self.transport = transport or transport_from_url(config)
        self.settings = config.server
        self.list_id = self.sender.list_id
        # One writer at a time from this process. Threads that met on SQLite's write lock would
        # wait in its busy handler, which sleeps in growing steps (up to 100 ms): under load
        # most of a request's time. Queued on this lock, the next writer starts the moment the
        # last one commits. (Other processes — publisher run — still meet the busy timeout.)
        self._write_lock = threading.Lock()
        self._unsubscribes: GroupCommit[tuple[str, str], tuple[Subscriber | None, bool]] = \
            GroupCommit(self._unsubscribe_batch)
        self.icon = ServedIcon.from_config(config)

    # --- tokens and URLs -------------------------------------------------------------------------

    @property
    def confirm_hours(self) -> int:
        return round(self.settings.confirm_hours)

    def confirm_url(self, request: SubscriptionRequest) -> str:
        token = make_token(self._secret, CONFIRM, self.list_id,
                           f"{request.id} {request.email}", request.expires_at)
        return self.config.reader_url("confirm") + f"?token={token}"

    def manage_token(self, email: str) -> str:
        return make_token(self._secret, MANAGE, self.list_id, email)

    def undo_token(self, subscriber: Subscriber) -> str | None:
        """The token of the undo button for ``subscriber``, who left: it expires
        ``server.undo_hours`` after they did. None when it is too late, or not theirs to undo
        (``undo_open``)."""
        window = timedelta(hours=self.settings.undo_hours)
        left_at = subscriber.status_changed_at
        if left_at is None or not undo_open(subscriber.status, left_at, self.clock(), window):
            return None
        return make_token(self._secret, UNDO, self.list_id, subscriber.email, left_at + window)

    def read(self, purpose: str, token: str) -> str:
        """The address a self-contained token for ``purpose`` was made for. BadToken (or
        ExpiredToken) otherwise."""
        return read_token(self._secret, purpose, self.list_id, token, now=self.clock()).subject

    def check_unsubscribe(self, address: str, token: str) -> None:
        """BadToken unless ``token`` is the unsubscribe token of ``address``."""
        if not address or not verify_unsubscribe_token(self._secret, self.list_id, address,
                                                       token):
            raise BadToken("unsubscribe token does not verify")

    # --- subscribing -----------------------------------------------------------------------------

    def subscribe(self, email: str, name: str, *, form: str, ip: str | None,
                  honeypot: str = "") -> Subscribed:
        """Record a subscribe request to be confirmed (double opt-in). InvalidAddress for an
        address that is not one. The caller sends the confirmation (``send_confirmation``)
        when ``request`` is set, after answering, so that the answer takes as long whatever
        the address."""
        if honeypot.strip():
            return Subscribed("honeypot", email.strip())
        with self._write_lock:
            now = self.clock()
            action, request = self.store.request_subscription(
                email, name, form=form, ip=ip if self.settings.store_ip else None, now=now,
                expires=now + timedelta(hours=self.settings.confirm_hours),
                per_day=self.settings.confirmations_per_day)
        return Subscribed(action, request.email if request else email.strip(), request)

    def confirmation(self, request: SubscriptionRequest) -> bytes:
        """The confirmation message for ``request``. It greets nobody by name, nor puts one in
        To: the name is what the form said, and anyone may fill that in for any address — it
        would be their words in a message from the publication (the name is kept for the
        subscriber once they confirm)."""
        return confirmation_message(self.site, self.sender, self.strings, email=request.email,
                                    name="", confirm_url=self.confirm_url(request),
                                    hours=self.confirm_hours, date=self.clock(),
                                    signer=self.signer)

    def _send(self, email: str, compose: Callable[[], bytes], what: str, *,
              owed: bool = True) -> Handed:
        """Compose a message to ``email`` and send it through the configured transport; what
        became of it, with one log line naming ``what`` (never the address) when a template
        override or the relay stopped it. The server sends these after answering: nobody is
        left to tell."""
        try:
            message = compose()
            with self.transport.session() as session:
                session.send(self.sender.envelope_from, email, message)
        except PublisherError as exc:
            handed = handed_after(exc)
            # A relay's refusal often quotes the recipient ("<ann@…>: Recipient address
            # rejected"): the log names whose message by its number only.
            why = re.sub(re.escape(email), "the reader's address", str(exc), flags=re.IGNORECASE)
            later = (f"; tried again in {OWED_RETRY.seconds // 60} minutes"
                     if owed and handed == Handed.OWED else "")
            log.warning("%s not sent: %s%s", what, why, later)
            return handed
        return Handed.SENT

    def send_confirmation(self, request: SubscriptionRequest) -> bool:
        """Send the confirmation message; False when it could not be sent. One the relay did
        not take is owed: ``send_owed`` tries it again until the link expires."""
        return self._send_confirmation(request) == Handed.SENT

    def _send_confirmation(self, request: SubscriptionRequest) -> Handed:
        handed = self._send(request.email, lambda: self.confirmation(request),
                            f"confirmation for request {request.id}")
        if handed in (Handed.SENT, Handed.GIVEN_UP):
            with self._write_lock:
                self.store.settle_owed(Owed.CONFIRMATION, request.id)
        return handed

    def confirm(self, token: str, *, commit: bool
                ) -> tuple[ConfirmOutcome, str, Subscriber | None]:
        """Read a confirmation token; with ``commit`` (the POST) confirm it. (outcome, address,
        the subscriber this call put on the list: None unless it did — a reader already on it
        who confirms a second link is not new). BadToken for a token that is not one; an
        expired genuine one is EXPIRED."""
        try:
            subject = self.read(CONFIRM, token)
        except ExpiredToken:
            return ConfirmOutcome.EXPIRED, "", None
        request_id, _, email = subject.partition(" ")
        if not request_id.isdigit():
            raise BadToken("confirmation token without a request")
        if not commit:  # may it be confirmed? (then the page asks)
            request = self.store.subscription_request(int(request_id))
            found = request is not None and request.email.lower() == email.lower()
            return decide_confirm(found, request.confirmed_at if request else None,
                                  request.expires_at if request else None,
                                  self.clock()), email, None
        with self._write_lock:
            confirmation = self.store.confirm_subscription(int(request_id), email,
                                                           now=self.clock(),
                                                           welcome=self.welcomes)
        return (confirmation.outcome, email,
                confirmation.subscriber if confirmation.joined else None)

    def subscribed(self, email: str) -> bool:
        """Whether ``email`` is on the list now."""
        subscriber = self.store.subscriber(email) if email else None
        return subscriber is not None and subscriber.status == SubscriberStatus.ACTIVE

    def on_list(self, request: SubscriptionRequest) -> bytes:
        """The note to ``request``'s address, already on the list, that it is subscribed. It
        greets the subscriber by the name the list holds, not by what the form said: anyone
        may fill that in."""
        subscriber = self.store.subscriber(request.email)
        return on_list_message(
            self.site, self.sender, self.strings, email=request.email,
            name=subscriber.name if subscriber is not None else "",
            from_address=self.config.newsletter.from_address,
            preferences_url=self.sender.preferences_url(self._secret, request.email),
            date=self.clock(), signer=self.signer)

    def send_after_subscribe(self, subscribed: Subscribed) -> bool:
        """After the answer to a subscribe form: the confirmation link to a new address, the
        note that it is on the list to a subscribed one, nothing otherwise. False (and one log
        line, without the address) when it could not be sent: the reader may ask again."""
        request = subscribed.request
        if request is None:
            return False
        if subscribed.action == SubscribeAction.SEND:
            return self.send_confirmation(request)
        return self._send(request.email, lambda: self.on_list(request),
                          f"note to a subscriber who asked again (request {request.id})",
                          owed=False) == Handed.SENT

    # --- the welcome -----------------------------------------------------------------------------

    @property
    def welcomes(self) -> bool:
        """Whether a confirmed subscriber is sent a welcome (newsletter.welcome)."""
        return self.config.newsletter.welcome

    def latest_issue(self) -> LatestIssue | None:
        """The latest issue sent to the whole list (its archive page is written by the run that
        finished sending it)."""
        sent = [record for record in self.store.issues() if record.state == IssueState.SENT]
        if not sent:
            return None
        latest = sent[-1]
        return LatestIssue(latest.number, latest.subject, archive_url(self.site, latest.number))

    def next_issue_date(self) -> str:
        """The day the schedule next plans an issue, in the publication's words ('4 December
        2026'); an issue goes out then if there are new reviews for it."""
        tz = self.config.newsletter_tz
        upcoming = next_times(self.config.newsletter.schedule, tz, self.clock(), 1)
        return self._words.date(upcoming[0], tz) if upcoming else ""

    @functools.cached_property
    def _words(self) -> Words:
        return Words(self.strings, self.config.language)

    def welcome(self, subscriber: Subscriber, message_id: str = "") -> bytes:
        """The welcome message for ``subscriber``."""
        return welcome_message(
            self.site, self.sender, self.strings, email=subscriber.email, name=subscriber.name,
            unsubscribe_url=self.sender.unsubscribe_url(self._secret, subscriber.email),
            preferences_url=self.sender.preferences_url(self._secret, subscriber.email),
            next_date=self.next_issue_date(), latest=self.latest_issue(), date=self.clock(),
            signer=self.signer, message_id=message_id)

    def send_welcome(self, subscriber: Subscriber) -> bool:
        """Send the welcome through the configured transport; False (and one log line, without
        the address) when it could not be sent. One the relay did not take is owed, and
        ``send_owed`` tries it again for a while (``welcome_still_owed``); the subscription
        stands meanwhile, and the next issue reaches the subscriber whatever became of it. Its
        Message-ID goes into the subscriber's history, so that ``publisher inbox`` knows a
        complaint or a bounce about it for the subscriber's, as it knows an issue's."""
        return self._send_welcome(subscriber) == Handed.SENT

    def _send_welcome(self, subscriber: Subscriber) -> Handed:
        message_id = make_msgid("welcome", domain=self.sender.domain)
        handed = self._send(subscriber.email, lambda: self.welcome(subscriber, message_id),
                            f"welcome for subscriber {subscriber.id}")
        if handed == Handed.SENT:
            with self._write_lock:
                self.store.record_welcome(subscriber.email, message_id, now=self.clock())
        elif handed == Handed.GIVEN_UP:
            with self._write_lock:
                self.store.settle_owed(Owed.WELCOME, subscriber.id)
        return handed

    # --- mail owed -------------------------------------------------------------------------------

    def send_owed(self) -> int:
        """Try again the confirmations and welcomes that the relay did not take when they were
        due, oldest first; how many went out. The round stops at the first one the relay does
        not take: a relay that is down or says "try later" is not asked again for each reader
        (that one is next tried ``OWED_RETRY`` later, the others at the next round).
        ``publisher serve`` calls it every minute; each message is claimed in the ledger
        first, so several servers on one ledger never send one at once."""
        sent = 0
        now = self.clock()
        for owed in self.store.owed_confirmations(now):
            if not self._claim(Owed.CONFIRMATION, owed.request.id, owed.due, now):
                continue
            handed = self._send_confirmation(owed.request)
            sent += handed == Handed.SENT
            if handed == Handed.OWED:
                return sent
        for welcome in self.store.owed_welcomes(now):
            subscriber = welcome.subscriber
            if not (self.welcomes
                    and welcome_still_owed(subscriber.status, welcome.confirmed_at, now)):
                with self._write_lock:
                    self.store.settle_owed(Owed.WELCOME, subscriber.id)
                log.info("welcome for subscriber %s given up: %s", subscriber.id,
                         "newsletter.welcome is off" if not self.welcomes
                         else "no longer subscribed" if subscriber.status != SubscriberStatus.ACTIVE
                         else f"confirmed over {WELCOME_OWED_FOR.days} days ago")
                continue
            if not self._claim(Owed.WELCOME, subscriber.id, welcome.due, now):
                continue
            handed = self._send_welcome(subscriber)
            sent += handed == Handed.SENT
            if handed == Handed.OWED:
                return sent
        return sent

    def _claim(self, kind: Owed, key: int, due: datetime, now: datetime) -> bool:
        with self._write_lock:
            return self.store.claim_owed(kind, key, due, until=now + OWED_RETRY)

    # --- leaving and coming back -----------------------------------------------------------------

    def unsubscribe(self, address: str, *, via: str) -> tuple[Subscriber | None, bool]:
        """Unsubscribe ``address``. Requests that arrive while another is being written are
        written together, in one transaction, when it commits (group commit): under a burst of
        one-click POSTs the ledger fsyncs once per batch, not once per request."""
        return self._unsubscribes.submit((address, via))

    def _unsubscribe_batch(self, items: list[tuple[str, str]]
                           ) -> list[tuple[Subscriber | None, bool]]:
        results: dict[int, tuple[Subscriber | None, bool]] = {}
        with self._write_lock:
            now = self.clock()
            for via in dict.fromkeys(v for _, v in items):
                mine = [i for i, (_, v) in enumerate(items) if v == via]
                done = self.store.unsubscribe_many([items[i][0] for i in mine], now=now, via=via)
                results.update(zip(mine, done, strict=True))
        return [results[i] for i in range(len(items))]

    def resubscribe(self, address: str, *, via: str) -> Subscriber | None:
        with self._write_lock:
            return self.store.resubscribe(address, now=self.clock(), via=via)

    def undo(self, address: str) -> tuple[Subscriber | None, bool]:
        """The undo button, its token read: ``address`` back on the list if it left less than
        ``server.undo_hours`` ago (its token may be older than its last leaving). (The
        subscriber, None when not on the list; False when it is too late, or not theirs to
        undo — a bounce, a complaint.) Pressed twice, the second finds them on the list."""
        window = timedelta(hours=self.settings.undo_hours)
        with self._write_lock:
            sub = self.store.subscriber(address)
            if sub is None or sub.status == SubscriberStatus.ACTIVE:
                return sub, True
            if not undo_open(sub.status, sub.status_changed_at, self.clock(), window):
                return sub, False
            return self.store.resubscribe(address, now=self.clock(), via="undo"), True

    def rename(self, address: str, name: str) -> Subscriber:
        with self._write_lock:
            return self.store.rename_subscriber(address, name, now=self.clock())

    # --- changing address -----------------------------------------------------------------------

    def ask_address_change(self, old: str, new: str) -> str | None:
        """The address the subscription of ``old`` would move to, as stored, for
        ``send_address_link``; None when it is ``old`` itself. InvalidAddress for one that is
        not an address. Nothing changes until the new mailbox follows the link: otherwise
        anyone holding a preferences link could move a subscription to a stranger."""
        address = normalise_email(new)
        return None if lookup_key(address) == lookup_key(old) else address

    def change_url(self, old: str, new: str) -> str:
        """The link that moves ``old``'s subscription to ``new``: it says when it was made, to
        the microsecond (so that it works once, ``decide_address_change``: a move made the
        same second, before it, does not count), and expires after confirm_hours."""
        now = self.clock()
        token = make_token(self._secret, CHANGE, self.list_id,
                           f"{old} {new} {(now - EPOCH) // timedelta(microseconds=1)}",
                           now + timedelta(hours=self.settings.confirm_hours))
        return self.config.reader_url("change-address") + f"?token={token}"

    def count_address_link(self, new: str, ip: str | None) -> bool:
        """Whether a link may be mailed to ``new`` today, counting it if so: the subscribe
        form's cap on one address's messages a day (``server.confirmations_per_day``) holds
        for these too."""
        with self._write_lock:
            return self.store.count_address_link(
                new, ip=ip if self.settings.store_ip else None, now=self.clock(),
                per_day=self.settings.confirmations_per_day)

    def address_link(self, old: str, new: str) -> bytes:
        return address_link_message(self.site, self.sender, self.strings, email=new, old=old,
                                    change_url=self.change_url(old, new),
                                    hours=self.confirm_hours, date=self.clock(),
                                    signer=self.signer)

    def send_address_link(self, old: str, new: str) -> bool:
        """Mail the link to ``new``; False (one log line, without the address) when the relay
        did not take it. It is not owed: the reader is on the page, and may ask again."""
        return self._send(new, lambda: self.address_link(old, new),
                          "link to a new address", owed=False) == Handed.SENT

    def change_address(self, token: str, *, commit: bool
                       ) -> tuple[AddressChange | None, str, str, Subscriber | None]:
        """Read a change-address token; with ``commit`` (the POST) move the subscription.
        (The outcome — None when not committed and the link may still be used —, the old
        address, the new one, the subscriber.) BadToken for a token that is not one,
        ExpiredToken for a genuine one past its time."""
        subject = self.read(CHANGE, token)
        old, new, asked = (subject.split(" ") + ["", "", ""])[:3]
        if not (old and new and asked.isdigit()):
            raise BadToken("change-address token without its addresses")
        asked_at = EPOCH + timedelta(microseconds=int(asked))
        if not commit:
            return None, old, new, self.store.subscriber(old)
        with self._write_lock:
            outcome, subscriber = self.store.change_address(old, new, asked_at=asked_at,
                                                            now=self.clock())
        return outcome, old, new, subscriber

    def send_address_changed(self, old: str, subscriber: Subscriber) -> bool:
        """Tell ``old`` that its subscription moved to ``subscriber.email``; False (one log
        line) when the relay did not take it — the old mailbox may be gone, which is often
        why the reader moved."""
        return self._send(old, lambda: address_changed_message(
            self.site, self.sender, self.strings, email=old, name=subscriber.name,
            new=subscriber.email, date=self.clock(), signer=self.signer),
            f"notice of a new address for subscriber {subscriber.id}", owed=False) == Handed.SENT

    def export(self, address: str) -> dict[str, Any] | None:
        data = self.store.subscriber_data(address)
        if data is not None:
            data = {"publication": self.site.newsletter_name, "list": self.list_id,
                    "exported_at": self.clock().isoformat(), **data}
        return data

    def erase(self, address: str) -> bool:
        with self._write_lock:
            return self.store.erase_subscriber(address, now=self.clock())


class GroupCommit(Generic[T, R]):
    """Callers ``submit`` items; one of them (the leader) applies every item waiting at that
    moment in one call, the others wait for their result. Nobody waits for a timer: a lone
    request is written at once, and a burst is written in as few calls as the ledger can take.
    An exception from ``apply`` is raised to every caller of that batch."""

    def __init__(self, apply: Callable[[list[T]], list[R]], *, limit: int = 500):
        self._apply = apply
        self._limit = limit
        self._cond = threading.Condition()
        self._pending: list[_Slot[T, R]] = []
        self._busy = False

    def submit(self, item: T) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._cond:
            self._pending.append(slot)
            while not slot.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                batch, self._pending = self._pending[:self._limit], self._pending[self._limit:]
                self._cond.release()
                try:
                    results = self._apply([s.item for s in batch])
                    for s, result in zip(batch, results, strict=True):
                        s.result = result
                except BaseException as exc:
                    for s in batch:
                        s.error = exc
                finally:
                    self._cond.acquire()
                    for s in batch:
                        s.done = True
                    self._busy = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]


class _Slot(Generic[T, R]):
    __slots__ = ("item", "result", "error", "done")

    def __init__(self, item: T):
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.done = False


def unsubscribe_query(address: str, token: str) -> str:
    """The query of an unsubscribe URL, rebuilt from its verified parts."""
    return f"address={quote(address, safe='')}&token={quote(token, safe='')}"
