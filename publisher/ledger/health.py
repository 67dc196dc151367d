"""What ``publisher check`` says of a PostgreSQL server beyond the ledger's probe (``probe.py``):
which server it is, and whether the role may create tables — which every migration needs, and
which PostgreSQL 15 no longer grants on ``public`` to everyone. Nothing is written."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from ..config import Config
from ..errors import StoreError
from .base import display_url, new_worker_id
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
    warning otherwise (the next upgrade will need it). Nothing for an SQLite ledger."""
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
    except SQLAlchemyError as exc:
        facts.errors.append(f"ledger: {where}: cannot open the ledger: "
                            f"{connect_problem(url, exc)}")
        return facts
    finally:
        engine.dispose()
    facts.info.append(f"ledger: {where}: PostgreSQL {version}")
    if can_create:
        facts.info.append(f"ledger: {where}: the role {role} can create tables in schema "
                          f"{schema}")
        return facts
    line = (f"ledger: {where}: the role {role} cannot create tables in schema {schema}; "
            f"migrations need it: GRANT CREATE ON SCHEMA {schema} TO {role}")
    (facts.warnings if current else facts.errors).append(line)
    return facts
