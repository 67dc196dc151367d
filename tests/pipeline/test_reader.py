"""The reader's desk below the web app: group commit of one-click unsubscribes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from publisher.pipeline.reader import GroupCommit
from tests.fixtures import wait_for


def test_a_burst_is_applied_in_few_batches_each_caller_getting_its_own_result():
    batches: list[list[int]] = []
    gate = threading.Event()

    def apply(items: list[int]) -> list[int]:
        batches.append(list(items))
        gate.wait(60)  # the first batch holds the door while the others queue up
        return [i * 10 for i in items]

    group = GroupCommit(apply)
    with ThreadPoolExecutor(50) as pool:
        futures = [pool.submit(group.submit, i) for i in range(50)]
        # The door opens once every other caller is queued behind the first, however slowly
        # a loaded machine starts 50 threads (the queue is not shown but to the group itself).
        wait_for(lambda: len(group._pending) >= 49, what="the other 49 callers to queue")
        gate.set()
        results = [f.result(60) for f in futures]
    assert results == [i * 10 for i in range(50)]
    assert sorted(i for batch in batches for i in batch) == list(range(50))  # each once
    # the first alone, then the whole queue in one
    assert [len(batch) for batch in batches] == [1, 49], batches


def test_a_lone_request_is_applied_at_once_and_errors_reach_every_caller_of_the_batch():
    group = GroupCommit(lambda items: [len(items)])
    assert group.submit("x") == 1

    def fail(items: list[str]) -> list[str]:
        raise OSError("disk full")

    failing = GroupCommit(fail)
    with pytest.raises(OSError, match="disk full"):
        failing.submit("y")
    with pytest.raises(OSError, match="disk full"):
        failing.submit("z")  # the group is usable again after a failure
