"""What a server's reply means for a delivery, and when an issue is finished: pure decisions.

``classify`` turns an SMTP reply into one of the DeliveryError kinds (the transports raise
them); ``decide`` turns what happened to one delivery into what the ledger records; ``finished``
is the one definition of an issue whose sending is over. Nothing here touches a socket, the
ledger or the clock: ``now`` is passed in.

- 250: sent.
- 4xx, or a connection lost twice before DATA: retry at now + retry_base × 2^attempts; after
  give_up_hours since the delivery was queued, give up (failed, not bounced).
- 5.1.x, or 550 / 551 / 553 at RCPT: bounce (failed, and the subscriber is marked bounced).
- Another 5xx about the recipient: fail (no bounce).
- 5.7.x or 554 (policy, reputation): pause the issue; nobody is suppressed.
- Connection lost after DATA: ambiguous (left claimed, never resent by itself).
- The transport is unusable (refused connection, failed login, any 5xx to MAIL FROM, and at
  RCPT a refusal of our sender or of relaying for us): stop; nothing is marked, nobody bounced.
  A relay refuses those at RCPT with the codes of a bad recipient (Postfix reports its sender
  checks there by default; Exim answers "550 relay not permitted" to a client without a login),
  so they are told apart by the sender's enhanced codes and the words relays use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ..errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    PolicyDeliveryError,
    TemporaryDeliveryError,
    TransportError,
)
from ..models import DeliveryStatus

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")
#: qmail writes the enhanced code last, in brackets: "553 sorry, … rcpthosts (#5.7.1)".
_ENHANCED_LAST = re.compile(r"\(#([245])\.(\d{1,3})\.(\d{1,3})\)$")
#: A refusal to pass our mail on, in the words of Postfix ("Relay access denied"), Exim ("relay
#: not permitted"), Sendmail ("Relaying denied"), qmail ("not in my list of allowed
#: rcpthosts") and Microsoft's ("Unable to relay").
_RELAY_REFUSED = re.compile(
    r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)"
    r"|(?:unable|not permitted|not allowed) to relay|rcpthosts", re.IGNORECASE)
#: Postfix's words for a refusal of the envelope sender, reported at RCPT by default.
_SENDER_REFUSED = re.compile(r"sender address rejected", re.IGNORECASE)


def reply_text(code: int, text: bytes | str) -> str:
    """'550 5.1.1 User unknown': one line, however many lines the server sent."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(f"{code} {' '.join(text.split())}".split())[:500]


def classify(stage: str, code: int, text: bytes | str) -> DeliveryError:
    """The error for an unwanted reply ``code`` at ``stage`` ("mail", "rcpt" or "data").

    4xx is temporary; any 5xx at MAIL, and a refusal of our sender or of relaying at RCPT or
    after DATA (5.1.7/5.1.8 name the sender's address, never the subscriber's), make the
    transport unusable; 5.7.x and 554 are policy; 5.1.x, and 550/551/553 at RCPT, bounce;
    other 5xx at RCPT or after DATA fail the delivery without a bounce.
    """
    reply = reply_text(code, text)
    detail = reply.split(" ", 1)[1] if " " in reply else ""
    enhanced = _ENHANCED.match(detail) or _ENHANCED_LAST.search(detail)
    subject, status = (enhanced.group(2), enhanced.group(3)) if enhanced else ("", "")
    if 400 <= code < 500:
        return TemporaryDeliveryError(reply, reply=reply)
    # About us, not the recipient: marking anyone bounced (or pausing on a subscriber's name)
    # would take the whole list with it, one address at a time.
    if code == 530 or (subject == "7" and status == "0" and "auth" in detail.lower()):
        return TransportError(
            f"the server wants a login before it takes mail: {reply}; set delivery.smtp_user "
            "and PUBLISHER_SMTP_PASSWORD", reply=reply)
    if stage == "mail" or (subject == "1" and status in ("7", "8")) \
            or _SENDER_REFUSED.search(detail):
        return TransportError(
            f"the server refused the sender: {reply}; check newsletter.bounce_address (the "
            "envelope sender) and that the relay lets this host send as it", reply=reply)
    if _RELAY_REFUSED.search(detail):
        return TransportError(
            f"the server refused to relay publisher's mail: {reply}; the relay needs a login "
            "(delivery.smtp_user and PUBLISHER_SMTP_PASSWORD) or to trust this host",
            reply=reply)
    if subject == "7" or (code == 554 and subject != "1"):
        return PolicyDeliveryError(reply, reply=reply)
    if subject == "1" or (stage == "rcpt" and code in (550, 551, 553)):
        return PermanentDeliveryError(reply, reply=reply, bounce=True)
    if 500 <= code < 600:
        return PermanentDeliveryError(reply, reply=reply)
    return TemporaryDeliveryError(f"unexpected reply: {reply}", reply=reply)


class Action(StrEnum):
    """What the ledger records for one delivery after a send was attempted."""

    SENT = "sent"  # the server accepted it
    RETRY = "retry"  # back to the queue, due at ``retry_at``
    GIVE_UP = "give up"  # failed for good after retrying too long (subscriber untouched)
    FAIL = "fail"  # failed for good (subscriber untouched)
    BOUNCE = "bounce"  # failed for good, and the subscriber is marked bounced
    PAUSE = "pause"  # released; the issue is paused until a person resumes it
    AMBIGUOUS = "ambiguous"  # left claimed: the server may have it
    STOP = "stop"  # released; the transport is unusable, stop the run
    RELEASE = "release"  # released: the run stopped before this message was transmitted


@dataclass(frozen=True)
class Retry:
    """[delivery] settings the retry decision needs."""

    base_seconds: float = 300.0
    give_up_hours: float = 72.0


@dataclass(frozen=True)
class Outcome:
    action: Action
    reply: str  # what the ledger keeps as the last reply
    retry_at: datetime | None = None

    @property
    def status(self) -> DeliveryStatus:
        """The delivery's status once this outcome is recorded."""
        return _STATUS[self.action]


_STATUS = {
    Action.SENT: DeliveryStatus.SENT,
    Action.RETRY: DeliveryStatus.QUEUED,
    Action.GIVE_UP: DeliveryStatus.FAILED,
    Action.FAIL: DeliveryStatus.FAILED,
    Action.BOUNCE: DeliveryStatus.BOUNCED,
    Action.PAUSE: DeliveryStatus.QUEUED,
    Action.AMBIGUOUS: DeliveryStatus.SENDING,
    Action.STOP: DeliveryStatus.QUEUED,
    Action.RELEASE: DeliveryStatus.QUEUED,
}


def decide(result: str | DeliveryError, *, attempts: int, queued_at: datetime,
           now: datetime, retry: Retry) -> Outcome:
    """The outcome of one attempt: ``result`` is the server's 250 reply, or the DeliveryError
    the transport raised. ``attempts`` counts the earlier attempts; ``queued_at`` is when the
    delivery was queued (give_up_hours count from then)."""
    if isinstance(result, str):
        return Outcome(Action.SENT, result)
    reply = str(result)
    if isinstance(result, TemporaryDeliveryError):
        if now - queued_at >= timedelta(hours=retry.give_up_hours):
            return Outcome(Action.GIVE_UP, f"gave up after {retry.give_up_hours:g} hours: {reply}")
        delay = timedelta(seconds=retry.base_seconds * 2 ** attempts)
        return Outcome(Action.RETRY, reply, retry_at=now + delay)
    if isinstance(result, TransportError):
        return Outcome(Action.STOP, reply)
    if isinstance(result, PermanentDeliveryError):
        return Outcome(Action.BOUNCE if result.bounce else Action.FAIL, reply)
    if isinstance(result, PolicyDeliveryError):
        return Outcome(Action.PAUSE, reply)
    if isinstance(result, AmbiguousDeliveryError):
        return Outcome(Action.AMBIGUOUS, reply)
    # Another kind of DeliveryError, raised after the message may have gone: not knowable.
    return Outcome(Action.AMBIGUOUS, reply)


def finished(counts: Mapping[str, int]) -> bool:
    """Whether an issue being sent is finished, from its deliveries per status: nothing queued
    (not even for a retry) and nothing in doubt. A pause has nothing left to hold back then, so
    a finished issue is sent whether or not it was paused; ambiguous deliveries keep it open
    until a person settles or resends them."""
    return not counts.get(DeliveryStatus.QUEUED, 0) and not counts.get(DeliveryStatus.SENDING, 0)
