"""Running the readers' application under uvicorn: one process, its own listening socket (so a
port in use is one clear line), X-Forwarded-For believed only from server.trusted_proxies, no
access log of uvicorn's own (it would write every query string: tokens and addresses), graceful
shutdown on SIGTERM, SIGINT and SIGHUP."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

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


def uvicorn_config(app: ASGIApp, *, trusted_proxies: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        proxy_headers=True,
        forwarded_allow_ips=[p.strip() for p in trusted_proxies.split(",") if p.strip()],
        access_log=False,
        server_header=False,
        log_config=None,
        lifespan="on",  # the app's round of mail owed to readers (web.app.owed_rounds)
        timeout_keep_alive=5,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
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
