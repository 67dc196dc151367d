"""The ledger: subscribers, issues, schedule slots and deliveries (SQLAlchemy Core), opened.

SQLite by default — WAL, a 30 s busy timeout, synchronous=FULL and foreign keys, set on every
connection — but no SQLite-only SQL, so a PostgreSQL URL can hold the same ledger. Alembic
migrates the schema on open; a database from a newer publisher is refused.

Every method runs in its own transaction and commits before it returns, so threads and processes
may share one database. Writing transactions take SQLite's write lock up front (BEGIN IMMEDIATE):
a read-then-write transaction that started as a reader could otherwise fail with "database is
locked" without waiting. ``mark_sending`` is a compare-and-set, so two senders never take the
same delivery.

``Store`` is composed from one part per domain, each in its own module: ``SubscriberStore``
(subscribers.py), ``IssueStore`` (issues.py: issues and schedule slots), ``DeliveryStore``
(deliveries.py).
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ..config import STATE_DIR, Config
from ..errors import StoreError
from .base import display_url
from .deliveries import DeliveryStore
from .faults import fault_of
from .issues import IssueStore
from .readers import ReaderStore
from .schema import SCHEMA_REVISION
from .subscribers import SubscriberStore

BUSY_TIMEOUT_MS = 30_000


class Store(SubscriberStore, DeliveryStore, IssueStore, ReaderStore):
    """The ledger: every method runs in its own transaction (see ``base.StoreBase``)."""




def database_url(config: Config) -> URL:
    """config.state.database as a URL; a relative SQLite path is taken from the publication
    directory, and its directory is created."""
    try:
        url = make_url(config.state.database)
    except ArgumentError:
        raise StoreError(
            f"{config.path}: state.database: {config.state.database!r} is not a database URL; "
            f"write e.g. \"sqlite:///{STATE_DIR}/state.db\""
        ) from None
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = config.resolve(database)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Every subscriber's address is in it: readable by its owner only, whatever the
            # umask (SQLite gives its -wal and -shm files the database file's permissions).
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                pass
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


def _schema_is_current(engine: Engine) -> bool:
    """Whether the ledger is at SCHEMA_REVISION: one SELECT, so that opening a current ledger
    (every cron run) never loads Alembic; anything else goes through ``migrate``."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except SQLAlchemyError:  # a new database: no table yet
        return False
    return [row[0] for row in rows] == [SCHEMA_REVISION]


def open_store(config: Config) -> Store:
    """Open (creating or upgrading) the publication's ledger. Raises StoreError."""
    url = database_url(config)
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"{config.path}: state.database: cannot use {display_url(url)}: {exc}") \
            from None
    except ImportError as exc:  # postgresql:// without its driver, say
        raise StoreError(
            f"{config.path}: state.database: {url.get_backend_name()} needs the Python module "
            f"{exc.name or exc}, which is not installed; install it into publisher's environment "
            f"(for PostgreSQL: pip install 'psycopg[binary]')") from None
    if url.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    try:
        if not _schema_is_current(engine):
            # Alembic is 120 ms of imports, half of what a no-op cron run costs: it is loaded
            # only when the schema must change (or is from a newer publisher).
            from .migrate import migrate

            migrate(engine)
    except StoreError:
        engine.dispose()
        raise
    except SQLAlchemyError as exc:
        engine.dispose()
        fault = fault_of(exc, display_url(url))
        if fault is not None:
            raise fault from None
        orig = getattr(exc, "orig", None) or exc
        raise StoreError(f"{display_url(url)}: cannot open the ledger: {orig}") from None
    return Store(engine)


