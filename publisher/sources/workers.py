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
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..cores import ShareQueue, die_with, end_children
from .cache import Entry, Job, write_chunk


@dataclass
class SharedLoad:
    """What a shared load made: the entries stored in new chunks of the cache, those chunks'
    names, and the entries parsed here that no chunk holds (the caller stores them)."""

    stored: list[Entry] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)
    unstored: list[Entry] = field(default_factory=list)


def load_shared(batches: Sequence[list[Job]], load: Callable[[list[Job]], list[Entry]],
                children: int, chunk_dir: Path | None) -> SharedLoad:
    """Every batch loaded with ``load``, here and in up to ``children`` forked processes; each
    process's entries stored as one chunk in ``chunk_dir`` (None: not stored)."""
    queue = ShareQueue(len(batches), first=children + 1)
    forked: list[tuple[int, int]] = []  # (pid, read end of its pipe)
    result = SharedLoad()
    done: set[int] = set()
    unforked: list[int] = []  # processes that could not be forked: their shares are done here
    parent = os.getpid()
    failed = True
    try:
        for k in range(1, children + 1):
            read, write = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no process to be had (a limit, no memory): more is done here
                os.close(read)
                os.close(write)
                unforked = list(range(k, children + 1))
                break
            if pid == 0:  # the child: never returns
                os.close(read)
                die_with(parent)
                _child(batches, load, queue.claims(k), write, chunk_dir)
            os.close(write)
            forked.append((pid, read))
        taken, entries = _take(batches, load, queue.claims(0, *unforked))
        done.update(taken)
        _store(result, entries, chunk_dir)
        while forked:
            pid, read = forked[0]
            message = _receive(read)
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
        end_children(forked, kill=failed)
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
           claims: Iterator[int], write: int, chunk_dir: Path | None) -> None:
    code = 1
    try:
        taken, entries = _take(batches, load, claims)
        blob = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
        name = write_chunk(chunk_dir, entries, blob) if chunk_dir is not None else None
        message = pickle.dumps((taken, name, blob), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(message)
        while view:
            view = view[os.write(write, view):]
        code = 0
    finally:
        # Whatever went wrong (a bug, a signal), the parent loads this child's batches itself;
        # no exit handlers, no flushing of buffers: they are the parent's.
        os._exit(code)


def _receive(read: int) -> tuple[list[int], str | None, bytes] | None:
    """A child's message, or None when it stopped before sending it whole."""
    chunks = []
    while chunk := os.read(read, 1 << 20):
        chunks.append(chunk)
    try:
        message: tuple[list[int], str | None, bytes] = pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001 - nothing, or half a message: the child died sending it
        return None
    return message
