"""The subscriber list: adding, importing, unsubscribing, removing, reading."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from ..errors import AlreadySubscribed, StoreError, Suppressed
from ..models import DeliveryStatus, Subscriber, SubscriberStatus
from .addresses import address_hash, address_key, clean_name, lookup_key, normalise_email
from .base import StoreBase, chunks
from .csvfile import ImportReport, read_subscriber_csv
from .schema import deliveries_t, subscriber_events_t, subscribers_t, suppressions_t


def _subscriber_from(row: Any) -> Subscriber:
    return Subscriber(email=row.email, name=row.name, id=row.id,
                      status=SubscriberStatus(row.status), source=row.source,
                      created_at=row.created_at)


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
        if status is not None and status not in tuple(SubscriberStatus):
            raise ValueError(f"unknown subscriber status {status!r}")
        query = select(subscribers_t).order_by(subscribers_t.c.email_normalised)
        if status is not None:
            query = query.where(subscribers_t.c.status == status)
        with self._read() as conn:
            return [_subscriber_from(row) for row in conn.execute(query)]

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
        ``name`` (``status``, ``source`` and ``created_at``, as ``subscribers_csv`` writes them,
        are accepted too: a non-active status is recorded as a suppression, and a new
        subscriber keeps the file's source and created_at — when and how they joined).

        Valid rows are added in one transaction; each invalid row is reported with its line;
        addresses already present (or repeated in the file) are counted as duplicates; someone
        who unsubscribed, bounced or complained is counted as suppressed and stays so unless
        ``force``. Raises CsvError if the file cannot be read or has no usable header.
        """
        rows, problems = read_subscriber_csv(path)
        added = duplicates = suppressed = recorded = 0
        source = f"import:{path.name}"
        with self._write() as conn:
            existing: dict[str, Any] = {}
            keys = [address_key(row[1]) for row in rows]
            for chunk in chunks(keys):
                for row in conn.execute(
                    select(subscribers_t).where(subscribers_t.c.email_normalised.in_(chunk))
                ):
                    existing[row.email_normalised] = row
            erased = set() if force else _hash_suppressed(
                conn, [k for k in dict.fromkeys(keys) if k not in existing])
            seen: set[str] = set()
            for _line, address, name, status, row_source, joined in rows:
                key = address_key(address)
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                found = existing.get(key)
                if found is None and key in erased:
                    suppressed += 1  # erased: only a hash is left, and it keeps them off
                elif found is None:
                    # An exported list keeps when and how each subscriber joined.
                    conn.execute(insert(subscribers_t).values(
                        email=address, email_normalised=key, name=name, status=status,
                        source=row_source or source, created_at=joined or now,
                        status_changed_at=now,
                    ))
                    if status == SubscriberStatus.ACTIVE:
                        added += 1
                    else:
                        recorded += 1
                elif status != SubscriberStatus.ACTIVE:
                    # A suppression in the file is always honoured.
                    if found.status == SubscriberStatus.ACTIVE:
                        set_status(conn, found.id, status, now)
                        recorded += 1
                    else:
                        duplicates += 1
                elif found.status == SubscriberStatus.ACTIVE:
                    duplicates += 1
                elif force:
                    set_status(conn, found.id, SubscriberStatus.ACTIVE, now)
                    added += 1
                else:
                    suppressed += 1
        return ImportReport(added, duplicates, suppressed, tuple(problems), recorded)



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
                 last_reply=f"not sent: subscriber {status}"))



def record_event(conn: Connection, subscriber_id: int, kind: str, now: datetime,
                 detail: str = "") -> None:
    """One line of a subscriber's history (their data export shows it; soft bounces are
    counted from it)."""
    conn.execute(insert(subscriber_events_t).values(subscriber_id=subscriber_id, at=now,
                                                    kind=kind, detail=detail))


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
