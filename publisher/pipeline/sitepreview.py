"""``publisher preview``: the site as the next build will publish it, built for a server on this
machine and built again whenever a source changes — what ``hugo server`` and
``pelican --listen --autoreload`` give an editor.

Every URL a build writes hangs off base_url, so ``public/`` served from this machine takes its
stylesheet, posters and links from the live site (or from nowhere before the first deploy).
The preview is a build of its own (``preview_config``): base_url pointed at the local server
(its path kept), and its output, caches, manifest and lock under ``.publisher/preview/``, so it
never touches ``public/``, the real build's manifest or a cron run's lock; it tells no WebSub
hub, and its subscribe forms post to the preview server, which takes no subscriptions. The
ledger is only read: the issue archive shows the issues sent.

With ``--drafts`` and ``--future`` it also shows the reviews ``publisher build`` leaves out, each
as it will look once published; the server marks their pages and the links to them (``notes``),
so that nobody takes the preview for the site.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ..config import STATE_DIR, Config, load_config
from ..errors import PublisherError
from ..files import describe_os_error
from ..models import PUBLISHED_ONLY, Review, Showing, SitePage
from ..render.words import ENGLISH
from ..sources import load_reviews
from .build import BuildReport, build_site, sent_issues, steady
from .idle import source_digest

#: Under .publisher/: the preview's own state directory; its output is ``public/`` in it.
PREVIEW_DIR = "preview"


def preview_config(config: Config, address: str) -> Config:
    """``config`` made to build a preview served at ``address`` (``http://127.0.0.1:8000/``):
    base_url there with its path kept (``https://example.org/film/`` becomes
    ``http://127.0.0.1:8000/film/``), publisher's own files and the output under
    ``.publisher/preview/``, no WebSub hub, no readers' server."""
    state = PurePosixPath(STATE_DIR, PREVIEW_DIR)
    return replace(
        config,
        base_url=address.rstrip("/") + urlsplit(config.base_url).path,
        published_url=config.base_url,
        state_dir=str(state),
        output_dir=str(state / "public"),
        feeds=replace(config.feeds, hub=""),
        # Forms post under base_url then: to the preview server, which says it takes none.
        server=replace(config.server, url=""),
    )


@dataclass(frozen=True)
class Note:
    """What the preview says on the page of a review that is not published (``label``, on
    the links to it, and ``text``, at the top of the page itself)."""

    label: str
    text: str


@dataclass(frozen=True)
class Status:
    """What the preview's pages are told: how many builds have finished, and why the last
    attempt failed ("" when it built), while the pages of the last good build are served;
    ``notes``: the last good build's unpublished pages, by path on the preview server."""

    builds: int
    error: str
    notes: Mapping[str, Note] = field(default_factory=dict)


def _draft(source: str) -> Note:
    return Note("Draft", f"Draft: only this preview shows it. publisher build publishes it "
                         f"once draft: true is gone from {source}.")


def unpublished_notes(reviews: Sequence[Review], now: datetime, showing: Showing,
                      tz: ZoneInfo, *, pages: Sequence[SitePage] = ()) -> dict[str, Note]:
    """A Note for the page of each review, and each of the site's own ``pages``, that
    ``showing`` adds to what is published at ``now``, by the path of its URL; dates in
    ``tz``."""
    notes: dict[str, Note] = {}
    if showing.drafts:
        notes.update((urlsplit(page.url).path, _draft(page.source_path))
                     for page in pages if page.draft)
    for review in reviews:
        if review.is_published(now) or not showing.shows(review, now):
            continue
        source = review.source_path or "its source"
        if review.draft:
            note = _draft(source)
        else:
            when = review.date.astimezone(tz)
            # The preview's notes are the tool speaking to the editor: English, like the CLI.
            note = Note("Scheduled", f"Scheduled for {ENGLISH.date(when, tz)}, {when:%H:%M}: "
                                     "only this preview shows it before then.")
        notes[urlsplit(review.url).path] = note
    return notes


class SitePreview:
    """Builds the preview of the publication ``config`` describes, and builds it again when a
    source, a template, a static file, publisher.toml or the code changes, or when the clock
    reaches a scheduled review (``due``; ``watch`` asks). Thread-safe: a server's threads
    read ``status`` while a build runs."""

    def __init__(self, config: Config, address: str, *, clock: Callable[[], datetime],
                 showing: Showing = PUBLISHED_ONLY):
        self.address = address
        self.config = preview_config(config, address)
        self.showing = showing
        self._source_path = config.path
        self._clock = clock
        self._digest = ""
        self._until: datetime | None = None
        self._status = Status(0, "")
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The preview's home page."""
        return self.config.base_url

    @property
    def status(self) -> Status:
        with self._lock:
            return self._status

    def build(self, *, workers: int | None = None) -> BuildReport:
        """Build the preview now. Raises PublisherError, or OSError for a fault of the machine
        (the output is then as it was, and ``status`` says why, as the terminal does)."""
        try:
            return self._build(workers)
        except (PublisherError, OSError) as exc:
            why = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
            with self._lock:
                self._status = replace(self._status, error=why)
            raise

    def _build(self, workers: int | None) -> BuildReport:
        # Signed before reading, so that a change made during the build is seen by the next
        # poll; kept when the build fails too, so that a broken source is built again only
        # once it changes, not every poll. publisher.toml is read afresh each time (a few
        # milliseconds): an edit to it is previewed like any other.
        self._digest = self._sign()
        config = self.config = preview_config(load_config(self._source_path), self.address)
        now = self._clock()
        catalog = load_reviews(config)
        report = build_site(config, now=now, issues=sent_issues(config, catalog) or [],
                            catalog=catalog, workers=workers, showing=self.showing)
        # A scheduled review shown early is built again when its time comes: its note goes.
        self._until = steady(config, catalog, now)[1]
        notes = unpublished_notes(catalog.reviews, now, self.showing, config.tz,
                                  pages=catalog.pages)
        with self._lock:
            self._status = Status(self._status.builds + 1, "", notes)
        return report

    def _sign(self) -> str:
        try:
            return source_digest(self.config)
        except OSError:  # publisher.toml gone or unreadable: the build says so, once
            return "unreadable"

    def due(self) -> bool:
        """Whether a build now would differ from the last: a file it reads has changed, or
        the clock has reached the next scheduled review."""
        if self._sign() != self._digest:
            return True
        return self._until is not None and self._clock() >= self._until


#: How often ``watch`` looks for changes, at the least (a big publication's look, a stat of
#: every source, is kept to about 5 % of a core by looking less often).
POLL_SECONDS = 0.5


def watch(site: SitePreview, stop: threading.Event, *, built: Callable[[BuildReport], None],
          failed: Callable[[str], None]) -> None:
    """Until ``stop`` is set: build ``site`` again whenever it is ``due``, telling ``built``
    the report or ``failed`` why the build failed, in one line (a source error, a full disk:
    the last good build stays served).

    These builds render in this process, never in forked workers: the preview's server runs
    in another thread, and a process forked while threads run can inherit a lock that no
    thread will release. A build after an edit renders only what changed; the first build,
    before the server starts, shares a big site among the cores as ``publisher build`` does."""
    interval = POLL_SECONDS
    while not stop.wait(interval):
        started = time.monotonic()
        due = site.due()
        interval = max(POLL_SECONDS, 20 * (time.monotonic() - started))
        if not due:
            continue
        try:
            report = site.build(workers=1)
        except (PublisherError, OSError):
            failed(site.status.error)
            continue
        built(report)
