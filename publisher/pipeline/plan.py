"""The plan of a build: every *unit* it makes — a feed (its three files), a month's archive,
a review's page, a page of an index, the sitemap, an issue's page, … — each with the digest of
everything it is made from (its reviews, its neighbours, the site's settings, the templates,
the code) and the function that renders it. Nothing is rendered or written here: ``build``
compares the digests with the last build's record and renders what changed (``rendering``)."""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2
from markupsafe import Markup

from ..config import Config, moved_path
from ..errors import Problem, SourceError
from ..models import PUBLISHED_ONLY, Issue, Review, Showing
from ..render.engine import DEFAULT_TEMPLATES
from ..render.feeds import FEED_FILES, XSL_PATH, FeedRenderer, Paging
from ..render.images import BodyImages, shown_images
from ..render.pages import (
    SEARCH_INDEX,
    SEARCH_PATH,
    PageRenderer,
    Term,
    films_reviewed_twice,
    index_path,
    page_file,
    render_robots,
    render_sitemap,
    year_pages,
)
from ..render.related import Related, Suggestions
from ..render.site import Site
from ..render.words import ENGLISH, Words
from ..sources import Catalog
from ..sources.cache import cache_key
from ..sources.frontmatter import field_line
from ..sources.posters import PosterFacts
from ..text import collation_key, count, slugify
from .rendering import (
    RANK_FEED,
    RANK_HOME,
    RANK_INDEX,
    RANK_LEAF,
    RANK_MAP,
    RANK_STATIC,
    Unit,
)

#: Feeds over 1 MB named one by one in a build's warnings; past this many, counted.
FEEDS_NAMED = 3

#: The parts of a sitemap past SITEMAP_LIMIT addresses (render_sitemap): how many is known only
#: once it is rendered, so an alias keeps clear of every such name.
SITEMAP_PART = re.compile(r"sitemap-[0-9]+\.xml")


@dataclass(frozen=True)
class FeedSpec:
    """One feed to write: where under the output directory, its title, and its reviews."""

    path: str  # "" for the site feed, else "reviewers/<slug>/" or "tags/<slug>/"
    title: str
    description: str
    reviews: tuple[Review, ...]  # newest first, at most config.feeds.limit (see plan_feeds)


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


@functools.cache
def _code_digest() -> str:
    """Digest of the code and packaged templates that shape the output: a change to any of
    them renders every unit again."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.blake2b(digest_size=16)
    for path in sorted([*package.glob("render/*.py"), package / "models.py", package / "text.py",
                        package / "pipeline/plan.py", *DEFAULT_TEMPLATES.glob("*")]):
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


#: A template's ``static_url("css/theme.css")`` (``site.static_url``), its path quoted.
_STATIC_URL = re.compile(r"""static_url\(\s*(["'])(.+?)\1\s*\)""")


def _statics_digest(site: Site) -> str:
    """Digest of the static files the publication's templates name by ``static_url``, each
    with its fingerprint: every page that names one carries it, so a change to the file
    makes them again (one that is not there: the render names it). A path a template builds
    ("fonts/" ~ name) is not known here, and is left out."""
    named: set[str] = set()
    if site.templates.is_dir():
        for path in site.templates.rglob("*.j2"):
            try:
                named.update(m[1] for m in _STATIC_URL.findall(path.read_text("utf-8")))
            except (OSError, UnicodeDecodeError):
                pass  # rendering names such a template
    fingerprints = []
    for rel in sorted(named):
        try:
            fingerprints.append(site.static_url(rel))
        except jinja2.TemplateError:
            fingerprints.append(rel)
    return _digest(fingerprints)


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


@dataclass(frozen=True)
class Learned:
    """What a forked worker hands back besides its files (``Planner.handback``)."""

    warnings: tuple[Problem, ...]
    posters: dict[str, list[int]]
    excerpts: tuple[tuple[int, str], ...]  # (position in Planner.published, summary)
    items: tuple[tuple[int, str], ...]  # (position, the review as the indexes list it)
    oversized: tuple[tuple[str, int, int], ...]  # Planner.oversized
    inputs: tuple[tuple[str, str], ...]  # (unit key, digest) made where rendered: ``deferred``

class Planner:
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
        # is read: the parse cache keeps what does not depend on the clock. Only of reviews
        # published by now: one the preview shows early is in the future as a whole, its
        # updated (its date, unless given) with it.
        self.warnings.extend(
            Problem(r.source_path, field_line(str(config.root / r.source_path), "updated"),
                    "updated", (
                        f"{r.updated.astimezone(site.tz):%Y-%m-%d} is in the future; feeds "
                        "and the sitemap will say the review was edited then. Give the day "
                        "it was edited"))
            for r in self.published if r.updated > now and PUBLISHED_ONLY.shows(r, now))
        # A takedown half done: the address is withdrawn from the issues' archive, but the
        # review's own page is still there.
        self.warnings.extend(
            Problem(r.source_path, 0, "withdrawn", (
                f"{config.path.name} lists {r.url} under site.withdrawn, yet this review is "
                "published there; delete the file (or make it draft: true), or take the "
                "address off the list"))
            for r in self.published if r.url.partition("#")[0] in config.withdrawn_urls)
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
        #: The image files of each body and their facts: what a page or feed sizes the body's
        #: images by, and so what its digest holds (picked out once a body, for all three).
        self.body_images = BodyImages(posters.facts)
        self.pages = PageRenderer(site, poster_facts=posters.facts,
                                  body_images=self.body_images, issues=bool(self.issues),
                                  menu=menu,
                                  reviewed_twice=films_reviewed_twice(self.published))
        reviewer_url = self.pages.reviewer_url if site.pages else None
        self.feeds = FeedRenderer(site, poster_facts=posters.facts, reviewer_url=reviewer_url,
                                  card=self.pages.card, body_images=self.body_images)
        self._reviews: dict[int, str] = {}
        self._related_keys: dict[tuple[int, str], str] = {}
        #: The review each review page shows, by unit key (what the manifest records, so that
        #: the next build can tell a page that moved from one that went: ``moves.moves_since``).
        self.page_reviews: dict[str, Review] = {}
        #: The source of each of the site's own pages, by unit key (for a page that another
        #: would write over: ``refuse_clashing_pages``).
        self.page_sources: dict[str, str] = {}
        self.base = _digest(_code_digest(), cache_key(config), _templates_digest(site.templates),
                            _statics_digest(site),
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
        #: The files each ``[moved]`` line's unit writes, by its old directory (``writes``).
        self.moved_writes: dict[str, frozenset[str]] = {}

    def review(self, review: Review) -> str:
        """A digest of the review and its poster's facts, and those of the images its body
        shows (once per review per build): from its source file's sha256 and name when the
        catalogue has them (a review is its file read under the sources' cache key, which is
        in ``base``; the name gives the slug when the front matter does not), else from its
        repr."""
        found = self._reviews.get(id(review))
        if found is None:
            facts = self.posters.facts(review.poster.src) if review.poster else None
            images = self.body_images.of(review.links)
            source = self.fingerprints.get(review.source_path)
            # repr names what a deferred body is made from without rendering it (models.py)
            found = (_digest(source, review.source_path, facts, *images) if source
                     else _digest(repr(review), facts, *images))
            self._reviews[id(review)] = found
        return found

    def _listing(self, reviews: Sequence[Review], *parts: object) -> str:
        """The digest of a unit that lists ``reviews`` (an archive, an index page): ``parts``
        and each review's digest, and which of them are of a film reviewed twice (their items
        say so: a new review of a film changes the lists that show only its first). Thousands
        of reviews' digests: made as ``add`` says."""
        twice = self.pages.is_reviewed_twice
        return _digest(self.base, *parts, [self.review(r) for r in reviews],
                       [i for i, r in enumerate(reviews) if twice(r)]
                       if self.pages.reviewed_twice else [])

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
        # keeping the items cost after a first build). And whether its film is reviewed twice,
        # which another review's file decides (the item then names its reviewer).
        return (f"{self.review(review)}\0{review.source_path}"
                f"\0{self.pages.is_reviewed_twice(review):d}")

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
        # The month under way is still filling, and an RFC 5005 archive never changes (a
        # client stops at one it has read): the site feed links the newest month that is over,
        # and holds every review of the one under way, more than `limit` in a month with more.
        closed = _archive_dir(months[-2]) if len(months) > 1 else None
        under_way = [r for r, m in zip(self.published, self.month_of, strict=True)
                     if m == months[-1]] if months else []
        for i, spec in enumerate(specs):
            paging = None
            if spec.path == "" and months:
                paging = Paging(prev=closed)
                if len(under_way) > len(spec.reviews):
                    specs[i] = spec = replace(spec, reviews=tuple(under_way[::-1]))
            inputs = _digest(self.base, spec.path, spec.title, spec.description, paging,
                             [self.review(r) for r in spec.reviews])
            self.feed_plans[spec.path] = (spec, paging, inputs)
            self.add(f"feed:{spec.path}", RANK_FEED, inputs,
                     functools.partial(self._feed, spec, paging), topic=True)
        # Each entry is then let go after the last feed that carries it: most reviews of a
        # publication in many tags are in one niche tag's feed and no other.
        self.feeds.expect(spec.reviews for spec in specs)
        self.plan_archives(months)
        return specs

    def _feed(self, spec: FeedSpec, paging: Paging | None) -> dict[str, bytes]:
        feed = self.feeds.render(spec.reviews, path=spec.path, title=spec.title,
                                 description=spec.description, paging=paging,
                                 limit=len(spec.reviews))
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
        """RFC 5005 archives of the site feed: one document per month (in each format), the
        month under way's not yet marked as one."""
        by_month: dict[str, list[Review]] = {m: [] for m in months}
        for review, month in zip(self.published, self.month_of, strict=True):
            by_month[month].append(review)
        title, words = self.config.title, self.site.words
        for i, month in enumerate(months):
            paging = Paging(current="", archive=True, closed=i + 1 < len(months),
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
            inputs = _digest(base, page, *self.body_images.of(page.links))
            self.add(f"page:{rel}", RANK_LEAF, inputs, functools.partial(
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

    def plan_aliases(self, statics: Collection[str] = ()) -> None:
        """A page at each of a review's earlier addresses (``aliases:``, and its address under
        each of ``feeds.former_permalinks``) sending readers on to it, as Hugo writes them:
        links in issues already sent and in readers' feeds keep working after a slug or the
        permalink pattern changes. Call it after every page is planned; ``statics``: the files
        copied from static/."""
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
        # Every file planned so far, the sitemap planned after the aliases, and the copies of
        # static/: an alias is a directory, and none of them can be one, nor lie in one.
        files = set(statics).union(*(self.writes(unit.key) for unit in self.units),
                                   self.writes("sitemap"))
        taken: dict[str, Review] = {}
        # A file system that ignores case (a Mac's, Windows') takes "Reviews/Y/" for
        # "reviews/y/": an alias in other capitals would be written over the page, or over
        # another alias. Pages and aliases by their folded names, to name the one in the way.
        folded = {page.casefold(): page for page in pages}
        aliased: dict[str, str] = {}
        for review in with_aliases:
            for alias in review.aliases:
                rel = unquote(page_file(alias, self.site) or "")
                other = taken.setdefault(rel, review)
                fold = rel.casefold()
                alike = folded.get(fold) if rel not in pages else None
                first = aliased.setdefault(fold, rel)
                if rel in pages or other is not review:
                    what = ("is the address of a page publisher builds"
                            if other is review else
                            f"is also an alias in {other.source_path or other.slug}")
                elif alike is not None or first != rel:
                    if alike is None:
                        other = taken[first]
                    shown = (alike or first).removesuffix("index.html")
                    what = ((f"is the address of a page publisher builds ({shown})"
                             if alike is not None else
                             f"is also an alias in {other.source_path or other.slug} ({shown})")
                            + " in other capitals, which a file system that ignores case, as a "
                              "Mac's does, takes for one")
                elif (file := _in_the_way(rel, files)) is not None:
                    what = (f"is the address of a file publisher writes ({file})"
                            if rel == f"{file}/index.html" else
                            f"lies under {file}, a file publisher writes")
                else:
                    self._alias(rel, review)
                    files.add(rel)
                    continue
                raise SourceError([Problem(review.source_path or review.slug, 0, "aliases",
                                           f"{alias} {what}; remove it from aliases")])
        # A former pattern gives every review an alias; where that address is a page or
        # another review's own alias, those win (a slug such as "tags" under "{slug}/"), and
        # where another file of the build is in its way, so does the file.
        for pattern in formers:
            for review in self.published:
                url = self.config.page_address(pattern.replace("{slug}", review.slug))
                rel = unquote(page_file(url, self.site) or "") if url else ""
                if (rel and rel not in pages and rel not in taken
                        and _in_the_way(rel, files) is None):
                    taken[rel] = review
                    self._alias(rel, review)
                    files.add(rel)

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
            self.moved_writes[old] = frozenset(writes)
            claimed = sorted(rel for rel in self.alias_reviews if _in_the_way(rel, writes))
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
            feeds = (new, f"{self.site.title}: {term.name}") if term and feed else None
            for path in (new, *later):
                files[f"{old}{path.removeprefix(new)}index.html"] = self.pages.moved(
                    self.site.url(path), title, feeds)
        if feed is not None:
            spec, paging, _inputs = feed
            # The new feeds as they are, self links and all: a reader that follows rel=self
            # moves its subscription over.
            for rel, data in self._feed(spec, paging).items():
                files[old + rel.removeprefix(new)] = data
        return files

    def served(self, statics: Collection[str]) -> set[str]:
        """The paths under the output that answer once this build is done: the planned
        pages, aliases and issue pages, and the files under static/ (``statics``)."""
        served = set(statics)
        for unit in self.units:
            rel = _unit_page(unit.key)
            if rel is not None:
                served.add(rel)
        return served

    def writes(self, key: str) -> frozenset[str]:
        """The files the unit ``key`` writes, known without rendering it (the sitemap's parts
        past SITEMAP_LIMIT addresses aside: SITEMAP_PART)."""
        kind, _, rel = key.partition(":")
        if kind in ("feed", "archive"):
            directory = rel if kind == "feed" else _archive_dir(rel)
            return frozenset(directory + name for name in FEED_FILES)
        if kind == "moved":
            return self.moved_writes[rel]
        if key == "issues":
            return frozenset(("issues/index.html", "issues/atom.xml"))
        if key == "sitemap":
            return frozenset(("sitemap.xml",))
        page = _unit_page(key)
        # The others are one file each, named by their key: site.css, feed.xsl, search.json, …
        return frozenset((page if page is not None else key,))

    def written(self) -> set[str]:
        """The paths under the output of the files the planned units write, known from their
        keys without rendering them (for check: a file in static/ at one of them is not
        copied)."""
        return set().union(*(self.writes(unit.key) for unit in self.units))

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
        # Every page links each year to the page it starts on: a page whose reviews stay
        # put is made again when a year's start moves on another.
        years = year_pages(reviews, per_page, self.site.tz) if count > 1 else ()
        for number in range(1, count + 1):
            chunk = reviews[(number - 1) * per_page:number * per_page]
            rel = index_path(kind, slug, number) + "index.html"
            inputs = functools.partial(self._listing, chunk, kind, slug, name, len(reviews),
                                       number, count, years)
            self.add(f"page:{rel}", RANK_INDEX, inputs, functools.partial(
                lambda rel, chunk, number: {rel: self.pages.list_page(
                    kind=kind, term=term, reviews=chunk, number=number, pages=count,
                    years=years)},
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

        facts = self.posters.facts
        issues = [without_withdrawn(issue, self.config.withdrawn_urls) for issue in self.issues]
        for issue in issues:
            rel = archive_page(issue.number)
            # Each poster, and each image of the editor's note, at its size, as in the digest:
            # their facts are part of the page's inputs.
            sizes = [facts(r.poster.src) if r.poster else None for r in issue.reviews]
            if "<img" in issue.note_html:
                sizes += [facts(src) for src in sorted(shown_images(issue.note_html))]
            self.add(f"issue:{issue.number}", RANK_LEAF, _digest(self.base, issue, sizes),
                     functools.partial(lambda rel, issue: {
                         rel: render_issue_page(issue, site, issue_cards(issue, site, facts),
                                                facts)},
                         rel, issue))
        self.add("issues", RANK_FEED, _digest(self.base, issues),
                 lambda: render_archive_index(site, issues, image_facts=facts), topic=True)


def without_withdrawn(issue: Issue, withdrawn: Collection[str]) -> Issue:
    """``issue`` as its archive page shows it: without the reviews whose pages are
    ``withdrawn`` (``Config.withdrawn_urls``), its subject composed afresh from the rest when
    one is left out (the stored one may name it)."""
    kept = tuple(r for r in issue.reviews if r.url.partition("#")[0] not in withdrawn)
    if len(kept) == len(issue.reviews):
        return issue
    return replace(issue, reviews=kept, subject="")


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


def _in_the_way(rel: str, files: Collection[str]) -> str | None:
    """The file among ``files`` that is ``rel`` or one of the directories ``rel`` lies in
    (the whole of a path either is a file or holds files, never both); None when there is
    none."""
    parts = rel.split("/")
    for end in range(1, len(parts) + 1):
        path = "/".join(parts[:end])
        if path in files or (end == 1 and SITEMAP_PART.fullmatch(path)):
            return path
    return None


def _archive_dir(month: str) -> str:
    return f"archive/{month}/"


def plan_build(config: Config, site: Site, catalog: Catalog, issues: Sequence[Issue],
               posters: PosterFacts, now: datetime, showing: Showing = PUBLISHED_ONLY, *,
               deferred: bool = False, statics: Collection[str] = ()) -> Planner:
    """Every unit a build makes, planned (nothing rendered); ``deferred``: see Planner;
    ``statics``: the files copied from static/ (an alias keeps clear of them)."""
    planner = Planner(config, site, catalog, issues, posters, now, showing,
                      deferred=deferred)
    specs = planner.plan_feeds()
    planner.plan_pages(specs)
    planner.plan_issues()
    planner.refuse_clashing_pages()
    planner.plan_aliases(statics)
    planner.plan_moved()
    planner.plan_sitemap()
    return planner
