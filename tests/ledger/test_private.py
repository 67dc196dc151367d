"""The ledger holds every subscriber's address: its files are readable by their owner only."""

from __future__ import annotations

import os
import stat

from publisher.ledger.store import open_store
from tests.fixtures import NOW


def test_a_new_ledger_is_private_whatever_the_umask(config):
    old = os.umask(0o022)
    try:
        with open_store(config) as store:
            store.add_subscriber("ada@example.org", now=NOW)
            ledger = config.root / ".publisher" / "state.db"
            files = list(ledger.parent.glob("state.db*"))
            assert ledger in files
            for path in files:  # the -wal and -shm files too
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    finally:
        os.umask(old)
