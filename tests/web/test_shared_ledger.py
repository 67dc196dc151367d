"""publisher serve and publisher issue send on one ledger at once: one-click unsubscribes
arrive while an issue is being sent. Every request is answered, nobody gets the issue twice, and
whoever unsubscribed before their turn gets nothing."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.fixtures import NOW, add_subscribers, run_cli, use_smtp, write_reviews
from tests.smtpserver import SmtpServer
from tests.web.conftest import SECRET, Reader

pytestmark = pytest.mark.slow


def test_unsubscribes_during_a_send_are_safe(reader: Reader):
    write_reviews(reader.publication, 2)
    addresses = add_subscribers(reader.config, 400, NOW)
    assert run_cli("issue", "new", root=reader.config.root).exit_code == 0
    leaving = addresses[::4]
    with SmtpServer() as smtp:
        # Held replies wait for the clicks: the sender must not give up on them meanwhile.
        use_smtp(reader.publication, smtp.url, timeout=120)
        # The server takes 40 messages, then holds the next ones at DATA until every click
        # is answered: the clicks land in the middle of the send on any machine.
        midway = smtp.hold_after(40)
        send = subprocess.Popen(
            [sys.executable, "-m", "publisher", "-C", str(reader.config.root), "--now",
             NOW.isoformat(), "issue", "send", "1"],
            env={"PUBLISHER_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if not midway.wait(60):
            send.kill()
            pytest.fail(f"the send did not reach its 41st message: {send.communicate()[1]!r}")
        codes = []
        with httpx.Client(timeout=60) as client:
            for address in reversed(leaving):  # the end of the queue first
                codes.append(client.post(reader.unsubscribe_url(address),
                                         content=b"List-Unsubscribe=One-Click",
                                         headers={"Content-Type":
                                                  "application/x-www-form-urlencoded"})
                             .status_code)
        smtp.release()
        out, err = send.communicate(timeout=120)
        received = [rcpt for message in smtp.messages for rcpt in message.rcpt_tos]
    assert send.returncode == 0, err.decode()
    assert codes == [200] * len(leaving)

    assert len(received) == len(set(received))  # nobody twice
    deliveries = {d.email: d for d in reader.store.deliveries(1)}
    for address in leaving:
        assert reader.store.subscriber(address).status == "unsubscribed"
        # Sent before the click (or held in flight at DATA); or queued, then not sent because
        # of it; or never queued.
        status = deliveries[address].status if address in deliveries else "never queued"
        assert (status == "sent") == (address in received)
        assert status in ("sent", "failed", "never queued")
        if status == "failed":
            assert deliveries[address].last_reply == "not sent: subscriber unsubscribed"
    for address in set(addresses) - set(leaving):
        assert address in received
    outcomes = {deliveries[a].status for a in leaving}
    assert outcomes == {"sent", "failed"}, "the clicks did not overlap the send"
