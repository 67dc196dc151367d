"""Issues remember a pause: a 5.7.x (policy) refusal stops sending until a person resumes it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN with a NULL default is plain SQL on SQLite and PostgreSQL alike.
    op.add_column("issues", sa.Column("paused_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("paused_reason")
