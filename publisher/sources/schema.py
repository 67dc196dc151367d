"""The review schema: front matter fields typed and checked, the body rendered, one Review.

Every scalar arrives as the string the editor wrote (``frontmatter.py``); each field is
converted here, so ``title: 1917`` is the film "1917", ``title: No`` is not False and
``runtime: 1:30:00`` is ninety minutes, not 5400. Every problem in a file is collected, each one
located as ``reviews/x.md:LINE: field: what is wrong, what is expected``.

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
- ``url``: the review's page where it already lives on another site (an absolute http(s) URL);
  feeds and digests link there and publisher builds no page for it. Without it the URL comes
  from ``feeds.permalink``.
"""

from __future__ import annotations

import codecs
import os
import re
from datetime import date as date_type
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, quote, urlsplit

import yaml

from ..config import NOT_IN_URL, Config, feed_id
from ..errors import Problem, SourceError
from ..models import Deferred, Film, Poster, Review, Trailer
from ..text import (
    ABSOLUTE_URI,
    SUSPECT_CHARS,
    html_to_text,
    remove_bidi_controls,
    slugify,
    surely_clean,
)
from .body import MORE, Excerpt, FileBody, MarkdownBody, decode
from .frontmatter import (
    Collector,
    Fields,
    bidi_warning,
    front_matter_mapping,
    node_kind,
    split_front_matter,
)
from .markdown import (
    REMOVED,
    absolute_url,
    markdown_to_html,
    prepare_markdown,
    removed_tags,
    shortcodes,
    site_links,
)

#: Bump when parsing or rendering changes in a way the source hashes cannot see.
CACHE_FORMAT = 6

FIELDS = (
    "title", "date", "reviewer", "film", "rating", "summary", "tags", "poster", "poster_alt",
    "availability", "slug", "id", "updated", "draft", "url", "aliases", "trailer",
)
FILM_FIELDS = ("year", "director", "starring", "runtime", "classification", "credits")
POSTER_FIELDS = ("src", "alt")
REQUIRED = ("title", "date", "reviewer")

_SAFE_SLUG = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*\Z")


def derived_id(config: Config, day: date_type, slug: str) -> str:
    """The id of a review without an ``id`` field: ``feeds.ids`` filled in (its {domain}
    ``feeds.id_domain``, else base_url's host), by default the RFC 4151 tag URI
    ``tag:{domain},{YYYY-MM-DD}:{slug}`` (the importer writes the same into the files it
    makes)."""
    return feed_id(config.feeds.ids, config.id_domain, day.isoformat(), slug)


def _parse_datetime(value: str, config: Config) -> datetime:
    """A bare date is midnight in the publication's timezone; a time without an offset is too."""
    if len(value) == 10:
        day = date_type.fromisoformat(value)
        return datetime.combine(day, time(0, 0), tzinfo=config.tz)
    # YAML's own timestamps (and Hugo's) may put a space before the offset; ISO 8601 may not.
    # (A space after the date's own, at 10, is one: the substitution is only tried then.)
    if value.find(" ", 11) != -1:
        value = _SPACED_OFFSET.sub(r"\1", value)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=config.tz)
    return parsed.astimezone(config.tz)


#: Publication and update dates must fall within these years.
MIN_YEAR, MAX_YEAR = 1900, 2100

_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                         r"(?: ?(?:Z|[+-]\d{2}:?\d{2}))?)?\Z")
_SPACED_OFFSET = re.compile(r" (Z|[+-]\d{2}:?\d{2})\Z")


def _date_field(fields: Fields, key: str, config: Config) -> datetime | None:
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


def _film(fields: Fields) -> Film:
    node = fields.nodes.get("film")
    if node is None or (isinstance(node, yaml.ScalarNode) and not node.value.strip()):
        return Film()
    if not isinstance(node, yaml.MappingNode):
        fields.out.error(fields.line("film"), "film",
                         f"expected a mapping with fields such as year and director, got "
                         f"{node_kind(node)}")
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
#: The ratings as nearly every review writes them ("0" to "5", "3.5"), read as the checks below
#: read them (a whole number without a point, a half with one digit): a lookup, not four
#: Decimal operations.
_HALF_STEPS = {str(Decimal(n) / 2): Decimal(n) / 2 for n in range(11)}


def _rating(fields: Fields) -> Decimal | None:
    raw = fields.text("rating")
    if raw is None:
        return None
    common = _HALF_STEPS.get(raw)
    if common is not None:
        return common
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


#: How a true-or-false field may be written.
TRUE_WORDS = frozenset({"true", "yes", "on"})
FALSE_WORDS = frozenset({"false", "no", "off"})


def boolean_field(fields: Fields, key: str) -> bool:
    """A true-or-false field (TRUE_WORDS, FALSE_WORDS); False when absent."""
    raw = fields.text(key)
    if raw is None:
        return False
    lowered = raw.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    fields.out.error(fields.line(key), key, f"{raw!r} is not true or false; expected true or "
                                            "false")
    return False


def _poster(fields: Fields, title: str, config: Config) -> tuple[Poster | None, tuple[str, ...]]:
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
    if _PLAIN_URL.match(src):
        # What the checks below pass unchanged, without urlsplit (~54k instructions a URL).
        return Poster(src=src, alt=alt or f"Poster for {title}"), ()
    try:
        parts = urlsplit(src)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError as exc:
        fields.out.error(line, "poster", f"{src!r} is not a valid URL ({exc})")
        return None, ()
    if parts.scheme and parts.scheme.lower() not in ("http", "https"):
        fields.out.error(line, "poster", f"{src!r} is not an http(s) URL or a path under "
                                         "static/")
        return None, ()
    if parts.scheme or parts.netloc:
        problem = _url_problem(src, parts.hostname)
        if problem:
            fields.out.error(line, "poster", f"{src!r} is not a valid URL: {problem}")
            return None, ()
        # An address pasted from a browser's bar may hold letters beyond ASCII: encoded.
        return Poster(src=absolute_url(quote(src, safe=_URL_SAFE), config.base_url),
                      alt=alt or f"Poster for {title}"), ()
    if "\\" in src:  # a path copied from Windows: the web's separator is "/"
        slashed = src.replace("\\", "/")
        fields.out.error(line, "poster", f"{src} has a backslash; write the path with "
                                         f"slashes: {slashed}")
        return None, ()
    segments = [s for s in parts.path.split("/") if s and s != "."]
    if ".." in segments or not segments:
        fields.out.error(line, "poster", f"{src!r} leaves the static/ directory; expected a "
                                         "path such as posters/film.png")
        return None, ()
    # static/ is published at base_url, so "/posters/x.png" and "posters/x.png" are one file.
    # A file name may hold spaces, quotes or accents: its URL has them percent-encoded.
    path = "/".join(segments)
    return Poster(src=config.url(quote(path, safe="/")), alt=alt or f"Poster for {title}"), (path,)


# Printable ASCII a URL may hold as it is (RFC 3986's reserved and unreserved characters, and
# "%" of escapes already made); quote() encodes the rest, i.e. letters beyond ASCII.
_URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"<>\\^`{|}')
_URL_FORBIDDEN = re.compile(r'[\s"<>\\^`{|}\x00-\x1f\x7f]')
#: An absolute http(s) URL that needs no check and no encoding: a lower-case scheme, a host of
#: lower-case letters, digits, dots and hyphens (no port, no user), then a path and query of
#: characters quote() keeps and no URL parser reads otherwise.
_PLAIN_URL = re.compile(r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(?:/[A-Za-z0-9._~/%?&=+-]*)?\Z")


def in_issues_archive(url: str, config: Config) -> bool:
    """Whether the page at ``url`` (from ``Config.page_address``) is in issues/, the web
    archive of the newsletter: issue N's page appears at issues/N/ as it is sent, and the
    run that composes issue N refuses to while a page is there (the ledger that sent it would
    have been lost), so nothing else may put one there."""
    return url.removeprefix(config.base_url).split("/")[0] == "issues"


def _aliases(fields: Fields, config: Config) -> tuple[str, ...]:
    """``aliases``: the review's earlier addresses on this site (Hugo's name and form), each as
    an absolute URL under base_url ending in "/" or ".html" — where the build writes a page
    that sends readers on to the review. Given as paths under base_url ("reviews/old-slug/",
    "/post/old-slug", "old.html") or as URLs under it."""
    written = fields.text_list("aliases")
    if not written:
        return ()
    line = fields.line("aliases")
    found: list[str] = []
    for alias in written:
        parts = urlsplit(alias)
        if (parts.scheme or parts.netloc) and not alias.startswith(config.base_url):
            fields.out.error(line, "aliases",
                             f"{alias!r} is not an address on this site ({config.base_url}); "
                             "an alias is an earlier address of the review here, e.g. "
                             "reviews/old-slug/")
            continue
        url = config.page_address(alias)
        if url is None:
            fields.out.error(line, "aliases",
                             f"{alias!r} is not a page's address; expected a path under the "
                             "site such as reviews/old-slug/ or post/old-slug.html (no '..', "
                             "hidden name such as .htaccess, query or fragment; not the home "
                             "page)")
            continue
        if in_issues_archive(url, config):
            fields.out.error(line, "aliases",
                             f"{alias!r} is in issues/, where each issue's page goes as the "
                             "newsletter sends it (a page there would stand in the next "
                             "issue's place, and stop it); an alias is an earlier address of "
                             "the review, e.g. reviews/old-slug/")
            continue
        found.append(url)
    return tuple(dict.fromkeys(found))


_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}\Z")
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com",
                            "music.youtube.com", "youtube-nocookie.com",
                            "www.youtube-nocookie.com"})
_YOUTUBE_PATH = re.compile(r"/(?:embed|shorts|live|v)/([^/]+)/?\Z")
_VIMEO_PATH = re.compile(r"/(?:video/|(?:channels|groups/[^/]+/videos|album/\d+/video)/"
                         r"(?:[^/]+/)?)?(\d+)(?:/([0-9a-f]+))?/?\Z")
#: An unlisted Vimeo video's key, in the path or as ?h=: the player's URL and the feeds' HTML
#: carry it unescaped, so it is taken only in this shape.
_VIMEO_KEY = re.compile(r"[0-9a-f]*\Z")


#: Where an embedded video in a body points the editor: the one embed publisher makes.
_TRAILER_HINT = ("; for the film's trailer, write trailer: with the video's address in the "
                 "front matter")


def trailer_video(written: str) -> Trailer | None:
    """The YouTube or Vimeo video a trailer's address names, however it was copied (the
    watch page, youtu.be, the embed or Shorts address, a channel's Vimeo page, with or without
    https://), or None when it names none."""
    address = written if "//" in written else f"https://{written}"
    try:
        parts = urlsplit(address)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    host = (parts.hostname or "").lower()
    query = parse_qs(parts.query)
    if host in _YOUTUBE_HOSTS:
        match = _YOUTUBE_PATH.match(parts.path)
        video = match[1] if match else query.get("v", [""])[0] if parts.path == "/watch" else ""
    elif host == "youtu.be":
        video = parts.path.strip("/")
    elif host in ("vimeo.com", "www.vimeo.com", "player.vimeo.com"):
        match = _VIMEO_PATH.match(parts.path)
        key = match[2] or query.get("h", [""])[0] if match else ""
        if match is None or not _VIMEO_KEY.match(key):
            return None
        return Trailer("vimeo", match[1], key)
    else:
        return None
    return Trailer("youtube", video) if _YOUTUBE_ID.match(video) else None


def _trailer(fields: Fields) -> Trailer | None:
    written = fields.text("trailer")
    if written is None:
        return None
    trailer = trailer_video(written)
    if trailer is None:
        fields.out.error(fields.line("trailer"), "trailer",
                         f"{written!r} is not a YouTube or Vimeo video's address; expected one "
                         "such as https://www.youtube.com/watch?v=ID or https://vimeo.com/ID")
    return trailer


def _url_problem(src: str, hostname: str | None) -> str | None:
    """Why an absolute poster URL cannot go into a feed's enclosure as written, or None."""
    bad = _URL_FORBIDDEN.search(src)
    if bad is not None:
        char = bad.group()
        what = "a space" if char == " " else "a quote" if char == '"' else repr(char)
        return (f"it contains {what}, which a URL cannot hold; percent-encode it "
                f"(%{ord(char):02X}) or copy the address again")
    if not hostname:
        return "it names no host; write it in full, e.g. https://images.example.org/film.jpg"
    if not hostname.isascii():
        return "write its host name in its ASCII (xn--) form"
    return None


#: The summary of the sample review ``publisher init`` writes (publisher/scaffold/reviews/): a
#: review still holding it is that sample, which nobody means readers to see.
SAMPLE_SUMMARY = ("One sentence that sells the film; without it the opening words of the "
                  "review are used.")
#: How the placeholder summary of that sample and of ``publisher new``'s skeleton begins.
PLACEHOLDER_SUMMARY = "One sentence that sells the film;"
#: How the placeholder body of that sample and of ``publisher new``'s skeleton begins
#: (publisher/scaffold/: "…, in Markdown." and "…, in Markdown: *emphasis*, …").
PLACEHOLDER_BODY = "Write the review here, in Markdown"
#: ``Review.unwritten`` of init's untouched sample (the messages about it say more).
SAMPLE = "the sample publisher init wrote"
#: A publication's own skeleton for ``publisher new``, in its templates directory (Hugo's
#: archetypes/default.md): the packaged one's placeholders, its own fields and comments.
NEW_REVIEW = "new-review.md"


def house_skeleton(config: Config) -> re.Pattern[str] | None:
    """What a review's body, stripped, still is while nobody has written it, when it came
    from the publication's own skeleton for ``publisher new`` (templates/new-review.md): that
    skeleton's body, its placeholders ({title}, …) standing for any text and each run of
    white space for any. Only a body left whole counts: a skeleton's body may hold headings
    that every written review keeps. None when there is no such skeleton (or it cannot be
    read: ``publisher check`` says why), when its body is empty, or when it begins with the
    packaged skeleton's placeholder, which the parse tells apart already."""
    try:
        text = (config.templates_path / NEW_REVIEW).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = split_front_matter(text.removeprefix("\ufeff"), Collector(NEW_REVIEW))
    body = found[1].strip() if found is not None else ""
    if not body or body.startswith(PLACEHOLDER_BODY):
        return None
    # re.split with a group: the text between placeholders and spaces at even indexes.
    parts = re.split(r"(\{(?:title|date|reviewer|id)\}|\s+)", body)
    return re.compile("".join(
        re.escape(part) if index % 2 == 0 else r"\s+" if part.isspace() else ".*?"
        for index, part in enumerate(parts)))


#: (review or None, problems, warnings, files under static/ the review needs)
ParseResult = tuple[Review | None, list[Problem], list[Problem], tuple[str, ...]]


def parse_source(text: str, path: str, config: Config, *,
                 file: tuple[str, str] | None = None, clean: bool = False,
                 skeleton: re.Pattern[str] | None = None) -> ParseResult:
    """Parse one source: (review or None, problems, warnings, static files needed).

    ``file`` is (absolute path, sha256 of its bytes) when ``text`` was read from that file: the
    review's body is then read again and rendered when first used (``body.FileBody``);
    otherwise the Markdown is kept in memory until then. ``clean``: ``text`` is known to hold
    none of SUSPECT_CHARS (``text.surely_clean`` of its bytes). ``skeleton``: the
    publication's own skeleton's body (``house_skeleton``), which a review still holding is
    not written yet."""
    out = Collector(path)
    text = text.removeprefix("\ufeff")
    found = front_matter_mapping(text, out, expected="title, date and reviewer", clean=clean)
    if found is None:
        return None, out.problems, out.warnings, ()
    mapping, body, body_line = found
    body_offset = len(text) - len(body)
    fields = Fields(mapping, 2, out, "", FIELDS, nested={"film": FILM_FIELDS})

    title = fields.text("title")
    reviewer = fields.text("reviewer")
    published = _date_field(fields, "date", config)
    for key in REQUIRED:
        node = fields.nodes.get(key)
        if node is None:
            out.error(1, key, f"missing; every review needs a {key}")
        elif isinstance(node, yaml.ScalarNode) and fields.text(key) is None:  # read above
            out.error(fields.line(key), key, f"is empty; every review needs a {key}")
    # As for a tag: a reviewer's page and feed are named by the slug, and "!!!" and "???"
    # would share reviewers/untitled/.
    if reviewer and slugify(reviewer) == "untitled" and reviewer.lower() != "untitled":
        out.error(fields.line("reviewer"), "reviewer",
                  f"{reviewer!r} has no letters or digits; expected a name such as 'Ana Ruiz'")
    updated = _date_field(fields, "updated", config)
    if updated is not None and published is not None and updated < published:
        out.error(fields.line("updated"), "updated",
                  f"{fields.text('updated')} is before the date {fields.text('date')}; "
                  "expected a time on or after the publication date")

    stem = os.path.splitext(os.path.basename(path))[0]
    slug = fields.text("slug")
    if slug is not None:
        if not _SAFE_SLUG.match(slug):
            # The slug the value makes, where it makes one: a site moved from Hugo, whose
            # slugs may be in any script ("千と千尋"), learns what to write.
            suggested = slugify(slug)
            example = suggested if suggested != "untitled" else "alien-romulus"
            out.error(fields.line("slug"), "slug",
                      f"{slug!r} is not a safe slug; expected lower-case letters, digits and "
                      f"hyphens, e.g. {example!r}")
    elif stem == "index":  # a page bundle's, named by its folder unless that is reviews/
        folder = os.path.normpath(os.path.dirname(path))
        slug = default_slug(path, top=folder in (os.path.normpath(config.reviews_dir),
                                                 str(config.reviews_path)))
    else:
        slug = slugify(stem)  # as default_slug names it

    review_id = fields.text("id")
    if review_id is not None and not ABSOLUTE_URI.fullmatch(review_id):
        out.error(fields.line("id"), "id", f"{review_id!r} is not a URI; expected an id such "
                                           "as tag:example.org,2026-03-01:film (keep the one "
                                           "already published)")

    tag_slugs: dict[str, str] = {}  # one tag per slug: "Horror" and "horror" are one feed
    for tag in fields.text_list("tags") or ():
        tag_slug = slugify(tag)
        if tag_slug == "untitled" and tag.lower() != "untitled":
            out.error(fields.line("tags"), "tags",
                      f"{tag!r} has no letters or digits; expected a word such as 'horror'")
        kept = tag_slugs.setdefault(tag_slug, tag)
        if kept != tag:  # "C" after "C++" would vanish from the review without a word
            out.warn(fields.line("tags"), "tags",
                     f"{tag!r} is left out: to publisher it is the tag {kept!r} (both are "
                     f"'{tag_slug}' in addresses); write one of them, or rename one to keep both")
    tags = tuple(tag_slugs.values())

    url = fields.text("url")
    if url is not None:
        parts = urlsplit(url)
        if (parts.scheme not in ("http", "https") or not parts.netloc
                or NOT_IN_URL.search(url)):
            if not parts.scheme and not parts.netloc and url.startswith("/"):
                # Hugo's url: is the page's own address on this site: here, an alias.
                out.error(fields.line("url"), "url",
                          f"{url!r} is not an absolute http(s) URL: url: is for a page on "
                          "another site; for an address on this one (Hugo's url:), write "
                          f"aliases: [{url}] instead")
            else:
                out.error(fields.line("url"), "url",
                          f"{url!r} is not an absolute http(s) URL; expected the address of "
                          "the review's existing page, e.g. "
                          "https://www.example.org/post/alien-romulus")
            url = None

    aliases = _aliases(fields, config)
    film = _film(fields)
    rating = _rating(fields)
    summary = fields.text("summary")
    availability = fields.text("availability") or ""
    trailer = _trailer(fields)
    draft = boolean_field(fields, "draft")
    poster, needs = _poster(fields, title or stem, config)

    as_written = body
    # One scan tells most bodies apart: with none of the suspect characters (of which bidi
    # controls are some) there is nothing to remove, count or warn about. Each of them is
    # unprintable, so a body printable but for its line breaks has none: str's scan of that
    # takes half the pattern's time (12 against 22 µs for the bench's 3 KB bodies); a file whose
    # bytes showed none (``clean``, a fifth of that again) is not scanned at all.
    if not clean and not body.replace("\n", "").isprintable() and SUSPECT_CHARS.search(body):
        body, bidi = remove_bidi_controls(body)
        if bidi:
            out.warn(body_line, "body", bidi_warning(bidi))
        body, removed = prepare_markdown(body)
        if removed:
            out.warn(body_line, "body", f"removed {removed} control character"
                                        f"{'s' if removed > 1 else ''} that XML cannot carry")
    placeholder_summary = summary is not None and summary.startswith(PLACEHOLDER_SUMMARY)
    if placeholder_summary and not draft:
        out.warn(fields.line("summary"), "summary", (
            "the sample review publisher init wrote: write your own review here, or delete "
            "the file, before readers find it on the site and in the feeds (issues leave it "
            "out)"
            if summary == SAMPLE_SUMMARY else
            "still the skeleton's placeholder: write the sentence that sells the film, or "
            "delete the line (the review's opening words are used then); issues leave the "
            "review out until then"))
    # The first characters only: a slice of a 3 KB body, not a copy of it stripped.
    placeholder_body = body[:200].lstrip().startswith(PLACEHOLDER_BODY)
    house_body = (skeleton is not None and not placeholder_body
                  and skeleton.fullmatch(body.strip()) is not None)
    house = f"{config.templates_dir}/{NEW_REVIEW}" if house_body else ""
    unwritten = (SAMPLE if summary == SAMPLE_SUMMARY
                 else "its body still begins with the skeleton's placeholder"
                 if placeholder_body
                 else f"its body is still {house}'s, untouched"
                 if house_body
                 else "its summary is still the skeleton's placeholder"
                 if placeholder_summary
                 else "")
    # At the line of the body's first words; init's sample is warned of above.
    if not draft and (placeholder_body and summary != SAMPLE_SUMMARY or house_body):
        out.warn(body_line + body.count("\n", 0, len(body) - len(body.lstrip())), "body", (
            f"still begins with the skeleton's placeholder ('{PLACEHOLDER_BODY}.'): write the "
            "review in its place, before readers find it on the site and in the feeds; issues "
            "leave the review out until then"
            if placeholder_body else
            f"is still the body of {house}, untouched: write the review in its place, before "
            "readers find it on the site and in the feeds; issues leave the review out until "
            "then"))
    for line, name in removed_tags(body, body_line):
        out.warn(line, "body", f"<{name}> {REMOVED}" + (_TRAILER_HINT if name == "iframe" else ""))
    for line, name in shortcodes(body, body_line):
        out.warn(line, "body", f"a Hugo shortcode ({name}) would be published as written: "
                               "publisher expands none; write it as Markdown or HTML (a link "
                               "to the video, an image)"
                               + (_TRAILER_HINT if name in ("youtube", "vimeo") else ""))
    if out.problems or title is None or reviewer is None or published is None:
        return None, out.problems, out.warnings, ()
    links = site_links(body, config.base_url, body_line)
    # Rendered when an output first reads it: most reviews are in no feed and no digest.
    body_html: str | Deferred = (
        MarkdownBody(body, config.base_url, config.language) if file is None
        else FileBody(file[0], path, file[1], body_offset, config.base_url,
                      clean=body is as_written, language=config.language))
    if review_id is None:
        review_id = derived_id(config, published.date(), slug)
    review = Review(
        slug=slug,
        title=title,
        date=published,
        updated=updated or published,
        reviewer=reviewer,
        id=review_id,
        url=url or config.permalink(slug),
        body_html=body_html,
        summary=_plain_summary(summary, config) if summary is not None else Excerpt(
            config.newsletter.excerpt_words, *_lead(body, config.base_url, config.language)),
        film=film,
        rating=rating,
        tags=tags,
        poster=poster,
        availability=availability,
        trailer=trailer,
        draft=draft,
        source_path=path,
        aliases=aliases,
        links=links,
        unwritten=unwritten,
    )
    return review, out.problems, out.warnings, needs


# What Markdown and typographic quotes change in a line of text; a summary without any is
# kept as written, unrendered (most have only letters, commas and a full stop).
# A character class alone, with "--" and "..." found by str's own search: an alternation makes
# re try each branch at every character (four times the cost, on every summary of a build).
_SUMMARY_MARKUP = re.compile(r"""[*_`'"<&\[~\\]""")
# The start of a line that Markdown reads as a list item, a heading or a quotation.
_BLOCK_MARKER = re.compile(r"(?:\d{1,9}(?=[.)])|(?=[#>+*-]))(?=.(?:[ \t]|\Z))")


def _plain_summary(summary: str, config: Config) -> str:
    """A written summary as its Markdown reads, plain text on one line, as the summary made
    from the lead before ``<!--more-->`` is (feeds, the digest, the lists and the pages' meta
    show it so): ``*Alien*'s heir -- "colder"`` is "Alien’s heir – “colder”", in the
    publication's quotation marks. Always a paragraph ("1. Alien" is not a list), and never
    raw HTML: "<Alien>" stays as typed."""
    if not (_SUMMARY_MARKUP.search(summary) or "--" in summary or "..." in summary):
        return summary
    marker = _BLOCK_MARKER.match(summary)
    markdown = summary.replace("<", "\\<")
    if marker is not None:
        markdown = f"{markdown[:marker.end()]}\\{markdown[marker.end():]}"
    html = markdown_to_html(markdown, config.base_url, language=config.language)
    return html_to_text(html) if html.startswith("<p>") else summary


def _lead(body: str, base_url: str, language: str) -> tuple[str, str, str] | tuple[()]:
    """The Markdown before a body's ``<!--more-->`` (and base_url and the language to render
    it), which Hugo makes the summary; nothing when there is no such marker (the excerpt is the
    body's, whose HTML is rendered in the language already)."""
    if "<" not in body:  # one character's scan, many times faster than the marker's
        return ()
    lead, more, rest = body.partition(MORE)
    if not (more and lead.strip()):
        return ()
    if "[^" in lead:
        lead = _without_notes_defined_in(lead, rest)
    return lead, base_url, language


#: A footnote's definition at the start of a line, and a reference that is not one.
_NOTE_DEFINITION = re.compile(r"^ {0,3}\[\^([^\]\s]+)\]:", re.MULTILINE)
_NOTE_REFERENCE = re.compile(r"\[\^([^\]\s]+)\](?!:)")


def _without_notes_defined_in(lead: str, rest: str) -> str:
    """``lead`` without its references to the footnotes ``rest`` defines: rendered alone, the
    summary has no definition for them, and cmark would write each as the text "[^1]" (the
    excerpt leaves footnotes out of a whole body)."""
    defined = set(_NOTE_DEFINITION.findall(rest))
    return _NOTE_REFERENCE.sub(lambda m: "" if m[1] in defined else m[0], lead)


def parse_review(text: str, *, path: str, config: Config) -> Review:
    """Parse one review source; raises SourceError listing every problem in it. ``path`` (as
    in ``reviews/x.md``) names the file in messages and gives the default slug."""
    review, problems, _warnings, _needs = parse_source(text, path, config)
    if problems or review is None:
        raise SourceError(problems)
    return review


def decode_source(data: bytes, path: str) -> tuple[str | None, list[Problem]]:
    """A source file's text (UTF-8, a byte-order mark dropped), or None and the problem naming
    the line and offset of the first byte that is not UTF-8."""
    try:
        return decode(data), []  # as a body is read again from its file (sources/body.py)
    except UnicodeDecodeError as exc:
        # The error counts from after a byte-order mark; the file's own offset is named.
        start = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        line = data.count(b"\n", 0, start) + 1
        return None, [Problem(path, line, "", f"not UTF-8 text (byte 0x{data[start]:02x} "
                                              f"at offset {start}); save the file as UTF-8")]


def default_slug(path: str, *, top: bool) -> str:
    """The slug of a review whose front matter names none: its file's name, or for an
    ``index.md`` in a folder of its own (a Hugo page bundle, reviews/alien-romulus/index.md)
    the folder's, as Hugo names it. ``top``: the file is directly in reviews/."""
    folder, name = os.path.split(path)
    stem = os.path.splitext(name)[0]
    if stem == "index" and folder and not top:
        stem = os.path.basename(folder)
    return slugify(stem)


def parse_bytes(data: bytes, path: str, config: Config, *,
                file: tuple[str, str] | None = None,
                skeleton: re.Pattern[str] | None = None) -> ParseResult:
    """parse_source for a file's bytes; ``file`` and ``skeleton`` as there."""
    text, problems = decode_source(data, path)
    if text is None:
        return None, problems, [], ()
    return parse_source(text, path, config, file=file, clean=surely_clean(data),
                        skeleton=skeleton)

