"""Parsing shared among forked processes, this one among them (sources/workers.py)."""

from __future__ import annotations

import os
import select
import shutil
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import load_config
from publisher.errors import SourceError
from publisher.pipeline.build import build_publication
from publisher.sources import catalog as catalog_module
from publisher.sources.cache import cache_path
from publisher.sources.catalog import Catalog, load_reviews
from publisher.sources.workers import load_shared
from tests.fixtures import alive, snapshot, wait_for, write_reviews

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

    def at_work() -> list[int]:
        return [int(p) for p in started.read_text().split()] if started.exists() else []

    wait_for(lambda: len(at_work()) == 2, timeout=30, what="both loading processes at work")
    [child] = [pid for pid in at_work() if pid != loading]
    os.kill(loading, signal.SIGKILL)
    os.waitpid(loading, 0)
    wait_for(lambda: not alive(child), timeout=10, what="the orphaned child to end")


def _children_left() -> list[tuple[int, int]]:
    """Children of this process not yet waited for (none, if load_shared reaped them)."""
    try:
        found = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return []
    return [found] if found[0] else []


# --- afterwards: what a child does once its entries are sent ---------------------------------


def _loaded(jobs):
    return [(rel, 0, "sha", None) for rel, _path, _cached in jobs]


def _at_work(tmp_path: Path) -> int:
    """The pid of the child that has written it to tmp_path/working (``afterwards`` does)."""
    working = tmp_path / "working"
    wait_for(lambda: working.exists() and working.read_text(), what="the child at work")
    return int(working.read_text())


def test_a_child_goes_on_working_until_it_is_collected(tmp_path):
    def until_stopped(entries, stopped):
        (tmp_path / "working").write_text(str(os.getpid()))
        turns = 0
        while not stopped():
            turns += 1
        return sorted(rel for rel, *_ in entries), turns

    result = load_shared(BATCHES, _loaded, 1, None, until_stopped)
    # Every batch is loaded and handed back before the child's other work is done.
    assert sorted(rel for rel, *_ in result.stored + result.unstored) == EVERY_FILE
    child = _at_work(tmp_path)
    time.sleep(0.05)
    assert alive(child)  # not stopped by anything but the word to stop
    [(its_files, turns)] = result.meanwhile.collect()
    assert its_files and set(its_files) < set(EVERY_FILE)  # its own entries, not all
    assert turns > 0
    assert not alive(child)
    assert not _children_left()


def test_a_child_that_dies_at_its_other_work_hands_back_nothing(tmp_path):
    def dies(entries, stopped):
        os._exit(3)

    result = load_shared(BATCHES, _loaded, 1, None, dies)
    assert sorted(rel for rel, *_ in result.stored + result.unstored) == EVERY_FILE
    assert result.meanwhile.collect() == []
    assert not _children_left()


def test_a_child_not_collected_is_ended(tmp_path):
    def forever(entries, stopped):
        (tmp_path / "working").write_text(str(os.getpid()))
        time.sleep(600)

    result = load_shared(BATCHES, _loaded, 1, None, forever)
    child = _at_work(tmp_path)
    result.meanwhile.close()
    assert not alive(child)
    assert not _children_left()


# --- the bodies a loading child renders while a build plans ----------------------------------

BODY = ("“A film,” she said — and *then* [another](/reviews/film-1/).\n\n"
        "## What stays\n\nThe score. {n}\n")


def _reviews_with_bodies(publication) -> None:
    write_reviews(publication, [
        {"body": BODY.format(n=n), "summary": None if n % 3 else "Given.",
         "draft": "true" if n == 5 else None}
        for n in range(1, 13)])


def _wait_until_done(catalog: Catalog) -> None:
    """Until the loading child has rendered every body it parsed: it is never told to stop
    meanwhile, so what it sends then is all of them."""
    assert catalog.meanwhile is not None
    [(_pid, read)] = catalog.meanwhile._children
    wait_for(lambda: select.select([read], [], [], 0)[0], what="the child's bodies")


@pytest.fixture
def shared_load(monkeypatch):
    monkeypatch.setattr(catalog_module, "FORK_THRESHOLD", 4)
    monkeypatch.setattr(catalog_module, "default_workers", lambda: 2)


def test_the_bodies_a_loading_child_renders_are_those_each_review_renders(
        publication, shared_load):
    _reviews_with_bodies(publication)
    catalog = load_reviews(publication.config, bodies=True)
    _wait_until_done(catalog)
    catalog.take_bodies()
    taken = [r for r in catalog.reviews if "_body_html_text" in r.__dict__]
    assert taken  # the child parsed one batch at least, and rendered each of its bodies
    assert not any(r.draft for r in taken)
    fresh = {r.source_path: r for r in load_reviews(publication.config, cache=False).reviews}
    for review in taken:
        assert type(review.body_html) is str  # handed over in UTF-8, decoded where read
        assert review.body_html == fresh[review.source_path].body_html
        assert review.summary == fresh[review.source_path].summary
    assert any(review.computed_summary() for review in taken)  # an excerpt, made there too
    assert not _children_left()


def test_a_build_with_bodies_from_the_loading_child_writes_the_same_site(
        publication, shared_load, monkeypatch):
    _reviews_with_bodies(publication)
    alone = publication.root.parent / "alone"
    shutil.copytree(publication.root, alone)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    take = Catalog.take_bodies
    taken: list[int] = []

    def when_done(catalog):
        _wait_until_done(catalog)
        take(catalog)
        taken.append(sum("_body_html_text" in r.__dict__ for r in catalog.reviews))

    monkeypatch.setattr(Catalog, "take_bodies", when_done)
    build_publication(publication.config, now=now)
    assert taken and taken[0] > 0
    # The same publication built by one process: every body rendered where it is needed.
    monkeypatch.setattr(catalog_module, "default_workers", lambda: 1)
    monkeypatch.setattr(Catalog, "take_bodies", take)
    build_publication(load_config(directory=alone), now=now)
    assert snapshot(publication.root / "public") == snapshot(alone / "public")
    assert _directories(publication.root / "public") == _directories(alone / "public")


def _directories(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_dir())


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

    def dies_in_a_child(jobs, config, skeleton):
        if os.getpid() != parent:
            os._exit(3)
        return load_many(jobs, config, skeleton)

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
