"""What every part of the ledger shares: the engine and one transaction per call."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL


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
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A writing transaction: on SQLite it takes the write lock up front (BEGIN
        IMMEDIATE), so a read-then-write never fails with "database is locked" halfway."""
        with self._engine.connect() as conn:
            conn.execution_options(publisher_write=True)
            with conn.begin():
                yield conn
