"""A lost ledger does not mean a second issue #1: ``publisher backup`` / ``restore`` keep the
whole ledger (SQLite's online backup API), and composing an issue number the web archive
already has is refused."""

from __future__ import annotations

import mailbox
import os
import shutil
import sqlite3
import stat
from datetime import timedelta

import pytest
from sqlalchemy import create_engine

from publisher.errors import ComposeError, LockHeld, StoreError
from publisher.ledger.backups import write_backup
from publisher.ledger.migrate import known_revisions, migrate
from publisher.ledger.store import open_store
from publisher.pipeline.backup import backup, restore
from publisher.pipeline.issues import compose_issue
from publisher.pipeline.lock import publication_lock
from publisher.sources import load_reviews
from tests.fixtures import SLOT, add_subscribers, use_database, use_maildir, write_reviews

SECRET = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}
WEEK = timedelta(days=7)


def outbox(publication) -> list[str]:
    box = mailbox.Maildir(publication.root / ".publisher" / "outbox", create=False)
    return sorted(str(message["To"]) for message in box)


@pytest.fixture
def sent(publication, cli):
    """Issue #1 composed at SLOT and sent to three subscribers through the local outbox, its
    archive page built."""
    write_reviews(publication, 4)
    use_maildir(publication)
    add_subscribers(publication.config, 3, SLOT - timedelta(days=1))
    result = cli("run", now=SLOT + timedelta(minutes=1), env=SECRET)
    assert result.exit_code == 0, result.output
    assert (publication.root / "public" / "issues" / "1" / "index.html").is_file()
    assert len(outbox(publication)) == 3
    return publication


def test_a_lost_ledger_restored_from_an_export_does_not_send_issue_1_again(sent, cli, tmp_path):
    """The issue as filed: subscribers exported, the ledger lost, the export imported: the next
    run must not send issue #1 to everyone again."""
    export = tmp_path / "people.csv"
    assert cli("subscribers", "export", str(export)).exit_code == 0
    (sent.root / ".publisher" / "state.db").unlink()
    assert cli("subscribers", "import", str(export)).exit_code == 0
    write_reviews(sent, [{"slug": "later-film", "date": "2026-11-22"}])

    result = cli("run", now=SLOT + WEEK + timedelta(minutes=1), env=SECRET)
    assert result.exit_code == 1
    assert result.stderr == f"error: {lost_ledger_line(sent, 'holds no issue')}\n"
    assert len(outbox(sent)) == 3  # nobody got anything twice
    # and by hand, the same
    refused = cli("issue", "new")
    assert refused.exit_code == 1 and "already has an issue #1" in refused.stderr


def test_a_review_that_puts_a_page_where_the_next_issue_goes_is_named_at_its_line(sent, cli):
    """A review's alias at issues/2/ put a page where issue #2 goes: the next run took the
    ledger for lost ('already has an issue #2 … restore the latest backup') and no issue went
    out, with check calling the ledger lost. It is the review that is wrong, and it is named."""
    write_reviews(sent, [{"slug": "later-film", "date": "2026-11-22",
                          "aliases": ["issues/2/"]}])
    checked = cli("check", "--sources")
    assert checked.exit_code == 1
    assert "reviews/later-film.md:7: aliases: 'issues/2/' is in issues/" in checked.stderr
    result = cli("run", now=SLOT + WEEK + timedelta(minutes=1), env=SECRET)
    assert result.exit_code == 1
    assert "reviews/later-film.md:7: aliases: 'issues/2/' is in issues/" in result.stderr
    assert "already has an issue" not in result.stderr
    assert not (sent.root / "public" / "issues" / "2").exists()
    assert len(outbox(sent)) == 3

    write_reviews(sent, [{"slug": "later-film", "date": "2026-11-22"}])
    result = cli("run", now=SLOT + WEEK + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 0, result.output
    assert len(outbox(sent)) == 6


def test_backup_then_restore_keeps_the_ledger_whole(sent, cli, tmp_path):
    copy = tmp_path / "offsite" / "reel.db"
    made = cli("backup", str(copy))
    assert made.exit_code == 0, made.output
    assert made.stdout.startswith(f"wrote {copy}: 3 subscribers, 1 issue (1 sent or being sent)")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # every subscriber's address

    (sent.root / ".publisher" / "state.db").unlink()  # the disk the ledger was on is gone
    restored = cli("restore", str(copy))
    assert restored.exit_code == 0, restored.output
    assert restored.stdout == f"restored {copy}: 3 subscribers, 1 issue (1 sent or being sent)\n"
    assert restored.stderr == ""

    write_reviews(sent, [{"slug": "later-film", "date": "2026-11-22"}])
    result = cli("run", now=SLOT + WEEK + timedelta(minutes=1), env=SECRET)
    assert result.exit_code == 0, result.output
    assert "composed issue #2" in result.stdout
    assert len(outbox(sent)) == 6  # issue #2 to the three; issue #1 never again


def test_restoring_an_older_backup_names_the_archived_issues_it_does_not_know(sent, cli,
                                                                             tmp_path):
    old = tmp_path / "old.db"
    assert cli("backup", str(old)).exit_code == 0
    write_reviews(sent, [{"slug": "later-film", "date": "2026-11-22"}])
    assert cli("run", now=SLOT + WEEK + timedelta(minutes=1), env=SECRET).exit_code == 0
    restored = cli("restore", str(old))
    assert restored.exit_code == 0
    assert "the ledger it replaced is kept as " in restored.stdout
    assert restored.stderr == (
        "warning: public/issues/ has issue #2, which this backup does not know (sent after it "
        "was made?): composing those numbers is refused until a newer backup is restored, or "
        "public/issues/ is moved away\n")
    with pytest.raises(ComposeError, match="already has an issue #2"), \
            open_store(sent.config) as store:
        compose_issue(sent.config, store, load_reviews(sent.config), now=SLOT + 2 * WEEK)
    # the replaced ledger was kept: restoring it gives issue #2 back
    saved = restored.stdout.split("kept as ")[1].strip()
    assert cli("restore", saved).exit_code == 0
    with open_store(sent.config) as store:
        assert [r.number for r in store.issues()] == [1, 2]


def test_a_backup_is_a_consistent_snapshot_while_another_process_writes(sent, tmp_path):
    ledger = sent.root / ".publisher" / "state.db"
    writer = sqlite3.connect(ledger, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a run in the middle of recording, say
    writer.execute("UPDATE subscribers SET name = 'changed, not committed'")
    try:
        result = backup(sent.config, tmp_path / "snap.db", now=SLOT)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.ledger.subscribers == 3
    snap = sqlite3.connect(tmp_path / "snap.db")
    assert snap.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file, no -wal
    assert "changed, not committed" not in {n for (n,) in snap.execute(
        "SELECT name FROM subscribers")}
    snap.close()


def test_restore_refuses_what_is_not_an_undamaged_ledger(sent, tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 400)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        restore(sent.config, text, now=SLOT)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(StoreError, match="not a publisher ledger"):
        restore(sent.config, empty, now=SLOT)
    newer = tmp_path / "newer.db"
    backup(sent.config, newer, now=SLOT)
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="made by a newer publisher"):
        restore(sent.config, newer, now=SLOT)
    with open_store(sent.config) as store:  # the ledger is untouched by every refusal
        assert len(store.subscribers()) == 3


def test_restore_waits_for_no_run_and_migrates_an_older_backup(sent, tmp_path):
    good = tmp_path / "good.db"
    backup(sent.config, good, now=SLOT)
    with publication_lock(sent.config), pytest.raises(LockHeld):
        restore(sent.config, good, now=SLOT)
    old = tmp_path / "rev3.db"
    engine = create_engine(f"sqlite:///{old}")
    migrate(engine, "0003")
    engine.dispose()
    result = restore(sent.config, old, now=SLOT)
    assert result.ledger.current and result.ledger.subscribers == 0
    assert result.unknown_archived == (1,)


def test_restore_during_a_send_says_to_run_it_again_once_the_send_ends(sent, cli, tmp_path):
    good = tmp_path / "good.db"
    assert cli("backup", str(good)).exit_code == 0
    with publication_lock(sent.config):  # a send under way, as far as restore can tell
        result = cli("restore", str(good))
    assert result.exit_code == 1
    assert result.stderr == ("error: another publisher run holds the lock (pid "
                             f"{os.getpid()}); nothing done: run this command again once that "
                             "one ends\n")


def test_backup_refuses_another_database_in_one_line(publication, cli):
    publication.add_config('[state]\ndatabase = "postgresql://news@127.0.0.1/reel"\n')
    result = cli("backup")
    assert result.exit_code == 1
    assert result.stderr == (f"error: {publication.root / 'publisher.toml'}: state.database: "
                             "backup copies an SQLite ledger; back up another database with its "
                             "own tools (pg_dump)\n")


def test_an_sqlite_ledger_moves_to_postgresql_by_restoring_its_backup(sent, cli, tmp_path,
                                                                     postgres_url):
    # Before, restore refused any database but SQLite, while a run on the new, empty ledger
    # said to restore the latest backup: the only way on was to move public/issues/ away,
    # and issue #1 then went to everyone again.
    copy = tmp_path / "reel.db"
    assert cli("backup", str(copy)).exit_code == 0
    use_database(sent, postgres_url)
    restored = cli("restore", str(copy))
    assert restored.exit_code == 0, restored.output
    assert restored.stdout == f"restored {copy}: 3 subscribers, 1 issue (1 sent or being sent)\n"
    assert restored.stderr == ""
    # new rows take ids after the copied ones
    assert cli("subscribers", "add", "newcomer@example.net").exit_code == 0

    write_reviews(sent, [{"slug": "later-film", "date": "2026-11-22"}])
    result = cli("run", now=SLOT + WEEK + timedelta(minutes=1), env=SECRET)
    assert result.exit_code == 0, result.output
    assert "composed issue #2" in result.stdout
    assert len(outbox(sent)) == 7  # issue #2 to the four; issue #1 never again


def test_restore_into_postgresql_refuses_a_database_that_holds_a_ledger(sent, cli, tmp_path,
                                                                       postgres_url):
    copy = tmp_path / "reel.db"
    assert cli("backup", str(copy)).exit_code == 0
    use_database(sent, postgres_url)
    assert cli("subscribers", "add", "early@example.net").exit_code == 0
    result = cli("restore", str(copy))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {postgres_url} already holds a ledger (rows in subscribers (1)); restore into "
        "an empty database (dropdb, then createdb), so that nothing in it is lost or mixed with "
        "the backup\n")
    with open_store(sent.config) as store:
        assert [s.email for s in store.subscribers()] == ["early@example.net"]


def test_a_damaged_ledger_never_replaces_the_last_good_backup(sent, cli, tmp_path):
    copy = tmp_path / "backups" / "reel.db"
    assert cli("backup", str(copy)).exit_code == 0
    good = copy.read_bytes()
    with (sent.root / ".publisher" / "state.db").open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\xa5" * 8192)
    result = cli("backup", str(copy))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    ledger = sent.root / ".publisher" / "state.db"
    assert result.stderr.startswith(f"error: cannot back up {ledger}: the ledger is ")
    assert f"{copy} is left as it was" in result.stderr and "publisher restore" in result.stderr
    assert copy.read_bytes() == good
    assert [p.name for p in copy.parent.iterdir()] == ["reel.db"]  # no temporary file left


def test_a_backup_made_mid_send_restored_after_the_send_finished_sends_nothing_twice(
        sent, cli, tmp_path):
    """A nightly backup taken while issue #1 was going out, restored once it had gone: the
    backup's queued deliveries reached their readers after it was made. The archive page says
    the issue finished, so the issue is paused rather than sent again by the next cron run."""
    mid = tmp_path / "mid-send.db"
    assert cli("backup", str(mid)).exit_code == 0
    conn = sqlite3.connect(mid)  # as the backup was when two of the three were still queued
    conn.execute("UPDATE issues SET state = 'sending', sent_at = NULL WHERE number = 1")
    conn.execute("UPDATE deliveries SET status = 'queued' WHERE id IN "
                 "(SELECT id FROM deliveries ORDER BY id LIMIT 2)")
    conn.commit()
    conn.close()

    restored = cli("restore", str(mid))
    assert restored.exit_code == 0, restored.output
    assert restored.stderr.startswith("warning: issue #1 was unfinished in this backup, but "
                                      "public/issues/1/ shows it finished since: it is paused")
    result = cli("run", now=SLOT + timedelta(hours=1), env=SECRET)
    assert result.exit_code == 1
    assert "error: issue #1 paused: the ledger was restored from a backup made before issue " \
           "#1 finished sending" in result.stderr
    assert "'publisher issue send 1' sends them anyway" in result.stderr
    assert len(outbox(sent)) == 3  # nobody got issue #1 twice


def test_an_empty_ledger_never_replaces_the_last_good_backup(sent, cli, tmp_path):
    """A ledger file emptied (a bad copy, a full disk, a mistaken redirect) is an empty SQLite
    database: it passes quick_check, and must still not take the last good backup's place."""
    copy = tmp_path / "reel.db"
    assert cli("backup", str(copy)).exit_code == 0
    good = copy.read_bytes()
    ledger = sent.root / ".publisher" / "state.db"
    ledger.write_bytes(b"")
    result = cli("backup", str(copy))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert f"{copy} is left as it was" in result.stderr and "publisher restore" in result.stderr
    assert copy.read_bytes() == good
    # the copy itself is looked at, whether or not a web archive says issues were sent
    with pytest.raises(StoreError) as refused:
        write_backup(ledger, copy, known_revisions())
    assert str(refused.value) == (
        f"cannot back up {ledger}: it is an empty database, not a publisher ledger; {copy} is "
        "left as it was: restore the latest good backup with 'publisher restore FILE'")
    assert copy.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".reel.db")] == []


def test_a_ledger_of_a_newer_publisher_never_replaces_the_last_good_backup(sent, cli, tmp_path):
    copy = tmp_path / "reel.db"
    assert cli("backup", str(copy)).exit_code == 0
    good = copy.read_bytes()
    ledger = sent.root / ".publisher" / "state.db"
    conn = sqlite3.connect(ledger)
    conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.commit()
    conn.close()
    result = cli("backup", str(copy))
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr == (
        f"error: cannot back up {ledger}: its schema revision 9999_future is unknown: a newer "
        f"publisher wrote it; {copy} is left as it was: back it up with that publisher, or "
        "upgrade this one\n")
    assert copy.read_bytes() == good


def lost_ledger_line(sent, what: str) -> str:
    ledger = sent.root / ".publisher" / "state.db"
    return (f"sqlite:///{ledger} {what}, but the web archive has issue #1 (public/issues/1/): "
            "the ledger that sent it was lost, and a new one would send its readers those "
            "reviews again; restore the latest backup ('publisher restore FILE'), or, if those "
            "pages belong to a ledger you have given up, move public/issues/ away")


def test_a_lost_ledger_is_not_recreated_by_the_next_run(sent, cli):
    """Found at the next cron run, not at the next slot: no slot is due a day later."""
    shutil.rmtree(sent.root / ".publisher")
    result = cli("run", now=SLOT + timedelta(days=1), env=SECRET)
    assert result.exit_code == 1
    assert result.stderr == f"error: {lost_ledger_line(sent, 'is missing or empty')}\n"
    assert not (sent.root / ".publisher" / "state.db").exists()
    rehearsed = cli("run", "--dry-run", now=SLOT + timedelta(days=1), env=SECRET)
    assert rehearsed.exit_code == 1
    assert rehearsed.stderr == f"error: {lost_ledger_line(sent, 'is missing or empty')}\n"


def test_an_emptied_ledger_or_one_that_knows_no_issue_stops_the_run(sent, cli, tmp_path):
    ledger = sent.root / ".publisher" / "state.db"
    ledger.write_bytes(b"")
    result = cli("run", now=SLOT + timedelta(days=1), env=SECRET)
    assert result.exit_code == 1
    assert result.stderr == f"error: {lost_ledger_line(sent, 'is missing or empty')}\n"
    assert ledger.read_bytes() == b""
    # recreated by another command (subscribers imported from an export): still no issue #1
    ledger.unlink()
    add_subscribers(sent.config, 3, SLOT)
    result = cli("run", now=SLOT + timedelta(days=1), env=SECRET)
    assert result.exit_code == 1
    assert result.stderr == f"error: {lost_ledger_line(sent, 'holds no issue')}\n"


def test_check_calls_a_lost_ledger_an_error(sent, cli):
    shutil.rmtree(sent.root / ".publisher")
    result = cli("check", env=SECRET)
    assert result.exit_code == 1
    assert f"ledger: {lost_ledger_line(sent, 'is missing or empty')}" \
        in result.stderr.splitlines()
    assert "does not exist yet" not in result.stdout


def test_a_lost_ledger_never_replaces_the_last_good_backup(sent, cli, tmp_path):
    offsite = tmp_path / "offsite.db"
    assert cli("backup", str(offsite)).exit_code == 0
    good = offsite.read_bytes()
    shutil.rmtree(sent.root / ".publisher")
    add_subscribers(sent.config, 3, SLOT)  # a ledger made anew, holding no issue
    result = cli("backup", str(offsite))
    assert result.exit_code == 1
    assert result.stderr == (f"error: nothing backed up, {offsite} is left as it was: "
                             f"{lost_ledger_line(sent, 'holds no issue')}\n")
    assert offsite.read_bytes() == good
    # restoring is the way back, and the run goes on from there
    assert cli("restore", str(offsite)).exit_code == 0
    assert cli("run", now=SLOT + timedelta(days=1), env=SECRET).exit_code == 0
    assert cli("backup", str(offsite)).exit_code == 0


def test_a_new_publication_makes_its_ledger_as_before(publication, cli, tmp_path):
    """No public/issues/: nothing was sent, and the first command makes the ledger."""
    write_reviews(publication, 4)
    use_maildir(publication)
    checked = cli("check", env=SECRET)
    assert checked.exit_code == 0, checked.output
    assert "does not exist yet" in checked.stdout
    assert cli("run", now=SLOT - timedelta(days=1), env=SECRET).exit_code == 0
    assert (publication.root / ".publisher" / "state.db").is_file()
    assert cli("backup", str(tmp_path / "first.db")).exit_code == 0
