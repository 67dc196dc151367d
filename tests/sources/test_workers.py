"""Parsing shared among forked processes, this one among them (sources/workers.py)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from publisher.errors import SourceError
from publisher.sources import catalog as catalog_module
from publisher.sources.cache import cache_path
from publisher.sources.catalog import load_reviews
from publisher.sources.workers import load_shared

BATCHES = [[(f"reviews/{b}-{i}.md", f"/nowhere/{b}-{i}.md", None) for i in range(3)]
           for b in range(8)]
EVERY_FILE = sorted(rel for batch in BATCHES for rel, _path, _cached in batch)


def _loader(tmp_path: Path, in_child=None):
    """A load that logs which process loaded which file and makes the parent wait, on its
    first batch, until a child has taken one (so that both take part however the two are
    scheduled); ``in_child`` runs in a child once it has taken its first batch."""
    parent = os.getpid()
    taken = tmp_path / "child-took-one"
    log = tmp_path / "log"

    def load(jobs):
        if os.getpid() == parent:
            deadline = time.monotonic() + 30
            while not taken.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
        else:
            taken.touch()
            if in_child is not None:
                in_child()
        with log.open("a") as fh:
            fh.writelines(f"{os.getpid()} {rel}\n" for rel, _path, _cached in jobs)
        return [(rel, 0, "sha", None) for rel, _path, _cached in jobs]

    def loaded_by() -> Counter[int]:
        return Counter(int(line.split()[0]) for line in log.read_text().splitlines())

    return load, loaded_by


def test_this_process_and_a_child_share_the_batches_and_each_stores_its_own(tmp_path):
    load, loaded_by = _loader(tmp_path)
    chunks = tmp_path / "cache"
    chunks.mkdir()
    result = load_shared(BATCHES, load, 1, chunks)
    assert sorted(rel for rel, *_ in result.stored) == EVERY_FILE
    assert result.unstored == []
    assert len(result.chunks) == 2
    assert sorted(p.name for p in chunks.iterdir()) == sorted(result.chunks)
    processes = loaded_by()
    assert os.getpid() in processes
    assert len(processes) == 2
    assert sum(processes.values()) == len(EVERY_FILE)  # no file loaded twice


def test_a_child_killed_midway_leaves_its_batches_to_this_process(tmp_path):
    def killed():
        os.kill(os.getpid(), signal.SIGKILL)

    load, loaded_by = _loader(tmp_path, in_child=killed)
    result = load_shared(BATCHES, load, 1, None)
    assert sorted(rel for rel, *_ in result.stored + result.unstored) == EVERY_FILE
    assert list(loaded_by()) == [os.getpid()]
    assert not [pid for pid, _status in _children_left()]


def test_when_no_process_can_be_forked_every_batch_is_loaded_here(tmp_path, monkeypatch):
    def refused():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    load, loaded_by = _loader(tmp_path)
    chunks = tmp_path / "cache"
    chunks.mkdir()
    (tmp_path / "child-took-one").touch()  # no child will: the parent need not wait
    result = load_shared(BATCHES, load, 3, chunks)
    assert sorted(rel for rel, *_ in result.stored) == EVERY_FILE
    assert len(result.chunks) == 1
    assert list(loaded_by()) == [os.getpid()]


def test_a_child_dies_with_the_loading_process(tmp_path):
    # A build killed with SIGKILL while it parses (the kernel's OOM killer, say) leaves no
    # child parsing on behind it.
    started = tmp_path / "started"
    loading = os.fork()
    if loading == 0:  # the loading process: each of its processes takes its time on a batch
        def slow(jobs):
            with started.open("a") as fh:
                fh.write(f"{os.getpid()}\n")
            time.sleep(60)
            return []
        try:
            load_shared(BATCHES, slow, 1, None)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    pids: list[int] = []
    while len(pids) < 2 and time.monotonic() < deadline:
        pids = [int(p) for p in started.read_text().split()] if started.exists() else []
        time.sleep(0.005)
    [child] = [pid for pid in pids if pid != loading]
    os.kill(loading, signal.SIGKILL)
    os.waitpid(loading, 0)
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _running(child)


def _running(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _children_left() -> list[tuple[int, int]]:
    """Children of this process not yet waited for (none, if load_shared reaped them)."""
    try:
        found = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return []
    return [found] if found[0] else []


# --- through the catalogue: the same reviews, the same problems ------------------------------


def _twelve_reviews(publication) -> None:
    for i in range(12):
        rating = f"rating: {i}\n" if i in (7, 9) else ""
        publication.write_review(f"film-{i:02}.md", (
            f"---\ntitle: Film {i}\ndate: 2026-03-06\nreviewer: Sam Okafor\n{rating}---\n"
            "A body.\n"))


def _problems(config, *, cache: bool) -> list[str]:
    with pytest.raises(SourceError) as info:
        load_reviews(config, cache=cache)
    return [str(p) for p in info.value.problems]


EXPECTED = ["reviews/film-07.md:5: rating: 7 is out of range; expected 0 to 5",
            "reviews/film-09.md:5: rating: 9 is out of range; expected 0 to 5"]


@pytest.mark.parametrize("cache", [True, False])
def test_a_child_that_dies_changes_nothing_a_load_reports(publication, monkeypatch, cache):
    _twelve_reviews(publication)
    monkeypatch.setattr(catalog_module, "FORK_THRESHOLD", 4)
    monkeypatch.setattr(catalog_module, "default_workers", lambda: 2)
    parent = os.getpid()
    load_many = catalog_module._load_many

    def dies_in_a_child(jobs, config):
        if os.getpid() != parent:
            os._exit(3)
        return load_many(jobs, config)

    monkeypatch.setattr(catalog_module, "_load_many", dies_in_a_child)
    assert _problems(publication.config, cache=cache) == EXPECTED
    monkeypatch.setattr(catalog_module, "_load_many", load_many)
    (publication.root / "reviews" / "film-07.md").unlink()
    (publication.root / "reviews" / "film-09.md").unlink()
    titles = [r.title for r in load_reviews(publication.config, cache=cache).reviews]
    assert titles == [f"Film {i}" for i in range(12) if i not in (7, 9)]


def test_a_shared_load_caches_what_every_process_parsed(publication, monkeypatch):
    _twelve_reviews(publication)
    monkeypatch.setattr(catalog_module, "FORK_THRESHOLD", 4)
    monkeypatch.setattr(catalog_module, "default_workers", lambda: 2)
    assert _problems(publication.config, cache=True) == EXPECTED
    assert list(cache_path(publication.config).glob("chunk-*.pickle"))
    # The second load parses nothing: every file is found in the chunks.
    monkeypatch.setattr(catalog_module, "parse_bytes", None)
    assert _problems(publication.config, cache=True) == EXPECTED
