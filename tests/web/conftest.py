"""A publication served by ``publisher serve`` on a free loopback port, with a Maildir outbox,
and an httpx client talking to it over a real socket."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.config import Config
from publisher.ledger.store import Store, open_store
from publisher.pipeline.reader import ReaderDesk
from publisher.render.sender import Sender
from tests.fixtures import NOW, POSTAL, Publication
from tests.webserver import MutableClock, ReaderServer, bind, wait_for_messages

SECRET = "reader-test-secret-of-forty-characters-ok"


@dataclass
class Reader:
    publication: Publication
    config: Config
    store: Store
    desk: ReaderDesk
    server: ReaderServer
    client: httpx.Client
    clock: MutableClock

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def outbox(self) -> Path:
        return self.config.root / ".publisher" / "outbox"

    def unsubscribe_url(self, email: str) -> str:
        return Sender.from_config(self.config).unsubscribe_url(SECRET, email)

    def preferences_url(self, email: str) -> str:
        return Sender.from_config(self.config).preferences_url(SECRET, email)

    def subscribe(self, email: str, name: str = "", **fields: str) -> httpx.Response:
        return self.client.post("subscribe", data={"email": email, "name": name,
                                                   "form": "test", **fields})

    def confirmation_link(self, count: int = 1) -> str:
        """The confirmation link in the ``count``-th message of the outbox."""
        messages = wait_for_messages(self.outbox, count)
        assert len(messages) >= count, f"{len(messages)} messages in the outbox"
        text = messages[count - 1].get_body(("plain",)).get_content()
        return re.search(r"(http\S+/confirm\?token=\S+)", text).group(1)


def serve_publication(publication: Publication, extra: str = "",
                      server: str = "") -> tuple[object, Config]:
    """A listening socket and the config that serves ``publication`` on it (``extra`` goes in
    [newsletter], ``server`` in [server])."""
    sock, port = bind()
    publication.add_config(f"""
        [newsletter]
        from_address = "news@reel.test"
        postal_address = "{POSTAL}"
        {extra}

        [server]
        url = "http://127.0.0.1:{port}/"
        {server}
        """)
    return sock, publication.config


@contextmanager
def serving(publication: Publication, *, extra: str = "", server: str = "",
            reconnect: bool = False, **options: Any) -> Iterator[Reader]:
    """``publisher serve`` over ``publication`` on a free loopback port, its ledger open, until
    the block ends: the one set-up of every test of the reader's pages. ``extra`` goes in
    [newsletter], ``server`` in [server]; ``reconnect`` opens the ledger as serve does on
    PostgreSQL; ``options`` go to ReaderServer (``owed_every``, ``trusted_proxies``…)."""
    sock, config = serve_publication(publication, extra, server)
    clock = MutableClock(NOW)
    with open_store(config, reconnect=reconnect) as store:
        desk = ReaderDesk(config, store, secret=SECRET, clock=clock)
        with ReaderServer(desk, sock, **options) as served, \
                httpx.Client(base_url=served.url, timeout=10) as client:
            yield Reader(publication, config, store, desk, served, client, clock)


@pytest.fixture
def reader(publication: Publication) -> Iterator[Reader]:
    with serving(publication) as served:
        yield served
