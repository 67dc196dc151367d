"""``publisher backup`` and ``publisher restore``: the whole ledger, not only its subscribers.

A lost ledger restored from ``subscribers export`` alone forgets which issues went out, and the
next run would send issue #1 to everyone again; so a backup is the ledger itself (subscribers,
issues frozen as sent, every delivery), copied with SQLite's online backup API. Restoring takes
the run lock (no send can be under way), keeps the ledger it replaces beside it, and says which
archived issues the backup does not know: composing one of those numbers again is refused
(``pipeline.issues.compose_issue``). An issue the backup holds unfinished (a backup made while it
was being sent) whose archive page shows it finished since is paused: its queued deliveries may
have gone out already, and the next run would send them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..config import Config
from ..delivery.engine import RESTORED_PAUSE
from ..errors import StoreError
from ..ledger import open_store
from ..ledger.backups import copy_into, inspect_backup, load_backup, write_backup
from ..ledger.migrate import known_revisions
from ..ledger.probe import LedgerStatus, probe_ledger, sqlite_path
from ..models import IssueState
from .issues import archived_numbers, lost_ledger
from .lock import publication_lock


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    ledger: LedgerStatus  # what the backup holds


@dataclass(frozen=True)
class RestoreResult:
    ledger: LedgerStatus  # what the ledger holds now
    saved: Path | None  # where the ledger it replaced was kept, if there was one
    unknown_archived: tuple[int, ...]  # archived issue numbers the restored ledger lacks
    paused: tuple[int, ...] = ()  # unfinished in the backup, finished in the archive: paused


def backups_dir(config: Config) -> Path:
    return config.paths.state / "backups"


def default_backup_path(config: Config, now: datetime, label: str = "state") -> Path:
    """.publisher/backups/<label>-<UTC time>.db, never the name of an existing file (two in one
    second get -2, -3, …)."""
    stem = f"{label}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    path = backups_dir(config) / f"{stem}.db"
    n = 1
    while path.exists():
        n += 1
        path = backups_dir(config) / f"{stem}-{n}.db"
    return path


def _ledger_file(config: Config) -> Path:
    path = sqlite_path(config)
    if path is None:
        raise StoreError(f"{config.path}: state.database: backup copies an SQLite ledger; back "
                         "up another database with its own tools (pg_dump)")
    return path


def backup(config: Config, target: Path | None, *, now: datetime) -> BackupResult:
    """Copy the ledger to ``target`` (default: .publisher/backups/state-<UTC time>.db).
    StoreError when there is no ledger, or one that lost the web archive's issues
    (``lost_ledger``), or the copy fails."""
    ledger = _ledger_file(config)
    lost = lost_ledger(config)
    if lost:
        kept = f", {target} is left as it was" if target is not None else ""
        raise StoreError(f"nothing backed up{kept}: {lost}")
    if not ledger.is_file():
        raise StoreError(f"{ledger}: no ledger yet; nothing to back up")
    path = target if target is not None else default_backup_path(config, now)
    size = write_backup(ledger, path, known_revisions())
    return BackupResult(path, size, inspect_backup(path, known_revisions()))


def restore(config: Config, source: Path, *, now: datetime) -> RestoreResult:
    """Replace the ledger with the backup ``source``, under the run lock; the replaced ledger
    is kept as .publisher/backups/state-before-restore-<UTC time>.db. The restored ledger is
    migrated to this publisher's schema. With the ledger in PostgreSQL, the backup's rows are
    copied into its database, which must hold none yet: how an SQLite ledger moves there.
    StoreError when ``source`` is not an undamaged ledger this publisher can read, or the
    PostgreSQL ledger is not empty; LockHeld while a run or a send is under way."""
    ledger = sqlite_path(config)
    inspect_backup(source, known_revisions())
    if ledger is not None and ledger.exists() and source.resolve() == ledger.resolve():
        raise StoreError(f"{source} is the ledger itself; name a backup file")
    with publication_lock(config):
        saved = None
        if ledger is None:
            load_backup(source, config)
        else:
            if ledger.is_file():
                saved = default_backup_path(config, now, "state-before-restore")
                write_backup(ledger, saved)
            copy_into(source, ledger)
        archived = archived_numbers(config)
        with open_store(config) as store:  # migrated to this publisher's schema, if older
            records = store.issues()
            paused = tuple(r.number for r in records if r.number in archived
                           and r.state in (IssueState.DRAFT, IssueState.SENDING))
            for number in paused:  # before the lock goes: no run may send them meanwhile
                store.pause_issue(number, _restored_reason(config, number))
    status = probe_ledger(config)
    known = {record.number for record in records}
    missing = tuple(n for n in archived if n not in known)
    return RestoreResult(status, saved, missing, paused)


def _restored_reason(config: Config, number: int) -> str:
    return (f"{RESTORED_PAUSE} made before issue #{number} finished sending, and "
            f"{config.output_dir}/issues/{number}/ shows it finished since, so its queued "
            "deliveries may have reached their readers already; restore a newer backup (the "
            f"ledger replaced is kept in {config.state_dir}/backups/), or 'publisher issue send "
            f"{number}' sends them anyway")
