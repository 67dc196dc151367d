"""Bodies rendered when an output reads them (sources/body.py): a build renders only the bodies
of what it writes again, a review's HTML and derived summary are the same as rendering at once
would give, and a source edited between loading and rendering stops the command with one
line."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.errors import SourceError
from publisher.pipeline.build import build_publication
from publisher.sources import body as body_module
from publisher.sources import load_reviews
from publisher.sources.markdown import markdown_to_html
from publisher.text import excerpt
from tests.fixtures import NOW, write_reviews


class Renders:
    def __init__(self, monkeypatch):
        self.count = 0
        real = body_module.render_prepared

        def render(*args, **kwargs):
            self.count += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(body_module, "render_prepared", render)


def test_loading_renders_no_body_and_a_build_only_those_it_writes(publication, monkeypatch):
    publication.add_config("[feeds]\nlimit = 3\nper_reviewer = false\nper_tag = false\n")
    write_reviews(publication, [{"date": f"2025-{month:02d}-10"} for month in range(1, 13)])
    renders = Renders(monkeypatch)
    catalog = load_reviews(publication.config)
    assert len(catalog.reviews) == 12 and renders.count == 0
    # A first build writes every review's page and its month's archive: each body once.
    build_publication(publication.config, now=NOW)
    assert renders.count == 12
    # An edit to one review (alone in its month): its page, its month's archive and the feed
    # show it again; its neighbours' pages and the indexes only name it. Its body is rendered,
    # and the feed's two other entries' (the feed is written again whole): three, not twelve.
    path = publication.root / "reviews" / "film-12.md"
    path.write_text(path.read_text(encoding="utf-8").replace("number 12", "number twelve"),
                    encoding="utf-8")
    renders.count = 0
    build_publication(publication.config, now=NOW)
    assert renders.count == 3


def test_a_deferred_body_is_what_rendering_at_once_gives(publication):
    write_reviews(publication, [{"summary": None}])
    source = (publication.root / "reviews" / "film-1.md").read_text(encoding="utf-8")
    markdown = source.split("---\n", 2)[2]
    config = publication.config
    review = load_reviews(config).reviews[0]
    assert review.body_html == markdown_to_html(markdown, config.base_url)
    assert review.summary == excerpt(review.body_html, config.newsletter.excerpt_words)
    # A cached review (pickled) computes the same again; what was computed is not pickled.
    again = pickle.loads(pickle.dumps(review))
    assert "_body_html_text" not in again.__dict__
    assert again.body_html == review.body_html and again.summary == review.summary


@pytest.mark.parametrize("marks", [0, 1, 2])
def test_a_body_is_read_from_its_byte_after_byte_order_marks_and_non_ascii_front_matter(
        publication, marks):
    """A clean body is handed to cmark as the file's bytes, from the byte where its first
    character starts: byte-order marks and front matter of two-, three- and four-byte
    characters move it."""
    write_reviews(publication, [{"summary": None, "title": "Amélie — «Ʃ» 🎬 ✓",
                                 "reviewer": "Lucía Ferreira",
                                 "body": "“Quoted” *opening* — é, then [a link](/reviews/)."}])
    path = publication.root / "reviews" / "film-1.md"
    source = path.read_bytes()
    path.write_bytes(b"\xef\xbb\xbf" * marks + source)
    markdown = source.decode("utf-8").split("---\n", 2)[2]
    review = load_reviews(publication.config).reviews[0]
    assert review.body_html == markdown_to_html(markdown, publication.config.base_url)
    assert review.body_html.startswith("<p>“Quoted” <em>opening</em>")
    data = b"\xef\xbb\xbf" * marks + source
    assert body_module.decode(data) == source.decode("utf-8")
    offset = len(body_module.decode(data)) - len(markdown)
    assert data[body_module._byte_offset(data, offset):] == markdown.encode("utf-8")


@given(st.integers(0, 2), st.text(st.sampled_from("ab-\n:\ufeffé—🎬")), st.data())
def test_the_byte_a_character_starts_at_in_ascii_and_other_text(marks, text, data):
    """_byte_offset, which counts ASCII front matter's characters as its bytes, gives the byte
    where ``decode`` puts each character of any text (after any byte-order marks)."""
    source = b"\xef\xbb\xbf" * marks + text.encode("utf-8")
    decoded = body_module.decode(source)
    offset = data.draw(st.integers(0, len(decoded)))
    assert source[body_module._byte_offset(source, offset):] == decoded[offset:].encode("utf-8")


def test_a_body_edited_after_loading_stops_the_command_with_one_line(publication):
    write_reviews(publication, 1)
    review = load_reviews(publication.config).reviews[0]
    path = publication.root / "reviews" / "film-1.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nA new paragraph.\n", encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        review.body_html  # noqa: B018 - reading it renders it
    assert str(caught.value).splitlines()[1] == (
        "reviews/film-1.md: changed while publisher was using it; run the command again")
    path.unlink()
    with pytest.raises(SourceError, match="film-1.md: cannot be read any more"):
        review.body_html  # noqa: B018


@pytest.mark.parametrize("body, clean", [
    ("Plain text, *emphasis* and a [link](/reviews/x/) — with “quotes”.", True),
    ("A non\u00a0breaking space, a bidi \u202econtrol\u202c and a \x01 control.", False),
])
def test_a_body_is_cleaned_when_rendered_only_if_it_needed_cleaning_when_parsed(
        publication, body, clean):
    # The scan for characters to clean is skipped for a body that had none when it was
    # parsed (the same bytes, checked by their sha256); one that had some is cleaned again.
    write_reviews(publication, [{"body": body}])
    config = publication.config
    review = load_reviews(config).reviews[0]
    assert review.__dict__["_body_html"].clean is clean
    assert review.body_html == markdown_to_html(body, config.base_url)
    assert "\u202e" not in review.body_html and "\x01" not in review.body_html


def test_a_summary_cut_at_more_quotes_in_the_publications_language(publication):
    publication.set_language("fr")
    write_reviews(publication, [{"summary": None,
                                 "body": 'Un "film" <em>rare</em>.\n\n<!--more-->\n\nLa suite.'}])
    [review] = load_reviews(publication.config).reviews
    assert review.summary == "Un «\u202ffilm\u202f» rare."
