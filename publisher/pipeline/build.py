"""``publisher build``: sources → feeds (site, per reviewer, per tag), issue archive, static files.

Everything is rendered in memory before anything is written, so a build that fails (an invalid
source, a template error) leaves the previous output directory exactly as it was. Files are then
written with write_if_changed: a file whose bytes did not change keeps its mtime.

A warm build is cheap: ``.publisher/cache/build.json`` records, per feed, a digest of everything
the feed is made from (the reviews it carries, the config, the poster sizes, this code) and the
size and mtime of the files written. A feed whose inputs and files are unchanged is not rendered.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import feedgen.version

from ..config import Config
from ..errors import Problem, PublisherError
from ..files import write_atomic, write_if_changed
from ..models import Issue, Review
from ..render.feeds import FEED_FILES, FeedRenderer
from ..render.site import Site
from ..sources import Catalog, load_reviews
from ..text import slugify

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class BuildReport:
    """What a build did: files written (relative to the output directory), how many were
    already up to date, and warnings worth showing (e.g. control characters removed)."""

    written: tuple[str, ...]
    unchanged: int
    warnings: tuple[Problem, ...]
    removed: tuple[str, ...] = ()  # feed files of feeds that no longer exist
    rendered: int = 0  # feeds rendered (the rest were unchanged and skipped)
    #: The clock times over which the same sources publish the same reviews (Catalog.steady).
    steady: tuple[datetime | None, datetime | None] = (None, None)


@dataclass(frozen=True)
class FeedSpec:
    """One feed to write: where under the output directory, its title, and its reviews."""

    path: str  # "" for the site feed, else "reviewers/<slug>/" or "tags/<slug>/"
    title: str
    description: str
    reviews: tuple[Review, ...]  # newest first, at most config.feeds.limit


def plan_feeds(config: Config, published: Sequence[Review]) -> list[FeedSpec]:
    """The site feed, plus one per reviewer and per tag when enabled in [feeds]."""
    limit = config.feeds.limit
    site = config.title
    # Sorted once (cheap: sources come sorted already), so every group is in order and a
    # feed's reviews are its group's last ``limit``, reversed.
    published = sorted(published, key=lambda r: (r.date, r.slug))
    specs = [FeedSpec("", site, config.description or f"Film reviews from {site}.",
                      tuple(published[-limit:][::-1]))]
    by_reviewer: dict[str, list[Review]] = {}
    by_tag: dict[str, list[Review]] = {}
    slug_of = functools.cache(slugify)  # once per distinct name, not once per review
    for review in published:
        if config.feeds.per_reviewer:
            by_reviewer.setdefault(slug_of(review.reviewer), []).append(review)
        if config.feeds.per_tag:
            seen = set()
            for tag in review.tags:
                slug = slug_of(tag)
                if slug not in seen:
                    seen.add(slug)
                    by_tag.setdefault(slug, []).append(review)
    for slug in sorted(by_reviewer):
        chosen = tuple(by_reviewer[slug][-limit:][::-1])
        name = chosen[0].reviewer  # as the newest review spells it
        specs.append(FeedSpec(f"reviewers/{slug}/", f"{site}: reviews by {name}",
                              f"Film reviews by {name} in {site}.", chosen))
    for slug in sorted(by_tag):
        chosen = tuple(by_tag[slug][-limit:][::-1])
        newest = chosen[0]
        tag = next(t for t in newest.tags if slug_of(t) == slug)
        specs.append(FeedSpec(f"tags/{slug}/", f"{site}: {tag}",
                              f"Film reviews tagged “{tag}” in {site}.", chosen))
    return specs


def manifest_path(config: Config) -> Path:
    return config.paths.build_manifest


def _read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}  # missing or unreadable: every feed is rendered and compared byte for byte
    if isinstance(data, dict) and data.get("version") == MANIFEST_VERSION:
        feeds = data.get("feeds")
        if isinstance(feeds, dict):
            return feeds
    return {}


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


@functools.cache
def _code_digest() -> str:
    """Digest of the code that shapes feeds: a change to it re-renders every feed."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.blake2b(digest_size=16)
    for name in ("render/feeds.py", "render/card.py", "render/site.py", "models.py", "text.py",
                 "pipeline/build.py"):
        h.update((package / name).read_bytes())
    h.update(feedgen.version.version_str.encode())
    return h.hexdigest()


class _Inputs:
    """Digests of a feed's inputs, with each review hashed once per build."""

    def __init__(self, config: Config, poster_length: Callable[[str], int | None]) -> None:
        self.config = config
        self.poster_length = poster_length
        self._reviews: dict[int, str] = {}
        c = config
        self._base = repr((_code_digest(), c.title, c.description, c.base_url, c.language,
                           c.author, c.author_email, c.copyright, c.timezone, c.feeds))

    def review(self, review: Review) -> str:
        digest = self._reviews.get(id(review))
        if digest is None:
            length = None
            if review.poster is not None:
                length = self.poster_length(review.poster.src)
            digest = hashlib.blake2b(repr((review, length)).encode("utf-8", "surrogatepass"),
                                     digest_size=16).hexdigest()
            self._reviews[id(review)] = digest
        return digest

    def feed(self, spec: FeedSpec) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((self._base, spec.path, spec.title, spec.description)).encode())
        for review in spec.reviews:
            h.update(self.review(review).encode())
        return h.hexdigest()


def _safe_relpath(rel: str) -> str:
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts or rel.endswith("/"):
        raise PublisherError(f"refusing to write {rel!r}: not a relative file path")
    return p.as_posix()


def _static_files(config: Config) -> list[tuple[str, Path]]:
    """(relative path, source) for every file under <root>/static/, hidden files skipped."""
    static = config.paths.static
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(static):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                src = Path(dirpath) / name
                found.append((src.relative_to(static).as_posix(), src))
    return found


def build_site(config: Config, *, now: datetime, issues: Sequence[Issue] = (),
               catalog: Catalog | None = None, cache: bool = True,
               dry_run: bool = False) -> BuildReport:
    """Load the sources and write every feed, the issue archive (when ``issues`` are given) and
    the static files under config.output_path.

    Raises SourceError (listing every problem) before anything is written if a source is
    invalid. ``catalog`` may be passed by a caller that has already loaded the sources;
    ``cache=False`` ignores every cache (sources and feeds). ``dry_run`` renders everything and
    writes nothing: the report's ``written`` and ``removed`` are what a build would change.
    """
    if catalog is None:
        catalog = load_reviews(config, cache=cache)
    out = config.output_path
    warnings: list[Problem] = list(catalog.warnings)
    outputs: dict[str, bytes] = {}
    unchanged = 0

    # --- feeds: render only those whose inputs changed ---------------------------------------
    site = Site.from_config(config)
    renderer = FeedRenderer(site)
    inputs = _Inputs(config, renderer.static_poster_length)
    old_manifest = _read_manifest(manifest_path(config))
    manifest: dict[str, dict[str, object]] = {}
    specs = plan_feeds(config, catalog.published(now))
    stale: list[tuple[FeedSpec, str]] = []
    for spec in specs:
        digest = inputs.feed(spec)
        old = old_manifest.get(spec.path)
        names = [spec.path + name for name in FEED_FILES]
        files = old.get("files") if old is not None else None
        if (cache and old is not None and old.get("inputs") == digest
                and isinstance(files, dict)
                and all(files.get(n) == _stamp(out / n) for n in names)):
            manifest[spec.path] = old
            unchanged += len(names)
        else:
            stale.append((spec, digest))
    # Rendering feeds in forked worker processes was measured no faster at 10,000 reviews
    # (19 feeds): forking the big heap and shipping the bytes back eat the gain. See bench/.
    for spec, digest in stale:
        feed = renderer.render(spec.reviews, path=spec.path, title=spec.title,
                               description=spec.description)
        for name, data in feed.files.items():
            outputs[spec.path + name] = data
        manifest[spec.path] = {"inputs": digest}
        if feed.shortened or feed.dropped:
            what = []
            if feed.shortened:
                what.append(f"{feed.shortened} entries shortened to their logline")
            if feed.dropped:
                what.append(f"{feed.dropped} oldest entries left out")
            warnings.append(Problem(f"{config.output_dir}/{spec.path}feed.xml", 0, "",
                                    "over 1 MB with every review in full: "
                                    + " and ".join(what)))

    # --- the issue archive ----------------------------------------------------------------------
    if issues:
        from ..render.archive import render_archive  # Jinja and the archive's templates

        for rel, data in render_archive(site, issues).items():
            outputs[_safe_relpath(rel)] = data

    # --- static files: copied unless the copy is already current -----------------------------
    static: dict[str, bytes] = {}
    feed_paths = {spec.path + name for spec in specs for name in FEED_FILES}
    for rel, src in _static_files(config):
        if rel in outputs or rel in feed_paths:
            warnings.append(Problem(f"static/{rel}", 0, "",
                                    "has the same path as a generated file; not copied"))
            continue
        dest = out / rel
        try:
            s, d = src.stat(), dest.stat()
            if s.st_size == d.st_size and d.st_mtime_ns >= s.st_mtime_ns:
                unchanged += 1
                continue
        except FileNotFoundError:
            pass
        try:
            static[rel] = src.read_bytes()
        except OSError as exc:
            raise PublisherError(f"static/{rel}: cannot read: {exc.strerror}") from None

    if dry_run:
        changed = [rel for files in (outputs, static) for rel in sorted(files)
                   if not _holds(out / rel, files[rel])]
        gone = _remove_stale(out, old_manifest, manifest, dry_run=True)
        return BuildReport(written=tuple(changed),
                           unchanged=unchanged + len(outputs) + len(static) - len(changed),
                           warnings=tuple(warnings), removed=tuple(gone), rendered=len(stale))

    # --- nothing has been written so far; now write ------------------------------------------
    written: list[str] = []
    for files in (outputs, static):  # generated files first, then the copies
        for rel in sorted(files):
            if write_if_changed(out / rel, files[rel]):
                written.append(rel)
            else:
                unchanged += 1
    for spec_path, entry in manifest.items():
        if "files" not in entry:
            entry["files"] = {spec_path + n: _stamp(out / (spec_path + n)) for n in FEED_FILES}

    removed = _remove_stale(out, old_manifest, manifest)
    payload = json.dumps({"version": MANIFEST_VERSION, "feeds": manifest}, sort_keys=True,
                         indent=1)
    write_atomic(manifest_path(config), payload.encode("utf-8"))
    return BuildReport(written=tuple(written), unchanged=unchanged, warnings=tuple(warnings),
                       removed=tuple(removed), rendered=len(stale))


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` already holds exactly ``data``."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def _remove_stale(out: Path, old: dict[str, dict[str, object]],
                  new: dict[str, dict[str, object]], *, dry_run: bool = False) -> list[str]:
    """Delete the files of feeds the previous build wrote and this one no longer has (a tag
    whose only review became a draft, say); only files listed in the manifest are touched.
    ``dry_run``: only say which."""
    removed: list[str] = []
    for spec_path in sorted(set(old) - set(new)):
        if not spec_path:
            continue
        for name in FEED_FILES:
            rel = _safe_relpath(spec_path + name)
            if dry_run:
                if (out / rel).is_file():
                    removed.append(rel)
                continue
            try:
                (out / rel).unlink()
                removed.append(rel)
            except FileNotFoundError:
                pass
        if dry_run:
            continue
        directory = (out / spec_path).resolve()
        while directory != out.resolve() and out.resolve() in directory.parents:
            try:
                directory.rmdir()  # only if empty
            except OSError:
                break
            directory = directory.parent
    return removed


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


def build_publication(config: Config, *, now: datetime, cache: bool = True) -> BuildReport:
    """What ``publisher build`` does: load the sources, take the sent issues from the ledger
    (when there is one) and build everything."""
    catalog = load_reviews(config, cache=cache)
    issues, warnings = ledger_issues(config, catalog)
    report = build_site(config, now=now, issues=issues, catalog=catalog, cache=cache)
    return replace(report, warnings=report.warnings + tuple(warnings),
                   steady=catalog.steady(now))
