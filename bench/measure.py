"""Timing whole processes for the benchmarks: wall time, CPU time and peak RSS of one command.

CPU and peak RSS come from wait4(2) for that one child, so they include everything the command
did in its own process and in the worker processes it started and reaped (publisher's parse pool,
Hugo's threads), and nothing else the machine was doing. On a loaded machine wall time drifts;
CPU time drifts much less, which is why both are printed and why runs are interleaved.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds, children included
    rss_mb: float  # peak resident set size of the largest process, MB


def run(command: Sequence[str], *, cwd: Path | None = None,
        env: Mapping[str, str] | None = None, check: bool = True) -> Sample:
    """Run ``command`` to the end (output discarded) and measure it."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(command), cwd=cwd, env=dict(env) if env is not None else None,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n"
                         f"{errors.decode(errors='replace')[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def median(samples: Sequence[Sample]) -> Sample:
    return Sample(statistics.median(s.wall for s in samples),
                  statistics.median(s.cpu for s in samples),
                  max(s.rss_mb for s in samples))


def fmt(sample: Sample) -> str:
    return f"{sample.wall:7.3f} s {sample.cpu:7.3f} s {sample.rss_mb:6.0f} MB"


HEADER = f"{'wall':>9} {'CPU':>9} {'peak RSS':>9}"


class Trash:
    """Where a cold build's previous output goes instead of being deleted just before it.

    This machine's ext4 has no journal, and on such a file system the kernel skips inodes
    deleted in the last minute or more on every allocation (``recently_deleted()`` in
    fs/ext4/ialloc.c, found with ``perf record``): right after ten thousand files are deleted,
    a build's ``mkdir`` and ``open`` took 580 µs each instead of 45–65 µs, whichever tool ran.
    Moved aside, the old output is deleted when the benchmark ends (``empty``)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._count = 0

    def clear(self, path: Path) -> None:
        """``path`` gone from where it was (moved into the trash)."""
        if not path.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._count += 1
        path.rename(self.directory / f"{os.getpid()}-{self._count}-{path.name}")

    def empty(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
