"""RSS 2.0, Atom 1.0 (via feedgen 1.0.0) and JSON Feed 1.1 (via json) for a set of reviews.

feedgen 1.0.0 is unmaintained and makes invalid feeds unless worked around; every trap is handled
here, and only here (each has a test in tests/test_feeds.py):

* ``FeedEntry.enclosure()`` adds an entry link whose rel/type/length Atom then drops (the entry
  gains a second rel-less "alternate" link: invalid). We never call it: posters go out as
  media:content / media:thumbnail (media extension), plus our own extension writing a complete
  ``<link rel="enclosure">`` in Atom and ``<enclosure url length type>`` in RSS.
* ``content(type="CDATA")`` writes ``type="CDATA"`` into Atom (invalid): we use ``type="html"``.
* The RSS channel ``<link>`` is whichever link was added last: the site link is added last.
* RSS writes only the first self link and drops hub (and archive) links: our channel extension
  adds them as atom:link; and because RSS and Atom live at different URLs, the self link is set
  per format before each is rendered (a self link must match the document's location).
* Feed and entry dates default to the clock: every date is set, the channel's to the newest
  entry's updated time (the Unix epoch for an empty feed), never the clock.
* ``add_entry()`` prepends: we pass ``order="append"``.
* Naive datetimes and XML-illegal control characters raise: dates without a zone get the
  publication's, and every string is cleaned first.
* An Atom feed without an author is not caught (invalid when an entry has none): the feed always
  has one (the site's author, else the publication title) and every entry has its reviewer.
* RSS ``<description>`` (the channel's and an item's) is HTML to readers, but feedgen writes the
  Atom subtitle's and summary's plain text into it: a tag named "<i>noir</i>" or a logline
  "Fast & Furious <Extended Cut>" became markup. Text goes into RSS descriptions HTML-escaped
  (the channel's by our extension, an item's with ``description()``, which RSS alone reads).

What an entry shows of its review comes from the review's card (``card.Card``), the same one the
digest and the archive show; this module only makes it valid XML and lays it out for feeds.
"""

from __future__ import annotations

import heapq
import html
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml.etree import SubElement

from .. import __version__
from ..models import Review
from ..text import xml_safe
from .card import Card, review_card
from .site import Site

#: The three files every feed directory holds.
FEED_FILES = ("feed.xml", "atom.xml", "feed.json")

#: Each feed document stays under this many bytes (the main feed must stay under 1 MB).
MAX_FEED_BYTES = 1_000_000

#: RSS requires an enclosure length in bytes and the W3C validator rejects 0 (which the RSS
#: Best Practices Profile suggests for an unknown size), so a poster whose size cannot be known
#: (a remote URL, or a file missing from static/) is given this placeholder. Atom and media:content
#: simply leave the size out.
UNKNOWN_LENGTH = 1

JSONFEED_VERSION = "https://jsonfeed.org/version/1.1"
GENERATOR = "publisher"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ATOM_NS = "http://www.w3.org/2005/Atom"

_URL_ATTR = re.compile(r'(\s(?:href|src)=")([^"]*)(")')
_SRCSET_ATTR = re.compile(r'(\ssrcset=")([^"]*)(")')

_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
}


def absolutise(fragment: str, base: str) -> str:
    """Make every href, src and srcset URL in an HTML fragment absolute against ``base``
    (many readers and RSS-to-email services ignore xml:base)."""

    def one(url: str) -> str:
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

    if "=" not in fragment:
        return fragment
    return _SRCSET_ATTR.sub(srcset, _URL_ATTR.sub(attr, fragment))


def select(reviews: Sequence[Review], limit: int) -> list[Review]:
    """The reviews a feed carries: newest first (by date, then slug), at most ``limit``."""
    return heapq.nlargest(limit, reviews, key=lambda r: (r.date, r.slug))


@dataclass(frozen=True)
class PosterInfo:
    """A poster as feeds describe it: absolute URL, MIME type, byte size when known, alt text."""

    url: str
    type: str
    length: int | None
    alt: str


@dataclass(frozen=True)
class EntryData:
    """One review prepared for every feed format: cleaned, zoned, rendered once."""

    id: str
    guid_is_permalink: bool
    url: str
    title: str
    summary: str
    content_html: str
    published: datetime
    updated: datetime
    author: str
    tags: tuple[str, ...]
    poster: PosterInfo | None
    short_html: str  # content with the body replaced by the logline, for oversize feeds


@dataclass(frozen=True)
class RenderedFeed:
    """A feed's files (name → bytes) and how much had to be cut to stay under MAX_FEED_BYTES."""

    files: dict[str, bytes]
    shortened: int = 0  # entries whose body was replaced by the logline and a link
    dropped: int = 0  # oldest entries left out entirely


class _ChannelLinks(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    """Feed-level extension: atom:link elements RSS would otherwise drop (hub, archives, ...),
    and the channel description escaped as the HTML RSS readers take it for."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_rss(self, feed: Any) -> Any:
        channel = feed.find("channel")
        description = channel.find("description")
        if description is not None and description.text:  # plain text, in a field of HTML
            description.text = html.escape(description.text, quote=False)
        for link in self.links:
            SubElement(channel, f"{{{_ATOM_NS}}}link", link)
        return feed


class _PosterEntry(BaseEntryExtension):  # type: ignore[misc]  # feedgen is untyped
    """Entry-level extension: the poster enclosure done right in both formats, and the entry's
    updated time in RSS (which has no element for it: atom:updated, as readers understand).

    (The poster's alt text goes into the content's <img>, not media:description: feedparser
    would take that for the entry's summary.)
    """

    def __init__(self) -> None:
        self.poster: PosterInfo | None = None
        self.updated: datetime | None = None

    def extend_atom(self, entry: Any) -> Any:
        p = self.poster
        if p is not None:
            attrs = {"rel": "enclosure", "href": p.url, "type": p.type}
            if p.length is not None:
                attrs["length"] = str(p.length)
            # feedgen writes Atom elements unqualified under a literal xmlns attribute; a
            # qualified element here would get a stray prefix.
            SubElement(entry, "link", attrs)
        return entry

    def extend_rss(self, item: Any) -> Any:
        p = self.poster
        if p is not None:
            length = p.length if p.length is not None else UNKNOWN_LENGTH
            SubElement(item, "enclosure", url=p.url, length=str(length), type=p.type)
        if self.updated is not None:
            SubElement(item, f"{{{_ATOM_NS}}}updated").text = self.updated.isoformat()
        return item


class FeedRenderer:
    """Renders feeds for one publication, preparing each review once however many feeds carry it.

    ``poster_length(url)`` gives a poster's byte size or None; by default a URL under base_url is
    looked up as ``site.static/<path>``.
    """

    def __init__(self, site: Site,
                 poster_length: Callable[[str], int | None] | None = None) -> None:
        self.site = site
        self._poster_length = poster_length or self.static_poster_length
        self._entries: dict[int, tuple[Review, EntryData]] = {}

    # -- preparing entries -------------------------------------------------------------------

    def static_poster_length(self, url: str) -> int | None:
        """Byte size of a poster served from the publication's static/ directory, else None."""
        base = self.site.base_url
        if not url.startswith(base):
            return None
        rel = PurePosixPath(unquote(urlsplit(url[len(base):]).path))  # "my%20poster.png"
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            return None
        try:
            return (self.site.static / rel).stat().st_size
        except OSError:
            return None

    def _zoned(self, dt: datetime) -> datetime:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.site.tz)
        offset = dt.utcoffset()
        if offset is not None and offset.seconds % 60:
            # Local mean time (a zone before it was standardised, e.g. +00:19:32) has seconds
            # that neither RFC 822 nor RFC 3339 offsets can carry: give such a time in UTC.
            dt = dt.astimezone(UTC)
        return dt.replace(microsecond=0)

    def entry(self, review: Review) -> EntryData:
        """The review prepared for feeds (memoised per review object)."""
        hit = self._entries.get(id(review))
        if hit is not None and hit[0] is review:
            return hit[1]
        data = self._prepare(review_card(review, self.site.excerpt_words))
        self._entries[id(review)] = (review, data)
        return data

    def _prepare(self, card: Card) -> EntryData:
        """The card made valid XML (no illegal characters, zoned dates, absolute URLs) and laid
        out as a feed entry: the film facts above the body, availability below."""
        title = xml_safe(card.title)
        poster = None
        if card.poster_src:
            src = urljoin(self.site.base_url, xml_safe(card.poster_src))
            suffix = PurePosixPath(urlsplit(src).path).suffix.lower()
            poster = PosterInfo(
                url=src,
                type=_IMAGE_TYPES.get(suffix, "application/octet-stream"),
                length=self._poster_length(src),
                # Alt text made only of characters XML cannot carry is no alt text: say whose
                # poster it is, as the card does for a poster given without one.
                alt=xml_safe(card.poster_alt) or f"Poster for {title}",
            )
        url = xml_safe(card.url)
        published = self._zoned(card.published)
        updated = max(self._zoned(card.updated), published)
        summary = xml_safe(card.summary)
        header = _header_html(card, poster)
        body = absolutise(xml_safe(card.review.body_html), url)
        footer = ""
        if card.availability:
            footer = f'\n<p class="availability">{html.escape(xml_safe(card.availability))}</p>'
        more = (f'\n<p><a href="{html.escape(url)}">Read the full review of '
                f"{html.escape(title)}</a></p>")
        short = header + (f"\n<p>{html.escape(summary)}</p>" if summary else "") + more
        return EntryData(
            id=xml_safe(card.id),
            guid_is_permalink=card.id == card.url,
            url=url,
            title=title,
            summary=summary,
            content_html=header + "\n" + body + footer,
            published=published,
            updated=updated,
            author=(xml_safe(card.reviewer) or xml_safe(self.site.author)
                    or xml_safe(self.site.title)),
            tags=tuple(t for t in (xml_safe(t) for t in card.tags) if t),
            poster=poster,
            short_html=short + footer,
        )

    # -- feeds -------------------------------------------------------------------------------

    def render(self, reviews: Sequence[Review], *, path: str = "", title: str,
               description: str) -> RenderedFeed:
        """RSS, Atom and JSON Feed for ``reviews`` whose files live under ``public/<path>``.

        Entries are newest first, at most site.feed_limit; if a document would exceed
        MAX_FEED_BYTES the oldest entries are shortened to their header, logline and a link
        (and, if that is not enough, the oldest entries are left out).
        """
        path = path.strip("/") + "/" if path.strip("/") else ""
        entries = [self.entry(r) for r in select(reviews, self.site.feed_limit)]
        title, description = xml_safe(title), xml_safe(description) or xml_safe(title)
        short: set[int] = set()
        count = len(entries)
        while True:
            chosen = [(e.short_html if i in short else e.content_html, e)
                      for i, e in enumerate(entries[:count])]
            rss, atom = self._xml(chosen, path, title, description)
            files = {"feed.xml": rss, "atom.xml": atom,
                     "feed.json": self._json(chosen, path, title, description)}
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
                saving += (len(_xml_escaped(entries[i].content_html))
                           - len(_xml_escaped(entries[i].short_html)))
                if saving > excess * 1.1:
                    break
            if not candidates:
                count -= max(1, count // 10)

    def _links(self, path: str) -> tuple[str, str, str]:
        home = self.site.url(path) if path else self.site.base_url
        return home, self.site.url(path + "feed.xml"), self.site.url(path + "atom.xml")

    def _xml(self, chosen: list[tuple[str, EntryData]], path: str, title: str,
             description: str) -> tuple[bytes, bytes]:
        """(RSS, Atom) from one FeedGenerator: only the channel links differ between them."""
        site = self.site
        home, rss_url, atom_url = self._links(path)
        fg = FeedGenerator()
        fg.load_extension("media", atom=True, rss=True)
        fg.load_extension("dc", atom=False, rss=True)  # dc:creator: RSS <author> needs an email
        fg.register_extension("publisher", _ChannelLinks, _PosterEntry, atom=True, rss=True)
        fg.id(atom_url)
        fg.title(title)
        fg.description(description)
        fg.subtitle(description)
        fg.language(site.language)
        fg.generator(GENERATOR, version=__version__)
        author = {"name": xml_safe(site.author) or title}
        if site.author_email:
            author["email"] = xml_safe(site.author_email)
        fg.author(author)
        if site.copyright:
            fg.rights(xml_safe(site.copyright))
        fg.updated(max((e.updated for _, e in chosen), default=_EPOCH))
        if site.feed_hub:
            fg.publisher.links = [{"href": site.feed_hub, "rel": "hub"}]
        for content, e in chosen:
            fe = fg.add_entry(order="append")
            fe.guid(e.id, permalink=e.guid_is_permalink)
            fe.title(e.title)
            fe.link(href=e.url, rel="alternate", type="text/html")
            fe.published(e.published)
            fe.updated(e.updated)
            fe.author(name=e.author)
            fe.dc.dc_creator(e.author)
            for tag in e.tags:
                fe.category(term=tag)
            if e.summary:
                fe.summary(e.summary)  # Atom: type="text"
                fe.description(html.escape(e.summary, quote=False))  # RSS: HTML
            fe.content(content, type="html")
            fe.publisher.updated = e.updated
            if e.poster is not None:
                media: dict[str, Any] = {"url": e.poster.url, "type": e.poster.type,
                                         "medium": "image", "group": None}
                if e.poster.length is not None:
                    media["fileSize"] = str(e.poster.length)
                fe.media.content(media)
                fe.media.thumbnail({"url": e.poster.url, "group": None})
                fe.publisher.poster = e.poster
        out = []
        for self_url, self_type in ((rss_url, "application/rss+xml"),
                                    (atom_url, "application/atom+xml")):
            # Each format's self link is its own URL. Order matters: RSS takes its channel
            # <link> from the link added last, so the site link goes last.
            fg.link(href=self_url, rel="self", type=self_type, replace=True)
            if site.feed_hub:
                fg.link(href=site.feed_hub, rel="hub")
            fg.link(href=home, rel="alternate", type="text/html")
            out.append(fg.rss_str(pretty=True) if self_type.endswith("rss+xml")
                       else fg.atom_str(pretty=True))
        return out[0], out[1]

    def _json(self, chosen: list[tuple[str, EntryData]], path: str, title: str,
              description: str) -> bytes:
        site = self.site
        home, _, _ = self._links(path)
        feed: dict[str, Any] = {
            "version": JSONFEED_VERSION,
            "title": title,
            "home_page_url": home,
            "feed_url": site.url(path + "feed.json"),
            "description": description,
            "language": site.language,
            "authors": [{"name": xml_safe(site.author) or title, "url": site.base_url}],
        }
        if site.feed_hub:
            feed["hubs"] = [{"type": "WebSub", "url": site.feed_hub}]
        items = []
        for content, e in chosen:
            item: dict[str, Any] = {
                "id": e.id,
                "url": e.url,
                "title": e.title,
                "content_html": content,
            }
            if e.summary:
                item["summary"] = e.summary
            if e.poster is not None:
                item["image"] = e.poster.url
            item["date_published"] = e.published.isoformat()
            item["date_modified"] = e.updated.isoformat()
            item["authors"] = [{"name": e.author}]
            if e.tags:
                item["tags"] = list(e.tags)
            items.append(item)
        feed["items"] = items
        # Compact: the C encoder only serves indent=None, and feed.json is for machines.
        return (json.dumps(feed, ensure_ascii=False) + "\n").encode("utf-8")


def _xml_escaped(text: str) -> bytes:
    return html.escape(text, quote=False).encode("utf-8")


def _header_html(card: Card, poster: PosterInfo | None) -> str:
    """The block above the review: film facts, rating as stars and in words, poster."""
    facts = []
    if card.year:
        facts.append(f"<li><strong>Year:</strong> {card.year}</li>")
    if card.director:
        facts.append(f"<li><strong>Director:</strong> {html.escape(xml_safe(card.director))}</li>")
    if card.cast:
        cast = ", ".join(html.escape(xml_safe(name)) for name in card.cast)
        facts.append(f"<li><strong>Cast:</strong> {cast}</li>")
    if card.runtime:
        facts.append(f"<li><strong>Runtime:</strong> {card.runtime} minutes</li>")
    if card.certificate:
        facts.append(f"<li><strong>Certificate:</strong> "
                     f"{html.escape(xml_safe(card.certificate))}</li>")
    parts = ['<div class="review-header">']
    if facts:
        parts.append('<ul class="film">' + "".join(facts) + "</ul>")
    if card.rating_text:
        words = card.rating_text
        shown = f"{card.stars} — {words}" if card.stars else words  # 0: no stars
        parts.append(f'<p class="rating" title="{words}">{shown}</p>')
    if poster is not None:
        alt = html.escape(poster.alt, quote=True)
        parts.append(f'<p class="poster"><img src="{html.escape(poster.url, quote=True)}" '
                     f'alt="{alt}"></p>')
    parts.append("</div>")
    return "\n".join(parts)


def render_feeds(reviews: Sequence[Review], *, site: Site, path: str = "", title: str,
                 description: str) -> dict[str, bytes]:
    """{"feed.xml", "atom.xml", "feed.json"} for a feed whose files live under public/<path>;
    reviews newest first, limited to site.feed_limit, each document under MAX_FEED_BYTES."""
    return FeedRenderer(site).render(reviews, path=path, title=title,
                                     description=description).files

