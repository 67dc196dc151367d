"""The parse cache: reviews parsed before are reused while a file's bytes are unchanged.

Under .publisher/cache/, ``index.pickle`` records for each source path its stat signature,
the moment it was read and the sha256 of its bytes, and names the chunk files that hold the
parse results. A chunk (``chunk-<hash>.pickle``) is written once and never changed: when many
files are parsed, each worker process writes the chunk of its own batch, so a cold load never
pickles the whole catalogue in one place. Later chunks override earlier ones; when they hold
far more than the live results they are compacted into one.

An unchanged file is not even read: its stat signature is trusted when the file was last
changed safely before the moment it was read (as git treats "racily clean" files), so a file
rewritten within one timestamp tick is hashed again. The index carries a key of the code and
the config fields that shape the output; a stale, corrupt or missing part is ignored and
rebuilt. The cache is trusted local state (pickles): it lives beside the sources.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib.util
import os
import pickle
from collections.abc import Iterable, Mapping
from pathlib import Path
from time import time_ns
from typing import Any

import cmarkgfm
import nh3
import yaml

from ..config import Config
from ..files import closed_to_others, ours_alone, write_atomic
from ..models import Review
from .schema import CACHE_FORMAT, ParseResult

_RACY_NS = 2_000_000_000  # coarser than any file system's timestamp granularity we meet
_MAX_CHUNKS = 32
_INDEX = "index.pickle"

#: One loaded file: (path, time just before reading it, sha256 of its bytes, parse result, or
#: None when the sha256 equals the cached one).
Entry = tuple[str, int, str, ParseResult | None]
Job = tuple[str, str, str | None]  # (relative path, absolute path, cached sha256)


def is_trusted(signature: tuple[int, ...], ctime_ns: int,
             known: tuple[tuple[int, ...], int, str] | None) -> bool:
    """Whether a file may be taken as unchanged without reading it: same size, times and inode
    as when it was last read, and last changed safely (_RACY_NS) before that read."""
    return known is not None and known[0] == signature and ctime_ns + _RACY_NS < known[1]


@functools.cache
def code_fingerprint() -> str:
    """A digest of the code and libraries that shape a parse result: a change to any of them
    invalidates every cached review."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.glob("sources/*.py")) + [package / "text.py",
                                                        package / "models.py"]:
        digest.update(path.read_bytes())
    versions = [getattr(module, "__version__", "") for module in (yaml, nh3, cmarkgfm)]
    # anyascii spells slugs (text.slugify); its module, which holds its version, is read
    # rather than imported (15 ms, for the few publications whose names need it)
    spec = importlib.util.find_spec("anyascii")
    if spec is not None and spec.origin:
        digest.update(Path(spec.origin).read_bytes())
    digest.update(f"{CACHE_FORMAT}|{'|'.join(versions)}".encode())
    return digest.hexdigest()


def config_fingerprint(config: Config) -> str:
    """The config fields that shape a parse result."""
    # The language gives a body its quotation marks (quotes.py).
    parts = (config.base_url, config.timezone, config.feeds.permalink, config.feeds.ids,
             config.feeds.id_domain, config.newsletter.excerpt_words, config.reviews_dir,
             str(config.root), config.language)
    return repr(parts)


def cache_key(config: Config) -> str:
    return code_fingerprint() + "|" + config_fingerprint(config)


def cache_path(config: Config) -> Path:
    """The directory holding the review cache (safe to delete at any time)."""
    return config.paths.cache


def _unpickle(path: Path) -> Any:
    """A cache file's content, or None when it is missing or unreadable."""
    # Unpickling thousands of reviews allocates objects that all live on: pausing the cyclic
    # garbage collector meanwhile halves the time (bench/build.py, 10,000 reviews warm).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with path.open("rb") as fh:
            # Loading a pickle runs what it names: one that another user wrote, or could
            # have (a cache directory an older publisher made under umask 002), is rebuilt.
            if not ours_alone(os.fstat(fh.fileno())):
                return None
            return pickle.load(fh)
    except Exception:  # noqa: BLE001 - a corrupt or foreign cache file is simply rebuilt
        return None
    finally:
        if was_enabled:
            gc.enable()


def _write_file(path: Path, payload: bytes) -> bool:
    """Write atomically (no fsync: a lost cache is only rebuilt); False if it cannot be."""
    try:
        write_atomic(path, payload, fsync=False)
    except OSError:  # a read-only checkout still loads, just without a cache
        return False
    return True


def write_chunk(directory: Path, entries: list[Entry], blob: bytes | None = None) -> str | None:
    """Store entries as a new chunk; its name, or None if it could not be written."""
    if blob is None:
        blob = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
    name = f"chunk-{hashlib.sha256(blob).hexdigest()[:24]}.pickle"
    return name if _write_file(directory / name, blob) else None


class ReviewCache:
    """The index and the results of the chunks it names (see the comment above)."""

    def __init__(self, directory: Path | None, key: str):
        self.directory = directory
        self.key = key
        self.files: dict[str, tuple[tuple[int, ...], int, str]] = {}
        self.chunks: list[str] = []
        self.results: dict[str, tuple[str, ParseResult]] = {}
        self.stored = 0  # entries held in the chunks, stale ones included
        if directory is not None:
            closed_to_others(directory.parent)  # .publisher/
            closed_to_others(directory)
        index = _unpickle(directory / _INDEX) if directory is not None else None
        try:
            if not (isinstance(index, dict) and index.get("key") == key):
                return
            files, chunks = dict(index["files"]), list(index["chunks"])
        except (KeyError, TypeError, ValueError):
            return
        assert directory is not None
        self.files = files
        for name in chunks:
            entries = _unpickle(directory / name)
            if not isinstance(entries, list):
                continue  # a lost chunk: its files are parsed again
            self.chunks.append(name)
            self.stored += len(entries)
            for rel, _seen, digest, result in entries:
                if result is not None:
                    self.results[rel] = (digest, result)

    def save(self, files: dict[str, tuple[tuple[int, ...], int, str]], new_chunks: list[str],
             pending: list[Entry], stored: int) -> None:
        """Record the new index, after writing ``pending`` entries as one more chunk."""
        directory = self.directory
        if directory is None:
            return
        chunks = self.chunks + new_chunks
        ours = set(chunks)
        if pending:
            name = write_chunk(directory, pending)
            if name is None:
                return
            chunks.append(name)
            ours.add(name)
            stored += len(pending)
        if len(chunks) > _MAX_CHUNKS or stored > 2 * len(files) + 100:
            live: list[Entry] = [(rel, 0, digest, result)
                                 for rel, (digest, result) in self.results.items()
                                 if rel in files]
            name = write_chunk(directory, live)
            if name is None:
                return
            chunks = [name]
        if chunks == self.chunks and files == self.files:
            return
        index = {"key": self.key, "chunks": chunks, "files": files}
        if _write_file(directory / _INDEX,
                       pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)):
            self._remove_unused(keep=set(chunks), ours=ours)

    def _remove_unused(self, *, keep: set[str], ours: set[str]) -> None:
        """Delete chunks no longer indexed: ours at once, others' only once they are old (a
        concurrent load may be about to index a chunk it has just written)."""
        assert self.directory is not None
        stale = time_ns() - 60 * 10**9
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.directory):
                if not entry.name.startswith("chunk-") or entry.name in keep:
                    continue
                with contextlib.suppress(OSError):
                    if entry.name in ours or entry.stat().st_mtime_ns < stale:
                        os.unlink(entry.path)



_EXCERPTS = "excerpts.pickle"


class TextCache:
    """Texts kept between runs in one pickle under the cache directory, by name, valid only
    under ``key`` (what they were made with). No directory: nothing is read or written."""

    def __init__(self, directory: Path | None, file: str, key: str):
        self.directory = directory
        self.file = file
        self.key = key
        self.items: dict[str, str] = {}
        data = _unpickle(directory / file) if directory is not None else None
        if isinstance(data, dict) and data.get("key") == key:
            items = data.get("items")
            if isinstance(items, dict):
                self.items = items

    def keep(self, items: dict[str, str]) -> None:
        """Keep exactly ``items`` (written only when they differ from what is kept)."""
        if self.directory is not None and items != self.items:
            _write_file(self.directory / self.file, pickle.dumps(
                {"key": self.key, "items": items}, protocol=pickle.HIGHEST_PROTOCOL))
            self.items = items


class ExcerptCache(TextCache):
    """The summaries derived from bodies (for reviews whose front matter gives none), by the
    sha256 of the review's source, under the same key as the parse cache.

    The site's indexes show every review's summary: without these, a build that adds one
    review (which shifts every page of every index it is on) rendered the body of every review
    without a summary again — 3,000 bodies, most of that build's time, at 10,000 reviews."""

    def __init__(self, directory: Path | None, key: str):
        super().__init__(directory, _EXCERPTS, key)

    def apply(self, reviews: Iterable[Review], fingerprints: Mapping[str, str]) -> None:
        """Give each review its derived summary when it was computed before."""
        items = self.items
        if not items:
            return
        for review in reviews:
            found = items.get(fingerprints.get(review.source_path, ""))
            if found is not None:
                review.take_summary(found)

    def save(self, reviews: Iterable[Review], fingerprints: Mapping[str, str]) -> None:
        """Keep the derived summaries computed so far (of the reviews there are now)."""
        if self.directory is None:
            return
        items: dict[str, str] = {}
        for review in reviews:
            text = review.computed_summary()
            digest = fingerprints.get(review.source_path)
            if digest is None:
                continue
            if text is None:
                text = self.items.get(digest)
            if text is not None:
                items[digest] = text
        self.keep(items)
