"""Deliveries: one issue to one subscriber, queued, claimed, recorded.

A delivery is claimed (queued → sending, a compare-and-set committed) before its message is
handed to a server, and recorded (sending → sent) only after the server's 250; a crash leaves
it in ``sending``: ambiguous, never resent without a person deciding.

The sending path runs a handful of statements per message, so ``claim`` and ``record`` execute
SQL written once (``_CLAIM``, ``_RECORD_…``) through the DBAPI cursor of the transaction in hand:
building and compiling a Core statement per call cost more than the fsync of the commit.

Several senders (PostgreSQL; each process is a worker, ``StoreBase.worker``) share an issue
through leases: ``take_due`` reserves the next page of queued deliveries for this worker
(``SELECT … FOR UPDATE SKIP LOCKED`` in a short transaction, then ``lease_owner`` and
``lease_expires_at`` set), so each worker renders and sends its own; a claim keeps the lease.
Nothing is taken from a live worker that holds it: a reservation whose lease lapsed, or whose
worker's connections are gone (it died), is free for the others, and a claim whose worker is
gone or silent past its lease is *ambiguous*, never resent by itself. On SQLite one process
sends at a time (the run lock), so ``take_due`` only reads, but claims carry the lease all the
same. The rate limit the workers share is a row of its own (``reserve_rate``), which the sender
threads take their turns from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
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
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError, first_line
from ..models import (
    LEFT_THE_LIST,
    SKIPPED,
    DeliveryRecord,
    DeliveryStatus,
    IssueRecord,
    IssueState,
    RenderedDigest,
    SubscriberStatus,
)
from ..newsletter.policy import Action, Outcome, finished
from .base import LEASE, chunks, open_workers, worker_host
from .faults import LedgerFull
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
# A claim takes a queued delivery that no other worker holds (or whose hold lapsed) and keeps
# the lease; a retry or a release gives it back to the queue, free for any worker.
# A hold is a lease_owner with an unexpired lease_expires_at; a delivery recorded sent or failed
# keeps the name of the worker that sent it, and no hold.
_CLAIMABLE = ("status = 'queued' AND "
              "(lease_expires_at IS NULL OR lease_expires_at < ? OR lease_owner = ?)")
_CLAIM = ("UPDATE deliveries SET status = 'sending', updated_at = ?, lease_owner = ?, "
          f"lease_expires_at = ? WHERE id = ? AND {_CLAIMABLE}")
_RECORD_SENT = ("UPDATE deliveries SET status = 'sent', attempts = attempts + 1, updated_at = ?, "
                "last_reply = ?, message_id = ?, lease_expires_at = NULL "
                "WHERE id = ? AND status = 'sending'")
_RECORD_RETRY = ("UPDATE deliveries SET status = 'queued', attempts = attempts + 1, "
                 "updated_at = ?, last_reply = ?, next_attempt_at = ?, lease_owner = NULL, "
                 "lease_expires_at = NULL WHERE id = ? AND status = 'sending'")
_RECORD_FAILED = ("UPDATE deliveries SET status = ?, attempts = attempts + 1, updated_at = ?, "
                  "last_reply = ?, lease_expires_at = NULL WHERE id = ? AND status = 'sending'")
_RECORD_RELEASED = ("UPDATE deliveries SET status = 'queued', updated_at = ?, "
                    "lease_owner = NULL, lease_expires_at = NULL "
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


#: How many times a recording transaction is run again after PostgreSQL aborted it to break a
#: deadlock (or a serialization failure): it applied nothing, and its statements are
#: compare-and-sets, so running it again is safe (``DeliveryStore.record``).
WRITE_RETRIES = 3
#: SQLSTATEs of a transaction PostgreSQL aborted so that another could go on: deadlock
#: detected, serialization failure.
_TRANSIENT_STATES = frozenset({"40P01", "40001"})


class _TransientWrite(StoreError):
    """A write transaction PostgreSQL rolled back to let another go on; worth running again."""


#: On PostgreSQL ``take_due`` reserves at most this many deliveries at a time: enough to keep a
#: worker's connections busy between two reservations, few enough that the workers run out of
#: work together rather than one finishing a long page alone.
RESERVATION = 100


def _due(now: datetime) -> Any:
    """Whether a queued delivery may be offered at ``now``: one never tried is due at once, a
    retry once its time has come. Not "queued at or before ``now``": the worker that queues an
    issue stamps the deliveries with its own clock, and every worker that started a moment
    earlier (cron fires them all in the same second) or whose clock is a little behind would
    find none due and leave the whole issue to the others."""
    return (deliveries_t.c.attempts == 0) | (deliveries_t.c.next_attempt_at <= now)


def _delivery_from(row: Any) -> DeliveryRecord:
    values = dict(row._mapping)
    values["status"] = DeliveryStatus(values["status"])
    return DeliveryRecord(**values)


class DeliveryStore(IssueStore):
    """The deliveries part of the ledger (it reads issues, so it builds on ``IssueStore``).

    Its writes raise StoreError, one line naming the ledger and the cause, when the database
    refuses them (``database or disk is full``, a read-only file): the sending path turns that
    into a stop that keeps what it knows (``delivery.engine``), never a traceback.
    """

    @contextmanager
    def _writing(self, *, serial: bool = True) -> Iterator[Connection]:
        dbapi_error = self._engine.dialect.loaded_dbapi.Error
        try:
            with self._write(serial=serial) as conn:
                yield conn
        except LedgerFull as exc:  # the send goes on waiting for room: no "run this again"
            raise StoreError(f"{self.url}: cannot write the ledger: {exc.cause}; free space on "
                             "the disk that holds it") from None
        except (SQLAlchemyError, dbapi_error) as exc:
            cause = getattr(exc, "orig", None) or exc
            hint = "; free space on the disk that holds it" if "full" in str(cause) else ""
            error = (_TransientWrite if getattr(cause, "sqlstate", None) in _TRANSIENT_STATES
                     else StoreError)
            # The driver's text goes on to the server's DETAIL, HINT and CONTEXT lines (one may
            # quote a reader's row): the first says what went wrong.
            raise error(f"{self.url}: cannot write the ledger: {first_line(cause)}{hint}"
                        ) from None

    def queue_deliveries(self, number: int, *, now: datetime) -> int:
        """Queue issue ``number`` for every active subscriber not yet queued for it; returns how
        many were newly queued (so calling it again queues only newcomers). A draft issue becomes
        ``sending`` in the same transaction. StoreError for a sent or cancelled issue."""
        with self._writing() as conn:
            return self._queue(conn, number, now)

    def start_sending(self, digest: RenderedDigest, *, now: datetime) -> int:
        """Freeze what the digest's issue is (its reviews and ``digest``, see ``snapshot.py``)
        and, if it is a draft, queue it for every active subscriber, in one transaction: the
        draft becomes ``sending``. An issue already being sent that was never frozen (it
        started before the ledger could) is frozen now, and nothing is queued. Returns how many
        deliveries were queued."""
        number = digest.issue.number
        with self._writing() as conn:
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
                                _due(now), deliveries_t.c.id > after, limit=limit)

    def due_count(self, number: int, *, now: datetime) -> int:
        """How many deliveries of issue ``number`` are queued and due."""
        return self._queued_count(number, _due(now))

    def retry_count(self, number: int, *, now: datetime) -> int:
        """How many deliveries of issue ``number`` are queued for a retry not due at ``now``
        (a count other senders at work do not change: they send only what is due)."""
        return self._queued_count(number, ~_due(now))

    def _queued_count(self, number: int, when: Any) -> int:
        """How many deliveries of issue ``number`` are queued and meet ``when``."""
        with self._read() as conn:
            return int(conn.execute(select(func.count()).where(
                deliveries_t.c.issue_number == number,
                deliveries_t.c.status == DeliveryStatus.QUEUED,
                when,
            )).scalar() or 0)

    def take_due(self, number: int, *, now: datetime, limit: int,
                 after: int = 0) -> list[DeliveryRecord]:
        """The next page of issue ``number``'s due deliveries for this worker to send, in queue
        order. On SQLite, those after the delivery ``after`` (it only reads: one process sends
        at a time). On PostgreSQL (several senders) it reserves them wherever they are in the
        queue — at most RESERVATION, none that another worker holds or is reserving right now,
        none reserved already (this worker's are in hand) — so that no two workers render and
        offer the same message. When nothing is free but a worker that died still holds
        reservations, they are taken over then, not when its lease lapses."""
        if not self.postgres:
            return self.due_deliveries(number, now=now, limit=limit, after=after)
        due = (deliveries_t.c.issue_number == number,
               deliveries_t.c.status == DeliveryStatus.QUEUED, _due(now))
        with self._write(serial=False) as conn:
            ids = self._reserve(conn, due, min(limit, RESERVATION))
            if not ids and self._free_the_deads(conn, due):
                ids = self._reserve(conn, due, min(limit, RESERVATION))
        if not ids:
            return []
        return self._deliveries(deliveries_t.c.id.in_(ids))

    def _reserve(self, conn: Connection, due: tuple[Any, ...], limit: int) -> list[int]:
        wall = self._wall()
        free = (deliveries_t.c.lease_expires_at.is_(None)
                | (deliveries_t.c.lease_expires_at < wall))
        page = (select(deliveries_t.c.id).where(*due, free)
                .order_by(deliveries_t.c.id).limit(limit)
                .with_for_update(skip_locked=True))
        return list(conn.execute(
            update(deliveries_t).where(deliveries_t.c.id.in_(page.scalar_subquery()))
            .values(lease_owner=self.worker, lease_expires_at=wall + LEASE)
            .returning(deliveries_t.c.id)).scalars())

    def _free_the_deads(self, conn: Connection, due: tuple[Any, ...]) -> bool:
        """Free the due deliveries reserved by workers that are no longer alive; whether any
        were."""
        owners = set(conn.execute(
            select(deliveries_t.c.lease_owner).distinct()
            .where(*due, deliveries_t.c.lease_owner.is_not(None),
                   deliveries_t.c.lease_owner != self.worker)).scalars())
        dead = owners - self._live_workers(conn, owners)
        if not dead:
            return False
        conn.execute(update(deliveries_t)
                     .where(*due, deliveries_t.c.lease_owner.in_(sorted(dead)))
                     .values(lease_owner=None, lease_expires_at=None))
        return True

    def end_leases(self, number: int) -> None:
        """This worker's run of issue ``number`` is over: the queued deliveries it reserved
        and did not claim are free for the other workers at once, and those it leaves in
        ``sending`` (a connection lost after DATA) are nobody's in flight any more — ambiguous
        to everyone who looks, not only once the lease lapses."""
        wall = self._wall()
        with self._write(serial=False) as conn:
            if self.postgres:  # only there are queued deliveries reserved
                conn.execute(update(deliveries_t).where(
                    deliveries_t.c.issue_number == number,
                    deliveries_t.c.status == DeliveryStatus.QUEUED,
                    deliveries_t.c.lease_owner == self.worker,
                ).values(lease_owner=None, lease_expires_at=None))
            conn.execute(update(deliveries_t).where(
                deliveries_t.c.issue_number == number,
                deliveries_t.c.status == DeliveryStatus.SENDING,
                deliveries_t.c.lease_owner == self.worker,
            ).values(lease_expires_at=wall))

    def rate_reserver(self) -> Callable[[float], float] | None:
        """On PostgreSQL, the rate limit shared by every worker (see ``reserve_rate``); None
        where one process sends at a time and keeps the pace in memory."""
        return self.reserve_rate if self.postgres else None

    def reserve_rate(self, interval: float, name: str = "delivery") -> float:
        """Take the next sending time of the shared rate limit ``name``, which lets one message
        go every ``interval`` seconds across all workers; returns the seconds to wait for it.

        A token bucket in the ledger (without a burst): one row holding the next free time, by
        the database's clock, moved on by ``interval`` in each taker's short transaction. It
        holds however many workers come and go, which a per-worker share of the limit would
        not (a share must be recomputed whenever one joins, leaves or dies); it costs one small
        transaction per message, paid only when a limit is set."""
        now = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
        with self._write(serial=False) as conn:
            conn.exec_driver_sql(
                "INSERT INTO rate_limits (name, next_at) VALUES (%(name)s, 0) "
                "ON CONFLICT (name) DO NOTHING", {"name": name})
            wait = conn.exec_driver_sql(
                f"WITH clock AS (SELECT {now} AS t) "
                "UPDATE rate_limits SET next_at = GREATEST(next_at, clock.t) + %(interval)s "
                "FROM clock WHERE name = %(name)s "
                "RETURNING next_at - %(interval)s - clock.t",
                {"name": name, "interval": float(interval)}).scalar()
        return max(0.0, float(wait or 0.0))

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
        wall, wanted = self._wall(), list(claim)
        retries = 0
        while True:
            try:
                return self._record(attempts, now, wall, wanted, unsendable)
            except _TransientWrite:
                # Two transactions each waited for a row the other had locked (a claim waiting
                # on a row this one records, while this one claims a row that claim holds):
                # PostgreSQL rolled this one back, whole. Its outcomes are not lost: again.
                retries += 1
                if retries > WRITE_RETRIES:
                    raise

    def _record(self, attempts: Sequence[Attempt], now: datetime, wall: datetime,
                wanted: list[int], unsendable: Sequence[tuple[int, str]]) -> list[int]:
        with self._writing(serial=False) as conn:
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
            lease = (self.worker, self._time(wall + LEASE))
            free_if_lapsed = (self._time(wall), self.worker)
            # A claim waits for a row another transaction holds (a worker reserving a page
            # locks rows it then passes over, for the length of its transaction); claims go
            # in id order, as reservations do, so two of them never wait for each other. A
            # claim can still wait for a row recorded above (its statement began before that
            # row was claimed) while this transaction waits for one it holds: ``record``
            # runs the transaction again when PostgreSQL breaks such a deadlock.
            got = {delivery_id for delivery_id in sorted(set(wanted))
                   if self._execute(cursor, _CLAIM,
                                    (stamp, *lease, delivery_id, *free_if_lapsed))}
            taken = [delivery_id for delivery_id in dict.fromkeys(wanted) if delivery_id in got]
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
        with self._writing() as conn:
            for chunk in chunks(list(ids)):
                count += conn.execute(update(deliveries_t).where(
                    deliveries_t.c.id.in_(chunk), deliveries_t.c.status == DeliveryStatus.SENDING,
                ).values(status=DeliveryStatus.QUEUED, updated_at=now, lease_owner=None,
                         lease_expires_at=None)).rowcount
        return count

    def _live_workers(self, conn: Connection, owners: set[str],
                      lock_holder: int | None = None) -> set[str]:
        """Which of ``owners`` (worker ids) are still at work. On PostgreSQL: those with a
        connection open, by its application_name (a killed process's connections close with
        it). On SQLite: ledgers open in this process, and those of ``lock_holder``, the pid
        holding the publication's file lock now (``pipeline.lock.file_lock_holder``), given
        by a reader that does not hold it — every other sender there holds that lock, so
        none can be at work beside one that asks while holding it (and a pid alone is no
        proof of life: pids are reused)."""
        if not owners:
            return set()
        if self.postgres:
            rows = conn.exec_driver_sql(
                "SELECT DISTINCT application_name FROM pg_stat_activity "
                "WHERE application_name = ANY(%(owners)s)", {"owners": sorted(owners)})
            return {row[0] for row in rows}
        holding = f"{worker_host()}:{lock_holder}:" if lock_holder else None
        return (owners & open_workers()) | {
            owner for owner in owners if holding and owner.startswith(holding)}

    def _sending(self, conn: Connection, number: int,
                 lock_holder: int | None = None) -> tuple[list[Any], list[Any]]:
        """Issue ``number``'s deliveries in ``sending``, split into (ambiguous, in flight).

        In flight: held by another worker that is alive (``_live_workers``, which
        ``lock_holder`` is passed to) and whose lease has not lapsed — it will record them.
        Everything else is ambiguous: this worker's own (its sending is over when it asks),
        those of a worker that died or went silent past its lease, and those claimed before
        leases existed."""
        rows = conn.execute(
            select(deliveries_t.c.id, deliveries_t.c.lease_owner,
                   deliveries_t.c.lease_expires_at)
            .where(deliveries_t.c.issue_number == number,
                   deliveries_t.c.status == DeliveryStatus.SENDING)
            .order_by(deliveries_t.c.id)).all()
        wall = self._wall()
        held = {row.lease_owner for row in rows if row.lease_owner
                and row.lease_owner != self.worker
                and row.lease_expires_at is not None and row.lease_expires_at > wall}
        live = self._live_workers(conn, held, lock_holder)
        ambiguous = [row for row in rows if row.lease_owner not in live]
        flying = [row for row in rows if row.lease_owner in live]
        return ambiguous, flying

    def ambiguous_deliveries(self, number: int, *,
                             lock_holder: int | None = None) -> list[DeliveryRecord]:
        """Deliveries of issue ``number`` left in ``sending`` that no live worker holds: nobody
        knows whether the server accepted them (see ``_sending``, and ``_live_workers`` for
        ``lock_holder``)."""
        with self._read() as conn:
            ambiguous, _ = self._sending(conn, number, lock_holder)
        ids = [row.id for row in ambiguous]
        found: list[DeliveryRecord] = []
        for chunk in chunks(ids):
            found += self._deliveries(deliveries_t.c.id.in_(chunk))
        return found

    def in_flight(self, number: int, *, lock_holder: int | None = None) -> dict[str, int]:
        """Issue ``number``'s deliveries being sent right now by other live workers, per
        worker id (``lock_holder``: see ``_live_workers``)."""
        with self._read() as conn:
            _, flying = self._sending(conn, number, lock_holder)
        counts: dict[str, int] = {}
        for row in flying:
            counts[row.lease_owner] = counts.get(row.lease_owner, 0) + 1
        return counts

    def reserved_elsewhere(self, number: int) -> dict[str, int]:
        """Issue ``number``'s queued deliveries that other live workers have reserved under a
        lease (PostgreSQL: ``take_due``), per worker id: theirs to send, not left waiting."""
        wall = self._wall()
        with self._read() as conn:
            rows = conn.execute(
                select(deliveries_t.c.lease_owner, func.count())
                .where(deliveries_t.c.issue_number == number,
                       deliveries_t.c.status == DeliveryStatus.QUEUED,
                       deliveries_t.c.lease_owner.is_not(None),
                       deliveries_t.c.lease_owner != self.worker,
                       deliveries_t.c.lease_expires_at > wall)
                .group_by(deliveries_t.c.lease_owner)).all()
            live = self._live_workers(conn, {row[0] for row in rows})
        return {owner: n for owner, n in rows if owner in live}

    def requeue_ambiguous(self, number: int, *, now: datetime) -> int:
        """Put issue ``number``'s ambiguous deliveries back in the queue, due now, to be sent
        (perhaps a second time) on purpose; returns how many. Those another live worker has
        in flight are left to it."""
        with self._writing() as conn:
            return self._update_ambiguous(
                conn, number, status=DeliveryStatus.QUEUED, next_attempt_at=now,
                updated_at=now, lease_owner=None, lease_expires_at=None)

    def settle_ambiguous(self, number: int, *, now: datetime) -> int:
        """Record issue ``number``'s ambiguous deliveries as sent without sending them again
        (a person judged that they went out, e.g. from the relay's logs); returns how many.
        The issue is then finished if nothing else is left (``finish_if_done``)."""
        with self._writing() as conn:
            settled = self._update_ambiguous(
                conn, number, status=DeliveryStatus.SENT, updated_at=now,
                lease_expires_at=None, last_reply="settled by hand: taken as delivered")
            self._finish_if_done(conn, number, now)
            return settled

    def _update_ambiguous(self, conn: Connection, number: int, **values: Any) -> int:
        """Set ``values`` on issue ``number``'s ambiguous deliveries (still ``sending`` when
        written); how many."""
        ambiguous, _ = self._sending(conn, number)
        count = 0
        for chunk in chunks([row.id for row in ambiguous]):
            count += conn.execute(update(deliveries_t).where(
                deliveries_t.c.id.in_(chunk),
                deliveries_t.c.status == DeliveryStatus.SENDING,
            ).values(**values)).rowcount
        return count

    def finish_if_done(self, number: int, *, now: datetime) -> IssueRecord:
        """Mark issue ``number`` sent when its sending is over (``policy.finished``), clearing
        any pause, which has nothing left to hold back; returns the issue as it is now. The one
        place an issue becomes sent."""
        with self._writing() as conn:
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
        """Deliveries of issue ``number`` per status (every status present, zero if none), and
        ``SKIPPED``: those failed unsent because their subscriber left the list meanwhile,
        counted there and not under ``failed``."""
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
        # Only the failed rows are read for it: the queue's index finds them.
        skipped = conn.execute(select(func.count()).where(
            deliveries_t.c.issue_number == number,
            deliveries_t.c.status == DeliveryStatus.FAILED,
            deliveries_t.c.last_reply.startswith(LEFT_THE_LIST, autoescape=True))).scalar_one()
        counts[DeliveryStatus.FAILED] -= skipped
        counts[SKIPPED] = skipped
        return counts

    def pending_issues(self) -> list[IssueRecord]:
        """Issues being sent that still have queued deliveries, by number."""
        queued = exists().where(deliveries_t.c.issue_number == issues_t.c.number,
                                deliveries_t.c.status == DeliveryStatus.QUEUED)
        with self._read() as conn:
            return self._issue_records(conn, and_(issues_t.c.state == IssueState.SENDING,
                                                  queued))
