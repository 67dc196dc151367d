"""Sources written to hurt: front matter that would make YAML work quadratically, text that
reads backwards."""

from __future__ import annotations

import os
import shutil

import pytest

from publisher.errors import SourceError
from publisher.models import Issue
from publisher.render.archive import render_archive
from publisher.render.digest import render_digest
from publisher.render.feeds import render_feeds
from publisher.render.site import Site
from publisher.sources import frontmatter
from publisher.sources.catalog import load_reviews
from publisher.sources.frontmatter import MAX_FRONT_MATTER_LINES, MAX_YAML_FIXES
from publisher.sources.markdown import markdown_to_html
from publisher.text import BIDI_CHARS
from tests.fixtures import write_reviews


def problems_of(publication) -> list[str]:
    with pytest.raises(SourceError) as info:
        load_reviews(publication.config, cache=False)
    return [str(p) for p in info.value.problems]


def test_lines_yaml_misreads_are_read_a_bounded_number_of_times(publication, monkeypatch):
    """Each 'key: a: b' line used to cost one more reading of the whole front matter (8,000 such
    lines took 139 s, holding the run lock); now the readings stop after MAX_YAML_FIXES."""
    readings = []
    compose = frontmatter._compose_yaml
    monkeypatch.setattr(frontmatter, "_compose_yaml",
                        lambda text: readings.append(1) or compose(text))
    lines = "".join(f"k{i}: a: b\n" for i in range(300))
    publication.write_review("hostile.md", f"---\ntitle: x\n{lines}---\nBody.\n")
    problems = problems_of(publication)
    assert len(readings) <= MAX_YAML_FIXES + 1
    assert problems[0] == ("reviews/hostile.md:3: k0: the value contains ': ', which YAML reads "
                           "as a new field; quote the whole value: k0: \"a: b\"")
    assert len(problems) == MAX_YAML_FIXES + 1
    assert problems[-1].endswith(f"stopped after {MAX_YAML_FIXES} of them; quote those, then "
                                 "check again")


def test_a_line_yaml_still_refuses_once_quoted_is_not_quoted_again(publication):
    """Quoting a value escapes the quotes of the last quoting: a line that YAML refused again
    and again (here, an indented field under a quoted one) doubled in length each time, to
    hundreds of megabytes and seconds of work in 25 readings, from nine lines."""
    publication.write_review("hostile.md", (
        "---\ntitle: Alien\ndate: 2024-05-09\nlastmod: *Alien* returns\n"
        "  runtime: 117\nsummary: \"a \\t b\"\n---\nBody.\n"))
    problems = problems_of(publication)
    assert problems == [
        "reviews/hostile.md:4: lastmod: a value starting with '*' is read as a YAML alias; "
        "quote the whole value: lastmod: \"*Alien* returns\"",
        "reviews/hostile.md:5: runtime: front matter is not valid YAML: while parsing a block "
        "mapping: did not find expected key; check quoting and indentation",
        "reviews/hostile.md:5: runtime: text after a closing quote is not allowed; quote the "
        "whole value: runtime: \"117\""]


def test_front_matter_longer_than_the_limit_is_refused_unread(publication, monkeypatch):
    monkeypatch.setattr(frontmatter, "_compose_yaml", lambda text: pytest.fail("YAML read"))
    lines = "".join(f"k{i}: a: b\n" for i in range(8000))
    publication.write_review("huge.md", f"---\ntitle: x\n{lines}---\nBody.\n")
    assert problems_of(publication) == [
        f"reviews/huge.md:1: front matter is 8001 lines long, more than the "
        f"{MAX_FRONT_MATTER_LINES} publisher reads; a review has a few dozen fields at most (is "
        "the closing '---' in the right place?)"]


def test_a_few_misread_values_are_all_reported_at_once(publication):
    publication.write_review("film.md", "---\ntitle: Alien: Romulus\ndate: 2026-01-02\n"
                                        "reviewer: Sam: Okafor\n---\nBody.\n")
    assert problems_of(publication) == [
        "reviews/film.md:2: title: the value contains ': ', which YAML reads as a new field; "
        "quote the whole value: title: \"Alien: Romulus\"",
        "reviews/film.md:4: reviewer: the value contains ': ', which YAML reads as a new field; "
        "quote the whole value: reviewer: \"Sam: Okafor\"",
    ]


RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "gpj.exe" reads "exe.jpg"


def test_bidi_controls_never_reach_feeds_digests_or_archive_pages(publication, now):
    publication.write_review("film.md", (
        f"---\ntitle: Harbour {RLO}sthgiL\ndate: 2026-03-06\nreviewer: Sam{RLO} Okafor\n"
        f"summary: A quiet{RLO} film\ntags: [drama{RLO}]\n---\nA body with\u2067 an isolate.\n"))
    catalog = load_reviews(publication.config, cache=False)
    [review] = catalog.reviews
    assert (review.title, review.reviewer, review.summary, review.tags) == (
        "Harbour sthgiL", "Sam Okafor", "A quiet film", ("drama",))
    assert "\u2067" not in review.body_html
    assert [str(w) for w in catalog.warnings] == [
        "reviews/film.md:2: title: removed 1 bidi control character (they can make text read "
        "backwards)",
        "reviews/film.md:4: reviewer: removed 1 bidi control character (they can make text "
        "read backwards)",
        "reviews/film.md:5: summary: removed 1 bidi control character (they can make text read "
        "backwards)",
        "reviews/film.md:6: tags: removed 1 bidi control character (they can make text read "
        "backwards)",
        "reviews/film.md:8: body: removed 1 bidi control character (they can make text read "
        "backwards)",
    ]
    site = Site.from_config(publication.config)
    issue = Issue(number=1, subject="", date=now, reviews=(review,))
    archive = render_archive(site, [issue])["issues/1/index.html"].decode("utf-8")
    feeds = render_feeds([review], site=site, title="Reel", description="Reviews")
    for text in (archive, render_digest(issue, site).html, *(f.decode() for f in feeds.values())):
        assert not BIDI_CHARS.search(text)
        assert "\\u{" not in text  # MRML's way of writing one into an attribute


def test_an_editors_note_loses_bidi_controls_too():
    assert markdown_to_html(f"Read {RLO}this", "https://reel.test/") == "<p>Read this</p>"


def test_many_headings_of_the_same_words_get_their_ids_in_linear_steps(monkeypatch):
    # Each "section" heading used to try section, section-1, … up to its own number: 2,000
    # empty headings cost two million lookups (20,000 took 50 s).
    from publisher.sources import markdown

    lookups = []

    class CountingSet(set):
        def __contains__(self, item):
            lookups.append(item)
            return super().__contains__(item)

    monkeypatch.setattr(markdown, "set", CountingSet, raising=False)
    html = markdown_to_html("## x\n\n" + "<h2></h2>" * 2000, "https://reel.test/")
    assert html.count('id="section') == 2000 and 'id="section-1999"' in html
    assert len(lookups) <= 2 * 2001


def test_a_raw_tag_never_runs_past_the_next_tag_in_search_of_a_link():
    # "<a x <a x …" without a ">" was scanned from every "<" to the end of the body.
    from publisher.sources.markdown import _RAW_LINK

    found = _RAW_LINK.search("<a x <a x <a href='/reviews/a/'>")
    assert found is not None and found.start() == 10


def test_the_closing_line_is_the_first_line_of_three_dashes_or_dots():
    """split_front_matter searches for the closing line from the line breaks; random texts of
    fences, dots, spaces, tabs and line endings split where the first line that is '---' or
    '...' (spaces, tabs and a "\\r" after it allowed) is, as a line by line search finds it."""
    import random
    import re

    closing = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)

    def by_lines(text: str) -> tuple[str, str, int] | None:
        first, _, rest = text.partition("\n")
        match = closing.search(rest) if first.rstrip() == "---" else None
        if match is None:
            return None
        front = rest[: match.start()]
        return front, rest[match.end():].lstrip("\r").removeprefix("\n"), front.count("\n") + 3

    pieces = ["---", "...", "--", "-", ".", " ", "\t", "\r", "\n", "\r\n", "a: b", "é", "—",
              "\n---", "\n...", "\n---\n", "\n--- \t\r\n"]
    rng = random.Random(1979)
    for _ in range(3000):
        text = rng.choice(["---\n", "--- \r\n", "---", ""]) + "".join(
            rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        split = frontmatter.split_front_matter(text, frontmatter.Collector("x.md"))
        assert split == by_lines(text), repr(text)



def test_a_file_name_that_is_not_utf8_is_named_in_one_line_not_a_traceback(publication, cli):
    # Unpacked from an old zip or copied from a Latin-1 machine: "café.md" whose é is one byte.
    # Python reads the name with a lone surrogate that no slug, page or build record can hold.
    write_reviews(publication, 2)
    latin1 = os.fsdecode(b"caf\xe9.md")
    shutil.copy(publication.root / "reviews" / "film-1.md", publication.root / "reviews" / latin1)
    checked = cli("check", "--sources")
    assert checked.exit_code == 1
    assert ("reviews/caf\\xe9.md: the file name is not UTF-8 (saved on a system with "
            "another encoding?), so no address can be made of it; rename it") in checked.stderr
    built = cli("build")
    assert built.exit_code == 1 and "caf\\xe9.md: the file name is not UTF-8" in built.stderr
    assert not (publication.root / "public").exists()

    os.remove(publication.root / "reviews" / latin1)
    pages = publication.root / "pages"
    pages.mkdir()
    (pages / latin1).write_text("---\ntitle: Café\n---\nA page.\n", encoding="utf-8")
    built = cli("build")
    assert built.exit_code == 0
    assert ("warning: pages/caf\\xe9.md: the file name is not UTF-8 (saved on a system with "
            "another encoding?), so no address can be made of it; rename it") in built.stderr
    assert not (publication.root / "public" / "caf").exists()  # once built as /caf/

    os.remove(pages / latin1)
    (publication.root / "static").mkdir()
    (publication.root / "static" / os.fsdecode(b"men\xfa.pdf")).write_bytes(b"%PDF-1.4\n")
    built = cli("build")
    assert built.exit_code == 1
    assert built.stderr == ("error: static/men\\xfa.pdf: the file name is not UTF-8 (saved on a "
                            "system with another encoding?), so no address can be made of it; "
                            "rename it\n")
