"""The ledger's disk fills up while an issue is being sent (issue 12: "database or disk is full"
in the middle of recording replies): one line, no traceback, nothing sent twice, and what the
run knows — the messages the server took, the ones it never got — recorded once there is room
again. A real SQLite ledger on a real, small tmpfs, filled and freed while `issue send` runs."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.delivery import engine
from publisher.errors import StoreError
from publisher.ledger.store import open_store
from publisher.pipeline.issues import compose_issue
from publisher.pipeline.send import deliver_issue
from publisher.sources import load_reviews
from tests.fixtures import NOW, SLOT, add_subscribers, use_smtp, wait_for, write_reviews
from tests.pipeline.test_run_processes import environment, publisher
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.slow

SUBSCRIBERS = 300


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 16 MB tmpfs mounted under tmp_path (root, and a kernel that lets us mount, needed)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):  # to the last byte
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def acknowledged(server: SmtpServer) -> Counter[str]:
    return Counter(r.lower() for m in server.messages if m.acknowledged for r in m.rcpt_tos)


def test_a_full_disk_mid_send_stops_with_one_line_and_records_everything_once_freed(
        publication, small_disk):
    write_reviews(publication, 3)
    with SmtpServer() as server:
        # The server takes 40 messages, then holds the next ones at DATA until the disk is
        # full: the ledger fails in the middle of the send on any machine. Held replies must
        # not time out meanwhile.
        midway = server.hold_after(40)
        use_smtp(publication, server.url, connections=2, timeout=120)
        database = small_disk / "state.db"
        publication.add_config(f'[state]\ndatabase = "sqlite:///{database}"\n')
        addresses = add_subscribers(publication.config, SUBSCRIBERS, SLOT - timedelta(days=1))
        assert subprocess.run(publisher(publication, "issue", "new"), env=environment(),
                              capture_output=True).returncode == 0

        send = subprocess.Popen(publisher(publication, "issue", "send", "1"), env=environment(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reader = sqlite3.connect(database, isolation_level=None)
        try:
            wait_for(lambda: midway.is_set() or send.poll() is not None, what="40 messages")
            # A reader keeps its snapshot (a backup, a long `issue show`), so the WAL must
            # grow; then the disk fills.
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM deliveries").fetchone()
            filler = fill(small_disk)
            server.release()
            # The send stops: it finishes what was in flight and says QUIT on every
            # connection, so no message reaches the server any more.
            wait_for(lambda: not server.handler._active or send.poll() is not None,
                     what="the send to let go of the server")
            assert send.poll() is None, send.communicate()  # waiting to record what it knows
            stopped_at = len(server.messages)
            assert stopped_at < SUBSCRIBERS
            filler.unlink()
            reader.execute("COMMIT")
            out, err = send.communicate(timeout=60)
        finally:
            reader.close()
            if send.poll() is None:
                send.kill()
                send.communicate()

        assert send.returncode == 1, (out, err)
        assert "Traceback" not in out + err
        with open_store(publication.config) as store:
            counts = store.delivery_counts(1)
        assert err.splitlines() == [
            f"error: issue #1: sending stopped: sqlite:///{database}: cannot write the ledger: "
            "database or disk is full; free space on the disk that holds it; once it could be "
            "written again, everything sent so far was recorded; run again to send the "
            f"{counts['queued']} left"]
        # Nothing in doubt: the server's messages are recorded sent, the rest is queued.
        got = acknowledged(server)
        assert counts["sending"] == 0
        assert counts["sent"] == len(got) == stopped_at
        assert counts["sent"] + counts["queued"] == SUBSCRIBERS

        again = subprocess.run(publisher(publication, "issue", "send", "1"), env=environment(),
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again
        assert acknowledged(server) == Counter({address: 1 for address in addresses})


def test_outcomes_the_ledger_never_takes_are_named_with_what_became_of_them(
        publication, small_disk, monkeypatch):
    # The disk stays full for longer than the run waits: the deliveries whose fate publisher
    # knows but could not record are left ambiguous, and the line says what became of each.
    monkeypatch.setattr(engine, "LEDGER_WAIT", 1.0)
    write_reviews(publication, 3)
    with SmtpServer() as server:
        # The server takes 40 messages, then holds the next ones at DATA until the disk is
        # full: the ledger fails in the middle of the send on any machine.
        midway = server.hold_after(40)
        use_smtp(publication, server.url, connections=1, timeout=120)
        database = small_disk / "state.db"
        publication.add_config(f'[state]\ndatabase = "sqlite:///{database}"\n')
        config = publication.config
        add_subscribers(config, SUBSCRIBERS, SLOT - timedelta(days=1))
        with open_store(config) as store:
            compose_issue(config, store, load_reviews(config), now=NOW)
            outcome: list[BaseException] = []

            def send() -> None:
                try:
                    deliver_issue(config, store, 1, now=NOW, secret="s" * 40,
                                  catalog=load_reviews(config), echo=lambda line: None)
                except BaseException as exc:  # noqa: BLE001 - handed to the test
                    outcome.append(exc)

            sender = threading.Thread(target=send)
            sender.start()
            reader = sqlite3.connect(database, isolation_level=None)
            try:
                wait_for(lambda: midway.is_set() or not sender.is_alive(), what="40 messages")
                reader.execute("BEGIN")
                reader.execute("SELECT count(*) FROM deliveries").fetchone()
                filler = fill(small_disk)
                server.release()
                sender.join(60)
                assert not sender.is_alive()
                filler.unlink()
            finally:
                reader.close()
            left = {d.email for d in store.ambiguous_deliveries(1)}
        got = acknowledged(server)

    (error,) = outcome
    assert isinstance(error, StoreError)
    assert left and left <= set(got)  # what it could not record had gone out
    assert str(error).startswith(
        f"issue #1: sending stopped: sqlite:///{database}: cannot write the ledger: database or "
        f"disk is full; free space on the disk that holds it; the ledger still could not be "
        f"written after waiting, so {len(left)} deliveries are left ambiguous although "
        f"publisher knows what became of them (the server took ")
    assert all(address in str(error) for address in left)
