"""Atomic file writes: a temp file beside the target, fsync, then rename."""

from __future__ import annotations

import codecs
import errno
import os
import sqlite3
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

# What to do about the faults of a file system, by errno.
_FIXES = {
    errno.EROFS: "the file system is mounted read-only",
    errno.EACCES: "permission denied; make it writable by the user that runs publisher",
    errno.EPERM: "not permitted; make it writable by the user that runs publisher",
    errno.ENOSPC: "the disk is full; free some space and run again",
    errno.EDQUOT: "the disk quota is used up; free some space and run again",
    errno.ENOTDIR: "a part of the path is a file where a directory should be; move it away",
    errno.EISDIR: "it is a directory where a file should be; move it away",
    errno.EEXIST: "a file is in the way; move it away",
    errno.EIO: "an input/output error: the disk may be failing",
}


#: A file system with less than this left (or 1 % of it, if less) is full: SQLite's log, a
#: build's staged pages, fail to grow any more.
_NEARLY_FULL = 64 << 20


def disk_full(directory: Path) -> bool:
    """Whether the file system holding ``directory`` has (almost) no room left for this user
    (False when it cannot be told: the directory is not there yet)."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < min(_NEARLY_FULL, st.f_blocks * st.f_frsize // 100)


def write_atomic(path: Path, data: bytes, *, fsync: bool = True, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    ``fsync=False`` skips flushing to disk, for files a crash may lose (caches are rebuilt).
    ``mode`` is the file's permissions whatever the umask: 0o600 for files holding personal
    data (the temporary file is created 0600, so the data is never readable by others)."""
    write_atomic_chunks(path, (data,), fsync=fsync, mode=mode)


#: publisher's own directory tells git to leave all of it out, as pytest's and ruff's caches
#: do: the ledger names every subscriber, the logs name them too, and a cache committed would be
#: loaded as it is by the next build in a fresh clone.
_IGNORE_ALL = b"# publisher's own files (ledger, caches, logs): never to be committed\n*\n"


def closed_to_others(directory: Path) -> None:
    """Take group and others' write access away from ``directory``, one of publisher's own,
    when this user owns it. Publishers before nothing they made was writable by others made
    ``.publisher/`` and its cache under the umask (0775 under 002, 0777 under 000), where
    another user could swap the ledger or leave a cache file that the next build loads and
    runs. Never raises: a directory of another owner, or none, is left as it is."""
    try:
        st = directory.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o022:
            os.chmod(directory, stat.S_IMODE(st.st_mode) & ~0o022)
    except OSError:
        pass


def ours_alone(st: os.stat_result) -> bool:
    """Whether the file ``st`` describes can only have been written by this user: owned by
    it and writable by no one else."""
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def keep_out_of_git(directory: Path) -> None:
    """Give ``directory`` a .gitignore that leaves out everything in it, when the directory is
    there and has none (an editor's own is kept). Never raises: a read-only publication is
    still checked and built."""
    ignore = directory / ".gitignore"
    try:
        if directory.is_dir() and not ignore.exists():
            write_atomic(ignore, _IGNORE_ALL, fsync=False)
    except OSError:
        pass


def write_atomic_chunks(path: Path, chunks: Iterable[bytes], *, fsync: bool = True,
                        mode: int = 0o644) -> None:
    """write_atomic for data made a piece at a time (a list of a million subscribers), never
    all in memory at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file being written, not a temporary name
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:  # a full disk says no file
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def write_all(fd: int, data: bytes) -> None:
    """All of ``data`` written to ``fd``: ``os.write`` writes what fits (a pipe takes 64 KiB
    at a time, a signal may cut a write short) and says how much."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def shown_from(path: Path, base: Path) -> Path:
    """``path`` as it is named from ``base`` (a working directory, a publication): relative to
    it when under it, else as it is."""
    return path.relative_to(base) if path.is_relative_to(base) else path


#: What is wrong with a file name ``not_utf8`` finds, and what to do.
NOT_UTF8 = ("the file name is not UTF-8 (saved on a system with another encoding?), so no "
            "address can be made of it; rename it")


def not_utf8(name: str) -> str | None:
    """``name`` as a message can show it, its bytes that are not UTF-8 written ``\\xe9``, when
    it has such bytes; else None. Python reads them from the file system as lone surrogates,
    which no slug, page, feed or JSON record can hold."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return None


def read_file(path: str | os.PathLike[str]) -> bytes:
    """A whole file's bytes, in four system calls (open, fstat, read, close) where open()
    makes seven (it also asks whether the file is a terminal and where it stands): a build
    reads ten thousand reviews this way."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, size + 1)  # one byte more: a file that grew is read to its end
        if len(data) <= size:
            return data
        parts = [data]
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def read_sqlite(path: Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection that can only read the SQLite file ``path``, never creates it, and leaves
    nothing behind. SQLite's mode=ro is not used: a read-only connection to a database in WAL
    mode makes its -wal and -shm files and, unable to checkpoint, leaves them when it closes.
    This one opens read-write (read-only where the file is), refuses every write
    (``query_only``), and so removes them on close as the last connection does."""
    connection = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=rw", uri=True,
                                 timeout=timeout, check_same_thread=False)
    connection.execute("PRAGMA query_only = ON")
    return connection


def describe_os_error(exc: OSError) -> str:
    """What went wrong with a file, for one line: the path, the system's words and what to do
    ("public: Not a directory: a part of the path is a file where a directory should be …")."""
    words = exc.strerror or str(exc)
    fix = _FIXES.get(exc.errno or 0)
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{words}" + (f"; {fix}" if fix else "")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically unless the file already holds exactly these bytes; True if written."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data)
    return True


def open_given(path: Path, error: type[Exception], *, what: str = "a file") -> BinaryIO:
    """A file a person named, opened to read its bytes, or ``error`` with one line saying why
    it cannot be."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


def read_text(path: Path, error: type[Exception], *, what: str = "a file",
              hint: str = "save it as UTF-8") -> str:
    """A text file a person gave us (UTF-8; a BOM is fine), or ``error`` with one line naming the
    file — and for bytes that are not UTF-8, the line they are on — and what to do about it."""
    return read_text_in(path, error, what=what, hint=hint)[0]


def read_text_in(path: Path, error: type[Exception], *, what: str = "a file",
                 hint: str = "save it as UTF-8", fallback: str | None = None) -> tuple[str, str]:
    """``read_text``, and for a file that is not UTF-8, its text in the encoding ``fallback``
    names, as the person said their files were saved (Windows-1252): (the text, the encoding it
    was read in when that was ``fallback``, else ""). ``error`` as there, for bytes that are
    neither."""
    with open_given(path, error, what=what) as handle:
        try:
            raw = handle.read()
        except OSError as exc:
            raise error(f"{path}: cannot read: {exc.strerror}") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Notepad's "Unicode"
        try:
            return raw.decode("utf-16"), ""
        except UnicodeDecodeError:
            pass  # a BOM on bytes that are not UTF-16 after all: as any other
    try:
        return raw.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        if fallback is None:
            raise error(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); {hint}"
                        ) from None
    try:
        return raw.decode(fallback), fallback
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}:{line}: neither UTF-8 nor {fallback} text (byte "
                    f"0x{raw[exc.start]:02x}); {hint}") from None


def escapes(path: Path, allowed: Iterable[Path]) -> Path | None:
    """Where ``path`` really is (symbolic links followed) when that is outside every directory
    in ``allowed`` (given resolved); None when it is inside one of them.

    The rule for what publisher reads from a publication: a symbolic link may point anywhere
    inside the publication, never out of it, so that a link committed to the publication's
    repository cannot publish /etc/passwd or the file that holds PUBLISHER_SECRET."""
    real = path.resolve()
    if any(real == root or real.is_relative_to(root) for root in allowed):
        return None
    return real


def linked_folder(link: str, walked: list[Path], allowed: Iterable[Path]) -> tuple[Path, str]:
    """Whether a walk of source folders goes into the folder the symbolic link ``link`` leads
    to: (where it leads, "") to go in, and it is added to ``walked`` (the folders walked whole,
    given resolved); (where it leads, "outside") when that is outside every one of ``allowed``
    (given resolved: the publication), never walked; (where it leads, "walked") when it is,
    holds or lies in a folder of ``walked``: a link back up the tree, a second link to one
    folder. So each file is read once, and a loop never followed."""
    real = Path(os.path.realpath(link))
    if not any(real == root or real.is_relative_to(root) for root in allowed):
        return real, "outside"
    if any(real == tree or real.is_relative_to(tree) or tree.is_relative_to(real)
           for tree in walked):
        return real, "walked"
    walked.append(real)
    return real, ""


def private_target(path: Path, root: Path, private: Iterable[Path] = ()) -> Path | None:
    """Where ``path`` really is (symbolic links followed) when that is a place of the
    publication ``root`` (given resolved) that is never published: a hidden file or folder
    (``.publisher/`` with the ledger, its backups and exports; ``.env``; ``.git``), or one of
    ``private`` (given resolved). None otherwise, and for a path outside ``root`` (``escapes``
    is the rule for those).

    A link that stays inside the publication is followed, so without this rule a link committed
    to ``static/`` could copy the ledger (every subscriber's address, mode 0600) to the web."""
    real = path.resolve()
    if not real.is_relative_to(root):
        return None
    if any(part.startswith(".") for part in real.relative_to(root).parts):
        return real
    if any(real == place or real.is_relative_to(place) for place in private):
        return real
    return None
