"""Sharing a job among processes: how many, and who takes which share."""

from __future__ import annotations

import os

import pytest

from publisher.cores import MAX_SHARES, ShareQueue


def test_each_share_is_claimed_by_exactly_one_process_and_each_starts_with_its_own():
    count, processes = 3000, 3
    with ShareQueue(count, first=processes) as queue:
        reads = []
        for k in range(1, processes):
            read, write = os.pipe()
            if os.fork() == 0:  # a child: claims shares and sends back their numbers
                os.close(read)
                os.write(write, b" ".join(str(i).encode() for i in queue.claims(k)))
                os._exit(0)
            os.close(write)
            reads.append(read)
        mine = list(queue.claims(0))
        theirs = []
        for read in reads:
            data = b""
            while chunk := os.read(read, 65536):
                data += chunk
            os.close(read)
            os.wait()
            theirs.append([int(n) for n in data.split()])
    assert mine[0] == 0 and [claimed[0] for claimed in theirs] == [1, 2]
    every = mine + [i for claimed in theirs for i in claimed]
    assert sorted(every) == list(range(count))  # none twice, none left


def test_more_shares_than_a_pipe_holds_numbers_for_are_refused_before_anything_is_forked():
    with pytest.raises(ValueError, match="at most 4096"):
        ShareQueue(MAX_SHARES + 1, first=2)


def test_a_process_that_stands_in_for_one_never_forked_starts_on_its_share_too():
    with ShareQueue(10, first=3) as queue:
        assert list(queue.claims(0, 2)) == [0, 2, 3, 4, 5, 6, 7, 8, 9]
        assert list(queue.claims(1)) == [1]  # the pipe is empty: only its own first share
