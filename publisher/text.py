"""Every rule for cleaning and shaping text, in one place.

Each rule has one name here and is used wherever its kind of text goes:

- ``one_line``: a review field, a CSV value: XML-illegal controls removed, odd spaces and runs
  of white space made one space, ends trimmed.
- ``header_text``: anything that goes into a mail header or a subject line — subjects and
  subscriber names alike: line breaks folded, controls, bidi controls and marks, zero-width
  spaces and lone surrogates dropped; optionally cut at a word with "…".
- ``xml_safe``: text for an XML document (feeds): the characters XML 1.0 cannot carry removed.
- ``pasted_line``: a line of a page exported from a website builder (its padding and
  zero-width junk removed).
- ``remove_control_chars`` / ``normalise_spaces``: the two halves of ``one_line`` for text whose
  line structure must stay (front matter, Markdown bodies); ``remove_bidi_controls`` for the
  same text, which must not read backwards.
- ``html_to_text`` / ``excerpt``: the visible words of an HTML fragment.
- ``stars``, ``rating_value``, ``slugify``: how ratings and slugs read (words in a language:
  render/words.py).
"""

from __future__ import annotations

import functools
import html as html_lib
import re
import unicodedata
from decimal import Decimal
from typing import Any

# XML 1.0 forbids C0 controls other than tab, LF and CR, lone surrogates and U+FFFE/U+FFFF; C1
# controls are legal XML but never intended in text (they come from mojibake), so they go too.
# U+0085 (NEL) is a line break and is kept.
_ILLEGAL_SET = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff"
# Non-breaking and other fixed-width spaces that editors paste in from word processors.
_ODD_SPACE_SET = "\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
# Bidi embeddings, overrides, isolates and marks: they can make a line read backwards.
_BIDI_SET = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"

ILLEGAL_CHARS = re.compile(f"[{_ILLEGAL_SET}]")
#: Bidi controls and marks. In a title or a summary they make text read backwards (U+202E
#: turns "gpj.exe" into "exe.jpg"), and MRML writes them in attributes as the literal text
#: "\u{202e}": review sources lose them, with a warning.
BIDI_CHARS = re.compile(f"[{_BIDI_SET}]")
_ODD_SPACES = re.compile(f"[{_ODD_SPACE_SET}]")
# The no-break spaces French punctuation takes (after "«" and "‹", before ":", ";", "!", "?",
# "»" and "›"), as Word and macOS type them: made plain, a line could break there and leave "!"
# or "»" at the start of the next. The odd spaces but those, and those alone (excerpts).
_NO_BREAK = "\u00a0\u202f"
_FRENCH_OPENS, _FRENCH_CLOSES = "«‹", ":;!?»›"
_OTHER_ODD_SPACES = _ODD_SPACE_SET.translate({ord(space): None for space in _NO_BREAK})
_ODD_SPACES_BUT_FRENCH = re.compile(
    f"[{_OTHER_ODD_SPACES}]|(?<![{_FRENCH_OPENS}])[{_NO_BREAK}](?![{_FRENCH_CLOSES}])")
_FRENCH_SPACE = re.compile(
    f"(?<=[{_FRENCH_OPENS}])[{_NO_BREAK}]|[{_NO_BREAK}](?=[{_FRENCH_CLOSES}])")
# Any of the above, or a bidi control: one scan tells a body that needs no cleaning.
SUSPECT_CHARS = re.compile(f"[{_ILLEGAL_SET}{_ODD_SPACE_SET}{_BIDI_SET}]")
# The bytes that begin one of SUSPECT_CHARS in UTF-8: the C0 controls and DEL themselves, and
# the lead bytes of the others: C2 (U+0080-U+00A0), D8 (U+061C), E1 (U+1680), E2 (U+2000-U+2069),
# E3 (U+3000) and EF (U+FFFE, U+FFFF); surrogates are never in UTF-8. E2 also leads characters
# common in reviews (dashes, curly quotes, the ellipsis): of those it leads, these are suspect.
_SUSPECT_LEADS = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F,
                        0xC2, 0xD8, 0xE1, 0xE2, 0xE3, 0xEF])
_NOT_SUSPECT_LEADS = bytes(sorted(set(range(256)) - set(_SUSPECT_LEADS)))
_SUSPECT_E2 = re.compile(rb"\xe2(?:\x80[\x80-\x8a\x8e\x8f\xaa-\xaf]|\x81[\x9f\xa6-\xa9])")
#: A text with this many E2 sequences or fewer has each looked at; one with more is searched.
_E2_LOOKS = 16


def surely_clean(data: bytes) -> bool:
    """Whether the UTF-8 text ``data`` surely holds none of SUSPECT_CHARS: True only when it
    holds none; False when it may (search the text then). A pass over the bytes takes a fifth
    of ``str.isprintable``'s over the text (which looks each character up in Unicode's tables)."""
    leads = data.translate(None, _NOT_SUSPECT_LEADS)
    if not leads:
        return True
    if leads.strip(b"\xe2"):
        return False
    if len(leads) > _E2_LOOKS:
        return not _SUSPECT_E2.search(data)
    # A review has a few dashes or curly quotes: each is found with memchr and its three bytes
    # matched, where the pattern would walk the whole text a byte at a time.
    start = data.find(b"\xe2")
    while start != -1:
        if _SUSPECT_E2.match(data, start):
            return False
        start = data.find(b"\xe2", start + 1)
    return True
# What a reader is never shown: bidi controls, zero-width space and BOM, non-characters and lone
# surrogates vanish; C0 and C1 controls become spaces (a NUL between two words must not join
# them), and headers then fold every run of white space into one.
_INVISIBLE = re.compile(f"[\u200b\ufeff\ufffe\uffff\ud800-\udfff{_BIDI_SET}]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_WHITE = re.compile(r"\s+")

#: Subjects longer than this are cut at a word (Gmail shows about 70; 200 is already generous).
SUBJECT_MAX = 200


def remove_control_chars(text: str) -> tuple[str, int]:
    """``text`` without XML-illegal control characters, and how many were removed."""
    if text.isprintable() or not ILLEGAL_CHARS.search(text):
        return text, 0
    return ILLEGAL_CHARS.subn("", text)


def remove_bidi_controls(text: str) -> tuple[str, int]:
    """``text`` without bidi controls and marks, and how many were removed."""
    if text.isprintable() or not BIDI_CHARS.search(text):
        return text, 0
    return BIDI_CHARS.subn("", text)


def normalise_spaces(text: str, *, french_punctuation: bool = False) -> str:
    """Non-breaking and other odd spaces become plain spaces (line structure is kept); with
    ``french_punctuation``, but for the no-break spaces of French punctuation (« mot », « ! »),
    which never stand where Markdown reads its syntax."""
    if text.isascii():
        return text
    return (_ODD_SPACES_BUT_FRENCH if french_punctuation else _ODD_SPACES).sub(" ", text)


def one_line(text: str) -> str:
    """A one-line text value: XML-illegal control characters are removed, odd spaces and runs
    of white space become one space, and the ends are trimmed."""
    # str.split() splits on every Unicode space, the non-breaking ones included.
    return " ".join(_legal(text).split())


def _legal(text: str) -> str:
    """``text`` without XML-illegal control characters."""
    # Controls are never printable; nor are odd spaces and line breaks, which are legal: text
    # whose only unprintable characters are line breaks (the text of HTML has one between
    # every two blocks) is spared the pattern's scan, twice as slow as str's two.
    if text.isprintable() or text.replace("\n", "").isprintable():
        return text
    return ILLEGAL_CHARS.sub("", text)


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (lxml raises on them)."""
    # The common cases without a regular expression (str methods scan ten times faster): no
    # control character at all, or none but line breaks and tabs.
    if not text or text.isprintable() or (
            text.replace("\n", "").replace("\t", "").replace("\r", "").isprintable()):
        return text
    return ILLEGAL_CHARS.sub("", text)


def drop_unsafe(text: str) -> str:
    """``text`` without what a reader should never be shown: bidi controls and marks,
    zero-width spaces, non-characters and lone surrogates removed; control characters other
    than tab, LF, VT, FF and CR made spaces."""
    if text.isprintable():
        return text
    return _CONTROLS.sub(" ", _INVISIBLE.sub("", text))


def header_text(text: str, limit: int | None = None) -> str:
    """``text`` made safe for a one-line header (a subject, a display name): ``drop_unsafe``,
    then CR, LF and every other run of white space (the controls too) folded to one space; when
    ``limit`` is given and the text is longer, cut at a word near it, the result (with its "…")
    at most ``limit`` characters."""
    text = _WHITE.sub(" ", drop_unsafe(text)).strip()
    if limit is None or len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    # One enormous word: cut inside it rather than lose most of it.
    cut = cut[:space] if space >= limit * 3 // 4 else cut[:limit - 1]
    return cut.rstrip(" ,;:-–—·") + "…"


# --- pages exported from website builders -----------------------------------------------------

#: Website builders pad text with these; they all become (or vanish into) plain spaces.
_PASTED_SPACES = (
    "\u00a0\u202f\u2007"  # no-break, narrow no-break, figure space
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2008\u2009\u200a\u3000"
    "\u2028\u2029\t"
)
_PASTED_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_PASTED_TABLE = ({ord(c): " " for c in _PASTED_SPACES}
                 | {ord(c): None for c in _PASTED_ZERO_WIDTH})
# C0/C1 control characters (tab is turned into a space above): never meaningful in a page.
_PASTED_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def pasted_line(line: str) -> str:
    """A line of a page exported from a website builder: its odd spaces made plain, zero-width
    characters and soft hyphens (layout junk there, not writing) and controls removed, runs of
    spaces squeezed, ends trimmed."""
    line = _PASTED_CONTROL.sub("", line.translate(_PASTED_TABLE))
    return re.sub(r" {2,}", " ", line).strip()


# --- HTML to words ------------------------------------------------------------------------------

_BLOCK_TAGS = re.compile(
    r"</?(?:p|div|br|li|ul|ol|h[1-6]|blockquote|pre|table|thead|tbody|tr|td|th|hr|figure|"
    r"figcaption|dl|dt|dd|section|article|aside|header|footer|details|summary|img)\b[^>]*>",
    re.IGNORECASE,
)
_ANY_TAG = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """The visible text of an HTML fragment on one line (block boundaries become spaces)."""
    text = _BLOCK_TAGS.sub(" ", html)
    text = _ANY_TAG.sub("", text)
    return _released(one_line(_held(html_lib.unescape(text))))


def _visible(html: str) -> str:
    """The visible text of an HTML fragment, its white space as it comes (``html_to_text``
    without joining it on one line)."""
    return _held(_legal(html_lib.unescape(_ANY_TAG.sub("", _BLOCK_TAGS.sub(" ", html)))))


def _words(html: str, most: int = -1) -> list[str]:
    """The words of ``html_to_text(html)``; with ``most``, the first ``most`` of them and then
    the rest as one (str.split's maxsplit)."""
    return _visible(html).split(maxsplit=most)


#: A body's footnote numbers and its notes (as cmark writes them, sources/markdown.py): an
#: excerpt leaves them out ("Runs long1," and a note's "↩" read as noise).
_FOOTNOTES = re.compile(r'<sup class="footnote-ref">.*?</sup>|<section class="footnotes".*?'
                        r"</section>", re.DOTALL)

#: A <details> block holding no other (the innermost of nested ones).
_DETAILS = re.compile(r"<details\b[^>]*>(?:(?!<details\b).)*?</details>", re.DOTALL)


def _without_details(html: str) -> str:
    """``html`` without its <details> blocks: what a review folds away (a spoiler, most
    often) stays folded on its page, and an excerpt printing it would give it away."""
    count = 1
    while count:
        html, count = _DETAILS.subn("", html)
    return html


#: A table: its cells read as prose run into the sentence around them ("Version Runtime
#: Theatrical 91 min"), so an excerpt leaves it out, as Ghost's and Substack's previews do.
_TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL)


#: The no-break spaces French sets inside its guillemets and before ":", "!"... (quotes.py,
#: normalise_spaces), and what stands for each while an excerpt splits words at white space,
#: which they are to str.split: the space stays, and "«" or "!" stays with its word.
_HELD_SPACES = {"\u202f": "\ufdd0", "\u00a0": "\ufdd1"}
_RELEASE = str.maketrans({held: space for space, held in _HELD_SPACES.items()})


def _held(text: str) -> str:
    """``text`` with the no-break spaces of French punctuation held (``_HELD_SPACES``)."""
    if "\u202f" not in text and "\u00a0" not in text:
        return text
    return _FRENCH_SPACE.sub(lambda m: _HELD_SPACES[m.group()], text)


def _released(text: str) -> str:
    """``text`` with its held spaces back."""
    if "\ufdd0" not in text and "\ufdd1" not in text:
        return text
    return text.translate(_RELEASE)


def excerpt(html: str, words: int) -> str:
    """The first ``words`` words of an HTML fragment as plain text, cut at a word, with "…"
    when anything was cut; footnotes, <details> blocks (spoilers) and tables left out."""
    return _released(_excerpt(html, words))


def _excerpt(html: str, words: int) -> str:
    """``excerpt``, French punctuation's no-break spaces held (``_visible``)."""
    if "footnote" in html:
        html = _FOOTNOTES.sub("", html)
    if "<details" in html:
        html = _without_details(html)
    if "<table" in html:
        html = _TABLE.sub("", html)
    # Only the opening of a long body is needed: try a generous prefix first.
    prefix = html[: max(words, 1) * 16]
    if prefix.rfind("<") > prefix.rfind(">"):
        prefix = prefix[: prefix.rfind("<")]  # never half a tag; half a word is dropped below
    if words < 1:  # no words and "…" (a count below zero drops the prefix's last few)
        return " ".join((_words(prefix) or [""])[:words]).rstrip(_CUT_END) + "…"
    text = _visible(prefix)
    # Words past those kept are only counted: splitting stops there (a 3 KB body's whole text
    # cut into words took half an excerpt's time, and one_line's joining them the rest).
    parts = text.split(maxsplit=words + 1)
    if _unspaced(text, parts[:words]):
        cut, whole = _unspaced_excerpt(text, words)
        if whole and len(prefix) < len(html):  # the prefix held less than the excerpt
            cut, whole = _unspaced_excerpt(_visible(html), words)
        return cut
    if len(parts) <= words + 1 or len(prefix) == len(html):
        text = _visible(html)
        parts = text.split(maxsplit=words)
        if _unspaced(text, parts[:words]):
            return _unspaced_excerpt(text, words)[0]
    if len(parts) <= words:
        return " ".join(parts)
    return " ".join(parts[:words]).rstrip(_CUT_END) + "…"


# Scripts written without spaces between words, counted by characters as Hugo's summaries count
# them with hasCJKLanguage, at rates that give about as much text as the same number of English
# words: Han ideographs, kana, bopomofo and their punctuation and full-width forms two characters
# to a word (a Chinese or Japanese word is one to three characters); Thai, Lao, Myanmar and
# Khmer five (their words are several letters, marks included). Hangul is written with spaces
# between words and is counted as English is.
_WIDE_SET = ("\u2e80-\u2fdf\u2ff0-\u2fff\u3001-\u303f\u3040-\u312f\u3190-\u31ff\u3200-\u4dbf"
             "\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff01-\uff9f\U00020000-\U0003ffff")
_NARROW_SET = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff\ua9e0-\ua9ff\uaa60-\uaa7f"
# Their patterns are compiled when first needed: their ranges took ~3 ms each to compile, which
# every command importing this module paid, the idle check of a cron run among them.


@functools.cache
def unspaced_chars() -> re.Pattern[str]:
    """A character of a script written without spaces between words."""
    return re.compile(f"[{_WIDE_SET}{_NARROW_SET}]")


@functools.cache
def _unspaced_pieces() -> re.Pattern[str]:
    """A run of wide characters, of narrow ones, or of other characters up to a space (a
    word)."""
    return re.compile(f"(?P<wide>[{_WIDE_SET}]+)|(?P<narrow>[{_NARROW_SET}]+)"
                      f"|[^\\s{_WIDE_SET}{_NARROW_SET}]+")


#: A "word" no longer than this is counted as one whatever its script: a run written without
#: spaces is looked for only in longer ones, which is all a paragraph of Japanese is (searching
#: every text for those scripts was a twentieth of an excerpt, for one that has curly quotes).
_UNSPACED_LOOK = 16


def _unspaced(text: str, words: list[str]) -> bool:
    """Whether ``text``, whose first ``words`` these are, is to be counted by characters: a
    word among them is longer than any in a spaced script and holds such a run."""
    return (not text.isascii() and max(map(len, words), default=0) > _UNSPACED_LOOK
            and any(unspaced_chars().search(word) for word in words
                    if len(word) > _UNSPACED_LOOK))


# What a word costs of an excerpt's budget, and a character of each kind of run.
_WORD_COST = 10
_RUN_COSTS = {"wide": 5, "narrow": 2}
# Khmer's coeng and Myanmar's virama join the next consonant to theirs; Thai's and Lao's
# leading vowels are written before the consonant they follow in speech.
_STACKERS = "\u17d2\u1039"
_LEADING_VOWELS = "\u0e40\u0e41\u0e42\u0e43\u0e44\u0ec0\u0ec1\u0ec2\u0ec3\u0ec4"


def _unspaced_excerpt(text: str, words: int) -> tuple[str, bool]:
    """The opening of ``text`` worth ``words`` words, runs of scripts written without spaces
    counted by characters (``_RUN_COSTS``) and cut inside at the character where the budget
    runs out (never between a letter and its marks), with "…" when anything was cut; its white
    space made single spaces. And whether it is the whole text."""
    budget = words * _WORD_COST
    end = 0
    for piece in _unspaced_pieces().finditer(text):
        run = piece.lastgroup
        if run is None:
            if budget < _WORD_COST:
                break
            budget -= _WORD_COST
            end = piece.end()
            continue
        start, length = piece.start(), piece.end() - piece.start()
        fits = budget // _RUN_COSTS[run]
        if fits >= length:
            budget -= _RUN_COSTS[run] * length
            end = piece.end()
            continue
        end = start + fits
        if run == "narrow" and end > start:
            while end < len(text) and (unicodedata.category(text[end]) in ("Mn", "Mc")
                                       or text[end - 1] in _STACKERS):
                end += 1
            while end > start and text[end - 1] in _LEADING_VOWELS:
                end -= 1
        break
    cut = " ".join(text[:end].split())
    if not text[end:].strip():
        return cut, True
    return cut.rstrip(_CUT_PUNCTUATION + _CUT_WIDE_PUNCTUATION) + "…", False


#: What an excerpt cut short does not end with before its "…".
_CUT_PUNCTUATION = ",;:.!?—–-"
#: The same, and the space before it where French spaces its punctuation (" :", " !") and
#: British English its dashes (" –"): "rare…", not "rare …".
_CUT_END = _CUT_PUNCTUATION + " " + "".join(_HELD_SPACES.values())
#: Nor, in a script written without spaces, with these (or an opening bracket).
_CUT_WIDE_PUNCTUATION = "、。，．：；！？・「『（【〈《〔"


# --- names, ratings, slugs ----------------------------------------------------------------------


def count(n: int, noun: str, plural: str = "") -> str:
    """'1 review', '10,000 reviews'; ``plural`` where it is not the noun and an s."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def stars(rating: Decimal | None) -> str:
    """★★★½ for 3.5; empty for no rating (and for 0, which the rating in words says)."""
    if rating is None:
        return ""
    whole = int(rating)
    return "★" * whole + ("½" if rating - whole else "")


def rating_value(rating: Decimal) -> str:
    """'3.5' for 3.5, '4' for 4.0: the rating as a reader writes it."""
    text = f"{rating:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_NOT_LETTERS = re.compile(r"[\W_]+")


_APOSTROPHES = str.maketrans("’‘ʼ", "'''")


# Kept: a reviewer's name and a tag are slugged for every review that names them, by the
# parse, the pages and the feeds (~7.7k instructions each time).
@functools.lru_cache(maxsize=4096)
def slugify(text: str) -> str:
    """A lower-case ASCII slug: 'Sam Okafor' -> 'sam-okafor', 'Amélie' -> 'amelie'. Letters with
    no ASCII form are transliterated, as Pelican does (Hugo keeps them, percent-escaped in every
    link): 'Łukasz' -> 'lukasz', 'Ольга Петрова' -> 'olga-petrova', '王伟' -> 'wang-wei'. Text
    with letters anyascii cannot spell gets their Punycode, so that such names keep distinct
    slugs; text without letters or digits is 'untitled'."""
    if not text.isascii():
        # The apostrophe Word and macOS type is the one a text editor types: "d’auteur" and
        # "d'auteur" name one tag, at one address, which stays the straight one's.
        text = text.translate(_APOSTROPHES)
    folded = text if text.isascii() else unicodedata.normalize("NFKD", text)
    if not folded.isascii():
        folded = "".join(map(_ascii, unicodedata.normalize("NFC", text)))
    slug = _NOT_SLUG.sub("-", folded.lower()).strip("-")
    if not slug:
        letters = _NOT_LETTERS.sub("", unicodedata.normalize("NFC", text).lower())
        slug = letters.encode("punycode").decode("ascii") if letters else ""
    return slug or "untitled"


#: An apostrophe inside a word: "Schindler's", "O’Brien".
_INNER_APOSTROPHE = re.compile(r"(?<=\w)['’‘ʼ](?=\w)")


def title_slug(title: str) -> str:
    """A new review file's slug, from its film's title: as ``slugify``, but an apostrophe inside
    a word is dropped rather than made a word break, as Hugo's and Pelican's slugs do ("The
    Cartographer's Winter" -> 'the-cartographers-winter', not '…-cartographer-s-…'). Only for
    names not yet published: a tag's or reviewer's slug is an address readers have, and keeps
    ``slugify``'s."""
    return slugify(_INNER_APOSTROPHE.sub("", title))


@functools.cache
def _ascii(char: str) -> str:
    """One character spelt in ASCII for a slug. What folding spells (accents dropped: 'é' -> 'e',
    'ﬁ' -> 'fi') stays as it always was, and symbols are dropped; a letter or digit that folding
    would lose is transliterated — without the apostrophes of soft signs ('Ольга' -> 'olga'),
    and a Chinese character as a word of its own, as pinyin is written ('王伟' -> 'wang-wei',
    where anyascii writes 'WangWei'): those scripts put no spaces between words."""
    if char.isascii():
        return char
    folded = unicodedata.normalize("NFKD", char)
    kept = "".join(c for c in folded if c.isascii())
    kind = unicodedata.category(char)
    if all(c.isascii() or unicodedata.combining(c) for c in folded) or kind[0] not in "LMN":
        return kept
    from anyascii import anyascii  # only for text that has such letters

    spelt = "".join(c for c in anyascii(char) if c.isalnum())
    return f"-{spelt}-" if unicodedata.name(char, "").startswith("CJK") else spelt


def masked_url(url: str) -> str:
    """The URL for messages: whatever precedes an @ (user:password@) shown as ***; also when a
    "/", "?" or "#" in the password keeps a URL parser from seeing it as one."""
    if "@" not in url:
        return url
    scheme, sep, _rest = url.partition(":")
    host = url.rpartition("@")[2]
    return f"{scheme}://***@{host}" if sep else f"***@{host}"


#: Letters filed as others at the first level, as the Unicode Collation Algorithm's default
#: table files them: letters with a stroke, which have no decomposition to drop, with their
#: letter; katakana with the hiragana of the same sound (ア with あ, in the kana's order).
_FILED_AS = str.maketrans("łđħŧıƀƶ", "ldhtibz") | {
    code: code - 0x60 for code in range(ord("ァ"), ord("ヶ") + 1)}


def collation_key(text: str) -> str:
    """A sort key for names in any script, without a collation library: accents dropped and
    case folded ("Éric" with "eric"), each script in its alphabet's order as Unicode lays it
    out (Hebrew, Greek, Cyrillic, kana: katakana with hiragana)."""
    # Not locale.strxfrm, whose order is the machine's installed locales (the same sources
    # would build other pages elsewhere), nor PyICU, a compiled dependency: this key files
    # Latin names as the Unicode Collation Algorithm's default table does at its first level,
    # the same everywhere, and files plain ASCII names as before (case aside).
    folded = unicodedata.normalize("NFKD", text)
    key = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    # French's œ, which NFKD keeps whole, is filed as "oe" (Œuvres between Ode and Zoo, not
    # after z); æ is a letter of its own in Danish and Norwegian, filed after z, and stays.
    if "œ" in key:
        key = key.replace("œ", "oe")
    # Every alphabet with letters with a stroke files them with their letter (Polish ł after
    # l, Croatian đ after d), never after z; Japanese files katakana and hiragana as one.
    return key.translate(_FILED_AS)


#: An absolute URI (RFC 3986): a scheme, then characters a URI may hold. Atom's id and RSS's
#: guid must be one; feed readers compare them as strings, so an id once published stays.
ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+")


@functools.cache
def cldr_locale(language: str) -> tuple[Any, bool]:
    """(Babel's Locale for the language tag ``language``, else for its primary subtag, or None
    where CLDR has data for neither; whether it fell back from the tag as given)."""
    tag = language.replace("_", "-")
    try:
        from babel import Locale, UnknownLocaleError
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        return None, True
    for candidate in dict.fromkeys([tag, tag.split("-")[0]]):
        try:
            return Locale.parse(candidate, sep="-"), candidate != tag
        except (UnknownLocaleError, ValueError):
            continue
    return None, True
