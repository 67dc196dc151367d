"""Files holding personal data (every subscriber's address) are readable by their owner only,
whatever the umask: the ledger, a subscriber export, a backup, messages written as files."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

import pytest

from publisher.delivery.local import FileTransport
from publisher.ledger.store import open_store
from tests.fixtures import NOW


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_ledger_is_private(config):
    with open_store(config) as store:
        store.add_subscriber("ada@example.org", now=NOW)
        ledger = config.root / ".publisher" / "state.db"
        files = list(ledger.parent.glob("state.db*"))
        assert ledger in files
        for path in files:  # the -wal and -shm files too
            assert mode(path) == 0o600, path


def test_a_ledger_an_older_publisher_left_readable_is_made_private_when_opened(config):
    # Ledgers made before new ones were 0600 kept the umask's 0644: the next command that
    # opens one takes the others' access away, as ssh does not use a key others can read.
    with open_store(config) as store:
        store.add_subscriber("ada@example.org", now=NOW)
    ledger = config.root / ".publisher" / "state.db"
    ledger.chmod(0o644)
    with open_store(config) as store:
        assert mode(ledger) == 0o600
        assert [s.email for s in store.subscribers()] == ["ada@example.org"]


def test_a_state_directory_an_older_publisher_left_writable_is_closed_when_opened(config):
    # Publishers before nothing they made was writable by others made .publisher/ under the
    # umask (0777 under 000): another user could swap the ledger in it for one of theirs.
    with open_store(config) as store:
        store.add_subscriber("ada@example.org", now=NOW)
    state = config.root / ".publisher"
    state.chmod(0o777)
    with open_store(config) as store:
        assert mode(state) == 0o755
        assert [s.email for s in store.subscribers()] == ["ada@example.org"]


def test_messages_written_as_files_are_private(tmp_path):
    transport = FileTransport(tmp_path / "eml")
    with transport.session() as session:
        session.send("news@reel.test", "ada@example.org",
                     b"Message-ID: <1@reel.test>\r\nTo: ada@example.org\r\n\r\nHello\r\n")
    [written] = (tmp_path / "eml").iterdir()
    assert mode(written) == 0o600


def test_exports_and_backups_are_private(publication, cli, tmp_path):
    assert cli("subscribers", "add", "ada@example.org").exit_code == 0
    assert cli("subscribers", "export", str(tmp_path / "list.csv")).exit_code == 0
    assert cli("backup", str(tmp_path / "ledger.db")).exit_code == 0
    assert mode(tmp_path / "list.csv") == 0o600 and mode(tmp_path / "ledger.db") == 0o600
