"""How many processes a big job may share its work among: loading ten thousand sources,
rendering ten thousand pages. One per core this process may run on (so ``taskset`` and cgroup
CPU sets limit it), at most MAX_WORKERS: past four, forking and handing results back cost more
than the cores save at the sizes publications reach. And how they share it: ``ShareQueue``."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
            numbers = b"".join(i.to_bytes(self.WIDTH, "little") for i in range(first, count))
            view = memoryview(numbers)
            while view:
                view = view[os.write(write, view):]
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
