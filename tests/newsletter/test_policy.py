"""What a reply means for a delivery, and when an issue is finished: a table, no socket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from publisher.errors import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    PolicyDeliveryError,
    TemporaryDeliveryError,
    TransportError,
)
from publisher.newsletter.policy import Action, Outcome, Retry, classify, decide, finished

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RETRY = Retry(base_seconds=300, give_up_hours=72)


def at(stage: str, code: int, text: str) -> DeliveryError:
    return classify(stage, code, text)


@pytest.mark.parametrize(("result", "attempts", "queued_hours_ago", "action", "retry_in"), [
    ("250 2.0.0 Ok: queued as 1234", 0, 0, Action.SENT, None),
    (at("rcpt", 451, "4.3.0 try later"), 0, 0, Action.RETRY, timedelta(minutes=5)),
    (at("rcpt", 452, "4.2.2 mailbox full"), 1, 1, Action.RETRY, timedelta(minutes=10)),
    (at("data", 421, "4.4.2 timeout"), 3, 10, Action.RETRY, timedelta(minutes=40)),
    (at("rcpt", 451, "4.3.0 try later"), 9, 72, Action.GIVE_UP, None),
    (TemporaryDeliveryError("connection lost twice before DATA"), 0, 0, Action.RETRY,
     timedelta(minutes=5)),
    (at("rcpt", 550, "5.1.1 User unknown"), 0, 0, Action.BOUNCE, None),
    (at("rcpt", 553, "Bad address"), 0, 0, Action.BOUNCE, None),
    (at("data", 550, "5.1.1 unknown user (checked after DATA)"), 0, 0, Action.BOUNCE, None),
    (at("rcpt", 552, "5.2.2 Mailbox full"), 0, 0, Action.FAIL, None),
    (PermanentDeliveryError("no SMTPUTF8 for this address"), 0, 0, Action.FAIL, None),
    (at("rcpt", 554, "5.7.1 Refused by policy"), 0, 0, Action.PAUSE, None),
    (at("rcpt", 550, "5.7.1 Client host blocked"), 0, 0, Action.PAUSE, None),
    (at("data", 554, "Transaction failed"), 0, 0, Action.PAUSE, None),
    (at("mail", 553, "5.1.8 Sender address rejected"), 0, 0, Action.STOP, None),
    (TransportError("cannot connect: connection refused"), 0, 0, Action.STOP, None),
    (AmbiguousDeliveryError("connection lost after DATA"), 0, 0, Action.AMBIGUOUS, None),
])
def test_what_each_reply_does(result, attempts, queued_hours_ago, action, retry_in):
    outcome = decide(result, attempts=attempts, queued_at=NOW - timedelta(hours=queued_hours_ago),
                     now=NOW, retry=RETRY)
    assert outcome.action == action
    assert outcome.retry_at == (NOW + retry_in if retry_in else None)
    assert outcome.reply == (result if isinstance(result, str) else
                             f"gave up after 72 hours: {result}" if action == Action.GIVE_UP
                             else str(result))


def test_a_bounce_marks_the_subscriber_and_a_policy_refusal_suppresses_nobody():
    bounce = at("rcpt", 550, "5.1.1 User unknown")
    policy = at("rcpt", 554, "5.7.1 Refused by policy")
    assert isinstance(bounce, PermanentDeliveryError) and bounce.bounce
    assert isinstance(policy, PolicyDeliveryError) and not policy.bounce
    assert bounce.reply == "550 5.1.1 User unknown"


def test_the_delivery_status_each_outcome_leaves():
    statuses = {action: Outcome(action, "").status.value for action in Action}
    assert statuses == {
        Action.SENT: "sent", Action.RETRY: "queued", Action.GIVE_UP: "failed",
        Action.FAIL: "failed", Action.BOUNCE: "bounced", Action.PAUSE: "queued",
        Action.AMBIGUOUS: "sending", Action.STOP: "queued", Action.RELEASE: "queued",
    }


@pytest.mark.parametrize(("counts", "done"), [
    ({"queued": 0, "sending": 0, "sent": 20, "failed": 1, "bounced": 1}, True),
    ({"queued": 0, "sending": 0, "sent": 0, "failed": 0, "bounced": 0}, True),  # nobody to send
    ({"queued": 1, "sending": 0, "sent": 19, "failed": 0, "bounced": 0}, False),  # a retry due
    ({"queued": 0, "sending": 2, "sent": 18, "failed": 0, "bounced": 0}, False),  # ambiguous
])
def test_an_issue_is_finished_when_nothing_is_queued_or_in_doubt(counts, done):
    assert finished(counts) is done
