"""The run lock: one ``publisher run`` or sending command per publication at a time.

Every entry point that sends takes it (``send.deliver_issue``, ``send.resend_ambiguous``,
``send.settle_ambiguous``, ``run.run_once``), so two senders never work side by side: the ledger
would keep them from sending twice, but each would report the other's messages in flight as
ambiguous. What runs under the lock (``send.deliver``) checks that its caller holds it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from ..config import Config
from ..errors import LockHeld, PublisherError
from ..files import describe_os_error

#: The locks this process holds (resolved paths), and the thread holding each.
_held: dict[Path, int] = {}
_held_guard = threading.Lock()


@contextmanager
def run_lock(path: Path) -> Iterator[int]:
    """Hold an exclusive flock on ``path`` (created if missing) for the block; yields our pid.

    The kernel drops a flock when its holder dies, so a lock file left by a killed run is simply
    taken over. Raises LockHeld (with the holder's pid when it wrote one) if another process
    holds it, or this one (a second open file description is refused like any other: the lock is
    not re-entrant).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a read-only .publisher/, say: one line, not a traceback
        raise PublisherError(f"cannot take the run lock: {describe_os_error(exc)}") from None
    key = path.resolve()
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise LockHeld(path, _read_pid(fd)) from None
        with _held_guard:
            _held[key] = threading.get_ident()
        pid = os.getpid()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{pid}\n".encode("ascii"), 0)
        try:
            yield pid
        finally:
            with _held_guard:
                del _held[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def publication_lock(config: Config) -> AbstractContextManager[int]:
    """The run lock of ``config``'s publication."""
    return run_lock(config.paths.lock)


def holds_lock(config: Config) -> bool:
    """Whether this thread holds the run lock of ``config``'s publication."""
    with _held_guard:
        return _held.get(config.paths.lock.resolve()) == threading.get_ident()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
