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

from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ..config import STATE_DIR, Config
from ..errors import StoreError
from .base import display_url
from .deliveries import DeliveryStore
from .issues import IssueStore
from .schema import MIGRATIONS
from .subscribers import SubscriberStore

BUSY_TIMEOUT_MS = 30_000


class Store(SubscriberStore, DeliveryStore, IssueStore):
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


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (head by default) under the write lock.

    Raises StoreError if the database carries a revision this publisher does not know: it was
    written by a newer publisher, and touching it could lose data.
    """
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
                    f"{display_url(engine.url)}: ledger schema revision {unknown[0]} is unknown: "
                    f"it was created by a newer publisher; upgrade publisher (this one knows "
                    f"revisions up to {script.get_current_head()})"
                )
            if revision == "head" and tuple(current) == (script.get_current_head(),):
                return
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)


def open_store(config: Config) -> Store:
    """Open (creating or upgrading) the publication's ledger. Raises StoreError."""
    url = database_url(config)
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"{config.path}: state.database: cannot use {display_url(url)}: {exc}") \
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
        raise StoreError(f"{display_url(url)}: cannot open the ledger: {orig}") from None
    return Store(engine)


