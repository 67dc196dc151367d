"""``publisher build``: sources → feeds and their archives, the site's pages, the issue archive
and static files, in the output directory.

A build is a plan of *units* — a feed (its three files), a month's archive, a review's page, a
page of an index, the sitemap, … — each with a digest of everything it is made from (its
reviews, its neighbours, the site's settings, the templates, this code). A unit whose digest
and files are as the last build left them (``.publisher/cache/build.json`` keeps both) is not
rendered at all; the others are rendered in memory, and only files whose bytes changed are
written. So a build with nothing changed renders and writes nothing, and unchanged files keep
their mtime.

Everything is rendered before anything is written, and writing is all-or-nothing as a reader
sees it (``output.Output``: stage, then commit): a build that fails — an invalid source, a
template error, a full disk, a read-only output — leaves the previous output exactly as it was.

Symbolic links in static/ (and in reviews/, see sources/catalog.py) may point anywhere inside
the publication and nowhere outside it: a link that leaves is refused, by name, and nothing is
written (``files.escapes``).
"""

from __future__ import annotations

import filecmp
import functools
import gc
import hashlib
import itertools
import math
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import orjson
from markupsafe import Markup

from ..config import READER_PATHS, Config, moved_path
from ..cores import default_workers
from ..errors import Problem, PublisherError, SourceError, TemplateError
from ..files import escapes, private_target, write_atomic
from ..models import PUBLISHED_ONLY, Issue, Review, Showing, SitePage
from ..render.engine import DEFAULT_TEMPLATES
from ..render.feeds import XSL_PATH, FeedRenderer, Paging
from ..render.pages import (
    SEARCH_INDEX,
    SEARCH_PATH,
    PageRenderer,
    Term,
    index_path,
    page_file,
    render_robots,
    render_sitemap,
)
from ..render.related import Related, Suggestions
from ..render.site import Site
from ..render.words import ENGLISH, Words
from ..slips import Slips
from ..sources import Catalog, load_reviews
from ..sources.cache import TextCache, cache_key
from ..sources.frontmatter import NEAR_MISSES
from ..sources.posters import PosterFacts
from ..sources.schema import derived_id
from ..text import collation_key, count, slugify
from .idle import Written
from .output import Output, build_lock, sweep
from .rendering import (
    RANK_FEED,
    RANK_HOME,
    RANK_INDEX,
    RANK_LEAF,
    RANK_MAP,
    RANK_STATIC,
    Unit,
    render_units,
    safe_relpath,
)
from .websub import announce

MANIFEST_VERSION = 2
#: Broken links in review bodies that a build names one by one (``publisher check`` names
#: all of them); the rest are counted.
LINKS_NAMED = 20
#: Feeds over 1 MB named one by one in a build's warnings; past this many, counted.
FEEDS_NAMED = 3
#: Tags (or reviewers) gone in one build named one by one; past this many, one warning.
GONE_NAMED = 3
#: Files publisher writes besides pages (feeds, their archives, the sitemap, the stylesheets):
#: links to them are not checked (the units that make them do not name their files).
_GENERATED = (".xml", ".json", ".xsl", ".css", ".txt")
#: Reviews whose page moved, or whose feed id changed, that a build names one by one
#: (moved_pages); the rest are counted.
MOVES_NAMED = 5
_ITEMS = "items.pickle"  # the list items, kept between builds (_Planner.reuse_items)


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
    #: changed, since the last build: said by this build only, so ``publisher run`` passes them
    #: on where it keeps the rest for ``publisher check``.
    moved: tuple[Problem, ...] = ()
    #: The clock times over which the same sources make the same output (``steady``).
    steady: tuple[datetime | None, datetime | None] = (None, None)
    #: The manifest this build wrote and the stat of the files it lists, taken after the
    #: commit, for the idle check to sign the output with (None: a dry run).
    output: Written | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class FeedSpec:
    """One feed to write: where under the output directory, its title, and its reviews."""

    path: str  # "" for the site feed, else "reviewers/<slug>/" or "tags/<slug>/"
    title: str
    description: str
    reviews: tuple[Review, ...]  # newest first, at most config.feeds.limit


def plan_feeds(config: Config, published: Sequence[Review],
               groups: Mapping[str, list[Term]] | None = None,
               words: Words = ENGLISH) -> list[FeedSpec]:
    """The site feed, plus one per reviewer and per tag when enabled in [feeds], titled in
    ``words``' language. With ``groups`` (``_groups`` of them), ``published`` is oldest first
    already."""
    limit = config.feeds.limit
    site = config.title
    if groups is None:
        published = sorted(published, key=lambda r: (r.date, r.slug))
        groups = _groups(published)
    specs = [FeedSpec("", site, config.description or words("feed_description", site=site),
                      tuple(published[-limit:][::-1]))]
    if config.feeds.per_reviewer:
        for term in groups["reviewers"]:
            name = term.name
            specs.append(FeedSpec(f"reviewers/{term.slug}/",
                                  words("feed_reviewer_title", site=site, name=name),
                                  words("feed_reviewer_description", site=site, name=name),
                                  term.reviews[:limit]))
    if config.feeds.per_tag:
        for term in groups["tags"]:
            specs.append(FeedSpec(f"tags/{term.slug}/", f"{site}: {term.name}",
                                  words("feed_tag_description", site=site, name=term.name),
                                  term.reviews[:limit]))
    return specs


def _groups(published: Sequence[Review]) -> dict[str, list[Term]]:
    """Every reviewer and every tag with its reviews, newest first; ``published`` oldest
    first. A name is spelt as its newest review spells it."""
    by_reviewer: dict[str, list[Review]] = {}
    by_tag: dict[str, list[Review]] = {}
    slug_of = functools.cache(slugify)  # once per distinct name, not once per review
    for review in published:
        by_reviewer.setdefault(slug_of(review.reviewer), []).append(review)
        seen = set()
        for tag in review.tags:
            slug = slug_of(tag)
            if slug not in seen:
                seen.add(slug)
                by_tag.setdefault(slug, []).append(review)
    reviewers = [Term("reviewers", slug, reviews[-1].reviewer, tuple(reviews[::-1]))
                 for slug, reviews in by_reviewer.items()]
    tags = []
    for slug, reviews in by_tag.items():
        newest = reviews[-1]
        name = next(t for t in newest.tags if slug_of(t) == slug)
        tags.append(Term("tags", slug, name, tuple(reviews[::-1])))
    # In the order of their names as written, not of their slugs: a slug spells a name in
    # other scripts in Latin letters ("נועה" is nvh), which would sort Hebrew by transliteration.
    return {"reviewers": sorted(reviewers, key=_by_name), "tags": sorted(tags, key=_by_name)}


def _by_name(term: Term) -> tuple[str, str]:
    return collation_key(term.name), term.slug


def name_warnings(config: Config, published: Sequence[Review]) -> list[str]:
    """For ``publisher check``: reviewers or tags spelt differently that share one page and
    feed, because ``_groups`` makes one of all names with the same slug ("Sci-Fi" and "sci fi";
    "C++" and "C"). Each spelling is named with the first file that uses it."""
    site = Site.from_config(config)
    has_pages = {"reviewers": site.pages or config.feeds.per_reviewer,
                 "tags": site.pages or config.feeds.per_tag}
    warnings = []
    slug_of = functools.cache(slugify)
    groups = _groups(sorted(published, key=lambda r: (r.date, r.slug)))
    for kind, terms in groups.items():
        for term in terms if has_pages[kind] else ():
            first_file: dict[str, str] = {}  # spelling -> the first file that uses it
            for review in reversed(term.reviews):  # oldest first
                names = (review.reviewer,) if kind == "reviewers" else review.tags
                name = next(n for n in names if slug_of(n) == term.slug)
                first_file.setdefault(name, review.source_path or review.slug)
            if len(first_file) > 1:
                listed = ", ".join(f"'{name}' ({where})" for name, where in first_file.items())
                warnings.append(f"{kind} {listed} share one page and feed, {kind}/{term.slug}/, "
                                f"shown as '{term.name}'; spell them alike, or rename one to "
                                "give it its own")
    return warnings


def _counted(moved: list[Problem], renamed: list[Problem], config: Config) -> list[Problem]:
    """Moved pages and changed feed ids: a new permalink pattern moves every page at once, a
    new domain changes every derived id, so a few are named and the rest counted."""
    if len(moved) > MOVES_NAMED:
        moved = [*moved[:MOVES_NAMED], Problem(
            config.reviews_dir + "/", 0, "aliases",
            f"and {len(moved) - MOVES_NAMED} more reviews' pages moved (did "
            "feeds.permalink change? then add the old pattern to "
            "feeds.former_permalinks): links to their old addresses now find nothing")]
    if len(renamed) > MOVES_NAMED:
        renamed = [*renamed[:MOVES_NAMED], Problem(
            config.reviews_dir + "/", 0, "id",
            f"and {len(renamed) - MOVES_NAMED} more reviews' feed ids changed (did "
            "base_url's domain change?): give each its old id to keep it")]
    return moved + renamed


def _renamed(review: Review, old_id: str, keep_id: str) -> Problem:
    """The warning for ``review``, whose feed id was ``old_id``."""
    return Problem(review.source_path, 0, "id",
                   f"its feed id changed from {old_id} to {review.id}; add {keep_id}")


def _feed_items(path: Path) -> list[Mapping[str, Any]]:
    """The items of the JSON feed at ``path`` as the last build left it; [] if unreadable."""
    try:
        items = orjson.loads(path.read_bytes()).get("items")
    except (OSError, ValueError, AttributeError):
        return []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def manifest_path(config: Config) -> Path:
    return config.paths.build_manifest


def _read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, ValueError):  # orjson.JSONDecodeError is a ValueError
        return {}  # missing or unreadable: every unit is rendered and compared byte for byte
    if not isinstance(data, dict):
        return {}
    units = data.get("units")
    if data.get("version") == MANIFEST_VERSION and isinstance(units, dict):
        return units
    if data.get("version") == 1 and isinstance(data.get("feeds"), dict):
        # The feeds-only manifest of earlier versions: kept for its file list, so that the
        # feeds of a tag that has gone are still removed.
        return {f"feed:{path}": {"files": entry.get("files", {})}
                for path, entry in data["feeds"].items() if isinstance(entry, dict)}
    return {}


def _stamp_at(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _stamps(base: str, names: Sequence[str], stats: dict[str, os.stat_result]
            ) -> dict[str, list[int] | None]:
    """``_stamp_at`` of each of ``names`` (files under ``base``); each file's stat is kept
    in ``stats`` too (what the idle check signs the output with: ``idle.Written``)."""
    stamps: dict[str, list[int] | None] = {}
    for rel in names:
        try:
            st = os.stat(base + rel)
        except OSError:
            stamps[rel] = None
            continue
        stats[rel] = st
        stamps[rel] = [st.st_size, st.st_mtime_ns]
    return stamps


def _static_stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _static_unchanged(src: Path, dest: str, old: dict[str, Any] | None, rel: str
                      ) -> tuple[bool, list[int]]:
    """Whether ``dest`` already holds what ``src`` (static/``rel``) holds, and ``src``'s stamp
    to record. The fast answer compares both files' stamps with the last build's; anything else
    compares the bytes. (A copy newer than its source proves nothing: the clock may have been
    set back since the copy, or the source put in place with an older mtime by rsync -t or
    cp -p.) Raises OSError when either file cannot be read (FileNotFoundError: no copy yet)."""
    s, d = src.stat(), os.stat(dest)
    stamp = _static_stamp(s)
    if s.st_size != d.st_size:
        return False, stamp
    sources = old.get("sources") if old is not None else None
    copies = _unit_files(old)
    if (isinstance(sources, dict) and sources.get(rel) == stamp
            and copies.get(rel) == [d.st_size, d.st_mtime_ns]):
        return True, stamp
    return filecmp.cmp(src, dest, shallow=False), stamp


@functools.cache
def _code_digest() -> str:
    """Digest of the code and packaged templates that shape the output: a change to any of
    them renders every unit again."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.blake2b(digest_size=16)
    for path in sorted([*package.glob("render/*.py"), package / "models.py", package / "text.py",
                        package / "pipeline/build.py", *DEFAULT_TEMPLATES.glob("*")]):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _templates_digest(templates: Path) -> str:
    """Digest of the publication's own templates (names and contents)."""
    h = hashlib.blake2b(digest_size=16)
    if templates.is_dir():
        for path in sorted(templates.rglob("*")):
            if path.is_file():
                h.update(path.relative_to(templates).as_posix().encode())
                try:
                    h.update(path.read_bytes())
                except OSError:
                    pass
    return h.hexdigest()


def _digest(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


def _digest_texts(*texts: str) -> str:
    """A digest of ``texts``, which tells them apart as ``_digest`` does: joined by NUL
    rather than written as a repr (a sixth of the time; 10,000 review pages are digested in a
    first build). Texts holding a NUL themselves, which no title or URL does, go to
    ``_digest`` (a repr holds no NUL, so the two never give the same text)."""
    joined = "\0".join(texts)
    if joined.count("\0") != len(texts) - 1:
        return _digest(*texts)
    return hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _holds_publication(real: Path, root: Path, out: Path) -> bool:
    """Whether the folder ``real`` is the publication ``root`` itself, or holds the output
    ``out`` or lies within it (all given resolved)."""
    return real == root or out.is_relative_to(real) or real.is_relative_to(out)


def _left_out_of_static(name: str, top: bool) -> bool:
    """Hidden files (.DS_Store, .git, vim's .x.swp, Emacs's .#x lock) and editors' backups and
    autosaves (``x~``, Emacs's ``#x#``): they hold what the editor has not saved or has
    replaced, never what the site means to serve. Hugo leaves out the same names. The one
    hidden name a site must serve is kept: ``.well-known/`` at its root (RFC 8615), where
    security.txt, ACME challenges and app-link files are looked for."""
    if top and name == ".well-known":
        return False
    return name.startswith((".", "#")) or name.endswith("~")


def static_files(config: Config) -> list[tuple[str, Path]]:
    """(relative path, source) for every file under <root>/static/, hidden files and editors'
    backups skipped.

    Symbolic links are followed while they stay inside the publication; one that leads out
    of it is refused: PublisherError naming every such link, before anything is written. So is
    one that leads to what the publication keeps private (``files.private_target``: a hidden
    file or folder such as .publisher/, or the ledger's file), one that leads to a source of
    reviews or pages (a draft's or a scheduled review's Markdown would be on the web before
    the review is: in a linked folder, such as a page bundle's whose images are wanted, the
    sources are left out), one that leads to publisher.toml, one that leads to the whole
    publication or to the output (the settings, every source, the site copied into itself
    again on every build), and a site.icon that is not among the files: every page and feed
    would name it."""
    static = config.paths.static
    root = config.root.resolve()
    allowed = [root]
    private = [*config.ledger_files(), config.path.resolve()]
    source_dirs = [config.paths.reviews.resolve(), config.paths.pages.resolve()]
    out = config.output_path.resolve()
    found: list[tuple[str, Path]] = []
    refused: list[str] = []
    whole: list[str] = []
    hidden: list[str] = []
    sources: list[str] = []
    seen: set[Path] = set()

    def walk(directory: Path, rel: str, linked: bool) -> None:
        real = directory.resolve()
        if real in seen:  # a link back up the tree
            return
        seen.add(real)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise PublisherError(f"static/{rel}: cannot read: {exc.strerror}") from None
        for entry in entries:
            if _left_out_of_static(entry.name, top=not rel):
                continue
            path, name = Path(entry.path), rel + entry.name
            link = entry.is_symlink()
            if link:
                target = escapes(path, allowed)
                if target is not None:
                    refused.append(f"static/{name} → {target}")
                    continue
            if link or linked:  # a file reached through a link may be anywhere in the root
                target = private_target(path, root, private)
                if target is not None:
                    hidden.append(f"static/{name} → {target}")
                    continue
                real = path.resolve()
                if (real.name.lower().endswith(NEAR_MISSES)
                        and any(real.is_relative_to(place) for place in source_dirs)):
                    if link:  # meant to be published: say why it cannot be
                        sources.append(f"static/{name} → {real}")
                    continue  # in a linked folder (a page bundle's images): left out
            if entry.is_dir():
                # ``real``: where the link leads, resolved just above.
                if link and _holds_publication(real, root, out):
                    whole.append(f"static/{name} → {real}")
                    continue
                walk(path, name + "/", linked or link)
            elif entry.is_file():
                found.append((name, path))

    if static.is_symlink() and escapes(static, allowed) is not None:
        refused.append(f"static → {static.resolve()}")
    elif static.is_symlink() and private_target(static, root, private) is not None:
        hidden.append(f"static → {static.resolve()}")
    elif static.is_symlink() and _holds_publication(static.resolve(), root, out):
        whole.append(f"static → {static.resolve()}")
    else:
        walk(static, "", static.is_symlink())
    copy = "copy the file into static/ or remove the link"
    for links, why, fix in (
            (refused, "a symbolic link out of the publication; publisher never publishes a "
                      "file from outside it (it could be a secret)", copy),
            (hidden, "a symbolic link to a hidden file of the publication, to its ledger or "
                     "to publisher.toml; publisher never publishes those (they hold "
                     "subscribers' addresses, secrets and settings)", copy),
            (sources, "a symbolic link to a review's or page's source; publisher never "
                      "publishes those (drafts and scheduled reviews are among them)", copy),
            (whole, "a symbolic link to the whole publication or to the site publisher "
                    "writes; publisher never publishes those (the settings and every source, "
                    "and the site copied into itself again on every build)",
             "link the folders you mean to publish instead")):
        if links:
            more = f" (and {len(links) - 1} more)" if len(links) > 1 else ""
            raise PublisherError(f"{links[0]}{more}: {why}: {fix}")
    icon = config.icon_path
    if icon and not any(rel == icon for rel, _path in found):
        raise PublisherError(f"{config.path}: site.icon: static/{icon} is not there; put the "
                             "image there, or remove the key")
    return found


@dataclass(frozen=True)
class Learned:
    """What a forked worker hands back besides its files (``_Planner.learned``)."""

    warnings: tuple[Problem, ...]
    posters: dict[str, list[int]]
    excerpts: tuple[tuple[int, str], ...]  # (position in _Planner.published, summary)
    items: tuple[tuple[int, str], ...]  # (position, the review as the indexes list it)
    oversized: tuple[tuple[str, int, int], ...]  # _Planner.oversized
    inputs: tuple[tuple[str, str], ...]  # (unit key, digest) made where rendered: ``deferred``


class _Planner:
    """Builds the list of units for one build; digests each review once."""

    def __init__(self, config: Config, site: Site, catalog: Catalog,
                 issues: Sequence[Issue], posters: PosterFacts, now: datetime,
                 showing: Showing = PUBLISHED_ONLY, *, deferred: bool = False) -> None:
        self.config, self.site, self.now = config, site, now
        #: Whether the digests that cost most to make (the review pages', the archives', the
        #: index pages', the search index's, the sitemap's: half of planning 10,000 reviews)
        #: are made where each unit is rendered instead of now. A build with no earlier
        #: manifest to compare them with (a first build) needs them only for the manifest it
        #: writes; made there, they are shared among the processes that render, not made by
        #: the parent while the other cores wait. A forked worker hands its digests back
        #: (``handback``).
        self.deferred = deferred
        #: The digests made where their units were rendered, by unit key (``deferred``).
        self.deferred_inputs: dict[str, str] = {}
        self.warnings = list(catalog.warnings)
        self.fingerprints = catalog.fingerprints
        # "published" from here on: what this build shows (the preview may show drafts too).
        shown: list[Review] = []
        self.unpublished: list[Review] = []
        for r in catalog.reviews:  # one pass: ``shows`` is asked once of each review
            (shown if showing.shows(r, now) else self.unpublished).append(r)
        self.published = sorted(shown, key=lambda r: (r.date, r.slug))
        # An edit dated in the future is nearly always a typo (2027 for 2026), and the feeds,
        # the pages and the sitemap would say it for months. Checked here, not when a source
        # is read: the parse cache keeps what does not depend on the clock.
        self.warnings.extend(
            Problem(r.source_path, 0, "updated", (
                f"{r.updated.astimezone(site.tz):%Y-%m-%d} is in the future; feeds and the "
                "sitemap will say the review was edited then. Give the day it was edited"))
            for r in self.published if r.updated > now)
        self.issues = list(issues)
        self.posters = posters
        self.groups = _groups(self.published)
        # "YYYY-MM" of each published review in the publication's zone, in the same order:
        # its archive and the shard its page is rendered with.
        # (Formatted by hand, as ``months`` writes them: strftime took 40 ms at 10,000.)
        self.month_of = [f"{d.year:04d}-{d.month:02d}"
                         for d in [r.date.astimezone(site.tz) for r in self.published]]
        #: The site's own pages (pages/*.md): only where publisher builds the site.
        own = [page for page in catalog.pages if showing.shows_page(page)]
        self.site_pages = own if site.pages else []
        self.unbuilt_pages = [] if site.pages else [p for p in catalog.pages if not p.draft]
        #: Pages not shown (drafts): a link to one is a link to nothing yet.
        self.hidden_pages = [page for page in catalog.pages if not showing.shows_page(page)]
        menu = [page for page in self.site_pages if page.menu or page.footer]
        self.pages = PageRenderer(site, poster_facts=posters.facts, issues=bool(self.issues),
                                  menu=menu)
        reviewer_url = self.pages.reviewer_url if site.pages else None
        self.feeds = FeedRenderer(site, poster_facts=posters.facts, reviewer_url=reviewer_url,
                                  card=self.pages.card)
        self._reviews: dict[int, str] = {}
        self._related_keys: dict[tuple[int, str], str] = {}
        #: The review each review page shows, by unit key (what the manifest records, so that
        #: the next build can tell a page that moved from one that went: ``moved_pages``).
        self.page_reviews: dict[str, Review] = {}
        #: The source of each of the site's own pages, by unit key (for a page that another
        #: would write over: ``refuse_clashing_pages``).
        self.page_sources: dict[str, str] = {}
        #: The paths of the pages ``moved_pages`` found moved (``lost_issue_links`` leaves
        #: those to it).
        self.moved_from: set[str] = set()
        self.base = _digest(_code_digest(), cache_key(config), _templates_digest(site.templates),
                            repr(site), bool(self.issues),
                            [(page.menu, page.footer, page.title, page.url)
                             for page in menu])  # in every page's navigation and footer
        self.units: list[Unit] = []
        #: Each feed planned, by its directory: (spec, paging, inputs), for ``plan_moved``.
        self.feed_plans: dict[str, tuple[FeedSpec, Paging | None, str]] = {}
        #: Each feed that went over MAX_FEED_BYTES in full: (its path, entries shortened,
        #: entries left out), for ``oversized_warnings``.
        self.oversized: list[tuple[str, int, int]] = []
        self._shared_since = 0  # where the warnings of the wave being shared begin
        #: The review each alias page sends readers to, by the file it writes (``plan_moved``
        #: names the review whose aliases claim a directory that [moved] claims too).
        self.alias_reviews: dict[str, Review] = {}

    def review(self, review: Review) -> str:
        """A digest of the review and its poster's facts (once per review per build): from
        its source file's sha256 and name when the catalogue has them (a review is its file
        read under the sources' cache key, which is in ``base``; the name gives the slug when
        the front matter does not), else from its repr."""
        found = self._reviews.get(id(review))
        if found is None:
            facts = self.posters.facts(review.poster.src) if review.poster else None
            source = self.fingerprints.get(review.source_path)
            # repr names what a deferred body is made from without rendering it (models.py)
            found = (_digest(source, review.source_path, facts) if source
                     else _digest(repr(review), facts))
            self._reviews[id(review)] = found
        return found

    def _listing(self, reviews: Sequence[Review], *parts: object) -> str:
        """The digest of a unit that lists ``reviews`` (an archive, an index page): ``parts``
        and each review's digest. Thousands of reviews' digests: made as ``add`` says."""
        return _digest(self.base, *parts, [self.review(r) for r in reviews])

    def add(self, key: str, rank: int, inputs: str | Callable[[], str],
            render: Callable[[], dict[str, bytes]], topic: bool = False,
            shard: int | None = None) -> None:
        """Plan a unit. ``inputs``, its digest, may be given as what makes it, when that
        costs much: made now, or (``deferred``) where the unit is rendered. A deferred unit
        is planned without inputs, so that it is rendered whatever an earlier manifest says."""
        if callable(inputs):
            if self.deferred:
                render = functools.partial(self._digest_and_render, key, inputs, render)
                self.units.append(Unit(key, rank, None, render, topic, shard))
                return
            inputs = inputs()
        self.units.append(Unit(key, rank, inputs, render, topic, shard))

    def _digest_and_render(self, key: str, inputs: Callable[[], str],
                           render: Callable[[], dict[str, bytes]]) -> dict[str, bytes]:
        # Digested before it is rendered: from what the plan had, as ``add`` would have.
        self.deferred_inputs[key] = inputs()
        return render()

    # -- the reviews as the indexes list them ------------------------------------------------

    def _item_key(self, review: Review) -> str:
        # The review's digest and its file, side by side: two files alike, two items. Not
        # digested again (a key is only looked up, and a digest each was a third of what
        # keeping the items cost after a first build).
        return f"{self.review(review)}\0{review.source_path}"

    def reuse_items(self, kept: dict[str, str]) -> None:
        """Take the list items an earlier build made (``items_to_keep``; kept under ``base``:
        the code, the templates, the site). A build that adds one review shifts every page of
        every index it is on, and rendered every review's item again: at 10,000 reviews, a
        fifth of that build, in each of its processes."""
        if kept and self.site.pages:
            self.pages.take_items([(r, Markup(item)) for r in self.published
                                   if (item := kept.get(self._item_key(r))) is not None])

    def items_to_keep(self) -> dict[str, str]:
        """The list items of the published reviews this build has, for the next."""
        published = {id(review) for review in self.published}
        return {self._item_key(review): str(item) for review, item in self.pages.items()
                if id(review) in published}

    # -- sharing the rendering (rendering.Sharing) ------------------------------------------

    def snapshot(self) -> tuple[int, int, int]:
        self._shared_since = len(self.warnings)
        return len(self.warnings), len(self.oversized), len(self.deferred_inputs)

    def settle(self) -> None:
        if self.site.pages:
            self.pages.carded_items()  # made now, alongside the workers' (see handback)

    def handback(self, before: tuple[int, int, int]) -> Learned:
        """In a forked worker, what rendering taught it that the build keeps: warnings,
        posters' sizes, derived summaries (by position in ``published``), list items and the
        digests of ``deferred`` units."""
        excerpts = [(i, text) for i, review in enumerate(self.published)
                    if (text := review.computed_summary()) is not None]
        items: list[tuple[int, str]] = []
        if self.site.pages:
            # The indexes list every review: its item is made where its card was.
            where = {id(review): i for i, review in enumerate(self.published)}
            items = [(where[id(review)], str(item))
                     for review, item in self.pages.carded_items() if id(review) in where]
        return Learned(tuple(self.warnings[before[0]:]), self.posters.learned(),
                       tuple(excerpts), tuple(items), tuple(self.oversized[before[1]:]),
                       tuple(itertools.islice(self.deferred_inputs.items(), before[2], None)))

    def take(self, learned: Learned) -> None:
        # Which process renders what is decided as they go (cores.ShareQueue): the
        # warnings of a shared wave are put in an order that does not depend on it.
        self.warnings.extend(learned.warnings)
        self.warnings[self._shared_since:] = sorted(self.warnings[self._shared_since:], key=str)
        self.oversized.extend(learned.oversized)
        self.posters.learn(learned.posters)
        published = self.published
        for i, text in learned.excerpts:
            published[i].take_summary(text)
        self.pages.take_items([(published[i], Markup(item)) for i, item in learned.items])
        self.deferred_inputs.update(learned.inputs)

    # -- feeds ----------------------------------------------------------------------------

    def plan_feeds(self) -> list[FeedSpec]:
        specs = plan_feeds(self.config, self.published, self.groups, self.site.words)
        months = self.months()
        newest_archive = _archive_dir(months[-1]) if months else None
        for spec in specs:
            paging = Paging(prev=newest_archive) if spec.path == "" and months else None
            inputs = _digest(self.base, spec.path, spec.title, spec.description, paging,
                             [self.review(r) for r in spec.reviews])
            self.feed_plans[spec.path] = (spec, paging, inputs)
            self.add(f"feed:{spec.path}", RANK_FEED, inputs,
                     functools.partial(self._feed, spec, paging), topic=True)
        self.plan_archives(months)
        return specs

    def _feed(self, spec: FeedSpec, paging: Paging | None) -> dict[str, bytes]:
        feed = self.feeds.render(spec.reviews, path=spec.path, title=spec.title,
                                 description=spec.description, paging=paging)
        if feed.shortened or feed.dropped:
            self.oversized.append((f"{self.config.output_dir}/{spec.path}feed.xml",
                                   feed.shortened, feed.dropped))
        return {spec.path + name: data for name, data in feed.files.items()}

    def oversized_warnings(self) -> list[Problem]:
        """The feeds that went over 1 MB with every review in full: each named when there are
        a few, else one warning for them all (one long review shortened in the feed of each of
        its 150 tags is one thing to know, not 150)."""
        found = sorted(self.oversized)

        def what(shortened: int, dropped: int) -> str:
            parts = []
            if shortened:
                parts.append(f"{count(shortened, 'entry', 'entries')} shortened to "
                             f"{'its' if shortened == 1 else 'their'} logline")
            if dropped:
                parts.append(f"{count(dropped, 'oldest entry', 'oldest entries')} left out")
            return " and ".join(parts)

        if len(found) <= FEEDS_NAMED:
            return [Problem(path, 0, "", f"over 1 MB with every review in full: {what(s, d)}")
                    for path, s, d in found]
        named = ", ".join(path for path, _s, _d in found[:FEEDS_NAMED])
        return [Problem(f"{self.config.output_dir}/", 0, "", (
            f"{len(found)} feeds are over 1 MB with every review in full ({named} and "
            f"{len(found) - FEEDS_NAMED} more): "
            + what(sum(s for _p, s, _d in found), sum(d for _p, _s, d in found))))]

    def months(self) -> list[str]:
        """"YYYY-MM" of every month from the oldest published review's to ``now``'s, in the
        publication's zone (months without reviews too, so that each archive's neighbours
        exist when its month ends and it never has to change again)."""
        if not self.published:
            return []
        tz = self.site.tz
        first = self.published[0].date.astimezone(tz)
        last = max(self.now.astimezone(tz), self.published[-1].date.astimezone(tz))
        year, month, out = first.year, first.month, []
        while (year, month) <= (last.year, last.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def plan_archives(self, months: list[str]) -> None:
        """RFC 5005 archives of the site feed: one document per month (in each format)."""
        by_month: dict[str, list[Review]] = {m: [] for m in months}
        for review, month in zip(self.published, self.month_of, strict=True):
            by_month[month].append(review)
        title, words = self.config.title, self.site.words
        for i, month in enumerate(months):
            paging = Paging(current="", archive=True,
                            prev=_archive_dir(months[i - 1]) if i else None,
                            next=_archive_dir(months[i + 1]) if i + 1 < len(months) else None)
            reviews = by_month[month]
            label = words.month(int(month[:4]), int(month[5:]))
            path = _archive_dir(month)
            inputs = functools.partial(self._listing, reviews, month, paging)
            self.add(f"archive:{month}", RANK_LEAF, inputs, functools.partial(
                self._archive, reviews, path,
                words("feed_archive_title", site=title, month=label),
                words("feed_archive_description", site=title, month=label), paging,
                datetime(int(month[:4]), int(month[5:]), 1, tzinfo=self.site.tz)), shard=i)

    def _archive(self, reviews: list[Review], path: str, title: str, description: str,
                 paging: Paging, begins: datetime) -> dict[str, bytes]:
        files = self.feeds.render_archive(reviews, path=path, title=title,
                                          description=description, paging=paging,
                                          begins=begins)
        return {path + name: data for name, data in files.items()}

    # -- pages ----------------------------------------------------------------------------

    def plan_pages(self, specs: Sequence[FeedSpec]) -> None:
        site, pages = self.site, self.pages
        published = self.published
        # The stylesheet and the feeds' XSLT: also for a site whose pages live elsewhere, so
        # that its feeds still read well in a browser.
        base = self.base
        self.add("site.css", RANK_STATIC, base, lambda: {"site.css": pages.css})
        self.add(XSL_PATH, RANK_STATIC, base, lambda: {XSL_PATH: pages.feed_stylesheet()})
        if not site.pages:
            self.warnings.extend(Problem(page.source_path, 0, "", (
                "not built: publisher builds no pages here (feeds.permalink is another "
                "site's), so this page belongs on that site")) for page in self.unbuilt_pages)
            return
        shards = {month: i for i, month in enumerate(self.months())}
        # Each page's suggestions are picked when its digest or the page is made: in a first
        # build, by the process that renders the page.
        related = Suggestions(published, site.related, site.words)
        for i, review in enumerate(published):
            rel = page_file(review.url, site)
            if rel is None:
                continue  # its page is elsewhere (front matter url:)
            older = published[i - 1] if i else None
            newer = published[i + 1] if i + 1 < len(published) else None
            self.page_reviews[f"page:{rel}"] = review
            self.add(f"page:{rel}", RANK_LEAF, functools.partial(
                self._page_inputs, review, older, newer, related, i), functools.partial(
                lambda rel, r, o, n, i: {rel: pages.review_page(r, o, n, related[i])}, rel,
                review, older, newer, i), shard=shards[self.month_of[i]])
        newest = published[::-1]
        latest = newest[:site.home_reviews]
        self.add("page:index.html", RANK_HOME,
                 _digest(base, len(published), [self.review(r) for r in latest]),
                 lambda: {"index.html": pages.home(latest, len(published))})
        self._plan_index("reviews", None, tuple(newest))
        for kind in ("reviewers", "tags"):
            terms = self.groups[kind]
            for term in terms:
                self._plan_index(kind, term, term.reviews)
            counts = [(t.slug, t.name, len(t.reviews)) for t in terms]
            self.add(f"page:{kind}/", RANK_HOME, _digest(base, counts), functools.partial(
                lambda kind, terms: {f"{kind}/index.html": pages.terms_page(kind, terms)},
                kind, terms))
        self.add("page:404.html", RANK_HOME, base, lambda: {"404.html": pages.not_found()})
        for page in self.site_pages:
            rel = f"{page.slug}/index.html"
            self.page_sources[f"page:{rel}"] = page.source_path
            self.add(f"page:{rel}", RANK_LEAF, _digest(base, page), functools.partial(
                lambda rel, page: {rel: pages.site_page(page)}, rel, page))
        if site.search:
            self.add(f"page:{SEARCH_PATH}", RANK_HOME, base, lambda: {
                f"{SEARCH_PATH}index.html": pages.search_page()})
            # Its inputs are what it shows: a new summary or body does not make it again.
            self.add(SEARCH_INDEX, RANK_HOME, lambda: _digest(base, [
                (r.title, r.url, r.reviewer, r.date, r.film.year, r.film.director,
                 r.film.starring, r.tags, r.rating) for r in newest]),
                lambda: {SEARCH_INDEX: pages.search_index(newest)})
        months = self.months()
        archive = _archive_dir(months[-1]) if months else ""
        names = [(t.kind, t.slug, t.name) for t in self.groups["reviewers"] + self.groups["tags"]]
        self.add("page:feeds/", RANK_HOME, _digest(base, names, archive),
                 lambda: {"feeds/index.html": pages.feeds_page(
                     reviewers=self.groups["reviewers"], tags=self.groups["tags"],
                     archive=archive, issues_feed=bool(self.issues))})
        if urlsplit(site.base_url).path in ("", "/"):
            # Crawlers read robots.txt only at the root of a host.
            self.add("robots.txt", RANK_MAP, base, lambda: {"robots.txt": render_robots(site)})

    def _page_inputs(self, review: Review, older: Review | None, newer: Review | None,
                     related: Suggestions, i: int) -> str:
        """The digest of a review's page: the review, its neighbours and what it suggests."""
        # A neighbour's title and URL, or two empty texts (a review's URL is never empty).
        return _digest_texts(self.base, self.review(review),
                             *((older.title, older.url) if older is not None else ("", "")),
                             *((newer.title, newer.url) if newer is not None else ("", "")),
                             *[self._related_key(r) for r in related[i]])

    def _related_key(self, related: Related) -> str:
        """A digest of what a review page shows of a related review, made once for each: a
        review is suggested on many pages (38,000 entries at 10,000 reviews, 1,200 different),
        and the repr of four of them in each page's inputs took longer than the rest of its
        planning."""
        # Looked up by the review's identity (it lives as long as the plan, as in
        # ``review``): building the tuple it shows, to look it up by, cost more than the
        # digest saved.
        other, reason = related
        found = self._related_keys.get((id(other), reason))
        if found is None:
            year = other.film.year
            found = self._related_keys[id(other), reason] = _digest_texts(
                other.title, other.url, reason, other.reviewer,
                "" if year is None else str(year))
        return found

    def plan_aliases(self) -> None:
        """A page at each of a review's earlier addresses (``aliases:``, and its address under
        each of ``feeds.former_permalinks``) sending readers on to it, as Hugo writes them:
        links in issues already sent and in readers' feeds keep working after a slug or the
        permalink pattern changes. Call it after every page is planned."""
        formers = self.config.feeds.former_permalinks
        with_aliases = [r for r in self.published if r.aliases]
        if not with_aliases and not formers:
            return
        if not self.site.pages:
            ignored = ("ignored: publisher builds no pages here (feeds.permalink is another "
                       "site's), so the old addresses are for that site to redirect")
            self.warnings.extend(Problem(review.source_path, 0, "aliases", ignored)
                                 for review in with_aliases)
            if formers:
                self.warnings.append(Problem(self.config.path.name, 0,
                                             "feeds.former_permalinks", ignored))
            return
        pages = self.served(())  # every page planned so far, by the file it writes
        taken: dict[str, Review] = {}
        for review in with_aliases:
            for alias in review.aliases:
                rel = unquote(page_file(alias, self.site) or "")
                other = taken.setdefault(rel, review)
                if rel in pages or other is not review:
                    what = ("the address of a page publisher builds"
                            if other is review else
                            f"also an alias in {other.source_path or other.slug}")
                    raise SourceError([Problem(
                        review.source_path or review.slug, 0, "aliases",
                        f"{alias} is {what}; remove it from aliases")])
                self._alias(rel, review)
        # A former pattern gives every review an alias; where that address is a page or
        # another review's own alias, those win (a slug such as "tags" under "{slug}/").
        for pattern in formers:
            for review in self.published:
                url = self.config.page_address(pattern.replace("{slug}", review.slug))
                rel = unquote(page_file(url, self.site) or "") if url else ""
                if rel and rel not in pages and rel not in taken:
                    taken[rel] = review
                    self._alias(rel, review)

    def _alias(self, rel: str, review: Review) -> None:
        self.alias_reviews[rel] = review
        self.add(f"alias:{rel}", RANK_INDEX, _digest(self.base, review.url, review.title),
                 functools.partial(lambda rel, r: {rel: self.pages.alias(r)}, rel, review))

    def plan_moved(self) -> None:
        """At each old directory of ``[moved]`` in publisher.toml (a tag or a reviewer renamed):
        a page sending readers on to the new one, and the new one's feeds under the old
        names, so that readers subscribed to the old feeds go on getting every review (a
        static host cannot answer a feed reader with a 301). Call it after every page and
        feed is planned. A line that would hide a page this build makes, or send readers
        where nothing is published, is left out with a warning."""
        if not self.config.moved:
            return
        where = self.config.path.name
        planned = {unit.key for unit in self.units}
        for old_text, new_text in self.config.moved:
            old, new = moved_path(old_text), moved_path(new_text)
            assert old is not None and new is not None  # the config was checked
            page = self.site.pages and f"page:{new}index.html" in planned
            feed = self.feed_plans.get(new)
            if f"page:{old}index.html" in planned or f"feed:{old}" in planned:
                self.warnings.append(Problem(where, 0, "moved", (
                    f"{old} is published again (a review names it), so it is not sent on to "
                    f"{new}; remove the line \"{old_text}\" from [moved]")))
                continue
            if not page and feed is None:
                self.warnings.append(Problem(where, 0, "moved", (
                    f"{old} is sent on to {new}, where nothing is published; correct or remove "
                    "the line")))
                continue
            # Its later pages too (tags/sci-fi/page/2/), as many as the new directory has.
            later = sorted(key[len("page:"):-len("index.html")] for key in planned
                           if key.startswith(f"page:{new}page/") and key.endswith("/index.html"))
            writes = {f"{old}{path.removeprefix(new)}index.html" for path in (new, *later)
                      if page}
            writes.update(old + name for name in ("feed.xml", "atom.xml", "feed.json")
                          if feed is not None)
            claimed = sorted(writes.intersection(self.alias_reviews))
            if claimed:
                # Both were written on purpose, so neither wins silently; found while
                # planning, so that ``publisher check`` says it before a build stops on it.
                review = self.alias_reviews[claimed[0]]
                raise SourceError([Problem(
                    review.source_path or review.slug, 0, "aliases",
                    f"{self.site.url(claimed[0]).removesuffix('index.html')} lies in {old}, "
                    f"which [moved] in {where} sends on to {new}; keep one: remove it from "
                    f"aliases, or the line \"{old_text}\" from [moved]")])
            self.add(f"moved:{old}", RANK_INDEX,
                     _digest(self.base, old, new, page, later, feed[2] if feed else None),
                     functools.partial(self._moved, old, new, page, later, feed),
                     topic=feed is not None)

    def _moved(self, old: str, new: str, page: bool, later: Sequence[str],
               feed: tuple[FeedSpec, Paging | None, str] | None) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        if page:
            kind, _, slug = new.rstrip("/").partition("/")
            term = next((t for t in self.groups.get(kind, ()) if t.slug == slug), None)
            title = self.pages.term_heading(term) if term else self.site.url(new)
            for path in (new, *later):
                files[f"{old}{path.removeprefix(new)}index.html"] = self.pages.moved(
                    self.site.url(path), title)
        if feed is not None:
            spec, paging, _inputs = feed
            # The new feeds as they are, self links and all: a reader that follows rel=self
            # moves its subscription over.
            for rel, data in self._feed(spec, paging).items():
                files[old + rel.removeprefix(new)] = data
        return files

    def gone_terms(self, old: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
        """Warnings for the reviewers and tags whose page or feeds the last build made and
        this one does not (the tag renamed in every review, or its last review gone), with
        the [moved] line that keeps their readers."""
        planned = {unit.key for unit in self.units}
        # A term still named (its feeds or pages turned off in publisher.toml) is not gone.
        named = {f"{kind}/{term.slug}/" for kind, terms in self.groups.items() for term in terms}
        gone: dict[str, bool] = {}  # directory → whether it had feeds
        for key in old:
            kind, _, rel = key.partition(":")
            path = rel.removesuffix("index.html") if kind == "page" else rel
            if kind not in ("page", "feed") or path.count("/") != 2 \
                    or not path.startswith(("tags/", "reviewers/")):
                continue
            if path in named or f"moved:{path}" in planned:
                continue
            gone[path] = gone.get(path, False) or kind == "feed"
        # One new term of the same kind in this build is most likely the old one renamed.
        new = {f"{kind}/{term.slug}/" for kind, terms in self.groups.items() for term in terms
               if f"page:{kind}/{term.slug}/index.html" not in old
               and f"feed:{kind}/{term.slug}/" not in old}
        found = []
        for kind in ("reviewers", "tags"):
            paths = sorted(path for path in gone if path.startswith(kind + "/"))
            alike = [p for p in new if p.startswith(kind + "/")]
            if len(paths) > GONE_NAMED and len(alike) != 1:
                # Many at once (a review with many tags deleted): one thing to know.
                feeds = any(gone[path] for path in paths)
                lost = ("readers subscribed to their feeds get nothing new" if feeds
                        else "links to their pages find nothing")
                found.append(Problem(self.config.path.name, 0, "moved", (
                    f"{len(paths)} {kind} are gone (no review published names them now): "
                    f"{', '.join(paths[:GONE_NAMED])} and {len(paths) - GONE_NAMED} more; "
                    f"{lost}; if one has a new name, add under [moved]: \"{paths[0]}\" = "
                    f"\"{kind}/<its new slug>/\"")))
                continue
            for path in paths:
                lost = (f"readers subscribed to its feeds ({self.site.url(path)}feed.xml, …) "
                        "get nothing new" if gone[path] else "links to its page find nothing")
                line = (f"\"{path}\" = \"{alike[0]}\"" if len(alike) == 1
                        else f"\"{path}\" = \"{kind}/<its new slug>/\"")
                found.append(Problem(self.config.path.name, 0, "moved", (
                    f"{path} is gone (no review published names that {kind.removesuffix('s')} "
                    f"now) and {lost}; if it has a new name, add under [moved]: {line}")))
        return found

    def moved_pages(self, old: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
        """Warnings for reviews whose page the last build wrote at another address that
        nothing now answers (a slug changed, a file was renamed), and for reviews whose feed
        id changed (so readers would see them again as new): each with the front matter that
        keeps the old links and entries working. Matched by source file, else by its bytes."""
        planned = {unit.key for unit in self.units}
        by_source: dict[str, Review] = {}
        by_bytes: dict[str, Review] = {}
        moved: list[Problem] = []
        renamed: list[Problem] = []
        for key, entry in old.items():
            about = entry.get("review")
            if not isinstance(about, list) or len(about) != 3 or not key.startswith("page:"):
                continue
            source, old_id, sha = about
            same = self.page_reviews.get(key)
            if same is not None and same.source_path == source and same.id == old_id:
                continue  # the same review at the same address under the same id: most pages
            if not by_source:  # made at the first page that is not
                for r in self.published:
                    by_source[r.source_path] = r
                    by_bytes[self.fingerprints.get(r.source_path, "")[:16]] = r
            review = by_source.get(source) or (by_bytes.get(sha) if sha else None)
            if review is None:  # gone, or a draft again: its page goes with it
                continue
            keep_id = self._keep_id(review, old_id)
            if same is review:
                if keep_id:
                    renamed.append(_renamed(review, old_id, keep_id))
                continue
            rel = key[len("page:"):]
            if key in planned or f"alias:{rel}" in planned:
                continue  # something answers at the old address
            self.moved_from.add(rel)
            moved.append(self._moved_page(review, rel, keep_id))
        return _counted(moved, renamed, self.config)

    def _keep_id(self, review: Review, old_id: str) -> str:
        """The front matter that keeps ``review``'s old feed id, or "". An id the front
        matter gives is the editor's choice; a derived one changed because the slug or date
        did, which readers would take for a new review."""
        if old_id != review.id and review.id == derived_id(self.config, review.date.date(),
                                                           review.slug):
            return f"`id: {old_id}` so that feed readers do not show it again as new"
        return ""

    def _moved_page(self, review: Review, rel: str, keep_id: str) -> Problem:
        """The warning for ``review``, whose page the last build wrote at ``rel``."""
        path = rel.removesuffix("index.html")
        fix = f"`aliases: [{path}]`" + (f" and {keep_id}" if keep_id else "")
        return Problem(review.source_path, 0, "aliases",
                       f"its page moved from {self.site.url(path)} to {review.url}, and links "
                       "to the old address (in issues sent, readers' feeds, search results) "
                       f"now find nothing; add {fix}")

    def renamed_since_feed(self, items: Sequence[Mapping[str, Any]]) -> list[Problem]:
        """``moved_pages`` for a last build that recorded no review pages (a version that made
        only feeds, before 30 November 2026): its site feed's ``items`` (feed.json's) are what
        readers saw. A review found there (by id, else by title and date) at another address,
        or under another derived id (its slug spelt otherwise then: 'Łódź' was 'odz'), is
        named with the front matter that keeps its old links and entry."""
        if not items:  # no feed.json (a first build): nothing to look up, by anything
            return []
        by_id = {r.id: r for r in self.published}
        by_entry = {(r.title, r.date): r for r in self.published}
        planned = {unit.key for unit in self.units}
        moved: list[Problem] = []
        renamed: list[Problem] = []
        for item in items:
            try:
                old_id, url = str(item["id"]), str(item.get("url") or "")
                review = by_id.get(old_id) or by_entry.get(
                    (str(item["title"]), datetime.fromisoformat(str(item["date_published"]))))
            except (KeyError, TypeError, ValueError):
                continue
            if review is None:
                continue  # gone, or a draft again
            keep_id = self._keep_id(review, old_id)
            rel = page_file(url, self.site) if url != review.url else None
            if rel is None or f"page:{rel}" in planned or f"alias:{rel}" in planned:
                if keep_id:
                    renamed.append(_renamed(review, old_id, keep_id))
                continue
            self.moved_from.add(rel)
            moved.append(self._moved_page(review, rel, keep_id))
        # In the order of their files, not the feed's (newest first).
        moved.sort(key=lambda problem: problem.path)
        renamed.sort(key=lambda problem: problem.path)
        return _counted(moved, renamed, self.config)

    def served(self, statics: Collection[str]) -> set[str]:
        """The paths under the output that answer once this build is done: the planned
        pages, aliases and issue pages, and the files under static/ (``statics``)."""
        served = set(statics)
        for unit in self.units:
            rel = _unit_page(unit.key)
            if rel is not None:
                served.add(rel)
        return served

    def samples(self) -> list[Unit]:
        """One unit of each kind a build renders (the newest review's page, the home page, an
        index and its later pages, a tag's feed, a month's archive, …): rendered by ``publisher
        check``, a template the build would stop on is found without rendering the site."""
        chosen: dict[object, Unit] = {}
        for unit in reversed(self.units):  # the newest review's page before the others
            kind, _, rel = unit.key.partition(":")
            first, _, rest = rel.partition("/")
            shape = ("review" if unit.key in self.page_reviews
                     else (kind, first, bool(rest)) if kind == "page" else kind)
            chosen.setdefault(shape, unit)
        return list(chosen.values())

    def refuse_clashing_pages(self) -> None:
        """SourceError for each review whose page would be a file another page of this build
        writes (the slug "tags" under a permalink of "{slug}/"): found while planning, so
        that ``publisher check`` names the review before a build stops on it."""
        first: dict[str, Unit] = {}
        problems = []
        serve_answers = self.config.reader_paths_on_site
        for unit in self.units:
            rel = _unit_page(unit.key)
            if rel is None or unit.key.startswith(("alias:", "moved:")):
                continue  # aliases and [moved] lines are checked where they are planned
            own = self.page_reviews.get(unit.key)
            if own is not None and (served := serve_answers.get(rel.split("/")[0])):
                problems.append(Problem(own.source_path or own.slug, 0, "slug", (
                    f"its page {own.url} is an address publisher serve answers ({served}), "
                    "where the readers' pages are; give the review another slug (slug: in its "
                    "front matter), or change feeds.permalink")))
            other = first.setdefault(rel, unit)
            # The same key twice is a clash too: "reviews/" is both the index of every review
            # and, under "{slug}/", the page of a review whose slug is "reviews".
            review = own or self.page_reviews.get(other.key)
            source = self.page_sources.get(unit.key) or self.page_sources.get(other.key)
            if other is not unit and review is not None:
                problems.append(Problem(review.source_path or review.slug, 0, "slug", (
                    f"its page {review.url} would be written over by another page of the site "
                    f"({rel}); give the review another slug (slug: in its front matter), or "
                    "change feeds.permalink")))
            elif other is not unit and source is not None:
                problems.append(Problem(source, 0, "slug", (
                    f"its page would be written over by another page of the site ({rel}); "
                    "give the page another slug (slug: in its front matter)")))
        if problems:
            raise SourceError(problems)

    def _lands(self, url: str, served: Collection[str]) -> bool:
        """Whether ``url`` (an address under base_url) finds something once this build is
        done: a served path, the directory page of one, or a file the build generates."""
        rel = unquote(url.partition("?")[0][len(self.site.base_url):])
        return ((rel + "index.html" if rel == "" or rel.endswith("/") else rel) in served
                or f"{rel}/index.html" in served or rel.endswith(_GENERATED))

    def _waiting(self, review: Review | SitePage) -> str:
        """Why an unpublished review's page, or a page of the site's own, finds nothing yet."""
        when = ("a draft" if review.draft or isinstance(review, SitePage)
                else f"scheduled for {review.date:%Y-%m-%d %H:%M}")
        return f"the page of {review.source_path or review.slug}, {when}"

    def broken_links(self, served: Collection[str], named: int | None = LINKS_NAMED, *,
                     issues: bool = True) -> list[Problem]:
        """Warnings for links and images in review bodies to addresses on this site where
        nothing is published (``served``: what ``served`` gives) — a review linked by a
        mistyped or changed slug, an image never copied into static/, a review not published
        yet. ``named`` at most, the rest counted.
        Only where publisher builds the site: elsewhere base_url is only the feeds' home.
        Without ``issues``, links to the newsletter's archive are not checked."""
        site = self.site
        if not site.pages:
            return []
        waiting: dict[str, Review | SitePage] = {r.url.partition("#")[0]: r
                                                 for r in self.unpublished}
        waiting.update((page.url, page) for page in self.hidden_pages)
        # publisher serve's paths, when a proxy at base_url passes them on (no server.url)
        reader = {self.config.reader_url(p) for p in READER_PATHS}
        archive = site.url("issues/")
        found: list[Problem] = []
        sources: list[Review | SitePage] = [*self.published, *self.site_pages]
        addresses = Addresses(served)
        for review in sources:
            for url, line in review.links:
                if url.partition("?")[0] in reader or self._lands(url, served) or (
                        not issues and url.startswith(archive)):
                    continue
                other = waiting.get(url.partition("?")[0])
                if other is not None:
                    why = f"{self._waiting(other)}: until it is published the link finds nothing"
                else:
                    why = ("where nothing is published (no review, page or file in static/ "
                           f"has that address); {self._link_fix(review, url, addresses)}")
                found.append(Problem(review.source_path or review.slug, line, "body",
                                     f"links to {url}, {why}"))
        if named is not None and len(found) > named:
            found = [*found[:named], Problem(
                self.config.reviews_dir + "/", 0, "body",
                f"and {len(found) - named} more links to addresses on this site where nothing "
                "is published (publisher check lists every one)")]
        return found

    def _link_fix(self, source: Review | SitePage, url: str, addresses: Addresses) -> str:
        """What makes a link that finds nothing land: said outright for what a site moved
        from Pelican ({static}, {filename}) or a Hugo page bundle (an image beside its
        index.md) leaves behind, neither of which publisher reads; the address a slip of the
        keys away, when there is one."""
        rel = unquote(url[len(self.site.base_url):].partition("?")[0])
        head, _, rest = rel.partition("/")
        if head in ("{static}", "{attach}"):
            return (f"Pelican's {head} is not read here: link the file's path under static/ "
                    f"({rest})")
        if head == "{filename}":
            return ("Pelican's {filename} is not read here: link the review's or page's "
                    "address on this site instead")
        path = source.source_path
        name = rel.rpartition("/")[2]
        if path and name and (self.config.root / path).with_name(name).is_file():
            bundle = os.path.basename(path) == "index.md"
            folder = os.path.basename(os.path.dirname(path)) if bundle else "images"
            return (f"{name} sits beside {path}, and only static/ is published: move it to "
                    f"static/{folder}/{name} and link {folder}/{name}")
        near = addresses.near(rel)
        if near is not None:
            return f"did you mean {self.site.url(near)}?"
        return "correct the link"

    def lost_issue_links(self, served: Collection[str], moved: Collection[str] = (),
                         named: int | None = LINKS_NAMED) -> dict[str, Problem]:
        """Warnings for review pages that issues already sent link (in every copy of the
        email, and on the issue's archive page, which shows it as it went out) where nothing
        is published now: the review deleted, made a draft again, or moved without an alias.
        One per address, naming the issues and what makes the link land again, keyed by the
        page's path under the output. ``moved``: those paths ``moved_pages`` names already;
        ``named`` at most, the rest counted."""
        if not self.site.pages or not self.issues:
            return {}
        linked: dict[str, tuple[Review, list[int]]] = {}
        for issue in self.issues:
            for review in issue.reviews:
                url = review.url.partition("#")[0]
                if url.startswith(self.site.base_url) and not self._lands(url, served):
                    linked.setdefault(url, (review, []))[1].append(issue.number)
        # The review a sent one is now: by its id, else by its file (a new date or slug
        # changes a derived id).
        published = {key: r for r in self.published for key in (r.id, r.source_path) if key}
        unpublished = {key: r for r in self.unpublished for key in (r.id, r.source_path) if key}
        found: dict[str, Problem] = {}
        for url, (sent, numbers) in linked.items():
            rel = unquote(page_file(url, self.site) or "")
            if not rel or rel in moved:
                continue  # not a page's address, or moved_pages names it
            alias = f"`aliases: [{rel.removesuffix('index.html')}]`"
            now = published.get(sent.id) or published.get(sent.source_path or sent.id)
            waiting = unpublished.get(sent.id) or unpublished.get(sent.source_path or sent.id)
            source = sent.source_path or self.config.reviews_dir + "/"
            if now is not None:
                source = now.source_path or source
                fix = f"its review's page is now {now.url}: add {alias}"
            elif waiting is not None:
                source = waiting.source_path or source
                fix = (f"it is {self._waiting(waiting)}: publish it, or add {alias} to the "
                       "review readers should find instead")
            else:
                fix = (f"its review ({sent.source_path or sent.id}) is gone from the sources: "
                       f"restore it, or add {alias} to the review readers should find instead")
            which = ", ".join(f"#{n}" for n in numbers)
            found[rel] = Problem(source, 0, "aliases",
                                 f"issue{'s' if len(numbers) > 1 else ''} {which} sent "
                                 f"readers a link to {url} ({sent.title}), where nothing is "
                                 f"published now; {fix}")
        if named is not None and len(found) > named:  # a new permalink pattern, say
            kept = dict(list(found.items())[:named])
            kept[""] = Problem(self.config.reviews_dir + "/", 0, "aliases",
                               f"and {len(found) - named} more links in issues sent to pages "
                               "where nothing is published now (publisher check lists every "
                               "one)")
            return kept
        return found

    def plan_sitemap(self) -> None:
        """The sitemap: every page planned so far (call it last)."""
        if not self.site.pages:
            return
        planned = len(self.units)  # the units before it, whenever its digest is made
        self.add("sitemap", RANK_MAP, lambda: _digest(
            self.base, [(r.url, r.updated) for r in self.published],
            [u.key for u in self.units[:planned]], [(i.number, i.date) for i in self.issues]),
            self._sitemap)

    def _plan_index(self, kind: str, term: Term | None, reviews: tuple[Review, ...]) -> None:
        per_page = self.site.per_page
        count = max(1, math.ceil(len(reviews) / per_page))
        slug = term.slug if term else ""
        name = term.name if term else ""
        for number in range(1, count + 1):
            chunk = reviews[(number - 1) * per_page:number * per_page]
            rel = index_path(kind, slug, number) + "index.html"
            inputs = functools.partial(self._listing, chunk, kind, slug, name, len(reviews),
                                       number, count)
            self.add(f"page:{rel}", RANK_INDEX, inputs, functools.partial(
                lambda rel, chunk, number: {rel: self.pages.list_page(
                    kind=kind, term=term, reviews=chunk, number=number, pages=count)},
                rel, chunk, number))

    def _sitemap(self) -> dict[str, bytes]:
        site = self.site
        newest = max((r.updated for r in self.published), default=None)
        urls: list[tuple[str, datetime | None]] = [(site.base_url, newest)]
        for review in self.published:
            if page_file(review.url, site) is not None:
                urls.append((review.url, max(review.updated, review.date)))
        for unit in self.units:
            if unit.key.startswith("page:") and unit.key.endswith("/index.html"):
                urls.append((site.url(unit.key[len("page:"):-len("index.html")]), None))
            elif unit.key in ("page:reviewers/", "page:tags/", "page:feeds/"):
                urls.append((site.url(unit.key[len("page:"):]), None))
        for issue in self.issues:
            urls.append((site.url(f"issues/{issue.number}/"), issue.date))
        if self.issues:
            urls.append((site.url("issues/"), max(i.date for i in self.issues)))
        unique: dict[str, datetime | None] = {}
        for url, changed in urls:
            unique.setdefault(url, changed)
        return render_sitemap(site, list(unique.items()))

    # -- the newsletter archive -------------------------------------------------------------

    def plan_issues(self) -> None:
        site = self.site
        if not self.issues:
            return
        # MJML and the issue renderers are loaded only for a publication that has issues.
        from ..render.archive import archive_page, render_archive_index, render_issue_page
        from ..render.digest import issue_cards

        for issue in self.issues:
            rel = archive_page(issue.number)
            self.add(f"issue:{issue.number}", RANK_LEAF, _digest(self.base, issue),
                     functools.partial(lambda rel, issue: {
                         rel: render_issue_page(issue, site, issue_cards(issue, site))},
                         rel, issue))
        issues = self.issues
        self.add("issues", RANK_FEED, _digest(self.base, issues),
                 lambda: render_archive_index(site, issues), topic=True)


def _unit_page(key: str) -> str | None:
    """The page a unit writes, by its key: None for a unit that writes no page (a feed)."""
    kind, _, rel = key.partition(":")
    if kind in ("page", "alias", "moved"):
        return rel + "index.html" if rel.endswith("/") else rel
    if kind == "issue":
        return f"issues/{rel}/index.html"
    if key == "issues":
        return "issues/index.html"
    return None


def _archive_dir(month: str) -> str:
    return f"archive/{month}/"


def _unit_files(entry: dict[str, Any] | None) -> dict[str, Any]:
    files = entry.get("files") if entry is not None else None
    return files if isinstance(files, dict) else {}


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
                          old=_read_manifest(manifest_path(config)), dry_run=True,
                          showing=showing)
    paths = config.paths
    out = config.output_path
    # The collector's state is the process's: paused (and restored) under the lock, so that a
    # build waiting for another in the same process (two threads) does not take that one's
    # frozen rendering for its own starting state, and freeze the whole heap for good after.
    with build_lock(paths.state), _collector_paused():
        # What the last build recorded, read once under the lock: for the sweep, and for
        # the build to compare its units with (2.5 MB at 10,000 reviews).
        old = _read_manifest(manifest_path(config))
        recorded = {rel for entry in old.values() for rel in _unit_files(entry)}
        sweep(out, paths.state, recorded)
        try:
            return _build(config, now=now, issues=issues, catalog=catalog, cache=cache,
                          old=old, workers=default_workers() if workers is None else workers,
                          showing=showing)
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


def _plan(config: Config, site: Site, catalog: Catalog, issues: Sequence[Issue],
          posters: PosterFacts, now: datetime, showing: Showing = PUBLISHED_ONLY, *,
          deferred: bool = False) -> _Planner:
    """Every unit a build makes, planned (nothing rendered); ``deferred``: see _Planner."""
    planner = _Planner(config, site, catalog, issues, posters, now, showing,
                       deferred=deferred)
    specs = planner.plan_feeds()
    planner.plan_pages(specs)
    planner.plan_issues()
    planner.refuse_clashing_pages()
    planner.plan_aliases()
    planner.plan_moved()
    planner.plan_sitemap()
    return planner


def plan_problems(config: Config, catalog: Catalog, now: datetime,
                  issues: Sequence[Issue] | None = None, *,
                  posters: PosterFacts | None = None) -> tuple[list[str], list[str]]:
    """For ``publisher check``: what planning a build finds in sources that each load (an
    alias that is another page's address, aliases where publisher builds no pages, every link
    in a body to an address where nothing is published, every link in an issue sent that now
    finds nothing) and a template that one of each kind of page stops on, as (errors,
    warnings); nothing is written. ``issues``: the issues sent, as the build shows them; None
    when the ledger could not be read without changing it, and then links to the issues'
    pages are left to the build. A static/ that cannot be read is check's to report."""
    site = Site.from_config(config)
    try:
        # Deferred: check writes no manifest, so the digests that cost half of planning are
        # made only for the sample units it renders.
        planner = _plan(config, site, catalog, issues or (), posters or PosterFacts(config),
                        now, deferred=True)
        for unit in planner.samples():
            unit.render()
    except SourceError as exc:
        return [str(p) for p in exc.problems], []
    except TemplateError as exc:  # the build would stop on it (the template lint only warns)
        return [str(exc)], []
    warnings = planner.warnings[len(catalog.warnings):]
    try:
        statics = {rel for rel, _path in static_files(config)}
    except PublisherError:
        return [], [str(w) for w in warnings]
    served = planner.served(statics)
    warnings += planner.broken_links(served, None, issues=issues is not None)
    lost = planner.lost_issue_links(served, named=None)
    return [], [str(w) for w in warnings + list(lost.values())]


def _build(config: Config, *, now: datetime, issues: Sequence[Issue], catalog: Catalog,
           cache: bool, old: dict[str, dict[str, Any]], dry_run: bool = False,
           workers: int = 1, showing: Showing = PUBLISHED_ONLY) -> BuildReport:
    out = config.output_path
    site = Site.from_config(config)
    posters = PosterFacts(config, cache=cache)
    statics = static_files(config)  # refuses links out of the publication, before anything
    # With nothing to compare a unit's digest with, it is needed only for the manifest: made
    # where the unit is rendered.
    planner = _plan(config, site, catalog, issues, posters, now, showing,
                    deferred=not (cache and old))
    served = planner.served({rel for rel, _path in statics})
    planner.warnings.extend(planner.broken_links(served))
    moved = planner.moved_pages(old) + planner.gone_terms(old)
    if not any(key.startswith("page:") for key in old):
        # No review pages recorded (an earlier version made only feeds): its feed tells
        # which ids readers have seen.
        moved = planner.renamed_since_feed(_feed_items(out / "feed.json")) + moved
    lost = planner.lost_issue_links(served, planner.moved_from)
    # A link in a sent issue that this build breaks (the page it removes) is news for
    # ``publisher run`` to pass on, like a page that moved; the builds after keep naming it.
    moved += [problem for rel, problem in lost.items() if f"page:{rel}" in old]
    planner.warnings.extend(moved)
    planner.warnings.extend(problem for rel, problem in lost.items() if f"page:{rel}" not in old)
    manifest: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}  # path → the unit that makes it
    stale: list[Unit] = []
    unchanged = 0
    base = str(out) + os.sep
    for unit in planner.units:
        previous = old.get(unit.key)
        files = _unit_files(previous)
        if (cache and unit.inputs is not None and previous is not None
                and previous.get("inputs") == unit.inputs and files
                and all(files[rel] == _stamp_at(base + rel) for rel in files)):
            manifest[unit.key] = previous
            unchanged += len(files)
            for rel in files:
                _claim(owner, rel, unit.key)
        else:
            stale.append(unit)
    # The newsletter's archive is a record of what was sent: a build that finds fewer issues
    # in the ledger than it published before (a ledger lost, or restored from an old backup)
    # leaves their pages where they are. They are what tells `issue new` that an issue number
    # was used already (newsletter/compose.py), so that nobody is sent it twice.
    planned = {unit.key for unit in planner.units}
    for key, entry in old.items():
        if key not in planned and (key == "issues" or key.startswith("issue:")):
            manifest[key] = entry
            for rel in _unit_files(entry):
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
                warnings.append(Problem(f"static/{rel}", 0, "",
                                        "has the same path as a generated file; not copied"))
                continue
            try:
                same, static_manifest[rel] = _static_unchanged(src, base + rel,
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
            for rel in _unit_files(entry):
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
    stats: dict[str, os.stat_result] = {}
    for entry in manifest.values():
        names = entry["files"]
        if isinstance(names, list):
            entry["files"] = _stamps(base, names, stats)
    # orjson: the manifest of 10,000 reviews is 2.5 MB, read and written by every build that
    # renders anything (json took 0.1 s for the two, orjson 0.02 s).
    payload = orjson.dumps({"version": MANIFEST_VERSION, "units": manifest},
                           option=orjson.OPT_SORT_KEYS)
    write_atomic(manifest_path(config), payload, fsync=False)
    posters.save()
    catalog.save_excerpts()
    items.keep(planner.items_to_keep())
    changed = set(written)
    feeds = tuple(sorted(config.url(rel) for rel in topics if rel in changed
                         and rel.endswith(("feed.xml", "atom.xml", "feed.json"))))
    return BuildReport(written=tuple(written), unchanged=unchanged, warnings=tuple(warnings),
                       removed=tuple(removed), rendered=rendered, topics=feeds,
                       moved=tuple(moved), output=Written(manifest, stats))


def _rehearse(planner: _Planner, stale: Sequence[Unit], statics: Sequence[tuple[str, Path]],
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
            if _static_unchanged(src, str(out / rel), old.get("static"), rel)[0]:
                unchanged += 1
                continue
        except OSError:
            pass
        changed.append(rel)
    planner.warnings.extend(planner.oversized_warnings())
    keep = set(owner) | copies
    gone = sorted({rel for entry in old.values() for rel in _unit_files(entry)
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


def link_warnings(config: Config, published: Sequence[Review]) -> list[str]:
    """For ``publisher check``: a warning when feed links point under base_url at pages that
    publisher cannot build (a permalink, or a review's own ``url:``, ending neither in "/" nor
    ".html"), unless every page is said to be elsewhere (an absolute feeds.permalink)."""
    if config.external_pages:
        return []
    site = Site.from_config(config)
    unbuilt = [r for r in published
               if r.url.startswith(site.base_url) and page_file(r.url, site) is None]
    missing = [r.url for r in unbuilt if r.url == config.permalink(r.slug)]
    warnings = [f"{r.source_path or r.slug}: url: {r.url} is under base_url, where publisher "
                "builds no page for it; end it with '/' or '.html' to have publisher build it "
                "there, or give the page's address on the other site"
                for r in unbuilt if r.url != config.permalink(r.slug)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        warnings.insert(0, f"{config.path}: feeds.permalink: feed links point at {missing[0]}"
                        f"{more}, a page publisher does not build; end it with '/' or '.html' "
                        "to have publisher build the pages, or write the other site's pattern "
                        "as an absolute URL (https://…/{slug})")
    return warnings


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


class Addresses:
    """The addresses a build serves, by folder, to find the one a link that finds nothing
    likely meant (``slips``). Grouped only when first asked (a build whose links all land
    never is)."""

    def __init__(self, served: Collection[str]):
        self._served = served
        self._folders: dict[str, Slips] | None = None

    def near(self, rel: str) -> str | None:
        """The served address (under base_url) a slip of the keys from ``rel`` in the same
        folder ("reviews/salt-harbour/" for "reviews/salt-harbor/"), or None."""
        if self._folders is None:
            names: dict[str, list[str]] = {}
            for path in self._served:
                if (split := _in_folder(path.removesuffix("index.html"))) is not None:
                    names.setdefault(split[0], []).append(split[1])
            self._folders = {folder: Slips(each) for folder, each in names.items()}
        split = _in_folder(rel)
        if split is None or (slips := self._folders.get(split[0])) is None:
            return None
        folder, name = split
        near = slips.near(name)
        if near is None:
            return None
        return f"{folder}/{near}" if folder else near


def _in_folder(address: str) -> tuple[str, str] | None:
    """An address under base_url as its folder and its last part ("reviews/x/": "reviews",
    "x/"); None for the root."""
    folder, _, last = address.rstrip("/").rpartition("/")
    return (folder, address[len(folder):].lstrip("/")) if last else None
