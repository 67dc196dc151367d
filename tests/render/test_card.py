"""The review card: one view of a review, built once, that the digest, the archive pages (with
their schema.org data) and the feeds all render from."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.models import Film, Issue, Poster
from publisher.render.archive import render_archive, render_issue_page, review_json_ld
from publisher.render.card import review_card, script_json
from publisher.render.digest import render_digest
from publisher.render.feeds import FeedRenderer
from publisher.render.site import Site
from publisher.text import excerpt, slugify
from tests.fixtures import ISSUE_DATE, Page, make_issue


def film(config, i: int = 0, **changes):  # type: ignore[no-untyped-def]
    """The digest tests' film number ``i`` (FILMS), with ``changes``."""
    return replace(make_issue(config, i + 1).reviews[i], **changes)


def full_review(config):  # type: ignore[no-untyped-def]
    return film(
        config, 0, summary="  Cars,\u00a0family and\n a heist.  ", availability="In cinemas.",
        tags=("Action", "Heist"), rating=Decimal("3.5"),
        film=Film(year=2009, director="Justin Lin", starring=("Vin Diesel", "Paul Walker"),
                  runtime=107, classification="12A"),
        poster=Poster(src=config.url("posters/ff.png"), alt=""))


def test_a_card_holds_everything_a_renderer_shows(publication):
    config = publication.config
    review = full_review(config)
    card = review_card(review, 12)
    assert card.review is review
    assert (card.id, card.url, card.title) == (review.id, review.url, review.title)
    assert (card.year, card.director, card.cast) == (2009, "Justin Lin",
                                                     ("Vin Diesel", "Paul Walker"))
    assert (card.runtime, card.certificate) == (107, "12A")
    assert card.credits == "Directed by Justin Lin · Starring Vin Diesel and Paul Walker"
    assert (card.rating, card.rating_value, card.stars, card.rating_text) == (
        Decimal("3.5"), "3.5", "★★★½", "3.5 out of 5")
    assert card.reviewer == "Sam Okafor"
    assert card.summary == review.summary  # as written, for feeds and schema.org
    assert card.logline == "Cars, family and a heist."  # on one line, for the digest
    assert card.excerpt == ("Fast & Furious <Extended Cut> arrives with more confidence than it "
                            "has…")
    assert card.poster_src == config.url("posters/ff.png")
    assert card.poster_alt == "Poster for Fast & Furious <Extended Cut>"  # none given
    assert (card.availability, card.tags) == ("In cinemas.", ("Action", "Heist"))
    assert (card.published, card.updated) == (review.date, review.updated)


def test_a_card_without_the_optional_parts_leaves_them_empty(publication):
    config = publication.config
    review = film(config, 2, rating=None, film=Film(), poster=None, summary="")
    card = review_card(review, 60)
    assert (card.year, card.director, card.cast, card.runtime, card.certificate) == (
        None, "", (), None, "")
    assert card.credits == card.rating_value == card.stars == card.rating_text == ""
    assert card.rating is None
    assert card.poster_src == card.poster_alt == card.logline == ""


def test_a_zero_rating_has_a_value_and_words_but_no_stars(publication):
    card = review_card(film(publication.config, 0, rating=Decimal(0)), 60)
    assert (card.rating_value, card.stars, card.rating_text) == ("0", "", "0 out of 5")


def test_a_logline_that_opens_the_excerpt_is_shown_once(publication):
    config = publication.config
    review = film(config, 0)
    opening = "Fast & Furious <Extended Cut> arrives with more confidence than it has…"
    assert review_card(replace(review, summary=opening), 12).logline == ""
    assert review_card(replace(review, summary="Something else."), 12).logline == (
        "Something else.")


def test_a_summary_derived_from_a_body_in_guillemets_is_shown_once(publication):
    # French sets a narrow no-break space inside « » (sources/quotes.py); a summary made from
    # the body holds it as the excerpt does, and was shown again above the excerpt.
    body = "<p>Elle dit\u202f: «\u202fnon\u202f», et part.</p>"
    review = film(publication.config, 0, body_html=body, summary=excerpt(body, 12))
    assert review_card(review, 12).logline == ""


def test_digest_archive_and_feeds_show_the_same_card(publication):
    config = publication.config
    site = Site.from_config(config)
    review = full_review(config)
    card = review_card(review, site.excerpt_words)
    issue = Issue(number=1, subject="One", date=ISSUE_DATE, reviews=(review,))

    digest_page = Page(render_digest(issue, site).html)
    assert card.credits in digest_page.visible
    assert card.logline in digest_page.visible
    assert f"Reviewed by {card.reviewer}" in digest_page.visible
    assert {"src": card.poster_src, "alt": card.poster_alt}.items() <= next(
        img for img in digest_page.images if img["src"] == card.poster_src).items()

    archive_html = render_issue_page(issue, site).decode("utf-8")
    (data,) = [json.loads(block) for block in re.findall(
        r'<script type="application/ld\+json">(.*?)</script>', archive_html, re.S)]
    assert data == review_json_ld(card, site,
                                  author_url=f"https://reel.test/reviewers/{slugify(card.reviewer)}/")
    assert data["reviewRating"]["ratingValue"] == card.rating_value
    assert data["description"] == card.summary
    assert data["itemReviewed"]["image"] == card.poster_src
    assert [a["name"] for a in data["itemReviewed"]["actor"]] == list(card.cast)
    atom = feedparser.parse(render_archive(site, [issue])["issues/atom.xml"])
    assert f"reviewed by {card.reviewer}: {card.summary}" in atom.entries[0].content[0].value

    entry = FeedRenderer(site).render([review], title="T", description="D").files
    content = feedparser.parse(entry["atom.xml"]).entries[0].content[0].value
    assert f"{card.stars} — {card.rating_text}" in content
    assert [img["alt"] for img in Page(content).images] == [card.poster_alt]
    for fact in (str(card.year), card.director, ", ".join(card.cast), f"{card.runtime} minutes",
                 card.certificate, card.availability):
        assert fact in content


@pytest.mark.parametrize("data", [
    {"name": 'Zoë </script><script>alert("x")</script> & \\ co',
     "review": "line\u2028break\u2029here\ttab\x01", "rating": 3.5, "cast": ["Å", "字"]},
    {"name": "Zoë, with nothing to escape", "cast": ["Å", "字"]},
    {"name": "only one: \u2029"}], ids=["each", "none", "one"])
def test_json_ld_cannot_end_its_script_element_and_reads_back_as_written(data):
    text = str(script_json(data))
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == data
    # The same bytes as the standard library's compact encoding, safe characters escaped: a
    # change of JSON encoder must not rewrite every page.
    standard = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        standard = standard.replace(char, escaped)
    assert text == standard


@pytest.mark.parametrize("path", [
    "/posters/a.png", "/posters/a.PNG", "a.tar.gz", "/x/.png", "/x/..png", "/x/a.", "/x/a",
    "/x/a.png/", "/x/a.png/.", "/x/a.png/./", "//", "/", "", ".", "..", "/x/..", "/x/...",
    "/x.y/z", "a.png//", "/p/a.b.webp", "/p/é.jpeg", "/p/a.png%20", "./a.gif"])
def test_a_posters_suffix_is_what_pathlib_reads(path):
    from pathlib import PurePosixPath

    from publisher.render.card import _suffix

    assert _suffix(path) == PurePosixPath(path).suffix


@given(st.sampled_from(["http://", "https://", "HTTP://", "ftp://", " https://", "https:/", ""]),
       st.lists(st.sampled_from(["http", ":", "//", "/", "x", "a.png", ".", "?", "#", "[", "]",
                                 "::1", "é", "字", "\t", "\n", " ", "\x00", "%20", "@", ":80"]),
                max_size=12).map("".join))
def test_a_posters_path_is_what_urlsplit_reads(start, rest):
    url = start + rest
    from urllib.parse import urlsplit

    from publisher.render.card import _url_path

    try:
        expected = urlsplit(url).path
    except ValueError:
        with pytest.raises(ValueError):
            _url_path(url)
    else:
        assert _url_path(url) == expected
