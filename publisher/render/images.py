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
from collections.abc import Callable, Sequence

from ..models import ImageFacts

#: The names of the files whose size is read: what a browser shows as an image and imagesize
#: reads. The build's plan keys a body on the same ones (``image_file``), so that a file's new
#: size makes again what shows it.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg")

# After sanitising, attribute values are quoted and hold no ">" or '"' (escaped), so these
# find exactly the tags and their attributes.
_IMG = re.compile(r"<img\s[^>]*>")
_ATTRIBUTE = re.compile(r'\s([a-z-]+)="([^"]*)"')


def image_file(url: str) -> bool:
    """Whether ``url`` names an image file by its name (its size is read when it is in
    static/)."""
    return url.lower().endswith(IMAGE_SUFFIXES)


def sized_images(body_html: str, links: Sequence[tuple[str, int]],
                 facts: Callable[[str], ImageFacts | None]) -> str:
    """``body_html`` (sanitised, URLs absolute) with ``width`` and ``height`` on each image
    whose file ``facts(url)`` knows the size of and that has neither already. ``links``: the
    body's links into the site (``markdown.site_links``, where its images are too): a body
    without an image file among them is returned as it is, unscanned (most are)."""
    if not links or not any(image_file(url) for url, _line in links):
        return body_html

    def sized(match: re.Match[str]) -> str:
        tag = match.group(0)
        attributes = dict(_ATTRIBUTE.findall(tag))
        src = html.unescape(attributes.get("src", ""))
        if "width" in attributes or "height" in attributes or not image_file(src):
            return tag
        found = facts(src)
        if found is None or found.width is None or found.height is None:
            return tag
        end = len(tag) - (2 if tag.endswith("/>") else 1)
        return f'{tag[:end].rstrip()} width="{found.width}" height="{found.height}"{tag[end:]}'

    return _IMG.sub(sized, body_html)
