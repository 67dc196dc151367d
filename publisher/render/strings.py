"""The words publisher writes in code rather than in a template, in the publication's language.

English is ``templates/strings.en.toml`` (the site's pages, the feeds, the digest) and
``templates/web/strings.en.toml`` (``publisher serve``'s pages); French, German, Spanish, Italian
and Portuguese ship beside them (``strings.fr.toml``…), as peers ship theirs, so that a
publication in one reads it without translating anything. A publication in another language,
or one changing a few of the packaged words, puts ``strings.LANG.toml`` in the same place among
its own templates: the primary language's file and then the full tag's (``pt``, then ``pt-BR``)
are laid over English, each from the packaged defaults and then the publication's. A key left
out stays English (a key added since a translation was written says the older key it grew from:
``SUCCESSORS``); an unknown key, a value of the wrong kind or an unknown placeholder is a
TemplateError naming the file and the key, so a typo never reaches a reader as a half-filled
sentence.

A value is a string, or, for words that count something, a table of CLDR plural categories
(``one``, ``few``, ``many``, ``other``…) of which ``other`` is required. The reader's pages
count hours only: a table there is said with the rest of its values (``{hours}`` chooses the
form), and a translation may give one string for every number, as it could before those
values were tables.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

from ..errors import TemplateError
from .engine import DEFAULT_TEMPLATES

Value = str | Mapping[str, str]

#: CLDR's plural categories (a translation may use any; ``other`` is required).
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})


def english_plural(n: int) -> str:
    return "one" if n == 1 else "other"


@dataclass(frozen=True)
class Strings:
    """The words of one file set in one language: ``strings("confirmed_body", address=…)``;
    ``strings.count("reviews", 3)`` for a table of plural forms."""

    values: Mapping[str, Value]
    language: str
    #: The CLDR plural category of a number in ``language`` ("one", "other", …).
    plural: Callable[[int], str] = english_plural
    #: The value whose number chooses the form of a table said as words (``strings(key, …)``).
    counted: str = "n"

    def __call__(self, key: str, **values: object) -> str:
        return self.fill(key, values)

    def fill(self, key: str, values: Mapping[str, object]) -> str:
        """``strings(key, **values)`` for values already in a mapping."""
        value = self.values[key]
        if not isinstance(value, str):
            number = values[self.counted]
            assert isinstance(number, int), key
            value = self.form(key, number)
        return value.format_map(values)

    def count(self, key: str, n: int, /, **values: object) -> str:
        """The form of ``key`` for the number ``n`` (given to it as ``{n}``, written as
        ``values["n"]`` when given)."""
        return self.form(key, n).format_map({"n": f"{n:,}", **values})

    def form(self, key: str, n: int) -> str:
        """The form of ``key`` for the number ``n``, its placeholders not yet filled in."""
        forms = self.values[key]
        if isinstance(forms, str):  # a reader's page's translation, one for every number
            return forms
        return forms.get(self.plural(n)) or forms["other"]


def _fields(value: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(value) if name}


def _value_fields(value: Value) -> set[str]:
    if isinstance(value, str):
        return _fields(value)
    return set().union(*(_fields(form) for form in value.values()))


def _read(path: Path, english: Path, known: Mapping[str, Value] | None,
          allowed: Set[str] | None) -> dict[str, Value]:
    """The strings in ``path``, checked against ``known`` (those of ``english``; None: this is
    English). A placeholder must be one of ``allowed``, or, when that is None, one the English
    value of the same key has."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the strings: {exc}") from None
    for key, value in data.items():
        if known is not None and key not in known:
            raise TemplateError(f"{path}: {key}: unknown string; the keys are those of "
                                f"{english}")
        plain = isinstance(value if known is None else known[key], str)
        if plain and not isinstance(value, str):
            raise TemplateError(f"{path}: {key}: expected a string")
        # The reader's pages' counted words were strings until they were tables: a translation
        # written then still reads (``allowed`` is set for those pages' strings only).
        if not plain and not (allowed is not None and isinstance(value, str)):
            if not (isinstance(value, dict) and value and "other" in value
                    and all(isinstance(v, str) for v in value.values())):
                raise TemplateError(f"{path}: {key}: expected a table of plural forms with at "
                                    'least other = "…" (one = "…" too, in most languages)')
            odd = sorted(set(value) - PLURAL_FORMS)
            if odd:
                raise TemplateError(f"{path}: {key}: {odd[0]}: not a plural form; use "
                                    + ", ".join(sorted(PLURAL_FORMS)))
        # A translation may use the placeholders of its key's English value only: those are
        # what the code and the templates pass for it (``allowed``, the web pages' whole set,
        # bounds the English file itself), and any other is a KeyError where it renders.
        permitted = allowed if known is None else \
            _value_fields(known[key]) | ({"n"} if not plain and allowed is None else set())
        if permitted is not None:
            try:
                fields = _value_fields(value)
            except ValueError as exc:  # "{site" or a lone "}": str.format cannot read it
                raise TemplateError(f"{path}: {key}: {exc}; write {{{{ and }}}} for a brace "
                                    "itself") from None
            unknown = sorted(fields - permitted)
            if unknown:
                raise TemplateError(f"{path}: {key}: unknown placeholder {{{unknown[0]}}}; use "
                                    + (", ".join(f"{{{p}}}" for p in sorted(permitted))
                                       or "none"))
    return data


def translation_tags(language: str) -> list[str]:
    """The tags a translation into ``language`` is named by, read in this order: its primary
    language, then itself (``strings.pt.toml``, then ``strings.pt-BR.toml``), and as a locale
    (``strings.de_DE.toml``: it was read so while the language could be written "de_DE")."""
    if not language:
        return []
    return list(dict.fromkeys([language.split("-")[0], language, language.replace("-", "_")]))


def load_strings(templates: Path, language: str, *, folder: str = "",
                 allowed: Set[str] | None = None,
                 plural: Callable[[int], str] = english_plural, counted: str = "n") -> Strings:
    """English (the packaged ``<folder>/strings.en.toml``), overlaid with
    ``strings.<primary language>.toml`` and then ``strings.<language>.toml`` from the
    packaged defaults and then the publication's ``templates``. TemplateError names the file
    and key of a broken one."""
    english = DEFAULT_TEMPLATES / folder / "strings.en.toml"
    values = _read(english, english, None, allowed)
    translated: set[str] = set()
    for tag in translation_tags(language):
        for directory in (DEFAULT_TEMPLATES, templates):
            path = directory / folder / f"strings.{tag}.toml"
            if path != english and path.is_file():
                translation = _read(path, english, values, allowed)
                values.update(translation)
                translated.update(translation)
    for key, older in SUCCESSORS.items():
        if older in translated and key not in translated and key in values:
            values[key] = values[older]
    return Strings(values, language or "en", plural, counted)


#: Keys added after translations were written, each with the older key a translation that lacks
#: it says instead: its own words, not English ones in the middle of an issue in its language.
SUCCESSORS = {"read_review_of": "read_review", "forwarded_pitch": "archive_pitch"}


#: What the reader's pages and messages fill in.
WEB_PLACEHOLDERS = frozenset({"publication", "address", "name", "hours", "date", "number",
                              "sender", "label", "title", "old", "new"})


def load_web_strings(templates: Path, language: str,
                     plural: Callable[[int], str] = english_plural) -> Strings:
    """The words of ``publisher serve``'s pages, its confirmation message and the subscribe
    form wherever it is shown: English (``web/strings.en.toml``), overlaid with
    ``web/strings.<primary language>.toml`` and then ``web/strings.<language>.toml`` (say
    ``pt``, then ``pt-BR``), each from the packaged defaults and then the publication's
    ``templates``. TemplateError names the file and key of a broken one. ``plural`` is the
    language's rule (render.words.plural_rule), which chooses how many hours a link works."""
    return load_strings(templates, language, folder="web", allowed=WEB_PLACEHOLDERS,
                        plural=plural, counted="hours")
