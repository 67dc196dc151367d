"""The ledger as ``publisher check`` reports it: which database, at which migration, and whether
the next command can use it — without writing anything, and without a traceback for a wrong
host, password or database name."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from ..config import Config
from ..errors import StoreError
from .base import display_url, new_worker_id
from .migrate import known_revisions
from .schema import SCHEMA_REVISION
from .store import connect_error, create_ledger_engine, database_url


@dataclass
class LedgerCheck:
    """One line per fact (``info``), and what would stop or trouble a run."""

    info: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def check_ledger(config: Config) -> LedgerCheck:
    """Connect to the publication's ledger and say what it is (never creating or migrating
    it): the database and its version, the migration level against this publisher's, and
    whether the role may create tables (which a migration needs)."""
    report = LedgerCheck()
    try:
        url = database_url(config, create_dir=False)
        if url.get_backend_name() == "sqlite":
            _check_sqlite(url, report)
        else:
            _check_server(config, url, report)
    except StoreError as exc:
        report.errors.append(f"ledger: {exc}")
    return report


def _revision_line(where: str, revisions: list[str] | None, report: LedgerCheck) -> None:
    if revisions is None:
        report.info.append(f"ledger schema: none yet; the first command that needs the ledger "
                           f"creates it (revision {SCHEMA_REVISION})")
    elif revisions == [SCHEMA_REVISION]:
        report.info.append(f"ledger schema: revision {SCHEMA_REVISION} (current)")
    elif any(rev not in known_revisions() for rev in revisions):
        report.errors.append(
            f"ledger: {where}: schema revision {', '.join(revisions)} was written by a newer "
            f"publisher (this one knows revisions up to {SCHEMA_REVISION}); upgrade publisher")
    else:
        found = ", ".join(revisions) or "unknown"
        report.info.append(f"ledger schema: revision {found}; the next command upgrades it to "
                           f"{SCHEMA_REVISION}")


def _check_sqlite(url: URL, report: LedgerCheck) -> None:
    database = url.database or ""
    version = sqlite3.sqlite_version
    if not database or database == ":memory:" or database.startswith("file:"):
        report.info.append(f"ledger: SQLite {version} at {display_url(url)}")
        return
    path = Path(database)
    report.info.append(f"ledger: SQLite {version} at {path}")
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is None or not os.access(parent, os.W_OK | os.X_OK):
            report.errors.append(f"ledger: {path}: cannot be created ({parent} is not writable)")
        _revision_line(str(path), None, report)
        return
    if not os.access(path, os.R_OK | os.W_OK):
        report.errors.append(f"ledger: {path}: not readable and writable by this user")
        return
    try:
        # Read-only, so that checking never writes (nor creates a WAL file for) the ledger.
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as conn:
            try:
                rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                rows = None
        conn.close()
    except sqlite3.DatabaseError as exc:
        report.errors.append(f"ledger: {path}: cannot be read: {exc}")
        return
    _revision_line(str(path), None if rows is None else [r[0] for r in rows], report)


def _check_server(config: Config, url: URL, report: LedgerCheck) -> None:
    engine = create_ledger_engine(config, url, worker=new_worker_id())
    try:
        with engine.connect() as conn:
            version = _scalar(conn, "SHOW server_version")
            report.info.append(f"ledger: PostgreSQL {version} at {display_url(url)}")
            exists = _scalar(conn, "SELECT to_regclass('alembic_version') IS NOT NULL")
            revisions = [row[0] for row in conn.exec_driver_sql(
                "SELECT version_num FROM alembic_version")] if exists else None
            _revision_line(display_url(url), revisions, report)
            role, schema, can_create = conn.exec_driver_sql(
                "SELECT current_user, current_schema(), "
                "has_schema_privilege(current_schema(), 'CREATE')").one()
    except SQLAlchemyError as exc:
        report.errors.append(f"ledger: {connect_error(url, exc)}")
        return
    finally:
        engine.dispose()
    if can_create:
        report.info.append(f"ledger role: {role} can create tables in schema {schema}")
        return
    line = (f"ledger role: {role} cannot create tables in schema {schema}; migrations need it: "
            f"GRANT CREATE ON SCHEMA {schema} TO {role}")
    # Only a ledger that must still be created or upgraded needs it now.
    (report.warnings if revisions == [SCHEMA_REVISION] else report.errors).append(line)


def _scalar(conn: Connection, sql: str) -> Any:
    return conn.exec_driver_sql(sql).scalar()
