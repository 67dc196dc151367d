"""Alembic migrations of the ledger: the scripts are in ``migrations/versions/``."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import StoreError
from .base import LEDGER_LOCK, display_url
from .schema import MIGRATIONS


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    return cfg


def known_revisions() -> set[str]:
    """Every schema revision this publisher's migrations know."""
    script = ScriptDirectory.from_config(_alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (head by default) under the write lock (SQLite's,
    or PostgreSQL's advisory LEDGER_LOCK).

    Raises StoreError if the database carries a revision this publisher does not know: it was
    written by a newer publisher, and touching it could lose data.
    """
    cfg = _alembic_config()
    script = ScriptDirectory.from_config(cfg)
    known = {rev.revision for rev in script.walk_revisions()}
    with engine.connect() as conn:
        conn.execution_options(publisher_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                # Hosts opening a new ledger at once migrate it one after the other (the
                # DDL is transactional there, so the second finds it at head).
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LEDGER_LOCK})")
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
            try:
                command.upgrade(cfg, revision)
            except SQLAlchemyError as exc:
                if current and _insufficient_privilege(exc):
                    raise StoreError(_not_owner(engine, current[0],
                                                script.get_current_head(), exc)) from None
                raise


def _insufficient_privilege(exc: SQLAlchemyError) -> bool:
    # PostgreSQL's SQLSTATE 42501: "must be owner of table …", "permission denied for …"
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "42501"


def _not_owner(engine: Engine, current: str, head: str | None, exc: SQLAlchemyError) -> str:
    """What to do when the role may use the ledger but not upgrade it: an ALTER TABLE takes
    the table's owner, which no GRANT gives (a CI build's read-only role with a newer
    publisher than the sending server's, say)."""
    why = " ".join(str(getattr(exc, "orig", exc)).split("\n")[0].split())
    role, owner = "this role", "the role that owns them"
    try:
        with engine.connect() as conn:
            role, found = conn.exec_driver_sql(
                "SELECT current_user, (SELECT tableowner FROM pg_tables WHERE schemaname = "
                "current_schema() AND tablename = 'alembic_version')").one()
            owner = found or owner
    except SQLAlchemyError:
        pass  # the advice stands without the names
    return (f"{display_url(engine.url)}: the ledger's schema is at revision {current} and this "
            f"publisher needs {head}, which only the owner of its tables, {owner}, may make "
            f"(the role {role} may not: {why}); run this publisher once as {owner} (the sending "
            "server's next run, if it connects so), or run the version of publisher that the "
            "ledger's owner runs")
