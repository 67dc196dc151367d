"""The ledger looked at without changing it: for ``publisher check`` (is it there, readable, at
which schema revision, has anything been sent) and for dry runs (a Store that cannot write).

Nothing here creates, migrates or writes the ledger. (SQLite may create the ``-wal`` and
``-shm`` files beside a ledger it reads; they hold no data.)
"""

from __future__ import annotations

import dataclasses
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..config import Config
from ..errors import StoreError
from ..files import read_sqlite
from .base import display_url, new_worker_id, sqlite_file
from .faults import fault_of
from .schema import SCHEMA_REVISION
from .store import (
    BUSY_TIMEOUT_MS,
    Store,
    connect_problem,
    create_ledger_engine,
    database_url,
    open_store,
)


@dataclass(frozen=True)
class LedgerStatus:
    """What ``probe_ledger`` found. ``revision``: the schema revision the ledger carries (""
    when it does not exist yet); ``started``: how many issues have left draft (mail signed with
    the publication's secret has gone out); ``problem``: why the ledger cannot be used, or ""."""

    url: str
    exists: bool
    revision: str = ""
    issues: int = 0
    started: int = 0
    subscribers: int = 0
    problem: str = ""

    @property
    def current(self) -> bool:
        return self.revision == SCHEMA_REVISION


def sqlite_path(config: Config) -> Path | None:
    """The ledger's file when it is an SQLite file (resolved as ``open_store`` resolves it), else
    None (another database, or an in-memory one)."""
    try:
        file = sqlite_file(make_url(config.state.database))
    except ArgumentError:
        return None
    return None if file is None else config.resolve(str(file))


def readonly_engine(path: Path) -> Engine:
    """An engine over the SQLite file ``path`` that can only read it (``read_sqlite``)."""
    engine = create_engine("sqlite://", creator=lambda: connect_readonly(path))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN below: one snapshot per transaction

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def probe_ledger(config: Config) -> LedgerStatus:
    """Look at the publication's ledger without creating, migrating or writing it."""
    path = sqlite_path(config)
    if path is not None:
        url = f"sqlite:///{path}"
        if not path.exists():
            return LedgerStatus(url=url, exists=False)
        if not path.is_file():
            return LedgerStatus(url=url, exists=True,
                                problem=f"{path} is not a file; move it away")
        engine = readonly_engine(path)
    else:
        try:  # PostgreSQL, through psycopg, as open_store connects
            engine = create_ledger_engine(config, database_url(config, create_dir=False),
                                          worker=new_worker_id())
        except StoreError as exc:
            return LedgerStatus(url=_shown(config.state.database), exists=False,
                                problem=str(exc).removeprefix(f"{config.path}: "))
        url = display_url(engine.url)
    try:
        return read_status(engine, url)
    finally:
        engine.dispose()


def _shown(database: str) -> str:
    """state.database for messages: never with a password."""
    try:
        return display_url(make_url(database))
    except ArgumentError:
        return database  # not a URL, so no password in it either


def read_status(engine: Engine, url: str) -> LedgerStatus:
    try:
        with engine.connect() as conn:
            tables = {name.lower() for name in _table_names(conn)}
            if "alembic_version" not in tables:
                if tables:
                    return LedgerStatus(url=url, exists=True, problem=(
                        "it holds tables but no schema revision: it is not a publisher "
                        "ledger; point state.database at the right database"))
                return LedgerStatus(url=url, exists=False)
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            issues = conn.execute(text("SELECT count(*) FROM issues")).scalar() or 0
            started = conn.execute(text(
                "SELECT count(*) FROM issues WHERE state IN ('sending', 'sent')")).scalar() or 0
            subscribers = conn.execute(text("SELECT count(*) FROM subscribers")).scalar() or 0
    except SQLAlchemyError as exc:
        if engine.dialect.name == "postgresql":  # the server said why, and what to do
            why = connect_problem(engine.url, exc)
            return LedgerStatus(url=url, exists=False, problem=f"cannot open the ledger: {why}")
        fault = fault_of(exc, None)  # whoever reports the status names the ledger
        problem = (str(fault) if fault is not None
                   else f"cannot read the ledger: {getattr(exc, 'orig', None) or exc}")
        return LedgerStatus(url=url, exists=True, problem=problem)
    return LedgerStatus(url=url, exists=True, revision=str(revision or ""), issues=int(issues),
                        started=int(started), subscribers=int(subscribers))


def _table_names(conn: Any) -> list[str]:
    return list(inspect(conn).get_table_names())


@contextmanager
def readonly_store(config: Config, status: LedgerStatus | None = None
                   ) -> Iterator[Store | None]:
    """The ledger as a Store that cannot write (for dry runs), or None when there is no ledger
    yet. A ledger at an older schema revision is copied (SQLite's backup API) to a temporary
    file and the copy migrated, so that the ledger itself stays as it is. StoreError when the
    ledger cannot be read. ``status``: what ``probe_ledger`` just found, if the caller has it
    (it is not looked for again)."""
    if status is None:
        status = probe_ledger(config)
    if status.problem:
        raise StoreError(f"{status.url}: {status.problem}")
    if not status.exists:
        yield None
        return
    path = sqlite_path(config)
    if path is None:  # another database: read it through a normal connection, writing nothing
        store = open_store(config) if status.current else None
        if store is None:
            raise StoreError(f"{status.url}: the ledger is at schema revision {status.revision}; "
                             "run any command once to migrate it, then rehearse")
        with store:
            yield store
        return
    if status.current:
        with Store(readonly_engine(path)) as store:
            yield store
        return
    with tempfile.TemporaryDirectory(prefix="publisher-rehearsal-") as scratch:
        copy = Path(scratch) / "ledger.db"
        copy_sqlite(path, copy)
        url = f"sqlite:///{copy}"
        with open_store(with_database(config, url)) as store:
            yield store


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A DBAPI connection that can only read the SQLite file ``path`` (and never creates it)."""
    return read_sqlite(path, timeout=BUSY_TIMEOUT_MS / 1000)


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the SQLite database ``source`` into ``target`` (made if missing, replaced whole in
    one transaction otherwise) with SQLite's online backup API: a consistent snapshot even
    while another process writes to ``source``."""
    src = connect_readonly(source)
    try:
        dst = sqlite3.connect(str(target), timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def with_database(config: Config, url: str) -> Config:
    """``config`` with its ledger at ``url``."""
    return dataclasses.replace(config, state=dataclasses.replace(config.state, database=url))
