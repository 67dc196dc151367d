"""Many sources parsed in forked processes, this one among them.

A cold load of 10,000 reviews is about 2 s of parsing. A pool of workers left the loading
process waiting, pickled the jobs and the config on the way in, and every batch's results
went through the pool's pipes to be unpickled by the parent. Here children forked once the jobs
are listed inherit them and the config, and the parent parses too. The batches are handed out
through a pipe holding their indexes (``cores.ShareQueue``): whoever is free reads the next, so
a process that started late or was slowed down takes fewer. Each process pickles what it parsed
once, and stores it as a chunk of the parse cache (``cache.py``); a child sends the same bytes
back through its own pipe.

A child that cannot be forked, fails or dies sends nothing (or half a message): the parent
parses the batches it did not hear about itself, so the result — every problem in every source
included — is what a load in one process makes; a bug in the parser is then raised here, with
its traceback.

A child that has sent its results may go on with other work the caller gives it
(``afterwards``), while this process, alone, goes on with what needs every result: a build
plans for a few tenths of a second with the other core idle, and a child renders the bodies
it parsed meanwhile (sources/catalog.py). ``Meanwhile.collect`` tells such children to stop
and takes what each made; a child that fails or dies there made nothing, and nothing is lost:
what it would have made is made later, where it is needed, as without it.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cores import ShareQueue, die_with, end_children
from ..files import write_all
from .cache import Entry, Job, write_chunk

#: What a child does once it has sent its entries: given them and a function that tells
#: whether it has been asked to stop (asked often: it stops promptly), it returns what it made,
#: which must pickle.
Afterwards = Callable[[list[Entry], Callable[[], bool]], object]


class Meanwhile:
    """The children still working (``Afterwards``) after a shared load: ``collect`` asks them
    to stop and returns what each made; ``close`` ends those not collected, unheard (call it
    in a ``finally``)."""

    def __init__(self) -> None:
        self._children: list[tuple[int, int]] = []  # (pid, read end of its pipe)
        self._stops: list[int] = []  # the write ends of the pipes whose end tells them to stop

    def add(self, pid: int, read: int, stop: int) -> None:
        self._children.append((pid, read))
        self._stops.append(stop)

    def collect(self) -> list[Any]:
        """What each child made, in the order they were added (a child that failed or died
        made nothing and is left out). Each is told to stop at once: it sends what it has."""
        self._tell_stop()
        failed = True
        try:
            made = [message for _pid, read in self._children
                    if (message := _receive(read)) is not None]
            failed = False
        finally:
            end_children(self._children, kill=failed)
        return made

    def close(self) -> None:
        """End the children not collected, unheard."""
        self._tell_stop()
        end_children(self._children, kill=True)

    def _tell_stop(self) -> None:
        while self._stops:
            with contextlib.suppress(OSError):
                os.close(self._stops.pop())  # the end of that pipe is the word to stop


@dataclass
class SharedLoad:
    """What a shared load made: the entries stored in new chunks of the cache, those chunks'
    names, and the entries parsed here that no chunk holds (the caller stores them); the
    children still at work on ``afterwards``."""

    stored: list[Entry] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    unstored: list[Entry] = field(default_factory=list)
    meanwhile: Meanwhile = field(default_factory=Meanwhile)


def load_shared(batches: Sequence[list[Job]], load: Callable[[list[Job]], list[Entry]],
                children: int, chunk_dir: Path | None,
                afterwards: Afterwards | None = None) -> SharedLoad:
    """Every batch loaded with ``load``, here and in up to ``children`` forked processes; each
    process's entries stored as one chunk in ``chunk_dir`` (None: not stored). Children that
    sent their entries then run ``afterwards`` on them until the caller collects what they
    made (``SharedLoad.meanwhile``)."""
    queue = ShareQueue(len(batches), first=children + 1)
    forked: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    stops: dict[int, int] = {}  # pid: the write end of the pipe whose end tells it to stop
    result = SharedLoad()
    done: set[int] = set()
    unforked: list[int] = []  # processes that could not be forked: their shares are done here
    parent = os.getpid()
    failed = True
    try:
        for k in range(1, children + 1):
            read, write = os.pipe()
            stop_read, stop_write = os.pipe() if afterwards is not None else (-1, -1)
            try:
                pid = os.fork()
            except OSError:  # no process to be had (a limit, no memory): more is done here
                for fd in (read, write, stop_read, stop_write):
                    if fd >= 0:
                        os.close(fd)
                unforked = list(range(k, children + 1))
                break
            if pid == 0:  # the child: never returns
                os.close(read)
                for fd in [stop_write, *stops.values()]:  # the parent's, to tell the others
                    if fd >= 0:
                        os.close(fd)
                die_with(parent)
                _child(batches, load, queue.claims(k), write, chunk_dir,
                       None if afterwards is None else (afterwards, stop_read))
            os.close(write)
            if afterwards is not None:
                os.close(stop_read)
                stops[pid] = stop_write
            forked.append((pid, read))
        taken, entries = _take(batches, load, queue.claims(0, *unforked))
        done.update(taken)
        _store(result, entries, chunk_dir)
        while forked:
            pid, read = forked[0]
            message = _receive(read)
            if message is not None and pid in stops:
                # Its entries are whole: it goes on with ``afterwards`` until collected.
                del forked[0]
                result.meanwhile.add(pid, read, stops.pop(pid))
            else:
                _pid, status = os.waitpid(pid, 0)
                del forked[0]  # waited for: its pid is no longer ours to kill
                os.close(read)
                if message is None or status != 0:
                    continue  # its batches are among those not done
            taken, name, blob = message
            done.update(taken)
            _keep(result, pickle.loads(blob), name)
        failed = False
    finally:
        queue.close()
        for stop in stops.values():
            os.close(stop)
        end_children(forked, kill=failed)
        if failed:
            result.meanwhile.close()
    for index in range(len(batches)):
        if index not in done:  # a child's that never came back
            result.unstored.extend(load(batches[index]))
    return result


def _take(batches: Sequence[list[Job]], load: Callable[[list[Job]], list[Entry]],
          claims: Iterator[int]) -> tuple[list[int], list[Entry]]:
    """Load the batches this process claims: their indexes and their entries."""
    taken: list[int] = []
    entries: list[Entry] = []
    for index in claims:
        entries.extend(load(batches[index]))
        taken.append(index)
    return taken, entries


def _store(result: SharedLoad, entries: list[Entry], chunk_dir: Path | None) -> None:
    _keep(result, entries,
          write_chunk(chunk_dir, entries) if chunk_dir is not None and entries else None)


def _keep(result: SharedLoad, entries: list[Entry], chunk: str | None) -> None:
    """``entries`` in ``result``: stored in the cache as ``chunk``, or not stored (None)."""
    if chunk is None:
        result.unstored.extend(entries)
    else:
        result.stored.extend(entries)
        result.chunks.append(chunk)


def _child(batches: Sequence[list[Job]], load: Callable[[list[Job]], list[Entry]],
           claims: Iterator[int], write: int, chunk_dir: Path | None,
           afterwards: tuple[Afterwards, int] | None) -> None:
    code = 1
    try:
        taken, entries = _take(batches, load, claims)
        blob = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
        name = write_chunk(chunk_dir, entries, blob) if chunk_dir is not None else None
        _send(write, (taken, name, blob))
        if afterwards is not None:
            work, stop = afterwards

            def stopped() -> bool:
                return bool(select.select([stop], [], [], 0)[0])

            # Sent once asked to stop (or done): the pipe holds 64 KiB, and the parent
            # reads nothing before it asks.
            _send(write, work(entries, stopped))
        code = 0
    finally:
        # Whatever went wrong (a bug, a signal), the parent loads this child's batches itself
        # (or, after they were sent, makes later what ``afterwards`` would have made); no exit
        # handlers, no flushing of buffers: they are the parent's.
        os._exit(code)


def _send(write: int, message: object) -> None:
    """``message`` pickled, after its length (8 bytes): a reader can tell it is whole."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    write_all(write, len(data).to_bytes(8, "little"))  # apart: no copy of a message of MBs
    write_all(write, data)


def _receive(read: int) -> Any:
    """The next message on ``read`` (``_send``), or None when the child stopped before
    sending it whole."""
    head = _read_exactly(read, 8)
    if head is None:
        return None
    data = _read_exactly(read, int.from_bytes(head, "little"))
    if data is None:
        return None
    try:
        return pickle.loads(data)
    except Exception:  # noqa: BLE001 - not expected from a whole message: taken as none
        return None


def _read_exactly(read: int, size: int) -> bytes | None:
    chunks = []
    while size > 0:
        chunk = os.read(read, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
