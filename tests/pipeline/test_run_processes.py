"""`publisher run` as cron runs it: real processes (python -m publisher run) against a real SMTP
server on loopback, killed with SIGKILL mid-send, and two runs at once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest

from publisher.ledger.store import open_store
from tests.fixtures import SLOT, add_subscribers, use_smtp, wait_for, write_reviews
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.slow

CONNECTIONS = 4
NOW = (SLOT + timedelta(minutes=2)).isoformat()


def hold_data(server: SmtpServer, *, delay: float) -> None:
    """Make the server slow to answer each DATA by ``delay`` seconds (to hold it until the test
    lets it go: ``SmtpServer.hold_after``)."""
    handler = server.handler
    original = handler.handle_DATA

    async def handle_DATA(smtp, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        await asyncio.sleep(delay)
        return await original(smtp, session, envelope)

    handler.handle_DATA = handle_DATA  # aiosmtpd looks hooks up per connection


def publisher(publication, *args: str) -> list[str]:
    return [sys.executable, "-m", "publisher", "-C", str(publication.root), *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PUBLISHER_NOW=NOW, PUBLISHER_SECRET="process-test-secret-of-32-bytes-or-more")
    return env


def received_counts(server: SmtpServer) -> Counter[str]:
    return Counter(r.lower() for m in server.messages for r in m.rcpt_tos)


def test_sigkill_mid_send_then_run_again_sends_nobody_two_copies(publication):
    write_reviews(publication, 3)
    with SmtpServer() as server:
        # The server takes 100 messages, then holds the next ones at DATA: the kill lands in
        # the middle of the send on any machine. Held replies must not time out meanwhile.
        midway = server.hold_after(100)
        use_smtp(publication, server.url, connections=CONNECTIONS, timeout=120)
        config = publication.config
        addresses = add_subscribers(config, 500, SLOT - timedelta(days=1))

        first = subprocess.Popen(publisher(publication, "run"), env=environment(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: midway.is_set() or first.poll() is not None,
                     what="100 messages")
            first.send_signal(signal.SIGKILL)
        finally:
            out, err = first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL, (out, err)
        at_kill = len(server.messages)
        assert at_kill == 100  # mid-send: the messages after the 100th were held, not taken
        # aiosmtpd drops the DATA commands whose client died (the connection's handler task is
        # cancelled): once the server has seen every connection of the killed run close, the
        # held ones are let go, and none of them is taken
        wait_for(lambda: not server.handler._active,
                 what="the server to see the killed run's connections close")
        server.release()
        with open_store(config) as store:
            sent_after_kill = store.delivery_counts(1)["sent"]
            ambiguous_after_kill = {d.email for d in store.ambiguous_deliveries(1)}

        second = subprocess.run(publisher(publication, "run"), env=environment(),
                                capture_output=True, text=True, timeout=180)

        with open_store(config) as store:
            ambiguous = {d.email for d in store.ambiguous_deliveries(1)}
            counts = store.delivery_counts(1)
        received = received_counts(server)

    # nobody got two copies; everyone not ambiguous got exactly one
    assert max(received.values()) == 1
    assert all(received[a] == 1 for a in addresses if a not in ambiguous)
    assert all(received[a] <= 1 for a in ambiguous)
    assert counts["sent"] == 500 - len(ambiguous) and counts["queued"] == 0
    # the ambiguous ones: at most the messages in flight, one per connection (each sender
    # holds one claimed message at a time), reported and counted
    assert 1 <= len(ambiguous) <= CONNECTIONS
    assert second.returncode == 1, second
    errors = second.stderr.splitlines()
    assert errors == [f"error: issue #1: {len(ambiguous)} deliver"
                      f"{'y is' if len(ambiguous) == 1 else 'ies are'} ambiguous (a send was "
                      "interrupted); decide, then run 'publisher issue resend-ambiguous 1' to "
                      "send them again or 'publisher issue settle-ambiguous 1' to record them "
                      "as delivered"]
    listed = re.search(r"issue #1: (\d+) ambiguous .*?: (.*); to send them", second.stdout)
    assert listed and int(listed[1]) == len(ambiguous)
    named = set(listed[2].split(" and ")[0].split(", "))
    assert named <= ambiguous and len(named) == min(10, len(ambiguous))
    # the second run sent everything else, and left the ambiguous ones alone
    assert ambiguous == ambiguous_after_kill
    sent_now = re.search(r"issue #1: (\d+) sent", second.stdout)
    assert sent_now and int(sent_now[1]) == 500 - sent_after_kill - len(ambiguous)


def test_two_overlapping_runs_one_works_one_steps_aside(publication):
    write_reviews(publication, 2)
    with SmtpServer() as server:
        # Every DATA is held until the second run is over, however long it takes to start:
        # the first run's replies must not time out meanwhile.
        sending = server.hold_after(0)
        use_smtp(publication, server.url, connections=CONNECTIONS, timeout=120)
        config = publication.config
        addresses = add_subscribers(config, 60, SLOT - timedelta(days=1))

        first = subprocess.Popen(publisher(publication, "run"), env=environment(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # the first run is mid-send, holding the lock, when the second starts
            wait_for(lambda: sending.is_set() or first.poll() is not None,
                     what="the first run to start sending")
            second = subprocess.run(publisher(publication, "run"), env=environment(),
                                    capture_output=True, text=True, timeout=60)
        finally:
            server.release()
            out, err = first.communicate(timeout=120)

        with open_store(config) as store:
            issues = store.issues()
        received = received_counts(server)

    assert second.returncode == 0, second
    assert second.stdout == (f"another publisher run holds the lock (pid {first.pid}); "
                             "nothing done\n")
    assert second.stderr == ""
    assert first.returncode == 0, (out, err)
    assert "issue #1: 60 sent" in out
    assert [(i.number, i.state) for i in issues] == [(1, "sent")]
    assert sorted(received) == addresses and set(received.values()) == {1}


#: What each line a run writes to its cron log starts with: the time, as ISO 8601 with the offset.
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d "


def run_into(publication, log) -> subprocess.CompletedProcess[str]:
    """``publisher run`` with its output appended to ``log``, as the crontab line has it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        return subprocess.run(publisher(publication, "run"), env=environment(), stdout=out,
                              stderr=subprocess.STDOUT, text=True, timeout=120, check=False)


def test_each_line_a_run_writes_to_the_cron_log_says_when(publication):
    # A month later, the operator reading .publisher/cron.log must tell when each thing
    # happened; cron adds no time, as the journal does to a systemd service's lines.
    write_reviews(publication, 2)
    publication.add_config('[newsletter]\npostal_address = "1 Main St, Springfield"\n')
    log = publication.root / ".publisher" / "cron.log"
    assert run_into(publication, log).returncode == 0
    lines = log.read_text().splitlines()
    assert any("composed issue #1" in line for line in lines), lines
    assert [line for line in lines if not re.match(STAMP, line)] == []

    # A publisher.toml an edit broke: its error says when too (every run repeats it).
    toml = publication.root / "publisher.toml"
    good = toml.read_text()
    toml.write_text(good + "\n[newsletter\n")
    assert run_into(publication, log).returncode == 1
    assert re.match(STAMP + "error: .*publisher.toml", log.read_text().splitlines()[-1])
    toml.write_text(good)

    # Anywhere else (a pipe, the journal, another file) the lines are the run's own.
    write_reviews(publication, 3)
    piped = subprocess.run(publisher(publication, "run"), env=environment(),
                           capture_output=True, text=True, timeout=120, check=False)
    assert piped.stdout.startswith("build: "), piped


def test_a_cron_log_past_a_mebibyte_is_rotated_to_one_old_copy(publication):
    write_reviews(publication, 2)
    log = publication.root / ".publisher" / "cron.log"
    log.parent.mkdir()
    old = "2026-01-01T09:00:00+00:00 build: 3 files written to public/\n"
    log.write_text(old * (2**20 // len(old) + 1))
    log.chmod(0o644)  # as a crontab line of an older publisher made it, under umask 022
    assert run_into(publication, log).returncode == 0
    rotated = log.with_name("cron.log.1")
    assert rotated.read_text().startswith(old) and len(rotated.read_text()) > 2**20
    assert re.match(STAMP + "build: ", log.read_text())
    assert len(log.read_text()) < 4096
    # it names subscribers: both readable by the operator only
    assert stat.S_IMODE(log.stat().st_mode) == stat.S_IMODE(rotated.stat().st_mode) == 0o600


def test_a_cron_log_an_older_crontab_line_made_readable_is_made_private(publication):
    # The crontab lines of publishers before the log was private let the shell make it under
    # cron's umask (0644), and an upgrade keeps the crontab as it is: the log names subscribers
    # (ambiguous deliveries, bounces), so the first run that writes to it takes others' access
    # away, as the first command to open an older ledger does; not only once it is rotated.
    write_reviews(publication, 2)
    log = publication.root / ".publisher" / "cron.log"
    log.parent.mkdir()
    log.write_text("2026-01-01T09:00:00+00:00 build: 3 files written to public/\n")
    log.chmod(0o644)
    assert run_into(publication, log).returncode == 0
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert re.match(STAMP + "build: ", log.read_text().splitlines()[1])
    assert not log.with_name("cron.log.1").exists()


def test_a_cron_log_linked_to_a_log_elsewhere_is_stamped_but_left_to_its_owner(publication,
                                                                               tmp_path):
    write_reviews(publication, 2)
    elsewhere = tmp_path / "var-log" / "reel.log"
    elsewhere.parent.mkdir()
    elsewhere.write_text("old line\n" * (2**20 // 9 + 1))
    log = publication.root / ".publisher" / "cron.log"
    log.parent.mkdir()
    log.symlink_to(elsewhere)
    assert run_into(publication, log).returncode == 0
    assert log.is_symlink() and not log.with_name("cron.log.1").exists()
    new = [line for line in elsewhere.read_text().splitlines() if line != "old line"]
    assert re.match(STAMP + "build: ", new[0]) and all(re.match(STAMP, line) for line in new)


def test_under_systemd_errors_reach_the_journal_as_errors(publication):
    # journald reads a line's priority from a "<3>" at its start (systemd's SyslogLevelPrefix=,
    # on by default); without it every line is info: `systemctl status` shows no error in red
    # and `journalctl -p warning` nothing at all. systemd names the stream in JOURNAL_STREAM.
    write_reviews(publication, 2)
    publication.write_review("broken.md", "---\ntitle: Broken\n---\nNo date yet.\n")
    journal, theirs = socket.socketpair()
    with journal, theirs:
        st = os.fstat(theirs.fileno())
        env = {**environment(), "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        done = subprocess.run(publisher(publication, "run"), env=env, stdout=theirs,
                              stderr=theirs, timeout=120, check=False)
        theirs.close()
        lines = journal.makefile(encoding="utf-8").read().splitlines()
    assert done.returncode == 1
    assert lines and all(line.startswith("<3>error: ") for line in lines), lines

    # The same run writing to a terminal, a pipe or a file says it without the priorities.
    piped = subprocess.run(publisher(publication, "run"), env=env, capture_output=True,
                           text=True, timeout=120, check=False)
    assert piped.stderr.startswith("error: "), piped
