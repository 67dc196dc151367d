"""Rehearsal without consequences: `run --dry-run` says what a run would do and changes nothing;
a --now in the future drives the local outbox but never real mail."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from publisher.ledger.migrate import migrate
from publisher.ledger.store import open_store
from publisher.pipeline.lock import publication_lock
from tests.fixtures import SLOT, add_subscribers, use_maildir, use_smtp, write_reviews
from tests.mounts import read_only

SECRET = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and a digest of its bytes (SQLite's -wal and -shm beside a
    ledger opened read-only are left out: they hold no data)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm")) and "cache" not in p.parts}


@pytest.fixture
def due(publication, server):
    """Three reviews, five subscribers, the SMTP server as the relay, a slot due at SLOT."""
    write_reviews(publication, 3)
    use_smtp(publication, server.url)
    add_subscribers(publication.config, 5, SLOT - timedelta(days=1))
    return publication


def test_dry_run_says_what_a_run_would_do_and_does_none_of_it(due, cli, server):
    before = snapshot(due.root)
    result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "dry run: nothing is written, nothing is sent"
    assert lines[1].startswith("build: ") and lines[1].endswith(" files would be written to "
                                                                "public/")
    assert lines[2] == "issue due Fri 2026-11-20 09:00 GMT"
    assert lines[3] == ("would compose issue #1 for the slot Fri 2026-11-20 09:00 GMT: "
                        "Test Reel #1: Film 1 and 2 more")
    assert lines[4:7] == ["  1. Film 1 (Priya Raman, 2026-11-01)",
                          "  2. Film 2 (Priya Raman, 2026-11-02)",
                          "  3. Film 3 (Priya Raman, 2026-11-03)"]
    assert lines[7] == (f"deliver: issue #1: 5 deliveries (queued, one per active subscriber) "
                        f"via smtp://127.0.0.1:{server.port}, then its archive page in "
                        "public/issues/1/")
    assert server.handler.connections == 0 and server.messages == []
    assert snapshot(due.root) == before
    # and the run it rehearsed does exactly that
    real = cli("run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert real.exit_code == 0, real.output
    assert "composed issue #1" in real.stdout and len(server.messages) == 5


def test_dry_run_after_a_run_sees_retries_and_an_up_to_date_build(due, cli, server):
    server.fail("reader0001@example.net", "451", times=1)
    assert cli("run", now=SLOT + timedelta(minutes=3), env=SECRET).exit_code == 0
    later = SLOT + timedelta(hours=2)
    result = cli("run", "--dry-run", now=later, env=SECRET)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "build: public/ is up to date",
        "no issue due; next at Fri 2026-11-27 09:00 GMT",
        f"deliver: issue #1: 1 delivery (due now) via smtp://127.0.0.1:{server.port}, then its "
        "archive page in public/issues/1/",
    ]


def test_dry_run_reports_what_a_run_would_stop_on(due, cli):
    result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3),
                 env={"PUBLISHER_SECRET": None})
    assert result.exit_code == 1
    assert result.stderr == ("error: issue #1 would not be sent: PUBLISHER_SECRET is not set; it "
                             "signs unsubscribe links; set it to a long random string "
                             "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))' "
                             "makes one)\n")


def test_dry_run_says_the_build_would_fail_where_public_cannot_be_written(due, cli, server):
    (due.root / "public").write_text("not a directory\n")
    result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert result.exit_code == 1
    assert result.stderr == ("error: build would fail, feeds not updated: "
                             f"{due.root}/public is a file, not a directory; move it away\n")
    assert "would compose issue #1" in result.stdout  # as the real run goes on to send
    (due.root / "public").unlink()
    with read_only(due.root / "public"):
        result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert result.exit_code == 1
    assert result.stderr == ("error: build would fail, feeds not updated: "
                             f"{due.root}/public: not writable (read-only file system); a run "
                             "needs to write there\n")
    assert server.messages == []


def test_dry_run_creates_no_ledger_and_migrates_none(publication, cli):
    write_reviews(publication, 2)
    ledger = publication.root / ".publisher" / "state.db"
    result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert result.exit_code == 0, result.output
    assert "would compose issue #1" in result.stdout
    assert "deliver: issue #1: 0 deliveries" in result.stdout
    assert not ledger.exists()
    ledger.parent.mkdir()  # a dry run makes not even the directory
    engine = create_engine(f"sqlite:///{ledger}")
    migrate(engine, "0003")
    engine.dispose()
    result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert result.exit_code == 0, result.output
    assert "would compose issue #1" in result.stdout
    with create_engine(f"sqlite:///{ledger}").connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0003"


def test_dry_run_on_a_publication_never_run_leaves_no_trace(publication, cli):
    """"Nothing is written" holds for publisher's own directory too: not even the cache of
    parsed sources, which a first real run makes."""
    write_reviews(publication, 2)
    result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert result.exit_code == 0, result.output
    assert "would compose issue #1" in result.stdout
    assert not (publication.root / ".publisher").exists()


# --- --now in the future ------------------------------------------------------------------------

#: Five minutes after a slot at least two weeks ahead of the real clock (London is on GMT in
#: winter; in summer the slot is an hour earlier in UTC, still within the grace window).
FUTURE = SLOT + timedelta(weeks=(datetime.now(UTC) - SLOT).days // 7 + 3, minutes=5)


def test_a_future_clock_never_sends_real_mail(due, cli, server):
    result = cli("run", now=FUTURE, env=SECRET)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: --now {FUTURE.isoformat()} is in the future and "
                           f"smtp://127.0.0.1:{server.port} sends real mail")
    assert "'publisher run --dry-run'" in line
    assert server.messages == []
    with open_store(due.config) as store:
        assert store.issues() == []  # no issue dated in the future either
    assert not (due.root / "public").exists()
    assert cli("issue", "new").exit_code == 0
    for command in (("issue", "send", "1"), ("issue", "send", "1", "--to", "me@example.org"),
                    ("issue", "resend-ambiguous", "1")):
        refused = cli(*command, now=FUTURE, env=SECRET)
        assert refused.exit_code == 1 and "is in the future" in refused.stderr, command
    assert server.messages == []
    # rehearsing is what it is for
    assert cli("run", "--dry-run", now=FUTURE, env=SECRET).exit_code == 0
    assert cli("issue", "send", "1", "--dry-run", now=FUTURE, env=SECRET).exit_code == 0


def test_a_future_clock_drives_the_local_outbox(publication, cli):
    write_reviews(publication, 2)
    use_maildir(publication)
    add_subscribers(publication.config, 2, SLOT - timedelta(days=1))
    result = cli("run", now=FUTURE, env=SECRET)
    assert result.exit_code == 0, result.output
    assert "composed issue #1" in result.stdout


def test_a_future_clock_never_builds_a_scheduled_review_onto_the_site(publication, cli):
    # An editor looks ahead with `publisher --now <Christmas> build`: public/ is the site (and
    # the WebSub hub would fetch its feeds at once), so the review scheduled meanwhile must
    # not go there early.
    wall = datetime.now(UTC)
    scheduled = (wall + timedelta(days=7)).date().isoformat()
    write_reviews(publication, [{"slug": "out-now", "date": "2026-11-01"},
                                {"slug": "for-christmas", "date": scheduled}])
    publication.add_config('[feeds]\nhub = "http://127.0.0.1:9/"\n')
    later = wall + timedelta(days=14)
    result = cli("build", now=later)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    midnight = datetime.fromisoformat(scheduled).replace(tzinfo=publication.config.tz)
    assert line == (
        f"error: --now {later.isoformat()} is in the future: this build would publish "
        f"reviews/for-christmas.md (scheduled for {midnight:%a %Y-%m-%d %H:%M %Z}) before its "
        "time, in public/ and to the WebSub hub; see the site as it will be then with "
        f"'publisher --now {later.isoformat()} preview'")
    assert not (publication.root / "public").exists()
    assert not publication.config.paths.websub_queue.exists()
    # a clock ahead with nothing scheduled meanwhile, or the real one, builds as ever
    assert cli("build", now=wall + timedelta(days=1)).exit_code == 0
    assert not (publication.root / "public" / "reviews" / "for-christmas").exists()
    assert (publication.root / "public" / "reviews" / "out-now").is_dir()


def test_dry_run_says_when_another_run_holds_the_lock(due, cli):
    with publication_lock(due.config):
        result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == (
        f"another run holds the lock (pid {os.getpid()}): a run now would step aside and do "
        "nothing; what follows is what the next one would do")
    assert "would compose issue #1" in result.stdout
    again = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert "holds the lock" not in again.stdout


def test_dry_run_says_when_the_run_holding_the_lock_is_stuck(due, cli):
    with publication_lock(due.config):
        silent_since = time.time() - 45 * 60
        os.utime(due.config.paths.lock, (silent_since, silent_since))
        result = cli("run", "--dry-run", now=SLOT + timedelta(minutes=3), env=SECRET)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: another publisher run (pid {os.getpid()}, ")
    assert "has made no progress since" in result.stderr and "(45 minutes)" in result.stderr
    assert "step aside" not in result.stdout  # a run now would not: it would exit 3
    assert "would compose issue #1" in result.stdout


def test_dry_run_on_broken_sources_says_what_waits_for_them(due, cli):
    due.write_review("broken.md", "---\ntitle: Broken\n---\n")
    at = SLOT + timedelta(minutes=3)
    result = cli("run", "--dry-run", now=at, env=SECRET)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == ["build: none, the sources have problems",
                                              "issue due Fri 2026-11-20 09:00 GMT",
                                              "deliver: nothing to send"]
    first, second = result.stderr.splitlines()
    assert first.startswith("error: 2 problems in the sources: reviews/broken.md:1: ")
    assert second == ("error: no issue would be composed for the slot Fri 2026-11-20 09:00 "
                      "GMT: the sources have problems (above)")

    # a draft composed for the slot (the secret was missing) is made from the sources when
    # its sending starts: it waits for them too
    (due.root / "reviews" / "broken.md").unlink()
    assert cli("run", now=at, env={"PUBLISHER_SECRET": None}).exit_code == 1
    due.write_review("broken.md", "---\ntitle: Broken\n---\n")
    result = cli("run", "--dry-run", now=at + timedelta(minutes=1), env=SECRET)
    assert result.stderr.splitlines()[1:] == [
        "error: issue #1 would not be sent: the sources have problems (above)"]


def test_dry_run_on_broken_sources_still_delivers_an_issue_being_sent(due, cli, server):
    server.fail("reader0001@example.net", "451", times=1)
    assert cli("run", now=SLOT + timedelta(minutes=3), env=SECRET).exit_code == 0
    due.write_review("broken.md", "---\ntitle: Broken\n---\n")
    result = cli("run", "--dry-run", now=SLOT + timedelta(hours=2), env=SECRET)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == [
        "build: none, the sources have problems",
        "no issue due; next at Fri 2026-11-27 09:00 GMT",
        f"deliver: issue #1: 1 delivery (due now) via smtp://127.0.0.1:{server.port}, then its "
        "archive page with the first build after the sources are fixed",
    ]
    assert len(result.stderr.splitlines()) == 1
