"""When a welcome the relay did not take is still worth sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from publisher.newsletter.subscriptions import WELCOME_OWED_FOR, welcome_still_owed

CONFIRMED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "later", "owed"), [
    ("active", timedelta(minutes=5), True),
    ("active", WELCOME_OWED_FOR - timedelta(seconds=1), True),
    ("active", WELCOME_OWED_FOR, False),  # days late, it would greet a long-time reader
    ("unsubscribed", timedelta(minutes=5), False),  # left meanwhile
    ("bounced", timedelta(minutes=5), False),
])
def test_a_welcome_is_owed_to_a_subscriber_still_on_the_list_for_two_days(status, later, owed):
    assert welcome_still_owed(status, CONFIRMED, CONFIRMED + later) is owed


def test_no_welcome_is_owed_to_a_subscriber_who_never_confirmed():
    assert not welcome_still_owed("active", None, CONFIRMED)
