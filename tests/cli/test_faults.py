"""Faults of the machine and the configuration end in one line naming the cause and the fix, and
exit code 1: never a traceback. (An unexpected exception fails these tests: run_cli does not
catch it.)"""

from __future__ import annotations

import mailbox
import sqlite3
from datetime import timedelta

import pytest

from publisher.delivery.transports import transport_from_url
from publisher.errors import ConfigError
from tests.delivery.test_disk_full import fill
from tests.fixtures import SLOT, add_subscribers, use_maildir, write_reviews
from tests.mounts import read_only, tiny_disk

SECRET = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}


def one_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return result.stderr


@pytest.fixture
def with_issue(publication, cli):
    """A publication with reviews, a subscriber and a composed issue in its ledger."""
    write_reviews(publication, 2)
    assert cli("subscribers", "add", "ada@example.org").exit_code == 0
    assert cli("issue", "new").exit_code == 0
    return publication


def damage(path, offset: int = 4096, size: int = 4096) -> None:
    """Scribble over part of a file, as a failing disk or a bad copy would."""
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xa5" * size)


# --- the ledger ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("issue", "list"), ("run",), ("build",),
                                     ("subscribers", "list")])
def test_a_damaged_ledger_is_one_line_saying_to_restore_it(with_issue, cli, command):
    damage(with_issue.root / ".publisher" / "state.db")
    line = one_line(cli(*command, env=SECRET))
    assert "the ledger is damaged (database disk image is malformed)" in line
    assert "publisher restore" in line


@pytest.mark.parametrize("command", [("digest", "preview"), ("run", "--dry-run")])
def test_a_damaged_ledger_is_named_once_by_the_commands_that_only_read_it(with_issue, cli,
                                                                          command):
    damage(with_issue.root / ".publisher" / "state.db")
    line = one_line(cli(*command, env=SECRET))
    assert line.count("/.publisher/state.db") == 1, line
    assert "the ledger is damaged (database disk image is malformed)" in line


def test_a_file_that_is_not_a_ledger_is_one_line(with_issue, cli):
    (with_issue.root / ".publisher" / "state.db").write_bytes(b"not a database at all" * 300)
    line = one_line(cli("issue", "list"))
    assert "the ledger is damaged (file is not a database)" in line


def test_a_database_url_without_its_driver_is_one_line(publication, cli):
    publication.add_config('[state]\ndatabase = "postgresql+pg8000://news@127.0.0.1/reel"\n')
    line = one_line(cli("subscribers", "list"))
    # publisher talks to PostgreSQL through psycopg 3 only (a missing psycopg is one line too:
    # tests/ledger/test_health.py)
    assert ("state.database: postgresql+pg8000 is not supported; write postgresql://… "
            "(publisher talks to PostgreSQL through psycopg 3)") in line


# --- the transport ------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "says"), [
    ("smtp://[::1:25", "is not a valid URL (Invalid IPv6 URL); write it as smtp://host:port"),
    ("smtpp://x:25", "unsupported transport URL 'smtpp://x:25'"),
    ("maildir://", "names no directory"),
    ("smtp://relay.test:2x5", "has an invalid port"),
])
def test_a_malformed_transport_url_is_one_line_when_sending(with_issue, cli, url, says):
    with_issue.add_config(f'[delivery]\ntransport = "{url}"\n')
    with pytest.raises(ConfigError, match="delivery.transport"):
        transport_from_url(with_issue.config)
    line = one_line(cli("issue", "send", "1", env=SECRET))
    assert "publisher.toml: delivery.transport: " in line and says in line


@pytest.mark.parametrize("url", ["smtp://news:hun/ter2@relay.test:587",
                                 "smtp://news:hun#ter2@relay.test:587",
                                 "smtp://news:1234/hunter2@relay.test:587"])
def test_a_password_in_the_transport_url_is_never_printed(with_issue, cli, url):
    """A "/", "#" or "?" in the password hid it from urlsplit, and the message about the port
    or the URL's form printed the URL, password and all, into cron's log."""
    with_issue.add_config(f'[delivery]\ntransport = "{url}"\n')
    line = one_line(cli("issue", "send", "1", env=SECRET))
    assert "delivery.transport: put no user or password in the URL" in line
    assert "hunter2" not in line and "ter2" not in line


# --- the publication's directories --------------------------------------------------------------


def test_a_read_only_state_directory_is_one_line(with_issue, cli):
    with read_only(with_issue.root / ".publisher"):
        line = one_line(cli("run", env=SECRET))
    assert "cannot take the run lock" in line and "Read-only file system" in line


def test_a_read_only_ledger_is_one_line_when_writing(with_issue, cli):
    with read_only(with_issue.root / ".publisher"):
        line = one_line(cli("subscribers", "add", "bo@example.org"))
    assert "the ledger or its directory is read-only" in line


def test_a_ledger_kept_busy_past_the_timeout_is_one_line_saying_to_wait(with_issue, cli,
                                                                         monkeypatch):
    monkeypatch.setattr("publisher.ledger.store.BUSY_TIMEOUT_MS", 100)
    holder = sqlite3.connect(with_issue.root / ".publisher" / "state.db")
    holder.execute("BEGIN IMMEDIATE")  # another command's write, under way
    try:
        line = one_line(cli("subscribers", "add", "bo@example.org"))
    finally:
        holder.rollback()
        holder.close()
    assert "database is locked; another publisher command" in line
    assert "run this again when that one ends" in line


def test_public_as_a_file_is_one_line_from_build(publication, cli):
    write_reviews(publication, 1)
    (publication.root / "public").write_text("not a directory\n")
    line = one_line(cli("build"))
    assert "public" in line and "move it away" in line


# --- run goes on when only the build fails ------------------------------------------------------


def due_publication(publication):
    write_reviews(publication, 2)
    use_maildir(publication)
    add_subscribers(publication.config, 3, SLOT - timedelta(days=1))


def outbox(publication) -> int:
    return len(mailbox.Maildir(publication.root / ".publisher" / "outbox", create=False))


def test_run_composes_and_delivers_when_public_is_a_file(publication, cli):
    due_publication(publication)
    (publication.root / "public").write_text("not a directory\n")
    result = cli("run", now=SLOT + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 1
    assert "composed issue #1" in result.stdout
    assert outbox(publication) == 3
    [line] = result.stderr.splitlines()
    assert line.startswith("error: build failed, feeds not updated: ")


def test_run_composes_and_delivers_when_public_is_read_only(publication, cli):
    due_publication(publication)
    with read_only(publication.root / "public"):
        result = cli("run", now=SLOT + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 1
    assert "composed issue #1" in result.stdout and outbox(publication) == 3
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: build failed, feeds not updated: {publication.root}/public/")
    assert line.endswith(": Read-only file system; the file system is mounted read-only")


def test_run_composes_and_delivers_when_public_is_full(publication, cli):
    due_publication(publication)
    with tiny_disk(publication.root / "public", "16k"):
        result = cli("run", now=SLOT + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 1
    assert "composed issue #1" in result.stdout and outbox(publication) == 3
    lines = result.stderr.splitlines()  # the feeds' build, and the archive's after sending
    assert 1 <= len(lines) <= 2
    for line in lines:
        assert line.startswith(f"error: build failed, feeds not updated: {publication.root}/"
                               "public/")
        assert line.endswith(": No space left on device; the disk is full; free some space and "
                             "run again")


def test_a_full_disk_under_the_ledger_is_named_with_the_fix(publication, cli):
    """SQLite says "database or disk is full", or "disk I/O error" when its write-ahead log
    cannot grow: either way the line names the disk and what to do."""
    publication.add_config('[state]\ndatabase = "sqlite:///ledger/state.db"\n')
    disk = publication.root / "ledger"
    with tiny_disk(disk, "512k"):
        assert cli("subscribers", "add", "first@example.org").exit_code == 0
        filler = fill(disk)
        result = cli("subscribers", "import", str(many_subscribers(publication, 2000)))
        checked = cli("check")
        filler.unlink()
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: sqlite:///{disk / 'state.db'}: the disk holding {disk} is "
                           "full (")
    assert line.endswith("); free some space, then run this again")
    # and check, which found the directories writable, says so too
    assert checked.exit_code == 1
    assert f"ledger: the disk holding {disk} is full; free some space" in checked.stderr
    assert ".publisher/: the disk holding" not in checked.output  # not that one's disk


def many_subscribers(publication, count: int):
    path = publication.root.parent / "many.csv"
    path.write_text("email,name\n" + "".join(f"reader{i}@example.org,Reader {i}\n"
                                              for i in range(count)), encoding="utf-8")
    return path
