"""The idle check: ``publisher build`` and ``publisher run`` with nothing to do, answered in a
few milliseconds instead of loading the sources, the templates and the database layer.

cron calls ``publisher run`` every five minutes and almost every call finds nothing to do; its
cost is then start-up. So when a build or a run changed nothing, found nothing due and had
nothing to say, ``.publisher/cache/idle.json`` records what it read — the *signature* — and what
it printed:

* publisher.toml's bytes;
* the stat signature (size, times, inode) of every file under reviews/, pages/, static/ and
  templates/ (a file written, touched, added or removed changes it), and of every file the
  last build made, as its manifest lists them (``_outputs``);
* the code: publisher's own files and the versions of the installed libraries;
* the ledger, read with one sqlite3 connection: its schema revision, every issue and every
  recorded schedule slot (not subscribers or deliveries: a build never reads them, and a run
  with an issue in progress is never idle);
* the span of time in which the clock changes nothing: from the newest published review to the
  next one scheduled (a review dated in the future is published when the clock reaches it).

The next command computes the same signature and, when it matches, prints what was printed and
exits as the full command did; ``run`` also decides the schedule afresh (a pure function of the
recorded slots and the clock) and is idle only if no slot is due or to be skipped and no issue
is being sent or waits to be. Any difference, and the full command runs and records anew. The
output is signed only once the inputs are found to be the recorded ones: a command whose inputs
changed is not idle whatever its output holds, and need not stat every file of it.

Files changed within the last two seconds before the signature are not trusted to show every
later change in their stat (a coarse file system clock; git calls them "racily clean"): such a
signature is not recorded. Only SQLite ledgers are read here; with any other database every
command takes the full path. This module imports nothing heavy: that is its purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..config import Config
from ..errors import ConfigError
from ..files import linked_folder, read_sqlite, write_atomic
from ..newsletter.schedule import Decision, config_schedule, decide
from .output import _JOURNAL_PREFIX, _STAGING_PREFIX

RECORD_VERSION = 1
#: A file changed less than this before the signature was taken may change again unseen.
RACY_NS = 2_000_000_000

#: Issue states in which a run has work to do or something to report.
_BUSY_STATES = ("sending",)


@dataclass(frozen=True)
class Signature:
    """What a build or run reads, reduced to one digest; ``racy`` when it cannot be trusted."""

    digest: str
    racy: bool
    #: For run: whether any issue is being sent or is a draft composed by a run; the latest
    #: recorded slot (UTC). None when there is no SQLite ledger to read.
    busy: bool | None = None
    last_slot: datetime | None = None
    #: The digest of what a command reads, the output left out: a build that wrote compares
    #: it before and after (``IdleCheck.record_after``).
    inputs: str = ""
    #: False when only the inputs were signed (``digest`` is then empty): they differ from the
    #: record's, so the command is not idle whatever its output holds (``IdleCheck.take``).
    complete: bool = True
    #: The stat rows of reviews/, pages/, static/ and templates/ and the latest ctime among
    #: each's files, by label, as this signature read them (``IdleCheck.record_after``).
    trees: Mapping[str, tuple[str, int]] = field(default_factory=dict, repr=False,
                                                 compare=False)


@dataclass(frozen=True)
class Written:
    """What a build that wrote knows of its output once every file is in place: the units of
    the manifest it wrote, and the stat of the files they list, taken after its commit. The
    signature after it (``IdleCheck.record_after``) is made of these, not of the manifest
    read back and every file stat'ed again (a file that changes after they were taken makes
    the next signature differ: that build then runs in full, as it should)."""

    units: Mapping[str, object]
    stats: Mapping[str, os.stat_result]


@dataclass(frozen=True)
class Answer:
    """What the recorded command printed, to print again."""

    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()
    exit_code: int = 0
    decision: Decision | None = None  # run: the schedule's decision at this ``now``


@dataclass
class IdleCheck:
    """The signature of ``config``'s publication taken now, before any work, for ``kind``
    ("build" or "run"); ``answer()`` replays a matching record, ``record()`` writes one."""

    config: Config
    kind: str
    signature: Signature | None = None
    taken_ns: int = 0
    _records: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def take(cls, config: Config, kind: str, *, whole: bool = False,
             written: Written | None = None,
             trees: Mapping[str, tuple[str, int]] | None = None) -> IdleCheck:
        """The signature now. The output is signed only when the inputs are the recorded
        ones (or ``whole``): it is half the work (a stat of every file the last build made),
        and a command whose inputs changed is not idle whatever its output holds. A record
        that names no inputs (an earlier version's) is compared whole. ``written``: what the
        build just made knows of the output (``Written``); ``trees``: the source trees'
        stat rows as an earlier signature read them (``Signature.trees``), not read again."""
        check = cls(config, kind, taken_ns=time.time_ns())
        check._records = _read_records(config)
        record = check._records.get(kind)
        known = record.get("inputs", "") if isinstance(record, dict) else None

        def output_wanted(inputs: str) -> bool:
            return whole or known == "" or known == inputs

        try:
            check.signature = signature(config, taken_ns=check.taken_ns,
                                        need_ledger=kind == "run", output_if=output_wanted,
                                        written=written, trees=trees)
        except (OSError, sqlite3.Error, ValueError):
            check.signature = None  # anything odd: the full command will say what
        return check

    def answer(self, now: datetime) -> Answer | None:
        """What to print when nothing has changed since the record and nothing is due at
        ``now``; None when the full command must run."""
        sig = self.signature
        record = self._records.get(self.kind)
        if sig is None or sig.racy or not sig.complete or not isinstance(record, dict):
            return None
        if record.get("signature") != sig.digest:
            return None
        if not _within(now, record.get("from"), record.get("until")):
            return None
        stdout = tuple(str(line) for line in record.get("stdout", ()))  # type: ignore[attr-defined]
        stderr = tuple(str(line) for line in record.get("stderr", ()))  # type: ignore[attr-defined]
        if self.kind != "run":
            return Answer(stdout, stderr)
        if sig.busy is not False:
            return None
        try:
            expr, tz, grace = config_schedule(self.config)
        except ConfigError:
            return None
        if sig.last_slot is not None and sig.last_slot > now:
            return None  # recorded while the clock was ahead: the full run decides around it
        decision = decide(expr, tz, now, sig.last_slot, grace, False)
        if decision.slot is not None or decision.skipped:
            return None
        return Answer(stdout, stderr, decision=decision)

    def record(self, *, steady: tuple[datetime | None, datetime | None],
               stdout: list[str] | tuple[str, ...] = (),
               stderr: list[str] | tuple[str, ...] = ()) -> bool:
        """Record that the command changed nothing and printed ``stdout``/``stderr``, valid
        while the clock stays in ``steady`` (from, until). False when the signature cannot be
        trusted or the record cannot be written (nothing is lost: the next run is full)."""
        sig = self.signature
        if sig is None or sig.racy:
            return False
        if not sig.complete:
            # The inputs changed and the command wrote nothing (a review touched, say): the
            # output is signed now, once the inputs are known to be as they were.
            return self.record_after(steady=steady, stdout=stdout, stderr=stderr)
        start, until = steady
        self._records[self.kind] = {
            "signature": sig.digest,
            "inputs": sig.inputs,
            "from": None if start is None else start.astimezone(UTC).isoformat(),
            "until": None if until is None else until.astimezone(UTC).isoformat(),
            "stdout": list(stdout),
            "stderr": list(stderr),
        }
        payload = {"version": RECORD_VERSION, "records": self._records}
        try:
            write_atomic(record_path(self.config), json.dumps(payload, sort_keys=True).encode(),
                         fsync=False)
        except OSError:
            return False
        return True


    def record_after(self, *, steady: tuple[datetime | None, datetime | None],
                     stdout: list[str] | tuple[str, ...] = (),
                     stderr: list[str] | tuple[str, ...] = (),
                     written: Written | None = None) -> bool:
        """After a command that wrote its output (or whose signature before it left the
        output unsigned: ``record``): record that running it again now would print
        ``stdout``/``stderr`` and change nothing, under a signature taken afresh — provided
        nothing it read changed while it ran (a review saved during a build would otherwise
        be recorded as built). ``written``: what the build knows of the output it made
        (``Written``), signed instead of read again. False when not recorded.

        The source trees are not stat'ed again: a file's row holds its ctime, which every
        change moves on and nothing sets back, and a signature with a file changed within
        RACY_NS of it is not recorded. So a row the same before the command and at the next
        signature means a file unchanged in between; one changed while the command ran makes
        the next signature differ from this record as it would from the before one, and that
        command runs in full (10,000 stat calls saved after a first build)."""
        before = self.signature
        if before is None or before.racy:
            return False
        after = IdleCheck.take(self.config, self.kind, whole=True, written=written,
                               trees=before.trees)
        if after.signature is None or after.signature.inputs != before.inputs:
            return False
        return after.record(steady=steady, stdout=stdout, stderr=stderr)


def record_path(config: Config) -> Path:
    return config.paths.cache / "idle.json"


def forget(config: Config) -> None:
    """Drop the records (a command that changed something calls this, so that an older record
    whose signature comes back — a file restored as it was — is not replayed)."""
    try:
        record_path(config).unlink()
    except OSError:
        pass


def _read_records(config: Config) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(record_path(config).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
        return {}
    records = data.get("records")
    return records if isinstance(records, dict) else {}


def _within(now: datetime, start: object, until: object) -> bool:
    try:
        if start is not None and now < datetime.fromisoformat(str(start)):
            return False
        if until is not None and now >= datetime.fromisoformat(str(until)):
            return False
    except ValueError:
        return False
    return True


# --- the signature ------------------------------------------------------------------------------


def signature(config: Config, *, taken_ns: int, need_ledger: bool,
              output_if: Callable[[str], bool] = lambda inputs: True,
              written: Written | None = None,
              trees: Mapping[str, tuple[str, int]] | None = None) -> Signature:
    """The digest of everything a build (or run) reads; see the module's docstring. The
    output is signed only if ``output_if(inputs digest)``; from ``written`` when given. The
    source trees' rows are taken from ``trees`` when given (``IdleCheck.record_after``)."""
    h = hashlib.blake2b(digest_size=20)  # the inputs
    out = hashlib.blake2b(digest_size=20)  # the output
    newest = [0]  # the latest ctime among the inputs

    def add(*parts: object) -> None:
        h.update(repr(parts).encode("utf-8", "surrogatepass"))

    # The stat rows of a tree are hashed as they are: repr() of a few megabytes of text (to
    # escape its NULs) cost as much as the stat calls themselves.
    def add_rows(text: str) -> None:
        h.update(text.encode("utf-8", "surrogatepass"))

    def add_output_rows(text: str) -> None:
        out.update(text.encode("utf-8", "surrogatepass"))

    read: dict[str, tuple[str, int]] = {}
    _sources(config, add, add_rows, newest, trees, read)
    paths = config.paths
    busy, last_slot = _ledger(config, add, need_ledger)
    racy = newest[0] + RACY_NS >= taken_ns
    inputs = h.hexdigest()
    if not output_if(inputs):
        return Signature("", racy, busy, last_slot, inputs, complete=False, trees=read)
    out.update(repr(("output", str(paths.output))).encode("utf-8", "surrogatepass"))
    _outputs(paths.output, paths.build_manifest, paths.state, add_output_rows, written)
    digest = hashlib.blake2b(f"{inputs}|{out.hexdigest()}".encode(), digest_size=20)
    return Signature(digest.hexdigest(), racy, busy, last_slot, inputs, trees=read)


def source_digest(config: Config) -> str:
    """The digest of the code and of what a build reads from the publication's files
    (publisher.toml, reviews/, pages/, static/, templates/): ``publisher preview`` builds again
    when it changes."""
    h = hashlib.blake2b(digest_size=20)
    _sources(config, lambda *parts: h.update(repr(parts).encode("utf-8", "surrogatepass")),
             lambda text: h.update(text.encode("utf-8", "surrogatepass")), None)
    return h.hexdigest()


def _sources(config: Config, add: Callable[..., None], add_rows: Callable[[str], None],
             newest: list[int] | None, known: Mapping[str, tuple[str, int]] | None = None,
             read: dict[str, tuple[str, int]] | None = None) -> None:
    """Add the code, publisher.toml's bytes and the stat rows of reviews/, pages/, static/ and
    templates/ to the digest: each tree's as ``known`` has it, else read now (and put in
    ``read``)."""
    add("code", __version__, sys.version, _code_signature())
    config_path = config.path.resolve()
    add("config", str(config_path), hashlib.sha256(config_path.read_bytes()).hexdigest())
    paths = config.paths
    inside = config.root.resolve()
    for label, root in (("reviews", paths.reviews), ("pages", paths.pages),
                        ("static", paths.static), ("templates", paths.templates)):
        add(label, str(root))
        rows, latest = known[label] if known is not None else _tree(root, inside)
        add_rows(rows)
        if newest is not None and latest > newest[0]:
            newest[0] = latest
        if read is not None:
            read[label] = rows, latest


def _tree(root: Path, inside: Path) -> tuple[str, int]:
    """(relative path, size, mtime, ctime, inode, mode) of every file under ``root``
    (following file symlinks, as the build reads through them, and links to folders inside
    the publication ``inside``, given resolved, each folder once: ``files.linked_folder``),
    one row each, and the latest ctime among them."""
    rows: list[str] = []  # one string hashed at the end: 10,000 files cost ~50 ms, not 150
    latest = 0
    walked: list[Path] = []  # resolved only when a linked folder is met: most trees have none
    stack = [(str(root), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=_name)
        except FileNotFoundError:
            rows.append(f"{prefix}\0missing")
            continue
        except NotADirectoryError:
            rows.append(f"{prefix}\0not a directory")
            continue
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                rows.append(f"{rel}\0dir")
                stack.append((entry.path, rel + "/"))
                continue
            if entry.is_symlink() and entry.is_dir():
                if not walked:
                    walked.append(root.resolve())
                real, why = linked_folder(entry.path, walked, [inside, walked[0]])
                rows.append(f"{rel}\0link {real} {why}")
                if not why:
                    stack.append((entry.path, rel + "/"))
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                rows.append(f"{rel}\0unreadable {exc.errno}")
                continue
            rows.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}"
                        f"\0{st.st_mode}")
            if st.st_ctime_ns > latest:
                latest = st.st_ctime_ns
    return "\n".join(rows), latest


def _outputs(out: Path, manifest: Path, state: Path, add: object,
             written: Written | None = None) -> None:
    """Add the stat signature of every file the last build's manifest lists (a page edited,
    touched or deleted by hand changes it), and what a killed build leaves for the next full
    one to sweep away (staging directories, lists of the new files it wrote). ``written``:
    the manifest and the files' stats as the build that just wrote them has them.

    Not a walk of the whole output: a build reads only its own files there, and the walk
    was most of an idle build's time at 10,000 reviews (10,000 directories to list; a stat
    of each listed file costs a fifth of that)."""
    assert callable(add)
    units: object
    stats: Mapping[str, os.stat_result] = {}
    if written is not None:
        units, stats = written.units, written.stats
    else:
        try:
            units = json.loads(manifest.read_bytes()).get("units")
        except (OSError, ValueError, AttributeError):
            units = None
    rows = [repr(_names(out, (_STAGING_PREFIX,))),
            repr(_names(state, ("staging-", _JOURNAL_PREFIX)))]
    if not isinstance(units, Mapping):
        rows.append("no manifest")
        add("\n".join(rows))
        return
    base = str(out) + os.sep
    # Only the files: what the manifest says they were made from is itself made from the
    # inputs signed above, and a build that renders every unit again and writes nothing (a
    # new publisher version) rewrites those digests, which must not make its record stale.
    for key in sorted(units):
        entry = units[key]
        files = entry.get("files") if isinstance(entry, dict) else None
        rows.append(key)
        for rel in sorted(files) if isinstance(files, dict) else ():
            st = stats.get(rel)
            if st is None:
                try:
                    st = os.stat(base + rel)
                except OSError as exc:
                    rows.append(f"{rel}\0unreadable {exc.errno}")
                    continue
            rows.append(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
                        f"\0{st.st_ino}\0{st.st_mode}")
    add("\n".join(rows))


def _names(directory: Path, prefixes: tuple[str, ...]) -> list[str]:
    try:
        return sorted(name for name in os.listdir(directory) if name.startswith(prefixes))
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"\0unreadable {exc.errno}"]


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


_CODE: list[str] = []


def _code_signature() -> str:
    """publisher's files (stat) and every installed distribution's name and version (the
    .dist-info directory names beside the libraries)."""
    if _CODE:
        return _CODE[0]
    h = hashlib.blake2b(digest_size=16)
    package = Path(__file__).resolve().parent.parent
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{dirpath}/{name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    for entry in sys.path:
        if entry.endswith("-packages") and os.path.isdir(entry):
            names = sorted(n for n in os.listdir(entry) if n.endswith((".dist-info",
                                                                      ".egg-info")))
            h.update(f"{entry}|{'|'.join(names)}\n".encode())
    _CODE.append(h.hexdigest())
    return _CODE[0]


def _ledger(config: Config, add: object,
            need_ledger: bool) -> tuple[bool | None, datetime | None]:
    """Add the ledger's revision, issues and slots to the digest; (busy, latest slot)."""
    assert callable(add)
    database = config.state.database
    if not database.startswith("sqlite:///"):
        raise ValueError("only SQLite ledgers are read by the idle check")
    path = config.resolve(database[len("sqlite:///"):])
    if not path.is_file():
        if need_ledger:
            raise ValueError("no ledger yet: the full run creates it")
        add("ledger", "absent")
        return None, None
    connection = read_sqlite(path)
    try:
        revision = connection.execute("SELECT * FROM alembic_version").fetchall()
        issues = connection.execute("SELECT * FROM issues ORDER BY number").fetchall()
        slots = connection.execute("SELECT * FROM slots ORDER BY slot").fetchall()
        states = connection.execute("SELECT state, slot IS NOT NULL FROM issues").fetchall()
        latest = connection.execute("SELECT max(slot) FROM slots").fetchone()[0]
    finally:
        connection.close()
    add("ledger", str(path), revision, issues, slots)
    # A run delivers issues being sent and drafts a run composed for a slot: never idle then.
    busy = any(state in _BUSY_STATES or (state == "draft" and has_slot)
               for state, has_slot in states)
    last_slot = None if latest is None else datetime.fromisoformat(latest).replace(tzinfo=UTC)
    return busy, last_slot
