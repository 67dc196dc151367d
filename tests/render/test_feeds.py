"""Feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 for reviews built directly (no sources needed).

Every output is parsed back with feedparser (bozo 0) and checked field by field, checked for
well-formedness with lxml, and run through tests/fixtures.py's offline approximation of the
W3C validator. Each rule feeds.py keeps (self links per format, dates never the clock, an
author always, content as escaped HTML, enclosures done right) has its own test.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import re
import weakref
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import feedparser
import jsonschema
import lxml.etree
import orjson
import pytest

from publisher.models import Film, ImageFacts, Poster, Trailer
from publisher.render import feeds
from publisher.render.feeds import (
    _NEVER_ILLEGAL,
    FEED_FILES,
    MAX_FEED_BYTES,
    UNKNOWN_LENGTH,
    FeedRenderer,
    Paging,
    _all_absolute,
    _all_absolute_utf8,
    _cleaned,
    _escape,
    _escaped,
    _joined,
    _json_escaped,
    _rfc822,
    _Texts,
    absolutise,
    render_feeds,
)
from publisher.render.site import Site
from publisher.render.words import load_words
from publisher.sources.posters import PosterFacts
from publisher.text import ILLEGAL_CHARS, xml_safe
from tests.fixtures import (
    ATOM,
    CONTENT,
    DATA,
    DC,
    MEDIA,
    atom_problems,
    golden,
    make_review,
    relative_urls,
    rss_problems,
    write_png,
)

SCHEMA = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text("utf-8"))
SITE = "https://reel.test/"


def render(reviews, config, path="", title="Test Reel", description="Reviews for tests."):
    return render_feeds(reviews, site=Site.from_config(config), path=path, title=title,
                        description=description)


def parse(files):
    parsed = {name: feedparser.parse(files[name]) for name in ("feed.xml", "atom.xml")}
    for name, d in parsed.items():
        assert d.bozo == 0, (name, d.get("bozo_exception"))
    return parsed


def check_valid(files, path=""):
    """Well-formed, W3C-approximation clean, JSON schema valid; returns (rss root, atom root)."""
    assert rss_problems(files["feed.xml"], f"{SITE}{path}feed.xml") == []
    assert atom_problems(files["atom.xml"], f"{SITE}{path}atom.xml") == []
    jsonschema.validate(json.loads(files["feed.json"]), SCHEMA)
    return lxml.etree.fromstring(files["feed.xml"]), lxml.etree.fromstring(files["atom.xml"])


# --- the round trip ---------------------------------------------------------------------------


def test_every_field_survives_a_feedparser_round_trip(config):
    review = make_review(1, tags=("Sci-fi", "Space horror"), rating=Decimal("3.5"))
    files = render([review], config)
    check_valid(files)
    for name, d in parse(files).items():
        [entry] = d.entries
        assert entry.title == "Film Number 1", name
        assert entry.link == review.url, name
        assert entry.id == review.id, name
        assert entry.author == "Sam Okafor", name
        assert [t.term for t in entry.tags] == ["Sci-fi", "Space horror"], name
        assert entry.summary == "A logline for film 1.", name
        assert datetime(*entry.published_parsed[:6], tzinfo=UTC) == review.date, name
        content = entry.content[0].value
        assert "★★★½ — 3.5 out of 5" in content, name
        assert "1979" in content and "Ridley Scott" in content, name
        assert "Sigourney Weaver, Tom Skerritt, Yaphet Kotto" in content, name
        assert "The body of review 1, with <em>emphasis</em>." in content, name
        assert "On Blu-ray and streaming." in content, name
    atom_entry = parse(files)["atom.xml"].entries[0]
    assert datetime(*atom_entry.updated_parsed[:6], tzinfo=UTC) == review.updated


def test_rss_items_carry_the_updated_time_too(config):
    # RSS has no element for it; atom:updated (which readers and the W3C validator accept)
    # keeps an edit visible, where feedparser would otherwise report pubDate as "updated".
    review = make_review(1)
    assert review.updated != review.date
    rss, _ = check_valid(render([review], config))
    item = rss.find("channel/item")
    assert len(item.findall(f"{ATOM}updated")) == 1
    [entry] = parse(render([review], config))["feed.xml"].entries
    assert datetime(*entry.published_parsed[:6], tzinfo=UTC) == review.date
    assert datetime(*entry.updated_parsed[:6], tzinfo=UTC) == review.updated


def test_json_feed_is_valid_json_feed_1_1_with_every_field(config):
    review = make_review(2, poster=Poster(src=f"{SITE}posters/p.jpg", alt="A poster"))
    feed = json.loads(render([review], config, path="tags/sci-fi/")["feed.json"])
    jsonschema.validate(feed, SCHEMA)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["home_page_url"] == f"{SITE}tags/sci-fi/"
    assert feed["feed_url"] == f"{SITE}tags/sci-fi/feed.json"
    assert feed["language"] == "en"
    assert feed["authors"] == [{"name": "Ed Itor", "url": SITE}]
    [item] = feed["items"]
    assert item["id"] == review.id and item["url"] == review.url
    assert item["title"] == "Film Number 2"
    assert item["summary"] == "A logline for film 2."
    assert item["image"] == f"{SITE}posters/p.jpg"
    assert datetime.fromisoformat(item["date_published"]) == review.date
    assert datetime.fromisoformat(item["date_modified"]) == review.updated
    assert item["authors"] == [{"name": "Sam Okafor"}]
    assert item["tags"] == ["Sci-fi", "Horror"]
    assert "★★★½ — 3.5 out of 5" in item["content_html"]


def test_json_schema_rejects_what_the_spec_forbids():
    # The schema must be able to fail, or validating against it proves nothing.
    good = {"version": "https://jsonfeed.org/version/1.1", "title": "T",
            "items": [{"id": "1", "content_html": "<p>x</p>"}]}
    jsonschema.validate(good, SCHEMA)
    bad = [
        {**good, "version": "https://jsonfeed.org/version/1"},
        {**good, "items": [{"id": "1"}]},  # neither content_html nor content_text
        {**good, "items": [{"id": "1", "content_html": "", "date_published": "2025-01-01"}]},
        {**good, "author": {"name": "1.0-style"}},  # unknown key without an underscore
        {**good, "feed_url": "/relative/feed.json"},
    ]
    for doc in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, SCHEMA)


def test_validator_approximation_catches_the_classic_mistakes(config):
    files = render([make_review(1)], config)
    rss = files["feed.xml"].decode()
    assert rss_problems(files["feed.xml"], f"{SITE}other.xml")  # self link elsewhere
    broken = rss.replace("<pubDate>Sun, 02 Mar 2025", "<pubDate>Mon, 02 Mar 2025")
    assert any("day of the week" in p for p in rss_problems(broken.encode(), f"{SITE}feed.xml"))
    broken = rss.replace('isPermaLink="false"', 'isPermaLink="true"')
    assert any("not a URL" in p for p in rss_problems(broken.encode(), f"{SITE}feed.xml"))
    atom = files["atom.xml"].decode()
    broken = atom.replace("<updated>2025", "<updated>Sun 2025", 1)
    assert any("RFC 3339" in p for p in atom_problems(broken.encode(), f"{SITE}atom.xml"))


# --- channel ----------------------------------------------------------------------------------


def test_channel_has_every_required_element(config):
    rss, atom = check_valid(render([make_review(1)], config))
    ch = rss.find("channel")
    assert ch.findtext("title") == "Test Reel"
    assert ch.findtext("description") == "Reviews for tests."
    assert ch.findtext("language") == "en"
    assert ch.findtext("generator") == "publisher"
    assert atom.findtext(f"{ATOM}generator") == "publisher"
    assert atom.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert atom.findtext(f"{ATOM}subtitle") == "Reviews for tests."


def test_rss_channel_link_is_the_site_not_the_last_link_added(config):
    for path, home in (("", SITE), ("reviewers/sam-okafor/", f"{SITE}reviewers/sam-okafor/")):
        rss, atom = check_valid(render([make_review(1)], config, path=path), path)
        assert rss.find("channel").findtext("link") == home
        alternate = [ln.get("href") for ln in atom.findall(f"{ATOM}link")
                     if ln.get("rel") == "alternate"]
        assert alternate == [home]


@pytest.mark.parametrize("path", ["tags/horror/", ""])
def test_a_feed_links_the_other_sites_home_when_that_site_has_the_pages(publication, path):
    # No page is built at tags/horror/, nor at base_url, which only serves the feeds: the
    # channel link, Atom's alternate and JSON Feed's home_page_url would all be a 404 there.
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    files = render([make_review(1)], publication.config, path=path)
    rss, atom = check_valid(files, path)
    home = "https://www.reel.test/"
    assert rss.find("channel").findtext("link") == home
    assert [ln.get("href") for ln in atom.findall(f"{ATOM}link")
            if ln.get("rel") == "alternate"] == [home]
    assert json.loads(files["feed.json"])["home_page_url"] == home


def test_each_format_has_its_own_self_link(config):
    rss, atom = check_valid(render([make_review(1)], config, path="tags/horror/"),
                            "tags/horror/")
    [rss_self] = [ln for ln in rss.iter(f"{ATOM}link") if ln.get("rel") == "self"]
    [atom_self] = [ln for ln in atom.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    assert rss_self.get("href") == f"{SITE}tags/horror/feed.xml"
    assert rss_self.get("type") == "application/rss+xml"
    assert atom_self.get("href") == f"{SITE}tags/horror/atom.xml"
    assert atom_self.get("type") == "application/atom+xml"


def test_hub_link_is_kept_in_rss_too(publication):
    # RSS has no hub element: it goes in as atom:link, beside the self link.
    publication.add_config('[feeds]\nhub = "https://hub.example.net/"\n')
    files = render([make_review(1)], publication.config)
    rss, atom = check_valid(files)
    hubs = [ln.get("href") for ln in rss.find("channel").findall(f"{ATOM}link")
            if ln.get("rel") == "hub"]
    assert hubs == ["https://hub.example.net/"]
    assert [ln.get("href") for ln in atom.findall(f"{ATOM}link")
            if ln.get("rel") == "hub"] == ["https://hub.example.net/"]
    assert json.loads(files["feed.json"])["hubs"] == [
        {"type": "WebSub", "url": "https://hub.example.net/"}]
    assert rss.find("channel").findtext("link") == SITE  # still the site, hub added before it


def test_channel_dates_are_the_newest_update_never_the_clock(config, clock):
    # Feed dates come from the reviews, never the clock. The wall clock is frozen for
    # publisher, then jumps: the same reviews must give the same bytes.
    frozen = clock.freeze("publisher.")
    assert "publisher.render.feeds" in frozen
    older = make_review(1)
    newer = make_review(2, updated=datetime(2025, 6, 1, 8, 30, tzinfo=UTC))
    files = render([newer, older], config)
    rss, atom = check_valid(files)
    assert rss.find("channel").findtext("lastBuildDate") == "Sun, 01 Jun 2025 08:30:00 +0000"
    assert atom.findtext(f"{ATOM}updated") == "2025-06-01T08:30:00+00:00"
    # a year, a day and a second later, a second rendering is byte-identical
    clock.advance(timedelta(days=366, seconds=1))
    assert render([newer, older], config) == files


def test_empty_feed_is_valid_and_dated_at_the_epoch(config):
    files = render([], config)
    rss, atom = check_valid(files)
    assert rss.find("channel").findtext("lastBuildDate") == "Thu, 01 Jan 1970 00:00:00 +0000"
    assert atom.findtext(f"{ATOM}updated") == "1970-01-01T00:00:00+00:00"
    assert json.loads(files["feed.json"])["items"] == []


def test_atom_feed_always_has_an_author(publication):
    # Atom requires an author for every entry, from the entry or the feed.
    publication.write_config('title = "Anon Reel"\nbase_url = "https://reel.test/"\n')
    files = render([make_review(1, reviewer="")], publication.config, title="Anon Reel")
    rss, atom = check_valid(files)
    assert atom.findtext(f"{ATOM}author/{ATOM}name") == "Anon Reel"
    assert atom.findtext(f"{ATOM}entry/{ATOM}author/{ATOM}name") == "Anon Reel"


# --- entries ----------------------------------------------------------------------------------


def test_entries_are_newest_first_and_limited(publication):
    publication.add_config("[feeds]\nlimit = 3\n")
    reviews = [make_review(i) for i in (4, 1, 5, 2, 3)]
    files = render(reviews, publication.config)
    check_valid(files)
    for d in parse(files).values():
        assert [e.title for e in d.entries] == ["Film Number 5", "Film Number 4",
                                                "Film Number 3"]
    assert [i["title"] for i in json.loads(files["feed.json"])["items"]] == [
        "Film Number 5", "Film Number 4", "Film Number 3"]


def test_entry_author_is_dc_creator_in_rss_because_rss_author_needs_an_email(config):
    rss, atom = check_valid(render([make_review(1, reviewer="Priya Raman")], config))
    item = rss.find("channel/item")
    assert item.find("author") is None
    assert item.findtext(f"{DC}creator") == "Priya Raman"
    assert atom.findtext(f"{ATOM}entry/{ATOM}author/{ATOM}name") == "Priya Raman"


def test_guid_is_the_stable_id_and_a_permalink_only_when_it_is_the_url(config):
    tagged = make_review(1)
    linked = make_review(2, id="https://reel.test/reviews/film-2/")
    retitled = make_review(1, title="A New Title", slug="renamed", id=tagged.id)
    assert retitled.url == "https://reel.test/reviews/renamed/"
    rss, atom = check_valid(render([tagged, linked], config))
    guids = {g.text: g.get("isPermaLink") for g in rss.iter("guid")}
    assert guids == {tagged.id: "false", linked.id: "true"}
    assert [e.findtext(f"{ATOM}id") for e in atom.findall(f"{ATOM}entry")] == [linked.id,
                                                                             tagged.id]
    # retitling or renaming keeps the id
    rss2, _ = check_valid(render([retitled], config))
    assert rss2.find("channel/item").findtext("guid") == tagged.id


def test_dates_are_rfc822_in_rss_and_rfc3339_in_atom_in_the_review_zone(config):
    from zoneinfo import ZoneInfo

    london = ZoneInfo("Europe/London")
    review = make_review(1, date=datetime(2025, 7, 4, 19, 30, 15, 123456, tzinfo=london),
                         updated=datetime(2025, 7, 5, 8, 0, tzinfo=london))
    rss, atom = check_valid(render([review], config))
    assert rss.find("channel/item").findtext("pubDate") == "Fri, 04 Jul 2025 19:30:15 +0100"
    entry = atom.find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}published") == "2025-07-04T19:30:15+01:00"
    assert entry.findtext(f"{ATOM}updated") == "2025-07-05T08:00:00+01:00"


def test_rss_dates_are_written_exactly_as_the_email_package_writes_them(config):
    # feeds.py formats RFC 822 dates itself (format_datetime's time tuple and strftime were a
    # third of an item's time): whole-minute offsets either side of UTC, and the epoch.
    from email.utils import format_datetime
    from zoneinfo import ZoneInfo

    zones = [UTC, ZoneInfo("America/St_Johns"), ZoneInfo("Asia/Kathmandu"),
             ZoneInfo("Pacific/Marquesas"), ZoneInfo("Europe/London")]
    for zone in zones:
        when = datetime(2025, 1, 31, 23, 5, 9, tzinfo=zone)
        for i in range(40):
            review = make_review(i, date=when + timedelta(days=37 * i, hours=5 * i))
            rss, _atom = check_valid(render([review], config))
            item = rss.find("channel/item")
            expected = review.date.replace(microsecond=0)
            assert item.findtext("pubDate") == format_datetime(expected)
            assert rss.findtext("channel/lastBuildDate") == format_datetime(
                max(review.updated, review.date).replace(microsecond=0))
    empty, _atom = check_valid(render([], config))
    assert empty.findtext("channel/lastBuildDate") == "Thu, 01 Jan 1970 00:00:00 +0000"


def test_rfc822_dates_from_any_datetime_are_the_email_packages():
    # _rfc822 rearranges isoformat(); anything but a zoned time in whole seconds and minutes
    # (microseconds, no zone, an offset with seconds) takes the longer way.
    from email.utils import format_datetime
    from zoneinfo import ZoneInfo

    for when in (datetime(2025, 3, 30, 1, 30, tzinfo=ZoneInfo("Europe/London")),
                 datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
                 datetime(2025, 1, 1, 0, 0, 0, 500, tzinfo=ZoneInfo("America/St_Johns")),
                 datetime(1920, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),
                 datetime(2025, 6, 1, 12, 0), datetime(2025, 6, 1, 12, 0, 0, 1),
                 datetime(2025, 6, 1, tzinfo=timezone(-timedelta(minutes=30)))):
        expected = format_datetime(when)
        assert _rfc822(when) == expected, when
        assert _rfc822(when, when.isoformat()) == expected, when


def test_a_poster_url_is_joined_as_urljoin_joins_it():
    # _joined leaves urljoin out for a URL it would give back unchanged.
    from urllib.parse import urljoin

    urls = ["https://img.test/p/1.jpg", "http://img.test/p/1.jpg", "https://img.test",
            "https://img.test:8443/a%20b/c(1).png", "https://img.test/p.jpg?", "HTTPS://img.test/",
            "https://img.test/p.jpg?w=300", "https://img.test/p.jpg#", "https://img.test/p;",
            "https://img.test/p;x=1/q", "https://[::1]/p.jpg", "https://img.test/a b.jpg",
            "https://img.test/a\tb.jpg", " https://img.test/p.jpg", "https:///p.jpg",
            "https://img.test/../p.jpg", "https://imgé.test/p.jpg", "//img.test/p.jpg",
            "posters/p.jpg", "/posters/p.jpg", "ftp://img.test/p.jpg", "https:p.jpg", ""]
    for base in ("https://reel.test/", "http://reel.test/sub/", ""):
        for url in urls:
            try:
                expected = urljoin(base, url)
            except ValueError:
                with pytest.raises(ValueError):
                    _joined(base, url)
                continue
            assert _joined(base, url) == expected, (base, url)


def test_a_local_mean_time_offset_with_seconds_is_given_in_utc(config):
    # Amsterdam kept +00:19:32 until 1937: no RFC 822 or RFC 3339 offset can say that.
    from zoneinfo import ZoneInfo

    when = datetime(1930, 5, 1, 20, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    review = make_review(1, date=when, updated=when)
    files = render([review], config)
    rss, atom = check_valid(files)
    assert rss.find("channel/item").findtext("pubDate") == "Thu, 01 May 1930 19:40:28 +0000"
    assert atom.find(f"{ATOM}entry").findtext(f"{ATOM}published") == "1930-05-01T19:40:28+00:00"
    assert json.loads(files["feed.json"])["items"][0]["date_published"] == \
        "1930-05-01T19:40:28+00:00"
    for d in parse(files).values():
        assert datetime(*d.entries[0].published_parsed[:6], tzinfo=UTC) == when


def test_naive_datetimes_are_taken_in_the_publication_zone(config):
    review = make_review(1, date=datetime(2025, 1, 10, 9, 0), updated=datetime(2025, 1, 10, 9))
    rss, atom = check_valid(render([review], config))
    # the test publication is in Europe/London: GMT in January
    assert rss.find("channel/item").findtext("pubDate") == "Fri, 10 Jan 2025 09:00:00 +0000"
    assert atom.findtext(f"{ATOM}updated") == "2025-01-10T09:00:00+00:00"


def test_an_update_dated_before_publication_never_predates_it(config):
    review = make_review(1)
    review = make_review(1, updated=review.date - timedelta(days=1))
    _, atom = check_valid(render([review], config))
    entry = atom.find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}updated") == entry.findtext(f"{ATOM}published")


def test_atom_content_is_type_html_never_cdata(config):
    # Atom content is type="html" (escaped), never CDATA.
    files = render([make_review(1, body_html="<p>A &amp; B <b>bold</b> ]]&gt; end</p>")],
                   config)
    rss, atom = check_valid(files)
    content = atom.find(f"{ATOM}entry/{ATOM}content")
    assert content.get("type") == "html"
    assert b"CDATA" not in files["atom.xml"] and b"CDATA" not in files["feed.xml"]
    assert "<b>bold</b>" in content.text
    assert "<b>bold</b>" in rss.find("channel/item").findtext(f"{CONTENT}encoded")


def test_rating_header_and_availability_are_in_the_content(config):
    review = make_review(1, rating=Decimal("4"), availability="",
                         film=Film(year=2024, director="Ines Calloway", starring=("Maren Doyle",),
                                   runtime=112, classification="12A"))
    unrated = make_review(2, rating=None)
    files = render([review, unrated], config)
    check_valid(files)
    by_title = {e.title: e.content[0].value for e in parse(files)["atom.xml"].entries}
    content = by_title["Film Number 1"]
    assert "★★★★ — 4 out of 5" in content
    for fact in ("2024", "Ines Calloway", "Maren Doyle", "112 minutes", "12A"):
        assert fact in content
    assert "availability" not in content
    assert "out of 5" not in by_title["Film Number 2"]


def test_a_trailer_is_a_link_in_the_content_and_in_the_review_data(config):
    # A feed reader plays no iframe: the trailer is a link to the video's own page.
    trailer = Trailer("youtube", "dQw4w9WgXcQ")
    watch = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    files = render([make_review(1, trailer=trailer), make_review(2)], config)
    rss, atom = check_valid(files)
    for name, d in parse(files).items():
        by_title = {e.title: e.content[0].value for e in d.entries}
        assert f'<a href="{watch}">Watch the trailer</a>' in by_title["Film Number 1"], name
        assert "trailer" not in by_title["Film Number 2"], name
        assert "youtube-nocookie" not in by_title["Film Number 1"], name
    films = {item["title"]: item["_review"]["film"]
             for item in json.loads(files["feed.json"])["items"]}
    assert films["Film Number 1"]["trailer"] == watch
    assert "trailer" not in films["Film Number 2"]
    namespace = "{urn:uuid:6b7bf035-3d8e-45e2-b27a-8b99b7440bce}"
    for root in (rss, atom):
        hrefs = [t.get("href") for t in root.iter(f"{namespace}trailer")]
        assert hrefs == [watch]


def test_a_zero_rating_is_shown_in_words_without_a_dangling_dash(config):
    files = render([make_review(1, rating=Decimal("0")), make_review(2, rating=Decimal("0.5"))],
                   config)
    check_valid(files)
    by_title = {e.title: e.content[0].value for e in parse(files)["atom.xml"].entries}
    assert '<p class="rating" title="0 out of 5">0 out of 5</p>' in by_title["Film Number 1"]
    assert "½ — 0.5 out of 5" in by_title["Film Number 2"]


# --- posters ------------------------------------------------------------------------------------


def test_poster_in_atom_is_a_proper_enclosure_link_and_media_content(publication):
    # Atom gets one alternate link and one enclosure link, with its type and length.
    poster = publication.root / "static" / "posters" / "alien.png"
    poster.parent.mkdir(parents=True)
    write_png(poster, 120, 180, (10, 20, 30))
    review = make_review(1, poster=Poster(src=f"{SITE}posters/alien.png", alt="The egg"))
    config = publication.config
    files = FeedRenderer(Site.from_config(config), poster_facts=PosterFacts(config).facts).render(
        [review], title="Test Reel", description="Reviews for tests.").files
    rss, atom = check_valid(files)
    size = str(poster.stat().st_size)
    entry = atom.find(f"{ATOM}entry")
    links = {ln.get("rel", "alternate"): ln for ln in entry.findall(f"{ATOM}link")}
    assert sorted(links) == ["alternate", "enclosure"]
    assert links["alternate"].get("href") == review.url
    assert links["enclosure"].attrib == {"rel": "enclosure", "href": f"{SITE}posters/alien.png",
                                         "type": "image/png", "length": size}
    media = entry.find(f"{MEDIA}content")
    assert media.get("url") == f"{SITE}posters/alien.png"
    assert media.get("fileSize") == size and media.get("medium") == "image"
    assert (media.get("width"), media.get("height")) == ("120", "180")  # read from the file
    assert 'alt="The egg" width="120" height="180"' in entry.findtext(f"{ATOM}content")
    assert entry.find(f"{MEDIA}thumbnail").get("url") == f"{SITE}posters/alien.png"
    enclosure = rss.find("channel/item/enclosure")
    assert enclosure.attrib == {"url": f"{SITE}posters/alien.png", "length": size,
                                "type": "image/png"}
    for d in parse(files).values():
        [enc] = d.entries[0].enclosures
        assert (enc.href, enc.type, enc.length) == (f"{SITE}posters/alien.png", "image/png",
                                                    size)
        assert 'alt="The egg"' in d.entries[0].content[0].value
        assert d.entries[0].summary == "A logline for film 1."  # not taken from media


def test_poster_of_unknown_size_uses_the_documented_fallback(config):
    review = make_review(1, poster=Poster(src="https://images.example.org/p.JPG", alt=""))
    rss, atom = check_valid(render([review], config))
    enclosure = rss.find("channel/item/enclosure")
    assert enclosure.get("length") == str(UNKNOWN_LENGTH) and UNKNOWN_LENGTH > 0
    assert enclosure.get("type") == "image/jpeg"
    [link] = [ln for ln in atom.iter(f"{ATOM}link") if ln.get("rel") == "enclosure"]
    assert "length" not in link.attrib  # optional in Atom: left out rather than invented
    assert atom.find(f".//{MEDIA}content").get("fileSize") is None


def test_poster_path_outside_static_is_never_looked_up(config, tmp_path):
    posters = PosterFacts(config)
    assert posters.facts(f"{SITE}../../etc/passwd") is None
    assert posters.relative(f"{SITE}posters/%2e%2e/%2e%2e/etc/passwd") is None
    assert posters.facts("https://elsewhere.example/posters/a.png") is None


# --- text and URLs ------------------------------------------------------------------------------


def test_xml_illegal_control_characters_never_break_a_feed(config):
    # XML cannot carry most control characters: they are dropped, never a broken feed.
    nasty = "\x00\x01\x08\x0b\x0c\x1b\x1f\ufffe"
    review = make_review(
        1, title=f"Bad{nasty} Title", summary=f"Log{nasty}line", reviewer=f"Sam{nasty} Okafor",
        body_html=f"<p>Body{nasty} text</p>", tags=(f"Hor{nasty}ror", nasty),
        availability=f"Now{nasty}", film=Film(director=f"Dir{nasty}", starring=(f"A{nasty}",)),
    )
    files = render([review], config, title=f"Reel{nasty}", description=f"D{nasty}")
    check_valid(files)
    for data in files.values():
        text = data.decode("utf-8")
        assert not any(ch in text for ch in nasty)
    for d in parse(files).values():
        entry = d.entries[0]
        assert entry.title == "Bad Title"
        assert entry.author == "Sam Okafor"
        assert [t.term for t in entry.tags] == ["Horror"]  # the all-control tag is dropped


def test_control_characters_on_any_line_of_a_long_body_are_dropped(config):
    # A body is checked line by line (feeds._xml_safe_lines): a control character on its last
    # line, or beside a tab, goes as surely as one in a one-line body.
    lines = [f"<p>Paragraph {n} of the review.</p>" for n in range(30)]
    for bad in ("\x0b", "\t\x01", "\r\x1f", "\ufffe"):
        for where in (0, 15, 29):
            body = list(lines)
            body[where] = body[where].replace("review", f"re{bad}view")
            files = render([make_review(1, body_html="\n".join(body))], config)
            check_valid(files)
            for data in files.values():
                text = data.decode("utf-8")
                assert not any(ch in text for ch in bad.strip("\t\r")), (bad, where)


def test_a_body_is_cleaned_alike_whatever_its_characters_share_bytes_with(config):
    # A body is checked on its UTF-8 bytes first (feeds._body_utf8): "«", "½" and U+F8FF
    # begin with the same byte as a C1 control or U+FFFE, and stay; those go; a lone surrogate
    # (which has no UTF-8 at all) goes too. The JSON item carries the same text as the XML.
    for kept, bad in itertools.product(("« ½ » \x85", "\uf8ff", "é — “quoted” \t tab"), (
            "", "\x80", "\x9f", "\x7f", "\ufffe", "\uffff", "\ud800", "\x01")):
        body = f'<p>{kept} <a href="https://elsewhere.test/?a=1&amp;b=2">x</a>{bad}</p>\nnext'
        files = render([make_review(1, body_html=body, availability="")], config)
        check_valid(files)
        expected = f'<p>{kept} <a href="https://elsewhere.test/?a=1&amp;b=2">x</a></p>\nnext'
        json_html = json.loads(files["feed.json"])["items"][0]["content_html"]
        atom_html = lxml.etree.fromstring(files["atom.xml"]).find(f"{ATOM}entry/{ATOM}content")
        assert json_html.endswith(expected), (kept, bad)
        assert atom_html.text == json_html, (kept, bad)


def test_never_illegal_bytes_leave_out_every_xml_illegal_character():
    # feeds._body_utf8 trusts a body none of whose bytes is outside _NEVER_ILLEGAL.
    for code in range(0x10000):
        char = chr(code)
        if ILLEGAL_CHARS.match(char) and not 0xD800 <= code <= 0xDFFF:
            assert char.encode("utf-8").translate(None, _NEVER_ILLEGAL), hex(code)


def test_json_content_is_escaped_as_orjson_escapes_it():
    # feeds._json_escaped writes what orjson would for text that XML can carry.
    text = 'a "quoted" \\ back\\slash / \x7f \u2028 \u2029 \t \r\n é ★ 𝄞 </script> &amp; \x85'
    assert b'"' + _json_escaped(text.encode("utf-8")) + b'"' == orjson.dumps(text)
    assert orjson.dumps({"a": orjson.Fragment(b'"x"')}) == b'{"a":"x"}'


def test_an_entrys_texts_cleaned_at_once_are_each_cleaned():
    # feeds._cleaned checks all of an entry's texts for what XML cannot carry in one string.
    rng = random.Random(5005)
    pieces = ["Film", "é", " ", "&", "\x00", "\x07", "\n", "\t", "\u0085", "\ufffe", "\ud800",
              "\u00a0", "\u200b", "𝄞", ""]

    def some() -> str:
        return "".join(rng.choice(pieces[:4] * 8 + pieces) for _ in range(rng.randrange(3)))

    clean = 0
    for _ in range(2000):
        texts = _Texts(*(some() for _ in range(8)), tuple(some() for _ in range(rng.randrange(4))),
                       tuple(some() for _ in range(rng.randrange(4))))
        got = _cleaned(texts)
        assert got == _Texts(*map(xml_safe, texts[:8]), tuple(map(xml_safe, texts.cast)),
                             tuple(t for t in map(xml_safe, texts.tags) if t)), texts
        clean += got is texts
    assert 0 < clean < 2000  # both ways taken


def test_an_entrys_texts_escaped_at_once_are_each_escaped():
    # feeds._escaped checks all of an entry's texts in one string: the same as each escaped.
    rng = random.Random(5005)
    pieces = ["Film", "é", " ", "&", "<", ">", '"', "'", "&amp;", "\u00a0", "★", "𝄞", "\n", ""]

    def some() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randrange(4)))

    clean = 0
    for _ in range(2000):
        texts = _Texts(*(some() for _ in range(8)), tuple(some() for _ in range(rng.randrange(4))),
                       tuple(some() for _ in range(rng.randrange(4))))
        for quote in (True, False):
            got = _escaped(texts, quote)
            assert got == _Texts(*(_escape(t, quote) for t in texts[:8]),
                                 tuple(_escape(t, quote) for t in texts.cast),
                                 tuple(_escape(t, quote) for t in texts.tags)), texts
            clean += got is texts
    assert 0 < clean < 4000  # both ways taken


def test_a_json_item_is_what_orjson_writes_for_it(config):
    # feeds._json_item writes an item in two halves around its content: together, orjson's.
    renderer = FeedRenderer(Site.from_config(config))
    for review in (make_review(1), make_review(2, summary="", tags=(), availability=""),
                   make_review(3, poster=Poster(f"{SITE}p.png", 'A "quoted" alt'),
                               body_html='<p>"\\\t\r\n</p>')):
        item = renderer.entry(review).piece("json")
        assert orjson.dumps(orjson.loads(item)) == item


def test_review_data_is_indented_alike_in_rss_and_atom(config):
    # The review:review lines are made once for both formats and indented for each.
    review = make_review(1, title="Line\nbreak", poster=Poster("posters/p.png", "Alt"))
    files = render([review], config)
    check_valid(files)

    def block(data: bytes) -> list[str]:
        text = data.decode("utf-8")
        start = text.rindex("\n", 0, text.index("<review:review ")) + 1
        end = text.index("</review:review>")
        return text[start:end].split("\n")

    rss, atom = block(files["feed.xml"]), block(files["atom.xml"])
    assert rss[0] == '      <review:review version="1">'
    assert atom[0] == '    <review:review version="1">'
    assert "        <review:film>" in rss and "      <review:film>" in atom
    assert "          <review:title>Line" in rss and "break</review:title>" in rss
    assert [line[2:] if line.startswith("  ") else line for line in rss] == atom


def test_xml_safe_keeps_tabs_newlines_and_ordinary_unicode():
    assert xml_safe("a\tb\nc\r ★ é \x85") == "a\tb\nc\r ★ é \x85"
    assert xml_safe("a\x00b\x1fc") == "abc"


def test_every_url_in_content_is_absolute(config):
    body = ('<p><a href="/reviews/other/">other</a> <a href="notes.html#x">notes</a> '
            '<a href="#top">top</a> <a href="mailto:ed@reel.test">mail</a> '
            '<img src="still.jpg" srcset="still.jpg 1x, /img/still@2x.jpg 2x" alt=""></p>')
    review = make_review(1, body_html=body)
    files = render([review], config)
    check_valid(files)  # includes "no relative URL in content"
    content = parse(files)["atom.xml"].entries[0].content[0].value
    assert relative_urls(content) == []
    for url in (f"{SITE}reviews/other/", f"{SITE}reviews/film-1/notes.html#x",
                f"{SITE}reviews/film-1/#top", "mailto:ed@reel.test",
                f"{SITE}reviews/film-1/still.jpg"):
        assert url in content
    # feedparser's sanitiser drops srcset, so read that one from the JSON feed
    json_html = json.loads(files["feed.json"])["items"][0]["content_html"]
    assert relative_urls(json_html) == []
    assert (f'srcset="{SITE}reviews/film-1/still.jpg 1x, {SITE}img/still@2x.jpg 2x"'
            in json_html)


def test_absolutise_finds_a_relative_url_after_absolute_ones():
    base = "https://reel.test/r/"
    out = absolutise('<a href="https://a.test/">a</a> <a href="mailto:e@a.test">m</a> '
                     '<img src="http://a.test/p.png"><img src="p.png" alt="">', base)
    assert out.endswith('<img src="https://reel.test/r/p.png" alt="">')
    same = '<a href="https://a.test/">a</a><img src="http://a.test/p.png">'
    assert absolutise(same, base) is same


def test_links_are_found_alike_in_a_body_and_in_its_utf8():
    # feeds._body_utf8 asks _all_absolute_utf8 what absolutise asks _all_absolute.
    fragments = [
        "", "<p>no links</p>", 'src="https://a.test/p.png"', 'href="x"', '"href="x"',
        '<a href="https://a.test/">a</a> <a href="mailto:e@a.test">m</a> <a href="#t">t</a>',
        '<img src="http://a.test/p.png" alt="“x” href="> <img src="p.png">',
        '<img src="https://a.test/p.png" srcset="https://a.test/p.png 2x">',
        'He said "srcset=" — <a title="é" href="https://a.test/">x</a>',
        '<a href="HTTPS://a.test/">upper</a>', '<a href=" https://a.test/">space</a>',
        'ahref="x"', '<a data-href="javascript:x">y</a>', 'href="', 'src="https:/',
    ]
    for fragment in fragments:
        assert (_all_absolute_utf8(fragment.encode("utf-8"))
                == _all_absolute(fragment)), fragment


def test_absolutise_keeps_entities_escaped():
    out = absolutise('<a href="?a=1&amp;b=2">x</a>', "https://reel.test/r/")
    assert out == '<a href="https://reel.test/r/?a=1&amp;b=2">x</a>'


# --- size and determinism -------------------------------------------------------------------------


def test_main_feed_stays_under_one_megabyte_with_many_long_reviews(config):
    paragraph = "<p>" + " ".join(["A long review needs a great many words."] * 60) + "</p>\n"
    reviews = [make_review(i, body_html=paragraph * 20) for i in range(50)]
    assert sum(len(r.body_html) for r in reviews) > 2 * MAX_FEED_BYTES
    renderer = FeedRenderer(Site.from_config(config))
    feed = renderer.render(reviews, title="Test Reel", description="D")
    for name, data in feed.files.items():
        assert len(data) < MAX_FEED_BYTES, name
    assert feed.shortened > 0 and feed.dropped == 0
    check_valid(feed.files)
    parsed = parse(feed.files)
    for d in parsed.values():
        assert len(d.entries) == 50
        short = [e for e in d.entries if "Read the full review" in e.content[0].value]
        assert len(short) == feed.shortened
        for e in short:  # a shortened entry keeps its header, logline and a link to the review
            value = e.content[0].value
            assert "★★★½ — 3.5 out of 5" in value and e.summary in value and e.link in value
    # the newest keep their full text: the shortened ones are the oldest
    flags = ["Read the full review" in e.content[0].value for e in parsed["atom.xml"].entries]
    assert flags == sorted(flags) and not flags[0] and flags[-1]


def test_a_shortened_entry_links_the_review_in_the_publication_language(config, tmp_path):
    (tmp_path / "strings.fr.toml").write_text('read_review = "Lire la critique"\n', "utf-8")
    site = dataclasses.replace(Site.from_config(config), words=load_words(tmp_path, "fr"))
    paragraph = "<p>" + " ".join(["Une longue critique."] * 100) + "</p>\n"
    reviews = [make_review(i, body_html=paragraph * 20) for i in range(50)]
    feed = FeedRenderer(site).render(reviews, title="Test Reel", description="D")
    assert feed.shortened > 0
    for data in feed.files.values():
        assert b"Lire la critique" in data and b"Read the full review" not in data


def test_the_film_facts_label_their_values_as_the_language_does(config, tmp_path):
    (tmp_path / "strings.fr.toml").write_text('year = "Année"\nlabel = "{label} :"\n', "utf-8")
    site = dataclasses.replace(Site.from_config(config), words=load_words(tmp_path, "fr"))
    feed = FeedRenderer(site).render([make_review(1)], title="Test Reel", description="D")
    assert "<strong>Année :</strong> " in feed.files["feed.json"].decode()


def test_feeds_match_the_golden_files(config):
    # tests/data/golden/feed.xml, atom.xml and feed.json, from three fixed reviews: a complete
    # one, one with an awkward title, a poster and no rating, one rated 0 with every film fact,
    # no logline and a relative link. After an intended change, regenerate with
    # PUBLISHER_REGEN_GOLDEN=1 and review the diff.
    poster = f"{SITE}posters/film-2.png"
    reviews = [
        make_review(1),
        make_review(2, title="Fast & Furious <Extended Cut>", rating=None, tags=("Action",),
                    availability="", poster=Poster(src=poster, alt="Two cars, one road")),
        make_review(3, rating=Decimal("0"), summary="", reviewer="Zoë Ångström",
                    film=Film(year=2024, director="Ines Calloway", starring=("Maren Doyle",),
                              runtime=112, classification="12A"),
                    body_html='<p>Unlike <a href="/reviews/film-1/">the first</a>, quiet.</p>'),
    ]
    facts = {poster: ImageFacts(length=48213, width=200, height=300)}
    files = dict(FeedRenderer(Site.from_config(config), poster_facts=facts.get).render(
        reviews, title="Test Reel", description="Reviews for tests.").files)
    check_valid(files)
    # Atom names publisher's version, which changes with releases, not with the output.
    files["atom.xml"], versions = re.subn(rb'<generator version="[^"]+">',
                                          b'<generator version="(version)">', files["atom.xml"])
    assert versions == 1
    for name in FEED_FILES:
        golden(name, files[name])


def test_two_renderings_are_byte_identical(config):
    reviews = [make_review(i, poster=Poster(src=f"{SITE}p/{i}.png", alt="x")) for i in range(8)]
    first = render(reviews, config)
    second = render(list(reversed(reviews)), config)
    assert first == second


def test_renderer_prepares_each_review_once(config):
    renderer = FeedRenderer(Site.from_config(config))
    review = make_review(1)
    assert renderer.entry(review) is renderer.entry(review)
    other = make_review(1, title="Changed")
    assert renderer.entry(other).title == "Changed"



def test_renderer_lets_an_entry_go_after_the_last_feed_announced_to_carry_it(config,
                                                                               monkeypatch):
    # A niche tag's feed is often the only one to carry its reviews: a build of 3,000 reviews
    # in 673 tags held every entry's serialised forms to the end (50 MB more than in 12 tags).
    monkeypatch.setattr(feeds, "SPARE_ENTRIES", 0)
    renderer = FeedRenderer(Site.from_config(config))
    in_both, in_site_feed = make_review(2), make_review(1)
    site_feed, tag_feed = [in_both, in_site_feed], [in_both]
    renderer.expect([site_feed, tag_feed])
    entries = {r.slug: weakref.ref(renderer.entry(r)) for r in site_feed}
    renderer.render(site_feed, title="Test Reel", description="Reviews.")
    assert entries[in_site_feed.slug]() is None
    assert entries[in_both.slug]() is renderer.entry(in_both)  # one more feed carries it
    files = renderer.render(tag_feed, path="tags/horror/", title="Horror", description="").files
    assert entries[in_both.slug]() is None
    fresh = FeedRenderer(Site.from_config(config))
    assert files == fresh.render(tag_feed, path="tags/horror/", title="Horror",
                                 description="").files


def test_an_entry_past_its_feeds_is_kept_for_its_archive_then_let_go(config):
    renderer = FeedRenderer(Site.from_config(config))
    review = make_review(1)
    renderer.expect([[review]])
    entry = weakref.ref(renderer.entry(review))
    renderer.render([review], title="Test Reel", description="Reviews.")
    assert entry() is not None  # prepared once for the feed and its month's archive
    renderer.render_archive([review], path="archive/2026-01/", title="January",
                            description="", paging=Paging(archive=True))
    assert entry() is None


def test_no_entry_is_kept_for_archives_rendered_before_the_feeds(config):
    # A build shared among processes renders every archive in its first wave.
    renderer = FeedRenderer(Site.from_config(config))
    older, review = make_review(1), make_review(2)
    renderer.render_archive([older], path="archive/2026-01/", title="January",
                            description="", paging=Paging(archive=True))
    renderer.expect([[review]])
    entry = weakref.ref(renderer.entry(review))
    renderer.render([review], title="Test Reel", description="Reviews.")
    assert entry() is None
