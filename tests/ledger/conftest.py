"""The ledger's tests run on SQLite and on PostgreSQL (the ``database`` fixture); the few about
SQLite's file take ``sqlite_config``."""

from __future__ import annotations

import pytest

from publisher.config import Config
from tests.fixtures import Publication


@pytest.fixture
def config(publication: Publication, database: str) -> Config:
    """The publication's config, its ledger on each database in turn."""
    return publication.config


@pytest.fixture
def sqlite_config(publication: Publication) -> Config:
    """The publication's config with its ledger in SQLite (the default)."""
    return publication.config


@pytest.fixture
def empty_config(request: pytest.FixtureRequest, publication: Publication,
                 database: str) -> Config:
    """The config on each database in turn, pointing at a database with nothing in it yet."""
    config = publication.config
    if database == "postgresql":
        server = request.getfixturevalue("postgres")
        url = server.database(migrated=False)
        request.addfinalizer(lambda: server.drop(url))
        path = publication.root / "publisher.toml"
        path.write_text(path.read_text().replace(config.state.database, url))
        config = publication.config
    return config
