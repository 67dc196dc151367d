"""Sources written to hurt: front matter that would make YAML work quadratically."""

from __future__ import annotations

import pytest

from publisher.errors import SourceError
from publisher.sources import frontmatter
from publisher.sources.catalog import load_reviews
from publisher.sources.frontmatter import MAX_FRONT_MATTER_LINES, MAX_YAML_FIXES


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
