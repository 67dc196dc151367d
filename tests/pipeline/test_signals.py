"""Signals through the command line, as systemd, kill and Ctrl-C send them: real processes
(python -m publisher) against a real SMTP server on loopback.

SIGTERM, SIGINT and SIGHUP (a dropped ssh session) drain a send: no new claims, what is in
flight finishes (or is dropped before its final "." and released), everything is recorded, one
line, exit 128 + the signal.
The signal is acknowledged at once, with what the send still waits for. A second signal stops
waiting for what is on the wire. A killed send leaves no process behind.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.ledger.store import open_store
from tests.fixtures import SLOT, add_subscribers, use_smtp, wait_for, write_reviews
from tests.pipeline.test_run_processes import environment, publisher
from tests.smtpserver import ScriptedServer, SmtpServer

pytestmark = pytest.mark.slow

CONNECTIONS = 4
SUBSCRIBERS = 400


def received(server: SmtpServer) -> Counter[str]:
    """Copies the server accepted (and acknowledged), per address."""
    return Counter(r.lower() for m in server.messages if m.acknowledged for r in m.rcpt_tos)


#: ``python -m publisher``, but a delivery run writes a line to $SIGNALS_TAKEN each time it
#: takes a stop signal. The test must know, and the line a send prints when it takes one comes
#: only with messages on the wire: two signals sent before the first is taken are one to the
#: interpreter, and a server let go before it is taken goes on sending.
PROBE = """\
import os
from publisher.cli import main
from publisher.delivery import engine
taken = os.open(os.environ["SIGNALS_TAKEN"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
take = engine.Run._on_signal
def on_signal(self, signum):
    take(self, signum)
    os.write(taken, b"taken\\n")
engine.Run._on_signal = on_signal
main(prog_name="publisher")
"""


def stopping(sig: signal.Signals, in_flight: str = r"\d+") -> re.Pattern[str]:
    """The line a send prints the moment it takes its first stop signal with messages on the
    wire (``in_flight`` of them; the delivery timeout these tests set is 120 s)."""
    again = "press Ctrl-C again" if sig == signal.SIGINT else f"send {sig.name} again"
    return re.compile(rf"{sig.name} taken: stopping once the {in_flight} messages? being sent "
                      rf"(is|are) answered \(up to 120 s\); {again} to stop at once, which "
                      rf"may leave (it|them) ambiguous")


class Send:
    """A publisher command in a process of its own, run through PROBE; its stderr goes to a
    file, to be read while it runs."""

    def __init__(self, publication, *args: str) -> None:
        self.taken = publication.root.parent / "signals-taken"
        self.err_path = publication.root.parent / "send-stderr"
        with open(self.err_path, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-c", PROBE, "-C", str(publication.root), *args],
                env={**environment(), "SIGNALS_TAKEN": str(self.taken)},
                stdout=subprocess.PIPE, stderr=err, text=True)

    def stderr(self) -> str:
        return self.err_path.read_text()

    def finish(self, timeout: float = 60) -> tuple[str, str]:
        """Wait for the process to end: (stdout, stderr)."""
        out, _ = self.process.communicate(timeout=timeout)
        return out, self.stderr()

    def signals_taken(self) -> int:
        return len(self.taken.read_text().splitlines()) if self.taken.exists() else 0

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` and wait until the run has taken it (or the process has ended)."""
        before = self.signals_taken()
        self.process.send_signal(sig)
        wait_for(lambda: self.signals_taken() > before or self.process.poll() is not None,
                 what=f"the run to take {sig.name}")


def prepared(publication, server: SmtpServer, subscribers: int = SUBSCRIBERS) -> list[str]:
    write_reviews(publication, 3)
    # The tests hold the server's replies while they act: the send must not give up on them.
    use_smtp(publication, server.url, connections=CONNECTIONS, timeout=120)
    addresses = add_subscribers(publication.config, subscribers, SLOT - timedelta(days=1))
    done = subprocess.run(publisher(publication, "issue", "new"), env=environment(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done
    return addresses


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                           (signal.SIGHUP, 129)])  # an ssh session dropped
def test_a_signal_drains_the_send_records_everything_and_exits_with_its_code(
        publication, sig, code):
    with SmtpServer() as server:
        # The server takes 100 messages, then holds the next ones at DATA until the run has
        # taken the signal: it lands in the middle of the send on any machine.
        midway = server.hold_after(100)
        addresses = prepared(publication, server)
        send = Send(publication, "issue", "send", "1")
        try:
            wait_for(lambda: midway.is_set() or send.process.poll() is not None,
                     what="100 messages")
            send.signal(sig)
            server.release()
        finally:
            out, err = send.finish()
        time.sleep(0.3)  # let the server take in anything still arriving
        with open_store(publication.config) as store:
            counts = store.delivery_counts(1)
            sent = {d.email for d in store.deliveries(1, "sent")}
        got = received(server)

        assert send.process.returncode == code, (out, err)
        # one line at the end, saying what was done, after the one that took the signal (when
        # messages were on the wire); never click's bare "Aborted!", never a traceback
        *taken, last = err.splitlines()
        assert last == (
            f"interrupted by {sig.name}: issue #1: sending stopped after {counts['sent']} sent; "
            f"{counts['queued']} left queued for the next run; nothing ambiguous")
        assert len(taken) <= 1 and all(stopping(sig).fullmatch(line) for line in taken)
        assert "Aborted" not in out + err
        # nothing in doubt: what the server acknowledged is recorded sent, and nothing else
        assert counts["sending"] == 0
        assert set(got) == sent and max(got.values()) == 1
        assert 100 <= counts["sent"] < SUBSCRIBERS
        assert counts["sent"] + counts["queued"] == SUBSCRIBERS

        again = subprocess.run(publisher(publication, "issue", "send", "1"), env=environment(),
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again
        assert received(server) == Counter({address: 1 for address in addresses})


def test_a_second_signal_stops_waiting_for_a_stalled_server(publication):
    with SmtpServer() as server:
        server.hold_after(0)  # every DATA waits until the test lets it go
        prepared(publication, server, subscribers=20)
        send = Send(publication, "issue", "send", "1")
        try:
            wait_for(lambda: server.handler.held >= CONNECTIONS
                     or send.process.poll() is not None,
                     what="every connection to be waiting on DATA")
            send.signal(signal.SIGTERM)
            time.sleep(0.5)
            # draining: waiting for the messages on the wire, which nothing answers (and the
            # delivery timeout is far off), and saying so already
            assert send.process.poll() is None
            assert stopping(signal.SIGTERM, str(CONNECTIONS)).fullmatch(send.stderr().strip())
            started = time.monotonic()
            send.signal(signal.SIGTERM)
            out, err = send.finish()
            waited = time.monotonic() - started
        finally:
            server.release()
            if send.process.poll() is None:
                send.process.kill()
                send.process.communicate()
        with open_store(publication.config) as store:
            counts = store.delivery_counts(1)

    assert send.process.returncode == 143, (out, err)
    # It stopped at the second signal, not at the delivery timeout (120 s): a bound that
    # only tells the two apart, generous for a loaded machine.
    assert waited < 30
    # the four messages on the wire were claimed, and nobody knows whether they arrived
    assert counts["sending"] == CONNECTIONS and counts["sent"] == 0
    assert err.splitlines()[-1] == (
        f"interrupted by SIGTERM: issue #1: sending stopped after 0 sent; {20 - CONNECTIONS} "
        f"left queued for the next run; {CONNECTIONS} ambiguous (listed above)")
    assert f"issue #1: {CONNECTIONS} ambiguous" in out


def claimed(publication) -> int:
    """Deliveries the ledger holds as claimed (``sending``), read as another process would."""
    ledger = publication.root / ".publisher" / "state.db"
    if not ledger.exists():
        return 0
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return conn.execute("SELECT count(*) FROM deliveries "
                                "WHERE status = 'sending'").fetchone()[0]
        except sqlite3.OperationalError:  # not migrated yet
            return 0


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_to_run_is_acknowledged_then_ends_in_one_line_and_its_exit_code(
        publication, sig, code):
    # `run` waiting on a greeting that never comes, its first delivery already claimed: the
    # message never got near the server, so even a forced stop releases it (one line, 143).
    write_reviews(publication, 2)
    silent = ScriptedServer(lambda server, conn: None)  # accepts, never says a word
    with silent:
        # The greeting's deadline is far off: only the second signal ends the wait.
        use_smtp(publication, f"smtp://127.0.0.1:{silent.port}", connections=1, timeout=120)
        add_subscribers(publication.config, 3, SLOT - timedelta(days=1))
        run = Send(publication, "run")
        try:
            wait_for(lambda: (silent.connections >= 1 and claimed(publication) == 1)
                     or run.process.poll() is not None, what="the run to connect and claim")
            run.signal(sig)
            started = time.monotonic()
            run.signal(sig)
            out, err = run.finish()
            waited = time.monotonic() - started
        finally:
            if run.process.poll() is None:
                run.process.kill()
                run.process.communicate()
    assert run.process.returncode == code, (out, err)
    assert waited < 30  # the forced stop, not the greeting's deadline (120 s)
    assert err.splitlines() == [
        f"{sig.name} taken: stopping once the 1 message being sent is answered (up to 120 s); "
        f"send {sig.name} again to stop at once, which may leave it ambiguous",
        f"interrupted by {sig.name}: issue #1: sending stopped after 0 sent; 3 left queued for "
        "the next run; nothing ambiguous"]
    assert "Traceback" not in out + err


def test_a_send_that_ignores_sighup_goes_on_when_the_session_drops(publication):
    """``nohup publisher issue send 1``: SIGHUP ignored is a wish to go on, and is kept."""
    with SmtpServer() as server:
        midway = server.hold_after(20)
        addresses = prepared(publication, server, subscribers=60)
        send = subprocess.Popen(
            publisher(publication, "issue", "send", "1"), env=environment(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
        try:
            wait_for(lambda: midway.is_set() or send.poll() is not None, what="20 messages")
            send.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            server.release()
            out, err = send.communicate(timeout=60)
        finally:
            if send.poll() is None:
                send.kill()
                send.communicate()
        assert send.returncode == 0, (out, err)
        assert received(server) == Counter({address: 1 for address in addresses})


def _processes_in_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields: state, ppid, pgrp, …
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_killed_send_with_an_rsa_dkim_key_leaves_no_process_behind(publication, tmp_path):
    # Issue 12, item 5: signing once ran in worker processes that outlived a killed send,
    # holding its stdout. Signing is in-process now: the kill ends everything at once.
    key = tmp_path / "dkim.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True)
    with SmtpServer() as server:
        # The server takes 20 messages, then holds the next ones at DATA: the kill lands in
        # the middle of the send on any machine.
        midway = server.hold_after(20)
        prepared(publication, server, subscribers=200)
        publication.add_config(f'[dkim]\nkey_file = "{key}"\nselector = "s1"\n'
                               'domain = "reel.test"\n')
        send = subprocess.Popen(publisher(publication, "issue", "send", "1"),
                                env=environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_for(lambda: midway.is_set() or send.poll() is not None,
                     what="20 signed messages")
            assert send.poll() is None
            assert "DKIM-Signature" in server.messages[0].message
            os.kill(send.pid, signal.SIGKILL)
            started = time.monotonic()
            send.communicate(timeout=10)  # EOF on its pipes: nothing else holds them
            closed = time.monotonic() - started
        finally:
            if send.poll() is None:
                send.kill()
                send.communicate()
    assert closed < 5
    assert _processes_in_group(send.pid) == []
