"""The schedule recorded with each slot: an edited schedule takes effect from the next time it
names, so a run that finds ``newsletter.schedule`` (or its zone) other than the schedule of the
last slot does not send a time of the new one that passed before the edit.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the slots already recorded: their schedule is not known, and an unknown one is
    # taken as unchanged (the next slot a run records carries it).
    op.add_column("slots", sa.Column("schedule", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slots") as batch:
        batch.drop_column("schedule")
