"""Signals through the command line, as systemd, kill and Ctrl-C send them: real processes
(python -m publisher) against a real SMTP server on loopback.

SIGTERM and SIGINT both drain a send: no new claims, what is in flight finishes (or is dropped
before its final "." and released), everything is recorded, one line, exit 128 + the signal.
A second signal stops waiting for what is on the wire. A killed send leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.ledger.store import open_store
from tests.fixtures import SLOT, add_subscribers, use_smtp, write_reviews
from tests.pipeline.test_run_processes import environment, hold_data, publisher, wait_for
from tests.smtpserver import ScriptedServer, SmtpServer

pytestmark = pytest.mark.slow

CONNECTIONS = 4
SUBSCRIBERS = 400


def received(server: SmtpServer) -> Counter[str]:
    """Copies the server accepted (and acknowledged), per address."""
    return Counter(r.lower() for m in server.messages if m.acknowledged for r in m.rcpt_tos)


def start_send(publication, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(publisher(publication, *args), env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def prepared(publication, server: SmtpServer, subscribers: int = SUBSCRIBERS) -> list[str]:
    write_reviews(publication, 3)
    use_smtp(publication, server.url, connections=CONNECTIONS)
    addresses = add_subscribers(publication.config, subscribers, SLOT - timedelta(days=1))
    done = subprocess.run(publisher(publication, "issue", "new"), env=environment(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done
    return addresses


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_drains_the_send_records_everything_and_exits_with_its_code(
        publication, sig, code):
    with SmtpServer() as server:
        hold_data(server, delay=0.01)
        addresses = prepared(publication, server)
        send = start_send(publication, "issue", "send", "1")
        try:
            wait_for(lambda: len(server.messages) >= 100 or send.poll() is not None,
                     what="100 messages")
            send.send_signal(sig)
        finally:
            out, err = send.communicate(timeout=60)
        time.sleep(0.3)  # let the server take in anything still arriving
        with open_store(publication.config) as store:
            counts = store.delivery_counts(1)
            sent = {d.email for d in store.deliveries(1, "sent")}
        got = received(server)

        assert send.returncode == code, (out, err)
        # one line, saying what was done; never click's bare "Aborted!", never a traceback
        assert err.splitlines() == [
            f"interrupted by {sig.name}: issue #1: sending stopped after {counts['sent']} sent; "
            f"{counts['queued']} left queued for the next run; nothing ambiguous"]
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
    gate = threading.Event()
    with SmtpServer() as server:
        hold_data(server, gate=gate)  # every DATA waits until the test lets it go
        prepared(publication, server, subscribers=20)
        send = start_send(publication, "issue", "send", "1")
        try:
            wait_for(lambda: server.handler.data_calls >= CONNECTIONS or send.poll() is not None,
                     what="every connection to be waiting on DATA")
            send.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert send.poll() is None  # draining: waiting for the messages on the wire
            started = time.monotonic()
            send.send_signal(signal.SIGTERM)
            out, err = send.communicate(timeout=30)
            waited = time.monotonic() - started
        finally:
            gate.set()
            if send.poll() is None:
                send.kill()
                send.communicate()
        with open_store(publication.config) as store:
            counts = store.delivery_counts(1)

    assert send.returncode == 143, (out, err)
    assert waited < 5
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


def test_sigterm_outside_a_send_is_one_line_and_its_exit_code(publication):
    # `run` waiting on a greeting that never comes, its first delivery already claimed: the
    # message never got near the server, so even a forced stop releases it (one line, 143).
    write_reviews(publication, 2)
    silent = ScriptedServer(lambda server, conn: None)  # accepts, never says a word
    with silent:
        use_smtp(publication, f"smtp://127.0.0.1:{silent.port}", connections=1)
        add_subscribers(publication.config, 3, SLOT - timedelta(days=1))
        run = start_send(publication, "run")
        try:
            wait_for(lambda: (silent.connections >= 1 and claimed(publication) == 1)
                     or run.poll() is not None, what="the run to connect and claim")
            run.send_signal(signal.SIGTERM)
            run.send_signal(signal.SIGTERM)
            out, err = run.communicate(timeout=30)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert run.returncode == 143, (out, err)
    assert err.splitlines() == ["interrupted by SIGTERM: issue #1: sending stopped after 0 "
                                "sent; 3 left queued for the next run; nothing ambiguous"]
    assert "Traceback" not in out + err



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
        hold_data(server, delay=0.01)
        prepared(publication, server, subscribers=200)
        publication.add_config(f'[dkim]\nkey_file = "{key}"\nselector = "s1"\n'
                               'domain = "reel.test"\n')
        send = subprocess.Popen(publisher(publication, "issue", "send", "1"),
                                env=environment(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            wait_for(lambda: len(server.messages) >= 20 or send.poll() is not None,
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
