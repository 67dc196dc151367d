"""Issues keep what they are: the reviews and the rendered digest, frozen when sending starts.

Retries, resends, test copies and the archive page read this, never the sources again (a review
edited or deleted mid-send changes nothing that recipients get). Issues that were already being
sent when this migration ran are frozen the next time they are sent.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Two columns: the archive reads the issue (its reviews) and never needs the digest's HTML.
    op.add_column("issues", sa.Column("frozen_issue", sa.Text, nullable=True))
    op.add_column("issues", sa.Column("frozen_digest", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("frozen_digest")
        batch.drop_column("frozen_issue")
