"""Output that is a log: each line starts with what the log cannot tell by itself.

The cron log (``.publisher/cron.log``, where the line ``publisher schedule crontab`` prints
sends a run's output): each line a run writes to it starts with the time, and it is kept to
about a mebibyte, with one older copy beside it (``cron.log.1``). cron adds no time to what it
appends, and nothing trims the file, so publisher does both, as a daemon that writes its own
log does (Python's RotatingFileHandler, Listmonk's log). A run is told that its output is the
cron log by the file itself (the same inode), not by an option: the crontab lines older
publishers printed say nothing more.

The systemd journal stamps each line itself, but takes each for information unless it starts
with its syslog priority (``<3>`` for an error: systemd's SyslogLevelPrefix=, sd-daemon(3)):
there ``error:`` lines are marked errors and ``warning:`` lines warnings, so that ``systemctl
status`` shows them as such and ``journalctl -p warning`` finds them. systemd names the stream
in JOURNAL_STREAM (its device and inode), as it tells daemons to check.

Output anywhere else (a terminal, a pipe, another file) is left as it is.
"""

from __future__ import annotations

import fcntl
import io
import logging
import os
import re
import stat
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

#: A line that starts with its syslog priority.
_PRIORITY = re.compile(r"<[0-7]>")

#: Python's log levels as syslog priorities, highest level first.
_SYSLOG = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6),
           (logging.NOTSET, 7))

#: The size past which a run moves the log to ``cron.log.1`` (one old copy, as logrotate's
#: ``rotate 1``): about 10,000 lines, months of runs that each did something.
ROTATE_BYTES = 1 << 20


class _PrefixedLines(io.TextIOBase):
    """A text stream that starts each line written through it with ``_prefix`` of it (of
    the first piece written of it: click writes a line at once)."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._line_start = True

    def _prefix(self, line: str) -> str:
        raise NotImplementedError

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as a text file does: click probes with b""
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        parts = []
        for piece in text.splitlines(keepends=True):
            if self._line_start:
                parts.append(self._prefix(piece))
            parts.append(piece)
            self._line_start = piece.endswith(("\n", "\r"))
        self._stream.write("".join(parts))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]  # TextIOBase declares it a plain str
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors


class StampedLines(_PrefixedLines):
    """Each line starting with the time (ISO 8601, the machine's zone and its offset, to the
    second)."""

    def _prefix(self, line: str) -> str:
        return f"{datetime.now().astimezone().isoformat(timespec='seconds')} "


class JournalLines(_PrefixedLines):
    """Each line starting with the syslog priority journald reads: error, warning or info
    (every line is given one: a line of its own starting "<5>" is then not taken for one),
    unless it has one (``JournalFormatter``'s)."""

    def _prefix(self, line: str) -> str:
        if _PRIORITY.match(line):
            return ""
        if line.startswith("error:"):
            return "<3>"
        if line.startswith("warning:"):
            return "<4>"
        return "<6>"


class JournalFormatter(logging.Formatter):
    """A log record (``publisher serve``'s) for the journal: each of its lines (a traceback's
    too) starts with the record's syslog priority, and no time (the journal adds its own)."""

    def __init__(self) -> None:
        super().__init__("%(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = next(p for level, p in _SYSLOG if record.levelno >= level)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def on_journal(stream: object) -> bool:
    """Whether ``stream`` (sys.stderr, say) writes to the journal (``to_journal``)."""
    return isinstance(stream, JournalLines)


def to_journal() -> None:
    """Under systemd, give this process's standard output and error lines their priorities
    when they are the journal's stream (JOURNAL_STREAM: its device and inode)."""
    stream = os.environ.get("JOURNAL_STREAM")
    if not stream:
        return
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        try:
            st = os.fstat(current.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            continue
        if stream == f"{st.st_dev}:{st.st_ino}":
            setattr(sys, name, JournalLines(current))


def _writes_to(stream: TextIO, log: Path) -> bool:
    """Whether ``stream`` is an open file that is ``log``."""
    try:
        st = os.fstat(stream.fileno())
        there = os.stat(log)
    except (OSError, ValueError, io.UnsupportedOperation):  # no file behind it, or no log
        return False
    return (st.st_dev, st.st_ino) == (there.st_dev, there.st_ino)


def _keep_private(log: Path, fd: int) -> None:
    """Take group and others' access away from the log open at ``fd``: it names subscribers,
    and the crontab lines of publishers before it was made private let cron's umask make it
    0644 (an upgrade keeps the crontab). Not a link to a log kept elsewhere (whoever made the
    link owns that file's permissions), nor a file of another owner."""
    try:
        st = os.fstat(fd)
        there = os.lstat(log)
        if ((st.st_dev, st.st_ino) == (there.st_dev, there.st_ino) and st.st_mode & 0o077
                and st.st_uid == os.geteuid()):
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o700)
    except OSError:
        pass  # a log left readable is no reason to stop a run


def _rotate(log: Path, fds: list[int]) -> None:
    """Move ``log`` to ``log.1`` and give ``fds`` (this process's descriptors on it) a new,
    empty ``log``, 0600 (it names subscribers). Under an flock on the log, and only if it is
    still the file the descriptors write to: two runs starting together rotate it once. A
    run started before the move writes its lines on into ``log.1``: none is lost."""
    try:
        fcntl.flock(fds[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another run is moving it
    try:
        st = os.fstat(fds[0])
        there = os.lstat(log)
        if (st.st_dev, st.st_ino) != (there.st_dev, there.st_ino):
            # Another run moved it a moment ago; or it is a link to a log kept elsewhere
            # (/var/log), which whoever made the link rotates.
            return
        os.fchmod(fds[0], 0o600)
        os.replace(log, log.with_name(log.name + ".1"))
        fresh = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # left as it is: a log too long is better than a run that fails for it
    finally:
        fcntl.flock(fds[0], fcntl.LOCK_UN)
    for fd in fds:
        os.dup2(fresh, fd)
    os.close(fresh)


def to_cron_log(log: Path) -> None:
    """When this process's standard output or error is ``log``: move it aside first if it has
    grown past ROTATE_BYTES, then start each line written to it with the time."""
    streams = [name for name in ("stdout", "stderr") if _writes_to(getattr(sys, name), log)]
    if not streams:
        return
    for name in streams:
        getattr(sys, name).flush()
    fds = [getattr(sys, name).fileno() for name in streams]
    _keep_private(log, fds[0])
    if os.fstat(fds[0]).st_size > ROTATE_BYTES:
        _rotate(log, fds)
    for name in streams:
        setattr(sys, name, StampedLines(getattr(sys, name)))
