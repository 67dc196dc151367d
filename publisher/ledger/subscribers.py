"""The subscriber list: adding, importing, unsubscribing, removing, reading."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Select, delete, func, insert, select, update

from ..errors import AlreadySubscribed, StoreError, Suppressed
from ..models import LEFT_THE_LIST, DeliveryStatus, Subscriber, SubscriberStatus
from .addresses import address_hash, address_key, clean_name, lookup_key, normalise_email
from .base import StoreBase, chunks
from .csvfile import ImportReport, SubscriberCsv
from .schema import deliveries_t, subscriber_events_t, subscribers_t, suppressions_t

#: Rows staged per round trip while importing.
_STAGE_BATCH = 10_000
#: Subscribers read per transaction by each_subscriber.
_READ_BATCH = 1000


def _listed(status: str | None) -> Select[Any]:
    """Every subscriber, or those with ``status``, by address."""
    if status is not None and status not in tuple(SubscriberStatus):
        raise ValueError(f"unknown subscriber status {status!r}")
    query = select(subscribers_t).order_by(subscribers_t.c.email_normalised)
    return query if status is None else query.where(subscribers_t.c.status == status)


def _subscriber_from(row: Any) -> Subscriber:
    return Subscriber(email=row.email, name=row.name, id=row.id,
                      status=SubscriberStatus(row.status), source=row.source,
                      created_at=row.created_at, status_changed_at=row.status_changed_at,
                      consent_at=row.consent_at, consent_ip=row.consent_ip,
                      consent_form=row.consent_form, confirmed_at=row.confirmed_at)


class SubscriberStore(StoreBase):
    """The subscribers part of the ledger."""

    def subscriber(self, email: str) -> Subscriber | None:
        """The subscriber with this address (any case), or None."""
        with self._read() as conn:
            row = conn.execute(
                select(subscribers_t).where(subscribers_t.c.email_normalised == lookup_key(email))
            ).first()
        return None if row is None else _subscriber_from(row)

    def subscribers(self, status: str | None = None) -> list[Subscriber]:
        """Subscribers, by address; only those with ``status`` when given."""
        with self._read() as conn:
            return [_subscriber_from(row) for row in conn.execute(_listed(status))]

    def each_subscriber(self, status: str | None = None, *,
                        batch: int = _READ_BATCH) -> Iterator[Subscriber]:
        """subscribers(), read ``batch`` at a time, each batch in a transaction of its own: an
        export of a million holds a thousand at once, and holds off no writer for long."""
        column = subscribers_t.c.email_normalised
        after: str | None = None
        while True:
            query = _listed(status).limit(batch)
            if after is not None:
                query = query.where(column > after)  # by the order it sorts by: unique
            with self._read() as conn:
                rows = conn.execute(query).all()
            yield from map(_subscriber_from, rows)
            if len(rows) < batch:
                return
            after = rows[-1].email_normalised

    def subscriber_widths(self, status: str | None = None) -> tuple[int, int]:
        """The longest address and the longest source, in characters, of subscribers() (for
        columns of a listing printed as it is read); (0, 0) when there is none."""
        query = select(func.max(func.length(subscribers_t.c.email)),
                       func.max(func.length(subscribers_t.c.source)))
        if status is not None:
            query = query.where(subscribers_t.c.status == status)
        with self._read() as conn:
            email, source = conn.execute(query).one()
        return email or 0, source or 0

    def subscriber_counts(self) -> dict[str, int]:
        """Number of subscribers per status (every status present, zero if none)."""
        counts = {status.value: 0 for status in SubscriberStatus}
        with self._read() as conn:
            rows = conn.execute(
                select(subscribers_t.c.status, func.count()).group_by(subscribers_t.c.status)
            )
            counts.update({status: n for status, n in rows})
        return counts

    def add_subscriber(self, email: str, name: str = "", *, now: datetime, source: str = "cli",
                       force: bool = False) -> Subscriber:
        """Add an active subscriber. Raises InvalidAddress, AlreadySubscribed, or Suppressed
        (someone who unsubscribed, bounced or complained) unless ``force`` re-subscribes them."""
        address = normalise_email(email)
        name = clean_name(name)
        with self._write() as conn:
            row = conn.execute(
                select(subscribers_t)
                .where(subscribers_t.c.email_normalised == address_key(address))
            ).first()
            if row is None and _hash_suppressed(conn, [address_key(address)]):
                if not force:
                    raise Suppressed(f"{address} erased their data and is kept off the list; "
                                     "they are not subscribed again without --force")
                conn.execute(delete(suppressions_t).where(
                    suppressions_t.c.address_hash == address_hash(address)))
            if row is None:
                inserted = conn.execute(insert(subscribers_t).values(
                    email=address, email_normalised=address_key(address), name=name,
                    status=SubscriberStatus.ACTIVE, source=source, created_at=now,
                    status_changed_at=now,
                )).inserted_primary_key
                assert inserted is not None
                return Subscriber(email=address, name=name, id=int(inserted[0]),
                                  status=SubscriberStatus.ACTIVE, source=source, created_at=now)
            if row.status == SubscriberStatus.ACTIVE:
                raise AlreadySubscribed(f"{row.email} is already subscribed")
            if not force:
                raise Suppressed(
                    f"{row.email} is {row.status} (since {row.status_changed_at:%Y-%m-%d}); "
                    "they are not subscribed again without --force"
                )
            conn.execute(update(subscribers_t).where(subscribers_t.c.id == row.id).values(
                name=name or row.name))
            set_status(conn, row.id, SubscriberStatus.ACTIVE, now, detail=f"{source} --force")
            return replace(_subscriber_from(row), name=name or row.name,
                           status=SubscriberStatus.ACTIVE)

    def set_subscriber_status(self, email: str, status: str, *, now: datetime) -> Subscriber:
        """Change a subscriber's status. Leaving ``active`` also fails their queued deliveries,
        so nothing more is sent to them. Raises StoreError for an unknown address."""
        if status not in tuple(SubscriberStatus):
            raise ValueError(f"unknown subscriber status {status!r}")
        with self._write() as conn:
            row = conn.execute(
                select(subscribers_t).where(subscribers_t.c.email_normalised == lookup_key(email))
            ).first()
            if row is None:
                raise StoreError(f"no subscriber {email.strip()!r}")
            if row.status != status:
                set_status(conn, row.id, status, now)
            return replace(_subscriber_from(row), status=SubscriberStatus(status))

    def remove_subscriber(self, email: str) -> None:
        """Forget a subscriber entirely, with their delivery history. A later import may add
        them again; to keep someone off the list, unsubscribe them instead."""
        with self._write() as conn:
            result = conn.execute(
                delete(subscribers_t).where(subscribers_t.c.email_normalised == lookup_key(email))
            )
            if result.rowcount == 0:
                raise StoreError(f"no subscriber {email.strip()!r}")

    def import_subscribers_csv(self, path: Path, *, now: datetime,
                               force: bool = False) -> ImportReport:
        """Add the subscribers in a CSV file with a header row naming ``email`` and optionally
        ``name`` (``status``, ``source`` and ``created_at``, as ``subscribers_csv_lines``
        writes them, are accepted too: a non-active status is recorded as a suppression, and a
        new subscriber keeps the file's source and created_at — when and how they joined — and
        the consent another tool's export records; one already on the list keeps their own).

        Valid rows are added in one transaction; each invalid row is reported with its line;
        addresses already present (or repeated in the file: the first row counts, unless a
        later one says they left, which always wins) are counted as duplicates; someone who
        unsubscribed, bounced or complained is counted as suppressed and stays so unless
        ``force``; an erased address stays off even then.
        Raises CsvError if the file cannot be read or
        has no usable header (and then nothing is imported).

        The file streams through a staging table (COPY on PostgreSQL, batched inserts on
        SQLite) and is merged into the list by a few set-wise statements, so a million rows
        import in bounded memory.
        """
        problems: list[str] = []
        source = f"import:{path.name}"
        with self._write() as conn:
            cursor = self._cursor(conn)
            # Erased addresses are kept off the list by a hash (``address_hash``): only worth
            # computing for every row when some address was erased. --force never lifts it: an
            # old list re-imported in bulk is what erasure guards against (``add --force``,
            # one address named by hand, can).
            erased = conn.execute(
                select(suppressions_t.c.address_hash).limit(1)).first() is not None
            file = SubscriberCsv(path)
            self._stage(cursor, file.rows(), problems, hashed=erased)
            added, duplicates, suppressed, recorded = self._merge(
                cursor, source=source, now=now, force=force, erased=erased)
        return ImportReport(added, duplicates, suppressed, tuple(problems), recorded,
                            file.ignored, file.unconfirmed)

    def _stage(self, cursor: Any, items: Iterable[Any], problems: list[str], *,
               hashed: bool) -> None:
        """Load the valid rows of ``items`` into the temporary table import_rows (its problem
        lines go to ``problems``), each with its address's hash when ``hashed``."""
        when = "TIMESTAMP" if self.postgres else "TEXT"
        cursor.execute("DROP TABLE IF EXISTS import_rows")
        cursor.execute(
            "CREATE TEMPORARY TABLE import_rows (line INTEGER PRIMARY KEY, key TEXT NOT NULL, "
            "email TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, "
            f"source TEXT NOT NULL, created_at {when}, consent_at {when}, consent_ip TEXT, "
            f"consent_form TEXT NOT NULL, confirmed_at {when}, left_at {when}, hash TEXT)")

        def time(when: datetime | None) -> Any:
            return None if when is None else self._time(when)

        batch: list[tuple[Any, ...]] = []
        for item in items:
            if isinstance(item, str):
                problems.append(item)
                continue
            key = address_key(item.address)
            batch.append((item.line, key, item.address, item.name, item.status, item.source,
                          time(item.created_at), time(item.consent_at), item.consent_ip,
                          item.consent_form, time(item.confirmed_at), time(item.left_at),
                          _key_hash(key) if hashed else None))
            if len(batch) >= _STAGE_BATCH:
                self._stage_batch(cursor, batch)
                batch = []
        self._stage_batch(cursor, batch)
        cursor.execute("CREATE INDEX import_rows_key ON import_rows (key, line)")
        # PostgreSQL never analyses a temporary table by itself: without statistics it would
        # join a million staged rows as if they were a handful.
        cursor.execute("ANALYZE import_rows")

    def _stage_batch(self, cursor: Any, batch: list[tuple[Any, ...]]) -> None:
        if not batch:
            return
        if self.postgres:
            with cursor.copy("COPY import_rows (line, key, email, name, status, source, "
                             "created_at, consent_at, consent_ip, consent_form, confirmed_at, "
                             "left_at, hash) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
        else:
            cursor.executemany("INSERT INTO import_rows VALUES "
                               "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)

    def _merge(self, cursor: Any, *, source: str, now: datetime, force: bool,
               erased: bool) -> tuple[int, int, int, int]:
        """Merge import_rows into the list; (added, duplicates, suppressed, recorded)."""
        stamp = self._time(now)
        # One row for each address — its first row saying they left, else its first row: a
        # suppression anywhere in the file wins over an active row, in whatever order (rows of
        # Mailchimp's files joined into one, an address in two cases) — beside the subscriber
        # it names (if any) as they are before the import, and whether it was erased: the
        # whole plan is decided from this, then carried out.
        gone = ("EXISTS (SELECT 1 FROM suppressions x WHERE x.address_hash = r.hash)"
                if erased else "0 = 1")
        cursor.execute("DROP TABLE IF EXISTS import_plan")
        cursor.execute(
            "CREATE TEMPORARY TABLE import_plan AS "
            "SELECT r.line, r.key, r.email, r.name, r.status, r.source, r.created_at, "
            "r.consent_at, r.consent_ip, r.consent_form, r.confirmed_at, r.left_at, "
            "s.id AS subscriber_id, s.status AS current, "
            f"CASE WHEN s.id IS NULL AND {gone} THEN 1 ELSE 0 END AS erased "
            "FROM import_rows r "
            "JOIN (SELECT key, COALESCE(MIN(CASE WHEN status <> 'active' THEN line END), "
            "MIN(line)) AS line FROM import_rows GROUP BY key) f "
            "ON f.line = r.line LEFT JOIN subscribers s ON s.email_normalised = r.key")
        cursor.execute("CREATE INDEX import_plan_subscriber ON import_plan (subscriber_id)")
        cursor.execute("ANALYZE import_plan")
        new = "subscriber_id IS NULL AND erased = 0"
        self._execute(cursor, "SELECT COUNT(*), "
                      f"SUM(CASE WHEN {new} AND status = 'active' THEN 1 ELSE 0 END), "
                      f"SUM(CASE WHEN {new} AND status <> 'active' THEN 1 ELSE 0 END), "
                      "SUM(erased), "
                      "SUM(CASE WHEN status <> 'active' AND current = 'active' THEN 1 "
                      "ELSE 0 END), "
                      "SUM(CASE WHEN status = 'active' AND current <> 'active' THEN 1 "
                      "ELSE 0 END) "
                      "FROM import_plan", ())
        firsts, new_active, new_recorded, kept_off, leaving, returning = (
            int(value or 0) for value in cursor.fetchone())
        self._execute(cursor, "SELECT COUNT(*) FROM import_rows", ())
        repeats = int(cursor.fetchone()[0]) - firsts
        # A suppression in the file is always honoured: they leave, it goes in their history,
        # and what was queued for them fails (as set_status does, one statement for all).
        leavers = ("SELECT subscriber_id FROM import_plan "
                   "WHERE status <> 'active' AND current = 'active'")
        self._execute(cursor, "UPDATE deliveries SET status = 'failed', updated_at = ?, "
                      f"last_reply = '{LEFT_THE_LIST}' || (SELECT p.status FROM import_plan"
                      " p WHERE p.subscriber_id = deliveries.subscriber_id) "
                      f"WHERE status = 'queued' AND subscriber_id IN ({leavers})", (stamp,))
        self._execute(cursor, "UPDATE subscribers SET status_changed_at = ?, status = (SELECT "
                      "p.status FROM import_plan p WHERE p.subscriber_id = subscribers.id) "
                      f"WHERE id IN ({leavers})", (stamp,))
        changed = "status <> 'active' AND current = 'active'"
        if force:
            self._execute(cursor, "UPDATE subscribers SET status = 'active', "
                          "status_changed_at = ? WHERE id IN (SELECT subscriber_id FROM "
                          "import_plan WHERE status = 'active' AND current <> 'active')",
                          (stamp,))
            changed += " OR status = 'active' AND current <> 'active'"
        self._execute(cursor, "INSERT INTO subscriber_events (subscriber_id, at, kind, detail) "
                      f"SELECT subscriber_id, ?, status, '' FROM import_plan WHERE {changed} "
                      "ORDER BY line", (stamp,))
        # An exported list keeps when and how each subscriber joined, their consent, and
        # when those who left did. (Someone already on the list keeps their own record; the
        # history of one who leaves now says when this ledger learnt it, which is when what
        # was queued for them failed.)
        self._execute(cursor, "INSERT INTO subscribers (email, email_normalised, name, status, "
                      "source, created_at, status_changed_at, consent_at, consent_ip, "
                      "consent_form, confirmed_at) "
                      "SELECT email, key, name, status, "
                      "CASE WHEN source = '' THEN ? ELSE source END, "
                      "COALESCE(created_at, ?), COALESCE(left_at, ?), consent_at, consent_ip, "
                      f"consent_form, confirmed_at FROM import_plan WHERE {new} ORDER BY line",
                      (source, stamp, stamp))
        cursor.execute("DROP TABLE import_plan")
        cursor.execute("DROP TABLE import_rows")
        unchanged = firsts - new_active - new_recorded - kept_off - leaving - returning
        added = new_active + (returning if force else 0)
        suppressed = kept_off + (0 if force else returning)
        return added, unchanged + repeats, suppressed, new_recorded + leaving



def set_status(conn: Connection, subscriber_id: int, status: SubscriberStatus | str,
               now: datetime, *, detail: str = "") -> None:
    """Change a subscriber's status inside ``conn``'s transaction, and record it in their
    history (``detail``: how or why); leaving ``active`` fails their queued deliveries (nothing
    more is sent to them)."""
    conn.execute(update(subscribers_t).where(subscribers_t.c.id == subscriber_id)
                 .values(status=status, status_changed_at=now))
    record_event(conn, subscriber_id, str(status), now, detail)
    if status != SubscriberStatus.ACTIVE:
        conn.execute(update(deliveries_t).where(
            deliveries_t.c.subscriber_id == subscriber_id,
            deliveries_t.c.status == DeliveryStatus.QUEUED,
        ).values(status=DeliveryStatus.FAILED, updated_at=now,
                 last_reply=f"{LEFT_THE_LIST}{status}"))



def record_event(conn: Connection, subscriber_id: int, kind: str, now: datetime,
                 detail: str = "") -> None:
    """One line of a subscriber's history (their data export shows it; soft bounces are
    counted from it)."""
    conn.execute(insert(subscriber_events_t).values(subscriber_id=subscriber_id, at=now,
                                                    kind=kind, detail=detail))


def _key_hash(key: str) -> str:
    """``address_hash`` of a stored address's key: its SHA-256, as lookup_key gives the key
    back unchanged for a plain address (and only through it otherwise)."""
    if key.isascii():
        return hashlib.sha256(key.encode("utf-8")).hexdigest()
    return address_hash(key)


def _hash_suppressed(conn: Connection, keys: list[str]) -> set[str]:
    """The keys among ``keys`` whose address was erased (a hashed suppression is all that is
    left of it: see ``readers.address_hash``)."""
    hashes = {address_hash(key): key for key in keys}
    found: set[str] = set()
    for chunk in chunks(list(hashes)):
        found.update(hashes[h] for h in conn.execute(
            select(suppressions_t.c.address_hash).where(suppressions_t.c.address_hash.in_(chunk))
        ).scalars())
    return found
