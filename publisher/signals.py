"""The signals that stop publisher cleanly, and holding them off for the moments in which
stopping would leave things half done."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
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
def stops_held() -> Iterator[None]:
    """A stop signal that arrives in the block is held until the block ends, then raised again
    for the handler in place before it (the CLI's: ``Interrupted``): for work that is over in
    milliseconds and must not be left half done, such as the build's commit. Only the main
    thread can set handlers: elsewhere (a build in a web worker) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        arrived.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in stop_signals()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if arrived:
            signal.raise_signal(arrived[0])
