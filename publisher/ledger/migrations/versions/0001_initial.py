"""Initial ledger: subscribers, issues and their reviews, deliveries.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_normalised", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("source", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("status_changed_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("email_normalised", name="uq_subscribers_email_normalised"),
        sa.CheckConstraint(
            "status IN ('active', 'unsubscribed', 'bounced', 'complained')",
            name="ck_subscribers_status",
        ),
    )
    op.create_table(
        "issues",
        sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("slot", sa.DateTime, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime, nullable=True),
        sa.Column("note_html", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("slot", name="uq_issues_slot"),
        sa.CheckConstraint(
            "state IN ('draft', 'sending', 'sent', 'cancelled')", name="ck_issues_state"
        ),
    )
    # ``claimed`` is TRUE while the issue holds the review and NULL once the issue is cancelled.
    # NULLs are distinct in a UNIQUE constraint (SQLite and PostgreSQL alike), so a review is in
    # at most one live issue, while a cancelled issue keeps the record of what it held.
    op.create_table(
        "issue_reviews",
        sa.Column(
            "issue_number",
            sa.Integer,
            sa.ForeignKey("issues.number", name="fk_issue_reviews_issue"),
            primary_key=True,
        ),
        sa.Column("review_id", sa.String(500), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("claimed", sa.Boolean, nullable=True),
        sa.UniqueConstraint("review_id", "claimed", name="uq_issue_reviews_claim"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "issue_number",
            sa.Integer,
            sa.ForeignKey("issues.number", name="fk_deliveries_issue"),
            nullable=False,
        ),
        sa.Column(
            "subscriber_id",
            sa.Integer,
            sa.ForeignKey("subscribers.id", name="fk_deliveries_subscriber", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("last_reply", sa.Text, nullable=False, server_default=""),
        sa.Column("message_id", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("issue_number", "subscriber_id", name="uq_deliveries_issue_subscriber"),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'bounced')",
            name="ck_deliveries_status",
        ),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("issue_reviews")
    op.drop_table("issues")
    op.drop_table("subscribers")
