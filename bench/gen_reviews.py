"""Write a publication with N synthetic reviews for benchmarks.

    python bench/gen_reviews.py N DIR

DIR gets a publisher.toml and reviews/*.md: realistic front matter (film block, rating, tags,
some posters given as URLs, some drafts and future dates) and bodies of about 400 words in a few
Markdown paragraphs, with emphasis, a link and now and then a table. Deterministic for a given N.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

CONFIG = """\
title = "Bench Reel"
description = "Synthetic reviews for benchmarks."
base_url = "https://bench.example.org/"
language = "en"
author = "Bench Editor"
author_email = "editor@bench.example.org"
copyright = "© 2026 Bench Reel"
timezone = "Europe/London"
"""

WORDS = (
    "the film camera light shadow story actor actress director frame scene score silence "
    "city night road house river winter summer memory grief comedy thriller slow patient "
    "restless tender brutal quiet loud colour grain close-up wide long take cut montage "
    "dialogue performance ensemble script ending opening sequence tension release audience "
    "cinema screen festival debut veteran genre western noir horror romance drama documentary "
    "journey family secret stranger friendship betrayal ambition chase escape return"
).split()
FIRST = "Ada Ben Cleo Dev Eli Fay Gus Hana Ivo Jun Kit Lena Milo Nia Omar Pia Rui Sol Tove Uma"
LAST = "Okafor Hale Brandt Ferreira Nakamura Osei Larsen Moreau Quispe Novak Adeyemi Costa"
TAGS = ("horror", "drama", "comedy", "documentary", "western", "noir", "sci-fi", "romance",
        "thriller", "animation", "revival", "festival")
REVIEWERS = ("Sam Okafor", "Morgan Hale", "Priya Raman", "Tomasz Brandt", "Lucía Ferreira",
             "Kenji Nakamura")


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST.split())} {rng.choice(LAST.split())}"


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 18))]
    if rng.random() < 0.2:
        i = rng.randrange(len(words))
        words[i] = f"*{words[i]}*"
    return " ".join(words).capitalize() + "."


def _body(rng: random.Random, n: int) -> str:
    paragraphs = []
    words = 0
    while words < 400:
        sentences = [_sentence(rng) for _ in range(rng.randint(3, 6))]
        paragraph = " ".join(sentences)
        if rng.random() < 0.3:
            link = f"/reviews/film-{rng.randrange(n)}/"
            paragraph += f' See [our earlier piece]({link}) — "it holds".'
        paragraphs.append(paragraph)
        words += len(paragraph.split())
    if rng.random() < 0.1:
        paragraphs.append("| Format | Rating |\n|---|---|\n| Cinema | 4 |\n| Home | 3.5 |")
    return "\n\n".join(paragraphs) + "\n"


@dataclass(frozen=True)
class Synthetic:
    """One generated review as data, so that every generator (publisher, Hugo, Pelican) is
    given the same films, dates, people and words."""

    slug: str
    title: str
    date: datetime
    with_time: bool  # written as "YYYY-MM-DD HH:MM", else as a bare date
    reviewer: str
    year: int
    director: str
    starring: tuple[str, ...]
    runtime: int
    classification: str
    rating: float
    tags: tuple[str, ...]
    summary: str | None
    poster: str | None
    availability: str | None
    draft: bool
    body: str


def synthetic(i: int, n: int, rng: random.Random) -> Synthetic:
    start = datetime(2020, 1, 1, 9, 0)
    date = start + timedelta(hours=rng.randrange(7 * 365 * 24))
    title = f"Film {i}: {rng.choice(WORDS).title()} {rng.choice(WORDS).title()}"
    with_time = rng.random() < 0.5
    reviewer = rng.choice(REVIEWERS)
    year = rng.randint(1920, 2026)
    director = _name(rng)
    starring = tuple(_name(rng) for _ in range(rng.randint(2, 5)))
    runtime = rng.randint(75, 200)
    classification = rng.choice(["U", "PG", "12A", "15", "18"])
    rating = rng.randint(0, 10) / 2
    tags = tuple(rng.sample(TAGS, rng.randint(1, 3)))
    summary = _sentence(rng) if rng.random() < 0.7 else None
    poster = (f"https://images.example.org/posters/{i}.jpg" if rng.random() < 0.3 else None)
    availability = ("In cinemas now; streaming later in the year." if rng.random() < 0.2
                    else None)
    draft = rng.random() < 0.02
    return Synthetic(f"film-{i}", title, date, with_time, reviewer, year, director, starring,
                     runtime, classification, rating, tags, summary, poster, availability,
                     draft, _body(rng, n))


def review_text(review: Synthetic) -> str:
    """The review as a publisher source."""
    r = review
    lines = [
        "---",
        f'title: "{r.title}"',
        f"date: {r.date:%Y-%m-%d %H:%M}" if r.with_time else f"date: {r.date:%Y-%m-%d}",
        f"reviewer: {r.reviewer}",
        "film:",
        f"  year: {r.year}",
        f"  director: {r.director}",
        "  starring: [" + ", ".join(r.starring) + "]",
        f"  runtime: {r.runtime}",
        f"  classification: {r.classification}",
        f"rating: {r.rating:g}",
        "tags: [" + ", ".join(r.tags) + "]",
    ]
    if r.summary is not None:
        lines.append(f'summary: "{r.summary}"')
    if r.poster is not None:
        number = r.slug.removeprefix("film-")
        lines += ["poster:", f"  src: {r.poster}", f"  alt: Poster for film {number}"]
    if r.availability is not None:
        lines.append(f"availability: {r.availability}")
    if r.draft:
        lines.append("draft: true")
    lines.append("---")
    return "\n".join(lines) + "\n" + r.body


def reviews(n: int) -> Iterator[Synthetic]:
    """The n reviews of a publication of size n (deterministic for a given n)."""
    rng = random.Random(n)
    for i in range(n):
        yield synthetic(i, n, rng)


def generate(n: int, directory: Path) -> None:
    folder = directory / "reviews"
    folder.mkdir(parents=True, exist_ok=True)
    (directory / "publisher.toml").write_text(CONFIG, encoding="utf-8")
    for review in reviews(n):
        (folder / f"{review.slug}.md").write_text(review_text(review), encoding="utf-8")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[1].isdigit():
        print("usage: python bench/gen_reviews.py N DIR", file=sys.stderr)
        return 2
    generate(int(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
