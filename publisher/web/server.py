"""Running the readers' application under uvicorn: one process, its own listening socket (so a
port in use is one clear line), requests' heads limited in size and time (uvicorn's httptools
protocol has neither), X-Forwarded-For believed only from server.trusted_proxies, no
access log of uvicorn's own (it would write every query string: tokens and addresses), graceful
shutdown on SIGTERM, SIGINT and SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..errors import ConfigError
from ..logs import JournalFormatter, on_journal
from ..signals import stop_signals
from .app import ASGIApp

#: Seconds a stop (SIGTERM, Ctrl-C) waits for the requests in hand before it cuts them off.
#: A request takes milliseconds; one still open after this is a client that stopped sending
#: or reading, and it must not hold the stop open for as long as it likes (systemd waits 90 s,
#: TimeoutStopSec's default, which the unit ``publisher serve --systemd`` prints keeps, then
#: kills). What is cut off is only waiting on a client or on its turn to send mail: a ledger
#: call or a message already with the relay runs to its end in its thread, and mail not sent
#: stays owed to the reader (web.app), sent by the next server's first round.
GRACEFUL_SHUTDOWN = 5


def listen(host: str, port: int, *, choose: str) -> socket.socket:
    """A listening TCP socket on ``host``:``port``; ConfigError saying what to change if the
    address cannot be had: ``choose``, how the command is given another ("--host/--port or
    [server] host/port"), each command naming only what it reads."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it, Nagle holds each response body back until
    # the client's delayed ACK of the headers (40 ms a request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another with "
                          f"{choose}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


#: Bytes of a request line and its headers: a form's request needs a few hundred; more is
#: refused (431) before it is held in memory.
HEAD_MAX = 16 * 1024
#: Seconds from a connection's first byte of a request (or from its opening) to the end of the
#: request's headers, which any client sends at once; a connection still short of them then
#: is closed (408 once it has sent some), as nginx's client_header_timeout does.
HEAD_SECONDS = 10.0


class _Refused(Exception):
    """A request's head over HEAD_MAX, found while parsing it."""


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits its h11 protocol has or lacks: a request
    line and headers of at most HEAD_MAX bytes (h11_max_incomplete_event_size applies to h11
    alone), in by ``head_seconds`` (uvicorn waits for them for ever: a connection that sends
    nothing, or a header a minute, holds a file descriptor as long as it likes)."""

    head_seconds = HEAD_SECONDS

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._head_size = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False
        self._start_head_timer()

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_seconds, self._head_timeout)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_started:
            self._refuse(b"408 Request Timeout", "Request timed out")
        else:  # nothing asked: nothing to answer
            self.transport.close()

    def _refuse(self, status: bytes, text: str) -> None:
        body = text.encode("ascii")
        self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; "
                             b"charset=utf-8\r\ncontent-length: " + str(len(body)).encode()
                             + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        # uvicorn's, but for a head over HEAD_MAX: httptools hands the callback's exception
        # back as a parser error, which uvicorn answers 400, "Invalid HTTP request".
        if self._head_started or self.cycle is None or self.cycle.response_complete:
            # A request's head is arriving (a body's bytes are the app's to limit).
            self._start_head_timer()
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:
            self._stop_head_timer()
            if isinstance(exc.__context__, _Refused) or self._head_size > HEAD_MAX:
                self._refuse(b"431 Request Header Fields Too Large",
                             "Request header fields too large")
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0
        self._head_started = True

    def _count(self, size: int) -> None:
        self._head_size += size
        if self._head_size > HEAD_MAX:
            raise _Refused()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_started = False
        self._stop_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)


def uvicorn_config(app: ASGIApp, *, trusted_proxies: str,
                   head_seconds: float = HEAD_SECONDS) -> uvicorn.Config:
    protocol = type("GuardedHttpTools", (GuardedHttpTools,), {"head_seconds": head_seconds})
    return uvicorn.Config(
        app,
        http=protocol,
        proxy_headers=True,
        forwarded_allow_ips=[p.strip() for p in trusted_proxies.split(",") if p.strip()],
        access_log=False,
        server_header=False,
        log_config=None,
        lifespan="on",  # the app's round of mail owed to readers (web.app.owed_rounds)
        timeout_keep_alive=5,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        h11_max_incomplete_event_size=HEAD_MAX,  # the same limit, where h11 reads requests
    )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn finishes the requests in hand, then raises the signal again, so the process
        # dies of it; a stop that was asked for is a clean exit here (0, and one log line).
        for sig in stop_signals():  # SIGHUP too: a preview's ssh session dropped
            signal.signal(sig, self.handle_exit)
        yield


def serve(app: ASGIApp, sock: socket.socket, *, trusted_proxies: str,
          quiet: bool = False) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT, then return. ``quiet``: uvicorn's
    own start and stop lines left out (``publisher preview`` talks to a person at a terminal,
    and says itself what it serves and that it stopped; ``publisher serve`` logs for journald)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        if on_journal(sys.stderr):  # under systemd: its errors as errors in the journal
            logging.getLogger().handlers[0].setFormatter(JournalFormatter())
    if quiet:
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    server = _Server(uvicorn_config(app, trusted_proxies=trusted_proxies))
    server.run(sockets=[sock])
    if not quiet:
        logging.getLogger("publisher.serve").info("stopped")
