"""Mail owed to readers: a confirmation or a welcome that the relay did not take is tried again
by publisher serve until it goes out (or stops being worth sending).

Revision ID: 0006
Revises: 0005_delivery
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: nothing owed, which is right for every row written before this revision.
    op.add_column("subscription_requests", sa.Column("mail_due", sa.DateTime, nullable=True))
    op.add_column("subscribers", sa.Column("welcome_due", sa.DateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("welcome_due")
    with op.batch_alter_table("subscription_requests") as batch:
        batch.drop_column("mail_due")
