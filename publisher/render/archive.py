"""The newsletter's web archive: each issue as a page, an index of issues and an Atom feed.

An issue page uses the digest's design (the same MJML layout, compiled with MRML) without any
personal data: the unsubscribe link becomes a subscribe link, and each review carries
schema.org Review data as JSON-LD. Output is deterministic: the same issues give the same bytes.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from ..models import Issue
from ..text import slugify
from .card import Card, review_json_ld, script_json
from .digest import (
    DIGEST_MJML,
    PosterLookup,
    archive_url,
    issue_cards,
    issue_context,
    issue_subject,
    publication_context,
)
from .engine import compile_mjml, first_override, render_template
from .feeds import XSL_PATH
from .pages import PREVIEW_TYPES, index_path, poster_image, shared_icon, shared_image
from .site import Site


def archive_page(number: int) -> str:
    """Where issue ``number``'s archive page lives, relative to the output directory."""
    return f"issues/{number}/index.html"


def _atom_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_issue_page(issue: Issue, site: Site, cards: Sequence[Card] | None = None,
                      image_facts: PosterLookup | None = None) -> bytes:
    """``issues/<n>/index.html``: the issue in the digest's design, with no personal data.
    ``cards`` are the issue's (``digest.issue_cards``) when the caller has built them already;
    ``image_facts`` sizes the posters and the images of the editor's note, as in the digest."""
    cards = list(cards) if cards is not None else issue_cards(issue, site, image_facts)
    context = issue_context(issue, site, cards, image_facts)
    # Shared with its first poster that link previews show, else with the icon, as a page is.
    posters = (poster_image(c) for c in cards)
    context["share_image"], context["twitter_card"] = shared_image(
        next((p for p in posters if p is not None and p.type in PREVIEW_TYPES), None),
        shared_icon(site, image_facts or (lambda url: None)))
    # The author's page where the site has one (not where another site has the pages).
    context["json_ld"] = [script_json(review_json_ld(
        c, site, author_url=site.url(index_path("reviewers", slugify(c.reviewer)))
        if site.pages else "")) for c in cards]
    source = render_template(site.templates, "archive.html.j2", context)
    return compile_mjml(source, name=first_override(
        site.templates, ("archive.html.j2", *DIGEST_MJML[1:]))).encode("utf-8")


def _summary_html(cards: Sequence[Card], site: Site) -> str:
    items = []
    for card in cards:
        year = f" ({card.year})" if card.year else ""
        film = Markup(f'<a href="{html_lib.escape(card.url)}">{html_lib.escape(card.title)}'
                      f"</a>{year}")
        line = str(site.words.html("issue_review", film=film, reviewer=card.reviewer))
        if card.summary:
            line += f": {html_lib.escape(card.summary)}"
        items.append(f"<li>{line}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _entry(issue: Issue, cards: Sequence[Card], site: Site) -> dict[str, Any]:
    """One issue as the archive's index and Atom feed list it."""
    return {
        "number": issue.number,
        "subject": issue_subject(issue, site),
        "date_text": site.words.date(issue.date, site.newsletter_tz),
        "date_iso": issue.date.astimezone(site.newsletter_tz).date().isoformat(),
        "updated": _atom_time(issue.date),
        "url": archive_url(site, issue.number),
        "id": f"tag:{site.id_domain},{issue.date.astimezone(UTC):%Y-%m-%d}:issues/{issue.number}",
        "films": site.words.names([c.distinct_title for c in cards]),
        "content_html": _summary_html(cards, site),
    }


def render_archive_index(site: Site, issues: Sequence[Issue],
                         cards: Sequence[Sequence[Card]] | None = None,
                         image_facts: PosterLookup | None = None) -> dict[str, bytes]:
    """``issues/index.html`` (every issue) and ``issues/atom.xml`` (the newest ``feed_limit``)
    for ``issues`` (``cards``: each issue's, when the caller has built them; ``image_facts``
    sizes the icon the index is shared with). Raises TemplateError."""
    if cards is None:
        cards = [issue_cards(issue, site) for issue in issues]
    carded = list(zip(issues, cards, strict=True))
    shared = publication_context(site)
    shared["entries"] = [_entry(issue, issue_cards_, site) for issue, issue_cards_
                         in sorted(carded, key=lambda pair: pair[0].number, reverse=True)]
    newest = max((i.date for i in issues), default=datetime(1970, 1, 1, tzinfo=UTC))
    feed = render_template(site.templates, "archive_atom.xml.j2", {
        **shared,
        # The newest `[feeds] limit`, as the site's feeds: every issue would make each poll
        # grow by one issue a week for ever; the index page lists them all.
        "entries": shared["entries"][:site.feed_limit],
        "feed_id": site.url("issues/"),
        "updated": _atom_time(newest),
        "author": site.author or site.title,
        "author_email": site.author_email,
        "copyright": site.copyright,
        "hub": site.feed_hub,
        "stylesheet_url": site.rooted(XSL_PATH),
    })
    # Shared with the icon, as the site's pages without an image of their own are.
    shared["share_image"] = shared_icon(site, image_facts or (lambda url: None))
    return {
        "issues/atom.xml": feed.encode("utf-8"),
        "issues/index.html": render_template(site.templates, "archive_index.html.j2",
                                             shared).encode("utf-8"),
    }



def render_archive(site: Site, issues: Sequence[Issue]) -> dict[str, bytes]:
    """The web archive for ``issues``: ``issues/<n>/index.html`` for each, ``issues/index.html``
    and ``issues/atom.xml`` (paths relative to the output directory). Raises TemplateError."""
    # Each issue's cards are built once, for its page and for its entry in the index and feed.
    cards = [issue_cards(issue, site) for issue in issues]
    out = render_archive_index(site, issues, cards)
    for issue, issue_cards_ in zip(issues, cards, strict=True):
        out[archive_page(issue.number)] = render_issue_page(issue, site, issue_cards_)
    return dict(sorted(out.items()))
