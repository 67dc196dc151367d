"""RSS 2.0, Atom 1.0 and JSON Feed 1.1 for a set of reviews, with RFC 5005 archives.

Each review is turned into an entry once per build — its RSS ``<item>``, Atom ``<entry>`` and
JSON Feed item are serialised once — and every document that carries it (the site feed, its
reviewer's and tags' feeds, its month's archive) is those pieces joined under a head. That is
what makes complete archives affordable: 10,000 reviews are 30,000 serialised entries, not one
tree per document. (feedgen, used before, built an lxml tree per document and took 155 µs per
entry; it also made invalid feeds unless worked around: see git history.)

The XML is written here, not by a library, so the rules live here and each has a test:

* every text goes through ``_text`` (XML-illegal characters dropped, then escaped), every
  attribute through ``_attr`` (an entry's texts, all at once: ``_cleaned``, then ``_escaped``);
  text that a format reads as HTML (RSS ``description``, a channel description built from a
  tag name) is HTML-escaped first, so it can never become markup;
* a document's ``self`` link is its own URL, per format; RSS carries hub and archive links as
  ``atom:link`` and the entry's updated time as ``atom:updated``;
* dates are the reviews' own, in their zone (RFC 822 in RSS, RFC 3339 in Atom and JSON),
  never the clock: the channel's is the newest entry's, the Unix epoch for an empty feed;
* every feed has an author (the site's, else its title) and every entry its reviewer;
* posters go out as an RSS ``<enclosure>`` (with a length: the file's, else UNKNOWN_LENGTH),
  an Atom ``link rel="enclosure"`` and ``media:content``, with width and height when known;
* the review itself, as data, goes in the ``review:`` namespace (REVIEW_NS) and in JSON Feed's
  ``_review`` extension (see README, "Review data in feeds").

What an entry shows of its review comes from the review's card (``card.Card``), the same one the
digest, the archive and the pages show; this module only encodes it.
"""

from __future__ import annotations

import functools
import heapq
import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import orjson

from .. import __version__
from ..models import ImageFacts, Review
from ..text import xml_safe
from .card import Card, review_card
from .images import BodyImages
from .site import Site
from .words import Words

#: The three files every feed directory holds.
FEED_FILES = ("feed.xml", "atom.xml", "feed.json")

#: Each subscription document stays under this many bytes (the main feed must stay under 1 MB);
#: archive documents hold their month in full, whatever its size.
MAX_FEED_BYTES = 1_000_000

#: Entries past their last feed kept for their month's archive (which a build in one process
#: renders after the feeds), the oldest let go first: an archive shows each review in full,
#: and one prepared again costs as much as the first time. About 15 MB; as many as the feeds
#: of 10,000 reviews in a dozen tags show, where a publication in hundreds of tags would keep
#: thousands (bench/README.md, "Feed entries").
SPARE_ENTRIES = 1_000

#: RSS requires an enclosure length in bytes and the W3C validator rejects 0 (which the RSS
#: Best Practices Profile suggests for an unknown size), so a poster whose size cannot be known
#: (a remote URL, or a file missing from static/) is given this placeholder. Atom and media:content
#: simply leave the size out.
UNKNOWN_LENGTH = 1

#: The XML namespace of the review data in RSS and Atom entries (``review:review``). A UUID URN
#: because publisher owns no domain to mint an http URI under; it never changes. A change that
#: breaks readers of version 1 gets a new namespace. See README, "Review data in feeds".
REVIEW_NS = "urn:uuid:6b7bf035-3d8e-45e2-b27a-8b99b7440bce"
REVIEW_VERSION = 1
#: RFC 5005 (feed paging and archiving).
HISTORY_NS = "http://purl.org/syndication/history/1.0"
#: The stylesheet that shows RSS and Atom as a page in a browser, at the site's root.
XSL_PATH = "feed.xsl"

JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "publisher"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_NAMESPACES = (
    'xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:media="http://search.yahoo.com/mrss/" '
    f'xmlns:review="{REVIEW_NS}"'
)
_URL_ATTR = re.compile(r'(\s(?:href|src)=")([^"]*)(")')
_SRCSET_ATTR = re.compile(r'(\ssrcset=")([^"]*)(")')


def absolutise(fragment: str, base: str) -> str:
    """Make every href, src and srcset URL in an HTML fragment absolute against ``base``
    (many readers and RSS-to-email services ignore xml:base)."""

    def one(url: str) -> str:
        if url.startswith(("https://", "http://")) and "&" not in url:
            return url  # already absolute (as every link from the sources is): leave it be
        url = html.unescape(url.strip())
        if urlsplit(url).scheme:
            return html.escape(url, quote=True)
        return html.escape(urljoin(base, url), quote=True)

    def attr(m: re.Match[str]) -> str:
        return m.group(1) + one(m.group(2)) + m.group(3)

    def srcset(m: re.Match[str]) -> str:
        parts = []
        for candidate in m.group(2).split(","):
            bits = candidate.strip().split(None, 1)
            if bits:
                parts.append(" ".join([one(bits[0]), *bits[1:]]))
        return m.group(1) + ", ".join(parts) + m.group(3)

    if _all_absolute(fragment):
        return fragment
    return _SRCSET_ATTR.sub(srcset, _URL_ATTR.sub(attr, fragment))


#: An http(s) URL that urljoin gives back as it is: a host, then a path of characters that
#: urlsplit leaves be (no ";", "?" or "#", which it drops when nothing follows; no space or
#: control character, which it strips; no "[" of an IPv6 host, which it checks; ASCII).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]*)?(?:/[A-Za-z0-9._~!$&'()*+,=:@%/-]*)?")


def _joined(base: str, url: str) -> str:
    """``urljoin(base, url)``, without parsing a URL the sources have made absolute already:
    urlsplit caches only the last 128 URLs it split, and each review's poster has its own, so
    urljoin took 8 µs for each poster of a feed's entries (the check takes 0.4)."""
    if _PLAIN_URL.fullmatch(url):
        return url
    return urljoin(base, url)


def _all_absolute(fragment: str) -> bool:
    """True when every href and src in ``fragment`` is already an http(s) (or mailto) URL, as
    in every body from the sources, which resolve links when they render Markdown: checked
    with str methods at each attribute (a body has a few), ten times faster than the regular
    expressions above and three times faster than counting each prefix over the whole body."""
    if 'srcset="' in fragment:
        return False
    for attr in ('href="', 'src="'):
        start = fragment.find(attr)
        while start != -1:
            start += len(attr)
            if not fragment.startswith(_ABSOLUTE_STARTS, start):
                return False
            start = fragment.find(attr, start)
    return True


def _all_absolute_utf8(fragment: bytes) -> bool:
    """``_all_absolute`` for the UTF-8 of a fragment, asked at each '"' (every attribute it
    looks for ends in one, and a byte is found by memchr where a word is not): a body's quotes
    are its few attributes' (text has &quot;), so this takes less than half the time of three
    searches for the attributes through the whole body. The attributes and prefixes are
    ASCII, and no byte of another character's UTF-8 is an ASCII byte: the answer is the same."""
    quote = fragment.find(b'"')
    while quote != -1:
        end = quote + 1
        if fragment.endswith(b'srcset="', 0, end):
            return False
        if (fragment.endswith((b'href="', b'src="'), 0, end)
                and not fragment.startswith(_ABSOLUTE_STARTS_UTF8, end)):
            return False
        quote = fragment.find(b'"', end)
    return True


_ABSOLUTE_STARTS = ("https://", "http://", "mailto:")
_ABSOLUTE_STARTS_UTF8 = tuple(start.encode() for start in _ABSOLUTE_STARTS)


#: Every byte but those that begin or are an XML-illegal character in UTF-8: C0 controls other
#: than tab, LF and CR, DEL, 0xC2 (which begins U+0080–U+00BF, the C1 controls among them) and
#: 0xEF (which begins U+F000–U+FFFF, U+FFFE and U+FFFF among them). Lone surrogates, the rest of
#: text.ILLEGAL_CHARS, cannot be encoded at all.
_NEVER_ILLEGAL = bytes(b for b in range(256)
                       if (b >= 0x20 or b in b"\t\n\r") and b not in b"\x7f\xc2\xef")


def _body_utf8(body: str, base: str) -> bytes:
    """A review's body as feeds carry it, in UTF-8: without the characters XML cannot carry
    (``_xml_safe_lines``), its links absolute against ``base`` (``absolutise``). Nearly every
    body needs neither, and that is found on its UTF-8 bytes, which the feeds need anyway: one
    ``bytes.translate`` and a ``bytes.find`` for each quote, 7 µs with the encoding where the
    checks on the str and the encoding took 22 (a body holding typographic quotes is a str of
    two bytes a character)."""
    try:
        data = body.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which _xml_safe_lines drops
        return absolutise(_xml_safe_lines(body), base).encode("utf-8")
    if data.translate(None, _NEVER_ILLEGAL):
        # A control character, or only a character such as "«" or "½" that shares its first
        # byte with one: the str's own check tells which.
        safe = _xml_safe_lines(body)
        if len(safe) != len(body):
            return absolutise(safe, base).encode("utf-8")
    if _all_absolute_utf8(data):
        return data
    return absolutise(body, base).encode("utf-8")


def _xml_safe_lines(text: str) -> str:
    """``xml_safe`` for a long text of many lines (a body): when every line is printable, as
    in nearly every body, there is nothing to remove, and that is found in one pass (the
    general check copies the text to drop its line breaks first)."""
    if all(line.isprintable() for line in text.split("\n")):
        return text
    return xml_safe(text)


def select(reviews: Sequence[Review], limit: int) -> list[Review]:
    """The reviews a feed carries: newest first (by date, then slug), at most ``limit``."""
    return heapq.nlargest(limit, reviews, key=lambda r: (r.date, r.slug))


def _escape(value: str, quote: bool = True) -> str:
    """``html.escape(value, quote)``; a value with nothing to escape (nearly every name, title
    and URL) is found so by a search for each character, and given back: two thirds of the
    time of html.escape, which replaces each character in turn. An entry escapes some forty."""
    if "&" in value or "<" in value or ">" in value or (
            quote and ('"' in value or "'" in value)):
        return html.escape(value, quote)
    return value


def _text(value: str) -> str:
    """Text content for XML: characters XML cannot carry dropped, markup characters escaped."""
    # xml_safe gives a printable str back as it is: asked here, a call saved for nearly all.
    return _escape(value if value.isprintable() else xml_safe(value), quote=False)


def _attr(value: str) -> str:
    return _escape(value if value.isprintable() else xml_safe(value))


def _html_text(value: str) -> str:
    """Plain text for an element whose content readers take as HTML (RSS description): escaped
    once as HTML, so "<b>" shows as written, then once as XML."""
    return _escape(_text(value), quote=False)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MINUTE = timedelta(minutes=1)


def _rfc822(when: datetime, iso: str | None = None) -> str:
    """``when`` as email.utils.format_datetime writes it ("Tue, 01 Dec 2026 09:30:00 +0100"),
    without its detour through a time tuple and strftime (a third of the time an RSS item
    took besides its content): rearranged from ``iso``, ``when.isoformat()`` (which an entry
    has made for Atom already), a quarter of the time of formatting each field. A time without
    a zone, or whose offset has seconds, is left to format_datetime."""
    if iso is None:
        iso = when.isoformat()
    if len(iso) == 25:  # "2026-12-01T09:30:00+01:00": no microseconds, a whole-minute offset
        return (f"{_DAYS[when.weekday()]}, {iso[8:10]} {_MONTHS[when.month - 1]} {iso[:4]} "
                f"{iso[11:19]} {iso[19:22]}{iso[23:]}")
    offset = when.utcoffset()
    if offset is None or offset % _MINUTE:
        return format_datetime(when)
    minutes = offset // _MINUTE
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return (f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} "
            f"{when.year:04d} {when.hour:02d}:{when.minute:02d}:{when.second:02d} "
            f"{sign}{minutes // 60:02d}{minutes % 60:02d}")


@dataclass(frozen=True)
class PosterInfo:
    """A poster as feeds describe it: absolute URL, MIME type, byte size and pixel dimensions
    when known, alt text."""

    url: str
    type: str
    length: int | None
    alt: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Paging:
    """RFC 5005 links of one feed document: the directories (under base_url, "" for the root)
    of the previous (older) and next (newer) archive documents, the subscription feed's, and
    whether this document is an archive. An archive not ``closed`` is the month under way's:
    a page of the feed like the others but not marked ``fh:archive``, whose entries RFC 5005
    says never change (a client may stop at an archive it has read)."""

    current: str = ""
    prev: str | None = None
    next: str | None = None
    archive: bool = False
    closed: bool = True


@dataclass
class EntryData:
    """One review prepared for every feed format: cleaned, zoned, and each format's entry
    serialised once (``rss``, ``atom``, ``json``: the full entry; ``*_short`` the shortened one
    used only when a subscription document would pass MAX_FEED_BYTES)."""

    id: str
    guid_is_permalink: bool
    url: str
    title: str
    summary: str
    #: The content's HTML in three parts: the header and its line break, the body in UTF-8,
    #: the footer. The body is most of an entry's bytes, and XML-safe (_body_utf8): it is
    #: escaped for JSON as bytes (_json_escaped), not encoded to UTF-8 again by orjson.
    content_parts: tuple[str, bytes, str]
    short_html: str  # content with the body replaced by the logline, for oversize feeds
    published: datetime
    updated: datetime
    published_iso: str  # RFC 3339, made once for every format
    updated_iso: str
    author: str
    tags: tuple[str, ...]
    poster: PosterInfo | None
    review_data: dict[str, Any]
    #: The entry's texts (``_Texts``) escaped as element text and as attribute values.
    text: _Texts
    attr: _Texts
    _pieces: dict[tuple[str, bool], tuple[bytes, ...]] = field(default_factory=dict,
                                                                repr=False)
    _escaped: dict[bool, tuple[bytes, ...]] = field(default_factory=dict, repr=False)
    #: The RSS item's and the Atom entry's UTF-8 before and after the content, made together.
    _xml_heads: dict[str, tuple[bytes, bytes]] | None = field(default=None, repr=False)

    def content_utf8(self) -> bytes:
        """The content's HTML, in UTF-8."""
        header, body, footer = self.content_parts
        return b"".join([header.encode("utf-8"), body, footer.encode("utf-8")])

    def parts(self, fmt: str, short: bool = False) -> tuple[bytes, ...]:
        """This entry in one format ("rss", "atom", "json"), serialised once, as UTF-8: the
        parts that a document joins, the content's apart (made once for RSS and Atom), so
        that it is copied once, into the document, not into each format's entry first."""
        key = (fmt, short)
        found = self._pieces.get(key)
        if found is None:
            if fmt == "json":
                head, tail = _json_item(self)
            else:
                heads = self._xml_heads
                if heads is None:
                    heads = self._xml_heads = _xml_entries(self)
                head, tail = heads[fmt]
            if fmt != "json":
                content = self._escaped.get(short)
                if content is None:
                    content = self._escaped[short] = self._xml_content(short)
            elif short:
                content = (orjson.dumps(self.short_html),)
            else:
                # The body escaped as bytes (_json_escaped); the header and the footer, which
                # hold a translation's words, by orjson itself.
                header, body, footer = self.content_parts
                content = (orjson.dumps(header)[:-1], _json_escaped(body),
                           orjson.dumps(footer)[1:])
            found = self._pieces[key] = (head, *content, tail)
        return found

    def piece(self, fmt: str, short: bool = False) -> bytes:
        """This entry in one format ("rss", "atom", "json"), as UTF-8."""
        return b"".join(self.parts(fmt, short))

    def _xml_content(self, short: bool) -> tuple[bytes, ...]:
        """The content as XML text, in UTF-8 (already free of characters XML cannot carry)."""
        if short:
            return (_xml_escaped(self.short_html.encode("utf-8")),)
        header, body, footer = self.content_parts
        if not footer:  # no trailer, no availability: nothing to escape
            return (_xml_escaped(header.encode("utf-8")), _xml_escaped(body))
        return (_xml_escaped(header.encode("utf-8")), _xml_escaped(body),
                _xml_escaped(footer.encode("utf-8")))


class _Texts(NamedTuple):
    """An entry's texts without the characters XML cannot carry (cleaned once for its header,
    footer, review data and every format), or those escaped (``_escaped``)."""

    id: str
    url: str
    title: str
    summary: str
    author: str
    director: str
    certificate: str
    availability: str
    cast: tuple[str, ...]  # every name, one cleaned to nothing too (the header lists them)
    tags: tuple[str, ...]  # without those cleaned to nothing

    def flat(self) -> list[str]:
        """Every text, the names and the tags last (``unflat`` takes them back)."""
        return [*self[:_SINGLE], *self.cast, *self.tags]  # type: ignore[list-item]

    @classmethod
    def unflat(cls, texts: Sequence[str], cast: int) -> _Texts:
        """The texts ``flat`` gave (each changed alike), the first ``cast`` of the names and
        tags being names."""
        return cls._make([*texts[:_SINGLE], tuple(texts[_SINGLE:_SINGLE + cast]),
                          tuple(texts[_SINGLE + cast:])])


_SINGLE = len(_Texts._fields) - 2  # the texts before the names and the tags


def _cleaned(texts: _Texts) -> _Texts:
    """``texts`` through ``xml_safe``, tags cleaned to nothing left out: checked all at once,
    as nearly every entry has nothing to clean. Joined with a space: all are printable when
    the whole is."""
    flat = texts.flat()
    if " ".join(flat).isprintable() and all(texts.tags):
        return texts
    cleaned = _Texts.unflat([xml_safe(text) for text in flat], len(texts.cast))
    return cleaned._replace(tags=tuple(tag for tag in cleaned.tags if tag))


def _escaped(texts: _Texts, quote: bool) -> _Texts:
    """Each of ``texts`` through ``_escape(…, quote)``, checked all at once: nearly every entry
    has nothing to escape in any of them, and a check each (some thirty an entry) was a
    twentieth of the feeds' work. Joined with NUL, which no XML-safe text holds and escaping
    does not add."""
    joined = "\0".join(texts.flat())
    escaped = _escape(joined, quote)
    if escaped is joined:
        return texts
    return _Texts.unflat(escaped.split("\0"), len(texts.cast))


@dataclass(frozen=True)
class RenderedFeed:
    """A feed's files (name → bytes) and how much had to be cut to stay under MAX_FEED_BYTES."""

    files: dict[str, bytes]
    shortened: int = 0  # entries whose body was replaced by the logline and a link
    dropped: int = 0  # oldest entries left out entirely


class FeedRenderer:
    """Renders feeds for one publication, preparing each review once however many documents
    carry it. ``poster_facts(url)`` gives a poster file's size and dimensions, or None (for a
    remote URL, say); ``body_images`` the image files of a body and their facts (one the build
    shares with the pages; else one asking ``poster_facts``); ``review_links(review)`` gives
    the reviewer's page URL for the review data (only when the site builds such pages)."""

    def __init__(self, site: Site,
                 poster_facts: Callable[[str], ImageFacts | None] | None = None,
                 reviewer_url: Callable[[Review], str] | None = None,
                 card: Callable[[Review], Card] | None = None,
                 body_images: BodyImages | None = None) -> None:
        self.site = site
        self._poster_facts = poster_facts or (lambda url: None)
        self._body_images = body_images or BodyImages(self._poster_facts)
        self._reviewer_url = reviewer_url
        self._reviewer_urls: dict[str, str] = {}
        self._card = card or self._make_card
        self._entries: dict[int, tuple[Review, EntryData]] = {}
        #: How many documents still to be rendered carry each review (``expect``), by id.
        self._uses: dict[int, int] = {}
        #: Entries past their last feed, oldest first, kept for their month's archive.
        self._spare: dict[int, None] = {}
        #: Whether an archive was rendered here already: a build shared among processes
        #: renders the archives first (pipeline/rendering.py), and then none is kept for them.
        self._archived = False
        # The digest's words for the same link, so that a translation covers it too.
        self._read_review = html.escape(site.words("read_review"))
        self._watch_trailer = html.escape(site.words("watch_trailer"))
        # Where the review data is documented: the site's feeds page, when it builds pages.
        self._about_data = site.url("feeds/#review-data") if site.pages else ""

    # -- preparing entries -------------------------------------------------------------------

    def _zoned(self, dt: datetime) -> datetime:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.site.tz)
        offset = dt.utcoffset()
        if offset is not None and offset.seconds % 60:
            # Local mean time (a zone before it was standardised, e.g. +00:19:32) has seconds
            # that neither RFC 822 nor RFC 3339 offsets can carry: give such a time in UTC.
            dt = dt.astimezone(UTC)
        return dt.replace(microsecond=0) if dt.microsecond else dt

    def expect(self, feeds: Iterable[Sequence[Review]]) -> None:
        """Announce the feeds ``render`` will be given (their reviews, each to be rendered
        whole): a review's entry is then kept until the last of them that carries it, and let
        go after. A niche tag's feed is often the only one to carry its reviews, and an entry
        with its serialised forms is some 15 KB: kept to the end, the entries of 3,000 reviews
        in 673 tags held 50 MB. Counted down as each document is done; past its last feed an
        entry may still wait for its month's archive (``SPARE_ENTRIES``)."""
        uses = self._uses
        for reviews in feeds:
            for review in reviews:
                uses[id(review)] = uses.get(id(review), 0) + 1

    def entry(self, review: Review, *, keep: bool = True) -> EntryData:
        """The review prepared for feeds, memoised per review object (``keep=False``: not
        kept, for an entry only its month's archive shows: 10,000 kept entries with their
        serialised forms would hold a quarter of a gigabyte)."""
        hit = self._entries.get(id(review))
        if hit is not None and hit[0] is review:
            if not keep and id(review) in self._spare:  # its archive: the last to carry it
                del self._spare[id(review)], self._entries[id(review)]
            return hit[1]
        data = self._prepare(self._card(review))
        if keep:
            self._entries[id(review)] = (review, data)
        return data

    def _make_card(self, review: Review) -> Card:
        facts = None
        if review.poster is not None:
            facts = self._poster_facts(urljoin(self.site.base_url, review.poster.src))
        return review_card(review, self.site.excerpt_words, facts, self.site.words)

    def _prepare(self, card: Card) -> EntryData:
        """The card made valid XML (no illegal characters, zoned dates, absolute URLs) and laid
        out as a feed entry: the film facts above the body, availability below."""
        texts = _cleaned(_Texts(card.id, card.url, card.title, card.summary, card.reviewer,
                                card.director, card.certificate, card.availability, card.cast,
                                card.tags))
        if not texts.author:
            texts = texts._replace(author=xml_safe(self.site.author) or xml_safe(self.site.title))
        title, url, summary, author = texts.title, texts.url, texts.summary, texts.author
        # Escaped for attributes; then for element text, which differs only by quotes.
        attr = _escaped(texts, True)
        text = texts if attr is texts else _escaped(texts, False)
        poster = None
        if card.poster_src:
            poster = PosterInfo(
                url=_joined(self.site.base_url, xml_safe(card.poster_src)),
                type=card.poster_type,
                length=card.poster_length,
                # Alt text made only of characters XML cannot carry is no alt text: say whose
                # poster it is, as the card does for a poster given without one.
                alt=xml_safe(card.poster_alt) or self.site.words("poster_alt", title=title),
                width=card.poster_width,
                height=card.poster_height,
            )
        published = self._zoned(card.published)
        updated = (published if card.updated is card.published  # not updated since
                   else max(self._zoned(card.updated), published))
        published_iso = published.isoformat()
        header = _header_html(card, attr, poster, self.site.words)
        review = card.review
        body = _body_utf8(self._body_images.sized(review.body_html, review.links), url)
        footer = ""
        if card.trailer_url:  # made of a video id: nothing to clean or escape
            footer = (f'\n<p class="trailer"><a href="{card.trailer_url}">'
                      f'{self._watch_trailer}</a></p>')
        if card.availability:
            footer += f'\n<p class="availability">{attr.availability}</p>'
        more = f'\n<p><a href="{attr.url}">{self._read_review}</a></p>'
        short = header + (f"\n<p>{attr.summary}</p>" if summary else "") + more
        return EntryData(
            id=texts.id,
            guid_is_permalink=card.id == card.url,
            url=url,
            title=title,
            summary=summary,
            content_parts=(header + "\n", body, footer),
            short_html=short + footer,
            published=published,
            updated=updated,
            published_iso=published_iso,
            updated_iso=published_iso if updated is published else updated.isoformat(),
            author=author,
            tags=texts.tags,
            poster=poster,
            review_data=self._review_data(card, texts, poster),
            text=text,
            attr=attr,
        )

    def _review_data(self, card: Card, texts: _Texts, poster: PosterInfo | None
                     ) -> dict[str, Any]:
        """The review as data (JSON Feed ``_review``; the same fields as ``review:review``)."""
        data: dict[str, Any] = {}
        if self._about_data:
            data["about"] = self._about_data
        data["version"] = REVIEW_VERSION
        if card.rating is not None:
            data["rating"] = float(card.rating) if card.rating % 1 else int(card.rating)
            data["best_rating"] = 5
            data["worst_rating"] = 0
        reviewer: dict[str, str] = {"name": texts.author}
        if self._reviewer_url is not None:
            # A reviewer's page is the reviewer's: asked once per reviewer, not per review.
            href = self._reviewer_urls.get(card.review.reviewer)
            if href is None:
                href = self._reviewer_urls[card.review.reviewer] = self._reviewer_url(card.review)
            reviewer["url"] = href
        data["reviewer"] = reviewer
        film: dict[str, Any] = {"title": texts.title}
        if card.year:
            film["year"] = card.year
        if texts.director:
            film["director"] = texts.director
        cast = [name for name in texts.cast if name]
        if cast:
            film["cast"] = cast
        if card.runtime:
            film["runtime_minutes"] = card.runtime
        if texts.certificate:
            film["certificate"] = texts.certificate
        if poster is not None:
            image: dict[str, Any] = {"url": poster.url, "type": poster.type, "alt": poster.alt}
            if poster.width and poster.height:
                image["width"], image["height"] = poster.width, poster.height
            if poster.length is not None:
                image["size_in_bytes"] = poster.length
            film["poster"] = image
        if card.trailer_url:
            film["trailer"] = card.trailer_url
        data["film"] = film
        if texts.availability:
            data["availability"] = texts.availability
        return data

    # -- documents ---------------------------------------------------------------------------

    def render(self, reviews: Sequence[Review], *, path: str = "", title: str,
               description: str, paging: Paging | None = None, limit: int | None = None
               ) -> RenderedFeed:
        """RSS, Atom and JSON Feed for ``reviews`` whose files live under ``public/<path>``.

        Entries are newest first, at most ``limit`` (site.feed_limit unless given); if a
        document would exceed MAX_FEED_BYTES the oldest entries are shortened to their header,
        logline and a link (and, if that is not enough, the oldest entries are left out).
        """
        path = _directory(path)
        shown = select(reviews, limit or self.site.feed_limit)
        entries = [self.entry(r) for r in shown]
        try:
            return self._render(entries, path, title, description, paging)
        finally:
            self._release(shown)

    def _release(self, shown: Sequence[Review]) -> None:
        """One document fewer to carry each of ``shown``: an entry none still to come carries
        is let go (one never announced by ``expect`` is kept)."""
        uses, kept, spare = self._uses, self._entries, self._spare
        for review in shown:
            left = uses.get(id(review))
            if left is None:
                continue
            uses[id(review)] = left - 1
            hit = kept.get(id(review))
            if left <= 1 and hit is not None and hit[0] is review:
                if self._archived:
                    del kept[id(review)]
                    continue
                spare[id(review)] = None
                if len(spare) > SPARE_ENTRIES:
                    del kept[next(iter(spare))]
                    del spare[next(iter(spare))]

    def _render(self, entries: list[EntryData], path: str, title: str, description: str,
                paging: Paging | None) -> RenderedFeed:
        title, description = xml_safe(title), xml_safe(description) or xml_safe(title)
        short: set[int] = set()
        count = len(entries)
        while True:
            chosen = [(e, i in short) for i, e in enumerate(entries[:count])]
            files = self._documents(chosen, path, title, description, paging)
            excess = max(len(b) for b in files.values()) - MAX_FEED_BYTES
            if excess <= 0:
                return RenderedFeed(files, shortened=len(short & set(range(count))),
                                    dropped=len(entries) - count)
            # Shorten entries from the oldest up until the estimated saving covers the excess
            # (escaped HTML counted, with a margin), so the newest keep their full text; if
            # every entry is short already, drop the oldest.
            saving = 0
            candidates = [i for i in reversed(range(count)) if i not in short]
            for i in candidates:
                short.add(i)
                saving += (len(_xml_escaped(entries[i].content_utf8()))
                           - len(_xml_escaped(entries[i].short_html.encode("utf-8"))))
                if saving > excess * 1.1:
                    break
            if not candidates:
                count -= max(1, count // 10)

    def render_archive(self, reviews: Sequence[Review], *, path: str, title: str,
                       description: str, paging: Paging, begins: datetime | None = None,
                       ) -> dict[str, bytes]:
        """An RFC 5005 archive document in each format: every review given, newest first, in
        full (no size cap: an archive is complete or it is not an archive). ``begins``: when
        the period it holds began, its date while it holds no review."""
        self._archived = True
        ordered = sorted(reviews, key=lambda r: (r.date, r.slug), reverse=True)
        chosen = [(self.entry(r, keep=False), False) for r in ordered]
        return self._documents(chosen, _directory(path), xml_safe(title),
                               xml_safe(description) or xml_safe(title), paging,
                               empty_since=begins)

    def _documents(self, chosen: list[tuple[EntryData, bool]], path: str, title: str,
                   description: str, paging: Paging | None,
                   empty_since: datetime | None = None) -> dict[str, bytes]:
        site = self.site
        # An archive document belongs to its subscription feed: same page, same id.
        home_dir = paging.current if paging is not None and paging.archive else path
        # Where another site has the pages, nothing is built at a tag's or a reviewer's
        # directory: its feeds link the site, as the site feed does, not a missing page.
        home = site.url(home_dir) if home_dir and site.pages else site.home_url
        # A month without reviews (archives run month after month) has said nothing new since
        # it began: 1970 would be no truer, and reads as a fault.
        updated = max((e.updated for e, _ in chosen),
                      default=self._zoned(empty_since) if empty_since else _EPOCH)
        return {
            "feed.xml": self._rss(chosen, path, title, description, home, updated, paging),
            "atom.xml": self._atom(chosen, path, title, description, home, updated, paging),
            "feed.json": self._json(chosen, path, title, description, home, paging),
        }

    def _links(self, path: str, paging: Paging | None, name: str, kind: str
               ) -> list[tuple[str, str, str]]:
        """(rel, href, type) of a document's self, hub and RFC 5005 links, in that order."""
        site = self.site
        links = [("self", site.url(path + name), kind)]
        if site.feed_hub:
            links.append(("hub", site.feed_hub, ""))
        if paging is not None:
            if paging.archive:
                links.append(("current", site.url(paging.current + name), kind))
            if paging.prev is not None:
                links.append(("prev-archive", site.url(paging.prev + name), kind))
            if paging.next is not None:
                links.append(("next-archive", site.url(paging.next + name), kind))
        return links

    def _stylesheet(self) -> str:
        return (f'<?xml-stylesheet type="text/xsl" '
                f'href="{_attr(self.site.rooted(XSL_PATH))}"?>\n')

    def _rss(self, chosen: list[tuple[EntryData, bool]], path: str, title: str,
             description: str, home: str, updated: datetime, paging: Paging | None) -> bytes:
        site = self.site
        final = paging is not None and paging.archive and paging.closed
        namespaces = _NAMESPACES + (f' xmlns:fh="{HISTORY_NS}"' if final else "")
        out = ["<?xml version='1.0' encoding='UTF-8'?>\n", self._stylesheet(),
               f'<rss {namespaces} version="2.0">\n  <channel>\n',
               f"    <title>{_text(title)}</title>\n",
               f"    <link>{_text(home)}</link>\n",
               f"    <description>{_html_text(description)}</description>\n"]
        if site.icon_url:
            # The image's title and link are the channel's, as RSS 2.0 asks; no width and
            # height, which may not pass 144 × 400 pixels (readers scale the image anyway).
            out.append(f"    <image>\n      <url>{_text(site.icon_url)}</url>\n"
                       f"      <title>{_text(title)}</title>\n      <link>{_text(home)}</link>\n"
                       "    </image>\n")
        for rel, href, kind in self._links(path, paging, "feed.xml", "application/rss+xml"):
            type_attr = f' type="{kind}"' if kind else ""
            out.append(f'    <atom:link href="{_attr(href)}" rel="{rel}"{type_attr}/>\n')
        if final:
            out.append("    <fh:archive/>\n")
        if site.copyright:
            out.append(f"    <copyright>{_text(site.copyright)}</copyright>\n")
        out.append("    <docs>https://www.rssboard.org/rss-specification</docs>\n"
                   f"    <generator>{GENERATOR}</generator>\n"
                   f"    <language>{_text(site.language)}</language>\n"
                   f"    <lastBuildDate>{_rfc822(updated)}</lastBuildDate>\n")
        head = "".join(out).encode("utf-8")
        return b"".join([head, *_joined_parts(chosen, "rss"), b"  </channel>\n</rss>\n"])

    def _atom(self, chosen: list[tuple[EntryData, bool]], path: str, title: str,
              description: str, home: str, updated: datetime, paging: Paging | None) -> bytes:
        site = self.site
        archive = paging is not None and paging.archive
        final = paging is not None and paging.archive and paging.closed
        history = f' xmlns:fh="{HISTORY_NS}"' if final else ""
        author, email = xml_safe(site.author), xml_safe(site.author_email)
        # One logical feed, whichever document of it this is (RFC 5005): the id is the
        # subscription document's URL.
        feed_id = site.url((paging.current if paging is not None and archive else path)
                           + "atom.xml")
        out = ["<?xml version='1.0' encoding='UTF-8'?>\n", self._stylesheet(),
               f'<feed xmlns="http://www.w3.org/2005/Atom" '
               f'xmlns:media="http://search.yahoo.com/mrss/" xmlns:review="{REVIEW_NS}"'
               f'{history} xml:lang="{_attr(site.language)}">\n',
               f"  <id>{_text(feed_id)}</id>\n",
               f"  <title>{_text(title)}</title>\n",
               f"  <updated>{updated.isoformat()}</updated>\n",
               f"  <author>\n    <name>{_text(author or title)}</name>\n"]
        if email:
            out.append(f"    <email>{_text(email)}</email>\n")
        out.append("  </author>\n")
        for rel, href, kind in self._links(path, paging, "atom.xml", "application/atom+xml"):
            type_attr = f' type="{kind}"' if kind else ""
            out.append(f'  <link href="{_attr(href)}" rel="{rel}"{type_attr}/>\n')
        out.append(f'  <link href="{_attr(home)}" rel="alternate" type="text/html"/>\n'
                   f'  <generator version="{_attr(__version__)}">{GENERATOR}</generator>\n')
        if site.icon_url:
            out.append(f"  <icon>{_text(site.icon_url)}</icon>\n")
        if site.copyright:
            out.append(f"  <rights>{_text(site.copyright)}</rights>\n")
        out.append(f"  <subtitle>{_text(description)}</subtitle>\n")
        if final:
            out.append("  <fh:archive/>\n")
        head = "".join(out).encode("utf-8")
        return b"".join([head, *_joined_parts(chosen, "atom"), b"</feed>\n"])

    def _json(self, chosen: list[tuple[EntryData, bool]], path: str, title: str,
              description: str, home: str, paging: Paging | None) -> bytes:
        site = self.site
        archive = paging is not None and paging.archive
        feed: dict[str, Any] = {
            "version": JSONFEED_VERSION,
            "title": title,
            "home_page_url": home,
            # feed_url names the feed, not the page of it (JSON Feed 1.1): every archive page
            # of the site feed names the site feed.
            "feed_url": site.url((paging.current if archive and paging else path)
                                 + "feed.json"),
            "description": description,
            "language": site.language,
            "authors": [{"name": xml_safe(site.author) or title, "url": site.home_url}],
        }
        if site.icon_url:  # one square image for both: readers scale it
            feed["icon"] = feed["favicon"] = site.icon_url
        if site.feed_hub:
            feed["hubs"] = [{"type": "WebSub", "url": site.feed_hub}]
        if paging is not None and paging.prev is not None:
            # JSON Feed pages go from newest to oldest: the next page is the older archive.
            feed["next_url"] = site.url(paging.prev + "feed.json")
        # Compact, as orjson writes it: feed.json is for machines.
        head = orjson.dumps(feed)[:-1] + b',"items":['
        return b"".join([head, *_joined_parts(chosen, "json", b","), b"]}\n"])


def _joined_parts(chosen: list[tuple[EntryData, bool]], fmt: str, between: bytes = b""
                  ) -> list[bytes]:
    """The parts of each chosen entry in ``fmt``, in order, ``between`` each entry's."""
    out: list[bytes] = []
    for e, short in chosen:
        if between and out:
            out.append(between)
        out.extend(e.parts(fmt, short))
    return out


def _directory(path: str) -> str:
    return path.strip("/") + "/" if path.strip("/") else ""


def _xml_escaped(data: bytes) -> bytes:
    """UTF-8 text escaped as XML text (as html.escape with quote=False): escaped after
    encoding, where "&", "<" and ">" are single bytes that no other character's bytes contain,
    at less than half the time of escaping the str (a review's content is several KB)."""
    return data.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")


def _json_escaped(data: bytes) -> bytes:
    """UTF-8 text that XML can carry (no C0 control but tab, LF and CR) as the inside of a JSON
    string, byte for byte as orjson writes it: backslash, quote and those three escaped, all
    else as it is (orjson escapes no other character of such text: not "/", DEL or U+2028;
    tests/render/test_feeds.py holds it to that). 1.8 µs for a body where orjson took 5.2
    on the str, which it encodes to UTF-8 first."""
    return (data.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
            .replace(b"\t", b"\\t").replace(b"\r", b"\\r"))


def _xml_entries(e: EntryData) -> dict[str, tuple[bytes, bytes]]:
    """The entry's RSS ``<item>`` and Atom ``<entry>``, in UTF-8: what comes before the
    content, and after, by format. Made together: they say the same texts, each escaped once.
    The entry's own texts are XML-safe already (``_prepare``), so they are only escaped."""
    text = e.text
    title, entry_id, url_text, author = text.title, text.id, text.url, text.author
    url_attr = e.attr.url
    p = e.poster
    poster_url, poster_type = (_attr(p.url), _attr(p.type)) if p is not None else ("", "")
    review = _review_lines(e.review_data, text, poster_url, poster_type)
    rss = [f"    <item>\n      <title>{title}</title>\n      <link>{url_text}</link>\n"]
    atom = [f"  <entry>\n    <id>{entry_id}</id>\n    <title>{title}</title>\n"
            f"    <updated>{e.updated_iso}</updated>\n"
            f"    <published>{e.published_iso}</published>\n"
            f"    <author>\n      <name>{author}</name>\n    </author>\n"
            f'    <link href="{url_attr}" rel="alternate" type="text/html"/>\n']
    if e.summary:
        summary = text.summary
        # RSS readers take a description as HTML: escaped once more, so "<b>" shows as written.
        rss.append(f"      <description>{_escape(summary, False)}</description>\n"
                   "      <content:encoded>")
        close = "</content:encoded>\n"
    else:
        rss.append("      <description>")
        close = "</description>\n"
    rss_head = "".join(rss).encode()
    permalink = "true" if e.guid_is_permalink else "false"
    rss = [close, f'      <guid isPermaLink="{permalink}">{entry_id}</guid>\n']
    rss.extend(f"      <category>{tag}</category>\n" for tag in text.tags)
    rss.append(f"      <pubDate>{_rfc822(e.published, e.published_iso)}</pubDate>\n"
               f"      <dc:creator>{author}</dc:creator>\n")
    media = []
    if p is not None:
        length = UNKNOWN_LENGTH if p.length is None else p.length
        rss.append(f'      <enclosure url="{poster_url}" length="{length}" '
                   f'type="{poster_type}"/>\n')
        size = f' length="{p.length}"' if p.length is not None else ""
        atom.append(f'    <link href="{poster_url}" rel="enclosure" type="{poster_type}"'
                    f"{size}/>\n")
        size = f' fileSize="{p.length}"' if p.length is not None else ""
        dims = f' width="{p.width}" height="{p.height}"' if p.width and p.height else ""
        media = [f'<media:content url="{poster_url}"{size} type="{poster_type}" '
                 f'medium="image"{dims}/>\n', f'<media:thumbnail url="{poster_url}"{dims}/>\n']
    rss.append("      ".join(["", *media]))
    rss.append(f"      <atom:updated>{e.updated_iso}</atom:updated>\n")
    rss.append("      ".join(["", *review]))
    atom.extend(f'    <category term="{tag}"/>\n' for tag in e.attr.tags)
    if e.summary:
        atom.append(f"    <summary>{summary}</summary>\n")
    atom.append('    <content type="html">')
    atom_tail = "    ".join(["</content>\n", *media, *review]) + "  </entry>\n"
    rss.append("    </item>\n")
    return {"rss": (rss_head, "".join(rss).encode()),
            "atom": ("".join(atom).encode(), atom_tail.encode())}


def _review_lines(data: dict[str, Any], text: _Texts, poster_url: str, poster_type: str
                  ) -> list[str]:
    """``review:review``: the same fields as JSON Feed's ``_review``, as XML: its lines, each
    ending in a line break and indented from the element's own indentation (``_xml_entries``
    starts each at the entry's). Its names and titles are the entry's, escaped (``text``), and
    so are its poster's URL and type."""
    out = [f'<review:review version="{REVIEW_VERSION}">\n']
    if "rating" in data:
        out.append(f'  <review:rating best="{data["best_rating"]}" '
                   f'worst="{data["worst_rating"]}">{data["rating"]}</review:rating>\n')
    reviewer = data["reviewer"]
    href = f' href="{_attr(reviewer["url"])}"' if "url" in reviewer else ""
    out.append(f'  <review:reviewer{href}>{text.author}</review:reviewer>\n')
    film = data["film"]
    out.append("  <review:film>\n")
    out.append(f"    <review:title>{text.title}</review:title>\n")
    if "year" in film:
        out.append(f"    <review:year>{film['year']}</review:year>\n")
    if "director" in film:
        out.append(f"    <review:director>{text.director}</review:director>\n")
    out.extend(f"    <review:cast>{name}</review:cast>\n" for name in text.cast if name)
    if "runtime_minutes" in film:
        out.append(f"    <review:runtime>{film['runtime_minutes']}</review:runtime>\n")
    if "certificate" in film:
        out.append(f"    <review:certificate>{text.certificate}"
                   "</review:certificate>\n")
    poster = film.get("poster")
    if poster is not None:
        attrs = f'href="{poster_url}" type="{poster_type}"'
        if "width" in poster:
            attrs += f' width="{poster["width"]}" height="{poster["height"]}"'
        if "size_in_bytes" in poster:
            attrs += f' length="{poster["size_in_bytes"]}"'
        out.append(f"    <review:poster {attrs}>{_text(poster['alt'])}</review:poster>\n")
    if "trailer" in film:
        out.append(f'    <review:trailer href="{film["trailer"]}"/>\n')
    out.append("  </review:film>\n")
    if "availability" in data:
        out.append(f"  <review:availability>{text.availability}"
                   "</review:availability>\n")
    out.append("</review:review>\n")
    return out


def _json_item(e: EntryData) -> tuple[bytes, bytes]:
    """The entry as a JSON Feed item, in UTF-8: what comes before its ``content_html`` string,
    and after. orjson, not json: with ensure_ascii=False the standard encoder took 30 µs for an
    item that orjson writes in 1.3. orjson writes a dict's members in order, each
    ``"key":value``, with a comma between and no space anywhere: the two halves are two
    dicts' members (a test holds them to one dict's)."""
    head = orjson.dumps({"id": e.id, "url": e.url, "title": e.title})
    item: dict[str, Any] = {}
    if e.summary:
        item["summary"] = e.summary
    if e.poster is not None:
        item["image"] = e.poster.url
    item["date_published"] = e.published_iso
    item["date_modified"] = e.updated_iso
    item["authors"] = [{"name": e.author}]
    if e.tags:
        item["tags"] = list(e.tags)
    item["_review"] = e.review_data
    return head[:-1] + b',"content_html":', b"," + orjson.dumps(item)[1:]


@functools.cache  # once per publication's words, not once per entry
def _fact_openings(words: Words) -> dict[str, str]:
    # The colon is the language's ("Année :" in French): the plain-text digest's ``label``.
    return {key: f"<li><strong>{html.escape(words('label', label=words(key)))}</strong> "
            for key in ("year", "director", "cast", "runtime", "certificate")}


@functools.cache  # once per running time (a few hundred), not once per entry
def _minutes(words: Words, minutes: int) -> str:
    return html.escape(words("minutes", minutes=minutes))


def _header_html(card: Card, attr: _Texts, poster: PosterInfo | None, words: Words) -> str:
    """The block above the review: film facts, rating as stars and in words, poster (``attr``:
    the entry's texts escaped with quotes)."""
    openings = _fact_openings(words)
    facts = []
    if card.year:
        facts.append(f"{openings['year']}{card.year}</li>")
    if card.director:
        facts.append(f"{openings['director']}{attr.director}</li>")
    if card.cast:
        facts.append(f"{openings['cast']}{', '.join(attr.cast)}</li>")
    if card.runtime:
        facts.append(f"{openings['runtime']}{_minutes(words, card.runtime)}</li>")
    if card.certificate:
        facts.append(f"{openings['certificate']}{attr.certificate}</li>")
    parts = ['<div class="review-header">']
    if facts:
        parts.append(f'<ul class="film">{"".join(facts)}</ul>')
    if card.rating_text:
        parts.append(_rating_html(card.stars, card.rating_text))
    if poster is not None:
        alt = _escape(poster.alt)
        dims = (f' width="{poster.width}" height="{poster.height}"'
                if poster.width and poster.height else "")
        parts.append(f'<p class="poster"><img src="{_escape(poster.url)}" '
                     f'alt="{alt}"{dims}></p>')
    parts.append("</div>")
    return "\n".join(parts)


@functools.cache  # once per rating (eleven), not once per entry
def _rating_html(stars: str, rating_text: str) -> str:
    said = _escape(rating_text)  # a translation's words: escaped like a name
    shown = f"{stars} — {said}" if stars else said  # 0: no stars
    return f'<p class="rating" title="{said}">{shown}</p>'


def render_feeds(reviews: Sequence[Review], *, site: Site, path: str = "", title: str,
                 description: str) -> dict[str, bytes]:
    """{"feed.xml", "atom.xml", "feed.json"} for a feed whose files live under public/<path>;
    reviews newest first, limited to site.feed_limit, each document under MAX_FEED_BYTES."""
    return FeedRenderer(site).render(reviews, path=path, title=title,
                                     description=description).files
