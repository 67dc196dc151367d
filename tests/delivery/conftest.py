"""The delivery tests run on SQLite and on PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

import pytest

from publisher.config import Config
from tests.fixtures import Publication


@pytest.fixture
def config(publication: Publication, database: str) -> Config:
    """The publication's config, its ledger on each database in turn."""
    return publication.config
