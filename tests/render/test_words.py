"""The words publisher composes itself, its dates, lists and counts: English as it always was,
and in the publication's language once it says which (and translates strings.en.toml)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.errors import TemplateError
from publisher.render.words import ENGLISH, language_gaps, load_words

PARIS = ZoneInfo("Europe/Paris")
# 23:30 UTC on the 20th is already the 21st in Paris: the day is the reader's zone's.
LATE = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)


def test_english_reads_as_it_always_has():
    assert ENGLISH.date(LATE, ZoneInfo("UTC")) == "20 November 2026"
    assert ENGLISH.date(LATE, PARIS) == "21 November 2026"
    assert ENGLISH.month(2026, 11) == "November 2026"
    assert ENGLISH.names(["A", "", "B", "C"]) == "A, B and C"
    assert ENGLISH.names(["A"]) == "A"
    assert [ENGLISH.count("reviews", n) for n in (1, 2, 10_000)] == [
        "1 review", "2 reviews", "10,000 reviews"]
    assert ENGLISH("same_director", name="Justin Lin") == "Also directed by Justin Lin"


def test_dates_lists_and_counts_follow_the_language(tmp_path):
    french = load_words(tmp_path, "fr")
    assert french.date(LATE, PARIS) == "21 novembre 2026"
    assert french.month(2026, 11) == "novembre 2026"
    assert french.names(["A", "B", "C"]) == "A, B et C"
    german = load_words(tmp_path, "de")
    assert (german.date(LATE, PARIS), german.names(["A", "B"])) == ("21. November 2026", "A und B")
    assert load_words(tmp_path, "pt-BR").date(LATE, PARIS) == "21 de novembro de 2026"
    assert load_words(tmp_path, "ja").month(2026, 11) == "2026年11月"
    # English in the United States writes the month first; plain "en" stays day first.
    assert load_words(tmp_path, "en-US").date(LATE, PARIS) == "November 21, 2026"
    assert load_words(tmp_path, "en_GB").date(LATE, PARIS) == "21 November 2026"


def write_strings(templates: Path, language: str, text: str) -> None:
    templates.mkdir(parents=True, exist_ok=True)
    (templates / f"strings.{language}.toml").write_text(text, encoding="utf-8")


def test_a_translation_replaces_the_words_it_gives_and_keeps_english_for_the_rest(tmp_path):
    write_strings(tmp_path, "fr", 'same_director = "Du même réalisateur, {name}"\n'
                                  'reviews = { one = "{n} critique", other = "{n} critiques" }\n')
    french = load_words(tmp_path, "fr")
    assert french("same_director", name="Justin Lin") == "Du même réalisateur, Justin Lin"
    assert french("same_film") == "Another review of this film"  # left out: English
    # French counts 0 and 1 as singular, and groups thousands with a narrow no-break space.
    assert [french.count("reviews", n) for n in (0, 1, 2, 10_000)] == [
        "0 critique", "1 critique", "2 critiques", "10\u202f000 critiques"]


def test_a_more_precise_tag_is_laid_over_its_language(tmp_path):
    write_strings(tmp_path, "pt", 'same_film = "Outra crítica deste filme"\n'
                                  'search = "Pesquisar"\n')
    write_strings(tmp_path, "pt-BR", 'search = "Buscar"\n')
    brazilian = load_words(tmp_path, "pt-BR")
    assert (brazilian("same_film"), brazilian("search")) == ("Outra crítica deste filme",
                                                             "Buscar")


@pytest.mark.parametrize(("text", "says"), [
    ('same_directr = "x"\n', r"strings.fr.toml: same_directr: unknown string; the keys are "
                             r"those of .*strings.en.toml"),
    ('same_director = "Du même {nom}"\n', r"same_director: unknown placeholder \{nom\}; use "
                                          r"\{name\}"),
    ('search = 3\n', "search: expected a string"),
    ('reviews = "critiques"\n', "reviews: expected a table of plural forms"),
    ('reviews = { one = "{n} critique" }\n', "reviews: expected a table of plural forms"),
    ('reviews = { un = "{n} critique", other = "{n} critiques" }\n',
     "reviews: un: not a plural form"),
    ('search = "Rechercher\n', "strings.fr.toml: cannot read the strings"),
])
def test_a_broken_translation_is_one_line_naming_the_file_and_key(tmp_path, text, says):
    write_strings(tmp_path, "fr", text)
    with pytest.raises(TemplateError, match=says):
        load_words(tmp_path, "fr")


def test_check_says_what_would_not_be_in_the_language(tmp_path):
    assert language_gaps(tmp_path, "en") == []
    assert language_gaps(tmp_path, "en-US") == []
    [untranslated] = language_gaps(tmp_path, "fr")
    assert "'fr', but the words publisher composes" in untranslated
    assert f"to {tmp_path / 'strings.fr.toml'} and translate it" in untranslated
    write_strings(tmp_path, "fr", 'search = "Rechercher"\n')
    assert language_gaps(tmp_path, "fr") == []
    assert language_gaps(tmp_path, "fr-CA") == []  # the language's own file serves
    # A tag no locale data knows: dates fall back to its language, else to English.
    [unknown, _untranslated] = language_gaps(tmp_path, "xx")
    assert "no dates or lists for 'xx'" in unknown and "written in English" in unknown
    [fallback, _] = language_gaps(tmp_path, "de-XX")
    assert "written in de" in fallback
    assert load_words(tmp_path, "de-XX").date(LATE, PARIS) == "21. November 2026"
