"""Deliveries: one issue to one subscriber, queued, claimed, recorded.

A delivery is claimed (queued → sending, a compare-and-set committed) before its message is
handed to a server, and recorded (sending → sent) only after the server's 250; a crash leaves
it in ``sending``: ambiguous, never resent without a person deciding.

The sending path runs a handful of statements per message, so ``claim`` and ``record`` execute
SQL written once (``_CLAIM``, ``_RECORD_…``) through the DBAPI cursor of the transaction in hand:
building and compiling a Core statement per call cost more than the fsync of the commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from ..errors import StoreError
from ..models import (
    DeliveryRecord,
    DeliveryStatus,
    IssueRecord,
    IssueState,
    RenderedDigest,
    SubscriberStatus,
)
from ..newsletter.policy import Action, Outcome, finished
from .base import chunks
from .issues import IssueStore
from .schema import UTCDateTime, deliveries_t, issues_t, subscribers_t
from .snapshot import encode_digest, encode_issue
from .subscribers import set_status

_DELIVERY_COLUMNS = (
    deliveries_t.c.id, deliveries_t.c.issue_number, deliveries_t.c.subscriber_id,
    subscribers_t.c.email, subscribers_t.c.name, deliveries_t.c.status,
    deliveries_t.c.attempts, deliveries_t.c.next_attempt_at, deliveries_t.c.last_reply,
    deliveries_t.c.message_id, deliveries_t.c.created_at, deliveries_t.c.updated_at,
)

# The sending path's statements, with "?" for each parameter (see ``StoreBase._execute``).
_CLAIM = ("UPDATE deliveries SET status = 'sending', updated_at = ? "
          "WHERE id = ? AND status = 'queued'")
_RECORD_SENT = ("UPDATE deliveries SET status = 'sent', attempts = attempts + 1, updated_at = ?, "
                "last_reply = ?, message_id = ? WHERE id = ? AND status = 'sending'")
_RECORD_RETRY = ("UPDATE deliveries SET status = 'queued', attempts = attempts + 1, "
                 "updated_at = ?, last_reply = ?, next_attempt_at = ? "
                 "WHERE id = ? AND status = 'sending'")
_RECORD_FAILED = ("UPDATE deliveries SET status = ?, attempts = attempts + 1, updated_at = ?, "
                  "last_reply = ? WHERE id = ? AND status = 'sending'")
_RECORD_RELEASED = ("UPDATE deliveries SET status = 'queued', updated_at = ? "
                    "WHERE id = ? AND status = 'sending'")
_RECORD_UNSENDABLE = ("UPDATE deliveries SET status = 'failed', updated_at = ?, last_reply = ? "
                      "WHERE id = ? AND status = 'queued'")


@dataclass(frozen=True)
class Attempt:
    """What became of one claimed delivery, to be recorded: the policy's outcome (for a 250,
    ``Outcome(Action.SENT, reply)``) and the message's Message-ID."""

    delivery_id: int
    subscriber_id: int
    outcome: Outcome
    message_id: str = ""


def _delivery_from(row: Any) -> DeliveryRecord:
    values = dict(row._mapping)
    values["status"] = DeliveryStatus(values["status"])
    return DeliveryRecord(**values)


class DeliveryStore(IssueStore):
    """The deliveries part of the ledger (it reads issues, so it builds on ``IssueStore``)."""

    def queue_deliveries(self, number: int, *, now: datetime) -> int:
        """Queue issue ``number`` for every active subscriber not yet queued for it; returns how
        many were newly queued (so calling it again queues only newcomers). A draft issue becomes
        ``sending`` in the same transaction. StoreError for a sent or cancelled issue."""
        with self._write() as conn:
            return self._queue(conn, number, now)

    def start_sending(self, digest: RenderedDigest, *, now: datetime) -> int:
        """Freeze what the digest's issue is (its reviews and ``digest``, see ``snapshot.py``)
        and, if it is a draft, queue it for every active subscriber, in one transaction: the
        draft becomes ``sending``. An issue already being sent that was never frozen (it
        started before the ledger could) is frozen now, and nothing is queued. Returns how many
        deliveries were queued."""
        number = digest.issue.number
        with self._write() as conn:
            state = conn.execute(
                select(issues_t.c.state).where(issues_t.c.number == number)
            ).scalar()
            queued = self._queue(conn, number, now) if state == IssueState.DRAFT else 0
            conn.execute(update(issues_t).where(
                issues_t.c.number == number, issues_t.c.frozen_issue.is_(None),
            ).values(frozen_issue=encode_issue(digest.issue), frozen_digest=encode_digest(digest)))
            return queued

    @staticmethod
    def _queue(conn: Connection, number: int, now: datetime) -> int:
        state = conn.execute(
            select(issues_t.c.state).where(issues_t.c.number == number)
        ).scalar()
        if state is None:
            raise StoreError(f"no issue #{number}")
        if state in (IssueState.SENT, IssueState.CANCELLED):
            raise StoreError(f"issue #{number} is {state}; it cannot be queued for sending")
        if state == IssueState.DRAFT:
            conn.execute(update(issues_t).where(issues_t.c.number == number)
                         .values(state=IssueState.SENDING))
        already = exists().where(deliveries_t.c.issue_number == number,
                                 deliveries_t.c.subscriber_id == subscribers_t.c.id)
        source = select(
            literal(number, Integer), subscribers_t.c.id,
            literal(DeliveryStatus.QUEUED.value, String), literal(0, Integer),
            literal(now, UTCDateTime), literal(now, UTCDateTime), literal(now, UTCDateTime),
        ).where(subscribers_t.c.status == SubscriberStatus.ACTIVE, ~already)
        # SQLAlchemy keeps an INSERT's row count only when asked (psycopg has it; sqlite3 too).
        result = conn.execute(insert(deliveries_t).from_select(
            ["issue_number", "subscriber_id", "status", "attempts", "next_attempt_at",
             "created_at", "updated_at"], source), execution_options={"preserve_rowcount": True})
        return result.rowcount

    def _deliveries(self, *where: Any, limit: int | None = None) -> list[DeliveryRecord]:
        query = (select(*_DELIVERY_COLUMNS)
                 .join(subscribers_t, subscribers_t.c.id == deliveries_t.c.subscriber_id)
                 .where(*where)
                 .order_by(deliveries_t.c.id)
                 .limit(limit))
        with self._read() as conn:
            return [_delivery_from(row) for row in conn.execute(query)]

    def delivery(self, delivery_id: int) -> DeliveryRecord:
        """One delivery by id; StoreError if there is none."""
        found = self._deliveries(deliveries_t.c.id == delivery_id)
        if not found:
            raise StoreError(f"no delivery {delivery_id}")
        return found[0]

    def deliveries(self, number: int, status: str | None = None) -> list[DeliveryRecord]:
        """The deliveries of issue ``number`` (with ``status`` when given), in queue order."""
        where = [deliveries_t.c.issue_number == number]
        if status is not None:
            where.append(deliveries_t.c.status == status)
        return self._deliveries(*where)

    def due_deliveries(self, number: int, *, now: datetime, limit: int | None = None,
                       after: int = 0) -> list[DeliveryRecord]:
        """Queued deliveries of issue ``number`` whose next try is due, in queue order; with
        ``after``, only those queued after the delivery of that id (a page at a time)."""
        return self._deliveries(deliveries_t.c.issue_number == number,
                                deliveries_t.c.status == DeliveryStatus.QUEUED,
                                deliveries_t.c.next_attempt_at <= now,
                                deliveries_t.c.id > after, limit=limit)

    def due_count(self, number: int, *, now: datetime) -> int:
        """How many deliveries of issue ``number`` are queued and due."""
        with self._read() as conn:
            return int(conn.execute(select(func.count()).where(
                deliveries_t.c.issue_number == number,
                deliveries_t.c.status == DeliveryStatus.QUEUED,
                deliveries_t.c.next_attempt_at <= now,
            )).scalar() or 0)

    def claim(self, ids: Iterable[int], *, now: datetime) -> list[int]:
        """Take deliveries for sending: queued → sending, compare-and-set, committed before this
        returns. Returns the ids actually taken (in the order given); an id that is no longer
        queued — another sender took it — is left out."""
        return self.record((), claim=ids, now=now)

    def record(self, attempts: Sequence[Attempt], *, now: datetime,
               claim: Iterable[int] = (), unsendable: Sequence[tuple[int, str]] = ()
               ) -> list[int]:
        """In ONE transaction: record what became of claimed deliveries, fail queued ones that
        cannot be sent at all (``unsendable``: (id, why), say an address no header can carry),
        and claim the next ones; returns the ids claimed.

        Each outcome is a compare-and-set out of ``sending``: sent (with the reply and the
        Message-ID), back to the queue for a retry at its time, failed or bounced (a bounce
        also marks the subscriber bounced), released (nothing was transmitted: no attempt is
        counted), or left ``sending`` when ambiguous. A delivery no longer ``sending`` is left
        as it is; the others are recorded even so, since a rollback would forget replies the
        server really gave.
        """
        taken: list[int] = []
        with self._write() as conn:
            cursor = self._cursor(conn)
            stamp = self._time(now)
            for attempt in attempts:
                outcome = attempt.outcome
                action = outcome.action
                if action == Action.SENT:
                    self._execute(cursor, _RECORD_SENT, (stamp, outcome.reply,
                                                         attempt.message_id,
                                                         attempt.delivery_id))
                elif action == Action.RETRY:
                    assert outcome.retry_at is not None
                    self._execute(cursor, _RECORD_RETRY, (stamp, outcome.reply,
                                                          self._time(outcome.retry_at),
                                                          attempt.delivery_id))
                elif action in (Action.FAIL, Action.GIVE_UP, Action.BOUNCE):
                    done = self._execute(cursor, _RECORD_FAILED, (
                        outcome.status.value, stamp, outcome.reply, attempt.delivery_id))
                    if done and action == Action.BOUNCE:
                        self._bounce(conn, attempt.subscriber_id, now)
                elif action in (Action.PAUSE, Action.STOP, Action.RELEASE):
                    self._execute(cursor, _RECORD_RELEASED, (stamp, attempt.delivery_id))
                # Action.AMBIGUOUS: it stays claimed; a person decides.
            for delivery_id, why in unsendable:
                self._execute(cursor, _RECORD_UNSENDABLE, (stamp, why, delivery_id))
            for delivery_id in claim:
                if self._execute(cursor, _CLAIM, (stamp, delivery_id)):
                    taken.append(delivery_id)
        return taken

    @staticmethod
    def _bounce(conn: Connection, subscriber_id: int, now: datetime) -> None:
        current = conn.execute(select(subscribers_t.c.status)
                               .where(subscribers_t.c.id == subscriber_id)).scalar()
        if current == SubscriberStatus.ACTIVE:
            set_status(conn, subscriber_id, SubscriberStatus.BOUNCED, now)

    def release(self, ids: Iterable[int], *, now: datetime) -> int:
        """sending → queued without counting an attempt (nothing was transmitted); returns how
        many were released."""
        count = 0
        with self._write() as conn:
            for chunk in chunks(list(ids)):
                count += conn.execute(update(deliveries_t).where(
                    deliveries_t.c.id.in_(chunk), deliveries_t.c.status == DeliveryStatus.SENDING,
                ).values(status=DeliveryStatus.QUEUED, updated_at=now)).rowcount
        return count

    def ambiguous_deliveries(self, number: int) -> list[DeliveryRecord]:
        """Deliveries of issue ``number`` left in ``sending``: after a crash nobody knows whether
        the server accepted them. (While a sender runs, its in-flight ones look the same.)"""
        return self._deliveries(deliveries_t.c.issue_number == number,
                                deliveries_t.c.status == DeliveryStatus.SENDING)

    def requeue_ambiguous(self, number: int, *, now: datetime) -> int:
        """Put issue ``number``'s ambiguous deliveries back in the queue, due now, to be sent
        (perhaps a second time) on purpose; returns how many."""
        with self._write() as conn:
            return conn.execute(update(deliveries_t).where(
                deliveries_t.c.issue_number == number,
                deliveries_t.c.status == DeliveryStatus.SENDING,
            ).values(status=DeliveryStatus.QUEUED, next_attempt_at=now, updated_at=now)).rowcount

    def settle_ambiguous(self, number: int, *, now: datetime) -> int:
        """Record issue ``number``'s ambiguous deliveries as sent without sending them again
        (a person judged that they went out, e.g. from the relay's logs); returns how many.
        The issue is then finished if nothing else is left (``finish_if_done``)."""
        with self._write() as conn:
            settled = conn.execute(update(deliveries_t).where(
                deliveries_t.c.issue_number == number,
                deliveries_t.c.status == DeliveryStatus.SENDING,
            ).values(status=DeliveryStatus.SENT, updated_at=now,
                     last_reply="settled by hand: taken as delivered")).rowcount
            self._finish_if_done(conn, number, now)
            return settled

    def finish_if_done(self, number: int, *, now: datetime) -> IssueRecord:
        """Mark issue ``number`` sent when its sending is over (``policy.finished``), clearing
        any pause, which has nothing left to hold back; returns the issue as it is now. The one
        place an issue becomes sent."""
        with self._write() as conn:
            self._finish_if_done(conn, number, now)
            found = self._issue_records(conn, issues_t.c.number == number)
        if not found:
            raise StoreError(f"no issue #{number}")
        return found[0]

    def _finish_if_done(self, conn: Connection, number: int, now: datetime) -> None:
        if finished(self._counts(conn, number)):
            conn.execute(update(issues_t).where(
                issues_t.c.number == number, issues_t.c.state == IssueState.SENDING,
            ).values(state=IssueState.SENT, sent_at=now, paused_reason=None))

    def delivery_counts(self, number: int) -> dict[str, int]:
        """Deliveries of issue ``number`` per status (every status present, zero if none)."""
        with self._read() as conn:
            return self._counts(conn, number)

    @staticmethod
    def _counts(conn: Connection, number: int) -> dict[str, int]:
        counts = {status.value: 0 for status in DeliveryStatus}
        rows = conn.execute(
            select(deliveries_t.c.status, func.count())
            .where(deliveries_t.c.issue_number == number)
            .group_by(deliveries_t.c.status)
        )
        counts.update({status: n for status, n in rows})
        return counts

    def pending_issues(self) -> list[IssueRecord]:
        """Issues being sent that still have queued deliveries, by number."""
        queued = exists().where(deliveries_t.c.issue_number == issues_t.c.number,
                                deliveries_t.c.status == DeliveryStatus.QUEUED)
        with self._read() as conn:
            return self._issue_records(conn, and_(issues_t.c.state == IssueState.SENDING,
                                                  queued))
