"""What ``publisher check`` says of a PostgreSQL server beyond the ledger's probe (``probe.py``):
which server it is, and whether the role may create tables — which every migration needs, and
which PostgreSQL 15 no longer grants on ``public`` to everyone — and, once the ledger is there,
whether it owns them, without which no migration can change them. Nothing is written."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from ..config import Config
from ..errors import StoreError
from .base import display_url, new_worker_id
from .schema import SCHEMA_REVISION
from .store import connect_problem, create_ledger_engine, database_url


@dataclass
class ServerFacts:
    """One line per fact (``info``), and what would trouble (``warnings``) or stop (``errors``)
    a run."""

    info: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def describe_server(config: Config, *, current: bool) -> ServerFacts:
    """The PostgreSQL server holding the ledger: its version, and whether the role can create
    tables — an error when the ledger must still be created or upgraded (``current`` false), a
    warning otherwise (the next upgrade will need it). A role that does not own the ledger's
    tables (one that may only read them, for CI) is an error only when they must be upgraded,
    naming their owner. Nothing for an SQLite ledger."""
    facts = ServerFacts()
    try:
        url = database_url(config, create_dir=False)
    except StoreError as exc:
        facts.errors.append(f"ledger: {exc}")
        return facts
    if url.get_backend_name() != "postgresql":
        return facts
    engine = create_ledger_engine(config, url, worker=new_worker_id())
    where = display_url(url)
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
            role, schema, can_create = conn.exec_driver_sql(
                "SELECT current_user, current_schema(), "
                "has_schema_privilege(current_schema(), 'CREATE')").one()
            # A ledger's tables are changed (ALTER TABLE) by their owner alone: no GRANT gives
            # that, and CREATE on the schema does not either.
            owner, owns = conn.exec_driver_sql(
                "SELECT tableowner, pg_has_role(current_user, tableowner, 'USAGE') "
                "FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename = 'alembic_version'").one_or_none() or (None, True)
            revision = conn.exec_driver_sql(
                "SELECT version_num FROM alembic_version").scalar() if owner else None
    except SQLAlchemyError as exc:
        facts.errors.append(f"ledger: {where}: cannot open the ledger: "
                            f"{connect_problem(url, exc)}")
        return facts
    finally:
        engine.dispose()
    facts.info.append(f"ledger: {where}: PostgreSQL {version}")
    if not owns:
        if current:  # it may use the ledger as it is: a CI build's read-only role, say
            facts.info.append(
                f"ledger: {where}: the role {role} does not own the ledger's tables ({owner} "
                f"does): the first command after an upgrade of publisher that changes them runs "
                f"as {owner}")
        else:
            facts.errors.append(
                f"ledger: {where}: the role {role} does not own the ledger's tables ({owner} "
                f"does), and the upgrade of schema {revision} to {SCHEMA_REVISION} takes their "
                f"owner: run this publisher once as {owner} (the sending server's next run, if "
                "it connects so), or the version of publisher that the ledger's owner runs")
        return facts
    if can_create:
        facts.info.append(f"ledger: {where}: the role {role} can create tables in schema "
                          f"{schema}")
        return facts
    line = (f"ledger: {where}: the role {role} cannot create tables in schema {schema}; "
            f"migrations need it: GRANT CREATE ON SCHEMA {schema} TO {role}")
    (facts.warnings if current else facts.errors).append(line)
    return facts
