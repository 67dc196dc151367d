"""The email digest: templates, escaping, subject, text part, markers, lint and size checks.

Golden files: tests/data/golden/digest.html and digest.txt hold the compiled HTML and text of a
fixed issue (tests/fixtures.py's make_issue). After an intended change to the templates,
regenerate them and review the diff:

    PUBLISHER_REGEN_GOLDEN=1 python -m pytest -q tests/render

MRML writes the whole document on one line; the golden copies break it after every '>' that
is followed by '<' so that a diff shows what changed (the comparison uses the same split).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from dataclasses import replace
from datetime import date, timedelta

import pytest

from publisher.errors import TemplateError
from publisher.models import Issue, Trailer, personal_markers
from publisher.pipeline.check import check_digest
from publisher.pipeline.preview import select_reviews
from publisher.render.digest import compose_subject, personalise, preview_values, render_digest
from publisher.render.engine import DEFAULT_TEMPLATES, render_template
from publisher.render.lint import check_digest_html, lint_mjml, lint_templates
from publisher.render.message import preview_message
from publisher.render.sender import Sender
from publisher.render.site import Site
from publisher.text import SUBJECT_MAX, header_text
from tests.fixtures import (
    POSTAL,
    REPO,
    SLOT,
    Page,
    golden,
    make_issue,
    make_review,
    write_films,
    write_png,
    write_reviews,
)

TITLE = "Fast & Furious <Extended Cut>"


@pytest.fixture
def config(publication):
    publication.add_config(f'[newsletter]\npostal_address = "{POSTAL}"\n')
    return publication.config


# --- golden and determinism -------------------------------------------------------------------


def test_compiled_html_and_text_match_the_golden_files(config):
    note = "<p>Welcome to issue three: <em>four</em> films, one of them loud.</p>"
    rendered = render_digest(make_issue(config, note_html=note), Site.from_config(config))
    golden("digest.html", rendered.html)
    golden("digest.txt", rendered.text)


def test_rendering_twice_gives_identical_output(config):
    issue = make_issue(config)
    site = Site.from_config(config)
    first, second = render_digest(issue, site), render_digest(issue, site)
    assert (first.html, first.text, first.subject) == (second.html, second.text, second.subject)


# --- escaping -------------------------------------------------------------------------------


def test_a_title_with_ampersand_and_angle_brackets_comes_out_right_everywhere(config):
    rendered = render_digest(make_issue(config), Site.from_config(config))
    assert rendered.subject == f"Test Reel #3: {TITLE} and 3 more"
    assert "Fast &amp; Furious &lt;Extended Cut&gt;" in rendered.html
    assert "<Extended Cut>" not in rendered.html
    page = Page(rendered.html)
    assert f"{TITLE} (2009)" in page.visible
    assert any(img["alt"] == f"Poster for {TITLE}" for img in page.images)
    assert f"{TITLE} (2009)" in rendered.text.splitlines()
    assert "&amp;" not in rendered.text and "&lt;" not in rendered.text


def test_review_text_is_data_never_template(config):
    issue = make_issue(config, 2)
    tricky = replace(issue.reviews[1], title="{{ 7 * 7 }} {% if true %}yes{% endif %}",
                     summary="{{ config.base_url }} and {# comment #}")
    issue = Issue(number=4, subject="", date=issue.date, reviews=(tricky,))
    rendered = render_digest(issue, Site.from_config(config))
    for output in (rendered.html, rendered.text, rendered.subject):
        assert "{{ 7 * 7 }} {% if true %}yes{% endif %}" in output
        assert "49" not in output
    assert "{{ config.base_url }} and {# comment #}" in rendered.text
    assert "{{ config.base_url }} and {# comment #}" in Page(rendered.html).visible


def test_only_sanitised_html_passes_as_markup(config):
    # The editor's note is HTML sanitised by render.py: it keeps its markup. Review fields are
    # text: markup in them is shown, not obeyed.
    issue = make_issue(config, 1, note_html="<p>Hello <em>there</em></p>")
    sneaky = replace(issue.reviews[0], summary="<script>alert(1)</script> <b>bold</b>")
    issue = Issue(number=3, subject="", date=issue.date, reviews=(sneaky,),
                            note_html=issue.note_html)
    rendered = render_digest(issue, Site.from_config(config))
    assert "<p>Hello <em>there</em></p>" in rendered.html
    assert "<script>" not in rendered.html and "<b>bold</b>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in rendered.html
    assert "Hello there" in rendered.text


# --- the design -------------------------------------------------------------------------------


def test_each_review_card_has_every_part(config):
    issue = make_issue(config)
    rendered = render_digest(issue, Site.from_config(config))
    page = Page(rendered.html)
    images = {img["src"]: img for img in page.images}
    for review in issue.reviews:
        card_text = page.visible
        assert review.title in card_text
        assert f"Reviewed by {review.reviewer}" in card_text
        assert (review.url, f"Read the full review of {review.title}") in page.links
        assert (review.url, review.title) in page.links  # the title links to the permalink too
        if review.poster:
            img = images[review.poster.src]
            assert img["alt"] == review.poster.alt and img["width"] == "150"
    # Stars with a text alternative, credits, logline and excerpt.
    spans = [a for tag, a in page.tags if tag == "span" and a.get("role") == "img"]
    assert [s["aria-label"] for s in spans] == [
        "Rated 3.5 out of 5", "Rated 4 out of 5", "Rated 2.5 out of 5"]
    assert "★★★½" in page.visible and "★★★★" in page.visible
    assert ("Directed by Justin Lin · Starring Vin Diesel, Paul Walker and Michelle Rodriguez"
            in page.visible)
    assert "Directed by Kenji Mori" in page.visible
    assert "Starring Aoife Byrne" in page.visible
    assert "A lighthouse keeper's last winter, told in long, patient takes." in page.visible
    assert "The first act is all surfaces & set-ups" in page.visible


def test_no_two_links_to_different_places_say_the_same_words(config):
    # A screen reader's list of links reads each by its words alone (WCAG 2.4.9): a "Read the
    # full review" under every card was four links that sounded alike and led apart.
    rendered = render_digest(make_issue(config), Site.from_config(config))
    targets: dict[str, set[str]] = {}
    for href, words in Page(rendered.html).links:
        if words:  # a poster's link is named by its image's alt text
            targets.setdefault(words, set()).add(href)
    assert {words: hrefs for words, hrefs in targets.items() if len(hrefs) > 1} == {}
    # The text part keeps the short label: the URL under it says where it goes.
    assert "Read the full review:" in rendered.text
    assert "Read the full review of" not in rendered.text


def test_two_reviews_of_one_title_in_an_issue_are_told_apart_by_year_else_by_reviewer(config):
    # A remake and its original, then one film reviewed twice: four buttons that all said
    # "Read the full review of Halloween" and led to four pages.
    films = [("halloween", 1978, "Zoé Martin"), ("halloween-2018", 2018, "Zoé Martin"),
             ("psycho", 1960, "Sam Okafor"), ("psycho-again", 1960, "Émile Durand")]
    reviews = tuple(make_review(i, config=config, slug=slug,
                                title="Halloween" if i < 2 else "Psycho", reviewer=reviewer,
                                film=replace(make_review().film, year=year))
                    for i, (slug, year, reviewer) in enumerate(films))
    issue = replace(make_issue(config), reviews=reviews)
    page = Page(render_digest(issue, Site.from_config(config)).html)
    buttons = [(href, words) for href, words in page.links if words.startswith("Read the full")]
    assert buttons == [
        (config.permalink("halloween"), "Read the full review of Halloween (1978)"),
        (config.permalink("halloween-2018"), "Read the full review of Halloween (2018)"),
        (config.permalink("psycho"), "Read the full review of Psycho (1960, Sam Okafor)"),
        (config.permalink("psycho-again"),
         "Read the full review of Psycho (1960, Émile Durand)")]
    # A heading's link takes in the year that tells it apart, and so does the inbox's preview.
    assert (config.permalink("halloween"), "Halloween (1978)") in page.links
    assert page.visible.startswith("In this issue: Halloween (1978), Halloween (2018), Psycho "
                                   "(1960, Sam Okafor) and Psycho (1960, Émile Durand)")
    # A title alone in its issue keeps the button's words as they were.
    lone = Page(render_digest(make_issue(config), Site.from_config(config)).html)
    assert (make_issue(config).reviews[1].url, "Read the full review of The Quiet Harbour"
            ) in lone.links


def test_a_rating_of_zero_is_said_in_words(config):
    from decimal import Decimal

    review = replace(make_issue(config, 1).reviews[0], rating=Decimal(0))
    issue = Issue(number=1, subject="s", date=review.date, reviews=(review,))
    rendered = render_digest(issue, Site.from_config(config))
    assert "Rated 0 out of 5" in rendered.text
    assert "Rated 0 out of 5" in Page(rendered.html).visible


def test_excerpt_follows_excerpt_words(publication):
    publication.add_config("[newsletter]\nexcerpt_words = 12\n")
    config = publication.config
    rendered = render_digest(make_issue(config, 1), Site.from_config(config))
    expected = "Fast & Furious <Extended Cut> arrives with more confidence than it has…"
    assert expected in rendered.text.replace("\n", " ")
    assert expected in Page(rendered.html).visible
    assert "slowly, earns it" not in rendered.text


def test_header_preheader_and_footer(config):
    issue = make_issue(config)
    rendered = render_digest(issue, Site.from_config(config))
    page = Page(rendered.html)
    markers = personal_markers(f"{config.base_url}#3")
    assert rendered.markers == markers
    assert page.visible.startswith(
        "In this issue: Fast & Furious <Extended Cut>, The Quiet Harbour, Paper Moons and "
        "Static Bloom")
    preheader = next(a for t, a in page.tags if a.get("class") == "preheader")
    style = preheader["style"]
    for rule in ("display:none", "max-height:0", "overflow:hidden", "mso-hide:all"):
        assert rule in style
    assert "Test Reel" in page.visible and "Issue #3 · 20 November 2026" in page.visible
    assert POSTAL in page.visible
    assert (config.url("issues/3/"), "Read this issue on the web") in page.links
    assert (markers["unsubscribe_url"], "Unsubscribe") in page.links
    assert f"because {markers['email']} subscribed" in page.visible


def test_a_forwarded_issue_shows_its_new_reader_where_to_subscribe(config):
    # A friend who was forwarded an issue found only the forwarder's preferences and
    # unsubscribe links in it, and no way to get their own (Substack, Buttondown and Mailchimp
    # put "forwarded? subscribe" in every issue's footer).
    rendered = render_digest(make_issue(config), Site.from_config(config))
    subscribe = Site.from_config(config).subscribe_url
    page = Page(rendered.html)
    assert (subscribe, "Subscribe") in page.links
    assert "Did someone forward this to you? Subscribe to get Test Reel by email." in page.visible
    text = " ".join(rendered.text.split())
    assert f"Did someone forward this to you? Subscribe to get Test Reel by email. {subscribe}" \
        in text


def test_the_masthead_links_the_site_with_the_pages(publication):
    config = publication.config
    page = Page(render_digest(make_issue(config), Site.from_config(config)).html)
    assert (config.base_url, "Test Reel") in page.links
    # Another site has the pages: base_url only serves the feeds and the issue archive.
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    config = publication.config
    page = Page(render_digest(make_issue(config), Site.from_config(config)).html)
    assert ("https://www.reel.test/", "Test Reel") in page.links


def test_document_is_dark_mode_ready_with_lang_and_no_external_css(publication):
    publication.set_language("en-GB")
    config = publication.config
    html = render_digest(make_issue(config), Site.from_config(config)).html
    page = Page(html)
    metas = {a.get("name"): a.get("content") for t, a in page.tags if t == "meta"}
    assert metas["color-scheme"] == "light dark"
    assert metas["supported-color-schemes"] == "light dark"
    assert re.search(r'<html lang="en-GB" dir="ltr"', html)
    assert "@media (prefers-color-scheme: dark)" in html and "[data-ogsc]" in html
    assert not [a for t, a in page.tags if t == "link"], "no external stylesheets or fonts"
    assert "@import" not in html and "fonts.googleapis" not in html


def test_a_right_to_left_digest_reads_right_to_left_in_every_block(publication):
    publication.set_language("he")
    config = publication.config
    html = render_digest(make_issue(config), Site.from_config(config)).html
    assert re.search(r'<html lang="he" dir="rtl"', html)
    # MJML writes a direction and an alignment into each block, which beat the page's dir.
    assert "direction:ltr" not in html and "direction:rtl" in html
    texts = re.findall(r'<td align="(\w+)"[^>]*style="[^"]*word-break', html)
    assert texts and set(texts) <= {"right", "center"}


def test_titles_and_reviewers_are_isolated_from_the_year_and_words_beside_them(config):
    # A Persian title drew "(2011)" on its left in an English digest. Some mail apps drop
    # <bdi>; a dir attribute on an element they keep isolates as well.
    issue = make_issue(config)
    reviews = [replace(r, title="جدایی نادر از سیمین", reviewer="علی رضایی")
               for r in issue.reviews]
    html = render_digest(replace(issue, reviews=tuple(reviews)), Site.from_config(config)).html
    # Four cards of one title link their years too: the title is isolated inside the link.
    titles = re.findall(r'dir="auto"[^>]*>جدایی نادر از سیمین</', html)
    assert len(titles) == len(reviews)
    assert html.count('<span dir="auto">علی رضایی</span>') == len(reviews)


def test_a_trailer_is_a_link_in_both_parts_never_a_player(config):
    # Mail clients play no iframe (Gmail and Outlook strip it): the video's page, linked.
    issue = make_issue(config, 2)
    with_trailer = replace(issue.reviews[0], trailer=Trailer("vimeo", "76979871"))
    issue = Issue(number=4, subject="", date=issue.date, reviews=(with_trailer, issue.reviews[1]))
    rendered = render_digest(issue, Site.from_config(config))
    watch = "https://vimeo.com/76979871"
    page = Page(rendered.html)
    assert [link for link in page.links if "vimeo" in link[0]] == [
        (watch, f"Watch the trailer for {with_trailer.title}")]
    assert "<iframe" not in rendered.html and "player.vimeo.com" not in rendered.html
    lines = rendered.text.splitlines()
    assert lines[lines.index(watch) - 1] == "Watch the trailer:"
    assert rendered.text.count("vimeo") == 1


def test_text_part_wraps_at_78_columns_and_has_no_markup(config):
    note = "<p>A <strong>long</strong> note. " + "Words " * 40 + "</p>"
    issue = make_issue(config, note_html=note)
    rendered = render_digest(issue, Site.from_config(config))
    for line in rendered.text.splitlines():
        assert len(line) <= 78 or " " not in line, line  # only an unbreakable URL may be longer
    assert not re.search(r"</?(p|a|em|strong|div|span|br|img|table)\b", rendered.text)
    for review in issue.reviews:
        assert review.url in rendered.text.splitlines()
    assert rendered.markers["unsubscribe_url"] in rendered.text.splitlines()
    assert rendered.text.endswith(POSTAL + "\n")


def columns(line: str) -> int:
    """How wide ``line`` is in a monospaced font: East Asian wide characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)


def test_a_japanese_review_goes_out_as_an_excerpt_wrapped_at_78_columns(config):
    paragraph = ("是枝監督の新作は、海辺の小さな町で暮らす三姉妹の一年を静かに描く。"
                 "大きな事件は何も起こらないが、食卓の会話や季節の移ろいの中に、"
                 "家族の記憶と喪失が少しずつ浮かび上がってくる。")
    body = "\n".join([f"<p>{paragraph * 3}</p>"] * 8) + "<p>ネタバレ：長女は家を売る。</p>"
    review = replace(make_issue(config, 1).reviews[0], title="海街の記憶", body_html=body,
                     summary="")
    issue = Issue(number=1, subject="s", date=review.date, reviews=(review,))
    rendered = render_digest(issue, Site.from_config(config))
    # Sixty words' worth of characters (two to a word), not the whole review and its ending.
    excerpt = (paragraph * 2)[:119] + "…"
    assert "ネタバレ" not in rendered.text and "ネタバレ" not in rendered.html
    assert excerpt in Page(rendered.html).visible
    # The text part breaks between characters by their width, no space put between them, and
    # no line starts with a comma or a full stop.
    lines = rendered.text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("是枝"))
    wrapped = lines[first:lines.index("", first)]
    assert "".join(wrapped) == excerpt and len(wrapped) == 4
    assert all(columns(line) <= 78 for line in wrapped)
    assert not [line for line in wrapped if line.startswith(("、", "。"))]


def test_the_editors_note_keeps_paragraphs_lists_and_link_urls_in_the_text_part(config):
    note = ('<p>Read <a href="https://reel.test/interviews/ines/">our interview</a> with the\n'
            'director, or write to <a href="mailto:ed@reel.test">ed@reel.test</a>.</p>\n'
            "<ul>\n<li>One &amp; only</li>\n<li>Two</li>\n</ul>\n"
            '<p>A quote<br>\non two lines <img src="https://reel.test/x.png" alt="(poster)"></p>')
    rendered = render_digest(make_issue(config, 1, note_html=note), Site.from_config(config))
    assert ("Issue #3 · 20 November 2026\n\n"
            "Read our interview (https://reel.test/interviews/ines/) with the director, or\n"
            "write to ed@reel.test.\n\n"
            "- One & only\n- Two\n\n"
            "A quote\non two lines (poster)\n\n---") in rendered.text
    assert (("https://reel.test/interviews/ines/", "our interview")
            in Page(rendered.html).links)


def test_the_editors_note_keeps_the_numbers_of_an_ordered_list_in_the_text_part(config):
    # "Our top three" read "- Paper Moons - 1987 - Winter Ferry" to a text-only reader: the
    # order the list was numbered for was gone.
    note = ("<p>Our top three:</p>\n<ol>\n<li>Paper Moons</li>\n<li>1987</li>\n"
            "<li>Winter Ferry</li>\n</ol>\n"
            '<ol start="9">\n<li>Nine</li>\n<li>Ten, with\n<ul>\n<li>a point</li>\n</ul>\n'
            "</li>\n<li>Eleven</li>\n</ol>\n<ul>\n<li>After</li>\n</ul>")
    rendered = render_digest(make_issue(config, 1, note_html=note), Site.from_config(config))
    assert ("Our top three:\n\n1. Paper Moons\n2. 1987\n3. Winter Ferry\n\n"
            "9. Nine\n10. Ten, with\n- a point\n11. Eleven\n\n- After\n\n") in rendered.text


def test_the_editors_note_keeps_the_no_break_spaces_of_french_quotes_in_the_text_part(config):
    # Made plain, the text part's lines could break after "«" or before "»".
    note = ("<p>Nous avons revu «\u202fLe Rayon vert\u202f» et «\u00a0La Maman et la "
            "Putain\u00a0»\u202f!</p>")
    rendered = render_digest(make_issue(config, 1, note_html=note), Site.from_config(config))
    assert "«\u202fLe Rayon vert\u202f»" in rendered.text
    assert "«\u00a0La Maman et la Putain\u00a0»\u202f!" in rendered.text.replace("\n", " ")


@pytest.mark.parametrize("width", [375, 600])
def test_an_image_in_the_editors_note_fits_the_column_on_a_phone_and_in_outlook(
        publication, browser, width):
    # A festival photo 1,600 pixels wide in the note widened the whole issue to 1,648: every
    # paragraph ran off a phone's screen, in the mail and on its archive page alike.
    from publisher.render.archive import render_issue_page
    from publisher.sources.posters import PosterFacts

    publication.add_config(f'[newsletter]\npostal_address = "{POSTAL}"\n')
    config = publication.config
    (publication.root / "static").mkdir(exist_ok=True)
    write_png(publication.root / "static" / "festival.png", 1600, 900, (90, 140, 200))
    write_png(publication.root / "static" / "badge.png", 80, 40, (200, 90, 60))
    note = (f'<p><img src="{config.url("festival.png")}" alt="The festival crowd"></p>'
            f'<p>Our badge <img src="{config.url("badge.png")}" alt="badge"> and theirs '
            '<img src="https://images.example/wide.png" alt="elsewhere"></p>')
    issue = make_issue(config, 1, note_html=note)
    site = Site.from_config(config)
    facts = PosterFacts(config).facts
    files = {config.url("festival.png"): publication.root / "static" / "festival.png",
             config.url("badge.png"): publication.root / "static" / "badge.png",
             "https://images.example/wide.png": publication.root / "static" / "festival.png"}
    for html in (render_digest(issue, site, facts).html,
                 render_issue_page(issue, site, image_facts=facts).decode("utf-8")):
        images = {img["alt"]: img for img in Page(html).images}
        # Outlook (Word) draws an image at its width attribute, whatever the CSS says: the
        # column's 552 pixels at most, the height in proportion; a small one keeps its size.
        assert (images["The festival crowd"]["width"],
                images["The festival crowd"]["height"]) == ("552", "310")
        assert (images["badge"]["width"], images["badge"]["height"]) == ("80", "40")
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.route("**/*", lambda route: route.fulfill(path=files[route.request.url])
                   if route.request.url in files else route.abort())
        page.set_content(html, wait_until="load")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        boxes = page.evaluate("""() => Object.fromEntries([...document.images].map(
            img => [img.alt, [img.getBoundingClientRect().width, img.naturalWidth]]))""")
        column = min(width, 600) - 48
        assert boxes["The festival crowd"] == [column, 1600]  # loaded, and fitted
        assert boxes["elsewhere"] == [column, 1600]  # its size unknown: fitted by its style
        assert boxes["badge"] == [80, 80]  # never enlarged
        page.close()


@pytest.mark.parametrize("styles", ["kept", "stripped"])
def test_the_editors_note_keeps_its_paragraphs_apart(config, browser, styles):
    # The cards' rule that sets their own paragraphs and titles tight (margin 0) reached the
    # note too: its paragraphs and headings ran together, every break between them gone, in
    # every mail app that reads a <style> block (Gmail, Apple Mail, Outlook). A mail app that
    # strips the block (Gmail for other providers' accounts) keeps its own margins.
    from publisher.render.archive import render_issue_page

    note = ("<p>First paragraph, long enough to wrap on a phone at least once or twice.</p>\n"
            "<p>Second paragraph.</p>\n<h2>A heading</h2>\n<p>Third.</p>\n"
            "<ul>\n<li>A point</li>\n</ul>\n<p>Last.</p>")
    issue = make_issue(config, 1, note_html=note)
    site = Site.from_config(config)
    page = browser.new_page(viewport={"width": 375, "height": 900})
    for html in (render_digest(issue, site).html,
                 render_issue_page(issue, site).decode("utf-8")):
        if styles == "stripped":
            html = re.sub(r"<style\b.*?</style>", "", html, flags=re.S)
        page.set_content(html)
        boxes = page.evaluate("""() => [...[...document.querySelectorAll('td > div')].find(
                d => d.firstElementChild?.tagName === 'P'
                     && d.firstElementChild.textContent.startsWith('First paragraph')
            ).children]
            .map(e => [e.tagName, e.getBoundingClientRect().top,
                       e.getBoundingClientRect().bottom])""")
        assert [tag for tag, _, _ in boxes] == ["P", "P", "H2", "P", "UL", "P"]
        gaps = [round(nxt[1] - prev[2]) for prev, nxt in zip(boxes, boxes[1:], strict=False)]
        assert all(gap >= 8 for gap in gaps), gaps
    page.close()


def test_personal_values_replace_the_markers_escaped_in_html_and_raw_in_text(config):
    rendered = render_digest(make_issue(config), Site.from_config(config))
    values = {"email": "o'brien&co@example.org", "name": "Ana",
              "unsubscribe_url": "https://reel.test/unsubscribe?token=a&list=b"}
    html, text = personalise(rendered, values)
    assert "@@PUB-" not in html and "@@PUB-" not in text
    page = Page(html)
    assert (values["unsubscribe_url"], "Unsubscribe") in page.links
    assert 'href="https://reel.test/unsubscribe?token=a&amp;list=b"' in html
    assert "o&#x27;brien&amp;co@example.org" in html
    assert "\no'brien&co@example.org.\n" in text
    assert values["unsubscribe_url"] in text.splitlines()


# --- subject --------------------------------------------------------------------------------


def test_subject_default_and_single_review(config):
    reviews = make_issue(config, 3).reviews
    site = Site.from_config(config)
    assert compose_subject(site, 7, reviews) == f"Test Reel #7: {TITLE} and 2 more"
    assert compose_subject(site, 8, reviews[1:2]) == "Test Reel #8: The Quiet Harbour"


def test_the_subject_is_in_the_publications_language(publication):
    (publication.root / "templates").mkdir()
    (publication.root / "templates" / "strings.fr.toml").write_text(
        'issue_subject = "{publication} n°{number} : {first_title}"\n'
        'issue_subject_more = { one = "{publication} n°{number} : {first_title} et {n} autre", '
        'other = "{publication} n°{number} : {first_title} et {n} autres" }\n', "utf-8")
    publication.set_language("fr")
    config = publication.config
    reviews = make_issue(config, 3).reviews
    site = Site.from_config(config)
    assert compose_subject(site, 7, reviews) == f"Test Reel n°7 : {TITLE} et 2 autres"
    assert compose_subject(site, 7, reviews[:2]) == f"Test Reel n°7 : {TITLE} et 1 autre"
    assert compose_subject(site, 8, reviews[1:2]) == "Test Reel n°8 : The Quiet Harbour"


def test_subject_template_from_config_sees_titles(publication):
    publication.add_config('[newsletter]\nsubject = "{{ publication }} no. {{ number }}: '
                           '{{ titles | join(\' / \') }}"\n')
    config = publication.config
    reviews = make_issue(config, 2).reviews
    assert (compose_subject(Site.from_config(config), 2, reviews)
            == f"Test Reel no. 2: {TITLE} / The Quiet Harbour")


def test_subject_folds_line_breaks_and_drops_controls_and_bidi_overrides(config):
    evil = make_review(config=config,
                       title="Evil\r\nBcc: victim@example.org\x00\u202egnp.exe\u2066")
    subject = compose_subject(Site.from_config(config), 1, [evil])
    assert subject == "Test Reel #1: Evil Bcc: victim@example.org gnp.exe"
    assert not re.search("[\r\n\x00\u202a-\u202e\u2066-\u2069]", subject)


def test_long_subject_is_cut_at_a_word_near_200_characters(config):
    long_title = " ".join(["Supercalifragilistic"] * 20)
    subject = compose_subject(Site.from_config(config), 1,
                              [make_review(config=config, title=long_title)])
    assert 150 <= len(subject) <= 201 and subject.endswith("Supercalifragilistic…")


def test_a_subject_cut_inside_one_long_word_still_fits_200_characters(config):
    # No space in the last quarter: the cut falls inside the word, and the "…" must fit too,
    # or the mail Subject (cut again at 200) would differ from the digest's <title>.
    title = "Tora! " + "x" * 300
    subject = compose_subject(Site.from_config(config), 1,
                              [make_review(config=config, title=title)])
    assert len(subject) == 200 and subject.endswith("x…")
    assert header_text(subject, SUBJECT_MAX) == subject


def test_a_long_first_title_is_cut_so_the_subject_still_says_how_many_more(config):
    long_title = " ".join(["Supercalifragilistic"] * 20)
    reviews = [make_review(config=config, title=long_title), *make_issue(config, 3).reviews[1:]]
    subject = compose_subject(Site.from_config(config), 1, reviews)
    assert len(subject) <= SUBJECT_MAX
    assert subject.startswith("Test Reel #1: Supercalifragilistic ")
    assert subject.endswith("Supercalifragilistic… and 2 more")


def test_broken_subject_template_names_the_config_key(publication):
    publication.add_config('[newsletter]\nsubject = "{{ publication }"\n')
    config = publication.config
    with pytest.raises(TemplateError, match=r"publisher\.toml: newsletter\.subject"):
        compose_subject(Site.from_config(config), 1, [make_review(config=config)])


def test_a_subject_template_that_fails_as_it_runs_names_the_config_key(publication):
    publication.add_config('[newsletter]\nsubject = "#{{ number / 0 }}"\n')
    config = publication.config
    with pytest.raises(TemplateError) as raised:
        compose_subject(Site.from_config(config), 1, [make_review(config=config)])
    assert str(raised.value) == f"{config.path}: newsletter.subject: division by zero"


# --- templates: overrides, errors, inlining ---------------------------------------------------


def test_publication_templates_override_the_defaults(publication):
    publication.write_template("digest.txt.j2", "Custom: {{ subject }}\n{{ unsubscribe_url }}\n")
    config = publication.config
    rendered = render_digest(make_issue(config), Site.from_config(config))
    assert rendered.text == f"Custom: {rendered.subject}\n{rendered.markers['unsubscribe_url']}\n"
    assert "Read the full review" in rendered.html  # the HTML still comes from the defaults


def test_an_override_can_extend_the_default_of_the_same_name(publication):
    publication.write_template(
        "digest.mjml.j2",
        '{% extends "defaults/digest.mjml.j2" %}\n'
        '{% block head_extra %}<mj-style inline="inline">.dm-film h2 { letter-spacing: 2px; }'
        "</mj-style>{% endblock %}\n")
    config = publication.config
    rendered = render_digest(make_issue(config), Site.from_config(config))
    page = Page(rendered.html)
    assert all("letter-spacing: 2px" in (a["style"] or "") for t, a in page.tags if t == "h2")
    assert (rendered.markers["unsubscribe_url"], "Unsubscribe") in page.links  # inherited


@pytest.mark.parametrize(("name", "source", "part"), [
    # The footer's links written anew, the unsubscribe link forgotten.
    ("digest.mjml.j2", '{% extends "defaults/digest.mjml.j2" %}\n'
     '{% block footer_links %}<a href="{{ archive_url }}">On the web</a>{% endblock %}\n',
     "HTML"),
    ("digest.txt.j2", "{{ subject }}\n{% for card in cards %}{{ card.title }}\n{% endfor %}",
     "text part"),
])
def test_a_digest_without_its_unsubscribe_link_is_a_template_error(publication, name, source,
                                                                   part):
    template = publication.write_template(name, source)
    config = publication.config
    with pytest.raises(TemplateError) as refused:
        render_digest(make_issue(config), Site.from_config(config))
    assert str(refused.value) == (
        f"{template}: the digest's {part} has no unsubscribe link, which every issue "
        "must carry (CAN-SPAM, PECR; Gmail and Yahoo ask it of bulk senders); write "
        "{{ unsubscribe_url }} in it, as the default does")


def test_an_override_that_extends_itself_is_a_template_error(publication):
    publication.write_template("_base.mjml.j2", '{% extends "_base.mjml.j2" %}\n')
    config = publication.config
    with pytest.raises(TemplateError, match=r'in a loop; .*\{% extends "defaults/<name>" %\}'):
        render_digest(make_issue(config), Site.from_config(config))


@pytest.mark.slow
def test_the_wheel_carries_the_default_templates_and_works_outside_the_repository(publication, now,
                                                                                  tmp_path):
    # Build from a copy of the sources, so that setuptools' build/ never lands in the checkout.
    repo = REPO
    src = tmp_path / "src"
    shutil.copytree(repo / "publisher", src / "publisher",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy2(repo / name, src / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w",
                            str(tmp_path / "dist"), str(src)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    # What setuptools calls deprecated it stops building: the license written as a table was
    # to be "no longer supported" after 2027-02-18, and every install from source with it.
    assert not re.findall(r".*deprecated.*", built.stdout + built.stderr, flags=re.I)
    (wheel,) = (tmp_path / "dist").glob("publisher-*.whl")
    with zipfile.ZipFile(wheel) as archive_file:
        names = set(archive_file.namelist())
        archive_file.extractall(tmp_path / "site")
    defaults = sorted(p.name for p in DEFAULT_TEMPLATES.iterdir() if p.is_file())
    assert {"digest.mjml.j2", "digest.txt.j2", "archive.html.j2"} <= set(defaults)
    assert {f"publisher/templates/{name}" for name in defaults} <= names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)  # MIT's terms

    # The unpacked wheel, ahead of this checkout on the path, run from elsewhere for a
    # publication without a templates/ directory: the defaults come from the wheel.
    write_films(publication, 2)
    assert not (publication.root / "templates").exists()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    where = subprocess.run(
        [sys.executable, "-c",
         "from publisher.render.engine import DEFAULT_TEMPLATES; print(DEFAULT_TEMPLATES)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert where.stdout.strip() == str(tmp_path / "site" / "publisher" / "templates")
    preview = subprocess.run(
        [sys.executable, "-m", "publisher", "-C", str(publication.root), "--now",
         now.isoformat(), "digest", "preview", "--text", "--out", str(tmp_path / "d.html")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert preview.returncode == 0, preview.stderr
    assert "Read the full review:\nhttps://reel.test/reviews/film-2/\n" in preview.stdout
    assert "Read the full review" in (tmp_path / "d.html").read_text(encoding="utf-8")


def test_template_errors_name_the_file_and_line(publication):
    template = publication.write_template("digest.txt.j2",
                                          "line one\nline two\n{{ no_such_value }}\n")
    config = publication.config
    with pytest.raises(TemplateError, match=r"digest\.txt\.j2:3: 'no_such_value' is undefined"):
        render_digest(make_issue(config), Site.from_config(config))
    template.write_text("{% if %}\n")
    with pytest.raises(TemplateError, match=r"digest\.txt\.j2:1: "):
        render_digest(make_issue(config), Site.from_config(config))
    # A template it includes that is nowhere: the line that includes it is named too.
    template.write_text("one\n{% include '_nope.txt.j2' %}\n")
    with pytest.raises(TemplateError, match=r"digest\.txt\.j2:2: template '_nope\.txt\.j2' "
                                            r"not found in "):
        render_digest(make_issue(config), Site.from_config(config))


def test_mj_style_inline_rules_are_inlined_after_compiling(publication):
    publication.write_template(
        "digest.mjml.j2",
        '{% extends "_base.mjml.j2" %}\n'
        '{% block head_extra %}<mj-style inline="inline">.dm-film h2 { letter-spacing: 3px; }'
        "</mj-style>{% endblock %}\n"
        "{% block footer_links %}<a href=\"{{ unsubscribe_url }}\">Unsubscribe</a>"
        "{% endblock %}\n")
    config = publication.config
    html = render_digest(make_issue(config), Site.from_config(config)).html
    headings = [a for t, a in Page(html).tags if t == "h2"]
    assert len(headings) == 4
    assert all("letter-spacing: 3px" in (h["style"] or "") for h in headings)
    assert "{ letter-spacing: 3px; }" not in html  # inlined, not left in a <style> block


def test_mjml_compile_errors_are_template_errors(publication):
    publication.write_template(
        "digest.mjml.j2",
        "<mjml><mj-head><mj-html-attributes></mj-html-attributes></mj-head><mj-body>"
        "</mj-body></mjml>")
    config = publication.config
    with pytest.raises(TemplateError, match=r"digest\.mjml\.j2: MJML did not compile"):
        render_digest(make_issue(config), Site.from_config(config))


def test_an_mjml_error_names_the_override_the_rendered_line_and_what_came_before(publication):
    # An element left open in a block of one's own: MRML stumbles on what follows it, at a byte
    # offset into the MJML the templates render, and names no file.
    template = publication.write_template(
        "digest.mjml.j2",
        '{% extends "defaults/digest.mjml.j2" %}\n{% block head_extra %}\n'
        '<mj-attributes><mj-text font-family="Georgia"></mj-attributes>\n{% endblock %}\n')
    config = publication.config
    with pytest.raises(TemplateError) as refused:
        render_digest(make_issue(config), Site.from_config(config))
    message = str(refused.value)
    assert message.startswith(f"{template}: MJML did not compile: ")
    assert re.search(r"\(at 'mj-body', line \d+ of the MJML it renders, after '.*<mj-text "
                     r"font-family=\"Georgia\"></mj-attributes>.*'\); close each mj- element "
                     r"where it opens \(<mj-text …/> or <mj-text>…</mj-text>\), inside the one "
                     r"MJML allows it in$", message), message
    assert "\n" not in message


# --- lint and size checks -------------------------------------------------------------------


def test_default_templates_lint_clean():
    for path in sorted(DEFAULT_TEMPLATES.glob("*.j2")):
        assert lint_mjml(path.read_text(encoding="utf-8"), path.name) == [], path.name


def test_lint_finds_every_mrml_trap_with_file_and_line(publication):
    templates = publication.root / "templates"
    templates.mkdir()
    (templates / "digest.mjml.j2").write_text(
        "<mjml>\n"
        "  <mj-head>\n"
        "    <mj-html-attributes><mj-selector path=\".x\"></mj-selector></mj-html-attributes>\n"
        "    <mj-raw position=\"file-start\"><!-- hi --></mj-raw>\n"
        "  </mj-head>\n"
        "  <mj-body>\n"
        "    <mj-section><mj-column>\n"
        "      <mj-image src=\"{{ src }}\" alt=\"a\" sizes=\"(max-width: 480px) 100vw\" />\n"
        "      <mj-button href=\"{{ url }}\" title=\"Go\">Go</mj-button>\n"
        "      <mj-text colour=\"#123456\" padding=\"0\">{{ x }}</mj-text>\n"
        "      <mj-fancy>?</mj-fancy>\n"
        "    </mj-column></mj-section>\n"
        "  </mj-body>\n"
        "</mjml>\n")
    (templates / "_broken.mjml.j2").write_text("<mjml>\n{% for x in %}\n</mjml>\n")
    (templates / "digest.txt.j2").write_text("{{ subject }}\n")  # fine: no warnings
    warnings = lint_templates(publication.config.templates_path)
    root = str(templates)
    expected = [
        (f"{root}/_broken.mjml.j2:2:", "Jinja syntax error"),
        (f"{root}/digest.mjml.j2:3:", "<mj-html-attributes> makes mjml-python (MRML) fail"),
        (f"{root}/digest.mjml.j2:3:", "<mj-selector> makes mjml-python (MRML) fail"),
        (f"{root}/digest.mjml.j2:4:", 'mj-raw position="file-start"> is not supported'),
        (f"{root}/digest.mjml.j2:8:", "mj-image sizes is dropped"),
        (f"{root}/digest.mjml.j2:9:", "mj-button title is dropped"),
        (f"{root}/digest.mjml.j2:10:", "<mj-text> has no attribute 'colour'"),
        (f"{root}/digest.mjml.j2:11:", "<mj-fancy> is not an MJML tag"),
    ]
    assert len(warnings) == len(expected), warnings
    for (where, what), warning in zip(expected, warnings, strict=True):
        assert warning.startswith(where) and what in warning, warning


def test_lint_names_a_review_value_written_unescaped(publication):
    # A title such as "1987 <Director's Cut> & more" through |safe: the browser takes the
    # words in angle brackets for a tag and shows none of them (and a <script> in one runs).
    templates = publication.root / "templates"
    templates.mkdir()
    (templates / "review.html.j2").write_text(
        '{% extends "defaults/review.html.j2" %}\n{% block main %}\n'
        "<h1>{{ card.title | safe }}</h1>{{ body|safe }}{{ '<hr>'|safe }}\n"
        "{% autoescape false %}<p>{{ card.summary }}</p>{% endautoescape %}\n"
        "{{ super() }}{% endblock %}\n", encoding="utf-8")
    (templates / "digest.txt.j2").write_text("{{ subject|safe }}\n")  # text: nothing to escape
    unescaped = ("writes a review's or the publication's text as HTML, unescaped: a title such "
                 "as \"1987 <Director's Cut>\" loses its words in angle brackets, and a <script> "
                 "in one runs; drop it (what is HTML already, such as body, is written as it is)")
    assert lint_templates(publication.config.templates_path) == [
        f"{templates / 'review.html.j2'}:3: |safe on card.title {unescaped}",
        f"{templates / 'review.html.j2'}:4: autoescape false {unescaped}",
    ]


def test_lint_names_text_written_before_extends(publication):
    # Jinja writes what comes before {% extends %} ahead of the page: before <!doctype html>,
    # which browsers then ignore, laying the page out in quirks mode.
    home = publication.write_template(
        "home.html.j2",
        '{# the home page #}\n<link rel="stylesheet" href="/theme.css">\n'
        '{% extends "defaults/home.html.j2" %}\n')
    publication.write_template(  # a comment and blank lines: nothing written
        "list.html.j2", '{# the lists #}\n\n{% extends "defaults/list.html.j2" %}\n')
    assert lint_templates(publication.config.templates_path) == [
        f"{home}:2: text before {{% extends %}} is written ahead of the "
        "page it extends, before <!doctype html>, and browsers then lay the page out in quirks "
        "mode; move it into a block (head, for a <link>)"]


def test_lint_names_an_extends_whose_template_name_is_not_quoted(publication):
    # Unquoted, "defaults/review.html.j2" is defaults divided by review.html.j2: the build
    # stops on "'review' is undefined", which says nothing of the quotes.
    review = publication.write_template("review.html.j2",
                                        "{% extends defaults/review.html.j2 %}\n")
    publication.write_template(  # a name chosen as it renders: meant
        "list.html.j2", '{% extends "defaults/" ~ "list.html.j2" %}\n')
    assert lint_templates(publication.config.templates_path) == [
        f"{review}:1: {{% extends %}} names its template unquoted, which "
        'Jinja reads as variables divided by each other (one then "is undefined"); quote it: '
        '{% extends "defaults/review.html.j2" %}']


def test_a_template_that_fails_as_it_runs_is_one_line_naming_file_and_line(publication):
    template = publication.write_template(
        "digest.txt.j2",
        "{{ subject }}\n{% for card in cards %}{{ card.title }}: {{ 1 // (card.rating * 0) }}"
        "{% endfor %}\n")
    config = publication.config
    with pytest.raises(TemplateError) as raised:
        render_digest(make_issue(config), Site.from_config(config))
    assert str(raised.value) == f"{template}:2: division by zero"


def test_an_error_in_publishers_own_code_called_by_a_template_stays_a_bug(publication):
    templates = publication.root / "templates"
    templates.mkdir()
    (templates / "x.txt.j2").write_text("{{ broken() }}\n")

    def broken() -> str:
        return str(1 / 0)  # not the template's doing: the traceback is for the code's authors

    with pytest.raises(ZeroDivisionError):
        render_template(templates, "x.txt.j2", {"broken": broken})


def test_lint_without_a_templates_directory_is_quiet(config):
    assert lint_templates(config.templates_path) == []


def test_html_size_warning_above_90_kb(publication):
    publication.add_config("[newsletter]\nexcerpt_words = 400\nmax_reviews = 40\n")
    config = publication.config
    small = render_digest(make_issue(config, 3), Site.from_config(config)).html
    assert check_digest_html(small) == []
    big_issue = make_issue(config, 3)
    wordy = tuple(replace(review, body_html="<p>" + "word " * 400 + "</p>")
                  for review in make_issue(config, 40).reviews)
    big = render_digest(Issue(number=3, subject="", date=big_issue.date,
                                                   reviews=wordy), Site.from_config(config)).html
    size = len(big.encode()) / 1024
    assert size > 90
    (warning,) = check_digest_html(big)
    assert f"digest HTML is {size:.1f} KB" in warning and "102 KB" in warning


def test_images_without_alt_text_are_reported():
    html = ('<p><img src="https://x.test/a.png" alt="A poster">'
            '<img src="https://x.test/b.png"><img src="https://x.test/c.png" alt=" "></p>')
    assert check_digest_html(html) == [
        'digest HTML: <img src="https://x.test/b.png"> has no alt text',
        'digest HTML: <img src="https://x.test/c.png"> has no alt text',
    ]


def test_images_in_formats_mail_apps_do_not_show_are_named():
    # A poster saved as WebP for the site is a broken image in Outlook on Windows, and an SVG
    # one in Gmail and Outlook; the digest went out so without a word.
    html = ('<img src="https://x.test/posters/a.webp" alt="A"><img src="https://x.test/b.WEBP?v=2"'
            ' alt="B"><img src="https://x.test/c.webp" alt="C"><img src="https://x.test/d.webp" '
            'alt="D"><img src="https://x.test/e.svg" alt="E"><img src="https://x.test/f.jpg" '
            'alt="F"><img src="https://x.test/svg/g.png" alt="G">')
    assert check_digest_html(html) == [
        "digest HTML: 4 images are WebP (https://x.test/posters/a.webp, https://x.test/b.WEBP?v=2,"
        " https://x.test/c.webp and 1 more), which Outlook on Windows does not show (their alt "
        "text stands in); a JPEG or PNG shows in every mail app",
        "digest HTML: 1 image is SVG (https://x.test/e.svg), which Gmail and Outlook do not show "
        "(its alt text stands in); a JPEG or PNG shows in every mail app",
    ]


def test_check_digest_reports_size_and_warnings(publication, now):
    write_films(publication, 3)
    from publisher.sources import load_reviews

    config = publication.config
    line, warnings = check_digest(config, load_reviews(config).published(now), now=now)
    assert re.fullmatch(r"digest of 3 reviews: \d+\.\d KB of HTML \(Gmail clips above 102 KB\)",
                        line)
    assert warnings == []


def test_check_digest_warns_without_a_postal_address(publication, now):
    config = publication.config
    line, warnings = check_digest(config, [make_review(config=config)], now=now)
    assert line.startswith("digest of 1 review: ")
    assert warnings == [f"{config.path}: newsletter.postal_address is empty; anti-spam laws "
                        "(CAN-SPAM, PECR) want a contact address in every digest's footer"]


#: The footer of the digest as publishers before the readers' preferences page wrote it: an
#: override copied from one of them then stays as it was through every upgrade.
OLD_FOOTER = """{% extends "defaults/digest.mjml.j2" %}
{% import "_palette.j2" as c %}
{% block footer_links -%}
You are receiving this because {{ email }} subscribed to {{ publication }}.<br>
<a href="{{ archive_url }}" style="color:{{ c.accent }};">Read this issue on the web</a>
&#160;&#183;&#160;
<a href="{{ unsubscribe_url }}" style="color:{{ c.accent }};">Unsubscribe</a>
{%- endblock %}
"""
OLD_TEXT = """{{ publication }}
{% for card in cards %}
{{ card.title }}
{{ card.url }}
{% endfor %}
Read this issue on the web:
{{ archive_url }}

Unsubscribe:
{{ unsubscribe_url }}
"""


def test_check_digest_names_an_override_that_gives_readers_no_preferences_link(publication,
                                                                              now):
    # Each message links to the reader's preferences (name, address, their data); an override
    # from before that page keeps every issue without the link, and the editor would not know.
    publication.add_config('[newsletter]\npostal_address = "1 Main St, Springfield"\n')
    mjml = publication.write_template("digest.mjml.j2", OLD_FOOTER)
    text = publication.write_template("digest.txt.j2", OLD_TEXT)
    config = publication.config
    _, warnings = check_digest(config, [make_review(config=config)], now=now)
    assert warnings == [
        f"{template}: the digest's {part} has no link to the reader's preferences page, where "
        "readers change their name or address and download or erase their data; write "
        "{{ preferences_url }} in it, as the default does"
        for template, part in ((mjml, "HTML"), (text, "text part"))]


# --- choosing reviews and the CLI -----------------------------------------------------------


def test_select_reviews_by_last_and_since(config):
    reviews = list(make_issue(config, 4).reviews)  # published Nov 10..13
    assert select_reviews(reviews, last=2, config=config) == reviews[2:]
    assert select_reviews(reviews[::-1], last=10, config=config) == reviews
    assert select_reviews(reviews, since=date(2026, 11, 12), config=config) == reviews[2:]


def test_cli_preview_writes_html_and_prints_text(publication, tmp_path, cli):
    write_films(publication, 3)
    out = tmp_path / "preview.html"
    result = cli("digest", "preview", "--last", "2", "--out", str(out), "--text")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "The Quiet Harbour" in html and "Paper Moons" in html and "Fast &amp;" not in html
    assert "@@PUB-" not in html and "subscriber@example.org" in html
    assert "Test Reel #1: The Quiet Harbour and 1 more" in result.stderr
    assert "Read the full review:\nhttps://reel.test/reviews/film-3/\n" in result.stdout
    assert "<" not in result.stdout.replace("<Extended Cut>", "")


def test_a_poster_is_shown_at_its_own_size_up_to_150_pixels_with_its_height(publication,
                                                                          tmp_path, cli):
    write_films(publication, 3)
    posters = publication.root / "static" / "posters"
    write_png(posters / "film-2.png", 120, 180, (90, 60, 120))  # smaller: never scaled up
    # A poster elsewhere is not fetched: its size is unknown, and it is shown as before.
    film_3 = publication.root / "reviews" / "film-3.md"
    film_3.write_text(film_3.read_text().replace("posters/film-3.png",
                                                  "https://images.example/film-3.png"))
    out = tmp_path / "preview.html"
    result = cli("digest", "preview", "--last", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    sizes = {img["src"].rsplit("/", 1)[1]: (img["width"], img["height"])
             for img in Page(out.read_text(encoding="utf-8")).images}
    # Numbers a mail client reserves while images are blocked, in the poster's proportions.
    assert sizes == {"film-1.png": ("150", "225"), "film-2.png": ("120", "180"),
                     "film-3.png": ("150", "auto")}


def test_cli_preview_shows_the_next_issue_as_it_would_go_out(publication, cli):
    """Numbered as the next issue, the preview holds what that issue will: not the latest
    reviews, which the issues before it mailed."""
    write_reviews(publication, 3)
    env = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}
    assert cli("run", now=SLOT + timedelta(minutes=5), env=env).exit_code == 0
    write_reviews(publication, 1, first=(SLOT + timedelta(days=2)).date(), prefix="new")
    week = SLOT + timedelta(days=6)
    result = cli("digest", "preview", "--text", now=week)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == "Test Reel #2: New 1"
    assert "New 1" in result.stdout and "Film 3" not in result.stdout
    # A draft composed by hand is what goes out next.
    assert cli("issue", "new", now=week).exit_code == 0
    write_reviews(publication, 2, first=(SLOT + timedelta(days=2)).date(), prefix="new")
    drafted = cli("digest", "preview", "--text", now=week)
    assert drafted.stderr.splitlines()[0] == "Test Reel #2: New 1"
    assert cli("run", now=week + timedelta(days=1, minutes=5), env=env).exit_code == 0
    later = cli("digest", "preview", "--text", now=week + timedelta(days=2))
    assert later.stderr.splitlines()[0] == "Test Reel #3: New 2"
    # Nothing waiting for issue #4 once #3 is out: the latest, said to be only a sample.
    assert cli("run", now=week + timedelta(days=8, minutes=5), env=env).exit_code == 0
    last = cli("digest", "preview", "--text", now=week + timedelta(days=9))
    assert last.exit_code == 0, last.output
    assert last.stderr.splitlines()[:2] == [
        "note: no published review is waiting for issue #4; showing the latest 5 instead",
        "Test Reel #4: Film 1 and 4 more"]


def test_cli_preview_since_and_conflicting_options(publication, cli):
    write_films(publication, 3)
    result = cli("digest", "preview", "--since", "2026-11-12", "--text")
    assert result.exit_code == 0, result.output
    assert "Paper Moons" in result.stdout and "Quiet Harbour" not in result.stdout
    result = cli("digest", "preview", "--since", "2026-11-01", "--last", "1")
    assert result.exit_code == 2 and "not both" in result.output
    result = cli("digest", "preview", "--since", "2027-01-01")
    assert result.exit_code == 1 and "no published reviews match" in result.output


def test_cli_preview_writes_a_message_file(publication, tmp_path, cli):
    import email
    from email import policy

    write_films(publication, 2)
    eml = tmp_path / "preview.eml"
    result = cli("digest", "preview", "--eml", str(eml))
    assert result.exit_code == 0, result.output
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert message["Subject"] == "Test Reel #1: Fast & Furious <Extended Cut> and 1 more"
    html = message.get_body(("html",)).get_content()
    assert "https://reel.test/reviews/film-1/" in html and "@@PUB-" not in html


def test_preview_values_use_the_same_unsubscribe_url_as_the_preview_message(publication):
    publication.add_config('[newsletter]\nunsubscribe_url = "https://lists.example.org/u?l=reel"\n')
    config = publication.config
    rendered = render_digest(make_issue(config, 1), Site.from_config(config))
    sender = Sender.from_config(config)
    values = preview_values(sender)
    url = values["unsubscribe_url"]
    assert url == "https://lists.example.org/u?l=reel&address=subscriber%40example.org&token=preview"
    message = preview_message(rendered, sender, date=rendered.issue.date).decode("ascii")
    assert f"List-Unsubscribe: <{url}>," in message
    html, text = personalise(rendered, values)
    assert url in text.splitlines() and (url, "Unsubscribe") in Page(html).links


def test_a_template_that_does_not_compile_is_explained_by_check_and_preview(publication, cli):
    write_films(publication, 2)
    templates = publication.root / "templates"
    templates.mkdir()
    (templates / "_head.mjml.j2").write_text(
        '<mj-html-attributes><mj-selector path=".dm-card">\n'
        '<mj-html-attribute name="data-x">1</mj-html-attribute></mj-selector>\n'
        "</mj-html-attributes>\n")
    trap = re.compile(r"^warning: .*/templates/_head\.mjml\.j2:1: <mj-html-attributes> makes "
                      r"mjml-python \(MRML\) fail", re.M)

    result = cli("check", "--sources")
    assert result.exit_code == 1
    # named at the override, since the MJML does not compile with it
    assert f"{publication.root}/templates/_head.mjml.j2: MJML did not compile" in result.stderr
    assert "(at 'mj-html-attributes', line " in result.stderr  # what MRML stumbled on
    assert trap.search(result.stderr), result.stderr  # and the lint says why
    assert "1 error, 3 warnings" in result.stdout

    result = cli("digest", "preview")
    assert result.exit_code == 1 and "MJML did not compile" in result.stderr
    assert trap.search(result.stderr), result.stderr


@pytest.mark.parametrize("name", ["archive.html.j2", "archive_index.html.j2",
                                  "archive_atom.xml.j2"])
def test_cli_check_renders_the_archive_templates_too(publication, name, cli):
    write_films(publication, 1)
    templates = publication.root / "templates"
    templates.mkdir()
    (templates / name).write_text("{{ no_such_value }}\n")
    result = cli("check", "--sources")
    assert result.exit_code == 1
    assert re.search(rf"templates/{re.escape(name)}:1: 'no_such_value' is undefined",
                     result.stderr), result.stderr


@pytest.mark.parametrize("option", ["--out", "--eml"])
def test_cli_preview_names_a_file_it_cannot_write(publication, tmp_path, option, cli):
    write_films(publication, 1)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    target = blocker / "preview.out"
    result = cli("digest", "preview", option, str(target))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"error: {target}: cannot write: " in result.stderr


def test_cli_check_reports_digest_size_and_template_warnings(publication, cli):
    write_films(publication, 2)
    templates = publication.root / "templates"
    templates.mkdir()
    (templates / "_card.mjml.j2").write_text(
        (DEFAULT_TEMPLATES / "_card.mjml.j2").read_text().replace(
            '<mj-button href="{{ card.url }}">',
            '<mj-button href="{{ card.url }}" title="Read {{ card.title }}">'))
    result = cli("check", "--sources")
    assert result.exit_code == 0, result.output
    assert re.search(r"^digest of 2 reviews: \d+\.\d KB of HTML", result.stdout, re.M)
    (warning,) = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert re.fullmatch(r"warning: .*/templates/_card\.mjml\.j2:\d+: mj-button title is "
                        r"dropped by mjml-python \(MRML\); put the words in the button text",
                        warning)
    assert "0 errors, 1 warning" in result.stdout
    (templates / "_card.mjml.j2").write_text("{{ card.no_such_field }}")
    result = cli("check", "--sources")
    assert result.exit_code == 1
    assert "_card.mjml.j2:1:" in result.stderr and "no_such_field" in result.stderr


def test_cli_preview_is_numbered_as_the_next_issue(publication, cli):
    """It said "#1" whatever the ledger held; it shows the number the next issue will have,
    read without writing (no ledger: #1, and none is created)."""
    write_films(publication, 3)
    result = cli("digest", "preview", "--text")
    assert "Test Reel #1: " in result.stderr
    assert not (publication.root / ".publisher" / "state.db").exists()
    assert cli("issue", "new").exit_code == 0
    assert cli("issue", "cancel", "1").exit_code == 0  # a cancelled issue keeps its number
    result = cli("digest", "preview", "--text")
    assert result.exit_code == 0, result.output
    assert "Test Reel #2: " in result.stderr


def test_attributes_keep_combining_marks_emoji_and_backslashes(config):
    # MRML writes attribute values in Rust's Debug form: the poster's alt text (what a reader
    # sees with images off) read "Poster for ภาพยนตร\u{e4c} ❤\u{fe0f} AC\\DC".
    title = "ภาพยนตร์ ❤️ AC\\DC Cafe\u0301 👨\u200d👩\u200d👧"
    issue = make_issue(config, 1)
    review = replace(issue.reviews[0], title=title,
                     poster=replace(issue.reviews[0].poster, alt=""))
    issue = Issue(number=4, subject="", date=issue.date, reviews=(review,))
    html = render_digest(issue, Site.from_config(config)).html
    assert "\\u{" not in html and "\\\\" not in html
    assert [img["alt"] for img in Page(html).images] == [f"Poster for {title}"]
    assert f'aria-label="Test Reel #4: {title}"' in html


def test_a_one_review_issue_previews_its_summary_not_its_title_again(config):
    """A twice-weekly newsletter's issues mostly hold one review: its inbox line read
    'Test Reel #5: Fast & Furious <Extended Cut>' then, as the preview, 'In this issue: Fast &
    Furious <Extended Cut>' — the subject twice. The preview line is its summary instead, as
    the newsletters people know put a teaser there, not the subject again."""
    rendered = render_digest(make_issue(config, count=1), Site.from_config(config))
    preheader = Page(rendered.html).visible.split("Test Reel")[0].strip()
    assert preheader == "Cars, family and a heist that forgets to be a heist."
    # A subject of the editor's own that does not name the film: the preview does.
    titled = make_issue(config, count=1, subject="This week at the Reel")
    rendered = render_digest(titled, Site.from_config(config))
    assert Page(rendered.html).visible.startswith(
        "In this issue: Fast & Furious <Extended Cut>")
