"""The run lock: who may send, compose or decide about a publication's deliveries at a time.

With the ledger in SQLite it is a file lock, exclusive: one ``publisher run`` or sending command
at a time (the ledger would keep two from sending twice, but each would report the other's
messages in flight as ambiguous). A file lock only guards one host, so with the ledger in
PostgreSQL the run lock is the database's — a session-level advisory lock, dropped by the
server when its holder's connection dies — taken *shared* by everything that sends (``run``,
``issue send``: any number of workers on any hosts deliver one issue together, each claim under
its lease) and *exclusive* by what decides about deliveries in doubt (``settle-ambiguous``,
``resend-ambiguous``), so nobody settles a delivery some worker still has in flight.
``publisher run`` also keeps the file lock, so that cron runs on one host never pile up behind a
long send. What runs under the lock (``send.deliver``) checks that its caller holds it.

A holder that is alive but stuck (stopped, blocked on a dead NFS mount or a socket) would keep
the lock for ever, every later run stepping aside as if all were well. So the file lock carries
a heartbeat: its holder touches the lock file (its mtime) as it makes progress, each step of a
run and each batch of deliveries, and a run that finds the lock held with no heartbeat for
longer than anything a run waits on raises RunStuck. Progress, not age, since a send paced by
``delivery.rate_limit`` may rightly take days.

The database's lock has the same heartbeat, kept by the server: each beat runs a statement on the
connection holding the lock, and ``pg_stat_activity.state_change`` (by the database's clock, the
same for every host) says when its holder last made progress. A stuck sender on PostgreSQL stops
nobody — the others take its queue when its leases lapse, and what it claimed stays in
``sending`` for it alone to record — so the others and ``check`` name it, to be stopped.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import LockHeld, PublisherError, RunStuck, StoreError
from ..files import describe_os_error, keep_out_of_git

#: The advisory lock's key on PostgreSQL ("pubr"; the ledger's writers use another).
RUN_LOCK = 0x7075_6272

#: The locks this process holds (a resolved path, or the database's URL), and the threads
#: holding each (the database's can be held shared by several, each on its own connection).
_held: dict[object, list[int]] = {}
_held_guard = threading.Lock()

#: A holder silent this long is stuck, unless the config lets one socket wait longer
#: (``stuck_after``). The longest waits of a healthy run are far shorter: one message's pacing at
#: ``rate_limit = 1`` (a minute), a full disk freeing up (five minutes).
STUCK_AFTER = 30 * 60.0
#: How often a holder touches its lock file at most: one utime every few seconds costs nothing.
HEARTBEAT_EVERY = 5.0

#: The run lock files this process holds (resolved path: descriptor) and its last beat.
_beating: dict[Path, int] = {}
_last_beat = 0.0
#: The connections holding the database's run lock in this process (one per holding thread);
#: used by the beat and by their release only, under ``_beat_guard``, never two at a time.
_beating_connections: list[Any] = []
_beat_guard = threading.Lock()


@contextmanager
def _holding(key: object) -> Iterator[None]:
    with _held_guard:
        _held.setdefault(key, []).append(threading.get_ident())
    try:
        yield
    finally:
        with _held_guard:
            holders = _held[key]
            holders.remove(threading.get_ident())
            if not holders:
                del _held[key]


def stuck_after(config: Config) -> float:
    """How long the run lock's holder may go without a heartbeat before it is called stuck:
    STUCK_AFTER, or longer when ``delivery.timeout`` lets one reply take longer (twice it: a
    connection and a reply)."""
    return max(STUCK_AFTER, 2 * config.delivery.timeout)


def heartbeat() -> None:
    """Tell later runs that this process, holding the run lock, is making progress (see the
    module's docstring); at most every HEARTBEAT_EVERY seconds, a no-op without the lock."""
    global _last_beat
    moment = time.monotonic()
    with _held_guard:
        if moment - _last_beat < HEARTBEAT_EVERY or not (_beating or _beating_connections):
            return
        _last_beat = moment
        for fd in _beating.values():
            try:
                os.utime(fd)
            except OSError:
                pass  # a heartbeat missed is no reason to stop a send
    if _beating_connections:
        from sqlalchemy.exc import SQLAlchemyError

        with _beat_guard:  # not _held_guard: a slow server must not hold up holds_lock
            for conn in _beating_connections:
                try:
                    conn.exec_driver_sql("SELECT 1")  # moves the session's state_change on
                except SQLAlchemyError:
                    pass  # as above; a connection lost takes the lock with it anyway


@contextmanager
def run_lock(path: Path, *, stuck_after: float = STUCK_AFTER) -> Iterator[int]:
    """Hold an exclusive flock on ``path`` (created if missing) for the block; yields our pid.

    The kernel drops a flock when its holder dies, so a lock file left by a killed run is simply
    taken over. Raises LockHeld (with the holder's pid when it wrote one) if another process
    holds it, or this one (a second open file description is refused like any other: the lock is
    not re-entrant); RunStuck when that holder has made no progress for ``stuck_after`` seconds.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        keep_out_of_git(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a read-only .publisher/, say: one line, not a traceback
        raise PublisherError(f"cannot take the run lock: {describe_os_error(exc)}") from None
    key = path.resolve()
    try:
        if not _flock_now(fd, fcntl.LOCK_EX):
            raise held_by(path, fd, stuck_after)
        pid = os.getpid()
        os.ftruncate(fd, 0)  # these writes set the first heartbeat (the mtime)
        started = datetime.now().astimezone().isoformat(timespec="seconds")
        os.pwrite(fd, f"{pid}\n{started}\n".encode("ascii"), 0)
        try:
            with _holding(key):
                with _held_guard:
                    _beating[key] = fd
                try:
                    yield pid
                finally:
                    with _held_guard:
                        del _beating[key]
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def held_by(path: Path, fd: int, stuck_after: float) -> LockHeld:
    """LockHeld naming the holder of the lock file open at ``fd``; RunStuck when its last
    heartbeat is older than ``stuck_after`` seconds."""
    pid = _read_pid(fd)
    started = _read_started(fd)
    if pid and not started:
        # The pid alone: a publisher from before the heartbeat holds it (still sending as
        # this one was installed over it). It never beats, so its silence tells nothing, and
        # calling it stuck would have the operator kill a send that is going well.
        return LockHeld(path, pid)
    try:
        beaten = os.fstat(fd).st_mtime
    except OSError:
        return LockHeld(path, pid)
    silent = time.time() - beaten
    if silent <= stuck_after:
        return LockHeld(path, pid)
    last = datetime.fromtimestamp(beaten).astimezone().isoformat(timespec="seconds")
    return RunStuck(path, pid, started=started, last_beat=last,
                    silent_for=_silence(silent))


def _silence(seconds: float) -> str:
    minutes = int(seconds // 60)  # 30 at least
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"


def stuck_holder(config: Config) -> RunStuck | None:
    """The run holding ``config``'s run lock when it is stuck, else None: the lock file's
    holder, looked at as ``file_lock_holder`` does, creating and writing nothing (for
    rehearsals and check); with PostgreSQL, else a stuck holder of the database's lock."""
    with _held_file(config.paths.lock) as fd:
        held = None if fd is None else held_by(config.paths.lock, fd, stuck_after(config))
    if isinstance(held, RunStuck):
        return held
    return stuck_database_holder(config) if _database_key(config) is not None else None


def stuck_database_holder(config: Config) -> RunStuck | None:
    """A holder of the database's run lock (PostgreSQL) that has made no progress for
    ``stuck_after`` seconds, by the server's clock (see the module's docstring), else None —
    also when the database cannot be reached, which ``check`` says on its own line."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..ledger.base import display_url, new_worker_id
    from ..ledger.store import create_ledger_engine, database_url

    try:
        url = database_url(config, create_dir=False)
    except PublisherError:  # a URL refused (a password in it): check says so on its own line
        return None
    engine = create_ledger_engine(config, url, worker=new_worker_id())
    try:
        with engine.connect() as conn:
            row = conn.exec_driver_sql(
                "SELECT a.application_name, a.backend_start, a.state_change, "
                "EXTRACT(EPOCH FROM now() - a.state_change) FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                f"AND l.classid = {RUN_LOCK >> 32} AND l.objid = {RUN_LOCK & 0xFFFF_FFFF} "
                "AND l.objsubid = 1 AND a.state_change < now() - make_interval(secs => "
                f"{float(stuck_after(config))}) ORDER BY a.state_change LIMIT 1").first()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    if row is None:
        return None
    worker, started, beaten, silent = row
    host, _, rest = (worker or "").partition(":")
    pid = rest.partition(":")[0]
    return RunStuck(Path(display_url(url)), int(pid) if pid.isdigit() else None,
                    started=started.astimezone().isoformat(timespec="seconds"),
                    last_beat=beaten.astimezone().isoformat(timespec="seconds"),
                    silent_for=_silence(float(silent)), host=host or "?")


def _database_key(config: Config) -> str | None:
    """The run lock's key when the ledger is in PostgreSQL (its URL as configured), else None.
    Read from the text, so that taking the file lock (an idle cron run) loads no database
    layer."""
    scheme = config.state.database.partition(":")[0].partition("+")[0].strip().lower()
    return config.state.database if scheme in ("postgresql", "postgres") else None


def is_database_locked(config: Config) -> bool:
    """Whether ``config``'s run lock is the database's (the ledger is in PostgreSQL)."""
    return _database_key(config) is not None


@contextmanager
def database_lock(config: Config, *, shared: bool) -> Iterator[int]:
    """Hold the run lock in the publication's PostgreSQL database for the block (shared or
    exclusive, on a connection of its own); yields our pid. Raises LockHeld naming a holder
    when it cannot be had at once, StoreError when the database cannot be reached."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..ledger.base import display_url, new_worker_id
    from ..ledger.store import connect_error, create_ledger_engine, database_url

    key = _database_key(config)
    assert key is not None, "database_lock needs a PostgreSQL ledger"
    url = database_url(config, create_dir=False)
    engine = create_ledger_engine(config, url, worker=new_worker_id())
    try:
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
            got = conn.exec_driver_sql(f"SELECT {take}({RUN_LOCK})").scalar()
            holders = [] if got else _lock_holders(conn)
        except SQLAlchemyError as exc:
            raise StoreError(connect_error(url, exc)) from None
        try:
            if not got:  # a stuck holder is named as such: it will not end by itself
                raise stuck_database_holder(config) or LockHeld(
                    Path(display_url(url)), None, holder=", ".join(holders) or "a worker")
            with _holding(key):
                with _beat_guard:
                    _beating_connections.append(conn)
                try:
                    yield os.getpid()
                finally:
                    with _beat_guard:
                        _beating_connections.remove(conn)
        finally:
            if got:
                # Closing alone frees the lock only when the server has noticed the session
                # end: a settle started right after a send was refused a third of the time.
                give = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
                try:
                    conn.exec_driver_sql(f"SELECT {give}({RUN_LOCK})")
                except SQLAlchemyError:
                    pass  # the connection is gone, and the lock with its session
            conn.close()
    finally:
        engine.dispose()


def _lock_holders(conn: object) -> list[str]:
    """Who holds the run lock: their workers' names (host:pid:nonce)."""
    rows = conn.exec_driver_sql(  # type: ignore[attr-defined]
        "SELECT DISTINCT a.application_name FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        f"AND l.classid = {RUN_LOCK >> 32} AND l.objid = {RUN_LOCK & 0xFFFF_FFFF} "
        "AND l.objsubid = 1 ORDER BY 1")
    return [row[0] or "?" for row in rows]


def publication_lock(config: Config, *, shared: bool = False) -> AbstractContextManager[int]:
    """The run lock of ``config``'s publication: the file lock with SQLite (exclusive whatever
    ``shared`` says: one process sends at a time), the database's with PostgreSQL (``shared``
    for sending beside other workers, exclusive to decide about deliveries in doubt)."""
    if _database_key(config) is not None:
        return database_lock(config, shared=shared)
    return run_lock(config.paths.lock, stuck_after=stuck_after(config))


@contextmanager
def run_locks(config: Config) -> Iterator[int]:
    """What ``publisher run`` holds: the file lock (one run per host: cron never piles runs up
    behind a long send), and with PostgreSQL the database's run lock, shared."""
    with ExitStack() as stack:
        pid = stack.enter_context(run_lock(config.paths.lock, stuck_after=stuck_after(config)))
        if _database_key(config) is not None:
            stack.enter_context(database_lock(config, shared=True))
        yield pid


def holds_lock(config: Config) -> bool:
    """Whether this thread holds the run lock of ``config``'s publication."""
    key = _database_key(config) or config.paths.lock.resolve()
    with _held_guard:
        return threading.get_ident() in _held.get(key, ())


def file_lock_holder(path: Path) -> int | None:
    """The pid of the process holding the run lock file ``path`` (0 when it wrote none), or
    None when nobody holds it (``_held_file``: a dry run changes nothing)."""
    with _held_file(path) as fd:
        return None if fd is None else _read_pid(fd) or 0


@contextmanager
def _held_file(path: Path) -> Iterator[int | None]:
    """A read-only descriptor of the run lock file ``path`` while another process holds it,
    or None when nobody does (or there is no such file); asks the kernel with a shared flock,
    so the lock file is neither created nor written."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield None
        return
    try:
        if _flock_now(fd, fcntl.LOCK_SH):
            fcntl.flock(fd, fcntl.LOCK_UN)
            yield None
        else:
            yield fd
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    """The holder's pid: the lock file's first line."""
    text = _read_lines(fd)[0]
    return int(text) if text.isdigit() else None


def _read_started(fd: int) -> str:
    """When the holder took the lock: the lock file's second line ("" from an older
    publisher, which wrote only the pid)."""
    return _read_lines(fd)[1]


def _read_lines(fd: int) -> tuple[str, str]:
    try:
        text = os.pread(fd, 80, 0).decode("ascii", "replace")
    except OSError:
        return "", ""
    first, _, rest = text.partition("\n")
    return first.strip(), rest.partition("\n")[0].strip()


def _flock_now(fd: int, operation: int) -> bool:
    """``operation`` (LOCK_EX or LOCK_SH) taken on ``fd`` without waiting; False when another
    process holds the lock."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True
