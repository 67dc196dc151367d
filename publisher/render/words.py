"""What the site, the feeds and the digest say, in the publication's ``language``: the phrases
of ``templates/strings.en.toml`` (translated by a publication's ``strings.LANG.toml``: see
render/strings.py), which code composes with ``Words`` and templates say with ``t``
(``Phrases``); dates, months, lists of names and counts.

Dates, months and lists follow CLDR through Babel ("20 novembre 2026", "20. November 2026",
"A, B et C"). Plain ``en`` keeps the day-first dates publisher has always written (CLDR's
en-GB), so that an English site rebuilds byte for byte; ``en-US`` reads "November 20, 2026".
A language Babel has no data for falls back to its primary subtag, then to that English
(``language_gaps`` says so, for ``publisher check``).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Mapping, Sequence
from datetime import date as Date
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.ext
import jinja2.lexer
from jinja2.nodes import EvalContext
from markupsafe import Markup, escape

from ..text import cldr_locale, rating_value
from .engine import DEFAULT_TEMPLATES, escape_output, safe_text
from .strings import (
    Strings,
    english_plural,
    load_strings,
    load_web_strings,
    translation_tags,
)

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _english_names(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


class Words:
    """The words of one publication (``words("every_review")``), and its dates and lists."""

    def __init__(self, strings: Strings, language: str) -> None:
        self.strings = strings
        self.language = language or "en"
        self.locale = _locale(self.language)[0]

    def __call__(self, key: str, **values: object) -> str:
        # Not self.strings(key, **values): a call of an object through its class's __call__
        # packs the values again, a third of the cost of the words of a card.
        return self.strings.fill(key, values)

    def count(self, key: str, n: int, /, **values: object) -> str:
        """``key``'s form for the number ``n``: "1 review", "10,000 reviews"."""
        values.setdefault("n", self.number(n))
        return self.strings.count(key, n, **values)

    def number(self, n: int | Decimal) -> str:
        """``n`` as the language writes it: "10,000", "10 000"; "3.5", "3,5"."""
        if self.locale is None:
            return f"{n:,}"
        from babel.numbers import format_decimal
        return str(format_decimal(n, locale=self.locale))

    @functools.cached_property
    def phrases(self) -> Phrases:
        """These words as the templates call them (``t``)."""
        return Phrases(self)

    def html(self, key: str, /, **values: object) -> Markup:
        """The words of ``key`` as HTML: escaped, and so is each value unless it is Markup."""
        value = self.strings.values[key]
        assert isinstance(value, str), key
        return _fill_escaped(key, value, values)

    def rating(self, rating: Decimal | None) -> str:
        """'3.5 out of 5' for 3.5, '4 out of 5' for 4 ('3,5 sur 5' in French); empty for no
        rating."""
        if rating is None:
            return ""
        return self._rating(rating)

    @functools.cache  # noqa: B019 - as _day; eleven ratings, said on every card
    def _rating(self, rating: Decimal) -> str:
        # English keeps rating_value's "4" for 4.0, as publisher has always written it.
        value = rating_value(rating) if self.locale is None else self.number(rating)
        return self("rating", value=value)

    def names(self, names: Sequence[str]) -> str:
        """'A', 'A and B', 'A, B and C' (empty names left out), as the language joins them."""
        present = [n for n in names if n]
        if self.locale is None or len(present) <= 1:
            return _english_names(present)
        from babel.lists import format_list
        return format_list(present, locale=self.locale)

    def date(self, when: datetime, tz: ZoneInfo) -> str:
        """The day of ``when`` in ``tz``: '20 November 2026'."""
        return self._day(when.astimezone(tz).date())

    def month(self, year: int, month: int) -> str:
        """'November 2026'."""
        return self._month(year, month)

    def date_parts(self, month: int) -> list[tuple[str, str]]:
        """How ``date`` writes a day of ``month``, as pieces for a template that has only the
        numbers (the feeds' XSLT view): ("text", words), ("day", ""), ("0day", "") for a day
        written with two digits, ("year", ""). Found by writing two sample days: a language
        whose long date does not show the day and year as plain digits gets the ISO date."""
        sample, first = self._day(Date(1999, month, 28)), self._day(Date(1999, month, 1))
        parts = re.split(r"(28|1999)", sample)
        if parts.count("28") != 1 or parts.count("1999") != 1:
            return [("year", ""), ("text", f"-{month:02d}-"), ("0day", "")]
        day = "0day" if "01" in first.replace("1999", "") else "day"
        return [("year", "") if part == "1999" else (day, "") if part == "28" else ("text", part)
                for part in parts if part]

    @functools.cache  # noqa: B019 - one Words a build; a few thousand days at most
    def _day(self, day: Date) -> str:
        if self.locale is None:
            return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"
        from babel.dates import format_date
        return str(format_date(day, "long", locale=self.locale))

    @functools.cache  # noqa: B019 - as _day
    def _month(self, year: int, month: int) -> str:
        if self.locale is None:
            return f"{_MONTHS[month - 1]} {year}"
        from babel.dates import format_skeleton
        return str(format_skeleton("yMMMM", Date(year, month, 1), locale=self.locale))


class Phrases:
    """The words of the site's, the feeds' and the digest's templates, as ``t``:
    ``{{ t("read_review") }}``, ``{{ t("rated", rating=card.rating_text) }}``,
    ``{{ t.count("all_reviews", count) }}``.

    In an HTML, XML or MJML template the words are escaped, and so is each value unless it is
    Markup (a link written with ``{% set %}…{% endset %}``): a translation holding ``<`` or
    ``&`` cannot break the page. In a text template both are left as written."""

    def __init__(self, words: Words) -> None:
        self._words = words
        self._escaped: dict[str, Markup] = {}  # the words of each key without values, escaped

    def _value(self, key: str) -> str:
        value = self._words.strings.values.get(key)
        if value is None:
            raise jinja2.TemplateRuntimeError(
                f"t({key!r}): no such string; the keys are those of "
                f"{DEFAULT_TEMPLATES / 'strings.en.toml'} and "
                f"{DEFAULT_TEMPLATES / 'web' / 'strings.en.toml'}")
        if not isinstance(value, str):
            raise jinja2.TemplateRuntimeError(
                f"t({key!r}): it counts something: write t.count({key!r}, number)")
        return value

    @jinja2.pass_eval_context
    def __call__(self, context: EvalContext, key: str, /, **values: object) -> str:
        return self.say(context, key, values)

    def say(self, context: EvalContext, key: str, values: Mapping[str, object]) -> str:
        """``t(key, **values)`` for values already in a mapping."""
        if not context.autoescape:
            return _fill(key, self._value(key), values)
        if values:
            return _fill_escaped(key, self._value(key), values)
        found = self._escaped.get(key)
        if found is None:  # looked up on every page: escaped once
            found = self._escaped[key] = _fill_escaped(key, self._value(key), {})
        return found

    @jinja2.pass_eval_context
    def count(self, context: EvalContext, key: str, n: int, /, **values: object) -> str:
        if not isinstance(self._words.strings.values.get(key), Mapping):
            self._value(key)  # raises when there is no such string
            raise jinja2.TemplateRuntimeError(
                f"t.count({key!r}, …): it is not a table of plural forms; write t({key!r})")
        form = self._words.strings.form(key, n)
        values = {"n": self._words.number(n), **values}
        if not context.autoescape:
            return _fill(key, form, values)
        return _fill_escaped(key, form, values)


class InlineWords(jinja2.ext.Extension):
    """Writes each ``t("key")`` without values into the template as it is compiled: the words
    are the same on every page, and Jinja then escapes them once, at compile time, instead of
    calling ``t`` on each of ten thousand pages (a call costs about 2 µs). A call with values,
    ``t("key", name=…)``, becomes ``("key"|<SAY_FILTER>(name=…))``: the same words, through a
    filter, which Jinja calls directly rather than through Context.call (its checks for how
    to call what it is given are most of a call's cost). For an environment of one
    publication's words only (``environment.extend(words=…)``, on an overlay: see
    render/pages.py). Anything else (``t.count``, a key the strings lack, whose error is
    raised where the page renders) is left to ``t`` itself."""

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        # A dict of its own: an overlay shares its parent's filters.
        environment.filters = {**environment.filters, SAY_FILTER: _say}

    def filter_stream(self, stream: jinja2.lexer.TokenStream) -> list[jinja2.lexer.Token]:
        words: Words = self.environment.words  # type: ignore[attr-defined]
        tokens = list(stream)
        out = []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            call = tokens[i:i + 3]
            if not ([t.type for t in call] == ["name", "lparen", "string"]
                    and token.value == "t" and (i == 0 or tokens[i - 1].type != "dot")
                    and i + 3 < len(tokens)):
                out.append(token)
                i += 1
                continue
            key, after = call[2].value, tokens[i + 3]
            value = words.strings.values.get(key)
            if after.type == "rparen" and isinstance(value, str) and all(
                    name is None for _, name in _escaped_pieces(value)):
                out.append(jinja2.lexer.Token(token.lineno, "string", _fill(key, value, {})))
                i += 4
                continue
            end = _closing(tokens, i + 1) if after.type == "comma" else None
            if end is None:
                out.append(token)
                i += 1
                continue
            # t("key", a=…) -> ("key"|SAY_FILTER(a=…)): the arguments' own tokens, in brackets
            # so that the filter binds to the string whatever the call stood beside.
            line = token.lineno
            out.extend([jinja2.lexer.Token(line, "lparen", "("), call[2],
                        jinja2.lexer.Token(line, "pipe", "|"),
                        jinja2.lexer.Token(line, "name", SAY_FILTER),
                        jinja2.lexer.Token(line, "lparen", "(")])
            out.extend(tokens[i + 4:end + 1])  # after the comma, to the call's own ")"
            out.append(jinja2.lexer.Token(line, "rparen", ")"))
            i = end + 1
        return out


#: The filter InlineWords makes a call of ``t`` with values into.
SAY_FILTER = "_inline_words_say"

_OPEN = {"lparen": "rparen", "lbracket": "rbracket", "lbrace": "rbrace"}


def _closing(tokens: Sequence[jinja2.lexer.Token], start: int) -> int | None:
    """The index of the bracket closing the one at ``start``; None if the expression ends
    first (a template error, left to Jinja to report)."""
    closers = []
    for n in range(start, len(tokens)):
        kind = tokens[n].type
        if kind in _OPEN:
            closers.append(_OPEN[kind])
        elif closers and kind == closers[-1]:
            closers.pop()
            if not closers:
                return n
        elif kind in ("rparen", "rbracket", "rbrace", "variable_end", "block_end"):
            return None
    return None


@jinja2.pass_eval_context
def _say(context: EvalContext, key: str, /, **values: object) -> str:
    """``t(key, **values)`` in InlineWords' environment: the filter it writes calls as."""
    phrases: Phrases = context.environment.words.phrases  # type: ignore[attr-defined]
    return phrases.say(context, key, values)


def _fill(key: str, text: str, values: Mapping[str, object]) -> str:
    try:
        return text.format_map(values)
    except KeyError as missing:
        raise _no_value(key, missing) from None


@functools.lru_cache(maxsize=1024)
def _escaped_pieces(text: str) -> tuple[tuple[str, str | None], ...]:
    """``text`` escaped, cut at its placeholders: (escaped words, the placeholder after them or
    None), parsed once per string rather than on every page."""
    return tuple((str(escape(literal)), name)
                 for literal, name, _spec, _conversion in string.Formatter().parse(text))


def _fill_escaped(key: str, text: str, values: Mapping[str, object]) -> Markup:
    """``escape(text).format_map(values)``, as Markup's own formatter does it (each value
    escaped unless it is Markup) in two fifths of the time (2.8 µs against 7): the review page
    says several of these. Format specs (``{n:>3}``) are not used: the strings' placeholders
    are names."""
    out = []
    try:
        for literal, name in _escaped_pieces(text):
            out.append(literal)
            if name is not None:
                out.append(escape_output(values[name]))
    except KeyError as missing:
        raise _no_value(key, missing) from None
    return safe_text("".join(out))


def _no_value(key: str, missing: KeyError) -> jinja2.TemplateRuntimeError:
    name = missing.args[0] if missing.args else "?"
    return jinja2.TemplateRuntimeError(
        f"t({key!r}, …): no value for {{{name}}}; write t({key!r}, {name}=…)")


@functools.cache
def _locale(language: str) -> tuple[Any, bool]:
    """(Babel's Locale for ``language``, or None for publisher's own English; whether the
    language had to fall back)."""
    if language.replace("_", "-").lower() in ("en", "en-gb"):
        return None, False  # publisher's own English: no Babel to load
    return cldr_locale(language)


#: Scripts written right to left (ISO 15924), and languages CLDR has no data for that are: a
#: tag Babel cannot read reads in its script's direction, else in its language's.
_RTL_SCRIPTS = frozenset({"Adlm", "Arab", "Hebr", "Mand", "Nkoo", "Rohg", "Samr", "Syrc", "Thaa",
                          "Yezi"})
_RTL_LANGUAGES = frozenset({"arc", "khw"})


@functools.cache
def text_direction(language: str) -> str:
    """"rtl" for a language written right to left (the ``dir`` of its pages), else "ltr": the
    character order CLDR gives it, which knows each language's script (Hausa and Kurmanji in
    Latin letters, Sorani and Sindhi in Arabic ones) and reads a script subtag ("pa-Arab")."""
    tag = language.replace("_", "-")
    locale, fallback = _locale(tag)
    if locale is not None and not fallback:
        return str(locale.text_direction)
    script = next((s.title() for s in tag.split("-")[1:] if len(s) == 4 and s.isalpha()), None)
    if script is not None:
        return "rtl" if script in _RTL_SCRIPTS else "ltr"
    if locale is not None:  # the primary language's data ("ar" for an unknown "ar-XY")
        return str(locale.text_direction)
    return "rtl" if tag.split("-")[0].lower() in _RTL_LANGUAGES else "ltr"


def og_locale(language: str) -> str:
    """``language`` as Open Graph's og:locale wants it, language_TERRITORY ("en-GB" -> "en_GB";
    a bare "fr" -> "fr_FR", its likeliest territory in CLDR, as Facebook reads a bare "fr" as
    nothing and falls back to en_US)."""
    parts = language.replace("-", "_").split("_")
    lang = parts[0].lower()
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            return f"{lang}_{part.upper()}"
    if lang == "en":
        return "en_US"  # without loading Babel, as English never does
    try:
        from babel.core import get_global
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        return lang
    likely = get_global("likely_subtags")
    found = likely.get("_".join([lang, *parts[1:]])) or likely.get(lang) or ""
    region = found.split("_")[-1]
    return f"{lang}_{region}" if len(region) == 2 and region.isalpha() else lang


def plural_rule(language: str) -> Callable[[int], str]:
    """The CLDR plural category of a number in ``language`` ("one", "few", "other"…)."""
    locale = _locale(language or "en")[0]
    return locale.plural_form if locale is not None else english_plural


def load_words(templates: Path, language: str) -> Words:
    """The publication's words: English, overlaid with its ``strings.LANG.toml``. Raises
    TemplateError naming the file and key of a broken one."""
    plural = plural_rule(language)
    return Words(_with_form_words(load_strings(templates, language, plural=plural),
                                  load_web_strings(templates, language, plural=plural)),
                 language)


def _with_form_words(strings: Strings, web: Strings) -> Strings:
    """The site's strings, and the web pages' too: the subscribe form under every page and
    in the feeds' stylesheet is publisher serve's form, in its words (one translation for
    both). No key is in both files (tests/render/test_words.py)."""
    return Strings({**web.values, **strings.values}, strings.language, strings.plural)


def language_gaps(templates: Path, language: str) -> list[str]:
    """What of the site would not be in ``language`` (for ``publisher check``): dates Babel
    has no data for, and, for a language other than English, the words publisher composes
    when no ``strings.LANG.toml`` translates them."""
    language = language or "en"
    gaps = []
    locale, fallback = _locale(language)
    if fallback:
        used = str(locale).replace("_", "-") if locale is not None else "English"
        gaps.append(f"language: there are no dates or lists for {language!r} (Unicode CLDR, "
                    f"through Babel): they are written in {used}; is it a language tag such "
                    "as fr or pt-BR?")
    tags = translation_tags(language)
    if tags[0] != "en" and not any(
            (directory / f"strings.{tag}.toml").is_file()
            for directory in (DEFAULT_TEMPLATES, templates) for tag in tags):
        gaps.append(f"language: {language!r}, but the words of the pages, feeds and digest "
                    "(“Every review”, “Reviewed by …”, feed titles) are English: copy "
                    f"{DEFAULT_TEMPLATES / 'strings.en.toml'} to "
                    f"{templates / f'strings.{language}.toml'} and translate it (and "
                    f"web/strings.en.toml to {templates / 'web' / f'strings.{language}.toml'}, "
                    "for the subscribe form and publisher serve's pages)")
    return gaps


#: publisher's own English, for what renders without a publication (tests, previews of parts).
ENGLISH = load_words(DEFAULT_TEMPLATES, "en")
