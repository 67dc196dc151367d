"""Width and height for the images a body shows from static/, as posters have them.

A browser that knows an image's size before it arrives lays the page out once; without it, the
text below jumps down as each image loads (Cumulative Layout Shift, a Core Web Vital). The
site's stylesheet keeps images fluid (``max-width: 100%; height: auto``), so the attributes
give the shape and never a fixed size on a phone. The sizes are the posters' facts
(``sources.posters.PosterFacts``: each file read once and cached); an image elsewhere is never
fetched, and one the editor sized keeps the size given.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from ..models import ImageFacts

#: The names of the files whose size is read: what a browser shows as an image and imagesize
#: reads. The build's plan keys a body on the same ones (``BodyImages.of``), so that a file's
#: new size makes again what shows it.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg")

# After sanitising, attribute values are quoted and hold no ">" or '"' (escaped), so these
# find exactly the tags and their attributes.
_IMG = re.compile(r"<img\s[^>]*>")
_ATTRIBUTE = re.compile(r'\s([a-z-]+)="([^"]*)"')


def shown_images(body_html: str) -> set[str]:
    """The URLs of the images ``body_html`` (sanitised) shows: a link to an image file (a
    still's full size, say) is not among them."""
    return {html.unescape(dict(_ATTRIBUTE.findall(tag)).get("src", ""))
            for tag in _IMG.findall(body_html)}


def image_file(url: str) -> bool:
    """Whether ``url`` names an image file by its name (its size is read when it is in
    static/)."""
    return url.lower().endswith(IMAGE_SUFFIXES)


#: A body's image files with their facts, in the order its links name them: (URL, facts).
Images = tuple[tuple[str, ImageFacts | None], ...]


class BodyImages:
    """Which of a body's links into the site name image files, and their facts: picked out
    once a body a build, however many ask. The build's plan asks (``of``: a file's new size
    makes again what shows it), and so do the pages and the feeds, which size the body's
    images by the same facts (``sized``). ``facts(url)`` gives a file's facts, or None (the
    posters' ``PosterFacts.facts``)."""

    def __init__(self, facts: Callable[[str], ImageFacts | None]) -> None:
        self._facts = facts
        # By the id of the links tuple (a Review's or SitePage's, alive the whole build), kept
        # beside it so that a freed tuple's id, taken again by another, is never mistaken.
        self._found: dict[int, tuple[tuple[tuple[str, int], ...], Images]] = {}

    def of(self, links: tuple[tuple[str, int], ...]) -> Images:
        """The image files among ``links`` (a body's links into the site,
        ``markdown.site_links``, where its images are too) with their facts; () for a body
        without one (most)."""
        if not links:
            return ()
        found = self._found.get(id(links))
        if found is None or found[0] is not links:
            found = (links, tuple((url, self._facts(url)) for url, _line in links
                                  if image_file(url)))
            self._found[id(links)] = found
        return found[1]

    def sized(self, body_html: str, links: tuple[tuple[str, int], ...]) -> str:
        """``body_html`` (sanitised, URLs absolute) with ``width`` and ``height`` on each
        image whose file's size is known and that has neither already; a body without an image
        file among its ``links`` is returned as it is, unscanned."""
        images = self.of(links)
        if not images:
            return body_html
        known = dict(images)

        def sized(match: re.Match[str]) -> str:
            tag = match.group(0)
            attributes = dict(_ATTRIBUTE.findall(tag))
            src = html.unescape(attributes.get("src", ""))
            if "width" in attributes or "height" in attributes:
                return tag
            # A src written otherwise than its link (percent-encoded, say) is looked up itself.
            if src in known:
                found = known[src]
            elif image_file(src):
                found = self._facts(src)
            else:
                return tag
            if found is None or found.width is None or found.height is None:
                return tag
            end = len(tag) - (2 if tag.endswith("/>") else 1)
            return (f'{tag[:end].rstrip()} width="{found.width}" height="{found.height}"'
                    f'{tag[end:]}')

        return _IMG.sub(sized, body_html)


#: What every image of an editor's note carries in mail: never wider than its column (a
#: 1,600-pixel photograph widened the whole issue past a phone's screen), its height following.
_FLUID = "max-width:100%;height:auto;"


def fitted(note_html: str, facts: Callable[[str], ImageFacts | None] | None,
           column: int) -> str:
    """``note_html`` (sanitised, URLs absolute) with each image fitted to a ``column`` pixels
    wide, for mail and the issue's archive page, which have no stylesheet of the site's: a
    style that keeps it within the column, and ``width`` and ``height`` where its size is known
    (given in the note, or read from its file in static/ through ``facts``), at most
    ``column`` wide and in proportion, since Outlook on Windows draws an image at its
    ``width`` whatever the CSS says. A small image is never enlarged."""
    if "<img" not in note_html:
        return note_html

    def fit(match: re.Match[str]) -> str:
        tag = match.group(0)
        attributes = dict(_ATTRIBUTE.findall(tag))
        width, height = attributes.get("width", ""), attributes.get("height", "")
        size: tuple[int, int] | None = None
        if width.isdigit() and height.isdigit() and int(width) and int(height):
            size = int(width), int(height)
        elif not width and not height and facts is not None:
            found = facts(html.unescape(attributes.get("src", "")))
            if found is not None and found.width and found.height:
                size = found.width, found.height
        if size is None and width.isdigit() and not height:
            size = int(width), 0  # the width alone: the height follows the picture's own
        sized = ("width", "height") if size is not None else ()
        kept = _ATTRIBUTE.sub(lambda m: "" if m.group(1) in (*sized, "style") else m.group(0),
                              tag[4:].rstrip("/> "))
        if size is not None:
            shown = min(column, size[0])
            kept += f' width="{shown}"'
            if size[1]:
                kept += f' height="{max(1, round(size[1] * shown / size[0]))}"'
        return f'<img{kept} style="{_FLUID}">'

    return _IMG.sub(fit, note_html)
