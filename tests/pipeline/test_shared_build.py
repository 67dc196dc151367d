"""A big build shared among forked workers: the same files as one process writes, and all or
nothing when a worker fails, dies or its parent is killed."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

import publisher.pipeline.rendering as rendering
from publisher.config import load_config
from publisher.cores import MAX_SHARES
from publisher.errors import PublisherError, TemplateError
from publisher.pipeline.build import build_site, manifest_path
from publisher.pipeline.forked import WorkerLost
from publisher.pipeline.rendering import RANK_INDEX
from publisher.render.pages import SEARCH_INDEX, PageRenderer
from publisher.render.site import Site
from publisher.sources.catalog import load_reviews
from publisher.sources.posters import PosterFacts
from tests.fixtures import alive, snapshot, write_films, write_reviews
from tests.pausing import Pause


def strays(publication) -> list[str]:
    """What a build leaves in .publisher/ while it runs: staging directories, lists of new
    files."""
    state = publication.root / ".publisher"
    return sorted(p.name for p in state.iterdir()
                  if p.name.startswith(("staging-", "new-files-")))


def many_reviews(publication, count=90):
    """``count`` reviews over twelve months, every third without a summary (its excerpt is
    made from the body, in whichever process renders it), and three films with posters."""
    write_films(publication, 3)
    write_reviews(publication, [
        {"slug": f"review-{n}", "date": date(2025, 1 + n % 12, 1 + n % 28).isoformat(),
         "reviewer": ["Priya Raman", "Sam Okafor", "Ada Lind"][n % 3],
         "tags": ["drama", "noir", "comedy", "festival"][n % 4:n % 4 + 2],
         "summary": None if n % 3 == 0 else f"Logline {n}.",
         "body": f"Review {n}: *well* made, see [another](/reviews/review-{(n + 7) % count}/)."}
        for n in range(count)])


@pytest.fixture
def shared(monkeypatch):
    """Every build in the test shares its work among two processes, however small."""
    monkeypatch.setattr(rendering, "PARALLEL_UNITS", 1)


def manifest_units(config) -> dict[str, object]:
    units = json.loads(manifest_path(config).read_bytes())["units"]
    # (Each unit's inputs digest names the publication's directory: compared by the next
    # build, below, not here.)
    return {key: sorted(entry["files"]) for key, entry in units.items()}


def test_a_shared_build_writes_what_one_process_writes(publication, now, tmp_path, shared):
    many_reviews(publication)
    alone = tmp_path / "alone"
    (alone / "reviews").mkdir(parents=True)
    for path in (publication.root / "reviews").iterdir():
        (alone / "reviews" / path.name).write_bytes(path.read_bytes())
    shutil.copytree(publication.root / "static", alone / "static")
    (alone / "publisher.toml").write_bytes((publication.root / "publisher.toml").read_bytes())

    one = build_site(load_config(directory=alone), now=now, workers=1)
    two = build_site(publication.config, now=now, workers=2)

    assert snapshot(publication.root / "public") == snapshot(alone / "public")
    assert two.written == one.written and two.warnings == one.warnings
    assert manifest_units(publication.config) == manifest_units(load_config(directory=alone))
    # What the workers learnt is kept as one process keeps it: the excerpts and poster sizes
    # the next build reads from the cache.
    def cached(root: Path) -> tuple[dict[str, str], dict[str, list[int]]]:
        cache = root / ".publisher" / "cache"
        excerpts = pickle.loads(next(cache.rglob("excerpts.pickle")).read_bytes())["items"]
        posters = json.loads((cache / "posters.json").read_bytes())["files"]
        return excerpts, posters

    excerpts, posters = cached(publication.root)
    assert len(excerpts) == 30 and len(posters) == 3
    assert (excerpts, posters) == cached(alone)
    assert strays(publication) == []
    # And the next build finds nothing to do.
    again = build_site(publication.config, now=now, workers=2)
    assert again.written == () and again.rendered == 0


def test_a_first_build_records_the_digests_a_plan_makes_wherever_they_are_made(
        monkeypatch, publication, now, shared):
    # With no earlier manifest, the digests of the review pages, the archives, the index
    # pages, the search index and the sitemap are made where each unit is rendered (here or
    # in the worker, which hands them back): recorded, they are what planning makes, and the
    # next build renders nothing.
    import publisher.pipeline.build as build

    many_reviews(publication)
    config = publication.config
    planned = []
    plan = build.plan_build

    def planning(*args, **kwargs):
        planned.append(plan(*args, **kwargs))
        return planned[-1]

    monkeypatch.setattr(build, "plan_build", planning)
    build_site(config, now=now, workers=2)
    first = planned[0]
    assert first.deferred
    pages = {unit.key for unit in first.units
             if unit.key in first.page_reviews or unit.key in (SEARCH_INDEX, "sitemap")}
    listings = {unit.key for unit in first.units if unit.key.startswith("archive:")
                or (unit.rank == RANK_INDEX and unit.key.startswith("page:"))}
    # A month's archive from January 2025 to the clock's, and ten index pages.
    assert len(pages) == 93 + 2 and len(listings) == 23 + 10
    assert set(first.deferred_inputs) == pages | listings
    recorded = json.loads(manifest_path(config).read_bytes())["units"]
    eager = plan(config, Site.from_config(config), load_reviews(config), [],
                 PosterFacts(config), now)
    units = {key: entry for key, entry in recorded.items() if key not in ("static", "site")}
    assert {key: entry["inputs"] for key, entry in units.items()} == {
        unit.key: unit.inputs for unit in eager.units}
    again = build_site(config, now=now, workers=2)
    assert not planned[-1].deferred and again.rendered == 0


def test_a_worker_that_fails_leaves_the_last_good_site_in_place(publication, now, shared):
    many_reviews(publication)
    config = publication.config
    build_site(config, now=now, workers=2)
    before = snapshot(config.output_path)
    # Every month's pages fail but one: whichever process renders them.
    publication.write_template(
        "review.html.j2",
        '{% extends "defaults/review.html.j2" %}\n{% block main %}'
        "{% if card.published.month != 1 %}{{ card.title | nosuchfilter }}{% endif %}"
        "{{ super() }}{% endblock %}\n")
    with pytest.raises(TemplateError) as caught:
        build_site(config, now=now, workers=2)
    assert "review.html.j2" in str(caught.value) and "nosuchfilter" in str(caught.value)
    assert snapshot(config.output_path) == before
    assert strays(publication) == []


def test_a_worker_killed_midway_is_one_line_and_changes_nothing(publication, now, shared,
                                                                 monkeypatch):
    many_reviews(publication)
    config = publication.config
    build_site(config, now=now, workers=2)
    before = snapshot(config.output_path)
    (publication.root / "publisher.toml").write_text(
        (publication.root / "publisher.toml").read_text("utf-8").replace(
            'title = "Test Reel"', 'title = "Test Reel II"'), encoding="utf-8")
    parent = os.getpid()
    review_page = PageRenderer.review_page

    def dies_in_a_worker(self, review, *around):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # the kernel's OOM killer, say
        return review_page(self, review, *around)

    monkeypatch.setattr(PageRenderer, "review_page", dies_in_a_worker)
    with pytest.raises(WorkerLost) as caught:
        build_site(publication.config, now=now, workers=2)
    assert "killed by SIGKILL" in str(caught.value)
    assert "nothing was changed; run the command again" in str(caught.value)
    assert snapshot(config.output_path) == before
    assert strays(publication) == []


@pytest.fixture
def big_build(publication, now, tmp_path) -> Iterator[tuple[subprocess.Popen[bytes], list[Path],
                                                           Pause]]:
    """``publisher build`` of 1,500 reviews in a process, held once the parent and every
    worker have each written six files where they go (each process lists them in a list of
    new files as it goes) and are about to write a seventh: the build, those lists, and the
    pause (``release`` lets whatever is left of the build go on)."""
    write_reviews(publication, [{"slug": f"film-{i}",
                                 "date": f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}"}
                                for i in range(1500)], first=date(2024, 1, 1))
    with Pause(tmp_path / "pause", "publisher.pipeline.output:Output.put", call=7) as pause:
        parent = pause.start("-C", str(publication.root), "--now", now.isoformat(), "build",
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # The parent renders its share once every worker is forked.
        pause.wait(parent.pid)
        pause.wait(*children_of(parent.pid))
        journals = list((publication.root / ".publisher").glob("new-files-*.txt"))
        assert len(journals) == 1 + len(children_of(parent.pid)) >= 2, "the work was not shared"
        assert all(j.read_bytes().count(b"\n") > 5 for j in journals)
        yield parent, journals, pause


def same_as_a_clean_build(publication, now, tmp_path) -> None:
    clean = tmp_path / "clean"
    (clean / "reviews").mkdir(parents=True)
    for path in (publication.root / "reviews").iterdir():
        (clean / "reviews" / path.name).write_bytes(path.read_bytes())
    (clean / "publisher.toml").write_bytes((publication.root / "publisher.toml").read_bytes())
    build_site(load_config(directory=clean), now=now, workers=1)
    assert snapshot(publication.root / "public") == snapshot(clean / "public")


def test_a_build_killed_with_its_workers_running_leaves_no_process_and_nothing_behind(
        publication, now, tmp_path, big_build):
    parent, journals, pause = big_build
    workers = children_of(parent.pid)
    assert workers
    parent.send_signal(signal.SIGKILL)
    parent.wait()  # (not its output: a worker that outlived it would keep that open)
    # The workers die with it: nothing more is written once they are let go (an orphaned
    # worker would go on writing its share for seconds) and no process is left.
    written = [j.read_bytes().count(b"\n") for j in journals]
    pause.release()
    time.sleep(0.5)
    assert [j.read_bytes().count(b"\n") for j in journals] == written
    assert not [pid for pid in workers if alive(pid)]

    build_site(publication.config, now=now)
    assert strays(publication) == []
    same_as_a_clean_build(publication, now, tmp_path)


def test_sigterm_to_a_shared_build_is_one_line_143_and_writes_nothing(publication, now,
                                                                       tmp_path, big_build):
    parent, _journals, _pause = big_build
    workers = children_of(parent.pid)
    parent.send_signal(signal.SIGTERM)  # the parent only, as `kill` does
    out, err = parent.communicate(timeout=60)
    assert parent.returncode == 143, (out, err)
    assert err.decode().splitlines() == [
        "interrupted by SIGTERM: stopped before the command finished; run it again"]
    assert not [pid for pid in workers if alive(pid)]
    # A first build stopped: no page of it is left, nor anything it was writing.
    assert [p for p in (publication.root / "public").rglob("*") if p.is_file()] == []
    assert strays(publication) == []
    build_site(publication.config, now=now)
    same_as_a_clean_build(publication, now, tmp_path)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_a_publisher_error_in_a_worker_arrives_as_itself(monkeypatch, publication, now, shared):
    many_reviews(publication)
    config = publication.config
    parent = os.getpid()
    review_page = PageRenderer.review_page

    def refuses_in_a_worker(self, review, *around):
        if os.getpid() != parent:
            raise PublisherError(f"{review.title}: refused")
        return review_page(self, review, *around)

    monkeypatch.setattr(PageRenderer, "review_page", refuses_in_a_worker)
    with pytest.raises(PublisherError, match=r"^Review \d+: refused$"):
        build_site(config, now=now, workers=2)
    assert not (publication.root / "public" / "reviews").exists()
    assert strays(publication) == []


def unit(key: str, shard: int | None = None) -> rendering.Unit:
    return rendering.Unit(key, rendering.RANK_LEAF, None, dict, shard=shard)


def test_a_wave_is_cut_into_chunks_largest_first_with_each_shard_whole():
    units = [unit(f"m1-{i}", 1) for i in range(3)] + [unit(f"m2-{i}", 2) for i in range(5)]
    units += [unit(f"loose-{i}") for i in range(300)]
    units.append(rendering.Unit("sitemap", rendering.RANK_MAP, None, dict))
    chunks = rendering._chunks(units, workers=2)
    keys = [[u.key for u in chunk] for chunk in chunks]
    assert keys[0] == [f"m2-{i}" for i in range(5)] and keys[1] == [f"m1-{i}" for i in range(3)]
    # The rest in runs of about the same length, CHUNKS_PER_WORKER (64) a process at most;
    # what lists the whole site first.
    assert [key for chunk in keys[2:] for key in chunk] == (
        ["sitemap"] + [f"loose-{i}" for i in range(300)])
    assert [len(chunk) for chunk in keys[2:]] == [3] * 100 + [1]


def test_more_shards_than_a_pipe_holds_numbers_for_are_folded_together():
    units = [unit(f"month-{i}", i) for i in range(MAX_SHARES + 10)]
    chunks = rendering._chunks(units, workers=2)
    assert len(chunks) == MAX_SHARES
    assert sorted(u.key for chunk in chunks for u in chunk) == sorted(u.key for u in units)


def test_the_collector_is_left_as_the_build_found_it(publication, now):
    # Paused and frozen while rendering; after, enabled again and nothing left frozen (a
    # process that builds again and again, as this test process does, would otherwise keep
    # every build's garbage cycles for good).
    import gc

    write_reviews(publication, 3)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    build_site(publication.config, now=now)
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_build_that_waited_for_another_in_this_process_leaves_nothing_frozen(
        monkeypatch, publication, now):
    # Two builds in two threads of one process: the second comes while the first renders
    # with the heap frozen, and waits at the lock. It must not take that frozen heap for the
    # state it found, and freeze it for good when it ends.
    import contextlib
    import gc
    import threading

    import publisher.pipeline.build as build

    write_reviews(publication, 3)
    rendering_now, second_waits = threading.Event(), threading.Event()
    lock, review_page = build.build_lock, PageRenderer.review_page

    @contextlib.contextmanager
    def announced(state):
        if threading.current_thread().name == "second":
            second_waits.set()
        with lock(state):
            yield

    def held(self, *args):  # the first build renders on once the second waits
        rendering_now.set()
        second_waits.wait(30)
        return review_page(self, *args)

    monkeypatch.setattr(build, "build_lock", announced)
    monkeypatch.setattr(PageRenderer, "review_page", held)
    first = threading.Thread(target=build_site, args=(publication.config,),
                             kwargs={"now": now, "workers": 1})
    second = threading.Thread(target=build_site, args=(publication.config,),
                              kwargs={"now": now, "workers": 1}, name="second")
    first.start()
    assert rendering_now.wait(30)
    second.start()
    first.join(30)
    second.join(30)
    frozen = gc.get_freeze_count()
    gc.unfreeze()  # whatever this test finds, the tests after it find the collector clear
    assert not first.is_alive() and not second.is_alive() and second_waits.is_set()
    assert gc.isenabled() and frozen == 0


def test_the_collector_waits_while_a_build_plans_and_records(monkeypatch, publication, now):
    # The plan and the manifest are objects without cycles worth collecting, made in the parent
    # while the other core waits; a collector its caller turned off stays off.
    import gc

    import publisher.pipeline.build as build

    collecting: dict[str, list[bool]] = {"plan": [], "record": []}
    plan, write_manifest = build.plan_build, build.write_manifest

    def planning(*args, **kwargs):
        collecting["plan"].append(gc.isenabled())
        return plan(*args, **kwargs)

    def recording(*args, **kwargs):
        collecting["record"].append(gc.isenabled())
        return write_manifest(*args, **kwargs)

    monkeypatch.setattr(build, "plan_build", planning)
    monkeypatch.setattr(build, "write_manifest", recording)
    write_reviews(publication, 3)
    build_site(publication.config, now=now)
    assert collecting == {"plan": [False], "record": [False]}
    assert gc.isenabled()
    gc.disable()
    try:
        build_site(publication.config, now=now, cache=False)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_build_after_a_frozen_catalogue_leaves_its_record_frozen_too(publication, now):
    # A big catalogue is frozen when it is loaded, and the plan while rendering: the manifest
    # and the report live as long, and the collector's first passes after the build would
    # walk them all.
    import gc

    write_reviews(publication, 3)
    gc.freeze()
    try:
        report = build_site(publication.config, now=now)
        assert report.output is not None
        units = report.output.units
        assert gc.isenabled()
        assert all(thing is not units for thing in gc.get_objects())
    finally:
        gc.unfreeze()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux's CPU affinity")
def test_a_build_shares_its_work_among_the_cores_it_is_given_only():
    # `taskset -c 0 publisher build` (as the README suggests on a busy machine): one core,
    # no worker.
    code = "from publisher.cores import cores; print(cores())"
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, preexec_fn=lambda: os.sched_setaffinity(0, {0}))
    assert alone.stdout.strip() == "1"
    given = len(os.sched_getaffinity(0))
    everything = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True)
    assert everything.stdout.strip() == str(given)


def test_when_no_process_can_be_forked_the_build_does_it_all_itself(publication, now, shared,
                                                                      monkeypatch):
    many_reviews(publication, 30)
    expected = build_site(publication.config, now=now, workers=1)
    files = snapshot(publication.root / "public")
    for path in (publication.root / "public", publication.root / ".publisher"):
        shutil.rmtree(path)

    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")  # EAGAIN: ulimit -u

    monkeypatch.setattr(os, "fork", no_fork)
    report = build_site(publication.config, now=now, workers=2)
    assert report.written == expected.written
    assert snapshot(publication.root / "public") == files
    assert strays(publication) == []


def test_a_bug_in_a_worker_is_a_bug_here_with_the_workers_traceback(publication, now, shared,
                                                                     monkeypatch):
    many_reviews(publication, 30)
    parent = os.getpid()
    review_page = PageRenderer.review_page

    def breaks_in_a_worker(self, review, *around):
        if os.getpid() != parent:
            raise ZeroDivisionError("a bug")
        return review_page(self, review, *around)

    monkeypatch.setattr(PageRenderer, "review_page", breaks_in_a_worker)
    with pytest.raises(RuntimeError) as caught:
        build_site(publication.config, now=now, workers=2)
    assert not isinstance(caught.value, PublisherError)  # the CLI shows it as a bug
    assert "ZeroDivisionError: a bug" in str(caught.value)
    assert "breaks_in_a_worker" in str(caught.value)
    assert not (publication.root / "public" / "reviews").exists()
    assert strays(publication) == []
