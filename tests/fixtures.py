"""Reusable fixtures, by someone using publisher: a publication in tmp_path, a frozen clock, the
ledger, a real SMTP server on a free loopback port, the command line in-process, reviews in
memory and on disk, golden files, and an offline stand-in for the W3C feed validator.

conftest.py loads this module as a pytest plugin, so its fixtures need no import; its functions
and constants are imported from ``tests.fixtures``.
"""

from __future__ import annotations

import csv
import functools
import html
import http.server
import json
import os
import random
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import datetime as real_datetime  # unpatched, whatever Clock.freeze patches
from decimal import Decimal
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import lxml.etree
import lxml.html
import pytest
from click.testing import CliRunner, Result

from publisher.cli import main
from publisher.config import Config, StateSettings, load_config
from publisher.ledger.schema import SCHEMA_REVISION
from publisher.ledger.store import Store, open_store
from publisher.models import (
    Film,
    Issue,
    Poster,
    RenderedDigest,
    Review,
    Subscriber,
    personal_markers,
)
from publisher.render.digest import compose_subject
from publisher.render.site import Site
from publisher.text import stars
from tests.smtpserver import SmtpServer

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
#: A publication for tests: eight reviews, four reviewers, a poster, a draft, a future one.
SAMPLE = DATA / "publication"
#: The example publication that README's first command runs.
EXAMPLE = REPO / "examples" / "second-reel"
GOLDEN = DATA / "golden"

#: The frozen "now" for tests that do not care: after every sample review but the future one.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
#: Friday 20 November 2026, 09:00 in London (GMT): a slot of the default schedule
#: "0 9 * * FRI", and the date of the tests' issues and messages.
SLOT = ISSUE_DATE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
#: A "now" after every slot a test records: ``store.slot_history(END_OF_TIME).last`` is the
#: latest slot.
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)

MINIMAL_CONFIG = """\
title = "Test Reel"
description = "Reviews for tests."
base_url = "https://reel.test/"
language = "en"
author = "Ed Itor"
author_email = "editor@reel.test"
copyright = "© 2026 Test Reel"
timezone = "Europe/London"
"""

#: The digest footer's postal address (anti-spam laws want one).
POSTAL = "Test Reel, 1 Reel Street, Bristol BS1 1AA, United Kingdom"


# --- the publication ----------------------------------------------------------------------------


class Publication:
    """A publication directory under tmp_path; write reviews and config, then load."""

    def __init__(self, root: Path):
        self.root = root
        (root / "reviews").mkdir(parents=True, exist_ok=True)
        self.write_config(MINIMAL_CONFIG)

    def write_config(self, text: str) -> Path:
        path = self.root / "publisher.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def add_config(self, text: str) -> None:
        path = self.root / "publisher.toml"
        path.write_text(path.read_text(encoding="utf-8") + "\n" + textwrap.dedent(text),
                        encoding="utf-8")

    def replace_config(self, old: str, new: str) -> None:
        """publisher.toml with ``old``, which it must hold, written as ``new``."""
        path = self.root / "publisher.toml"
        text = path.read_text(encoding="utf-8")
        assert old in text, f"publisher.toml holds no {old!r}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    def set_language(self, tag: str) -> None:
        """The publication written in ``tag`` (MINIMAL_CONFIG's is "en")."""
        self.replace_config('language = "en"', f'language = "{tag}"')

    def set_base_url(self, url: str) -> None:
        """The publication published at ``url`` (MINIMAL_CONFIG's is https://reel.test/)."""
        self.replace_config('"https://reel.test/"', f'"{url}"')

    def write_review(self, name: str, text: str | bytes) -> Path:
        """reviews/<name>, exactly as given (dedented): for sources that are meant to be
        broken. For valid reviews, see ``write_reviews``."""
        path = self.root / "reviews" / name
        path.parent.mkdir(parents=True, exist_ok=True)  # "2024/x.md": reviews in folders
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def write_template(self, name: str, text: str) -> Path:
        """templates/<name>, exactly as given: an override of the packaged template of that
        name, or a template of the publication's own. Returns its path, as messages name it."""
        path = self.root / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def copy_sample_reviews(self) -> None:
        for src in sorted((SAMPLE / "reviews").glob("*.md")):
            shutil.copy(src, self.root / "reviews" / src.name)

    @property
    def config(self) -> Config:
        return load_config(directory=self.root)


@pytest.fixture
def publication(tmp_path: Path) -> Publication:
    return Publication(tmp_path / "pub")


@pytest.fixture
def config(publication: Publication) -> Config:
    """The publication's config as it stands; override in a module to add settings."""
    return publication.config


# --- the clock ----------------------------------------------------------------------------------


@pytest.fixture
def now() -> datetime:
    """The frozen clock the library is given (functions take ``now``; the CLI takes --now)."""
    return NOW


class Clock:
    """A frozen wall clock, for code that reads the time itself instead of being given it (as
    feedgen does): ``freeze(prefix)`` makes ``datetime.now()`` in every loaded module whose name
    starts with ``prefix`` read ``clock.now``; set it or ``advance`` it to make time jump."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: datetime):
        self.now = now
        self._monkeypatch = monkeypatch
        clock = self

        class _Meta(type):
            # feedgen checks isinstance(value, datetime) against the name we replace
            def __instancecheck__(cls, obj: object) -> bool:
                return isinstance(obj, real_datetime)

            def __subclasscheck__(cls, sub: type) -> bool:
                return issubclass(sub, real_datetime)

        class FrozenDatetime(real_datetime, metaclass=_Meta):
            @classmethod
            def now(cls, tz: Any = None) -> real_datetime:  # type: ignore[override]
                if tz is None:
                    return clock.now.astimezone().replace(tzinfo=None)
                return clock.now.astimezone(tz)

            @classmethod
            def utcnow(cls) -> real_datetime:  # type: ignore[override]
                return clock.now.astimezone(UTC).replace(tzinfo=None)

            @classmethod
            def today(cls) -> real_datetime:  # type: ignore[override]
                return cls.now()

        self._frozen = FrozenDatetime

    def freeze(self, *prefixes: str) -> list[str]:
        """Freeze the clock for the loaded modules named ``prefix…``; returns their names."""
        frozen = []
        for name, module in list(sys.modules.items()):
            if name.startswith(prefixes) and getattr(module, "datetime", None) is real_datetime:
                self._monkeypatch.setattr(module, "datetime", self._frozen)
                frozen.append(name)
        assert frozen, f"no loaded module under {prefixes} imports datetime"
        return frozen

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, NOW)


# --- the ledger ---------------------------------------------------------------------------------


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    """The publication's ledger (SQLite under .publisher/, or the test's PostgreSQL database
    where the ``database`` fixture chose it), open for the test."""
    with open_store(config) as opened:
        yield opened


# --- PostgreSQL ---------------------------------------------------------------------------------

#: A URL of the server's maintenance database, as a role that may create databases.
POSTGRES_ENV = "PUBLISHER_TEST_POSTGRES"
POSTGRES_DEFAULT = "postgresql:///postgres"


class PostgresServer:
    """A real PostgreSQL server: each test gets a database of its own, created from a template
    migrated once per session (or empty), and dropped after the test."""

    def __init__(self, admin_url: str):
        import psycopg  # the test extra installs it

        self.admin_url = admin_url
        self._psycopg = psycopg
        self._template: str | None = None
        self._made: list[str] = []
        self._spare: list[str] = []
        self._columns: set[str] | None = None

    def _admin(self, sql: str) -> None:
        with self._psycopg.connect(self._libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(sql)

    @staticmethod
    def _libpq(url: str) -> str:
        return url.replace("postgresql+psycopg://", "postgresql://")

    def url(self, name: str) -> str:
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def _migrated_template(self) -> str:
        if self._template is None:
            name = f"publisher_template_{os.getpid()}_{secrets.token_hex(3)}"
            self._admin(f"CREATE DATABASE {name}")
            self._made.append(name)
            config = Config(title="T", base_url="https://t.test/",
                            state=StateSettings(database=self.url(name)))
            open_store(config).close()
            self._template = name
        return self._template

    def database(self, *, migrated: bool = True) -> str:
        """A new database's URL: at the schema's head, or empty (``migrated=False``)."""
        name = f"publisher_test_{secrets.token_hex(6)}"
        template = self._migrated_template() if migrated else "template0"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY WAL_LOG")
        self._made.append(name)
        return self.url(name)

    def lend(self) -> str:
        """A database at the schema's head with nothing in it, for one test: one emptied after
        an earlier test when there is one (creating a database costs a checkpoint's worth of
        fsyncs; emptying one, a TRUNCATE)."""
        return self._spare.pop() if self._spare else self.database()

    def reclaim(self, url: str) -> None:
        """Take back a lent database: its connections are ended, its tables emptied and its
        revision set back, or, if that fails (a test changed its schema), it is dropped."""
        name = url.rsplit("/", 1)[1]
        try:
            self._admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
            with self._psycopg.connect(self._libpq(url), autocommit=True) as conn:
                tables = [row[0] for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version' ORDER BY 1")]
                columns = {row[0] for row in conn.execute(
                    "SELECT table_name || '.' || column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public'")}
                if self._columns is None:
                    self._columns = self._template_columns()
                if columns != self._columns:
                    raise ValueError("the test changed the schema")
                conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
                conn.execute("UPDATE alembic_version SET version_num = %s", (SCHEMA_REVISION,))
        except Exception:  # noqa: BLE001 - not reusable: start afresh next time
            self.drop(url)
            return
        self._spare.append(url)

    def _template_columns(self) -> set[str]:
        url = self.url(self._migrated_template())
        with self._psycopg.connect(self._libpq(url)) as conn:
            return {row[0] for row in conn.execute(
                "SELECT table_name || '.' || column_name FROM information_schema.columns "
                "WHERE table_schema = 'public'")}

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if name in self._made:
            self._made.remove(name)

    def close(self) -> None:
        for name in list(self._made):
            self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._made.clear()


def _start_local_postgres() -> str:
    """Start Debian's PostgreSQL clusters that are down (pg_ctlcluster); what was done."""
    if shutil.which("pg_lsclusters") is None or shutil.which("pg_ctlcluster") is None:
        return "no pg_ctlcluster here (install Debian's postgresql package)"
    listed = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    started = []
    for line in listed.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3] == "down":
            done = subprocess.run(["pg_ctlcluster", fields[0], fields[1], "start"],
                                  capture_output=True, text=True)
            started.append(f"{fields[0]}/{fields[1]}: "
                           f"{'started' if done.returncode == 0 else done.stderr.strip()}")
    return "; ".join(started) or "no cluster to start"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | str]:
    """The PostgreSQL server for the tests ($PUBLISHER_TEST_POSTGRES, else the local one through
    its socket, started with pg_ctlcluster if it is down), or why there is none."""
    try:
        import psycopg
    except ImportError:
        yield "psycopg is not installed (pip install -e '.[test]')"
        return
    url = os.environ.get(POSTGRES_ENV, POSTGRES_DEFAULT)
    attempts = []
    for attempt in range(2):
        try:
            with psycopg.connect(PostgresServer._libpq(url), connect_timeout=5):
                break
        except psycopg.Error as exc:
            attempts.append(str(exc).strip().splitlines()[0])
            if attempt == 0 and POSTGRES_ENV not in os.environ:
                attempts.append(_start_local_postgres())
    else:
        yield (f"no PostgreSQL server at {url} ({'; '.join(attempts)}); start one "
               f"(pg_ctlcluster 15 main start) or set {POSTGRES_ENV}")
        return
    server = PostgresServer(url)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres(postgres_server: PostgresServer | str) -> PostgresServer:
    """The PostgreSQL server; the test is skipped, saying why, when none can be started."""
    if isinstance(postgres_server, str):
        pytest.skip(f"PostgreSQL: {postgres_server}")
    return postgres_server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    """A PostgreSQL database of the test's own, at the schema's head and empty; emptied (or
    dropped) after the test."""
    url = postgres.lend()
    yield url
    postgres.reclaim(url)


def use_database(publication: Publication, url: str) -> None:
    publication.add_config(f'[state]\ndatabase = "{url}"\n')


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, publication: Publication) -> str:
    """Each test that uses it runs twice: on SQLite (the default ledger) and on a PostgreSQL
    database of its own (skipped, saying why, when no server can be started). Returns the
    backend's name; the publication's config points at the database."""
    if request.param == "postgresql":
        use_database(publication, request.getfixturevalue("postgres_url"))
    return str(request.param)


def subscriber_addresses(count: int) -> list[str]:
    return [f"reader{i:04d}@example.net" for i in range(count)]


def add_subscribers(config: Config, count: int, now: datetime) -> list[str]:
    """``count`` active subscribers, imported from a CSV file as a user would."""
    addresses = subscriber_addresses(count)
    path = config.root / "subscribers.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "name"])
        for i, address in enumerate(addresses):
            writer.writerow([address, f"Reader {i}"])
    with open_store(config) as opened:
        report = opened.import_subscribers_csv(path, now=now)
    assert report.added == count, report
    return addresses


# --- waiting, processes, trees of files ---------------------------------------------------------


def wait_for(predicate: Callable[[], object], timeout: float = 60.0,
             what: str = "condition") -> None:
    """Until ``predicate()`` is true, polling every 5 ms; fails after ``timeout`` seconds
    naming ``what``. The deadline only catches a hang: what a test waits for it makes happen."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def at_once(target: Callable[..., object], calls: Sequence[tuple[Any, ...]]) -> None:
    """``target`` called with each of ``calls``' arguments, each in a thread of its own, all
    started before any is waited for: the races a test provokes. A thread records its own
    failures (an exception raised in one does not reach the test)."""
    threads = [threading.Thread(target=target, args=args) for args in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def alive(pid: int) -> bool:
    """Whether process ``pid`` is running (Linux's /proc): a zombie is not."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (its POSIX path relative to ``root``) and its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def built_afresh(root: Path, copy: Path, now: datetime, **options: Any) -> dict[str, bytes]:
    """The ``snapshot`` of a build of the publication at ``root``, copied to ``copy`` without
    its output and state (no cache, no manifest, no ledger): what its sources make from
    nothing, to hold a build that went another way against."""
    from publisher.pipeline.build import build_site

    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("public", ".publisher"))
    config = load_config(directory=copy)
    build_site(config, now=now, **options)
    return snapshot(config.output_path)


# --- mail: a real SMTP server, or a Maildir -----------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on (connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    """A real SMTP server on a free loopback port (aiosmtpd, with the fault injection of
    tests/smtpserver.py); ``server.url`` is the transport URL."""
    with SmtpServer() as srv:
        yield srv


def use_smtp(publication: Publication, url: str, *, connections: int = 4,
             timeout: int = 10) -> None:
    publication.add_config(f"""
        [delivery]
        transport = "{url}"
        starttls = false
        connections = {connections}
        timeout = {timeout}
        """)


def use_maildir(publication: Publication, path: str = ".publisher/outbox") -> None:
    publication.add_config(f'[delivery]\ntransport = "maildir://{path}"\n')


# --- the command line ---------------------------------------------------------------------------


def run_cli(*args: str, root: Path | None = None, now: datetime | None = NOW,
            env: Mapping[str, str] | None = None, catch_exceptions: bool = False) -> Result:
    """``publisher [-C root] [--now now] ARGS`` in-process (click's CliRunner). stdout and
    stderr are kept apart: ``result.stdout``, ``result.stderr``; ``result.output`` has both.
    An exception the command does not turn into an exit code (a bug) fails the test with its
    traceback, unless ``catch_exceptions`` leaves it in ``result.exception``."""
    options = ["-C", str(root)] if root is not None else []
    if now is not None:
        options += ["--now", now.isoformat()]
    return CliRunner().invoke(main, [*options, *args], env=env,
                              catch_exceptions=catch_exceptions)


@pytest.fixture
def cli(publication: Publication) -> Callable[..., Result]:
    """``cli("issue", "new")`` runs ``publisher -C <publication> --now <NOW> issue new``; the
    keywords of ``run_cli`` change the clock, the directory or the environment."""
    return functools.partial(run_cli, root=publication.root)


# --- reviews in memory --------------------------------------------------------------------------

#: make_review's first date: review ``i`` is published ``i`` days later.
REVIEW_DATE = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def make_review(i: int = 0, *, config: Config | None = None, **changes: Any) -> Review:
    """Review number ``i``: complete and published, distinct from every other number (slug
    ``film-<i>``, ``i`` days after REVIEW_DATE: a later ``i`` is newer, updated six hours after
    publication). ``changes`` replace any field; the id and URL follow the slug and date, on
    ``config``'s site (https://reel.test/ without one), as the loader derives them."""
    slug = changes.get("slug", f"film-{i}")
    published = changes.get("date", REVIEW_DATE + timedelta(days=i))
    if config is None:
        domain, url = "reel.test", f"https://reel.test/reviews/{slug}/"
    else:
        domain, url = config.domain, config.permalink(slug)
    fields: dict[str, Any] = dict(
        slug=slug,
        title=f"Film Number {i}",
        date=published,
        updated=published + timedelta(hours=6),
        reviewer="Sam Okafor",
        id=f"tag:{domain},{published:%Y-%m-%d}:{slug}",
        url=url,
        body_html=f"<p>The body of review {i}, with <em>emphasis</em>.</p>",
        summary=f"A logline for film {i}.",
        film=Film(year=1979, director="Ridley Scott",
                  starring=("Sigourney Weaver", "Tom Skerritt", "Yaphet Kotto")),
        rating=Decimal("3.5"),
        tags=("Sci-fi", "Horror"),
        poster=None,
        availability="On Blu-ray and streaming.",
        source_path=f"reviews/{slug}.md",
    )
    fields.update(changes)
    return Review(**fields)


#: The digest tests' films, cycled: between them an awkward title, no director, no rating, no
#: logline, no poster. (title, year, director, starring, rating, reviewer, logline, poster?)
FILMS = [
    ("Fast & Furious <Extended Cut>", 2009, "Justin Lin",
     ("Vin Diesel", "Paul Walker", "Michelle Rodriguez"), "3.5", "Sam Okafor",
     "Cars, family and a heist that forgets to be a heist.", True),
    ("The Quiet Harbour", 2025, "Ines Alvarado", ("Maya Holt", "Tomás Rey"), "4",
     "Priya Nair", "A lighthouse keeper's last winter, told in long, patient takes.", True),
    ("Paper Moons", 2026, "Kenji Mori", (), "2.5", "Sam Okafor",
     "", False),
    ("Static Bloom", 2024, "", ("Aoife Byrne",), None, "Dana Whitfield",
     "An art-school thriller with more mood than plot.", True),
]

FILM_BODY = (
    "<p>{title} arrives with more confidence than it has earned, and then, slowly, earns it. "
    "The first act is all surfaces &amp; set-ups; the second finds a rhythm in its quieter "
    "scenes, where the camera lingers on faces rather than machines. By the final reel the "
    "film has become something warmer than its poster promises, a story about people who keep "
    "choosing each other. It is not a masterpiece, but it is generous, and generosity is rarer "
    "than polish.</p><p>The score is loud. The editing is not.</p>"
)


def make_issue(config: Config, count: int = 4, *, number: int = 3, note_html: str = "",
               subject: str = "") -> Issue:
    """Issue ``number`` of ``count`` reviews of FILMS (cycled): film-1, film-2, … published a
    day apart from ten days before ISSUE_DATE, each with a poster under posters/ if it has one."""
    reviews = []
    for i in range(count):
        title, year, director, starring, rating, reviewer, logline, poster = FILMS[i % len(FILMS)]
        slug = f"film-{i + 1}"
        published = ISSUE_DATE - timedelta(days=10 - i)
        reviews.append(make_review(
            i + 1, config=config, title=title, date=published, updated=published,
            reviewer=reviewer, body_html=FILM_BODY.format(title=html.escape(title, quote=False)),
            summary=logline, film=Film(year=year, director=director, starring=starring),
            rating=Decimal(rating) if rating else None,
            poster=Poster(src=config.url(f"posters/{slug}.png"), alt=f"Poster for {title}")
            if poster else None,
        ))
    subject = subject or compose_subject(Site.from_config(config), number, reviews)
    return Issue(number=number, subject=subject,
                 date=ISSUE_DATE, reviews=tuple(reviews), note_html=note_html)


#: Titles that trouble mail code: markup, quotes, templates, scripts other than Latin.
MAIL_TITLES = [
    "Fast & Furious <Extended Cut>",
    "Amélie",
    "Crouching Tiger, Hidden Dragon (卧虎藏龙)",
    "The \"Quiet\" Earth",
    "Ça commence aujourd'hui",
    "Léon: The Professional",
    "Das Boot — Director's Cut",
    "Spirited Away 千と千尋の神隠し",
    "Y Tu Mamá También",
    "{{ not a template }} {% either %}",
]


def make_digest(config: Config, *, number: int = 1, count: int = 10,
                subject: str | None = None) -> RenderedDigest:
    """A digest shaped like render_digest's output, markers included, without compiling MJML.

    The HTML imitates MRML: a head, then the whole body on ONE line of tens of thousands of
    characters; the text part is wrapped at 78 columns. Markers stand in both parts, in the
    places the real templates put them (a greeting, the footer, an href).
    """
    reviews = []
    for i in range(count):
        title = MAIL_TITLES[i % len(MAIL_TITLES)]
        summary = (
            f"{title} is a film about people, places and the odd café; review {i} says "
            "why it still matters — with “smart quotes”, an em dash and a ½ star or two."
        )
        published = ISSUE_DATE - timedelta(days=count - i)
        reviews.append(make_review(
            i, config=config, slug=f"review-{i}", title=title, date=published, updated=published,
            reviewer="Zoë Ångström", body_html=f"<p>{html.escape(summary)}</p>", summary=summary,
            film=Film(year=1990 + i, director="Ang Lee",
                      starring=("Michelle Yeoh", "Chow Yun-fat")),
            rating=Decimal(i % 5) + Decimal("0.5"),
            poster=Poster(src=config.url(f"posters/review-{i}.png"), alt=f"Poster for {title}"),
        ))
    issue = Issue(number=number, subject=subject or f"{config.title} #{number}",
                  date=ISSUE_DATE, reviews=tuple(reviews))
    m = personal_markers(f"{config.base_url}#{number}")
    td = 'style="font-family:Georgia,serif;font-size:16px;line-height:24px;color:#1a1a1a;"'
    cards = []
    for r in issue.reviews:
        e = html.escape
        assert r.poster is not None
        cards.append(
            f'<tr><td align="left" {td}><div style="margin:0px auto;max-width:600px;">'
            f'<table align="center" border="0" cellpadding="0" cellspacing="0" role="presentation"'
            f' style="width:100%;"><tbody><tr><td style="direction:ltr;font-size:0px;padding:20px'
            f' 0;text-align:center;"><img alt="{e(r.poster.alt)}" src="{e(r.poster.src)}"'
            f' width="180" style="border:0;display:block;outline:none;text-decoration:none;'
            f'height:auto;width:100%;font-size:13px;" /><h2 {td}>{e(r.title)}'
            f' ({r.film.year})</h2><p {td}><span aria-hidden="true">{stars(r.rating)}</span>'
            f'<span style="display:none;">{r.rating} out of 5</span> · by {e(r.reviewer)}</p>'
            f'<p {td}>{e(r.summary)}</p><a href="{e(r.url)}" style="display:inline-block;'
            f'background:#7a1f1f;color:#ffffff;font-family:Helvetica,Arial,sans-serif;'
            f'font-size:15px;font-weight:bold;line-height:120%;margin:0;text-decoration:none;'
            f'text-transform:none;padding:10px 25px;mso-padding-alt:0px;border-radius:3px;"'
            f' target="_blank">Read the full review</a></td></tr></tbody></table></div></td></tr>'
        )
    body = (
        f'<div style="display:none;font-size:1px;color:#fefefe;line-height:1px;max-height:0px;'
        f'max-width:0px;opacity:0;overflow:hidden;">{html.escape(", ".join(MAIL_TITLES))}</div>'
        f'<p {td}>Hello {m["name"]},</p><table role="presentation">'
        + "".join(cards) * 4  # MRML output for a ten-review issue runs to ~40 KB a line
        + f'</table><p {td}>{html.escape(config.newsletter.postal_address or config.title)}'
        f' · Sent to {m["email"]} · <a href="{m["unsubscribe_url"]}">Unsubscribe</a></p>'
    )
    page = (
        '<!doctype html>\n<html lang="en" xmlns="http://www.w3.org/1999/xhtml">\n<head>\n'
        '<meta charset="utf-8">\n<meta name="color-scheme" content="light dark">\n'
        "<style type=\"text/css\">\n  #outlook a { padding:0; }\n\tbody { margin:0; }  \n"
        "</style>\n</head>\n<body style=\"word-spacing:normal;\">\n" + body + "\n</body>\n</html>\n"
    )
    lines = [f"{config.title} — issue {number}", "", f"Hello {m['name']},", ""]
    for r in issue.reviews:
        lines += [f"{r.title} ({r.film.year}) {stars(r.rating)}", f"by {r.reviewer}"]
        lines += textwrap.wrap(r.summary, 78)
        lines += [f"Read the full review: {r.url}", ""]
    lines += [
        "-- ",  # signature separator: a trailing space that must survive
        f"Sent to {m['email']}.",
        f"Unsubscribe: {m['unsubscribe_url']}",
        "Tabs\tand  double  spaces stay as written.  ",
    ]
    return RenderedDigest(issue=issue, subject=issue.subject, html=page,
                          text="\n".join(lines) + "\n", markers=m)


# --- subscribers --------------------------------------------------------------------------------

#: Names and addresses that break naive header code.
AWKWARD_SUBSCRIBERS = (
    Subscriber("plain@example.com", "Plain Name"),
    Subscriber("nobody@example.com", ""),
    Subscriber("zoe@example.com", "Zoë Ångström-Łukasiewicz"),
    Subscriber("quote@example.com", 'Ed "The Knife" O\'Brien'),
    Subscriber("angle@example.com", "<script>alert(1)</script> & Sons"),
    Subscriber("comma@example.com", "Smith, John (Jr.)"),
    Subscriber("back@example.com", "back\\slash"),
    Subscriber("fake@example.com", "=?utf-8?q?Admin?="),
    Subscriber("crlf@example.com", "Mal\r\nBcc: victim@example.net"),
    Subscriber("bidi@example.com", "Eve\u202eresu\u202c"),
    Subscriber("long@example.com", "Ŵ" * 90 + " " + "x" * 120),
    Subscriber("用户@例子.广告", "李小龍"),
    Subscriber("josé@exämple.org", "José"),
    Subscriber("plus+tag@sub.example.co.uk", "Plus Tag"),
    Subscriber("emoji@example.com", "Film Fan 🎬👩‍👩‍👧"),
)

#: many_subscribers' names are a random pick of one each.
FIRST_NAMES = ("Zoë", "Ann", "Björn", "O'Neil", "Łucja", "Nnamdi", "Søren", "Maëlle", "陈", "José")
LAST_NAMES = ("Ångström", "Smith", "\"Q\"", "<Lee>", "Müller & Co", "", "Ó Briain", "van Dijk")


def many_subscribers(n: int, seed: int = 3) -> list[Subscriber]:
    """``n`` distinct subscribers with varied names (deterministic)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        name = f"{rnd.choice(FIRST_NAMES)} {rnd.choice(LAST_NAMES)} {i:04d}".strip()
        out.append(Subscriber(email=f"reader.{i:04d}+{rnd.randrange(10**6)}@example{i % 7}.org",
                              name=name, id=i + 1))
    return out


# --- reviews on disk ----------------------------------------------------------------------------


def quoted(text: str) -> str:
    """``text`` as a double-quoted YAML scalar (for titles with ": ", " #", quotes and such)."""
    return json.dumps(text, ensure_ascii=False)


def _yaml(value: object) -> str:
    if isinstance(value, Mapping):
        return "".join(f"\n  {key}: {_yaml(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    return str(value)


def write_reviews(publication: Publication, reviews: int | Sequence[Mapping[str, object]], *,
                  first: date = date(2026, 11, 1), prefix: str = "film") -> list[str]:
    """Review files reviews/<prefix>-1.md, -2.md, … that load without a problem: "Film 1",
    "Film 2", … by Priya Raman, rated 4, dated a day apart from ``first``; returns the slugs.

    ``reviews`` is how many, or one mapping per review whose front-matter fields replace or add
    to those (``None`` leaves a field out). A value is written as YAML text, as an editor would
    type it (``quoted`` quotes one; a list becomes [a, b], a mapping a nested block), so a test
    can write a field publisher must refuse. Two keys are not front matter: ``slug`` names the
    file (and the default title), ``body`` is the Markdown after it.
    """
    slugs = []
    for i, given in enumerate([{}] * reviews if isinstance(reviews, int) else reviews):
        n = i + 1
        slug = str(given.get("slug", f"{prefix}-{n}"))
        fields: dict[str, object] = {
            "title": quoted(slug.replace("-", " ").title()),
            "date": (first + timedelta(days=i)).isoformat(),
            "reviewer": "Priya Raman",
            "rating": 4,
            "summary": quoted(f"A film worth seeing, number {n}."),
        }
        fields.update((k, v) for k, v in given.items() if k not in ("slug", "body"))
        body = given.get("body", f"The body of review {n}, with *emphasis* and a "
                                 "[link](/reviews/).")
        front = "".join(f"{k}: {_yaml(v)}\n" for k, v in fields.items() if v is not None)
        path = publication.root / "reviews" / f"{slug}.md"
        path.write_text(f"---\n{front}---\n{body}\n", encoding="utf-8")
        slugs.append(slug)
    return slugs


def write_films(publication: Publication, count: int = 3) -> list[str]:
    """FILMS as review files, film-1.md … dated a day apart from 10 November 2026, each with a
    PNG poster in static/posters/, and the postal address the digest's footer needs."""
    publication.add_config(f'[newsletter]\npostal_address = "{POSTAL}"\n')
    posters = publication.root / "static" / "posters"
    posters.mkdir(parents=True, exist_ok=True)
    reviews = []
    for i in range(count):
        title, year, director, starring, rating, reviewer, logline, _ = FILMS[i % len(FILMS)]
        as_markdown = title.replace("<", "\\<")  # "<Extended Cut>" alone reads as a tag
        reviews.append({
            "title": quoted(title), "reviewer": reviewer, "rating": rating or 3,
            "summary": quoted(logline or "A film."),
            "poster": {"src": f"posters/film-{i + 1}.png", "alt": quoted(f"Poster for {title}")},
            "film": {"year": year, "director": director or "Unknown",
                     "starring": list(starring) or ["Nobody"]},
            "body": f"{as_markdown} arrives with more confidence than it has earned, and "
                    "then, slowly, earns it.\n\nThe score is loud. The editing is *not*.",
        })
        write_png(posters / f"film-{i + 1}.png", 200, 300, (40 + 60 * i, 60, 120))
    return write_reviews(publication, reviews, first=date(2026, 11, 10))


def write_png(path: Path, width: int, height: int, rgb: tuple[int, int, int]) -> None:
    """A one-colour 8-bit RGB PNG (no Pillow in our dependencies)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    row = b"\x00" + bytes(rgb) * width
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


# --- golden files -------------------------------------------------------------------------------

REGEN = os.environ.get("PUBLISHER_REGEN_GOLDEN") == "1"


def golden(name: str, actual: str | bytes, *, directory: Path = GOLDEN) -> None:
    """Compare ``actual`` byte for byte with tests/data/golden/<name>; rewrite the file only
    when PUBLISHER_REGEN_GOLDEN=1. HTML is compared (and kept) broken after every '>' followed
    by '<', so that a diff of the golden file shows what changed in MRML's one long line."""
    if isinstance(actual, str):
        if name.endswith(".html"):
            actual = actual.replace("><", ">\n<")
        actual = actual.encode("utf-8")
    path = directory / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual)
    assert path.exists(), f"{path} is missing; run with PUBLISHER_REGEN_GOLDEN=1 to create it"
    assert actual == path.read_bytes(), (
        f"{name} differs from the golden file; if the change is intended, regenerate with "
        "PUBLISHER_REGEN_GOLDEN=1 and review the diff"
    )


class Page(HTMLParser):
    """What a reader of the compiled HTML sees: text, links, images, elements with styles."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.images: list[dict[str, str | None]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._href: str | None = None
        self._link_text: list[str] = []
        self._hidden = 0  # inside <title>, <style> or <script>: not shown
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self._hidden += tag in ("title", "style", "script")
        if tag == "a":
            self._href, self._link_text = attributes.get("href"), []
        elif tag == "img":
            self.images.append(attributes)

    def handle_endtag(self, tag):
        self._hidden -= tag in ("title", "style", "script")
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._link_text).split())))
            self._href = None

    def handle_data(self, data):
        if self._hidden:
            return
        self.text.append(data)
        if self._href is not None:
            self._link_text.append(data)

    @property
    def visible(self) -> str:
        return " ".join(" ".join(self.text).split())


# --- an offline approximation of the W3C feed validator -----------------------------------------
#
# There is no network in tests. ``rss_problems`` / ``atom_problems`` return human-readable
# problems; an empty list means the document passed every check we approximate: required
# elements, RFC 822 / RFC 3339 dates (with the day-of-week check), self link matching the
# document's location, guid rules, enclosure attributes, unique ids, one alternate link per type,
# authors, and absolute URLs in content.

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
MEDIA = "{http://search.yahoo.com/mrss/}"

_RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} (?:[+-]\d{4}|GMT|UT)$"
)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_MIME = re.compile(r"^[\w.+-]+/[\w.+-]+$")
_LANG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")
_ATOM_RELS = {"alternate", "related", "self", "enclosure", "via", "hub", "first", "last",
              "next", "previous", "prev-archive", "next-archive", "current", "license",
              "replies", "edit", "archives"}


def rfc822_problem(text: str | None, where: str) -> str | None:
    if not text or not _RFC822.match(text):
        return f"{where}: {text!r} is not an RFC 822 date"
    parsed = parsedate_to_datetime(text)
    if parsed.strftime("%a") != text[:3]:
        return f"{where}: {text!r} has the wrong day of the week"
    return None


def rfc3339_problem(text: str | None, where: str) -> str | None:
    if not text or not _RFC3339.match(text):
        return f"{where}: {text!r} is not an RFC 3339 date-time"
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return f"{where}: {text!r} is not a real date"
    return None


def _absolute(url: str | None) -> bool:
    return bool(url) and bool(urlsplit(url).scheme) and bool(urlsplit(url).netloc)


def relative_urls(html: str) -> list[str]:
    """Every href/src/srcset URL in an HTML fragment that is relative (has no scheme)."""
    if not html.strip():
        return []
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    found = []
    for el in doc.iter():
        for attr in ("href", "src"):
            value = el.get(attr)
            if value is not None and not urlsplit(value).scheme:
                found.append(value)
        for candidate in (el.get("srcset") or "").split(","):
            url = candidate.strip().split(" ")[0]
            if url and not urlsplit(url).scheme:
                found.append(url)
    return found


def _html_problems(html: str | None, where: str) -> list[str]:
    problems = []
    if html is None:
        return problems
    if re.search(r"<\s*(script|iframe|style)\b", html, re.I):
        problems.append(f"{where}: contains script, style or iframe")
    problems += [f"{where}: relative URL {u!r}" for u in relative_urls(html)]
    return problems


def rss_problems(data: bytes, location: str) -> list[str]:
    """Problems the W3C validator would report in an RSS 2.0 document served at ``location``."""
    root = lxml.etree.fromstring(data)
    problems: list[str] = []
    if root.tag != "rss" or root.get("version") != "2.0":
        return ["root is not <rss version=\"2.0\">"]
    channels = root.findall("channel")
    if len(channels) != 1:
        return [f"{len(channels)} channel elements"]
    ch = channels[0]
    for name in ("title", "link", "description"):
        if len(ch.findall(name)) != 1 or not (ch.findtext(name) or "").strip():
            problems.append(f"channel: missing or repeated <{name}>")
    if not _absolute(ch.findtext("link")):
        problems.append(f"channel: link {ch.findtext('link')!r} is not absolute")
    selves = [ln for ln in ch.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    if len(selves) != 1:
        problems.append(f"channel: {len(selves)} atom:link rel=self (want 1)")
    elif selves[0].get("href") != location:
        problems.append(f"channel: self link {selves[0].get('href')!r} does not match the "
                        f"document location {location!r}")
    elif selves[0].get("type") != "application/rss+xml":
        problems.append("channel: self link type is not application/rss+xml")
    for ln in ch.findall(f"{ATOM}link"):
        if not _absolute(ln.get("href")):
            problems.append(f"channel: atom:link href {ln.get('href')!r} is not absolute")
    for image in ch.findall("image")[:1]:
        if len(ch.findall("image")) > 1:
            problems.append("channel: <image> repeated")
        for name in ("url", "title", "link"):
            if len(image.findall(name)) != 1:
                problems.append(f"image: missing or repeated <{name}>")
        if not _absolute(image.findtext("url")):
            problems.append(f"image: url {image.findtext('url')!r} is not absolute")
        if (image.findtext("title"), image.findtext("link")) != (ch.findtext("title"),
                                                                  ch.findtext("link")):
            problems.append("image: title and link should be the channel's")
        for name, most in (("width", 144), ("height", 400)):
            value = image.findtext(name)
            if value is not None and not (value.isdigit() and 0 < int(value) <= most):
                problems.append(f"image: {name} {value!r} is not from 1 to {most}")
    for name in ("lastBuildDate", "pubDate"):
        if ch.find(name) is not None:
            problem = rfc822_problem(ch.findtext(name), f"channel {name}")
            if problem:
                problems.append(problem)
    language = ch.findtext("language")
    if language is not None and not _LANG.match(language):
        problems.append(f"channel: language {language!r} is not a language tag")
    guids: set[str] = set()
    for n, item in enumerate(ch.findall("item")):
        where = f"item {n}"
        if item.find("title") is None and item.find("description") is None:
            problems.append(f"{where}: needs a title or a description")
        for name in ("title", "link", "description", "pubDate", "guid", "author", "enclosure"):
            if len(item.findall(name)) > 1:
                problems.append(f"{where}: <{name}> repeated")
        if item.find("link") is not None and not _absolute(item.findtext("link")):
            problems.append(f"{where}: link is not absolute")
        guid = item.find("guid")
        if guid is None:
            problems.append(f"{where}: no guid")
        else:
            value = guid.text or ""
            permalink = guid.get("isPermaLink", "true")
            if permalink not in ("true", "false"):
                problems.append(f"{where}: isPermaLink must be true or false")
            if permalink == "true" and (not _absolute(value)
                                        or value.lower().startswith(("tag:", "urn:"))):
                problems.append(f"{where}: guid {value!r} is a permalink but not a URL")
            if value in guids:
                problems.append(f"{where}: duplicate guid {value!r}")
            guids.add(value)
        if item.find("pubDate") is not None:
            problem = rfc822_problem(item.findtext("pubDate"), f"{where} pubDate")
            if problem:
                problems.append(problem)
        author = item.find("author")
        if author is not None:
            if not re.match(r"^[^@\s]+@[^@\s]+", author.text or ""):
                problems.append(f"{where}: <author> must start with an email address")
            if item.find(f"{DC}creator") is not None:
                problems.append(f"{where}: both author and dc:creator")
        enclosure = item.find("enclosure")
        if enclosure is not None:
            length = enclosure.get("length", "")
            if not length.isdigit() or int(length) <= 0:
                problems.append(f"{where}: enclosure length {length!r} is not a positive "
                                "integer")
            if not _MIME.match(enclosure.get("type", "")):
                problems.append(f"{where}: enclosure type {enclosure.get('type')!r}")
            if not (enclosure.get("url") or "").startswith(("http://", "https://")):
                problems.append(f"{where}: enclosure url must be http(s)")
        for cat in item.findall("category"):
            if not (cat.text or "").strip():
                problems.append(f"{where}: empty category")
        problems += _html_problems(item.findtext(f"{CONTENT}encoded"), f"{where} content")
    return problems


def atom_problems(data: bytes, location: str) -> list[str]:
    """Problems the W3C validator would report in an Atom 1.0 document served at ``location``."""
    root = lxml.etree.fromstring(data)
    problems: list[str] = []
    if root.tag != f"{ATOM}feed":
        return ["root is not an Atom <feed>"]
    for name in ("id", "title", "updated"):
        if len(root.findall(f"{ATOM}{name}")) != 1:
            problems.append(f"feed: missing or repeated <{name}>")
    if not urlsplit(root.findtext(f"{ATOM}id") or "").scheme:
        problems.append("feed: id is not an IRI")
    problem = rfc3339_problem(root.findtext(f"{ATOM}updated"), "feed updated")
    if problem:
        problems.append(problem)
    problems += _link_problems(root.findall(f"{ATOM}link"), "feed")
    for name in ("icon", "logo"):
        found = root.findall(f"{ATOM}{name}")
        if len(found) > 1 or (found and not urlsplit(found[0].text or "").scheme):
            problems.append(f"feed: <{name}> repeated or not an IRI")
    selves = [ln for ln in root.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    if len(selves) != 1 or selves[0].get("href") != location:
        problems.append(f"feed: self link does not match the document location {location!r}")
    feed_author = any((a.findtext(f"{ATOM}name") or "").strip()
                      for a in root.findall(f"{ATOM}author"))
    ids: set[str] = set()
    for n, entry in enumerate(root.findall(f"{ATOM}entry")):
        where = f"entry {n}"
        for name in ("id", "title", "updated"):
            if len(entry.findall(f"{ATOM}{name}")) != 1:
                problems.append(f"{where}: missing or repeated <{name}>")
        entry_id = entry.findtext(f"{ATOM}id") or ""
        if not urlsplit(entry_id).scheme:
            problems.append(f"{where}: id {entry_id!r} is not an IRI")
        if entry_id in ids:
            problems.append(f"{where}: duplicate id {entry_id!r}")
        ids.add(entry_id)
        for name in ("updated", "published"):
            if entry.find(f"{ATOM}{name}") is not None:
                problem = rfc3339_problem(entry.findtext(f"{ATOM}{name}"), f"{where} {name}")
                if problem:
                    problems.append(problem)
        authors = entry.findall(f"{ATOM}author")
        if not feed_author and not authors:
            problems.append(f"{where}: no author, and the feed has none")
        for a in authors:
            if not (a.findtext(f"{ATOM}name") or "").strip():
                problems.append(f"{where}: author without a name")
        problems += _link_problems(entry.findall(f"{ATOM}link"), where)
        content = entry.find(f"{ATOM}content")
        if content is None and not any(ln.get("rel", "alternate") == "alternate"
                                       for ln in entry.findall(f"{ATOM}link")):
            problems.append(f"{where}: no content and no alternate link")
        for el in (content, entry.find(f"{ATOM}summary"), entry.find(f"{ATOM}title")):
            if el is not None:
                kind = el.get("type", "text")
                if kind not in ("text", "html", "xhtml") and not _MIME.match(kind):
                    problems.append(f"{where}: {el.tag} has invalid type {kind!r}")
        if content is not None and content.get("type") == "html":
            problems += _html_problems(content.text, f"{where} content")
    return problems


def _link_problems(links: list[lxml.etree._Element], where: str) -> list[str]:
    problems = []
    alternates: set[tuple[str | None, str | None]] = set()
    for ln in links:
        rel = ln.get("rel", "alternate")
        if rel not in _ATOM_RELS and not urlsplit(rel).scheme:
            problems.append(f"{where}: unknown link rel {rel!r}")
        if not _absolute(ln.get("href")):
            problems.append(f"{where}: link href {ln.get('href')!r} is not absolute")
        if rel == "alternate":
            key = (ln.get("type"), ln.get("hreflang"))
            if key in alternates:
                problems.append(f"{where}: duplicate alternate link with the same type and "
                                "hreflang")
            alternates.add(key)
        length = ln.get("length")
        if length is not None and (not length.isdigit() or int(length) <= 0):
            problems.append(f"{where}: link length {length!r} is not a positive integer")
        if ln.get("type") is not None and not _MIME.match(ln.get("type")):
            problems.append(f"{where}: link type {ln.get('type')!r} is not a MIME type")
    return problems


# --- a browser ---------------------------------------------------------------------------------


#: Debian's Chromium, driven by Playwright: never a downloaded one.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: What a headless Chromium needs on a machine with no network but loopback.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the test module: launching it takes longer than most tests
    that use it. Each test opens pages of its own (``browser.new_page()`` is a fresh context:
    no cookies or storage carried over from the test before)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


# --- the web: public/ served over HTTP, and a WebSub hub ------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


class StaticServer:
    """A directory served over HTTP on a loopback port (python's http.server, threaded), as
    any static host serves a site; ``url`` ends with "/". ``port`` 0 takes a free one."""

    def __init__(self, directory: Path, port: int = 0):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Hub:
    """A WebSub hub on a free loopback port that records every publish ping: ``pings`` holds
    the topic URLs in the order received. ``status`` is the reply it gives (202; 500 plays a
    hub in trouble, 400 one that refuses); ``delay`` makes it that many seconds slow."""

    def __init__(self, port: int = 0) -> None:
        hub = self
        self.pings: list[str] = []
        self.requests: list[dict[str, list[str]]] = []
        self.status = 202
        self.delay = 0.0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode("ascii"))
                if hub.delay:
                    time.sleep(hub.delay)
                hub.requests.append(form)
                if hub.status < 300 and form.get("hub.mode") == ["publish"]:
                    hub.pings.extend(form.get("hub.url", []))
                self.send_response(hub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hub"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    """A WebSub hub on loopback that records the pings it is sent (``hub.pings``)."""
    found = Hub()
    yield found
    found.close()
