"""RFC 5005 archived feeds: the subscription feed keeps `limit` entries (and every review of
the month under way) and links the newest month that is over; the archives hold every review,
each month's document marked as an archive and byte-stable once the month is over. Followed as
a client would, in Atom, RSS and JSON Feed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import feedparser
import jsonschema
import lxml.etree

from publisher.pipeline.build import build_site
from tests.fixtures import ATOM, DATA, atom_problems, rss_problems, write_reviews

SCHEMA = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text("utf-8"))
FH = "{http://purl.org/syndication/history/1.0}"


def reviews_over_months(publication):
    """Seven reviews: two in August 2026, none in September, three in October, two in
    November (the tests' clock is 20 November 2026)."""
    dates = ["2026-08-03", "2026-08-20", "2026-10-01", "2026-10-15", "2026-10-31 23:30",
             "2026-11-02", "2026-11-19"]
    write_reviews(publication, [{"date": d} for d in dates])
    publication.add_config("[feeds]\nlimit = 3\nper_reviewer = false\nper_tag = false\n")


def atom_links(root):
    return {ln.get("rel"): ln.get("href") for ln in root.findall(f"{ATOM}link")}


def rss_links(root):
    return {ln.get("rel"): ln.get("href") for ln in root.find("channel").findall(f"{ATOM}link")}


def follow(public, base, name, links_of, entries_of):
    """Read the subscription document, then prev-archive after prev-archive (RFC 5005 4.2):
    the ids of every entry met, and the documents visited."""
    seen, visited = [], []
    url = f"{base}{name}"
    while url:
        visited.append(url)
        data = (public / url[len(base):]).read_bytes()
        seen.extend(entries_of(data))
        url = links_of(data).get("prev-archive")
    return seen, visited


def test_following_prev_archive_reaches_every_review_in_every_format(publication, now):
    reviews_over_months(publication)
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url
    every = {f"tag:reel.test,{d}:film-{i}" for i, d in enumerate(
        ["2026-08-03", "2026-08-20", "2026-10-01", "2026-10-15", "2026-10-31", "2026-11-02",
         "2026-11-19"], 1)}

    atom_ids, visited = follow(
        public, base, "atom.xml", lambda d: atom_links(lxml.etree.fromstring(d)),
        lambda d: [e.findtext(f"{ATOM}id") for e in lxml.etree.fromstring(d)
                   .findall(f"{ATOM}entry")])
    assert set(atom_ids) == every
    # the subscription feed (November is under way: its reviews are there), then October
    # back to August, the empty September included
    assert visited == [f"{base}atom.xml"] + [f"{base}archive/2026-{m}/atom.xml"
                                             for m in ("10", "09", "08")]
    rss_ids, _ = follow(
        public, base, "feed.xml", lambda d: rss_links(lxml.etree.fromstring(d)),
        lambda d: [i.findtext("guid") for i in lxml.etree.fromstring(d).iter("item")])
    assert set(rss_ids) == every

    json_ids, url = [], f"{base}feed.json"
    while url:
        feed = json.loads((public / url[len(base):]).read_bytes())
        jsonschema.validate(feed, SCHEMA)
        assert feed["feed_url"] == f"{base}feed.json"  # every page names the one feed
        json_ids += [item["id"] for item in feed["items"]]
        url = feed.get("next_url")
    assert set(json_ids) == every

    # the subscription feed itself holds `limit` entries
    assert len(lxml.etree.fromstring((public / "atom.xml").read_bytes())
               .findall(f"{ATOM}entry")) == 3


def test_each_archive_is_a_valid_complete_rfc5005_document(publication, now):
    reviews_over_months(publication)
    config = publication.config
    build_site(config, now=now)
    public, base = config.output_path, config.base_url
    months = ["2026-08", "2026-09", "2026-10", "2026-11"]
    counts = {"2026-08": 2, "2026-09": 0, "2026-10": 3, "2026-11": 2}
    for i, month in enumerate(months):
        path = f"archive/{month}/"
        rss = (public / path / "feed.xml").read_bytes()
        atom = (public / path / "atom.xml").read_bytes()
        assert rss_problems(rss, f"{base}{path}feed.xml") == []
        assert atom_problems(atom, f"{base}{path}atom.xml") == []
        for data in (rss, atom):
            assert feedparser.parse(data).bozo == 0
        root = lxml.etree.fromstring(atom)
        under_way = month == "2026-11"  # the tests' clock: its entries may still change
        assert (root.find(f"{FH}archive") is None) is under_way
        assert root.findtext(f"{ATOM}id") == f"{base}atom.xml"  # the same logical feed
        links = atom_links(root)
        assert links["self"] == f"{base}{path}atom.xml"
        assert links["current"] == f"{base}atom.xml"
        assert links.get("prev-archive") == (f"{base}archive/{months[i - 1]}/atom.xml"
                                             if i else None)
        assert links.get("next-archive") == (f"{base}archive/{months[i + 1]}/atom.xml"
                                             if i + 1 < len(months) else None)
        assert len(root.findall(f"{ATOM}entry")) == counts[month]
        channel = lxml.etree.fromstring(rss).find("channel")
        assert (channel.find(f"{FH}archive") is None) is under_way
        assert rss_links(lxml.etree.fromstring(rss))["current"] == f"{base}feed.xml"
    # September held no review: its documents are dated when it began, not in 1970.
    september = public / "archive/2026-09"
    assert lxml.etree.fromstring((september / "atom.xml").read_bytes()).findtext(
        f"{ATOM}updated") == "2026-09-01T00:00:00+01:00"
    assert lxml.etree.fromstring((september / "feed.xml").read_bytes()).findtext(
        "channel/lastBuildDate") == "Tue, 01 Sep 2026 00:00:00 +0100"
    # a review at 23:30 on 31 October in London belongs to October, whatever UTC says
    october = lxml.etree.fromstring((public / "archive/2026-10/atom.xml").read_bytes())
    assert "tag:reel.test,2026-10-31:film-5" in [e.findtext(f"{ATOM}id")
                                                for e in october.findall(f"{ATOM}entry")]


def test_a_client_that_stops_at_an_archive_it_has_read_misses_nothing(publication, now):
    # RFC 5005 4.2: archives never change, so a client reads the subscription document and
    # follows prev-archive only until it meets one it has read. More reviews in the month
    # under way than the feed's limit, between two of its visits, must not slip past it.
    reviews_over_months(publication)
    config = publication.config
    public, base = config.output_path, config.base_url

    def visit(read: set[str], known: set[str]) -> None:
        url = f"{base}atom.xml"
        while url and url not in read:
            root = lxml.etree.fromstring((public / url[len(base):]).read_bytes())
            known.update(e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry"))
            if root.find(f"{FH}archive") is not None:
                read.add(url)
            url = atom_links(root).get("prev-archive")

    read: set[str] = set()
    known: set[str] = set()
    december = datetime(2026, 12, 1, 12, 0, tzinfo=now.tzinfo)
    write_reviews(publication, [{"slug": "dec-1", "date": "2026-12-01"}])
    build_site(config, now=december)
    visit(read, known)
    write_reviews(publication, [{"slug": f"dec-{h}", "date": f"2026-12-01 {h:02d}:00"}
                                for h in range(2, 7)])  # five more: over the limit of 3
    build_site(config, now=december + timedelta(hours=6))
    visit(read, known)
    assert len(known) == 13
    subscription = lxml.etree.fromstring((public / "atom.xml").read_bytes())
    assert len(subscription.findall(f"{ATOM}entry")) == 6  # December's six, not just three


def mtimes(public, month):
    return {n: (public / "archive" / month / n).stat().st_mtime_ns
            for n in ("feed.xml", "atom.xml", "feed.json")}


def test_a_closed_month_is_never_rewritten_unless_one_of_its_reviews_changes(publication, now):
    reviews_over_months(publication)
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    october = mtimes(public, "2026-10")

    # a new review in November: only November's archive (and the feeds) change
    write_reviews(publication, [{"slug": "late", "date": "2026-11-20"}])
    report = build_site(config, now=now + timedelta(hours=1))
    assert "archive/2026-11/atom.xml" in report.written
    assert not any(rel.startswith(("archive/2026-10", "archive/2026-08")) for rel in report.written)
    assert mtimes(public, "2026-10") == october

    # December begins: November is over; its document gains its next-archive link this once
    december = datetime(2026, 12, 2, 9, 0, tzinfo=now.tzinfo)
    report = build_site(config, now=december)
    assert "archive/2026-11/atom.xml" in report.written
    assert "archive/2026-12/atom.xml" in report.written
    november = mtimes(public, "2026-11")
    # and from then on it is final: more reviews in December leave it alone
    write_reviews(publication, [{"slug": "dec", "date": "2026-12-05"}])
    report = build_site(config, now=december + timedelta(days=5))
    assert not any(rel.startswith("archive/2026-11") for rel in report.written)
    assert mtimes(public, "2026-11") == november

    # an edit to an October review rewrites October, and only October
    source = publication.root / "reviews" / "film-4.md"
    source.write_text(source.read_text("utf-8").replace("number 4", "number four"), "utf-8")
    report = build_site(config, now=december + timedelta(days=5))
    assert {rel.split("/")[1] for rel in report.written if rel.startswith("archive/")} == {
        "2026-10"}


def test_an_idle_build_is_not_replayed_past_the_end_of_the_month(publication, now):
    # The archives gain a document when a month begins, so the span over which a build with
    # nothing new is answered from the idle record ends with the month, in the site's zone.
    from publisher.pipeline.build import build_publication

    reviews_over_months(publication)
    report = build_publication(publication.config, now=now)
    start, until = report.steady
    assert until == datetime.fromisoformat("2026-12-01T00:00:00+00:00")  # London, GMT
    assert start == datetime.fromisoformat("2026-11-19T00:00:00+00:00")  # the newest review
