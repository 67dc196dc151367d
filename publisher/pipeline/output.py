"""The output directory, changed all-or-nothing as a reader sees it.

A build first *stages* every file it changes — the new bytes in a staging directory, new
directories created empty — and only when every file is staged does it *commit*: each staged
file is renamed over its target, then the files the build no longer makes are removed. Staging
is where a build can fail (a full disk, a read-only mount, an unreadable static file, a kill):
then the staged files are removed and the output is exactly as it was. Renaming needs no space,
so a commit that starts finishes; a stop signal waits for it (``signals.stops_held``).

Why not build a whole new tree beside the old one and swap the two? That needs the output
directory's parent to be writable and on the same file system, and it rewrites (or hard-links)
every file on every build; a static site is often served from a mount point or a directory
owned by another tool, and thousands of unchanged pages should keep their inode and mtime for
rsync and CDNs. The commit here instead orders its renames so that a reader never follows a
link to a page that is not there yet: files that are linked to (static files, review pages,
archives) go in before the pages and feeds that link to them (indexes, the home page, the
sitemap), and removed files go last, once nothing links to them. A reader who loads pages
during the few milliseconds of a commit sees old pages and new ones, each complete, with every
link landing.

A few staged files are fsync'ed before they go in; many are not (see ``Output._flush``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Set
from dataclasses import dataclass
from pathlib import Path

from ..errors import PublisherError
from ..files import describe_os_error, keep_out_of_git, write_all
from ..signals import stops_held

#: Staged files are fsync'ed one by one up to this many; a bigger build is not flushed.
FSYNC_EACH = 32
_STAGING_PREFIX = ".publisher-staging-"
_JOURNAL_PREFIX = "new-files-"


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _write_new(path: Path | str, data: bytes) -> None:
    # os.open and os.write: three system calls a file where open() makes eight, which counts
    # when a first build writes ten thousand pages.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        if _UMASK & 0o644:  # a strict umask (077, say): the site is still readable
            os.fchmod(fd, 0o644)
        write_all(fd, data)
    finally:
        os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _make_dir(path: Path | str) -> None:
    """One directory of the site, 0755 whatever the umask: a file of 0644 in a directory of
    0700 (umask 077) is still out of the web server's reach."""
    os.mkdir(path, 0o755)
    if _UMASK & 0o755:
        os.chmod(path, 0o755)


def open_dirs(out: Path, files: Iterable[str]) -> None:
    """Give ``out`` and every directory holding one of ``files`` (paths under it) the 0755
    that ``_make_dir`` gives a new one. Builds before it did made them under the umask (0700
    under 077), and a page that does not change is never written again: without this the
    web server would read none of it until the operator deleted the site. Only bits are
    added, and a directory we may not change (another owner's mount point) is left as it is."""
    dirs = {""}
    for rel in files:
        parent = rel.rpartition("/")[0]
        while parent not in dirs:
            dirs.add(parent)
            parent = parent.rpartition("/")[0]
    for rel in dirs:
        path = os.path.join(out, rel) if rel else str(out)
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o755 != 0o755:
                os.chmod(path, mode | 0o755)


class OutputError(PublisherError):
    """The output directory cannot be written; nothing in it was changed."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    return exc.strerror or str(exc)


class Output:
    """Stage files for ``out`` (``put``, ``copy``, ``remove``), then ``commit`` — or
    ``abort`` (also what leaving a ``with`` block by an exception does). ``state`` is
    publisher's own directory: staging happens there when it can rename into ``out`` (same
    mount), else in a hidden directory inside ``out``. Raises OutputError."""

    def __init__(self, out: Path, state: Path, *, label: str = "") -> None:
        self.out = out
        self.state = state
        self.label = label or str(out)
        self._staging: Path | None = None
        self._staged: list[tuple[int, str, Path]] = []  # (rank, relative path, staged file)
        self._fresh: list[str] = []  # files that did not exist, written where they go
        self._journal: int | None = None  # the list of those files, open for appending
        self._journal_path: Path | None = None
        self._no_journal = False
        self._removals: list[str] = []
        # Directories made under out, deepest last: their paths as strings (a Path each cost
        # more than the mkdir's own Python, ten thousand times in a first build).
        self._created: list[str] = []
        self._dirs: set[str] = {""}  # directories under out known to exist (relative)
        self._base = str(out) + os.sep
        self._count = 0
        self._out_ready = False
        # What forked workers staged and wrote (``adopt``): their staging directories and
        # their lists of new files, undone with this Output's own.
        self._adopted_staging: list[Path] = []
        self._adopted_journals: list[Path] = []

    def __enter__(self) -> Output:
        return self

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if kind is not None:
            self.abort()

    # -- staging ---------------------------------------------------------------------------

    def _fail(self, exc: OSError, path: Path) -> OutputError:
        """Undo everything staged; the error for one line: the output file that could not be
        written (not a staging name), the system's words and what to do."""
        self.abort()
        return OutputError(describe_os_error(OSError(exc.errno, exc.strerror, str(path))))

    def make_out(self) -> None:
        """The output directory itself, made on the first write."""
        if self._out_ready:
            return
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            _make_dir(self.out)
        except FileExistsError:
            if not self.out.is_dir():
                raise OutputError(f"{self.label}: exists and is not a directory; move it away "
                                  "or set output_dir to another path") from None
        except OSError as exc:
            raise self._fail(exc, self.out) from None
        self._out_ready = True

    def _staging_dir(self, rel: str = "") -> Path:
        """The staging directory, made on first use; ``rel`` is the file about to be staged
        (named if the output cannot be written at all)."""
        if self._staging is not None:
            return self._staging
        self.make_out()
        self._staging = self._make_staging(self.out / rel)
        return self._staging

    def _make_staging(self, first: Path) -> Path:
        """A fresh staging directory from which a rename lands in ``out``: under the state
        directory when that is on the same mount, else inside ``out`` itself. ``first`` is
        the output file about to be written, for the message when nothing can be."""
        try:
            self.state.mkdir(parents=True, exist_ok=True)
            candidate = Path(tempfile.mkdtemp(prefix="staging-", dir=self.state))
        except OSError:
            candidate = None
        if candidate is not None:
            probe = candidate / "probe"
            target = self.out / f"{_STAGING_PREFIX}probe-{os.getpid()}"
            try:
                probe.write_bytes(b"")
                os.rename(probe, target)
                os.unlink(target)
                return candidate
            except OSError as exc:
                shutil.rmtree(candidate, ignore_errors=True)
                if exc.errno not in (errno.EXDEV, errno.EACCES, errno.EPERM):
                    raise self._fail(exc, first) from None
        try:
            return Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=self.out))
        except OSError as exc:
            raise self._fail(exc, first) from None

    def _parent(self, rel: str) -> bool:
        """Create the directories ``rel`` needs under out (remembered, to undo on abort); True
        when its own directory was made now (so ``rel`` cannot exist yet).

        One mkdir for a new directory, and nothing for a directory seen before: a first build
        makes ten thousand, and a stat before each was a fifth of what writing a page cost."""
        parent = rel.rpartition("/")[0]
        if parent in self._dirs:
            return False
        made = self._mkdir(parent)
        return made

    def _mkdir(self, rel: str) -> bool:
        """Make out/rel and any missing parent; True if out/rel itself was made."""
        path = self._base + rel
        self._created.append(path)  # before it is made, as a new file is (``put``)
        try:
            _make_dir(path)
        except FileExistsError:
            self._created.pop()
            if not os.path.isdir(path):
                raise OutputError(f"{self.label}: {rel} exists and is not a directory; move "
                                  "it away") from None
            self._dirs.add(rel)
            return False
        except FileNotFoundError:
            self._created.pop()
            up = rel.rpartition("/")[0]
            if up in self._dirs:
                raise  # out/up was there a moment ago: not ours to fix
            self._mkdir(up)
            return self._mkdir(rel)
        except OSError:
            self._created.pop()
            raise
        self._dirs.add(rel)
        return True

    def _stage_path(self, rel: str) -> Path:
        self._count += 1
        return self._staging_dir(rel) / str(self._count)

    def _note_fresh(self, rel: str) -> bool:
        """Write down ``rel`` in the list of files this build creates where they go (read by
        the next build's ``sweep`` if this one is killed); False when there is nowhere to
        write it, and the file is then staged like any other."""
        if self._journal is None:
            if self._no_journal:
                return False
            try:
                self.state.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=_JOURNAL_PREFIX, suffix=".txt",
                                            dir=self.state)
            except OSError:
                self._no_journal = True
                return False
            self._journal, self._journal_path = fd, Path(name)
        os.write(self._journal, (rel + "\n").encode("utf-8", "surrogateescape"))
        return True

    def _close_journal(self) -> None:
        if self._journal is not None:
            os.close(self._journal)
            self._journal = None

    def put(self, rel: str, data: bytes, rank: int = 5) -> bool:
        """Stage ``data`` for ``out/rel`` unless the file already holds exactly these bytes;
        True if staged. ``rank`` orders the commit: lower goes in first.

        A file that does not exist yet is written where it goes at once (no page links to it
        before the commit, and ``abort`` removes it): on a first build that halves the
        directory operations, the slowest part of writing ten thousand pages."""
        target = self._base + rel
        self.make_out()
        try:
            fresh_dir = self._parent(rel)
        except OSError as exc:
            raise self._fail(exc, self.out / rel) from None
        exists = False
        if not fresh_dir:
            try:
                st = os.stat(target)
            except (FileNotFoundError, NotADirectoryError):
                pass
            except OSError as exc:
                raise self._fail(exc, self.out / rel) from None
            else:
                exists = True
                try:
                    if st.st_size == len(data) and _read(target) == data:
                        return False
                except OSError as exc:
                    raise self._fail(exc, self.out / rel) from None
        try:
            if not exists and self._note_fresh(rel):
                # Listed before it is made: a signal that lands the moment after the file is
                # created must not leave it where ``abort`` does not look.
                self._fresh.append(rel)
                _write_new(target, data)
                return True
            staged = self._stage_path(rel)
            _write_new(staged, data)
        except OSError as exc:
            raise self._fail(exc, self.out / rel) from None
        self._staged.append((rank, rel, staged))
        return True

    def copy(self, rel: str, source: Path, rank: int = 0) -> None:
        """Stage a copy of ``source`` for ``out/rel``."""
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed below, after the copy
        except OSError as exc:
            self.abort()
            raise OutputError(f"static/{rel}: cannot read: {_reason(exc)}") from None
        staged = self._stage_path(rel)
        try:
            with src:
                self._parent(rel)
                fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                with open(fd, "wb") as dst:
                    if _UMASK & 0o644:
                        os.fchmod(fd, 0o644)
                    shutil.copyfileobj(src, dst, 1 << 20)
        except OSError as exc:
            raise self._fail(exc, self.out / rel) from None
        self._staged.append((rank, rel, staged))

    def remove(self, rel: str) -> None:
        """Remove ``out/rel`` when committing (after every new file is in place)."""
        self._removals.append(rel)

    @property
    def pending(self) -> bool:
        return bool(self._staged or self._fresh or self._removals)

    # -- sharing the work with forked processes --------------------------------------------

    def for_worker(self) -> Output:
        """In a forked worker: an Output of its own for the same directory (its own staging
        directory and list of new files), to hand back with ``handover``."""
        worker = Output(self.out, self.state, label=self.label)
        worker._dirs = set(self._dirs)
        worker._out_ready = self._out_ready
        return worker

    def handover(self) -> Handover:
        """In the worker, once it has staged everything: what ``adopt`` takes on."""
        self._close_journal()
        return Handover(staged=self._staged, fresh=self._fresh, created=self._created,
                        dirs=self._dirs, staging=self._staging, journal=self._journal_path)

    def adopt(self, work: Handover) -> None:
        """Take on what a worker staged: committed or undone with this Output's own files."""
        self._staged.extend(work.staged)
        self._fresh.extend(work.fresh)
        self._created.extend(work.created)
        self._dirs |= work.dirs
        if work.staging is not None:
            self._adopted_staging.append(work.staging)
        if work.journal is not None:
            self._adopted_journals.append(work.journal)

    # -- committing ------------------------------------------------------------------------

    def commit(self) -> tuple[list[str], list[str]]:
        """Put every staged file in place, then remove what is to go; (written, removed),
        the files written in commit order (the new ones, already in place, first). A stop
        signal waits until it is done (milliseconds): stopped half way, the site would be
        neither the old one nor the new."""
        with stops_held():
            return self._commit()

    def _commit(self) -> tuple[list[str], list[str]]:
        try:
            self._flush()
        except OSError as exc:
            raise self._fail(exc, self.out) from None
        written: list[str] = sorted(self._fresh)
        try:
            for _rank, rel, staged in sorted(self._staged, key=lambda s: (s[0], s[1])):
                os.replace(staged, self.out / rel)
                written.append(rel)
        except OSError as exc:
            # Not expected (a rename needs no space): say plainly what state the output is in.
            self._discard()
            raise OutputError(f"{self.label}: {_reason(exc)} while putting the new files in "
                              f"place; {len(written) - len(self._fresh)} of "
                              f"{len(self._staged)} were; run the build again") from None
        removed = []
        for rel in sorted(self._removals):
            try:
                (self.out / rel).unlink()
                removed.append(rel)
            except FileNotFoundError:
                pass
            except OSError:
                continue  # left in place; the next build tries again
            self._prune((self.out / rel).parent)
        self._staged.clear()
        self._fresh.clear()
        self._removals.clear()
        self._created.clear()
        self._discard()
        self.close()  # every new file is in place: nothing for a sweep to undo
        return written, removed

    def close(self) -> None:
        """Forget the list of the new files written where they go."""
        self._close_journal()
        if self._journal_path is not None:
            with contextlib.suppress(OSError):
                self._journal_path.unlink()
            self._journal_path = None
        for journal in self._adopted_journals:
            with contextlib.suppress(OSError):
                journal.unlink()
        self._adopted_journals.clear()

    def _flush(self) -> None:
        """Make a small set of written files durable before they replace the old ones. A big
        one (a first build, a new template) is not flushed: thousands of fsyncs, or a syncfs
        of hundreds of megabytes, would cost seconds; the build manifest records each file's
        size and mtime, so a file a crash left short is rendered again by the next build."""
        # Counted before any path is made: a first build writes ten thousand files, and the
        # paths of them all took longer than the rest of the commit.
        if not 0 < len(self._staged) + len(self._fresh) <= FSYNC_EACH:
            return
        paths = [staged for _rank, _rel, staged in self._staged]
        paths += [self.out / rel for rel in self._fresh]
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _prune(self, directory: Path) -> None:
        """Remove ``directory`` and its parents up to ``out`` while they are empty."""
        while directory != self.out and self.out in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    # -- giving up -------------------------------------------------------------------------

    def _discard(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
        for staging in self._adopted_staging:
            shutil.rmtree(staging, ignore_errors=True)
        self._adopted_staging.clear()

    def abort(self) -> None:
        """Forget everything staged: staged files, files written new and the directories
        made for them go."""
        self._discard()
        for rel in self._fresh:
            with contextlib.suppress(OSError):
                (self.out / rel).unlink()
        self._fresh.clear()
        self.close()
        # Deepest first: workers' directories interleave (one may have made reviews/ and
        # another reviews/a-film/).
        for directory in sorted(self._created, key=lambda d: d.count(os.sep), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        self._staged.clear()
        self._removals.clear()
        self._created.clear()


@dataclass(frozen=True)
class Handover:
    """What a forked worker staged for an Output (``Output.handover``, ``Output.adopt``)."""

    staged: list[tuple[int, str, Path]]
    fresh: list[str]
    created: list[str]
    dirs: set[str]
    staging: Path | None
    journal: Path | None


def sweep(out: Path, state: Path, recorded: Set[str] = frozenset()) -> None:
    """Remove what a build killed before its commit left behind (called under the build
    lock): its staging directories, and the new files it wrote where they go that the last
    build's manifest (``recorded``) does not list."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(state):
            if entry.name.startswith("staging-") and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            elif entry.name.startswith(_JOURNAL_PREFIX):
                _undo_journal(Path(entry.path), out, recorded)
    with contextlib.suppress(OSError):
        for entry in os.scandir(out):
            if entry.name.startswith(_STAGING_PREFIX):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def _undo_journal(journal: Path, out: Path, recorded: Set[str]) -> None:
    try:
        names = journal.read_bytes().decode("utf-8", "surrogateescape").splitlines()
    except OSError:
        return
    for rel in sorted(set(names), reverse=True):
        if not rel or rel in recorded or ".." in rel.split("/") or rel.startswith("/"):
            continue
        path = out / rel
        with contextlib.suppress(OSError):
            path.unlink()
        directory = path.parent
        while directory != out and out in directory.parents:  # the directories made for it
            try:
                directory.rmdir()
            except OSError:
                break
            directory = directory.parent
    with contextlib.suppress(OSError):
        journal.unlink()


@contextlib.contextmanager
def build_lock(state: Path) -> Iterator[None]:
    """One build at a time per publication (a hand-run ``publisher build`` while cron's run
    builds waits for it): an flock on ``.publisher/build.lock``, released with the process."""
    try:
        state.mkdir(parents=True, exist_ok=True)
        keep_out_of_git(state)
        fd = os.open(state / "build.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise OutputError(f"{state}: cannot create the build lock: {_reason(exc)}; publisher "
                          "needs to write to its .publisher directory") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
