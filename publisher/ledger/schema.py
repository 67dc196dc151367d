"""The ledger's schema at head, for queries (the Alembic migrations in ``migrations/`` create
it; a test holds the two together)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: The newest migration in MIGRATIONS/versions (a test holds the two together).
SCHEMA_REVISION = "0007"
NAME_MAX = 200

class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in the API, naive UTC in the column (portable across databases)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the ledger needs aware times")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# The schema at head, for queries; the migrations in migrations/versions create it.
metadata = MetaData()
subscribers_t = Table(
    "subscribers", metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_normalised", String(320), nullable=False, unique=True),
    Column("name", String(NAME_MAX), nullable=False, server_default=""),
    Column("status", String(20), nullable=False),
    Column("source", String(200), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("status_changed_at", UTCDateTime, nullable=False),
    # Consent, for subscribers who asked themselves (publisher serve): when they asked, from
    # which address (NULL when server.store_ip is false), on which form, and when they followed
    # the confirmation link. NULL for those the editor added, or imported from a file that
    # did not say (another tool's export may: Mailchimp's OPTIN_TIME, OPTIN_IP, CONFIRM_TIME).
    Column("consent_at", UTCDateTime, nullable=True),
    Column("consent_ip", String(45), nullable=True),
    Column("consent_form", String(200), nullable=False, server_default=""),
    Column("confirmed_at", UTCDateTime, nullable=True),
    # A welcome the relay has not taken yet is tried again from this time; NULL: none owed.
    Column("welcome_due", UTCDateTime, nullable=True),
)
# What happened to a subscriber, for their data export and for counting soft bounces.
subscriber_events_t = Table(
    "subscriber_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"),
           nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
)
# A subscribe form's request, waiting for its confirmation link to be followed: an address is
# added to ``subscribers`` only then (double opt-in).
subscription_requests_t = Table(
    "subscription_requests", metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_normalised", String(320), nullable=False, index=True),
    Column("name", String(NAME_MAX), nullable=False, server_default=""),
    Column("form", String(200), nullable=False, server_default=""),
    Column("ip", String(45), nullable=True),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime, nullable=True),
    # Its confirmation, not taken by the relay yet, is tried again from this time; NULL: sent
    # (or refused for good, or never owed: the note to an address already on the list).
    Column("mail_due", UTCDateTime, nullable=True),
)
# Erased subscribers leave only this: SHA-256 of the address, so that no import adds them again.
suppressions_t = Table(
    "suppressions", metadata,
    Column("address_hash", String(64), primary_key=True),
    Column("reason", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
# Returned mail already acted on (publisher inbox): processing a message again does nothing.
inbox_messages_t = Table(
    "inbox_messages", metadata,
    Column("key", String(200), primary_key=True),
    Column("outcome", String(30), nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
)
issues_t = Table(
    "issues", metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("subject", String(500), nullable=False),
    Column("state", String(20), nullable=False),
    Column("slot", UTCDateTime, nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("note_html", Text, nullable=False, server_default=""),
    # Set when a policy (5.7.x) refusal paused sending; cleared when a person resumes it.
    Column("paused_reason", Text, nullable=True),
    # What the issue is, frozen when sending starts (snapshot.py); NULL while a draft.
    Column("frozen_issue", Text, nullable=True),
    Column("frozen_digest", Text, nullable=True),
)
# claimed: TRUE while the issue holds the review, NULL once the issue is cancelled. UNIQUE
# (review_id, claimed) then lets a review be in one live issue only (NULLs are distinct), while
# a cancelled issue still records what it held.
issue_reviews_t = Table(
    "issue_reviews", metadata,
    Column("issue_number", Integer, ForeignKey("issues.number"), primary_key=True),
    Column("review_id", String(500), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("claimed", Boolean, nullable=True),
)
slots_t = Table(
    "slots", metadata,
    Column("slot", UTCDateTime, primary_key=True),
    Column("outcome", String(20), nullable=False),
    Column("issue_number", Integer, ForeignKey("issues.number"), nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    # The schedule runs went by after this slot (newsletter.schedule.schedule_key): the one it
    # was recorded under, or the edited one a run found before the next time that one names.
    # NULL for a slot recorded before revision 0007: no edit is seen until the next slot.
    Column("schedule", Text, nullable=True),
)
deliveries_t = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("issue_number", Integer, ForeignKey("issues.number"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"),
           nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_reply", Text, nullable=False, server_default=""),
    Column("message_id", String(500), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The worker holding the delivery (reserved while queued, or claimed), and until when.
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
)
#: The shared rate limit's next free time, in seconds since the epoch by the database's clock.
rate_limits_t = Table(
    "rate_limits", metadata,
    Column("name", String(100), primary_key=True),
    Column("next_at", Float, nullable=False),
)
# A delivery run pages through an issue's queued deliveries in id order (keyset), and counts
# them per status: one range of this index each (migration 0005_delivery).
Index("ix_deliveries_queue", deliveries_t.c.issue_number, deliveries_t.c.status,
      deliveries_t.c.id)
