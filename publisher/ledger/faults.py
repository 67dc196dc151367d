"""Database faults a person must fix, as one line each: a corrupt ledger, a ledger the process
may not write, a full disk under it, a lock another session keeps, a statement past the
server's statement_timeout. Other errors pass through unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import DatabaseError, IntegrityError, ProgrammingError

from ..errors import StoreError
from ..files import disk_full


class LedgerCorrupt(StoreError):
    """The ledger's file is damaged (or is not a ledger at all)."""


class LedgerReadOnly(StoreError):
    """The ledger (or its directory) cannot be written by this process."""


class LedgerFull(StoreError):
    """The disk holding the ledger's file is full; ``cause``: SQLite's words."""

    def __init__(self, message: str, cause: str):
        super().__init__(message)
        self.cause = cause


class LedgerLocked(StoreError):
    """Another session has held a lock the ledger needs past PostgreSQL's lock_timeout."""


#: What to do when another session keeps a lock the ledger needs: a transaction left open (in
#: psql, a script), which nothing else would ever end, or one of publisher's own on another host
#: that takes longer (importing millions of subscribers), which must not be ended.
LOCK_WAIT_HINT = (
    "another session has held a lock the ledger needs for longer than lock_timeout: a "
    "transaction left open (in psql, say), or a long import or upgrade by publisher on another "
    "host (application_name host:pid:…); see which with SELECT pid, application_name, state, "
    "xact_start FROM pg_stat_activity ORDER BY xact_start, end a forgotten one with SELECT "
    "pg_terminate_backend(pid), then run this again")
#: PostgreSQL's SQLSTATE for a lock not had within lock_timeout (lock_not_available).
_LOCK_NOT_AVAILABLE = "55P03"


class LedgerTimedOut(StoreError):
    """A statement ran past PostgreSQL's statement_timeout (set for the server, the database or
    the role: managed services set one)."""


#: What to do about it: publisher's longest statements (queueing an issue, merging an import)
#: grow with the list, and a minute is short for a million subscribers.
STATEMENT_TIMEOUT_HINT = (
    "a statement took longer than the database's statement_timeout allows; raise it for "
    "publisher's role (ALTER ROLE … SET statement_timeout = '10min'), then run this again")
#: PostgreSQL's SQLSTATE for a statement cancelled (query_canceled): by statement_timeout, or
#: by someone's pg_cancel_backend, which its words tell apart.
_QUERY_CANCELED = "57014"


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None) or exc, "sqlstate", None)


def waited_for_lock(exc: BaseException) -> bool:
    """Whether ``exc`` (a driver error, or SQLAlchemy's around one) is PostgreSQL giving up
    waiting for a lock."""
    return _sqlstate(exc) == _LOCK_NOT_AVAILABLE


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` (a driver error, or SQLAlchemy's around one) is PostgreSQL cancelling a
    statement that ran past statement_timeout."""
    return (_sqlstate(exc) == _QUERY_CANCELED
            and "statement timeout" in str(getattr(exc, "orig", None) or exc))


# What SQLite says, in its own words (sqlite3_errstr), for each case.
_CORRUPT = ("database disk image is malformed", "file is not a database")
_READ_ONLY = ("attempt to write a readonly database", "unable to open database file",
              "readonly database")
# SQLITE_FULL, and SQLITE_IOERR: what a write-ahead log or shared memory file that cannot
# grow gives, on opening the ledger as well as on writing it.
_FULL = ("database or disk is full", "disk i/o error")


def fault_of(exc: BaseException, where: str | None,
             ledger: Path | None = None) -> StoreError | None:
    """The StoreError that ``exc`` (an error from the database driver) means, or None when it
    is not a fault of the ledger's file nor a limit of the server's (lock_timeout,
    statement_timeout). Its line starts with ``where`` unless that is None (for a caller that
    names the ledger itself). ``ledger``: the SQLite ledger's file, if the caller knows it: a
    full disk under it is then named (SQLite's own words do not say which disk, and "disk I/O
    error" not even that it is full)."""
    prefix = f"{where}: " if where is not None else ""
    if waited_for_lock(exc):  # from SQLAlchemy, or from the driver under a raw cursor
        return LedgerLocked(f"{prefix}{LOCK_WAIT_HINT}")
    if timed_out(exc):  # the driver's words would quote the row it was on: a reader's address
        return LedgerTimedOut(f"{prefix}{STATEMENT_TIMEOUT_HINT}")
    if not isinstance(exc, DatabaseError) or isinstance(exc, IntegrityError | ProgrammingError):
        return None
    text = str(getattr(exc, "orig", None) or exc).lower()
    if any(words in text for words in _CORRUPT):
        return LedgerCorrupt(
            f"{prefix}the ledger is damaged ({text}); restore the latest backup with "
            "'publisher restore FILE' (or try: sqlite3 state.db '.recover' | sqlite3 new.db)")
    if any(words in text for words in _READ_ONLY):
        # SQLite writes beside the ledger (its -wal and -shm files) even to read it.
        return LedgerReadOnly(
            f"{prefix}the ledger or its directory is read-only ({text}); SQLite writes beside "
            "the ledger even to read it: make both writable by the user that runs publisher")
    if ledger is not None and any(words in text for words in _FULL) and disk_full(ledger.parent):
        return LedgerFull(f"{prefix}the disk holding {ledger.parent} is full ({text}); free "
                          "some space, then run this again",
                          str(getattr(exc, "orig", None) or exc))
    return None


@contextmanager
def translated(where: str, ledger: Path | None = None) -> Iterator[None]:
    """Run the block, turning a ledger fault into its StoreError (``fault_of``)."""
    try:
        yield
    except Exception as exc:  # SQLAlchemy's, and the driver's own from a raw cursor's statements
        fault = fault_of(exc, where, ledger)
        if fault is None:
            raise
        raise fault from None
