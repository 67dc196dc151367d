"""Several senders on one ledger: reservations and claims under leases, what is in flight and
what is ambiguous, the shared rate limit, and composing from several hosts at once. Each store
opened here is one worker, as each process is."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from publisher.config import Config
from publisher.errors import AlreadySubscribed, SlotTaken
from publisher.ledger.base import LEASE
from publisher.ledger.deliveries import RESERVATION, Attempt
from publisher.ledger.store import Store, open_store
from publisher.newsletter.policy import Action, Outcome
from tests.fixtures import at_once

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SLOT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class WallClock:
    """The real-time clock leases run on, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def eventually(probe, expected, timeout: float = 10.0):
    """``probe()`` once it returns ``expected``: a closed connection's server process takes a
    moment to leave pg_stat_activity, as a killed worker's does."""
    deadline = time.monotonic() + timeout
    while (found := probe()) != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def queued_issue(store: Store, subscribers: int) -> int:
    for i in range(subscribers):
        store.add_subscriber(f"reader{i:04d}@example.org", now=NOW)
    number = store.create_issue(subject="Issue", review_ids=["tag:x,2026:a"], now=NOW).number
    store.queue_deliveries(number, now=NOW)
    return number


def sent(store: Store, ids: list[int]) -> None:
    records = {d.id: d for d in store.deliveries(1)}
    store.record([Attempt(i, records[i].subscriber_id, Outcome(Action.SENT, "250")) for i in ids],
                 now=NOW)


#: Reservations and the shared rate limit exist where several workers send: PostgreSQL.
postgres_only = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@postgres_only
def test_workers_reserve_disjoint_pages_and_cannot_claim_each_others(
        config: Config):
    with open_store(config) as setup:
        number = queued_issue(setup, 30)
    with open_store(config) as a, open_store(config) as b:
        page_a = [d.id for d in a.take_due(number, now=NOW, limit=10)]
        page_b = [d.id for d in b.take_due(number, now=NOW, limit=10)]
        assert len(page_a) == len(page_b) == 10 and set(page_a).isdisjoint(page_b)
        assert b.claim(page_a, now=NOW) == []  # a holds them
        assert a.claim(page_a, now=NOW) == page_a
        # nothing is reserved twice, not even by its own worker while it has it in hand
        rest = a.take_due(number, now=NOW, limit=100)
        assert {d.id for d in rest}.isdisjoint(page_a + page_b) and len(rest) == 10
        assert a.take_due(number, now=NOW, limit=100) == []


@postgres_only
def test_a_reservation_is_at_most_a_page_so_workers_finish_together(
        config: Config):
    with open_store(config) as setup:
        number = queued_issue(setup, RESERVATION + 5)
    with open_store(config) as a:
        assert len(a.take_due(number, now=NOW, limit=1000)) == RESERVATION


@postgres_only
def test_a_lapsed_reservation_is_free_for_the_others(config: Config):
    clock = WallClock()
    with open_store(config) as setup:
        number = queued_issue(setup, 5)
    with open_store(config, lease_clock=clock) as a, \
            open_store(config, lease_clock=clock) as b:
        ids = [d.id for d in a.take_due(number, now=NOW, limit=5)]
        assert b.take_due(number, now=NOW, limit=5) == []  # a is alive and holds them
        clock.now += LEASE + timedelta(seconds=1)
        assert [d.id for d in b.take_due(number, now=NOW, limit=5)] == ids
        assert a.claim(ids, now=NOW) == []
        assert b.claim(ids, now=NOW) == ids


@postgres_only
def test_a_dead_workers_reservations_are_taken_over_at_once(config: Config):
    with open_store(config) as setup:
        number = queued_issue(setup, 8)
    a = open_store(config)
    held = [d.id for d in a.take_due(number, now=NOW, limit=5)]
    with open_store(config) as b:
        free = [d.id for d in b.take_due(number, now=NOW, limit=100)]
        assert len(free) == 3 and b.take_due(number, now=NOW, limit=100) == []
        a.close()  # its connections close, as a killed process's do
        assert eventually(lambda: [d.id for d in b.take_due(number, now=NOW, limit=100)],
                          held) == held


def test_a_worker_that_started_before_the_issue_was_queued_finds_it_due(config: Config):
    # Cron starts every host's run in the same second; the one that composes queues the
    # issue at its own start time, a moment after another's: that one must join the send.
    earlier = NOW - timedelta(seconds=30)
    with open_store(config) as setup:
        number = queued_issue(setup, 3)
        first = setup.due_deliveries(number, now=NOW)[0]
        retry = Outcome(Action.RETRY, "451 4.3.0 try later", retry_at=NOW + timedelta(hours=1))
        assert setup.claim([first.id], now=NOW) == [first.id]
        setup.record([Attempt(first.id, first.subscriber_id, retry)], now=NOW)
    with open_store(config) as late:
        assert late.due_count(number, now=earlier) == 2
        taken = [d.id for d in late.take_due(number, now=earlier, limit=10)]
        assert len(taken) == 2 and first.id not in taken  # a retry still waits for its time


def test_another_live_workers_claims_are_in_flight_and_a_dead_ones_are_ambiguous(
        config: Config):
    with open_store(config) as setup:
        number = queued_issue(setup, 4)
        ids = [d.id for d in setup.due_deliveries(number, now=NOW)]
    a = open_store(config)
    assert a.claim(ids[:2], now=NOW) == ids[:2]
    with open_store(config) as b:
        assert b.in_flight(number) == {a.worker: 2}
        assert b.ambiguous_deliveries(number) == []
        assert b.requeue_ambiguous(number, now=NOW) == 0
        assert b.settle_ambiguous(number, now=NOW) == 0  # nobody settles a's messages
        # to the worker itself, once it asks, what it still holds is in doubt
        assert [d.id for d in a.ambiguous_deliveries(number)] == ids[:2]
        a.close()
        assert eventually(lambda: b.in_flight(number), {}) == {}
        assert [d.id for d in b.ambiguous_deliveries(number)] == ids[:2]
        assert b.requeue_ambiguous(number, now=NOW) == 2


def test_a_claim_whose_lease_lapsed_is_ambiguous_though_its_worker_lives(config: Config):
    clock = WallClock()
    with open_store(config) as setup:
        number = queued_issue(setup, 2)
        ids = [d.id for d in setup.due_deliveries(number, now=NOW)]
    with open_store(config, lease_clock=clock) as a, \
            open_store(config, lease_clock=clock) as b:
        a.claim(ids, now=NOW)
        assert b.ambiguous_deliveries(number) == []
        clock.now += LEASE + timedelta(seconds=1)
        assert [d.id for d in b.ambiguous_deliveries(number)] == ids
        # never taken again by a claim: only a person's resend puts it back in the queue
        assert b.claim(ids, now=NOW) == []


def test_ending_a_run_frees_its_reservations_and_leaves_its_claims_in_doubt(config: Config):
    with open_store(config) as setup:
        number = queued_issue(setup, 6)
    with open_store(config) as a, open_store(config) as b:
        page = [d.id for d in a.take_due(number, now=NOW, limit=6)]
        assert a.claim(page[:1], now=NOW) == page[:1]
        a.end_leases(number)
        assert [d.id for d in b.ambiguous_deliveries(number)] == page[:1]
        assert b.in_flight(number) == {}
        assert [d.id for d in b.take_due(number, now=NOW, limit=10)] == page[1:]


def test_a_retried_or_released_delivery_goes_back_to_the_queue_free_for_anyone(
        config: Config):
    with open_store(config) as setup:
        number = queued_issue(setup, 2)
        first, second = setup.due_deliveries(number, now=NOW)
    with open_store(config) as a, open_store(config) as b:
        a.claim([first.id, second.id], now=NOW)
        a.record([Attempt(first.id, first.subscriber_id,
                          Outcome(Action.RETRY, "451 later", retry_at=NOW)),
                  Attempt(second.id, second.subscriber_id, Outcome(Action.RELEASE, ""))],
                 now=NOW)
        assert b.claim([first.id, second.id], now=NOW) == [first.id, second.id]
        sent(b, [first.id, second.id])
        assert b.delivery_counts(number)["sent"] == 2


@postgres_only
def test_the_shared_rate_limit_spaces_every_workers_messages(config: Config):
    interval = 60.0  # far longer than any call takes, however loaded the machine
    with open_store(config) as a, open_store(config) as b:
        assert a.rate_reserver() is not None
        calls = []  # (started, wait, ended) of each call
        for store in (a, b, a, b, a):
            started = time.monotonic()
            wait = store.reserve_rate(interval)
            calls.append((started, wait, time.monotonic()))
    # Each taker gets the next free time: one interval after the one before, whoever took it.
    # A wait counts from the moment of the call, inside it: the i-th free time, i intervals
    # after the first call, is the i-th wait plus the time between the two calls, which lies
    # between the calls' bounds (a millisecond of slack for the two clocks).
    first_started, _, first_ended = calls[0]
    for i, (started, wait, ended) in enumerate(calls):
        assert started - first_ended - 0.001 <= i * interval - wait <= \
            ended - first_started + 0.001, (i, calls)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_keeps_the_pace_in_memory(config: Config):
    with open_store(config) as store:
        assert store.rate_reserver() is None


def test_hosts_composing_for_one_slot_make_one_issue(config: Config):
    # Each thread is a host's run with its own store: the slot's unique key and the writers'
    # lock (PostgreSQL's advisory lock, SQLite's write lock) let exactly one compose it.
    stores = [open_store(config) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def compose(store: Store, i: int) -> None:
        barrier.wait()
        try:
            record = store.create_issue(subject=f"from host {i}", review_ids=[f"r{i}"], now=NOW,
                                        slot=SLOT)
            outcomes.append(f"issue #{record.number}")
        except SlotTaken as exc:
            outcomes.append(f"taken: {exc}")

    at_once(compose, [(store, i) for i, store in enumerate(stores)])
    for store in stores:
        store.close()
    assert sorted(outcomes)[0] == "issue #1"
    assert all(o.startswith("taken: the schedule slot 2026-11-20 09:00 UTC is already taken "
                            "(issue #1)") for o in sorted(outcomes)[1:]), outcomes
    with open_store(config) as store:
        assert len(store.issues()) == 1


def test_hosts_subscribing_one_address_at_once_add_it_once(config: Config):
    # A read-then-write on every host at once: the writers' lock makes them take turns, so the
    # others find the address there (AlreadySubscribed), never a unique-key error.
    stores = [open_store(config) for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def subscribe(store: Store) -> None:
        barrier.wait()
        try:
            store.add_subscriber("same@example.org", "Same", now=NOW)
            outcomes.append("added")
        except AlreadySubscribed:
            outcomes.append("already")
        except Exception as exc:  # noqa: BLE001 - reported below
            outcomes.append(f"{type(exc).__name__}: {exc}")

    at_once(subscribe, [(store,) for store in stores])
    for store in stores:
        store.close()
    assert sorted(outcomes) == ["added"] + ["already"] * 5, outcomes


@postgres_only
def test_a_recording_rolled_back_to_break_a_deadlock_is_run_again(config: Config):
    # Another transaction holds the row this recording will claim, then waits for the row it
    # records: PostgreSQL breaks the deadlock by rolling back the one that waited first, the
    # recording. Before, that was a StoreError and the sender stopped; the outcome is kept now.
    import psycopg

    with open_store(config) as setup:
        number = queued_issue(setup, 2)
        sending, queued = (d.id for d in setup.due_deliveries(number, now=NOW))
    with open_store(config) as store:
        assert store.claim([sending], now=NOW) == [sending]
        subscriber = {d.id: d.subscriber_id for d in store.deliveries(number)}
        got: list[object] = []

        def record() -> None:
            try:
                got.append(store.record(
                    [Attempt(sending, subscriber[sending], Outcome(Action.SENT, "250"))],
                    claim=[queued], now=NOW))
            except Exception as exc:  # noqa: BLE001 - what the sender would have stopped on
                got.append(exc)

        touch = "UPDATE deliveries SET updated_at = updated_at WHERE id = %s"
        waiting = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                   "AND wait_event_type = 'Lock'")
        with psycopg.connect(config.state.database) as other:
            # The backend whose deadlock_timeout runs out first finds the deadlock and is
            # rolled back. The recording waits first, but on a loaded machine the other's check
            # could still come first (1 failure in 3 runs seen at load 6): this side's is long.
            other.execute("SET deadlock_timeout = '60s'")
            other.execute(touch, (queued,))  # holds the row the recording will claim
            recorder = threading.Thread(target=record)
            recorder.start()
            with psycopg.connect(config.state.database, autocommit=True) as watcher:
                assert eventually(lambda: watcher.execute(waiting, (store.worker,))
                                  .fetchone()[0], 1) == 1  # it recorded, and waits to claim
            other.execute(touch, (sending,))  # waits for the recording: a deadlock
            other.commit()
        recorder.join(timeout=30)
        assert got == [[queued]]
        status = {d.id: d.status.value for d in store.deliveries(number)}
    assert status == {sending: "sent", queued: "sending"}


@postgres_only
def test_a_claim_waits_for_a_row_another_transaction_has_locked(config: Config):
    # A worker reserving a page locks rows it then passes over until its transaction ends; a
    # claim of such a row must wait for it, not skip it (a skipped claim left the delivery
    # queued and reserved by a worker that had finished).
    import psycopg

    with open_store(config) as setup:
        number = queued_issue(setup, 1)
        (delivery,) = setup.due_deliveries(number, now=NOW)
    with open_store(config) as a:
        (reserved,) = a.take_due(number, now=NOW, limit=10)
        got: list[list[int]] = []
        with psycopg.connect(config.state.database) as other:
            other.execute("SELECT id FROM deliveries WHERE id = %s FOR UPDATE", (reserved.id,))
            claimer = threading.Thread(target=lambda: got.append(a.claim([reserved.id],
                                                                         now=NOW)))
            claimer.start()
            waiting = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                       "AND wait_event_type = 'Lock'")
            with psycopg.connect(config.state.database, autocommit=True) as watcher:
                assert eventually(lambda: (got, watcher.execute(waiting, (a.worker,))
                                           .fetchone()[0]), ([], 1)) == ([], 1)
            other.rollback()
        claimer.join(timeout=10)
    assert got == [[delivery.id]]


def drop_connections(config: Config, store) -> None:
    """End ``store``'s pooled connection from the server's side, as a restart does."""
    with open_store(config) as other:

        def connections(sql: str) -> int:
            with other._engine.connect() as conn:
                return len(conn.exec_driver_sql(
                    f"SELECT {sql} FROM pg_stat_activity WHERE application_name = "
                    "%(worker)s", {"worker": store.worker}).all())

        assert connections("pg_terminate_backend(pid)") == 1
        assert eventually(lambda: connections("pid"), 0) == 0


@postgres_only
def test_a_lost_connection_is_reported_without_the_readers_address(config: Config):
    # serve logs the error of a request the ledger failed (a server restart): never with the
    # statement's parameters, which hold the address it looked up.
    with open_store(config) as store:
        store.add_subscriber("private.reader@example.net", now=NOW)
        drop_connections(config, store)
        with pytest.raises(Exception) as caught:
            store.subscriber("private.reader@example.net")
        assert "private.reader" not in str(caught.value)


@postgres_only
def test_a_server_store_outlives_the_database_dropping_its_connection(config: Config):
    # publisher serve's next request after a PostgreSQL restart (a reader's one-click
    # unsubscribe, say) is answered, not a 500: its store tries each pooled connection first.
    with open_store(config, reconnect=True) as store:
        store.add_subscriber("reader@example.net", now=NOW)
        drop_connections(config, store)
        assert store.subscriber("reader@example.net").email == "reader@example.net"
