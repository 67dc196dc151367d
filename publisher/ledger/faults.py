"""Database faults a person must fix, as one line each: a corrupt ledger, a ledger the process
may not write. Other errors pass through unchanged (a full disk while sending is handled where
the deliveries are recorded, so that their claims are released)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DatabaseError, IntegrityError, ProgrammingError

from ..errors import StoreError


class LedgerCorrupt(StoreError):
    """The ledger's file is damaged (or is not a ledger at all)."""


class LedgerReadOnly(StoreError):
    """The ledger (or its directory) cannot be written by this process."""


# What SQLite says, in its own words (sqlite3_errstr), for each case.
_CORRUPT = ("database disk image is malformed", "file is not a database")
_READ_ONLY = ("attempt to write a readonly database", "unable to open database file",
              "readonly database")


def fault_of(exc: BaseException, where: str | None) -> StoreError | None:
    """The StoreError that ``exc`` (an error from the database driver) means, or None when it
    is not a fault of the ledger's file. Its line starts with ``where`` unless that is None
    (for a caller that names the ledger itself)."""
    if not isinstance(exc, DatabaseError) or isinstance(exc, IntegrityError | ProgrammingError):
        return None
    text = str(getattr(exc, "orig", None) or exc).lower()
    prefix = f"{where}: " if where is not None else ""
    if any(words in text for words in _CORRUPT):
        return LedgerCorrupt(
            f"{prefix}the ledger is damaged ({text}); restore the latest backup with "
            "'publisher restore FILE' (or try: sqlite3 state.db '.recover' | sqlite3 new.db)")
    if any(words in text for words in _READ_ONLY):
        # SQLite writes beside the ledger (its -wal and -shm files) even to read it.
        return LedgerReadOnly(
            f"{prefix}the ledger or its directory is read-only ({text}); SQLite writes beside "
            "the ledger even to read it: make both writable by the user that runs publisher")
    return None


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Run the block, turning a ledger fault into its StoreError (``fault_of``)."""
    try:
        yield
    except DatabaseError as exc:
        fault = fault_of(exc, where)
        if fault is None:
            raise
        raise fault from None
