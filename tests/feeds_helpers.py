"""Helpers for feed tests: Review objects built directly, and an offline approximation of the
W3C feed validator's checks (there is no network in tests).

``rss_problems`` / ``atom_problems`` return human-readable problems; an empty list means the
document passed every check we approximate: required elements, RFC 822 / RFC 3339 dates (with
the day-of-week check), self link matching the document's location, guid rules, enclosure
attributes, unique ids, one alternate link per type, authors, and absolute URLs in content.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import lxml.etree
import lxml.html

from publisher.models import Film, Review

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"

BASE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def make_review(i: int = 0, *, base_url: str = "https://reel.test/", **changes: object) -> Review:
    """A complete, published review; ``i`` makes slug, id and dates distinct (later i = newer)."""
    slug = f"film-{i}"
    date = BASE + timedelta(days=i)
    fields: dict[str, object] = dict(
        slug=slug,
        title=f"Film Number {i}",
        date=date,
        updated=date + timedelta(hours=6),
        reviewer="Sam Okafor",
        id=f"tag:reel.test,{date:%Y-%m-%d}:{slug}",
        url=f"{base_url}reviews/{slug}/",
        body_html=f"<p>The body of review {i}, with <em>emphasis</em>.</p>",
        summary=f"A logline for film {i}.",
        film=Film(year=1979, director="Ridley Scott",
                  starring=("Sigourney Weaver", "Tom Skerritt", "Yaphet Kotto")),
        rating=Decimal("3.5"),
        tags=("Sci-fi", "Horror"),
        poster=None,
        availability="On Blu-ray and streaming.",
        source_path=f"reviews/{slug}.md",
    )
    fields.update(changes)
    return Review(**fields)  # type: ignore[arg-type]


# --- the validator approximation ----------------------------------------------------------------

_RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} (?:[+-]\d{4}|GMT|UT)$"
)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_LANG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")
_ATOM_RELS = {"alternate", "related", "self", "enclosure", "via", "hub", "first", "last",
              "next", "previous", "prev-archive", "next-archive", "current", "license",
              "replies", "edit", "archives"}


def rfc822_problem(text: str | None, where: str) -> str | None:
    if not text or not _RFC822.match(text):
        return f"{where}: {text!r} is not an RFC 822 date"
    parsed = parsedate_to_datetime(text)
    if parsed.strftime("%a") != text[:3]:
        return f"{where}: {text!r} has the wrong day of the week"
    return None


def rfc3339_problem(text: str | None, where: str) -> str | None:
    if not text or not _RFC3339.match(text):
        return f"{where}: {text!r} is not an RFC 3339 date-time"
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"{where}: {text!r} is not a real date"
    return None


def _absolute(url: str | None) -> bool:
    return bool(url) and bool(urlsplit(url).scheme) and bool(urlsplit(url).netloc)


def relative_urls(html: str) -> list[str]:
    """Every href/src/srcset URL in an HTML fragment that is relative (has no scheme)."""
    if not html.strip():
        return []
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    found = []
    for el in doc.iter():
        for attr in ("href", "src"):
            value = el.get(attr)
            if value is not None and not urlsplit(value).scheme:
                found.append(value)
        for candidate in (el.get("srcset") or "").split(","):
            url = candidate.strip().split(" ")[0]
            if url and not urlsplit(url).scheme:
                found.append(url)
    return found


def _html_problems(html: str | None, where: str) -> list[str]:
    problems = []
    if html is None:
        return problems
    if re.search(r"<\s*(script|iframe|style)\b", html, re.I):
        problems.append(f"{where}: contains script, style or iframe")
    problems += [f"{where}: relative URL {u!r}" for u in relative_urls(html)]
    return problems


def rss_problems(data: bytes, location: str) -> list[str]:
    """Problems the W3C validator would report in an RSS 2.0 document served at ``location``."""
    root = lxml.etree.fromstring(data)
    problems: list[str] = []
    if root.tag != "rss" or root.get("version") != "2.0":
        return ["root is not <rss version=\"2.0\">"]
    channels = root.findall("channel")
    if len(channels) != 1:
        return [f"{len(channels)} channel elements"]
    ch = channels[0]
    for name in ("title", "link", "description"):
        if len(ch.findall(name)) != 1 or not (ch.findtext(name) or "").strip():
            problems.append(f"channel: missing or repeated <{name}>")
    if not _absolute(ch.findtext("link")):
        problems.append(f"channel: link {ch.findtext('link')!r} is not absolute")
    selves = [ln for ln in ch.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    if len(selves) != 1:
        problems.append(f"channel: {len(selves)} atom:link rel=self (want 1)")
    elif selves[0].get("href") != location:
        problems.append(f"channel: self link {selves[0].get('href')!r} does not match the "
                        f"document location {location!r}")
    elif selves[0].get("type") != "application/rss+xml":
        problems.append("channel: self link type is not application/rss+xml")
    for ln in ch.findall(f"{ATOM}link"):
        if not _absolute(ln.get("href")):
            problems.append(f"channel: atom:link href {ln.get('href')!r} is not absolute")
    for name in ("lastBuildDate", "pubDate"):
        if ch.find(name) is not None:
            problem = rfc822_problem(ch.findtext(name), f"channel {name}")
            if problem:
                problems.append(problem)
    language = ch.findtext("language")
    if language is not None and not _LANG.match(language):
        problems.append(f"channel: language {language!r} is not a language tag")
    guids: set[str] = set()
    for n, item in enumerate(ch.findall("item")):
        where = f"item {n}"
        if item.find("title") is None and item.find("description") is None:
            problems.append(f"{where}: needs a title or a description")
        for name in ("title", "link", "description", "pubDate", "guid", "author", "enclosure"):
            if len(item.findall(name)) > 1:
                problems.append(f"{where}: <{name}> repeated")
        if item.find("link") is not None and not _absolute(item.findtext("link")):
            problems.append(f"{where}: link is not absolute")
        guid = item.find("guid")
        if guid is None:
            problems.append(f"{where}: no guid")
        else:
            value = guid.text or ""
            permalink = guid.get("isPermaLink", "true")
            if permalink not in ("true", "false"):
                problems.append(f"{where}: isPermaLink must be true or false")
            if permalink == "true" and (not _absolute(value)
                                        or value.lower().startswith(("tag:", "urn:"))):
                problems.append(f"{where}: guid {value!r} is a permalink but not a URL")
            if value in guids:
                problems.append(f"{where}: duplicate guid {value!r}")
            guids.add(value)
        if item.find("pubDate") is not None:
            problem = rfc822_problem(item.findtext("pubDate"), f"{where} pubDate")
            if problem:
                problems.append(problem)
        author = item.find("author")
        if author is not None:
            if not re.match(r"^[^@\s]+@[^@\s]+", author.text or ""):
                problems.append(f"{where}: <author> must start with an email address")
            if item.find(f"{DC}creator") is not None:
                problems.append(f"{where}: both author and dc:creator")
        enclosure = item.find("enclosure")
        if enclosure is not None:
            length = enclosure.get("length", "")
            if not length.isdigit() or int(length) <= 0:
                problems.append(f"{where}: enclosure length {length!r} is not a positive "
                                "integer")
            if not _MIME.match(enclosure.get("type", "")):
                problems.append(f"{where}: enclosure type {enclosure.get('type')!r}")
            if not (enclosure.get("url") or "").startswith(("http://", "https://")):
                problems.append(f"{where}: enclosure url must be http(s)")
        for cat in item.findall("category"):
            if not (cat.text or "").strip():
                problems.append(f"{where}: empty category")
        problems += _html_problems(item.findtext(f"{CONTENT}encoded"), f"{where} content")
    return problems


def atom_problems(data: bytes, location: str) -> list[str]:
    """Problems the W3C validator would report in an Atom 1.0 document served at ``location``."""
    root = lxml.etree.fromstring(data)
    problems: list[str] = []
    if root.tag != f"{ATOM}feed":
        return ["root is not an Atom <feed>"]
    for name in ("id", "title", "updated"):
        if len(root.findall(f"{ATOM}{name}")) != 1:
            problems.append(f"feed: missing or repeated <{name}>")
    if not urlsplit(root.findtext(f"{ATOM}id") or "").scheme:
        problems.append("feed: id is not an IRI")
    problem = rfc3339_problem(root.findtext(f"{ATOM}updated"), "feed updated")
    if problem:
        problems.append(problem)
    problems += _link_problems(root.findall(f"{ATOM}link"), "feed")
    selves = [ln for ln in root.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    if len(selves) != 1 or selves[0].get("href") != location:
        problems.append(f"feed: self link does not match the document location {location!r}")
    feed_author = any((a.findtext(f"{ATOM}name") or "").strip()
                      for a in root.findall(f"{ATOM}author"))
    ids: set[str] = set()
    for n, entry in enumerate(root.findall(f"{ATOM}entry")):
        where = f"entry {n}"
        for name in ("id", "title", "updated"):
            if len(entry.findall(f"{ATOM}{name}")) != 1:
                problems.append(f"{where}: missing or repeated <{name}>")
        entry_id = entry.findtext(f"{ATOM}id") or ""
        if not urlsplit(entry_id).scheme:
            problems.append(f"{where}: id {entry_id!r} is not an IRI")
        if entry_id in ids:
            problems.append(f"{where}: duplicate id {entry_id!r}")
        ids.add(entry_id)
        for name in ("updated", "published"):
            if entry.find(f"{ATOM}{name}") is not None:
                problem = rfc3339_problem(entry.findtext(f"{ATOM}{name}"), f"{where} {name}")
                if problem:
                    problems.append(problem)
        authors = entry.findall(f"{ATOM}author")
        if not feed_author and not authors:
            problems.append(f"{where}: no author, and the feed has none")
        for a in authors:
            if not (a.findtext(f"{ATOM}name") or "").strip():
                problems.append(f"{where}: author without a name")
        problems += _link_problems(entry.findall(f"{ATOM}link"), where)
        content = entry.find(f"{ATOM}content")
        if content is None and not any(ln.get("rel", "alternate") == "alternate"
                                       for ln in entry.findall(f"{ATOM}link")):
            problems.append(f"{where}: no content and no alternate link")
        for el in (content, entry.find(f"{ATOM}summary"), entry.find(f"{ATOM}title")):
            if el is not None:
                kind = el.get("type", "text")
                if kind not in ("text", "html", "xhtml") and not _MIME.match(kind):
                    problems.append(f"{where}: {el.tag} has invalid type {kind!r}")
        if content is not None and content.get("type") == "html":
            problems += _html_problems(content.text, f"{where} content")
    return problems


def _link_problems(links: list[lxml.etree._Element], where: str) -> list[str]:
    problems = []
    alternates: set[tuple[str | None, str | None]] = set()
    for ln in links:
        rel = ln.get("rel", "alternate")
        if rel not in _ATOM_RELS and not urlsplit(rel).scheme:
            problems.append(f"{where}: unknown link rel {rel!r}")
        if not _absolute(ln.get("href")):
            problems.append(f"{where}: link href {ln.get('href')!r} is not absolute")
        if rel == "alternate":
            key = (ln.get("type"), ln.get("hreflang"))
            if key in alternates:
                problems.append(f"{where}: duplicate alternate link with the same type and "
                                "hreflang")
            alternates.add(key)
        length = ln.get("length")
        if length is not None and (not length.isdigit() or int(length) <= 0):
            problems.append(f"{where}: link length {length!r} is not a positive integer")
        if ln.get("type") is not None and not _MIME.match(ln.get("type")):
            problems.append(f"{where}: link type {ln.get('type')!r} is not a MIME type")
    return problems
