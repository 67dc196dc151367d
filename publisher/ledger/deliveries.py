"""Deliveries: one issue to one subscriber, queued, claimed, recorded.

A delivery is claimed (queued → sending, a compare-and-set committed) before its message is
handed to a server, and recorded (sending → sent) only after the server's 250; a crash leaves
it in ``sending``: ambiguous, never resent without a person deciding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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
from ..models import DeliveryRecord, DeliveryStatus, IssueRecord
from .base import chunks
from .issues import IssueStore
from .schema import UTCDateTime, deliveries_t, issues_t, subscribers_t
from .subscribers import set_status

_DELIVERY_COLUMNS = (
    deliveries_t.c.id, deliveries_t.c.issue_number, deliveries_t.c.subscriber_id,
    subscribers_t.c.email, subscribers_t.c.name, deliveries_t.c.status,
    deliveries_t.c.attempts, deliveries_t.c.next_attempt_at, deliveries_t.c.last_reply,
    deliveries_t.c.message_id, deliveries_t.c.created_at, deliveries_t.c.updated_at,
)


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
            state = conn.execute(
                select(issues_t.c.state).where(issues_t.c.number == number)
            ).scalar()
            if state is None:
                raise StoreError(f"no issue #{number}")
            if state in ("sent", "cancelled"):
                raise StoreError(f"issue #{number} is {state}; it cannot be queued for sending")
            if state == "draft":
                conn.execute(update(issues_t).where(issues_t.c.number == number)
                             .values(state="sending"))
            already = exists().where(deliveries_t.c.issue_number == number,
                                     deliveries_t.c.subscriber_id == subscribers_t.c.id)
            source = select(
                literal(number, Integer), subscribers_t.c.id, literal("queued", String),
                literal(0, Integer), literal(now, UTCDateTime), literal(now, UTCDateTime),
                literal(now, UTCDateTime),
            ).where(subscribers_t.c.status == "active", ~already)
            result = conn.execute(insert(deliveries_t).from_select(
                ["issue_number", "subscriber_id", "status", "attempts", "next_attempt_at",
                 "created_at", "updated_at"], source))
            return result.rowcount

    def _deliveries(self, *where: Any, limit: int | None = None) -> list[DeliveryRecord]:
        query = (select(*_DELIVERY_COLUMNS)
                 .join(subscribers_t, subscribers_t.c.id == deliveries_t.c.subscriber_id)
                 .where(*where)
                 .order_by(deliveries_t.c.next_attempt_at, deliveries_t.c.id)
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
        """The deliveries of issue ``number`` (with ``status`` when given)."""
        where = [deliveries_t.c.issue_number == number]
        if status is not None:
            where.append(deliveries_t.c.status == status)
        return self._deliveries(*where)

    def due_deliveries(self, number: int, *, now: datetime,
                       limit: int | None = None) -> list[DeliveryRecord]:
        """Queued deliveries of issue ``number`` whose next try is due, soonest first."""
        return self._deliveries(deliveries_t.c.issue_number == number,
                                deliveries_t.c.status == "queued",
                                deliveries_t.c.next_attempt_at <= now, limit=limit)

    def mark_sending(self, ids: Iterable[int], *, now: datetime) -> list[int]:
        """Take deliveries for sending: queued → sending, compare-and-set, committed before this
        returns. Returns the ids actually taken (in the order given); an id that is no longer
        queued — another sender took it — is left out."""
        taken: list[int] = []
        with self._write() as conn:
            for delivery_id in ids:
                result = conn.execute(
                    update(deliveries_t)
                    .where(deliveries_t.c.id == delivery_id, deliveries_t.c.status == "queued")
                    .values(status="sending", updated_at=now)
                )
                if result.rowcount == 1:
                    taken.append(delivery_id)
        return taken

    @staticmethod
    def _move(conn: Connection, delivery_id: int, from_states: tuple[str, ...], status: str,
              values: Callable[[Any], dict[str, Any]]) -> Any:
        """Compare-and-set one delivery out of ``from_states`` into ``status`` inside ``conn``'s
        transaction (``values`` gives the other columns from the current row); returns that row.
        StoreError if the delivery is missing or in another state."""
        row = conn.execute(
            select(deliveries_t.c.status, deliveries_t.c.subscriber_id)
            .where(deliveries_t.c.id == delivery_id)
        ).first()
        if row is None:
            raise StoreError(f"no delivery {delivery_id}")
        if row.status not in from_states:
            raise StoreError(
                f"delivery {delivery_id} is {row.status}, not {' or '.join(from_states)}; "
                f"it cannot become {status}"
            )
        conn.execute(update(deliveries_t)
                     .where(deliveries_t.c.id == delivery_id, deliveries_t.c.status == row.status)
                     .values(status=status, **values(row)))
        return row

    def _finish(self, delivery_id: int, from_states: tuple[str, ...], status: str,
                **values: Any) -> None:
        """Compare-and-set one delivery out of ``from_states``, in a transaction of its own."""
        with self._write() as conn:
            self._move(conn, delivery_id, from_states, status, lambda _row: values)

    def mark_sent(self, delivery_id: int, *, now: datetime, reply: str,
                  message_id: str) -> None:
        """sending → sent, with the server's reply and the Message-ID."""
        self._finish(delivery_id, ("sending",), status="sent",
                     attempts=deliveries_t.c.attempts + 1, updated_at=now,
                     last_reply=reply, message_id=message_id)

    def mark_sent_many(self, items: Sequence[tuple[int, str, str]], *,
                       now: datetime) -> list[int]:
        """Several sending → sent in ONE transaction: items are (id, reply, message_id).

        One fsynced commit per 250 caps a sender at about 1,000 messages/s; recording a group
        of replies at once lifts that. A crash before this commit leaves the group in
        ``sending``: ambiguous, so never resent — the never-twice rule holds either way.
        Returns the ids that were no longer ``sending`` (left as they were); the rest are
        recorded even so, since a rollback would forget replies the server really gave.
        """
        stale: list[int] = []
        if not items:
            return stale
        with self._write() as conn:
            for delivery_id, reply, message_id in items:
                done = conn.execute(update(deliveries_t).where(
                    deliveries_t.c.id == delivery_id, deliveries_t.c.status == "sending",
                ).values(status="sent", attempts=deliveries_t.c.attempts + 1, updated_at=now,
                         last_reply=reply, message_id=message_id))
                if done.rowcount != 1:
                    stale.append(delivery_id)
        return stale

    def mark_retry(self, delivery_id: int, *, now: datetime, reply: str,
                   next_attempt_at: datetime) -> None:
        """sending → queued for another try at ``next_attempt_at``; one more attempt counted."""
        self._finish(delivery_id, ("sending",), status="queued",
                     attempts=deliveries_t.c.attempts + 1, updated_at=now,
                     last_reply=reply, next_attempt_at=next_attempt_at)

    def mark_failed(self, delivery_id: int, *, now: datetime, reply: str,
                    bounced: bool) -> None:
        """Give up on a delivery (sending or queued). ``bounced``: the status is ``bounced``
        and the subscriber is marked bounced too, so later issues skip them."""
        status = "bounced" if bounced else "failed"
        with self._write() as conn:
            row = self._move(conn, delivery_id, ("sending", "queued"), status, lambda row: {
                "updated_at": now, "last_reply": reply,
                "attempts": deliveries_t.c.attempts + (1 if row.status == "sending" else 0),
            })
            if bounced:
                current = conn.execute(select(subscribers_t.c.status)
                                       .where(subscribers_t.c.id == row.subscriber_id)).scalar()
                if current == "active":
                    set_status(conn, row.subscriber_id, "bounced", now)

    def release(self, ids: Iterable[int], *, now: datetime | None = None) -> int:
        """sending → queued without counting an attempt (nothing was transmitted); returns how
        many were released."""
        values: dict[str, Any] = {"status": "queued"}
        if now is not None:
            values["updated_at"] = now
        count = 0
        with self._write() as conn:
            for chunk in chunks(list(ids)):
                count += conn.execute(update(deliveries_t).where(
                    deliveries_t.c.id.in_(chunk), deliveries_t.c.status == "sending",
                ).values(**values)).rowcount
        return count

    def ambiguous_deliveries(self, number: int) -> list[DeliveryRecord]:
        """Deliveries of issue ``number`` left in ``sending``: after a crash nobody knows whether
        the server accepted them. (While a sender runs, its in-flight ones look the same.)"""
        return self._deliveries(deliveries_t.c.issue_number == number,
                                deliveries_t.c.status == "sending")

    def requeue_ambiguous(self, number: int, *, now: datetime) -> int:
        """Put issue ``number``'s ambiguous deliveries back in the queue, due now, to be sent
        (perhaps a second time) on purpose; returns how many."""
        with self._write() as conn:
            return conn.execute(update(deliveries_t).where(
                deliveries_t.c.issue_number == number, deliveries_t.c.status == "sending",
            ).values(status="queued", next_attempt_at=now, updated_at=now)).rowcount

    def settle_ambiguous(self, number: int, *, now: datetime) -> int:
        """Record issue ``number``'s ambiguous deliveries as sent without sending them again
        (a person judged that they went out, e.g. from the relay's logs); returns how many.
        The issue becomes sent when nothing else is queued."""
        with self._write() as conn:
            settled = conn.execute(update(deliveries_t).where(
                deliveries_t.c.issue_number == number, deliveries_t.c.status == "sending",
            ).values(status="sent", updated_at=now,
                     last_reply="settled by hand: taken as delivered")).rowcount
            queued = conn.execute(select(func.count()).where(
                deliveries_t.c.issue_number == number, deliveries_t.c.status == "queued",
            )).scalar()
            if settled and not queued:
                conn.execute(update(issues_t).where(
                    issues_t.c.number == number, issues_t.c.state == "sending",
                ).values(state="sent", sent_at=now))
            return settled

    def delivery_counts(self, number: int) -> dict[str, int]:
        """Deliveries of issue ``number`` per status (every status present, zero if none)."""
        counts = dict.fromkeys(tuple(DeliveryStatus), 0)
        with self._read() as conn:
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
                                deliveries_t.c.status == "queued")
        with self._read() as conn:
            return self._issue_records(conn, and_(issues_t.c.state == "sending", queued))

