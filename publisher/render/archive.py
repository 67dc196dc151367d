"""The newsletter's web archive: each issue as a page, an index of issues and an Atom feed.

An issue page uses the digest's design (the same MJML layout, compiled with MRML) without any
personal data: the unsubscribe link becomes a subscribe link, and each review carries
schema.org Review data as JSON-LD. Output is deterministic: the same issues give the same bytes.
"""

from __future__ import annotations

import html as html_lib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from ..models import Issue, Review
from ..text import join_names, rating_value
from .digest import archive_url, date_text, issue_context, issue_subject, publication_context
from .engine import compile_mjml, render_template
from .site import Site


def _atom_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _script_json(data: dict[str, Any]) -> Markup:
    """JSON safe inside <script>: no '<', '>' or '&' can end the element or start markup."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # U+2028/2029 are legal in JSON but end a line in older JavaScript parsers.
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def review_json_ld(review: Review, site: Site) -> dict[str, Any]:
    """schema.org Review data for one review: itemReviewed Movie (director, actors), the rating
    out of 5 and the author."""
    film = review.film
    movie: dict[str, Any] = {"@type": "Movie", "name": review.title}
    if film.year:
        movie["dateCreated"] = str(film.year)
    if film.director:
        movie["director"] = {"@type": "Person", "name": film.director}
    if film.starring:
        movie["actor"] = [{"@type": "Person", "name": name} for name in film.starring]
    if review.poster:
        movie["image"] = review.poster.src
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Review",
        "name": review.title,
        "url": review.url,
        "datePublished": review.date.astimezone(site.tz).date().isoformat(),
        "author": {"@type": "Person", "name": review.reviewer},
        "publisher": {"@type": "Organization", "name": site.title, "url": site.base_url},
        "itemReviewed": movie,
    }
    if review.summary:
        data["description"] = review.summary
    if review.rating is not None:
        data["reviewRating"] = {"@type": "Rating", "ratingValue": rating_value(review.rating),
                                "bestRating": "5", "worstRating": "0"}
    return data


def render_issue_page(issue: Issue, site: Site) -> bytes:
    """``issues/<n>/index.html``: the issue in the digest's design, with no personal data."""
    context = issue_context(issue, site)
    context["json_ld"] = [_script_json(review_json_ld(r, site)) for r in issue.reviews]
    source = render_template(site.templates, "archive.html.j2", context)
    return compile_mjml(source, name="archive.html.j2").encode("utf-8")


def _summary_html(issue: Issue) -> str:
    items = []
    for review in issue.reviews:
        year = f" ({review.film.year})" if review.film.year else ""
        line = (f'<a href="{html_lib.escape(review.url)}">{html_lib.escape(review.title)}</a>'
                f"{year}, reviewed by {html_lib.escape(review.reviewer)}")
        if review.summary:
            line += f": {html_lib.escape(review.summary)}"
        items.append(f"<li>{line}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _entries(issues: Sequence[Issue], site: Site) -> list[dict[str, Any]]:
    entries = []
    for issue in sorted(issues, key=lambda i: i.number, reverse=True):
        entries.append({
            "number": issue.number,
            "subject": issue_subject(issue, site),
            "date_text": date_text(issue.date, site.newsletter_tz),
            "date_iso": issue.date.astimezone(site.newsletter_tz).date().isoformat(),
            "updated": _atom_time(issue.date),
            "url": archive_url(site, issue.number),
            "id": f"tag:{site.domain},{issue.date.astimezone(UTC):%Y-%m-%d}:"
                  f"issues/{issue.number}",
            "films": join_names([r.title for r in issue.reviews]),
            "content_html": _summary_html(issue),
        })
    return entries


def render_archive(site: Site, issues: Sequence[Issue]) -> dict[str, bytes]:
    """The web archive for ``issues``: ``issues/<n>/index.html`` for each, ``issues/index.html``
    and ``issues/atom.xml`` (paths relative to the output directory). Raises TemplateError."""
    shared = publication_context(site)
    shared["entries"] = _entries(issues, site)
    newest = max((i.date for i in issues), default=datetime(1970, 1, 1, tzinfo=UTC))
    feed = render_template(site.templates, "archive_atom.xml.j2", {
        **shared,
        "feed_id": site.url("issues/"),
        "updated": _atom_time(newest),
        "author": site.author or site.title,
        "author_email": site.author_email,
        "copyright": site.copyright,
    })
    out = {
        "issues/index.html": render_template(site.templates, "archive_index.html.j2",
                                             shared).encode("utf-8"),
        "issues/atom.xml": feed.encode("utf-8"),
    }
    for issue in issues:
        out[f"issues/{issue.number}/index.html"] = render_issue_page(issue, site)
    return dict(sorted(out.items()))
