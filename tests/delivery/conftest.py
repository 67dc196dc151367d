"""The delivery tests run on SQLite and on PostgreSQL: test_engine.py asks for the ``database``
fixture, which points the publication's ledger at each in turn."""
