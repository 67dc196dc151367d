"""The reader's side of the ledger against a real SQLite file: double opt-in with consent,
single-use confirmations, unsubscribe and undo, the data export, erasure with a hashed
suppression, and returned mail acted on once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from publisher.errors import InvalidAddress, Suppressed
from publisher.ledger.deliveries import Attempt
from publisher.ledger.readers import Owed, ReturnKind
from publisher.ledger.store import Store
from publisher.models import SubscriberStatus
from publisher.newsletter.policy import Action, Outcome
from publisher.newsletter.subscriptions import (
    OWED_RETRY,
    AddressChange,
    ConfirmOutcome,
    SubscribeAction,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def ask(store: Store, email: str = "ann@example.org", *, now: datetime = NOW, per_day: int = 3,
        ip: str | None = "192.0.2.7", name: str = "Ann"):
    return store.request_subscription(email, name, form="archive", ip=ip, now=now,
                                      expires=now + timedelta(hours=48), per_day=per_day)


def test_an_address_is_active_only_once_confirmed_with_its_consent_recorded(store: Store):
    action, request = ask(store)
    assert action == SubscribeAction.SEND and request is not None
    assert store.subscriber("ann@example.org") is None  # double opt-in: nothing yet

    confirmation = store.confirm_subscription(request.id, "ann@example.org",
                                              now=NOW + timedelta(hours=1))
    assert confirmation.outcome == ConfirmOutcome.CONFIRMED and confirmation.joined
    sub = confirmation.subscriber
    assert sub.status == SubscriberStatus.ACTIVE and sub.name == "Ann"
    consent = store.subscriber_data("ann@example.org")["subscriber"]["consent"]
    assert consent == {"asked_at": NOW.isoformat(), "ip": "192.0.2.7", "form": "archive",
                       "confirmed_at": (NOW + timedelta(hours=1)).isoformat()}


def test_a_confirmation_works_once_and_never_resubscribes_someone_who_left(store: Store):
    _, request = ask(store)
    store.confirm_subscription(request.id, "ann@example.org", now=NOW)
    store.unsubscribe("ann@example.org", now=NOW + DAY, via="one-click")
    confirmation = store.confirm_subscription(request.id, "ann@example.org", now=NOW + 2 * DAY)
    assert confirmation.outcome == ConfirmOutcome.ALREADY_USED and not confirmation.joined
    assert store.subscriber("ann@example.org").status == SubscriberStatus.UNSUBSCRIBED


def test_a_second_link_confirms_a_reader_already_on_the_list_without_joining_them_again(store):
    _, first = ask(store)
    _, second = ask(store, now=NOW + timedelta(minutes=5))
    assert store.confirm_subscription(first.id, "ann@example.org", now=NOW + DAY).joined
    again = store.confirm_subscription(second.id, "ann@example.org", now=NOW + DAY)
    assert again.outcome == ConfirmOutcome.CONFIRMED and not again.joined
    assert again.subscriber.status == SubscriberStatus.ACTIVE
    # Who left and asked again joins again.
    store.unsubscribe("ann@example.org", now=NOW + 2 * DAY, via="one-click")
    _, third = ask(store, now=NOW + 2 * DAY)
    assert store.confirm_subscription(third.id, "ann@example.org", now=NOW + 2 * DAY).joined


def test_an_expired_or_mismatched_confirmation_adds_nobody(store: Store):
    _, request = ask(store)
    late = store.confirm_subscription(request.id, "ann@example.org",
                                      now=NOW + timedelta(hours=48))
    assert late.outcome == ConfirmOutcome.EXPIRED
    assert store.confirm_subscription(request.id, "bob@example.org",
                                      now=NOW).outcome == ConfirmOutcome.UNKNOWN
    assert store.subscriber("ann@example.org") is None


def test_the_forms_mails_per_address_are_capped_per_day_and_active_ones_are_told_so(store):
    assert [ask(store, per_day=3)[0] for _ in range(4)] == [
        SubscribeAction.SEND, SubscribeAction.SEND, SubscribeAction.SEND, SubscribeAction.LIMITED]
    assert ask(store, now=NOW + DAY + timedelta(seconds=1))[0] == SubscribeAction.SEND
    store.add_subscriber("bob@example.org", now=NOW)
    action, note = ask(store, "BOB@example.org")
    assert action == SubscribeAction.ALREADY_ACTIVE
    assert note.email == "BOB@example.org" and note.expires_at == NOW  # nothing to confirm
    assert store.confirm_subscription(note.id, "bob@example.org", now=NOW).outcome \
        == ConfirmOutcome.EXPIRED
    assert [ask(store, "bob@example.org")[0] for _ in range(3)] == [
        SubscribeAction.ALREADY_ACTIVE, SubscribeAction.ALREADY_ACTIVE, SubscribeAction.LIMITED]
    with pytest.raises(InvalidAddress):
        ask(store, "not an address")


def test_the_cap_counts_one_mailbox_whatever_its_tag_or_gmail_dots(store: Store,
                                                                   database: str):
    limited = SubscribeAction.LIMITED
    assert [ask(store, e)[0] for e in ("a_b+1@example.org", "A_B+x@example.org",
                                       "a_b@example.org", "a_b+2@example.org")][3] == limited
    # "_" and "%" are only letters here (the ledger's LIKE escapes them), and another name
    # that begins alike, or the same name elsewhere, is another mailbox.
    assert ask(store, "axb@example.org")[0] == SubscribeAction.SEND
    assert ask(store, "a_b1@example.org")[0] == SubscribeAction.SEND
    assert ask(store, "a_b@example.net")[0] == SubscribeAction.SEND
    assert [ask(store, e)[0] for e in ("jo.ann@gmail.com", "joann+tv@googlemail.com",
                                       "J.O.ANN@gmail.com", "joann@gmail.com")][3] == limited
    assert ask(store, "jo.ann@example.org")[0] == SubscribeAction.SEND  # dots count elsewhere
    assert ask(store, "jo.ann@example.org", now=NOW + DAY + timedelta(seconds=1))[0] \
        == SubscribeAction.SEND
    # Each spelling is a subscriber's own address all the same.
    request = ask(store, "joann+films@gmail.com", now=NOW + 2 * DAY)[1]
    store.confirm_subscription(request.id, request.email, now=NOW + 2 * DAY)
    assert store.subscriber("joann+films@gmail.com") is not None
    assert store.subscriber("joann@gmail.com") is None


def test_unconfirmed_requests_are_deleted_a_week_after_they_expire(store: Store):
    ask(store, "old@example.org")
    ask(store, "new@example.org", now=NOW + 10 * DAY)
    assert store.subscriber_data("old@example.org") is None
    assert store.subscriber_data("new@example.org")["subscription_requests"]


def test_unsubscribe_is_idempotent_and_undo_restores_the_subscriber(store: Store):
    store.add_subscriber("ann@example.org", "Ann", now=NOW)
    sub, changed = store.unsubscribe("ann@example.org", now=NOW, via="one-click")
    assert changed and sub.status == SubscriberStatus.UNSUBSCRIBED
    assert store.unsubscribe("ANN@example.org", now=NOW, via="one-click")[1] is False
    assert store.unsubscribe("nobody@example.org", now=NOW, via="one-click") == (None, False)
    assert store.resubscribe("ann@example.org", now=NOW, via="undo").status == "active"
    history = [e["event"] for e in store.subscriber_data("ann@example.org")["history"]]
    assert history == ["unsubscribed", "active"]


def test_the_export_holds_everything_about_the_subscriber_and_nothing_else(store: Store):
    store.add_subscriber("ann@example.org", "Ann", now=NOW)
    store.add_subscriber("bob@example.org", "Bob", now=NOW)
    number = store.create_issue(subject="Issue one", review_ids=["tag:x,2026:a"], now=NOW).number
    store.queue_deliveries(number, now=NOW)
    for d in store.deliveries(number):
        store.claim([d.id], now=NOW)
        store.record([Attempt(d.id, d.subscriber_id, Outcome(Action.SENT, "250 OK"),
                              f"<issue-1.{d.id}@reel.test>")], now=NOW)
    store.rename_subscriber("ann@example.org", "Ann B.", now=NOW)
    data = store.subscriber_data("ann@example.org")
    text = json.dumps(data)
    assert "bob@example.org" not in text and "Bob" not in text
    assert data["subscriber"]["name"] == "Ann B."
    assert [(d["issue"], d["subject"], d["status"]) for d in data["deliveries"]] == [
        (1, "Issue one", "sent")]
    assert store.subscriber_data("nobody@example.org") is None


def test_a_moved_subscription_takes_its_history_requests_and_queued_issue_along(store: Store):
    _, request = ask(store, "ann@old.example")
    store.confirm_subscription(request.id, "ann@old.example", now=NOW)
    number = store.create_issue(subject="Issue one", review_ids=["tag:x,2026:a"], now=NOW).number
    store.queue_deliveries(number, now=NOW)
    outcome, moved = store.change_address("ann@old.example", "ann@new.example",
                                          asked_at=NOW, now=NOW + DAY)
    assert outcome == AddressChange.CHANGED and moved.email == "ann@new.example"
    ((delivery,),) = [store.deliveries(number)]
    assert (delivery.subscriber_id, delivery.email, delivery.status) == (
        moved.id, "ann@new.example", "queued")
    data = store.subscriber_data("ann@new.example")
    assert data["subscriber"]["consent"]["form"] == "archive"
    assert [r["ip"] for r in data["subscription_requests"]] == ["192.0.2.7"]
    assert data["history"][-1]["detail"] == "from ann@old.example to ann@new.example"
    assert store.subscriber_data("ann@old.example") is None
    # Once only, and never onto an address with a record of its own.
    assert store.change_address("ann@old.example", "ann@new.example", asked_at=NOW,
                                now=NOW + 2 * DAY)[0] == AddressChange.USED
    store.add_subscriber("bob@example.org", now=NOW)
    assert store.change_address("ann@new.example", "Bob@Example.org", asked_at=NOW + DAY,
                                now=NOW + DAY)[0] == AddressChange.TAKEN
    assert store.erase_subscriber("ann@new.example", now=NOW + DAY)
    assert store.subscriber_data("ann@new.example") is None


def test_erasure_keeps_only_a_hash_that_keeps_the_address_off_the_list(store: Store, config):
    store.add_subscriber("ann@example.org", "Ann", now=NOW)
    assert store.erase_subscriber("Ann@Example.org", now=NOW)
    assert store.subscriber("ann@example.org") is None
    assert store.subscriber_data("ann@example.org") is None
    assert store.is_suppressed("ann@example.org")
    with store._engine.connect() as conn:  # every row of every table, on either database
        dump = "\n".join(str(row) for name in sa.inspect(conn).get_table_names()
                         for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')))
    assert dump and "ann@example.org" not in dump.lower()

    csv_file = config.root / "list.csv"
    csv_file.write_text("email,name\nann@example.org,Ann\ncat@example.org,Cat\n")
    report = store.import_subscribers_csv(csv_file, now=NOW)
    assert (report.added, report.suppressed) == (1, 1)
    report = store.import_subscribers_csv(csv_file, now=NOW, force=True)  # not even so
    assert (report.added, report.suppressed) == (0, 1)
    assert store.subscriber("ann@example.org") is None
    with pytest.raises(Suppressed):
        store.add_subscriber("ann@example.org", now=NOW)
    # Asking again and confirming is consent: the suppression is lifted.
    _, request = ask(store)
    assert store.confirm_subscription(request.id, "ann@example.org", now=NOW).outcome == "confirmed"
    assert not store.is_suppressed("ann@example.org")


def sent_issue(store: Store, *emails: str) -> dict[str, str]:
    for email in emails:
        store.add_subscriber(email, now=NOW)
    number = store.create_issue(subject="Issue", review_ids=["tag:x,2026:a"], now=NOW).number
    store.queue_deliveries(number, now=NOW)
    ids = {}
    for d in store.deliveries(number):
        store.claim([d.id], now=NOW)
        mid = f"<issue-{number}.{d.id:024x}@reel.test>"
        store.record([Attempt(d.id, d.subscriber_id, Outcome(Action.SENT, "250"), mid)], now=NOW)
        ids[d.email] = mid
    return ids


def test_returned_mail_is_matched_by_message_id_and_acted_on_once(store: Store):
    ids = sent_issue(store, "hard@example.org", "spam@example.org", "ok@example.org")
    assert store.record_returned("k1", ReturnKind.HARD, message_ids=(ids["hard@example.org"],),
                                 detail="5.1.1 no such user", now=NOW) == "bounced"
    assert store.record_returned("k1", ReturnKind.HARD, message_ids=(ids["hard@example.org"],),
                                 now=NOW) == "seen"
    assert store.record_returned("k2", ReturnKind.COMPLAINT,
                                 message_ids=(ids["spam@example.org"].strip("<>"),),
                                 now=NOW) == "complained"
    # A forged report naming an address, not one of our Message-IDs, changes nothing.
    assert store.record_returned("k3", ReturnKind.HARD, email="ok@example.org",
                                 message_ids=("<made-up@reel.test>",), now=NOW) == "unmatched"
    assert not store.inbox_seen("k3")
    statuses = {s.email: s.status for s in store.subscribers()}
    assert statuses == {"hard@example.org": "bounced", "spam@example.org": "complained",
                        "ok@example.org": "active"}
    assert "issue #1: 5.1.1 no such user" in json.dumps(store.subscriber_data("hard@example.org"))


def test_a_late_bounce_from_an_address_the_reader_left_does_not_stop_the_new_one(store: Store):
    # A reader moves because their old mailbox is closing; the bounce of the issue sent there
    # the day before comes back after the move. It marked the subscription, now at the new
    # address, bounced: nothing more reached the mailbox that works.
    ids = sent_issue(store, "ann@old.example")
    store.change_address("ann@old.example", "ann@new.example", asked_at=NOW, now=NOW + DAY)
    for key, kind in (("k1", ReturnKind.HARD), ("k2", ReturnKind.COMPLAINT),
                      ("k3", ReturnKind.SOFT)):
        assert store.record_returned(key, kind, message_ids=(ids["ann@old.example"],),
                                     detail="5.1.1 no such user", now=NOW + 2 * DAY,
                                     soft_limit=1) == "no-change"
    assert store.subscriber("ann@new.example").status == "active"
    history = store.subscriber_data("ann@new.example")["history"]
    assert history[-1]["detail"] == ("issue #1, sent to ann@old.example before the move: "
                                     "5.1.1 no such user")


def test_soft_bounces_suppress_only_at_the_limit_within_the_window(store: Store):
    ids = sent_issue(store, "soft@example.org")
    mid = ids["soft@example.org"]

    def soft(key: str, when: datetime, detail: str = "") -> str:
        return store.record_returned(key, ReturnKind.SOFT, message_ids=(mid,), now=when,
                                     detail=detail or f"4.2.2 mailbox full ({key})",
                                     soft_limit=3, soft_window=timedelta(days=14))

    assert soft("a", NOW) == "soft-bounce"
    assert soft("b", NOW + 20 * DAY) == "soft-bounce"  # the first one is out of the window
    assert soft("c", NOW + 21 * DAY) == "soft-bounce"
    assert soft("c", NOW + 21 * DAY) == "seen"  # the same message again counts nothing
    # another report in the same words about the same message (its own key): counted once
    assert soft("c2", NOW + 21 * DAY, detail="4.2.2 mailbox full (c)") == "repeat"
    assert soft("d", NOW + 22 * DAY) == "bounced"


def test_a_mailto_unsubscribe_is_matched_by_its_sender(store: Store):
    store.add_subscriber("ann@example.org", now=NOW)
    assert store.record_returned("m1", ReturnKind.UNSUBSCRIBE, email="Ann@example.org",
                                 now=NOW) == "unsubscribed"
    assert store.record_returned("m2", ReturnKind.UNSUBSCRIBE, email="ann@example.org",
                                 now=NOW) == "no-change"
    assert store.record_returned("m3", ReturnKind.UNSUBSCRIBE, email="who@example.org",
                                 now=NOW) == "unmatched"


# --- mail owed to readers ----------------------------------------------------------------------


def owed_confirmations(store: Store, now: datetime) -> list[tuple[int, datetime]]:
    return [(owed.request.id, owed.due) for owed in store.owed_confirmations(now)]


def test_a_confirmation_is_owed_from_its_request_until_it_is_settled(store: Store):
    _, request = ask(store)
    _, on_list_note = ask(store, "bob@example.org")
    store.confirm_subscription(on_list_note.id, "bob@example.org", now=NOW)
    ask(store, "bob@example.org")  # the note to a subscriber who asks again is never owed
    # The first try is the server's, right after its answer: the next is due OWED_RETRY on.
    assert owed_confirmations(store, NOW + OWED_RETRY - timedelta(seconds=1)) == []
    assert owed_confirmations(store, NOW + OWED_RETRY) == [(request.id, NOW + OWED_RETRY)]

    store.settle_owed(Owed.CONFIRMATION, request.id)
    assert owed_confirmations(store, NOW + DAY) == []


def test_a_confirmation_is_owed_only_while_its_link_can_confirm(store: Store):
    _, expiring = ask(store)
    _, confirmed = ask(store, "bob@example.org")
    store.confirm_subscription(confirmed.id, "bob@example.org", now=NOW + timedelta(minutes=1))
    assert owed_confirmations(store, NOW + timedelta(hours=47)) == [
        (expiring.id, NOW + OWED_RETRY)]
    assert owed_confirmations(store, NOW + timedelta(hours=48)) == []  # expired


def test_two_servers_claiming_one_owed_message_send_it_once(store: Store, database: str):
    _, request = ask(store)
    due = NOW + OWED_RETRY
    assert store.claim_owed(Owed.CONFIRMATION, request.id, due, until=due + OWED_RETRY)
    # The other server read the same due time before the claim: it finds it taken.
    assert not store.claim_owed(Owed.CONFIRMATION, request.id, due, until=due + OWED_RETRY)
    assert owed_confirmations(store, due + OWED_RETRY) == [(request.id, due + OWED_RETRY)]


def test_a_welcome_is_owed_to_whoever_a_confirmation_puts_on_the_list_until_it_goes(
        store: Store, database: str):
    _, ann = ask(store)
    _, bob = ask(store, "bob@example.org")
    joined = store.confirm_subscription(ann.id, "ann@example.org", now=NOW, welcome=True)
    store.confirm_subscription(bob.id, "bob@example.org", now=NOW)  # welcomes are off
    (owed,) = store.owed_welcomes(NOW + OWED_RETRY)
    assert (owed.subscriber.email, owed.confirmed_at, owed.due) == (
        "ann@example.org", NOW, NOW + OWED_RETRY)
    assert store.claim_owed(Owed.WELCOME, joined.subscriber.id, owed.due,
                            until=NOW + 2 * OWED_RETRY)
    assert store.owed_welcomes(NOW + OWED_RETRY) == []

    store.record_welcome("ann@example.org", "<welcome.1@reel.test>", now=NOW + 2 * OWED_RETRY)
    assert store.owed_welcomes(NOW + DAY) == []
