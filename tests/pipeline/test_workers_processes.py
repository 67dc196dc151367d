"""Several senders on one PostgreSQL ledger, as real processes (python -m publisher) against a
real SMTP server on loopback: four workers share an issue and one is SIGKILLed mid-batch, and
two hosts' cron runs race for one due slot (two publication directories, as two machines have,
on one database)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from datetime import timedelta

import pytest

from publisher.ledger.store import open_store
from tests.fixtures import (
    SLOT,
    Publication,
    add_subscribers,
    run_cli,
    use_database,
    use_smtp,
    wait_for,
    write_reviews,
)
from tests.pipeline.test_run_processes import (
    environment,
    hold_data,
    publisher,
    received_counts,
)
from tests.smtpserver import SmtpServer

pytestmark = pytest.mark.slow

WORKERS = 4
CONNECTIONS = 4
SUBSCRIBERS = 5000


def ambiguous_named(output: str) -> tuple[int, set[str]]:
    """From ``issue show``'s ambiguous line: how many, and the addresses it names."""
    found = re.search(r"issue #1: (\d+) ambiguous .*?: (.*); to send them", output)
    assert found, output
    return int(found[1]), set(found[2].split(" and ")[0].split(", "))


def test_four_workers_share_an_issue_and_one_killed_mid_batch_sends_nobody_twice(
        publication: Publication, postgres_url: str):
    write_reviews(publication, 3)
    use_database(publication, postgres_url)
    with SmtpServer() as server:
        hold_data(server, delay=0.004)
        use_smtp(publication, server.url, connections=CONNECTIONS)
        config = publication.config
        addresses = add_subscribers(config, SUBSCRIBERS, SLOT - timedelta(days=1))
        composed = run_cli("issue", "new", root=publication.root)
        assert composed.exit_code == 0, composed.output

        workers = [subprocess.Popen(publisher(publication, "issue", "send", "1"),
                                    env=environment(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
                   for _ in range(WORKERS)]
        victim = workers[0]
        try:
            wait_for(lambda: len(server.messages) >= SUBSCRIBERS // 4
                     or victim.poll() is not None, what="a quarter of the messages")
            assert victim.poll() is None, "the first worker finished before it could be killed"
            victim.send_signal(signal.SIGKILL)
            outputs = [worker.communicate(timeout=300) for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
        time.sleep(0.5)  # aiosmtpd drops the DATA of the connections that died
        received = received_counts(server)
        with open_store(config) as store:
            counts = store.delivery_counts(1)
            ambiguous = {d.email for d in store.ambiguous_deliveries(1)}
            in_flight = store.in_flight(1)
        shown = run_cli("issue", "show", "1", root=publication.root)

    assert victim.returncode == -signal.SIGKILL
    for worker, (out, err) in zip(workers[1:], outputs[1:], strict=True):
        # the killed worker's messages in flight are in doubt when the others finish: a line
        # a person must act on, and a non-zero exit (the rule of every command that sends)
        assert worker.returncode == 1, (out, err)
        assert re.search(r"issue #1: \d+ sent", out), out
        assert "ambiguous" in err and "resend-ambiguous 1" in err, err
    # every worker took part, and no message went out twice
    assert max(received.values()) == 1
    assert sum(received.values()) == len(received)
    # everything not delivered is ambiguous: the killed worker's messages in flight, one at
    # most per connection of its own, none left queued; everyone else got exactly one copy
    assert in_flight == {}
    assert counts["queued"] == 0 and counts["sending"] == len(ambiguous)
    assert 1 <= len(ambiguous) <= CONNECTIONS
    assert counts["sent"] == SUBSCRIBERS - len(ambiguous)
    assert all(received[a] == 1 for a in addresses if a not in ambiguous)
    assert all(received[a] <= 1 for a in ambiguous)
    # and ``issue show`` names them
    assert shown.exit_code == 0, shown.output
    assert (f"deliveries: {SUBSCRIBERS} ({len(ambiguous)} sending, "
            f"{SUBSCRIBERS - len(ambiguous)} sent)\n") in shown.output
    assert "in flight" not in shown.output
    count, named = ambiguous_named(shown.output)
    assert (count, named) == (len(ambiguous), ambiguous)


def test_two_hosts_runs_racing_on_one_due_slot_make_one_issue_delivered_once(
        publication: Publication, postgres_url: str, tmp_path):
    write_reviews(publication, 3)
    use_database(publication, postgres_url)
    with SmtpServer() as server:
        hold_data(server, delay=0.002)
        use_smtp(publication, server.url, connections=2)
        addresses = add_subscribers(publication.config, 400, SLOT - timedelta(days=1))
        # the second host: its own copy of the publication, the same ledger and relay
        other = Publication(tmp_path / "host-b")
        shutil.copytree(publication.root / "reviews", other.root / "reviews",
                        dirs_exist_ok=True)
        shutil.copy(publication.root / "publisher.toml", other.root / "publisher.toml")

        runs = [subprocess.Popen(publisher(host, "run"), env=environment(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for host in (publication, other)]
        outputs = [run.communicate(timeout=300) for run in runs]
        received = received_counts(server)
        with open_store(publication.config) as store:
            issues = [(i.number, i.state, i.slot) for i in store.issues()]
            counts = store.delivery_counts(1)

    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, (out, err)
    composed = [out for out, _ in outputs if "composed issue #1" in out]
    assert len(composed) == 1, outputs
    assert issues == [(1, "sent", SLOT)]
    assert counts["sent"] == 400
    assert sorted(received) == addresses and set(received.values()) == {1}
    # the host that did not compose joined the delivery (or found it sent already): what the
    # two report sending adds up to one copy each
    shares = [int(m[1]) for out, _ in outputs for m in re.finditer(r"issue #1: (\d+) sent", out)]
    assert sum(shares) == 400, outputs


def test_the_rate_limit_holds_across_workers(publication: Publication, postgres_url: str):
    # 6,000 a minute is one message every 10 ms, whoever sends it: two workers each keeping the
    # pace alone would send 250 messages in half the time.
    write_reviews(publication, 2)
    use_database(publication, postgres_url)
    with SmtpServer() as server:
        arrivals: list[float] = []
        original = server.handler.handle_DATA

        async def handle_DATA(smtp, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            arrivals.append(time.monotonic())
            return await original(smtp, session, envelope)

        server.handler.handle_DATA = handle_DATA
        # Held replies wait for the second worker: the senders must not give up meanwhile.
        use_smtp(publication, server.url, connections=2, timeout=120)
        path = publication.root / "publisher.toml"
        path.write_text(path.read_text().replace("connections = 2\n",
                                                 "connections = 2\nrate_limit = 6000\n"))
        add_subscribers(publication.config, 250, SLOT - timedelta(days=1))
        assert run_cli("issue", "new", root=publication.root).exit_code == 0
        # The server takes two messages, then holds the others at DATA until both workers have
        # messages in flight: whichever process starts first, the other joins before the first
        # could have sent everything. The bucket keeps no credit over the pause (a free time
        # in the past is taken as now), so the pace after it is the limit's.
        server.hold_after(2)
        workers = [subprocess.Popen(publisher(publication, "issue", "send", "1"),
                                    env=environment(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]
        try:
            with open_store(publication.config) as store:
                wait_for(lambda: len(store.in_flight(1)) == 2
                         or any(worker.poll() is not None for worker in workers),
                         what="both workers sending")
            assert all(worker.poll() is None for worker in workers), "a worker ended early"
            released = time.monotonic()
            server.release()
            outputs = [worker.communicate(timeout=120) for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
    shares = [int(m[1]) for out, _ in outputs for m in re.finditer(r"issue #1: (\d+) sent", out)]
    assert len(shares) == 2 and sum(shares) == 250 and min(shares) > 0, outputs
    assert len(arrivals) == 250
    # The pause is no part of the pace: what came after it, all but the first two and one
    # held per connection (four), is never faster than the limit, all workers together.
    after = [arrival for arrival in arrivals if arrival > released]
    assert len(after) >= 250 - 2 - 4, len(after)
    span = max(after) - min(after)
    assert span >= (len(after) - 1) * 0.010 * 0.9, (span, len(after))


def test_three_senders_of_one_issue_say_its_archive_is_published_once(
        publication: Publication, postgres_url: str):
    # Each sender builds the site once the first copy is accepted; on one host the first build
    # writes the issue's pages and the others find them there: only the first publishes it.
    write_reviews(publication, 2)
    use_database(publication, postgres_url)
    with SmtpServer() as server:
        server.hold_after(0)  # no copy accepted until every sender has one on the wire
        use_smtp(publication, server.url, connections=1, timeout=120)
        add_subscribers(publication.config, 300, SLOT - timedelta(days=1))
        assert run_cli("issue", "new", root=publication.root).exit_code == 0
        senders = [subprocess.Popen(publisher(publication, "issue", "send", "1"),
                                    env=environment(), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
                   for _ in range(3)]
        try:
            wait_for(lambda: server.handler.held >= 3
                     or any(s.poll() is not None for s in senders), what="three senders")
            server.release()
            outputs = [sender.communicate(timeout=120) for sender in senders]
        finally:
            for sender in senders:
                if sender.poll() is None:
                    sender.kill()
    assert all(sender.returncode == 0 for sender in senders), outputs
    said = [line for out, _ in outputs for line in out.splitlines() if "archive" in line]
    assert len(said) == 1, outputs
    assert re.fullmatch(r"archive: issue #1 published \([1-9]\d* files written to public/\)",
                        said[0])
