"""The reader's side: consent recorded with each subscriber, their history, subscription
requests waiting for confirmation, hashed suppressions of erased addresses, returned mail
already processed, and deliveries found by Message-ID (bounces and complaints name it).

Revision ID: 0005_reader
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_reader"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("consent_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("consent_ip", sa.String(45), nullable=True))
        batch.add_column(sa.Column("consent_form", sa.String(200), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime, nullable=True))
    op.create_table(
        "subscriber_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subscriber_id", sa.Integer,
                  sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_subscriber_events_subscriber_id", "subscriber_events",
                    ["subscriber_id", "at"])
    op.create_table(
        "subscription_requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_normalised", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("form", sa.String(200), nullable=False, server_default=""),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("requested_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("confirmed_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_subscription_requests_email_normalised", "subscription_requests",
                    ["email_normalised", "requested_at"])
    op.create_table(
        "suppressions",
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "inbox_messages",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("processed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_message_id", "deliveries")
    op.drop_table("inbox_messages")
    op.drop_table("suppressions")
    op.drop_index("ix_subscription_requests_email_normalised", "subscription_requests")
    op.drop_table("subscription_requests")
    op.drop_index("ix_subscriber_events_subscriber_id", "subscriber_events")
    op.drop_table("subscriber_events")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("confirmed_at")
        batch.drop_column("consent_form")
        batch.drop_column("consent_ip")
        batch.drop_column("consent_at")
