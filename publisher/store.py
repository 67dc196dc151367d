"""The ledger: subscribers, issues, schedule slots and deliveries (SQLAlchemy Core).

SQLite by default — WAL, a 30 s busy timeout, synchronous=FULL and foreign keys, set on every
connection — but no SQLite-only SQL, so a PostgreSQL URL can hold the same ledger. Alembic
migrates the schema on open; a database from a newer publisher is refused.

Every method runs in its own transaction and commits before it returns, so threads and processes
may share one database. Writing transactions take SQLite's write lock up front (BEGIN IMMEDIATE):
a read-then-write transaction that started as a reader could otherwise fail with "database is
locked" without waiting. ``mark_sending`` is a compare-and-set, so two senders never take the
same delivery.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    and_,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from .config import Config
from .errors import PublisherError, StoreError
from .files import read_text
from .models import Subscriber

SUBSCRIBER_STATUSES = ("active", "unsubscribed", "bounced", "complained")
ISSUE_STATES = ("draft", "sending", "sent", "cancelled")
DELIVERY_STATUSES = ("queued", "sending", "sent", "failed", "bounced")
SLOT_OUTCOMES = ("issued", "skipped", "empty")

#: Issue state changes the ledger allows; an issue can be cancelled only before sending starts.
_TRANSITIONS = {
    "draft": ("sending", "cancelled"),
    "sending": ("sent",),
    "sent": (),
    "cancelled": (),
}

BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_NAME_MAX = 200


class SlotTaken(StoreError):
    """The schedule slot already has a row: an issue, or a recorded skip."""


class AlreadySubscribed(StoreError):
    """The address is already on the list and active."""


class Suppressed(StoreError):
    """The address unsubscribed, bounced or complained; only --force subscribes it again."""


class InvalidAddress(PublisherError, ValueError):
    """Not a valid email address (syntax only; no DNS look-ups)."""


class CsvError(PublisherError, ValueError):
    """A subscriber CSV file cannot be read at all (missing, not UTF-8, no header)."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in the API, naive UTC in the column (portable across databases)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger needs aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# The schema at head, for queries; the migrations in migrations/versions create it.
metadata = MetaData()
subscribers_t = Table(
    "subscribers", metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_normalised", String(320), nullable=False, unique=True),
    Column("name", String(_NAME_MAX), nullable=False, server_default=""),
    Column("status", String(20), nullable=False),
    Column("source", String(200), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status_changed_at", UTCDateTime, nullable=False),
)
issues_t = Table(
    "issues", metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("subject", String(500), nullable=False),
    Column("state", String(20), nullable=False),
    Column("slot", UTCDateTime, nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("note_html", Text, nullable=False, server_default=""),
    # Set when a policy (5.7.x) refusal paused sending; cleared when a person resumes it.
    Column("paused_reason", Text, nullable=True),
)
# claimed: TRUE while the issue holds the review, NULL once the issue is cancelled. UNIQUE
# (review_id, claimed) then lets a review be in one live issue only (NULLs are distinct), while
# a cancelled issue still records what it held.
issue_reviews_t = Table(
    "issue_reviews", metadata,
    Column("issue_number", Integer, ForeignKey("issues.number"), primary_key=True),
    Column("review_id", String(500), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("claimed", Boolean, nullable=True),
)
slots_t = Table(
    "slots", metadata,
    Column("slot", UTCDateTime, primary_key=True),
    Column("outcome", String(20), nullable=False),
    Column("issue_number", Integer, ForeignKey("issues.number"), nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
)
deliveries_t = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("issue_number", Integer, ForeignKey("issues.number"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"),
           nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_reply", Text, nullable=False, server_default=""),
    Column("message_id", String(500), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


@dataclass(frozen=True)
class IssueRecord:
    """An issue as the ledger holds it; ``review_ids`` in issue order."""

    number: int
    subject: str
    state: str  # draft / sending / sent / cancelled
    slot: datetime | None
    created_at: datetime
    sent_at: datetime | None
    review_ids: tuple[str, ...]
    note_html: str = ""
    paused_reason: str = ""  # non-empty while sending is paused (a 5.7.x refusal)


@dataclass(frozen=True)
class DeliveryRecord:
    """One issue to one subscriber, with the subscriber's address and name."""

    id: int
    issue_number: int
    subscriber_id: int
    email: str
    name: str
    status: str  # queued / sending / sent / failed / bounced
    attempts: int
    next_attempt_at: datetime
    last_reply: str
    message_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ImportReport:
    """What a CSV import did; ``problems`` holds one "FILE:LINE: ..." line per rejected row."""

    added: int
    duplicates: int
    suppressed: int
    problems: tuple[str, ...]

    def summary(self) -> str:
        """One line: 'added 3 subscribers; 1 duplicate skipped; ...'."""
        def n(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"

        parts = [f"added {n(self.added, 'subscriber')}"]
        if self.duplicates:
            parts.append(f"{n(self.duplicates, 'duplicate')} skipped")
        if self.suppressed:
            parts.append(f"{self.suppressed} suppressed (unsubscribed, bounced or complained: "
                         "not subscribed; --force subscribes them again)")
        if self.problems:
            parts.append(f"{n(len(self.problems), 'invalid row')} rejected")
        return "; ".join(parts)


# --- addresses ------------------------------------------------------------------------------


def normalise_email(address: str) -> str:
    """The address as stored: domain lower-cased, and in its ASCII (IDNA) form when the local
    part is ASCII, so that plain SMTP can deliver to it (only an address with a non-ASCII local
    part needs SMTPUTF8). InvalidAddress if its syntax is wrong. No DNS look-ups."""
    text = address.strip()
    if not text:
        raise InvalidAddress("empty email address")
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"{text!r} is not a valid email address: {exc}") from None
    return info.ascii_email or info.normalized


def _key(address: str) -> str:
    """The case-insensitive uniqueness key of a normalised address."""
    return address.lower()


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """``text`` with control characters and runs of whitespace made single spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _clean_name(name: str) -> str:
    cleaned = _one_line(name)
    if len(cleaned) > _NAME_MAX:
        raise InvalidAddress(f"name {cleaned[:30]!r}… is longer than {_NAME_MAX} characters")
    return cleaned


# --- opening --------------------------------------------------------------------------------


def database_url(config: Config) -> URL:
    """config.state.database as a URL; a relative SQLite path is taken from the publication
    directory, and its directory is created."""
    try:
        url = make_url(config.state.database)
    except ArgumentError:
        raise StoreError(
            f"{config.path}: state.database: {config.state.database!r} is not a database URL; "
            "write e.g. \"sqlite:///.publisher/state.db\""
        ) from None
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = config.resolve(database)
            path.parent.mkdir(parents=True, exist_ok=True)
            url = url.set(database=str(path))
    return url


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (below) instead of the sqlite3 module's guesswork.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("publisher_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _alembic_config() -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (head by default) under the write lock.

    Raises StoreError if the database carries a revision this publisher does not know: it was
    written by a newer publisher, and touching it could lose data.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = _alembic_config()
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    with engine.connect() as conn:
        conn.execution_options(publisher_write=True)
        with conn.begin():
            current = MigrationContext.configure(conn).get_current_heads()
            unknown = [rev for rev in current if rev not in known]
            if unknown:
                raise StoreError(
                    f"{_display_url(engine.url)}: ledger schema revision {unknown[0]} is unknown: "
                    f"it was created by a newer publisher; upgrade publisher (this one knows "
                    f"revisions up to {script.get_current_head()})"
                )
            if revision == "head" and tuple(current) == (script.get_current_head(),):
                return
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)


def _display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def open_store(config: Config) -> Store:
    """Open (creating or upgrading) the publication's ledger. Raises StoreError."""
    url = database_url(config)
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"{config.path}: state.database: cannot use {_display_url(url)}: {exc}") \
            from None
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    try:
        migrate(engine)
    except StoreError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        orig = getattr(exc, "orig", None) or exc
        raise StoreError(f"{_display_url(url)}: cannot open the ledger: {orig}") from None
    return Store(engine)


# --- the store ------------------------------------------------------------------------------


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(email=row.email, name=row.name, id=row.id, status=row.status,
                      source=row.source, created_at=row.created_at)


_DELIVERY_COLUMNS = (
    deliveries_t.c.id, deliveries_t.c.issue_number, deliveries_t.c.subscriber_id,
    subscribers_t.c.email, subscribers_t.c.name, deliveries_t.c.status,
    deliveries_t.c.attempts, deliveries_t.c.next_attempt_at, deliveries_t.c.last_reply,
    deliveries_t.c.message_id, deliveries_t.c.created_at, deliveries_t.c.updated_at,
)


def _delivery(row: Any) -> DeliveryRecord:
    return DeliveryRecord(**row._mapping)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Store:
    """The ledger. Thread-safe: each call takes its own pooled connection and transaction."""

    def __init__(self, engine: Engine):
        self._engine = engine

    @property
    def url(self) -> str:
        return _display_url(self._engine.url)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(publisher_write=True)
            with conn.begin():
                yield conn

    # --- subscribers ---------------------------------------------------------------------

    def subscriber(self, email: str) -> Subscriber | None:
        """The subscriber with this address (any case), or None."""
        with self._read() as conn:
            row = conn.execute(
                select(subscribers_t).where(subscribers_t.c.email_normalised == _lookup(email))
            ).first()
        return None if row is None else _subscriber(row)

    def subscribers(self, status: str | None = None) -> list[Subscriber]:
        """Subscribers, by address; only those with ``status`` when given."""
        if status is not None and status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown subscriber status {status!r}")
        query = select(subscribers_t).order_by(subscribers_t.c.email_normalised)
        if status is not None:
            query = query.where(subscribers_t.c.status == status)
        with self._read() as conn:
            return [_subscriber(row) for row in conn.execute(query)]

    def subscriber_counts(self) -> dict[str, int]:
        """Number of subscribers per status (every status present, zero if none)."""
        counts = dict.fromkeys(SUBSCRIBER_STATUSES, 0)
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
        name = _clean_name(name)
        with self._write() as conn:
            row = conn.execute(
                select(subscribers_t).where(subscribers_t.c.email_normalised == _key(address))
            ).first()
            if row is None:
                new_id = conn.execute(insert(subscribers_t).values(
                    email=address, email_normalised=_key(address), name=name, status="active",
                    source=source, created_at=now, status_changed_at=now,
                )).inserted_primary_key[0]
                return Subscriber(email=address, name=name, id=new_id, status="active",
                                  source=source, created_at=now)
            if row.status == "active":
                raise AlreadySubscribed(f"{row.email} is already subscribed")
            if not force:
                raise Suppressed(
                    f"{row.email} is {row.status} (since {row.status_changed_at:%Y-%m-%d}); "
                    "they are not subscribed again without --force"
                )
            conn.execute(update(subscribers_t).where(subscribers_t.c.id == row.id).values(
                status="active", status_changed_at=now, name=name or row.name,
            ))
            return replace(_subscriber(row), name=name or row.name, status="active")

    def set_subscriber_status(self, email: str, status: str, *, now: datetime) -> Subscriber:
        """Change a subscriber's status. Leaving ``active`` also fails their queued deliveries,
        so nothing more is sent to them. Raises StoreError for an unknown address."""
        if status not in SUBSCRIBER_STATUSES:
            raise ValueError(f"unknown subscriber status {status!r}")
        with self._write() as conn:
            row = conn.execute(
                select(subscribers_t).where(subscribers_t.c.email_normalised == _lookup(email))
            ).first()
            if row is None:
                raise StoreError(f"no subscriber {email.strip()!r}")
            if row.status != status:
                _set_status(conn, row.id, status, now)
            return replace(_subscriber(row), status=status)

    def remove_subscriber(self, email: str) -> None:
        """Forget a subscriber entirely, with their delivery history. A later import may add
        them again; to keep someone off the list, unsubscribe them instead."""
        with self._write() as conn:
            result = conn.execute(
                delete(subscribers_t).where(subscribers_t.c.email_normalised == _lookup(email))
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
        rows, problems = _read_subscriber_csv(path)
        added = duplicates = suppressed = 0
        source = f"import:{path.name}"
        with self._write() as conn:
            existing: dict[str, Any] = {}
            keys = [_key(row[1]) for row in rows]
            for chunk in _chunks(keys):
                for row in conn.execute(
                    select(subscribers_t).where(subscribers_t.c.email_normalised.in_(chunk))
                ):
                    existing[row.email_normalised] = row
            seen: set[str] = set()
            for _line, address, name, status, row_source, joined in rows:
                key = _key(address)
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                row = existing.get(key)
                if row is None:
                    # An exported list keeps when and how each subscriber joined.
                    conn.execute(insert(subscribers_t).values(
                        email=address, email_normalised=key, name=name, status=status,
                        source=row_source or source, created_at=joined or now,
                        status_changed_at=now,
                    ))
                    if status == "active":
                        added += 1
                    else:
                        suppressed += 1
                elif status != "active":
                    # A suppression in the file is always honoured.
                    if row.status == "active":
                        _set_status(conn, row.id, status, now)
                        suppressed += 1
                    else:
                        duplicates += 1
                elif row.status == "active":
                    duplicates += 1
                elif force:
                    _set_status(conn, row.id, "active", now)
                    added += 1
                else:
                    suppressed += 1
        return ImportReport(added, duplicates, suppressed, tuple(problems))

    # --- issues ------------------------------------------------------------------------------

    def _issue_records(self, conn: Connection, where: Any = None) -> list[IssueRecord]:
        query = select(issues_t).order_by(issues_t.c.number)
        if where is not None:
            query = query.where(where)
        rows = conn.execute(query).all()
        if not rows:
            return []
        reviews: dict[int, list[str]] = {row.number: [] for row in rows}
        for chunk in _chunks(list(reviews)):
            for number, review_id in conn.execute(
                select(issue_reviews_t.c.issue_number, issue_reviews_t.c.review_id)
                .where(issue_reviews_t.c.issue_number.in_(chunk))
                .order_by(issue_reviews_t.c.issue_number, issue_reviews_t.c.position)
            ):
                reviews[number].append(review_id)
        return [
            IssueRecord(number=row.number, subject=row.subject, state=row.state, slot=row.slot,
                        created_at=row.created_at, sent_at=row.sent_at,
                        review_ids=tuple(reviews[row.number]), note_html=row.note_html,
                        paused_reason=row.paused_reason or "")
            for row in rows
        ]

    def issues(self) -> list[IssueRecord]:
        """Every issue, cancelled ones included, by number."""
        with self._read() as conn:
            return self._issue_records(conn)

    def last_issue(self) -> IssueRecord | None:
        """The highest-numbered issue, whatever its state, or None."""
        with self._read() as conn:
            highest = conn.execute(select(func.max(issues_t.c.number))).scalar()
            if highest is None:
                return None
            return self._issue_records(conn, issues_t.c.number == highest)[0]

    def issue(self, number: int) -> IssueRecord:
        """Issue ``number``; StoreError naming it if there is none."""
        with self._read() as conn:
            found = self._issue_records(conn, issues_t.c.number == number)
            if found:
                return found[0]
            highest = conn.execute(select(func.max(issues_t.c.number))).scalar()
        known = "there are no issues yet" if highest is None else (
            "the only issue is #1" if highest == 1 else f"issues are #1 to #{highest}"
        )
        raise StoreError(f"no issue #{number}; {known}")

    def issued_review_ids(self) -> set[str]:
        """Ids of the reviews held by any issue that was not cancelled."""
        with self._read() as conn:
            return set(conn.execute(
                select(issue_reviews_t.c.review_id).where(issue_reviews_t.c.claimed.is_not(None))
            ).scalars())

    def create_issue(self, *, subject: str, review_ids: Sequence[str], now: datetime,
                     slot: datetime | None = None, note_html: str = "",
                     number: int | None = None) -> IssueRecord:
        """Create a draft issue numbered highest + 1 (numbers are never reused).

        With ``slot``, the slot is recorded as issued in the same transaction; SlotTaken if it
        already has a row. ``number``, when given, is the number the caller expects (its subject
        may name it): StoreError if another issue took it meanwhile. StoreError if a review is
        already in a live issue.
        """
        ids = tuple(review_ids)
        if not ids:
            raise StoreError("an issue needs at least one review")
        if len(set(ids)) != len(ids):
            raise StoreError("the same review is listed twice for one issue")
        try:
            with self._write() as conn:
                _check_slot_free(conn, slot)
                for chunk in _chunks(ids):
                    taken = conn.execute(
                        select(issue_reviews_t.c.review_id, issue_reviews_t.c.issue_number)
                        .where(issue_reviews_t.c.review_id.in_(chunk),
                               issue_reviews_t.c.claimed.is_not(None))
                    ).first()
                    if taken is not None:
                        raise StoreError(
                            f"review {taken.review_id} is already in issue #{taken.issue_number}"
                        )
                highest = conn.execute(select(func.max(issues_t.c.number))).scalar() or 0
                if number is not None and number != highest + 1:
                    raise StoreError(
                        f"cannot create issue #{number}: the next number is #{highest + 1} "
                        "(another issue was created meanwhile); compose it again"
                    )
                new = highest + 1
                conn.execute(insert(issues_t).values(
                    number=new, subject=subject, state="draft", slot=slot, created_at=now,
                    sent_at=None, note_html=note_html,
                ))
                conn.execute(insert(issue_reviews_t), [
                    {"issue_number": new, "review_id": rid, "position": i, "claimed": True}
                    for i, rid in enumerate(ids)
                ])
                if slot is not None:
                    conn.execute(insert(slots_t).values(
                        slot=slot, outcome="issued", issue_number=new, recorded_at=now,
                    ))
        except IntegrityError as exc:
            # Only another database client (say, PostgreSQL without our write lock) gets here.
            if slot is not None:
                with self._read() as conn:
                    _check_slot_free(conn, slot)
            raise StoreError(f"could not create the issue: {exc.orig}") from None
        return IssueRecord(number=new, subject=subject, state="draft", slot=slot,
                           created_at=now, sent_at=None, review_ids=ids, note_html=note_html)

    def set_issue_state(self, number: int, state: str, *, now: datetime) -> IssueRecord:
        """Move an issue draft → sending → sent, or draft → cancelled (which releases its
        reviews for a later issue; the cancelled issue keeps the record of them). Setting the
        current state again changes nothing. StoreError for any other change."""
        if state not in ISSUE_STATES:
            raise ValueError(f"unknown issue state {state!r}")
        with self._write() as conn:
            current = conn.execute(
                select(issues_t.c.state).where(issues_t.c.number == number)
            ).scalar()
            if current is None:
                raise StoreError(f"no issue #{number}")
            if current != state:
                if state not in _TRANSITIONS[current]:
                    if state == "cancelled":
                        raise StoreError(
                            f"issue #{number} is {current}: only a draft issue can be cancelled, "
                            "before sending starts"
                        )
                    raise StoreError(f"issue #{number} is {current}; it cannot become {state}")
                values: dict[str, Any] = {"state": state}
                if state == "sent":
                    values["sent_at"] = now
                conn.execute(update(issues_t).where(
                    issues_t.c.number == number, issues_t.c.state == current).values(**values))
                if state == "cancelled":
                    conn.execute(update(issue_reviews_t)
                                 .where(issue_reviews_t.c.issue_number == number)
                                 .values(claimed=None))
            return self._issue_records(conn, issues_t.c.number == number)[0]

    def pause_issue(self, number: int, reason: str) -> None:
        """Remember that sending issue ``number`` is paused, and why (a 5.7.x refusal): runs
        leave it alone until a person resumes it (``resume_issue``)."""
        with self._write() as conn:
            done = conn.execute(update(issues_t).where(issues_t.c.number == number)
                                .values(paused_reason=reason or "paused"))
            if done.rowcount != 1:
                raise StoreError(f"no issue #{number}")

    def resume_issue(self, number: int) -> bool:
        """Clear a pause; True if the issue was paused."""
        with self._write() as conn:
            done = conn.execute(update(issues_t).where(
                issues_t.c.number == number, issues_t.c.paused_reason.is_not(None),
            ).values(paused_reason=None))
            return done.rowcount == 1

    # --- slots -------------------------------------------------------------------------------

    def record_slot(self, slot: datetime, outcome: str, *, now: datetime,
                    issue_number: int | None = None) -> bool:
        """Record what happened at a schedule slot; False if the slot already has a row.
        (create_issue with a slot records it as issued itself.)"""
        if outcome not in SLOT_OUTCOMES:
            raise ValueError(f"unknown slot outcome {outcome!r}")
        try:
            with self._write() as conn:
                if conn.execute(select(slots_t.c.slot).where(slots_t.c.slot == slot)).first():
                    return False
                conn.execute(insert(slots_t).values(
                    slot=slot, outcome=outcome, issue_number=issue_number, recorded_at=now,
                ))
        except IntegrityError:
            return False
        return True

    def last_slot(self) -> datetime | None:
        """The latest recorded schedule slot (issued, skipped or empty), or None."""
        with self._read() as conn:
            return conn.execute(select(func.max(slots_t.c.slot))).scalar()

    def slot_outcome(self, slot: datetime) -> tuple[str, int | None] | None:
        """(outcome, issue number) recorded for ``slot``, or None."""
        with self._read() as conn:
            row = conn.execute(
                select(slots_t.c.outcome, slots_t.c.issue_number).where(slots_t.c.slot == slot)
            ).first()
        return None if row is None else (row.outcome, row.issue_number)

    # --- deliveries --------------------------------------------------------------------------

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
            return [_delivery(row) for row in conn.execute(query)]

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
                    _set_status(conn, row.subscriber_id, "bounced", now)

    def release(self, ids: Iterable[int], *, now: datetime | None = None) -> int:
        """sending → queued without counting an attempt (nothing was transmitted); returns how
        many were released."""
        values: dict[str, Any] = {"status": "queued"}
        if now is not None:
            values["updated_at"] = now
        count = 0
        with self._write() as conn:
            for chunk in _chunks(list(ids)):
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
        counts = dict.fromkeys(DELIVERY_STATUSES, 0)
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


def _lookup(email: str) -> str:
    """The uniqueness key for looking an address up; a malformed one simply finds nothing."""
    try:
        return _key(normalise_email(email))
    except InvalidAddress:
        return _key(email.strip())


def _set_status(conn: Connection, subscriber_id: int, status: str, now: datetime) -> None:
    conn.execute(update(subscribers_t).where(subscribers_t.c.id == subscriber_id)
                 .values(status=status, status_changed_at=now))
    if status != "active":
        conn.execute(update(deliveries_t).where(
            deliveries_t.c.subscriber_id == subscriber_id, deliveries_t.c.status == "queued",
        ).values(status="failed", updated_at=now, last_reply=f"not sent: subscriber {status}"))


def _check_slot_free(conn: Connection, slot: datetime | None) -> None:
    if slot is None:
        return
    row = conn.execute(
        select(slots_t.c.outcome, slots_t.c.issue_number).where(slots_t.c.slot == slot)
    ).first()
    if row is not None:
        what = f"issue #{row.issue_number}" if row.issue_number is not None else row.outcome
        when = slot.astimezone(UTC)
        raise SlotTaken(f"the schedule slot {when:%Y-%m-%d %H:%M} UTC is already taken ({what})")


# --- CSV ------------------------------------------------------------------------------------

_CSV_COLUMNS = ("email", "name", "status", "source", "created_at")


#: line, address, name, status, source ('' if none), created_at (None if none).
_CsvRow = tuple[int, str, str, str, str, datetime | None]


def _read_subscriber_csv(path: Path) -> tuple[list[_CsvRow], list[str]]:
    """A row for each valid line, and a problem line for each invalid one."""
    text = read_text(path, CsvError, what="a CSV file", hint="save the file as UTF-8 CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[_CsvRow] = []
    problems: list[str] = []
    last_line = 0
    try:
        for record in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(field.strip() for field in record):
                continue
            if header is None:
                header = [field.strip().lower() for field in record]
                _check_header(path, line, header)
                continue
            if len(record) > len(header):
                problems.append(f"{path}:{line}: {len(record)} fields, but the header names "
                                f"{len(header)}; quote values that contain commas")
                continue
            values = dict(zip(header, record, strict=False))
            email = values.get("email", "").strip()
            if not email:
                problems.append(f"{path}:{line}: email: missing")
                continue
            if "\n" in email or "\r" in email:  # a stray quote swallowed the following lines
                problems.append(f"{path}:{line}: email: a quote (\") on this line is not closed, "
                                f"so lines {line}-{reader.line_num} were read as one row; "
                                "remove or close the quote")
                continue
            status = values.get("status", "").strip().lower() or "active"
            if status not in SUBSCRIBER_STATUSES:
                problems.append(f"{path}:{line}: status: {status!r} is not one of "
                                f"{', '.join(SUBSCRIBER_STATUSES)}")
                continue
            try:
                address = normalise_email(email)
                name = _clean_name(values.get("name", ""))
            except InvalidAddress as exc:
                field = "name" if str(exc).startswith("name ") else "email"
                problems.append(f"{path}:{line}: {field}: {exc}")
                continue
            source = _one_line(values.get("source", ""))[:200]
            created = values.get("created_at", "").strip()
            joined: datetime | None = None
            if created:
                try:
                    joined = datetime.fromisoformat(created)
                except ValueError:
                    joined = None
                if joined is None or joined.tzinfo is None:
                    problems.append(f"{path}:{line}: created_at: {created!r} is not an ISO 8601 "
                                    "time with a UTC offset, e.g. 2026-11-20T12:00:00+00:00")
                    continue
            rows.append((line, address, name, status, source, joined))
    except csv.Error as exc:
        problems.append(f"{path}:{reader.line_num}: malformed CSV: {exc}")
    if header is None:
        raise CsvError(f"{path}: empty; the first line must be a header such as: email,name")
    return rows, problems


def _check_header(path: Path, line: int, header: list[str]) -> None:
    if "email" not in header:
        looks_like_data = any("@" in field for field in header)
        hint = ("the first line must be a header naming the columns, e.g. email,name"
                if looks_like_data else "no 'email' column; the header must name email "
                "(and optionally name)")
        raise CsvError(f"{path}:{line}: {hint}")
    unknown = [name for name in header if name not in _CSV_COLUMNS]
    if unknown:
        raise CsvError(f"{path}:{line}: unknown column {unknown[0]!r}; the columns are "
                       f"{', '.join(_CSV_COLUMNS)} (email required)")
    if len(set(header)) != len(header):
        raise CsvError(f"{path}:{line}: a column is named twice in the header")


def subscribers_csv(subscribers: Iterable[Subscriber]) -> str:
    """CSV with a header (email,name,status,source,created_at) that import reads back."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for sub in subscribers:
        created = sub.created_at.isoformat() if sub.created_at else ""
        writer.writerow((sub.email, sub.name, sub.status, sub.source, created))
    return out.getvalue()
