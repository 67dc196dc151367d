"""The review pages' renderer (publisher.render.pages) at the level of its parts; whole pages
are tested where a build writes them (tests/pipeline/test_site.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from publisher.models import ImageFacts
from publisher.render import pages
from publisher.render.feeds import FeedRenderer
from publisher.render.images import BodyImages
from publisher.render.pages import PageRenderer, _utf8_join
from publisher.render.site import Site
from tests.fixtures import make_issue, make_review


def test_a_page_encoded_piece_by_piece_is_its_whole_text_encoded():
    # ASCII, Latin-1, two-byte and astral characters, and Markup, in every mix a page's pieces
    # may hold: one wide piece makes the joined text wide, while the others stay narrow.
    rng = random.Random(9)
    alphabet = ["a", "<", "&amp;", "é", "·", "©", "★", "“", "←", "😀", "\u2028", "\n"]
    for _ in range(3000):
        pieces = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(7)))
                  for _ in range(rng.randrange(9))]
        pieces = [Markup(p) if rng.random() < 0.3 else p for p in pieces]
        assert _utf8_join(iter(pieces)) == "".join(pieces).encode("utf-8")


def test_a_piece_utf8_cannot_carry_is_refused_as_the_whole_text_is():
    pieces = ["ok ", "\ud83d", "\ude00"]  # a surrogate pair split across pieces stays two
    with pytest.raises(UnicodeEncodeError):
        "".join(pieces).encode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        _utf8_join(pieces)


_renderers: dict[str, PageRenderer] = {}


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(published=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                              timezones=st.sampled_from([UTC, ZoneInfo("Pacific/Auckland"),
                                                         ZoneInfo("America/St_Johns")])),
       later=st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=3)),
       site_tz=st.sampled_from(["Europe/London", "Pacific/Kiritimati", "America/Adak"]))
def test_a_review_pages_dates_are_its_datetimes_in_the_sites_time_zone(
        publication, published, later, site_tz):
    # The page writes a review's dates as these, though it writes an equal one only once.
    review = replace(make_issue(publication.config, 1).reviews[0], date=published,
                     updated=published + later)
    pages = _renderers.get(site_tz)
    if pages is None:  # one a time zone: a renderer compiles its templates
        site = replace(Site.from_config(publication.config), tz=ZoneInfo(site_tz))
        pages = _renderers[site_tz] = PageRenderer(site)
    site = pages.site
    html = pages.review_page(review, None, None).decode("utf-8")
    tz = site.tz
    in_tz = published.astimezone(tz), review.updated.astimezone(tz)
    modified = max(review.updated, published).astimezone(tz)
    assert (f'<meta property="article:published_time" content="{in_tz[0].isoformat()}">'
            in html)
    assert f'<meta property="article:modified_time" content="{modified.isoformat()}">' in html
    assert f'"datePublished":"{in_tz[0].date().isoformat()}"' in html
    dates = pages._dates(pages.card(review))
    assert dates["date_iso"] == in_tz[0].date().isoformat()
    assert dates["updated_iso"] == in_tz[1].date().isoformat()
    assert dates["updated_text"] == (site.words.date(in_tz[1], tz)
                                     if in_tz[1].date() > in_tz[0].date() else "")


def test_a_sitemap_past_either_limit_is_split_under_an_index_dated_by_its_parts(publication,
                                                                               monkeypatch):
    # sitemaps.org and Google: 50,000 URLs or 50 MB a file. 26,000 addresses of 2,000
    # characters (a URL may be 2,048) made one sitemap.xml of 51 MB, which Google refuses.
    monkeypatch.setattr(pages, "SITEMAP_LIMIT", 3)
    monkeypatch.setattr(pages, "SITEMAP_BYTES", 450)
    site = Site.from_config(publication.config)
    day = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    urls = [(site.url(f"reviews/film-{i}/"), day + timedelta(days=i)) for i in range(5)]
    urls.append((site.url("tags/" + "x" * 120 + "/"), None))
    files = pages.render_sitemap(site, urls)
    assert sorted(files) == ["sitemap-1.xml", "sitemap-2.xml", "sitemap-3.xml", "sitemap.xml"]
    parts = [files[f"sitemap-{n}.xml"] for n in (1, 2, 3)]
    assert [part.count(b"<url>") for part in parts] == [3, 2, 1]  # by count, then by size
    assert all(len(part) <= 450 for part in parts)
    index = files["sitemap.xml"].decode()
    assert index.count("<sitemap>") == 3
    assert (f"<sitemap><loc>{site.url('sitemap-2.xml')}</loc>"
            "<lastmod>2026-11-24T09:00:00+00:00</lastmod></sitemap>") in index
    assert f"<sitemap><loc>{site.url('sitemap-3.xml')}</loc></sitemap>" in index
    small = pages.render_sitemap(site, urls[:3])
    assert list(small) == ["sitemap.xml"] and b"<urlset" in small["sitemap.xml"]


def test_the_indexes_make_no_card_that_their_templates_do_not_read(publication):
    # The process that renders the home page and the indexes takes the items the page workers
    # made; the default templates read only those, so no card (nor the excerpt it may derive
    # from a body) is made again there. A template that reads cards gets them as it reads.
    config = publication.config
    reviews = make_issue(config, 3).reviews
    site = Site.from_config(config)
    elsewhere = PageRenderer(site)
    pages = PageRenderer(site)
    pages.take_items([(review, elsewhere.item(review)) for review in reviews])
    pages.home(reviews, len(reviews))
    pages.list_page(kind="reviews", term=None, reviews=reviews, number=1, pages=1)
    assert pages.carded_items() == []


def test_a_bodys_image_files_are_picked_out_once_for_its_digest_its_page_and_its_feeds(
        publication):
    # The build's plan digests the facts of the image files among a body's links (a file's
    # new size makes again what shows it); the page and the feeds size the body's images by
    # the same facts. One BodyImages picks them out of the links and looks them up, once a body
    # however many ask: most bodies have none, and asking again finds that at once.
    config = publication.config
    still = f"{config.base_url}stills/harbour.png"
    review = make_review(1, config=config, links=((still, 9), (config.permalink("film-2"), 10)),
                         body_html=f'<p>Dusk.</p>\n<p><img src="{still}" alt="The harbour"></p>')
    asked: list[str] = []

    def facts(url: str) -> ImageFacts:
        asked.append(url)
        return ImageFacts(length=2048, width=640, height=360)

    images = BodyImages(facts)
    site = Site.from_config(config)
    assert images.of(review.links) == ((still, ImageFacts(length=2048, width=640,
                                                           height=360)),)
    page = PageRenderer(site, body_images=images).review_page(review, None, None)
    feed = FeedRenderer(site, body_images=images).render([review], title="t", description="d")
    assert b'alt="The harbour" width="640" height="360"' in page
    assert 'alt="The harbour" width="640" height="360"' in (
        feed.files["feed.json"].decode("utf-8").replace('\\"', '"'))
    assert asked == [still]
    assert images.of(()) == images.of(((config.permalink("film-2"), 3),)) == ()
