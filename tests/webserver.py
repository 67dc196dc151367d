"""publisher serve for tests: the real application under uvicorn, on a free loopback port, in a
thread; requests go over a real socket (httpx, or a browser).

    with ReaderServer(desk) as server:
        httpx.get(server.url + "subscribe")
"""

from __future__ import annotations

import mailbox
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import uvicorn

from publisher.web.app import create_app
from publisher.web.server import listen, uvicorn_config


@dataclass
class MutableClock:
    """The server's clock: ``now`` is read at every request; tests move it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def bind() -> tuple[object, int]:
    """A listening socket on 127.0.0.1 and its port (known before the config is written)."""
    sock = listen("127.0.0.1", 0, choose="another port")
    return sock, sock.getsockname()[1]


class ReaderServer:
    """uvicorn serving ``create_app(desk)`` on ``sock`` in a thread until the block ends;
    ``owed_every``: seconds between its rounds of mail owed to readers; ``options``: the
    rest of ``create_app``'s."""

    def __init__(self, desk, sock, *, trusted_proxies: str = "127.0.0.1",
                 owed_every: float = 60.0, head_seconds: float | None = None, **options):
        self.desk = desk
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        app = create_app(desk, owed_every=owed_every, **options)
        given = {} if head_seconds is None else {"head_seconds": head_seconds}
        self.server = uvicorn.Server(uvicorn_config(app, trusted_proxies=trusted_proxies,
                                                    **given))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self) -> ReaderServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


#: mailbox.Maildir's names: seconds, microseconds (not zero-padded) and pid, then a counter.
_MAILDIR_NAME = re.compile(r"(\d+)\.M(\d+)P\d+Q(\d+)\.")


def _written(key: str) -> tuple[int, ...]:
    """When a Maildir message was written, from its name: sorted as text, "…M98765…" would
    come after "…M123456…" of the same second (a confirmation after its welcome)."""
    found = _MAILDIR_NAME.match(key)
    return tuple(int(n) for n in found.groups()) if found else (0,)


def outbox_messages(path: Path) -> list[EmailMessage]:
    """The messages in a Maildir outbox, oldest first."""
    if not all((path / sub).is_dir() for sub in ("new", "cur", "tmp")):
        return []  # not there yet, or being created
    box = mailbox.Maildir(path, factory=None, create=False)
    return [message_from_bytes(box.get_bytes(key), policy=policy.default)  # type: ignore
            for key in sorted(box.keys(), key=lambda k: (_written(k), k))]


def wait_for_messages(path: Path, count: int, timeout: float = 10) -> list[EmailMessage]:
    """The outbox once it holds ``count`` messages (a confirmation is sent after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        found = outbox_messages(path)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)
