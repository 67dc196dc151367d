"""The catalogue: every review source under ``reviews/`` loaded, checked and cross-checked, and
the site's own pages under ``pages/`` (``pages.py``).

Every problem in every file is collected and raised together as one SourceError. Files whose
names start with ``.`` or ``_`` are ignored (editor backups, notes). Loading 10,000 files is
fast: parsed reviews are cached (``cache.py``), and when many files miss the cache their parsing
is shared among forked processes (``workers.py``).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from time import time_ns

from ..config import Config
from ..cores import MAX_SHARES, default_workers
from ..errors import Problem, SourceError
from ..files import NOT_UTF8, escapes, linked_folder, not_utf8, read_file
from ..models import Review, SitePage
from ..slips import WRITTEN_APART, Slips, written_apart
from .cache import (
    Entry,
    ExcerptCache,
    Job,
    ReviewCache,
    cache_key,
    cache_path,
    is_trusted,
)
from .frontmatter import NEAR_MISSES, field_line, unread_source
from .pages import load_pages
from .schema import ParseResult, house_skeleton, parse_bytes
from .workers import Meanwhile, load_shared

#: Share the parsing among processes (one per core: cores.default_workers; this one is one of
#: them, workers.py) when at least this many files miss the cache.
FORK_THRESHOLD = 200
#: Freeze the garbage collector's view of a catalogue this big once it is loaded.
FREEZE_THRESHOLD = 2000


@dataclass(frozen=True)
class Catalog:
    """Every valid review (drafts and future ones too), oldest first by (date, slug)."""

    reviews: tuple[Review, ...]
    warnings: tuple[Problem, ...] = ()
    #: The site's own pages (pages/*.md), in navigation order: sources/pages.py.
    pages: tuple[SitePage, ...] = ()
    #: The sha256 of each review's source file, by source_path: with the sources' cache key,
    #: all a review depends on, so a build can tell what changed without hashing reviews.
    fingerprints: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: Summaries derived from bodies in earlier runs (None: the cache is not used).
    excerpts: ExcerptCache | None = field(default=None, compare=False, repr=False)
    #: The children that loaded the sources, rendering bodies meanwhile (``load_reviews``
    #: with ``bodies``): ``take_bodies``.
    meanwhile: Meanwhile | None = field(default=None, compare=False, repr=False)

    def take_bodies(self) -> None:
        """The bodies (and summaries derived from them) that the loading children rendered
        meanwhile, each given to its review; the children stopped. Called when the bodies
        are about to be needed: the longer they are left, the more they make."""
        if self.meanwhile is None:
            return
        by_path = {review.source_path: review for review in self.reviews}
        for made in self.meanwhile.collect():
            for rel, body, summary in made:
                review = by_path.get(rel)
                if review is not None:
                    review.take_body(body)
                    if summary is not None:
                        review.take_summary(summary)

    def end_meanwhile(self) -> None:
        """Stop the loading children still at work, unheard (``take_bodies`` not called)."""
        if self.meanwhile is not None:
            self.meanwhile.close()

    def save_excerpts(self) -> None:
        """Keep the summaries derived from bodies so far, for the next run (a build calls
        this once it has written its output)."""
        if self.excerpts is not None:
            self.excerpts.save(self.reviews, self.fingerprints)

    @functools.cached_property
    def _ids(self) -> dict[str, Review]:
        return {r.id: r for r in self.reviews}

    def published(self, now: datetime) -> tuple[Review, ...]:
        """Reviews that are not drafts and not dated after ``now``, oldest first."""
        return tuple(r for r in self.reviews if r.is_published(now))

    def by_id(self, review_id: str) -> Review | None:
        return self._ids.get(review_id)

    def steady(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        """The span of clock times around ``now`` over which ``published()`` stays the same:
        from the newest published review's date to the next scheduled one's (exclusive); None
        for an open end."""
        start: datetime | None = None
        until: datetime | None = None
        for review in self.reviews:
            if review.draft:
                continue
            if review.date <= now:
                start = review.date if start is None else max(start, review.date)
            elif until is None or review.date < until:
                until = review.date
        return start, until


def _load_one(rel: str, path: str, cached: str | None, config: Config,
              skeleton: re.Pattern[str] | None) -> Entry:
    """Read, hash and (unless the hash is ``cached``) parse one file."""
    seen = time_ns()
    try:
        data = read_file(path)
    except OSError as exc:
        return rel, seen, "", (None, [Problem(rel, 0, "", f"cannot read: {exc.strerror}")], [],
                               ())
    digest = hashlib.sha256(data).hexdigest()
    if digest == cached:
        return rel, seen, digest, None
    return rel, seen, digest, parse_bytes(data, rel, config, file=(path, digest),
                                          skeleton=skeleton)


def _load_many(jobs: list[Job], config: Config,
               skeleton: re.Pattern[str] | None) -> list[Entry]:
    enabled = gc.isenabled()
    gc.disable()  # parsing makes many small objects and no cycles worth collecting
    try:
        return [_load_one(rel, path, cached, config, skeleton) for rel, path, cached in jobs]
    finally:
        if enabled:
            gc.enable()


# --- the whole directory ----------------------------------------------------------------------


def _source_files(config: Config,
                  ) -> tuple[list[tuple[str, str]], list[Problem], list[Problem]]:
    """(relative path for messages, absolute path) of every review source, sorted; a problem
    when the reviews directory is not there, and for each source that is a symbolic link
    leading out of the publication (see ``files.escapes``: such a file is never read); a
    warning for each file that looks like a review but is not read (``review.markdown``)."""
    directory = config.reviews_path
    strays: list[str] = []
    links: list[tuple[str, Path, str]] = []
    allowed = _allowed_directories(config)
    entries = review_files(directory, strays, allowed=allowed, links=links)
    try:
        prefix = directory.resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        prefix = directory.as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    base = str(directory)
    refused: list[Problem] = []
    if not directory.is_dir():
        # An error, not an empty site: a mistyped reviews_dir, or a disk not mounted, would
        # otherwise take every review page off the site and let the next slot pass as empty.
        # A new publication has its reviews/ already ('publisher init' makes it).
        what = "not a directory" if directory.exists() else "no such directory"
        refused.append(Problem(prefix, 0, "", f"{what}, so there is no review to publish; "
                               f"make it (mkdir {directory}), or set reviews_dir in "
                               "publisher.toml to where the reviews are"))
    if escapes(directory, allowed) is not None:
        # reviews/ itself is a link out of the publication: every file in it is outside.
        entries = [(name, True) for name, _ in entries]
    files = []
    for name, linked in entries:
        path = os.path.join(base, name)
        target = escapes(Path(path), allowed) if linked else None
        shown = not_utf8(prefix + name)
        if shown is not None:
            refused.append(Problem(shown, 0, "", NOT_UTF8))
        elif target is not None:
            refused.append(Problem(prefix + name, 0, "",
                                   f"is a symbolic link to {target}, outside the publication; "
                                   "publisher reads no file from outside it: copy the review "
                                   "in, or remove the link"))
        else:
            files.append((prefix + name, path))
    unread = [unread_source(prefix + name) for name in strays]
    for name, target, why in links:
        if why == "outside":
            refused.append(Problem(prefix + name, 0, "",
                                   f"is a symbolic link to {target}, outside the publication; "
                                   "publisher reads no file from outside it: copy the reviews "
                                   "in, or remove the link"))
        else:
            unread.append(Problem(prefix + name, 0, "",
                                  f"a symbolic link to {target}, a folder read already or "
                                  "holding one; read once, through the first name: remove "
                                  "the link"))
    return files, refused, unread


def review_files(directory: Path, strays: list[str] | None = None, *,
                 allowed: Iterable[Path] = (),
                 links: list[tuple[str, Path, str]] | None = None) -> list[tuple[str, bool]]:
    """Every review source under ``directory`` as (its path relative to ``directory``, whether
    it is a symbolic link or in a folder reached through one), sorted: the ``.md`` files in it
    and in its folders at any depth (``reviews/2024/…``, as Hugo and Pelican read their
    content), leaving out names that start with "." or "_" (editors' locks and backups, work
    kept aside). A folder reached through a symbolic link is read when it leads inside one of
    ``allowed`` (given resolved: the publication, as README promises) and is not a folder read
    already or one holding it (``files.linked_folder``: a loop, or one folder under two
    names); one that is not read is added to ``links`` as (its path, where it leads, "outside"
    or "walked"), when given. Files left out that an editor may have meant as reviews
    (``x.markdown``, ``x.txt``, ``x.MD``) are added to ``strays``, when given."""
    found: list[tuple[str, bool]] = []
    allowed = list(allowed)
    walked = [directory.resolve()] if allowed else []
    stack = [(str(directory), "", False)]
    while stack:
        where, prefix, linked = stack.pop()
        try:
            # By name: which of two links to one folder is read is the same on every machine.
            entries = sorted(os.scandir(where), key=lambda entry: entry.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, f"{prefix}{entry.name}/", linked))
            elif entry.name.endswith(".md") and entry.is_file():
                found.append((prefix + entry.name, linked or entry.is_symlink()))
            elif allowed and entry.is_symlink() and entry.is_dir():
                real, why = linked_folder(entry.path, walked, allowed)
                if why:
                    if links is not None:
                        links.append((prefix + entry.name, real, why))
                else:
                    stack.append((entry.path, f"{prefix}{entry.name}/", True))
            elif strays is not None and entry.name.lower().endswith(NEAR_MISSES):
                strays.append(prefix + entry.name)
    if strays:
        strays.sort()
    if links:
        links.sort()
    return sorted(found)


def _allowed_directories(config: Config) -> list[Path]:
    """Where review sources may really be: the publication, and the reviews directory when
    publisher.toml itself puts it elsewhere (reviews_dir = "/srv/reviews" is the editor's
    choice; a link named reviews/ that leads out is not)."""
    root = config.root.resolve()
    allowed = [root]
    configured = Path(os.path.abspath(config.reviews_path))
    if not configured.is_relative_to(os.path.abspath(config.root)):
        allowed.append(configured.resolve())
    return allowed


def _near_file(static: Path, relative: str) -> str | None:
    """The file beside the missing ``relative`` (a path under ``static``) that was likely
    meant (``slips``: "alien-romulous.png" for "alien-romulus.png", another case, which a
    static host tells apart), or None."""
    folder, _, name = relative.rpartition("/")
    try:
        with os.scandir(static / folder) as entries:
            near = Slips(entry.name for entry in entries if entry.is_file()).near(name)
    except OSError:
        return None
    if near is None:
        return None
    return f"{folder}/{near}" if folder else near


def _apart_file(static: Path, relative: str) -> str | None:
    """The file beside the missing ``relative`` whose name is its name with the accents
    written apart (``slips.written_apart``), or None."""
    folder, _, name = relative.rpartition("/")
    try:
        with os.scandir(static / folder) as entries:
            apart = written_apart((entry.name for entry in entries if entry.is_file()), name)
    except OSError:
        return None
    if apart is None:
        return None
    return f"{folder}/{apart}" if folder else apart


def _cross_checks(results: Iterable[ParseResult], config: Config) -> list[Problem]:
    """Problems that need every file: duplicate slugs and ids, missing poster files."""
    problems: list[Problem] = []
    slugs: dict[str, Review] = {}
    ids: dict[str, Review] = {}
    static = config.paths.static
    for review, _problems, _warnings, needs in results:
        for relative in needs:
            if review is not None and not (static / relative).is_file():
                inner = relative.removeprefix("static/")
                near = _near_file(static, relative)
                apart = _apart_file(static, relative)
                # The path is under static/ already: "static/posters/x.png" is a common slip.
                fix = (f"write poster: {inner} (the path is under static/ already)"
                       if inner != relative and (static / inner).is_file()
                       else WRITTEN_APART if apart is not None
                       else f"static/{near} is there: write poster: {near}, or add the image"
                       if near is not None
                       else "add the image there or give an https URL")
                problems.append(Problem(review.source_path, 1, "poster",
                                        f"static/{relative} does not exist; {fix}"))
        if review is None:
            continue
        first = slugs.setdefault(review.slug, review)
        if first is not review:
            # Named on the later-dated, as an id is (_same_id): the earlier has the page.
            first, later = sorted((first, review), key=lambda r: r.date)
            slugs[review.slug] = first
            problems.append(Problem(later.source_path, 1, "slug",
                                    f"{review.slug!r} is also the slug of {first.source_path}; "
                                    "give one of them another slug (or rename the file)"))
            continue  # a derived id repeats the slug: one problem is enough
        first = ids.setdefault(review.id, review)
        if first is not review:
            problems.append(_same_id(first, review))
            if review.date < first.date:
                ids[review.id] = review
    return problems


def _same_id(first: Review, second: Review) -> Problem:
    """The problem of two reviews with one id, named on the one to change. A review copied to
    start another brings its id: line along, and the copy is dated later: the earlier review
    is the one readers know by that id, and changing it instead would show it to them again
    as new while the copy took the entry they had read. Of two of one date, ``second``."""
    if first.date > second.date:
        first, second = second, first
    if first.date == second.date:
        return Problem(second.source_path, 1, "id", f"{second.id!r} is also the id of "
                       f"{first.source_path}; every review needs its own id")
    return Problem(second.source_path, 1, "id", (
        f"{second.id!r} is also the id of {first.source_path}, dated "
        f"{first.date:%Y-%m-%d}, which feed readers know by it; give this review its own id "
        "(copied with the file? delete the line: one is made from the date and slug)"))


@dataclass(frozen=True)
class SourceCheck:
    """What checking the sources found: the valid reviews, every problem, every warning."""

    reviews: tuple[Review, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    files: int
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    pages: tuple[SitePage, ...] = ()
    meanwhile: Meanwhile | None = None  # see load_reviews

    @property
    def ok(self) -> bool:
        return not self.problems


def load_reviews(config: Config, *, cache: bool = True, store: bool | None = None,
                 bodies: bool = False) -> Catalog:
    """Load and check every review under ``config.reviews_path``.

    Raises SourceError listing every problem in every file. With ``cache`` the parsed reviews
    are kept in ``.publisher/cache/`` and reused while a file's bytes are unchanged; without it
    nothing is read from or written to the cache. ``store=False`` reads the cache but writes
    nothing to it (a rehearsal). With ``bodies``, children that shared the
    parsing render the bodies they parsed until ``Catalog.take_bodies`` (the caller ends them
    with ``Catalog.end_meanwhile`` in any case).
    """
    result = check_sources(config, cache=cache, store=cache if store is None else store,
                           bodies=bodies)
    if result.problems:
        if result.meanwhile is not None:
            result.meanwhile.close()
        raise SourceError(result.problems)
    excerpts = None
    if cache:
        excerpts = ExcerptCache(cache_path(config), cache_key(config))
        excerpts.apply(result.reviews, result.fingerprints)
    return Catalog(reviews=result.reviews, warnings=result.warnings, pages=result.pages,
                   fingerprints=result.fingerprints, excerpts=excerpts,
                   meanwhile=result.meanwhile)


def _load_sources(config: Config, use_cache: bool, store: bool, bodies: bool = False,
                  ) -> tuple[list[tuple[str, str]], list[ParseResult], list[Problem],
                             list[Problem], dict[str, str], Meanwhile | None]:
    """Every source file (relative and absolute path) and its parse result, in file order;
    the sources refused unread (links out of the publication), and the files not read that
    look like reviews; each file's sha256; the children rendering bodies (``bodies``). The
    cache is read with ``use_cache``, and written as well with ``store``."""
    files, refused, unread = _source_files(config)
    skeleton = house_skeleton(config)
    # What a parse says of a review depends on the skeleton too (whether it is written yet).
    cache = ReviewCache(cache_path(config) if use_cache else None,
                        cache_key(config) + "|" + (skeleton.pattern if skeleton else ""))
    signatures: dict[str, tuple[int, ...]] = {}
    new_index: dict[str, tuple[tuple[int, ...], int, str]] = {}
    found: dict[str, ParseResult] = {}
    rehash: list[Job] = []  # a cached result exists, but the file may have changed
    misses: list[Job] = []  # no cached result
    for rel, path in files:
        try:
            st = os.stat(path)
        except OSError:
            signature: tuple[int, ...] = ()
        else:
            signature = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        signatures[rel] = signature
        known = cache.files.get(rel)
        hit = cache.results.get(rel)
        if hit is None:
            misses.append((rel, path, None))
        elif signature and is_trusted(signature, st.st_ctime_ns, known) and known \
                and hit[0] == known[2]:
            new_index[rel] = known  # unchanged: not even read
            found[rel] = hit[1]
        else:
            rehash.append((rel, path, hit[0]))

    entries = _load_many(rehash, config, skeleton)
    meanwhile = None
    new_chunks: list[str] = []
    stored = cache.stored
    chunked: list[Entry] = []  # parsed by the shared load and stored in its chunks
    workers = default_workers()  # `taskset -c 0`: one core, so nothing to share it with
    if len(misses) >= FORK_THRESHOLD and workers >= 2:
        # Small batches, so that the processes finish together: each costs one read of a pipe.
        size = -(-len(misses) // min(workers * 64, MAX_SHARES))
        batches = [misses[i:i + size] for i in range(0, len(misses), size)]
        load = functools.partial(_load_many, config=config, skeleton=skeleton)
        shared = load_shared(batches, load, workers - 1, cache.directory if store else None,
                             _render_bodies if bodies else None)
        meanwhile = shared.meanwhile
        entries.extend(shared.unstored)
        chunked, new_chunks = shared.stored, shared.chunks
        stored += len(chunked)
    else:
        entries.extend(_load_many(misses, config, skeleton))
    pending = [e for e in entries if e[3] is not None]
    entries.extend(chunked)

    for rel, seen, digest, result in entries:
        if result is None:  # the same bytes as cached
            result = cache.results[rel][1]
        else:
            cache.results[rel] = (digest, result)
        found[rel] = result
        if digest and signatures[rel]:
            new_index[rel] = (signatures[rel], seen, digest)
    if store:
        cache.save(new_index, new_chunks, pending, stored)
    fingerprints = {rel: entry[2] for rel, entry in new_index.items()}
    return files, [found[rel] for rel, _ in files], refused, unread, fingerprints, meanwhile


def _render_bodies(entries: list[Entry], stopped: Callable[[], bool],
                   ) -> list[tuple[str, bytes, str | None]]:
    """In a loading child, once it has sent its entries: the body of each review it parsed
    that is not a draft, and the summary derived from it where the source gives none, until
    it is asked to stop. A build plans alone for a few tenths of a second after loading; each
    body rendered here (~0.1 ms) is one fewer to render afterwards, on a core that is busy.
    The same source bytes as the parse, so the same HTML as a render later. Each body goes
    in UTF-8, encoded here meanwhile: pickling and unpickling bytes is a copy, where text is
    encoded and decoded again while the loading process waits (~25 ms more for 3,400)."""
    made: list[tuple[str, bytes, str | None]] = []
    for rel, _seen, _digest, result in entries:
        review = None if result is None else result[0]
        if review is None or review.draft:
            continue
        if stopped():
            break
        try:
            body, _summary = review.body_html.encode("utf-8"), review.summary
        except Exception:  # noqa: BLE001 - whatever it is, the build meets it again
            # A file changed since it was parsed, or a bug: left to the build, which renders
            # this body itself and says what is wrong.
            break
        made.append((rel, body, review.computed_summary()))
    return made


def check_sources(config: Config, *, cache: bool = True, store: bool = False,
                  bodies: bool = False) -> SourceCheck:
    """Check every review without raising. With ``cache``, a file whose bytes the cache
    holds is not parsed again (a parse is a pure function of the bytes and the cache's key);
    the cache is written only with ``store``, so that ``publisher check`` writes nothing.
    ``bodies``: see load_reviews."""
    enabled = gc.isenabled()
    gc.disable()  # loading builds many small objects; cyclic GC passes over them only cost time
    try:
        result = _check_sources(config, cache, store, bodies)
    finally:
        if enabled:
            gc.enable()
    if len(result.reviews) >= FREEZE_THRESHOLD:
        # A big catalogue lives as long as the process and holds no cycles: move it out of the
        # collector's sight so that later passes do not walk it again and again.
        gc.freeze()
    return result


def _check_sources(config: Config, cache: bool, store: bool, bodies: bool = False,
                   ) -> SourceCheck:
    files, ordered, refused, unread, fingerprints, meanwhile = _load_sources(
        config, cache, store, bodies)
    try:
        return _checked(config, files, ordered, refused, unread, fingerprints, meanwhile)
    except BaseException:
        if meanwhile is not None:
            meanwhile.close()
        raise


def _checked(config: Config, files: list[tuple[str, str]], ordered: list[ParseResult],
             refused: list[Problem], unread: list[Problem], fingerprints: dict[str, str],
             meanwhile: Meanwhile | None) -> SourceCheck:
    absolute = dict(files)
    problems: list[Problem] = list(refused)
    reviews: list[Review] = []
    warnings: list[Problem] = list(unread)
    for review, file_problems, file_warnings, _needs in ordered:
        problems.extend(file_problems)
        warnings.extend(file_warnings)
        if review is not None:
            reviews.append(review)
    cross = _cross_checks(ordered, config)
    # Locate each cross-file problem at its field's line (only now, on the error path).
    problems.extend(Problem(p.path, field_line(absolute[p.path], p.field), p.field, p.message)
                    for p in cross)
    reviews.sort(key=lambda r: (r.date, r.slug))
    pages, page_problems, page_warnings = load_pages(config)
    problems.extend(page_problems)
    warnings.extend(page_warnings)
    return SourceCheck(reviews=tuple(reviews), problems=tuple(sorted(problems)),
                       warnings=tuple(sorted(warnings)), files=len(files) + len(refused),
                       fingerprints=fingerprints, pages=pages, meanwhile=meanwhile)

