"""The signals that stop publisher cleanly, and holding them off for the moments in which
stopping would leave things half done."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


def stop_signals() -> tuple[int, ...]:
    """The signals that stop a command cleanly, as ``errors.Interrupted``: SIGINT (Ctrl-C),
    SIGTERM (kill, systemd) and SIGHUP (the terminal or ssh session it was started from went
    away), which would otherwise kill a send where it stands. SIGHUP only when it is not
    ignored: ``nohup publisher ...`` asks that the command go on when the session ends."""
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        return signal.SIGINT, signal.SIGTERM
    return signal.SIGINT, signal.SIGTERM, signal.SIGHUP


@contextmanager
def on_stop(handler: Callable[[int], None]) -> Iterator[None]:
    """Until the block ends, a stop signal (``stop_signals``) calls ``handler`` with its number
    instead of what was in place, which is then put back. Only the main thread can set
    handlers: elsewhere (a run or a build in a web worker) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        handler(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in stop_signals()}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def stops_held() -> Iterator[None]:
    """A stop signal that arrives in the block is held until the block ends, then raised again
    for the handler in place before it (the CLI's: ``Interrupted``): for work that is over in
    milliseconds and must not be left half done, such as the build's commit."""
    arrived: list[int] = []
    try:
        with on_stop(arrived.append):
            yield
    finally:
        if arrived:
            signal.raise_signal(arrived[0])
