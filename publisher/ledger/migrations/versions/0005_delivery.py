"""The index a delivery run pages through: due deliveries of an issue in queue order.

The run reads queued deliveries a thousand at a time, keyset on id. With the index on
(issue_number, status, next_attempt_at) every page was a search of every queued row of the issue
and a sort by id (0.3 s a page at a million deliveries: minutes over the whole send, more as the
list grew). On (issue_number, status, id) a page is a range read in id order that stops after a
thousand rows; counts per status read the same index.

Revision ID: 0005_delivery
Revises: 0005_postgres
"""

from __future__ import annotations

from alembic import op

revision = "0005_delivery"
down_revision = "0005_postgres"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_queue", "deliveries", ["issue_number", "status", "id"])
    op.drop_index("ix_deliveries_due", table_name="deliveries")


def downgrade() -> None:
    op.create_index(
        "ix_deliveries_due", "deliveries", ["issue_number", "status", "next_attempt_at"]
    )
    op.drop_index("ix_deliveries_queue", table_name="deliveries")
