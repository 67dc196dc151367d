"""The ledger: SQLAlchemy Core over SQLite (or PostgreSQL), migrated by Alembic, split by
domain (subscribers, issues and slots, deliveries); subscriber CSV files and addresses beside
it."""

from .csvfile import ImportReport, subscribers_csv_lines
from .store import Store, database_url, open_store

__all__ = ["ImportReport", "Store", "database_url", "open_store", "subscribers_csv_lines"]
