"""Markdown to safe HTML with absolute URLs.

cmark-gfm (GitHub's C implementation, via cmarkgfm: about 3x faster than markdown-it-py) renders
GFM tables, strikethrough, autolinks, task lists and footnotes with typographic quotes. Raw HTML
in a source goes through nh3, which keeps only a safe allow-list (no script, style, iframe, form
or event handlers; links only http, https and mailto). Every href/src/srcset/cite is then made
absolute against the publication's base_url, because feed readers and mail clients need absolute
URLs.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import re
from html import unescape
from typing import Any
from urllib.parse import urljoin

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options

from ..text import (
    ILLEGAL_CHARS,
    SUSPECT_CHARS,
    normalise_spaces,
    remove_bidi_controls,
    slugify,
)
from .quotes import hide_typed_quotes, localise_quotes, quotation_marks, show_typed_quotes

# Sources without "<" cannot hold raw HTML, and cmark's own output in its safe mode (which also
# blanks javascript:, vbscript:, file: and data: links) lies within our allow-list, so nh3 is
# needed only when there is a "<"; then raw HTML is rendered (UNSAFE) for nh3 to judge.
# Footnotes ("[^cut]" and "[^cut]: …") as GitHub, Hugo and Pelican render them.
_SAFE_OPTIONS = (Options.CMARK_OPT_SMART | Options.CMARK_OPT_GITHUB_PRE_LANG
                 | Options.CMARK_OPT_FOOTNOTES)
_RAW_OPTIONS = _SAFE_OPTIONS | Options.CMARK_OPT_UNSAFE
_FOOTNOTES = Options.CMARK_OPT_FOOTNOTES
# GFM without "tagfilter": it escapes <script> into visible text, whereas nh3 drops it whole.
_CMARK_EXTENSIONS = ["table", "strikethrough", "autolink", "tasklist"]


class _Allocator(ctypes.Structure):
    """cmark's cmark_mem: the allocator a parser and its document were made with."""

    _fields_ = [
        ("calloc", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t)),
        ("realloc", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)),
        ("free", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
    ]


# cmarkgfm's markdown_to_html_with_extensions never frees the document tree nor the HTML it
# renders (its cffi declarations leave out cmark_node_free): every body leaked about 20 KB,
# 200 MB a cold build of 10,000 reviews (bench/README.md). The same shared object exports
# both; they are reached through ctypes (the library is loaded already: no second copy).
_LIB = ctypes.CDLL(_cmark.__file__)
_LIB.cmark_node_free.argtypes = [ctypes.c_void_p]
_LIB.cmark_node_free.restype = None
_LIB.cmark_get_default_mem_allocator.argtypes = []
_LIB.cmark_get_default_mem_allocator.restype = ctypes.POINTER(_Allocator)
_FREE = _LIB.cmark_get_default_mem_allocator().contents.free
_cmark.lib.cmark_gfm_core_extensions_ensure_registered()
_EXTENSIONS = [_cmark.lib.cmark_find_syntax_extension(name.encode())
               for name in _CMARK_EXTENSIONS]
# A body's bytes are searched for a byte by its value (``_LT in data``) and for longer needles
# with find: ``b"<" in data`` first tries its needle as an integer, raising and clearing a
# TypeError (2,600 instructions against 600 for a review's body, ten searches a body).
_LT, _COLON, _PIPE, _TILDE, _AT, _OPENING_BRACKET, _CLOSING_BRACKET = b"<:|~@[]"
_TASK_MARKS = frozenset(b" xX")  # what stands between a task list item's brackets

# Each extension changes the HTML only where the text holds what it reacts to, yet costs time
# on every text (autolink, called at every "w" and ":", a fifth of cmark's): it is attached
# only where it may act, and a text that needs none goes through cmark_markdown_to_html, one
# call. Autolink makes links only at "://" (after http, https or ftp), at "www." and around
# "@" (an e-mail address, mailto:, xmpp:); strikethrough only at "~"; a table needs a "|" in
# its delimiter row, or a ":" there ("a\n:-:" is a table of one column); "-" alone makes a
# setext heading first; a task list item only at "[ ]", "[x]" or "[X]".
# tests/sources/test_markdown.py renders random texts both ways.
def _may_autolink(data: bytes) -> bool:
    # ":" first: a one-byte search runs as memchr, and most reviews hold no ":".
    return ((_COLON in data and data.find(b"://") != -1) or data.find(b"www.") != -1
            or _AT in data)


def _extensions_for(data: bytes) -> list[Any]:
    """The extensions that may change the HTML of ``data`` (in _CMARK_EXTENSIONS' order)."""
    return _EXTENSIONS_FOR[_PIPE in data or _COLON in data, _TILDE in data, _may_autolink(data),
                           _may_be_task(data)]


def _may_be_task(data: bytes) -> bool:
    # Each "]" (memchr: a body holds a few, its links') is looked back at: three searches for
    # "[ ]", "[x]" and "[X]" walked every body three times (30k instructions a 3 KB body).
    end = data.find(_CLOSING_BRACKET)
    while end != -1:
        if end >= 2 and data[end - 2] == _OPENING_BRACKET and data[end - 1] in _TASK_MARKS:
            return True
        end = data.find(_CLOSING_BRACKET, end + 1)
    return False


_EXTENSIONS_FOR = {needs: [extension for extension, needed in zip(_EXTENSIONS, needs,
                                                                  strict=True) if needed]
                   for needs in itertools.product((False, True), repeat=4)}

# cmark's task list item ("- [x] seen twice"), its box a form control. Mail clients and feed
# readers drop those (Gmail, Outlook, most readers' sanitisers), so the one body that page,
# feeds and digest share shows it as a character, as the plain-text digest can too: ☑ or ☐.
# A loose item's box goes into its first paragraph, where GitHub puts it.
_TASK = re.compile(r'<li><input type="checkbox"( checked="")? disabled="" /> (\n<p>)?')
_TASK_BYTES = re.compile(_TASK.pattern.encode())


_BOXES = {True: "☑", False: "☐"}
_BOXES_BYTES = {ticked: box.encode() for ticked, box in _BOXES.items()}


def _task_item(match: re.Match[str]) -> str:
    ticked, paragraph = match.groups()
    return f'<li class="task">{paragraph or ""}{_BOXES[ticked is not None]} '


def _task_item_bytes(match: re.Match[bytes]) -> bytes:
    ticked, paragraph = match.groups()
    return b'<li class="task">%s%s ' % (paragraph or b"", _BOXES_BYTES[ticked is not None])


def _address(pointer: object) -> int:
    return int(_cmark.ffi.cast("uintptr_t", pointer))


def _cmark_html(data: bytes, options: int) -> str:
    """What cmarkgfm.markdown_to_html_with_extensions(text, options, _CMARK_EXTENSIONS) gives
    for the text whose UTF-8 is ``data``, the document and the rendered buffer freed."""
    return _html_text(_cmark_utf8(data, options))


def _html_text(html: bytes) -> str:
    """cmark's HTML (``_cmark_utf8``) as text."""
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        # cmark writes U+FFFE and U+FFFF (from "&#xFFFE;" or "&#65535;") as the single bytes
        # 0xFE and 0xFF, which no UTF-8 text holds: characters XML cannot carry, dropped as
        # prepare_markdown drops them written as such.
        html = html.replace(b"\xfe", b"").replace(b"\xff", b"")
        return html.decode("utf-8", errors="replace")


def _cmark_utf8(data: bytes, options: int) -> bytes:
    """The HTML cmark renders from ``data`` as it writes it (``_cmark_html`` reads it)."""
    lib, ffi = _cmark.lib, _cmark.ffi
    if options & _FOOTNOTES and data.find(b"[^") == -1:
        # Looking for footnotes costs at every "[" (4% of cmark's time in a body of links);
        # only a text holding "[^" has one.
        options &= ~_FOOTNOTES
    extensions = _extensions_for(data)
    if not extensions:  # it frees its document itself
        raw = lib.cmark_markdown_to_html(data, len(data), options)
        try:
            return bytes(ffi.string(raw))
        finally:
            _FREE(_address(raw))
    parser = lib.cmark_parser_new(options)
    try:
        for extension in extensions:
            lib.cmark_parser_attach_syntax_extension(parser, extension)
        lib.cmark_parser_feed(parser, data, len(data))
        root = lib.cmark_parser_finish(parser)
        try:
            raw = lib.cmark_render_html(root, options, lib.cmark_parser_get_syntax_extensions(
                parser))
            try:
                return bytes(ffi.string(raw))
            finally:
                _FREE(_address(raw))
        finally:
            _LIB.cmark_node_free(_address(root))
    finally:
        lib.cmark_parser_free(parser)


_TAGS = (set(nh3.ALLOWED_TAGS) | {"picture", "source", "section"}) - {"map", "area"}
# The markup of cmark's footnotes: ids that _FOREIGN_ID keeps only where cmark makes them, its
# classes by value (_CLASSES), its data- attributes (which do nothing without a script).
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "hreflang", "title", "id", "aria-label", "data-footnote-ref",
          "data-footnote-backref", "data-footnote-backref-idx"},
    "li": {"id"},
    "section": {"data-footnotes"},
    "img": {"src", "srcset", "sizes", "alt", "title", "width", "height"},
    "source": {"srcset", "sizes", "media", "type"},
    "abbr": {"title"},
    "time": {"datetime"},
}
_URL_SCHEMES = {"http", "https", "mailto"}

def absolute_url(url: str, base_url: str, page_url: str | None = None) -> str:
    """``url`` made absolute against ``base_url``; absolute and mailto URLs are unchanged.
    A link to a place in the same document (``#cast``, ``?page=2``) is made absolute against
    ``page_url``, the page it is written on, where one is given: against the site's root it
    would land on the home page (in a feed reader or a digest most of all)."""
    url = url.strip()
    if not url or _HAS_SCHEME.match(url):
        return url
    if page_url is not None and url[0] in "#?":
        return urljoin(page_url, url)
    if _PLAIN_PATH.match(url) and base_url.endswith("/"):
        # The common cases without urljoin's cost: "/reviews/x/" and "posters/x.png".
        return _origin(base_url) + url if url[0] == "/" else base_url + url
    return urljoin(base_url, url)


def site_links(markdown: str, base_url: str, first_line: int) -> tuple[tuple[str, int], ...]:
    """The links and images of a Markdown body that point into the site itself (under
    ``base_url``), each as (absolute URL without its fragment, line in the file), for checking
    that something is published there (``pipeline/links.py``). Read from the source with
    patterns, not by rendering it (a build checks every review's links, and renders only the
    bodies it needs): inline links and images, reference definitions, and href/src in raw
    HTML; code blocks and code spans are left out; character references are decoded, as
    cmark decodes them. Links within the review itself (``#cast``) are not included. A link
    written without a host that lands on base_url's host outside its path (``/reviews/x/``
    under ``https://example.org/film/``) is included too, for the check to name: one written
    with its host is meant to leave the site."""
    text = _without_code(markdown)
    matches = _links(text)
    if "<" in text:
        matches += _RAW_LINK.finditer(text)
        matches.sort(key=_start)
    found: dict[str, int] = {}
    line, counted = first_line, 0
    for match in matches:
        url = match.group(1)
        if url is None:  # "]:" — a reference definition only where "[label" starts the line
            url = match.group(2)
            opening = text.rfind("\n", 0, match.start()) + 1
            if not _LABEL.fullmatch(text, opening, match.start()):
                continue
        url = url.strip("<>")
        if "&" in url:  # as cmark and browsers read it: "&#106;avascript:" is javascript:
            url = _REFERENCE.sub(_decoded, url)
        if url[:1] in ("#", "?", ""):
            continue
        written = url.strip()
        url = absolute_url(url, base_url).partition("#")[0]
        if url not in found and (url.startswith(base_url) or not (
                written.startswith("//") or _HAS_SCHEME.match(written))):
            line += text.count("\n", counted, match.start())
            counted = match.start()
            found[url] = line
    return tuple(found.items())


# A Hugo shortcode, {{< name ... >}} or {{% name ... %}} (or its closing tag): group 1 names it.
_SHORTCODE = re.compile(r"\{\{[<%]\s*/?\s*([\w./-]+)[^\n]*?[>%]\}\}")


def shortcodes(markdown: str, first_line: int) -> list[tuple[int, str]]:
    """The Hugo shortcodes a body holds (publisher expands none: each would be published as
    text), as (line in the file, name), one per line; code blocks and code spans left out."""
    # One character is looked for with memchr, two with a scan many times slower (10 against
    # 0.1 µs in a 3 KB body that has neither).
    if "{" not in markdown or "{{" not in markdown:
        return []
    text = _without_code(markdown)
    found: list[tuple[int, str]] = []
    for index, line in enumerate(text.split("\n")):
        match = _SHORTCODE.search(line)
        if match:
            found.append((first_line + index, match.group(1)))
    return found


# An HTML element as Markdown passes it through: a name, then a space, "/" or ">" (so not an
# autolink, <https://…> or <name@example.org>, nor "\<" written to show the bracket).
_RAW_TAG = re.compile(r"(?<!\\)<([A-Za-z][A-Za-z0-9-]*)(?=[\s/>])")

#: Said of an element that publishing removes (``removed_tags``).
REMOVED = ("is removed as it is published (no frames, forms, scripts, styles, or tags publisher "
           "does not know, come from a source): link to what it embeds instead (a video's page), "
           "and write words meant to show without angle brackets")


def removed_tags(markdown: str, first_line: int) -> list[tuple[int, str]]:
    """The HTML elements a body holds that publishing removes (an iframe, a form, words in
    angle brackets that read as a tag), as (line in the file, name), the first of each line;
    code blocks and code spans left out."""
    if "<" not in markdown:
        return []
    found: list[tuple[int, str]] = []
    for index, line in enumerate(_without_code(markdown).split("\n")):
        names = [m.group(1).lower() for m in _RAW_TAG.finditer(line)]
        removed = next((name for name in names if name not in _TAGS), None)
        if removed is not None:
            found.append((first_line + index, removed))
    return found


def _without_code(markdown: str) -> str:
    """``markdown`` with its fenced code blocks blanked (line breaks kept) and its code spans
    removed: what is written there is shown as code, never read as a link or a shortcode."""
    text = markdown
    # Each pattern only where its first characters occur: a pattern without a literal start
    # is tried at every position of the body (~50 µs for a 3 KB review).
    if "`" in text:
        if "```" in text:
            text = _without_fences(text, "```")
        text = _CODE_SPAN.sub("", text)
    if "~" in text and "~~~" in text:
        text = _without_fences(text, "~~~")
    return text


def _links(text: str) -> list[re.Match[str]]:
    """What ``_LINK.finditer(text)`` finds. Each match starts at a "]": those few are found
    with memchr and the pattern tried there, where the search would step through every
    character of the body (``finditer`` goes on from where a match ends, as this does)."""
    found = []
    start = text.find("]")
    while start != -1:
        match = _LINK.match(text, start)
        if match is not None:
            found.append(match)
            start = match.end()
        else:
            start += 1
        start = text.find("]", start)
    return found


def _start(match: re.Match[str]) -> int:
    return match.start()


def _without_fences(text: str, fence: str) -> str:
    """``text`` with its fenced code blocks (opened by ``fence`` at the start of a line,
    indented at most three spaces) blanked, line breaks kept, so that lines still count."""
    lines = text.split("\n")
    inside = False
    for i, line in enumerate(lines):
        stripped = line.lstrip(" ")
        if len(line) - len(stripped) <= 3 and stripped.startswith(fence):
            inside = not inside
            lines[i] = ""
        elif inside:
            lines[i] = ""
    return "\n".join(lines)


# Code spans on one line. A span in double backticks that holds a backtick is read short,
# which may let a link-like text in it through (rare in reviews): a pattern that starts with
# a repeated backtick is tried at every position of the body, 20 times slower.
_CODE_SPAN = re.compile(r"`[^`\n]+`")
# An inline link or image's destination (group 1), or a reference definition's (group 2: one
# scan for both, from the "]" they share); a reference's label, from the start of its line;
# a raw href or src. A definition's destination ends its line or is followed by a title: else
# the line is text ("[^1]: The cinema is real." is a paragraph, not a link to /The).
_LINK = re.compile(r"\](?:\(\s*(<[^>\n]*>|[^)\s]+)|:[ \t]*(<[^>\n]*>|\S+)"
                   r"(?=[ \t]*\r?(?:\n|\Z)|[ \t]+[\"'(]))")
_LABEL = re.compile(r" {0,3}\[(?!\^)[^\]\n]+")  # "[^1]: …" is a footnote's text
# A tag ends at the next "<" too: "<a x <a x …" (no ">") would otherwise be scanned to its end
# from every "<", a time that grows with the square of the body.
_RAW_LINK = re.compile(r"<[A-Za-z][^<>]*?\s(?:href|src|HREF|SRC)\s*=\s*[\"']([^\"'\n]+)[\"']")


# A character reference as CommonMark reads one in a link destination: its ";" is required.
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _decoded(match: re.Match[str]) -> str:
    return unescape(match.group(0))


# A path with no dot segments, query-only or fragment-only part, or protocol-relative start.
_PLAIN_PATH = re.compile(r"(?!//)(?!\.\.?(?:/|$))(?!.*/\.\.?(?:/|$|[?#]))[^?#]")


@functools.cache  # a publication has one base_url (two with published_url)
def _origin(base_url: str) -> str:
    scheme, _, rest = base_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _absolute_srcset(value: str, base_url: str) -> str:
    candidates = []
    for candidate in value.split(","):
        parts = candidate.split()
        if not parts:
            continue
        scheme = _HAS_SCHEME.match(parts[0])
        if scheme and scheme.group(1).lower() not in _URL_SCHEMES:
            continue
        parts[0] = absolute_url(parts[0], base_url)
        candidates.append(" ".join(parts))
    return ", ".join(candidates)


_CLASSES = {"sup": {"footnote-ref"}, "a": {"footnote-backref"}, "section": {"footnotes"},
            "li": {"task"}}
_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    attributes=_ATTRIBUTES,
    allowed_classes=_CLASSES,
    url_schemes=_URL_SCHEMES,
    link_rel=None,
    strip_comments=True,
)
# After cleaning an id is on an "a" or "li" only: one that is not a footnote's, as cmark names
# them, was written in raw HTML and goes (it could take the page's own, "main").
_FOREIGN_ID = re.compile(r' id="(?!fn-|fnref-)[^"]*"')
# nh3 writes an attribute without a value as name="": written back as cmark writes it, so that
# a body with raw HTML and one without give the same footnotes.
_EMPTY_FOOTNOTE_ATTRIBUTE = re.compile(r' (data-footnotes?(?:-ref|-backref)?)=""')
_FOOTNOTE_ID = re.compile(r' id="(fn(?:ref)?-[^"]*)"')


def _clean(html: str) -> str:
    """nh3's allow-list, and what it cannot say: ids only on footnotes."""
    html = _CLEANER.clean(html)
    if ' id="' in html:
        html = _FOREIGN_ID.sub("", html)
    if "data-footnote" in html:
        html = _EMPTY_FOOTNOTE_ATTRIBUTE.sub(r" \1", html)
    return html


_HAS_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# nh3 serialises every attribute as name="value" and escapes "<", ">" and '"' inside values and
# text, so after cleaning these patterns find exactly the tags and URL attributes; that is
# several times faster than nh3's per-attribute Python callback.
_URL_TAG = re.compile(r"<(?:a|img|source|q|blockquote|del|ins)\s[^>]*>")
_URL_ATTRIBUTE = re.compile(r'\s(href|src|cite|srcset)="([^"]*)"')


def _absolute_attribute(name: str, value: str, base_url: str, page_url: str | None) -> str:
    """The URL attribute ``name="value"`` as written back, with its leading space: made
    absolute, kept, or left out ("")."""
    if not value.strip():  # also what cmark leaves of a javascript: link
        return ""
    if name == "srcset":
        return f' srcset="{_absolute_srcset(value, base_url)}"'
    scheme = _HAS_SCHEME.match(value)
    if scheme:
        return f' {name}="{value}"' if scheme.group(1).lower() in _URL_SCHEMES else ""
    return f' {name}="{absolute_url(value, base_url, page_url)}"'


def _absolute_attributes(tag: str, base_url: str, page_url: str | None) -> str:
    def absolute(match: re.Match[str]) -> str:
        return _absolute_attribute(match.group(1), match.group(2), base_url, page_url)

    return _URL_ATTRIBUTE.sub(absolute, tag)


def _absolute_urls(html: str, base_url: str, page_url: str | None = None) -> str:
    if not _has_relative_url(html):
        return html
    return _URL_TAG.sub(lambda m: _absolute_attributes(m.group(0), base_url, page_url), html)


_ABSOLUTE_STARTS = ("http://", "https://", "mailto:")

# In cmark's own output (no raw HTML: a source without "<") every '"' delimits an attribute
# value: text, code and titles have "&quot;", URLs "%22". Its URLs are the values of
# <a href="…"> and <img src="…">, found from quote to quote (a search for ' href="' itself
# stops at nearly every letter of the text), before the HTML is decoded (where it holds dashes
# or typographic quotes, str's scans are several times slower).
@functools.cache
def _origin_bytes(base_url: str) -> bytes | None:
    """``_origin(base_url)`` as UTF-8, where absolute_url puts a root path after it."""
    return _origin(base_url).encode("utf-8") if base_url.endswith("/") else None


def _absolute_cmark_urls(html: bytes, base_url: str, page_url: str | None) -> bytes:
    """What ``_absolute_urls`` does, for HTML that cmark wrote (``_cmark_utf8``), as bytes."""
    # Each value runs from a quote to the next, found with memchr: a split at every '"'
    # stepped through each byte of the HTML (34k instructions a review, now 28k).
    opening = html.find(b'"')
    if opening == -1:
        return html
    origin = _origin_bytes(base_url)
    pieces: list[bytes] = []
    kept = 0  # html[:kept] is in pieces
    text = 0  # where the text before the value at ``opening`` starts
    while opening != -1:
        closing = html.find(b'"', opening + 1)
        if closing == -1:  # cmark writes its quotes in pairs
            closing = len(html)
        if html.endswith(b" href=", text, opening):
            name = "href"
        elif html.endswith(b" src=", text, opening):
            name = "src"
        else:
            name = ""
        if name:
            url = html[opening + 1:closing]
            # A path from the site's root ("/reviews/x/", most links in reviews): absolute_url
            # puts the origin before it where it has no dot segment and does not end in what
            # str.strip would take (cmark percent-encodes spaces and every byte past ASCII).
            if (origin is not None and url[:1] == b"/" and url[1:2] != b"/"
                    and 0x20 < url[-1] < 0x7F and url.find(b"/.") == -1):
                pieces += (html[kept:opening + 1], origin)
                kept = opening + 1
            else:
                # cmark percent-encodes URLs; whatever bytes one held would be written back.
                attribute = _absolute_attribute(name, url.decode("utf-8", "surrogateescape"),
                                                base_url, page_url)
                if attribute:  # ' name="value"'
                    pieces += (html[kept:opening + 1],
                               attribute[len(name) + 3:-1].encode("utf-8", "surrogateescape"))
                    kept = closing
                else:  # left out: its name, its value and its quotes
                    pieces.append(html[kept:opening - len(name) - 2])
                    kept = closing + 1
        text = closing + 1
        opening = html.find(b'"', text)
    pieces.append(html[kept:])
    return b"".join(pieces)


def _has_relative_url(html: str) -> bool:
    """A quick scan (no regex) whether any URL attribute might need rewriting; a false "yes"
    only costs the full pass."""
    for marker in (' href="', ' src="', ' srcset="', ' cite="'):
        start = html.find(marker)
        while start != -1:
            value = start + len(marker)
            if marker == ' srcset="' or not html.startswith(_ABSOLUTE_STARTS, value):
                return True
            start = html.find(marker, value)
    return False


def sanitise_html(html: str, base_url: str) -> str:
    """Keep only safe tags and attributes; make every URL absolute against ``base_url``."""
    return _absolute_urls(_clean(html), base_url)


def prepare_markdown(text: str) -> tuple[str, int]:
    """Markdown with XML-illegal control characters removed, odd spaces made plain (but those of
    French punctuation: ``normalise_spaces``) and bidi
    controls removed (one scan when there is nothing to do); also how many control characters
    were removed (``parse_source`` counts the bidi ones itself, for its warning)."""
    if not SUSPECT_CHARS.search(text):
        return text, 0
    text, removed = ILLEGAL_CHARS.subn("", text)
    return normalise_spaces(remove_bidi_controls(text)[0], french_punctuation=True), removed


# After cleaning, "<h1" can only be a tag: nh3 and cmark escape "<" in text.
_HEADING_TAG = re.compile(r"<(/?)h([1-6])(?=[\s>])")


def _below_the_title(html: str) -> str:
    """Headings moved one level down when the body has an ``h1`` (``# Heading``): the review's
    title is the page's one h1, and in the digest and the feeds the title is above the body
    too. A body whose headings start at ``##`` is left as written."""
    if "<h1" not in html:
        return html
    return _HEADING_TAG.sub(lambda m: f"<{m.group(1)}h{min(int(m.group(2)) + 1, 6)}", html)


# After cleaning, a heading has no attributes (the allow-list gives it none).
# Its words end at any heading tag: ".*?" would scan from every "<h2>" of "<h2><h2>…" to the end.
_HEADING = re.compile(r"<h([2-6])>((?:[^<]|<(?!/?h[1-6][\s>]))*)</h\1>")
_EXPLICIT_ID = re.compile(r"\s*\{#([A-Za-z][A-Za-z0-9_-]*)\}\s*\Z")
_ANY_TAG = re.compile(r"<[^>]*>")
#: The ids the default page layouts give their own elements: a heading named "Main" gets
#: "main-1", so that the skip link and the forms still find theirs.
PAGE_IDS = frozenset({
    "main", "q", "related-heading", "join-heading", "review-data", "subscribe-title",
    "subscribe-email", "subscribe-name", "subscribe-website", "search-status",
    "search-results", "search-words"})


def _heading_ids(html: str) -> str:
    """Each heading given an id, so that a link to a place in the review (``[cast](#cast)``)
    lands, as Hugo's and GitHub's do: the heading's words as a slug ("Cast and crew" ->
    ``cast-and-crew``), or the id written after it (``## Cast {#cast}``, Hugo's and Pandoc's
    syntax, which is then not shown); a second heading of the same words gets ``-1``.
    The sanitiser drops ids written in raw HTML: only these, made from words, reach a page."""
    if "<h" not in html:
        return html
    seen = set(PAGE_IDS)
    if ' id="fn' in html:  # footnotes' ids ("fn-cut"): a heading "Fn cut" is "fn-cut-1"
        seen.update(_FOOTNOTE_ID.findall(html))
    tried: dict[str, int] = {}  # per base, the suffix to try next: linear in the headings

    def named(match: re.Match[str]) -> str:
        level, inner = match.groups()
        explicit = _EXPLICIT_ID.search(inner)
        if explicit is not None:
            inner, base = inner[:explicit.start()], explicit.group(1)
        else:
            words = unescape(_ANY_TAG.sub("", inner))
            base = slugify(words) if any(c.isalnum() for c in words) else "section"
        n = tried.get(base, 0)
        ident = f"{base}-{n}" if n else base
        while ident in seen:
            n += 1
            ident = f"{base}-{n}"
        tried[base] = n + 1
        seen.add(ident)
        return f'<h{level} id="{ident}">{inner}</h{level}>'

    return _HEADING.sub(named, html)


def render_prepared(text: str | bytes, base_url: str, page_url: str | None = None,
                    language: str = "en") -> str:
    """markdown_to_html for text that prepare_markdown has already cleaned, or for its UTF-8
    encoding: a source file's bytes need neither decoding nor encoding again for cmark (which
    reads UTF-8), and bytes are scanned several times faster than text that is not ASCII."""
    marks = quotation_marks(language)
    if marks is None:
        return _render_prepared(text, base_url, page_url)
    data = text.encode("utf-8") if isinstance(text, str) else text
    hidden = hide_typed_quotes(data)
    if hidden is None:
        return localise_quotes(_render_prepared(data, base_url, page_url), marks)
    return show_typed_quotes(localise_quotes(_render_prepared(hidden, base_url, page_url),
                                             marks))


def _render_prepared(text: str | bytes, base_url: str, page_url: str | None) -> str:
    """render_prepared's HTML, its quotes cmark's English ones."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if _LT in data:  # no byte of a multi-byte UTF-8 character is "<": as "<" in text
        html = _cmark_html(data, _RAW_OPTIONS)
        if "<input" in html:
            html = _TASK.sub(_task_item, html)
        html = _clean(html)
        headings = "<h" in html
    else:
        # cmark escapes ">" everywhere but in tags, so " />" only closes void tags; written
        # as nh3 writes them, both paths give the same markup. Both scans run on cmark's
        # bytes, before they are decoded: several times faster than on the text.
        rendered = _cmark_utf8(data, _SAFE_OPTIONS)
        if rendered.find(b"<input") != -1:  # only a task list's, without raw HTML
            rendered = _TASK_BYTES.sub(_task_item_bytes, rendered)
        rendered = rendered.replace(b" />", b">")
        headings = rendered.find(b"<h") != -1
        if not headings:
            return _html_text(_absolute_cmark_urls(rendered, base_url, page_url)).strip()
        html = _html_text(rendered)
    if headings:  # one scan for both (most reviews have no heading)
        html = _heading_ids(_below_the_title(html))
    return _absolute_urls(html, base_url, page_url).strip()


def markdown_to_html(text: str, base_url: str, page_url: str | None = None,
                     language: str = "en") -> str:
    """Render Markdown (GFM: tables, strikethrough, autolinks, task lists as ☑ and ☐,
    footnotes; typographic quotes in ``language``'s marks: quotes.py) to sanitised HTML (no
    script, style, iframe or event handlers; links only http, https and mailto; no ``h1``:
    ``_below_the_title``) whose href/src/srcset are absolute against ``base_url`` (links
    within the document, footnotes' among them, against ``page_url``, where it is given:
    ``absolute_url``)."""
    return render_prepared(prepare_markdown(text)[0], base_url, page_url, language)
