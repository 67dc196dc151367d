"""How many processes a big job may share its work among: loading ten thousand sources,
rendering ten thousand pages. One per core this process may run on (so ``taskset`` and cgroup
CPU sets limit it), at most MAX_WORKERS: past four, forking and handing results back cost more
than the cores save at the sizes publications reach."""

from __future__ import annotations

import os

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
