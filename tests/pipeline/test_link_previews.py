"""A page's address pasted into X, Facebook, LinkedIn, Slack, Discord, iMessage, WhatsApp,
Mastodon or Bluesky: the card each makes from the page's <head>, read as their documentation
says they read it.

The rules read here: X shows a card's image only in JPEG, PNG, GIF or WebP ("SVG is not
supported"), the large card's only at 300 × 157 pixels or more and the small card's at 144 × 144
or more; Facebook and LinkedIn show none under 200 × 200. The others read none of SVG or ICO
either."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import lxml.html
import pytest

from publisher.pipeline.build import build_site
from tests.fixtures import write_png, write_reviews

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
    write_reviews(publication, [{"slug": "vector", "poster": "posters/vector.svg"}])
    config = publication.config
    build_site(config, now=now)
    public = config.output_path
    tags = head(public, "reviews/vector/index.html")

    icon = one(tags, "og:image")
    assert icon is not None and icon.startswith("https://reel.test/icon.png?v=")
    assert x_card(tags) == ("summary", icon)
    assert one(tags, "og:image:alt") == one(tags, "twitter:image:alt") == "Test Reel"
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
    ((120, 180), "summary", False),  # the sample publication's posters: too small for either
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
