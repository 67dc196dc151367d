"""The site's search, as a reader uses it in Chromium: typing finds reviews by film, people or
year whatever the accents, a result leads to its review, the address keeps the query, and the
page for a mistyped address offers to search for what it named. Served by ``publisher
preview``, which answers a missing address with 404.html as static hosts do."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from tests.fixtures import Publication, quoted, write_films, write_reviews
from tests.web.test_preview import Preview

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("chromium") is None,
                       reason="Chromium is not installed (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def page(publication: Publication, browser):
    yield from browse(publication, browser)


def browse(publication: Publication, browser):
    write_films(publication, 3)
    write_reviews(publication, [{"title": quoted("Zimna wojna"), "reviewer": "Łukasz Żuk",
                                 "film": {"year": 2018, "director": "Paweł Pawlikowski",
                                          "starring": ["Joanna Kulig"]}}], prefix="cold-war")
    write_reviews(publication, [{"title": quoted("Le Cœur d’Amélie"),
                                 "film": {"year": 1961, "director": "Éric Œuvray"}}],
                  prefix="coeur")
    with Preview(publication) as preview:
        tab = browser.new_page()
        tab.site = preview.url  # type: ignore[attr-defined]
        yield tab
        tab.close()


def results(page) -> list[str]:
    """The titles of the results shown (each link also holds the year)."""
    return page.locator("#search-results h2 a bdi").all_inner_texts()


def test_typing_finds_reviews_by_film_people_and_year_whatever_the_accents(page):
    page.goto(page.site + "search/")
    page.get_by_label("Film, year, director, cast, reviewer or tag").fill("tomas")
    page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
    assert results(page) == ["The Quiet Harbour"]  # starring Tomás Rey

    page.fill("#q", "diesel")
    page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
    assert "Starring Vin Diesel, Paul Walker and Michelle Rodriguez" in page.locator(
        "#search-results li").inner_text()

    page.fill("#q", "lukasz pawel")  # every word must match: reviewer and director
    page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
    assert results(page) == ["Zimna wojna"]
    assert page.url.endswith("/search/?q=lukasz%20pawel")

    page.fill("#q", "coeur d'amelie oeuvray")  # a ligature and a curly apostrophe, typed plain
    page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
    assert results(page) == ["Le Cœur d’Amélie"]

    page.fill("#q", "2009")
    page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
    assert results(page) == ["Fast & Furious <Extended Cut>"]  # text, never markup
    assert page.locator("#search-results .stars").get_attribute("aria-label") == (
        "Rated 3.5 out of 5")

    page.fill("#q", "no such film")
    page.get_by_role("status").filter(has_text="No review matches “no such film”.").wait_for()
    assert results(page) == []

    page.fill("#q", "")
    assert page.get_by_role("status").inner_text() == "" and results(page) == []
    assert page.url.endswith("/search/")


def test_the_search_box_takes_the_focus_only_if_the_reader_has_not_moved_it(page):
    # The box took the focus when the reviews arrived, wherever the keyboard had got to: a
    # reader tabbing through the header, on a slow connection, was thrown back to it.
    held = []
    page.route("**/search.json", lambda route: held.append(route))
    page.goto(page.site + "search/")
    for _ in range(3):  # the skip link, the site's name, Reviews
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Reviews"
    held[0].continue_()
    page.wait_for_function("!document.getElementById('search-status').textContent")  # in
    assert page.evaluate("document.activeElement.textContent") == "Reviews"

    page.unroute("**/search.json")
    page.goto(page.site + "search/")
    page.wait_for_function("document.activeElement.id === 'q'")  # untouched, it is the box


def test_a_result_leads_to_its_review_and_the_address_keeps_the_query(page):
    page.goto(page.site + "search/?q=harbour")
    assert page.input_value("#q") == "harbour"
    page.get_by_role("link", name="The Quiet Harbour").click()
    page.wait_for_url(page.site + "reviews/film-2/")
    assert page.locator("h1").inner_text().startswith("The Quiet Harbour")
    page.go_back()
    page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
    assert results(page) == ["The Quiet Harbour"]


def test_the_page_for_a_mistyped_address_offers_to_search_for_it(page):
    response = page.goto(page.site + "reviews/quiet-harbor/")
    assert response.status == 404
    assert page.input_value("#q") == "quiet harbor"
    page.fill("#q", "quiet harbour")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search/?q=quiet+harbour")
    page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
    assert results(page) == ["The Quiet Harbour"]


@pytest.fixture
def page_of_slugs(publication: Publication, browser):
    write_reviews(publication, [
        {"slug": "the-lighthouse-keepers-daughter",
         "title": quoted("The Lighthouse Keeper’s Daughter")},
        {"slug": "krylia", "title": quoted("Крылья"), "reviewer": "Ольга Петрова"}])
    yield from browse(publication, browser)


def test_a_search_finds_a_title_by_its_address_and_whatever_its_apostrophes(page_of_slugs):
    # The 404 page offered "lighthouse keepers daughter", which found nothing: the apostrophe
    # of "Keeper’s" was kept, and an address's transliterated words were never searched.
    page = page_of_slugs
    response = page.goto(page.site + "reviews/lighthouse-keepers-daughter/")
    assert response.status == 404 and page.input_value("#q") == "lighthouse keepers daughter"
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/search/?q=lighthouse+keepers+daughter")
    page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
    assert results(page) == ["The Lighthouse Keeper’s Daughter"]
    for query, title in (("keeper's daughter", "The Lighthouse Keeper’s Daughter"),
                         ("krylia", "Крылья"),  # reviews/krylia/
                         ("olga petrova", "Крылья")):  # reviewers/olga-petrova/
        page.fill("#q", query)
        page.get_by_role("status").filter(has_text="1 review matches.").wait_for()
        assert results(page) == [title], query


@pytest.fixture
def page_of_many(publication: Publication, browser):
    write_reviews(publication, [{"tags": "[noir]"} for _ in range(230)], prefix="noir",
                  first=date(2025, 1, 1))
    yield from browse(publication, browser)


def test_a_search_with_more_than_a_hundred_matches_shows_the_rest_when_asked(page_of_many):
    # "noir" finds 3,396 reviews of a 30,000-review site, a film's year hundreds: the page
    # showed the newest 100 and said so, and the rest could not be reached at all.
    page = page_of_many
    page.goto(page.site + "search/?q=noir")
    page.get_by_role("status").filter(
        has_text="230 reviews match; the first 100 are shown.").wait_for()
    assert len(results(page)) == 100 and results(page)[0] == "Noir 230"
    page.get_by_role("button", name="Show 100 more").click()
    page.get_by_role("status").filter(
        has_text="230 reviews match; the first 200 are shown.").wait_for()
    assert results(page)[100] == "Noir 130" and len(results(page)) == 200
    # The keyboard goes on from the first review added, not from the top of the page.
    assert page.evaluate("document.activeElement.textContent") == "Noir 130"
    page.get_by_role("button", name="Show 30 more").click()
    page.get_by_role("status").filter(has_text="230 reviews match.").wait_for()
    assert len(results(page)) == 230 and results(page)[-1] == "Noir 1"
    assert not page.get_by_role("button", name="Show").filter(has_text="more").is_visible()

    page.fill("#q", "noir 2")  # a new search starts again from its first hundred
    page.get_by_role("status").filter(has_text="reviews match").wait_for()
    page.fill("#q", "noir")
    page.get_by_role("status").filter(
        has_text="230 reviews match; the first 100 are shown.").wait_for()
    assert len(results(page)) == 100


def test_every_page_header_leads_to_the_search(page):
    page.goto(page.site)
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Search").click()
    page.wait_for_url(page.site + "search/")
    assert page.locator("#q").is_visible()


FRENCH_SEARCH = """\
search_label = "Film, année, réalisateur, acteurs, critique ou étiquette"
search_matches = { one = "{n} critique correspond.", other = "{n} critiques correspondent." }
search_no_match = "Aucune critique ne correspond à « {query} »."
rated = "Noté {rating}"
rating = "{value} sur 5"
directed_by = "Réalisé par {name}"
starring = "Avec {names}"
"""


@pytest.fixture
def french_page(publication: Publication, browser):
    publication.set_language("fr")
    (publication.root / "templates").mkdir()
    (publication.root / "templates" / "strings.fr.toml").write_text(FRENCH_SEARCH,
                                                                    encoding="utf-8")
    yield from browse(publication, browser)


def test_the_search_speaks_the_sites_language(french_page):
    page = french_page
    page.goto(page.site + "search/")
    page.get_by_label("Film, année, réalisateur, acteurs, critique ou étiquette").fill("2009")
    page.get_by_role("status").filter(has_text="1 critique correspond.").wait_for()
    assert page.locator("#search-results .stars").get_attribute("aria-label") == (
        "Noté 3,5 sur 5")  # the decimal comma: the search index is written in French too
    # The cast joined as French joins a list, as the pages and the digest join it.
    assert "Avec Vin Diesel, Paul Walker et Michelle Rodriguez" in page.locator(
        "#search-results li").inner_text()
    page.fill("#q", "20")  # every year: French plural forms, chosen by Intl.PluralRules
    page.get_by_role("status").filter(has_text="4 critiques correspondent.").wait_for()
    page.fill("#q", "nothing")
    page.get_by_role("status").filter(
        has_text="Aucune critique ne correspond à « nothing ».").wait_for()


def test_a_right_to_left_site_is_as_wide_as_the_window(publication: Publication, browser):
    # The skip link and the form's trap for bots sit 10,000 px off the page's left; in a
    # right-to-left page that side scrolls, and Chromium painted the page blank, 11,200 px wide.
    publication.set_language("he")
    write_reviews(publication, [{"title": quoted("ואלס עם באשיר"), "reviewer": "נועה כהן"}],
                  prefix="waltz")
    with Preview(publication) as preview:
        tab = browser.new_page(viewport={"width": 1000, "height": 800})
        for path in ("", "reviews/waltz-1/", "search/", "atom.xml"):
            tab.goto(preview.url + path)
            assert tab.evaluate("document.documentElement.dir") == "rtl"
            assert tab.evaluate("document.documentElement.scrollWidth") == 1000, path
        tab.close()
