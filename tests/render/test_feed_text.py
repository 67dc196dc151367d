"""Plain text in feed fields that readers take for HTML (RSS descriptions) goes in escaped:
a logline or a tag name reads as written, never as markup."""

from __future__ import annotations

import html

import feedparser
import pytest

from publisher.pipeline.plan import plan_feeds
from publisher.render.feeds import render_feeds
from publisher.render.site import Site
from tests.fixtures import Page, make_review

LOGLINE = "Fast & Furious <Extended Cut> is <b>louder</b> than <script>x()</script> ever"
TAG = "<i>noir</i> & co"


def shown(detail) -> str:
    """What a reader shows for a feedparser text construct: HTML rendered to its words."""
    if detail.type == "text/html":
        return Page(detail.value).visible
    return detail.value


@pytest.mark.parametrize("name", ["feed.xml", "atom.xml"])
def test_a_logline_and_a_tag_name_read_as_written(config, name):
    review = make_review(1, config=config, summary=LOGLINE, tags=(TAG,))
    [spec] = [s for s in plan_feeds(config, [review]) if s.path.startswith("tags/")]
    files = render_feeds(spec.reviews, site=Site.from_config(config), path=spec.path,
                         title=spec.title, description=spec.description)
    feed = feedparser.parse(files[name])
    assert shown(feed.entries[0].summary_detail) == LOGLINE
    assert shown(feed.feed.subtitle_detail) == f"Film reviews tagged “{TAG}” in Test Reel."
    # A title is text by every spec (feedparser guesses HTML in an RSS title that looks like
    # it, but escaping further would show "&lt;" in the readers that follow the spec).
    assert feed.feed.title == f"Test Reel: {TAG}"


def test_rss_descriptions_hold_escaped_text_never_markup(config):
    review = make_review(1, config=config, summary=LOGLINE)
    rss = render_feeds([review], site=Site.from_config(config), title="T",
                       description="Reviews of <i>films</i>")["feed.xml"].decode("utf-8")
    assert f"<description>{html.escape(html.escape(LOGLINE, quote=False), quote=False)}" in rss
    assert "<description>Reviews of &amp;lt;i&amp;gt;films&amp;lt;/i&amp;gt;</description>" in rss
