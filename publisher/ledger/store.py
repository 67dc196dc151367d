"""The ledger: subscribers, issues, schedule slots and deliveries (SQLAlchemy Core), opened.

SQLite by default — WAL, a 30 s busy timeout, synchronous=FULL and foreign keys, set on every
connection. PostgreSQL (``postgresql://user@host/db``, through psycopg 3: the optional extra
``publisher[postgres]``) holds the same ledger for several senders on several hosts; its
password comes from the environment as libpq reads it (PGPASSWORD, ~/.pgpass), never from
publisher.toml. The same Alembic migrations run on both on open; a database from a newer
publisher is refused.

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

import contextlib
import importlib.util
import os
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)

from ..config import STATE_DIR, Config
from ..errors import StoreError
from ..files import closed_to_others, keep_out_of_git
from .base import QUERY_SECRETS, display_url, new_worker_id, sqlite_file
from .deliveries import DeliveryStore
from .faults import (
    LOCK_WAIT_HINT,
    STATEMENT_TIMEOUT_HINT,
    fault_of,
    timed_out,
    waited_for_lock,
)
from .issues import IssueStore
from .readers import ReaderStore
from .schema import SCHEMA_REVISION
from .subscribers import SubscriberStore

BUSY_TIMEOUT_MS = 30_000
#: Seconds to wait for a PostgreSQL server before saying it cannot be reached.
CONNECT_TIMEOUT = 10
#: How long a statement waits for a lock on PostgreSQL, unless the server or the role sets
#: lock_timeout itself: far longer than any of publisher's own transactions holds one (queueing
#: a million deliveries takes seconds), and PostgreSQL's default is to wait for ever.
LOCK_TIMEOUT = "1min"
POSTGRES_EXTRA = "pip install 'publisher[postgres]'"


class Store(SubscriberStore, DeliveryStore, IssueStore, ReaderStore):
    """The ledger: every method runs in its own transaction (see ``base.StoreBase``)."""


def _keep_private(ledger: Path) -> None:
    """Take group and others' access away from a ledger (and its -wal and -shm files) that a
    publisher from before new ledgers were 0600 made under the umask (0644): it holds every
    subscriber's address, and ssh and gpg likewise insist on their private files. A file of
    another owner is left to ``publisher check``, which names it."""
    for path in (ledger, Path(f"{ledger}-wal"), Path(f"{ledger}-shm")):
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                os.chmod(path, mode & 0o700)


def database_url(config: Config, *, create_dir: bool = True) -> URL:
    """config.state.database as a URL. A relative SQLite path is taken from the publication
    directory, and its directory is created (unless ``create_dir`` is false). A PostgreSQL URL
    is given the psycopg driver; StoreError if it holds a password (the environment does) or
    names another driver."""
    try:
        url = make_url(config.state.database)
    except ArgumentError:
        raise StoreError(
            f"{config.path}: state.database: {config.state.database!r} is not a database URL; "
            f"write e.g. \"sqlite:///{STATE_DIR}/state.db\" or "
            "\"postgresql://publisher@db.example.org/publisher\""
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        file = sqlite_file(url)
        if file is not None:
            path = config.resolve(str(file))
            if create_dir:
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.parent == config.root / STATE_DIR:  # never a folder of the editor's
                    keep_out_of_git(path.parent)
                    closed_to_others(path.parent)
                # Every subscriber's address is in it: readable by its owner only, whatever
                # the umask (SQLite gives its -wal and -shm files the database file's
                # permissions).
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except FileExistsError:
                    _keep_private(path)
            url = url.set(database=str(path))
    elif backend in ("postgresql", "postgres"):
        if url.password is not None or QUERY_SECRETS.intersection(url.query):
            raise StoreError(
                f"{config.path}: state.database: remove the password from the URL; it is read "
                "from the environment as libpq does: PGPASSWORD, or a ~/.pgpass file (mode 0600)"
            )
        if url.get_driver_name() not in ("", "psycopg", "psycopg2"):
            raise StoreError(
                f"{config.path}: state.database: {url.drivername} is not supported; write "
                "postgresql://… (publisher talks to PostgreSQL through psycopg 3)"
            )
        # postgresql:// alone means psycopg2 to SQLAlchemy; ours is psycopg 3.
        url = url.set(drivername="postgresql+psycopg")
    else:
        raise StoreError(
            f"{config.path}: state.database: {backend} is not supported; the ledger lives in "
            f"SQLite (\"sqlite:///{STATE_DIR}/state.db\") or PostgreSQL "
            "(\"postgresql://publisher@db.example.org/publisher\")"
        )
    return url


def create_ledger_engine(config: Config, url: URL, *, worker: str,
                         reconnect: bool = False) -> Engine:
    """An engine for ``url`` with publisher's settings (SQLite's pragmas; PostgreSQL's connect
    timeout and the worker id as application_name). StoreError when the database's driver is
    missing or the URL is unusable. ``reconnect``: each connection taken from the pool is
    tried first and replaced when the server dropped it (a restart), for a long-lived server
    whose next request must not fail for it; a run is short, and stops on a lost connection."""
    backend = url.get_backend_name()
    # A driver error's text would otherwise carry the statement's parameters (a reader's
    # address), and serve logs the error of a request that fails (a server restarting).
    options: dict[str, Any] = {"hide_parameters": True}
    if backend == "postgresql":
        if importlib.util.find_spec("psycopg") is None:
            raise StoreError(
                f"{config.path}: state.database: PostgreSQL needs the psycopg package; "
                f"install it with: {POSTGRES_EXTRA}"
            )
        options["connect_args"] = {"application_name": worker,
                                   "connect_timeout": CONNECT_TIMEOUT}
        options["pool_pre_ping"] = reconnect
    try:
        engine = create_engine(url, **options)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"{config.path}: state.database: cannot use {display_url(url)}: {exc}") \
            from None
    except ImportError as exc:  # a driver that find_spec saw but cannot load, say
        raise StoreError(
            f"{config.path}: state.database: {backend} needs the Python module "
            f"{exc.name or exc}, which cannot be imported; reinstall it into publisher's "
            f"environment (for PostgreSQL: {POSTGRES_EXTRA})") from None
    if backend == "sqlite":
        _configure_sqlite(engine)
    else:
        _configure_postgres(engine)
    return engine


def connect_error(url: URL, exc: SQLAlchemyError) -> str:
    """The one line that says why the database could not be used: the driver's first line
    (never the password: libpq's messages do not carry it), and what to do about it."""
    return f"{display_url(url)}: cannot open the ledger: {connect_problem(url, exc)}"


def connect_problem(url: URL, exc: BaseException) -> str:
    """Why the database could not be used, and what to do (``connect_error`` without the
    URL)."""
    if waited_for_lock(exc):  # PostgreSQL's words ("canceling statement due to lock timeout")
        return LOCK_WAIT_HINT    # name neither the lock nor the fix
    if timed_out(exc):  # nor those of a statement timeout, whose "timeout" is not the server's
        return STATEMENT_TIMEOUT_HINT
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split("\n")[0].split()) or type(orig).__name__
    if text.startswith("connection failed: "):
        text = text[len("connection failed: "):]
    hint = ""
    if "password authentication failed" in text or "no password supplied" in text:
        hint = "; set PGPASSWORD or add the password to ~/.pgpass (mode 0600)"
    elif "does not exist" in text and "database" in text:
        hint = f"; create it first: createdb {url.database or ''}".rstrip()
    elif "permission denied for schema" in text:  # a new database: the tables are to be made
        schema = text.rsplit(" ", 1)[-1]
        hint = (f"; the role cannot create the ledger's tables: GRANT CREATE ON SCHEMA {schema} "
                f"TO {url.username or 'the role you connect as'} (or run this command once as "
                "a role that can)")
    elif "permission denied" in text:
        hint = (f"; grant the role {url.username or 'you connect as'} SELECT, INSERT, UPDATE and "
                "DELETE on the ledger's tables (and USAGE on their sequences)")
    elif "Connection refused" in text or "could not connect" in text or "timeout" in text:
        hint = "; is the server running, and are the host and port right?"
    return f"{text}{hint}"


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # A transaction left open in psql would otherwise hold every run on every host, and
        # cron's runs piling up behind them, without a word. A lock_timeout set for the
        # server, database or role (or in PGOPTIONS) is the operator's, and kept.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, false) "
                           "WHERE current_setting('lock_timeout') = '0'", (LOCK_TIMEOUT,))
        dbapi_connection.commit()


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
    except ProgrammingError:  # PostgreSQL: a new database, no table yet
        return False
    except OperationalError as exc:  # SQLite says the same thus; a lost server says otherwise
        if engine.dialect.name == "sqlite" and "no such table" in str(exc.orig):
            return False
        raise
    return [row[0] for row in rows] == [SCHEMA_REVISION]


def open_store(config: Config, *, lease_clock: Callable[[], datetime] | None = None,
               reconnect: bool = False) -> Store:
    """Open (creating or upgrading) the publication's ledger. Raises StoreError.
    ``lease_clock`` is the real-time clock that leases run on (the system's by default);
    ``reconnect``: see create_ledger_engine (``publisher serve``)."""
    url = database_url(config)
    worker = new_worker_id()
    engine = create_ledger_engine(config, url, worker=worker, reconnect=reconnect)
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
        fault = fault_of(exc, display_url(url), sqlite_file(url))
        if fault is not None:
            raise fault from None
        raise StoreError(connect_error(url, exc)) from None
    return Store(engine, worker=worker, wall_clock=lease_clock)


