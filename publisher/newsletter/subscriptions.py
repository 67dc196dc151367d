"""What a reader's request does: pure decisions over what the ledger holds and a given ``now``.

The ledger (``ledger.readers``) gathers the facts inside its transaction and applies what these
functions decide; the web app only shows the outcome. Listmonk, Buttondown and Ghost behave the
same way on the points that matter: double opt-in, one answer for every address (nobody learns
who is subscribed), confirmation links that work once and expire, and an unsubscribe that never
needs more than one click.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from ..models import SubscriberStatus


class SubscribeAction(StrEnum):
    """What a subscribe form's request leads to. The reader sees the same page for all three."""

    SEND = "send"  # record the request and send a confirmation link
    ALREADY_ACTIVE = "already-active"  # record it and tell the address it is on the list
    LIMITED = "limited"  # this address was sent enough messages from the form today


def decide_subscribe(status: str | None, sent_today: int, per_day: int) -> SubscribeAction:
    """``status``: the address's subscriber status, None when it is not on the list (or was
    erased); ``sent_today``: messages the form sent it in the last 24 hours.

    A subscriber who asks again is told by mail that they are on the list (the page says the
    same to everyone, so that nobody learns who is on it; silence would look like a lost
    confirmation). The cap is the same for both messages: the form floods nobody's inbox."""
    if sent_today >= per_day:
        return SubscribeAction.LIMITED
    if status == SubscriberStatus.ACTIVE:
        return SubscribeAction.ALREADY_ACTIVE
    return SubscribeAction.SEND


class ConfirmOutcome(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_USED = "already-used"  # single use: an old link never re-subscribes anyone
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # the request is gone (purged, or the address was erased)


def decide_confirm(found: bool, confirmed_at: datetime | None, expires_at: datetime | None,
                   now: datetime) -> ConfirmOutcome:
    """Whether a subscription request may be confirmed now."""
    if not found:
        return ConfirmOutcome.UNKNOWN
    if confirmed_at is not None:
        return ConfirmOutcome.ALREADY_USED
    if expires_at is None or now >= expires_at:
        return ConfirmOutcome.EXPIRED
    return ConfirmOutcome.CONFIRMED


#: Unconfirmed requests (an address and, unless server.store_ip is false, an IP address of
#: someone who may never have asked) are kept this long after they expire, then deleted.
REQUEST_RETENTION = timedelta(days=7)


def soft_bounce_suppresses(recent: int, limit: int) -> bool:
    """Listmonk-style: ``recent`` soft bounces within the window (this one included) reaching
    ``limit`` mark the subscriber bounced."""
    return recent >= limit


#: A confirmation or a welcome the relay did not take (it was down, or said "try later") is
#: owed, and publisher serve tries it again this long after each attempt. The first attempt is
#: made right after the answer to the reader; the next waits this long, so that the two never
#: overlap.
OWED_RETRY = timedelta(minutes=5)

#: A welcome still owed this long after the reader confirmed is given up: it would greet
#: someone who has been on the list for days, perhaps with an issue already read. (A
#: confirmation is owed until its link expires: after that it could confirm nothing.)
WELCOME_OWED_FOR = timedelta(days=2)


def undo_open(status: str, left_at: datetime | None, now: datetime, window: timedelta) -> bool:
    """Whether a reader with ``status`` since ``left_at`` may still undo leaving ("resubscribe"
    on the unsubscribed page): only an unsubscribe (a bounce or a complaint is not theirs to
    undo), and only for ``window`` after it — the unsubscribe link that shows the button
    never expires."""
    return (status == SubscriberStatus.UNSUBSCRIBED and left_at is not None
            and now - left_at < window)


def welcome_still_owed(status: str, confirmed_at: datetime | None, now: datetime) -> bool:
    """Whether a welcome the relay has not taken is still worth sending to a subscriber with
    ``status`` who confirmed at ``confirmed_at``: not to one who left meanwhile, nor days late."""
    return (status == SubscriberStatus.ACTIVE and confirmed_at is not None
            and now - confirmed_at < WELCOME_OWED_FOR)


class AddressChange(StrEnum):
    """What following the link mailed to a new address does (the preferences page's "change
    address")."""

    CHANGED = "changed"
    USED = "used"  # the old address is no longer on the list, or has moved since the link
    TAKEN = "taken"  # the new address has a subscription record of its own


def decide_address_change(old_found: bool, moved_since_asked: bool, new_found: bool
                          ) -> AddressChange:
    """Whether a subscription may move to the new address its link was mailed to.

    ``old_found``: the address it moves from is still on the list; ``moved_since_asked``: the
    subscription has moved since the link was made (a link works once, even A → B → A);
    ``new_found``: the new address has a subscriber of its own, whatever its status. That is
    refused, as Ghost and Buttondown refuse an address already a member's: two records would
    have to merge — two histories, two consents, an issue queued for each — and the one left
    unsubscribed, bounced or complained would be put back on the list by someone who may not
    have been the one who left. The refusal is shown only to whoever opened the new mailbox,
    so it tells the one who asked nothing about who is on the list."""
    if not old_found or moved_since_asked:
        return AddressChange.USED
    if new_found:
        return AddressChange.TAKEN
    return AddressChange.CHANGED
