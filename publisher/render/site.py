"""The publication as the digest, archive and feed renderers see it: a small frozen value built
from the Config once, at the edge (``Site.from_config``), so that no renderer reads the Config.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2

from ..config import Config
from .words import ENGLISH, Words, load_words

#: The fingerprint of each file asked for, by its path and stamp (size, mtime, ctime, inode:
#: a file replaced by rsync -t keeps its mtime, not its ctime): a review page asks on every
#: render, and a preview asks again after each change.
_fingerprints: dict[tuple[str, int, int, int, int], str] = {}


def file_fingerprint(path: Path) -> str:
    """Eight hex digits of the digest of the file's bytes, as site.css's ``?v=`` has. Raises
    OSError when the file cannot be read."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    found = _fingerprints.get(key)
    if found is None:
        found = _fingerprints[key] = hashlib.blake2b(path.read_bytes(),
                                                     digest_size=4).hexdigest()
    return found


@dataclass(frozen=True)
class Site:
    """Who publishes and how: every value a digest, an archive page or a feed shows or needs.

    URLs are absolute; ``base_url`` ends with "/". Defaults (newsletter name and time zone,
    subscribe URL) are already resolved, so renderers never fall back themselves.
    """

    title: str
    base_url: str
    description: str
    language: str
    author: str
    author_email: str
    copyright: str
    tz: ZoneInfo  # bare dates in reviews, schema.org dates
    newsletter_tz: ZoneInfo  # issue dates, the digest's date line
    newsletter_name: str
    subscribe_url: str
    postal_address: str
    templates: Path  # the publication's templates/, searched before the packaged defaults
    static: Path  # files served under base_url (posters): feeds read their sizes here
    excerpt_words: int
    subject_template: str  # newsletter.subject, a Jinja template
    feed_limit: int  # entries per feed
    feed_hub: str  # WebSub hub, or ""
    id_domain: str  # the domain in the issues' feed ids (feeds.id_domain, else base_url's host)
    #: The file these values came from, named in error messages ("publisher.toml: …").
    origin: str
    #: True when publisher builds the site's pages (review permalinks under base_url); False
    #: when another site has them (an absolute feeds.permalink).
    pages: bool = True
    #: The site's home page, where a feed, a digest's masthead or a reader's page sends whoever
    #: wants the site: base_url, or where another site has the pages, that site's root (nothing
    #: is built at base_url then: it only serves the feeds, a 404 for a browser).
    home_url: str = ""
    #: Where the site's subscribe form posts (``publisher serve``'s endpoint, the same URL as
    #: subscribe_url); "" when newsletter.subscribe_url names a page elsewhere, which the pages
    #: link to instead.
    subscribe_action: str = ""
    per_page: int = 50  # reviews on each page of an index
    home_reviews: int = 10  # the latest reviews on the home page
    search: bool = True  # the search page (search/) and its index (search.json)
    related: int = 4  # related reviews on each review's page
    feeds_per_reviewer: bool = True
    feeds_per_tag: bool = True
    #: The publication's icon (site.icon, a file in static/): its URL and media type, or "".
    icon_url: str = ""
    icon_type: str = ""
    #: The words publisher composes, dates and lists, in ``language`` (render/words.py).
    words: Words = field(default=ENGLISH, compare=False, repr=False)

    @classmethod
    def from_config(cls, config: Config) -> Site:
        """Raises TemplateError for a broken ``strings.LANG.toml`` among the templates."""
        nl = config.newsletter
        # publisher serve's subscribe page and form (under server.url, else under base_url
        # behind a proxy), unless the newsletter names a page of its own elsewhere.
        reader = config.reader_url("subscribe")
        return cls(
            title=config.title,
            base_url=config.base_url,
            description=config.description,
            language=config.language,
            author=config.author,
            author_email=config.author_email,
            copyright=config.copyright,
            tz=config.tz,
            newsletter_tz=config.newsletter_tz,
            newsletter_name=config.newsletter_name,
            subscribe_url=nl.subscribe_url or reader,
            postal_address=nl.postal_address,
            templates=config.templates_path,
            static=config.paths.static,
            excerpt_words=nl.excerpt_words,
            subject_template=nl.subject,
            feed_limit=config.feeds.limit,
            feed_hub=config.feeds.hub,
            id_domain=config.id_domain,
            origin=str(config.path),
            pages=not config.external_pages,
            home_url=config.home_url,
            subscribe_action="" if nl.subscribe_url else reader,
            per_page=config.site.per_page,
            home_reviews=config.site.home_reviews,
            search=config.site.search and not config.external_pages,
            related=config.site.related,
            icon_url=_fingerprinted(config.icon_url, config.paths.static / config.icon_path),
            icon_type=config.icon_type,
            feeds_per_reviewer=config.feeds.per_reviewer,
            feeds_per_tag=config.feeds.per_tag,
            words=load_words(config.templates_path, config.language),
        )

    @property
    def domain(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"

    def url(self, path: str = "") -> str:
        """An absolute URL under base_url (path given without a leading slash)."""
        return self.base_url + path.lstrip("/")

    def static_url(self, path: str) -> str:
        """The URL of the file static/``path`` with its fingerprint, ``?v=`` and eight hex
        digits of its bytes (Hugo's ``resources.Fingerprint``, as a query so that the file
        keeps its name): a browser told to keep the file fetches it again once it changes.
        For templates (``{{ site.static_url("css/theme.css") }}``); raises
        jinja2.TemplateRuntimeError, which names the template's line, when there is no such
        file."""
        rel = path.lstrip("/")
        parts = PurePosixPath(rel).parts
        file = self.static / rel
        try:
            if ".." in parts or not file.is_file():
                raise FileNotFoundError(rel)
            digest = file_fingerprint(file)
        except OSError:
            raise jinja2.TemplateRuntimeError(
                f"static/{rel} is not there, so static_url({path!r}) has nothing to "
                "fingerprint; put the file in static/, or correct the path") from None
        return f"{self.url(quote(rel))}?v={digest}"

    def rooted(self, path: str) -> str:
        """``path`` under base_url, from the host's root (``/film/feed.xsl``): for what a
        browser loads only from the document's own origin (an XSLT stylesheet), so that it is
        found at whichever name of the host served the document — www. or not, or a static
        server on the editor's machine."""
        return (urlsplit(self.base_url).path or "/") + path.lstrip("/")


def _fingerprinted(url: str, file: Path) -> str:
    """``url`` of the static ``file`` with its fingerprint (as ``Site.static_url``); as it is
    when the file cannot be read (the build names a site.icon that is not there)."""
    if not url or not os.path.isfile(file):
        return url
    try:
        return f"{url}?v={file_fingerprint(file)}"
    except OSError:
        return url
