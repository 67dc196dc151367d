"""Poster files under static/: their byte size and pixel dimensions, read once and cached.

Feeds give a poster's size in bytes (RSS enclosures require it) and its width and height
(media:content, the ``_review`` data); pages give width and height so that browsers reserve the
space before the image arrives. Reading dimensions means opening the file and parsing its header
(``imagesize``), so they are kept in ``.publisher/cache/posters.json`` keyed by the file's size and
modification time: a build reads each poster once, and again only when it changes. The images a
body shows from static/ are read here too, for their width and height (``render.images``).

Only files inside static/ that stay inside the publication are looked at (the same rule as
copying them, ``files.escapes``); a URL elsewhere is not fetched, so a remote poster has no
facts and its page and feeds simply leave the dimensions out.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from ..config import Config
from ..errors import Problem
from ..files import escapes, write_atomic
from ..models import ImageFacts, Review, SitePage
from .frontmatter import field_line

#: 2: sizes are whole pixels (version 1 kept an SVG's fractional size as imagesize read it).
CACHE_VERSION = 2

#: Formats whose header always gives the size, by the file name's suffix: a poster named so that
#: has none is not that image (an error page saved as .jpg, a cut-off download), and a browser
#: shows it broken. SVG and the rest may lack a size and still be fine.
RASTER_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF",
                  ".webp": "WebP"}


class PosterFacts:
    """``facts(url)``: an ImageFacts for a poster URL that names a file in static/, else None.
    ``save()`` keeps what was read for the next build (only when something new was read)."""

    def __init__(self, config: Config, *, cache: bool = True) -> None:
        self._base = config.base_url
        self._static = config.paths.static
        self._allowed = [config.root.resolve()]
        self._path = config.paths.cache / "posters.json" if cache else None
        self._known: dict[str, list[int]] = self._load()
        self._seen: dict[str, ImageFacts | None] = {}
        self._changed = False

    def _load(self) -> dict[str, list[int]]:
        if self._path is None:
            return {}
        try:
            data = json.loads(self._path.read_bytes())
        except (OSError, ValueError):
            return {}
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION:
            files = data.get("files")
            if isinstance(files, dict):
                return files
        return {}

    def relative(self, url: str) -> str | None:
        """The path under static/ that ``url`` names, or None for a URL elsewhere."""
        if not url.startswith(self._base):
            return None
        rel = PurePosixPath(unquote(urlsplit(url[len(self._base):]).path))
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            return None
        return rel.as_posix()

    def facts(self, url: str) -> ImageFacts | None:
        if url in self._seen:
            return self._seen[url]
        found = None
        rel = self.relative(url)
        if rel is not None:
            found = self._read(rel)
        self._seen[url] = found
        return found

    def _read(self, rel: str) -> ImageFacts | None:
        path = self._static / rel
        try:
            st = os.stat(path)
        except OSError:
            return None
        known = self._known.get(rel)
        if known is not None and known[:2] == [st.st_size, st.st_mtime_ns]:
            width, height = known[2], known[3]
        elif escapes(path, self._allowed) is not None:
            return None  # never read; the build refuses the link itself, naming it
        else:
            # Imported on the first poster file read: it imports urllib.request, http.client
            # and ssl, 16 ms of the start of every build, which most do not need.
            import imagesize

            try:
                width, height = map(whole_pixels, imagesize.get(str(path)))
            except (OSError, ValueError):
                width, height = -1, -1
            self._known[rel] = [st.st_size, st.st_mtime_ns, width, height]
            self._changed = True
        if width <= 0 or height <= 0:  # imagesize says -1 for a format it cannot read
            return ImageFacts(length=st.st_size)
        return ImageFacts(length=st.st_size, width=width, height=height)

    def learned(self) -> dict[str, list[int]]:
        """The sizes read by this process (a forked worker's, for ``learn``)."""
        return dict(self._known) if self._changed else {}

    def learn(self, known: dict[str, list[int]]) -> None:
        """Keep sizes another process read (``learned``)."""
        if known:
            self._known.update(known)
            self._changed = True

    def save(self) -> None:
        if self._path is None or not self._changed:
            return
        payload = json.dumps({"version": CACHE_VERSION, "files": self._known}, sort_keys=True)
        try:
            write_atomic(self._path, payload.encode("utf-8"), fsync=False)
        except OSError:
            pass  # a cache: the next build reads the posters again
        self._changed = False


def whole_pixels(size: float) -> int:
    """A size imagesize read, in whole pixels: an SVG's comes as a float (``10cm`` is
    377.95…, ``36`` is 36.0), and width and height attributes want an integer. Under half a
    pixel rounds to 0, which like imagesize's -1 means no size."""
    return round(size) if math.isfinite(size) else -1


#: A poster heavier than this is named by ``publisher check``: a photograph as the camera
#: saved it, downloaded by every reader of each page and issue that shows it.
HEAVY_POSTER = 1024 * 1024


def heavy_posters(config: Config, reviews: Iterable[Review],
                  posters: PosterFacts) -> list[Problem]:
    """For ``publisher check``: a warning for each review whose poster, a file in static/, is
    over HEAVY_POSTER bytes. ``posters``: the facts the check plans the build with."""
    found = []
    for review in reviews:
        facts = posters.facts(review.poster.src) if review.poster is not None else None
        if facts is None or facts.length <= HEAVY_POSTER or review.poster is None:
            continue
        size = (f" ({facts.width} × {facts.height} pixels)"
                if facts.width is not None and facts.height is not None else "")
        source = review.source_path or review.slug
        found.append(Problem(source, field_line(str(config.root / source), "poster"), "poster", (
            f"static/{posters.relative(review.poster.src)} is "
            f"{facts.length / 1024 / 1024:.1f} MB{size}, and every reader of its page, of the "
            "lists and issues that show it downloads it (an issue shows it 150 pixels wide); "
            "save it smaller: 600 pixels wide is sharp on every screen, and well under 1 MB")))
    return found


#: The smallest poster, width and height, that a link to its review shows: Facebook and
#: LinkedIn show no image under 200 × 200 pixels (X none under 144 × 144).
SMALL_POSTER = 200


def small_posters(config: Config, reviews: Iterable[Review],
                  posters: PosterFacts) -> list[Problem]:
    """For ``publisher check``: a warning for each review whose poster, a file in static/, is
    under SMALL_POSTER pixels wide or high, so that a link to its page is shared without it
    (an SVG, drawn at any size, is not: no link preview shows one). ``posters``: the facts the
    check plans the build with."""
    found = []
    for review in reviews:
        facts = posters.facts(review.poster.src) if review.poster is not None else None
        if (facts is None or facts.width is None or facts.height is None
                or review.poster is None
                or (facts.width >= SMALL_POSTER and facts.height >= SMALL_POSTER)):
            continue
        rel = posters.relative(review.poster.src) or ""
        if PurePosixPath(rel).suffix.lower() not in RASTER_FORMATS:
            continue
        source = review.source_path or review.slug
        found.append(Problem(source, field_line(str(config.root / source), "poster"), "poster", (
            f"static/{rel} is {facts.width} × {facts.height} "
            "pixels, and a link to its review shows no image on Facebook or LinkedIn (nothing "
            f"under {SMALL_POSTER} × {SMALL_POSTER}) nor on X (under 144 × 144); save it "
            "larger: 600 pixels wide is sharp on every screen")))
    return found


#: What makes an SVG run script when it is opened at its own address (an <img> runs none): a
#: script element (with a namespace prefix or not), HTML brought in by foreignObject, an
#: event attribute, a javascript: link (a browser drops tabs and line breaks inside it). Read
#: after XML's character references are decoded, as a browser's parser decodes them.
_SVG_SCRIPT = re.compile(
    r"<\s*(?:[\w.-]+:)?(script|foreignobject|handler)\b"
    r"|[\s\"'/](on[a-z]+)\s*="
    r"|(j\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t\s*:)", re.IGNORECASE)
_CHAR_REF = re.compile(r"&#(?:x([0-9a-f]+)|([0-9]+));?", re.IGNORECASE)


def _char(ref: re.Match[str]) -> str:
    code = int(ref[1], 16) if ref[1] else int(ref[2])
    return chr(code) if 0 < code < 0x110000 else ""


def svg_scripts(path: str | os.PathLike[str]) -> list[str]:
    """What in the SVG file at ``path`` would run script when the file is opened at its own
    address ("<script>", "onload=", "javascript: link"), each once; [] for none, and for a
    file that cannot be read."""
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    found: dict[str, None] = {}
    for match in _SVG_SCRIPT.finditer(_CHAR_REF.sub(_char, text)):
        element, attribute, _link = match.groups()
        found[f"<{element.lower()}>" if element else f"{attribute.lower()}="
              if attribute else "javascript: link"] = None
    return sorted(found, key=lambda what: (what[0] != "<", what[-1] == "=", what))


def scripted_svgs(config: Config, sources: Iterable[Review | SitePage],
                  posters: PosterFacts) -> list[Problem]:
    """For ``publisher check``: an error for each SVG in static/ that a review shows as its
    poster, or a body (a review's or a page's) shows or links to, which holds script
    (``svg_scripts``). An <img> runs none, but the file is published beside the pages, and
    opened at its own address it is a page of the site's origin: whoever could commit an
    image could put a login form or a redirect under the publication's name."""
    found = []
    for source in sources:
        given: list[tuple[str, int, str]] = []
        poster = getattr(source, "poster", None)
        if poster is not None:
            given.append((poster.src, field_line(str(config.root / source.source_path),
                                                  "poster"), "poster"))
        given += [(url, line, "body") for url, line in source.links]
        for url, line, field in given:
            rel = posters.relative(url.partition("#")[0])
            if rel is None or not rel.lower().endswith((".svg", ".svgz")):
                continue
            scripts = svg_scripts(config.paths.static / rel)
            if scripts:
                found.append(Problem(source.source_path, line, field, (
                    f"static/{rel} holds a script ({', '.join(scripts)}), which runs when the "
                    "file is opened at its own address, as a page of the site; save the image "
                    "without it")))
    return found


def unreadable_posters(config: Config, reviews: Iterable[Review],
                       posters: PosterFacts) -> list[Problem]:
    """For ``publisher check``: a warning for each review whose poster is a file in static/
    named as a JPEG, PNG, GIF or WebP image that is not one. ``posters``: the facts the check
    plans the build with, so each poster is read once; nothing is written."""
    found = []
    for review in reviews:
        rel = posters.relative(review.poster.src) if review.poster is not None else None
        kind = RASTER_FORMATS.get(PurePosixPath(rel).suffix.lower()) if rel else None
        facts = posters.facts(review.poster.src) if kind and review.poster else None
        if facts is not None and facts.width is None:
            source = review.source_path or review.slug
            found.append(Problem(source, field_line(str(config.root / source), "poster"),
                                 "poster", f"static/{rel} is not a {kind} image (its first bytes "
                                 "say otherwise), so browsers show it broken; save it again as "
                                 f"a {kind} file"))
    return found
