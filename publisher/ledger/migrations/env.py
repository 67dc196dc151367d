"""Alembic environment for the ledger, run programmatically by ``store.open_store``.

There is no alembic.ini: the store hands over an open connection (already inside a transaction
that holds the database's write lock) in ``config.attributes["connection"]``.

To add a migration, copy the newest file in ``versions/``, give it the next number as
``revision`` and the previous one as ``down_revision``, and use only portable operations
(SQLite today, PostgreSQL later): ``op.create_table``, ``op.create_index``, and
``op.batch_alter_table`` for column changes (SQLite rebuilds the table).
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True)

with context.begin_transaction():
    context.run_migrations()
