"""The site's pages: one per review, the home page, indexes of reviews, reviewers and tags,
404, subscribe, the feeds page, the stylesheet, the feeds' XSLT, the sitemap and robots.txt.

Pages are Jinja templates in ``templates/`` like the digest (``review.html.j2``,
``home.html.j2``, ``list.html.j2``, …, all extending ``_page.html.j2``), overridable by name.
Each template is compiled once per build; each review's card and its list item are made once,
however many pages show them. Pages hold no clock and no personal data: the same reviews give
the same bytes. Every URL is absolute (under base_url), so a page works wherever it is served,
404.html included.

Where things live (paths under the output directory):

    index.html                      the latest reviews
    <permalink>index.html           each review (feeds.permalink, "reviews/{slug}/" by default)
    reviews/, reviews/page/<n>/     every review, newest first, site.per_page to a page
    reviewers/, reviewers/<slug>/   every reviewer; each one's reviews (beside their feeds)
    tags/, tags/<slug>/             every tag; each one's reviews
    feeds/                          every feed, the archives, the review data
    404.html, site.css, feed.xsl, sitemap.xml, robots.txt
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import html
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import orjson
from markupsafe import Markup

from ..errors import TemplateError
from ..models import ImageFacts, Review, SitePage
from ..text import collation_key, slugify, stars
from .card import Card, review_card, review_json_ld, script_json
from .digest import publication_context
from .engine import (
    Fields,
    OutputTemplate,
    refuse_malformed_xml,
    render_template,
    safe_text,
    template_environment,
    template_file,
)
from .feeds import REVIEW_NS
from .images import BodyImages
from .related import Related
from .site import Site
from .words import InlineWords

#: How cmark opens a body's footnotes (sources/markdown.py), once, at the body's end.
_FOOTNOTES_SECTION = '<section class="footnotes" data-footnotes>'

#: A sitemap holds at most this many URLs and bytes, uncompressed (sitemaps.org; Google
#: refuses a bigger file); more go into several, under an index.
SITEMAP_LIMIT = 50_000
SITEMAP_BYTES = 50 * 1024 * 1024

#: The image formats a link preview shows: X documents these four ("SVG is not supported";
#: no AVIF either), and Facebook, LinkedIn, Slack, Discord, iMessage, WhatsApp and Mastodon
#: read no SVG or ICO. An image of another is not offered (a page shared with an SVG had no
#: image anywhere); a remote poster whose address names no format (application/octet-stream)
#: is left to them.
PREVIEW_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp",
                           "application/octet-stream"})
#: The smallest image X shows in its large card (summary_large_image), width and height: one
#: smaller, and the card goes without an image; the small card ("summary") shows it.
LARGE_CARD_MINIMUM = (300, 157)
#: A list of reviewers or tags longer than this starts with links to where each letter
#: starts: 50 names are two screens of a phone; 2,000 tags were 87.
LETTERS_FROM = 50

#: The search page, and the index its script searches (``[site] search``).
SEARCH_PATH = "search/"
SEARCH_INDEX = "search.json"


def page_file(url: str, site: Site) -> str | None:
    """The file under the output directory that serves ``url``, when publisher builds it: a
    URL under base_url ending in "/" is <path>/index.html, one ending in ".html" that file.
    None for any other URL (another site's, or one no static server maps to a page)."""
    if not site.pages or not url.startswith(site.base_url):
        return None
    rel = url[len(site.base_url):].split("#")[0].split("?")[0]
    if rel == "" or rel.endswith("/"):
        return rel + "index.html"
    if rel.endswith((".html", ".htm")):
        return rel
    return None


def poster_image(card: Card) -> Fields | None:
    """The review's poster as a page's head names it for link previews, or None."""
    if not card.poster_src:
        return None
    return Fields(url=card.poster_src, alt=card.poster_alt, type=card.poster_type,
                  width=card.poster_width, height=card.poster_height)


def shared_icon(site: Site, facts: Callable[[str], ImageFacts | None]) -> Fields | None:
    """The publication's icon as the image a link to a page without one of its own shows, or
    None when it has none that previews show (an SVG or ICO). Its size is read from its file
    (``facts``), as a poster's is: Facebook shows an image on a link's first share only when
    og:image:width and height give it."""
    if not site.icon_url or site.icon_type not in PREVIEW_TYPES:
        return None
    icon = facts(site.icon_url)
    return Fields(url=site.icon_url, alt=site.title, type=site.icon_type,
                  width=icon.width if icon else None, height=icon.height if icon else None)


def shared_image(image: Fields | None, icon: Fields | None) -> tuple[Fields | None, str]:
    """The image a link to a page shows (``image``, the page's own: url, alt, type, width,
    height; or None) and the X card it asks for. A page without an image of its own that
    previews show (an index, a review without a poster, or with an SVG one) is shared with
    ``icon``, in the small card a square image suits; so is one whose image is known to be too
    small for the large."""
    if image is None or image.type not in PREVIEW_TYPES:
        return icon, "summary"
    large = (image.width is None or image.height is None
             or (image.width >= LARGE_CARD_MINIMUM[0] and image.height >= LARGE_CARD_MINIMUM[1]))
    return image, "summary_large_image" if large else "summary"


def index_path(kind: str, slug: str = "", number: int = 1) -> str:
    """The directory (under base_url) of page ``number`` of an index: "reviews/",
    "reviewers/<slug>/", "tags/<slug>/page/3/"."""
    base = f"{kind}/{slug}/" if slug else f"{kind}/"
    return base if number == 1 else f"{base}page/{number}/"


def year_pages(reviews: Sequence[Review], per_page: int,
               tz: ZoneInfo) -> tuple[tuple[int, int], ...]:
    """(year, page) for each year ``reviews`` (newest first, per_page to a page) have a review
    in, newest first: the page its newest review is on. Years are the site's (``tz``), as the
    lists date their reviews; a year with none is left out. Each year's start is looked up,
    not each review's year: an index of 3,000 reviews costs a few dozen comparisons."""
    if not reviews:
        return ()
    newest, oldest = reviews[0].date.astimezone(tz).year, reviews[-1].date.astimezone(tz).year

    def start(year: int) -> int:
        # The first review dated before ``year`` began: the dates fall as the index goes on.
        began = datetime(year, 1, 1, tzinfo=tz).timestamp()
        return bisect.bisect_right(reviews, -began, key=lambda r: -r.date.timestamp())

    found = []
    end = start(newest + 1)
    for year in range(newest, oldest - 1, -1):
        first, end = end, start(year)
        if first < end:
            found.append((year, first // per_page + 1))
    return tuple(found)


@dataclass(frozen=True)
class Term:
    """A reviewer or a tag as the indexes show it."""

    kind: str  # "reviewers" or "tags"
    slug: str
    name: str  # as the newest review spells it
    reviews: tuple[Review, ...]  # newest first


class _Cards(Sequence[Card]):
    """The cards of ``reviews``, each made when a template first reads it: the default home
    and index templates lay out the items and never do, and in the process that renders the
    indexes a card is mostly not made yet (its reviews' pages were another's)."""

    def __init__(self, card: Callable[[Review], Card], reviews: Sequence[Review]):
        self._card = card
        self._reviews = reviews

    def __len__(self) -> int:
        return len(self._reviews)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._card(review) for review in self._reviews[index]]
        return self._card(self._reviews[index])


def films_reviewed_twice(reviews: Iterable[Review]) -> frozenset[tuple[str, int | None]]:
    """The films, as (title, year), that more than one of ``reviews`` is of: their items in
    the lists name the reviewer as well (review_item.html.j2). Of the whole site, not of one
    list: an item is rendered once and shown on every list (``PageRenderer.item``)."""
    films = Counter((review.title, review.film.year) for review in reviews)
    return frozenset(film for film, count in films.items() if count > 1)


class PageRenderer:
    """Renders the pages of one publication. ``poster_facts(url)`` gives a poster file's size
    and dimensions (or None); ``body_images`` the image files of a body and their facts (one
    the build shares with the feeds; else one asking ``poster_facts``); ``issues`` says
    whether the newsletter archive (issues/) exists, ``menu`` which of the site's own pages
    are named in the navigation (each one marked ``footer`` in the footer as well), and
    ``reviewed_twice`` which films more than one review is of (``films_reviewed_twice``)."""

    def __init__(self, site: Site, *,
                 poster_facts: Callable[[str], ImageFacts | None] | None = None,
                 body_images: BodyImages | None = None,
                 issues: bool = False, menu: Sequence[SitePage] = (),
                 reviewed_twice: frozenset[tuple[str, int | None]] = frozenset()) -> None:
        self.site = site
        self.menu = tuple(menu)
        self.reviewed_twice = reviewed_twice
        self._poster_facts = poster_facts or (lambda url: None)
        self._body_images = body_images or BodyImages(self._poster_facts)
        # Templates do not change during a build: no file check on each render (the extends
        # of each page would stat its parent every time), and a dict for a cache (a page's
        # extends looks its parent up there: 1.1 µs, against 2.7 in Jinja's locked LRU cache).
        self._env = template_environment(site.templates).overlay(
            auto_reload=False, cache_size=-1, extensions=[InlineWords])
        self._env.template_class = OutputTemplate
        self._env.extend(words=site.words)  # InlineWords writes them into the templates
        #: Each template compiled, with its globals as one dict (see _render).
        self._templates: dict[str, tuple[jinja2.Template, dict[str, Any]]] = {}
        self._cards: dict[int, tuple[Review, Card]] = {}
        self._items: dict[int, tuple[Review, Markup]] = {}
        # What many review pages show alike, made once: a tag's link, a related review's
        # entry (at 10,000 reviews, 38,000 entries on the pages and 1,200 different ones).
        self._tag_links: dict[str, Fields] = {}
        self._related: dict[tuple[int, str], tuple[Review, Fields]] = {}
        self._dated: dict[tuple[datetime, datetime], dict[str, str]] = {}  # item and page
        self.issues = issues
        self.css = self._render("site.css.j2", publication_context(site)).encode("utf-8")
        css_hash = hashlib.blake2b(self.css, digest_size=4).hexdigest()
        self._shared = self._shared_context(f"{site.url('site.css')}?v={css_hash}")
        self._icon = shared_icon(site, self._poster_facts)

    # -- the pieces every page shares --------------------------------------------------------

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        """One template, compiled once per renderer (Jinja's own cache would stat the file on
        every call). A template error is raised as TemplateError naming file and line."""
        return "".join(self._pieces(name, context))

    def _render_utf8(self, name: str, context: Mapping[str, Any]) -> bytes:
        """``_render(name, context).encode("utf-8")``, each piece the template writes encoded
        by itself: a page holding one character above U+00FF (a star, a curly quote, an arrow)
        is one text of two bytes a character, whose encoding is a loop over every character;
        an ASCII piece is copied as it is."""
        return _utf8_join(self._pieces(name, context))

    def _pieces(self, name: str, context: Mapping[str, Any]) -> list[str]:
        """What the template writes, in the pieces it yields (a join would list them anyway)."""
        try:
            found = self._templates.get(name)
            if found is None:
                template = self._env.get_template(name)
                found = self._templates[name] = (template, dict(template.globals))
            template, template_globals = found
            # What Template.render does, but with the template's globals (a ChainMap, which
            # render flattens key by key every time: pallets/jinja#2185) flattened once:
            # 15-20 µs a render, about a third of a list item's. The context is given the
            # flat dict too, of which it takes the set of keys (from the ChainMap, 10,000
            # instructions: 1.6 % of a review page).
            values = {**template_globals, **context}
            return list(template.root_render_func(jinja2.runtime.new_context(
                template.environment, template.name, template.blocks, values, True,
                template_globals)))
        except Exception:  # noqa: BLE001 - told apart (template's or a bug) just below
            pass
        # Again through the engine, which turns the error into a TemplateError that names the
        # template's file and line.
        render_template(self.site.templates, name, context)
        raise TemplateError(f"{name}: failed to render")  # pragma: no cover - raised above

    def _shared_context(self, css_url: str) -> dict[str, Any]:
        """What every page's template is given, the parts that are the same on every page
        (head lines, header, subscribe box, footer) already rendered."""
        site = self.site
        context = publication_context(site)
        words = site.words
        nav = [{"label": words("nav_reviews"), "url": site.url("reviews/"), "key": "reviews"},
               {"label": words("reviewers"), "url": site.url("reviewers/"), "key": "reviewers"},
               {"label": words("tags"), "url": site.url("tags/"), "key": "tags"}]
        if site.search:
            nav.append({"label": words("search"), "url": site.url(SEARCH_PATH), "key": "search"})
        if self.issues:
            nav.append({"label": words("nav_newsletter"), "url": site.url("issues/"),
                        "key": "issues"})
        nav.extend({"label": page.menu, "url": page.url, "key": f"page:{page.slug}"}
                   for page in self.menu if page.menu)
        nav.append({"label": words("subscribe_link"), "url": site.subscribe_url,
                    "key": "subscribe"})
        title = site.title
        context.update({
            "publication": title,
            "newsletter": site.newsletter_name,
            "description": site.description,
            "css_url": css_url,
            "nav": nav,
            "subscribe_action": site.subscribe_action,
            "feeds_url": site.url("feeds/") if site.pages else "",
            "site_feeds": [{"label": "RSS", "url": site.url("feed.xml")},
                           {"label": "Atom", "url": site.url("atom.xml")},
                           {"label": "JSON Feed", "url": site.url("feed.json")}],
            "site_feed_links": [
                {"type": "application/rss+xml", "title": f"{title} (RSS)",
                 "url": site.url("feed.xml")},
                {"type": "application/atom+xml", "title": f"{title} (Atom)",
                 "url": site.url("atom.xml")},
                {"type": "application/feed+json", "title": f"{title} (JSON Feed)",
                 "url": site.url("feed.json")}],
            "copyright": site.copyright,
            "footer_links": [{"label": page.menu or page.title, "url": page.url}
                             for page in self.menu if page.footer],
            "reviews_url": site.url("reviews/"),
            "search_url": site.url(SEARCH_PATH) if site.search else "",
            "issues_url": site.url("issues/") if self.issues else "",
            "section": "",
            "feeds": [],
            "json_ld": [],
        })
        for name, template in (("site_head", "_site_head.html.j2"),
                               ("subscribe_box", "_subscribe.html.j2"),
                               ("footer", "_footer.html.j2")):
            context[name] = Markup(self._render(template, context).strip())
        self._headers: dict[str, Markup] = {}
        return context

    def _header(self, section: str) -> Markup:
        found = self._headers.get(section)
        if found is None:
            found = self._headers[section] = Markup(self._render(
                "_header.html.j2", {**self._shared, "section": section}).strip())
        return found

    def _feeds(self, path: str, name: str) -> list[dict[str, str]]:
        """Feed discovery links of a reviewer's or tag's own feeds (the site's are on every
        page already)."""
        site = self.site
        return [{"type": "application/rss+xml", "title": f"{name} (RSS)",
                 "url": site.url(path + "feed.xml")},
                {"type": "application/atom+xml", "title": f"{name} (Atom)",
                 "url": site.url(path + "atom.xml")},
                {"type": "application/feed+json", "title": f"{name} (JSON Feed)",
                 "url": site.url(path + "feed.json")}]

    def _page(self, name: str, page: dict[str, Any], **context: Any) -> bytes:
        values = dict(self._shared)
        image, twitter_card = shared_image(page.get("image"), self._icon)
        values["page"] = Fields(**{"title": page["heading"], "description": "",
                                   "canonical": "", "og_type": "website", "published": "",
                                   **page, "image": image, "twitter_card": twitter_card})
        values.update(context)
        values["header"] = self._header(values["section"])
        return self._render_utf8(name, values)

    # -- reviews -----------------------------------------------------------------------------

    def card(self, review: Review) -> Card:
        hit = self._cards.get(id(review))
        if hit is not None and hit[0] is review:
            return hit[1]
        facts = None
        if review.poster is not None:
            facts = self._poster_facts(review.poster.src)
        made = review_card(review, self.site.excerpt_words, facts, self.site.words)
        self._cards[id(review)] = (review, made)
        return made

    def reviewer_url(self, review: Review) -> str:
        return self.site.url(index_path("reviewers", slugify(review.reviewer)))

    def _dates(self, card: Card) -> dict[str, str]:
        key = (card.published, card.updated)
        found = self._dated.get(key)
        if found is None:
            tz, words = self.site.tz, self.site.words
            published = card.published.astimezone(tz).date()
            updated = card.updated.astimezone(tz).date()
            date_iso = published.isoformat()
            found = self._dated[key] = {
                "date_text": words.date(card.published, tz),
                "date_iso": date_iso,
                "updated_text": words.date(card.updated, tz) if updated > published else "",
                # Most reviews are not updated on a later day: the same text, written once.
                "updated_iso": date_iso if updated == published else updated.isoformat()}
        return found

    def item(self, review: Review) -> Markup:
        """The review as the home page and the indexes list it (made once per review)."""
        hit = self._items.get(id(review))
        if hit is not None and hit[0] is review:
            return hit[1]
        card = self.card(review)
        # safe_text, not Markup(): Markup asks the text for an __html__ method, which fails by
        # raising (4 % of an item).
        found = safe_text(self._render("review_item.html.j2", {
            "card": card, "reviewer_url": self.reviewer_url(review), "t": self.site.words.phrases,
            "reviewed_twice": self.is_reviewed_twice(review), **self._dates(card)}))
        self._items[id(review)] = (review, found)
        return found

    def is_reviewed_twice(self, review: Review) -> bool:
        """Whether another review on the site is of ``review``'s film: its item says so."""
        return bool(self.reviewed_twice) and (review.title, review.film.year) in self.reviewed_twice

    def carded_items(self) -> list[tuple[Review, Markup]]:
        """The item of every review whose card this renderer has made (a forked worker's
        reviews, handed to the process that renders the indexes: ``take_items``)."""
        return [(review, self.item(review)) for review, _card in self._cards.values()]

    def take_items(self, items: Sequence[tuple[Review, Markup]]) -> None:
        """Keep items made elsewhere: by another process (``carded_items``), or by an
        earlier build (``items``)."""
        for review, item in items:
            self._items.setdefault(id(review), (review, item))

    def items(self) -> list[tuple[Review, Markup]]:
        """Every item this renderer has, made or taken."""
        return list(self._items.values())

    def review_page(self, review: Review, older: Review | None, newer: Review | None,
                    related: Sequence[Related] = ()) -> bytes:
        """The review's page, linking the reviews published just before and after it, and
        ``related`` ones."""
        site = self.site
        card = self.card(review)
        image = poster_image(card)
        year = f" ({card.year})" if card.year else ""
        description = card.summary or card.excerpt
        published = card.published.astimezone(site.tz).isoformat()
        # Modified when updated later; most reviews are not: the same text, written once (a
        # datetime's isoformat is 10,000 instructions, 1.6 % of the page).
        modified = (published if card.updated <= card.published
                    else card.updated.astimezone(site.tz).isoformat())
        words = site.words
        title = words("review_title", film=f"{card.title}{year}", reviewer=card.reviewer)
        dates = self._dates(card)
        page = {"title": f"{title} | {site.title}",
                "heading": f"{card.title}{year}", "description": description,
                "canonical": card.url, "og_type": "article", "image": image,
                "published": published, "modified": modified,
                "author": card.reviewer, "tags": card.tags}
        tags = [self._tag_link(tag) for tag in card.tags]

        def neighbour(other: Review | None) -> Fields | None:
            return None if other is None else Fields(title=other.title, url=other.url)

        # Each name kept apart (``_isolated``), joined here: a loop in the template that asks
        # for its last item costs Jinja a look ahead at every name.
        cast = Markup(", ").join(map(_isolated, card.cast))
        reviewer_url = self.reviewer_url(review)
        return self._page("review.html.j2", page, card=card, cast=cast,
                          body=self._body(review.body_html, review.links),
                          reviewer_url=reviewer_url, tags=tags,
                          older=neighbour(older), newer=neighbour(newer),
                          related=[self._related_entry(r) for r in related],
                          json_ld=[script_json(review_json_ld(card, site, dates["date_iso"],
                                                              reviewer_url))],
                          **dates)

    def _tag_link(self, tag: str) -> Fields:
        found = self._tag_links.get(tag)
        if found is None:
            found = self._tag_links[tag] = Fields(
                name=tag, url=self.site.url(index_path("tags", slugify(tag))))
        return found

    def _related_entry(self, related: Related) -> Fields:
        """A related review as review pages list it, made once for each review and reason
        that it is suggested for."""
        other, reason = related
        # Keyed by the review itself (kept beside its entry, so that its id is not reused):
        # cheaper to make than a key of the fields the entry shows.
        hit = self._related.get((id(other), reason))
        if hit is not None and hit[0] is other:
            return hit[1]
        found = Fields(title=other.title, url=other.url, year=other.film.year,
                       reviewer=other.reviewer, reason=reason,
                       # here: under half the cost of a call in the template
                       meta=self.site.words.html("related_meta", reason=reason,
                                                 reviewer=_isolated(other.reviewer)))
        self._related[(id(other), reason)] = (other, found)
        return found

    # -- indexes -----------------------------------------------------------------------------

    def _item_list(self, reviews: Sequence[Review]) -> list[Markup]:
        data = {"@context": "https://schema.org", "@type": "ItemList",
                "itemListElement": [{"@type": "ListItem", "position": n, "url": r.url}
                                    for n, r in enumerate(reviews, 1)]}
        return [script_json(data)] if reviews else []

    def home(self, latest: Sequence[Review], count: int) -> bytes:
        site = self.site
        website = {"@context": "https://schema.org", "@type": "WebSite", "name": site.title,
                   "url": site.base_url}
        if site.description:
            website["description"] = site.description
        page = {"title": site.title, "heading": site.title, "description": site.description,
                "canonical": site.base_url}
        return self._page("home.html.j2", page, section="home",
                          items=[self.item(r) for r in latest], count=count,
                          cards=_Cards(self.card, latest),
                          json_ld=[script_json(website), *self._item_list(latest)])

    def list_page(self, *, kind: str, term: Term | None, reviews: Sequence[Review],
                  number: int, pages: int, years: Sequence[tuple[int, int]] = ()) -> bytes:
        """Page ``number`` of ``pages`` of an index: every review (``term`` None) or one
        reviewer's or tag's; ``years``: the index's ``year_pages``, linked where there are
        two or more."""
        site, words = self.site, self.site.words
        slug = term.slug if term else ""
        heading = self.term_heading(term) if term else words("every_review")
        if term is None:
            intro = words("every_review_intro", site=site.title)
        else:
            intro = words("reviewer_intro" if kind == "reviewers" else "tag_intro",
                          count=words.count("reviews", len(term.reviews)), name=term.name)
        feeds_enabled = (site.feeds_per_reviewer if kind == "reviewers"
                         else site.feeds_per_tag)
        index_feeds = []
        path = index_path(kind, slug)
        if term is not None and feeds_enabled:
            # Named with the term for a screen reader's list of links, where the footer's
            # "RSS" (the site's feed) is also read out by its name alone.
            index_feeds = [{"label": label, "url": site.url(path + name),
                            "name": words("feed_of", format=label, name=term.name)}
                           for label, name in (("RSS", "feed.xml"), ("Atom", "atom.xml"),
                                               ("JSON Feed", "feed.json"))]
        suffix = f" ({words('page_of', number=number, pages=pages)})" if pages > 1 else ""
        page = {"title": f"{heading}{suffix} | {site.title}", "heading": heading,
                "description": intro,
                "canonical": site.url(index_path(kind, slug, number))}
        context: dict[str, Any] = {}
        if term is not None and feeds_enabled:
            context["feeds"] = self._feeds(path, f"{site.title}: {term.name}")
        return self._page(
            "list.html.j2", page, section=kind, heading=heading, intro=intro,
            items=[self.item(r) for r in reviews], cards=_Cards(self.card, reviews),
            number=number, pages=pages,
            newer_url=site.url(index_path(kind, slug, number - 1)) if number > 1 else "",
            older_url=site.url(index_path(kind, slug, number + 1)) if number < pages else "",
            # The ends too, as Hugo's and Pelican's pagers have: 200 pages of a large site
            # are otherwise a click each to its oldest reviews.
            newest_url=site.url(index_path(kind, slug, 1)) if number > 2 else "",
            oldest_url=site.url(index_path(kind, slug, pages)) if number < pages - 1 else "",
            years=[{"year": year, "url": site.url(index_path(kind, slug, at)),
                    "current": at == number} for year, at in years] if len(years) > 1 else [],
            index_feeds=index_feeds, json_ld=self._item_list(reviews), **context)

    def terms_page(self, kind: str, terms: Sequence[Term]) -> bytes:
        site, words = self.site, self.site.words
        heading = words(kind)
        intro = words(f"{kind}_intro", site=site.title)
        entries: list[dict[str, Any]] = [
            {"name": t.name, "url": site.url(index_path(kind, t.slug)),
             "count": len(t.reviews), "anchor": ""} for t in terms]
        letters: list[dict[str, str]] = []
        seen: set[str] = set()
        if len(terms) > LETTERS_FROM:
            # Each letter where its first name is, filed as the list is (by collation_key:
            # Éclair with E, Łódź with L); names that start with no letter go under #.
            for entry in entries:
                initial = collation_key(entry["name"])[:1]
                letter = initial.upper() if initial.isalpha() else "#"
                anchor = f"letter-{initial if initial.isalpha() else 0}"
                if anchor not in seen:
                    seen.add(anchor)
                    entry["anchor"] = anchor
                    letters.append({"letter": letter, "anchor": anchor})
        page = {"title": f"{heading} | {site.title}", "heading": heading, "description": intro,
                "canonical": site.url(f"{kind}/")}
        return self._page("terms.html.j2", page, section=kind, heading=heading, intro=intro,
                          terms=entries, letters=letters if len(letters) > 1 else [])

    # -- search --------------------------------------------------------------------------------

    def search_page(self) -> bytes:
        """search/: a form whose script searches ``search.json`` in the reader's browser (a
        static host runs no code), and says where to browse without a script."""
        site, words = self.site, self.site.words
        page = {"title": f"{words('search')} | {site.title}", "heading": words("search"),
                "description": words("search_intro", site=site.title),
                "canonical": site.url(SEARCH_PATH)}
        values = words.strings.values
        script_words = {key: values[key] for key in _SEARCH_SCRIPT_WORDS}
        return self._page("search.html.j2", page, section="search",
                          index_url=site.url(SEARCH_INDEX), search_words=script_json(script_words))

    def search_index(self, reviews: Sequence[Review]) -> bytes:
        """search.json: each of ``reviews`` (newest first) as a search finds and shows it; a
        field the review does not give is left out. From the reviews' fields, as their cards
        show them, without making a card for each: at 10,000 reviews, 0.06 s rather than 0.2.
        ``slugs`` holds the words of the address of each reviewer and tag whose name does not
        spell them ("Ольга Петрова": "olga-petrova"), once per name; a review's own are in
        its url."""
        tz, words = self.site.tz, self.site.words
        entries = []
        names: set[str] = set()
        for review in reviews:
            names.add(review.reviewer)
            names.update(review.tags)
            film = review.film
            entry: dict[str, Any] = {"title": review.title, "url": review.url,
                                     "reviewer": review.reviewer,
                                     "date": words.date(review.date, tz)}
            for key, value in (("year", film.year), ("director", film.director),
                               ("starring", list(film.starring)), ("tags", list(review.tags)),
                               ("stars", stars(review.rating)),
                               ("rating", words.rating(review.rating))):
                if value:
                    entry[key] = value
            entries.append(entry)
        slugs = {name: slug for name in sorted(names)
                 if not _spells(name, slug := slugify(name))}
        return orjson.dumps({"version": 1, "reviews": entries, "slugs": slugs})

    # -- the rest ------------------------------------------------------------------------------

    def term_heading(self, term: Term) -> str:
        """The heading of a reviewer's or a tag's pages."""
        if term.kind == "reviewers":
            return self.site.words("reviewer_heading", name=term.name)
        return term.name

    def moved(self, url: str, title: str, feeds: tuple[str, str] | None = None) -> bytes:
        """The page at a reviewer's or tag's old address ([moved]), sending readers on to
        ``url`` as a review's alias does; with ``feeds`` (the new directory and the feeds'
        name), naming its feeds as the term's page does, for a feed reader given the old
        address, which follows no refresh."""
        return self._render("alias.html.j2", {
            **publication_context(self.site), "url": url, "review_title": title,
            "what": "page", "feeds": self._feeds(*feeds) if feeds else []}).encode("utf-8")

    def alias(self, review: Review) -> bytes:
        """The page at one of a review's earlier addresses: it sends the reader on to the
        review at once (a refresh, as Hugo's aliases do: a static site cannot answer 301), tells
        search engines where the page is now (canonical, noindex) and links there."""
        card = self.card(review)
        return self._render("alias.html.j2", {
            **publication_context(self.site), "url": review.url,
            "review_title": card.title}).encode("utf-8")

    def site_page(self, page: SitePage) -> bytes:
        """A page of the site's own (pages/about.md)."""
        site = self.site
        head = {"title": f"{page.title} | {site.title}", "heading": page.title,
                "description": page.description, "canonical": page.url}
        return self._page(page.template, head, section=f"page:{page.slug}",
                          heading=page.title, body=self._body(page.body_html, page.links))

    def _body(self, body_html: str, links: tuple[tuple[str, int], ...]) -> Markup:
        """A body as its page shows it: its images from static/ sized, and its footnotes'
        section named, as a section of a page is (in the publication's language; the body's
        HTML, shared with the feeds, has none)."""
        body_html = self._body_images.sized(body_html, links)
        if _FOOTNOTES_SECTION in body_html:
            label = html.escape(self.site.words("footnotes_label"))
            body_html = body_html.replace(
                _FOOTNOTES_SECTION, f'{_FOOTNOTES_SECTION[:-1]} aria-label="{label}">', 1)
        return safe_text(body_html)

    def not_found(self) -> bytes:
        heading = self.site.words("not_found")
        page = {"title": f"{heading} | {self.site.title}", "heading": heading}
        return self._page("404.html.j2", page)

    def feeds_page(self, *, reviewers: Sequence[Term], tags: Sequence[Term],
                   archive: str, issues_feed: bool) -> bytes:
        site, words = self.site, self.site.words
        heading = words("feeds_heading", site=site.title)
        page = {"title": f"{words('feeds')} | {site.title}", "heading": heading,
                "description": words("feeds_intro", site=site.title),
                "canonical": site.url("feeds/")}
        main = [{"label": label, "url": site.url(name)} for label, name in
                (("RSS", "feed.xml"), ("Atom", "atom.xml"), ("JSON Feed", "feed.json"))]
        return self._page(
            "feeds.html.j2", page, main_feeds=main, feed_limit=site.feed_limit,
            archive_url=site.url(archive + "atom.xml") if archive else "",
            issues_feed=site.url("issues/atom.xml") if issues_feed else "",
            reviewer_feeds=[{"name": t.name, "url": site.url(index_path("reviewers", t.slug)
                                                             + "atom.xml")}
                            for t in reviewers] if site.feeds_per_reviewer else [],
            tag_feeds=[{"name": t.name, "url": site.url(index_path("tags", t.slug) + "atom.xml")}
                       for t in tags] if site.feeds_per_tag else [],
            review_ns=REVIEW_NS)

    def feed_stylesheet(self) -> bytes:
        # XSLT 1.0 has no dates: the view writes an entry's day as the pages do, from how
        # the publication's language writes a day of each month (words.date_parts).
        months = [self.site.words.date_parts(month) for month in range(1, 13)]
        text = self._render("feed.xsl.j2", {**self._shared, "date_months": months})
        refuse_malformed_xml(text, output="feed.xsl",
                             template=template_file(self.site.templates, "feed.xsl.j2"))
        return text.encode("utf-8")


#: The words the search page's script says (its plural tables whole: the browser picks the
#: form with Intl.PluralRules).
_SEARCH_SCRIPT_WORDS = ("search_loading", "search_failed", "search_no_match", "search_matches",
                        "search_first", "search_more", "rated", "directed_by", "starring")


def _spells(name: str, slug: str) -> bool:
    """Whether the search page finds ``name`` by each word of ``slug`` without being told it:
    "Lucía Ferreira" spells lucia-ferreira once its accents are folded away (as the page's
    script does), "Ольга Петрова" does not spell olga-petrova."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name.lower())
                     if not unicodedata.combining(c))
    return all(word in folded for word in slug.split("-"))


@functools.cache  # a name recurs on page after page (cast, reviewers)
def _isolated(text: str) -> Markup:
    """``text`` (a name an editor wrote) as HTML kept apart from the words around it: a
    right-to-left name in a left-to-right sentence, or the reverse, moves no neighbour."""
    return Markup(f"<bdi>{html.escape(text)}</bdi>")


def _utf8_join(pieces: Iterable[str]) -> bytes:
    return b"".join(map(str.encode, pieces))


def _w3c_date(when: datetime) -> str:
    return when.replace(microsecond=0).isoformat()


def render_sitemap(site: Site, urls: Sequence[tuple[str, datetime | None]]) -> dict[str, bytes]:
    """sitemap.xml for ``urls`` (each with its last change, when known), in order; past
    SITEMAP_LIMIT URLs or SITEMAP_BYTES, sitemap.xml is an index of sitemap-1.xml,
    sitemap-2.xml, …, each dated by the newest change it lists."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n')
    tail = b"</urlset>\n"
    room = SITEMAP_BYTES - len(head) - len(tail)
    parts: list[tuple[list[bytes], datetime | None]] = []
    lines: list[bytes] = []
    size = 0
    newest: datetime | None = None
    for url, changed in urls:
        lastmod = f"<lastmod>{_w3c_date(changed)}</lastmod>" if changed else ""
        line = f"<url><loc>{html.escape(url)}</loc>{lastmod}</url>\n".encode()
        if lines and (len(lines) == SITEMAP_LIMIT or size + len(line) > room):
            parts.append((lines, newest))
            lines, size, newest = [], 0, None
        lines.append(line)
        size += len(line)
        if changed is not None and (newest is None or changed > newest):
            newest = changed
    parts.append((lines, newest))
    if len(parts) == 1:
        return {"sitemap.xml": b"".join([head, *lines, tail])}
    files: dict[str, bytes] = {}
    index = ['<?xml version="1.0" encoding="UTF-8"?>\n'
             '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n']
    for n, (part, changed) in enumerate(parts, 1):
        files[f"sitemap-{n}.xml"] = b"".join([head, *part, tail])
        # A crawler fetches again only the parts whose date moved.
        lastmod = f"<lastmod>{_w3c_date(changed)}</lastmod>" if changed else ""
        index.append(f"<sitemap><loc>{html.escape(site.url(f'sitemap-{n}.xml'))}</loc>"
                     f"{lastmod}</sitemap>\n")
    index.append("</sitemapindex>\n")
    files["sitemap.xml"] = "".join(index).encode("utf-8")
    return files


def render_robots(site: Site) -> bytes:
    """robots.txt (``robots.txt.j2``): everything may be crawled, and where the sitemap is,
    unless the publication's template says otherwise. Raises TemplateError."""
    return render_template(site.templates, "robots.txt.j2", {
        **publication_context(site), "sitemap_url": site.url("sitemap.xml")}).encode("utf-8")

