"""Poster URLs are URLs: what lands in a feed's enclosure, a digest's <img> or an archive page
is a valid, encoded URL, or the review is refused with the line and the fix."""

from __future__ import annotations

import json
import random
import re

import feedparser
import pytest

from publisher.errors import SourceError
from publisher.pipeline.build import build_publication
from publisher.sources import schema as schema_module
from publisher.sources.catalog import load_reviews
from tests.fixtures import NOW, write_png

BASIC = "title: Harbour Lights\ndate: 2026-03-06\nreviewer: Sam Okafor\n"


def png(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, 2, 3, (200, 30, 30))


def with_poster(publication, poster: str) -> None:
    publication.write_review("film.md", f"---\n{BASIC}poster: {poster}\n---\nA body.\n")


def problems(publication) -> list[str]:
    with pytest.raises(SourceError) as info:
        load_reviews(publication.config, cache=False)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("poster", "why"), [
    ("'https://img.test/a b.jpg'", "it contains a space, which a URL cannot hold; "
                                   "percent-encode it (%20) or copy the address again"),
    ("'https://img.test/a\"onerror=\"x.jpg'", "it contains a quote, which a URL cannot hold; "
                                              "percent-encode it (%22) or copy the address again"),
    ("https://img.test/<x>.jpg", "it contains '<', which a URL cannot hold; percent-encode it "
                                 "(%3C) or copy the address again"),
    ("https://img.test:80x/a.jpg", None),
    ("https://[::1/a.jpg", None),
    ("https:///a.jpg", "it names no host; write it in full, e.g. "
                       "https://images.example.org/film.jpg"),
])
def test_a_malformed_poster_url_is_refused_with_the_fix(publication, poster, why):
    with_poster(publication, poster)
    [problem] = problems(publication)
    assert problem.startswith("reviews/film.md:5: poster: ")
    assert "is not a valid URL" in problem
    if why:
        assert problem.endswith(why)


def test_file_names_and_addresses_with_odd_characters_are_percent_encoded(publication):
    png(publication.root / "static" / "posters" / "my poster é.png")
    with_poster(publication, "posters/my poster é.png")
    [review] = load_reviews(publication.config, cache=False).reviews
    assert review.poster.src == "https://reel.test/posters/my%20poster%20%C3%A9.png"
    with_poster(publication, "https://img.test/affiche-été.jpg?size=2")
    [review] = load_reviews(publication.config, cache=False).reviews
    assert review.poster.src == "https://img.test/affiche-%C3%A9t%C3%A9.jpg?size=2"


def test_the_enclosure_of_a_poster_with_a_space_in_its_name_is_the_file(publication):
    poster = publication.root / "static" / "posters" / "my poster.png"
    png(poster)
    with_poster(publication, "posters/my poster.png")
    build_publication(publication.config, now=NOW)
    feed = feedparser.parse((publication.root / "public" / "feed.xml").read_bytes())
    [enclosure] = feed.entries[0].enclosures
    assert enclosure.href == "https://reel.test/posters/my%20poster.png"
    assert int(enclosure.length) == poster.stat().st_size  # found under static/, so its size
    assert (publication.root / "public" / "posters" / "my poster.png").is_file()


def test_a_plain_poster_url_is_taken_as_the_checks_would_take_it(publication, monkeypatch):
    """A URL that _PLAIN_URL matches skips urlsplit, the checks and the encoding: random URLs
    (most of them plain, some with ports, users, spaces, accents or capitals) give the same
    poster and the same problems both ways."""
    rng = random.Random(1902)
    schemes = ["https://"] * 6 + ["http://", "HTTPS://", "ftp://", "https:/", ""]
    hosts = ["img.test"] * 6 + ["images.example.org", "a-b.c0", "IMG.test", "img.test:8080",
             "u:p@img.test", "[::1]", "xn--caf-dma.test", "café.test", "", "img..test", "-"]
    pieces = ["/", "a", "Z", "0", "/", ".", "..", "-", "_", "~", "%20", "%", "?", "&", "=",
              "+", "posters/", "x.jpg"] * 3 + ["#", " ", "é", ":", "@", "'", '"', "<", "\\"]
    plain = 0
    for _ in range(3000):
        url = rng.choice(schemes) + rng.choice(hosts) + rng.choice(["/", "/", ""]) + "".join(
            rng.choice(pieces) for _ in range(rng.randrange(8)))
        source = f"---\n{BASIC}poster: {json.dumps(url)}\n---\nA body.\n"
        fast = schema_module.parse_source(source, "reviews/film.md", publication.config)
        with monkeypatch.context() as slow_path:
            slow_path.setattr(schema_module, "_PLAIN_URL", re.compile(r"(?!)"))
            slow = schema_module.parse_source(source, "reviews/film.md", publication.config)
        assert (fast[0] and fast[0].poster, fast[1:]) == (slow[0] and slow[0].poster,
                                                          slow[1:]), url
        plain += bool(schema_module._PLAIN_URL.match(url))
    assert plain > 500  # the fast path was taken often enough to be compared
