"""How many processes a big job may share its work among: loading ten thousand sources,
rendering ten thousand pages. One per core this process may run on (so ``taskset`` and cgroup
CPU sets limit it), at most MAX_WORKERS: past four, forking and handing results back cost more
than the cores save at the sizes publications reach. And how they share it: ``ShareQueue``."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Iterator

from .files import write_all

MAX_WORKERS = 4


def cores() -> int:
    """The cores this process may run on (1 where processes cannot fork: Windows)."""
    if not hasattr(os, "fork"):
        return 1
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """How many processes a big job is shared among: one per core, at most MAX_WORKERS."""
    return min(cores(), MAX_WORKERS)


#: At most this many shares in a ShareQueue: their numbers are written into a pipe before
#: anyone reads it, and a pipe holds 64 KiB.
MAX_SHARES = 4096


class ShareQueue:
    """Shares of a job, numbered 0 to ``count`` - 1, claimed one at a time by whichever
    process is free: a split fixed in advance leaves a core idle while the other finishes (the
    shares do not all cost the same, nor does a core from one moment to the next on a shared
    machine). Made before the fork: process ``k`` starts on share ``k`` (so each has work
    from the start); the rest are numbers written into a pipe, and a read of four bytes from a
    pipe is whole (the kernel holds the pipe while it copies), so no two processes claim one
    share and no lock is needed. The write end is closed before the fork: once the numbers run
    out, a read finds the end of the pipe."""

    WIDTH = 4

    def __init__(self, count: int, first: int) -> None:
        if count > MAX_SHARES:
            raise ValueError(f"{count} shares; at most {MAX_SHARES}")
        self.count = count
        self.read, write = os.pipe()
        try:
            write_all(write, b"".join(i.to_bytes(self.WIDTH, "little")
                                      for i in range(first, count)))
        except BaseException:
            os.close(self.read)
            raise
        finally:
            os.close(write)

    def claims(self, *processes: int) -> Iterator[int]:
        """The shares a process takes: the first one of each process it is (its own; also
        another's that could not be forked), then what it claims from the pipe until none are
        left."""
        for process in processes:
            if process < self.count:
                yield process
        while data := os.read(self.read, self.WIDTH):
            yield int.from_bytes(data, "little")

    def close(self) -> None:
        os.close(self.read)

    def __enter__(self) -> ShareQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def die_with(parent: int) -> None:
    """In a forked child: be killed when the parent dies (Linux), so that a command killed
    with SIGKILL leaves no child working on behind it. (A build's are still swept by the next
    build, which waits for the build lock that they inherit until they are gone.)"""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (AttributeError, OSError):  # not Linux: the lock still keeps the next build out
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def end_children(children: list[tuple[int, int]], *, kill: bool) -> None:
    """Close each forked child's pipe and wait for the child (``children``: pid and read end
    of its pipe), killing it first when ``kill`` (the job failed or was stopped: what it does
    is no longer wanted, and nothing may go on writing). Emptied as it goes: a child waited for
    is no longer ours to kill, its pid the system's to give another process."""
    if kill:
        for pid, _read in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    while children:
        pid, read = children.pop(0)
        with contextlib.suppress(OSError):
            os.close(read)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
