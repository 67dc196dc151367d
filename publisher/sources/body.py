"""A review's body and derived summary, rendered when an output first reads them.

A cold build of 10,000 reviews used to render every body, though its feeds show about a thousand
and a digest ten; a warm one unpickled every body's HTML from the cache. Now loading a review
keeps only where its body is: ``FileBody`` names the source file, the sha256 of the bytes that
were parsed and where the body starts, and reads and renders it on first use. If the file has
changed since (an edit during a build), the render refuses rather than pair the old front matter
with the new body; the command fails with one line and the next run starts afresh.
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass

from ..errors import Problem, SourceError
from ..files import read_file
from ..models import Deferred, Review, quick_init
from ..text import excerpt
from .markdown import prepare_markdown, render_prepared


def decode(data: bytes) -> str:
    """A source's text as the loader reads it (UTF-8, byte-order marks dropped)."""
    # What data.decode("utf-8-sig") gives, without that codec's Python layer (half the time).
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    return data.decode("utf-8").removeprefix("\ufeff")


def _byte_offset(data: bytes, offset: int) -> int:
    """Where character ``offset`` of ``decode(data)`` starts in ``data``, a source's bytes
    (UTF-8, which ``decode`` has already read once): only the front matter is decoded."""
    start = 0
    for _ in range(2):  # decode drops a byte-order mark, then a U+FEFF (the same 3 bytes)
        if data.startswith(codecs.BOM_UTF8, start):
            start += len(codecs.BOM_UTF8)
    # Most front matter is ASCII, whose characters are its bytes: an eighth of the decoding
    # and encoding below (~2.5k instructions against ~17k).
    if data[start:start + offset].isascii():
        return start + offset
    # ``offset`` characters take at most 4 bytes each; a character cut at the end of that
    # slice comes after them, and is all that "ignore" can drop from valid UTF-8.
    head = data[start:start + 4 * offset].decode("utf-8", errors="ignore")
    return start + len(head[:offset].encode("utf-8"))


@quick_init
@dataclass(frozen=True)
class FileBody(Deferred):
    """The body of ``source`` (named so in messages), read from ``path`` from character
    ``offset`` of its text, provided the file still hashes to ``digest``."""

    path: str
    source: str
    digest: str
    offset: int
    base_url: str
    #: The body needed no cleaning when it was parsed (prepare_markdown left it as it was):
    #: the same bytes need none now, and its scan of the whole text is skipped.
    clean: bool = False
    #: The publication's language, whose quotation marks the body's quotes take.
    language: str = "en"

    def compute(self, review: Review) -> str:
        try:
            data = read_file(self.path)
        except OSError as exc:
            raise self._changed(f"cannot be read any more ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != self.digest:
            raise self._changed("changed while publisher was using it")
        if self.clean:
            # The bytes parsed as they are: cmark reads them without decoding the whole file.
            return render_prepared(data[_byte_offset(data, self.offset):], self.base_url,
                                   review.url, self.language)
        text = prepare_markdown(decode(data)[self.offset:])[0]
        return render_prepared(text, self.base_url, review.url, self.language)

    def _changed(self, what: str) -> SourceError:
        return SourceError([Problem(self.source, 0, "", f"{what}; run the command again")])


@quick_init
@dataclass(frozen=True)
class MarkdownBody(Deferred):
    """A body given as text (a review parsed from a string, not from a file)."""

    markdown: str  # already through prepare_markdown
    base_url: str
    language: str = "en"

    def compute(self, review: Review) -> str:
        return render_prepared(self.markdown, self.base_url, review.url, self.language)


#: Where a Hugo (or WordPress) source marks the end of its summary.
MORE = "<!--more-->"


@quick_init
@dataclass(frozen=True)
class Excerpt(Deferred):
    """The summary of a review that gives none: the first ``words`` words of its body, or of
    ``lead``, its Markdown before a ``<!--more-->`` line, when it has one (as Hugo reads it)."""

    words: int
    lead: str | None = None
    base_url: str = ""
    language: str = "en"

    def compute(self, review: Review) -> str:
        if self.lead is not None:
            return excerpt(render_prepared(self.lead, self.base_url, review.url,
                                           self.language), self.words)
        return excerpt(review.body_html, self.words)
