"""Real file-system faults for tests: a read-only bind mount and a small tmpfs.

Both need the right to mount (root, as in CI and the sandbox); without it a test skips with the
reason. Every mount is undone when its block ends, lazily so that a file left open in it cannot
keep it in place.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only or tiny file system needs root (CI runs as root)")
    done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30, check=False)


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` (a directory) made read-only by a bind mount over itself, as ``mount -o ro``
    would: even root cannot write there (EROFS)."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield path
    finally:
        _unmount(path)


@contextmanager
def tiny_disk(path: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (an empty directory): writes beyond it fail
    with ENOSPC, "No space left on device"."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield path
    finally:
        _unmount(path)
