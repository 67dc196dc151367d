"""Schedule slots (issued / skipped / empty) and the index the delivery loop reads.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slots",
        sa.Column("slot", sa.DateTime, primary_key=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column(
            "issue_number",
            sa.Integer,
            sa.ForeignKey("issues.number", name="fk_slots_issue"),
            nullable=True,
        ),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("outcome IN ('issued', 'skipped', 'empty')", name="ck_slots_outcome"),
    )
    op.create_index(
        "ix_deliveries_due", "deliveries", ["issue_number", "status", "next_attempt_at"]
    )
    # Issues created by 0001 with a slot get their slot row, so a slot is never used twice.
    op.execute(
        "INSERT INTO slots (slot, outcome, issue_number, recorded_at) "
        "SELECT slot, 'issued', number, created_at FROM issues WHERE slot IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("slots")
