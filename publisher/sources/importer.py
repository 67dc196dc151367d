"""Import plain-text review pages exported from a website builder as ``reviews/*.md``.

A page looks like this (blank lines and page chrome may vary)::

    top of page
    Director: NAME (earlier film, another film)
    Starring: name, name, and name
    REVIEWER: name
    The logline: one paragraph.
    Body paragraphs ...
    TITLE is available to rent from ...
    bottom of page

The sample pages carry no date, and name the film only in their closing line ("Salt Harbour is
available to rent…"). Pages from richer layouts may open with more labelled lines, each
optional: ``Title:`` (or ``Film:``), ``Date:`` (``Published:``, ``Posted:``; ``March 3, 2024`` or
``2024-03-03``), ``Rating:`` (``4/5``, ``8/10``, ``3½``, ``★★★½``), ``Runtime:``, ``Genre:`` or
``Tags:``, and ``Rated:`` or ``Certificate:``; the options (``--title``, ``--date``) win over
them. A French or German publication's pages may write these labels in its language
(``_HEADER_KEYS_IN``), and any publication's dates in its language's words. Without a title,
the film the closing line names is taken, else the file name is humanised (either noted, to
check); without a date the review is written as a draft (with the
import day as a placeholder date, so the file still loads) and the result lists the fields an
editor must fill in before publishing.

Every written review gets an ``id``: an RFC 4151 tag URI ``tag:{domain},{day}:{slug}`` where day
is the publication date when given, else the import day. A tag URI rather than a random UUID
because it is readable, is exactly what the loader would derive for a hand-written review dated
that day, and is deterministic: importing the same page again gives the same id (and ``--force``
keeps the id already in the file), so a re-import never shows up as a new entry in feed readers.
Because it is written into the file, renaming the slug or retitling later keeps it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import date as Date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from ..config import Config
from ..errors import PageImportError
from ..files import read_text_in, shown_from, write_atomic
from ..text import cldr_locale, one_line, pasted_line, title_slug
from .catalog import review_files
from .frontmatter import read_scalars
from .schema import default_slug, derived_id, parse_runtime

__all__ = [
    "ImportResult",
    "ParsedPage",
    "case_name",
    "case_title",
    "escape_markdown",
    "format_result",
    "format_summary",
    "humanise_filename",
    "import_page",
    "parse_page",
    "render_review",
]

# --- pages --------------------------------------------------------------------------------------

#: Lines a website builder adds around every page.
_CHROME = frozenset({"top of page", "bottom of page", "skip to main content"})
#: Lines a builder puts after a post (share buttons, counters, the comment form, links to other
#: posts), as its text export carries them: left out where they close a page, and only there
#: (a review may say "Related" in a sentence, not as a line of its own at its very end).
_FOOTER = frozenset({
    # Wix
    "share", "facebook", "twitter", "x", "linkedin", "pinterest", "whatsapp", "email", "print",
    "copy link", "link copied", "recent posts", "see all", "write a comment",
    "log in to leave a comment", "post not marked as liked", "post marked as liked", "like",
    "liked", "comments", "tags", "views",
    # WordPress and Squarespace
    "share this:", "like this:", "like loading...", "like loading…", "loading...", "related",
    "leave a reply", "leave a reply cancel reply", "cancel reply", "leave a comment",
    "reddit", "tumblr", "telegram", "tweet", "reblog", "subscribe", "newer post", "older post",
    "previous post", "next post", "previous", "next", "back to blog", "you may also like",
})
#: "12 views", "0 comments", "12 views0 comments" (Wix runs them together), "Comments (0)".
_COUNTERS = re.compile(r"^(?:\d[\d,.]*k?\s*(?:views?|comments?|likes?)\s*)+$|^comments \(\d+\)$")


def _footer_line(line: str) -> bool:
    lower = line.casefold()
    return lower in _FOOTER or _COUNTERS.match(lower) is not None


# --- casing ----------------------------------------------------------------------------------

#: Name particles kept lower-case inside a name ("Greta van der Berg", "Ana de la Torre").
_PARTICLES = frozenset(
    {"da", "das", "de", "del", "della", "der", "des", "di", "do", "dos", "du", "la", "le",
     "van", "von", "den", "ten", "ter", "y"}
)
_ROMAN = re.compile(r"^(?:ii|iii|iv|vi|vii|viii|ix|xi|xii)$")
_SUFFIXES = {"jr": "Jr", "sr": "Sr"}
#: Words a film title keeps lower-case unless first or last (Chicago style, short list).
_SMALL_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "but", "by", "for", "from", "in", "into", "nor", "of", "on",
     "or", "the", "to", "vs", "with"}
)


def _cap(segment: str) -> str:
    """Capitalise one name segment: Mc and O'/D' prefixes, else the first letter only."""
    m = re.match(r"^([od])(['’])(\w.*)$", segment)
    if m:
        return m.group(1).upper() + m.group(2) + _cap(m.group(3))
    if segment.startswith("mc") and len(segment) > 2 and segment[2].isalpha():
        return "Mc" + segment[2].upper() + segment[3:]
    return segment[:1].upper() + segment[1:]


def _case_word(word: str) -> str:
    """Case a lower-cased word part by part: hyphens and initials ("j.k.") each start anew."""
    bare = word.rstrip(".,")
    if _ROMAN.match(bare):
        return word.upper()
    if bare in _SUFFIXES:
        return _SUFFIXES[bare] + word[len(bare):]
    return "".join(_cap(part) for part in re.split(r"([-‐.])", word))


def case_name(name: str) -> str:
    """A person's name properly cased: 'oliver mcallister' -> 'Oliver McAllister',
    "DANE O'CONNELL" -> "Dane O'Connell", 'greta van der berg' -> 'Greta van der Berg'.

    Words written in mixed case ('DeShawn', 'MacLeod', 'Van') are taken as the writer meant them;
    only all-lower and all-upper words are recased. Particles stay lower-case except as the
    first or last word. 'Mac' is not split ('Mack', 'Macy'): write 'MacLeod' to get it.
    """
    words = name.split()
    out = []
    for i, word in enumerate(words):
        if word != word.lower() and word != word.upper():
            out.append(word)
            continue
        lower = word.lower()
        if 0 < i < len(words) - 1 and lower in _PARTICLES:
            out.append(lower)
        else:
            out.append(_case_word(lower))
    return " ".join(out)


#: The same in other languages, for a publication in one ("Cléo de 5 à 7", "Alice in den
#: Städten"); English's stay small too (an English title in a French publication).
_SMALL_WORDS_IN = {
    "fr": frozenset({"à", "au", "aux", "de", "des", "du", "en", "et", "la", "le", "les", "ni",
                     "ou", "par", "pour", "sur", "un", "une", "dans"}),
    "de": frozenset({"am", "an", "auf", "aus", "bei", "dem", "den", "der", "des", "die", "das",
                     "ein", "eine", "einem", "einen", "einer", "eines", "für", "im", "in", "mit",
                     "nach", "oder", "über", "und", "unter", "vom", "von", "vor", "zu", "zum",
                     "zur"}),
}


def case_title(title: str, language: str = "en") -> str:
    """A film title in title case: 'the long way down' -> 'The Long Way Down'; the small words
    of ``language`` kept small too ('cléo de 5 à 7' -> 'Cléo de 5 à 7').

    Mixed-case words are kept as written; all-capitals words are kept (acronyms) unless the
    whole title is in capitals.
    """
    small = _SMALL_WORDS | _SMALL_WORDS_IN.get(language.split("-")[0].lower(), frozenset())
    shouting = title == title.upper()
    words = title.split()
    out = []
    for i, word in enumerate(words):
        if word != word.lower() and not (shouting and word == word.upper()):
            out.append(word)
            continue
        lower = word.lower()
        after_colon = i > 0 and words[i - 1].endswith((":", "—", "–"))
        if 0 < i < len(words) - 1 and lower in small and not after_colon:
            out.append(lower)
        elif _ROMAN.match(lower.rstrip(".,:")):
            out.append(lower.upper())
        else:
            out.append("".join(p[:1].upper() + p[1:] for p in re.split(r"([-‐.])", lower)))
    return " ".join(out)


def humanise_filename(path: Path, language: str = "en") -> str:
    """A title from a page's file name: 'salt-harbour.txt' -> 'Salt Harbour' (``case_title``
    in ``language``)."""
    words = re.sub(r"[-_\s]+", " ", path.stem).strip()
    return case_title(words, language) if words else ""


def _split_names(value: str, language: str = "en") -> list[str]:
    """'a, b, c, and d' / 'a, b and c' / 'a & b' -> ['a', 'b', 'c', 'd']; "and" in English or
    in ``language`` ("a, b et c", "a, b und c")."""
    value = value.rstrip(";").rstrip()
    # A closing full stop ends the line, unless it belongs to 'Jr.' or an initial.
    if value.endswith(".") and not re.search(r"(?:\b[js]r|\b\w)\.$", value, re.IGNORECASE):
        value = value[:-1]
    words = "|".join(dict.fromkeys(["and", "&", *map(re.escape, _and(language).split())]))
    names = []
    for item in re.split(r"[,;/•·|]", value):  # however the site or the hand separated them
        for part in re.split(rf"\s+(?:{words})\s+", item.strip(), flags=re.IGNORECASE):
            part = re.sub(rf"^(?:{words})\s+", "", part.strip(), flags=re.IGNORECASE).strip()
            if part:
                names.append(part)
    return names


@functools.cache
def _locale(language: str) -> Any:
    """Babel's Locale for ``language`` (else for its primary subtag), or None where CLDR has
    no data for it; English's too (its month names are read beside the language's)."""
    return cldr_locale(language)[0]


@functools.cache
def _and(language: str) -> str:
    """The word that joins the last two names of a list in ``language`` ("and", "et", "und"):
    CLDR's, from its pattern for a list of two."""
    locale = _locale(language)
    if locale is None or language.split("-")[0].lower() == "en":
        return "and"
    pattern = str(locale.list_patterns["standard"].get("2", "{0} and {1}"))
    word = pattern.replace("{0}", "").replace("{1}", "").strip(" ,")
    return word or "and"


# --- Markdown --------------------------------------------------------------------------------

# Characters with a meaning anywhere in a CommonMark/GFM line (emphasis, code, links, raw HTML,
# strikethrough, escapes). Escaping them is always safe: a backslash before ASCII punctuation
# renders as the character itself.
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<~])")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# Only at the start of a line: headings, block quotes, list items, thematic breaks.
_LINE_START = re.compile(r"^(?:([#>+=-])|(\d{1,9})([.)]))")


def escape_markdown(text: str) -> str:
    """Escape plain text so that Markdown renders it as the same text, not as markup.

    Typographic quotes and dashes are left to the renderer, and a bare URL is still made a
    link (GFM autolinks): neither changes the text a reader sees.
    """
    text = _INLINE_SPECIAL.sub(r"\\\1", text)
    text = _ENTITY.sub(r"\\&", text)
    m = _LINE_START.match(text)
    if m and m.group(1):
        text = "\\" + text
    elif m:
        text = m.group(2) + "\\" + text[m.end(2):]
    return text


# --- parsing ---------------------------------------------------------------------------------

#: The labelled lines a page may open with, and the field each gives. Pages exported from
#: richer layouts than the sample's name the film, the date and the rating too.
_HEADER_KEYS = {"director": "director", "directed by": "director", "starring": "starring",
                "cast": "starring", "reviewer": "reviewer", "reviewed by": "reviewer",
                "author": "reviewer", "by": "reviewer",
                "year": "year", "title": "title", "film": "title", "date": "date",
                "published": "date", "posted": "date", "rating": "rating", "score": "rating",
                "stars": "rating", "runtime": "runtime", "running time": "runtime",
                "length": "runtime", "tags": "tags", "genre": "tags", "genres": "tags",
                "classification": "classification", "certificate": "classification",
                "rated": "classification", "url": "address", "link": "address",
                "address": "address", "permalink": "address", "old url": "address",
                "page url": "address"}
#: The same labels in other languages, read on the pages of a publication in that language
#: (besides the English ones, which builders in every language still write).
_HEADER_KEYS_IN = {
    "fr": {"réalisateur": "director", "réalisatrice": "director", "réalisation": "director",
           "réalisé par": "director", "avec": "starring", "distribution": "starring",
           "acteurs": "starring", "interprètes": "starring", "critique": "reviewer",
           "critique de": "reviewer", "critique par": "reviewer", "par": "reviewer",
           "auteur": "reviewer", "autrice": "reviewer", "année": "year", "titre": "title",
           "publié le": "date", "publié": "date", "note": "rating", "étoiles": "rating",
           "durée": "runtime", "catégorie": "tags", "mots-clés": "tags",
           "public": "classification", "âge": "classification", "adresse": "address",
           "lien": "address"},
    "de": {"regie": "director", "regisseur": "director", "regisseurin": "director",
           "darsteller": "starring", "besetzung": "starring", "mit": "starring",
           "kritik": "reviewer", "kritik von": "reviewer", "rezension": "reviewer",
           "rezension von": "reviewer", "autor": "reviewer", "autorin": "reviewer",
           "von": "reviewer", "jahr": "year", "titel": "title", "datum": "date",
           "veröffentlicht": "date", "veröffentlicht am": "date", "bewertung": "rating",
           "wertung": "rating", "sterne": "rating", "laufzeit": "runtime", "länge": "runtime",
           "dauer": "runtime", "schlagwörter": "tags", "fsk": "classification",
           "altersfreigabe": "classification", "freigabe": "classification",
           "adresse": "address"},
}


@functools.cache
def _header_keys(language: str) -> dict[str, str]:
    """The labels a page of a publication in ``language`` may open with, and their fields."""
    return {**_HEADER_KEYS, **_HEADER_KEYS_IN.get(language.split("-")[0].lower(), {})}


def _labels_in(language: str) -> str:
    """", or Réalisateur:, Avec: and Critique:" where ``language`` has labels of its own (the
    first for each field), else ""."""
    labels = _HEADER_KEYS_IN.get(language.split("-")[0].lower())
    if labels is None:
        return ""
    firsts = [next(label for label, key in labels.items() if key == field)
              for field in ("director", "starring", "reviewer")]
    return ", or {}:, {}: and {}:".format(*(label.capitalize() for label in firsts))


@functools.cache
def _header(language: str) -> re.Pattern[str]:
    """A labelled line: "Director: name", "Réalisateur : nom"."""
    return re.compile(
        r"^(?P<key>" + "|".join(sorted(map(re.escape, _header_keys(language)), key=len,
                                       reverse=True)) +
        r")\s*:\s*(?P<value>.*)$", re.IGNORECASE)
#: Labels of a page's header that name what a review has no field for (the film's writer,
#: country, language): such lines are left out, and said so, rather than read as the logline or
#: taken for the review's text. A list, not any "Word: value" line, so that a logline such as
#: "Warning: this film contains flashing images." stays one.
_UNREAD_LABELS = frozenset({
    "writer", "writers", "written by", "screenplay", "screenplay by", "screenwriter", "story",
    "story by", "based on", "producer", "producers", "produced by", "executive producer",
    "executive producers", "music", "music by", "composer", "score", "original music",
    "cinematography", "cinematographer", "director of photography", "photography", "editor",
    "editing", "edited by", "film editing", "production design", "production designer",
    "costume design", "country", "countries", "country of origin", "language", "languages",
    "original language", "original title", "also known as", "aka", "studio",
    "production company", "production companies", "distributor", "distributed by",
    "release date", "released", "release", "budget", "box office", "format", "aspect ratio",
    "sound mix", "color", "colour", "filming locations", "imdb", "letterboxd",
    # French and German publications' pages
    "scénario", "scénariste", "musique", "photographie", "montage", "producteur",
    "productrice", "pays", "langue", "titre original", "date de sortie", "sortie",
    "distributeur", "drehbuch", "musik", "kamera", "schnitt", "produktion", "produzent",
    "produzentin", "land", "produktionsland", "sprache", "originaltitel", "kinostart", "verleih",
})
_LABEL = re.compile(r"^(?P<key>[^\W\d_][\w'’ -]{0,30}?)\s*:\s*\S")


def _unread_label(line: str) -> str:
    """The label of a header line naming what a review has no field for ("Writer"), else ""."""
    m = _LABEL.match(line)
    return m.group("key") if m and m.group("key").casefold() in _UNREAD_LABELS else ""


#: Metadata lines of a Pelican source that no page header has: such a file is a source to move,
#: not a page to import, and its lines would otherwise become the logline ("Status: draft").
_PELICAN_LINE = re.compile(r"^(?P<key>Slug|Status|Category|Modified|Summary|Lang|Template|"
                           r"Save_as|Url|Authors|Translation)\s*:\s", re.IGNORECASE)
_ELLIPSIS_ONLY = re.compile(r"^(?:…|\.{2,}|etc\.?)$", re.IGNORECASE)
#: A sentence ending inside what would be the film's name ("We loved it. Salt Harbour is…"); a
#: word of three lower-case letters or more, so that "Mr. Smith Goes to Washington" passes.
_SENTENCE_END = re.compile(r"[a-zß-ÿ]{3,}[.!?]\s")


@dataclass(frozen=True)
class _Availability:
    """How a closing line says where to watch the film, in one language."""

    line: re.Pattern[str]  # such a line ("… is available …")
    film: re.Pattern[str]  # its subject, the film: group "film" ("is": "are" is films)
    not_a_film: frozenset[str]  # first words of a subject that is no film's name ("it")
    articles: str  # a pattern of the words before a generic subject ("the ", "this ")
    generic: frozenset[str]  # subjects that name no film ("film", "documentary")


_AVAILABILITY = {
    "en": _Availability(
        re.compile(r"\b(?:is|are)\s+(?:now\s+)?available\b", re.IGNORECASE),
        re.compile(r"^(?P<film>.+?)\s+is\s+(?:now\s+)?available\b", re.IGNORECASE),
        frozenset({"it", "this", "that", "these", "those", "they", "he", "she", "we", "you",
                   "all", "both", "which", "our", "my", "your", "every", "each"}),
        r"(?:the|this|that|a|an|our)\s+",
        frozenset({"film", "movie", "picture", "documentary", "feature", "series", "show",
                   "season", "box set", "release", "disc", "short"})),
    # "Sans toit ni loi est disponible en VOD", "… est désormais disponible".
    "fr": _Availability(
        re.compile(r"\b(?:est|sont)\s+(?:\w+\s+)?disponibles?\b", re.IGNORECASE),
        re.compile(r"^(?P<film>.+?)\s+est\s+(?:\w+\s+)?disponible\b", re.IGNORECASE),
        frozenset({"il", "elle", "ils", "elles", "ce", "cela", "ceci", "ça", "tout", "tous",
                   "les", "nos", "notre", "chaque", "on", "nous", "vous"}),
        r"(?:(?:le|la|ce|cet|cette|un|une|notre)\s+|l['’]\s*)",
        frozenset({"film", "long-métrage", "long métrage", "documentaire", "série",
                   "saison", "coffret", "sortie", "disque", "court-métrage", "dvd"})),
    # "Der Himmel über Berlin ist ab sofort auf DVD erhältlich", "… ist jetzt verfügbar".
    "de": _Availability(
        re.compile(r"\b(?:ist|sind)\b.*\b(?:verfügbar|erhältlich|abrufbar)\b", re.IGNORECASE),
        re.compile(r"^(?P<film>.+?)\s+ist\b.*\b(?:verfügbar|erhältlich|abrufbar)\b",
                   re.IGNORECASE),
        frozenset({"er", "es", "sie", "das", "dies", "alle", "beide", "unser", "unsere",
                   "jeder", "jede", "jedes", "wir", "man"}),
        r"(?:der|die|das|dieser|diese|dieses|ein|eine|unser|unsere)\s+",
        frozenset({"film", "spielfilm", "dokumentarfilm", "dokumentation", "serie", "staffel",
                   "box", "kurzfilm", "dvd"})),
}


def _availabilities(language: str) -> list[_Availability]:
    """How a closing line says where to watch, in English and in ``language``."""
    primary = language.split("-")[0].lower()
    return [_AVAILABILITY["en"], *([_AVAILABILITY[primary]] if primary in _AVAILABILITY
                                   and primary != "en" else [])]


@dataclass(frozen=True)
class ParsedPage:
    """What a page says, cleaned and cased (a title or date only where a line gives one; the
    title as written)."""

    reviewer: str
    summary: str
    paragraphs: tuple[str, ...]  # plain text, one entry per body paragraph
    director: str = ""
    credits: tuple[str, ...] = ()
    starring: tuple[str, ...] = ()
    year: int | None = None
    availability: str = ""
    notes: tuple[str, ...] = ()
    language: str = "en"  # the publication's, which its labels, dates and names were read in
    title: str = ""  # from a Title: line, as written
    named: str = ""  # the film the availability line names, as the page writes it
    date: str = ""  # from a Date: line, as YYYY-MM-DD
    rating: Decimal | None = None  # from a Rating: line, out of 5
    runtime: int | None = None  # minutes, from a Runtime: line
    tags: tuple[str, ...] = ()
    classification: str = ""
    address: str = ""  # the page's path on the old site, from a URL: line ("/post/x")
    address_line: int = 0


#: Around a film's name in a closing line: emphasis and quotes, in any language's marks.
_AROUND_NAME = " *_\"'“”‘’«»„‚‹›\u00a0\u202f"


def film_named_by(availability: str, language: str = "en") -> str:
    """The film's title a closing line gives, as written: 'Salt Harbour is available to rent…'
    -> 'Salt Harbour' (and in ``language``: 'Sans toit ni loi est disponible en VOD'); '' when
    its subject is no film's name ("The film is now available", "It is available", a sentence
    before it)."""
    for says in _availabilities(language):
        m = says.film.match(availability)
        if m:
            return _film_name(m.group("film"), says)
    return ""


def _film_name(subject: str, says: _Availability) -> str:
    """``subject`` of an availability line as a film's name, or '' where it names none."""
    film = re.sub(r"\s*\(\d{4}\)$", "", subject.strip(_AROUND_NAME))
    film = film.strip(_AROUND_NAME)
    words = film.split()
    if not words or len(words) > 12 or len(film) > 100 or _SENTENCE_END.search(film + " "):
        return ""
    if not (film[0].isupper() or film[0].isdigit()) or words[0].lower() in says.not_a_film:
        return ""
    bare = re.sub(f"^{says.articles}", "", film.lower())
    return "" if bare in says.generic or bare.endswith(" film") else film


def _read_page(path: Path, encoding: str | None = None) -> tuple[str, str]:
    """The page's text, and the encoding it was read in when it is not UTF-8 but ``encoding``
    (the one its editor says pages that are not UTF-8 were saved in), else ""."""
    hint = ("export or save the page as UTF-8, or import it with --encoding windows-1252 if it "
            "was saved so (Windows' \"ANSI\")") if encoding is None else (
            "export or save the page as UTF-8")
    return read_text_in(path, PageImportError, what="a page", hint=hint, fallback=encoding)


def _director(value: str, language: str = "en") -> tuple[str, tuple[str, ...]]:
    """'rosa delgado (film one, film two)' -> ('Rosa Delgado', ('Film One', 'Film Two')); two
    directors joined by "and" in ``language``."""
    name, paren, rest = value.partition("(")
    credits: list[str] = []
    if paren:
        inner = rest.rsplit(")", 1)[0] if ")" in rest else rest
        for item in re.split(r"[,;]", inner):
            item = item.strip().strip("'\"‘’“”")
            if item and not _ELLIPSIS_ONLY.match(item):
                credits.append(case_title(item, language))
    names = [case_name(n) for n in _split_names(name.strip(), language)]
    return f" {_and(language)} ".join(names), tuple(credits)


#: How a Date: line may be written, besides ISO 8601 (2024-03-03): the month in words, so that
#: the day and the month cannot be mistaken for each other.
_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y",
                 "%d %B, %Y", "%d %b, %Y")
_WEEKDAY = re.compile(r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+", re.IGNORECASE)
_ORDINAL = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)


#: The time of day after a date, as WordPress ("March 3, 2024 at 10:15 am") and others write it.
_TIME_OF_DAY = re.compile(r"(?:,?\s+(?:at|à|um)\s+|,\s*|\s+)(?P<hour>\d{1,2})[:h](?P<minute>\d\d)"
                          r"(?:\s*(?P<half>[ap])\.?m\.?)?(?:\s*uhr)?$", re.IGNORECASE)
#: 03.03.2024: always the day first where dates are written with full stops; and 2024/03/04,
#: the year first, always followed by the month.
_DOTTED_DATE = re.compile(r"^(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4})$|"
                          r"^(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})$")


def _page_date(value: str, language: str = "en") -> str | None:
    """'March 3, 2024', '3rd March 2024', 'Sun, Mar 3, 2024', '03.03.2024' or '2024-03-03' ->
    '2024-03-03', and the month in words in ``language`` too ('3 mars 2024', '3. März 2024');
    with a time of day after it ('March 3, 2024 at 10:15 am'), '2024-03-03T10:15:00'; None for
    anything else (03/04/2024 is 3 April or March 4)."""
    try:
        return parse_date_option(value)[1].isoformat()
    except PageImportError:
        pass
    if clock := _TIME_OF_DAY.search(value):
        hour, minute = int(clock.group("hour")), int(clock.group("minute"))
        if clock.group("half"):
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if clock.group("half").lower() == "p" else 0)
        on = _page_date(value[:clock.start()], language)
        if on is None or "T" in on or hour > 23 or minute > 59:
            return None
        return f"{on}T{hour:02d}:{minute:02d}:00"
    if dotted := _DOTTED_DATE.match(value.strip()):
        parts = ("year", "month", "day") if dotted.group("year") else ("y", "m", "d")
        try:
            return Date(*(int(dotted.group(k)) for k in parts)).isoformat()
        except ValueError:
            return None
    text = _ORDINAL.sub(r"\1", _WEEKDAY.sub("", value.strip()))
    text = re.sub(r"\bSept\b", "Sep", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text.replace(".", ""))
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    day = _date_in_words(value, language)
    return day.isoformat() if day is not None else None


def _folded(word: str) -> str:
    """A word as dates are compared: lower case, without accents or a closing full stop
    ("Févr." and "fevrier" begin alike)."""
    decomposed = unicodedata.normalize("NFKD", word.casefold().rstrip("."))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def _date_words(language: str) -> tuple[dict[str, int], frozenset[str]]:
    """The month names of ``language`` and of English, wide and abbreviated, each folded with
    its number; and the words a date may hold besides: weekdays and linking words ("le",
    "de", "the", "of")."""
    months: dict[str, int] = {}
    others = {"the", "of", "le", "de", "del", "den", "am"}
    for tag in dict.fromkeys([language, "en"]):
        locale = _locale(tag)
        if locale is None:
            continue
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for number, name in locale.months[context][width].items():
                    months.setdefault(_folded(name), number)
                others.update(_folded(name) for name in locale.days[context][width].values())
    months.setdefault("sept", 9)
    return months, frozenset(others)


_DATE_WORD = re.compile(r"\w+\.?")
#: A day's number as written before the month: "3", "03", "1er" (French), "3rd".
_DAY = re.compile(r"(\d{1,2})(?:er|re|e|st|nd|rd|th)?")


def _date_in_words(value: str, language: str) -> Date | None:
    """The day a date written in words says, in any order and in ``language`` or English
    ('3 mars 2024', 'Sonntag, 3. März 2024', '3 de marzo de 2024'); None unless it says
    exactly one day, one month in words and one year."""
    months, others = _date_words(language)
    day = month = year = None
    for word in map(_folded, _DATE_WORD.findall(value)):
        if len(word) == 4 and word.isdigit() and year is None:
            year = int(word)
        elif (number := _DAY.fullmatch(word)) and day is None:
            day = int(number.group(1))
        elif word in months and month is None:
            month = months[word]
        elif word not in others:
            return None
    if day is None or month is None or year is None:
        return None
    try:
        return Date(year, month, day)
    except ValueError:
        return None


_STAR_RATING = re.compile(r"^(?P<full>★*)(?P<half>½?)☆*$")
_SCALED_RATING = re.compile(
    r"^(?P<value>\d+(?:\.\d+)?)\s*(?:stars?\s*)?(?:(?:/|out of)\s*(?P<scale>\d+(?:\.\d+)?))?"
    r"\s*(?:stars?)?$|^(?P<percent>\d+(?:\.\d+)?)\s*%$", re.IGNORECASE)
#: The stars of a rating that gives its figure too ("★★★★ (4/5)").
_STARS = re.compile(r"[★☆][★☆½\s]*")


def _page_rating(value: str) -> Decimal | None:
    """Out of 5: '4/5', '4.5 out of 5', '8/10', '80%', '3 stars', '3½', '★★★½☆', and the
    stars and the figure together when they agree ('★★★★ (4/5)'); None for anything else, or a
    value off the reviews' scale of half steps from 0 to 5 ('7/9')."""
    rating = _one_rating(value)
    if rating is None and (stars := _STARS.search(value)):
        figure = f"{value[:stars.start()]} {value[stars.end():]}".strip(" ()[]-–—,:")
        if figure and _one_rating(figure) == _one_rating(stars.group()):
            rating = _one_rating(figure)
    return rating


def _one_rating(value: str) -> Decimal | None:
    """``_page_rating`` of a rating written one way."""
    text = value.strip().replace("1/2", "½")
    if re.fullmatch(r"[*\s]+½?", text):  # ***½: stars as plain text writes them
        text = text.replace("*", "★")
    if stars := _STAR_RATING.match(text.replace(" ", "")):
        if not text:
            return None
        rating = Decimal(len(stars.group("full"))) + (Decimal("0.5") if stars.group("half")
                                                      else 0)
    else:
        half = text.endswith("½") or re.match(r"^\d+½", text) is not None
        text = text.replace("½", "") if half else text
        scaled = _SCALED_RATING.match(text.strip())
        if scaled is None:
            return None
        if scaled.group("percent"):
            if half:
                return None
            rating, scale = Decimal(scaled.group("percent")), Decimal(100)
        else:
            rating = Decimal(scaled.group("value")) + (Decimal("0.5") if half else 0)
            scale = Decimal(scaled.group("scale") or 5)
        if scale == 0:
            return None
        rating = rating * 5 / scale
    if not 0 <= rating <= 5 or (rating * 2) % 1:
        return None
    return rating.normalize() if rating % 1 else Decimal(int(rating))


#: A title with the film's year after it in brackets: "Salt Harbour (2019)", "Ran [1985]".
_TITLE_YEAR = re.compile(r"^(?P<title>.+?)\s*[(\[](?P<year>(?:18[89]|19\d|20\d)\d)[)\]]$")


@dataclass(frozen=True)
class _Labelled:
    """What the optional labelled lines say, each checked: ParsedPage's fields of the same
    names."""

    title: str = ""
    date: str = ""
    rating: Decimal | None = None
    runtime: int | None = None
    tags: tuple[str, ...] = ()
    classification: str = ""
    address: str = ""
    address_line: int = 0


def _old_address(value: str) -> str | None:
    """The path of a page's address on the old site ("https://www.example.com/post/x?lang=en",
    "www.example.com/post/x" or "/post/x" -> "/post/x"); None for one that names no page (the
    home page, another scheme, '..')."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", value, re.IGNORECASE) and not re.match(
            r"^https?://", value, re.IGNORECASE):
        return None
    if "://" not in value and not value.startswith("/") and "." in value.split("/")[0]:
        value = "//" + value  # www.example.com/post/x, its scheme left out
    path = urlsplit(value if "://" in value or value.startswith("/") else "/" + value).path
    if not path.strip("/") or any(s in (".", "..") for s in path.strip("/").split("/")):
        return None
    return path


def _labelled(header: dict[str, tuple[int, str]], path: str, language: str) -> _Labelled:
    """The film's title, the date, the rating, the runtime, the tags and the classification
    from their labelled lines; PageImportError naming the line of one that does not read."""

    def given(key: str) -> str:  # an empty labelled line is as good as none
        return header.get(key, (0, ""))[1]

    date, rating, runtime = "", None, None
    if value := given("date"):
        date = _page_date(value, language) or ""
        if not date:
            raise PageImportError(
                f"{path}:{header['date'][0]}: Date: {value!r} is not a date publisher reads; "
                f"write it as 2024-03-03 or {_date_example(language)}")
    if value := given("rating"):
        rating = _page_rating(value)
        if rating is None:
            raise PageImportError(
                f"{path}:{header['rating'][0]}: Rating: {value!r} is not a rating out of 5 in "
                "half steps; write it as 3.5/5, 7/10, 3½ or ★★★½")
    if value := given("runtime"):
        runtime = parse_runtime(value.rstrip("."))
        if runtime is None or not 1 <= runtime <= 1500:
            raise PageImportError(
                f"{path}:{header['runtime'][0]}: Runtime: {value!r} is not a running time; "
                "write it as 112 min, 1h 52m or 1:52")
    address = ""
    if value := given("address"):
        address = _old_address(value) or ""
        if not address:
            raise PageImportError(
                f"{path}:{header['address'][0]}: URL: {value!r} is not the address of a page; "
                "write the review's address on the old site, as "
                "https://www.example.com/post/salt-harbour")
    return _Labelled(
        address=address, address_line=header["address"][0] if address else 0,
        # As written, as --title is: an editor typed it ("THX 1138", "mother!"); only titles
        # guessed from a file name are recased.
        title=pasted_line(given("title")), date=date, rating=rating, runtime=runtime,
        tags=tuple(t.strip() for t in re.split(r"[,;/|]", given("tags")) if t.strip()),
        classification=pasted_line(given("classification")))


def _date_example(language: str) -> str:
    """3 March 2024 as a page in ``language`` may write it: "March 3, 2024", "3 mars 2024"."""
    locale = _locale(language)
    if locale is None or language.split("-")[0].lower() == "en":
        return "March 3, 2024"
    from babel.dates import format_date

    return str(format_date(Date(2024, 3, 3), "long", locale=locale))


def parse_page(text: str, *, path: str, language: str = "en") -> ParsedPage:
    """Parse a page's text; ``path`` names the page in errors (``path:LINE: ...``). Its labels
    ("Director:"), dates and lists of names are read in English and in ``language``.

    Raises PageImportError for an empty page, a missing or empty REVIEWER line, a header field given
    twice, or a page with no review text after its header.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cleaned = [(n, pasted_line(raw)) for n, raw in enumerate(lines, start=1)]
    cleaned = [(n, s) for n, s in cleaned if s.lower() not in _CHROME]
    end = len(cleaned)
    while end and (not cleaned[end - 1][1] or _footer_line(cleaned[end - 1][1])):
        end -= 1
    footer = [s for _, s in cleaned[end:] if s]
    cleaned = cleaned[:end]
    if not any(s for _, s in cleaned):
        raise PageImportError(f"{path}:1: the page is empty (no text besides page chrome)")

    header: dict[str, tuple[int, str]] = {}
    unread: list[str] = []
    index = 0
    for index, (n, s) in enumerate(cleaned):  # noqa: B007 - index is used after the loop
        if not s:
            continue
        m = _header(language).match(s)
        if not m:
            if label := _unread_label(s):
                unread.append(label)
                continue
            break
        key = _header_keys(language)[m.group("key").lower()]
        if key in header:
            raise PageImportError(
                f"{path}:{n}: a second '{m.group('key')}:' line (the first is line "
                f"{header[key][0]}); keep one"
            )
        header[key] = (n, m.group("value").strip())
    else:
        index = len(cleaned)
    text_lines = cleaned[index:]
    first = next(((n, s) for n, s in text_lines if s), None)
    if first is not None and (pelican := _PELICAN_LINE.match(first[1])):
        raise PageImportError(
            f"{path}:{first[0]}: '{pelican.group('key')}:' is a line of Pelican's metadata, not "
            "of a page: a Pelican source is moved, not imported (add a '---' line above its "
            "header and one below it, field names in lower case; README, Moving from Hugo or "
            "Pelican)")

    if "reviewer" not in header:
        where = text_lines[0][0] if text_lines else cleaned[-1][0]
        keys = _header_keys(language)
        below = next((n for n, s in text_lines[:12] if (m := _header(language).match(s))
                      and keys[m.group("key").lower()] == "reviewer"), None)
        if below is not None and first is not None:  # "Directed by Ann Hui", its colon left out
            raise PageImportError(
                f"{path}:{first[0]}: {first[1][:60]!r} is not a 'Label: value' line, so the "
                f"review text starts there, above the REVIEWER: line (line {below}); add the "
                "label's colon, or move it below the header or delete it")
        raise PageImportError(
            f"{path}:{where}: no 'REVIEWER: name' line before the review text; add one above "
            f"the logline (the header lines are Director:, Starring: and REVIEWER:"
            f"{_labels_in(language)})"
        )
    reviewer_line, reviewer = header["reviewer"]
    # "REVIEWER: By Sam Okafor", the byline's word written into the field too
    reviewer = re.sub(r"^(?:by|par|von)\s+", "", reviewer, flags=re.IGNORECASE)
    if not reviewer:
        raise PageImportError(f"{path}:{reviewer_line}: REVIEWER: the reviewer's name is empty")

    # Paragraphs: runs of non-blank lines, joined with spaces; (first line number, lines).
    blocks: list[tuple[int, list[str]]] = []
    previous_blank = True
    for n, s in text_lines:
        if s and previous_blank:
            blocks.append((n, [s]))
        elif s:
            blocks[-1][1].append(s)
        previous_blank = not s

    notes: list[str] = []
    if unread:
        named = ", ".join(f"{label}:" for label in unread[:-1])
        named = f"{named} and {unread[-1]}:" if named else f"{unread[-1]}:"
        notes.append(f"left out the page's {named} line{'s' if len(unread) > 1 else ''} "
                     f"(publisher has no field for {'them' if len(unread) > 1 else 'it'}; add "
                     f"{'them' if len(unread) > 1 else 'it'} to the body if "
                     f"{'they matter' if len(unread) > 1 else 'it matters'})")
    if footer:
        shown = ", ".join(footer[:4]) + (", …" if len(footer) > 4 else "")
        notes.append(f"left out the page's closing lines of share buttons and comments ({shown})")
    availability = ""
    if blocks and len(blocks[-1][1]) == 1:
        last = blocks[-1][1][0]
        if len(last) <= 300 and any(says.line.search(last)
                                    for says in _availabilities(language)):
            availability = last
            blocks.pop()
    paras = [" ".join(ls) for _, ls in blocks]
    if not paras:
        last_header = max(n for n, _ in header.values())
        raise PageImportError(
            f"{path}:{last_header}: no review text after the header; the first paragraph after "
            "'REVIEWER:' is the logline and the rest is the review"
        )

    director, credits = "", tuple[str, ...]()
    if "director" in header and header["director"][1]:
        director, credits = _director(header["director"][1], language)
    else:
        notes.append("no Director line: film.director is left out")
    starring: tuple[str, ...] = ()
    if "starring" in header:
        starring = tuple(case_name(n) for n in _split_names(header["starring"][1], language))
    year = None
    if "year" in header:
        n, value = header["year"]
        if not re.fullmatch(r"\d{4}", value):
            raise PageImportError(f"{path}:{n}: Year: {value!r} is not a year such as 2024")
        year = int(value)
    labelled = _labelled(header, path, language)
    # "Salt Harbour (2019)": the year as the site showed it beside the title, which publisher's
    # pages show from film.year ("(2019) (2019)" were it kept in the title).
    if titled := _TITLE_YEAR.match(labelled.title):
        if year is not None and year != int(titled.group("year")):
            raise PageImportError(
                f"{path}:{header['title'][0]}: Title: the year after the title "
                f"({titled.group('year')}) is not the Year: line's ({year}, line "
                f"{header['year'][0]}); keep the film's")
        year = int(titled.group("year"))
        labelled = dataclasses.replace(labelled, title=titled.group("title"))

    return ParsedPage(
        reviewer=case_name(reviewer),
        summary=paras[0],
        paragraphs=tuple(paras[1:]),
        director=director,
        credits=credits,
        starring=starring,
        year=year,
        availability=availability,
        named=film_named_by(availability, language),
        notes=tuple(notes),
        language=language,
        **dataclasses.asdict(labelled),
    )


# --- writing ---------------------------------------------------------------------------------


class _Quoted(str):
    """A string value that YAML must write double-quoted (keys stay plain)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Quoted, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", str(data),
                                                          style='"')
)


def _quote(value: object) -> object:
    if isinstance(value, str):
        return _Quoted(value)
    if isinstance(value, dict):
        return {k: _quote(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_quote(v) for v in value]
    return value


_PLACEHOLDER_NOTE = "  # placeholder (the import day): set the publication date, then remove draft"


def render_review(page: ParsedPage, *, title: str, date: str, review_id: str,
                  draft: bool, date_is_placeholder: bool = False) -> str:
    """The review file's text: YAML front matter with every string double-quoted (so 'No',
    '1917' and 'Alien: Romulus' stay strings), then the body as Markdown paragraphs, the
    logline (also the summary) first."""
    film: dict[str, object] = {}
    if page.year is not None:
        film["year"] = page.year
    if page.director:
        film["director"] = page.director
    if page.credits:
        film["credits"] = list(page.credits)
    if page.starring:
        film["starring"] = list(page.starring)
    if page.runtime is not None:
        film["runtime"] = page.runtime
    if page.classification:
        film["classification"] = page.classification
    data: dict[str, object] = {"id": review_id, "title": title, "date": date,
                               "reviewer": page.reviewer}
    if film:
        data["film"] = film
    if page.rating is not None:  # a number, unquoted: 4.5
        data["rating"] = int(page.rating) if page.rating % 1 == 0 else float(page.rating)
    data["summary"] = page.summary
    if page.tags:
        data["tags"] = list(page.tags)
    if page.availability:
        data["availability"] = page.availability
    if page.address:
        data["aliases"] = [page.address]
    if draft:
        data["draft"] = True
    front = yaml.dump(_quote(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                      default_flow_style=False, width=2**16)
    if date_is_placeholder:
        front = front.replace(f'date: "{date}"\n', f'date: "{date}"{_PLACEHOLDER_NOTE}\n', 1)
    # The logline opens the body as well: the old page showed it above the review, and a
    # summary is shown in lists, link previews and the digest, on no review page.
    body = "\n\n".join(escape_markdown(p) for p in (page.summary, *page.paragraphs))
    return f"---\n{front}---\n\n{body}\n"


@dataclass(frozen=True)
class ImportResult:
    """One imported page: where the review went, and what an editor still has to do."""

    path: Path
    missing: tuple[str, ...]  # front matter fields to fill in before the review can publish
    draft: bool
    notes: tuple[str, ...] = field(default=())  # things worth checking, not blocking
    #: Why the review at ``path`` was kept as it is rather than written (the page was imported
    #: before); "" when it was written.
    kept: str = ""


#: What to tell the editor for each missing field.
_MISSING_HINTS = {
    "date": "date: the page has no date; the import day was written as a placeholder — set "
            "the publication date (e.g. date: \"2026-03-01\")",
    "body": "the review body: the page has only the logline (summary); add the review text "
            "below the front matter",
}


def format_result(result: ImportResult, *, base: Path | None = None) -> str:
    """What the import command prints for one page (the path shown relative to ``base``)."""
    shown = result.path if base is None else shown_from(result.path, base)
    if result.kept:
        return f"kept {shown}: {result.kept}"
    head = f"wrote {shown}" + (" (draft)" if result.draft else "")
    lines = [head]
    if result.missing:
        lines.append(f"  to publish it, fill in: {', '.join(result.missing)}")
        lines += [f"  - {_MISSING_HINTS.get(m, m)}" for m in result.missing]
        lines.append("  then delete the line 'draft: true'")
    lines += [f"  note: {n}" for n in result.notes]
    return "\n".join(lines)


def format_summary(results: list[ImportResult], refused: int) -> str:
    """The closing line of an import of several pages: how many were written (and of those,
    drafts to finish), kept as imported before, and refused."""
    written = [r for r in results if not r.kept]
    drafts = sum(r.draft for r in written)
    total = len(results) + refused
    parts = [f"{len(written)} written" + (
        f" ({drafts} {'a draft' if drafts == 1 else 'drafts'} to finish)" if drafts else "")]
    if kept := len(results) - len(written):
        parts.append(f"{kept} kept as imported before")
    if refused:
        parts.append(f"{refused} refused (named above)")
    return f"{total:,} pages: " + ", ".join(parts)


def parse_date_option(value: str) -> tuple[str, Date]:
    """Validate --date: a bare date or an ISO 8601 time; returns (as written, its day)."""
    value = value.strip()
    try:
        day = Date.fromisoformat(value)
        return day.isoformat(), day
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PageImportError(
            f"--date: {value!r} is not a date such as 2026-03-01 or a time such as "
            "2026-03-01T09:00:00+00:00"
        ) from None
    return moment.isoformat(), moment.date()


def _front_matter(path: Path) -> dict[str, str]:
    """The plain top-level values of an existing review's front matter, read as the loader reads
    them (empty when the file is unreadable or has none)."""
    return _review(path)[0]


def _review(path: Path) -> tuple[dict[str, str], frozenset[str]]:
    """An existing review's front matter values (``_front_matter``) and its body's paragraphs
    (empty when the file is unreadable)."""
    try:
        stat = path.stat()
    except OSError:
        return {}, frozenset()
    # Each page of an import reads every review there: read each version of a file once.
    return _read_review(str(path), (stat.st_ino, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=4096)
def _read_review(path: str, _version: tuple[int, int, int]
                 ) -> tuple[dict[str, str], frozenset[str]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError:
        return {}, frozenset()
    body = text.partition("\n---\n")[2]
    return read_scalars(text), frozenset(block.strip() for block in re.split(r"\n\s*\n", body))


def _existing_id(path: Path) -> str | None:
    """The ``id`` in an existing review's front matter, if it has one (kept on --force)."""
    return _front_matter(path).get("id") or None


def slug_owner(directory: Path, target: Path, slug: str) -> Path | None:
    """Another review under ``directory`` (in it or a folder of it) whose slug (its ``slug:``
    field, else its file name) is ``slug``: writing ``target`` would make two reviews with one
    slug."""
    target_exists = target.exists()
    for name, _linked in review_files(directory):
        other = directory / name
        if other == target:
            continue
        try:
            if target_exists and other.samefile(target):  # a case-insensitive file system
                continue
        except OSError:
            continue
        if (_front_matter(other).get("slug")
                or default_slug(str(other), top=other.parent == directory)) == slug:
            return other
    return None


def _imported_before(page: ParsedPage, directory: Path) -> Path | None:
    """The review under ``directory`` that an earlier import of ``page`` wrote, under any
    name; None when there is none. It is the one with the page's logline as its summary, the
    page's reviewer, no other year of the film, and at least half of the page's paragraphs
    unchanged in its body: what an editor's corrections since (the date set, the draft line
    gone, a typo, the title, the slug) leave, and what another review, even one opening with the
    same line, does not have."""
    summary = one_line(page.summary)
    paragraphs = [escape_markdown(p) for p in page.paragraphs]
    for name, _linked in review_files(directory):
        fields, body = _review(directory / name)
        year = fields.get("film.year")
        if (fields.get("summary") != summary or fields.get("reviewer") != page.reviewer
                or (year is not None and page.year is not None and year != str(page.year))):
            continue
        if 2 * sum(p in body for p in paragraphs) >= len(paragraphs):
            return directory / name
    return None


def _earlier_draft(page: ParsedPage, path: Path, directory: Path, slug: str) -> Path | None:
    """The draft that importing ``path`` without --title wrote (titled from the file name, its
    text unchanged since), when this import names the film and so writes another file: the note
    after that import says to import again with --title and --force, which replaces the draft
    rather than leaving a second review of the same film."""
    guessed = _guessed_title(page, path)[0]
    if not guessed or title_slug(guessed) == slug:
        return None
    old = directory / f"{title_slug(guessed)}.md"
    fields = _front_matter(old)
    if fields.get("draft", "").lower() != "true" or fields.get("title") != guessed:
        return None
    written = render_review(page, title=guessed, date="", review_id="", draft=True)
    try:
        text = old.read_text(encoding="utf-8-sig")
    except OSError:
        return None
    return old if text.partition("\n---\n")[2] == written.partition("\n---\n")[2] else None


def _guessed_title(page: ParsedPage, path: Path) -> tuple[str, str]:
    """The title an import without --title or a Title: line gives, and the note saying where it
    came from: the film the closing line names, else the file name ('', '' when neither)."""
    if page.named:
        short = page.availability if len(page.availability) <= 60 else (
            page.availability[:59].rstrip() + "…")
        return page.named, (f"title {page.named!r} was read from the line {short!r}; check "
                            "it (or import again with --title and --force)")
    title = humanise_filename(path, page.language)
    return title, (f"title {title!r} was made from the file name; check it (or import again "
                   "with --title and --force)") if title else ""


#: The longest slug publisher makes: a file name (and the page's directory) may hold 255
#: bytes on the common file systems, and a slug is ASCII.
MAX_SLUG = 200


def review_slug(title: str, slug: str | None) -> str:
    """The slug ``slug`` gives (made a slug), else the one ``title`` makes; ValueError saying
    to give one with --slug when there is none or it is too long for a file name."""
    made = title_slug(slug if slug is not None else title)
    if not made:
        raise ValueError(f"cannot make a slug from {slug if slug is not None else title!r}; "
                         "give one with --slug")
    if len(made) > MAX_SLUG:
        raise ValueError(f"the slug {made[:40]}… is {len(made)} characters long, too long for "
                         f"a file name; give one of at most {MAX_SLUG} with --slug")
    return made


def _another_slug(slug: str, year: int | None) -> str:
    """The option that names a review apart from another of the same slug: the film's year
    after its title, where the page gives it (another film of that title, most often); the
    title stays the film's own."""
    return f"--slug {slug}-{year}" if year is not None else "another --slug"


def import_page(path: Path, config: Config, *, title: str | None = None,
                date: str | None = None, slug: str | None = None,
                out_dir: Path | None = None, force: bool = False,
                now: datetime | None = None, encoding: str | None = None) -> ImportResult:
    """Turn one exported page into ``{out_dir}/{slug}.md`` (default out_dir: reviews/).

    The slug is ``slug``, else made from the title (``title``, else a Title: line, else the
    film the closing line names, else the humanised file name). Without ``date`` the review is
    written with ``draft: true`` and the import day (``now`` in the publication's timezone) as a
    placeholder date; ``missing`` lists what to fill in. A page that is not UTF-8 is read in
    ``encoding`` when given (a codec's name, checked by the caller). A page imported before
    (``_imported_before``) is kept as it stands unless ``force``: the result's ``kept`` says
    so. Raises PageImportError naming the page (and line) for an unreadable or malformed page,
    naming the review file when it exists and ``force`` is not set, and naming the other review
    when one already has the slug (written there, the two would fail every build).
    """
    path = Path(path)
    text, read_in = _read_page(path, encoding)
    page = parse_page(text, path=str(path), language=config.language)
    notes = list(page.notes)
    if read_in:
        notes.insert(0, f"read as {read_in} (it is not UTF-8); check its accents")

    if title is not None:
        title = pasted_line(title)
        if not title:
            raise PageImportError(f"{path}: --title is empty; give the film's title")
    elif page.title:
        title = page.title
    else:
        title, note = _guessed_title(page, path)
        if not title:
            raise PageImportError(f"{path}: cannot make a title from the file name; use --title")
        notes.insert(0, note)
    try:
        slug = review_slug(title, slug)
    except ValueError as exc:
        raise PageImportError(f"{path}: {exc}") from None

    if page.address and config.page_address(page.address) is None:
        raise PageImportError(
            f"{path}:{page.address_line}: URL: {page.address!r} is not the address of a page "
            "publisher can keep; leave the line out and give the review its aliases: by hand")

    if page.address and config.page_address(page.address) == config.permalink(slug):
        page = dataclasses.replace(page, address="")  # the same address here: nothing to keep

    missing: list[str] = []
    today = (now or datetime.now(UTC)).astimezone(config.tz).date()
    if date is None and page.date:
        date = page.date
    if date is not None:
        date_text, day = parse_date_option(date)
    else:
        date_text, day = today.isoformat(), today
        missing.append("date")
    if not page.paragraphs:
        missing.append("body")
    draft = bool(missing)

    target = (out_dir if out_dir is not None else config.reviews_path) / f"{slug}.md"
    earlier = _earlier_draft(page, path, target.parent, slug)
    if not force and earlier is None and (before := _imported_before(page, target.parent)):
        # Importing a site's pages again, once the refused ones are fixed, must neither double
        # a review nor undo what an editor did to it since (a date set, a paragraph added).
        again = ("add --force to import it again over it" if before == target else
                 "it has another name now; delete it to import the page again")
        return ImportResult(path=before, missing=(), draft=False,
                            kept=f"already imported from {path} ({again})")
    review_id = derived_id(config, day, slug)
    if target.exists():
        if not force:
            raise PageImportError(
                # It may be an editor's own review of another film of that title: the safe
                # way out comes first.
                f"{target}: already exists, and is not {path}'s review (its summary, reviewer "
                f"or most of its text differ); import the page with "
                f"{_another_slug(slug, page.year)}, or import it alone with --force to replace "
                "that review"
            )
        review_id = _existing_id(target) or review_id
    owner = slug_owner(target.parent, target, slug)
    if owner is not None:
        raise PageImportError(
            f"{owner}: already has the slug {slug!r} (importing {path}); import with "
            f"{_another_slug(slug, page.year)}, or give that review another slug"
        )
    if earlier is not None and not force:
        raise PageImportError(
            f"{earlier}: the draft an earlier import of {path} wrote, titled from the file name; "
            f"add --force to replace it with {target.name}"
        )

    text = render_review(page, title=title, date=date_text, review_id=review_id, draft=draft,
                         date_is_placeholder="date" in missing)
    write_atomic(target, text.encode("utf-8"))
    if earlier is not None:
        earlier.unlink()
        notes.append(f"replaced {earlier.name}, the draft the earlier import wrote")
    return ImportResult(path=target, missing=tuple(missing), draft=draft, notes=tuple(notes))
