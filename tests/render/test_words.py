"""The words publisher composes itself, its dates, lists and counts: English as it always was,
and in the publication's language once it says which (and translates strings.en.toml)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.errors import TemplateError
from publisher.render.words import (
    ENGLISH,
    language_gaps,
    load_words,
    og_locale,
    text_direction,
)

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


@pytest.mark.parametrize("language", ["en", "en-US", "fr", "de", "pt-BR", "ja", "ne", "dz"])
def test_a_days_pieces_put_back_together_write_it_as_the_pages_do(tmp_path, language):
    """The feeds' XSLT view has only an entry's numbers: it writes its day from these pieces,
    day first or year first, padded or not, as the language does."""
    words = load_words(tmp_path, language)
    for month in range(1, 13):
        for day in (1, 9, 28):
            numbers = {"day": str(day), "0day": f"{day:02d}", "year": "2026"}
            written = "".join(numbers.get(kind, text) for kind, text in words.date_parts(month))
            when = datetime(2026, month, day, 12, tzinfo=UTC)
            assert written == words.date(when, ZoneInfo("UTC")), (month, day)


def write_strings(templates: Path, language: str, text: str) -> None:
    templates.mkdir(parents=True, exist_ok=True)
    (templates / f"strings.{language}.toml").write_text(text, encoding="utf-8")


def test_a_translation_replaces_the_words_it_gives_and_keeps_english_for_the_rest(tmp_path):
    # Dutch: a language publisher ships no translation for.
    write_strings(tmp_path, "nl", 'same_director = "Ook geregisseerd door {name}"\n'
                                  'reviews = { one = "{n} recensie", other = "{n} recensies" }\n')
    dutch = load_words(tmp_path, "nl")
    assert dutch("same_director", name="Justin Lin") == "Ook geregisseerd door Justin Lin"
    assert dutch("same_film") == "Another review of this film"  # left out: English
    # Dutch groups thousands with a dot.
    assert [dutch.count("reviews", n) for n in (0, 1, 2, 10_000)] == [
        "0 recensies", "1 recensie", "2 recensies", "10.000 recensies"]
    # A half point is written with the language's decimal sign; English keeps its own.
    assert [dutch.rating(Decimal(r)) for r in ("3.5", "4.0")] == ["3,5 out of 5", "4 out of 5"]
    assert ENGLISH.rating(Decimal("3.5")) == "3.5 out of 5" and ENGLISH.rating(None) == ""


def test_a_publications_translation_wins_key_by_key_over_the_packaged_one(tmp_path):
    write_strings(tmp_path, "fr", 'same_director = "Du même réalisateur, {name}"\n'
                                  'reviews = { one = "{n} texte", other = "{n} textes" }\n')
    french = load_words(tmp_path, "fr")
    assert french("same_director", name="Justin Lin") == "Du même réalisateur, Justin Lin"
    assert french("same_film") == "Une autre critique de ce film"  # left out: publisher's French
    # French counts 0 and 1 as singular, and groups thousands with a narrow no-break space.
    assert [french.count("reviews", n) for n in (0, 1, 2, 10_000)] == [
        "0 texte", "1 texte", "2 textes", "10\u202f000 textes"]
    assert [french.rating(Decimal(r)) for r in ("3.5", "4.0")] == ["3,5 sur 5", "4 sur 5"]
    # A regional tag reads its language's packaged words, then the publication's own.
    write_strings(tmp_path, "fr-CA", 'same_film = "Une autre critique du même film"\n')
    quebec = load_words(tmp_path, "fr-CA")
    assert (quebec("same_film"), quebec("same_director", name="X"), quebec("search")) == (
        "Une autre critique du même film", "Du même réalisateur, X", "Rechercher")


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
    # publisher's own translations serve without a file of the publication's.
    for language in ("fr", "fr-CA", "de", "de-AT", "es", "es-MX", "it", "pt", "pt-PT"):
        assert language_gaps(tmp_path, language) == [], language
    [untranslated] = language_gaps(tmp_path, "nl")
    assert "'nl', but the words of the pages, feeds and digest" in untranslated
    assert f"to {tmp_path / 'strings.nl.toml'} and translate it" in untranslated
    write_strings(tmp_path, "nl", 'search = "Zoeken"\n')
    assert language_gaps(tmp_path, "nl") == []
    assert language_gaps(tmp_path, "nl-BE") == []  # the language's own file serves
    # A tag no locale data knows: dates fall back to its language, else to English.
    [unknown, _untranslated] = language_gaps(tmp_path, "xx")
    assert "no dates or lists for 'xx'" in unknown and "written in English" in unknown
    [fallback] = language_gaps(tmp_path, "de-XX")  # its words are publisher's German
    assert "written in de" in fallback
    assert load_words(tmp_path, "de-XX").date(LATE, PARIS) == "21. November 2026"


# --- the templates' words (t) -----------------------------------------------------------------


def render(words, source: str, *, text: bool = False, **context) -> str:
    import jinja2

    environment = jinja2.Environment(autoescape=not text)
    return environment.from_string(source).render(t=words.phrases, **context)


def test_templates_say_the_words_of_the_strings_file(tmp_path):
    write_strings(tmp_path, "nl", 'read_review = "Lees de recensie"\n'
                                  'all_reviews = { one = "De recensie", other = "Alle {n} '
                                  'recensies" }\n')
    dutch = load_words(tmp_path, "nl")
    assert render(dutch, '{{ t("read_review") }}|{{ t("related_heading") }}') == (
        "Lees de recensie|Related reviews")
    assert [render(dutch, '{{ t.count("all_reviews", n) }}', n=n) for n in (1, 10_000)] == [
        "De recensie", "Alle 10.000 recensies"]
    # The subscribe form's words are publisher serve's (web/strings.LANG.toml).
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "strings.nl.toml").write_text('email_label = "E-mailadres"\n',
                                                      encoding="utf-8")
    assert render(load_words(tmp_path, "nl"), '{{ t("email_label") }}') == "E-mailadres"
    assert render(load_words(tmp_path, "fr"), '{{ t("email_label") }}') == "Adresse e-mail"


def test_a_translation_written_before_a_key_was_added_says_its_older_words(tmp_path):
    # Translated before the digest's buttons named their film: its Dutch button stays
    # Dutch rather than turn English in the middle of a Dutch issue.
    write_strings(tmp_path, "nl", 'read_review = "Lees de recensie"\n')
    older = load_words(tmp_path, "nl")
    assert older("read_review_of", title="Turks fruit") == "Lees de recensie"
    write_strings(tmp_path, "nl", 'read_review = "Lees de recensie"\n'
                                  'read_review_of = "Lees de recensie van {title}"\n')
    assert load_words(tmp_path, "nl")("read_review_of", title="Turks fruit") == (
        "Lees de recensie van Turks fruit")
    assert ENGLISH("read_review_of", title="Heat") == "Read the full review of Heat"
    # A translation from before issues asked whoever was forwarded one to subscribe says its
    # archive's invitation in its place.
    write_strings(tmp_path, "nl", 'archive_pitch = "{subscribe} voor {newsletter}."\n')
    assert load_words(tmp_path, "nl")("forwarded_pitch", subscribe="Abonneer",
                                      newsletter="De Reel") == "Abonneer voor De Reel."
    # Where publisher ships the newer key in the language, its words serve instead.
    write_strings(tmp_path, "fr", 'read_review = "Lire la suite"\n')
    assert load_words(tmp_path, "fr")("read_review_of", title="Les Enfants") == (
        "Lire la critique de Les Enfants")


def test_a_translation_cannot_break_the_markup_and_a_link_placeholder_stays_whole(tmp_path):
    write_strings(tmp_path, "fr", 'byline = "<b>Critique</b> de {reviewer} & co, le {date}"\n')
    french = load_words(tmp_path, "fr")
    source = ('{% set reviewer %}<a href="/r/">{{ name }}</a>{% endset %}'
              '{{ t("byline", reviewer=reviewer, date=day) }}')
    assert render(french, source, name="Tom & Jerry", day="<2 nov>") == (
        '&lt;b&gt;Critique&lt;/b&gt; de <a href="/r/">Tom &amp; Jerry</a> &amp; co, '
        "le &lt;2 nov&gt;")
    # In the plain-text part nothing is escaped.
    assert render(french, '{{ t("byline", reviewer="Tom & Jerry", date="2 nov") }}',
                  text=True) == "<b>Critique</b> de Tom & Jerry & co, le 2 nov"


def test_a_template_asking_for_a_word_that_is_not_there_is_one_line_naming_it(tmp_path):
    from publisher.render.engine import render_template

    (tmp_path / "page.html.j2").write_text('<p>\n{{ t("read_reveiw") }}</p>\n')
    with pytest.raises(TemplateError, match=r"page.html.j2:2: t\('read_reveiw'\): no such "
                                            r"string; the keys are those of .*strings.en.toml"):
        render_template(tmp_path, "page.html.j2", {"t": ENGLISH.phrases})
    (tmp_path / "page.html.j2").write_text('{{ t("byline", reviewer="A") }}')
    with pytest.raises(TemplateError, match=r"page.html.j2:1: t\('byline', …\): no value for "
                                            r"\{date\}; write t\('byline', date=…\)"):
        render_template(tmp_path, "page.html.j2", {"t": ENGLISH.phrases})
    (tmp_path / "page.txt.j2").write_text('{{ t("byline", reviewer="A") }}')
    with pytest.raises(TemplateError, match=r"no value for \{date\}"):
        render_template(tmp_path, "page.txt.j2", {"t": ENGLISH.phrases})
    (tmp_path / "page.html.j2").write_text('{{ t("reviews") }}')
    with pytest.raises(TemplateError, match=r"t\('reviews'\): it counts something: write "
                                            r"t.count\('reviews', number\)"):
        render_template(tmp_path, "page.html.j2", {"t": ENGLISH.phrases})


def test_no_word_has_two_owners():
    """The site's words and publisher serve's are one set in templates: a key in both files
    would let one translation hide the other."""
    import tomllib

    from publisher.render.engine import DEFAULT_TEMPLATES

    site = tomllib.loads((DEFAULT_TEMPLATES / "strings.en.toml").read_text("utf-8"))
    web = tomllib.loads((DEFAULT_TEMPLATES / "web" / "strings.en.toml").read_text("utf-8"))
    assert set(site) & set(web) == set()


def test_every_word_the_default_templates_say_is_in_the_strings():
    """A key misspelt in a default template would stop every build that renders it."""
    import re

    from publisher.render.engine import DEFAULT_TEMPLATES

    said = {key for path in DEFAULT_TEMPLATES.glob("*.j2")
            for key in re.findall(r'\bt(?:\.count)?\("(\w+)"', path.read_text("utf-8"))}
    assert said and said - set(ENGLISH.strings.values) == set()


def test_words_without_values_are_written_into_a_publications_templates_once(tmp_path):
    """The pages' renderer compiles ``t("key")`` to its words (render/pages.py): the same
    page as calling ``t``; calls with values, counts and unknown keys are left to ``t``."""
    import jinja2

    from publisher.render.words import InlineWords

    write_strings(tmp_path, "fr", 'related_heading = "Critiques <liées>"\n')
    french = load_words(tmp_path, "fr")
    source = ('{{ t("related_heading") }}|{{ t("rated", rating=r) }}|{{ t.count("reviews", 2) }}'
              '|{{ x.t("y") }}')
    plain = jinja2.Environment(autoescape=True)
    inlined = plain.overlay(extensions=[InlineWords])
    inlined.extend(words=french)
    context = {"t": french.phrases, "r": "4", "x": {"t": lambda key: key.upper()}}
    expected = "Critiques &lt;liées&gt;|Note\u00a0: 4|2 critiques|Y"
    assert plain.from_string(source).render(context) == expected
    compiled = inlined.compile(source, raw=True)
    assert "Critiques &lt;liées&gt;" in compiled and "'related_heading'" not in compiled
    assert inlined.from_string(source).render(context) == expected
    with pytest.raises(jinja2.TemplateRuntimeError, match="t\\('nope'\\): no such string"):
        inlined.from_string('{{ t("nope") }}').render(context)


@pytest.mark.parametrize("autoescape", [True, False])
def test_words_with_values_are_said_through_a_filter_the_same(tmp_path, autoescape):
    """The pages' renderer makes ``t("key", name=…)`` a filter call (InlineWords), which
    Jinja calls directly: the same words, wherever the call stands and whatever its values."""
    import jinja2

    from publisher.render.words import SAY_FILTER, InlineWords

    source = ('{{ t("rated", rating=r) }}|{{ t("rated", rating=r) ~ "!" }}|'
              '{{ t("rated", rating=r)|upper }}|{{ t("byline", reviewer=(x ~ "<b>"), '
              'date={"d": [r, (1, 2)]}["d"][0]) }}|{% set s = t("rated", rating=r) %}{{ s }}|'
              '{% if t("rated", rating=r) %}yes{% endif %}|{{ t( "rated" , rating = r ) }}|'
              '{% set link %}<a>{{ x }}</a>{% endset %}{{ t("byline", reviewer=link, date=r) }}'
              '|{{ t.count("reviews", 2) }}|{{ x.t("y", z=1) }}')
    plain = jinja2.Environment(autoescape=autoescape)
    inlined = plain.overlay(extensions=[InlineWords])
    inlined.extend(words=ENGLISH)
    assert SAY_FILTER not in plain.filters  # the overlay's own
    context = {"t": ENGLISH.phrases, "r": "4 & <5>", "x": {"t": lambda key, z: key.upper()}}
    written = inlined.from_string(source).render(context)
    assert written == plain.from_string(source).render(context)
    assert "Rated 4" in written and written.count("|") == 9
    compiled = inlined.compile(source, raw=True)
    assert compiled.count(f"environment.filters[{SAY_FILTER!r}]") == 1
    assert "context.call(" in compiled  # t.count and x.t only
    assert compiled.count("context.call(") == 2


@pytest.mark.parametrize("text", ['search_intro = "Trouvez {site"\n',
                                  'search_intro = "Sur {site} }"\n'])
def test_a_stray_brace_in_a_translation_is_one_line_not_a_traceback(tmp_path, text):
    write_strings(tmp_path, "fr", text)
    with pytest.raises(TemplateError, match=r"strings.fr.toml: search_intro: .*write \{\{ and "
                                            r"\}\} for a brace itself"):
        load_words(tmp_path, "fr")


def test_a_web_translation_has_only_the_placeholders_its_key_is_given(tmp_path):
    # confirm_button is said without values, welcome_next with {date} only: {publication}
    # would be a KeyError on the confirm page and in the welcome, not in check.
    web = tmp_path / "web"
    web.mkdir()
    for text, says in [('confirm_button = "Oui, abonnez-moi à {publication}"\n',
                        r"confirm_button: unknown placeholder \{publication\}; use none"),
                       ('welcome_next = "{publication} : le prochain le {date}."\n',
                        r"welcome_next: unknown placeholder \{publication\}; use \{date\}")]:
        (web / "strings.fr.toml").write_text(text, encoding="utf-8")
        with pytest.raises(TemplateError, match=r"web/strings.fr.toml: " + says):
            load_words(tmp_path, "fr")


@pytest.mark.parametrize(("language", "locale"), [
    ("en", "en_US"), ("en-GB", "en_GB"), ("fr", "fr_FR"), ("fr-CA", "fr_CA"), ("he", "he_IL"),
    ("pt", "pt_BR"), ("zh-Hant", "zh_TW"), ("xx", "xx")])
def test_open_graph_reads_a_language_with_its_territory(language, locale):
    assert og_locale(language) == locale


@pytest.mark.parametrize(("language", "direction"), [
    ("en", "ltr"), ("de", "ltr"), ("he", "rtl"), ("ar-EG", "rtl"), ("fa", "rtl"),
    # Hausa and Kurmanji are written in Latin letters, Sorani, Sindhi and Uyghur in Arabic ones
    # (a list of languages had it the other way round); a script subtag decides for itself.
    ("ha", "ltr"), ("ku", "ltr"), ("ckb", "rtl"), ("sd", "rtl"), ("ug", "rtl"),
    ("pa-Arab", "rtl"), ("ks-Deva", "ltr"), ("iw", "rtl"),
    # Languages CLDR has no data for, by what they are written in.
    ("arc", "rtl"), ("khw", "rtl"), ("xx", "ltr"), ("xx-Arab", "rtl"), ("xx-Latn", "ltr")])
def test_a_language_reads_in_the_direction_of_its_script(language, direction):
    assert text_direction(language) == direction


# --- publisher's own translations -------------------------------------------------------------

#: The languages publisher ships the words of (templates/strings.LANG.toml and web/…).
SHIPPED = ["fr", "de", "es", "it", "pt"]


def shipped_strings(folder: str, language: str) -> tuple[dict, dict]:
    import tomllib

    from publisher.render.engine import DEFAULT_TEMPLATES

    def read(name: str) -> dict:
        return tomllib.loads((DEFAULT_TEMPLATES / folder / name).read_text("utf-8"))

    return read("strings.en.toml"), read(f"strings.{language}.toml")


def placeholders(value) -> set[str]:
    import string

    forms = [value] if isinstance(value, str) else list(value.values())
    return {name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name}


@pytest.mark.parametrize("folder", ["", "web"])
@pytest.mark.parametrize("language", SHIPPED)
def test_a_shipped_translation_says_every_english_word_with_its_placeholders(folder, language):
    """A key added in English fails here until each shipped language says it too."""
    from babel import Locale

    english, translated = shipped_strings(folder, language)
    assert sorted(set(english) - set(translated)) == []
    assert sorted(set(translated) - set(english)) == []
    categories = Locale.parse(language).plural_form.tags | {"other"}
    for key, value in english.items():
        assert placeholders(translated[key]) == placeholders(value), key
        if isinstance(value, str):
            assert isinstance(translated[key], str), key
        else:  # each of the language's plural categories, each form keeping the placeholders
            assert set(translated[key]) == categories, key
            for form in translated[key].values():
                assert placeholders(form) | {"n", "hours"} >= placeholders(value), (key, form)


@pytest.mark.parametrize("folder", ["", "web"])
def test_shipped_translations_are_typeset_as_their_language_is(folder):
    import re

    def values(language):
        for value in shipped_strings(folder, language)[1].values():
            yield from [value] if isinstance(value, str) else value.values()

    for text in values("fr"):
        # No-break space before a colon, narrow no-break space before ; ! ? and inside « »:
        # no line ever starts with the sign.
        assert not re.search(r"[^\u00a0]:|[^\u202f][;!?»]|«[^\u202f]", text), text
        assert '"' not in text and "'" not in text, text
    for text in values("de"):
        assert '"' not in text and "«" not in text and "'" not in text, text
        assert text.count("„") == text.count("“"), text
    for text in values("es"):
        assert text.count("?") == text.count("¿") and text.count("!") == text.count("¡"), text
        assert '"' not in text and "'" not in text, text
    for text in values("it"):  # «virgolette» without spaces
        assert '"' not in text and "'" not in text and "« " not in text, text
    for text in values("pt"):  # Brazil's “aspas”
        assert '"' not in text and "'" not in text and "«" not in text, text


def test_a_french_publication_reads_french_without_a_file_of_its_own(tmp_path):
    french = load_words(tmp_path, "fr")
    assert french("every_review") == "Toutes les critiques"
    assert french.count("reviews", 2) == "2 critiques"
    assert french.count("reviews", 1_000_000) == "1\u202f000\u202f000 de critiques"
    assert french("search_no_match", query="Heat") == (
        "Aucune critique ne correspond à «\u202fHeat\u202f».")
    assert french("label", label="Se désabonner") == "Se désabonner\u00a0:"
    assert french("email_label") == "Adresse e-mail"  # the subscribe form's, from web/
    german = load_words(tmp_path, "de")
    assert german("tag_intro", count="3 Kritiken", name="Noir") == (
        "3 Kritiken mit dem Schlagwort „Noir“, die neuesten zuerst.")
    assert german.rating(Decimal("3.5")) == "3,5 von 5"
    spanish = load_words(tmp_path, "es")
    assert spanish("archive_pitch", subscribe="Suscríbase", newsletter="El Carrete") == (
        "¿Le ha gustado? Suscríbase para recibir El Carrete por correo electrónico.")
