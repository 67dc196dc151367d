"""The importer: exported website-builder pages become review sources that load and build."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import feedparser
import pytest
import yaml

from publisher.errors import PageImportError
from publisher.pipeline.build import build_site
from publisher.sources.catalog import load_reviews
from publisher.sources.importer import (
    case_name,
    case_title,
    escape_markdown,
    film_named_by,
    format_result,
    humanise_filename,
    import_page,
    parse_page,
)
from publisher.sources.markdown import markdown_to_html
from publisher.sources.schema import parse_review
from publisher.text import html_to_text
from tests.fixtures import DATA, run_cli

PAGES = DATA / "pages"
NBSP = "\u00a0"


def page(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def parse(text: str, path: str = "page.txt"):
    return parse_page(page(text), path=path)


def write_page(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(page(text), encoding="utf-8")
    return path


def front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def body_of(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("---\n", 2)[2].strip()


MINIMAL = """
    REVIEWER: ann lee

    The logline.

    The body.
"""


# --- the sample pages, end to end ---------------------------------------------------------

SAMPLE_EXPECTATIONS = {
    "the-cartographers-winter.txt": {
        "reviewer": "Theo McAndrew",
        "director": "Imogen van der Linde",
        "credits": ("Paper Lanterns", "The Second Winter"),
        "starring": ("Fergus McBride", "Siobhan O'Rourke", "Lucía de la Fuente", "Tobias Wren"),
        "summary_start": "Two rival mapmakers",
        "paragraphs": 4,
        "availability": "The Cartographer's Winter is available to stream on most subscription "
                        "services from Friday.",
        "title": "The Cartographer's Winter",  # the file name lost the apostrophe
    },
    "night-bus-to-varna.txt": {
        "reviewer": "Mira O'Hanlon",
        "director": "",
        "credits": (),
        "starring": ("Ada Kowalczyk", "Benedikt von Hallberg"),
        "summary_start": "A night-shift driver",
        "paragraphs": 4,
        "availability": "",
        "title": "Night Bus to Varna",  # no closing line: from the file name
    },
    "quiet-harvest.txt": {
        "reviewer": "Nadia van der Meer",
        "director": "Hamish Macleod-Brown",
        "credits": ("The Fen", "Paper Boats"),
        "starring": ("Jean-Paul Asante", "Ciaran O'Donnell", "Rosalind McKenna",
                     "Tomas de la Vega Jr."),
        "summary_start": "A widowed farmer",
        "paragraphs": 3,
        "availability": "Quiet Harvest is now available on DVD and Blu-ray, and to rent online.",
        "title": "Quiet Harvest",
    },
}


def test_every_sample_page_has_expectations():
    assert sorted(p.name for p in PAGES.glob("*.txt")) == sorted(SAMPLE_EXPECTATIONS)


@pytest.mark.parametrize("name", sorted(SAMPLE_EXPECTATIONS))
def test_sample_pages_parse(name):
    expected = SAMPLE_EXPECTATIONS[name]
    parsed = parse_page((PAGES / name).read_text(encoding="utf-8-sig"), path=name)
    assert parsed.reviewer == expected["reviewer"]
    assert parsed.director == expected["director"]
    assert parsed.credits == expected["credits"]
    assert parsed.starring == expected["starring"]
    assert parsed.summary.startswith(expected["summary_start"])
    assert len(parsed.paragraphs) == expected["paragraphs"]
    assert parsed.availability == expected["availability"]
    everything = [parsed.summary, parsed.availability, *parsed.paragraphs]
    assert not any(NBSP in s or "  " in s or s != s.strip() for s in everything)
    assert not any("of page" in s for s in everything)
    assert parsed.availability not in parsed.paragraphs


@pytest.mark.parametrize("name", sorted(SAMPLE_EXPECTATIONS))
def test_every_imported_sample_page_loads_through_sources(publication, now, name):
    result = import_page(PAGES / name, publication.config, date="2026-03-06", now=now)
    assert result.path.parent == publication.root / "reviews"
    assert not result.draft and result.missing == ()
    catalog = load_reviews(publication.config, cache=False)
    (review,) = catalog.reviews
    expected = SAMPLE_EXPECTATIONS[name]
    assert review.title == expected["title"]
    assert review.slug == result.path.stem
    assert review.reviewer == expected["reviewer"]
    assert review.film.director == expected["director"]
    assert review.film.starring == expected["starring"]
    assert review.film.credits == expected["credits"]
    assert review.availability == expected["availability"]
    assert review.summary.startswith(expected["summary_start"])
    assert review.body_html.count("<p>") == expected["paragraphs"] + 1  # the logline first
    assert review.date == datetime(2026, 3, 6, tzinfo=publication.config.tz)
    assert review.id == f"tag:reel.test,2026-03-06:{review.slug}"
    assert catalog.published(now) == (review,)


def test_all_sample_pages_together_load_and_build(publication, now):
    for path in sorted(PAGES.glob("*.txt")):
        import_page(path, publication.config, date="2026-03-06", now=now)
    catalog = load_reviews(publication.config, cache=False)
    assert len(catalog.reviews) == len(SAMPLE_EXPECTATIONS)
    report = build_site(publication.config, now=now)
    assert "feed.xml" in report.written
    feed = feedparser.parse((publication.config.output_path / "feed.xml").read_bytes())
    assert feed.bozo == 0
    assert sorted(e.id for e in feed.entries) == sorted(r.id for r in catalog.reviews)
    assert {e.author for e in feed.entries} == {e["reviewer"] for e in
                                                SAMPLE_EXPECTATIONS.values()}


def test_the_logline_the_old_page_showed_is_on_the_review_page_and_in_the_feed(publication,
                                                                              now):
    """The page showed its logline above the review; as the summary alone it was on no review
    page and in no feed entry's content, only in lists, link previews and the digest."""
    result = import_page(PAGES / "quiet-harvest.txt", publication.config, date="2026-03-06",
                         now=now)
    logline = front_matter(result.path)["summary"]
    build_site(publication.config, now=now)
    review_page = (publication.config.output_path / "reviews" / result.path.stem /
                   "index.html").read_text(encoding="utf-8")
    body = review_page.split('<div class="body">', 1)[1].split("</div>", 1)[0]
    assert unsmarten(html_to_text(body)).startswith(logline + " The premise is familiar")
    feed = feedparser.parse((publication.config.output_path / "feed.xml").read_bytes())
    (entry,) = feed.entries
    assert logline + " The premise is familiar" in unsmarten(html_to_text(entry.content[0].value))


def test_the_markdown_body_renders_back_to_the_page_text(publication, now):
    result = import_page(PAGES / "night-bus-to-varna.txt", publication.config,
                         date="2026-03-06", now=now)
    parsed = parse_page((PAGES / "night-bus-to-varna.txt").read_text(encoding="utf-8"),
                        path="night-bus-to-varna.txt")
    review = parse_review(result.path.read_text(encoding="utf-8"), path="reviews/x.md",
                          config=publication.config)
    rendered = [html_to_text(p) for p in review.body_html.split("</p>") if p.strip()]
    assert [unsmarten(r) for r in rendered] == [parsed.summary, *parsed.paragraphs]
    assert "<EXIT>" in rendered[2] and "[sic]" in rendered[3] and "&amp;" in rendered[4]
    assert "<h1" not in review.body_html and "<li" not in review.body_html
    assert "<em>" not in review.body_html


# --- casing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("oliver mcallister", "Oliver McAllister"),
        ("dane o'connell", "Dane O'Connell"),
        ("dane o’connell", "Dane O’Connell"),
        ("DANE O'CONNELL", "Dane O'Connell"),
        ("greta van der berg", "Greta van der Berg"),
        ("GRETA VAN DER BERG", "Greta van der Berg"),
        ("ana de la torre", "Ana de la Torre"),
        ("ludwig von trier", "Ludwig von Trier"),
        ("rosa delgado-whyte", "Rosa Delgado-Whyte"),
        ("mary-kate o'brien-mcgee", "Mary-Kate O'Brien-McGee"),
        ("j.k. simmons", "J.K. Simmons"),
        ("tomas vega jr.", "Tomas Vega Jr."),
        ("henry cavendish iii", "Henry Cavendish III"),
        ("zoë åberg", "Zoë Åberg"),
        ("sam okafor", "Sam Okafor"),
        # written in mixed case: the writer's casing is kept
        ("DeShawn MacLeod", "DeShawn MacLeod"),
        ("Greta Van Der Berg", "Greta Van Der Berg"),
        ("oliver McAllister", "Oliver McAllister"),
        # a particle is capitalised as the first or last word
        ("de niro", "De Niro"),
        ("anna de", "Anna De"),
        # 'Mac' is ambiguous (Mack, Macy): not split
        ("mack macy", "Mack Macy"),
        ("  sam   okafor ", "Sam Okafor"),
    ],
)
def test_case_name(written, expected):
    assert case_name(written) == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("the long way down", "The Long Way Down"),
        ("tin roof", "Tin Roof"),
        ("THE FEN", "The Fen"),
        ("a tale of two cities", "A Tale of Two Cities"),
        ("alien: the return", "Alien: The Return"),
        ("what we talk about", "What We Talk About"),
        ("rocky ii", "Rocky II"),
        ("the FBI story", "The FBI Story"),
        ("Paper Boats", "Paper Boats"),
        ("twenty-one grams", "Twenty-One Grams"),
    ],
)
def test_case_title(written, expected):
    assert case_title(written) == expected


@pytest.mark.parametrize(
    ("language", "written", "expected"),
    [
        ("fr", "cléo de 5 à 7", "Cléo de 5 à 7"),
        ("fr", "les glaneurs et la glaneuse", "Les Glaneurs et la Glaneuse"),
        ("de", "alice in den städten", "Alice in den Städten"),
        ("de", "der himmel über berlin", "Der Himmel über Berlin"),
        ("de-AT", "die blechtrommel", "Die Blechtrommel"),
        ("fr", "the long way down", "The Long Way Down"),
    ],
)
def test_case_title_keeps_the_small_words_of_the_publications_language_small(
        language, written, expected):
    assert case_title(written, language) == expected


def test_a_french_page_cases_the_directors_films_and_a_title_from_its_file_name_in_french(
        tmp_path, publication, now):
    publication.set_language("fr")
    source = write_page(tmp_path, "les-glaneurs-et-la-glaneuse.txt", """
        Réalisateur : agnès varda (cléo de 5 à 7, le bonheur)
        Critique : claire dubois

        Une glaneuse.
    """)
    result = import_page(source, publication.config, now=now)
    data = front_matter(result.path)
    assert data["title"] == "Les Glaneurs et la Glaneuse"
    assert data["film"]["credits"] == ["Cléo de 5 à 7", "Le Bonheur"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("salt-harbour.txt", "Salt Harbour"),
        ("night_bus_to_varna.txt", "Night Bus to Varna"),
        ("1917.txt", "1917"),
        ("no.txt", "No"),
        ("The Long Goodbye.txt", "The Long Goodbye"),
    ],
)
def test_humanise_filename(name, expected):
    assert humanise_filename(Path(name)) == expected


@pytest.mark.parametrize(
    ("line", "film"),
    [
        ("Salt Harbour is available to rent or buy from all major digital storefronts.",
         "Salt Harbour"),
        ("The Cartographer's Winter is now available on DVD.", "The Cartographer's Winter"),
        ("“Salt Harbour” (2024) is available to stream.", "Salt Harbour"),
        ("*Alien: Romulus* is available on Disney+.", "Alien: Romulus"),
        ("Mr. Smith Goes to Washington is available on Blu-ray.", "Mr. Smith Goes to Washington"),
        ("2046 is available to rent.", "2046"),
        # Not a film's name: the closing line says nothing of which film.
        ("The film is now available on DVD.", ""),
        ("This documentary is available to stream.", ""),
        ("It is available to rent from Friday.", ""),
        ("We loved every minute. Salt Harbour is available to rent.", ""),
        ("Both films are available on DVD.", ""),
        ("salt harbour is available to rent.", ""),
        ("Available to rent from Friday.", ""),
    ],
)
def test_the_closing_line_names_the_film_or_nothing(line, film):
    assert film_named_by(line) == film


@pytest.mark.parametrize(
    ("language", "line", "film"),
    [
        ("fr", "Sans toit ni loi est disponible en VOD sur toutes les plateformes.",
         "Sans toit ni loi"),
        ("fr", "« Le Mépris » est désormais disponible en Blu-ray.", "Le Mépris"),
        ("fr", "Le film est disponible en DVD.", ""),
        ("fr", "Il est disponible en VOD.", ""),
        ("fr", "L’intégrale est disponible en coffret.", "L’intégrale"),
        ("de", "Der Himmel über Berlin ist ab sofort auf DVD und Blu-ray erhältlich.",
         "Der Himmel über Berlin"),
        ("de", "„M – Eine Stadt sucht einen Mörder“ ist jetzt verfügbar.",
         "M – Eine Stadt sucht einen Mörder"),
        ("de", "Der Film ist auf DVD erhältlich.", ""),
        ("de", "Salt Harbour is available to rent.", "Salt Harbour"),
        ("en", "Sans toit ni loi est disponible en VOD.", ""),
    ],
)
def test_the_closing_line_names_the_film_in_the_publications_language_too(language, line, film):
    assert film_named_by(line, language) == film


def test_a_page_whose_closing_line_names_the_film_is_titled_from_it(tmp_path, publication, now):
    source = write_page(tmp_path, "wix-review-page.txt", MINIMAL.rstrip() + "\n\n"
                        "    Salt Harbour is available to rent or buy from all major digital "
                        "storefronts.\n")
    result = import_page(source, publication.config, date="2026-03-06", now=now)
    assert result.path.name == "salt-harbour.md"
    assert front_matter(result.path)["title"] == "Salt Harbour"
    assert result.notes[0] == ("title 'Salt Harbour' was read from the line 'Salt Harbour is "
                               "available to rent or buy from all major dig…'; check it (or "
                               "import again with --title and --force)")


# --- parsing rules -------------------------------------------------------------------------


def test_page_chrome_is_dropped_and_nbsps_are_normalised():
    parsed = parse(f"""
        top of page
        Top Of Page
        REVIEWER:{NBSP}ann{NBSP}{NBSP}lee{NBSP}
        {NBSP}
        The{NBSP}logline.{NBSP}{NBSP}
        {NBSP}{NBSP}
        One\u202fbody\u200b paragraph.
        bottom of page
    """)
    assert parsed.reviewer == "Ann Lee"
    assert parsed.summary == "The logline."
    assert parsed.paragraphs == ("One body paragraph.",)


#: What Wix and WordPress put after a post, as their text exports carry it.
WIX_FOOTER = ("Share\n\nFacebook\nTwitter\nLinkedIn\n\nRecent Posts\n\nSee All\n\n"
              "12 views0 comments\n\nWrite a comment\n\nPost not marked as liked\n")
WORDPRESS_FOOTER = "Share this:\n\nTwitter\nFacebook\n\nLike this:\n\nLike Loading...\n\n" \
                   "Related\n\nLeave a Reply Cancel reply\n"


@pytest.mark.parametrize("footer", [WIX_FOOTER, WORDPRESS_FOOTER], ids=["wix", "wordpress"])
def test_the_share_and_comment_lines_after_the_review_are_left_out(tmp_path, publication, now,
                                                                   footer):
    text = page(MINIMAL) + "\nLow Tide is available to rent.\n\n" + footer + "\nbottom of page\n"
    source = write_page(tmp_path, "page-12.txt", text)
    result = import_page(source, publication.config, date="2024-03-03", now=now)
    assert result.path.name == "low-tide.md"  # the closing line named the film
    assert body_of(result.path) == "The logline.\n\nThe body."
    assert front_matter(result.path)["availability"] == "Low Tide is available to rent."
    assert any(note.startswith("left out the page's closing lines") for note in result.notes)


def test_a_review_ending_in_a_word_of_the_footer_keeps_it():
    parsed = parse("REVIEWER: ann lee\n\nThe logline.\n\nIts last word:\n\nShare.\n")
    assert parsed.paragraphs == ("Its last word:", "Share.")
    assert not parsed.notes[1:]


def test_director_gives_name_and_earlier_credits():
    parsed = parse("""
        Director: rosa delgado-whyte (the long way down, tin roof, …)
        REVIEWER: ann lee
        Logline.
    """)
    assert parsed.director == "Rosa Delgado-Whyte"
    assert parsed.credits == ("The Long Way Down", "Tin Roof")


@pytest.mark.parametrize(
    ("line", "director", "credits"),
    [
        ("Director: ann hui", "Ann Hui", ()),
        ("director: ann hui ()", "Ann Hui", ()),
        ("Directed by: ann hui (Boat People; 'summer snow')", "Ann Hui", ("Boat People",
                                                                         "Summer Snow")),
        ("Director: joel coen and ethan coen (fargo", "Joel Coen and Ethan Coen", ("Fargo",)),
        ("Director: ann hui (the way we are, etc.)", "Ann Hui", ("The Way We Are",)),
    ],
)
def test_director_line_variants(line, director, credits):
    parsed = parse(f"{line}\nREVIEWER: x y\n\nLogline.\n")
    assert (parsed.director, parsed.credits) == (director, credits)


def test_a_page_without_a_director_says_so_in_the_notes():
    parsed = parse(MINIMAL)
    assert parsed.director == "" and parsed.credits == ()
    assert any("Director" in note for note in parsed.notes)


@pytest.mark.parametrize(
    ("line", "cast"),
    [
        ("Starring: a b, c d, e f, and g h", ("A B", "C D", "E F", "G H")),
        ("Starring: anna lee, bo kim and cy young.", ("Anna Lee", "Bo Kim", "Cy Young")),
        ("STARRING: ALEXANDRA ANDERSON AND ANDY SANDS", ("Alexandra Anderson", "Andy Sands")),
        ("starring: anna lee & bo kim", ("Anna Lee", "Bo Kim")),
        ("Cast: solo artist", ("Solo Artist",)),
        ("Starring: j. k. simmons, and mo o'neill jr.", ("J. K. Simmons", "Mo O'Neill Jr.")),
        # As other sites and other hands separated them: each name its own, not one long one
        ("Starring: ann hui / tony leung / maggie cheung", ("Ann Hui", "Tony Leung",
                                                            "Maggie Cheung")),
        ("Cast: ann hui; tony leung", ("Ann Hui", "Tony Leung")),
        ("Cast: Ann Hui • Tony Leung · Maggie Cheung | Carina Lau",
         ("Ann Hui", "Tony Leung", "Maggie Cheung", "Carina Lau")),
    ],
)
def test_starring_gives_the_cast_list_properly_cased(line, cast):
    parsed = parse(f"{line}\nREVIEWER: x y\n\nLogline.\n")
    assert parsed.starring == cast


@pytest.mark.parametrize("line", ["REVIEWER: sam okafor", "Reviewer: sam okafor",
                                  "reviewer : SAM OKAFOR", "ReViEwEr:sam okafor",
                                  "Reviewed by: sam okafor", "REVIEWER: by sam okafor",
                                  "Author: By Sam Okafor"])
def test_reviewer_line_in_any_case(line):
    assert parse(f"{line}\n\nLogline.\n").reviewer == "Sam Okafor"


def test_header_lines_come_in_any_order_with_or_without_blank_lines():
    parsed = parse("""
        REVIEWER: ann lee
        Starring: bo kim
        Director: cy young
        Logline on the next line.
        Still the logline.

        Body.
    """)
    assert (parsed.reviewer, parsed.starring, parsed.director) == ("Ann Lee", ("Bo Kim",),
                                                                   "Cy Young")
    assert parsed.summary == "Logline on the next line. Still the logline."


def test_first_paragraph_is_the_logline_and_the_rest_the_body_paragraphs_kept():
    parsed = parse("""
        REVIEWER: ann lee


        The logline,
        wrapped over two lines.



        First body paragraph.

        Second body paragraph,
        also wrapped.
        And a third line.
        {NBSP}
        Third body paragraph.
    """.replace("{NBSP}", NBSP))
    assert parsed.summary == "The logline, wrapped over two lines."
    assert parsed.paragraphs == (
        "First body paragraph.",
        "Second body paragraph, also wrapped. And a third line.",
        "Third body paragraph.",
    )


def test_windows_line_endings_and_a_bom_are_fine(tmp_path, publication, now):
    source = write_page(tmp_path, "film.txt",
                        "\ufeffREVIEWER: ann lee\r\n\r\nLogline.\r\n\r\nBody one.\r\n".encode())
    result = import_page(source, publication.config, date="2026-01-02", now=now)
    assert front_matter(result.path)["reviewer"] == "Ann Lee"
    assert body_of(result.path) == "Logline.\n\nBody one."


def test_a_closing_is_available_line_becomes_availability_not_body():
    parsed = parse("""
        REVIEWER: ann lee

        Logline.

        Body.

        The Film is available to rent from Friday.
    """)
    assert parsed.availability == "The Film is available to rent from Friday."
    assert parsed.paragraphs == ("Body.",)


@pytest.mark.parametrize(
    "text",
    [
        # not the closing paragraph
        "REVIEWER: a b\n\nLogline.\n\nThe film is available in cinemas.\n\nThe end.\n",
        # the closing paragraph, but a wrapped paragraph of body text
        "REVIEWER: a b\n\nLogline.\n\nEvery frame is available\nlight and nothing else.\n",
        # no 'is available' at all
        "REVIEWER: a b\n\nLogline.\n\nBody.\n\nStreaming on every service soon.\n",
    ],
)
def test_availability_is_only_a_closing_is_available_line(text):
    parsed = parse_page(text, path="p.txt")
    assert parsed.availability == ""


def test_a_year_header_gives_the_film_year():
    assert parse("Year: 2024\nREVIEWER: a b\n\nLogline.\n").year == 2024


RICH = """
    top of page
    Title: The Long Goodbye
    Published: Sunday, March 3rd, 2024
    Director: robert altman
    Rating: ★★★★½
    Running time: 1h 52m
    Rated: 15
    Genre: Crime / Neo-noir
    REVIEWER: ann lee

    The logline.

    The body.
    bottom of page
"""


def test_a_page_that_names_the_film_date_and_rating_imports_ready_to_publish(
        tmp_path, publication, now):
    source = write_page(tmp_path, "page-17.txt", RICH)
    result = import_page(source, publication.config, now=now)
    assert (result.missing, result.draft, result.notes) == ((), False, ())
    assert result.path == publication.root / "reviews" / "the-long-goodbye.md"
    assert front_matter(result.path) == {
        "id": "tag:reel.test,2024-03-03:the-long-goodbye",
        "title": "The Long Goodbye",
        "date": "2024-03-03",
        "reviewer": "Ann Lee",
        "film": {"director": "Robert Altman", "runtime": 112, "classification": "15"},
        "rating": 4.5,
        "summary": "The logline.",
        "tags": ["Crime", "Neo-noir"],
    }
    (review,) = load_reviews(publication.config, cache=False).reviews
    assert (review.title, review.rating, review.film.runtime, review.tags) == (
        "The Long Goodbye", Decimal("4.5"), 112, ("Crime", "Neo-noir"))


@pytest.mark.parametrize("title", [
    "THX 1138", "JFK", "RRR", "TÁR", "M3GAN", "M*A*S*H", "mother!"])
def test_a_title_line_is_kept_as_written(tmp_path, publication, now, title):
    # An editor typed it into a field: its casing is theirs, as --title's is (only a title
    # guessed from a file name is recased).
    source = write_page(tmp_path, "page.txt", f"Title: {title}\nDirector: a b\n{MINIMAL}")
    result = import_page(source, publication.config, now=now)
    assert (front_matter(result.path)["title"], result.notes) == (title, ())


@pytest.mark.parametrize("line", ["Title: Salt Harbour (2019)",
                                  "Title: Salt Harbour (2019)\nYear: 2019",
                                  "Title: Salt Harbour [2019]"])
def test_a_year_in_brackets_after_the_title_is_the_films_year(tmp_path, publication, now, line):
    """Sites write the year after the title ("Salt Harbour (2019)"), as publisher's pages show
    it: kept in the title it showed twice there ("Salt Harbour (2019) (2019)" once the year is
    filled in) and was no film.year for the page's data and search."""
    source = write_page(tmp_path, "page.txt", f"{line}\n{page(MINIMAL)}")
    result = import_page(source, publication.config, date="2024-03-03", now=now)
    assert result.path.name == "salt-harbour.md"
    data = front_matter(result.path)
    assert (data["title"], data["film"]["year"]) == ("Salt Harbour", 2019)


def test_a_year_in_brackets_that_is_not_the_year_lines_is_an_error():
    with pytest.raises(PageImportError) as exc:
        parse(f"Title: Halloween (2018)\nYear: 1978\n{MINIMAL}")
    assert str(exc.value) == ("page.txt:1: Title: the year after the title (2018) is not the "
                              "Year: line's (1978, line 2); keep the film's")


def test_the_title_and_date_options_win_over_the_pages_own(tmp_path, publication, now):
    source = write_page(tmp_path, "page-17.txt", RICH)
    result = import_page(source, publication.config, title="The Long Goodbye (1973)",
                         date="2026-03-06", now=now)
    data = front_matter(result.path)
    assert (data["title"], data["date"]) == ("The Long Goodbye (1973)", "2026-03-06")


@pytest.mark.parametrize(("written", "day"), [
    ("2024-03-03", "2024-03-03"), ("March 3, 2024", "2024-03-03"),
    ("3rd March 2024", "2024-03-03"), ("Sun, Mar 3, 2024", "2024-03-03"),
    ("Mar. 3, 2024", "2024-03-03"), ("September 9, 2023", "2023-09-09"),
    ("9 Sept 2023", "2023-09-09"), ("Saturday 9 September, 2023", "2023-09-09"),
])
def test_a_date_line_in_words_or_iso_gives_the_day(written, day):
    assert parse(f"Date: {written}\n{MINIMAL}").date == day


@pytest.mark.parametrize(("written", "when"), [
    # WordPress's default date and time, and Squarespace's
    ("March 3, 2024 at 10:15 am", "2024-03-03T10:15:00"),
    ("March 3, 2024 at 9:05 PM", "2024-03-03T21:05:00"),
    ("3 March 2024, 12:30 am", "2024-03-03T00:30:00"),
    ("Mar 3, 2024 14:45", "2024-03-03T14:45:00"),
])
def test_a_date_line_with_its_time_gives_the_time_too(tmp_path, publication, now, written, when):
    assert parse(f"Date: {written}\n{MINIMAL}").date == when
    source = write_page(tmp_path, "page.txt", f"Date: {written}\n{page(MINIMAL)}")
    result = import_page(source, publication.config, now=now)
    assert (front_matter(result.path)["date"], result.draft) == (when, False)
    (review,) = load_reviews(publication.config, cache=False).reviews
    assert review.date.isoformat().startswith(when)


@pytest.mark.parametrize(("written", "day"), [
    ("03.03.2024", "2024-03-03"), ("3.4.2024", "2024-04-03"), ("31.12.2019", "2019-12-31"),
    ("2024/03/04", "2024-03-04")])
def test_a_date_line_with_full_stops_is_day_month_year(written, day):
    # Only Germany, Central and Eastern Europe write dates so, always day first; with slashes
    # (03/04/2024) the day and the month cannot be told apart, and that stays an error.
    assert parse(f"Date: {written}\n{MINIMAL}").date == day


@pytest.mark.parametrize(("language", "written", "day"), [
    ("fr", "3 mars 2024", "2024-03-03"), ("fr", "1er mars 2024", "2024-03-01"),
    ("fr", "dimanche 3 mars 2024", "2024-03-03"), ("fr", "3 févr. 2024", "2024-02-03"),
    ("fr", "3 fevrier 2024", "2024-02-03"), ("fr", "March 3, 2024", "2024-03-03"),
    ("de", "3. März 2024", "2024-03-03"), ("de", "Sonntag, 3. März 2024", "2024-03-03"),
    ("de-CH", "3. Sept. 2023", "2023-09-03"), ("es", "3 de marzo de 2024", "2024-03-03"),
])
def test_a_date_line_is_read_in_the_publications_language_too(language, written, day):
    assert parse_page(page(f"Date: {written}\n{MINIMAL}"), path="p.txt",
                      language=language).date == day


@pytest.mark.parametrize(("language", "written", "example"), [
    ("fr", "3 mars", "3 mars 2024"), ("de", "3/4/2024", "3. März 2024"),
    ("fr", "3 mars 2024 mars", "3 mars 2024"),
])
def test_a_date_line_that_does_not_read_shows_a_date_in_the_publications_language(
        language, written, example):
    with pytest.raises(PageImportError) as raised:
        parse_page(page(f"Date: {written}\n{MINIMAL}"), path="p.txt", language=language)
    assert str(raised.value) == (f"p.txt:1: Date: {written!r} is not a date publisher reads; "
                                 f"write it as 2024-03-03 or {example}")


def test_a_page_without_a_reviewer_line_names_the_labels_in_the_publications_language_too():
    with pytest.raises(PageImportError) as raised:
        parse_page("Regie: wim wenders\n\nZwei Engel.\n", path="p.txt", language="de")
    assert str(raised.value) == (
        "p.txt:3: no 'REVIEWER: name' line before the review text; add one above the logline "
        "(the header lines are Director:, Starring: and REVIEWER:, or Regie:, Darsteller: and "
        "Kritik:)")


FRENCH_PAGE = """
    Titre : Sans toit ni loi
    Date : 1er mars 2024
    Réalisateur : agnès varda
    Avec : sandrine bonnaire, macha méril et stéphane freiss
    Critique : claire dubois
    Note : 4/5
    Durée : 105 min
    Genre : Drame

    Une femme traverse la France à pied.

    Le film est une merveille.
"""

def test_a_french_page_without_a_title_is_titled_from_its_closing_line_kept_apart(
        tmp_path, publication, now):
    publication.set_language("fr")
    source = write_page(tmp_path, "page.txt", """
        Critique : claire dubois

        Une femme traverse la France à pied.

        Le film est une merveille.

        Sans toit ni loi est disponible en VOD sur toutes les plateformes.
    """)
    result = import_page(source, publication.config, now=now)
    data = front_matter(result.path)
    assert (data["title"], data["availability"]) == (
        "Sans toit ni loi", "Sans toit ni loi est disponible en VOD sur toutes les plateformes.")
    assert body_of(result.path) == ("Une femme traverse la France à pied.\n\n"
                                     "Le film est une merveille.")


GERMAN_PAGE = """
    Titel: Der Himmel über Berlin
    Datum: 3. März 2024
    Regie: wim wenders und peter handke
    Darsteller: bruno ganz, solveig dommartin und otto sander
    Kritik: jana weber
    Bewertung: 4/5
    Laufzeit: 128 min

    Zwei Engel über Berlin.

    Ein Meisterwerk.
"""


@pytest.mark.parametrize(("language", "text", "expected"), [
    ("fr", FRENCH_PAGE, {
        "id": "tag:reel.test,2024-03-01:sans-toit-ni-loi", "title": "Sans toit ni loi",
        "date": "2024-03-01", "reviewer": "Claire Dubois",
        "film": {"director": "Agnès Varda", "runtime": 105,
                 "starring": ["Sandrine Bonnaire", "Macha Méril", "Stéphane Freiss"]},
        "rating": 4, "summary": "Une femme traverse la France à pied.", "tags": ["Drame"]}),
    ("de", GERMAN_PAGE, {
        "id": "tag:reel.test,2024-03-03:der-himmel-uber-berlin",
        "title": "Der Himmel über Berlin", "date": "2024-03-03", "reviewer": "Jana Weber",
        "film": {"director": "Wim Wenders und Peter Handke", "runtime": 128,
                 "starring": ["Bruno Ganz", "Solveig Dommartin", "Otto Sander"]},
        "rating": 4, "summary": "Zwei Engel über Berlin."}),
])
def test_a_page_in_the_publications_language_imports_with_its_labels_dates_and_names(
        tmp_path, publication, now, language, text, expected):
    publication.set_language(language)
    source = write_page(tmp_path, "page.txt", text)
    result = import_page(source, publication.config, now=now)
    assert (result.missing, result.draft) == ((), False)
    assert front_matter(result.path) == expected


@pytest.mark.parametrize(("written", "rating"), [
    ("4/5", "4"), ("4.5 out of 5", "4.5"), ("8/10", "4"), ("7/10", "3.5"), ("3 stars", "3"),
    ("3½", "3.5"), ("4 1/2", "4.5"), ("4½/5", "4.5"), ("★★★½☆", "3.5"), ("★★★★★", "5"),
    ("☆☆☆☆☆", "0"), ("2.5 / 5", "2.5"), ("***1/2", "3.5"), ("****", "4"), ("**½", "2.5"),
    ("* * *", "3"), ("4.0/5.0", "4"), ("80%", "4"), ("4 stars out of 5", "4"),
    # the stars and the figure, as sites showed both
    ("4/5 ★★★★", "4"), ("★★★★ (4/5)", "4"), ("★★★½☆ (7/10)", "3.5"),
])
def test_a_rating_line_is_read_out_of_five(written, rating):
    assert parse(f"Rating: {written}\n{MINIMAL}").rating == Decimal(rating)


@pytest.mark.parametrize(("line", "says"), [
    ("Date: 03/04/2024", "Date: '03/04/2024' is not a date publisher reads; write it as "
                         "2024-03-03 or March 3, 2024"),
    ("Rating: 7/9", "Rating: '7/9' is not a rating out of 5 in half steps; write it as 3.5/5, "
                    "7/10, 3½ or ★★★½"),
    ("Rating: 6/5", "Rating: '6/5' is not a rating out of 5"),
    ("Rating: ★★★★ (3/5)", "Rating: '★★★★ (3/5)' is not a rating out of 5"),
    ("Rating: 75%", "Rating: '75%' is not a rating out of 5"),
    ("Runtime: long", "Runtime: 'long' is not a running time; write it as 112 min, 1h 52m or "
                      "1:52"),
])
def test_a_labelled_line_that_does_not_read_names_its_line(line, says):
    with pytest.raises(PageImportError) as raised:
        parse(f"Director: a b\n{line}\n{MINIMAL}", path="p.txt")
    assert str(raised.value).startswith(f"p.txt:2: {says}")


def test_an_empty_labelled_line_is_as_good_as_none():
    parsed = parse(f"Date:\nRating:\nTitle:\n{MINIMAL}")
    assert (parsed.date, parsed.rating, parsed.title) == ("", None, "")


# --- Markdown escaping -----------------------------------------------------------------------


def unsmarten(text: str) -> str:
    """Undo the renderer's typographic quotes and dashes, which do not change meaning."""
    for curly, plain in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("—", "---"),
                         ("–", "--")):
        text = text.replace(curly, plain)
    return text


@pytest.mark.parametrize(
    "text",
    [
        "#1 with a bullet",
        "# not a heading",
        "> not a quote",
        "- not a list item",
        "+ nor this",
        "* nor this",
        "1. not an ordered list",
        "1917) not one either",
        "---",
        "***",
        "___",
        "===",
        "*not emphasis* and _not this_ and **nor this**",
        "snake_case_name stays",
        "[not a link](page.html) or ![an image](x.png) or [ref][1]",
        "<b>not bold</b> and <script>alert(1)</script>",
        "~~not struck~~ and `not code`",
        "a backslash \\ and \\* literal",
        "&amp; and &#169; stay literal, AT&T too",
        "100% | pipes | stay",
    ],
)
def test_escape_markdown_renders_as_the_same_text(text):
    html = markdown_to_html(escape_markdown(text), "https://reel.test/")
    assert html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1
    assert html.count("<") == 2  # only the paragraph's own tags
    assert unsmarten(html_to_text(html)) == text


def test_plain_text_is_not_needlessly_escaped():
    text = "An ordinary sentence, with commas; colons: and (brackets) - fine. It's 100%!"
    assert escape_markdown(text) == text


# --- errors name the page and the line ---------------------------------------------------------


def test_empty_page_is_an_error(tmp_path, publication):
    source = write_page(tmp_path, "empty.txt", b"")
    with pytest.raises(PageImportError) as exc:
        import_page(source, publication.config)
    assert str(exc.value) == f"{source}:1: the page is empty (no text besides page chrome)"


def test_chrome_only_page_is_empty(tmp_path, publication):
    source = write_page(tmp_path, "chrome.txt", f"top of page\n{NBSP}\n\nbottom of page\n")
    with pytest.raises(PageImportError, match=r"chrome\.txt:1: the page is empty"):
        import_page(source, publication.config)


def test_a_page_without_a_reviewer_line_names_the_line_where_the_text_starts(tmp_path,
                                                                             publication):
    source = write_page(tmp_path, "anon.txt", """
        top of page

        Director: ann hui

        A logline with no reviewer above it.

        Body.
    """)
    with pytest.raises(PageImportError) as exc:
        import_page(source, publication.config)
    assert str(exc.value).startswith(f"{source}:5: no 'REVIEWER: name' line before the review "
                                     "text")
    assert not list((publication.root / "reviews").iterdir())


@pytest.mark.parametrize("line", ["Directed by Rosa Delgado", "Starring Ann Hui and Tony Leung"])
def test_a_line_without_its_colon_above_the_reviewer_line_is_named(line):
    """The header stops at the first line that is not 'Label: value'. The REVIEWER: line
    below it is there all the same: the error names the line that ended the header, not a
    missing REVIEWER: line the editor can see."""
    with pytest.raises(PageImportError) as exc:
        parse(f"top of page\n{line}\nREVIEWER: ann lee\n\nThe logline.\n")
    assert str(exc.value) == (
        f"page.txt:2: {line!r} is not a 'Label: value' line, so the review text starts there, "
        "above the REVIEWER: line (line 3); add the label's colon, or move it below the header "
        "or delete it")


def test_an_empty_reviewer_is_an_error():
    with pytest.raises(PageImportError, match=r"^p\.txt:2: REVIEWER: the reviewer's name is empty"):
        parse("Director: a b\nREVIEWER:  \n\nLogline.\n", path="p.txt")


def test_a_header_line_given_twice_is_an_error():
    with pytest.raises(PageImportError, match=r"^p\.txt:3: a second 'Reviewer:' line \(the first "
                                           r"is line 1\)"):
        parse("REVIEWER: a b\n\nReviewer: c d\n\nLogline.\n", path="p.txt")


def test_a_page_with_only_a_header_is_an_error():
    with pytest.raises(PageImportError, match=r"^p\.txt:3: no review text after the header"):
        parse("Director: a b\n\nREVIEWER: c d\n\nThe Film is available now.\n", path="p.txt")


def test_a_bad_year_is_an_error():
    with pytest.raises(PageImportError, match=r"^p\.txt:1: Year: 'soon' is not a year"):
        parse("Year: soon\nREVIEWER: a b\n\nLogline.\n", path="p.txt")


def test_a_page_that_is_not_utf8_names_the_file_and_line(tmp_path, publication):
    source = write_page(tmp_path, "latin1.txt",
                        "REVIEWER: ann lee\n\nA caf\u00e9 logline.\n".encode("latin-1"))
    with pytest.raises(PageImportError) as exc:
        import_page(source, publication.config)
    assert str(exc.value) == (f"{source}:3: not UTF-8 text (byte 0xe9); export or save the "
                              "page as UTF-8, or import it with --encoding windows-1252 if it "
                              "was saved so (Windows' \"ANSI\")")


def test_pages_saved_as_windows_1252_import_with_encoding(publication, cli, tmp_path):
    """Pages saved over the years in Notepad's "ANSI" among pages in UTF-8: --encoding reads
    the first as such and the second as UTF-8 all the same, in one import."""
    ansi = write_page(tmp_path, "ansi.txt", "Title: Café Society\nDirector: josé núñez\n"
                      "REVIEWER: ann lee\n\nIt’s a “fine” film – really…\n\nThe body.\n"
                      .encode("cp1252"))
    utf8 = write_page(tmp_path, "utf8.txt", "Title: Amélie\nREVIEWER: ann lee\n\n"
                      "It’s a “fine” film.\n\nThe body.\n".encode())
    refused = cli("import", str(ansi), str(utf8))
    assert refused.exit_code == 1
    assert "import it with --encoding windows-1252" in refused.stderr
    result = cli("import", "--encoding", "windows-1252", str(ansi), str(utf8))
    assert result.exit_code == 0, result.output
    assert "note: read as windows-1252 (it is not UTF-8); check its accents" in result.stdout
    reviews = publication.root / "reviews"
    data = front_matter(reviews / "cafe-society.md")
    assert (data["title"], data["film"]["director"], data["summary"]) == (
        "Café Society", "José Núñez", "It’s a “fine” film – really…")
    assert front_matter(reviews / "amelie.md")["title"] == "Amélie"


def test_a_page_saved_as_utf16_with_its_bom_imports(tmp_path, publication, now):
    # Notepad's "Unicode" (and Word's "Unicode text"): the BOM says so, nothing is guessed.
    text = "Title: Amélie\r\nREVIEWER: ann lee\r\n\r\nIt’s fine.\r\n\r\nThe body.\r\n"
    for codec in ("utf-16", "utf-16-be"):
        data = text.encode(codec) if codec == "utf-16" else b"\xfe\xff" + text.encode(codec)
        source = write_page(tmp_path, f"{codec}.txt", data)
        result = import_page(source, publication.config, date="2024-03-03", now=now, force=True)
        assert (front_matter(result.path)["title"], body_of(result.path)) == (
            "Amélie", "It’s fine.\n\nThe body.")


def test_an_unknown_encoding_is_a_usage_error(publication, cli):
    result = cli("import", "--encoding", "klingon", str(PAGES / "quiet-harvest.txt"))
    assert result.exit_code == 2
    assert "--encoding: 'klingon' is not an encoding Python knows" in result.output


def test_a_missing_page_is_an_error(tmp_path, publication):
    with pytest.raises(PageImportError, match=r"nope\.txt: no such file"):
        import_page(tmp_path / "nope.txt", publication.config)


@pytest.mark.parametrize("bad", ["tomorrow", "2026-13-01", "01/03/2026"])
def test_a_bad_date_option_is_an_error(tmp_path, publication, bad):
    source = write_page(tmp_path, "film.txt", MINIMAL)
    with pytest.raises(PageImportError,
                       match=rf"^--date: '{bad}' is not a date such as 2026-03-01"):
        import_page(source, publication.config, date=bad)


def test_an_empty_title_option_is_an_error(tmp_path, publication):
    source = write_page(tmp_path, "film.txt", MINIMAL)
    with pytest.raises(PageImportError, match=r"film\.txt: --title is empty"):
        import_page(source, publication.config, title=f" {NBSP}")


# --- writing the review ------------------------------------------------------------------------


def test_title_and_date_give_a_publishable_review(tmp_path, publication, now):
    source = write_page(tmp_path, "page-17.txt", MINIMAL)
    result = import_page(source, publication.config, title="The Long Goodbye",
                         date="2026-03-06", now=now)
    assert result.path == publication.root / "reviews" / "the-long-goodbye.md"
    assert (result.missing, result.draft) == ((), False)
    data = front_matter(result.path)
    assert data == {
        "id": "tag:reel.test,2026-03-06:the-long-goodbye",
        "title": "The Long Goodbye",
        "date": "2026-03-06",
        "reviewer": "Ann Lee",
        "summary": "The logline.",
    }
    assert body_of(result.path) == "The logline.\n\nThe body."


def test_without_a_date_the_review_is_a_draft_and_the_message_lists_what_to_fill_in(
        tmp_path, publication, now):
    source = write_page(tmp_path, "salt-harbour.txt", MINIMAL)
    result = import_page(source, publication.config, now=now)
    assert result.draft is True
    assert result.missing == ("date",)
    data = front_matter(result.path)
    assert data["draft"] is True
    assert data["title"] == "Salt Harbour"
    assert data["date"] == now.astimezone(publication.config.tz).date().isoformat()
    assert "# placeholder" in result.path.read_text(encoding="utf-8")
    message = format_result(result, base=publication.root)
    assert message.splitlines()[:2] == [
        "wrote reviews/salt-harbour.md (draft)",
        "  to publish it, fill in: date",
    ]
    assert "then delete the line 'draft: true'" in message
    assert "title 'Salt Harbour' was made from the file name" in message
    review = parse_review(result.path.read_text(encoding="utf-8"),
                          path="reviews/salt-harbour.md", config=publication.config)
    assert review.draft and not review.is_published(now)


def test_a_page_with_only_a_logline_is_a_draft_missing_its_body(tmp_path, publication, now):
    source = write_page(tmp_path, "short.txt", "REVIEWER: ann lee\n\nJust a logline.\n")
    result = import_page(source, publication.config, date="2026-03-06", now=now)
    assert (result.draft, result.missing) == (True, ("body",))
    assert "fill in: body" in format_result(result)
    review = load_reviews(publication.config, cache=False).reviews[0]
    assert review.summary == "Just a logline." and review.draft


def test_the_import_day_is_taken_in_the_publications_timezone(tmp_path, publication):
    source = write_page(tmp_path, "film.txt", MINIMAL)
    late = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # already July 1st in London
    result = import_page(source, publication.config, now=late)
    assert front_matter(result.path)["date"] == "2026-07-01"
    assert front_matter(result.path)["id"] == "tag:reel.test,2026-07-01:film"


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Alien: Romulus", "alien-romulus"),
        ("No", "no"),
        ("1917", "1917"),
        ("Yes", "yes"),
        ("null", "null"),
        ("#hashtag: the movie", "hashtag-the-movie"),
        ('The "Quoted" One', "the-quoted-one"),
        ("- Dash & Co. -", "dash-co"),
        ("Amélie", "amelie"),
    ],
)
def test_titles_that_trip_yaml_survive_the_round_trip(tmp_path, publication, now, title, slug):
    source = write_page(tmp_path, "film.txt", MINIMAL)
    result = import_page(source, publication.config, title=title, date="2026-03-06", now=now)
    assert result.path.name == f"{slug}.md"
    assert 'title: "' in result.path.read_text(encoding="utf-8")
    (review,) = load_reviews(publication.config, cache=False).reviews
    assert review.title == title and review.slug == slug


@pytest.mark.parametrize("when", ["2026-03-06T09:30:00+00:00", "2026-03-06 09:30",
                                  "2026-03-06T09:30:00Z"])
def test_a_date_option_may_carry_a_time(tmp_path, publication, now, when):
    source = write_page(tmp_path, "film.txt", MINIMAL)
    result = import_page(source, publication.config, date=when, now=now)
    (review,) = load_reviews(publication.config, cache=False).reviews
    assert review.date.date().isoformat() == "2026-03-06" and review.date.hour in (9, 10)
    assert front_matter(result.path)["id"] == "tag:reel.test,2026-03-06:film"


def test_an_existing_review_is_never_overwritten_without_force(tmp_path, publication, now):
    existing = publication.write_review("film.md", "keep me\n")
    source = write_page(tmp_path, "film.txt", MINIMAL)
    with pytest.raises(PageImportError) as exc:
        import_page(source, publication.config, date="2026-03-06", now=now)
    # Pages imported before are kept without a word: this is another review, which --force
    # would replace; it is said so, and --force is for this one page (not all three hundred,
    # which would replace every review edited since its import).
    assert str(exc.value) == (
        f"{existing}: already exists, and is not {source}'s review (its summary, reviewer or "
        "most of its text differ); import the page with another --slug, or import it alone "
        "with --force to replace that review")
    assert existing.read_text(encoding="utf-8") == "keep me\n"


@pytest.mark.parametrize(("name", "front"), [
    ("other-name.md", 'slug: "film"\n'),
    ("other-name.md", "slug: film  # renamed\n"),
    ("Film.md", ""),
])
def test_a_review_that_already_has_the_slug_is_never_doubled(tmp_path, publication, now, name,
                                                              front):
    existing = publication.write_review(name, "---\ntitle: Film\ndate: 2026-01-02\n"
                                              f"reviewer: Sam Okafor\n{front}---\nKeep me.\n")
    source = write_page(tmp_path, "film.txt", MINIMAL)
    for force in (False, True):
        with pytest.raises(PageImportError) as exc:
            import_page(source, publication.config, date="2026-03-06", now=now, force=force)
        assert str(exc.value) == (f"{existing}: already has the slug 'film' (importing "
                                  f"{source}); import with another --slug, or give that "
                                  "review another slug")
    assert [p.name for p in (publication.root / "reviews").iterdir()] == [name]
    import_page(source, publication.config, title="Film Two", date="2026-03-06", now=now)
    assert len(load_reviews(publication.config, cache=False).reviews) == 2


def test_another_film_of_the_same_title_is_imported_under_a_slug_with_its_year(
        tmp_path, publication, now):
    first = write_page(tmp_path, "halloween-1978.txt", "Title: Halloween\nYear: 1978\n" + MINIMAL)
    second = write_page(tmp_path, "halloween-2018.txt", "Title: Halloween\nYear: 2018\n"
                                                        + MINIMAL)
    import_page(first, publication.config, date="2026-03-06", now=now)
    with pytest.raises(PageImportError) as exc:
        import_page(second, publication.config, date="2026-03-07", now=now)
    # The advice keeps the film's title as it is: "another --title" gave "Halloween (2018)
    # (2018)" on its page.
    assert "; import the page with --slug halloween-2018, or import it" in str(exc.value)
    result = import_page(second, publication.config, date="2026-03-07", slug="halloween-2018",
                         now=now)
    assert result.path.name == "halloween-2018.md"
    reviews = load_reviews(publication.config, cache=False).reviews
    assert sorted((r.slug, r.title, r.film.year) for r in reviews) == [
        ("halloween", "Halloween", 1978), ("halloween-2018", "Halloween", 2018)]


def test_a_title_too_long_for_a_file_name_asks_for_a_slug(tmp_path, publication, now):
    source = write_page(tmp_path, "long.txt", "Title: " + "Very long title " * 20 + "\n" + MINIMAL)
    with pytest.raises(PageImportError) as exc:
        import_page(source, publication.config, date="2026-03-06", now=now)
    assert str(exc.value).startswith(f"{source}: the slug very-long-title-very-long-title-ve")
    assert str(exc.value).endswith("too long for a file name; give one of at most 200 with --slug")


def test_force_overwrites_and_keeps_the_id_already_published(tmp_path, publication, now):
    source = write_page(tmp_path, "film.txt", MINIMAL)
    first = import_page(source, publication.config, date="2026-03-06", now=now)
    published_id = front_matter(first.path)["id"]
    source.write_text(page(MINIMAL).replace("The body.", "A revised body."), encoding="utf-8")
    second = import_page(source, publication.config, date="2026-04-01", now=now, force=True)
    assert second.path == first.path
    data = front_matter(second.path)
    assert data["id"] == published_id == "tag:reel.test,2026-03-06:film"
    assert data["date"] == "2026-04-01"
    assert body_of(second.path) == "The logline.\n\nA revised body."
    assert not [p for p in second.path.parent.iterdir() if p.name.endswith(".tmp")]


def test_importing_twice_gives_identical_bytes(tmp_path, publication, now):
    first = import_page(PAGES / "quiet-harvest.txt", publication.config, out_dir=tmp_path / "a",
                        now=now)
    second = import_page(PAGES / "quiet-harvest.txt", publication.config,
                         out_dir=tmp_path / "b", now=now)
    assert first.path.read_bytes() == second.path.read_bytes()


def test_out_dir_chooses_where_the_review_goes(tmp_path, publication, now):
    result = import_page(PAGES / "quiet-harvest.txt", publication.config,
                         out_dir=tmp_path / "elsewhere", date="2026-03-06", now=now)
    assert result.path == tmp_path / "elsewhere" / "quiet-harvest.md"
    assert not list((publication.root / "reviews").iterdir())


def test_a_renamed_slug_keeps_the_written_id(tmp_path, publication, now):
    result = import_page(PAGES / "quiet-harvest.txt", publication.config, date="2026-03-06",
                         now=now)
    original = load_reviews(publication.config, cache=False).reviews[0].id
    result.path.rename(result.path.with_name("a-quiet-harvest.md"))
    (renamed,) = load_reviews(publication.config, cache=False).reviews
    assert renamed.slug == "a-quiet-harvest" and renamed.id == original


# --- the command ----------------------------------------------------------------------------


@pytest.fixture
def in_publication(publication, monkeypatch):
    """Work from the publication's directory, as an editor running `publisher import` would."""
    monkeypatch.chdir(publication.root)


@pytest.mark.usefixtures("in_publication")
def test_cli_import_with_title_and_date(publication):
    result = run_cli("import", str(PAGES / "quiet-harvest.txt"), "--title", "Alien: Romulus",
                     "--date", "2026-03-06")
    assert result.exit_code == 0, result.output
    target = publication.root / "reviews" / "alien-romulus.md"
    assert result.stdout.splitlines()[0] == "wrote reviews/alien-romulus.md"
    assert front_matter(target)["title"] == "Alien: Romulus"
    (review,) = load_reviews(publication.config, cache=False).reviews
    assert review.film.director == "Hamish Macleod-Brown"


@pytest.mark.usefixtures("in_publication")
def test_cli_import_without_date_writes_a_draft_and_says_what_to_fill_in(publication):
    result = run_cli("import", str(PAGES / "the-cartographers-winter.txt"))
    assert result.exit_code == 0, result.output
    assert "(draft)" in result.stdout
    assert "to publish it, fill in: date" in result.stdout
    assert ("title \"The Cartographer's Winter\" was read from the line \"The Cartographer's "
            "Winter is available to stream on most su…\"; check it") in result.stdout
    data = front_matter(publication.root / "reviews" / "the-cartographers-winter.md")
    assert data["draft"] is True and data["date"] == "2026-11-20"


@pytest.mark.usefixtures("in_publication")
def test_cli_imports_several_pages_and_reports_each(publication):
    result = run_cli("import", *(str(p) for p in sorted(PAGES.glob("*.txt"))), "--date",
                     "2026-03-06")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("wrote ") == 3
    assert len(load_reviews(publication.config, cache=False).reviews) == 3


def test_cli_help_says_where_the_title_and_date_come_from_without_the_options():
    # The same precedence as test_the_title_and_date_options_win_over_the_pages_own and
    # test_a_page_whose_closing_line_names_the_film_is_titled_from_it pin down.
    help_text = " ".join(run_cli("import", "--help").stdout.split())
    assert "default: the page's Title: line, else the film its closing line names" in help_text
    assert "default: the page's Date: line; without either the review is a draft" in help_text


@pytest.mark.usefixtures("in_publication")
def test_cli_refuses_to_overwrite_without_force(publication):
    page_path = str(PAGES / "quiet-harvest.txt")
    assert run_cli("import", page_path, "--date", "2026-03-06").exit_code == 0
    again = run_cli("import", page_path, "--date", "2026-03-07")
    assert again.exit_code == 0, again.output  # imported already: kept, which is no error
    assert "quiet-harvest.md: already imported from" in again.stdout
    assert "add --force to import it again over it" in again.stdout
    assert front_matter(publication.root / "reviews" / "quiet-harvest.md")["date"] == "2026-03-06"
    forced = run_cli("import", page_path, "--date", "2026-03-07", "--force")
    assert forced.exit_code == 0, forced.output
    assert front_matter(publication.root / "reviews" / "quiet-harvest.md")["date"] == "2026-03-07"


@pytest.mark.usefixtures("in_publication")
def test_cli_reports_a_bad_page_and_still_imports_the_good_one(tmp_path, publication):
    bad = write_page(tmp_path, "bad.txt", "Just text, no reviewer.\n")
    result = run_cli("import", str(bad), str(PAGES / "quiet-harvest.txt"), "--date",
                     "2026-03-06")
    assert result.exit_code == 1
    assert f"error: {bad}:1: no 'REVIEWER: name' line" in result.stderr
    assert (publication.root / "reviews" / "quiet-harvest.md").exists()


@pytest.mark.usefixtures("in_publication")
@pytest.mark.parametrize("option", ["--title", "--slug"])
def test_cli_title_and_slug_name_one_page_only(option):
    result = run_cli("import", str(PAGES / "quiet-harvest.txt"),
                     str(PAGES / "night-bus-to-varna.txt"), option, "x")
    assert result.exit_code == 2
    assert f"{option} names one film" in result.output


def test_cli_import_writes_the_review_under_the_slug_given(publication, in_publication):
    result = run_cli("import", str(PAGES / "quiet-harvest.txt"), "--date", "2026-03-06",
                     "--slug", "Quiet Harvest 2024")
    assert result.exit_code == 0, result.output
    assert (publication.root / "reviews" / "quiet-harvest-2024.md").exists()


def test_importing_again_with_the_title_replaces_the_first_draft(publication, now, cli,
                                                                 tmp_path):
    """The first import (no --title, no --date) titles the draft from the file name and says to
    import again with --title and --force: doing so must not leave that draft behind as a
    second review of the same film."""
    exported = tmp_path / "page-3.txt"
    exported.write_text((PAGES / "night-bus-to-varna.txt").read_text(encoding="utf-8"))
    first = cli("import", str(exported))
    assert first.exit_code == 0, first.output
    assert "import again with --title and --force" in first.stdout
    reviews = publication.root / "reviews"
    assert sorted(p.name for p in reviews.glob("*.md")) == ["page-3.md"]

    refused = cli("import", str(exported), "--title", "Night Bus to Varna", "--date",
                  "2026-03-06")
    assert refused.exit_code == 1
    assert "page-3.md: the draft an earlier import of" in refused.stderr
    assert "add --force to replace it with night-bus-to-varna.md" in refused.stderr

    again = cli("import", str(exported), "--title", "Night Bus to Varna", "--date",
                "2026-03-06", "--force")
    assert again.exit_code == 0, again.output
    assert "replaced page-3.md, the draft the earlier import wrote" in again.stdout
    assert sorted(p.name for p in reviews.glob("*.md")) == ["night-bus-to-varna.md"]


def test_a_draft_edited_since_its_import_is_not_replaced(publication, cli, tmp_path):
    exported = tmp_path / "page-3.txt"
    exported.write_text((PAGES / "night-bus-to-varna.txt").read_text(encoding="utf-8"))
    assert cli("import", str(exported)).exit_code == 0
    draft = publication.root / "reviews" / "page-3.md"
    draft.write_text(draft.read_text() + "\nThe editor's own paragraph.\n")
    again = cli("import", str(exported), "--title", "Night Bus to Varna", "--force")
    assert again.exit_code == 0, again.output
    assert draft.is_file()  # someone's work: never deleted


def test_an_author_line_names_the_reviewer():
    assert parse("Author: ann lee\n\nThe logline.\n\nThe body.\n").reviewer == "Ann Lee"


def test_a_pelican_source_is_refused_rather_than_read_as_a_page():
    # Its Status: and Slug: lines would have been the logline, and the draft published.
    with pytest.raises(PageImportError, match=r"^aftersun\.md:4: 'Status:' is a line of "
                                              r"Pelican's metadata, not of a page"):
        parse("Title: Aftersun\nDate: 2022-11-18 10:20\nAuthor: Ann Lee\nStatus: draft\n"
              "Slug: aftersun\n\nThe review.\n", path="aftersun.md")


# --- importing the same pages again -------------------------------------------------------


def test_importing_the_same_pages_again_keeps_every_review_and_is_no_error(publication, cli,
                                                                           tmp_path):
    """An editor imports a site's pages, fixes the few refused, and imports them all again: the
    pages imported the first time (one since edited and published by hand) are kept as they
    are, and are neither errors nor met with advice that would double them (--slug) or undo
    the edits (--force)."""
    dated = write_page(tmp_path, "a.txt", """
        Title: Low Tide
        Date: 2024-03-03
        REVIEWER: ann lee

        The logline.

        The body.
    """)
    undated = write_page(tmp_path, "b.txt", """
        Title: High Tide
        REVIEWER: ann lee

        Another logline.

        Another body.

        Its second paragraph.

        Its third.
    """)
    first = cli("import", str(dated), str(undated))
    assert first.exit_code == 0, first.output
    reviews = publication.root / "reviews"
    edited = reviews / "high-tide.md"
    edited.write_text(edited.read_text(encoding="utf-8").replace("draft: true\n", "")
                      .replace("Another body.", "Another body, edited."), encoding="utf-8")
    before = {p.name: p.read_bytes() for p in reviews.glob("*.md")}

    # Another day: the draft's placeholder date (and id) would differ.
    again = cli("import", str(dated), str(undated), now=datetime(2026, 12, 24, 10, tzinfo=UTC))
    assert again.exit_code == 0, again.output
    assert again.stderr == ""
    assert {p.name: p.read_bytes() for p in reviews.glob("*.md")} == before
    kept = [line for line in again.stdout.splitlines() if line.startswith("kept ")]
    assert len(kept) == 2
    assert "low-tide.md: already imported from" in kept[0] and "a.txt" in kept[0]
    assert "high-tide.md: already imported from" in kept[1] and "b.txt" in kept[1]
    assert "--slug" not in again.output


def test_a_review_renamed_since_its_import_is_not_imported_twice(publication, cli, tmp_path):
    exported = write_page(tmp_path, "page-7.txt", MINIMAL)
    assert cli("import", str(exported)).exit_code == 0
    reviews = publication.root / "reviews"
    (reviews / "page-7.md").rename(reviews / "the-real-title.md")
    again = cli("import", str(exported))
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in reviews.glob("*.md")) == ["the-real-title.md"]
    assert "the-real-title.md" in again.stdout


def test_another_page_of_the_slug_is_still_refused(publication, cli, tmp_path):
    """A page that is not the one the review came from (another logline) is refused as
    before: it may be another film of the title."""
    first = write_page(tmp_path, "one.txt", "Title: Halloween\nYear: 1978\n" + page(MINIMAL))
    second = write_page(tmp_path, "two.txt", "Title: Halloween\nYear: 2018\nREVIEWER: ann lee"
                        "\n\nA different logline.\n\nThe body.\n")
    assert cli("import", str(first)).exit_code == 0
    refused = cli("import", str(second))
    assert refused.exit_code == 1
    assert "halloween.md: already exists" in refused.stderr
    assert "--slug halloween-2018" in refused.stderr


def test_pages_opening_alike_are_each_imported(publication, cli, tmp_path):
    """A reviewer who opened every review with one line: the pages are other reviews all the
    same, each imported, none taken for the first one imported again."""
    pages = [write_page(tmp_path, f"{film}.txt", f"Title: {film}\nREVIEWER: ann lee\n\n"
                        f"Spoilers ahead.\n\nAll about {film}.\n") for film in ("Ebb", "Flow")]
    result = cli("import", *map(str, pages))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (publication.root / "reviews").glob("*.md")) == [
        "ebb.md", "flow.md"]


def test_importing_many_pages_ends_with_a_count_of_each_outcome(publication, cli, tmp_path):
    """Three hundred pages print a screenful each of notes and errors: the last line says
    how many were written, are drafts to finish, were there already and were refused."""
    dated = write_page(tmp_path, "a.txt", "Title: Ebb\nDate: 2024-03-03\n" + page(MINIMAL))
    undated = write_page(tmp_path, "b.txt", "Title: Flow\n" + page(MINIMAL).replace(
        "The body.", "Another body."))
    bad = write_page(tmp_path, "c.txt", "Just text, no reviewer.\n")
    assert cli("import", str(dated)).exit_code == 0
    result = cli("import", str(dated), str(undated), str(bad))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        "3 pages: 1 written (1 a draft to finish), 1 kept as imported before, 1 refused "
        "(named above)")
    single = cli("import", str(dated))
    assert single.stdout.count("\n") == 1  # one page: its line says it all


# --- the old site's addresses ---------------------------------------------------------------


@pytest.mark.parametrize("line", ["URL: https://www.reeltalk.com/post/salt-harbour-review?lang=en",
                                  "Link: /post/salt-harbour-review",
                                  "Address: www.reeltalk.com/post/salt-harbour-review"])
def test_a_url_line_keeps_the_old_address_working(tmp_path, publication, now, line):
    """The old site's links (in search results, in mail, on other sites) went to its address:
    the page's URL: line becomes the review's alias, so the built site answers there too."""
    source = write_page(tmp_path, "page.txt", f"Title: Salt Harbour\n{line}\n{page(MINIMAL)}")
    result = import_page(source, publication.config, date="2024-03-03", now=now)
    assert front_matter(result.path)["aliases"] == ["/post/salt-harbour-review"]
    build_site(publication.config, now=now)
    moved = publication.root / "public" / "post" / "salt-harbour-review" / "index.html"
    assert f'url={publication.config.base_url}reviews/salt-harbour/"' in moved.read_text()


@pytest.mark.parametrize("value", ["https://www.reeltalk.com/", "mailto:ann@example.org",
                                   "https://www.reeltalk.com/post/../x"])
def test_a_url_line_that_names_no_page_is_an_error(tmp_path, publication, now, value):
    source = write_page(tmp_path, "page.txt", f"URL: {value}\n{page(MINIMAL)}")
    with pytest.raises(PageImportError) as exc:
        import_page(source, publication.config, date="2024-03-03", now=now)
    assert str(exc.value).startswith(f"{source}:1: URL: {value!r} is not the address of a page")


def test_a_url_line_that_is_the_reviews_address_here_gives_no_alias(tmp_path, publication, now):
    # The old site had the same addresses: an alias there would stop every build.
    source = write_page(tmp_path, "page.txt", "Title: Ebb\nURL: https://old.example.org/reviews/"
                                               f"ebb/\n{page(MINIMAL)}")
    result = import_page(source, publication.config, date="2024-03-03", now=now)
    assert "aliases" not in front_matter(result.path)
    assert "reviews/ebb/index.html" in build_site(publication.config, now=now).written


# --- labels publisher has no field for ----------------------------------------------------


@pytest.mark.parametrize("where", ["above", "below"])
def test_credit_lines_publisher_has_no_field_for_are_left_out_and_said(where):
    """Sites' headers name the writer, the country, the language: below the REVIEWER: line
    they were read as the logline ("Writer: tony leung Country: Hong Kong"), the summary of
    every list, feed and digest; above it, they stopped the page."""
    credits = "Writer: tony leung\nCountry: Hong Kong\nOriginal language: Cantonese\n"
    head = (credits + "REVIEWER: ann lee\n") if where == "above" else (
        "REVIEWER: ann lee\n" + credits)
    parsed = parse(f"Director: ann hui\n{head}\nThe logline.\n\nThe body.\n")
    assert (parsed.summary, parsed.paragraphs) == ("The logline.", ("The body.",))
    assert ("left out the page's Writer:, Country: and Original language: lines (publisher has "
            "no field for them; add them to the body if they matter)") in parsed.notes


def test_a_logline_that_opens_with_a_word_and_a_colon_is_kept():
    parsed = parse("REVIEWER: ann lee\n\nWarning: this film contains flashing images.\n\nBody.\n")
    assert parsed.summary == "Warning: this film contains flashing images."
