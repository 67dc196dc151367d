"""Review sources: ``reviews/*.md`` files, YAML front matter plus a Markdown body.

The front matter is read with PyYAML's BaseLoader (the C one where available), which keeps every
scalar a string; our schema below converts each field, so ``title: 1917`` is the film "1917",
``title: No`` is not False and ``runtime: 1:30:00`` is ninety minutes, not 5400. Every problem
in every file is collected and raised together as one SourceError, each one located as
``reviews/x.md:LINE: field: what is wrong, what is expected``.

Conventions:

- ``date`` / ``updated``: ``YYYY-MM-DD`` means midnight in the publication's timezone;
  ``YYYY-MM-DD HH:MM[:SS]`` without an offset is also taken in that timezone; an explicit
  offset (``+01:00``, ``Z``) is honoured. Dates are stored in the publication's timezone.
- ``runtime`` is in minutes: ``90``, ``90 min``, ``1h 30m``, ``1h30``, ``1:30`` (h:mm) or
  ``1:30:00`` (h:mm:ss).
- ``rating``: 0 to 5 in half steps (``3.5`` or ``3½``).
- ``tags`` and ``film.starring`` / ``film.credits``: a YAML list, or one comma-separated line.
- ``poster``: a path (a file in the publication's ``static/`` directory, served from base_url)
  or an absolute http(s) URL, with ``poster_alt`` for its alt text; or a mapping with ``src``
  and ``alt``. Without alt text it is "Poster for TITLE".
- ``slug`` defaults to the file name (slugified); ``id`` defaults to
  ``tag:{domain},{YYYY-MM-DD}:{slug}`` with the date in the publication's timezone.
- Files whose names start with ``.`` or ``_`` are ignored (editor backups, notes).

Loading 10,000 files is fast: parsed reviews are cached under ``.publisher/cache/`` keyed by each
file's SHA-256 (plus the config fields and code that shape the output), and when many files miss
the cache they are parsed in a pool of worker processes.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import hashlib
import os
import pickle
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date as date_type
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from time import time_ns
from typing import Any
from urllib.parse import urlsplit

import yaml

from . import render
from .config import Config, parse_config
from .errors import Problem, PublisherError, SourceError
from .files import write_atomic
from .models import Film, Poster, Review, slugify

try:  # the C parser is several times faster; fall back to pure Python where libyaml is absent
    from yaml.cyaml import CParser as _Parser
except ImportError:  # pragma: no cover - libyaml is present in our environments
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)

_KIND_TAGS = {
    yaml.ScalarNode: "tag:yaml.org,2002:str",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
    yaml.MappingNode: "tag:yaml.org,2002:map",
}


class _Loader(_Parser):  # type: ignore[misc,valid-type]
    """A composer only (as BaseLoader: every scalar a string, nothing constructed), with the
    resolver cut to one lookup: our schema types the values, never YAML's implicit rules."""

    def resolve(self, kind: type, value: object, implicit: object) -> str:
        return _KIND_TAGS[kind]

    def descend_resolver(self, current_node: object, current_index: object) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


def _compose_yaml(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


#: Bump when parsing or rendering changes in a way the source hashes cannot see.
CACHE_FORMAT = 1
#: Parse in worker processes when at least this many files miss the cache.
POOL_THRESHOLD = 200
POOL_WORKERS = 2
#: Freeze the garbage collector's view of a catalogue this big once it is loaded.
FREEZE_THRESHOLD = 2000

FIELDS = (
    "title", "date", "reviewer", "film", "rating", "summary", "tags", "poster", "poster_alt",
    "availability", "slug", "id", "updated", "draft",
)
FILM_FIELDS = ("year", "director", "starring", "runtime", "classification", "credits")
POSTER_FIELDS = ("src", "alt")
REQUIRED = ("title", "date", "reviewer")

_SAFE_SLUG = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*\Z")
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)
_TOP_KEY = re.compile(r"^(\s*)([A-Za-z_][\w-]*)\s*:\s+(.*?)\s*\r?$")
_KEY_LINE = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z_][\w-]*)\s*:(?:\s|$)(.*)")
_LIST_ITEM = re.compile(r"^(\s*-\s+)(.*?)\s*\r?$")


@dataclass(frozen=True)
class Catalog:
    """Every valid review (drafts and future ones too), oldest first by (date, slug)."""

    reviews: tuple[Review, ...]
    warnings: tuple[Problem, ...] = ()

    @functools.cached_property
    def _ids(self) -> dict[str, Review]:
        return {r.id: r for r in self.reviews}

    def published(self, now: datetime) -> tuple[Review, ...]:
        """Reviews that are not drafts and not dated after ``now``, oldest first."""
        return tuple(r for r in self.reviews if r.is_published(now))

    def by_id(self, review_id: str) -> Review | None:
        return self._ids.get(review_id)


# --- one file ------------------------------------------------------------------------------


class _Collector:
    """Problems and warnings found in one file."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, line: int, field_name: str, message: str) -> None:
        self.problems.append(Problem(self.path, line, field_name, message))

    def warn(self, line: int, field_name: str, message: str) -> None:
        self.warnings.append(Problem(self.path, line, field_name, message))


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a single value"


def _flow_text(node: yaml.Node) -> str | None:
    """The text of a one-line flow list or mapping of plain values (``[REC]``), as written
    give or take spacing; None for anything else."""
    if not getattr(node, "flow_style", False) or node.start_mark.line != node.end_mark.line:
        return None
    if isinstance(node, yaml.SequenceNode):
        items = node.value
        if all(isinstance(i, yaml.ScalarNode) for i in items):
            return "[" + ", ".join(i.value for i in items) + "]"
    elif isinstance(node, yaml.MappingNode):
        pairs = node.value
        if all(isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)
               for k, v in pairs):
            return "{" + ", ".join(f"{k.value}: {v.value}" if v.value else k.value
                                   for k, v in pairs) + "}"
    return None


class _Fields:
    """The front matter's mapping node, read field by field with line numbers."""

    def __init__(self, node: yaml.MappingNode, offset: int, out: _Collector, prefix: str,
                 known: Sequence[str]):
        self.offset = offset
        self.out = out
        self.prefix = prefix
        self.nodes: dict[str, yaml.Node] = {}
        self.lines: dict[str, int] = {}
        self.texts: dict[str, str | None] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + offset
            if not isinstance(key_node, yaml.ScalarNode):
                out.error(line, prefix.rstrip("."), "a field name must be a plain word")
                continue
            key = key_node.value
            name = prefix + key
            if key in self.nodes:
                out.error(line, name, f"given twice (first on line {self.lines[key]}); "
                                      "keep one")
                continue
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                if not prefix and key in FILM_FIELDS:
                    hint = f"did you mean 'film.{key}'? (indent it under film:)"
                elif close:
                    hint = f"did you mean '{prefix}{close[0]}'?"
                else:
                    hint = "known fields: " + ", ".join(known)
                out.error(line, name, f"unknown field; {hint}")
                continue
            self.nodes[key] = value_node
            self.lines[key] = line

    def line(self, key: str, default: int = 1) -> int:
        return self.lines.get(key, default)

    def text(self, key: str) -> str | None:
        """A scalar field as cleaned text; None when absent or empty (each problem reported
        once, however often the field is read)."""
        if key in self.texts:
            return self.texts[key]
        self.texts[key] = value = self._text(key)
        return value

    def _text(self, key: str) -> str | None:
        node = self.nodes.get(key)
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode):
            hint = ""
            written = _flow_text(node)
            if written is not None:  # title: [REC] is a list to YAML
                hint = (f"; if the brackets belong to the value, quote it: "
                        f"{key}: {_quoted(written)}")
            self.out.error(self.line(key), self.prefix + key,
                           f"expected a single value, got {_kind(node)}{hint}")
            return None
        value, removed = render.remove_control_chars(node.value)
        if removed:
            self.out.warn(self.line(key), self.prefix + key,
                          f"removed {removed} control character{'s' if removed > 1 else ''} "
                          "that XML cannot carry")
        value = render.clean_text(value)
        return value or None

    def text_list(self, key: str) -> tuple[str, ...] | None:
        """A list of text values, or one comma-separated line."""
        node = self.nodes.get(key)
        if node is None:
            return None
        name = self.prefix + key
        if isinstance(node, yaml.ScalarNode):
            items = [render.clean_text(v) for v in node.value.split(",")]
        elif isinstance(node, yaml.SequenceNode):
            items = []
            for item in node.value:
                if not isinstance(item, yaml.ScalarNode):
                    self.out.error(item.start_mark.line + self.offset, name,
                                   f"expected a list of names, got {_kind(item)} in it")
                    return None
                items.append(render.clean_text(item.value))
        else:
            self.out.error(self.line(key), name, "expected a list, e.g. [a, b], got a mapping")
            return None
        return tuple(dict.fromkeys(i for i in items if i))

    def mapping(self, key: str, known: Sequence[str]) -> _Fields | None:
        node = self.nodes.get(key)
        if node is None or not isinstance(node, yaml.MappingNode):
            return None
        return _Fields(node, self.offset, self.out, self.prefix + key + ".", known)


def derived_id(config: Config, day: date_type, slug: str) -> str:
    """The id of a review without an ``id`` field: the RFC 4151 tag URI
    ``tag:{domain},{YYYY-MM-DD}:{slug}`` (the importer writes the same into the files it makes)."""
    return f"tag:{config.domain},{day.isoformat()}:{slug}"


def _parse_datetime(value: str, config: Config) -> datetime:
    """A bare date is midnight in the publication's timezone; a time without an offset is too."""
    if len(value) == 10:
        day = date_type.fromisoformat(value)
        return datetime.combine(day, time(0, 0), tzinfo=config.tz)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=config.tz)
    return parsed.astimezone(config.tz)


#: Publication and update dates must fall within these years.
MIN_YEAR, MAX_YEAR = 1900, 2100

_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                         r"(?:Z|[+-]\d{2}:?\d{2})?)?\Z")


def _date_field(fields: _Fields, key: str, config: Config) -> datetime | None:
    value = fields.text(key)
    if value is None:
        return None
    if _DATE_SHAPE.match(value):
        try:
            parsed = _parse_datetime(value, config)
        except ValueError:
            pass
        else:
            if MIN_YEAR <= parsed.year <= MAX_YEAR:
                return parsed
            # A typo (0206 for 2026) would date feed entries before time zones existed
            # or beyond what feeds can carry, or schedule the review for ever.
            fields.out.error(fields.line(key), key,
                             f"{value!r} is out of range; expected a date between "
                             f"{MIN_YEAR} and {MAX_YEAR}")
            return None
    fields.out.error(fields.line(key), key,
                     f"{value!r} is not a valid date; expected YYYY-MM-DD or "
                     "YYYY-MM-DD HH:MM (optionally with a UTC offset such as +01:00)")
    return None


_RUNTIME_UNITS = re.compile(
    r"(?:(?P<h>\d+)\s*h(?:ours?|rs?)?)?\s*(?:(?P<m>\d+)\s*m(?:in(?:ute)?s?)?)?\Z",
    re.IGNORECASE,
)
_RUNTIME_HM = re.compile(r"(?P<h>\d+):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?\Z")
_RUNTIME_H_M = re.compile(r"(?P<h>\d+)\s*h\s*(?P<m>[0-5]?\d)\Z", re.IGNORECASE)


def parse_runtime(value: str) -> int | None:
    """Minutes from ``90``, ``90 min``, ``1h 30m``, ``1h30``, ``1:30`` or ``1:30:00``; None if
    the text is none of those."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    match = _RUNTIME_HM.match(value)
    if match:
        seconds = int(match["s"] or 0)
        return int(match["h"]) * 60 + int(match["m"]) + (1 if seconds >= 30 else 0)
    match = _RUNTIME_H_M.match(value) or _RUNTIME_UNITS.match(value)
    if match and (match["h"] or match["m"]):
        return int(match["h"] or 0) * 60 + int(match["m"] or 0)
    return None


def _film(fields: _Fields) -> Film:
    node = fields.nodes.get("film")
    if node is None or (isinstance(node, yaml.ScalarNode) and not node.value.strip()):
        return Film()
    if not isinstance(node, yaml.MappingNode):
        fields.out.error(fields.line("film"), "film",
                         f"expected a mapping with fields such as year and director, got "
                         f"{_kind(node)}")
        return Film()
    film = fields.mapping("film", FILM_FIELDS)
    assert film is not None
    year: int | None = None
    raw_year = film.text("year")
    if raw_year is not None:
        if raw_year.isdigit() and 1870 <= int(raw_year) <= 2100:
            year = int(raw_year)
        else:
            film.out.error(film.line("year"), "film.year",
                           f"{raw_year!r} is not a year; expected four digits such as 1979")
    runtime: int | None = None
    raw_runtime = film.text("runtime")
    if raw_runtime is not None:
        runtime = parse_runtime(raw_runtime)
        if runtime is None or not 1 <= runtime <= 1500:
            film.out.error(film.line("runtime"), "film.runtime",
                           f"{raw_runtime!r} is not a running time; expected minutes such as "
                           "90, or 1h 30m, or 1:30 (hours:minutes)")
            runtime = None
    return Film(
        year=year,
        director=film.text("director") or "",
        starring=film.text_list("starring") or (),
        runtime=runtime,
        classification=film.text("classification") or "",
        credits=film.text_list("credits") or (),
    )


_HALF = {"½": ".5", "1/2": ".5"}


def _rating(fields: _Fields) -> Decimal | None:
    raw = fields.text("rating")
    if raw is None:
        return None
    text = raw.replace(" ", "")
    for half, decimal in _HALF.items():
        if text.endswith(half):
            text = (text[: -len(half)] or "0") + decimal
    line = fields.line("rating")
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        fields.out.error(line, "rating", f"{raw!r} is not a number; expected 0 to 5 in half "
                                         "steps, e.g. 3.5")
        return None
    if not 0 <= value <= 5:
        fields.out.error(line, "rating", f"{raw} is out of range; expected 0 to 5")
        return None
    if (value * 2) % 1:
        fields.out.error(line, "rating", f"{raw} is not in half steps; expected a whole or "
                                         "half number such as 3 or 3.5")
        return None
    return value.normalize() if value % 1 else Decimal(int(value))


def _bool(fields: _Fields, key: str) -> bool:
    raw = fields.text(key)
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    fields.out.error(fields.line(key), key, f"{raw!r} is not true or false; expected true or "
                                            "false")
    return False


def _poster(fields: _Fields, title: str, config: Config) -> tuple[Poster | None, tuple[str, ...]]:
    """The poster (``poster: PATH-OR-URL`` with ``poster_alt: TEXT``, or ``poster:`` with
    ``src`` and ``alt`` under it), and the file under static/ it needs when given as a path."""
    node = fields.nodes.get("poster")
    alt = fields.text("poster_alt")
    if node is None:
        if alt is not None:
            fields.out.error(fields.line("poster_alt"), "poster_alt",
                             "alt text without a poster; add poster: with the image's path or "
                             "URL, or remove poster_alt")
        return None, ()
    line = fields.line("poster")
    if isinstance(node, yaml.MappingNode):
        sub = fields.mapping("poster", POSTER_FIELDS)
        assert sub is not None
        src = sub.text("src")
        if sub.text("alt") is not None:
            if alt is not None:
                fields.out.error(fields.line("poster_alt"), "poster_alt",
                                 "the alt text is given twice (also as poster.alt); keep one")
            alt = sub.text("alt")
        if src is None:
            fields.out.error(line, "poster.src", "missing; expected a path such as "
                                                 "posters/film.png or an https URL")
            return None, ()
    else:
        src = fields.text("poster")
        if src is None:
            return None, ()
    parts = urlsplit(src)
    if parts.scheme and parts.scheme.lower() not in ("http", "https"):
        fields.out.error(line, "poster", f"{src!r} is not an http(s) URL or a path under "
                                         "static/")
        return None, ()
    if parts.scheme or parts.netloc:
        return Poster(src=render.absolute_url(src, config.base_url),
                      alt=alt or f"Poster for {title}"), ()
    segments = [s for s in parts.path.split("/") if s and s != "."]
    if ".." in segments or "\\" in src or not segments:
        fields.out.error(line, "poster", f"{src!r} leaves the static/ directory; expected a "
                                         "path such as posters/film.png")
        return None, ()
    # static/ is published at base_url, so "/posters/x.png" and "posters/x.png" are one file.
    path = "/".join(segments)
    return Poster(src=config.url(path), alt=alt or f"Poster for {title}"), (path,)


#: (review or None, problems, warnings, files under static/ the review needs)
_Result = tuple[Review | None, list[Problem], list[Problem], tuple[str, ...]]


def _split_front_matter(text: str, out: _Collector) -> tuple[str, str, int] | None:
    """(front matter, body, line number of the body's first line), or None with a problem."""
    first, _, rest = text.partition("\n")
    if first.rstrip() != "---":
        out.error(1, "", "no front matter; start the file with a line '---', then fields "
                         "such as 'title: ...', then another '---'")
        return None
    match = _FRONT_MATTER_END.search(rest)
    if match is None:
        out.error(1, "", "front matter is not closed; add a line '---' after the last field")
        return None
    front = rest[: match.start()]
    body = rest[match.end():].lstrip("\r").removeprefix("\n")
    body_line = 2 + front.count("\n") + 1
    return front, body, body_line


_YAML_TRAPS = (
    ("mapping values are not allowed", "the value contains ': ', which YAML reads as a new "
                                       "field"),
    ("alias", "a value starting with '*' is read as a YAML alias"),
    ("anchor", "a value starting with '&' is read as a YAML anchor"),
    ("cannot start any token", "a value starting with '@', '`', '%' or a tab is not allowed "
                               "unquoted in YAML"),
    ("tag", "a value starting with '!' is read as a YAML tag"),
    ("did not find expected key", "text after a closing quote is not allowed"),
)
# Valid YAML that would silently drop part of a value: anchors (&x), aliases (*x), tags (!x).
_SILENT_TRAPS = {"&": _YAML_TRAPS[2][1], "*": _YAML_TRAPS[1][1], "!": _YAML_TRAPS[4][1]}
# Text fields where " #" starts a YAML comment that would silently cut the text short
# ("title: Number #9 Dream" is "Number"); elsewhere a trailing comment is fine.
_TEXT_KEYS = frozenset({"title", "reviewer", "summary", "availability", "poster_alt",
                        "director", "classification", "alt"})


def _comment_trap(key: str, value: str) -> str | None:
    """Why a plain text value loses its end to a YAML comment, or None."""
    if key not in _TEXT_KEYS or not value or value[0] in "\"'|>[{":
        return None
    if value.startswith("#"):
        return "a value starting with '#' is read as a YAML comment, leaving the field empty"
    if " #" in value or "\t#" in value:
        return ("the text from ' #' on is read as a YAML comment and dropped (a comment "
                "belongs on a line of its own)")
    return None


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dotted(lines: list[str], index: int) -> str:
    """The dotted field name (``film.director``) of the line at ``index``: its own key (or the
    key of the list it is an item of) under each enclosing ``key:`` that opens a mapping."""
    names: list[str] = []
    width = None
    for i in range(min(index, len(lines) - 1), -1, -1):
        match = _KEY_LINE.match(lines[i])
        if match is None:
            continue
        indent = len(match.group(1))
        if width is None:
            names.append(match.group(2))
            width = indent
        elif indent < width:
            if match.group(3).split("#")[0].strip():
                break  # a field with a value on its line encloses nothing
            names.append(match.group(2))
            width = indent
        if width == 0:
            break
    return ".".join(reversed(names))


def _compose(front: str, out: _Collector) -> yaml.Node | None:
    """Compose the YAML. A plain value that YAML misreads (``title: Alien: Romulus``,
    ``summary: *Alien* returns``) is reported with the fix, then quoted so that the remaining
    fields are still checked."""
    lines = front.split("\n")
    suspects = lines if "&" in front or "*" in front or "!" in front or "#" in front else []
    for index, line in enumerate(suspects):
        key_match = _TOP_KEY.match(line)
        comment = key_match and _comment_trap(key_match.group(2), key_match.group(3))
        if key_match and comment:
            indent, key, value = key_match.groups()
            out.error(index + 2, _dotted(lines, index),
                      f"{comment}; quote the whole value: {key}: {_quoted(value)}")
            lines[index] = f"{indent}{key}: {_quoted(value)}"
            continue
        if key_match and key_match.group(3)[:1] in _SILENT_TRAPS:
            indent, key, value = key_match.groups()
            out.error(index + 2, _dotted(lines, index),
                      f"{_SILENT_TRAPS[value[0]]}; quote the whole value: {key}: "
                      f"{_quoted(value)}")
            lines[index] = f"{indent}{key}: {_quoted(value)}"
            continue
        item_match = _LIST_ITEM.match(line)
        if item_match and item_match.group(2)[:1] in _SILENT_TRAPS:
            dash, value = item_match.groups()
            out.error(index + 2, _dotted(lines, index),
                      f"{_SILENT_TRAPS[value[0]]}; quote the whole item: - {_quoted(value)}")
            lines[index] = f"{dash}{_quoted(value)}"
    for _attempt in range(len(lines) + 1):
        try:
            return _compose_yaml("\n".join(lines))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            problem = exc.problem or "invalid"
            index = mark.line if mark is not None else 0
            line_no = index + 2
            current = lines[index] if index < len(lines) else ""
            key_match = _TOP_KEY.match(current)
            trap = next((why for needle, why in _YAML_TRAPS
                         if needle in problem or needle in (exc.context or "")), None)
            if key_match and trap:
                indent, key, value = key_match.groups()
                quoted_start = "expected key" in problem
                misread = ": " in value or value.endswith(":") or "mapping values" not in problem
                if value and misread and (quoted_start or value[0] not in "\"'[{|>"):
                    out.error(line_no, _dotted(lines, index),
                              f"{trap}; quote the whole value: {key}: {_quoted(value)}")
                    lines[index] = f"{indent}{key}: {_quoted(value)}"
                    continue
            if exc.context_mark is not None and exc.context_mark.line < index and \
                    "block mapping" not in (exc.context or ""):
                index = exc.context_mark.line  # where the unclosed list or quote began
                line_no = index + 2
            context = f" {exc.context}:" if exc.context else ""
            out.error(line_no, _dotted(lines, index),
                      f"front matter is not valid YAML:{context} {problem}; check quoting and "
                      "indentation")
            return None
        except yaml.YAMLError as exc:  # pragma: no cover - errors without a position
            out.error(1, "", f"front matter is not valid YAML: {exc}")
            return None
    return None  # pragma: no cover


def _remove_front_matter_controls(front: str, out: _Collector) -> str:
    """YAML refuses control characters outright: remove them, with a warning per line."""
    if front.isprintable() or not render.ILLEGAL_CHARS.search(front):
        return front
    lines = front.split("\n")
    for index, line in enumerate(lines):
        cleaned, removed = render.remove_control_chars(line)
        if removed:
            out.warn(index + 2, _dotted(lines, index),
                     f"removed {removed} control character{'s' if removed > 1 else ''} that "
                     "XML cannot carry")
            lines[index] = cleaned
    return "\n".join(lines)


def _parse(text: str, path: str, config: Config) -> _Result:
    """Parse one source: (review or None, problems, warnings, static files needed)."""
    out = _Collector(path)
    text = text.removeprefix("\ufeff")
    split = _split_front_matter(text, out)
    if split is None:
        return None, out.problems, out.warnings, ()
    front, body, body_line = split
    front = _remove_front_matter_controls(front, out)
    # A non-breaking space pasted after "reviewer:" would make the line invalid YAML; every
    # text value has its odd spaces made plain anyway.
    front = render.normalise_spaces(front)
    node = _compose(front, out)
    if node is None:
        if not out.problems:
            out.error(2, "", "front matter is empty; expected fields such as title, date and "
                             "reviewer")
        return None, out.problems, out.warnings, ()
    if not isinstance(node, yaml.MappingNode):
        out.error(node.start_mark.line + 2, "", f"front matter must be fields such as "
                                                f"'title: ...', got {_kind(node)}")
        return None, out.problems, out.warnings, ()
    fields = _Fields(node, 2, out, "", FIELDS)

    title = fields.text("title")
    reviewer = fields.text("reviewer")
    published = _date_field(fields, "date", config)
    for key in REQUIRED:
        node = fields.nodes.get(key)
        if node is None:
            out.error(1, key, f"missing; every review needs a {key}")
        elif isinstance(node, yaml.ScalarNode) and not render.clean_text(node.value):
            out.error(fields.line(key), key, f"is empty; every review needs a {key}")
    updated = _date_field(fields, "updated", config)
    if updated is not None and published is not None and updated < published:
        out.error(fields.line("updated"), "updated",
                  f"{fields.text('updated')} is before the date {fields.text('date')}; "
                  "expected a time on or after the publication date")

    stem = os.path.splitext(os.path.basename(path))[0]
    slug = fields.text("slug")
    if slug is not None:
        if not _SAFE_SLUG.match(slug):
            out.error(fields.line("slug"), "slug",
                      f"{slug!r} is not a safe slug; expected lower-case letters, digits and "
                      "hyphens, e.g. 'alien-romulus'")
    else:
        slug = slugify(stem)

    review_id = fields.text("id")
    if review_id is not None and (":" not in review_id or " " in review_id):
        out.error(fields.line("id"), "id", f"{review_id!r} is not a URI; expected an id such "
                                           "as tag:example.org,2026-03-01:film (keep the one "
                                           "already published)")

    tag_slugs: dict[str, str] = {}  # one tag per slug: "Horror" and "horror" are one feed
    for tag in fields.text_list("tags") or ():
        tag_slug = slugify(tag)
        if tag_slug == "untitled" and tag.lower() != "untitled":
            out.error(fields.line("tags"), "tags",
                      f"{tag!r} has no letters or digits; expected a word such as 'horror'")
        tag_slugs.setdefault(tag_slug, tag)
    tags = tuple(tag_slugs.values())

    film = _film(fields)
    rating = _rating(fields)
    summary = fields.text("summary")
    availability = fields.text("availability") or ""
    draft = _bool(fields, "draft")
    poster, needs = _poster(fields, title or stem, config)

    body, removed = render.prepare_markdown(body)
    if removed:
        out.warn(body_line, "body", f"removed {removed} control character"
                                    f"{'s' if removed > 1 else ''} that XML cannot carry")
    if out.problems or title is None or reviewer is None or published is None:
        return None, out.problems, out.warnings, ()
    body_html = render.render_prepared(body, config.base_url)
    if summary is None:
        summary = render.excerpt(body_html, config.newsletter.excerpt_words)
    if review_id is None:
        review_id = derived_id(config, published.date(), slug)
    review = Review(
        slug=slug,
        title=title,
        date=published,
        updated=updated or published,
        reviewer=reviewer,
        id=review_id,
        url=config.permalink(slug),
        body_html=body_html,
        summary=summary,
        film=film,
        rating=rating,
        tags=tags,
        poster=poster,
        availability=availability,
        draft=draft,
        source_path=path,
    )
    return review, out.problems, out.warnings, needs


def parse_review(text: str, *, path: str, config: Config) -> Review:
    """Parse one review source; raises SourceError listing every problem in it. ``path`` (as
    in ``reviews/x.md``) names the file in messages and gives the default slug."""
    review, problems, _warnings, _needs = _parse(text, path, config)
    if problems or review is None:
        raise SourceError(problems)
    return review


def _decode(data: bytes, path: str) -> tuple[str | None, list[Problem]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, [Problem(path, line, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x} "
                                              f"at offset {exc.start}); save the file as "
                                              "UTF-8")]


def _parse_bytes(data: bytes, path: str, config: Config) -> _Result:
    text, problems = _decode(data, path)
    if text is None:
        return None, problems, [], ()
    return _parse(text, path, config)


# --- the cache ------------------------------------------------------------------------------
#
# Under .publisher/cache/, ``index.pickle`` records for each source path its stat signature,
# the moment it was read and the sha256 of its bytes, and names the chunk files that hold the
# parse results. A chunk (``chunk-<hash>.pickle``) is written once and never changed: when many
# files are parsed, each worker process writes the chunk of its own batch, so a cold load never
# pickles the whole catalogue in one place. Later chunks override earlier ones; when they hold
# far more than the live results they are compacted into one.
#
# An unchanged file is not even read: its stat signature is trusted when the file was last
# changed safely before the moment it was read (as git treats "racily clean" files), so a file
# rewritten within one timestamp tick is hashed again. The index carries a key of the code and
# the config fields that shape the output; a stale, corrupt or missing part is ignored and
# rebuilt. The cache is trusted local state (pickles): it lives beside the sources.

_RACY_NS = 2_000_000_000  # coarser than any file system's timestamp granularity we meet
_MAX_CHUNKS = 32
_INDEX = "index.pickle"

#: One loaded file: (path, time just before reading it, sha256 of its bytes, parse result, or
#: None when the sha256 equals the cached one).
_Entry = tuple[str, int, str, "_Result | None"]
_Job = tuple[str, str, "str | None"]  # (relative path, absolute path, cached sha256)


def _trusted(signature: tuple[int, ...], ctime_ns: int,
             known: tuple[tuple[int, ...], int, str] | None) -> bool:
    """Whether a file may be taken as unchanged without reading it: same size, times and inode
    as when it was last read, and last changed safely (_RACY_NS) before that read."""
    return known is not None and known[0] == signature and ctime_ns + _RACY_NS < known[1]


def _code_fingerprint() -> str:
    import cmarkgfm
    import nh3

    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in ("sources.py", "render.py", "models.py"):
        digest.update((here / name).read_bytes())
    digest.update(f"{CACHE_FORMAT}|{yaml.__version__}|{nh3.__version__}|"
                  f"{getattr(cmarkgfm, '__version__', '')}".encode())
    return digest.hexdigest()


def _config_fingerprint(config: Config) -> str:
    parts = (config.base_url, config.timezone, config.feeds.permalink,
             config.newsletter.excerpt_words, config.reviews_dir, str(config.root))
    return repr(parts)


def cache_path(config: Config) -> Path:
    """The directory holding the review cache (safe to delete at any time)."""
    return config.root / ".publisher" / "cache"


def _unpickle(path: Path) -> Any:
    """A cache file's content, or None when it is missing or unreadable."""
    # Unpickling thousands of reviews allocates objects that all live on: pausing the cyclic
    # garbage collector meanwhile halves the time (bench/build.py, 10,000 reviews warm).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with path.open("rb") as fh:
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


def _write_chunk(directory: Path, entries: list[_Entry], blob: bytes | None = None) -> str | None:
    """Store entries as a new chunk; its name, or None if it could not be written."""
    if blob is None:
        blob = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
    name = f"chunk-{hashlib.sha256(blob).hexdigest()[:24]}.pickle"
    return name if _write_file(directory / name, blob) else None


class _Cache:
    """The index and the results of the chunks it names (see the comment above)."""

    def __init__(self, directory: Path | None, key: str):
        self.directory = directory
        self.key = key
        self.files: dict[str, tuple[tuple[int, ...], int, str]] = {}
        self.chunks: list[str] = []
        self.results: dict[str, tuple[str, _Result]] = {}
        self.stored = 0  # entries held in the chunks, stale ones included
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
             pending: list[_Entry], stored: int) -> None:
        """Record the new index, after writing ``pending`` entries as one more chunk."""
        directory = self.directory
        if directory is None:
            return
        chunks = self.chunks + new_chunks
        ours = set(chunks)
        if pending:
            name = _write_chunk(directory, pending)
            if name is None:
                return
            chunks.append(name)
            ours.add(name)
            stored += len(pending)
        if len(chunks) > _MAX_CHUNKS or stored > 2 * len(files) + 100:
            live = [(rel, 0, digest, result) for rel, (digest, result) in self.results.items()
                    if rel in files]
            name = _write_chunk(directory, live)
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


def _load_one(rel: str, path: str, cached: str | None, config: Config) -> _Entry:
    """Read, hash and (unless the hash is ``cached``) parse one file."""
    seen = time_ns()
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return rel, seen, "", (None, [Problem(rel, 0, "", f"cannot read: {exc.strerror}")], [],
                               ())
    digest = hashlib.sha256(data).hexdigest()
    if digest == cached:
        return rel, seen, digest, None
    return rel, seen, digest, _parse_bytes(data, rel, config)


def _load_many(jobs: list[_Job], config: Config) -> list[_Entry]:
    enabled = gc.isenabled()
    gc.disable()  # parsing makes many small objects and no cycles worth collecting
    try:
        return [_load_one(rel, path, cached, config) for rel, path, cached in jobs]
    finally:
        if enabled:
            gc.enable()


def _load_batch(jobs: list[_Job], config: Config, chunk_dir: str | None,
                ) -> tuple[str | None, bytes]:
    """In a worker process: load a batch, store it as a chunk; (chunk name, pickled entries)."""
    entries = _load_many(jobs, config)
    blob = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
    name = _write_chunk(Path(chunk_dir), entries, blob) if chunk_dir is not None else None
    return name, blob


# --- the whole directory ----------------------------------------------------------------------


def _source_files(config: Config) -> list[tuple[str, str]]:
    """(relative path for messages, absolute path) of every review source, sorted."""
    directory = config.reviews_path
    try:
        names = sorted(
            entry.name for entry in os.scandir(directory)
            if entry.name.endswith(".md") and not entry.name.startswith((".", "_"))
            and entry.is_file()
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        prefix = directory.resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        prefix = directory.as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    base = str(directory)
    return [(prefix + name, os.path.join(base, name)) for name in names]


def _cross_checks(results: Iterable[_Result], config: Config) -> list[Problem]:
    """Problems that need every file: duplicate slugs and ids, missing poster files."""
    problems: list[Problem] = []
    slugs: dict[str, str] = {}
    ids: dict[str, str] = {}
    static = config.root / "static"
    for review, _problems, _warnings, needs in results:
        for relative in needs:
            if review is not None and not (static / relative).is_file():
                problems.append(Problem(review.source_path, 1, "poster",
                                        f"static/{relative} does not exist; add the image "
                                        "there or give an https URL"))
        if review is None:
            continue
        other = slugs.setdefault(review.slug, review.source_path)
        if other != review.source_path:
            problems.append(Problem(review.source_path, 1, "slug",
                                    f"{review.slug!r} is also the slug of {other}; give one of "
                                    "them another slug (or rename the file)"))
            continue  # a derived id repeats the slug: one problem is enough
        other = ids.setdefault(review.id, review.source_path)
        if other != review.source_path:
            problems.append(Problem(review.source_path, 1, "id",
                                    f"{review.id!r} is also the id of {other}; every review "
                                    "needs its own id"))
    return problems


def _field_line(path: str, key: str) -> int:
    """The line of a top-level ``key:`` in the front matter (1 if absent), for cross-file
    messages; run only when such a problem is found."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return 1
    pattern = re.compile(rb"^" + re.escape(key.encode()) + rb"\s*:", re.MULTILINE)
    match = pattern.search(data)
    return data.count(b"\n", 0, match.start()) + 1 if match else 1


@dataclass(frozen=True)
class SourceCheck:
    """What checking the sources found: the valid reviews, every problem, every warning."""

    reviews: tuple[Review, ...]
    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    files: int

    @property
    def ok(self) -> bool:
        return not self.problems


def load_reviews(config: Config, *, cache: bool = True) -> Catalog:
    """Load and check every review under ``config.reviews_path``.

    Raises SourceError listing every problem in every file. With ``cache`` the parsed reviews
    are kept in ``.publisher/cache/`` and reused while a file's bytes are unchanged; without it
    nothing is read from or written to the cache.
    """
    result = check_sources(config, cache=cache)
    if result.problems:
        raise SourceError(result.problems)
    return Catalog(reviews=result.reviews, warnings=result.warnings)


def _load_sources(config: Config, use_cache: bool,
                  ) -> tuple[list[tuple[str, str]], list[_Result]]:
    """Every source file (relative and absolute path) and its parse result, in file order."""
    files = _source_files(config)
    cache = _Cache(cache_path(config) if use_cache else None,
                   _code_fingerprint() + "|" + _config_fingerprint(config))
    signatures: dict[str, tuple[int, ...]] = {}
    new_index: dict[str, tuple[tuple[int, ...], int, str]] = {}
    found: dict[str, _Result] = {}
    rehash: list[_Job] = []  # a cached result exists, but the file may have changed
    misses: list[_Job] = []  # no cached result
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
        elif signature and _trusted(signature, st.st_ctime_ns, known) and known \
                and hit[0] == known[2]:
            new_index[rel] = known  # unchanged: not even read
            found[rel] = hit[1]
        else:
            rehash.append((rel, path, hit[0]))

    entries = _load_many(rehash, config)
    new_chunks: list[str] = []
    stored = cache.stored
    pooled: list[_Entry] = []
    if len(misses) >= POOL_THRESHOLD and (os.cpu_count() or 1) >= 2:
        size = -(-len(misses) // (POOL_WORKERS * 4))
        batches = [misses[i:i + size] for i in range(0, len(misses), size)]
        chunk_dir = str(cache.directory) if cache.directory is not None else None
        try:
            with ProcessPoolExecutor(max_workers=POOL_WORKERS) as pool:
                for name, blob in pool.map(_load_batch, batches, [config] * len(batches),
                                           [chunk_dir] * len(batches)):
                    batch = pickle.loads(blob)
                    if name is None:  # not stored by the worker: store it here
                        entries.extend(batch)
                    else:
                        pooled.extend(batch)
                        new_chunks.append(name)
                        stored += len(batch)
        except (OSError, BrokenProcessPool):  # no processes to be had: do it all here
            pooled, new_chunks, stored = [], [], cache.stored
            entries = entries[: len(rehash)] + _load_many(misses, config)
    else:
        entries.extend(_load_many(misses, config))
    pending = [e for e in entries if e[3] is not None]
    entries.extend(pooled)

    for rel, seen, digest, result in entries:
        if result is None:  # the same bytes as cached
            result = cache.results[rel][1]
        else:
            cache.results[rel] = (digest, result)
        found[rel] = result
        if digest and signatures[rel]:
            new_index[rel] = (signatures[rel], seen, digest)
    cache.save(new_index, new_chunks, pending, stored)
    return files, [found[rel] for rel, _ in files]


def check_sources(config: Config, *, cache: bool = False) -> SourceCheck:
    """Check every review without raising (and, by default, without touching the cache)."""
    enabled = gc.isenabled()
    gc.disable()  # loading builds many small objects; cyclic GC passes over them only cost time
    try:
        result = _check_sources(config, cache)
    finally:
        if enabled:
            gc.enable()
    if len(result.reviews) >= FREEZE_THRESHOLD:
        # A big catalogue lives as long as the process and holds no cycles: move it out of the
        # collector's sight so that later passes do not walk it again and again.
        gc.freeze()
    return result


def _check_sources(config: Config, cache: bool) -> SourceCheck:
    files, ordered = _load_sources(config, cache)
    absolute = dict(files)
    problems: list[Problem] = []
    reviews: list[Review] = []
    warnings: list[Problem] = []
    for review, file_problems, file_warnings, _needs in ordered:
        problems.extend(file_problems)
        warnings.extend(file_warnings)
        if review is not None:
            reviews.append(review)
    cross = _cross_checks(ordered, config)
    # Locate each cross-file problem at its field's line (only now, on the error path).
    problems.extend(Problem(p.path, _field_line(absolute[p.path], p.field), p.field, p.message)
                    for p in cross)
    reviews.sort(key=lambda r: (r.date, r.slug))
    return SourceCheck(reviews=tuple(reviews), problems=tuple(sorted(problems)),
                       warnings=tuple(sorted(warnings)), files=len(files))


# --- a new publication ---------------------------------------------------------------------


def init_publication(directory: Path, *, title: str = "Film Reviews",
                     base_url: str = "https://reviews.example.org/", timezone: str = "UTC",
                     author: str = "Editor", now: datetime | None = None) -> list[Path]:
    """Scaffold a publication in ``directory``: publisher.toml and one sample review dated
    today in the publication's timezone (so it is published at once).

    Returns the files written. Raises ConfigError for an invalid title, URL or timezone and
    PublisherError rather than overwrite anything; in both cases nothing is written.
    """
    import json
    from importlib import resources

    scaffold = resources.files("publisher") / "scaffold"
    names = ("publisher.toml", "reviews/first-review.md")
    for name in names:
        if (directory / name).exists():
            raise PublisherError(f"{directory / name}: already exists; not overwriting it")
    values = {
        "{title}": json.dumps(title, ensure_ascii=False),
        "{base_url}": json.dumps(base_url, ensure_ascii=False),
        "{timezone}": json.dumps(timezone, ensure_ascii=False),
        "{author}": json.dumps(author, ensure_ascii=False),
    }

    def fill(name: str) -> str:
        template = (scaffold / name).read_text(encoding="utf-8")
        return re.sub(r"\{(?:title|base_url|timezone|author|date)\}",
                      lambda m: values[m.group(0)], template)

    config_text = fill("publisher.toml")
    config = parse_config(config_text, root=directory, path=directory / "publisher.toml")
    values["{date}"] = (now or datetime.now(config.tz)).astimezone(config.tz).date().isoformat()
    texts = {names[0]: config_text, names[1]: fill(names[1])}
    written: list[Path] = []
    for name, text in texts.items():
        write_atomic(directory / name, text.encode("utf-8"))
        written.append(directory / name)
    (directory / "static").mkdir(exist_ok=True)
    return written


__all__ = ["Catalog", "SourceCheck", "load_reviews", "check_sources", "parse_review",
           "parse_runtime", "derived_id", "cache_path", "init_publication"]
