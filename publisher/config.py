"""publisher.toml, read once into a typed, validated Config.

Every table and key is declared here as a frozen dataclass field; unknown keys, wrong types and a
missing or relative base_url each give one line naming the key and the file. Secrets never live in
the file: they come from the environment (see ``secret_from_env``).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import SplitResult, quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .text import ABSOLUTE_URI

CONFIG_NAME = "publisher.toml"
#: Where publisher keeps its own state, under the publication directory.
STATE_DIR = ".publisher"
#: Characters RFC 3986 never allows unescaped in a URL (spaces, quotes, angle brackets, ...).
NOT_IN_URL = re.compile(r'[\s"<>\\^`{|}]')


@dataclass(frozen=True)
class FeedSettings:
    """[feeds]: which feeds to write and how many entries each holds."""

    limit: int = 50
    per_reviewer: bool = True
    per_tag: bool = True
    #: Review permalinks: a path under base_url, where publisher builds each review's page
    #: (ending in "/" for <path>/index.html, or in ".html"); or an absolute URL pattern when
    #: another site has the pages. ``{slug}`` is replaced.
    permalink: str = "reviews/{slug}/"
    #: Earlier review permalink patterns under base_url (a site moved here from Hugo's
    #: "posts/{slug}/", or from another pattern): a page at each sends readers on to the review.
    former_permalinks: tuple[str, ...] = ()
    #: WebSub hub advertised in the feeds and told of every feed a build changes, if any.
    hub: str = ""
    #: The feed id (Atom id, RSS guid) of a review without an ``id:`` field: {domain}, {date}
    #: (its day, YYYY-MM-DD) and {slug} filled in. A site moved here keeps its old ids with
    #: its old pattern: Hugo's is the permalink ("https://example.org/posts/{slug}/").
    ids: str = "tag:{domain},{date}:{slug}"
    #: The {domain} of those ids and of the issues' entries in issues/atom.xml: base_url's
    #: host unless set. A site whose base_url moves keeps its old host here, and with it
    #: every id readers have (a tag: URI names who owned the domain then: RFC 4151).
    id_domain: str = ""


@dataclass(frozen=True)
class NewsletterSettings:
    """[newsletter]: the digest, its sender and its schedule."""

    name: str = ""  # defaults to the site title
    from_name: str = ""  # defaults to the site title
    #: Defaults to newsletter@ base_url's host (parse_config), as list_id defaults to that
    #: host; this value stays only where the host is no domain name (an IP address, localhost).
    from_address: str = "newsletter@example.org"
    reply_to: str = ""
    #: Envelope sender / Return-Path for bounces; defaults to from_address.
    bounce_address: str = ""
    #: RFC 2919 list identifier, e.g. "reviews.example.org"; defaults to base_url's host.
    list_id: str = ""
    #: Contact / postal line printed in every footer (CAN-SPAM and GDPR want one).
    postal_address: str = ""
    #: A Jinja template of the issue's subject (publication, number, first_title, n, titles);
    #: empty: the words of strings.LANG.toml (issue_subject, issue_subject_more).
    subject: str = ""
    #: https endpoint that serves one-click unsubscribe; the token is appended as ?token=...
    unsubscribe_url: str = ""  # defaults to server.url (else base_url) + "unsubscribe"
    #: mailto address for List-Unsubscribe; defaults to from_address.
    unsubscribe_mailto: str = ""
    subscribe_url: str = ""  # defaults to server.url (else base_url) + "subscribe"
    #: The page where a subscriber manages their subscription (a token is appended);
    #: defaults to server.url (else base_url) + "preferences".
    preferences_url: str = ""
    feedback_id: str = ""  # Gmail Feedback-ID campaign part; defaults to list_id
    excerpt_words: int = 60
    schedule: str = "0 9 * * FRI"
    timezone: str = ""  # defaults to the site timezone
    min_reviews: int = 1
    max_reviews: int = 10
    #: A missed slot older than this is skipped, not sent late (hours).
    grace_hours: float = 36.0
    #: Greet each reader whose subscription publisher serve confirms with a welcome message
    #: (templates/web/welcome.*.j2), as Buttondown, Substack and Mailchimp do by default.
    welcome: bool = True


@dataclass(frozen=True)
class DeliverySettings:
    """[delivery]: where messages go and how fast."""

    #: smtp://host:port, smtps://host:port, maildir:///path, file:///dir (relative paths are
    #: taken from the publication directory).
    transport: str = f"maildir://{STATE_DIR}/outbox"
    smtp_user: str = ""
    starttls: bool = True
    timeout: float = 30.0
    connections: int = 4
    #: Messages per minute across all connections; 0 means no limit.
    rate_limit: int = 0
    #: Messages per SMTP session before reconnecting.
    session_messages: int = 100
    #: Give up retrying a 4xx delivery after this many hours.
    give_up_hours: float = 72.0
    #: First retry delay in seconds; doubles on each attempt.
    retry_base_seconds: float = 300.0


@dataclass(frozen=True)
class DkimSettings:
    """[dkim]: optional DKIM signing. The key file path is config; the key never is."""

    key_file: str = ""
    selector: str = ""
    domain: str = ""


@dataclass(frozen=True)
class StateSettings:
    """[state]: the ledger database."""

    database: str = f"sqlite:///{STATE_DIR}/state.db"


#: The pages ``publisher serve`` answers (web/app.py's routes): under base_url too when
#: server.url is not set, so no page of the site's own may take one of these addresses.
READER_PATHS = ("subscribe", "confirm", "unsubscribe", "resubscribe", "preferences",
                "change-address", "healthz")


@dataclass(frozen=True)
class ServerSettings:
    """[server]: ``publisher serve``, the readers' endpoints (subscribe, confirm, unsubscribe,
    preferences)."""

    #: The public base URL the server is reached at (it may differ from base_url, e.g.
    #: "https://list.example.org/"); empty when there is no server.
    url: str = ""
    host: str = "127.0.0.1"
    port: int = 8025
    #: Record the address a subscription came from with its consent (false: record none).
    store_ip: bool = True
    #: How long a confirmation link works (hours).
    confirm_hours: float = 48.0
    #: Subscribe requests one IP address may make per hour; beyond it the form answers 429.
    subscribe_per_ip_hour: int = 10
    #: Messages the reader pages send one address per day, whoever asks: confirmation links,
    #: notes to an address already subscribed, and links to change address to it.
    confirmations_per_day: int = 3
    #: How long the "resubscribe" (undo) button on the unsubscribe page works (hours).
    undo_hours: float = 168.0
    #: Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: str = "127.0.0.1"


@dataclass(frozen=True)
class InboxSettings:
    """[inbox]: the mailbox where bounces, complaints and mailto unsubscribes arrive
    (``publisher inbox``, and ``publisher run`` when set)."""

    #: maildir:///path (relative paths from the publication directory) or
    #: imaps://host:993/FOLDER; empty: no inbox.
    mailbox: str = ""
    #: IMAP login; the password comes only from PUBLISHER_IMAP_PASSWORD.
    user: str = ""
    #: Where a message goes once what it says is in the ledger.
    processed_folder: str = "processed"
    #: Soft bounces (4.x.x) within soft_bounce_days that mark a subscriber bounced.
    soft_bounce_limit: int = 3
    soft_bounce_days: float = 14.0


#: The formats ``site.icon`` may be in, by suffix, with their media types.
ICON_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".ico": "image/x-icon",
              ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
              ".webp": "image/webp"}


@dataclass(frozen=True)
class SiteSettings:
    """[site]: the pages publisher builds around the feeds when review permalinks are under
    base_url (home page, review pages, indexes of reviews, reviewers and tags)."""

    #: Reviews listed on each page of reviews/, reviewers/<slug>/ and tags/<slug>/.
    per_page: int = 50
    #: The latest reviews shown on the home page.
    home_reviews: int = 10
    #: A search page (search/) over every review's film, people and tags, searched in the
    #: reader's browser from search.json, and a link to it in every page's header.
    search: bool = True
    #: Related reviews on each review's page (another review of the same film, the director's
    #: other films, shared cast): at most this many; 0 shows none.
    related: int = 4
    #: The publication's icon, a square image in static/ ("icon.png"; 512 × 512 pixels suits
    #: every use): the browser tab's icon on every page, and the icon feed readers show beside
    #: the feeds (Atom icon, RSS image, JSON Feed icon and favicon). "" for none.
    icon: str = ""
    #: Addresses of reviews taken down after an issue carried them (a legal takedown,
    #: "reviews/x/"): each issue's archive page, and the archive's index and feed, leave them
    #: out; the emails already sent are beyond reach. The ledger keeps the issue as it went
    #: out, so that removing the line brings them back.
    withdrawn: tuple[str, ...] = ()


@dataclass(frozen=True)
class Paths:
    """Where a publication's files live: the one place that knows ``.publisher/…`` and
    ``static/``. Every path is absolute or relative to the working directory, ready to open."""

    root: Path
    reviews: Path
    templates: Path
    output: Path
    #: publisher's own directory: caches, the lock, the build manifest (the default outbox and
    #: ledger are config keys, under .publisher/ unless set otherwise).
    state: Path

    @property
    def static(self) -> Path:
        """Files copied as they are into the output directory (posters, images)."""
        return self.root / "static"

    @property
    def pages(self) -> Path:
        """The site's own pages, beside the reviews (about.md, contact.md)."""
        return self.root / "pages"

    @property
    def cache(self) -> Path:
        """Parsed reviews and the build manifest (safe to delete at any time)."""
        return self.state / "cache"

    @property
    def build_manifest(self) -> Path:
        return self.cache / "build.json"

    @property
    def websub_queue(self) -> Path:
        """Feed URLs the WebSub hub has not yet been told about (retried by the next build)."""
        return self.state / "websub.json"

    @property
    def lock(self) -> Path:
        """The run lock: one run, or one hand-started send, at a time."""
        return self.state / "run.lock"

    @property
    def screenshots(self) -> Path:
        return self.state / "screenshots"

    @property
    def cron_log(self) -> Path:
        return self.state / "cron.log"


@dataclass(frozen=True)
class Config:
    """A publication: its identity, where its files live, and how it publishes."""

    title: str
    base_url: str
    description: str = ""
    language: str = "en"
    author: str = ""
    author_email: str = ""
    copyright: str = ""
    timezone: str = "UTC"
    output_dir: str = "public"
    reviews_dir: str = "reviews"
    templates_dir: str = "templates"
    feeds: FeedSettings = field(default_factory=FeedSettings)
    newsletter: NewsletterSettings = field(default_factory=NewsletterSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    dkim: DkimSettings = field(default_factory=DkimSettings)
    state: StateSettings = field(default_factory=StateSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    inbox: InboxSettings = field(default_factory=InboxSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    #: [moved]: a reviewer's or tag's directory that is now another's ("tags/sci-fi/" =
    #: "tags/science-fiction/"), as (old, new) pairs in order: the build keeps its page sending
    #: readers on and its feeds following the new ones, so that subscribers lose nothing.
    moved: tuple[tuple[str, str], ...] = ()
    #: Directory holding publisher.toml; relative paths above are taken from here.
    root: Path = field(default=Path("."), compare=False)
    #: The file this config was read from (for messages).
    path: Path = field(default=Path(CONFIG_NAME), compare=False)
    #: Not keys of publisher.toml: what ``publisher preview`` changes to build the site for a
    #: local server apart from the real one (pipeline/sitepreview.py) — publisher's own
    #: directory for this build (caches, manifest, lock), and the published base_url, under
    #: which addresses written in the sources still name pages of this site.
    state_dir: str = STATE_DIR
    published_url: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def newsletter_tz(self) -> ZoneInfo:
        return ZoneInfo(self.newsletter.timezone or self.timezone)

    @functools.cached_property
    def paths(self) -> Paths:
        # Once per config: parsing asked for it per review, and building five Path objects
        # each time was a tenth of parsing a source (the fields it is made of are frozen).
        return Paths(root=self.root, reviews=self.root / self.reviews_dir,
                     templates=self.root / self.templates_dir, output=self.root / self.output_dir,
                     state=self.root / self.state_dir)

    @property
    def output_path(self) -> Path:
        return self.paths.output

    @property
    def reviews_path(self) -> Path:
        return self.paths.reviews

    @property
    def templates_path(self) -> Path:
        return self.paths.templates

    @functools.cached_property
    def domain(self) -> str:
        # Once per config: every review without an id asks for it (derived_id), and splitting
        # the URL each time was a fiftieth of parsing a source (base_url is frozen).
        return urlsplit(self.base_url).hostname or "localhost"

    @property
    def id_domain(self) -> str:
        """The domain in derived feed ids: feeds.id_domain, else base_url's host."""
        return self.feeds.id_domain or self.domain

    @property
    def newsletter_name(self) -> str:
        return self.newsletter.name or self.title

    def url(self, path: str = "") -> str:
        """An absolute URL under base_url (path given without a leading slash)."""
        return self.base_url + path.lstrip("/")

    @property
    def icon_path(self) -> str:
        """site.icon as the path of its file under static/ ("img/icon.png"), or ""."""
        return PurePosixPath(self.site.icon).as_posix() if self.site.icon else ""

    @property
    def icon_url(self) -> str:
        """The URL of site.icon (published under base_url, as static/ is), or ""."""
        return self.url(quote(self.icon_path)) if self.site.icon else ""

    @property
    def icon_type(self) -> str:
        """The media type of site.icon, by its suffix, or ""."""
        return ICON_TYPES.get(PurePosixPath(self.site.icon).suffix.lower(), "")

    def reader_url(self, path: str) -> str:
        """An absolute URL of ``publisher serve`` (subscribe, unsubscribe, preferences): under
        server.url when it is set, else under base_url (a proxy in front of the site)."""
        return (self.server.url or self.base_url) + path.lstrip("/")

    @property
    def reader_paths_on_site(self) -> dict[str, str]:
        """{first path segment under base_url: the URL publisher serve answers there}: its
        pages when it shares the site's address (no server.url, or one under base_url)."""
        server = self.server.url or self.base_url
        if not server.startswith(self.base_url):
            return {}  # its own host: nothing of the site's is in its way
        under = server[len(self.base_url):].strip("/")
        if under:  # mounted at a folder of the site: the whole folder is its
            return {under.split("/")[0]: server}
        return {path: server + path for path in READER_PATHS}

    @property
    def external_pages(self) -> bool:
        """True when review pages live on another site (an absolute feeds.permalink): then
        publisher builds no pages, only feeds, the issue archive and static files."""
        return bool(urlsplit(self.feeds.permalink).scheme)

    @property
    def home_url(self) -> str:
        """The site's home page: base_url, or the root of the site that has the pages."""
        if not self.external_pages:
            return self.base_url
        other = urlsplit(self.feeds.permalink)
        return f"{other.scheme}://{other.netloc}/"

    def permalink(self, slug: str) -> str:
        pattern = self.feeds.permalink.replace("{slug}", slug)
        return pattern if self.external_pages else self.url(pattern)

    @property
    def withdrawn_urls(self) -> frozenset[str]:
        """The absolute URLs of ``[site] withdrawn``, as a review's ``url`` names its page."""
        return frozenset(url for url in map(self.page_address, self.site.withdrawn) if url)

    def page_address(self, written: str) -> str | None:
        """The absolute URL of the page at ``written`` — a path under base_url
        ("reviews/old-slug/", "/post/old-slug", "old.html") or a URL under it — as a static
        server finds its file: percent-escapes decoded, and a path that does not end in ".html"
        a directory's index.html, as Hugo writes aliases. None when it names no page of this
        site: another site, '..', a hidden name, a query or fragment, the home page."""
        parts = urlsplit(written)
        if parts.scheme or parts.netloc:
            base = next((b for b in (self.base_url, self.published_url)
                         if b and written.startswith(b)), None)
            if base is None:
                return None
            path = parts.path[len(urlsplit(base).path):]
        else:
            path = parts.path.lstrip("/")
        decoded = unquote(path)
        segments = decoded.rstrip("/").split("/")
        # A hidden name (".htaccess", ".git", ".well-known") is never a page: a folder written
        # there would be read by the web server as its settings, or land in a clone's files.
        if (parts.query or parts.fragment or not decoded.strip("/")
                or any(s in ("", ".", "..") or s.startswith(".") for s in segments)
                or NOT_IN_URL.search(decoded.replace(" ", "")) or not decoded.isprintable()):
            return None
        if not decoded.endswith(("/", ".html", ".htm")):
            decoded += "/"
        return self.url(quote(decoded, safe="/-._~!$&'()*+,;=:@"))

    def resolve(self, path: str) -> Path:
        """A path from the config, taken relative to the publication directory."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.root / p

    def private_files(self) -> dict[Path, str]:
        """The files of the publication that are never published, resolved, each with what it
        is: the ledger's (``ledger_files``), publisher.toml and the DKIM key, which
        dkim.key_file may put anywhere (a relative path is the publication's)."""
        private = dict.fromkeys(self.ledger_files(), "the ledger ([state] database)")
        private[self.path.resolve()] = "publisher.toml"
        if self.dkim.key_file:
            private[self.resolve(self.dkim.key_file).resolve()] = "the DKIM key (dkim.key_file)"
        return private

    def ledger_files(self) -> list[Path]:
        """The SQLite ledger's file and its companions (resolved), wherever [state] database
        puts it; none for another database. (Read here rather than by SQLAlchemy, which a
        build does not otherwise import.)"""
        prefix = "sqlite:///"
        if not self.state.database.startswith(prefix):
            return []
        name = self.state.database[len(prefix):].partition("?")[0]
        if not name or name == ":memory:":
            return []
        file = self.resolve(name).resolve()
        return [file.with_name(file.name + end) for end in ("", "-wal", "-shm", "-journal")]


# Keys a user may reasonably write that live elsewhere in our schema: say where.
_KEY_HINTS = {
    "password": "passwords come only from the environment (PUBLISHER_SMTP_PASSWORD)",
    "smtp_password": "passwords come only from the environment (PUBLISHER_SMTP_PASSWORD)",
    "secret": "the signing secret comes only from the environment (PUBLISHER_SECRET)",
}


def _type_name(tp: object) -> str:
    if tp is float:
        return "a number"
    if tp == tuple[str, ...]:
        return "a list of strings"
    if tp == tuple[tuple[str, str], ...]:
        return 'a table of "old/" = "new/" lines'
    names: dict[object, str] = {str: "a string", int: "an integer", bool: "true or false"}
    return names.get(tp, str(tp))


def _convert(value: object, tp: object, key: str, where: str) -> object:
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if (tp is str and isinstance(value, str)) or (tp is bool and isinstance(value, bool)):
        return value
    if tp == tuple[str, ...] and isinstance(value, list) and all(isinstance(v, str)
                                                                  for v in value):
        return tuple(value)
    if tp == tuple[tuple[str, str], ...] and isinstance(value, dict) and all(
            isinstance(v, str) for v in value.values()):
        return tuple(value.items())
    raise ConfigError(
        f"{where}: {key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}"
    )


#: Config fields that are not keys of publisher.toml: set by publisher itself.
_NOT_KEYS = frozenset({"root", "path", "state_dir", "published_url"})


def _homes(key: str) -> list[str]:
    """Every place in publisher.toml where ``key`` is a key: "timezone", "newsletter.timezone"."""
    homes = [key] if key in _keys(Config) else []
    for table, tp in typing.get_type_hints(Config).items():
        if dataclasses.is_dataclass(tp) and key in _keys(tp):  # type: ignore[arg-type]
            homes.append(f"{table}.{key}")
    return homes


def _keys(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.name not in _NOT_KEYS}


def _misplaced_hint(key: str, prefix: str) -> str | None:
    """For a key of another table (or of none), where it goes. In TOML a key belongs to the
    last ``[table]`` line above it, so a key added at the end of the file lands in whatever
    table ends it: the commonest way to put a right key in the wrong place."""
    homes = _homes(key)
    if not homes:
        return None
    places = " or ".join(
        f"'{home}' (under [{home.rpartition('.')[0]}])" if "." in home
        else f"'{home}' (above the first [table] line)" for home in homes)
    table = prefix.rstrip(".")
    why = f"a key below a [{table}] line belongs to [{table}]; " if prefix else ""
    return f"{why}did you mean {places}?"


def _build(cls: type, data: dict[str, object], prefix: str, where: str) -> object:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in _NOT_KEYS}
    kwargs: dict[str, object] = {}
    problems: list[str] = []  # every one, not the first: each key is read on its own
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            hint = _KEY_HINTS.get(key) or _misplaced_hint(key, prefix)
            if hint is None:
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f"did you mean '{prefix}{close[0]}'?" if close else (
                    "known keys: " + ", ".join(sorted(fields))
                )
            problems.append(f"{where}: {dotted}: unknown key; {hint}")
            continue
        tp = hints[key]
        try:
            if dataclasses.is_dataclass(tp):
                if not isinstance(value, dict):
                    raise ConfigError(f"{where}: {dotted}: expected a table [{dotted}]")
                kwargs[key] = _build(tp, value, dotted + ".", where)  # type: ignore[arg-type]
            else:
                if isinstance(tp, types.UnionType):  # pragma: no cover - no optional keys yet
                    tp = typing.get_args(tp)[0]
                kwargs[key] = _convert(value, tp, dotted, where)
        except ConfigError as exc:
            problems.append(str(exc))
    problems += [
        f"{where}: {prefix}{name}: required key is missing"
        for name, f in fields.items()
        if name not in kwargs and name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if problems:
        raise ConfigError("\n".join(problems))
    return cls(**kwargs)


# Line breaks are fine in these (a feed description, a footer address); every other string
# is one line: a title with a newline went raw into a systemd unit's Description= (a new
# directive) and into feed titles.
_MULTI_LINE = frozenset({"description", "newsletter.postal_address"})
# C0 and C1 controls but tab, and bidi controls and marks (text that reads backwards).
_BAD_CHARS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                        "\u2066-\u2069]")


def _text_problems(value: object, prefix: str, where: str) -> list[str]:
    """A line for each string with a line break outside _MULTI_LINE, or with a control or bidi
    character anywhere (in a list's strings too)."""
    problems: list[str] = []
    for f in dataclasses.fields(value):  # type: ignore[arg-type]
        if f.name in _NOT_KEYS:
            continue
        key, item = prefix + f.name, getattr(value, f.name)
        if dataclasses.is_dataclass(item):
            problems += _text_problems(item, key + ".", where)
        elif isinstance(item, str):
            problems += _line_problem(item, key, where)
        elif isinstance(item, tuple):
            for text in item:
                for line in text if isinstance(text, tuple) else (text,):
                    problems += _line_problem(line, key, where)
    return problems


def _line_problem(item: str, key: str, where: str) -> list[str]:
    text = item.replace("\r\n", "\n").replace("\n", "") if key in _MULTI_LINE else item
    bad = _BAD_CHARS.search(text)
    if bad is None:
        return []
    if bad.group() in "\r\n":
        return [f"{where}: {key}: holds a line break; write it on one line"]
    return [f"{where}: {key}: holds the invisible character U+{ord(bad.group()):04X}; remove it"]


def _split(url: str) -> SplitResult | None:
    """urlsplit(url), or None for a URL it cannot read ("https://[::1/": Invalid IPv6 URL), so
    that the key is named as for any other unusable URL, rather than a traceback."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


#: What a host name may hold: RFC 3986's reg-name, with letters of any script (a domain name
#: not yet in punycode). An IPv6 address comes in brackets, which urlsplit reads itself.
_HOST_NAME = re.compile(r"[\w.~!$&'()*+,;=%-]+")


def _url_problems(url: str, key: str, where: str, *, example: str, query: bool = True,
                  fragment: bool = True) -> list[str]:
    """Why ``url``, which publisher publishes as it is (in pages, feeds or messages), would not
    work or would give a password away: one line for each thing to remove or write in full.
    ``query``, ``fragment``: whether it may have one (not where paths or a token are appended
    to it). ``example``: a working value for the key, to show."""
    filled = url.replace("{slug}", "slug")  # a permalink pattern is a URL once filled in
    parts = _split(filled)
    in_full = f"write it in full, e.g. {key.rpartition('.')[2]} = \"{example}\""
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        return [f"{where}: {key}: {url!r} is not an absolute http(s) URL; {in_full}"]
    # Shown without its password: the message goes to logs and to whoever runs check.
    userinfo, at, host_port = parts.netloc.rpartition("@")
    hidden = re.sub(r":.*", ":***", userinfo, flags=re.S)
    shown = url.replace(f"{userinfo}@", f"{hidden}@", 1) if at else url
    line = f"{where}: {key}: {shown!r}"
    problems: list[str] = []
    if at:
        what = "a user name and password" if ":" in hidden else "a user name"
        problems.append(f"{line} holds {what}; remove '{hidden}@': every reader would see it")
    odd = NOT_IN_URL.search(filled)
    host = parts.hostname or ""
    if odd is not None:
        what = "a space" if odd.group() == " " else f"{odd.group()!r}, which a URL cannot hold"
        problems.append(f"{line} holds {what}; remove it")
    elif not (":" in host or _HOST_NAME.fullmatch(host)):  # ":": an IPv6 address
        problems.append(f"{line} has no host name; {in_full}")
    port = host_port.rpartition("]")[2].partition(":")[2]  # "" for none (or for "host:")
    if port and not (re.fullmatch("[0-9]+", port) and 0 < int(port) < 65536):
        problems.append(f"{line} has the port {port!r}, which is no TCP port (1 to 65535); "
                        "remove it, or write the right one")
    if parts.query and not query:
        problems.append(f"{line} has a query ('?{parts.query}'); remove it")
    if parts.fragment and not fragment:
        problems.append(f"{line} has a fragment ('#{parts.fragment}'); remove it")
    return problems


def _check(config: Config, where: str) -> Config:
    """``config`` if every value is usable, else ConfigError naming each that is not (one
    line each: a first run with several mistakes is fixed in one go)."""
    problems = _text_problems(config, "", where)
    if not config.title.strip():  # as a missing title is: pages and feeds are named by it
        problems.append(f"{where}: title: empty; write the publication's name, e.g. title = "
                        "\"The Second Reel\"")
    # Every address of the site hangs off base_url: a query or fragment would end up in the
    # middle of each.
    problems += _url_problems(config.base_url, "base_url", where, query=False, fragment=False,
                              example="https://reviews.example.org/")
    zones = (("timezone", config.timezone), ("newsletter.timezone", config.newsletter.timezone))
    for key, tz in zones:
        if not tz:
            # The newsletter's may be left empty (it is then the site's); the site's may not.
            if key == "timezone":
                problems.append(f"{where}: timezone: empty; use an IANA name such as "
                                "\"Europe/London\"")
            continue
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                f"{where}: {key}: unknown time zone {tz!r}; use an IANA name such as "
                "\"Europe/London\""
            )
    if config.feeds.limit < 1:
        problems.append(f"{where}: feeds.limit: must be at least 1, got {config.feeds.limit}")
    if "{slug}" not in config.feeds.permalink:
        problems.append(f"{where}: feeds.permalink: must contain {{slug}}")
    link = _split(config.feeds.permalink)
    if link is None or link.scheme and (link.scheme not in ("http", "https") or not link.netloc):
        problems.append(
            f"{where}: feeds.permalink: {config.feeds.permalink!r} is neither a path under "
            "base_url (reviews/{slug}/) nor an absolute http(s) URL pattern"
        )
    elif link.scheme:
        problems += _url_problems(config.feeds.permalink, "feeds.permalink", where,
                                  example="https://www.example.org/posts/{slug}/")
    for former in config.feeds.former_permalinks:
        split = _split(former)
        if "{slug}" not in former or split is None or split.scheme \
                or config.page_address(former.replace("{slug}", "slug")) is None \
                or former == config.feeds.permalink:
            problems.append(
                f"{where}: feeds.former_permalinks: {former!r} is not an earlier pattern of "
                "review pages on this site; expected a path under base_url with {slug}, such "
                "as \"posts/{slug}/\" (not today's permalink)")
    # A placeholder other than these stays in braces, which no URI holds. (The domain is
    # base_url's, which may itself be what is wrong: said above.)
    sample = feed_id(config.feeds.ids, "example.org", "2026-01-31", "a-slug")
    if "{slug}" not in config.feeds.ids or not ABSOLUTE_URI.fullmatch(sample):
        problems.append(
            f"{where}: feeds.ids: {config.feeds.ids!r} does not make a URI for each review; "
            "expected a pattern with {slug} (and {domain}, {date} if wanted), such as "
            "\"tag:{domain},{date}:{slug}\" or a site's old \"https://example.org/posts/{slug}/\"")
    if config.feeds.id_domain and not _HOST_NAME.fullmatch(config.feeds.id_domain):
        problems.append(
            f"{where}: feeds.id_domain: {config.feeds.id_domain!r} is not a domain name; write "
            "the host alone, as base_url had it, e.g. id_domain = \"example.org\"")
    if config.feeds.hub:
        problems += _url_problems(config.feeds.hub, "feeds.hub", where,
                                  example="https://hub.example.org/")
    for old, new in config.moved:
        paths = [moved_path(old), moved_path(new)]
        for path, given in zip(paths, (old, new), strict=True):
            if path is None:
                problems.append(
                    f"{where}: moved: {given!r} is not a directory of this site; write the path "
                    "under base_url of a reviewer's or a tag's pages, e.g. \"tags/sci-fi/\" = "
                    "\"tags/science-fiction/\"")
        if None not in paths and paths[0] == paths[1]:
            problems.append(f"{where}: moved: {old!r} is moved to itself; remove the line")
    if not 0 <= config.site.related <= 20:
        problems.append(f"{where}: site.related: must be from 0 (none) to 20, got "
                        f"{config.site.related}")
    icon = PurePosixPath(config.site.icon)
    if config.site.icon and (icon.is_absolute() or ".." in icon.parts or "\\" in config.site.icon
                             or icon.suffix.lower() not in ICON_TYPES):
        problems.append(f"{where}: site.icon: {config.site.icon!r} is not an image file in "
                        "static/; expected its path there, such as \"icon.png\" (PNG, SVG, ICO, "
                        "JPEG, GIF or WebP)")
    for address in config.site.withdrawn:
        if _split(address) is None or config.page_address(address) is None:
            problems.append(
                f"{where}: site.withdrawn: {address!r} is not the address of a page of this "
                "site; write the path under base_url of the review taken down, e.g. "
                "\"reviews/old-slug/\"")
    if config.site.per_page < 1 or config.site.home_reviews < 0:
        problems.append(f"{where}: site.per_page: must be at least 1 (and "
                        "site.home_reviews at least 0)")
    if config.delivery.connections < 1:
        problems.append(f"{where}: delivery.connections: must be at least 1")
    nl = config.newsletter
    if nl.min_reviews < 1 or nl.max_reviews < nl.min_reviews:
        problems.append(
            f"{where}: newsletter.max_reviews: must be at least min_reviews ({nl.min_reviews}), "
            "and min_reviews at least 1"
        )
    # Durations: (key, value, whether 0 means something, the most it may be, what it is). A
    # grace of 0 sends a missed slot never late; every other 0 would give up on, expire or time
    # out everything at once. (Not-a-number compares false both ways, so it is refused too; so
    # is infinity.) The most is far beyond any use (a year; a day for one reply of the server):
    # a larger value is a typo, and one past what a date can hold stopped a run with a traceback.
    year_h = 366 * 24.0
    durations = (
        ("newsletter.grace_hours", nl.grace_hours, True, year_h,
         "hours a missed issue may still go out late"),
        ("delivery.give_up_hours", config.delivery.give_up_hours, False, year_h,
         "hours a message the server defers is retried"),
        ("delivery.retry_base_seconds", config.delivery.retry_base_seconds, False, year_h * 3600,
         "seconds before the first retry"),
        ("delivery.timeout", config.delivery.timeout, False, 24 * 3600.0,
         "seconds to wait for the mail server"),
        ("server.confirm_hours", config.server.confirm_hours, False, year_h,
         "hours a confirmation link works"),
        ("server.undo_hours", config.server.undo_hours, False, year_h,
         "hours the resubscribe button works"),
        ("inbox.soft_bounce_days", config.inbox.soft_bounce_days, False, year_h / 24,
         "days soft bounces are counted over"))
    for key, value, zero, most, what in durations:
        if not (math.isfinite(value) and (value >= 0 if zero else value > 0)):
            least = "at least 0" if zero else "more than 0"
            problems.append(f"{where}: {key}: must be {least} ({what}), got {value:g}")
        elif value > most:
            problems.append(f"{where}: {key}: must be at most {most:g} ({what}), got {value:g}")
    # Counts that have no "none" or "no limit" but their default: a negative rate limit sent
    # as fast as the server took, and a negative per-IP limit answered every subscribe with 429.
    counts = (("delivery.rate_limit", config.delivery.rate_limit, 0,
               "messages a minute; 0 for no limit"),
              ("delivery.session_messages", config.delivery.session_messages, 1,
               "messages on one connection before reconnecting"),
              ("newsletter.excerpt_words", nl.excerpt_words, 1,
               "words of a review's excerpt"),
              ("server.subscribe_per_ip_hour", config.server.subscribe_per_ip_hour, 1,
               "subscribe requests one address may make an hour"),
              ("server.confirmations_per_day", config.server.confirmations_per_day, 1,
               "confirmation messages one address may be sent a day"))
    for key, count, fewest, what in counts:
        if count < fewest:
            problems.append(f"{where}: {key}: must be at least {fewest} ({what}), got {count}")
    # Readers' pages: the server's paths are appended to server.url, and a token to
    # unsubscribe_url and preferences_url (after a query of their own, which they may have).
    reader_urls = (("server.url", config.server.url, False, False),
                   ("newsletter.subscribe_url", nl.subscribe_url, True, True),
                   ("newsletter.unsubscribe_url", nl.unsubscribe_url, True, False),
                   ("newsletter.preferences_url", nl.preferences_url, True, False))
    for key, url, query, fragment in reader_urls:
        if url:
            problems += _url_problems(url, key, where, query=query, fragment=fragment,
                                      example="https://list.example.org/")
    server = config.server
    if not 0 < server.port < 65536:
        problems.append(f"{where}: server.port: {server.port} is not a TCP port")
    if config.inbox.soft_bounce_limit < 1:
        problems.append(f"{where}: inbox.soft_bounce_limit: must be at least 1")
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def feed_id(pattern: str, domain: str, date: str, slug: str) -> str:
    """``feeds.ids`` filled in for one review."""
    return pattern.replace("{domain}", domain).replace("{date}", date).replace("{slug}", slug)


def moved_path(path: str) -> str | None:
    """A path of ``[moved]`` as the build names directories ("tags/sci-fi/"): slashes at the
    ends made one at the end; None for what is not a directory under base_url (a URL, "..",
    the root itself)."""
    rel = path.strip().strip("/")
    parts = rel.split("/")
    split = _split(rel)
    if not rel or split is None or split.scheme or any(p in ("", ".", "..") for p in parts) \
            or "\\" in rel:
        return None
    return rel + "/"


def parse_config(text: str, *, root: Path, path: Path) -> Config:
    """Parse and validate publisher.toml text; ``path`` is used in messages."""
    where = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    config = _build(Config, data, "", where)
    assert isinstance(config, Config)
    # An empty language is the default, as a missing one is (the renderers took "" for "en",
    # but the feeds wrote it as it was).
    language = _language_tag(config.language) if config.language.strip() else Config.language
    config = dataclasses.replace(config, base_url=_directory(config.base_url), root=root,
                                 path=path, language=language)
    if config.server.url:
        config = dataclasses.replace(
            config, server=dataclasses.replace(config.server, url=_directory(config.server.url)))
    newsletter = data.get("newsletter")
    if not (isinstance(newsletter, dict) and "from_address" in newsletter):
        config = _from_own_domain(config)
    return _check(config, where)


def _language_tag(language: str) -> str:
    """``language`` as a language tag: "de_DE", as WordPress and POSIX locales write it, is
    "de-DE" (browsers' Intl refuses "de_DE" as a page's lang), and "DE" is "de", whose
    strings.de.toml a translation is in. The other subtags keep their case: a tag's case means
    nothing, and a strings.pt-br.toml is read by the language as written."""
    primary, *rest = language.strip().replace("_", "-").split("-")
    return "-".join([primary.lower(), *rest])


def _directory(url: str) -> str:
    """``url`` ending in "/", as addresses under it are made by appending; as it is when it
    has a query or fragment, which _check names as written."""
    return url if url.endswith("/") or "?" in url or "#" in url else url + "/"


def _from_own_domain(config: Config) -> Config:
    """``config`` with newsletter.from_address at base_url's host: a publication's mail comes
    from its own domain, as Ghost's does. Kept as it is where the host is no domain name (an
    IP address, localhost): then it stays a placeholder, which ``publisher check`` names and
    real sending refuses."""
    parts = _split(config.base_url)  # None: _check names base_url
    host = (parts.hostname if parts else None) or ""
    if "." not in host or ":" in host or host.replace(".", "").isdigit():
        return config
    return dataclasses.replace(config, newsletter=dataclasses.replace(
        config.newsletter, from_address=f"newsletter@{host}"))


def find_config(config_path: str | os.PathLike[str] | None = None,
                directory: str | os.PathLike[str] | None = None) -> Path:
    """The publisher.toml to use: ``--config PATH``, else ``-C DIR``, else the working directory."""
    if config_path is not None:
        return Path(config_path)
    return Path(directory or ".") / CONFIG_NAME


def load_config(config_path: str | os.PathLike[str] | None = None,
                directory: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a publication's config. Raises ConfigError with one clear line."""
    path = find_config(config_path, directory)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; run 'publisher init DIR' to create a publication, "
            "or point at one with -C DIR / --config PATH"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the file as UTF-8") from None
    # The directory holding publisher.toml as named, not where a link to it leads: a config
    # kept in another repository and linked in must not move the site and the ledger there.
    return parse_config(text, root=path.absolute().parent, path=path)


def secret_from_env(name: str, purpose: str) -> str:
    """A secret from the environment, or a ConfigError saying which variable to set."""
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{name} is not set; {purpose}")
    return value


#: The signing secret for unsubscribe tokens and Message-IDs.
SECRET_ENV = "PUBLISHER_SECRET"
#: How to make one, said wherever the secret is missing or short.
SECRET_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))' makes one"
SECRET_PURPOSE = f"it signs unsubscribe links; set it to a long random string ({SECRET_HINT})"
#: The IMAP password of [inbox] user.
IMAP_PASSWORD_ENV = "PUBLISHER_IMAP_PASSWORD"


def load_secret() -> str:
    """PUBLISHER_SECRET from the environment, or a ConfigError saying to set it."""
    return secret_from_env(SECRET_ENV, SECRET_PURPOSE)
