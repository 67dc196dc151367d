"""Poster URLs are URLs: what lands in a feed's enclosure, a digest's <img> or an archive page
is a valid, encoded URL, or the review is refused with the line and the fix."""

from __future__ import annotations

import feedparser
import pytest

from publisher.errors import SourceError
from publisher.pipeline.build import build_publication
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
