"""Review sources: the schema, every error message, the sample publication, and the cache."""

from __future__ import annotations

import os
import pickle
import random
import re
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from publisher.config import load_config
from publisher.cores import MAX_WORKERS
from publisher.errors import ConfigError, PublisherError, SourceError
from publisher.models import Showing
from publisher.sources import cache, frontmatter
from publisher.sources import catalog as catalog_module
from publisher.sources.cache import cache_path, is_trusted
from publisher.sources.catalog import check_sources, load_reviews
from publisher.sources.frontmatter import Collector, Fields
from publisher.sources.scaffold import init_publication
from publisher.sources.schema import SAMPLE_SUMMARY, parse_review, parse_runtime
from publisher.text import one_line
from tests.fixtures import SAMPLE, Publication

LONDON = ZoneInfo("Europe/London")


def review(front: str, body: str = "A body.\n") -> str:
    """A review source from front matter lines (no indentation) and a body."""
    return f"---\n{front.strip()}\n---\n{body}"


BASIC = """\
title: Harbour Lights
date: 2026-03-06
reviewer: Sam Okafor
"""


def problems_of(publication: Publication) -> list[str]:
    with pytest.raises(SourceError) as info:
        load_reviews(publication.config, cache=False)
    return [str(p) for p in info.value.problems]


def one(publication: Publication, front: str, body: str = "A body.\n", name: str = "film.md"):
    publication.write_review(name, review(front, body))
    return load_reviews(publication.config, cache=False).reviews[0]


# --- the sample publication ----------------------------------------------------------------


def test_sample_reviews_load_and_only_drafts_and_future_ones_are_unpublished(now):
    catalog = load_reviews(load_config(directory=SAMPLE), cache=False)
    assert len(catalog.reviews) >= 6
    assert catalog.warnings == ()
    dates = [(r.date, r.slug) for r in catalog.reviews]
    assert dates == sorted(dates)
    drafts = [r for r in catalog.reviews if r.draft]
    future = [r for r in catalog.reviews if r.date > now]
    assert len(drafts) == 1 and len(future) == 1
    assert future[0].date > datetime(2026, 12, 31, tzinfo=UTC)
    published = catalog.published(now)
    assert set(published) == set(catalog.reviews) - {drafts[0], future[0]}
    assert all(r.date.year == 2026 and r.date < now for r in published)
    assert len({r.reviewer for r in catalog.reviews}) >= 3
    assert len({t for r in catalog.reviews for t in r.tags}) >= 5
    assert catalog.by_id(published[0].id) is published[0]
    assert catalog.by_id("tag:nowhere,2000-01-01:x") is None


def test_sample_poster_is_a_real_png_under_static(now):
    config = load_config(directory=SAMPLE)
    with_poster = [r for r in load_reviews(config, cache=False).reviews if r.poster]
    assert with_poster
    for r in with_poster:
        assert r.poster.src.startswith(config.base_url)
        path = SAMPLE / "static" / r.poster.src[len(config.base_url):]
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        assert r.poster.alt


def test_sample_review_renamed_slug_keeps_its_published_id():
    catalog = load_reviews(load_config(directory=SAMPLE), cache=False)
    renamed = [r for r in catalog.reviews if r.slug not in r.id]
    assert renamed, "one sample shows a slug changed after publication, keeping its id"
    assert renamed[0].url.endswith(f"/reviews/{renamed[0].slug}/")


# --- typed by our schema, not YAML's -------------------------------------------------------


def test_scalars_keep_their_text(publication):
    r = one(publication, """\
title: 1917
date: 2026-03-06
reviewer: No
film:
  year: 2019
  runtime: 1:30:00
  classification: 15
  starring: [Yes, 0x1F, ~]
rating: 4
""")
    assert r.title == "1917"
    assert r.reviewer == "No"
    assert r.film.runtime == 90
    assert r.film.classification == "15"
    assert r.film.starring == ("Yes", "0x1F", "~")
    assert r.rating == Decimal(4)


def test_title_no_is_not_false(publication):
    assert one(publication, BASIC.replace("Harbour Lights", "No")).title == "No"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90", 90), ("90 min", 90), ("90 minutes", 90), ("1h 30m", 90), ("1h30", 90),
     ("1 h 30 min", 90), ("2h", 120), ("1:30", 90), ("1:30:00", 90), ("1:59:40", 120),
     ("2 hours", 120)],
)
def test_runtime_forms(text, minutes):
    assert parse_runtime(text) == minutes


@pytest.mark.parametrize("text", ["ninety", "1:75", "1.5h", "", "h", "90 seconds"])
def test_runtime_rejects(text):
    assert parse_runtime(text) is None


def test_a_site_moved_here_keeps_its_old_feed_ids_by_their_pattern(publication):
    # Hugo's guid is the post's permalink: with its pattern, no review needs an id: line.
    publication.add_config('[feeds]\nids = "https://old.reel.test/posts/{slug}/"\n')
    assert one(publication, BASIC).id == "https://old.reel.test/posts/film/"


def test_the_id_pattern_may_hold_the_domain_and_the_day_as_pelicans_did(publication):
    publication.add_config('[feeds]\nids = "tag:{domain},{date}:/{slug}.html"\n')
    assert one(publication, BASIC).id == "tag:reel.test,2026-03-06:/film.html"


def test_bare_date_is_midnight_in_the_publication_timezone(publication):
    r = one(publication, BASIC.replace("2026-03-06", "2026-07-01"))
    assert r.date == datetime(2026, 7, 1, 0, 0, tzinfo=LONDON)
    assert r.date.utcoffset() == timedelta(hours=1)
    assert r.updated == r.date


def test_time_with_offset_is_kept_and_id_uses_the_local_date(publication):
    r = one(publication, BASIC.replace("2026-03-06", "2026-06-30T23:30:00Z"))
    assert r.date == datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    assert r.date.tzinfo == LONDON  # shown in the publication's timezone: 00:30 on 1 July
    assert r.id == "tag:reel.test,2026-07-01:film"
    assert r.url == "https://reel.test/reviews/film/"


@pytest.mark.parametrize("written", ["2026-06-30 18:30 -05:00", "2026-06-30 18:30:00 -0500",
                                     "2026-06-30 23:30 Z"])
def test_an_offset_may_follow_a_space_as_in_yaml_timestamps(publication, written):
    r = one(publication, BASIC.replace("2026-03-06", written))
    assert r.date == datetime(2026, 6, 30, 23, 30, tzinfo=UTC)


def test_time_without_offset_is_local(publication):
    r = one(publication, BASIC.replace("2026-03-06", "2026-07-01 18:30"))
    assert r.date == datetime(2026, 7, 1, 17, 30, tzinfo=UTC)


def test_optional_fields(publication):
    r = one(publication, BASIC + """\
updated: 2026-03-07 10:00
film:
  director: Ines  Calloway
  credits: Salt Year, The Understudy
rating: 3½
summary: "A harbour, a ghost: and the tide."
tags: horror, Slow Cinema
poster: https://images.example.org/p.jpg
availability: In cinemas
draft: yes
id: urn:uuid:7d3c5a52-6f6f-4a55-9a43-2f0f0e3e3a10
slug: harbour-lights-2026
""")
    assert r.updated == datetime(2026, 3, 7, 10, 0, tzinfo=LONDON)
    assert r.film.director == "Ines Calloway"
    assert r.film.credits == ("Salt Year", "The Understudy")
    assert r.rating == Decimal("3.5")
    assert r.summary == "A harbour, a ghost: and the tide."
    assert r.tags == ("horror", "Slow Cinema")
    assert r.tag_slugs == ("horror", "slow-cinema")
    assert r.poster.src == "https://images.example.org/p.jpg"
    assert r.poster.alt == "Poster for Harbour Lights"
    assert r.availability == "In cinemas"
    assert r.draft is True
    assert r.id == "urn:uuid:7d3c5a52-6f6f-4a55-9a43-2f0f0e3e3a10"
    assert r.slug == "harbour-lights-2026"


def test_tags_that_make_the_same_feed_are_one_tag_and_a_dropped_spelling_is_named(publication):
    publication.write_review("film.md", review(
        BASIC + "tags: [Sci-Fi, sci fi, horror, Horror, Sci-Fi, C++, C]\n", "A body.\n"))
    catalog = load_reviews(publication.config, cache=False)
    assert catalog.reviews[0].tags == ("Sci-Fi", "horror", "C++")
    dropped = sorted(w.message for w in catalog.warnings)
    assert len(dropped) == 3  # the second "Sci-Fi" is the same word: nothing is lost
    assert dropped[0].startswith("'C' is left out: to publisher it is the tag 'C++' (both are "
                                 "'c' in addresses)")
    assert dropped[1].startswith("'Horror' is left out: to publisher it is the tag 'horror'")
    assert dropped[2].startswith("'sci fi' is left out: to publisher it is the tag 'Sci-Fi'")


def test_names_in_other_scripts_get_readable_distinct_slugs(publication):
    # Folding to ASCII would leave nothing of them: every such name would become "untitled",
    # one feed for every reviewer, and a tag such as ドラマ an error. They are transliterated.
    r = one(publication, BASIC.replace("Sam Okafor", "王伟") + "tags: [ドラマ, 恐怖, Horror]\n",
            name="日本.md")
    other = one(publication, BASIC.replace("Sam Okafor", "李娜"), name="日本.md")
    assert (r.reviewer_slug, other.reviewer_slug) == ("wang-wei", "li-na")
    assert r.tag_slugs == ("dorama", "kong-bu", "horror")
    assert r.slug == "ri-ben"


def test_names_in_other_scripts_keep_every_letter_in_their_slugs(publication):
    # Folding kept only Latin letters: 'Łukasz' lost its Ł, and a Cyrillic name with a digit
    # was the digit alone, so that 'Тарковский 2' and 'Кубрик 2' were one tag.
    r = one(publication, BASIC.replace("Sam Okafor", "Łukasz Żuławski")
            + "tags: [Тарковский 2, Кубрик 2, научная фантастика]\n", name="Сталкер.md")
    assert r.reviewer_slug == "lukasz-zulawski"
    assert r.tag_slugs == ("tarkovskiy-2", "kubrik-2", "nauchnaya-fantastika")
    assert r.slug == "stalker"


def test_slug_defaults_to_the_file_name_made_safe(publication):
    r = one(publication, BASIC, name="Harbour Lights (2026).md")
    assert r.slug == "harbour-lights-2026"
    assert r.source_path == "reviews/Harbour Lights (2026).md"


def test_missing_summary_is_an_excerpt_of_the_body(publication):
    publication.add_config("[newsletter]\nexcerpt_words = 5\n")
    r = one(publication, BASIC, "The *tide* comes in,\n\nand the town goes quiet at night.\n")
    assert r.summary == "The tide comes in, and…"
    short = one(publication, BASIC, "Short and sweet.\n", name="film.md")
    assert short.summary == "Short and sweet."


def test_body_is_rendered_safe_with_absolute_links(publication):
    r = one(publication, BASIC, '[Earlier](/reviews/x/) "quoted" <script>x()</script>\n'
                                '<img src="p.png" onerror="x()">\n')
    assert '<a href="https://reel.test/reviews/x/">Earlier</a>' in r.body_html
    assert "“quoted”" in r.body_html
    assert "script" not in r.body_html and "onerror" not in r.body_html
    assert '<img src="https://reel.test/p.png">' in r.body_html


def test_poster_path_is_served_from_static(publication):
    (publication.root / "static" / "posters").mkdir(parents=True)
    (publication.root / "static" / "posters" / "h.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    r = one(publication, BASIC + "poster:\n  src: posters/h.png\n  alt: A harbour at dusk\n")
    assert r.poster.src == "https://reel.test/posters/h.png"
    assert r.poster.alt == "A harbour at dusk"


def test_poster_with_poster_alt_as_the_readme_shows(publication):
    (publication.root / "static" / "posters").mkdir(parents=True)
    (publication.root / "static" / "posters" / "h.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    publication.write_config((publication.root / "publisher.toml").read_text()
                             .replace("https://reel.test/", "https://reel.test/films/"))
    for src in ("/posters/h.png", "posters/h.png", "./posters//h.png"):
        r = one(publication, BASIC + f"poster: {src}\nposter_alt: A harbour at dusk\n")
        assert r.poster.src == "https://reel.test/films/posters/h.png"  # static/ is at base_url
        assert r.poster.alt == "A harbour at dusk"


def test_poster_alt_problems(publication):
    publication.write_review("x.md", review(BASIC + "poster_alt: Lonely alt text\n"))
    publication.write_review("y.md", review(BASIC.replace("Lights", "Nights")
                                            + "poster:\n  src: https://img.test/p.jpg\n"
                                              "  alt: One\nposter_alt: Two\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: poster_alt: alt text without a poster; add poster: with the image's "
        "path or URL, or remove poster_alt",
        "reviews/y.md:8: poster_alt: the alt text is given twice (also as poster.alt); keep one",
    ]


@pytest.mark.parametrize("written", [
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s",
    "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtu.be/dQw4w9WgXcQ?si=x1Y2",
    "https://www.youtube.com/embed/dQw4w9WgXcQ",
    "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ",
    "https://www.youtube.com/shorts/dQw4w9WgXcQ",
    "youtube.com/watch?v=dQw4w9WgXcQ",
])
def test_a_youtube_trailer_written_any_way_is_one_video(publication, written):
    r = one(publication, BASIC + f"trailer: {written}\n")
    assert (r.trailer.site, r.trailer.video_id) == ("youtube", "dQw4w9WgXcQ")
    assert r.trailer.url == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert r.trailer.embed_url == "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?autoplay=1"


@pytest.mark.parametrize("written", [
    "https://vimeo.com/76979871", "https://player.vimeo.com/video/76979871?dnt=1",
    "https://vimeo.com/channels/staffpicks/76979871",
])
def test_a_vimeo_trailer(publication, written):
    r = one(publication, BASIC + f"trailer: {written}\n")
    assert (r.trailer.site, r.trailer.video_id) == ("vimeo", "76979871")
    assert r.trailer.url == "https://vimeo.com/76979871"
    assert r.trailer.embed_url == "https://player.vimeo.com/video/76979871?dnt=1&autoplay=1"


def test_an_unlisted_vimeo_trailer_keeps_its_key(publication):
    for written in ("https://vimeo.com/76979871/8272103f6e",
                    "https://player.vimeo.com/video/76979871?h=8272103f6e"):
        r = one(publication, BASIC + f"trailer: {written}\n")
        assert r.trailer.url == "https://vimeo.com/76979871/8272103f6e"
        assert r.trailer.embed_url == ("https://player.vimeo.com/video/76979871?h=8272103f6e"
                                       "&dnt=1&autoplay=1")


def test_a_trailer_or_rating_indented_under_film_is_pointed_back_out(publication):
    # The feeds' data carry the trailer as film.trailer; the front matter has it at the top.
    publication.write_review("x.md", review(BASIC + "film:\n  year: 2020\n"
                                            "  trailer: https://youtu.be/dQw4w9WgXcQ\n"
                                            "  rating: 4\n"))
    assert problems_of(publication) == [
        "reviews/x.md:7: film.trailer: unknown field; did you mean 'trailer'? (it does not "
        "belong under film: write it without the indent)",
        "reviews/x.md:8: film.rating: unknown field; did you mean 'rating'? (it does not "
        "belong under film: write it without the indent)",
    ]


def test_a_review_without_a_trailer_has_none(publication):
    assert one(publication, BASIC).trailer is None


def test_a_trailer_that_is_not_a_youtube_or_vimeo_video_is_named_at_its_line(publication):
    publication.write_review("a.md", review(BASIC + "trailer: https://www.dailymotion.com/video/x8\n"))
    publication.write_review("b.md", review(BASIC.replace("Lights", "Nights")
                                            + "trailer: https://www.youtube.com/@A24\n"))
    publication.write_review("c.md", review(BASIC.replace("Lights", "Bites")
                                            + "trailer: <iframe src=x></iframe>\n"))
    # An unlisted video's key is hex, as in its address's path: one in the query is not
    # taken as written, where it would reach the feeds' HTML and the page's player link.
    hostile = "https://vimeo.com/76979871?h=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
    publication.write_review("d.md", review(BASIC.replace("Lights", "Kites")
                                            + f"trailer: {hostile}\n"))
    expected = ("is not a YouTube or Vimeo video's address; expected one such as "
                "https://www.youtube.com/watch?v=ID or https://vimeo.com/ID")
    assert problems_of(publication) == [
        f"reviews/a.md:5: trailer: 'https://www.dailymotion.com/video/x8' {expected}",
        f"reviews/b.md:5: trailer: 'https://www.youtube.com/@A24' {expected}",
        f"reviews/c.md:5: trailer: '<iframe src=x></iframe>' {expected}",
        f"reviews/d.md:5: trailer: {hostile!r} {expected}",
    ]


def test_nbsp_and_stray_spaces_are_normalised(publication):
    r = one(publication, "title: \"Harbour\u00a0Lights \"\ndate: 2026-03-06\n"
                         "reviewer: \" Sam\u202fOkafor\"\n", "A\u00a0body.\n")
    assert r.title == "Harbour Lights"
    assert r.reviewer == "Sam Okafor"
    assert r.body_html == "<p>A body.</p>"


def test_a_non_breaking_space_pasted_after_a_colon_is_a_plain_space(publication):
    r = one(publication, BASIC.replace("reviewer: ", "reviewer:\u00a0") + "film:\n  year:\u2009"
            "1999\n  director: Lynne\u00a0Ramsay\n")
    assert (r.reviewer, r.film.year, r.film.director) == ("Sam Okafor", 1999, "Lynne Ramsay")


def test_bom_is_fine(publication):
    publication.write_review("film.md", "\ufeff" + review(BASIC))
    publication.write_review("crlf.md", review(BASIC.replace("Lights", "Nights"))
                             .replace("\n", "\r\n").encode("utf-8-sig"))
    titles = {r.title for r in load_reviews(publication.config, cache=False).reviews}
    assert titles == {"Harbour Lights", "Harbour Nights"}


def test_control_characters_are_removed_with_a_warning_naming_the_file(publication):
    publication.write_review("film.md", review(BASIC.replace("Harbour", "Har\x0bbour"),
                                               "Body\x01 text\x1f.\n"))
    catalog = load_reviews(publication.config, cache=False)
    r = catalog.reviews[0]
    assert r.title == "Harbour Lights"
    assert r.body_html == "<p>Body text.</p>"
    assert [str(w) for w in catalog.warnings] == [
        "reviews/film.md:2: title: removed 1 control character that XML cannot carry",
        "reviews/film.md:6: body: removed 2 control characters that XML cannot carry",
    ]


def test_each_problem_is_reported_once(publication):
    publication.write_review("x.md", review(BASIC + "updated: [2026-03-05]\nupdated: x\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: updated: expected a single value, got a list; if the brackets belong "
        'to the value, quote it: updated: "[2026-03-05]"',
        "reviews/x.md:6: updated: given twice (first on line 5); keep one",
    ]
    publication.write_review("x.md", review(BASIC.replace("2026-03-06", "2026-03-06\x01")
                                            + "updated: 2026-03-05\x02\n"))
    with pytest.raises(SourceError) as info:
        load_reviews(publication.config, cache=False)
    assert [str(p) for p in info.value.problems] == [
        "reviews/x.md:5: updated: 2026-03-05 is before the date 2026-03-06; expected a time on "
        "or after the publication date"
    ]
    result = check_sources(publication.config)
    assert [(w.line, w.field) for w in result.warnings] == [(3, "date"), (5, "updated")]


def test_empty_body_is_allowed(publication):
    r = one(publication, BASIC + "summary: Just the logline.\n", "")
    assert r.body_html == "" and r.summary == "Just the logline."


def test_drafts_and_future_reviews_load_but_are_not_published(publication, now):
    publication.write_review("a.md", review(BASIC))
    publication.write_review("b.md", review(BASIC + "draft: true\n"))
    publication.write_review("c.md", review(BASIC.replace("2026-03-06", "2027-02-01")))
    publication.write_review("d.md", review(BASIC.replace("2026-03-06",
                                                          "2026-11-20T12:00:00Z")))
    catalog = load_reviews(publication.config, cache=False)
    assert [r.slug for r in catalog.reviews] == ["a", "b", "d", "c"]
    assert [r.slug for r in catalog.published(now)] == ["a", "d"]
    assert [r.slug for r in catalog.published(now - timedelta(seconds=1))] == ["a"]


def test_the_preview_may_show_drafts_whatever_their_date_and_scheduled_reviews(publication,
                                                                                now):
    publication.write_review("a.md", review(BASIC))
    publication.write_review("b.md", review(BASIC + "draft: true\n"))
    publication.write_review("c.md", review(BASIC.replace("2026-03-06", "2027-02-01")))
    publication.write_review("d.md", review(BASIC.replace("2026-03-06", "2027-02-01")
                                            + "draft: true\n"))
    reviews = load_reviews(publication.config, cache=False).reviews

    def shown(showing: Showing) -> list[str]:
        return [r.slug for r in reviews if showing.shows(r, now)]

    assert shown(Showing()) == ["a"]  # what publisher build shows
    assert shown(Showing(drafts=True)) == ["a", "b", "d"]
    assert shown(Showing(future=True)) == ["a", "c"]
    assert shown(Showing(drafts=True, future=True)) == ["a", "b", "c", "d"]


def test_files_starting_with_dot_or_underscore_are_ignored(publication):
    publication.write_review("a.md", review(BASIC))
    publication.write_review(".a.md.swp.md", "garbage")
    publication.write_review("_notes.md", "garbage")
    publication.write_review("notes.txt", "garbage")
    assert len(load_reviews(publication.config, cache=False).reviews) == 1


def test_a_review_saved_under_another_ending_is_named_not_silently_left_out(publication):
    publication.write_review("a.md", review(BASIC))
    for name in ("film.markdown", "Loud.MD", "2024/pasted.md.txt", "_kept.txt", "poster.png"):
        publication.write_review(name, review(BASIC))
    catalog = load_reviews(publication.config, cache=False)
    assert len(catalog.reviews) == 1
    assert [str(w) for w in catalog.warnings] == [
        f"reviews/{path}: not read: sources end in .md; rename it {fixed} (or start its "
        "name with _ to keep it aside)"
        for path, fixed in [("2024/pasted.md.txt", "pasted.md"), ("Loud.MD", "Loud.md"),
                            ("film.markdown", "film.md")]]


def test_reviews_in_folders_load_wherever_they_are_and_slugs_stay_one_per_review(publication):
    publication.write_review("2024/harbour.md", review(BASIC))
    publication.write_review("2025/autumn/late.md", review(BASIC.replace("Harbour", "Late")))
    publication.write_review("_aside/kept-aside.md", review(BASIC))  # as "_notes.md" is
    publication.write_review(".git/stray.md", "garbage")
    catalog = load_reviews(publication.config, cache=False)
    assert sorted((r.source_path, r.slug) for r in catalog.reviews) == [
        ("reviews/2024/harbour.md", "harbour"), ("reviews/2025/autumn/late.md", "late")]

    publication.write_review("harbour.md", review(BASIC))  # the slug of the one in 2024/
    assert problems_of(publication) == [
        "reviews/harbour.md:1: slug: 'harbour' is also the slug of reviews/2024/harbour.md; give "
        "one of them another slug (or rename the file)"]


def test_an_index_md_in_a_folder_of_its_own_is_named_by_the_folder_as_in_hugo(publication):
    publication.write_review("alien-romulus/index.md", review(BASIC))  # a Hugo page bundle
    publication.write_review("2024/harbour/index.md", review(BASIC))
    publication.write_review("index.md", review(BASIC))  # directly in reviews/: its own name
    catalog = load_reviews(publication.config, cache=False)
    assert sorted(r.slug for r in catalog.reviews) == ["alien-romulus", "harbour", "index"]


# --- every problem, located, with what is expected -------------------------------------------


def test_unquoted_colon_says_to_quote_and_the_rest_is_still_checked(publication):
    publication.write_review("alien.md", review("""\
title: Alien: Romulus
date: 2026-02-30
reviewer: Sam Okafor
film:
  director: Fede Álvarez: the second
rating: 7
"""))
    assert problems_of(publication) == [
        'reviews/alien.md:2: title: the value contains \': \', which YAML reads as a new field; '
        'quote the whole value: title: "Alien: Romulus"',
        "reviews/alien.md:3: date: '2026-02-30' is not a valid date; expected YYYY-MM-DD or "
        "YYYY-MM-DD HH:MM (optionally with a UTC offset such as +01:00)",
        "reviews/alien.md:6: film.director: the value contains ': ', which YAML reads as a new "
        'field; quote the whole value: director: "Fede Álvarez: the second"',
        "reviews/alien.md:7: rating: 7 is out of range; expected 0 to 5",
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("summary: *Alien* returns",
         "summary: a value starting with '*' is read as a YAML alias; quote the whole value: "
         'summary: "*Alien* returns"'),
        ("summary: &more to say",
         "summary: a value starting with '&' is read as a YAML anchor; quote the whole value: "
         'summary: "&more to say"'),
        ("availability: @cinemas",
         "availability: a value starting with '@', '`', '%' or a tab is not allowed unquoted "
         'in YAML; quote the whole value: availability: "@cinemas"'),
        ("summary: #1 at the box office",
         "summary: a value starting with '#' is read as a YAML comment, leaving the field empty; "
         'quote the whole value: summary: "#1 at the box office"'),
        ("availability: Cinemas #3 and #4",
         "availability: the text from ' #' on is read as a YAML comment and dropped (a comment "
         'belongs on a line of its own); quote the whole value: availability: "Cinemas #3 and '
         '#4"'),
        ('summary: "Quoted" and then not',
         "summary: text after a closing quote is not allowed; quote the whole value: "
         'summary: "\\"Quoted\\" and then not"'),
    ],
)
def test_yaml_traps_are_explained(publication, line, message):
    publication.write_review("x.md", review(BASIC + line + "\n"))
    assert problems_of(publication) == [f"reviews/x.md:5: {message}"]


@pytest.mark.parametrize(
    ("front", "line", "field"),
    [
        (BASIC + "film:\n\tyear: 2000\n", 6, "film.year"),
        (BASIC + "film:\n  year: 2000\n\tdirector: A. Maker\n", 7, "film.director"),
        (BASIC + "tags:\n\t- horror\n", 6, "tags"),
        ("\t" + BASIC, 2, "title"),
    ],
)
def test_a_tab_in_the_indentation_is_one_error_naming_it(publication, front, line, field):
    # Not "quote the whole value" (the tab would stay), nor a second, generic YAML error.
    publication.write_review("x.md", "---\n" + front + "---\nA body.\n")
    assert problems_of(publication) == [
        f"reviews/x.md:{line}: {field}: a tab indents this line, and YAML indents with spaces "
        "only; replace the tab with spaces"]


def test_a_comment_never_silently_cuts_a_title_short(publication):
    publication.write_review("x.md", review(BASIC.replace("Harbour Lights", "Number #9 Dream")
                                            + "film:  # the facts\n  director: A. Maker # sic\n"))
    assert problems_of(publication) == [
        "reviews/x.md:2: title: the text from ' #' on is read as a YAML comment and dropped (a "
        'comment belongs on a line of its own); quote the whole value: title: "Number #9 Dream"',
        "reviews/x.md:6: film.director: the text from ' #' on is read as a YAML comment and "
        "dropped (a comment belongs on a line of its own); quote the whole value: director: "
        '"A. Maker # sic"',
    ]
    # Comments after other values, on their own lines, and a quoted '#' are all fine.
    r = one(publication, '# notes for the editor\ntitle: "#Alive"\ndate: 2026-03-06  # moved\n'
                         "reviewer: Sam Okafor\nrating: 4 # generous\nsummary: C# and F#\n",
            name="x.md")
    assert (r.title, r.rating, r.summary) == ("#Alive", 4, "C# and F#")


def test_anchors_aliases_and_tags_never_silently_eat_a_value(publication):
    publication.write_review("x.md", review(BASIC.replace("Harbour Lights", "!Women Art Revolution")
                                            + "tags:\n  - &x horror\n  - *x\n"))
    assert problems_of(publication) == [
        "reviews/x.md:2: title: a value starting with '!' is read as a YAML tag; quote the whole "
        'value: title: "!Women Art Revolution"',
        "reviews/x.md:6: tags: a value starting with '&' is read as a YAML anchor; quote the "
        'whole item: - "&x horror"',
        "reviews/x.md:7: tags: a value starting with '*' is read as a YAML alias; quote the whole "
        'item: - "*x"',
    ]


def test_a_wrongly_indented_field(publication):
    publication.write_review("x.md", review("title: Harbour Lights\n  date: 2026-03-06\n"
                                            "reviewer: Sam\n"))
    assert problems_of(publication) == [
        "reviews/x.md:3: date: front matter is not valid YAML: mapping values are not allowed "
        "in this context; check quoting and indentation"
    ]


def test_broken_yaml_names_the_line_where_it_started(publication):
    publication.write_review("x.md", review(BASIC + "tags: [drama, horror\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: tags: front matter is not valid YAML: while parsing a flow sequence: "
        "did not find expected ',' or ']'; check quoting and indentation"
    ]


def test_a_field_name_with_a_capital_is_one_error_and_its_value_is_still_read(publication):
    publication.write_review("x.md", "---\nTitle: Ratcatcher\nDate: 2026-03-01\n"
                                     "reviewer: Sam\nRating: 11\n---\nBody.\n")
    assert problems_of(publication) == [
        "reviews/x.md:2: Title: field names are lower case; write 'title:'",
        "reviews/x.md:3: Date: field names are lower case; write 'date:'",
        "reviews/x.md:5: Rating: field names are lower case; write 'rating:'",
        "reviews/x.md:5: rating: 11 is out of range; expected 0 to 5",
    ]


def test_unknown_fields_get_a_did_you_mean(publication):
    publication.write_review("x.md", review(BASIC + """\
raitng: 4
runtime: 90
film:
  directr: Someone
  producer: Someone else
colour: blue
"""))
    assert problems_of(publication) == [
        "reviews/x.md:5: raitng: unknown field; did you mean 'rating'?",
        "reviews/x.md:6: runtime: unknown field; did you mean 'film.runtime'? "
        "(indent it under film:)",
        "reviews/x.md:8: film.directr: unknown field; did you mean 'film.director'?",
        "reviews/x.md:9: film.producer: unknown field; known fields: year, director, starring, "
        "runtime, classification, credits",
        "reviews/x.md:10: colour: unknown field; known fields: title, date, reviewer, film, "
        "rating, summary, tags, poster, poster_alt, availability, slug, id, updated, draft, "
        "url, aliases, trailer",
    ]


def test_a_field_given_twice(publication):
    publication.write_review("x.md", review(BASIC + "title: Again\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: title: given twice (first on line 2); keep one"
    ]


def test_missing_and_empty_required_fields(publication):
    publication.write_review("x.md", review('title: ""\nrating: 3\n'))
    assert problems_of(publication) == [
        "reviews/x.md:1: date: missing; every review needs a date",
        "reviews/x.md:1: reviewer: missing; every review needs a reviewer",
        "reviews/x.md:2: title: is empty; every review needs a title",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5.5", "5.5 is out of range; expected 0 to 5"),
        ("-1", "-1 is out of range; expected 0 to 5"),
        ("3.3", "3.3 is not in half steps; expected a whole or half number such as 3 or 3.5"),
        ("3.25", "3.25 is not in half steps; expected a whole or half number such as 3 or 3.5"),
        ("great", "'great' is not a number; expected 0 to 5 in half steps, e.g. 3.5"),
        ("NaN", "'NaN' is not a number; expected 0 to 5 in half steps, e.g. 3.5"),
    ],
)
def test_bad_ratings(publication, value, message):
    publication.write_review("x.md", review(BASIC + f"rating: {value}\n"))
    assert problems_of(publication) == [f"reviews/x.md:5: rating: {message}"]


@pytest.mark.parametrize(("value", "read"), [
    ("0", "0"), ("0.5", "0.5"), ("2.50", "2.5"), ("5", "5"), ("4½", "4.5"), ("4 1/2", "4.5"),
    ("4.0", "4"), ("3.5", "3.5"), ("1", "1"), ("0.0", "0"), ("5.00", "5"), ("½", "0.5"),
])
def test_good_ratings(publication, value, read):
    # The common forms are looked up, the others computed: the same Decimal either way (its
    # str, with its exponent, is what a feed shows).
    r = one(publication, BASIC + f"rating: {value}\n")
    assert str(r.rating) == read and r.rating.as_tuple() == Decimal(read).as_tuple()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date", "March 6", "'March 6' is not a valid date; expected YYYY-MM-DD or "
                            "YYYY-MM-DD HH:MM (optionally with a UTC offset such as +01:00)"),
        ("date", "0206-03-06", "'0206-03-06' is out of range; expected a date between 1900 "
                               "and 2100"),
        ("date", "9999-12-31 23:00", "'9999-12-31 23:00' is out of range; expected a date "
                                     "between 1900 and 2100"),
        ("updated", "2206-03-06", "'2206-03-06' is out of range; expected a date between 1900 "
                                  "and 2100"),
        # The slug the value would make is offered: a site moved from Hugo, which kept
        # slugs in any script, learns what to write.
        ("slug", "../etc", "'../etc' is not a safe slug; expected lower-case letters, digits "
                           "and hyphens, e.g. 'etc'"),
        ("slug", "Harbour Lights", "'Harbour Lights' is not a safe slug; expected lower-case "
                                   "letters, digits and hyphens, e.g. 'harbour-lights'"),
        ("slug", "a/b", "'a/b' is not a safe slug; expected lower-case letters, digits and "
                        "hyphens, e.g. 'a-b'"),
        ("slug", "千と千尋", "'千と千尋' is not a safe slug; expected lower-case letters, digits "
                         "and hyphens, e.g. 'qian-to-qian-xun'"),
        ("slug", "«»", "'«»' is not a safe slug; expected lower-case letters, digits and "
                       "hyphens, e.g. 'alien-romulus'"),
        ("draft", "maybe", "'maybe' is not true or false; expected true or false"),
        ("id", "not a uri", "'not a uri' is not a URI; expected an id such as "
                            "tag:example.org,2026-03-01:film (keep the one already published)"),
        ("id", "'1:x'", "'1:x' is not a URI; expected an id such as "
                        "tag:example.org,2026-03-01:film (keep the one already published)"),
        ("id", "'a:<b>'", "'a:<b>' is not a URI; expected an id such as "
                          "tag:example.org,2026-03-01:film (keep the one already published)"),
        ("poster", "javascript:alert(1)", "'javascript:alert(1)' is not an http(s) URL or a "
                                          "path under static/"),
        ("poster", "../../secret.png", "'../../secret.png' leaves the static/ directory; "
                                       "expected a path such as posters/film.png"),
        ("poster", "'posters\\x.png'", "posters\\x.png has a backslash; write the path with "
                                      "slashes: posters/x.png"),
        ("tags", "[drama, '!!!']", "'!!!' has no letters or digits; expected a word such as "
                                   "'horror'"),
        ("reviewer", "'—'", "'—' has no letters or digits; expected a name such as 'Ana Ruiz'"),
        ("film", "Some film", "expected a mapping with fields such as year and director, got "
                              "a single value"),
        ("title", "[a, b]", 'expected a single value, got a list; if the brackets belong to '
                            'the value, quote it: title: "[a, b]"'),
        ("title", "[REC]", 'expected a single value, got a list; if the brackets belong to '
                           'the value, quote it: title: "[REC]"'),
        ("title", "{Untitled}", "expected a single value, got a mapping; if the brackets belong "
                                'to the value, quote it: title: "{Untitled}"'),
        ("title", "\n  - a\n  - b", "expected a single value, got a list"),
    ],
)
def test_field_errors(publication, field, value, message):
    front = BASIC if field not in ("date", "title", "reviewer") else "\n".join(
        line for line in BASIC.splitlines() if not line.startswith(field + ":"))
    publication.write_review("x.md", review(front.strip() + f"\n{field}: {value}\n"))
    found = problems_of(publication)
    assert len(found) == 1 and found[0].endswith(f": {field}: {message}"), found


def test_film_field_errors(publication):
    publication.write_review("x.md", review(BASIC + """\
film:
  year: nineteen
  runtime: forever
  starring: {lead: Someone}
"""))
    assert problems_of(publication) == [
        "reviews/x.md:6: film.year: 'nineteen' is not a year; expected four digits such as 1979",
        "reviews/x.md:7: film.runtime: 'forever' is not a running time; expected minutes such as "
        "90, or 1h 30m, or 1:30 (hours:minutes)",
        "reviews/x.md:8: film.starring: expected a list, e.g. [a, b], got a mapping",
    ]


def test_a_list_within_a_list_of_names_is_named_at_its_line(publication):
    publication.write_review("x.md", review(BASIC + """\
tags:
  - horror
  - [sci-fi, space]
film:
  credits: [a, {b: c}]
"""))
    assert problems_of(publication) == [
        "reviews/x.md:7: tags: expected a list of names, got a list in it",
        "reviews/x.md:9: film.credits: expected a list of names, got a mapping in it",
    ]


def test_updated_before_date(publication):
    publication.write_review("x.md", review(BASIC + "updated: 2026-03-05\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: updated: 2026-03-05 is before the date 2026-03-06; expected a time on "
        "or after the publication date"
    ]


def test_poster_file_must_exist_under_static(publication):
    publication.write_review("x.md", review(BASIC + "poster: posters/missing.png\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: poster: static/posters/missing.png does not exist; add the image there "
        "or give an https URL"
    ]


@pytest.mark.parametrize(("written", "there"), [
    ("posters/alien-romulous.png", "posters/alien-romulus.png"),  # a slip of the keys
    ("posters/Alien-Romulus.PNG", "posters/alien-romulus.png"),   # a static host tells case
    ("alien-romulus.jpg", "alien-romulus.png"),
])
def test_a_missing_poster_names_the_file_beside_it_that_was_likely_meant(publication, written,
                                                                         there):
    folder = publication.root / "static" / there.rpartition("/")[0]
    folder.mkdir(parents=True, exist_ok=True)
    (publication.root / "static" / there).write_bytes(b"")
    (folder / "heat.png").write_bytes(b"")
    publication.write_review("x.md", review(BASIC + f"poster: {written}\n"))
    assert problems_of(publication) == [
        f"reviews/x.md:5: poster: static/{written} does not exist; static/{there} is there: "
        f"write poster: {there}, or add the image"
    ]


def test_a_poster_path_starting_at_static_is_told_to_leave_it_out(publication):
    (publication.root / "static" / "posters").mkdir(parents=True)
    (publication.root / "static" / "posters" / "x.png").write_bytes(b"")
    publication.write_review("x.md", review(BASIC + "poster: static/posters/x.png\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: poster: static/static/posters/x.png does not exist; write poster: "
        "posters/x.png (the path is under static/ already)"
    ]


def test_duplicate_slugs_name_both_files(publication):
    publication.write_review("harbour-lights.md", review(BASIC))
    publication.write_review("other.md", review(BASIC + "slug: harbour-lights\n"))
    assert problems_of(publication) == [
        "reviews/other.md:5: slug: 'harbour-lights' is also the slug of "
        "reviews/harbour-lights.md; give one of them another slug (or rename the file)"
    ]


def test_duplicate_ids_name_both_files(publication):
    publication.write_review("a.md", review("id: tag:reel.test,2026:x\n" + BASIC))
    publication.write_review("b.md", review("id: tag:reel.test,2026:x\n" + BASIC))
    assert problems_of(publication) == [
        "reviews/b.md:2: id: 'tag:reel.test,2026:x' is also the id of reviews/a.md; every "
        "review needs its own id"
    ]


def test_a_review_copied_with_its_id_line_is_the_one_named_whatever_its_files_name(publication):
    # Last week's review copied to start this week's, its id: line with it. The error named
    # whichever file came first by name, often the old review: its id "fixed", readers were
    # shown it again as new, and the new review took the entry they had read, unseen. The
    # review dated later is the copy: the one named, whatever the names of the files.
    old = "id: tag:reel.test,2026-03-06:paper-moons\n" + BASIC
    new = old.replace("date: 2026-03-06", "date: 2026-03-13").replace("Harbour", "Glass")
    for name, text in (("paper-moons.md", old), ("paper-moons-2.md", new),
                       ("a-third.md", new.replace("03-13", "03-20")), ("b.md", old)):
        publication.write_review(name, review(text + f"slug: {name[:-3]}\n"))
    copied = ("id: 'tag:reel.test,2026-03-06:paper-moons' is also the id of reviews/{}, dated "
              "2026-03-06, which feed readers know by it; give this review its own id (copied "
              "with the file? delete the line: one is made from the date and slug)")
    assert sorted(problems_of(publication)) == [
        "reviews/a-third.md:2: " + copied.format("b.md"),
        "reviews/paper-moons-2.md:2: " + copied.format("b.md"),
        "reviews/paper-moons.md:2: id: 'tag:reel.test,2026-03-06:paper-moons' is also the id "
        "of reviews/b.md; every review needs its own id"]  # the same day: either may be


def test_a_review_copied_with_its_slug_line_is_the_one_named(publication):
    # The slug is checked first: named on the old review, its page moved, and with it the id
    # derived from the slug.
    old = BASIC + "slug: paper-moons\n"
    publication.write_review("paper-moons.md", review(old))
    publication.write_review("paper-moons-2.md", review(old.replace("03-06", "03-13")))
    assert problems_of(publication) == [
        "reviews/paper-moons-2.md:5: slug: 'paper-moons' is also the slug of "
        "reviews/paper-moons.md; give one of them another slug (or rename the file)"]


def test_not_utf8_names_the_file_and_line(publication):
    data = review(BASIC, "Fine.\nCaf\xe9 society\n").encode("latin-1")
    publication.write_review("latin1.md", data)
    assert problems_of(publication) == [
        f"reviews/latin1.md:7: not UTF-8 text (byte 0xe9 at offset {data.index(0xE9)}); save "
        "the file as UTF-8"
    ]


def test_not_utf8_after_a_byte_order_mark_names_the_byte_where_it_stands(publication):
    # Windows editors start a UTF-8 file with a byte-order mark; the offset and the byte named
    # are the file's own, as a hex editor shows them, not counted from after the mark.
    data = b"\xef\xbb\xbf" + review(BASIC, "Fine.\nCaf\xe9 society\n").encode("latin-1")
    publication.write_review("latin1.md", data)
    assert problems_of(publication) == [
        f"reviews/latin1.md:7: not UTF-8 text (byte 0xe9 at offset {data.index(0xE9)}); save "
        "the file as UTF-8"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: x\n", "reviews/x.md:1: no front matter; start the file with a line '---', then "
                       "fields such as 'title: ...', then another '---'"),
        ("---\ntitle: x\n", "reviews/x.md:1: front matter is not closed; add a line '---' after "
                            "the last field"),
        ("---\n---\nbody\n", "reviews/x.md:2: front matter is empty; expected fields such as "
                             "title, date and reviewer"),
        ("---\n- a\n- b\n---\n", "reviews/x.md:2: front matter must be fields such as "
                                 "'title: ...', got a list"),
    ],
)
def test_front_matter_shape(publication, text, message):
    publication.write_review("x.md", text)
    assert problems_of(publication) == [message]


def test_every_problem_in_every_file_is_reported(publication):
    publication.write_review("a.md", review(BASIC + "rating: 9\nraitng: 3\n"))
    publication.write_review("b.md", review("title: B\ndate: soon\n"))
    publication.write_review("c.md", review(BASIC))
    with pytest.raises(SourceError) as info:
        load_reviews(publication.config)
    assert str(info.value).splitlines() == [
        "4 problems in the sources:",
        "reviews/a.md:5: rating: 9 is out of range; expected 0 to 5",
        "reviews/a.md:6: raitng: unknown field; did you mean 'rating'?",
        "reviews/b.md:1: reviewer: missing; every review needs a reviewer",
        "reviews/b.md:3: date: 'soon' is not a valid date; expected YYYY-MM-DD or "
        "YYYY-MM-DD HH:MM (optionally with a UTC offset such as +01:00)",
    ]


def test_parse_review_alone(publication):
    config = publication.config
    r = parse_review(review(BASIC), path="reviews/harbour.md", config=config)
    assert (r.slug, r.source_path) == ("harbour", "reviews/harbour.md")
    with pytest.raises(SourceError) as info:
        parse_review(review(BASIC + "rating: 6\n"), path="reviews/harbour.md", config=config)
    assert str(info.value.problems[0]) == (
        "reviews/harbour.md:5: rating: 6 is out of range; expected 0 to 5")


def test_check_sources_reports_without_raising(publication):
    publication.write_review("a.md", review(BASIC))
    publication.write_review("b.md", review(BASIC + "rating: 6\n"))
    result = check_sources(publication.config)
    assert not result.ok and result.files == 2
    assert [r.slug for r in result.reviews] == ["a"]
    assert [p.path for p in result.problems] == ["reviews/b.md"]
    assert not (publication.root / ".publisher").exists()


def test_check_sources_reads_what_a_build_cached_and_writes_nothing(publication, monkeypatch):
    # publisher check parsed every file again: 15 s of its 20 at 12,000 reviews.
    publication.write_review("a.md", review(BASIC))
    path = publication.write_review("b.md", review(BASIC + "rating: 6\n"))
    config = publication.config
    with pytest.raises(SourceError):
        load_reviews(config)  # as a build does: both files' results are cached
    cached = {f.name: f.stat().st_mtime_ns for f in cache_path(config).iterdir()}
    parse = catalog_module.parse_bytes
    monkeypatch.setattr(catalog_module, "parse_bytes", None)  # nothing is parsed again
    result = check_sources(config)
    assert [r.slug for r in result.reviews] == ["a"]
    assert [str(p) for p in result.problems] == [
        "reviews/b.md:5: rating: 6 is out of range; expected 0 to 5"]
    monkeypatch.setattr(catalog_module, "parse_bytes", parse)
    path.write_text(review(BASIC + "rating: 5\n"), encoding="utf-8")
    assert check_sources(config).ok  # a changed file is read, not taken from the cache
    assert {f.name: f.stat().st_mtime_ns for f in cache_path(config).iterdir()} == cached


# --- the cache -------------------------------------------------------------------------------


def test_cache_gives_the_same_catalog_and_sees_every_change(publication):
    publication.copy_sample_reviews()
    (publication.root / "static" / "posters").mkdir(parents=True)
    for png in (SAMPLE / "static" / "posters").glob("*.png"):
        shutil.copy(png, publication.root / "static" / "posters" / png.name)
    config = publication.config
    uncached = load_reviews(config, cache=False)
    assert not cache_path(config).exists()
    first = load_reviews(config)
    assert (cache_path(config) / "index.pickle").is_file()
    assert list(cache_path(config).glob("chunk-*.pickle"))
    second = load_reviews(config)
    assert first.reviews == second.reviews == uncached.reviews

    # Same size, rewritten at once: the content hash must still see the change.
    path = publication.root / "reviews" / "1987.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("rating: 4.5", "rating: 3.5"), encoding="utf-8")
    changed = {r.slug: r for r in load_reviews(config).reviews}
    assert changed["1987"].rating == Decimal("3.5")

    path.unlink()
    assert "1987" not in {r.slug for r in load_reviews(config).reviews}

    # A config field that shapes the output invalidates every entry.
    publication.write_config((publication.root / "publisher.toml").read_text()
                             .replace("https://reel.test/", "https://other.test/"))
    moved = load_reviews(publication.config)
    assert all(r.url.startswith("https://other.test/") for r in moved.reviews)


def test_a_file_is_trusted_unread_only_when_its_signature_is_safely_old():
    sig = (120, 10_000_000_000, 10_000_000_000, 42)
    later = 10_000_000_000 + 3_000_000_000
    assert is_trusted(sig, 10_000_000_000, (sig, later, "abc"))
    # Seen within the timestamp granularity margin of its last change: hash it again.
    assert not is_trusted(sig, 10_000_000_000, (sig, 10_500_000_000, "abc"))
    # Any change of size, times or inode: read it.
    for changed in [(121, *sig[1:]), (120, 1, *sig[2:]), (*sig[:2], 1, 42), (*sig[:3], 43)]:
        assert not is_trusted(changed, changed[2], (sig, later, "abc"))
    assert not is_trusted(sig, sig[2], None)


def chunks(config) -> list[Path]:
    return sorted(cache_path(config).glob("chunk-*.pickle"))


def test_a_second_load_does_not_reread_old_files(publication):
    path = publication.write_review("a.md", review(BASIC))
    config = publication.config
    load_reviews(config)
    index_file = cache_path(config) / "index.pickle"
    # Pretend the first load happened well after the file was last changed.
    index = pickle.loads(index_file.read_bytes())
    sig, _seen, digest = index["files"]["reviews/a.md"]
    index["files"]["reviews/a.md"] = (sig, sig[2] + 10**10, digest)
    index_file.write_bytes(pickle.dumps(index))
    stamp = index_file.stat().st_mtime_ns
    assert load_reviews(config).reviews[0].title == "Harbour Lights"
    assert index_file.stat().st_mtime_ns == stamp  # nothing to record: the file was trusted
    path.write_text(review(BASIC.replace("Lights", "Nights")), encoding="utf-8")
    assert load_reviews(config).reviews[0].title == "Harbour Nights"


def test_a_corrupt_or_lost_cache_is_ignored(publication):
    publication.write_review("a.md", review(BASIC))
    config = publication.config
    load_reviews(config)
    for chunk in chunks(config):
        chunk.write_bytes(b"not a pickle")
    assert [r.title for r in load_reviews(config).reviews] == ["Harbour Lights"]
    for chunk in chunks(config):
        chunk.unlink()
    assert [r.title for r in load_reviews(config).reviews] == ["Harbour Lights"]
    (cache_path(config) / "index.pickle").write_bytes(b"\x80\x05garbage")
    assert [r.title for r in load_reviews(config).reviews] == ["Harbour Lights"]
    assert [r.title for r in load_reviews(config).reviews] == ["Harbour Lights"]


def test_chunks_are_compacted_and_old_ones_removed(publication, monkeypatch):
    monkeypatch.setattr(cache, "_MAX_CHUNKS", 3)
    path = publication.write_review("a.md", review(BASIC))
    publication.write_review("b.md", review(BASIC.replace("Lights", "Nights")))
    config = publication.config
    for rating in ("1", "2", "3", "4", "5", "0.5"):
        path.write_text(review(BASIC + f"rating: {rating}\n"), encoding="utf-8")
        catalog = load_reviews(config)
        assert {r.slug: r.rating for r in catalog.reviews} == {"a": Decimal(rating), "b": None}
        assert 1 <= len(chunks(config)) <= 3


def test_errors_are_cached_too_and_fixed_files_load(publication):
    path = publication.write_review("a.md", review(BASIC + "rating: 6\n"))
    config = publication.config
    for _ in range(2):
        with pytest.raises(SourceError):
            load_reviews(config)
    path.write_text(review(BASIC + "rating: 5\n"), encoding="utf-8")
    assert load_reviews(config).reviews[0].rating == 5


def test_many_files_are_parsed_in_forked_processes(publication, monkeypatch):
    monkeypatch.setattr(catalog_module, "FORK_THRESHOLD", 4)
    for i in range(12):
        publication.write_review(f"film-{i:02}.md", review(
            BASIC.replace("Harbour Lights", f"Film {i}")
            + (f"rating: {i}\n" if i == 7 else "")))
    with pytest.raises(SourceError) as info:
        load_reviews(publication.config)
    assert [str(p) for p in info.value.problems] == [
        "reviews/film-07.md:5: rating: 7 is out of range; expected 0 to 5"]
    assert chunks(publication.config)  # each process stored what it parsed
    (publication.root / "reviews" / "film-07.md").unlink()
    expected = [f"Film {i}" for i in range(12) if i != 7]
    assert [r.title for r in load_reviews(publication.config).reviews] == expected
    assert [r.title for r in load_reviews(publication.config, cache=False).reviews] == expected


def _shares_used(publication, monkeypatch, cores: set[int]) -> tuple[list[int], list[str]]:
    """How many children each shared load of twelve reviews forks when this process may run
    only on ``cores`` (one entry per shared load), and the titles it loads."""
    monkeypatch.setattr(catalog_module, "FORK_THRESHOLD", 4)
    children: list[int] = []
    load_shared = catalog_module.load_shared

    def counted(batches, load, forks, chunk_dir, *afterwards):
        children.append(forks)
        return load_shared(batches, load, forks, chunk_dir, *afterwards)

    monkeypatch.setattr(catalog_module, "load_shared", counted)
    for i in range(12):
        publication.write_review(f"film-{i:02}.md", review(
            BASIC.replace("Harbour Lights", f"Film {i}")))
    given = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    try:
        titles = [r.title for r in load_reviews(publication.config, cache=False).reviews]
    finally:
        os.sched_setaffinity(0, given)
    return children, titles


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux's CPU affinity")
def test_on_one_core_many_files_are_parsed_here_without_forking(publication, monkeypatch):
    # `taskset -c 0 publisher build`: a child would only add pickling to the one core.
    children, titles = _shares_used(publication, monkeypatch, {min(os.sched_getaffinity(0))})
    assert children == []
    assert titles == [f"Film {i}" for i in range(12)]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux's CPU affinity and two cores")
def test_many_files_are_parsed_here_and_in_a_child_for_each_other_core(publication,
                                                                        monkeypatch):
    given = os.sched_getaffinity(0)
    children, titles = _shares_used(publication, monkeypatch, given)
    assert children == [min(len(given), MAX_WORKERS) - 1]
    assert titles == [f"Film {i}" for i in range(12)]


# --- a new publication -----------------------------------------------------------------------


def test_init_publication_loads_cleanly(tmp_path, now):
    written = init_publication(tmp_path / "new", title="Reel “Talk”", timezone="Europe/Paris",
                               author="Ana O'Neill", now=now)
    assert [p.name for p in written] == ["publisher.toml", "first-review.md", "about.md",
                                         ".gitignore"]
    config = load_config(directory=tmp_path / "new")
    assert (config.title, config.timezone) == ("Reel “Talk”", "Europe/Paris")
    catalog = load_reviews(config, cache=False)
    # the about page is a draft until its editor writes it
    assert [(page.slug, page.draft) for page in catalog.pages] == [("about", True)]
    (r,) = catalog.published(now)
    assert r.reviewer == "Ana O'Neill"
    assert r.summary == SAMPLE_SUMMARY  # what tells the sample from the editor's reviews
    assert r.date.date() == now.date()
    about = written[2]
    about.write_text(about.read_text("utf-8").replace("draft: true\n", ""), "utf-8")
    (page,) = load_reviews(config, cache=False).pages
    assert (page.title, page.menu, page.url, page.draft) == (
        "About us", "About", "https://reviews.example.org/about/", False)


def test_init_refuses_to_overwrite_and_validates_first(tmp_path):
    init_publication(tmp_path / "a")
    before = (tmp_path / "a" / "publisher.toml").read_bytes()
    with pytest.raises(PublisherError, match="already exists; not overwriting"):
        init_publication(tmp_path / "a", title="Other")
    assert (tmp_path / "a" / "publisher.toml").read_bytes() == before
    with pytest.raises(ConfigError, match="base_url"):
        init_publication(tmp_path / "b", base_url="reviews.example.org")
    assert not (tmp_path / "b").exists()


def test_sources_path_is_relative_to_the_publication(tmp_path, monkeypatch):
    pub = Publication(tmp_path / "pub")
    pub.write_review("a.md", review(BASIC + "rating: 6\n"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError) as info:
        load_reviews(load_config(directory=Path("pub")), cache=False)
    assert info.value.problems[0].path == "reviews/a.md"


# --- sources copied from Hugo and Pelican --------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('+++\ntitle = "Harbour Lights"\n+++\nBody.\n',
         "reviews/x.md:1: front matter in TOML (between '+++' lines, as Hugo writes it); "
         "publisher reads YAML between '---' lines: write '---' for each '+++' and each "
         "'key = value' as 'key: value'"),
        ("Title: Harbour Lights\nDate: 2026-03-06\n\nBody.\n",
         "reviews/x.md:1: a metadata header without '---' lines (as Pelican writes it); add a "
         "line '---' above it and another below its last field, and write field names in "
         "lower case ('Title:' as 'title:')"),
    ],
)
def test_hugo_toml_and_pelican_headers_are_named_with_the_change_to_make(
        publication, text, message):
    publication.write_review("x.md", text)
    assert problems_of(publication) == [message]


def test_hugo_and_pelican_fields_name_publishers_own(publication):
    publication.write_review("x.md", review(
        BASIC + "lastmod: 2026-03-07\nModified: 2026-03-07\nauthor: Sam\ndescription: Good.\n"
        "publishDate: 2026-03-06\ncategories: [reviews]\nimages: [/i/x.jpg]\n"
        "Status: draft\nweight: 3\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: lastmod: unknown field; the time of the last change is 'updated' "
        "here; write 'updated:'",
        "reviews/x.md:6: Modified: unknown field; the time of the last change is 'updated' "
        "here; write 'updated:'",
        "reviews/x.md:7: author: unknown field; the review's author is 'reviewer' here (one "
        "name); write 'reviewer:'",
        "reviews/x.md:8: description: unknown field; the line that sells the review is "
        "'summary' here; write 'summary:'",
        "reviews/x.md:9: publishDate: unknown field; a review is published at its 'date' (a "
        "later one schedules it); keep one 'date:' and remove this line",
        "reviews/x.md:10: categories: unknown field; publisher has tags only; move these into "
        "'tags:' or remove the line",
        "reviews/x.md:11: images: unknown field; a review's image is its 'poster' (one path "
        "under static/ or a URL, with 'poster_alt'); write 'poster:'",
        "reviews/x.md:12: Status: unknown field; write 'draft: true' for a draft; a published "
        "review needs no line",
        "reviews/x.md:13: weight: unknown field; known fields: title, date, reviewer, film, "
        "rating, summary, tags, poster, poster_alt, availability, slug, id, updated, draft, "
        "url, aliases, trailer",
    ]


def test_hugos_url_a_path_on_the_site_is_pointed_to_aliases(publication):
    publication.write_review("x.md", review(BASIC + "url: /reviews/harbour-2026/\n"))
    assert problems_of(publication) == [
        "reviews/x.md:5: url: '/reviews/harbour-2026/' is not an absolute http(s) URL: url: is "
        "for a page on another site; for an address on this one (Hugo's url:), write aliases: "
        "[/reviews/harbour-2026/] instead"]


def test_hugo_shortcodes_are_named_as_published_as_text(publication):
    body = ("Intro.\n\n{{< youtube x0XDEhP4MQs >}}\n\n`{{< kept >}}` in code\n\n"
            "```\n{{% notice %}}\n```\n\nEnd {{% notice %}}aside{{% /notice %}}.\n")
    publication.write_review("film.md", review(BASIC, body))
    catalog = load_reviews(publication.config, cache=False)
    assert [str(w) for w in catalog.warnings] == [
        "reviews/film.md:8: body: a Hugo shortcode (youtube) would be published as written: "
        "publisher expands none; write it as Markdown or HTML (a link to the video, an image); "
        "for the film's trailer, write trailer: with the video's address in the front matter",
        "reviews/film.md:16: body: a Hugo shortcode (notice) would be published as written: "
        "publisher expands none; write it as Markdown or HTML (a link to the video, an image)",
    ]


def test_raw_html_that_publishing_removes_is_named_at_its_line(publication):
    # A trailer pasted as YouTube gives it, and words in angle brackets that read as a tag:
    # the sanitiser takes both out of the published review, without a word until now.
    body = ('Intro.\n\n<iframe src="https://www.youtube.com/embed/x0XDEhP4MQs"></iframe>\n\n'
            "The <extended cut> runs long; <em>kept</em>, `<script>` in code, "
            "<https://example.org/> linked.\n")
    publication.write_review("film.md", review(BASIC, body))
    catalog = load_reviews(publication.config, cache=False)
    removed = ("is removed as it is published (no frames, forms, scripts, styles, or tags "
               "publisher does not know, come from a source): link to what it embeds instead (a "
               "video's page), and write words meant to show without angle brackets")
    assert [str(w) for w in catalog.warnings] == [
        f"reviews/film.md:8: body: <iframe> {removed}; for the film's trailer, write trailer: "
        "with the video's address in the front matter",
        f"reviews/film.md:10: body: <extended> {removed}",
    ]


def test_the_summary_of_a_body_with_more_ends_there_as_in_hugo(publication):
    r = one(publication, BASIC, "Three hours that pass like *one*.<!--more-->\n\nThe rest.\n")
    assert r.summary == "Three hours that pass like one."
    assert r.body_html == "<p>Three hours that pass like <em>one</em>.</p>\n<p>The rest.</p>"
    r = one(publication, BASIC, "No marker here.\n\nThe rest.\n", name="film.md")
    assert r.summary == "No marker here. The rest."


def test_a_written_summary_reads_as_its_markdown_would_not_as_typed(publication):
    # "*Alien*" was published with its asterisks on the site, in the feeds and in the digest,
    # and its quotes and dashes straight, beside a body whose Markdown is rendered: a summary
    # is plain text, as the one made from the lead before <!--more--> is.
    front = BASIC + """summary: "*Alien*'s heir -- \\"colder\\" and **better**..."\n"""
    assert one(publication, front).summary == "Alien’s heir – “colder” and better…"
    publication.set_language("fr")
    assert one(publication, BASIC + "summary: 'Un \"huis clos\" glacial'\n").summary == (
        "Un «\u202fhuis clos\u202f» glacial")
    # Always a paragraph, never raw HTML.
    for written, read in [("1. *Alien*, then the rest", "1. Alien, then the rest"),
                          ("# 1 film -- of the year", "# 1 film – of the year"),
                          ("- or so it ~~was~~ is", "- or so it was is"),
                          ("Better than <Alien> & <b>Aliens</b>",
                           "Better than <Alien> & <b>Aliens</b>"),
                          ("Plain words, unrendered", "Plain words, unrendered")]:
        assert one(publication, BASIC + f"summary: '{written}'\n").summary == read


def test_a_summary_before_more_drops_the_marks_of_footnotes_defined_after_it(publication):
    # The lead is rendered alone, where its footnote's definition is not: cmark wrote "[^1]".
    body = ("A debut[^1] that earns its `[^x]`.<!--more-->\n\nThe rest.\n\n"
            "[^1]: Her first feature.\n")
    r = one(publication, BASIC, body)
    assert r.summary == "A debut that earns its [^x]."
    assert 'class="footnote-ref"' in r.body_html


def test_fields_clean_values_inline_as_their_slow_path_does():
    """Fields.text and text_list clean a printable value inline; random values (controls, odd
    spaces, line breaks and bidi controls among them) read the same as through _text and
    one_line, warnings included."""
    rng = random.Random(1895)
    alphabet = "ab C\t\n\r\x00\x01\x7f\x85\u00a0\u2003\u2028\u202e\u200b\ufeff é—,"
    mark = yaml.Mark("x.md", 0, 0, 0, None, None)

    def scalar(value: str) -> yaml.ScalarNode:
        return yaml.ScalarNode("tag:yaml.org,2002:str", value, mark, mark)

    for _ in range(3000):
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(9)))
                  for _ in range(rng.randrange(1, 4))]
        node = yaml.MappingNode("tag:yaml.org,2002:map", [
            (scalar("title"), scalar(values[0])),
            (scalar("tags"), yaml.SequenceNode("tag:yaml.org,2002:seq",
                                               [scalar(v) for v in values], mark, mark)),
        ], mark, mark)
        fields = Fields(node, 2, Collector("x.md"), "", ("title", "tags"))
        slow = Fields(node, 2, Collector("x.md"), "", ("title", "tags"))
        assert fields.text("title") == slow._text("title")
        assert fields.out.warnings == slow.out.warnings
        assert fields.text_list("tags") == tuple(
            dict.fromkeys(filter(None, (one_line(v) for v in values))))


def test_a_fields_line_is_read_as_the_lazy_patterns_read_it():
    """_field_line and _list_item take a value whole and strip it, where the patterns they
    replace matched it lazily before trailing white space: random lines split the same."""
    field = re.compile(r"^(\s*)([A-Za-z_][\w-]*)\s*:\s+(.*?)\s*\r?$")
    item = re.compile(r"^(\s*-\s+)(.*?)\s*\r?$")
    rng = random.Random(1927)
    pieces = ["key", "k_2", "-", ":", " ", "  ", "\t", "\r", "\x0b", "\x1c", "\x85", "\u00a0",
              "\u2028", "\u3000", "a", "é", "#", "*", "&", "!", '"', "'", "[", "x: y"]
    for _ in range(20000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randrange(10)))
        expected = field.match(line)
        assert frontmatter._field_line(line) == (expected and expected.groups()), repr(line)
        expected = item.match(line)
        assert frontmatter._list_item(line) == (expected and expected.groups()), repr(line)


def test_a_missing_reviews_directory_is_an_error_not_an_empty_site(publication, cli):
    """A reviews_dir mistyped, or on a disk not mounted: an empty site would replace the
    published one and the next slot be recorded empty. (A new publication has reviews/:
    'publisher init' makes it.)"""
    shutil.rmtree(publication.root / "reviews")
    with pytest.raises(SourceError) as raised:
        load_reviews(publication.config)
    [problem] = raised.value.problems
    assert str(problem) == (
        f"reviews/: no such directory, so there is no review to publish; make it (mkdir "
        f"{publication.root / 'reviews'}), or set reviews_dir in publisher.toml to where the "
        "reviews are")
    built = cli("build")
    assert built.exit_code == 1 and "reviews/: no such directory" in built.stderr
    assert not (publication.root / "public").exists()
    checked = cli("check", "--sources")
    assert checked.exit_code == 1 and "reviews/: no such directory" in checked.output
    # an empty reviews/ is a new publication's: not an error
    (publication.root / "reviews").mkdir()
    assert load_reviews(publication.config).reviews == ()
