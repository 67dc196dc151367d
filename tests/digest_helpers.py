"""Fixed reviews and issues for the digest, archive, spam and screenshot tests."""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

from publisher.config import Config
from publisher.models import Film, Issue, Poster, Review
from tests.fixtures import DATA

GOLDEN = DATA / "golden"
REGEN = os.environ.get("PUBLISHER_REGEN_GOLDEN") == "1"
ISSUE_DATE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
POSTAL = "Test Reel, 1 Reel Street, Bristol BS1 1AA, United Kingdom"

#: (title, year, director, starring, rating, reviewer, logline, poster?)
FILMS = [
    ("Fast & Furious <Extended Cut>", 2009, "Justin Lin",
     ("Vin Diesel", "Paul Walker", "Michelle Rodriguez"), "3.5", "Sam Okafor",
     "Cars, family and a heist that forgets to be a heist.", True),
    ("The Quiet Harbour", 2025, "Ines Alvarado", ("Maya Holt", "Tomás Rey"), "4",
     "Priya Nair", "A lighthouse keeper's last winter, told in long, patient takes.", True),
    ("Paper Moons", 2026, "Kenji Mori", (), "2.5", "Sam Okafor",
     "", False),
    ("Static Bloom", 2024, "", ("Aoife Byrne",), None, "Dana Whitfield",
     "An art-school thriller with more mood than plot.", True),
]

BODY = (
    "<p>{title} arrives with more confidence than it has earned, and then, slowly, earns it. "
    "The first act is all surfaces &amp; set-ups; the second finds a rhythm in its quieter "
    "scenes, where the camera lingers on faces rather than machines. By the final reel the "
    "film has become something warmer than its poster promises, a story about people who keep "
    "choosing each other. It is not a masterpiece, but it is generous, and generosity is rarer "
    "than polish.</p><p>The score is loud. The editing is not.</p>"
)


def make_review(config: Config, index: int, **changes: object) -> Review:
    """Review number ``index`` of FILMS (cycled), published a day apart before ISSUE_DATE."""
    title, year, director, starring, rating, reviewer, logline, poster = FILMS[index % len(FILMS)]
    slug = f"film-{index + 1}"
    date = ISSUE_DATE - timedelta(days=10 - index)
    body = BODY.format(title=title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    review = Review(
        slug=slug,
        title=title,
        date=date,
        updated=date,
        reviewer=reviewer,
        id=f"tag:{config.domain},{date:%Y-%m-%d}:{slug}",
        url=config.permalink(slug),
        body_html=body,
        summary=logline,
        film=Film(year=year, director=director, starring=starring),
        rating=Decimal(rating) if rating else None,
        poster=Poster(src=config.url(f"posters/{slug}.png"), alt=f"Poster for {title}")
        if poster else None,
    )
    return replace(review, **changes)  # type: ignore[arg-type]


def make_issue(config: Config, count: int = 4, *, number: int = 3, note_html: str = "",
               subject: str = "") -> Issue:
    from publisher.render.digest import compose_subject
    from publisher.render.site import Site

    reviews = tuple(make_review(config, i) for i in range(count))
    subject = subject or compose_subject(Site.from_config(config), number, reviews)
    return Issue(number=number, subject=subject, date=ISSUE_DATE, reviews=reviews,
                 note_html=note_html)


def golden(name: str, actual: str) -> None:
    """Compare with tests/golden/<name>; rewrite it only when PUBLISHER_REGEN_GOLDEN=1."""
    path = GOLDEN / name
    if name.endswith(".html"):
        actual = actual.replace("><", ">\n<")
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="")
    assert path.exists(), f"{path} is missing; run with PUBLISHER_REGEN_GOLDEN=1 to create it"
    assert actual == path.read_text(encoding="utf-8"), (
        f"{name} differs from the golden file; if the change is intended, regenerate with "
        "PUBLISHER_REGEN_GOLDEN=1 and review the diff"
    )


class Page(HTMLParser):
    """What a reader of the compiled HTML sees: text, links, images, elements with styles."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.images: list[dict[str, str | None]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._href: str | None = None
        self._link_text: list[str] = []
        self._hidden = 0  # inside <title>, <style> or <script>: not shown
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self._hidden += tag in ("title", "style", "script")
        if tag == "a":
            self._href, self._link_text = attributes.get("href"), []
        elif tag == "img":
            self.images.append(attributes)

    def handle_endtag(self, tag):
        self._hidden -= tag in ("title", "style", "script")
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._link_text).split())))
            self._href = None

    def handle_data(self, data):
        if self._hidden:
            return
        self.text.append(data)
        if self._href is not None:
            self._link_text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


REVIEW_MD = """\
---
title: "{title}"
date: {date}
reviewer: {reviewer}
rating: {rating}
summary: "{summary}"
poster:
  src: posters/{slug}.png
  alt: "Poster for {title}"
film:
  year: {year}
  director: {director}
  starring: [{starring}]
---
{title} arrives with more confidence than it has earned, and then, slowly, earns it.

The score is loud. The editing is *not*.
"""


def write_sample_publication(publication, count: int = 3) -> None:  # type: ignore[no-untyped-def]
    """Markdown reviews (and PNG posters in static/) in a tests' Publication directory."""
    publication.add_config(f'[newsletter]\npostal_address = "{POSTAL}"\n')
    posters = publication.root / "static" / "posters"
    posters.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        title, year, director, starring, rating, reviewer, logline, _ = FILMS[i % len(FILMS)]
        slug = f"film-{i + 1}"
        publication.write_review(f"{slug}.md", REVIEW_MD.format(
            title=title.replace('"', '\\"'), date=f"2026-11-{10 + i:02d}", reviewer=reviewer,
            rating=rating or 3, summary=logline or "A film.", slug=slug, year=year,
            director=director or "Unknown", starring=", ".join(starring) or "Nobody"))
        write_png(posters / f"{slug}.png", 200, 300, (40 + 60 * i, 60, 120))


# --- PNG, enough to write a poster and read back screenshots (no Pillow in our deps) ------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, width: int, height: int, rgb: tuple[int, int, int]) -> None:
    row = b"\x00" + bytes(rgb) * width
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def png_rows(data: bytes, count: int) -> list[bytes]:
    """The first ``count`` rows of an 8-bit RGB/RGBA non-interlaced PNG, unfiltered."""
    width, _ = png_size(data)
    depth, colour, interlace = data[24], data[25], data[28]
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG layout"
    bpp = 3 if colour == 2 else 4
    idat, pos = b"", 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * count)
    rows, prev = [], bytearray(stride)
    for y in range(count):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return rows


def pixel(rows: list[bytes], x: int, y: int, bpp: int = 3) -> tuple[int, int, int]:
    r, g, b = rows[y][x * bpp:x * bpp + 3]
    return r, g, b


def hex_rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)
