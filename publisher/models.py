"""Domain values: frozen dataclasses that renderers and the ledger take, never config objects."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from .text import slugify


class Deferred:
    """A Review text computed when first read: the body's HTML rendered from its source, or a
    summary taken from that HTML. Loading 10,000 reviews then renders only the few hundred that
    an output shows. A subclass's repr must identify what it would compute (the build's change
    detection digests reviews by repr without computing anything)."""

    def compute(self, review: Review) -> str:
        raise NotImplementedError


class _Text:
    """A Review field holding text, or a Deferred that computes it on first read (kept beside
    it, so the review's repr, pickle and change digests stay those of the source)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name, self.slot, self.done = name, "_" + name, "_" + name + "_text"

    def __get__(self, review: Review | None, owner: type | None = None) -> str:
        if review is None:
            raise AttributeError(self.name)  # a required field: no class-level default
        state = review.__dict__
        value = state[self.slot]
        if isinstance(value, Deferred):
            done = state.get(self.done)
            if done is None:
                done = state[self.done] = value.compute(review)
            elif type(done) is bytes:  # taken as UTF-8 (Review.take_body): decoded where read
                done = state[self.done] = done.decode("utf-8")
            return str(done)
        return str(value)

    def __set__(self, review: Review, value: str | Deferred) -> None:
        review.__dict__[self.slot] = value

    def source(self, review: Review) -> str | Deferred:
        return review.__dict__[self.slot]  # type: ignore[no-any-return]


class _Factory:
    """The default of a parameter whose field has a default factory (shown as dataclasses
    shows it): the factory is called when the parameter is not given."""

    def __repr__(self) -> str:
        return "<factory>"


_NO_VALUE = _Factory()


_Frozen = TypeVar("_Frozen", bound=type)


def quick_init(cls: _Frozen) -> _Frozen:
    """Give a frozen dataclass an ``__init__`` that fills the instance's ``__dict__`` key by
    key, as unpickling does: what the dataclass's own makes (the same keys in the same order,
    defaults and factories as declared, a ``_Text`` field under its slot), without a call of
    ``object.__setattr__`` for each field. Parsing makes a Review, a Film and a body and summary
    for every source: their frozen __init__s were a tenth of parsing one (by callgrind).
    For classes with no ``__post_init__`` and every field in ``__init__``."""
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__, which quick_init does not call")
    params: list[str] = []
    stores: list[str] = []
    namespace: dict[str, Any] = {"_NO_VALUE": _NO_VALUE}
    for item in dataclasses.fields(cls):
        name = item.name
        if not item.init:
            raise TypeError(f"{cls.__name__}.{name} is not set by __init__")
        if item.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = item.default
            params.append(f"{name}=_default_{name}")
        elif item.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = item.default_factory
            params.append(f"{name}=_NO_VALUE")
            stores.append(f"    if {name} is _NO_VALUE:\n        {name} = _factory_{name}()")
        else:
            params.append(name)
        descriptor = cls.__dict__.get(name)
        key = descriptor.slot if isinstance(descriptor, _Text) else name
        stores.append(f"    state[{key!r}] = {name}")
    source = (f"def __init__(self, {', '.join(params)}):\n    state = self.__dict__\n"
              + "\n".join(stores))
    exec(source, namespace)  # noqa: S102  # as dataclasses makes its __init__s
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    return cls


@quick_init
@dataclass(frozen=True)
class Film:
    """The film under review."""

    year: int | None = None
    director: str = ""
    starring: tuple[str, ...] = ()
    runtime: int | None = None  # minutes
    classification: str = ""
    credits: tuple[str, ...] = ()  # the director's earlier films


@quick_init
@dataclass(frozen=True)
class Poster:
    """A poster image: an absolute URL and its alt text."""

    src: str
    alt: str


@quick_init
@dataclass(frozen=True)
class Trailer:
    """A film's trailer on a video site: which site (``"youtube"`` or ``"vimeo"``) and the
    video's id there. Its addresses are made from those, never kept as written, so that every
    way of writing one link (youtu.be/ID, m.youtube.com, /shorts/, /embed/) is one trailer."""

    site: str
    video_id: str
    key: str = ""  # an unlisted Vimeo video's hash, without which it does not play

    @property
    def site_name(self) -> str:
        """The video site's name as readers know it."""
        return "Vimeo" if self.site == "vimeo" else "YouTube"

    @property
    def url(self) -> str:
        """The video's own page: what feeds, issues and their plain text link to."""
        if self.site == "vimeo":
            return f"https://vimeo.com/{self.video_id}" + (f"/{self.key}" if self.key else "")
        return f"https://www.youtube.com/watch?v={self.video_id}"

    @property
    def embed_url(self) -> str:
        """The player a page loads once the reader asks: YouTube's privacy-enhanced host (no
        cookies until the video plays) and Vimeo's do-not-track mode, as Hugo's shortcodes
        offer; autoplay, since the reader has just clicked play."""
        if self.site == "vimeo":
            key = f"h={self.key}&" if self.key else ""
            return f"https://player.vimeo.com/video/{self.video_id}?{key}dnt=1&autoplay=1"
        return f"https://www.youtube-nocookie.com/embed/{self.video_id}?autoplay=1"


@dataclass(frozen=True)
class ImageFacts:
    """What a poster's file says about it: its size in bytes, and its width and height in
    pixels when its format tells them (None otherwise)."""

    length: int
    width: int | None = None
    height: int | None = None


@quick_init
@dataclass(frozen=True)
class Review:
    """One review, loaded, validated and rendered; everything a feed or digest needs."""

    slug: str
    title: str
    date: datetime  # aware
    updated: datetime  # aware; equals date unless the source says otherwise
    reviewer: str
    id: str  # stable entry id (front matter `id`, else derived from domain, date and slug)
    url: str  # absolute permalink
    body_html: _Text = _Text()  # sanitised HTML with absolute URLs (str, or Deferred)
    summary: _Text = _Text()  # the logline (plain text); derived from the body when not given
    film: Film = field(default_factory=Film)
    rating: Decimal | None = None  # 0-5 in half steps
    tags: tuple[str, ...] = ()
    poster: Poster | None = None
    availability: str = ""
    trailer: Trailer | None = None
    draft: bool = False
    source_path: str = ""  # as given to the loader, for messages
    #: Earlier addresses of the review's page on this site (absolute URLs under base_url,
    #: ending in "/" or ".html"), where the build leaves a page sending readers on to ``url``.
    aliases: tuple[str, ...] = ()
    #: The body's links and images into this site (absolute URLs under base_url, each with
    #: its line in the source file): what a build checks something is published at. Also
    #: those written without a host that land on base_url's host outside it, for the build to
    #: name (``markdown.site_links``).
    links: tuple[tuple[str, int], ...] = ()
    #: Why the review is not written yet, in the parse's words (sources/schema.py: init's
    #: sample untouched, a skeleton's body or summary left in), or "": such a review is
    #: published with a warning, never mailed (newsletter/compose.py).
    unwritten: str = ""

    def __repr__(self) -> str:
        # What each field is made from, deferred texts included, without computing them.
        parts = []
        for name in self.__dataclass_fields__:
            field_ = type(self).__dict__.get(name)
            value = field_.source(self) if isinstance(field_, _Text) else getattr(self, name)
            parts.append(f"{name}={value!r}")
        return f"Review({', '.join(parts)})"

    def __getstate__(self) -> dict[str, Any]:
        # Computed texts are not pickled (the parse cache keeps what they are made from). A
        # review just parsed has none, and its state is pickled as it is: the parse workers
        # pickle every review, and copying it was a third of that (by callgrind).
        state = self.__dict__
        if state.keys().isdisjoint(_COMPUTED):
            return state
        return {k: v for k, v in state.items() if k not in _COMPUTED}

    def computed_summary(self) -> str | None:
        """The summary derived from the body, if it has been computed (None when the source
        gives one, or nothing has read it yet)."""
        if isinstance(self.__dict__.get("_summary"), Deferred):
            done = self.__dict__.get("_summary_text")
            return None if done is None else str(done)
        return None

    def take_body(self, html: str | bytes) -> None:
        """This review's body rendered elsewhere from the same source bytes (by a process that
        loaded the sources: sources/catalog.py), as text or in UTF-8 (decoded when first read:
        by the process that renders with it, not by the one that took it while the other
        cores wait); ignored when this review holds its body as text (not Deferred) or has
        rendered it here already."""
        if isinstance(self.__dict__.get("_body_html"), Deferred):
            self.__dict__.setdefault("_body_html_text", html)

    def take_summary(self, text: str) -> None:
        """The summary derived from this review's body, computed before (sources/cache.py
        keeps them by the source's sha256); ignored when the source gives a summary."""
        if isinstance(self.__dict__.get("_summary"), Deferred):
            self.__dict__.setdefault("_summary_text", text)

    @property
    def reviewer_slug(self) -> str:
        return slugify(self.reviewer)

    @property
    def tag_slugs(self) -> tuple[str, ...]:
        return tuple(slugify(t) for t in self.tags)

    def is_published(self, now: datetime) -> bool:
        """Published means not a draft and not dated in the future (as Hugo does by default)."""
        return not self.draft and self.date <= now

    def identities(self) -> tuple[Hashable, ...]:
        """What tells this review from the others, most telling first: its id, then what
        holds when the id changes (a review without an ``id:`` line gets a new one when its
        file is renamed, its date corrected or base_url's domain changes): its file with its
        title or its date, or, from another file, its title, date and reviewer (two reviews
        of one film on one day are two reviewers'). Two reviews sharing any of them are one
        (an issue's review and the one the sources hold now: newsletter/compose.py,
        pipeline/links.py)."""
        alone = (self.title, self.date, self.reviewer)
        if not self.source_path:  # a review made in memory, from no file
            return self.id, alone
        return self.id, (self.source_path, self.title), (self.source_path, self.date), alone


#: Where a Review keeps the texts its Deferred fields computed (``_Text.done``).
_COMPUTED = frozenset(d.done for d in vars(Review).values() if isinstance(d, _Text))


@dataclass(frozen=True)
class Showing:
    """Which reviews a build shows: the published ones and, for ``publisher preview --drafts``
    and ``--future`` (Hugo's ``-D`` and ``-F``), the drafts (whatever their date) and the
    reviews scheduled after the clock. ``publisher build`` always shows the published only."""

    drafts: bool = False
    future: bool = False

    def shows(self, review: Review, now: datetime) -> bool:
        if review.draft:
            return self.drafts
        return self.future or review.date <= now

    def shows_page(self, page: SitePage) -> bool:
        """A page of the site's own has no date: only a draft is left out."""
        return self.drafts or not page.draft


#: What ``publisher build`` shows: the published reviews only.
PUBLISHED_ONLY = Showing()


@dataclass(frozen=True)
class Issue:
    """A numbered newsletter issue: the reviews it carries, in order."""

    number: int
    subject: str
    date: datetime  # aware; when its sending started (a draft: when it was composed)
    reviews: tuple[Review, ...]
    note_html: str = ""  # optional editor's note, sanitised HTML


@dataclass(frozen=True)
class SitePage:
    """A page of the site's own, not a review (pages/about.md): in no feed, index or digest,
    at ``url``, and in the navigation under ``menu`` unless that is ""."""

    slug: str
    title: str
    url: str
    body_html: str  # sanitised
    source_path: str  # pages/about.md
    menu: str = ""
    weight: int = 0  # the navigation's order: lower first, then by title
    description: str = ""
    #: Links and images of the body into the site, (URL, line), as a Review's ``links``.
    links: tuple[tuple[str, int], ...] = ()
    draft: bool = False  # built only by ``publisher preview --drafts``
    footer: bool = False  # linked from every page's footer too (a privacy policy, a colophon)
    template: str = "site_page.html.j2"  # its template's name under templates/


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class IssueState(StrEnum):
    """draft → sending → sent, or draft → cancelled."""

    DRAFT = "draft"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    """queued → sending (claimed) → sent; or back to queued (retry), or failed / bounced.
    A delivery left in ``sending`` by a crash is ambiguous."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"


#: How the last reply of a delivery failed unsent begins when its subscriber left the list
#: (unsubscribed, complained, bounced on another issue) while it was queued, the status
#: following: counted apart from failures (``SKIPPED``), as it is no fault of the send.
LEFT_THE_LIST = "not sent: subscriber "
#: The count of such deliveries, beside each status's, in ``DeliveryStore.delivery_counts``.
SKIPPED = "skipped"


class SlotOutcome(StrEnum):
    ISSUED = "issued"
    SKIPPED = "skipped"
    EMPTY = "empty"


@dataclass(frozen=True)
class SlotHistory:
    """What the ledger's schedule slots say at a moment ``now`` (``IssueStore.slot_history``).

    ``last``: the latest slot recorded at or before now, the one the schedule goes on from.
    ``schedule``: the schedule recorded with it (``newsletter.schedule.schedule_key``), None for
    a slot recorded before the ledger kept it. ``ahead``: the latest slot recorded after now (a
    run whose clock was ahead recorded it), or None.
    """

    last: datetime | None = None
    schedule: str | None = None
    ahead: datetime | None = None


@dataclass(frozen=True)
class Subscriber:
    """Someone on the list."""

    email: str
    name: str = ""
    id: int = 0
    status: SubscriberStatus = SubscriberStatus.ACTIVE
    source: str = ""  # how they joined: "cli", "import:subscribers.csv", ...
    created_at: datetime | None = None  # aware (UTC) when read from the ledger
    status_changed_at: datetime | None = None  # when they joined, left, bounced: likewise
    # Their consent, when recorded: when they asked, from which address, on which form, when
    # they confirmed.
    consent_at: datetime | None = None
    consent_ip: str | None = None
    consent_form: str = ""
    confirmed_at: datetime | None = None


#: Per-subscriber values stamped into a compiled digest after compiling it once.
PERSONAL_FIELDS = ("email", "name", "unsubscribe_url", "preferences_url")


def personal_markers(seed: str) -> dict[str, str]:
    """Markers for PERSONAL_FIELDS: ASCII, no '=', unique to ``seed`` (say, an issue's identity)
    so that review text cannot collide with them, and deterministic for the same seed."""
    nonce = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:12]
    return {name: f"@@PUB-{name.upper()}-{nonce}@@" for name in PERSONAL_FIELDS}


@dataclass(frozen=True)
class RenderedDigest:
    """An issue rendered once: subject, compiled HTML and text, personal fields as markers.

    In ``html`` a marker stands where the HTML-escaped value goes; in ``text`` where the raw value
    goes. ``markers`` maps each of PERSONAL_FIELDS to its marker.
    """

    issue: Issue
    subject: str
    html: str
    text: str
    markers: dict[str, str]


@dataclass(frozen=True)
class IssueRecord:
    """An issue as the ledger holds it; ``review_ids`` in issue order."""

    number: int
    subject: str
    state: IssueState
    slot: datetime | None
    created_at: datetime
    sent_at: datetime | None
    review_ids: tuple[str, ...]
    note_html: str = ""
    paused_reason: str = ""  # non-empty while sending is paused (a 5.7.x refusal)


@dataclass(frozen=True)
class DeliveryRecord:
    """One issue to one subscriber, with the subscriber's address and name."""

    id: int
    issue_number: int
    subscriber_id: int
    email: str
    name: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_reply: str
    message_id: str
    created_at: datetime
    updated_at: datetime

    @property
    def subscriber(self) -> Subscriber:
        return Subscriber(email=self.email, name=self.name, id=self.subscriber_id)
