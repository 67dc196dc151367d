"""Typographic quotes in the publication's language.

cmark's smart punctuation writes English quotes (“…” and ‘…’) whatever the language; a French
reader expects « … », a German one „…“ and ‚…‘. The rendered HTML's quotes are put in the
language's marks afterwards: the marks are the Unicode CLDR's delimiters (Babel does not carry
them), and French sets a narrow no-break space inside its guillemets, as the Imprimerie
nationale's rules and French word processors do. Apostrophes stay ’ (cmark writes the same
character for an apostrophe and a closing single quote: a ’ followed by a letter, "l’été", is
an apostrophe; another closes the nearest open ‘ of its block, if any). Code is left as written.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Marks:
    """A language's quotation marks: the outer pair, the pair for a quote inside a quote, and
    whether a narrow no-break space goes inside each mark (French)."""

    open: str
    close: str
    inner_open: str
    inner_close: str
    spaced: bool = False


# CLDR 47's delimiters (common/main/*.xml, <delimiters>), the languages that differ from
# cmark's English “ ” ‘ ’: each entry is the four marks and the tags that use them (a region or
# script tag is looked up before its language). One departure: CLDR gives de-CH Germany's „…“,
# where Swiss German is set in guillemets (the Federal Chancellery's Schreibweisungen, Swiss
# newspapers), as CLDR's gsw and fr-CH are.
_CLDR_MARKS = {
    "„”‚’": "agq ff",
    "«»‹›": "am az-Arab az-Cyrl de-CH de-LI fa fr-CH gsw jgo kkj mzn sdh",
    "”“’‘": "ar lld ms-Arab syr ur",
    "«»“”": "ast blo bm br ca dyo el es-US eu ewo ie it kab kk lij mg mua nnh pt-PT sc sg sq ti",
    "«»„“": "bas be cv ky ru sah uk",
    "„“„“": "bg lt",
    "„“‚‘": "bs-Cyrl cs de dsb et hr hsb is lb luy mk sk sl",
    "„”‘’": "bs",
    "«»‘’": "dua el-POLYTON ksf no rw",
    "””’’": "fi he lag rn sn sv",
    "«»”“": "fr-CA",
    "«»«»": "fr hy yav",
    "„”»«": "hu",
    "‘’“”": "ia nso ti-ER tn",
    "「」『』": "ja yue zh-Hant",
    "„“«»": "ka",
    "‘’‘’": "nl",
    "„”«»": "nmg pl ro",
    "«»„”": "shi zgh",
    "„”’’": "sr",
    "“’“”": "st",
    "“”“”": "tk",
    "“”’‘": "uz",
}
_TAG_MARKS = {tag.lower(): marks for marks, tags in _CLDR_MARKS.items() for tag in tags.split()}
_SPACED_LANGUAGES = frozenset({"fr"})


@functools.cache
def quotation_marks(language: str) -> Marks | None:
    """The quotation marks of ``language`` (a language tag), or None where they are cmark's own
    English ones: the tag's most specific entry (``fr-CA``, ``zh-Hant-TW`` as ``zh-Hant``), else
    its language's."""
    subtags = language.replace("_", "-").lower().split("-")
    candidates = ["-".join(subtags[:n]) for n in range(len(subtags), 0, -1)]
    candidates[1:1] = [f"{subtags[0]}-{s}" for s in subtags[1:-1]]  # zh-Hant-TW: zh-Hant too
    marks = next((_TAG_MARKS[tag] for tag in candidates if tag in _TAG_MARKS), None)
    if marks is None:
        return None
    return Marks(marks[0], marks[1], marks[2], marks[3], spaced=subtags[0] in _SPACED_LANGUAGES)


_ENGLISH = "“”‘’"
# Quotes typed as such ("„Wort“", "l’été") are the editor's, not cmark's: hidden from it and
# from localise_quotes as four punctuation marks no review uses (U+2E18-U+2E1B: punctuation
# too, so that cmark reads "*" beside them as it reads it beside a quote), shown again in the
# HTML (and in a URL, where cmark percent-encodes them). A text that holds one is left as is.
_HIDDEN = "\u2e18\u2e19\u2e1a\u2e1b"
_TYPED_BYTES = [mark.encode() for mark in _ENGLISH]
_HIDDEN_BYTES = [mark.encode() for mark in _HIDDEN]
_SHOWN = str.maketrans(dict(zip(_HIDDEN, _ENGLISH, strict=True)))
_ENCODED = [("".join(f"%{b:02X}" for b in hidden), "".join(f"%{b:02X}" for b in typed))
            for hidden, typed in zip(_HIDDEN_BYTES, _TYPED_BYTES, strict=True)]


def hide_typed_quotes(data: bytes) -> bytes | None:
    """``data`` (Markdown as UTF-8) with the typographic quotes typed in it hidden from cmark
    and from ``localise_quotes``; None when it holds none (or holds what would hide them)."""
    if not any(typed in data for typed in _TYPED_BYTES):
        return None
    if any(hidden in data for hidden in _HIDDEN_BYTES):
        return None
    for typed, hidden in zip(_TYPED_BYTES, _HIDDEN_BYTES, strict=True):
        data = data.replace(typed, hidden)
    return data


def show_typed_quotes(html: str) -> str:
    """The HTML of text that ``hide_typed_quotes`` hid quotes of, with them shown again."""
    html = html.translate(_SHOWN)
    if "%E2%B8%9" in html:
        for hidden, typed in _ENCODED:
            html = html.replace(hidden, typed)
    return html
_NARROW_NBSP = "\u202f"
_SPACES = " \n\u00a0\u202f"
# cmark's and nh3's HTML: a tag never holds ">" inside a value (both escape it).
_PIECE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^>]*>|[^<]+|<")
# Where a quote that opened must have closed: a block of text (a paragraph, a list item, a
# table cell...), as cmark pairs quotes within one. A code block is one too, left as it is.
_BLOCK_TAG = re.compile(r"(</?(?:p|li|td|th|h[1-6]|blockquote|div|dt|dd|figcaption|section|ul|"
                        r"ol|table|thead|tbody|tr|hr|pre)\b[^>]*>)", re.IGNORECASE)
_CODE = frozenset({"code", "pre", "kbd", "samp"})
_ALT = re.compile(r'( alt=")([^"]*)(")')
_QUOTE = re.compile("[“”‘’]")


def _changes(text: str) -> bool:
    """Whether ``text`` holds an opening quote or a double one: without any, it has nothing
    to change, its ’ being apostrophes (most blocks of a review hold some, few the others).
    Three searches for a character are several times faster than one for a class of them."""
    return "“" in text or "‘" in text or "”" in text


def localise_quotes(html: str, marks: Marks) -> str:
    """``html`` (cmark's, cleaned) with its typographic quotes in ``marks``; code and tags left
    as written, but for images' alt text (which cmark writes with smart quotes too)."""
    if not _changes(html):
        return html
    # Blocks and the tags between them; only the few blocks that hold a quote are read.
    pieces = _BLOCK_TAG.split(html)
    for index in range(0, len(pieces), 2):
        if _changes(pieces[index]):
            pieces[index] = _in_block(pieces[index], marks)
    return "".join(pieces)


def _in_block(html: str, marks: Marks) -> str:
    """The HTML inside one block with its quotes in ``marks``."""
    block: list[str] = []  # the block's text pieces and the tags between them
    texts: list[int] = []  # which of block's pieces are text (not code)
    code = 0
    for match in _PIECE.finditer(html):
        piece, name = match.group(0), (match.group(2) or "").lower()
        if not name:
            if not code:
                texts.append(len(block))
        elif name in _CODE:
            code = max(code + (-1 if match.group(1) else 1), 0)
        elif name == "img" and ' alt="' in piece:
            piece = _ALT.sub(
                lambda m: m.group(1) + "".join(_block([m.group(2)], [0], marks)) + m.group(3),
                piece)
        block.append(piece)
    return "".join(_block(block, texts, marks))


def _block(block: list[str], texts: list[int], marks: Marks) -> list[str]:
    """The pieces of one block with their quotes in ``marks``: the text pieces are read as one
    text (a quote's neighbours may lie across a tag, ‘<em>mot</em>’)."""
    text = "".join(block[i] for i in texts)
    if not _changes(text):
        return block
    # What replaces a character, by its index in ``text``: only the quotes are visited (a
    # walk through every character took longer than rendering the body).
    out: dict[int, str] = {}
    open_doubles = 0
    open_singles = 0
    for match in _QUOTE.finditer(text):
        i, char = match.start(), match.group()
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        if char == "“":
            # An unpaired '"' with spaces on both sides (' " mot " ', as French is often typed)
            # is "“" to cmark: the second of two closes the first.
            if open_doubles and before in _SPACES and after in _SPACES:
                _closing(marks.close, marks, text, out, i)
                open_doubles -= 1
            else:
                _opening(marks.open, marks, text, out, i)
                open_doubles += 1
        elif char == "”":
            _closing(marks.close, marks, text, out, i)
            open_doubles = max(open_doubles - 1, 0)
        elif char == "‘":
            _opening(marks.inner_open, marks, text, out, i)
            open_singles += 1
        elif not after.isalnum() and before not in _SPACES and open_singles:
            open_singles -= 1
            _closing(marks.inner_close, marks, text, out, i)
    # The text goes back into its pieces, in their lengths as written.
    result = list(block)
    changed = sorted(out)
    start = 0
    for index in texts:
        end = start + len(block[index])
        parts: list[str] = []
        kept = start
        for i in changed[bisect.bisect_left(changed, start):bisect.bisect_left(changed, end)]:
            parts += (text[kept:i], out[i])
            kept = i + 1
        if kept != start:
            result[index] = "".join(parts) + text[kept:end]
        start = end
    return result


def _opening(mark: str, marks: Marks, text: str, out: dict[int, str], i: int) -> None:
    """``mark`` for the opening quote at ``text[i]`` into ``out``; a space written after it
    made narrow and no-break where the language sets one there."""
    out[i] = mark
    if marks.spaced and mark in "«‹":
        if i + 1 < len(text) and text[i + 1] in _SPACES:
            out[i + 1] = _NARROW_NBSP
        else:
            out[i] = mark + _NARROW_NBSP


def _closing(mark: str, marks: Marks, text: str, out: dict[int, str], i: int) -> None:
    """``mark`` for the closing quote at ``text[i]`` into ``out`` (see ``_opening``)."""
    out[i] = mark
    if marks.spaced and mark in "»›":
        if i and text[i - 1] in _SPACES:
            out[i - 1] = _NARROW_NBSP
        else:
            out[i] = _NARROW_NBSP + mark
