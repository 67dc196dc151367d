"""Copies of an SQLite ledger, whole, with SQLite's online backup API: a consistent snapshot
taken page by page while other processes go on reading and writing, never a half-copied file
(copying state.db with cp during a send can give one: the WAL holds the newest pages).

A backup is one self-contained file (rollback journal, not WAL), checked with ``quick_check``
before it takes its name, and readable by its owner only: it holds every subscriber's address.
Restoring copies a backup into the ledger through the same API, so the ledger is never a
mixture of the two. (PostgreSQL ledgers are backed up with pg_dump; restoring an SQLite backup
into an empty PostgreSQL database, row by row, is how a ledger moves there: ``load_backup``.)
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy import func, select, text

from ..config import Config
from ..errors import StoreError
from ..files import describe_os_error
from .probe import (
    LedgerStatus,
    connect_readonly,
    copy_sqlite,
    read_status,
    readonly_engine,
    with_database,
)
from .schema import metadata
from .store import Store, open_store

#: Rows read from the backup and written to the database at a time.
_LOAD_BATCH = 1000


def _damage(conn: sqlite3.Connection) -> str | None:
    """What SQLite's quick_check finds wrong with the database, or None."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"not a usable SQLite database: {exc}"
    if [tuple(row) for row in rows] != [("ok",)]:
        # quick_check's first finding, on one line ("*** in database main ***\nPage 21: …")
        return "damaged: " + " ".join(str(rows[0][0]).replace("*** in database main ***", "")
                                      .split())
    return None


def ledger_damage(ledger: Path) -> str | None:
    """What SQLite's quick_check finds wrong with the ledger file (read only), or None: a
    damaged page that no query has met yet fails the next one that does, mid-send perhaps."""
    try:
        conn = connect_readonly(ledger)
    except sqlite3.Error as exc:
        return f"not a usable SQLite database: {exc}"
    try:
        return _damage(conn)
    finally:
        conn.close()


def write_backup(ledger: Path, target: Path, known_revisions: set[str] | None = None) -> int:
    """Copy the SQLite ledger ``ledger`` to ``target`` (replaced atomically if it exists, mode
    0600, fsynced); returns its size in bytes. StoreError when the copy cannot be made or does
    not pass SQLite's quick_check, or, given ``known_revisions``, when it is not a publisher
    ledger at one of those schema revisions: the copy is looked at before it takes the name of
    the last good backup, never after."""
    if target.exists() and target.resolve() == ledger.resolve():
        raise StoreError(f"{target} is the ledger itself; name another file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise StoreError(f"cannot write the backup: {describe_os_error(exc)}") from None
    os.close(fd)  # mkstemp made it 0600; SQLite writes it from here
    try:
        src = connect_readonly(ledger)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                # One self-contained file: no -wal beside it to forget when it is copied away.
                dst.execute("PRAGMA journal_mode = DELETE")
                damage = _damage(dst)
                if damage:  # the copy is as damaged as the ledger it came from
                    raise StoreError(
                        f"cannot back up {ledger}: the ledger is {damage}; {target} is left as "
                        "it was: restore a good backup with 'publisher restore FILE' (or try: "
                        "sqlite3 state.db '.recover' | sqlite3 new.db)")
            finally:
                dst.close()
            if known_revisions is not None:
                refusal = _not_backed_up(Path(tmp), known_revisions)
                if refusal:
                    what, fix = refusal
                    raise StoreError(f"cannot back up {ledger}: {what}; {target} is left as it "
                                     f"was{': ' + fix if fix else ''}")
        finally:
            src.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        _unlink(tmp)
        raise StoreError(f"cannot back up {ledger}: {exc}") from None
    except OSError as exc:
        _unlink(tmp)
        raise StoreError(f"cannot write the backup: {describe_os_error(exc)}") from None
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_directory(target.parent)
    return target.stat().st_size


def _status(path: Path) -> LedgerStatus:
    """What the SQLite ledger file ``path`` holds, read without writing to it."""
    engine = readonly_engine(path)
    try:
        return read_status(engine, str(path))
    finally:
        engine.dispose()


def _not_backed_up(copy: Path, known_revisions: set[str]) -> tuple[str, str] | None:
    """What makes the fresh ``copy`` of a ledger no backup to keep, and the fix ("" when what
    is wrong says it already), or None. Said of the ledger it was copied from: the copy is
    only what that ledger holds."""
    status = _status(copy)
    if status.problem:
        return status.problem, ""
    if not status.exists:  # emptied: a bad copy, a full disk, a redirect into it
        return ("it is an empty database, not a publisher ledger",
                "restore the latest good backup with 'publisher restore FILE'")
    if status.revision not in known_revisions:
        return (f"its schema revision {status.revision} is unknown: a newer publisher wrote it",
                "back it up with that publisher, or upgrade this one")
    return None


def inspect_backup(path: Path, known_revisions: set[str]) -> LedgerStatus:
    """What the backup file ``path`` holds; StoreError unless it is an undamaged publisher
    ledger at a schema revision this publisher knows (``known_revisions``)."""
    if not path.is_file():
        raise StoreError(f"{path}: no such file")
    try:
        conn = connect_readonly(path)
        try:
            damage = _damage(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: not a usable SQLite database: {exc}") from None
    if damage:
        raise StoreError(f"{path}: {damage}")
    status = _status(path)
    if status.problem:
        raise StoreError(f"{path}: {status.problem}")
    if not status.exists:
        raise StoreError(f"{path}: an empty database, not a publisher ledger")
    if status.revision not in known_revisions:
        raise StoreError(f"{path}: ledger schema revision {status.revision} is unknown: the "
                         "backup was made by a newer publisher; upgrade publisher to restore it")
    return status


def copy_into(source: Path, ledger: Path) -> None:
    """Replace the content of the SQLite ledger ``ledger`` (created if missing) with that of
    ``source``, in one transaction of the backup API: readers see the old ledger or the new."""
    try:
        ledger.parent.mkdir(parents=True, exist_ok=True)
        copy_sqlite(source, ledger)
        os.chmod(ledger, 0o600)  # subscribers' addresses: readable by the owner only
    except sqlite3.Error as exc:
        raise StoreError(f"cannot restore into {ledger}: {exc}") from None
    except OSError as exc:
        raise StoreError(f"cannot restore: {describe_os_error(exc)}") from None


def load_backup(source: Path, config: Config) -> None:
    """Copy every row of the SQLite backup ``source`` into ``config``'s ledger in another
    database (PostgreSQL) in one transaction: how an SQLite ledger moves there, its sent issues
    with it. The backup is migrated to this publisher's schema in a temporary copy first.
    StoreError when the ledger holds any row already: nothing in it is lost, or mixed with the
    backup's."""
    with tempfile.TemporaryDirectory(prefix="publisher-restore-") as scratch:
        copy = Path(scratch) / "ledger.db"
        try:
            copy_sqlite(source, copy)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {source}: {exc}") from None
        with open_store(with_database(config, f"sqlite:///{copy}")) as backup, \
                open_store(config) as ledger:
            _copy_rows(backup, ledger)


def _copy_rows(backup: Store, ledger: Store) -> None:
    with backup._read() as reading, ledger._write() as writing:
        held = [(table.name, count) for table in metadata.sorted_tables
                if (count := writing.execute(select(func.count()).select_from(table))
                    .scalar_one())]
        if held:
            rows = ", ".join(f"{name} ({count:,})" for name, count in held)
            raise StoreError(f"{ledger.url} already holds a ledger (rows in {rows}); restore "
                             "into an empty database (dropdb, then createdb), so that nothing "
                             "in it is lost or mixed with the backup")
        for table in metadata.sorted_tables:  # issues before the deliveries that name them
            result = reading.execution_options(yield_per=_LOAD_BATCH).execute(select(table))
            for batch in result.partitions():
                writing.execute(table.insert(), [dict(row._mapping) for row in batch])
            column = table.autoincrement_column
            if column is not None and ledger.postgres:
                # The copied ids were given, not drawn: the next row's must come after them.
                writing.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                    f"COALESCE(MAX({column.name}), 0) + 1, false) FROM {table.name}"))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (the directory entry), where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
