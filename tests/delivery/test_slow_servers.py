"""Relays that trickle, flood, stall or answer too late (issue 12, item 4): every SMTP step has a
deadline, every reply a size limit, and a run stops after a few deliveries in a row without an
answer instead of marching through the list. Real servers: raw sockets that misbehave on
purpose, and aiosmtpd answering late."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from publisher.delivery.engine import UNANSWERED_IN_A_ROW
from publisher.delivery.smtp import REPLY_MAX, SmtpTransport
from publisher.errors import TransportError
from tests.delivery.test_engine import READERS, SECRET, Newsletter, cli
from tests.pipeline.test_run_processes import hold_data
from tests.smtpserver import ScriptedServer, SmtpServer

TIMEOUT = 1.0


@pytest.fixture
def newsletter_at(publication):
    """A publication with issue #1 composed for 20 readers, sending to a given URL."""
    made: list[Newsletter] = []

    def make(url: str, **delivery: object) -> Newsletter:
        made.append(Newsletter(publication, url, **delivery))
        return made[-1]

    yield make
    for newsletter in made:
        newsletter.close()


def trickle_greeting(server: ScriptedServer, conn: socket.socket) -> None:
    """A "220-" continuation line every 0.2 s, forever: each read succeeds, the greeting never
    ends."""
    while not server.closed.is_set():
        conn.sendall(b"220-sink.test still thinking\r\n")
        time.sleep(0.2)


def flood_ehlo(server: ScriptedServer, conn: socket.socket) -> None:
    """A greeting, then an EHLO reply of endless "250-" lines, as fast as the socket takes them."""
    conn.sendall(b"220 sink.test ESMTP\r\n")
    conn.recv(1024)
    line = b"250-" + b"X" * 990 + b"\r\n"
    while not server.closed.is_set():
        conn.sendall(line * 64)


def silent_after_ehlo(server: ScriptedServer, conn: socket.socket) -> None:
    """Greets and answers EHLO, then reads everything and answers nothing."""
    conn.sendall(b"220 sink.test ESMTP\r\n")
    conn.recv(1024)
    conn.sendall(b"250-sink.test\r\n250 8BITMIME\r\n")
    while conn.recv(65536):
        pass


def answer_http(server: ScriptedServer, conn: socket.socket) -> None:
    """A web server on the relay's port: it answers the silence with an HTTP error."""
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def finishes(action: Callable[[], object], within: float) -> BaseException | None:
    """Run ``action`` in a thread; the exception it raised, failing the test if it is still
    running after ``within`` seconds (before deadlines, these hung for as long as the server
    liked)."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            raised.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f"still waiting after {within} s"
    return raised[0] if raised else None


def open_session(url_port: int) -> None:
    with SmtpTransport("127.0.0.1", url_port, starttls=False, timeout=TIMEOUT).session():
        pass


def test_a_greeting_trickled_a_line_at_a_time_ends_at_the_deadline():
    with ScriptedServer(trickle_greeting) as server:
        # The trickle never ends, so ending at all is the deadline at work; the bound only
        # tells that from a hang, generous for a loaded machine.
        error = finishes(lambda: open_session(server.port), within=TIMEOUT * 5 + 5)
    assert isinstance(error, TransportError)
    assert str(error) == (f"cannot connect to smtp://127.0.0.1:{server.port}: the greeting: "
                          f"no complete reply within {TIMEOUT:g} s")
    assert server.connections == 1


def test_a_server_that_is_not_smtp_is_named_as_such():
    with ScriptedServer(answer_http) as server:
        error = finishes(lambda: open_session(server.port), within=10)
    assert isinstance(error, TransportError)
    assert str(error) == (f"smtp://127.0.0.1:{server.port} did not answer as an SMTP server "
                          "(it said 'HTTP/1.1 400 Bad Request'); check the host and port of "
                          "delivery.transport")


def test_a_flood_of_reply_lines_ends_the_connection_at_the_size_limit():
    with ScriptedServer(flood_ehlo) as server:
        error = finishes(lambda: open_session(server.port), within=10)
    assert isinstance(error, TransportError)
    assert str(error) == (f"cannot connect to smtp://127.0.0.1:{server.port}: EHLO: the reply "
                          f"is longer than {REPLY_MAX} bytes")


def test_a_run_against_a_trickling_relay_ends_with_one_line_and_releases_the_lock(
        newsletter_at):
    with ScriptedServer(trickle_greeting) as server:
        newsletter = newsletter_at(server.url, timeout=TIMEOUT)
        root = str(newsletter.publication.root)
        command = [sys.executable, "-m", "publisher", "-C", root, "issue", "send", "1"]
        env = {"PUBLISHER_SECRET": SECRET, "PUBLISHER_NOW": "2026-11-20T12:00:00+00:00",
               "PATH": "/usr/bin:/bin"}
        first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
        # the lock went with it: the next send gets as far as the relay again
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert first.returncode == 1, first
    assert first.stderr == (f"error: cannot connect to {server.url}: the greeting: no complete "
                            f"reply within {TIMEOUT:g} s\n")
    assert second.returncode == 1 and "the greeting" in second.stderr
    assert newsletter.counts() == {"queued": len(READERS)}


def test_a_relay_slower_than_the_timeout_on_every_message_stops_the_run(newsletter_at):
    # It takes each message, but answers only after the deadline: ambiguous every time. Three
    # in a row stop the run; the rest stays queued instead of joining them in doubt.
    with SmtpServer() as server:
        hold_data(server, delay=TIMEOUT + 1)
        newsletter = newsletter_at(server.url, timeout=TIMEOUT, connections=1)
        result = cli(newsletter, "issue", "send", "1")
    assert result.exit_code == 1, result.output
    errors = result.stderr.splitlines()
    assert errors[0].startswith(
        f"error: issue #1: sending stopped after {UNANSWERED_IN_A_ROW} deliveries in a row got "
        f"no answer from the relay (the last: connection to {server.url} lost after DATA, "
        f"before the reply: the reply to the message: no complete reply within {TIMEOUT:g} s)")
    assert errors[0].endswith(f"slower than delivery.timeout ({TIMEOUT:g} s) to answer; check "
                              "it before sending again")
    assert errors[1].startswith(f"error: issue #1: {UNANSWERED_IN_A_ROW} deliveries are "
                                "ambiguous")
    assert newsletter.counts() == {"sending": UNANSWERED_IN_A_ROW,
                                   "queued": len(READERS) - UNANSWERED_IN_A_ROW}


def test_a_relay_that_stops_answering_stops_the_run_with_the_rest_queued(newsletter_at):
    with ScriptedServer(silent_after_ehlo) as server:
        newsletter = newsletter_at(server.url, timeout=TIMEOUT, connections=2)
        result = cli(newsletter, "issue", "send", "1")
    assert result.exit_code == 1, result.output
    (error,) = result.stderr.splitlines()
    assert error.startswith("error: issue #1: sending stopped after ")
    assert "got no answer from the relay (the last: connection to " in error
    assert "MAIL FROM: no complete reply within 1 s" in error
    # each delivery was tried twice (a reconnect), then left for a later retry; nobody is
    # in doubt, since no message got as far as its final "."
    counts = newsletter.counts()
    assert counts == {"queued": len(READERS)}
    # It stopped instead of marching through the list (two connections for each of the 20):
    # when the third delivery in a row got no answer, the two senders had been handed at most
    # six (two each at the start, one more for each of the first two missed answers).
    assert server.connections <= 2 * (2 * 2 + UNANSWERED_IN_A_ROW - 1)
