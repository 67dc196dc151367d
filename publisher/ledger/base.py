"""What every part of the ledger shares: the engine and one transaction per call."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from .faults import translated
from .schema import UTCDateTime


def display_url(url: URL) -> str:
    """The database URL for messages: never with its password."""
    return url.render_as_string(hide_password=True)


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    """``items`` in slices small enough for an ``IN (...)`` list on every database."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class StoreBase:
    """The ledger's engine. Thread-safe: each call takes its own pooled connection and
    transaction, and commits before it returns."""

    def __init__(self, engine: Engine):
        self._engine = engine
        dialect = engine.dialect
        # SQL written with "?" runs as written on qmark drivers (sqlite3) and with "%s" on
        # format drivers (psycopg); times are bound as the UTCDateTime columns store them.
        self._format_params = dialect.paramstyle in ("format", "pyformat")
        self._bind_time: Callable[[datetime], Any] = (
            UTCDateTime().bind_processor(dialect) or (lambda value: value))

    @property
    def url(self) -> str:
        return display_url(self._engine.url)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translated(self.url), self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A writing transaction: on SQLite it takes the write lock up front (BEGIN
        IMMEDIATE), so a read-then-write never fails with "database is locked" halfway."""
        with translated(self.url), self._engine.connect() as conn:
            conn.execution_options(publisher_write=True)
            with conn.begin():
                yield conn

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
