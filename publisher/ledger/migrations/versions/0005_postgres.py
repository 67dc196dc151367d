"""Several senders: a lease on each delivery a worker holds, and a rate limit they share.

``lease_owner`` names the worker (host:pid:nonce) that reserved or claimed a delivery and
``lease_expires_at`` when that hold lapses: a queued delivery reserved by a worker that died is
taken by another once its lease lapses; one left ``sending`` by it is recognised as ambiguous
(never resent by itself). ``rate_limits`` holds the next free sending time of the shared token
bucket, in seconds since the epoch by the database's clock, so that hosts whose clocks differ
still share one rate.

Revision ID: 0005_postgres
Revises: 0005_reader
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_postgres"
down_revision = "0005_reader"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN with a NULL default is plain SQL on SQLite and PostgreSQL alike.
    op.add_column("deliveries", sa.Column("lease_owner", sa.String(100), nullable=True))
    op.add_column("deliveries", sa.Column("lease_expires_at", sa.DateTime, nullable=True))
    op.create_table(
        "rate_limits",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("next_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
