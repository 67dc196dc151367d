"""A progress bar for sends started on a terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

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

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def terminal_progress(label: str) -> Progress | None:
    """A bar when stderr is a terminal; nothing in cron, pipes and logs."""
    return TerminalProgress(label) if sys.stderr.isatty() else None
