"""How a send reports while it runs: a progress bar on a terminal; elsewhere (cron, pipes,
logs) only the notes a person must hear of at once, as plain lines on stderr."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the engine is 0.2 s of imports that `issue list` and `issue show` never use
    from ..delivery.engine import Progress


class TerminalProgress:
    """A rich progress bar on stderr. rich is imported only when a bar is drawn: it is 50 ms of
    start-up that a cron run, which has no terminal, would pay for nothing."""

    def __init__(self, label: str):
        self._label = label
        self._progress: Any = None
        self._task: Any = None

    def start(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeRemainingColumn(),
                                  console=Console(stderr=True))
        self._task = self._progress.add_task(self._label, total=total)
        self._progress.start()

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)

    def note(self, line: str) -> None:
        if self._progress is None:
            click.echo(line, err=True)
        else:  # above the bar, which stays drawn below it (markup off: the line is text)
            self._progress.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


class PlainNotes:
    """No bar (nobody watches it in cron, and it would fill a log), but each note as a line on
    stderr: a service being stopped says in its log that it took the signal."""

    def start(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def note(self, line: str) -> None:
        click.echo(line, err=True)

    def close(self) -> None:
        pass


def terminal_progress(label: str) -> Progress:
    """A bar when stderr is a terminal; only the notes in cron, pipes and logs."""
    return TerminalProgress(label) if sys.stderr.isatty() else PlainNotes()
