"""Rendering a build's units and staging their files: in this process, or — for a big build —
shared among forked workers (``forked.run_forked``), all or nothing either way.

A *unit* is something a build makes (a feed's three files, a month's archive, a review's
page, …): ``plan.py`` plans them, ``build.py`` picks those the last build's record
(``manifest.py``) does not vouch for, and this module renders those into an ``output.Output``.
A first build of 10,000 reviews, a new template or a new review that shifts every index page
renders thousands of units: then each core takes a share (measured in bench/README.md, "The
third speed round").
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Protocol

from ..cores import MAX_SHARES, ShareQueue
from ..errors import PublisherError
from .forked import run_forked
from .output import Handover, Output

#: A build with at least this many units to render shares them among forked workers (one per
#: core: cores.default_workers; bench/README.md); a smaller one renders them in its own
#: process, where a fork would cost more than it saves.
PARALLEL_UNITS = 300

# Commit order (output.Output): what is linked to goes in before what links to it.
RANK_STATIC, RANK_LEAF, RANK_FEED, RANK_INDEX, RANK_HOME, RANK_MAP = 0, 1, 2, 3, 4, 5


@dataclass
class Unit:
    """Something a build makes: ``render()`` gives its files (path → bytes). ``inputs`` is a
    digest of what it is made from; None for units cheap enough to render every time (their
    bytes are still compared before anything is written). ``rank`` orders the commit;
    ``topic`` marks subscription feeds (what a WebSub hub hears about)."""

    key: str
    rank: int
    inputs: str | None
    render: Callable[[], dict[str, bytes]]
    topic: bool = False
    #: Units with the same shard read the same reviews' bodies (a month's archive and the
    #: pages of its reviews): a build shared among workers gives them to the same one.
    shard: int | None = None


class Sharing(Protocol):
    """What a shared rendering needs of the plan besides its units (``plan.Planner``): what
    a worker learns while rendering that the build keeps (warnings, posters' sizes, derived
    summaries, list items) goes back to the parent process."""

    def snapshot(self) -> Any:
        """Before forking: what a worker's ``handback`` is measured from."""

    def handback(self, since: Any) -> Any:
        """In a worker, after its share: what it learnt (picklable)."""

    def take(self, handed: Any) -> None:
        """In the parent: what a worker handed back."""

    def settle(self) -> None:
        """In the parent, after its own share of a wave."""


def safe_relpath(rel: str) -> str:
    """``rel`` as a relative POSIX path of a file, refused (PublisherError) if it is not one."""
    # The plan's own paths are already in their normal form: a path that starts with neither
    # "/" nor ".", ends with no "/", and holds neither "//" nor "/." has no empty, "." or ".."
    # part, so it is what the full check returns (a PurePosixPath cost a first build of
    # 10,000 reviews ~0.1 s of CPU). Anything else takes the full check.
    if rel and rel[0] not in "/." and rel[-1] != "/" and "//" not in rel and "/." not in rel:
        return rel
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts or rel.endswith("/"):
        raise PublisherError(f"refusing to write {rel!r}: not a relative file path")
    return p.as_posix()


#: What rendering one unit gave: its key, its files, how many of them were unchanged on disk.
Rendered = tuple[str, list[str], int]


def _render(units: Sequence[Unit], output: Output) -> Iterator[Rendered]:
    """Render ``units`` one at a time, in this process, and stage their files into
    ``output``."""
    for unit in units:
        made = unit.render()
        files, same = [], 0
        for rel, data in made.items():
            rel = safe_relpath(rel)
            files.append(rel)
            if not output.put(rel, data, unit.rank):
                same += 1
        yield unit.key, files, same


def render_units(units: Sequence[Unit], output: Output, sharing: Sharing,
                 workers: int) -> Iterator[Rendered]:
    """Render ``units`` and stage their files into ``output``, shared among ``workers``
    forked processes when there are many.

    In two waves: the units with a shard (a month's archive and its reviews' pages: what
    reads the reviews' bodies), then the rest (indexes, feeds, …), whose cards need every
    review's summary — for a review that gives none, an excerpt of its body, which the first
    wave computed and handed back. So each body is rendered once, by one worker. Measured at
    10,000 reviews on two cores: see bench/README.md."""
    # Rendering makes many short-lived objects and no cycles worth collecting, while the
    # collector's passes walk the whole plan and catalogue (and, in a forked worker, copy
    # every page they touch): measured at 10,000 reviews, a cold build spent about a second
    # of CPU in them. Paused for the build, and what exists now frozen (gc.freeze: a fork
    # inherits that); thawed after, unless a big catalogue was frozen already when it was
    # loaded (sources/catalog.py), which stays out of the collector's sight as it was.
    enabled = gc.isenabled()
    thaw = gc.get_freeze_count() == 0
    gc.disable()
    gc.freeze()
    try:
        yield from _render_waves(units, output, sharing, workers)
    finally:
        if thaw:
            gc.unfreeze()
        if enabled:
            gc.enable()


def _render_waves(units: Sequence[Unit], output: Output, sharing: Sharing,
                  workers: int) -> Iterator[Rendered]:
    if workers < 2 or len(units) < PARALLEL_UNITS:
        yield from _render(units, output)
        return
    output.make_out()  # before the fork, so that workers do not race to make it
    for wave in ([u for u in units if u.shard is not None],
                 [u for u in units if u.shard is None]):
        if len(wave) < PARALLEL_UNITS:
            yield from _render(wave, output)
            continue
        chunks = _chunks(wave, workers)
        since = sharing.snapshot()
        with ShareQueue(len(chunks), first=workers) as queue:
            handed = run_forked([functools.partial(_render_share, chunks, queue.claims(k),
                                                   output, sharing, since)
                                 for k in range(1, workers)],
                                here=functools.partial(_render_mine, chunks, queue.claims(0),
                                                       output, sharing))
        yield from handed[0]
        for rendered, handover, learned in handed[1:]:
            output.adopt(handover)
            sharing.take(learned)
            yield from rendered


def _render_mine(chunks: list[list[Unit]], claims: Iterator[int], output: Output,
                 sharing: Sharing) -> list[Rendered]:
    """This process's share of a wave, rendered while the workers render theirs."""
    rendered = [done for i in claims for done in _render(chunks[i], output)]
    sharing.settle()
    return rendered


def _render_share(chunks: list[list[Unit]], claims: Iterator[int], output: Output,
                  sharing: Sharing, since: Any) -> tuple[list[Rendered], Handover, Any]:
    """In a forked worker: render the chunks it claims into an Output of its own; what the
    parent takes on."""
    worker = output.for_worker()
    try:
        rendered = [done for i in claims for done in _render(chunks[i], worker)]
    except BaseException:
        worker.abort()
        raise
    return rendered, worker.handover(), sharing.handback(since)


#: Chunks the units without a shard are cut into for each process: enough that the last one
#: to be claimed is a small part of a share (a claim costs one read of a pipe).
CHUNKS_PER_WORKER = 64


def _chunks(units: Sequence[Unit], workers: int) -> list[list[Unit]]:
    """``units`` cut into chunks to be claimed one at a time, largest first, units of one
    shard together (they read the same reviews' bodies: each is rendered once, by one
    process). Units without a shard are cut into runs of about the same length, highest rank
    first."""
    by_shard: dict[object, list[Unit]] = {}
    loose: list[Unit] = []
    for unit in units:
        if unit.shard is None:
            loose.append(unit)
        else:
            by_shard.setdefault(unit.shard, []).append(unit)
    chunks = sorted(by_shard.values(), key=len, reverse=True)
    if loose:
        # What lists the whole site (the sitemap, the search index, the home page: the highest
        # ranks, committed last) costs most of all such units, one by one: claimed first, so
        # that no process is left alone at the end with one of them.
        loose.sort(key=lambda unit: -unit.rank)
        size = -(-len(loose) // (workers * CHUNKS_PER_WORKER))
        chunks += [loose[i:i + size] for i in range(0, len(loose), size)]
    if len(chunks) > MAX_SHARES:  # a month a chunk, over more than 340 years of reviews
        chunks = [[u for chunk in chunks[i::MAX_SHARES] for u in chunk]
                  for i in range(MAX_SHARES)]
    return chunks
