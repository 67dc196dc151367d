"""The reader's side of the ledger: subscription requests and their confirmation, consent,
one-click unsubscribe and undo, names, a subscriber's data (export) and erasure, hashed
suppressions, and returned mail (bounces, complaints, mailto unsubscribes).

Each method is one transaction; the decisions are ``newsletter.subscriptions``'s, taken inside
it on what the transaction read, so two requests at once cannot both act on a stale view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from ..errors import StoreError
from ..models import Subscriber, SubscriberStatus
from ..newsletter.subscriptions import (
    OWED_RETRY,
    REQUEST_RETENTION,
    AddressChange,
    ConfirmOutcome,
    SubscribeAction,
    decide_address_change,
    decide_confirm,
    decide_subscribe,
    soft_bounce_suppresses,
)
from .addresses import (
    address_hash,
    address_key,
    clean_name,
    lookup_key,
    mailbox_key,
    mailbox_patterns,
    normalise_email,
)
from .base import StoreBase
from .schema import (
    deliveries_t,
    inbox_messages_t,
    issues_t,
    subscriber_events_t,
    subscribers_t,
    subscription_requests_t,
    suppressions_t,
)
from .subscribers import _subscriber_from, record_event, set_status

#: The history's kind for a welcome sent; its detail is the welcome's Message-ID.
WELCOMED = "welcomed"
#: The history's kind for a subscription moved to another address; its detail names both.
ADDRESS_CHANGED = "address-changed"
#: The form of the request that counts a link mailed to a new address (count_address_link).
ADDRESS_LINK_FORM = "change-address"


def _forget_old_requests(conn: Connection, now: datetime) -> None:
    # Unconfirmed requests are personal data of people who may never have asked.
    conn.execute(delete(subscription_requests_t).where(
        subscription_requests_t.c.expires_at < now - REQUEST_RETENTION))


def _sent_today(conn: Connection, key: str, now: datetime) -> int:
    """The messages the reader pages sent the mailbox of the address of uniqueness key ``key``
    in the last 24 hours, whichever of its spellings they went to (``mailbox_key``): one per
    request (a confirmation, a note, a link to change address)."""
    mailbox = mailbox_key(key)
    column = subscription_requests_t.c.email_normalised
    keys = conn.execute(select(column).where(
        or_(*(column.like(pattern, escape="\\") for pattern in mailbox_patterns(mailbox))),
        subscription_requests_t.c.requested_at > now - timedelta(days=1),
    )).scalars()
    return sum(mailbox_key(k) == mailbox for k in keys)


def is_hash_suppressed(conn: Connection, email: str) -> bool:
    return conn.execute(select(suppressions_t.c.reason).where(
        suppressions_t.c.address_hash == address_hash(email))).first() is not None


@dataclass(frozen=True)
class SubscriptionRequest:
    """A subscribe form's request waiting for its confirmation link."""

    id: int
    email: str
    name: str
    expires_at: datetime
    confirmed_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> SubscriptionRequest:
        return cls(row.id, row.email, row.name, row.expires_at, row.confirmed_at)


@dataclass(frozen=True)
class Confirmation:
    """What following a confirmation link did: its outcome, the subscriber the address is (None
    when it is not on the list), and whether this confirmation put it on the list — False for
    a reader already active who confirms a second link they asked for."""

    outcome: ConfirmOutcome
    subscriber: Subscriber | None
    joined: bool = False


class Owed(StrEnum):
    """Mail owed to a reader: the relay did not take it yet (see ``OWED_RETRY``)."""

    CONFIRMATION = "confirmation"  # of a subscription request
    WELCOME = "welcome"  # of a subscriber


#: Where each kind of owed mail is kept: the table, and its column of when it is due again.
_OWED_AT = {Owed.CONFIRMATION: (subscription_requests_t, "mail_due"),
            Owed.WELCOME: (subscribers_t, "welcome_due")}


@dataclass(frozen=True)
class OwedConfirmation:
    request: SubscriptionRequest
    due: datetime


@dataclass(frozen=True)
class OwedWelcome:
    subscriber: Subscriber
    confirmed_at: datetime | None
    due: datetime


class ReturnKind:
    """What a returned message says (see ``newsletter.returns``)."""

    HARD = "hard-bounce"
    SOFT = "soft-bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class ReaderStore(StoreBase):
    """The reader's part of the ledger."""

    def _row(self, conn: Connection, email: str) -> Any:
        return conn.execute(select(subscribers_t).where(
            subscribers_t.c.email_normalised == lookup_key(email))).first()

    # --- subscribing -----------------------------------------------------------------------------

    def request_subscription(self, email: str, name: str, *, form: str, ip: str | None,
                             now: datetime, expires: datetime, per_day: int
                             ) -> tuple[SubscribeAction, SubscriptionRequest | None]:
        """Record a subscribe form's request, unless the address had enough messages today:
        (the action, the request). A request of an address already on the list expires as it
        is made: it asks for no confirmation, and is kept only to count toward the daily cap.
        Raises InvalidAddress for an address that is not one."""
        address = normalise_email(email)
        key = address_key(address)
        name = clean_name(name)
        with self._write() as conn:
            _forget_old_requests(conn, now)
            row = self._row(conn, address)
            action = decide_subscribe(None if row is None else row.status,
                                      _sent_today(conn, key, now), per_day)
            if action == SubscribeAction.LIMITED:
                return action, None
            if action == SubscribeAction.ALREADY_ACTIVE:
                expires = now
            # A confirmation is owed until the relay takes it; the note to an address on the
            # list is not retried (the reader may ask again).
            owed = now + OWED_RETRY if action == SubscribeAction.SEND else None
            inserted = conn.execute(insert(subscription_requests_t).values(
                email=address, email_normalised=key, name=name, form=form[:200], ip=ip,
                requested_at=now, expires_at=expires, mail_due=owed,
            )).inserted_primary_key
            assert inserted is not None
            return action, SubscriptionRequest(int(inserted[0]), address, name, expires)

    def count_address_link(self, new: str, *, ip: str | None, now: datetime, per_day: int
                           ) -> bool:
        """Count a link to change address, about to be mailed to ``new``, toward the cap on the
        messages one address is sent a day (``request_subscription``'s): False, counting
        nothing, when ``new`` had ``per_day`` already. It is kept as a request that expires as
        it is made (form ADDRESS_LINK_FORM), as the note to an address on the list is: anyone
        on the list could otherwise have a stranger mailed at every press of the button."""
        address = normalise_email(new)
        key = address_key(address)
        with self._write() as conn:
            _forget_old_requests(conn, now)
            if _sent_today(conn, key, now) >= per_day:
                return False
            conn.execute(insert(subscription_requests_t).values(
                email=address, email_normalised=key, form=ADDRESS_LINK_FORM, ip=ip,
                requested_at=now, expires_at=now, mail_due=None))
            return True

    def subscription_request(self, request_id: int) -> SubscriptionRequest | None:
        with self._read() as conn:
            row = conn.execute(select(subscription_requests_t).where(
                subscription_requests_t.c.id == request_id)).first()
        return None if row is None else SubscriptionRequest.from_row(row)

    def confirm_subscription(self, request_id: int, email: str, *, now: datetime,
                             welcome: bool = False) -> Confirmation:
        """Follow a confirmation link: the address becomes an active subscriber with its consent
        recorded (when and where it asked, on which form, when it confirmed), and any
        suppression of it is lifted — it asked again, and proved it reads the mailbox.
        ``welcome``: a subscriber it puts on the list is owed a welcome until one goes out."""
        with self._write() as conn:
            request = conn.execute(select(subscription_requests_t).where(
                subscription_requests_t.c.id == request_id,
                subscription_requests_t.c.email_normalised == lookup_key(email),
            )).first()
            outcome = decide_confirm(request is not None,
                                     None if request is None else request.confirmed_at,
                                     None if request is None else request.expires_at, now)
            if outcome != ConfirmOutcome.CONFIRMED or request is None:
                row = self._row(conn, email)
                return Confirmation(outcome, None if row is None else _subscriber_from(row))
            conn.execute(update(subscription_requests_t).where(
                subscription_requests_t.c.id == request_id).values(confirmed_at=now,
                                                                   mail_due=None))
            consent = {"consent_at": request.requested_at, "consent_ip": request.ip,
                       "consent_form": request.form, "confirmed_at": now}
            row = self._row(conn, request.email)
            joined = row is None or row.status != SubscriberStatus.ACTIVE
            if joined and welcome:
                consent["welcome_due"] = now + OWED_RETRY
            if row is None:
                inserted = conn.execute(insert(subscribers_t).values(
                    email=request.email, email_normalised=request.email_normalised,
                    name=request.name, status=SubscriberStatus.ACTIVE,
                    source=f"web:{request.form}" if request.form else "web",
                    created_at=now, status_changed_at=now, **consent,
                )).inserted_primary_key
                assert inserted is not None
                subscriber_id = int(inserted[0])
            else:
                subscriber_id = row.id
                conn.execute(update(subscribers_t).where(subscribers_t.c.id == row.id).values(
                    name=request.name or row.name, **consent))
                if row.status != SubscriberStatus.ACTIVE:
                    set_status(conn, row.id, SubscriberStatus.ACTIVE, now, detail="confirmed")
            record_event(conn, subscriber_id, "confirmed", now,
                         f"form {request.form or '-'}; asked {request.requested_at:%Y-%m-%d %H:%M}"
                         f" UTC from {request.ip or 'an address not recorded'}")
            conn.execute(delete(suppressions_t).where(
                suppressions_t.c.address_hash == address_hash(request.email)))
            row = conn.execute(select(subscribers_t).where(
                subscribers_t.c.id == subscriber_id)).one()
            return Confirmation(outcome, _subscriber_from(row), joined)

    # --- unsubscribing, undo, preferences --------------------------------------------------------

    def unsubscribe(self, email: str, *, now: datetime, via: str) -> tuple[Subscriber | None,
                                                                              bool]:
        """Unsubscribe ``email`` (idempotent): the subscriber (None when not on the list) and
        whether this call changed anything. Their queued deliveries are not sent."""
        return self.unsubscribe_many([email], now=now, via=via)[0]

    def unsubscribe_many(self, emails: Sequence[str], *, now: datetime, via: str
                         ) -> list[tuple[Subscriber | None, bool]]:
        """``unsubscribe`` for each address, in one transaction: one commit (one fsync) for a
        burst of one-click requests instead of one each."""
        results: list[tuple[Subscriber | None, bool]] = []
        with self._write() as conn:
            for email in emails:
                row = self._row(conn, email)
                if row is None:
                    results.append((None, False))
                elif row.status != SubscriberStatus.ACTIVE:
                    results.append((_subscriber_from(row), False))
                else:
                    set_status(conn, row.id, SubscriberStatus.UNSUBSCRIBED, now, detail=via)
                    results.append((Subscriber(
                        email=row.email, name=row.name, id=row.id,
                        status=SubscriberStatus.UNSUBSCRIBED, source=row.source,
                        created_at=row.created_at, status_changed_at=now), True))
        return results

    def resubscribe(self, email: str, *, now: datetime, via: str) -> Subscriber | None:
        """Make ``email`` active again on its own request (the undo button, the preferences
        page: both reached through a link only its mailbox received). None when not on the
        list."""
        with self._write() as conn:
            row = self._row(conn, email)
            if row is None:
                return None
            if row.status != SubscriberStatus.ACTIVE:
                set_status(conn, row.id, SubscriberStatus.ACTIVE, now, detail=via)
            row = self._row(conn, email)
            return _subscriber_from(row)

    def rename_subscriber(self, email: str, name: str, *, now: datetime) -> Subscriber:
        """Change a subscriber's name. InvalidAddress for a name too long; StoreError when the
        address is not on the list."""
        name = clean_name(name)
        with self._write() as conn:
            row = self._row(conn, email)
            if row is None:
                raise StoreError(f"no subscriber {email.strip()!r}")
            if name != row.name:
                conn.execute(update(subscribers_t).where(subscribers_t.c.id == row.id)
                             .values(name=name))
                record_event(conn, row.id, "renamed", now)
            return _subscriber_from(self._row(conn, email))

    def change_address(self, old: str, new: str, *, asked_at: datetime, now: datetime
                       ) -> tuple[AddressChange, Subscriber | None]:
        """Move the subscription of ``old`` to ``new``, whose mailbox followed the link mailed
        to it on ``asked_at`` (``decide_address_change``): its history, consent and deliveries
        go with it, and the history records the move (the data export shows it); a move
        recorded after ``asked_at`` makes the link used. Issues queued
        for it go to ``new``: a delivery holds the subscriber, not the address, so none is
        sent twice or lost. A subscription paused because ``old`` bounced is active again: the
        bounce was about the old mailbox, and the new one has just answered. Any suppression of
        ``new`` (an erasure) is lifted, as a confirmation lifts it. (The outcome, the
        subscriber as it now is — None when ``old`` is not on the list.)"""
        address = normalise_email(new)
        with self._write() as conn:
            row = self._row(conn, old)
            moved = row is not None and conn.execute(select(subscriber_events_t.c.id).where(
                subscriber_events_t.c.subscriber_id == row.id,
                subscriber_events_t.c.kind == ADDRESS_CHANGED,
                subscriber_events_t.c.at > asked_at).limit(1)).first() is not None
            other = self._row(conn, address)
            # Its own record is no other subscription: the editor may re-case an address.
            taken = other is not None and (row is None or other.id != row.id)
            outcome = decide_address_change(row is not None, moved, taken)
            if outcome != AddressChange.CHANGED or row is None:
                return outcome, None if row is None else _subscriber_from(row)
            conn.execute(update(subscribers_t).where(subscribers_t.c.id == row.id).values(
                email=address, email_normalised=address_key(address)))
            # The requests that led to the subscription follow it, so that its export shows
            # them and its erasure deletes them.
            conn.execute(update(subscription_requests_t).where(
                subscription_requests_t.c.email_normalised == row.email_normalised).values(
                email_normalised=address_key(address)))
            record_event(conn, row.id, ADDRESS_CHANGED, now, f"from {row.email} to {address}")
            if row.status == SubscriberStatus.BOUNCED:
                set_status(conn, row.id, SubscriberStatus.ACTIVE, now,
                           detail="moved to an address that answered")
            conn.execute(delete(suppressions_t).where(
                suppressions_t.c.address_hash == address_hash(address)))
            return outcome, _subscriber_from(self._row(conn, address))

    def move_subscriber(self, old: str, new: str, *, now: datetime) -> tuple[str, Subscriber]:
        """The editor's ``change_address``, on a reader's word (their email asking for it):
        at once, with no link to follow. (The address it left, as it was stored; the
        subscriber.) StoreError when ``old`` is not on the list or ``new`` has a subscription
        of its own; InvalidAddress for a ``new`` that is not an address."""
        with self._read() as conn:
            before = self._row(conn, old)
        if before is not None and before.email == normalise_email(new):
            raise StoreError(f"{before.email} is already the subscription's address; "
                             "nothing to move")
        outcome, subscriber = self.change_address(old, new, asked_at=now, now=now)
        if outcome == AddressChange.TAKEN:
            address = normalise_email(new)
            with self._read() as conn:
                other = self._row(conn, address)
            status = other.status if other is not None else "on record"
            raise StoreError(f"{address} has a subscription of its own ({status}); remove it "
                             f"first ('publisher subscribers remove {address}') to move "
                             f"{old.strip()} there")
        if outcome != AddressChange.CHANGED or subscriber is None or before is None:
            raise StoreError(f"no subscriber {old.strip()!r}")
        return before.email, subscriber

    def subscriber_data(self, email: str) -> dict[str, Any] | None:
        """Everything the ledger holds about ``email`` (GDPR art. 15), ready for JSON: the
        subscriber with its consent, its history, its deliveries and its subscription requests.
        None when the ledger holds nothing about it."""
        key = lookup_key(email)
        with self._read() as conn:
            row = conn.execute(select(subscribers_t).where(
                subscribers_t.c.email_normalised == key)).first()
            requests = conn.execute(select(subscription_requests_t).where(
                subscription_requests_t.c.email_normalised == key)
                .order_by(subscription_requests_t.c.id)).all()
            if row is None and not requests:
                return None
            events: Sequence[Any] = ()
            deliveries: Sequence[Any] = ()
            if row is not None:
                events = conn.execute(select(subscriber_events_t).where(
                    subscriber_events_t.c.subscriber_id == row.id)
                    .order_by(subscriber_events_t.c.id)).all()
                deliveries = conn.execute(
                    select(deliveries_t, issues_t.c.subject)
                    .join(issues_t, issues_t.c.number == deliveries_t.c.issue_number)
                    .where(deliveries_t.c.subscriber_id == row.id)
                    .order_by(deliveries_t.c.issue_number)).all()
        data: dict[str, Any] = {"address": row.email if row is not None else requests[0].email}
        if row is not None:
            data["subscriber"] = {
                "name": row.name, "status": row.status, "source": row.source,
                "created_at": _time(row.created_at),
                "status_changed_at": _time(row.status_changed_at),
                "consent": {"asked_at": _time(row.consent_at), "ip": row.consent_ip,
                            "form": row.consent_form, "confirmed_at": _time(row.confirmed_at)},
            }
            data["history"] = [{"at": _time(e.at), "event": e.kind, "detail": e.detail}
                               for e in events]
            data["deliveries"] = [{
                "issue": d.issue_number, "subject": d.subject, "status": d.status,
                "attempts": d.attempts, "message_id": d.message_id,
                "last_reply": d.last_reply, "queued_at": _time(d.created_at),
                "updated_at": _time(d.updated_at)} for d in deliveries]
        data["subscription_requests"] = [{
            "name": r.name, "form": r.form, "ip": r.ip, "requested_at": _time(r.requested_at),
            "expires_at": _time(r.expires_at), "confirmed_at": _time(r.confirmed_at),
        } for r in requests]
        return data

    def erase_subscriber(self, email: str, *, now: datetime) -> bool:
        """Erase everything about ``email`` (GDPR art. 17) — the subscriber, their history,
        deliveries and requests — keeping only a hashed suppression so that no import adds the
        address again. False when the ledger held nothing about it."""
        key = lookup_key(email)
        with self._write() as conn:
            gone = conn.execute(delete(subscribers_t).where(
                subscribers_t.c.email_normalised == key)).rowcount
            gone += conn.execute(delete(subscription_requests_t).where(
                subscription_requests_t.c.email_normalised == key)).rowcount
            if not gone:
                return False
            if not is_hash_suppressed(conn, email):
                conn.execute(insert(suppressions_t).values(
                    address_hash=address_hash(email), reason="erased", created_at=now))
            return True

    def is_suppressed(self, email: str) -> bool:
        """Whether ``email`` was erased (only its hash is left)."""
        with self._read() as conn:
            return is_hash_suppressed(conn, email)

    # --- returned mail ---------------------------------------------------------------------------

    def inbox_seen(self, key: str) -> bool:
        """Whether the returned message with this key was already acted on."""
        with self._read() as conn:
            return conn.execute(select(inbox_messages_t.c.outcome).where(
                inbox_messages_t.c.key == key)).first() is not None

    def record_welcome(self, email: str, message_id: str, *, now: datetime) -> None:
        """Note in ``email``'s history that a welcome went out with ``message_id``: a report
        about it is tied to the subscriber by it, as an issue's is by its delivery."""
        with self._write() as conn:
            row = self._row(conn, email)
            if row is not None:
                record_event(conn, row.id, WELCOMED, now, message_id)
                conn.execute(update(subscribers_t).where(subscribers_t.c.id == row.id)
                             .values(welcome_due=None))

    # --- mail owed to readers --------------------------------------------------------------------

    def owed_confirmations(self, now: datetime, *, due_only: bool = True,
                           limit: int | None = 100) -> list[OwedConfirmation]:
        """Confirmations due another try (all those not taken yet without ``due_only``), oldest
        first: of requests not confirmed yet whose link still works."""
        t = subscription_requests_t
        due = t.c.mail_due <= now if due_only else t.c.mail_due.is_not(None)
        with self._read() as conn:
            rows = conn.execute(select(t).where(
                due, t.c.confirmed_at.is_(None), t.c.expires_at > now,
            ).order_by(t.c.mail_due, t.c.id).limit(limit)).all()
        return [OwedConfirmation(SubscriptionRequest.from_row(row), row.mail_due) for row in rows]

    def owed_welcomes(self, now: datetime, *, due_only: bool = True,
                      limit: int | None = 100) -> list[OwedWelcome]:
        """Welcomes due another try (all those not taken yet without ``due_only``), oldest
        first, whatever became of their subscribers since: ``welcome_still_owed`` decides."""
        t = subscribers_t
        due = t.c.welcome_due <= now if due_only else t.c.welcome_due.is_not(None)
        with self._read() as conn:
            rows = conn.execute(select(t).where(due).order_by(t.c.welcome_due, t.c.id)
                                .limit(limit)).all()
        return [OwedWelcome(_subscriber_from(row), row.confirmed_at, row.welcome_due)
                for row in rows]

    def claim_owed(self, kind: Owed, key: int, due: datetime, *, until: datetime) -> bool:
        """Take an owed message to send it: its next try moves to ``until``, unless another
        process took it first (then its due time is no longer ``due``, and this is False).
        Several servers on one ledger never send the same message at once."""
        table, column = _OWED_AT[kind]
        with self._write() as conn:
            return conn.execute(update(table).where(
                table.c.id == key, table.c[column] == due).values({column: until})).rowcount == 1

    def settle_owed(self, kind: Owed, key: int) -> None:
        """Nothing more is owed: the message went out, or is given up."""
        table, column = _OWED_AT[kind]
        with self._write() as conn:
            conn.execute(update(table).where(table.c.id == key).values({column: None}))

    def record_returned(self, key: str, kind: str, *, message_ids: tuple[str, ...] = (),
                        email: str = "", detail: str = "", now: datetime,
                        soft_limit: int = 3, soft_window: timedelta = timedelta(days=14)
                        ) -> str:
        """Act on one returned message, once: ``key`` identifies it (a crash between this
        commit and moving the message makes the next run find the key and do nothing again).

        Bounces and complaints are matched by the Message-ID of the message they are about
        (``message_ids``: our Message-IDs are keyed with the secret, so a forged report cannot
        name someone else's); a mailto unsubscribe by its sender's address (``email``).

        Returns the outcome: "seen" (done before), "unmatched" (nothing recorded: not about a
        message or subscriber of ours), "bounced", "soft-bounce", "repeat" (a soft bounce
        reported again in the same words), "complained", "unsubscribed", or "no-change"
        (already not active).
        """
        with self._write() as conn:
            if conn.execute(select(inbox_messages_t.c.outcome).where(
                    inbox_messages_t.c.key == key)).first() is not None:
                return "seen"
            row = None
            issue = None
            sent_at = None  # when the message the report is about went out
            ids = [mid.strip().strip("<>") for mid in message_ids if mid.strip()]
            if ids:
                found = conn.execute(
                    select(deliveries_t.c.subscriber_id, deliveries_t.c.issue_number,
                           deliveries_t.c.updated_at)
                    .where(deliveries_t.c.message_id.in_([f"<{mid}>" for mid in ids] + ids))
                ).first()
                if found is not None:
                    issue, sent_at = found.issue_number, found.updated_at
                    row = conn.execute(select(subscribers_t).where(
                        subscribers_t.c.id == found.subscriber_id)).first()
                else:  # a welcome (publisher serve's): the subscriber's history keeps its id
                    welcomed = conn.execute(
                        select(subscriber_events_t.c.subscriber_id, subscriber_events_t.c.at)
                        .where(subscriber_events_t.c.kind == WELCOMED,
                               subscriber_events_t.c.detail.in_([f"<{mid}>" for mid in ids]))
                    ).first()
                    if welcomed is not None:
                        sent_at = welcomed.at
                        row = conn.execute(select(subscribers_t).where(
                            subscribers_t.c.id == welcomed.subscriber_id)).first()
            if row is None and kind == ReturnKind.UNSUBSCRIBE and email:
                row = self._row(conn, email)
            if row is None:
                return "unmatched"
            about = f"issue #{issue}" if issue is not None else "the welcome"
            left = None if sent_at is None else conn.execute(
                select(subscriber_events_t.c.detail).where(
                    subscriber_events_t.c.subscriber_id == row.id,
                    subscriber_events_t.c.kind == ADDRESS_CHANGED,
                    subscriber_events_t.c.at > sent_at)
                .order_by(subscriber_events_t.c.at).limit(1)).first()
            if left is not None:
                # About a mailbox the subscription has left since (often because it was
                # closing): kept in its history, but the address it now goes to is not the
                # one that bounced or complained.
                old = left.detail.removeprefix("from ").partition(" to ")[0]
                record_event(conn, row.id, f"{kind} (old address)", now,
                             f"{about}, sent to {old} before the move: {detail}"[:1000])
                conn.execute(insert(inbox_messages_t).values(key=key[:200], outcome="no-change",
                                                             processed_at=now))
                return "no-change"
            about = f"issue #{issue}: " if issue is not None else ""
            outcome = self._apply_return(conn, row, kind, f"{about}{detail}"[:1000], now,
                                         soft_limit, soft_window)
            conn.execute(insert(inbox_messages_t).values(key=key[:200], outcome=outcome,
                                                         processed_at=now))
            return outcome

    @staticmethod
    def _apply_return(conn: Connection, row: Any, kind: str, detail: str, now: datetime,
                      soft_limit: int, soft_window: timedelta) -> str:
        active = row.status == SubscriberStatus.ACTIVE
        if kind == ReturnKind.SOFT:
            # The same report again (a relay that reports one message twice, each report with
            # an id of its own) is one failed message, not two: counted once.
            if conn.execute(select(subscriber_events_t.c.id).where(
                    subscriber_events_t.c.subscriber_id == row.id,
                    subscriber_events_t.c.kind == "soft-bounce",
                    subscriber_events_t.c.detail == detail,
                    subscriber_events_t.c.at > now - soft_window).limit(1)).first() is not None:
                return "repeat"
            record_event(conn, row.id, "soft-bounce", now, detail)
            recent = conn.execute(select(func.count()).where(
                subscriber_events_t.c.subscriber_id == row.id,
                subscriber_events_t.c.kind == "soft-bounce",
                subscriber_events_t.c.at > now - soft_window,
            )).scalar_one()
            if active and soft_bounce_suppresses(recent, soft_limit):
                set_status(conn, row.id, SubscriberStatus.BOUNCED, now,
                           detail=f"{recent} soft bounces within {soft_window.days} days")
                return "bounced"
            return "soft-bounce"
        status = {ReturnKind.HARD: SubscriberStatus.BOUNCED,
                  ReturnKind.COMPLAINT: SubscriberStatus.COMPLAINED,
                  ReturnKind.UNSUBSCRIBE: SubscriberStatus.UNSUBSCRIBED}[kind]
        # A complaint outranks an earlier unsubscribe or bounce: it must never be mailed again,
        # even if someone re-imports the address.
        if active or (kind == ReturnKind.COMPLAINT
                      and row.status != SubscriberStatus.COMPLAINED):
            set_status(conn, row.id, status, now, detail=detail)
            return str(status)
        return "no-change"
