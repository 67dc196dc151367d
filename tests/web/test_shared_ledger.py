"""publisher serve and publisher issue send on one ledger at once: one-click unsubscribes
arrive while an issue is being sent. Every request is answered, nobody gets the issue twice, and
whoever unsubscribed before their turn gets nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.fixtures import NOW, add_subscribers, run_cli, write_reviews
from tests.web.conftest import SECRET, Reader
from tests.webserver import outbox_messages

pytestmark = pytest.mark.slow


def test_unsubscribes_during_a_send_are_safe(reader: Reader):
    write_reviews(reader.publication, 2)
    addresses = add_subscribers(reader.config, 400, NOW)
    assert run_cli("issue", "new", root=reader.config.root).exit_code == 0
    leaving = addresses[::4]
    codes: list[int] = []

    def unsubscribe_all() -> None:
        with httpx.Client(timeout=60) as client:
            for address in reversed(leaving):  # the end of the queue first
                codes.append(client.post(reader.unsubscribe_url(address),
                                         content=b"List-Unsubscribe=One-Click",
                                         headers={"Content-Type":
                                                  "application/x-www-form-urlencoded"})
                             .status_code)

    send = subprocess.Popen(
        [sys.executable, "-m", "publisher", "-C", str(reader.config.root), "--now",
         NOW.isoformat(), "issue", "send", "1"],
        env={"PUBLISHER_SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not reader.store.issues()[0].state == "sending" or \
            not reader.store.delivery_counts(1)["sent"]:
        assert send.poll() is None and time.monotonic() < deadline, "the send did not start"
        time.sleep(0.005)
    clicks = threading.Thread(target=unsubscribe_all)  # while the issue goes out
    clicks.start()
    out, err = send.communicate(timeout=120)
    clicks.join(60)
    assert send.returncode == 0, err.decode()
    assert codes == [200] * len(leaving)

    received = [str(m["To"]).rpartition("<")[2].strip(">") for m in outbox_messages(
        reader.outbox) if m["List-Id"] is not None]
    assert len(received) == len(set(received))  # nobody twice
    deliveries = {d.email: d for d in reader.store.deliveries(1)}
    for address in leaving:
        assert reader.store.subscriber(address).status == "unsubscribed"
        # Sent before the click; or queued, then not sent because of it; or never queued.
        status = deliveries[address].status if address in deliveries else "never queued"
        assert (status == "sent") == (address in received)
        assert status in ("sent", "failed", "never queued")
        if status == "failed":
            assert deliveries[address].last_reply == "not sent: subscriber unsubscribed"
    for address in set(addresses) - set(leaving):
        assert address in received
    outcomes = {deliveries[a].status for a in leaving}
    assert outcomes == {"sent", "failed"}, "the clicks did not overlap the send"
