"""``publisher build``: sources → feeds and their archives, the site's pages, the issue archive
and static files, in the output directory.

A build plans its *units* (``plan``: each with a digest of everything it is made from). A unit
whose digest and files are as the last build left them (``manifest``) is not rendered at all;
the others are rendered in memory (``rendering``), and only files whose bytes changed are
written. So a build with nothing changed renders and writes nothing, and unchanged files keep
their mtime.

Everything is rendered before anything is written, and writing is all-or-nothing as a reader
sees it (``output.Output``: stage, then commit): a build that fails — an invalid source, a
template error, a full disk, a read-only output — leaves the previous output exactly as it was.

Symbolic links in static/ (and in reviews/, see sources/catalog.py) may point anywhere inside
the publication and nowhere outside it: a link that leaves is refused, by name, and nothing is
written (``statics``).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..config import Config
from ..cores import default_workers
from ..errors import Problem, PublisherError, SourceError, TemplateError
from ..models import PUBLISHED_ONLY, Issue, Showing
from ..render.engine import lost_blocks, unset_names
from ..render.site import Site
from ..sources import Catalog, load_reviews
from ..sources.cache import TextCache
from ..sources.posters import PosterFacts
from ..text import count
from .idle import Written
from .links import broken_links, lost_issue_links
from .manifest import (
    manifest_path,
    read_manifest,
    read_record,
    stamp_at,
    stamps,
    unit_files,
    write_manifest,
)
from .moves import moves_since, site_record, unmailed
from .output import Output, build_lock, open_dirs, sweep
from .plan import Planner, plan_build
from .rendering import RANK_STATIC, Unit, render_units, safe_relpath
from .statics import clash_message, static_files, static_unchanged
from .websub import announce

_ITEMS = "items.pickle"  # the list items, kept between builds (Planner.reuse_items)


@dataclass(frozen=True)
class BuildReport:
    """What a build did: files written (relative to the output directory), how many were
    already up to date, warnings worth showing (e.g. control characters removed), files removed
    (outputs no source makes any more), how many units were rendered, and the URLs of the
    subscription feeds written (what a WebSub hub is told about)."""

    written: tuple[str, ...]
    unchanged: int
    warnings: tuple[Problem, ...]
    removed: tuple[str, ...] = ()
    rendered: int = 0
    topics: tuple[str, ...] = ()
    websub: str = ""  # what the WebSub hub was told (build_publication), one line
    #: The warnings (among ``warnings``) about review pages that moved, or feed ids that
    #: changed, since the last build, and new reviews no issue will mail: said by this build
    #: only, so ``publisher run`` passes them on where it keeps the rest for ``publisher
    #: check``.
    moved: tuple[Problem, ...] = ()
    #: The clock times over which the same sources make the same output (``steady``).
    steady: tuple[datetime | None, datetime | None] = (None, None)
    #: The manifest this build wrote and the stat of the files it lists, taken after the
    #: commit, for the idle check to sign the output with (None: a dry run).
    output: Written | None = field(default=None, repr=False, compare=False)


def build_site(config: Config, *, now: datetime, issues: Sequence[Issue] = (),
               catalog: Catalog | None = None, cache: bool = True,
               dry_run: bool = False, workers: int | None = None,
               showing: Showing = PUBLISHED_ONLY) -> BuildReport:
    """Load the sources and write every feed and archive, the pages, the issue archive (when
    ``issues`` are given) and the static files under config.output_path.

    Raises SourceError (listing every problem) or another PublisherError before anything is
    written; the output directory is then exactly as it was. ``catalog`` may be passed by a
    caller that has already loaded the sources; ``cache=False`` ignores every cache (sources,
    posters and the build manifest). ``dry_run`` renders what changed and writes nothing at
    all: the report's ``written`` and ``removed`` are what a build would change. A big
    build is shared among ``workers`` forked processes (default: one per core, at most four;
    see rendering.py). ``showing``: which unpublished reviews to show as well (only
    ``publisher preview`` shows any).
    """
    if catalog is None:
        catalog = load_reviews(config, cache=cache)
    if dry_run:
        with _collector_paused():
            return _build(config, now=now, issues=issues, catalog=catalog, cache=cache,
                          old=read_manifest(manifest_path(config)), dry_run=True,
                          showing=showing)
    paths = config.paths
    out = config.output_path
    # The collector's state is the process's: paused (and restored) under the lock, so that a
    # build waiting for another in the same process (two threads) does not take that one's
    # frozen rendering for its own starting state, and freeze the whole heap for good after.
    with build_lock(paths.state), _collector_paused():
        # What the last build recorded, read once under the lock: for the sweep, and for
        # the build to compare its units with (2.5 MB at 10,000 reviews).
        old, dirs_open = read_record(manifest_path(config))
        # A site not there yet has no directory an earlier build made: each is new, 0755.
        dirs_open = dirs_open or not out.exists()
        recorded = {rel for entry in old.values() for rel in unit_files(entry)}
        sweep(out, paths.state, recorded)
        try:
            return _build(config, now=now, issues=issues, catalog=catalog, cache=cache,
                          old=old, workers=default_workers() if workers is None else workers,
                          showing=showing, dirs_open=dirs_open)
        except BaseException:
            # A worker killed midway (or the build stopped while workers ran) may leave
            # what it wrote where no Output knows of it: its own list of new files says.
            sweep(out, paths.state, recorded)
            raise


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused meanwhile, and enabled again after if it was.

    A build's plan and its record (the manifest) are a few hundred thousand objects that live
    as long as the build and hold no cycles worth collecting: the collector's passes over them
    cost a cold build of 10,000 reviews ~0.09 s in the parent, while the other core waits.
    (Rendering pauses it too, and freezes what exists for the forked workers:
    ``rendering.render_units``.)"""
    enabled = gc.isenabled()
    frozen = gc.get_freeze_count() > 0
    gc.disable()
    try:
        yield
    finally:
        if frozen:
            # A big catalogue was frozen when it was loaded, and the plan is frozen with it
            # while rendering; what the build made after that (its manifest, its report) is
            # frozen alike, or the collector's first passes after the build would walk it
            # all, twice (~0.08 s at 10,000 reviews). What has no cycle is still freed as usual.
            gc.freeze()
        if enabled:
            gc.enable()


def steady(config: Config, catalog: Catalog, now: datetime
           ) -> tuple[datetime | None, datetime | None]:
    """The clock times around ``now`` over which the same sources make the same output: while
    the same reviews are published (Catalog.steady), and within this month, since the monthly
    archives gain a document when a month begins."""
    start, until = catalog.steady(now)
    tz = ZoneInfo(config.timezone)
    local = now.astimezone(tz)
    this_month = datetime(local.year, local.month, 1, tzinfo=tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    next_month = datetime(year, month, 1, tzinfo=tz)
    if until is None or next_month < until:
        until = next_month
    if start is None or this_month > start:
        start = this_month
    return start, until

def plan_problems(config: Config, catalog: Catalog, now: datetime,
                  issues: Sequence[Issue] | None = None, *,
                  posters: PosterFacts | None = None) -> tuple[list[str], list[str]]:
    """For ``publisher check``: what planning a build finds in sources that each load (an
    alias that is another page's address, aliases where publisher builds no pages, every link
    in a body to an address where nothing is published, every link in an issue sent that now
    finds nothing, what moved since the last build (a feed id, a page's address, a tag gone),
    a review not built yet that no issue will mail) and a template that one of
    each kind of page stops on, as (errors, warnings); nothing is written. ``issues``: the
    issues sent, as the build shows them; None when the ledger could not be read without
    changing it, and then links to the issues' pages are left to the build. A static/ that
    cannot be read is check's to report."""
    site = Site.from_config(config)
    try:
        statics: set[str] | None = {rel for rel, _path in static_files(config)}
    except PublisherError:
        statics = None
    try:
        # Deferred: check writes no manifest, so the digests that cost half of planning are
        # made only for the sample units it renders.
        planner = plan_build(config, site, catalog, issues or (),
                             posters or PosterFacts(config), now, deferred=True,
                             statics=statics or ())
        for unit in planner.samples():
            unit.render()
    except SourceError as exc:
        return [str(p) for p in exc.problems], []
    except TemplateError as exc:  # the build would stop on it (the template lint only warns)
        return [str(exc)], []
    warnings = planner.warnings[len(catalog.warnings):]
    # What the next build will say moved since the last (a feed id, a page's address, a tag
    # gone): where CI builds a fresh clone, with no record of the last build, a pre-commit
    # hook's check is the one place it can be said.
    last = read_manifest(manifest_path(config))
    warnings += moves_since(planner, last, config.output_path / "feed.json").warnings
    if issues is not None:  # what the next build will say of a new review no issue mails
        warnings += unmailed(planner, catalog, last)
    if statics is None:
        return [], [str(w) for w in warnings]
    made = planner.written()
    warnings += [Problem(f"static/{rel}", 0, "", clash_message(rel))
                 for rel in sorted(statics & made)]
    served = planner.served(statics)
    warnings += broken_links(planner, served, None, issues=issues is not None)
    lost = lost_issue_links(planner, served, named=None)
    return [], [str(w) for w in warnings + list(lost.values())]


def template_mistakes(config: Config) -> list[str]:
    """The publication's templates that render without an error and yet wrongly (a block that
    no template shows, published as nothing), or that stop a template of publisher's where it
    reads them (a palette that lacks a colour): each named in the publication's own file."""
    return lost_blocks(config.templates_path) + unset_names(config.templates_path)


def refuse_template_mistakes(config: Config) -> None:
    """TemplateError for the first of ``template_mistakes``."""
    mistakes = template_mistakes(config)
    if mistakes:
        raise TemplateError(mistakes[0])


def _build(config: Config, *, now: datetime, issues: Sequence[Issue], catalog: Catalog,
           cache: bool, old: dict[str, dict[str, Any]], dry_run: bool = False,
           workers: int = 1, showing: Showing = PUBLISHED_ONLY,
           dirs_open: bool = True) -> BuildReport:
    out = config.output_path
    site = Site.from_config(config)
    posters = PosterFacts(config, cache=cache)
    statics = static_files(config)  # refuses links out of the publication, before anything
    # With nothing to compare a unit's digest with, it is needed only for the manifest: made
    # where the unit is rendered.
    planner = plan_build(config, site, catalog, issues, posters, now, showing,
                         deferred=not (cache and old),
                         statics=[rel for rel, _path in statics])
    served = planner.served({rel for rel, _path in statics})
    planner.warnings.extend(broken_links(planner, served))
    moves = moves_since(planner, old, out / "feed.json")
    moved = list(moves.warnings)
    lost = lost_issue_links(planner, served, moves.pages)
    # A link in a sent issue that this build breaks (the page or poster it removes) is news
    # for ``publisher run`` to pass on, like a page that moved; the builds after keep naming it.
    copied = old.get("static", {}).get("files", {})
    news = {rel for rel in lost if f"page:{rel}" in old or rel in copied}
    moved += [problem for rel, problem in lost.items() if rel in news]
    moved += unmailed(planner, catalog, old)
    planner.warnings.extend(moved)
    planner.warnings.extend(problem for rel, problem in lost.items() if rel not in news)
    manifest: dict[str, dict[str, Any]] = {"site": site_record(config)}
    owner: dict[str, str] = {}  # path → the unit that makes it
    stale: list[Unit] = []
    unchanged = 0
    base = str(out) + os.sep
    for unit in planner.units:
        previous = old.get(unit.key)
        files = unit_files(previous)
        if (cache and unit.inputs is not None and previous is not None
                and previous.get("inputs") == unit.inputs and files
                and all(files[rel] == stamp_at(base + rel) for rel in files)):
            manifest[unit.key] = previous
            unchanged += len(files)
            for rel in files:
                _claim(owner, rel, unit.key)
        else:
            stale.append(unit)
    if stale:  # a template edited renders every page: nothing rendered, nothing changed
        refuse_template_mistakes(config)
    # The newsletter's archive is a record of what was sent: a build that finds fewer issues
    # in the ledger than it published before (a ledger lost, or restored from an old backup)
    # leaves their pages where they are. They are what tells `issue new` that an issue number
    # was used already (newsletter/compose.py), so that nobody is sent it twice.
    planned = {unit.key for unit in planner.units}
    for key, entry in old.items():
        if key not in planned and (key == "issues" or key.startswith("issue:")):
            manifest[key] = entry
            for rel in unit_files(entry):
                _claim(owner, rel, key)

    # The list items of the last build: read only when there is something to render (a build
    # that renders nothing keeps them as they are).
    items = TextCache(config.paths.cache if cache and stale else None, _ITEMS, planner.base)
    planner.reuse_items(items.items)

    if dry_run:
        return _rehearse(planner, stale, statics, owner, old, out, unchanged)

    written: list[str] = []
    warnings = planner.warnings
    topics: set[str] = set()
    # Listed before anything is written: a first build into an empty or missing directory
    # (every cold build) walks nothing, and what it writes itself is never in question.
    found = _output_files(out) if not old and not manifest_path(config).exists() else []
    with Output(out, config.paths.state, label=f"{config.output_dir}/") as output:
        # Each unit's files are staged as soon as it is rendered: the output is still all or
        # nothing (nothing is in place before the commit), and memory holds one unit at a time.
        by_key = {unit.key: unit for unit in stale}
        catalog.take_bodies()
        for key, made, same in render_units(stale, output, planner, workers):
            for rel in made:
                _claim(owner, rel, key)
            manifest[key] = {"inputs": by_key[key].inputs, "files": sorted(made)}
            if by_key[key].topic:
                topics.update(made)
            unchanged += same
        for key, inputs in planner.deferred_inputs.items():
            manifest[key]["inputs"] = inputs
        static_manifest: dict[str, Any] = {}
        for rel, src in statics:
            if rel in owner:
                warnings.append(Problem(f"static/{rel}", 0, "", clash_message(rel)))
                continue
            try:
                same, static_manifest[rel] = static_unchanged(src, base + rel,
                                                              old.get("static"), rel)
                if same:
                    unchanged += 1
                    continue
            except FileNotFoundError:
                static_manifest[rel] = None
            except OSError as exc:
                raise PublisherError(f"static/{rel}: cannot read: {exc.strerror}") from None
            output.copy(rel, src, RANK_STATIC)
        manifest["static"] = {"files": sorted(static_manifest), "sources": {
            rel: stamp for rel, stamp in static_manifest.items() if stamp is not None}}

        # Files the last build made and this one does not (a review made a draft, a tag that
        # has gone): removed once everything new is in place. Only files publisher wrote.
        keep = set(owner) | set(static_manifest)
        for entry in old.values():
            for rel in unit_files(entry):
                if rel not in keep:
                    output.remove(safe_relpath(rel))
        warnings.extend(_unrecorded_files([rel for rel in found if rel not in keep], config))
        if output.pending:
            written, removed = output.commit()
        else:
            removed = []
    warnings.extend(planner.oversized_warnings())
    rendered = len(stale)

    # Record what is now on disk, each file with its size and mtime, and which review each
    # review page shows.
    for key, review in planner.page_reviews.items():
        if key in manifest:
            sha = planner.fingerprints.get(review.source_path, "")[:16]
            manifest[key]["review"] = [review.source_path, review.id, sha]
    if not dirs_open:
        open_dirs(out, [rel for entry in manifest.values() for rel in entry["files"]])
    stats: dict[str, os.stat_result] = {}
    for entry in manifest.values():
        names = entry["files"]
        if isinstance(names, list):
            entry["files"] = stamps(base, names, stats)
    write_manifest(config, manifest)
    posters.save()
    catalog.save_excerpts()
    items.keep(planner.items_to_keep())
    changed = set(written)
    feeds = tuple(sorted(config.url(rel) for rel in topics if rel in changed
                         and rel.endswith(("feed.xml", "atom.xml", "feed.json"))))
    return BuildReport(written=tuple(written), unchanged=unchanged, warnings=tuple(warnings),
                       removed=tuple(removed), rendered=rendered, topics=feeds,
                       moved=tuple(moved), output=Written(manifest, stats))


def _rehearse(planner: Planner, stale: Sequence[Unit], statics: Sequence[tuple[str, Path]],
              owner: dict[str, str], old: dict[str, dict[str, Any]], out: Path,
              unchanged: int) -> BuildReport:
    """``build_site(dry_run=True)``: render what is stale and compare, write nothing."""
    changed: list[str] = []
    for unit in stale:
        for rel, data in unit.render().items():
            rel = safe_relpath(rel)
            _claim(owner, rel, unit.key)
            if _holds(out / rel, data):
                unchanged += 1
            else:
                changed.append(rel)
    copies = set()
    for rel, src in statics:
        if rel in owner:
            continue
        copies.add(rel)
        try:
            if static_unchanged(src, str(out / rel), old.get("static"), rel)[0]:
                unchanged += 1
                continue
        except OSError:
            pass
        changed.append(rel)
    planner.warnings.extend(planner.oversized_warnings())
    keep = set(owner) | copies
    gone = sorted({rel for entry in old.values() for rel in unit_files(entry)
                   if rel not in keep and (out / rel).is_file()})
    return BuildReport(written=tuple(sorted(changed)), unchanged=unchanged,
                       warnings=tuple(planner.warnings), removed=tuple(gone),
                       rendered=len(stale))


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` already holds exactly ``data``."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _output_files(out: Path) -> list[str]:
    """The files in the output directory, relative, sorted (hidden ones left out)."""
    found: list[str] = []
    for directory, dirs, files in os.walk(out):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # the staging directories
        rel_dir = os.path.relpath(directory, out)
        for name in sorted(files):
            if not name.startswith("."):
                found.append(name if rel_dir == "." else
                             f"{rel_dir}/{name}".replace(os.sep, "/"))
    return found


def _unrecorded_files(found: Sequence[str], config: Config) -> list[Problem]:
    """A warning naming ``found``, the files in the output directory that this build neither
    made nor copied, when no record says what the last build made (``.publisher/cache/
    build.json`` deleted, or public/ kept in git and the publication cloned afresh; a
    feeds-only version's record is empty). Such a file may be a page or feed an earlier build
    made of a review that is now a draft, scheduled, deleted or moved: a build with its record
    removes those itself, this one cannot tell them from files put there by hand, so it leaves
    them and says so."""
    if not found:
        return []
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    record = config.paths.build_manifest
    if record.is_relative_to(config.root):
        record = record.relative_to(config.root)
    return [Problem(
        f"{config.output_dir}/", 0, "",
        f"{count(len(found), 'file')} this build did not make ({', '.join(found[:3])}{more}), "
        "with no record of what the build before it made "
        f"({record} was missing): made by an "
        "earlier build, they may show what is no longer published (a draft, a review deleted "
        f"or moved); delete {config.output_dir}/ and build again")]


def _claim(owner: dict[str, str], rel: str, key: str) -> None:
    other = owner.setdefault(rel, key)
    if other != key:
        fix = ("remove it from that review's aliases"
               if other.startswith("alias:") or key.startswith("alias:")
               else "give the review another slug, or change feeds.permalink")
        raise PublisherError(
            f"{rel} would be written twice (by {_describe(other)} and by {_describe(key)}); "
            + fix)


def _describe(key: str) -> str:
    kind, _, name = key.partition(":")
    return {"page": f"the page {name}", "feed": f"the feed {name or '(site)'}",
            "alias": f"an alias (aliases:) at {name}",
            "archive": f"the archive of {name}", "issue": f"issue #{name}"}.get(kind, key)

def ledger_issues(config: Config, catalog: Catalog) -> tuple[list[Issue], list[Problem]]:
    """The sent issues in the ledger, for the archive, and warnings about reviews they held
    that left the sources; none if there is no ledger yet (a build never creates one, and never
    imports the database layer when there is nothing to read)."""
    database = config.state.database
    if database.startswith("sqlite:///"):
        if not config.resolve(database[len("sqlite:///"):]).is_file():
            return [], []
    # SQLAlchemy and the issue renderers are a third of a cold build's CPU for a publication
    # without a ledger: they are loaded only when there is one to read.
    from ..ledger import open_store
    from ..newsletter.compose import archived_issues

    with open_store(config) as store:
        return archived_issues(store.issues(), catalog, config, store.frozen_issues())


def sent_issues(config: Config, catalog: Catalog) -> list[Issue] | None:
    """The issues sent, as a build shows them on the site, read from the ledger without
    writing to it (``readonly_store``: an older schema is read from a migrated copy); None
    when there is no ledger, or it cannot be read (``check_ledger`` says why)."""
    from ..ledger.probe import readonly_store
    from ..newsletter.compose import archived_issues

    try:
        with readonly_store(config) as store:
            if store is None:
                return None
            issues, _warnings = archived_issues(store.issues(), catalog, config,
                                                store.frozen_issues())
    except PublisherError:
        return None
    return issues


def build_publication(config: Config, *, now: datetime, cache: bool = True) -> BuildReport:
    """What ``publisher build`` does: load the sources, take the sent issues from the ledger
    (when there is one), build everything, and tell the WebSub hub (when there is one) which
    feeds changed."""
    # With bodies: the processes that shared the parsing render the bodies they parsed while
    # this one plans alone (build_site takes them before rendering).
    catalog = load_reviews(config, cache=cache, bodies=True)
    try:
        issues, warnings = ledger_issues(config, catalog)
        report = build_site(config, now=now, issues=issues, catalog=catalog, cache=cache)
    finally:
        catalog.end_meanwhile()
    hub = announce(config, report.topics)
    return replace(report, warnings=report.warnings + tuple(warnings), websub=hub.line,
                   steady=steady(config, catalog, now))

