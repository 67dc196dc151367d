"""``publisher backup`` and ``publisher restore``: the whole ledger, copied safely."""

from __future__ import annotations

from pathlib import Path

import click

from ..ledger.probe import LedgerStatus
from ..pipeline.backup import backup, restore
from ..text import count
from . import State
from .context import publication_command, warn


def _holds(status: LedgerStatus) -> str:
    return (f"{count(status.subscribers, 'subscriber')}, {count(status.issues, 'issue')} "
            f"({status.started} sent or being sent)")


@click.command("backup")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@publication_command
def backup_command(state: State, file: str | None) -> None:
    """Copy the whole ledger (subscribers, issues, deliveries) to FILE, safely while runs go on.

    Without FILE the copy goes to .publisher/backups/state-<UTC time>.db. The file is readable
    by you only (it holds every subscriber's address); keep a copy off this machine too.
    'publisher restore FILE' puts it back.
    """
    result = backup(state.config, Path(file) if file else None, now=state.now())
    click.echo(f"wrote {result.path}: {_holds(result.ledger)}; {result.size / 1024:.0f} KB")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@publication_command
def restore_command(state: State, file: str) -> None:
    """Replace the ledger with the backup FILE (made by 'publisher backup').

    The ledger it replaces is kept in .publisher/backups/. With state.database in PostgreSQL,
    FILE's rows are copied into that database, which must be empty: how an SQLite ledger
    moves there, with every issue it sent. Issues in the web archive that the
    backup does not know are named: composing those numbers again is refused, so that nobody
    gets them twice.
    """
    result = restore(state.config, Path(file), now=state.now())
    kept = f"; the ledger it replaced is kept as {result.saved}" if result.saved else ""
    click.echo(f"restored {file}: {_holds(result.ledger)}{kept}")
    if result.unknown_archived:
        numbers = ", ".join(f"#{n}" for n in result.unknown_archived)
        warn([f"{state.config.output_dir}/issues/ has issue {numbers}, which this backup does "
              "not know (sent after it was made?): composing those numbers is refused until a "
              f"newer backup is restored, or {state.config.output_dir}/issues/ is moved away"])
    for number in result.paused:
        warn([f"issue #{number} was unfinished in this backup, but "
              f"{state.config.output_dir}/issues/{number}/ shows it finished since: it is "
              "paused, so that no run sends its queued deliveries a second time ('publisher "
              f"issue show {number}' says what to do)"])
