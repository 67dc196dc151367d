"""The web archive: issue pages without personal data, schema.org JSON-LD, index, Atom feed.

Golden file tests/data/golden/archive-issue.html; regenerate with PUBLISHER_REGEN_GOLDEN=1 (see
tests/render/test_digest.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta

import feedparser
import lxml.html
import pytest

from publisher.models import Issue
from publisher.render.archive import render_archive, render_issue_page
from publisher.render.digest import render_digest
from publisher.render.site import Site
from tests.fixtures import ISSUE_DATE, POSTAL, Page, golden, make_issue


@pytest.fixture
def config(publication):
    publication.add_config(f'[newsletter]\npostal_address = "{POSTAL}"\n')
    return publication.config


@pytest.fixture
def issues(config):
    first = make_issue(config, 2, number=1)
    second = make_issue(config, 4, number=2)
    sixth = make_issue(config, 6).reviews[5]
    second = replace(second, date=ISSUE_DATE + timedelta(days=7),
                     reviews=second.reviews[2:] + (sixth,))
    return [first, second]


def json_ld(html: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return [json.loads(block) for block in blocks]


def test_archive_has_a_page_per_issue_an_index_and_a_feed(config, issues):
    out = render_archive(Site.from_config(config), issues)
    assert sorted(out) == ["issues/1/index.html", "issues/2/index.html", "issues/atom.xml",
                           "issues/index.html"]
    assert all(isinstance(data, bytes) for data in out.values())


def test_archive_bytes_are_deterministic(config, issues):
    site = Site.from_config(config)
    assert render_archive(site, issues) == render_archive(site, issues[::-1])


def test_issue_page_matches_the_golden_file(config, issues):
    page = render_issue_page(issues[0], Site.from_config(config))
    golden("archive-issue.html", page.decode("utf-8"))


def test_issue_page_has_the_digest_design_without_personal_data(config, issues):
    html = render_archive(Site.from_config(config), issues)["issues/1/index.html"].decode("utf-8")
    page = Page(html)
    assert "@@PUB-" not in html and "Unsubscribe" not in page.visible
    assert "You are receiving this" not in page.visible
    assert (config.url("subscribe"), "Subscribe") in page.links
    assert (config.url("issues/"), "All issues") in page.links
    for review in issues[0].reviews:
        assert (review.url, f"Read the full review of {review.title}") in page.links
        assert review.title in page.visible
    assert "dm-card" in html and 'name="color-scheme" content="light dark"' in html
    assert f'<link rel="canonical" href="{config.url("issues/1/")}"' in html
    assert POSTAL in page.visible


def test_subscribe_link_follows_config(publication):
    publication.add_config('[newsletter]\nsubscribe_url = "https://lists.example.org/join"\n')
    config = publication.config
    html = render_issue_page(make_issue(config, 1), Site.from_config(config)).decode("utf-8")
    assert ("https://lists.example.org/join", "Subscribe") in Page(html).links


def test_each_review_carries_schema_org_review_data(config, issues):
    html = render_archive(Site.from_config(config), issues)["issues/1/index.html"].decode("utf-8")
    data = json_ld(html)
    assert len(data) == len(issues[0].reviews) == 2
    first = data[0]
    assert first["@context"] == "https://schema.org" and first["@type"] == "Review"
    assert first["url"] == "https://reel.test/reviews/film-1/"
    assert first["author"] == {"@type": "Person", "name": "Sam Okafor",
                               "url": "https://reel.test/reviewers/sam-okafor/"}
    assert first["reviewRating"] == {"@type": "Rating", "ratingValue": "3.5",
                                     "bestRating": "5", "worstRating": "0"}
    movie = first["itemReviewed"]
    assert movie["@type"] == "Movie" and movie["name"] == "Fast & Furious <Extended Cut>"
    assert movie["director"] == {"@type": "Person", "name": "Justin Lin"}
    assert [a["name"] for a in movie["actor"]] == ["Vin Diesel", "Paul Walker",
                                                   "Michelle Rodriguez"]
    assert movie["dateCreated"] == "2009"


def test_json_ld_cannot_break_out_of_its_script_element(config):
    evil = replace(make_issue(config, 1).reviews[0], title="</script><script>alert(1)</script>",
                   summary="<!-- & -->")
    issue = Issue(number=5, subject="", date=ISSUE_DATE, reviews=(evil,))
    html = render_issue_page(issue, Site.from_config(config)).decode("utf-8")
    assert html.count("<script") == html.count("</script>") == 1
    (data,) = json_ld(html)
    assert data["name"] == "</script><script>alert(1)</script>"
    assert data["description"] == "<!-- & -->"


def test_unrated_review_without_cast_has_no_rating_or_actors(config):
    review = make_issue(config, 4).reviews[3]
    plain = replace(review, rating=None, film=replace(review.film, starring=(), director=""))
    issue = Issue(number=6, subject="", date=ISSUE_DATE, reviews=(plain,))
    (data,) = json_ld(render_issue_page(issue, Site.from_config(config)).decode("utf-8"))
    assert "reviewRating" not in data
    assert "actor" not in data["itemReviewed"] and "director" not in data["itemReviewed"]


def test_archive_pages_are_shared_with_a_title_and_a_summary(config, issues):
    # What a link to an issue shows when it is pasted in a chat or a social network.
    out = render_archive(Site.from_config(config), issues)
    issue = lxml.html.fromstring(out["issues/1/index.html"])
    meta = {m.get("property") or m.get("name"): m.get("content") for m in issue.iter("meta")}
    assert meta["og:title"] == meta["twitter:title"] == (
        "Test Reel #1: Fast & Furious <Extended Cut> and 1 more")
    assert meta["og:url"] == config.url("issues/1/") and meta["og:type"] == "article"
    assert meta["og:description"].startswith("In this issue: Fast & Furious <Extended Cut>")
    index = lxml.html.fromstring(out["issues/index.html"])
    meta = {m.get("property") or m.get("name"): m.get("content") for m in index.iter("meta")}
    assert meta["og:url"] == config.url("issues/") and meta["twitter:card"] == "summary"


def test_index_lists_issues_newest_first(config, issues):
    html = render_archive(Site.from_config(config), issues)["issues/index.html"].decode("utf-8")
    page = Page(html)
    links = [(href, text) for href, text in page.links if "/issues/" in href and text]
    assert [href for href, _ in links[:2]] == [config.url("issues/2/"), config.url("issues/1/")]
    assert links[1][1] == "Test Reel #1: Fast & Furious <Extended Cut> and 1 more"
    assert "Issue #2 · 27 November 2026" in page.visible
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert "&#39;" not in html.split("</style>")[0]  # font names survive autoescaping in CSS


def test_atom_feed_of_issues_is_valid(config, issues):
    feed = feedparser.parse(render_archive(Site.from_config(config), issues)["issues/atom.xml"])
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Test Reel: newsletter issues"
    assert feed.feed.updated == "2026-11-27T09:00:00Z"
    assert [e.link for e in feed.entries] == [config.url("issues/2/"), config.url("issues/1/")]
    assert feed.entries[1].title == "Test Reel #1: Fast & Furious <Extended Cut> and 1 more"
    assert len({e.id for e in feed.entries}) == 2
    content = feed.entries[1].content[0]
    assert content.type == "text/html"
    assert '<a href="https://reel.test/reviews/film-1/">Fast &amp; Furious' in content.value


def test_issue_ids_keep_the_domain_they_were_minted_under_when_base_url_moves(publication,
                                                                                  issues):
    def entry_ids(config):
        atom = render_archive(Site.from_config(config), issues)["issues/atom.xml"]
        return [e.id for e in feedparser.parse(atom).entries]

    assert entry_ids(publication.config) == ["tag:reel.test,2026-11-27:issues/2",
                                             "tag:reel.test,2026-11-20:issues/1"]
    toml = publication.root / "publisher.toml"
    toml.write_text(toml.read_text().replace("https://reel.test/", "https://www.reel.test/"))
    publication.add_config('[feeds]\nid_domain = "reel.test"\n')
    assert entry_ids(publication.config) == ["tag:reel.test,2026-11-27:issues/2",
                                             "tag:reel.test,2026-11-20:issues/1"]


def test_empty_archive_is_still_valid(config):
    out = render_archive(Site.from_config(config), [])
    assert sorted(out) == ["issues/atom.xml", "issues/index.html"]
    assert feedparser.parse(out["issues/atom.xml"]).bozo == 0
    assert "No issues yet." in out["issues/index.html"].decode()


def test_issue_pages_and_digest_share_the_card_design(config, issues):
    site = Site.from_config(config)
    page = render_issue_page(issues[0], site).decode("utf-8")
    mail_html = render_digest(issues[0], site).html
    card = re.search(r'<div class="dm-card".*?Read the full review', mail_html, re.S)
    assert card and card.group(0) in page


def test_issues_feed_holds_the_newest_limit_issues_and_the_index_every_one(publication,
                                                                           issues):
    # A weekly newsletter's eighth year would otherwise put 400 issues in every poll.
    publication.add_config("[feeds]\nlimit = 1\n")
    out = render_archive(Site.from_config(publication.config), issues)
    feed = feedparser.parse(out["issues/atom.xml"])
    assert [e.link for e in feed.entries] == [publication.config.url("issues/2/")]
    assert feed.feed.updated == "2026-11-27T09:00:00Z"
    index = Page(out["issues/index.html"].decode("utf-8"))
    assert {publication.config.url("issues/1/"), publication.config.url("issues/2/")} <= {
        href for href, _ in index.links}
