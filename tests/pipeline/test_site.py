"""The site `publisher build` writes beside the feeds: a page per review, the home page, the
indexes, 404, sitemap and robots; pages elsewhere when the permalink says so; and what
`publisher check` says about links nobody builds."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import unicodedata
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import feedparser
import lxml.etree
import lxml.html
import pytest

from publisher.config import load_config
from publisher.errors import ConfigError, PublisherError, SourceError
from publisher.models import Issue, Showing
from publisher.pipeline.build import build_site
from publisher.pipeline.check import check_publication
from publisher.pipeline.plan import plan_build
from publisher.render.digest import render_digest
from publisher.render.feeds import REVIEW_NS
from publisher.render.sender import Sender
from publisher.render.site import Site
from publisher.render.tokens import verify_unsubscribe_token
from publisher.sources.catalog import load_reviews
from publisher.sources.posters import PosterFacts
from tests.fixtures import (
    EXAMPLE,
    atom_problems,
    quoted,
    rss_problems,
    snapshot,
    write_films,
    write_png,
    write_reviews,
)


def page(public: Path, rel: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring((public / rel).read_bytes())


def meta(doc: lxml.html.HtmlElement, key: str) -> list[str]:
    return [m.get("content") for m in doc.xpath(f'//meta[@property="{key}" or @name="{key}"]')]


def json_ld(doc: lxml.html.HtmlElement) -> list[dict]:
    return [json.loads(s.text) for s in doc.xpath('//script[@type="application/ld+json"]')]


def links(doc: lxml.html.HtmlElement) -> list[str]:
    return [a.get("href") for a in doc.xpath("//a[@href]")]


# --- review pages ----------------------------------------------------------------------------


def test_each_review_has_a_page_with_everything_a_reader_and_a_crawler_need(publication, now):
    slugs = write_films(publication, 3)  # a day apart, posters 200×300 in static/posters/
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url
    doc = page(public, "reviews/film-2/index.html")

    assert doc.get("lang") == "en"
    [h1] = doc.xpath("//h1")  # one h1: the film
    assert " ".join(h1.text_content().split()) == "The Quiet Harbour (2025)"
    assert doc.xpath("//header") and doc.xpath("//nav") and doc.xpath("//main[@id='main']")
    assert doc.xpath("//footer") and doc.xpath("//a[@href='#main']")  # skip link
    text = " ".join(doc.text_content().split())
    for fact in ("Ines Alvarado", "Maya Holt, Tomás Rey", "Reviewed by Priya Nair",
                 "11 November 2026", "The score is loud."):
        assert fact in text, fact
    [stars] = doc.xpath("//*[@role='img'][contains(@aria-label, 'Rated')]")
    assert stars.get("aria-label") == "Rated 4 out of 5" and stars.text == "★★★★"
    [img] = doc.xpath("//figure//img")
    assert (img.get("src"), img.get("alt")) == (f"{base}posters/film-2.png",
                                               "Poster for The Quiet Harbour")
    assert (img.get("width"), img.get("height")) == ("200", "300")  # read from the file
    assert f"{base}reviewers/priya-nair/" in links(doc)
    assert doc.xpath("//a[@rel='tag']") == []  # write_films gives no tags
    # the reviews published just before and after it
    assert doc.xpath("//a[@rel='prev']/@href") == [f"{base}reviews/{slugs[0]}/"]
    assert doc.xpath("//a[@rel='next']/@href") == [f"{base}reviews/{slugs[2]}/"]

    # what crawlers and link previews read
    assert doc.xpath("//link[@rel='canonical']/@href") == [f"{base}reviews/film-2/"]
    assert meta(doc, "og:type") == ["article"]
    assert meta(doc, "og:locale") == ["en_US"]  # language_TERRITORY: a bare "en" is not read
    assert meta(doc, "og:url") == [f"{base}reviews/film-2/"]
    assert meta(doc, "og:image") == [f"{base}posters/film-2.png"]
    assert (meta(doc, "og:image:width"), meta(doc, "og:image:height")) == (["200"], ["300"])
    assert meta(doc, "twitter:card") == ["summary"]  # X's large card needs 300 pixels wide
    assert meta(doc, "article:published_time") == ["2026-11-11T00:00:00+00:00"]
    feeds = doc.xpath("//link[@rel='alternate']")
    assert {(f.get("type"), f.get("href")) for f in feeds} >= {
        ("application/rss+xml", f"{base}feed.xml"), ("application/atom+xml", f"{base}atom.xml"),
        ("application/feed+json", f"{base}feed.json")}
    [data] = json_ld(doc)
    assert data["@type"] == "Review" and data["url"] == f"{base}reviews/film-2/"
    assert data["itemReviewed"]["@type"] == "Movie"
    assert data["itemReviewed"]["director"] == {"@type": "Person", "name": "Ines Alvarado"}
    assert data["reviewRating"] == {"@type": "Rating", "ratingValue": "4", "bestRating": "5",
                                    "worstRating": "0"}
    assert data["author"] == {"@type": "Person", "name": "Priya Nair",
                              "url": f"{base}reviewers/priya-nair/"}
    assert data["datePublished"] == "2026-11-11"


def test_a_trailer_shows_as_the_sites_own_play_link_until_the_reader_asks(publication, now):
    # Nothing on the page loads from the video site (no request, no cookie) until the reader
    # follows the link inside the frame, which then plays the privacy-enhanced player.
    write_reviews(publication, [{"slug": "x", "title": 'Jaws "2"',
                                 "trailer": "https://youtu.be/dQw4w9WgXcQ"}, {"slug": "y"}])
    config = publication.config
    build_site(config, now=now)
    html = (config.output_path / "reviews/x/index.html").read_text("utf-8")
    doc = lxml.html.fromstring(html)
    [frame] = doc.xpath("//iframe")
    assert frame.get("src") is None and frame.get("title") == 'Trailer for Jaws "2"'
    assert not [url for url in doc.xpath("//@src | //@href") if "youtu" in url]
    inner = lxml.html.fromstring(frame.get("srcdoc"))
    [play] = inner.xpath("//a[@href]")
    assert play.get("href") == "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?autoplay=1"
    assert 'Watch the trailer for Jaws "2"' in play.text_content()
    [css] = inner.xpath("//link[@rel='stylesheet']/@href")
    assert css.startswith(f"{config.base_url}site.css")
    assert not inner.xpath("//*[@src] | //style | //*[@style]")  # nothing a CSP would block
    assert "<iframe" not in (config.output_path / "reviews/y/index.html").read_text("utf-8")


def test_drafts_and_future_reviews_have_no_page(publication, now):
    write_reviews(publication, [{"slug": "out"}, {"slug": "draft", "draft": "true"},
                                {"slug": "later", "date": "2027-01-01"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    assert (public / "reviews/out/index.html").is_file()
    assert not (public / "reviews/draft").exists() and not (public / "reviews/later").exists()
    assert "draft" not in (public / "sitemap.xml").read_text("utf-8")


def test_a_review_body_is_the_sanitised_html_and_titles_are_escaped(publication, now):
    write_reviews(publication, [{"slug": "x", "title": '"<b>Bold</b> & {{ not a template }}"',
                                 "body": "Hello <script>alert(1)</script> *world*."}])
    config = publication.config
    build_site(config, now=now)
    html = (config.output_path / "reviews/x/index.html").read_text("utf-8")
    assert "<script>alert" not in html
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; {{ not a template }}" in html
    assert "<em>world</em>" in html


def test_a_link_to_a_place_in_the_review_lands_on_its_page_everywhere(publication, now):
    write_reviews(publication, [
        {"slug": "x", "body": "See [the cast](#cast).\n\n## Cast"},
        {"slug": "y", "url": "https://old.reel.test/p/123", "body": "See [the cast](#cast)."}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    here = config.url("reviews/x/") + "#cast"
    doc = page(public, "reviews/x/index.html")
    assert here in links(doc)
    assert [h.text_content() for h in doc.xpath("//main//*[@id='cast']")] == ["Cast"]
    for feed in ("feed.xml", "atom.xml", "feed.json"):
        text = (public / feed).read_text("utf-8")
        assert here in text.replace("&amp;", "&")
        assert "https://old.reel.test/p/123#cast" in text
        assert config.url("#cast") not in text


def test_a_body_written_with_h1_headings_leaves_the_title_the_one_h1(publication, now):
    write_reviews(publication, [{"slug": "x", "body": "# Part one\n\nText.\n\n## Detail"}])
    config = publication.config
    build_site(config, now=now)
    doc = page(config.output_path, "reviews/x/index.html")
    assert [h.text_content() for h in doc.xpath("//h1")] == ["X"]
    assert [h.text_content() for h in doc.xpath("//main//h2 | //main//h3")][:2] == [
        "Part one", "Detail"]


def test_an_override_reads_the_page_and_its_parts_as_dicts_or_as_attributes(publication, now):
    write_films(publication, 2)
    publication.write_template(
        "review.html.j2",
        '{% extends "defaults/review.html.j2" %}{% block head %}'
        '<meta name="t" content="{{ page["heading"] }}|{{ page.get("missing", "none") }}|'
        '{{ "canonical" in page }}|{{ page | length > 5 }}|{{ page.image["alt"] }}|'
        '{{ page.image.get("width") }}|{% for key in page if key == "og_type" %}{{ key }}'
        '{% endfor %}|{% for key, value in page.items() if key == "author" %}{{ value }}'
        '{% endfor %}|{{ older["title"] if older else "" }}|'
        '{% for key, value in page.image|items if key == "height" %}{{ value }}{% endfor %}|'
        "{{ (page|dictsort)[0][0] }}\"><meta name=\"j\" content='{{ page.image|tojson }}'>"
        "{% endblock %}")
    build_site(publication.config, now=now)
    doc = page(publication.config.output_path, "reviews/film-2/index.html")
    fields = doc.xpath('//meta[@name="t"]')[0].get("content").split("|")
    assert fields == ["The Quiet Harbour (2025)", "none", "True", "True",
                      "Poster for The Quiet Harbour", "200", "og_type", "Priya Nair",
                      "Fast & Furious <Extended Cut>", "300", "author"]
    image = json.loads(doc.xpath('//meta[@name="j"]')[0].get("content"))
    assert (image["alt"], image["width"], image["height"]) == (
        "Poster for The Quiet Harbour", 200, 300)


def test_an_override_has_jinjas_own_globals_on_every_kind_of_page(publication, now):
    # Pages are rendered with the globals merged once per template (render/pages.py): an
    # override still finds range, namespace, cycler, joiner and dict, and a context value of
    # the same name still wins over a global.
    write_films(publication, 2)
    uses = ('{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}'
            '{% endfor %}{% set c = cycler("a", "b") %}{% set j = joiner("+") %}'
            '<meta name="g" content="{{ ns.n }}{{ c.next() }}{{ c.next() }}{{ j() }}x{{ j() }}'
            '{{ dict(k=1).k }}{{ title }}">')
    for name in ("review.html.j2", "list.html.j2"):
        publication.write_template(
            name, f'{{% extends "defaults/{name}" %}}{{% block head %}}{uses}{{% endblock %}}')
    publication.write_template(
        "review_item.html.j2",
        '{% include "defaults/review_item.html.j2" %}<!-- {{ range(2) | list }} -->')
    build_site(publication.config, now=now)
    public = publication.config.output_path
    expected = f"3abx+1{publication.config.title}"
    for rel in ("reviews/film-2/index.html", "reviews/index.html"):
        assert meta(page(public, rel), "g") == [expected]
    assert "<!-- [0, 1] -->" in (public / "index.html").read_text("utf-8")


# --- home and indexes -----------------------------------------------------------------------


def test_the_home_page_shows_the_latest_reviews(publication, now):
    write_reviews(publication, 5)
    publication.add_config("[site]\nhome_reviews = 3\n")
    config = publication.config
    build_site(config, now=now)
    doc = page(config.output_path, "index.html")
    assert [h.text_content() for h in doc.xpath("//h1")] == ["Test Reel"]
    titles = [b.text for b in doc.xpath("//ul[@class='cards']//h2/a/bdi")]
    assert titles == ["Film 5", "Film 4", "Film 3"]
    assert f"{config.base_url}reviews/" in links(doc)
    types = [d["@type"] for d in json_ld(doc)]
    assert types == ["WebSite", "ItemList"]


def test_the_home_page_and_the_indexes_can_lay_out_the_reviews_cards_themselves(
        publication, now):
    # As the digest can: a designer's home page shows posters and ratings its own way, and
    # still has each review's item as the default lists it.
    write_films(publication, 2)
    own = ('{% block main %}{% for card in cards %}<figure data-rating="{{ card.rating_value }}">'
           '<img src="{{ card.poster_src }}" alt="{{ card.poster_alt }}">'
           '<figcaption><a href="{{ card.url }}">{{ card.title }}</a> ({{ card.year }})'
           '</figcaption></figure><ul>{{ items[loop.index0] }}</ul>{% endfor %}{% endblock %}')
    for name in ("home.html.j2", "list.html.j2"):
        publication.write_template(name, f'{{% extends "defaults/{name}" %}}{own}')
    config = publication.config
    build_site(config, now=now)
    for rel in ("index.html", "reviews/index.html"):
        doc = page(config.output_path, rel)
        figures = [(f.findtext(".//a"), f.get("data-rating"), f.find(".//img").get("alt"))
                   for f in doc.xpath("//main//figure")]
        assert figures == [
            ("The Quiet Harbour", "4", "Poster for The Quiet Harbour"),
            ("Fast & Furious <Extended Cut>", "3.5", "Poster for Fast & Furious <Extended Cut>")
        ], rel
        assert len(doc.xpath("//main//ul/li//h2/a")) == 2, rel


def test_the_indexes_go_newest_first_a_page_at_a_time(publication, now):
    write_reviews(publication, [{"tags": "[noir]"} for _ in range(5)])
    publication.add_config("[site]\nper_page = 2\n")
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url

    def titles(rel):
        return [b.text for b in page(public, rel).xpath("//ul[@class='cards']//h2/a/bdi")]

    assert titles("reviews/index.html") == ["Film 5", "Film 4"]
    assert titles("reviews/page/2/index.html") == ["Film 3", "Film 2"]
    assert titles("reviews/page/3/index.html") == ["Film 1"]
    assert not (public / "reviews/page/1").exists()  # page 1 is reviews/ itself
    second = page(public, "reviews/page/2/index.html")
    assert second.xpath("//a[@rel='prev']/@href") == [f"{base}reviews/"]
    assert second.xpath("//a[@rel='next']/@href") == [f"{base}reviews/page/3/"]
    assert "Page 2 of 3" in second.text_content()

    film = page(public, "reviews/film-1/index.html")
    assert [(a.text, a.get("href")) for a in film.xpath("//a[@rel='tag']")] == [
        ("noir", f"{base}tags/noir/")]
    tag = page(public, "tags/noir/index.html")
    assert tag.xpath("//h1")[0].text == "noir"
    assert f"{base}tags/noir/atom.xml" in links(tag)  # its feeds, linked and discoverable
    assert f"{base}tags/noir/feed.json" in tag.xpath("//link[@rel='alternate']/@href")
    assert titles("tags/noir/page/3/index.html") == ["Film 1"]
    reviewer = page(public, "reviewers/priya-raman/index.html")
    assert reviewer.xpath("//h1")[0].text == "Reviews by Priya Raman"

    terms = page(public, "tags/index.html")
    assert [(a.text, a.get("href")) for a in terms.xpath("//ul[@class='terms']//a")] == [
        ("noir", f"{base}tags/noir/")]
    assert "(5)" in terms.text_content()
    assert f"{base}reviewers/priya-raman/" in links(page(public, "reviewers/index.html"))


def test_a_reviewers_or_tags_page_given_to_a_feed_reader_subscribes_to_its_own_feed(
        publication, now):
    # A reader pastes a reviewer's page into NetNewsWire (or Reeder, or a script reading the
    # first link): it takes the best-scored of the page's feeds, earlier links scoring higher,
    # and with the site's three linked first it took the site's RSS, every review of every
    # reviewer. Hugo links a term's page to its own feed alone; here the page's own come first.
    write_reviews(publication, [{"tags": "[noir]"} for _ in range(3)])
    publication.add_config("[site]\nper_page = 2\n")
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url

    def discovered(rel):
        return [(ln.get("type"), ln.get("href"))
                for ln in page(public, rel).xpath("//head/link[@rel='alternate']")]

    for directory in ("reviewers/priya-raman/", "tags/noir/"):
        own = [("application/rss+xml", f"{base}{directory}feed.xml"),
               ("application/atom+xml", f"{base}{directory}atom.xml"),
               ("application/feed+json", f"{base}{directory}feed.json")]
        site = [("application/rss+xml", f"{base}feed.xml"),
                ("application/atom+xml", f"{base}atom.xml"),
                ("application/feed+json", f"{base}feed.json")]
        for rel in (f"{directory}index.html", f"{directory}page/2/index.html"):
            assert discovered(rel) == own + site, rel
    assert discovered("index.html") == site  # elsewhere the site's alone, as before
    assert discovered("reviews/film-1/index.html") == site


def test_a_long_index_links_its_newest_and_oldest_pages_from_every_page(publication, now):
    # 233 pages of reviews/ at 12,000 reviews: the oldest was 232 clicks away.
    write_reviews(publication, 7)
    publication.add_config("[site]\nper_page = 1\n")
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url

    def pager(rel):
        [nav] = page(public, rel).xpath("//nav[@class='pager']")
        return [(" ".join(a.text_content().split()), a.get("href")) for a in nav.xpath(".//a")]

    assert pager("reviews/page/4/index.html") == [
        ("« Newest", f"{base}reviews/"), ("← Newer", f"{base}reviews/page/3/"),
        ("Older →", f"{base}reviews/page/5/"), ("Oldest »", f"{base}reviews/page/7/")]
    # Never two links to one page: the next page over is the newest or the oldest itself.
    assert pager("reviews/index.html") == [
        ("Older →", f"{base}reviews/page/2/"), ("Oldest »", f"{base}reviews/page/7/")]
    assert pager("reviews/page/2/index.html") == [
        ("← Newer", f"{base}reviews/"), ("Older →", f"{base}reviews/page/3/"),
        ("Oldest »", f"{base}reviews/page/7/")]
    assert pager("reviews/page/7/index.html") == [
        ("« Newest", f"{base}reviews/"), ("← Newer", f"{base}reviews/page/6/")]


def test_a_long_index_jumps_to_each_year_from_every_page(publication, now):
    # 577 pages of reviews/ at 30,000 reviews, 73 of a tag on 3,000: a reader after the
    # reviews of 2021 clicked Older a page at a time, or guessed page numbers in the address.
    # Each page now links each year to the page its newest review is on. Years are the
    # site's: 05:00 on New Year's Day in Tokyo is still the old year in UTC.
    publication.replace_config('timezone = "Europe/London"', 'timezone = "Asia/Tokyo"')
    publication.add_config("[site]\nper_page = 2\n")
    dates = ["2022-02-01", "2024-04-01", "2024-05-01", "2024-06-01", "2025-12-31",
             "2026-01-01 05:00", "2026-11-01"]
    write_reviews(publication, [{"date": d, "tags": "[noir]"} for d in dates])
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url

    def years(rel):
        [nav] = page(public, rel).xpath("//nav[@class='years']")
        return [(a.text, a.get("href"), a.get("aria-current")) for a in nav.xpath(".//a")]

    # Newest first, as the pages are: 2026 (two reviews) fills page 1, 2025 and 2024 begin
    # on page 2, 2024 runs to page 3, and 2022 is alone on page 4; 2023 has none.
    for directory in ("reviews/", "tags/noir/"):
        assert years(f"{directory}page/2/index.html") == [
            ("2026", f"{base}{directory}", None),
            ("2025", f"{base}{directory}page/2/", "page"),
            ("2024", f"{base}{directory}page/2/", "page"),
            ("2022", f"{base}{directory}page/4/", None)]
        assert [a[2] for a in years(f"{directory}index.html")] == ["page", None, None, None]
    # One page, or one year, has nothing to jump to.
    assert not page(public, "tags/index.html").xpath("//nav[@class='years']")

    # A review moved from 2022 to 2023 stays on page 4: page 1 lists the same reviews, and
    # still says where 2023 is.
    source = publication.root / "reviews" / "film-1.md"
    source.write_text(source.read_text().replace("2022-02-01", "2023-02-01"))
    build_site(config, now=now)
    assert years("reviews/index.html")[-1] == ("2023", f"{base}reviews/page/4/", None)


def test_an_index_of_one_year_or_one_page_has_no_years_to_jump_to(publication, now):
    publication.add_config("[site]\nper_page = 2\n")
    write_reviews(publication, [{"date": d} for d in ("2026-01-02", "2026-03-01", "2026-05-01")]
                  + [{"date": "2025-06-01", "reviewer": "Sam Okafor"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    # Priya Raman's three reviews, all of 2026, on two pages; Sam Okafor's one.
    for rel in ("reviewers/priya-raman/index.html", "reviewers/priya-raman/page/2/index.html",
                "reviewers/sam-okafor/index.html"):
        assert not page(public, rel).xpath("//nav[@class='years']"), rel
    assert page(public, "reviews/index.html").xpath("//nav[@class='years']")


def test_tags_and_reviewers_are_listed_in_the_order_of_their_names(publication, now):
    # Their slugs spell Hebrew in Latin letters (דרמה is drmh, אנימציה nymtsyh): sorted by
    # slug, the index would put dalet before alef.
    write_reviews(publication, [
        {"tags": "[דרמה, אנימציה, קומדיה]", "reviewer": "נועה כהן"},
        {"tags": "[Éclair, eagle, Zoo, Œuvres, Ode]", "reviewer": "אבי לוי"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    tags = page(public, "tags/index.html").xpath("//ul[@class='terms']//a/text()")
    # French's œ is o and e, as French dictionaries file it (Œuvres after Ode, before Zoo).
    assert tags == ["eagle", "Éclair", "Ode", "Œuvres", "Zoo", "אנימציה", "דרמה", "קומדיה"]
    reviewers = page(public, "reviewers/index.html").xpath("//ul[@class='terms']//a/text()")
    assert reviewers == ["אבי לוי", "נועה כהן"]


def test_a_long_list_of_tags_jumps_to_each_letter(publication, now):
    # 2,000 tags on one page are 87 screens of a phone: a reader after "western" scrolled
    # past every tag from A on. Past 50 names the list starts with a link to where each
    # letter does, filed as the list is (Éclair with E, łódź with L; 1970s under #).
    names = ([f"alpha {i:02d}" for i in range(20)] + [f"beta {i:02d}" for i in range(20)]
             + ["Éclair", "eagle", "łódź", "lynch", "1970s", "zoo"]
             + [f"western {i:02d}" for i in range(10)])
    write_reviews(publication, [{"tags": "[" + ", ".join(names[i::4]) + "]"}
                                for i in range(4)])
    config = publication.config
    build_site(config, now=now)
    doc = page(config.output_path, "tags/index.html")
    [nav] = doc.xpath("//nav[@class='letters']")
    letters = [(a.text, a.get("href")) for a in nav.xpath(".//a")]
    assert letters == [("#", "#letter-0"), ("A", "#letter-a"), ("B", "#letter-b"),
                       ("E", "#letter-e"), ("L", "#letter-l"), ("W", "#letter-w"),
                       ("Z", "#letter-z")]
    # Each lands on its letter's first name.
    for text, href in letters:
        [item] = doc.xpath(f"//ul[@class='terms']/li[@id='{href[1:]}']")
        assert item.xpath("a/text()")[0] == {
            "#": "1970s", "A": "alpha 00", "B": "beta 00", "E": "eagle", "L": "łódź",
            "W": "western 00", "Z": "zoo"}[text]
    # Six reviewers' names are one screen: no letters.
    assert not page(config.output_path, "reviewers/index.html").xpath("//nav[@class='letters']")


def test_a_name_is_one_tag_and_one_reviewer_whichever_apostrophe_typed_it(publication, now):
    # A text editor types ', Word and macOS ’: "film d'auteur" and "film d’auteur" were two tag
    # pages (film-d-auteur, film-dauteur), and O'Brien and O’Brien two reviewers.
    write_reviews(publication, [
        {"tags": "[\"film d'auteur\"]", "reviewer": "\"Zoé O'Brien\""},
        {"tags": "[film d’auteur]", "reviewer": "Zoé O’Brien"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    assert page(public, "tags/index.html").xpath("//ul[@class='terms']//a/@href") == [
        config.url("tags/film-d-auteur/")]
    assert page(public, "reviewers/index.html").xpath("//ul[@class='terms']//a/@href") == [
        config.url("reviewers/zoe-o-brien/")]
    assert len(page(public, "tags/film-d-auteur/index.html").xpath("//main//li")) == 2


def test_katakana_and_hiragana_are_filed_together_in_the_order_of_their_sounds(publication,
                                                                              now):
    # Unicode lays hiragana out before katakana: アニメ (a) came after さくら (sa).
    write_reviews(publication, [{"tags": "[ドラマ, さくら, アニメ, いぬ, ｶﾒﾗ]"}])
    config = publication.config
    build_site(config, now=now)
    tags = page(config.output_path, "tags/index.html").xpath("//ul[@class='terms']//a/text()")
    assert tags == ["アニメ", "いぬ", "ｶﾒﾗ", "さくら", "ドラマ"]


def test_letters_with_a_stroke_are_filed_with_their_letter_not_after_z(publication, now):
    # Unicode gives Ł, Đ, Ħ and ı no decomposition, so dropping accents alone left Łódź and
    # Łukasz after Zurich and Zoé.
    write_reviews(publication, [
        {"tags": "[Łódź, Lyon, Zurich, Đakovo, Dublin, Ħamrun, Hull]",
         "reviewer": "Łukasz Nowak"},
        {"reviewer": "Zoé Martin"}, {"reviewer": "Lars Berg"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    tags = page(public, "tags/index.html").xpath("//ul[@class='terms']//a/text()")
    assert tags == ["Đakovo", "Dublin", "Ħamrun", "Hull", "Łódź", "Lyon", "Zurich"]
    reviewers = page(public, "reviewers/index.html").xpath("//ul[@class='terms']//a/text()")
    assert reviewers == ["Lars Berg", "Łukasz Nowak", "Zoé Martin"]


def test_a_review_page_suggests_related_reviews_and_follows_their_changes(publication, now):
    def films(second_title: str) -> None:
        write_reviews(publication, [
            {"slug": "alien", "film": {"year": 1979, "director": "Ridley Scott",
                                       "starring": ["Sigourney Weaver"]}},
            {"slug": "heat", "film": {"year": 1995, "director": "Michael Mann"}},
            {"slug": "aliens", "film": {"year": 1986, "director": "James Cameron",
                                        "starring": ["Sigourney Weaver"]}},
            {"slug": "gladiator", "title": quoted(second_title),
             "film": {"year": 2000, "director": "Ridley Scott"}}])  # published a day apart

    films("Gladiator")
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    doc = page(public, "reviews/alien/index.html")
    [section] = doc.xpath("//section[@class='related']")
    assert section.xpath("h2/text()") == ["Related reviews"]
    assert [(li.xpath("a/@href")[0], li.xpath("string(a)"), li.xpath("string(span)"),
             li.xpath("string(p)")) for li in section.xpath(".//li")] == [
        (config.url("reviews/gladiator/"), "Gladiator", "(2000)",
         "Also directed by Ridley Scott · reviewed by Priya Raman"),
        (config.url("reviews/aliens/"), "Aliens", "(1986)",
         "Also starring Sigourney Weaver · reviewed by Priya Raman")]
    assert not page(public, "reviews/heat/index.html").xpath("//section[@class='related']")

    # Renamed, it is still suggested on alien's page, which is made again; heat's is not
    # (neither its neighbours nor its suggestions changed).
    films("Gladiator: Extended")
    written = build_site(config, now=now).written
    assert "reviews/alien/index.html" in written and "reviews/heat/index.html" not in written
    assert "Gladiator: Extended" in (public / "reviews/alien/index.html").read_text("utf-8")

    publication.add_config("[site]\nrelated = 0\n")
    build_site(publication.config, now=now)
    assert not page(public, "reviews/alien/index.html").xpath("//section[@class='related']")


def test_404_sitemap_and_robots(publication, now):
    write_reviews(publication, 2)
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url
    not_found = page(public, "404.html")
    assert not_found.xpath("//h1")[0].text == "Page not found"
    assert all(href.startswith(base) or href == "#main" for href in links(not_found))
    sitemap = (public / "sitemap.xml").read_text("utf-8")
    locs = re.findall(r"<loc>([^<]+)</loc>", sitemap)
    for url in (base, f"{base}reviews/film-1/", f"{base}reviews/", f"{base}tags/",
                f"{base}reviewers/priya-raman/", f"{base}feeds/"):
        assert url in locs, url
    assert f"{base}404.html" not in sitemap
    assert "<lastmod>2026-11-02T00:00:00+00:00</lastmod>" in sitemap
    assert (public / "robots.txt").read_text("utf-8") == (
        f"User-agent: *\nAllow: /\n\nSitemap: {base}sitemap.xml\n")


def test_no_robots_txt_below_the_root_of_a_host(publication, now):
    publication.write_config(publication.root.joinpath("publisher.toml").read_text("utf-8")
                             .replace('"https://reel.test/"', '"https://reel.test/reviews/"'))
    write_reviews(publication, 1)
    build_site(publication.config, now=now)
    assert not (publication.config.output_path / "robots.txt").exists()  # crawlers never look


# --- search -----------------------------------------------------------------------------------


def test_the_search_index_holds_each_published_review_as_a_search_shows_it(publication, now):
    write_films(publication, 3)
    write_reviews(publication, [{"draft": "true"}], prefix="unfinished")
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url
    index = json.loads((public / "search.json").read_bytes())
    assert index["version"] == 1
    assert [entry["url"] for entry in index["reviews"]] == [
        f"{base}reviews/film-3/", f"{base}reviews/film-2/", f"{base}reviews/film-1/"]
    assert index["reviews"][-1] == {
        "title": "Fast & Furious <Extended Cut>", "url": f"{base}reviews/film-1/",
        "reviewer": "Sam Okafor", "date": "10 November 2026", "year": 2009,
        "director": "Justin Lin", "starring": ["Vin Diesel", "Paul Walker", "Michelle Rodriguez"],
        "stars": "★★★½", "rating": "3.5 out of 5"}
    assert "tags" not in index["reviews"][-1]  # what a review does not give is left out

    search = page(public, "search/index.html")
    [form] = search.xpath("//form[@role='search']")
    assert (form.get("action"), form.get("method")) == (f"{base}search/", "get")
    assert form.get("data-index") == f"{base}search.json"
    assert search.xpath("//label[@for='q']") and form.xpath(".//input[@name='q']")
    assert meta(search, "robots") == ["noindex"]  # a page of results is not worth indexing
    assert search.xpath("//nav//a[@aria-current='page']/text()") == ["Search"]
    assert search.xpath("//noscript//a/@href") == [f"{base}reviews/", f"{base}tags/",
                                                   f"{base}reviewers/"]
    for rel in ("index.html", "reviews/film-1/index.html", "tags/index.html", "404.html"):
        assert page(public, rel).xpath("//nav//a[text()='Search']/@href") == [f"{base}search/"]
    # The page for a missing address offers to search for it.
    [form] = page(public, "404.html").xpath("//form[@role='search']")
    assert form.get("action") == f"{base}search/" and form.xpath(".//input[@name='q']")
    assert f"{base}search/" not in (public / "sitemap.xml").read_text("utf-8")


def test_the_search_index_names_the_address_of_a_name_that_does_not_spell_it(publication, now):
    # "olga petrova", the words of reviewers/olga-petrova/, found nothing: a search reads
    # only the name, "Ольга Петрова". A name that spells its address costs the index nothing.
    write_reviews(publication, [
        {"reviewer": "Ольга Петрова", "tags": "[драма, sci-fi]", "title": quoted("Крылья")},
        {"reviewer": "Lucía Ferreira"}])
    config = publication.config
    build_site(config, now=now)
    index = json.loads((config.output_path / "search.json").read_bytes())
    assert index["slugs"] == {"Ольга Петрова": "olga-petrova", "драма": "drama"}


def test_a_new_summary_leaves_the_search_index_alone_a_new_title_does_not(publication, now):
    write_reviews(publication, 2)
    config = publication.config
    build_site(config, now=now)
    source = publication.root / "reviews" / "film-1.md"
    source.write_text(source.read_text("utf-8").replace("number 1.", "number one."), "utf-8")
    assert "search.json" not in build_site(config, now=now).written
    source.write_text(source.read_text("utf-8").replace('"Film 1"', '"Film One"'), "utf-8")
    assert "search.json" in build_site(config, now=now).written
    assert b'"title":"Film One"' in (config.output_path / "search.json").read_bytes()


def test_a_site_may_go_without_search(publication, now):
    write_reviews(publication, 2)
    publication.add_config("[site]\nsearch = false\n")
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    assert not (public / "search").exists() and not (public / "search.json").exists()
    for rel in ("index.html", "404.html"):
        doc = page(public, rel)
        assert not doc.xpath("//a[text()='Search']") and not doc.xpath("//form[@role='search']")


# --- subscribing ----------------------------------------------------------------------------


def test_every_page_and_the_feeds_stylesheet_post_to_publisher_serve(publication, now):
    write_reviews(publication, 1)
    publication.add_config('[server]\nurl = "https://list.reel.test/"\n')
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    for rel in ("index.html", "reviews/film-1/index.html", "404.html", "tags/index.html"):
        doc = page(public, rel)
        [form] = doc.xpath("//form[not(@role='search')]")  # 404.html has a search form too
        assert (form.get("method"), form.get("action")) == (
            "post", "https://list.reel.test/subscribe")
        [field] = form.xpath(".//input[@type='email']")
        assert field.get("name") == "email" and field.get("required") is not None
        assert doc.xpath(f"//label[@for='{field.get('id')}']")
        assert form.xpath(".//input[@name='form']/@value") == ["site"]
        assert form.xpath(".//input[@name='website']")  # the server's honeypot
    site_fields = form.xpath(".//input[not(@type='hidden')]/@name")
    assert site_fields == ["email", "name", "website"]
    # The feeds' view has the same fields as the pages (it had no Name).
    xsl = lxml.etree.parse(str(public / "feed.xsl"))
    [feed_form] = xsl.xpath("//form[@class='subscribe']")
    assert feed_form.get("action") == "https://list.reel.test/subscribe"
    assert feed_form.xpath(".//input[not(@type='hidden')]/@name") == site_fields
    [name] = feed_form.xpath(".//input[@name='name']")
    assert xsl.xpath(f"//label[@for='{name.get('id')}']/text()") == ["Name (optional)"]
    assert not (public / "subscribe").exists()  # the server has that page


def test_a_feed_read_in_the_browser_shows_loglines_as_written_and_no_markup(publication, now):
    # RSS carries a logline as HTML (escaped once more than Atom's text summary): the
    # stylesheet shows it as Atom's reads. A review with neither logline nor body to take one
    # from has its HTML as the description, which is not shown as text.
    write_reviews(publication, [{"summary": "Brass & coal, <i>not</i> steel"},
                                {"summary": None, "body": ""}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    [bare] = lxml.etree.parse(str(public / "feed.xml")).xpath("//item[title='Film 2']")
    assert bare.find("{http://purl.org/rss/1.0/modules/content/}encoded") is None
    transform = lxml.etree.XSLT(lxml.etree.parse(str(public / "feed.xsl")))
    for name in ("feed.xml", "atom.xml"):
        shown = lxml.html.fromstring(str(transform(lxml.etree.parse(str(public / name)))))
        rows = {li.xpath("string(h2/a[@class='title'])"): li.xpath("p[not(@class)]")
                for li in shown.xpath("//main//ul[contains(@class, 'rows')]/li")}
        assert [p.text_content() for p in rows["Film 1"]] == ["Brass & coal, <i>not</i> steel"]
        assert rows["Film 2"] == [], name


def test_without_a_server_url_the_form_posts_under_base_url(publication, now):
    # publisher serve behind a proxy at the site's own address (README, "A reverse proxy").
    write_reviews(publication, 1)
    config = publication.config
    build_site(config, now=now)
    [form] = page(config.output_path, "index.html").xpath("//form")
    assert form.get("action") == f"{config.base_url}subscribe"


def test_a_subscribe_page_elsewhere_is_linked_not_posted_to(publication, now):
    write_reviews(publication, 1)
    publication.add_config('[newsletter]\nsubscribe_url = "https://lists.example.net/reel"\n')
    config = publication.config
    build_site(config, now=now)
    doc = page(config.output_path, "index.html")
    assert not doc.xpath("//form")
    assert "https://lists.example.net/reel" in links(doc)
    assert "https://lists.example.net/reel" in (config.output_path / "feed.xsl").read_text()


# --- pages that live elsewhere ----------------------------------------------------------------


def test_an_absolute_permalink_means_no_pages_only_feeds(publication, now):
    write_reviews(publication, 2)
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    config = publication.config
    report = build_site(config, now=now)
    public = config.output_path
    assert not (public / "index.html").exists() and not (public / "reviews").exists()
    assert not (public / "sitemap.xml").exists() and not (public / "404.html").exists()
    assert not (public / "search.json").exists()  # that site has the pages to search
    assert (public / "feed.xsl").is_file() and (public / "site.css").is_file()
    assert b"https://www.reel.test/post/film-1" in (public / "feed.xml").read_bytes()
    assert not any(rel.endswith("index.html") for rel in report.written)
    # nothing in the feeds or their browser view points at a page that is not built
    assert "about" not in json.loads((public / "feed.json").read_bytes())["items"][0]["_review"]
    assert "feeds/" not in (public / "feed.xsl").read_text("utf-8")
    check = check_publication(config, now=now)
    assert not [w for w in check.warnings if "feeds.permalink" in w]


def test_a_review_mapped_to_its_page_elsewhere_has_none_here(publication, now):
    write_reviews(publication, [{"slug": "old", "url": "https://old.reel.test/p/123"},
                                {"slug": "new"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    assert not (public / "reviews/old").exists()
    assert (public / "reviews/new/index.html").is_file()
    assert "https://old.reel.test/p/123" in links(page(public, "reviews/index.html"))
    assert b"<link>https://old.reel.test/p/123</link>" in (public / "feed.xml").read_bytes()
    assert "https://old.reel.test" not in (public / "sitemap.xml").read_text("utf-8")


def test_a_url_in_front_matter_must_be_a_url(publication):
    from publisher.sources import check_sources

    write_reviews(publication, [{"slug": "x", "url": '"https://a.test/x y"'},
                                {"slug": "y", "url": "/relative/"}])
    problems = [str(p) for p in check_sources(publication.config).problems]
    assert len(problems) == 2 and all("url: " in p and "absolute http(s) URL" in p
                                      for p in problems)


def test_check_warns_when_feed_links_go_to_pages_nobody_builds(publication, now):
    write_reviews(publication, 1)
    publication.add_config('[feeds]\npermalink = "reviews/{slug}"\n')
    report = check_publication(publication.config, now=now)
    [warning] = [w for w in report.warnings if "permalink" in w]
    assert "https://reel.test/reviews/film-1" in warning
    assert "end it with '/' or '.html'" in warning


def test_check_names_spellings_that_share_one_page(publication, now):
    write_reviews(publication, [{"tags": ["C++"]}, {"tags": ["C"]}, {"tags": ["Sci-Fi"]},
                                {"tags": ["sci fi"], "reviewer": "priya raman"}])
    report = check_publication(publication.config, now=now)
    shared = sorted(w for w in report.warnings if "share one page" in w)
    assert shared == [
        "reviewers 'Priya Raman' (reviews/film-1.md), 'priya raman' (reviews/film-4.md) share "
        "one page and feed, reviewers/priya-raman/, shown as 'priya raman'; spell them alike, "
        "or rename one to give it its own",
        "tags 'C++' (reviews/film-1.md), 'C' (reviews/film-2.md) share one page and feed, "
        "tags/c/, shown as 'C'; spell them alike, or rename one to give it its own",
        "tags 'Sci-Fi' (reviews/film-3.md), 'sci fi' (reviews/film-4.md) share one page and "
        "feed, tags/sci-fi/, shown as 'sci fi'; spell them alike, or rename one to give it its "
        "own"]


def test_check_warns_when_a_reviews_own_url_is_a_page_nobody_builds(publication, now):
    write_reviews(publication, [{"url": "https://reel.test/old/paper-moons"},
                                {"url": "https://reel.test/old/kept.html"},
                                {"url": "https://elsewhere.example/post/3"}])
    report = check_publication(publication.config, now=now)
    [warning] = [w for w in report.warnings if "url:" in w]
    assert warning.startswith("reviews/film-1.md: url: https://reel.test/old/paper-moons is "
                              "under base_url")
    assert "end it with '/' or '.html'" in warning


def test_a_review_whose_page_is_another_pages_file_is_named_by_check_before_a_build_stops(
        publication, now):
    # "reviews" is the index of every review as well: the same unit key, once silently
    # one page in place of the other.
    write_reviews(publication, [{"slug": "tags"}, {"slug": "reviews"}, {"slug": "fine"}])
    publication.add_config('[feeds]\npermalink = "{slug}/"\n')
    config = publication.config
    expected = [
        f"reviews/{slug}.md: slug: its page {config.url(slug + '/')} would be written over by "
        f"another page of the site ({slug}/index.html); give the review another slug (slug: in "
        "its front matter), or change feeds.permalink" for slug in ("reviews", "tags")]
    report = check_publication(config, now=now, sources_only=True)
    assert sorted(e for e in report.errors if "slug:" in e) == expected
    with pytest.raises(SourceError) as raised:
        build_site(config, now=now)
    assert sorted(str(p) for p in raised.value.problems) == expected
    assert not config.output_path.exists()


def test_a_review_whose_page_is_where_publisher_serve_answers_is_named(publication, now):
    write_reviews(publication, [{"slug": "subscribe"}, {"slug": "fine"}])
    publication.add_config('[feeds]\npermalink = "{slug}/"\n')  # serve shares base_url
    config = publication.config
    expected = [
        f"reviews/subscribe.md: slug: its page {config.url('subscribe/')} is an address "
        f"publisher serve answers ({config.url('subscribe')}), where the readers' pages are; "
        "give the review another slug (slug: in its front matter), or change feeds.permalink"]
    report = check_publication(config, now=now, sources_only=True)
    assert [e for e in report.errors if "slug:" in e] == expected
    with pytest.raises(SourceError) as raised:
        build_site(config, now=now)
    assert [str(p) for p in raised.value.problems] == expected

    publication.add_config('[server]\nurl = "https://list.reel.test/"\n')  # a host of its own
    build_site(publication.config, now=now)
    assert (publication.config.output_path / "subscribe" / "index.html").exists()


@pytest.mark.parametrize(("name", "body", "message"), [
    ("review.html.j2", "{{ card.title }", "unexpected '}'"),  # syntax: the lint warned of it
    ("list.html.j2", "{{ heading.nope.deeper }}", "'str object' has no attribute 'nope'"),
    ("site.css.j2", "{{ 1 / 0 }}", "division by zero"),  # rendered before any page
])
def test_check_renders_each_kind_of_page_and_names_a_template_the_build_stops_on(
        publication, now, name, body, message):
    write_reviews(publication, 3)
    templates = publication.root / "templates"
    templates.mkdir()
    extends = "" if name == "site.css.j2" else f'{{% extends "defaults/{name}" %}}'
    block = "{% block main %}" if extends else ""
    (templates / name).write_text(f"{extends}{block}{body}{'{% endblock %}' if block else ''}\n",
                                  encoding="utf-8")
    config = publication.config
    report = check_publication(config, now=now, sources_only=True)
    [error] = [e for e in report.errors if name in e]
    assert error == f"{templates / name}:1: {message}"
    assert not [w for w in report.warnings if name in w]  # said once, as the error
    with pytest.raises(PublisherError) as stopped:
        build_site(config, now=now)
    assert str(stopped.value) == error


def test_a_palette_that_sets_only_some_colours_is_named_with_the_ones_it_lacks(publication, now):
    # The colours the designer wanted changed, the rest left out: every template that reads
    # one of them stopped at its own line, in publisher's files, on "TemplateModule object".
    write_reviews(publication, 2)
    templates = publication.root / "templates"
    templates.mkdir()
    (templates / "_palette.j2").write_text(
        '{% set page = "#fdf6e3" %}\n{% set accent = "#b58900" %}\n', encoding="utf-8")
    config = publication.config
    expected = (f"{templates / '_palette.j2'}: sets no 'band', 'card', 'dark_card' and 15 more, "
                "which the templates that import it read (_base.mjml.j2:17 reads c.band); set "
                "them too: copy the packaged _palette.j2 and change the values you want")
    report = check_publication(config, now=now, sources_only=True)
    assert report.errors == (expected,)  # said once: not again where the digest stopped on it
    with pytest.raises(PublisherError) as stopped:
        build_site(config, now=now)
    assert str(stopped.value) == expected


def test_a_name_a_template_is_not_given_is_told_with_the_names_it_is_given(publication, now):
    # Written as another tool names it (Hugo's .Title, Pelican's article): the error says
    # what the page's template can read instead.
    write_reviews(publication, 2)
    template = publication.write_template(
        "review.html.j2",
        '{% extends "defaults/review.html.j2" %}\n{% block main %}\n'
        "<h1>{{ article.title }}</h1>{% endblock %}\n")
    config = publication.config
    report = check_publication(config, now=now, sources_only=True)
    [error] = [e for e in report.errors if "review.html.j2" in e]
    start = f"{template}:3: 'article' is undefined; review.html.j2 is given "
    assert error.startswith(start)
    given = error[len(start):].split(", ")
    assert {"body", "card", "page", "publication", "related", "site", "t"} <= set(given)
    assert given == sorted(given) and "\n" not in error


def test_a_feed_stylesheet_that_is_not_xml_stops_check_and_the_build(publication, now):
    # Written as HTML is: a browser given a feed with this stylesheet shows an error, or nothing.
    write_reviews(publication, 2)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    template = publication.write_template(
        "feed.xsl.j2",
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">\n'
        '<xsl:template match="/"><html><head><meta charset="utf-8">'
        "<title>{{ publication }}</title></head></html></xsl:template>\n"
        "</xsl:stylesheet>\n")
    expected = (f"{template}: feed.xsl is not well-formed XML (mismatched tag "
                "at its line 3, column 84: '</head></html></xsl:template>'), so browsers show "
                "an error in its place; close every element (<meta …/>, <br/>) and write & as "
                "&amp;")
    report = check_publication(config, now=now, sources_only=True)
    assert [e for e in report.errors if "feed.xsl" in e] == [expected]
    with pytest.raises(PublisherError) as stopped:
        build_site(config, now=now)
    assert str(stopped.value) == expected
    assert snapshot(config.output_path) == before


@pytest.mark.parametrize(("name", "source", "messages"), [
    # A layout of one's own, its content block named as another tool names it: every page
    # that fills "main" would be published empty, and the search page without its script.
    ("_page.html.j2",
     "<!doctype html>\n<title>{{ page.title }}</title>\n{% block content %}{% endblock %}\n",
     ["{path}: has no {{% block main %}}, which 404.html.j2, feeds.html.j2, home.html.j2 and 5 "
      "more fill, so what they put there would never be shown; add {{% block main "
      "%}}{{% endblock %}} where it goes",
      "{path}: has no {{% block head %}}, which search.html.j2 fills, so what it puts there "
      "would never be shown; add {{% block head %}}{{% endblock %}} where it goes"]),
    # A block misspelled in an override: Jinja shows only the blocks of the template extended.
    ("review.html.j2",
     '{% extends "defaults/review.html.j2" %}\n{% block mian %}<p>mine</p>{% endblock %}\n',
     ["{path}:2: block 'mian' is not a block of defaults/review.html.j2, which it extends, so "
      "it is never shown; did you mean 'main'?"]),
])
def test_a_block_that_no_page_shows_stops_check_and_the_build_naming_the_template(
        publication, now, name, source, messages):
    write_reviews(publication, 3)
    config = publication.config
    build_site(config, now=now)
    before = snapshot(config.output_path)
    template = publication.write_template(name, source)
    expected = [message.format(path=template) for message in messages]
    report = check_publication(config, now=now, sources_only=True)
    assert [e for e in report.errors if name in e] == expected
    with pytest.raises(PublisherError) as stopped:
        build_site(config, now=now)
    assert str(stopped.value) == expected[0]
    assert snapshot(config.output_path) == before  # the last good site stays


# --- moved reviews: aliases --------------------------------------------------------------------


def test_renaming_a_review_file_moves_every_link_to_its_new_page(publication, now):
    write_reviews(publication, [{"slug": "x"}, {"slug": "y"}])
    config = publication.config
    build_site(config, now=now)
    reviews = publication.root / "reviews"
    (reviews / "x.md").rename(reviews / "x-the-film.md")  # the slug comes from the file name
    build_site(config, now=now)
    public = config.output_path
    for rel in ("feed.xml", "atom.xml", "feed.json", "index.html", "reviews/index.html",
                "sitemap.xml", "reviews/y/index.html"):
        text = (public / rel).read_text("utf-8")
        assert config.url("reviews/x-the-film/") in text, rel
        assert config.url("reviews/x/") not in text, rel


def test_an_alias_sends_readers_from_an_old_address_to_the_review(publication, now):
    config = publication.config
    write_reviews(publication, [{"slug": "x", "aliases": [
        "reviews/old-x/", "/post/x-review", "old-x.html", config.url("p/%C3%A9t%C3%A9/")]}])
    build_site(config, now=now)
    public = config.output_path
    target = config.url("reviews/x/")
    for rel in ("reviews/old-x/index.html", "post/x-review/index.html", "old-x.html",
                "p/été/index.html"):
        doc = page(public, rel)
        assert doc.xpath("//meta[@http-equiv='refresh']/@content") == [f"0; url={target}"]
        assert doc.xpath("//link[@rel='canonical']/@href") == [target]
        assert meta(doc, "robots") == ["noindex"]
        assert target in links(doc)
    sitemap = (public / "sitemap.xml").read_text("utf-8")
    assert "old-x" not in sitemap and "x-review" not in sitemap

    write_reviews(publication, [{"slug": "x", "aliases": ["reviews/old-x/"]}])
    build_site(config, now=now)
    assert (public / "reviews/old-x/index.html").is_file()
    assert not (public / "old-x.html").exists() and not (public / "post").exists()


def moved_x_and_y(config, x_source: str) -> list[str]:
    """The warnings of a build that finds reviews x and y at x2 and y2: x's id was derived
    from its slug, y's is written in its file."""
    return [
        f"{x_source}: aliases: its page moved from {config.url('reviews/x/')} to "
        f"{config.url('reviews/x2/')}, and links to the old address (in issues sent, readers' "
        "feeds, search results) now find nothing; add `aliases: [reviews/x/]` and "
        "`id: tag:reel.test,2026-11-01:x` so that feed readers do not show it again as new",
        f"reviews/y.md: aliases: its page moved from {config.url('reviews/y/')} to "
        f"{config.url('reviews/y2/')}, and links to the old address (in issues sent, readers' "
        "feeds, search results) now find nothing; add `aliases: [reviews/y/]`"]


def test_a_page_that_moved_is_named_with_the_front_matter_that_keeps_its_links(publication,
                                                                                now):
    write_reviews(publication, [{"slug": "x"}, {"slug": "y", "id": "tag:reel.test,2026:y"}])
    config = publication.config
    build_site(config, now=now)
    reviews = publication.root / "reviews"
    (reviews / "x.md").rename(reviews / "x2.md")
    text = (reviews / "y.md").read_text("utf-8")
    (reviews / "y.md").write_text(text.replace("---\n", "---\nslug: y2\n", 1), "utf-8")
    warnings = [str(w) for w in build_site(config, now=now).warnings]
    assert warnings == moved_x_and_y(config, "reviews/x2.md")
    # Said once: the next build finds nothing moved since this one.
    assert build_site(config, now=now).warnings == ()


def test_a_renamed_tag_is_named_and_moved_keeps_its_page_and_its_readers_feeds(publication,
                                                                               now):
    def tagged(tag: str) -> None:
        write_reviews(publication, [{"tags": [tag]}, {"tags": [tag, "drama"]}, {}])

    tagged("sci-fi")
    publication.add_config("[site]\nper_page = 1\n")  # two pages for the tag
    config = publication.config
    build_site(config, now=now)
    public, old = config.output_path, config.url("tags/sci-fi/")
    assert (public / "tags/sci-fi/feed.xml").is_file()

    tagged("Science Fiction")
    report = build_site(config, now=now)
    assert [str(w) for w in report.warnings] == [
        "publisher.toml: moved: tags/sci-fi/ is gone (no review published names that tag now) "
        f"and readers subscribed to its feeds ({old}feed.xml, …) get nothing new; if it has a "
        'new name, add under [moved]: "tags/sci-fi/" = "tags/science-fiction/"']
    assert report.moved == report.warnings  # for publisher run to pass on, once
    assert not (public / "tags/sci-fi").exists()
    assert build_site(config, now=now).warnings == ()

    publication.add_config('[moved]\n"tags/sci-fi/" = "tags/science-fiction/"\n')
    config = publication.config
    report = build_site(config, now=now)
    assert report.warnings == ()
    assert sorted(report.written) == ["tags/sci-fi/atom.xml", "tags/sci-fi/feed.json",
                                      "tags/sci-fi/feed.xml", "tags/sci-fi/index.html",
                                      "tags/sci-fi/page/2/index.html"]
    new = config.url("tags/science-fiction/")
    doc = page(public, "tags/sci-fi/index.html")
    assert doc.xpath("//meta[@http-equiv='refresh']/@content") == [f"0; url={new}"]
    assert page(public, "tags/sci-fi/page/2/index.html").xpath(
        "//meta[@http-equiv='refresh']/@content") == [f"0; url={new}page/2/"]
    assert doc.xpath("//h1/text()") == ["Science Fiction"] and meta(doc, "robots") == ["noindex"]
    assert "This page has moved to" in doc.text_content()
    # A feed reader given the old address (a bookmark, a link elsewhere) follows no refresh:
    # the page names the new feeds, and it subscribes to those.
    for rel in ("tags/sci-fi/index.html", "tags/sci-fi/page/2/index.html"):
        assert page(public, rel).xpath("//link[@rel='alternate']/@href") == [
            f"{new}feed.xml", f"{new}atom.xml", f"{new}feed.json"]
    for name in ("feed.xml", "atom.xml", "feed.json"):  # every review, as the new feeds have it
        assert (public / "tags/sci-fi" / name).read_bytes() == (
            public / "tags/science-fiction" / name).read_bytes()
    parsed = feedparser.parse((public / "tags/sci-fi/atom.xml").read_bytes())
    assert parsed.bozo == 0 and len(parsed.entries) == 2
    assert "tags/sci-fi" not in (public / "sitemap.xml").read_text("utf-8")

    # A review under the old tag again: its own page wins, and the line is named.
    write_reviews(publication, [{"tags": ["Science Fiction", "drama"]}, {"tags": ["sci-fi"]}])
    [warning] = [str(w) for w in build_site(config, now=now).warnings]
    assert warning == (
        "publisher.toml: moved: tags/sci-fi/ is published again (a review names it), so it is "
        'not sent on to tags/science-fiction/; remove the line "tags/sci-fi/" from [moved]')
    assert "This page has moved" not in (public / "tags/sci-fi/index.html").read_text("utf-8")


def test_many_tags_gone_at_once_are_one_warning(publication, now):
    write_reviews(publication, [{"tags": ["a", "b", "c", "d", "e"]}, {"tags": ["drama"]}])
    config = publication.config
    build_site(config, now=now)
    write_reviews(publication, [{"tags": ["drama"]}])  # the review with five tags is gone
    (publication.root / "reviews" / "film-2.md").unlink()
    report = build_site(config, now=now)
    assert [str(w) for w in report.warnings] == [
        "publisher.toml: moved: 5 tags are gone (no review published names them now): tags/a/, "
        "tags/b/, tags/c/ and 2 more; readers subscribed to their feeds get nothing new; if one "
        'has a new name, add under [moved]: "tags/a/" = "tags/<its new slug>/"']
    assert report.moved == report.warnings


def test_an_alias_where_a_moved_line_writes_is_named_by_check_before_a_build_stops(
        publication, now):
    write_reviews(publication, [{"slug": "x", "tags": ["drama"], "aliases": ["tags/sci-fi/"]}])
    publication.add_config('[moved]\n"tags/sci-fi/" = "tags/drama/"\n')
    config = publication.config
    expected = (f"reviews/x.md: aliases: {config.url('tags/sci-fi/')} lies in tags/sci-fi/, "
                "which [moved] in publisher.toml sends on to tags/drama/; keep one: remove it "
                'from aliases, or the line "tags/sci-fi/" from [moved]')
    report = check_publication(config, now=now, sources_only=True)
    assert [e for e in report.errors if "aliases" in e] == [expected]
    with pytest.raises(SourceError) as raised:
        build_site(config, now=now)
    assert [str(p) for p in raised.value.problems] == [expected]
    assert not config.output_path.exists()

    # Nor can one lie under a feed that the [moved] line writes there.
    write_reviews(publication, [{"slug": "x", "tags": ["drama"],
                                 "aliases": ["tags/sci-fi/feed.xml"]}])
    with pytest.raises(SourceError, match=r"reviews/x.md: aliases: .*/tags/sci-fi/feed.xml/ "
                                          "lies in tags/sci-fi/, which \\[moved\\]"):
        build_site(config, now=now)

    # An older address of the review deeper inside that directory is no one else's file.
    write_reviews(publication, [{"slug": "x", "tags": ["drama"],
                                 "aliases": ["tags/sci-fi/x/"]}])
    assert build_site(config, now=now).warnings == ()
    assert "This page has moved" in (
        config.output_path / "tags/sci-fi/index.html").read_text("utf-8")


def test_a_moved_line_that_leads_nowhere_is_named_and_left_out(publication, now):
    write_reviews(publication, 1)
    publication.add_config('[moved]\n"/reviewers/sam/" = "reviewers/nobody"\n')
    config = publication.config
    [warning] = [str(w) for w in build_site(config, now=now).warnings]
    assert warning == ("publisher.toml: moved: reviewers/sam/ is sent on to reviewers/nobody/, "
                       "where nothing is published; correct or remove the line")
    assert not (config.output_path / "reviewers/sam").exists()


def test_a_feed_id_that_changed_with_the_date_is_named(publication, now):
    write_reviews(publication, [{"slug": "x"}])
    config = publication.config
    build_site(config, now=now)
    path = publication.root / "reviews" / "x.md"
    path.write_text(path.read_text("utf-8").replace("date: 2026-11-01", "date: 2026-11-02"))
    warnings = [str(w) for w in build_site(config, now=now).warnings]
    assert warnings == [
        "reviews/x.md: id: its feed id changed from tag:reel.test,2026-11-01:x to "
        "tag:reel.test,2026-11-02:x; add `id: tag:reel.test,2026-11-01:x` so that feed readers "
        "do not show it again as new"]


def test_a_review_put_off_to_a_later_date_is_named_while_the_id_readers_have_is_known(
        publication, now):
    # Published by mistake before its embargo, x is dated on the day the embargo lifts: it
    # leaves the feeds, and came back that day under an id derived from the new date, which
    # feed readers holding it took for a new review, with not a word: the build that put it
    # off recorded no page of it, so the one that published it again knew no id to compare.
    # The build that puts it off (and check before it) names the id, as for a date moved back.
    write_reviews(publication, [{"slug": "x"}, {"slug": "y"}, {"slug": "z"}])
    config = publication.config
    build_site(config, now=now)
    x, y = (publication.root / "reviews" / f"{slug}.md" for slug in ("x", "y"))
    x.write_text(x.read_text("utf-8").replace("date: 2026-11-01", "date: 2026-11-25"))
    y.write_text(y.read_text("utf-8").replace("date: 2026-11-02", "draft: true\ndate: 2026-11-02"))
    said = [str(w) for w in check_publication(config, now=now, sources_only=True).warnings]
    warnings = [str(w) for w in build_site(config, now=now).warnings]
    named = ("reviews/x.md: id: its feed id changed from tag:reel.test,2026-11-01:x to "
             "tag:reel.test,2026-11-25:x; add `id: tag:reel.test,2026-11-01:x` so that feed "
             "readers do not show it again as new")
    put_off = ("reviews/x.md:3: date: published until now at https://reel.test/reviews/x/, it "
               "is scheduled for Wed 2026-11-25 00:00 GMT: its page and its feed entries are "
               "gone until then, and links to it (in issues sent, readers' feeds, search "
               "results) find nothing; if the date is a slip, give the one it was published on")
    # y, a draft again under the id it had, is withdrawn on purpose: nothing to say.
    assert warnings == [put_off, named]
    assert named in said and put_off in said

    # Given the line, the day it is published readers update the entry they have.
    x.write_text(x.read_text("utf-8").replace(
        "date: 2026-11-25", "date: 2026-11-25\nid: tag:reel.test,2026-11-01:x"))
    assert [str(w) for w in build_site(config, now=now).warnings] == []  # said once
    build_site(config, now=now + timedelta(days=6))
    feed = feedparser.parse(config.output_path / "feed.xml")
    assert [e.id for e in feed.entries] == ["tag:reel.test,2026-11-01:x",
                                            "tag:reel.test,2026-11-03:z"]


def test_a_review_whose_date_slips_a_year_ahead_is_named_as_it_leaves_the_site(publication,
                                                                               now):
    # 2027 typed for 2026 in a published review's date (its id written in the file, as
    # `publisher new` writes it): its page and its entries left the site and the feeds for a
    # year, readers' links to it found nothing, and no build said a word. As an updated:
    # in the future is, it is named, once, with the page it had.
    write_reviews(publication, [{"slug": "x", "id": "tag:reel.test,2026-11-01:x"},
                                {"slug": "y"}])
    config = publication.config
    build_site(config, now=now)
    x = publication.root / "reviews" / "x.md"
    x.write_text(x.read_text("utf-8").replace("date: 2026-11-01", "date: 2027-11-01"))
    assert [str(w) for w in build_site(config, now=now).warnings] == [
        "reviews/x.md:3: date: published until now at https://reel.test/reviews/x/, it is "
        "scheduled for Mon 2027-11-01 00:00 GMT: its page and its feed entries are gone until "
        "then, and links to it (in issues sent, readers' feeds, search results) find nothing; "
        "if the date is a slip, give the one it was published on"]
    assert not (config.output_path / "reviews/x/index.html").exists()
    assert [str(w) for w in build_site(config, now=now).warnings] == []
    # A file left as it was is not a slip: the preview built with --future, then without.
    x.write_text(x.read_text("utf-8").replace("date: 2027-11-01", "date: 2026-12-01"))
    build_site(config, now=now, showing=Showing(future=True))
    assert [str(w) for w in build_site(config, now=now).warnings] == []


def test_many_reviews_dated_ahead_at_once_are_named_a_few_and_counted(publication, now):
    write_reviews(publication, 8)
    config = publication.config
    build_site(config, now=now)
    for path in sorted((publication.root / "reviews").glob("*.md"))[:7]:
        path.write_text(path.read_text("utf-8").replace("date: 2026-", "date: 2027-"))
    warnings = [str(w) for w in build_site(config, now=now).warnings]
    assert len([w for w in warnings if "date: published until now" in w]) == 5
    assert "reviews/: date: and 2 more published reviews are dated ahead now: their pages and " \
           "feed entries are gone until their dates" in warnings


def test_check_names_what_the_next_build_will_say_moved_since_the_last(publication, now):
    # Where CI builds a fresh clone, which has no record of the last build to tell it, the
    # pre-commit hook (`check --sources`) on the editor's machine is the only one that can.
    write_reviews(publication, [{"slug": "x"}])
    config = publication.config
    build_site(config, now=now)
    path = publication.root / "reviews" / "x.md"
    path.write_text(path.read_text("utf-8").replace("date: 2026-11-01", "date: 2026-11-02"))
    said = check_publication(config, now=now, sources_only=True).warnings
    [built] = [str(w) for w in build_site(config, now=now).warnings]
    assert built.startswith("reviews/x.md: id: its feed id changed from tag:reel.test,"
                            "2026-11-01:x to tag:reel.test,2026-11-02:x;")
    assert built in said
    assert built not in check_publication(config, now=now, sources_only=True).warnings


def test_a_new_base_url_domain_is_named_once_with_the_line_that_keeps_every_feed_id(
        publication, now):
    write_reviews(publication, [*[{}] * 7, {"date": "2026-11-09"}])  # film-8 dated anew too
    config = publication.config
    build_site(config, now=now)
    before = feedparser.parse((config.output_path / "atom.xml").read_bytes())
    toml = publication.root / "publisher.toml"
    toml.write_text(toml.read_text().replace("https://reel.test/", "https://www.reel.test/"))
    path = publication.root / "reviews" / "film-8.md"
    path.write_text(path.read_text("utf-8").replace("date: 2026-11-09", "date: 2026-11-10"))

    warnings = [str(w) for w in build_site(publication.config, now=now).warnings]
    assert warnings == [
        "publisher.toml: base_url: changed from https://reel.test/ to https://www.reel.test/; "
        "the old address is in readers' feeds and search engines: keep https://reel.test/ "
        "answering with a permanent redirect (a 308, which keeps a one-click unsubscribe a "
        "POST) of every path to the same path under https://www.reel.test/",
        "publisher.toml: feeds.id_domain: base_url's domain changed from reel.test to "
        "www.reel.test, and with it the feed id of 7 reviews without an id: line "
        "(tag:reel.test,2026-11-01:film-1 is now tag:www.reel.test,2026-11-01:film-1), so "
        "that feed readers would show them again as new; add under [feeds]: "
        'id_domain = "reel.test"',
        "reviews/film-8.md: id: its feed id changed from tag:reel.test,2026-11-09:film-8 to "
        "tag:www.reel.test,2026-11-10:film-8; add `id: tag:reel.test,2026-11-09:film-8` so that "
        "feed readers do not show it again as new"]

    publication.add_config('[feeds]\nid_domain = "reel.test"\n')
    config = publication.config
    assert build_site(config, now=now).warnings == ()
    after = feedparser.parse((config.output_path / "atom.xml").read_bytes())
    assert [e.link for e in after.entries][0].startswith("https://www.reel.test/")
    assert [e.id for e in after.entries][1:] == [e.id for e in before.entries][1:]


def test_a_new_base_url_is_named_once_with_the_redirect_the_issues_sent_need(publication,
                                                                             now):
    # Hugo says nothing and Ghost redirects by itself; publisher makes no web server, and the
    # links of the issues sent (their unsubscribe links too) point at the old address for good.
    write_reviews(publication, 2)
    config = publication.config
    reviews = load_reviews(config).published(now)
    sent = [Issue(number=n, subject="s", date=now, reviews=reviews[n - 1:n]) for n in (1, 2)]
    build_site(config, now=now, issues=sent)
    toml = publication.root / "publisher.toml"
    toml.write_text(toml.read_text().replace("https://reel.test/", "https://reel.example.net/"))
    publication.add_config('[feeds]\nid_domain = "reel.test"\n'
                           '[newsletter]\nlist_id = "reel.test"\n')  # the other two lines
    config = publication.config
    said = ("publisher.toml: base_url: changed from https://reel.test/ to "
            "https://reel.example.net/; the 2 issues sent (#1–#2) link to the old address, "
            "their unsubscribe links too, as do readers' feeds and search engines: keep "
            "https://reel.test/ answering with a permanent redirect (a 308, which keeps a "
            "one-click unsubscribe a POST) of every path to the same path under "
            "https://reel.example.net/")
    assert [str(w) for w in build_site(config, now=now, issues=sent).warnings] == [said]
    assert build_site(config, now=now, issues=sent).warnings == ()  # said once


def test_a_new_base_url_domain_names_the_list_id_that_keeps_the_links_sent_working(
        publication, now):
    # Every unsubscribe and preferences link an issue carries is signed with the list's id,
    # base_url's host unless newsletter.list_id says otherwise: under a new domain they all
    # answer "not valid", the 308 redirect notwithstanding, and so they do with server.url set,
    # where the links themselves do not move.
    write_reviews(publication, 1)
    publication.add_config('[server]\nurl = "https://list.reel.test/"\n'
                           '[feeds]\nid_domain = "reel.test"\n')
    config = publication.config
    sent = [Issue(number=1, subject="s", date=now, reviews=load_reviews(config).published(now))]
    build_site(config, now=now, issues=sent)
    link = Sender.from_config(config).unsubscribe_url("s" * 32, "ann@example.org")
    publication.set_base_url("https://reel.example.net/")

    warnings = [str(w) for w in build_site(publication.config, now=now, issues=sent).warnings]
    assert warnings[1:] == [
        "publisher.toml: newsletter.list_id: base_url's domain changed from reel.test to "
        "reel.example.net, and with it the list's id, which signs the unsubscribe and "
        "preferences links of the issue sent (#1): they would answer that the link is not "
        "valid, and unsubscribe nobody; add under [newsletter]: list_id = \"reel.test\""]

    token = parse_qs(urlsplit(link).query)["token"][0]
    assert not verify_unsubscribe_token("s" * 32, Sender.from_config(publication.config).list_id,
                                        "ann@example.org", token)
    publication.add_config('[newsletter]\nlist_id = "reel.test"\n')  # the line named
    assert verify_unsubscribe_token("s" * 32, Sender.from_config(publication.config).list_id,
                                    "ann@example.org", token)


def test_a_new_base_url_under_the_same_host_or_list_id_leaves_the_list_id_alone(publication,
                                                                               now):
    write_reviews(publication, 1)
    config = publication.config
    sent = [Issue(number=1, subject="s", date=now, reviews=load_reviews(config).published(now))]
    build_site(config, now=now, issues=sent)
    publication.set_base_url("https://reel.test/film/")  # the same host: the same list
    fields = [w.field for w in build_site(publication.config, now=now, issues=sent).warnings]
    assert "base_url" in fields
    assert "newsletter.list_id" not in fields
    publication.add_config('[newsletter]\nlist_id = "reel.test"\n')
    publication.replace_config('"https://reel.test/film/"', '"https://reel.example.net/"')
    fields = [w.field for w in build_site(publication.config, now=now, issues=sent).warnings]
    assert "base_url" in fields
    assert "newsletter.list_id" not in fields


def test_a_feed_id_changed_since_a_version_that_made_only_feeds_is_named(publication, now):
    # Versions before 30 November 2026 built feeds and no review pages, and spelt some slugs
    # otherwise ('Łódź' was 'odz'): their manifest names no page, their feed.json the ids.
    write_reviews(publication, [{"slug": "x"}, {"slug": "y", "id": "tag:reel.test,2026:y"}])
    config = publication.config
    build_site(config, now=now)
    config.paths.build_manifest.write_text('{"version": 1, "feeds": {}}', "utf-8")
    reviews = publication.root / "reviews"
    for name in ("x", "y"):  # the same reviews at new addresses (a front-matter id stays)
        text = (reviews / f"{name}.md").read_text("utf-8")
        (reviews / f"{name}.md").write_text(text.replace("---\n", f"---\nslug: {name}2\n", 1),
                                           "utf-8")
    warnings = [str(w) for w in build_site(config, now=now).warnings]
    assert warnings == moved_x_and_y(config, "reviews/x.md")
    assert build_site(config, now=now).warnings == ()


def test_a_new_permalink_pattern_names_a_few_moved_pages_and_counts_the_rest(publication, now):
    write_reviews(publication, 8)
    config = publication.config
    build_site(config, now=now)
    publication.add_config('[feeds]\npermalink = "films/{slug}/"\n')
    warnings = [str(w) for w in build_site(publication.config, now=now).warnings]
    assert len(warnings) == 6
    assert warnings[0].startswith("reviews/film-1.md: aliases: its page moved from "
                                  f"{config.url('reviews/film-1/')} to ")
    assert warnings[5] == ("reviews/: aliases: and 3 more reviews' pages moved (did "
                           "feeds.permalink change? then add the old pattern to "
                           "feeds.former_permalinks): links to their old addresses now find "
                           "nothing")


def test_a_former_permalink_pattern_keeps_every_old_address_landing(publication, now):
    write_reviews(publication, [{"slug": "x"}, {"slug": "tags"},
                                {"slug": "y", "aliases": ["y/"]}])
    config = publication.config
    build_site(config, now=now)
    publication.add_config('[feeds]\npermalink = "films/{slug}/"\n'
                           'former_permalinks = ["reviews/{slug}/", "{slug}"]\n')
    config = publication.config
    report = build_site(config, now=now)
    assert not report.warnings, report.warnings
    public = config.output_path
    for rel, slug in (("reviews/x/index.html", "x"), ("x/index.html", "x"),
                      ("reviews/tags/index.html", "tags"), ("y/index.html", "y")):
        doc = page(public, rel)
        target = config.url(f"films/{slug}/")
        assert doc.xpath("//meta[@http-equiv='refresh']/@content") == [f"0; url={target}"], rel
    # Where the old pattern meets a page (the tags index), the page stays.
    assert page(public, "tags/index.html").xpath("//meta[@http-equiv='refresh']") == []


def test_a_former_permalink_must_be_an_earlier_pattern_of_pages_here(publication):
    from publisher.config import load_config
    from publisher.errors import ConfigError

    path = publication.root / "publisher.toml"
    base = path.read_text("utf-8")
    for bad in ('["reviews/"]', '["https://other.test/{slug}/"]', '["../{slug}/"]',
                '["reviews/{slug}/"]', '"reviews/{slug}/"', '["p/{slug}/?x=1"]', '[1]'):
        path.write_text(base, "utf-8")
        publication.add_config(f'[feeds]\nformer_permalinks = {bad}\n')
        with pytest.raises(ConfigError, match="feeds.former_permalinks"):
            load_config(path)


def test_an_alias_that_is_another_pages_address_stops_the_build(publication, now):

    write_reviews(publication, [{"slug": "x", "aliases": ["reviews/y/"]}, {"slug": "y"}])
    with pytest.raises(SourceError, match=r"reviews/x.md: aliases: .*reviews/y/ is the address "
                                          "of a page publisher builds"):
        build_site(publication.config, now=now)
    write_reviews(publication, [{"slug": "x", "aliases": ["tags/"]}, {"slug": "y"}])
    with pytest.raises(SourceError, match=r"reviews/x.md: aliases: .*tags/ is the address "
                                          "of a page publisher builds"):
        build_site(publication.config, now=now)
    write_reviews(publication, [{"slug": "x", "aliases": ["old/"]}, {"slug": "y",
                                                                     "aliases": ["old/"]}])
    with pytest.raises(SourceError, match=r"reviews/y.md: aliases: .*old/ is also an alias in "
                                          "reviews/x.md"):
        build_site(publication.config, now=now)
    assert not publication.config.output_path.exists()


def test_an_alias_where_the_build_writes_a_file_is_named_by_check_before_a_build_stops(
        publication, now):
    # An alias is a directory (feed.xml is served as feed.xml/index.html): where the build
    # writes a file (a feed, the sitemap, the search index, a copy of static/, the file of a
    # page such as 404.html) it can be none.
    write_films(publication, 1)  # static/posters/film-1.png
    write_reviews(publication, [{"slug": "x", "tags": ["drama"]}])
    config = publication.config
    for alias, file in (("feed.xml", "feed.xml"), ("/sitemap.xml", "sitemap.xml"),
                        ("search.json", "search.json"), ("site.css", "site.css"),
                        ("robots.txt", "robots.txt"), ("archive/2026-11/atom.xml",
                                                        "archive/2026-11/atom.xml"),
                        ("tags/drama/feed.json/", "tags/drama/feed.json"),
                        ("posters/film-1.png", "posters/film-1.png"), ("404.html/", "404.html")):
        write_reviews(publication, [{"slug": "x", "tags": ["drama"], "aliases": [alias]}])
        url = config.url(alias.strip("/") + "/")
        expected = (f"reviews/x.md: aliases: {url} is the address of a file publisher writes "
                    f"({file}); remove it from aliases")
        report = check_publication(config, now=now, sources_only=True)
        assert [e for e in report.errors if "aliases" in e] == [expected], alias
        with pytest.raises(SourceError) as raised:
            build_site(config, now=now)
        assert [str(p) for p in raised.value.problems] == [expected]
        assert not config.output_path.exists()

    # Deeper under such a file, the same; a sitemap's later parts have their names kept
    # before it has any.
    for alias, file in (("feed.xml/old/", "feed.xml"), ("sitemap-1.xml/x/", "sitemap-1.xml")):
        write_reviews(publication, [{"slug": "x", "tags": ["drama"], "aliases": [alias]}])
        with pytest.raises(SourceError) as raised:
            build_site(config, now=now)
        assert [str(p) for p in raised.value.problems] == [
            f"reviews/x.md: aliases: {config.url(alias)} lies under {file}, a file publisher "
            "writes; remove it from aliases"]

    # A directory that holds the build's files but no page (a month's archive) may be one.
    write_reviews(publication, [{"slug": "x", "tags": ["drama"], "aliases": ["archive/2026-11/"]}])
    assert build_site(config, now=now).warnings == ()
    assert (config.output_path / "archive/2026-11/feed.xml").is_file()
    assert "reviews/x/" in (config.output_path / "archive/2026-11/index.html").read_text("utf-8")


def test_the_plan_names_every_file_each_unit_writes(publication, now):
    write_films(publication, 2)
    write_reviews(publication, [{"slug": "x", "tags": ["drama"], "aliases": ["old/"]}],
                  first=date(2026, 10, 1))
    publication.add_config('[moved]\n"tags/old/" = "tags/drama/"\n')
    config = publication.config
    site = Site.from_config(config)
    issue = Issue(number=1, subject="One", date=now, reviews=())
    planner = plan_build(config, site, load_reviews(config), [issue], PosterFacts(config), now)
    for unit in planner.units:
        assert set(unit.render()) <= planner.writes(unit.key), unit.key


def test_an_alias_must_be_an_address_on_this_site(publication):
    from publisher.sources import check_sources

    write_reviews(publication, [{"slug": "a", "aliases": ["https://elsewhere.test/a/"]},
                                {"slug": "b", "aliases": ["reviews/../../etc/"]},
                                {"slug": "c", "aliases": ['"reviews/c/?page=2"']},
                                {"slug": "d", "aliases": ["/"]},
                                {"slug": "e", "aliases": ["reviews/e-old/"]}])
    problems = [str(p) for p in check_sources(publication.config).problems]
    assert [p.split(":")[0] for p in problems] == [
        "reviews/a.md", "reviews/b.md", "reviews/c.md", "reviews/d.md"]
    assert "not an address on this site" in problems[0]
    assert all("not a page's address" in p for p in problems[1:])


def test_an_alias_never_names_a_hidden_file_nor_a_page_of_the_issues_archive(publication,
                                                                              now):
    # Written by anyone who may commit a review: ".htaccess" made public/.htaccess/ a folder,
    # which Apache cannot read as its settings (403 for every page below it); ".git/…" wrote
    # into a public/ that is itself a clone (a Hugo-style gh-pages checkout); "issues/2/" put
    # a page where the newsletter's next issue goes, and the next run then took the ledger
    # for lost and sent nothing ("the web archive already has an issue #2").
    from publisher.sources import check_sources

    refused = [".htaccess", "reviews/old/.htaccess", ".git/config/", ".well-known/x/",
               "/%2Ehtaccess", "issues/2/", "/issues/", "issues/index.html", "issues/7/x/"]
    write_reviews(publication, [{"slug": f"r{i}", "aliases": [alias]}
                                for i, alias in enumerate(refused)])
    problems = sorted((str(p) for p in check_sources(publication.config).problems),
                      key=lambda p: int(p.split(".md")[0].removeprefix("reviews/r")))
    assert [p.split(":")[:3] for p in problems] == [
        [f"reviews/r{i}.md", "7", " aliases"] for i in range(len(refused))]
    for problem in problems[:5]:
        assert "hidden" in problem, problem
    for problem in problems[5:]:
        assert "issues/, where each issue's page goes as the newsletter sends it" in problem
    with pytest.raises(SourceError):
        build_site(publication.config, now=now)
    assert not publication.config.output_path.exists()

    # Nearby names are earlier addresses like any other.
    write_reviews(publication, [{"slug": "r0", "aliases": ["x.htaccess/", "issues-2024/"]}])
    for i in range(1, len(refused)):
        (publication.root / "reviews" / f"r{i}.md").unlink()
    assert check_sources(publication.config).problems == ()
    build_site(publication.config, now=now)
    assert (publication.config.output_path / "issues-2024" / "index.html").is_file()


def test_an_alias_that_is_another_page_in_other_capitals_is_refused(publication, now):
    # On a file system that ignores case (a Mac's, Windows'), REVIEWS/y/index.html is
    # reviews/y/index.html: a review's alias wrote its redirect over another review's page,
    # or one review's alias over another's, whichever the build wrote last.
    write_reviews(publication, [{"slug": "x", "aliases": ["Reviews/Y/"]}, {"slug": "y"}])
    config = publication.config
    expected = (f"reviews/x.md: aliases: {config.url('Reviews/Y/')} is the address of a page "
                "publisher builds (reviews/y/) in other capitals, which a file system that "
                "ignores case, as a Mac's does, takes for one; remove it from aliases")
    report = check_publication(config, now=now, sources_only=True)
    assert [e for e in report.errors if "aliases" in e] == [expected]
    with pytest.raises(SourceError) as raised:
        build_site(config, now=now)
    assert [str(p) for p in raised.value.problems] == [expected]

    write_reviews(publication, [{"slug": "x", "aliases": ["Old/Post.html"]},
                                {"slug": "y", "aliases": ["old/post.html"]}])
    with pytest.raises(SourceError) as raised:
        build_site(config, now=now)
    assert [str(p) for p in raised.value.problems] == [
        f"reviews/y.md: aliases: {config.url('old/post.html')} is also an alias in reviews/x.md "
        "(Old/Post.html) in other capitals, which a file system that ignores case, as a Mac's "
        "does, takes for one; remove it from aliases"]
    # Capitals of its own, where nothing else is, are an earlier address like any other.
    write_reviews(publication, [{"slug": "x", "aliases": ["Old/Post.html"]}, {"slug": "y"}])
    build_site(config, now=now)
    assert (config.output_path / "Old" / "Post.html").is_file()


def test_check_finds_what_the_build_would_refuse_in_aliases(publication, now):
    write_reviews(publication, [{"slug": "x", "aliases": ["reviews/y/"]}, {"slug": "y"}])
    report = check_publication(publication.config, now=now, sources_only=True)
    assert [e for e in report.errors if "aliases" in e] == [
        f"reviews/x.md: aliases: {publication.config.url('reviews/y/')} is the address of a "
        "page publisher builds; remove it from aliases"]
    assert not publication.config.output_path.exists()

    write_reviews(publication, [{"slug": "x", "aliases": ["reviews/old-x/"]}, {"slug": "y"}])
    assert check_publication(publication.config, now=now, sources_only=True).errors == ()
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    report = check_publication(publication.config, now=now, sources_only=True)
    assert [w for w in report.warnings if "aliases" in w] == [
        "reviews/x.md: aliases: ignored: publisher builds no pages here (feeds.permalink is "
        "another site's), so the old addresses are for that site to redirect"]


def test_aliases_are_ignored_with_a_warning_where_another_site_has_the_pages(publication, now):
    write_reviews(publication, [{"slug": "x", "aliases": ["reviews/old-x/"]}])
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    report = build_site(publication.config, now=now)
    assert [str(w) for w in report.warnings] == [
        "reviews/x.md: aliases: ignored: publisher builds no pages here (feeds.permalink is "
        "another site's), so the old addresses are for that site to redirect"]
    assert not (publication.config.output_path / "reviews").exists()


# --- links in bodies -----------------------------------------------------------------------------


def test_a_link_in_a_body_to_where_nothing_is_published_is_named_with_its_line(
        publication, now):
    (publication.root / "static" / "stills").mkdir(parents=True)
    (publication.root / "static" / "stills" / "there.jpg").write_bytes(b"jpeg")
    body = ("[fine](/reviews/y/) [home](/) [tag](/tags/drama/) [feed](/feed.xml) "
            "![still](/stills/there.jpg) [subscribe](/subscribe)\n\n"
            "[typo](/reviews/yy/)\n\n"
            "![missing](stills/gone.jpg)\n\n"
            "[draft](/reviews/d/) and [soon](/reviews/s/)")
    write_reviews(publication, [{"slug": "x", "tags": ["drama"], "body": body}, {"slug": "y"},
                                {"slug": "d", "draft": "true"},
                                {"slug": "s", "date": "2027-01-02"}])
    config = publication.config
    expected = [
        f"reviews/x.md:11: body: links to {config.url('reviews/yy/')}, where nothing is "
        "published (no review, page or file in static/ has that address); did you mean "
        f"{config.url('reviews/y/')}?",
        f"reviews/x.md:13: body: links to {config.url('stills/gone.jpg')}, where nothing is "
        "published (no review, page or file in static/ has that address); correct the link",
        f"reviews/x.md:15: body: links to {config.url('reviews/d/')}, the page of "
        "reviews/d.md, a draft: until it is published the link finds nothing",
        f"reviews/x.md:15: body: links to {config.url('reviews/s/')}, the page of "
        "reviews/s.md, scheduled for 2027-01-02 00:00: until it is published the link finds "
        "nothing"]
    assert [str(w) for w in build_site(config, now=now).warnings] == expected
    report = check_publication(config, now=now, sources_only=True)
    assert [w for w in report.warnings if "links to" in w] == expected


def test_a_link_from_the_hosts_root_that_lands_outside_base_url_is_named(publication, now):
    # "/reviews/y/" resolves, as a browser resolves it, on the host's root: outside a site
    # whose base_url has a path. It is kept so, and named with what was meant.
    config_path = publication.root / "publisher.toml"
    config_path.write_text(config_path.read_text("utf-8").replace(
        '"https://reel.test/"', '"https://reel.test/film/"'))
    body = ("[fine](/film/reviews/y/) [fine too](reviews/y/) [home](/film) "
            "[shop](https://reel.test/shop/)\n\n"  # written in full: meant to leave
            "[next](/reviews/y/)\n\n"
            "[slip](/reviews/yy/) [up](../tags/)\n\n"
            "[gone](/reviews/nothing/)")
    write_reviews(publication, [{"slug": "x", "body": body}, {"slug": "y", "body": "Y."}])
    config = publication.config
    outside = "outside the site (base_url is https://reel.test/film/)"
    expected = [
        f"reviews/x.md:10: body: links to https://reel.test/reviews/y/, {outside}; write "
        "/film/reviews/y/ or reviews/y/",
        f"reviews/x.md:12: body: links to https://reel.test/reviews/yy/, {outside}; did you "
        "mean https://reel.test/film/reviews/y/?",
        f"reviews/x.md:12: body: links to https://reel.test/tags/, {outside}; write /film/tags/ "
        "or tags/",
        f"reviews/x.md:14: body: links to https://reel.test/reviews/nothing/, {outside}; "
        "correct the link, or write the whole address if it is meant to leave the site"]
    assert [str(w) for w in build_site(config, now=now).warnings] == expected
    report = check_publication(config, now=now, sources_only=True)
    assert [w for w in report.warnings if "links to" in w] == expected
    # the link itself is left as the browser reads it
    assert 'href="https://reel.test/reviews/y/"' in (
        config.output_path / "reviews/x/index.html").read_text("utf-8")


def test_an_unsafe_link_is_dropped_without_a_word_however_it_is_spelt(publication, now):
    body = ("A [trick link](&#106;avascript:alert(1)) here.\n\n"
            "A [plain one](javascript:alert(1)) too.")
    write_reviews(publication, [{"slug": "x", "body": body}])
    config = publication.config
    assert [str(w) for w in build_site(config, now=now).warnings] == []
    report = check_publication(config, now=now, sources_only=True)
    assert [w for w in report.warnings if "links to" in w] == []
    text = (config.output_path / "reviews/x/index.html").read_text("utf-8")
    assert "trick link" in text and "javascript" not in text


def test_a_link_one_slip_from_an_address_on_the_site_names_that_address(publication, now):
    (publication.root / "static" / "stills").mkdir(parents=True)
    (publication.root / "static" / "stills" / "heat-1995.jpg").write_bytes(b"jpeg")
    slips = {"salt-harbor": "salt-harbour", "slat-harbour": "salt-harbour",  # left out, swapped
             "Salt-Harbour": "salt-harbour", "the-long-goodbyes": "the-long-goodbye"}
    body = "\n\n".join([*(f"[{n}](/reviews/{n}/)" for n in slips),
                         "![still](/stills/heat-1996.jpg) ![still](/stills/heat-1995.png)",
                         "[another film](/reviews/salt-marsh/) [film 12](/reviews/film-13/)"])
    write_reviews(publication, [{"slug": "x", "body": body}, {"slug": "salt-harbour"},
                                {"slug": "the-long-goodbye"}, {"slug": "film-12"}])
    config = publication.config
    fixes = [w.message.rpartition("; ")[2] for w in build_site(config, now=now).warnings]
    assert fixes == [
        *(f"did you mean {config.url(f'reviews/{meant}/')}?" for meant in slips.values()),
        # A year is a number: 1996 is another still, not a slip; a suffix is a slip.
        "correct the link", f"did you mean {config.url('stills/heat-1995.jpg')}?",
        "correct the link", "correct the link"]


def test_a_build_names_twenty_broken_links_and_check_names_them_all(publication, now):
    body = "\n\n".join(f"[review {n}](/reviews/missing-{n}/)" for n in range(25))
    write_reviews(publication, [{"slug": "x", "body": body}])
    warnings = [str(w) for w in build_site(publication.config, now=now).warnings]
    assert len(warnings) == 21 and warnings[-1] == (
        "reviews/: body: and 5 more links to addresses on this site where nothing is published "
        "(publisher check lists every one)")
    report = check_publication(publication.config, now=now, sources_only=True)
    assert len([w for w in report.warnings if "links to" in w]) == 25


# --- footnotes ---------------------------------------------------------------------------------


def test_footnotes_are_on_the_page_and_in_the_feeds_linking_to_the_reviews_page(
        publication, now):
    body = ("Runs long[^cut], and the score[^score] swells.\n\n"
            "[^cut]: 142 minutes, cut from 160.\n"
            "[^score]: By a composer of note.\n")
    write_reviews(publication, [{"slug": "x", "body": body, "summary": None}])
    config = publication.config
    assert [str(w) for w in build_site(config, now=now).warnings] == []
    public, url = config.output_path, config.url("reviews/x/")
    doc = page(public, "reviews/x/index.html")
    assert "[^cut]" not in doc.text_content()
    [refs] = [doc.xpath("//div[@class='body']//sup[@class='footnote-ref']/a")]
    assert [(a.text, a.get("href")) for a in refs] == [("1", f"{url}#fn-cut"),
                                                      ("2", f"{url}#fn-score")]
    # each link lands on an id of this page, and each id is there once
    ids = doc.xpath("//@id")
    assert len(ids) == len(set(ids))
    for a in doc.xpath("//div[@class='body']//a[starts-with(@href, '" + url + "#')]"):
        assert a.get("href").partition("#")[2] in ids
    # named for screen readers on the page, as a section of a page is
    assert doc.xpath("//section[@class='footnotes']/@aria-label") == ["Footnotes"]
    assert [li.text_content().split("↩")[0].strip()
            for li in doc.xpath("//section[@class='footnotes']/ol/li")] == [
        "142 minutes, cut from 160.", "By a composer of note."]
    for name in ("feed.xml", "atom.xml"):
        [entry] = feedparser.parse((public / name).read_bytes()).entries
        content = lxml.html.fragment_fromstring(entry.content[0].value, create_parent="div")
        assert content.xpath("//sup/a/@href") == [f"{url}#fn-cut", f"{url}#fn-score"], name
        assert content.xpath("//li//a/@href") == [f"{url}#fnref-cut", f"{url}#fnref-score"]
        assert "142 minutes, cut from 160." in content.text_content()
        assert entry.summary.startswith("Runs long, and the score swells"), name
    [item] = json.loads((public / "feed.json").read_bytes())["items"]
    assert f'href="{url}#fn-cut"' in item["content_html"]


# --- posters ----------------------------------------------------------------------------------


def test_poster_dimensions_are_read_once_and_kept(publication, now):
    write_films(publication, 1)
    config = publication.config
    build_site(config, now=now)
    cache = json.loads((config.paths.cache / "posters.json").read_text("utf-8"))
    assert cache["files"]["posters/film-1.png"][2:] == [200, 300]
    poster = publication.root / "static/posters/film-1.png"
    # The same size and mtime: the cache is believed, the file not read again.
    stat = poster.stat()
    data = poster.read_bytes()
    poster.write_bytes(data[:16] + b"\0" * (len(data) - 16))  # no longer a readable PNG
    import os

    os.utime(poster, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    build_site(config, now=now, issues=())
    assert 'width="200" height="300"' in (config.output_path / "reviews/film-1/index.html"
                                           ).read_text("utf-8")
    # A new poster: read again.
    write_png(poster, 40, 60, (9, 9, 9))
    build_site(config, now=now)
    assert 'width="40" height="60"' in (config.output_path / "reviews/film-1/index.html"
                                         ).read_text("utf-8")


def test_an_issue_page_in_the_archive_shows_each_poster_at_its_size(publication, now):
    # As the digest does: a browser reserves the poster's space before the image loads.
    write_films(publication, 2)
    write_png(publication.root / "static" / "posters" / "film-2.png", 120, 180, (90, 60, 120))
    config = publication.config
    reviews = load_reviews(config).reviews
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    sizes = {img.get("src").rsplit("/", 1)[1]: (img.get("width"), img.get("height"))
             for img in page(config.output_path, "issues/1/index.html").xpath("//img")}
    assert sizes == {"film-1.png": ("150", "225"), "film-2.png": ("120", "180")}
    # A poster's new size is a new page, though the issue itself is as it was.
    write_png(publication.root / "static" / "posters" / "film-2.png", 100, 100, (90, 60, 120))
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    poster = page(config.output_path, "issues/1/index.html").xpath("//img")[1]
    assert (poster.get("width"), poster.get("height")) == ("100", "100")


def test_an_image_in_an_issues_note_fits_the_archive_pages_column(publication, now):
    # A photograph 1,600 pixels wide in the editor's note widened the page past the screen.
    write_films(publication, 1)
    write_png(publication.root / "static" / "festival.png", 1600, 900, (90, 140, 200))
    config = publication.config
    reviews = load_reviews(config).reviews
    note = f'<p><img src="{config.url("festival.png")}" alt="The festival"></p>'
    issue = Issue(number=1, subject="s", date=now, reviews=reviews, note_html=note)
    build_site(config, now=now, issues=[issue])
    photo = page(config.output_path, "issues/1/index.html").xpath("//img[@alt='The festival']")[0]
    assert (photo.get("width"), photo.get("height")) == ("552", "310")
    assert "max-width:100%" in photo.get("style")
    # The photograph's new size is a new page, though the issue itself is as it was.
    write_png(publication.root / "static" / "festival.png", 400, 400, (90, 140, 200))
    build_site(config, now=now, issues=[issue])
    photo = page(config.output_path, "issues/1/index.html").xpath("//img[@alt='The festival']")[0]
    assert (photo.get("width"), photo.get("height")) == ("400", "400")


def test_images_of_static_in_a_body_or_a_page_keep_their_space_before_they_load(
        publication, now):
    # As a poster's: a browser that knows an image's size lays the page out once, instead of
    # pushing the text down as each image arrives (Cumulative Layout Shift).
    write_films(publication, 1)
    stills = publication.root / "static" / "stills"
    stills.mkdir()
    write_png(stills / "harbour.png", 640, 360, (20, 40, 60))
    write_png(stills / "team.png", 300, 200, (60, 40, 20))
    source = publication.root / "reviews" / "film-1.md"
    source.write_text(source.read_text("utf-8") + (
        "\n![The harbour at dusk](/stills/harbour.png)\n\n"
        "![Elsewhere](https://images.example.com/still.jpg)\n\n"
        '<img src="/stills/team.png" alt="Sized by hand" width="150">\n'), encoding="utf-8")
    (publication.root / "pages").mkdir()
    (publication.root / "pages" / "about.md").write_text(
        "---\ntitle: About\n---\nWho we are.\n\n![The team](stills/team.png)\n",
        encoding="utf-8")
    config = publication.config
    build_site(config, now=now)
    public = config.output_path

    def body_sizes(html: lxml.html.HtmlElement) -> dict[str, tuple[str | None, str | None]]:
        return {img.get("alt"): (img.get("width"), img.get("height"))
                for img in html.xpath("//img") if "Poster" not in img.get("alt")}

    review = {"The harbour at dusk": ("640", "360"),
              "Elsewhere": (None, None),  # a remote image is never fetched
              "Sized by hand": ("150", None)}  # the size the editor gave is kept
    assert body_sizes(page(public, "reviews/film-1/index.html").xpath("//main")[0]) == review
    assert body_sizes(page(public, "about/index.html")) == {"The team": ("300", "200")}
    [entry] = feedparser.parse((public / "feed.xml").read_bytes()).entries
    content = lxml.html.fragment_fromstring(entry.content[0].value, create_parent="div")
    assert body_sizes(content) == review
    [item] = json.loads((public / "feed.json").read_bytes())["items"]
    assert 'width="640" height="360"' in item["content_html"]
    # A new size of the file makes again what shows it, though no source changed.
    write_png(stills / "harbour.png", 320, 180, (20, 40, 60))
    write_png(stills / "team.png", 30, 20, (60, 40, 20))
    build_site(config, now=now)
    review["The harbour at dusk"] = ("320", "180")
    assert body_sizes(page(public, "reviews/film-1/index.html").xpath("//main")[0]) == review
    assert body_sizes(page(public, "about/index.html")) == {"The team": ("30", "20")}
    [entry] = feedparser.parse((public / "feed.xml").read_bytes()).entries
    content = lxml.html.fragment_fromstring(entry.content[0].value, create_parent="div")
    assert body_sizes(content) == review


def test_an_svg_poster_sized_in_other_units_is_given_in_whole_pixels(publication, now):
    write_films(publication, 3)
    posters = publication.root / "static" / "posters"
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}"/>'
    sizes = {"film-1": ("10cm", "15cm"),  # 377.95… × 566.93… pixels
             "film-2": ("36", "48"),  # read as 36.0 × 48.0
             "film-3": ("0.4", "10")}  # under half a pixel: no size, as for width="50%"
    for slug, (width, height) in sizes.items():
        (posters / f"{slug}.svg").write_text(svg.format(width, height))
        source = publication.root / "reviews" / f"{slug}.md"
        source.write_text(source.read_text("utf-8").replace(f"{slug}.png", f"{slug}.svg"))
    config = publication.config
    # A cache an older build wrote, with the float it kept then, is not believed.
    stat = (posters / "film-1.svg").stat()
    config.paths.cache.mkdir(parents=True, exist_ok=True)
    (config.paths.cache / "posters.json").write_text(json.dumps({"version": 1, "files": {
        "posters/film-1.svg": [stat.st_size, stat.st_mtime_ns, 377.9527559055118, 566.9]}}))
    build_site(config, now=now)
    public = config.output_path
    pixels = {"film-1": ("378", "567"), "film-2": ("36", "48"), "film-3": None}

    def sized(element) -> tuple[str, str] | None:
        return (element.get("width"), element.get("height")) if "width" in element else None

    for slug, expected in pixels.items():
        [img] = page(public, f"reviews/{slug}/index.html").xpath("//figure//img")
        assert sized(img.attrib) == expected, slug
    rss = feedparser.parse((public / "feed.xml").read_bytes())
    assert {e.link.split("/")[-2]: sized(e.media_content[0]) for e in rss.entries} == pixels
    items = json.loads((public / "feed.json").read_bytes())["items"]
    posters_data = {i["url"].split("/")[-2]: i["_review"]["film"]["poster"] for i in items}
    assert {slug: (p["width"], p["height"]) if "width" in p else None
            for slug, p in posters_data.items()} == {
        "film-1": (378, 567), "film-2": (36, 48), "film-3": None}
    assert type(posters_data["film-2"]["width"]) is int
    cache = json.loads((config.paths.cache / "posters.json").read_text("utf-8"))
    assert cache["files"]["posters/film-1.svg"][2:] == [378, 567]


def test_check_names_a_poster_that_is_not_the_image_its_name_says(publication, now):
    write_films(publication, 2)  # film-1.png and film-2.png, real PNGs
    posters = publication.root / "static" / "posters"
    (posters / "film-2.png").write_text("<html>404 Not Found</html>")  # a failed download
    (posters / "film-1.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    source = publication.root / "reviews" / "film-1.md"
    source.write_text(source.read_text("utf-8").replace("film-1.png", "film-1.svg"))
    report = check_publication(publication.config, now=now, sources_only=True)
    # An SVG may have no size and still draw (in a browser: mail apps are another matter,
    # said of the digest); a .png with no PNG header is broken.
    [warning] = [w for w in report.warnings if "poster:" in w]
    assert [w for w in report.warnings if w.startswith("digest HTML: 1 image is SVG (")]
    line = next(n for n, text in enumerate(
        (publication.root / "reviews/film-2.md").read_text("utf-8").splitlines(), 1)
        if text.startswith("poster:"))
    assert warning == (
        f"reviews/film-2.md:{line}: poster: static/posters/film-2.png is not a PNG image (its "
        "first bytes say otherwise), so browsers show it broken; save it again as a PNG file")


def test_check_refuses_an_svg_poster_or_still_that_would_run_script(publication, now):
    # An <img> runs no script, but the file is on the site too: opened at its own address, an
    # SVG is a page of the publication's origin, and a script in it is anyone's who could
    # commit a poster (a login form, a defaced page, a redirect, all at the site's name).
    write_films(publication, 2)
    posters = publication.root / "static" / "posters"
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="180">{}</svg>'
    (posters / "film-1.svg").write_text(svg.format("<SCRIPT>alert(document.domain)</SCRIPT>"))
    (posters / "film-2.svg").write_text(svg.format('<rect width="120" height="180" '
                                                   'fill="#c33"/><!-- onload is fine here -->'))
    (posters / "still.svg").write_text(svg.format(
        '<a xlink:href="javascript:alert(1)"><rect onmouseover ="x()"/></a>'))
    for n in (1, 2):
        source = publication.root / "reviews" / f"film-{n}.md"
        source.write_text(source.read_text("utf-8").replace(f"film-{n}.png", f"film-{n}.svg"))
    source = publication.root / "reviews" / "film-2.md"
    text = source.read_text("utf-8")
    source.write_text(text + "\n![A still](/posters/still.svg)\n", encoding="utf-8")
    report = check_publication(publication.config, now=now, sources_only=True)
    line = next(n for n, text in enumerate(
        (publication.root / "reviews/film-1.md").read_text("utf-8").splitlines(), 1)
        if text.startswith("poster:"))
    assert [e for e in report.errors if ".svg" in e] == [
        f"reviews/film-1.md:{line}: poster: static/posters/film-1.svg holds a script (<script>), "
        "which runs when the file is opened at its own address, as a page of the site; save "
        "the image without it",
        f"reviews/film-2.md:{len(text.splitlines()) + 2}: body: static/posters/still.svg holds "
        "a script (javascript: link, onmouseover=), which runs when the file is opened at its "
        "own address, as a page of the site; save the image without it"]


def test_check_names_an_image_in_a_body_that_is_broken_or_too_heavy_as_a_poster_would_be(
        publication, now):
    # A still in a review's body or a page is downloaded by every reader of its page and of
    # each feed that carries it, as a poster is: a failed download saved as .png shows broken,
    # a photograph as the camera saved it weighs megabytes.
    write_films(publication, 1)
    stills = publication.root / "static" / "stills"
    stills.mkdir()
    (stills / "broken.png").write_text("<html>404 Not Found</html>")
    write_png(stills / "camera.png", 3000, 2000, (20, 20, 20))
    with (stills / "camera.png").open("ab") as straight_from_the_camera:
        straight_from_the_camera.write(bytes(3 * 1024 * 1024))
    write_png(stills / "fine.png", 640, 360, (20, 40, 60))
    (stills / "full.png").write_bytes((stills / "camera.png").read_bytes())
    source = publication.root / "reviews" / "film-1.md"
    text = source.read_text("utf-8")
    source.write_text(text + "\n![The harbour](/stills/broken.png)\n\n"
                      "![The crew](/stills/camera.png)\n\n![Fine](/stills/fine.png)\n\n"
                      "[The still at full size](/stills/full.png), for those who want it.\n",
                      encoding="utf-8")
    lines = len(text.splitlines())
    (publication.root / "pages").mkdir()
    (publication.root / "pages" / "about.md").write_text(
        "---\ntitle: About\n---\nWho we are.\n\n![The team](stills/broken.png)\n",
        encoding="utf-8")
    report = check_publication(publication.config, now=now, sources_only=True)
    assert [w for w in report.warnings if "stills/" in w] == [
        f"reviews/film-1.md:{lines + 2}: body: static/stills/broken.png is not a PNG image (its "
        "first bytes say otherwise), so browsers show it broken; save it again as a PNG file",
        f"reviews/film-1.md:{lines + 4}: body: static/stills/camera.png is 3.0 MB (3000 × 2000 "
        "pixels), and every reader of its page and of the feeds that carry it downloads it; "
        "save it smaller: 1,500 pixels wide is sharp on every screen, and well under 1 MB",
        "pages/about.md:6: body: static/stills/broken.png is not a PNG image (its first bytes "
        "say otherwise), so browsers show it broken; save it again as a PNG file"]


def test_check_names_a_poster_too_heavy_for_the_pages_and_issues_that_show_it(publication, now):
    write_films(publication, 2)  # film-1.png and film-2.png, small real PNGs
    poster = publication.root / "static" / "posters" / "film-2.png"
    write_png(poster, 3000, 4500, (20, 20, 20))
    with poster.open("ab") as straight_from_the_camera:
        straight_from_the_camera.write(bytes(3 * 1024 * 1024))  # as heavy as a photograph
    report = check_publication(publication.config, now=now, sources_only=True)
    line = next(n for n, text in enumerate(
        (publication.root / "reviews/film-2.md").read_text("utf-8").splitlines(), 1)
        if text.startswith("poster:"))
    assert [w for w in report.warnings if "poster" in w] == [
        f"reviews/film-2.md:{line}: poster: static/posters/film-2.png is 3.0 MB (3000 × 4500 "
        "pixels), and every reader of its page, of the lists and issues that show it downloads "
        "it (an issue shows it 150 pixels wide); save it smaller: 600 pixels wide is sharp on "
        "every screen, and well under 1 MB"]


# --- the designer's own files in static/ -----------------------------------------------------


def fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=4).hexdigest()


def test_a_static_file_named_by_static_url_carries_its_fingerprint_and_a_change_renews_it(
        publication, now):
    # As site.css: a browser told to keep theme.css for a year fetches the new one at once.
    write_films(publication, 2)
    (publication.root / "static" / "css").mkdir(parents=True)
    css = publication.root / "static" / "css" / "theme.css"
    navy, teal, script = b"body { color: navy }\n", b"body { color: teal }\n", b"go()\n"
    css.write_bytes(navy)
    (publication.root / "static" / "theme.js").write_bytes(script)
    (publication.root / "templates").mkdir()
    (publication.root / "templates" / "_page.html.j2").write_text(
        '{% extends "defaults/_page.html.j2" %}{% block head %}'
        '<link rel="stylesheet" href="{{ site.static_url("css/theme.css") }}">'
        "<script src=\"{{ site.static_url('/theme.js') }}\" defer></script>{% endblock %}",
        "utf-8")
    config = publication.config
    build_site(config, now=now)
    public = config.output_path

    def theme(rel):
        doc = page(public, rel)
        return doc.xpath("//link[@rel='stylesheet']/@href")[1:] + doc.xpath("//script/@src")

    for rel in ("index.html", "reviews/film-1/index.html", "tags/index.html", "404.html"):
        assert theme(rel) == [
            f"https://reel.test/css/theme.css?v={fingerprint(navy)}",
            f"https://reel.test/theme.js?v={fingerprint(script)}"], rel
    assert (public / "css/theme.css").read_bytes() == css.read_bytes()  # copied as it is

    css.write_bytes(teal)
    written = build_site(config, now=now).written
    assert {"index.html", "reviews/film-1/index.html", "css/theme.css"} <= set(written)
    assert theme("reviews/film-1/index.html")[0] == (
        f"https://reel.test/css/theme.css?v={fingerprint(teal)}")
    assert build_site(config, now=now).written == ()  # the same bytes: nothing to write


def test_what_a_layout_adds_to_the_head_is_on_every_page_the_search_page_too(publication, now):
    # The search page fills the head block too (its noindex): it keeps the layout's as well.
    write_films(publication, 1)
    publication.write_template(
        "_page.html.j2",
        '{% extends "defaults/_page.html.j2" %}{% block head %}'
        '<link rel="stylesheet" href="{{ site.url("theme.css") }}">{% endblock %}')
    config = publication.config
    build_site(config, now=now)
    for rel in ("index.html", "reviews/film-1/index.html", "search/index.html", "404.html"):
        doc = page(config.output_path, rel)
        assert doc.xpath("//head/link[@rel='stylesheet']/@href")[1:] == [
            "https://reel.test/theme.css"], rel
    assert meta(page(config.output_path, "search/index.html"), "robots") == ["noindex"]


def test_an_override_written_after_a_build_is_used_by_the_next_in_the_same_process(
        publication, now):
    # As in `publisher preview`, which builds again in one process: the default Jinja had
    # compiled was kept, and the manifest held the page made with it as up to date.
    write_films(publication, 1)
    reviews = load_reviews(publication.config).reviews
    issues = [Issue(number=1, subject="s", date=now, reviews=reviews)]
    config = publication.config
    build_site(config, now=now, issues=issues)
    publication.write_template(
        "archive_index.html.j2",
        "<!doctype html><title>{{ publication }}</title><h1>Our letters</h1>\n")
    report = build_site(config, now=now, issues=issues)
    assert "issues/index.html" in report.written
    assert page(config.output_path, "issues/index.html").findtext(".//h1") == "Our letters"


def test_static_url_of_a_file_not_in_static_is_named_at_its_line_by_check_and_the_build(
        publication, now):
    write_films(publication, 1)
    override = publication.write_template(
        "_page.html.j2",
        '{% extends "defaults/_page.html.j2" %}\n{% block head %}\n'
        '<link rel="stylesheet" href="{{ site.static_url("css/them.css") }}">\n'
        "{% endblock %}\n")
    config = publication.config
    expected = (f"{override}:3: static/css/them.css is not there, so static_url('css/them.css') "
                "has nothing to fingerprint; put the file in static/, or correct the path")
    assert expected in check_publication(config, now=now).errors
    with pytest.raises(PublisherError) as raised:
        build_site(config, now=now)
    assert str(raised.value) == expected


# --- the publication's icon ---------------------------------------------------------------------


def test_the_icon_is_on_every_page_and_beside_every_feed(publication, now):
    write_films(publication, 2)
    write_png(publication.root / "static" / "icon.png", 512, 512, (200, 40, 40))
    publication.add_config('[site]\nicon = "icon.png"\n')
    config = publication.config
    reviews = load_reviews(config).reviews
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    public = config.output_path
    # Fingerprinted, as site.css is: browsers and feed readers keep an icon for long.
    icon = ("https://reel.test/icon.png?v="
            + fingerprint((publication.root / "static" / "icon.png").read_bytes()))
    assert (public / "icon.png").is_file()

    # the browser tab's, and the home screen's on iOS, on the site's and the archive's pages
    for rel in ("index.html", "reviews/film-1/index.html", "tags/index.html", "404.html",
                "issues/index.html", "issues/1/index.html"):
        doc = page(public, rel)
        assert doc.xpath('//link[@rel="icon"]/@href') == [icon], rel
        assert doc.xpath('//link[@rel="apple-touch-icon"]/@href') == [icon], rel
    assert f'<link rel="icon" href="{icon}" type="image/png"/>' in (
        public / "feed.xsl").read_text("utf-8")

    # shared on social media: a page with no image of its own shows the icon, in the small card
    home, review = page(public, "index.html"), page(public, "reviews/film-1/index.html")
    assert meta(home, "og:image") == meta(home, "twitter:image") == [icon]
    assert meta(home, "twitter:card") == ["summary"]
    poster = "https://reel.test/posters/film-1.png"
    assert meta(review, "og:image") == meta(review, "twitter:image") == [poster]
    assert meta(review, "twitter:card") == ["summary"]  # 200 × 300: too small for the large

    # what feed readers show beside the feed, in every format and every archive document
    for path in ("", "reviewers/sam-okafor/", "archive/2026-11/"):
        rss = (public / path / "feed.xml").read_bytes()
        atom = (public / path / "atom.xml").read_bytes()
        assert rss_problems(rss, f"https://reel.test/{path}feed.xml") == []
        assert atom_problems(atom, f"https://reel.test/{path}atom.xml") == []
        assert feedparser.parse(rss).feed.image.href == icon
        assert feedparser.parse(atom).feed.icon == icon
        data = json.loads((public / path / "feed.json").read_bytes())
        assert data["icon"] == data["favicon"] == icon
    assert feedparser.parse((public / "issues" / "atom.xml").read_bytes()).feed.icon == icon

    write_png(publication.root / "static" / "icon.png", 512, 512, (40, 40, 200))
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    renewed = page(public, "reviews/film-1/index.html").xpath('//link[@rel="icon"]/@href')
    assert renewed != [icon] and renewed[0].startswith("https://reel.test/icon.png?v=")


def test_without_an_icon_no_page_or_feed_names_one(publication, now):
    write_films(publication, 1)
    build_site(publication.config, now=now)
    public = publication.config.output_path
    assert not page(public, "index.html").xpath('//link[@rel="icon"]')
    assert b"<image>" not in (public / "feed.xml").read_bytes()
    assert b"<icon>" not in (public / "atom.xml").read_bytes()
    assert "icon" not in json.loads((public / "feed.json").read_bytes())


def test_an_icon_missing_from_static_stops_the_build_and_check_names_it(publication, now):
    write_films(publication, 1)
    publication.add_config('[site]\nicon = "img/icon.png"\n')
    config = publication.config
    with pytest.raises(PublisherError) as info:
        build_site(config, now=now)
    expected = (f"{config.path}: site.icon: static/img/icon.png is not there; put the image "
                "there, or remove the key")
    assert str(info.value) == expected
    assert not config.output_path.exists()
    assert expected in check_publication(config, now=now, sources_only=True).errors


def test_check_warns_of_an_icon_that_is_not_square(publication, now):
    write_films(publication, 1)
    write_png(publication.root / "static" / "icon.png", 300, 100, (200, 40, 40))
    publication.add_config('[site]\nicon = "icon.png"\n')
    config = publication.config
    report = check_publication(config, now=now, sources_only=True)
    assert [w for w in report.warnings if "site.icon" in w] == [
        f"{config.path}: site.icon: static/icon.png is 300 × 100 pixels; browsers and feed "
        "readers show it in a square, squeezed: crop it to a square (512 × 512 suits every "
        "use)"]


@pytest.mark.parametrize("icon", ["../secret.png", "/etc/icon.png", "icon.txt"])
def test_an_icon_must_be_an_image_file_in_static(publication, icon):
    publication.add_config(f'[site]\nicon = "{icon}"\n')
    with pytest.raises(ConfigError) as info:
        publication.config  # noqa: B018 - loading it is the test
    assert f"site.icon: {icon!r} is not an image file in static/" in str(info.value)


def test_feeds_over_a_megabyte_are_named_when_few_and_counted_when_many(publication, now):
    long = "\n\n".join(["A paragraph that goes on and on. " * 30] * 1200)  # 1.2 MB
    write_reviews(publication, [{"body": long, "tags": None}, {}])
    config = publication.config
    warnings = [str(w) for w in build_site(config, now=now).warnings]
    assert warnings == [  # the site's feed and its reviewer's: both hold the long review
        "public/feed.xml: over 1 MB with every review in full: 1 entry shortened to its "
        "logline",
        "public/reviewers/priya-raman/feed.xml: over 1 MB with every review in full: 1 entry "
        "shortened to its logline"]
    assert len((config.output_path / "feed.xml").read_bytes()) < 1_000_000

    # In the feed of each of its tags too: one thing to know, said once.
    write_reviews(publication, [{"body": long, "tags": ["a", "b", "c", "d"]}, {}])
    warnings = [str(w) for w in build_site(config, now=now).warnings]
    assert warnings == [
        "public/: 6 feeds are over 1 MB with every review in full (public/feed.xml, "
        "public/reviewers/priya-raman/feed.xml, public/tags/a/feed.xml and 3 more): 6 entries "
        "shortened to their logline"]


# --- review data in the feeds -------------------------------------------------------------------


def test_the_review_data_is_in_every_format(publication, now):
    write_films(publication, 1)
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    item = json.loads((public / "feed.json").read_bytes())["items"][0]
    data = item["_review"]
    assert data["about"] == f"{config.base_url}feeds/#review-data" and data["version"] == 1
    assert (data["rating"], data["best_rating"], data["worst_rating"]) == (3.5, 5, 0)
    assert data["reviewer"] == {"name": "Sam Okafor",
                                "url": f"{config.base_url}reviewers/sam-okafor/"}
    film = data["film"]
    assert (film["title"], film["year"], film["director"]) == (
        "Fast & Furious <Extended Cut>", 2009, "Justin Lin")
    assert film["cast"] == ["Vin Diesel", "Paul Walker", "Michelle Rodriguez"]
    assert film["poster"]["width"] == 200 and film["poster"]["height"] == 300
    assert film["poster"]["size_in_bytes"] == (publication.root / "static/posters/film-1.png"
                                               ).stat().st_size
    import lxml.etree

    ns = {"r": REVIEW_NS, "a": "http://www.w3.org/2005/Atom"}
    for rel, entry in (("feed.xml", "//item"), ("atom.xml", "//a:entry")):
        root = lxml.etree.fromstring((public / rel).read_bytes())
        [review] = root.xpath(f"{entry}/r:review", namespaces=ns)
        assert review.get("version") == "1"
        rating = review.find(f"{{{REVIEW_NS}}}rating")
        assert (rating.text, rating.get("best"), rating.get("worst")) == ("3.5", "5", "0")
        assert review.xpath("r:film/r:director/text()", namespaces=ns) == ["Justin Lin"]
        assert review.xpath("r:film/r:cast/text()", namespaces=ns) == film["cast"]
        poster = review.xpath("r:film/r:poster", namespaces=ns)[0]
        assert (poster.get("width"), poster.get("height")) == ("200", "300")
    doc = page(public, "feeds/index.html")
    assert doc.xpath("//*[@id='review-data']") and REVIEW_NS in doc.text_content()


# --- another language ------------------------------------------------------------------------


FRENCH = """\
every_review = "Toutes les critiques"
reviewer_heading = "Critiques de {name}"
reviewer_intro = "{count} de {name}, des plus récentes aux plus anciennes."
reviews = { one = "{n} critique", other = "{n} critiques" }
same_director = "Du même réalisateur : {name}"
directed_by = "Réalisé par {name}"
rating = "{value} sur 5"
director = "Réalisateur"
feed_archive_title = "{site} : les critiques de {month}"
rated = "Noté {rating}"
byline = "Critique de {reviewer}, publiée le {date}"
related_heading = "Critiques liées"
skip_link = "Aller au contenu"
nav_reviews = "Critiques"
all_reviews = { one = "La critique", other = "Les {n} critiques" }
read_review = "Lire la critique"
label = "{label} :"
"""


def test_a_french_publication_quotes_in_guillemets_in_pages_feeds_excerpts_and_digests(
        publication, now):
    write_reviews(publication, [{"summary": None, "body": 'Un film "inoubliable", l\'été.'}])
    (publication.root / "pages" / "about.md").parent.mkdir(exist_ok=True)
    (publication.root / "pages" / "about.md").write_text(
        '---\ntitle: À propos\n---\nUne revue "libre".\n', encoding="utf-8")
    build_site(publication.config, now=now)  # in English first: its bodies are cached
    publication.set_language("fr")
    config = publication.config
    build_site(config, now=now)
    quoted = "«\u202finoubliable\u202f», l’été."
    review_page = page(config.output_path, "reviews/film-1/index.html")
    assert quoted in review_page.text_content()
    assert quoted in meta(review_page, "description")[0]  # the excerpt
    assert "«\u202flibre\u202f»" in page(config.output_path, "about/index.html").text_content()
    [entry] = feedparser.parse(config.output_path / "feed.xml").entries
    assert quoted in entry.content[0].value and quoted in entry.summary
    digest = render_digest(Issue(number=1, subject="s", date=now,
                                 reviews=load_reviews(config).reviews), Site.from_config(config))
    assert quoted in digest.html and "“" not in digest.html


def test_a_right_to_left_publication_reads_right_to_left_in_the_feeds_view_too(
        publication, now):
    publication.set_language("he")
    write_reviews(publication, 1)
    config = publication.config
    build_site(config, now=now)
    assert page(config.output_path, "index.html").get("dir") == "rtl"
    xsl = lxml.etree.parse(str(config.output_path / "feed.xsl"))
    [html_element] = xsl.xpath("//html")
    assert (html_element.get("lang"), html_element.get("dir")) == ("he", "rtl")


@pytest.mark.parametrize(("language", "direction"), [("ha", "ltr"), ("ckb", "rtl")])
def test_a_publication_reads_in_the_direction_its_language_is_written(publication, now,
                                                                      language, direction):
    # Hausa (Latin letters) was published right to left, Sorani (Arabic letters) left to right.
    publication.set_language(language)
    write_reviews(publication, 1)
    config = publication.config
    build_site(config, now=now)
    assert page(config.output_path, "index.html").get("dir") == direction
    [html_element] = lxml.etree.parse(str(config.output_path / "feed.xsl")).xpath("//html")
    assert html_element.get("dir") == direction
    digest = render_digest(Issue(number=1, subject="s", date=now,
                                 reviews=load_reviews(config).reviews), Site.from_config(config))
    assert re.search(f'<html lang="{language}" dir="{direction}"', digest.html)


def test_in_a_right_to_left_page_the_older_review_is_to_the_right(publication, now):
    publication.set_language("he")
    write_reviews(publication, 3)
    config = publication.config
    build_site(config, now=now)
    doc = page(config.output_path, "reviews/film-2/index.html")
    assert doc.xpath("string(//a[@rel='prev'])").startswith("→ ")
    assert doc.xpath("string(//a[@rel='next'])").endswith(" ←")


def test_in_a_right_to_left_index_the_pages_arrows_point_out_to_their_sides(publication, now):
    # "← Newer" stood at the right edge pointing into the page, "Older →" at the left.
    publication.set_language("he")
    publication.add_config("[site]\nper_page = 1\n")
    write_reviews(publication, 3)
    config = publication.config
    build_site(config, now=now)
    [pager] = page(config.output_path, "reviews/page/2/index.html").xpath("//nav[@class='pager']")
    assert pager.xpath("string(.//a[@rel='prev'])") == "→ Newer"
    assert pager.xpath("string(.//a[@rel='next'])") == "Older ←"


#: A Persian film and reviewer in an English publication.
FARHADI = {"reviewer": quoted("علی رضایی"), "tags": "[درام]",
           "film": {"year": 2011, "director": "Asghar Farhadi",
                    "starring": ["لیلا حاتمی", "پیمان معادی"]}}


def isolated(element: lxml.html.HtmlElement) -> bool:
    """Whether ``element`` is bidi-isolated from the text around it (a year, a date, an
    arrow): a <bdi>, or an element whose direction is its own text's."""
    return element.tag == "bdi" or element.get("dir") == "auto"


def test_titles_and_names_an_editor_writes_are_isolated_from_the_words_around_them(
        publication, now):
    # Not isolated, a Persian title in an English page drew its year on its left, and the
    # reviewer's name pulled the day of the date beside it ("علی رضایی · 5 November" read
    # "5 · علی رضایی November").
    write_reviews(publication, [
        {"slug": "before"},
        {"slug": "separation", "title": quoted("جدایی نادر از سیمین"), **FARHADI},
        {"slug": "salesman", "title": quoted("فروشنده"),
         **{**FARHADI, "film": {"year": 2016, "director": "Asghar Farhadi"}}}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path

    home = page(public, "index.html")
    for card in home.xpath("//ul[@class='cards']/li"):
        assert isolated(card.xpath(".//h2/a/bdi")[0])
        assert isolated(card.xpath(".//p[@class='meta']/a")[0])
    review = page(public, "reviews/salesman/index.html")
    [title] = review.xpath("//h1/bdi")
    assert title.text == "فروشنده" and review.xpath("string(//h1/span)") == "(2016)"
    assert isolated(review.xpath("//a[@rel='author']")[0])
    assert all(isolated(a) for a in review.xpath("//a[@rel='tag']"))
    assert review.xpath("//a[@rel='prev']/bdi/text()") == ["جدایی نادر از سیمین"]
    [related] = review.xpath("//section[@class='related']//a[@class='title']")
    assert isolated(related) and related.text == "جدایی نادر از سیمین"
    assert review.xpath("//section[@class='related']//p[@class='meta']/bdi/text()") == [
        "علی رضایی"]
    cast = page(public, "reviews/separation/index.html").xpath("//dd/bdi/text()")
    assert cast == ["لیلا حاتمی", "پیمان معادی"]
    before = page(public, "reviews/before/index.html")
    assert before.xpath("//a[@rel='next']/bdi/text()") == ["جدایی نادر از سیمین"]
    for index in ("tags/index.html", "reviewers/index.html"):
        assert all(isolated(a) for a in page(public, index).xpath("//ul[@class='terms']//a"))
    xsl = lxml.etree.parse(str(public / "feed.xsl"))
    assert [a.get("dir") for a in xsl.xpath("//a[@class='title']")] == ["auto", "auto"]


def test_the_feeds_view_of_a_months_archive_sends_readers_to_the_feed_itself(publication,
                                                                              now):
    write_reviews(publication, [{}, {"summary": None}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    view = lxml.etree.XSLT(lxml.etree.parse(str(public / "feed.xsl")))
    [month] = [p.parent.name for p in public.glob("archive/*/feed.xml")][:1]
    for name in ("feed.xml", "atom.xml"):
        shown = view(lxml.etree.parse(str(public / name)))
        [lede] = shown.xpath("//p[@class='lede']")
        assert "to follow new reviews as they are published" in lede.xpath("string()")
        # Each entry with its logline, RSS as Atom; one without shows no HTML as text.
        rows = [li.xpath("string()") for li in shown.xpath("//ul[@class='rows']/li")]
        assert "A film worth seeing, number 1." in rows[1] and "<" not in rows[0]
        [archived] = view(lxml.etree.parse(str(public / "archive" / month / name))).xpath(
            "//p[@class='lede']")
        assert archived.xpath("string()").startswith("This is an archive of a web feed")
        assert archived.xpath("a/@href") == [config.url(name)]


def test_the_feeds_view_writes_each_entrys_day_in_the_publications_language(publication, now):
    # RSS dates are RFC 822, in English ("Fri, 05 Mar 2026"); Atom's are ISO: the view shows
    # both as the pages do.
    publication.set_language("fr")
    write_reviews(publication, [{"date": "2026-03-05"}, {"date": "2026-10-28"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    view = lxml.etree.XSLT(lxml.etree.parse(str(public / "feed.xsl")))
    for name in ("feed.xml", "atom.xml"):
        shown = view(lxml.etree.parse(str(public / name)))
        assert [p.xpath("string()") for p in shown.xpath("//p[@class='meta']")] == [
            "28 octobre 2026", "5 mars 2026"], name


#: publisher's English words with no placeholder, as a page would show them: none may be left in
#: a page, a feed or an issue of a publication in a language publisher ships.
ENGLISH_WORDS = ["Skip to the content", "Every review", "Reviewed by", "Related reviews",
                 "Get The Second Reel by email", "Email address", "Name (optional)", "Feeds",
                 "Read the full review", "Watch the trailer", "Unsubscribe", "Starring",
                 "out of 5", "You are receiving this", "Did someone forward this"]


def test_a_french_publication_reads_french_without_translating_anything(tmp_path, now):
    root = tmp_path / "second-reel"
    shutil.copytree(EXAMPLE, root)
    written = (root / "publisher.toml").read_text(encoding="utf-8")
    assert 'language = "en-GB"' in written
    (root / "publisher.toml").write_text(written.replace('language = "en-GB"', 'language = "fr"'),
                                         encoding="utf-8")
    config = load_config(directory=root)
    assert not [w for w in check_publication(config, now=now).warnings if "language" in w]
    build_site(config, now=now)
    public = config.output_path

    def shown(doc: lxml.html.HtmlElement) -> str:
        for hidden in doc.xpath("//script | //style"):
            hidden.drop_tree()
        labels = doc.xpath("//@aria-label | //@alt | //@title | //@placeholder")
        # Whitespace as a browser folds it: French's no-break spaces are kept.
        return re.sub(r"[ \t\r\n]+", " ", " ".join([doc.text_content(), *labels]))

    home = shown(page(public, "index.html"))
    assert "Aller au contenu" in home and "Recevoir The Second Reel par e-mail" in home
    assert "Adresse e-mail" in home and "Note\u00a0: 4 sur 5" in home
    review = shown(page(public, "reviews/night-bus-to-tallinn/index.html"))
    assert "Par Sam Okafor, le 27 février 2026" in review and "Autres critiques" in review
    search = shown(page(public, "search/index.html"))
    assert "La recherche nécessite JavaScript." in search
    feed = feedparser.parse((public / "feed.xml").read_bytes())
    entry = " ".join(e.content[0].value for e in feed.entries)
    assert "Année\u00a0:" in entry and "Réalisation\u00a0:" in entry
    issue = render_digest(Issue(number=4, subject="s", date=now,
                                reviews=load_reviews(config).reviews), Site.from_config(config))
    assert "Lire la critique de Night Bus to Tallinn" in issue.html
    assert "Se désabonner\u00a0:" in issue.text
    assert "Quelqu’un vous a transféré ce message\u202f?" in issue.text
    pages = {name: shown(page(public, name)) for name in (
        "index.html", "reviews/index.html", "reviews/night-bus-to-tallinn/index.html",
        "reviewers/sam-okafor/index.html", "tags/index.html", "feeds/index.html",
        "search/index.html", "404.html")}
    for name, text in {**pages, "feed.xml": entry, "issue": issue.html,
                       "issue.txt": issue.text}.items():
        assert [w for w in ENGLISH_WORDS if w in text] == [], name


def test_a_publication_in_another_language_has_its_dates_and_words_in_it(publication, now):
    publication.set_language("fr")
    film = {"director": "Ines Alvarado", "year": 2025}
    write_reviews(publication, [{"film": film}, {"film": film}])
    publication.write_template("strings.fr.toml", FRENCH)
    publication.write_template("web/strings.fr.toml", 'email_label = "Adresse e-mail"\n')
    config = publication.config
    assert not [w for w in check_publication(config, now=now).warnings if "language" in w]
    build_site(config, now=now)
    public = config.output_path

    doc = page(public, "reviews/film-2/index.html")
    assert doc.get("lang") == "fr"
    text = " ".join(doc.text_content().split())
    assert "2 novembre 2026" in text
    [reason] = doc.xpath("//section[@class='related']//p[@class='meta']")
    assert reason.text_content().startswith("Du même réalisateur : Ines Alvarado")
    # The templates' own words, from the same file; the links and dates in them kept whole.
    [stars] = doc.xpath("//*[@role='img']")
    assert stars.get("aria-label") == "Noté 4 sur 5"
    [byline] = doc.xpath("//article//p[@class='meta'][a[@rel='author']]")
    assert " ".join(byline.text_content().split()) == (
        "Critique de Priya Raman, publiée le 2 novembre 2026")
    assert byline.xpath("time/@datetime") == ["2026-11-02"]
    assert doc.xpath("//h2[@id='related-heading']")[0].text == "Critiques liées"
    assert doc.xpath("//a[@class='skip']")[0].text == "Aller au contenu"
    assert "Critiques" in doc.xpath("//nav[@aria-label='Site']//a/text()")
    # The subscribe form is publisher serve's, in the words of its own file (web/).
    assert doc.xpath("//label[@for='subscribe-email']")[0].text == "Adresse e-mail"
    home = page(public, "index.html")
    assert "Les 2 critiques" in home.xpath("//p[@class='more']/a/text()")

    reviewer = page(public, "reviewers/priya-raman/index.html")
    assert reviewer.xpath("//h1")[0].text_content() == "Critiques de Priya Raman"
    assert "2 critiques de Priya Raman, des plus récentes" in reviewer.text_content()
    index = page(public, "reviews/index.html")
    assert index.xpath("//h1")[0].text_content() == "Toutes les critiques"

    archive = feedparser.parse((public / "archive/2026-11/atom.xml").read_bytes())
    assert archive.feed.title == "Test Reel : les critiques de novembre 2026"
    [entry, _] = archive.entries
    assert "<strong>Réalisateur :</strong> Ines Alvarado" in entry.content[0].value
    site_feed = feedparser.parse((public / "feed.xml").read_bytes())
    assert site_feed.feed.language == "fr"

    # The digest: its date line, its preheader's list of films, each card's credits.
    reviews = load_reviews(config).reviews
    digest = render_digest(Issue(number=1, subject="s", date=now, reviews=reviews),
                           Site.from_config(config))
    assert "20 novembre 2026" in digest.text and "Réalisé par Ines Alvarado" in digest.text
    assert "Lire la critique :\n" in digest.text, digest.text
    assert "Dans ce numéro\u00a0: Film 1 et Film 2" in digest.html  # publisher's French


def test_a_language_written_as_a_locale_name_reads_the_translation_of_its_language(
        publication, now):
    # language = "de_DE" (WordPress's spelling) read no strings.de.toml, while check said
    # nothing was missing: every word stayed English, and lang="de_DE" stopped the search
    # page's script (Intl refuses it).
    publication.set_language("de_DE")
    write_reviews(publication, 1)
    german = publication.write_template("strings.de.toml", 'every_review = "Alle Kritiken"\n')
    config = publication.config
    assert not [w for w in check_publication(config, now=now).warnings if ": language:" in w]
    build_site(config, now=now)
    public = config.output_path
    index = page(public, "reviews/index.html")
    assert index.get("lang") == "de-DE"
    assert index.xpath("//h1")[0].text_content() == "Alle Kritiken"
    assert feedparser.parse((public / "feed.xml").read_bytes()).feed.language == "de-DE"
    # A translation named as the language was written is still read.
    german.unlink()
    publication.write_template("strings.de_DE.toml", 'every_review = "Sämtliche Kritiken"\n')
    assert not [w for w in check_publication(config, now=now).warnings if ": language:" in w]
    build_site(config, now=now)
    assert page(public, "reviews/index.html").xpath("//h1")[0].text_content() == (
        "Sämtliche Kritiken")


def test_check_says_when_a_language_has_no_translation_of_publishers_words(publication, now):
    publication.set_language("nl")  # one publisher ships no translation for
    write_reviews(publication, 1)
    warnings = check_publication(publication.config, now=now).warnings
    [said] = [w for w in warnings if "language" in w]
    assert said.startswith(f"{publication.root / 'publisher.toml'}: language: 'nl', but the "
                           "words of the pages, feeds and digest")
    assert "strings.nl.toml and translate it" in said


def test_a_link_or_poster_naming_a_file_with_its_accents_apart_says_to_rename_it(publication,
                                                                                   now):
    # A file named on a Mac can keep its accents as separate marks (NFD); the link, typed, has
    # them joined (NFC). A browser asks for the NFC address, and the host finds no such file.
    write_reviews(publication, [{"slug": "x", "body": "![The poster](img/affiche-été.png)"}])
    images = publication.root / "static" / "img"
    images.mkdir(parents=True)
    write_png(images / unicodedata.normalize("NFD", "affiche-été.png"), 4, 6, (1, 2, 3))
    config = publication.config
    apart = ("a file of that name is there with its accents written apart (decomposed, as a Mac "
             "may save a name), which no typed address matches: rename it, typing its name")
    [warning] = [str(w) for w in build_site(config, now=now).warnings]
    assert warning == (
        f"reviews/x.md:8: body: links to {config.url('img/affiche-été.png')}, where nothing is "
        f"published (no review, page or file in static/ has that address); {apart}")

    write_reviews(publication, [{"slug": "x", "poster": "img/affiche-été.png"}])
    line = next(n for n, text in enumerate(
        (publication.root / "reviews/x.md").read_text("utf-8").splitlines(), 1)
        if text.startswith("poster:"))
    with pytest.raises(SourceError) as stopped:
        build_site(config, now=now)
    assert [str(p) for p in stopped.value.problems] == [
        f"reviews/x.md:{line}: poster: static/img/affiche-été.png does not exist; {apart}"]


def test_a_broken_link_left_by_pelican_or_a_hugo_bundle_says_what_to_do(publication, now):
    write_reviews(publication, [{"slug": "x", "body": "[y]({filename}/y.md)\n\n"
                                                      "![still]({static}/images/still.jpg)"}])
    bundle = publication.root / "reviews" / "past-lives"
    bundle.mkdir()
    (bundle / "still.png").write_bytes(b"png")
    (bundle / "index.md").write_text("---\ntitle: Past Lives\ndate: 2026-11-02\n"
                                     "reviewer: Ana\n---\n![A still](still.png)\n",
                                     encoding="utf-8")
    config = publication.config
    nothing = ("where nothing is published (no review, page or file in static/ has that "
               "address)")
    assert [str(w) for w in build_site(config, now=now).warnings] == [
        f"reviews/x.md:8: body: links to {config.url('{filename}/y.md')}, {nothing}; "
        "Pelican's {filename} is not read here: link the review's or page's address on this "
        "site instead",
        f"reviews/x.md:10: body: links to {config.url('{static}/images/still.jpg')}, "
        f"{nothing}; Pelican's {{static}} is not read here: link the file's path under static/ "
        "(images/still.jpg)",
        f"reviews/past-lives/index.md:6: body: links to {config.url('still.png')}, {nothing}; "
        "still.png sits beside reviews/past-lives/index.md, and only static/ is published: "
        "move it to static/past-lives/still.png and link past-lives/still.png",
    ]
