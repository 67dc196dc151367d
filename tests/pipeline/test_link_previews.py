"""A page's address pasted into X, Facebook, LinkedIn, Slack, Discord, iMessage, WhatsApp,
Mastodon or Bluesky: the card each makes from the page's <head>, read as their documentation
says they read it.

The rules read here: X shows a card's image only in JPEG, PNG, GIF or WebP ("SVG is not
supported"), the large card's only at 300 × 157 pixels or more and the small card's at 144 × 144
or more; Facebook and LinkedIn show none under 200 × 200. The others read none of SVG or ICO
either."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import lxml.html
import pytest

from publisher.models import Issue
from publisher.pipeline.build import build_site
from publisher.pipeline.check import check_publication
from publisher.sources.catalog import load_reviews
from tests.fixtures import write_films, write_png, write_reviews

#: The formats X documents for a card's image; Facebook, LinkedIn and the messengers read
#: these too, and no SVG or ICO.
SHOWN_FORMATS = {".jpg", ".jpeg", ".png", ".gif", ".webp"}
#: Each card's smallest image X shows, width and height.
X_MINIMUM = {"summary_large_image": (300, 157), "summary": (144, 144)}


def head(public: Path, rel: str) -> dict[str, list[str]]:
    doc = lxml.html.fromstring((public / rel).read_bytes())
    found: dict[str, list[str]] = {}
    for m in doc.xpath("//head/meta[@property or @name]"):
        found.setdefault(m.get("property") or m.get("name"), []).append(m.get("content"))
    return found


def one(tags: dict[str, list[str]], key: str) -> str | None:
    values = tags.get(key, [])
    assert len(values) <= 1, f"{key} given {len(values)} times"
    return values[0] if values else None


def x_card(tags: dict[str, list[str]]) -> tuple[str, str | None]:
    """The card X shows: its kind, and the image it shows (None when it shows none), from
    twitter:image, else og:image, with the size og:image:width/height give (X fetches an image
    of unknown size and shows it if it can)."""
    kind = one(tags, "twitter:card") or "summary"
    image = one(tags, "twitter:image") or one(tags, "og:image")
    if image is None:
        return kind, None
    if PurePosixPath(urlsplit(image).path).suffix.lower() not in SHOWN_FORMATS:
        return kind, None
    width, height = one(tags, "og:image:width"), one(tags, "og:image:height")
    if width and height:
        least = X_MINIMUM[kind]
        if int(width) < least[0] or int(height) < least[1]:
            return kind, None
    return kind, image


def svg(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
                    f'height="{height}"><rect width="{width}" height="{height}"/></svg>')


@pytest.fixture
def posters(publication) -> Path:
    path = publication.root / "static" / "posters"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_an_svg_poster_is_not_offered_to_link_previews_the_icon_stands_in(publication, now,
                                                                          posters):
    svg(posters / "vector.svg", 400, 600)
    write_png(publication.root / "static" / "icon.png", 512, 512, (200, 40, 40))
    publication.add_config('[site]\nicon = "icon.png"\n')
    write_reviews(publication, [{"slug": "vector", "poster": "posters/vector.svg"},
                                {"slug": "avif", "poster": "https://images.example.net/p.avif"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    for rel in ("reviews/vector/index.html", "reviews/avif/index.html"):
        tags = head(public, rel)
        icon = one(tags, "og:image")
        assert icon is not None and icon.startswith("https://reel.test/icon.png?v="), rel
        assert x_card(tags) == ("summary", icon), rel
        assert one(tags, "og:image:alt") == one(tags, "twitter:image:alt") == "Test Reel", rel
    # the page itself still shows the poster, which every browser draws
    doc = lxml.html.fromstring((public / "reviews/vector/index.html").read_bytes())
    assert doc.xpath("//figure//img/@src") == ["https://reel.test/posters/vector.svg"]


@pytest.mark.parametrize("icon", ["icon.svg", "icon.ico"])
def test_without_an_image_previews_show_a_page_offers_none(publication, now, posters, icon):
    svg(posters / "vector.svg", 400, 600)
    if icon.endswith(".svg"):
        svg(publication.root / "static" / icon, 512, 512)
    else:
        (publication.root / "static" / icon).write_bytes(
            b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00" + bytes(50))
    publication.add_config(f'[site]\nicon = "{icon}"\n')
    write_reviews(publication, [{"slug": "vector", "poster": "posters/vector.svg"},
                                {"slug": "bare"}])
    config = publication.config
    build_site(config, now=now)
    for rel in ("reviews/vector/index.html", "reviews/bare/index.html", "index.html",
                "tags/index.html"):
        tags = head(config.output_path, rel)
        assert "og:image" not in tags and "twitter:image" not in tags, rel
        assert "og:image:alt" not in tags and "twitter:image:alt" not in tags, rel
        assert one(tags, "twitter:card") == "summary", rel


@pytest.mark.parametrize(("size", "card", "shown"), [
    ((120, 180), "summary", False),  # a thumbnail: too small for either card
    ((200, 300), "summary", True),
    ((1200, 100), "summary", False),
    ((300, 450), "summary_large_image", True),
    ((600, 900), "summary_large_image", True),
    ((1200, 630), "summary_large_image", True),
])
def test_the_large_card_is_asked_for_only_with_a_poster_x_shows_in_it(publication, now, posters,
                                                                     size, card, shown):
    write_png(posters / "p.png", *size, (40, 60, 120))
    write_reviews(publication, [{"slug": "film", "poster": "posters/p.png"}])
    config = publication.config
    build_site(config, now=now)
    tags = head(config.output_path, "reviews/film/index.html")
    poster = "https://reel.test/posters/p.png"
    assert one(tags, "og:image") == poster
    assert x_card(tags) == (card, poster if shown else None)


def test_a_remote_poster_of_unknown_size_asks_for_the_large_card(publication, now):
    poster = "https://images.example.net/posters/film.jpg"
    write_reviews(publication, [{"slug": "film", "poster": poster}])
    config = publication.config
    build_site(config, now=now)
    tags = head(config.output_path, "reviews/film/index.html")
    assert x_card(tags) == ("summary_large_image", poster)
    assert "og:image:width" not in tags


def test_the_icon_a_page_is_shared_with_says_its_size(publication, now, posters):
    """Facebook shows an image on a link's first share only when og:image:width and height
    say its size (it reads the image itself later, for the shares after)."""
    write_png(publication.root / "static" / "icon.png", 512, 512, (200, 40, 40))
    publication.add_config('[site]\nicon = "icon.png"\n')
    write_reviews(publication, [{"slug": "bare"}])
    config = publication.config
    build_site(config, now=now)
    for rel in ("index.html", "reviews/bare/index.html", "tags/index.html", "404.html"):
        tags = head(config.output_path, rel)
        assert one(tags, "og:image").startswith("https://reel.test/icon.png?v="), rel
        assert (one(tags, "og:image:width"), one(tags, "og:image:height")) == ("512", "512"), rel
        assert x_card(tags) == ("summary", one(tags, "og:image")), rel


# --- what Google reads ------------------------------------------------------------------------


def review_snippet_problems(data: dict) -> list[str]:
    """What Google's review snippet documentation asks of a Review that ``data`` lacks: an
    author (Person or Organization) with a name under 100 characters and, as its author
    markup best practices ask, the url of a page about them; itemReviewed with a type and a
    name; a reviewRating's ratingValue within worstRating and bestRating; datePublished, an ISO
    8601 date; a publisher with a name."""
    problems = []
    if data.get("@type") != "Review" or data.get("@context") != "https://schema.org":
        problems.append("not a schema.org Review")
    author = data.get("author") or {}
    if author.get("@type") not in ("Person", "Organization"):
        problems.append("author: not a Person or Organization")
    if not 0 < len(author.get("name", "")) < 100:
        problems.append("author.name: missing or 100 characters or more")
    if not str(author.get("url", "")).startswith("https://"):
        problems.append("author.url: missing")
    item = data.get("itemReviewed") or {}
    if not item.get("@type") or not item.get("name"):
        problems.append("itemReviewed: a type and a name")
    rating = data.get("reviewRating")
    if rating is not None:
        value = Decimal(rating["ratingValue"])
        if not Decimal(rating["worstRating"]) <= value <= Decimal(rating["bestRating"]):
            problems.append("reviewRating: ratingValue outside worstRating..bestRating")
    try:
        date.fromisoformat(data.get("datePublished", ""))
    except ValueError:
        problems.append("datePublished: not an ISO 8601 date")
    if not (data.get("publisher") or {}).get("name"):
        problems.append("publisher.name: missing")
    return problems


def json_ld(public: Path, rel: str) -> list[dict]:
    doc = lxml.html.fromstring((public / rel).read_bytes())
    return [json.loads(s.text) for s in doc.xpath('//script[@type="application/ld+json"]')]


def test_each_reviews_data_is_a_review_snippet_google_takes_on_its_page_and_issue(
        publication, now):
    write_films(publication, 2)
    config = publication.config
    reviews = load_reviews(config).reviews
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    public = config.output_path
    for rel in ("reviews/film-1/index.html", "reviews/film-2/index.html",
                "issues/1/index.html"):
        found = [d for d in json_ld(public, rel) if d.get("@type") == "Review"]
        assert found, rel
        for data in found:
            assert review_snippet_problems(data) == [], (rel, data["name"])
    [data] = json_ld(public, "reviews/film-1/index.html")
    # the reviewer's page, as the review's byline links it (rel=author)
    assert data["author"] == {"@type": "Person", "name": "Sam Okafor",
                              "url": "https://reel.test/reviewers/sam-okafor/"}
    doc = lxml.html.fromstring((public / "reviews/film-1/index.html").read_bytes())
    assert doc.xpath("//a[@rel='author']/@href") == [data["author"]["url"]]


def test_where_another_site_has_the_pages_an_issues_data_names_no_reviewer_page(publication,
                                                                                 now):
    write_reviews(publication, 1)
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    config = publication.config
    reviews = load_reviews(config).reviews
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    [data] = json_ld(config.output_path, "issues/1/index.html")
    assert data["author"] == {"@type": "Person", "name": "Priya Raman"}  # no page to name


# --- the newsletter's archive -------------------------------------------------------------------


def test_an_issue_page_is_shared_with_its_first_poster_a_preview_shows(publication, now):
    write_films(publication, 3)
    posters = publication.root / "static" / "posters"
    svg(posters / "film-1.svg", 400, 600)  # first in the issue, and no preview shows an SVG
    (posters / "film-1.png").unlink()
    review = publication.root / "reviews" / "film-1.md"
    review.write_text(review.read_text().replace("film-1.png", "film-1.svg"))
    write_png(posters / "film-2.png", 600, 900, (40, 60, 120))
    config = publication.config
    reviews = load_reviews(config).reviews
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    tags = head(config.output_path, "issues/1/index.html")
    poster = "https://reel.test/posters/film-2.png"
    assert one(tags, "og:image") == poster
    assert one(tags, "og:image:alt") == one(tags, "twitter:image:alt") == (
        "Poster for The Quiet Harbour")
    assert (one(tags, "og:image:width"), one(tags, "og:image:height")) == ("600", "900")
    assert x_card(tags) == ("summary_large_image", poster)
    assert one(tags, "og:locale") == "en_US"
    assert one(head(config.output_path, "issues/index.html"), "og:locale") == "en_US"


def test_an_issue_page_without_a_poster_a_preview_shows_is_shared_with_the_icon(publication,
                                                                              now, posters):
    svg(posters / "vector.svg", 400, 600)
    write_png(publication.root / "static" / "icon.png", 512, 512, (200, 40, 40))
    publication.add_config('[site]\nicon = "icon.png"\n')
    write_reviews(publication, [{"slug": "vector", "poster": "posters/vector.svg"},
                                {"slug": "bare"}])
    config = publication.config
    reviews = load_reviews(config).reviews
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    tags = head(config.output_path, "issues/1/index.html")
    icon = one(tags, "og:image")
    assert icon is not None and icon.startswith("https://reel.test/icon.png?v=")
    assert (one(tags, "og:image:width"), one(tags, "og:image:height")) == ("512", "512")
    assert x_card(tags) == ("summary", icon)


# --- what check says -----------------------------------------------------------------------------


def test_check_names_a_poster_too_small_for_a_link_preview(publication, now, posters):
    write_png(posters / "thumb.png", 120, 180, (40, 60, 120))
    write_png(posters / "wide.png", 1200, 150, (40, 60, 120))
    write_png(posters / "fine.png", 200, 300, (40, 60, 120))
    svg(posters / "drawn.svg", 120, 180)  # drawn at any size, and shown by no preview anyway
    write_reviews(publication, [{"slug": "thumb", "poster": "posters/thumb.png"},
                                {"slug": "drawn", "poster": "posters/drawn.svg"},
                                {"slug": "wide", "poster": "posters/wide.png"},
                                {"slug": "fine", "poster": "posters/fine.png"},
                                {"slug": "far", "poster": "https://images.example.net/p.jpg"}])
    report = check_publication(publication.config, now=now, sources_only=True)
    line = next(n for n, text in enumerate(
        (publication.root / "reviews/thumb.md").read_text("utf-8").splitlines(), 1)
        if text.startswith("poster:"))
    assert [w for w in report.warnings if ": poster: " in w] == [
        f"reviews/{slug}.md:{line}: poster: static/posters/{slug}.png is {size} pixels, and "
        "a link to its review shows no image on Facebook or LinkedIn (nothing under 200 × 200) "
        "nor on X (under 144 × 144); save it larger: 600 pixels wide is sharp on every screen"
        for slug, size in (("thumb", "120 × 180"), ("wide", "1200 × 150"))]


def test_the_issues_index_is_shared_with_the_icon_as_the_sites_pages_are(publication, now,
                                                                        posters):
    write_png(publication.root / "static" / "icon.png", 512, 512, (200, 40, 40))
    publication.add_config('[site]\nicon = "icon.png"\n')
    write_reviews(publication, 1)
    config = publication.config
    reviews = load_reviews(config).reviews
    build_site(config, now=now, issues=[Issue(number=1, subject="s", date=now, reviews=reviews)])
    home = head(config.output_path, "index.html")
    tags = head(config.output_path, "issues/index.html")
    assert one(tags, "og:image") == one(home, "og:image")
    assert one(tags, "og:image:alt") == one(tags, "twitter:image:alt") == "Test Reel"
    assert (one(tags, "og:image:width"), one(tags, "og:image:height")) == ("512", "512")
    assert x_card(tags) == ("summary", one(home, "og:image"))
    # and said in words, as every page of the site is, not by its title alone
    said = "Every issue of the newsletter from Test Reel, newest first."
    assert one(tags, "description") == one(tags, "og:description") == said
    assert one(tags, "twitter:description") == said
