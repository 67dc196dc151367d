"""What every part of the ledger shares: the engine, one transaction per call, and who this
process is to the other senders (its worker id)."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from .faults import translated
from .schema import UTCDateTime

#: libpq's connection parameters that are secrets, which a URL may carry in its query string
#: as well as before the "@" (postgresql://u@h/db?password=…).
QUERY_SECRETS = frozenset({"password", "sslpassword"})


def display_url(url: URL) -> str:
    """The database URL for messages, as the user wrote it (no driver) and never with a
    password."""
    url = url.set(drivername=url.get_backend_name())
    hidden = {key: "***" for key in url.query if key in QUERY_SECRETS}
    if hidden:
        url = url.update_query_dict(hidden)
    return url.render_as_string(hide_password=True)


def sqlite_file(url: URL) -> Path | None:
    """The SQLite database file ``url`` names, or None (another database, or one in memory)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") \
            or database.startswith("file:"):
        return None
    return Path(database)


#: The key of the transaction-scoped advisory lock that every writing transaction takes on
#: PostgreSQL (``StoreBase._write``): the ledger's writers queue one behind the other, as they
#: do on SQLite (BEGIN IMMEDIATE), so a read-then-write (composing an issue, queueing it,
#: subscribing someone) never interleaves with another host's. The sending path's claims and
#: records do not take it: they are compare-and-sets on rows, locked one by one.
LEDGER_LOCK = 0x7075_626C_0001  # "publ" + 1
#: How long a worker's hold on a delivery lasts (a reservation of queued ones, or a claim):
#: far longer than a message takes on the wire, so a live worker's hold never lapses mid-send.
LEASE = timedelta(minutes=10)


def new_worker_id() -> str:
    """This process's name among the senders: host, pid and a nonce (a pid is reused after
    a reboot). At most 63 characters: PostgreSQL shows it as the connections'
    application_name, which is how the others tell that it is still alive."""
    return f"{worker_host()}:{os.getpid()}:{secrets.token_hex(3)}"


def worker_host() -> str:
    """This host as the worker ids of its processes name it (``new_worker_id``)."""
    return socket.gethostname().split(".")[0][:40] or "host"


#: Workers of this process with a ledger open: on SQLite, how a worker in this process is known
#: to be alive (PostgreSQL sees every worker's connections).
_open_workers: set[str] = set()
_open_guard = threading.Lock()


def open_workers() -> set[str]:
    with _open_guard:
        return set(_open_workers)


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """``items`` in slices small enough for an ``IN (...)`` list on every database."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class StoreBase:
    """The ledger's engine. Thread-safe: each call takes its own pooled connection and
    transaction, and commits before it returns."""

    def __init__(self, engine: Engine, *, worker: str | None = None,
                 wall_clock: Callable[[], datetime] | None = None):
        self._engine = engine
        dialect = engine.dialect
        self.postgres = dialect.name == "postgresql"
        #: This process among the senders (see ``new_worker_id``).
        self.worker = worker or new_worker_id()
        # Leases run on the real clock, whatever --now says: they measure how long a worker
        # has been silent, not where the schedule stands.
        self._wall = wall_clock or (lambda: datetime.now(UTC))
        self._rehearsing: Connection | None = None
        with _open_guard:
            _open_workers.add(self.worker)
        # SQL written with "?" runs as written on qmark drivers (sqlite3) and with "%s" on
        # format drivers (psycopg); times are bound as the UTCDateTime columns store them.
        self._format_params = dialect.paramstyle in ("format", "pyformat")
        self._bind_time: Callable[[datetime], Any] = (
            UTCDateTime().bind_processor(dialect) or (lambda value: value))

    @property
    def url(self) -> str:
        return display_url(self._engine.url)

    @property
    def _file(self) -> Path | None:
        return sqlite_file(self._engine.url)

    def close(self) -> None:
        with _open_guard:
            _open_workers.discard(self.worker)
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translated(self.url, self._file), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self, *, serial: bool = True) -> Iterator[Connection]:
        """A writing transaction that takes the ledger's write lock up front: on SQLite the
        database's (BEGIN IMMEDIATE), so a read-then-write never fails with "database is
        locked" halfway; on PostgreSQL, with ``serial``, the transaction-scoped advisory lock
        LEDGER_LOCK, so writers on every host take turns. ``serial=False`` is for statements
        that are safe side by side on their own (compare-and-sets, SKIP LOCKED)."""
        if self._rehearsing is not None:  # inside rehearsal(): its transaction
            yield self._rehearsing
            return
        with translated(self.url, self._file), self._engine.connect() as conn:
            conn.execution_options(publisher_write=True)
            with conn.begin():
                if serial and self.postgres:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LEDGER_LOCK})")
                yield conn

    @contextmanager
    def rehearsal(self) -> Iterator[None]:
        """Every writing transaction in the block made in one transaction that is rolled back
        at its end: what a dry run would change, decided by the same code, step after step
        (the third soft bounce of a pass counts the two before it), then undone. Reads outside
        writing transactions do not see those writes."""
        with translated(self.url, self._file), self._engine.connect() as conn:
            conn.execution_options(publisher_write=True)
            transaction = conn.begin()
            try:
                if self.postgres:
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LEDGER_LOCK})")
                self._rehearsing = conn
                yield
            finally:
                self._rehearsing = None
                transaction.rollback()

    @staticmethod
    def _cursor(conn: Connection) -> Any:
        """The DBAPI cursor of ``conn``'s transaction, for statements run many times."""
        return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]

    def _execute(self, cursor: Any, sql: str, params: Sequence[Any]) -> int:
        """Run ``sql`` (written with "?" placeholders) on ``cursor``; the rows it changed."""
        cursor.execute(sql.replace("?", "%s") if self._format_params else sql, params)
        return int(cursor.rowcount)

    def _time(self, when: datetime) -> Any:
        """``when`` as a parameter of a statement run with ``_execute``."""
        return self._bind_time(when)
