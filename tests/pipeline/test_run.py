"""`publisher run` in-process: the lock, build, schedule, compose, deliver and archive steps,
against a real ledger under tmp_path, a real Maildir and a real SMTP server on loopback."""

from __future__ import annotations

import fcntl
import mailbox
import os
import re
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import psycopg
import pytest

from publisher.ledger.store import open_store
from publisher.pipeline import lock
from publisher.pipeline.issues import compose_issue
from publisher.pipeline.lock import heartbeat, run_lock
from publisher.pipeline.run import run_once
from publisher.sources import load_reviews
from tests.fixtures import (
    END_OF_TIME,
    EXAMPLE,
    SLOT,
    add_subscribers,
    free_port,
    run_cli,
    use_maildir,
    use_smtp,
    write_films,
    write_reviews,
)
from tests.smtpserver import SmtpServer


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("PUBLISHER_SECRET", "test-secret-not-for-production-use")


class Lines(list):
    """An echo that remembers what was said."""

    def __call__(self, line: str) -> None:
        self.append(line)

    def text(self) -> str:
        return "\n".join(self)


def run(config, now, **kwargs):
    lines = Lines()
    report = run_once(config, now=now, echo=lines, **kwargs)
    return report, lines


def ledger(config):
    with open_store(config) as store:
        return store.issues(), store.slot_history(END_OF_TIME).last


def maildir_count(config) -> int:
    return len(mailbox.Maildir(config.root / ".publisher" / "outbox", create=False))


# --- a due slot, end to end -------------------------------------------------------------------


def ready_to_send(publication, *, reviews: int, subscribers: int):
    """The publication with ``reviews`` reviews, a Maildir outbox and ``subscribers`` readers
    who joined the day before SLOT: its config."""
    write_reviews(publication, reviews)
    use_maildir(publication)
    add_subscribers(publication.config, subscribers, SLOT - timedelta(days=1))
    return publication.config


def test_due_slot_composes_sends_and_archives_then_the_next_run_does_nothing(publication,
                                                                              server):
    write_reviews(publication, 3)
    use_smtp(publication, server.url)
    config = publication.config
    addresses = add_subscribers(config, 20, SLOT - timedelta(days=1))
    now = SLOT + timedelta(minutes=4)

    report, lines = run(config, now)

    assert report.exit_code == 0 and report.problem is None, lines
    assert report.outcome == "issued" and report.issue == 1
    assert report.decision.slot == SLOT
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == addresses
    issues, last = ledger(config)
    assert [(i.number, i.state, i.slot) for i in issues] == [(1, "sent", SLOT)]
    assert last == SLOT
    assert report.archived == (1,)
    assert (config.output_path / "issues" / "1" / "index.html").is_file()
    feed = feedparser.parse((config.output_path / "feed.xml").read_bytes())
    assert not feed.bozo and len(feed.entries) == 3
    assert any(line.startswith("composed issue #1 (issue due Fri 2026-11-20 09:00 GMT)")
               for line in lines)
    assert any(line.startswith("issue #1: 20 sent") for line in lines)

    # cron fires again five minutes later, and again at the same instant (double firing)
    for again in (now + timedelta(minutes=5), now):
        report, lines = run(config, again)
        assert report.exit_code == 0 and report.issue is None and report.outcome is None
        assert lines == []  # quiet: nothing happened
    assert len(server.messages) == 20
    assert [i.number for i in ledger(config)[0]] == [1]


def test_an_issue_gmail_would_clip_is_sent_with_a_warning_in_the_runs_log(publication):
    write_reviews(publication, [{"body": "A long review. " * 400} for _ in range(30)])
    publication.add_config("[newsletter]\nmax_reviews = 30\nexcerpt_words = 400\n")
    config = publication.config
    add_subscribers(config, 2, SLOT - timedelta(days=1))
    report, lines = run(config, SLOT + timedelta(minutes=4))
    assert report.exit_code == 0 and report.issue == 1
    [warning] = [line for line in lines if line.startswith("warning: issue #1: ")]
    assert "Gmail clips messages whose HTML passes 102 KB" in warning
    assert maildir_count(config) == 2


def test_before_the_slot_nothing_is_composed_but_feeds_are_built(publication):
    write_reviews(publication, 2)
    config = publication.config
    # A brand-new publication's first run finds the latest slot a week old: it passed before the
    # publication existed, so it is recorded (--catch-up will not send it) without a "skipped".
    report, lines = run(config, SLOT - timedelta(seconds=1))
    assert report.exit_code == 0 and report.issue is None and report.outcome is None
    assert lines == [f"build: {report.written} files written to public/"]
    assert report.decision.reason == (
        "no issue due: the last scheduled time, Fri 2026-11-13 09:00 GMT, passed before this "
        "publication's first run; next at Fri 2026-11-20 09:00 GMT")
    assert (config.output_path / "feed.xml").is_file()
    assert ledger(config) == ([], SLOT - timedelta(days=7))

    report, lines = run(config, SLOT - timedelta(seconds=1))
    assert report.exit_code == 0 and report.issue is None and report.outcome is None
    assert report.decision.reason == "no issue due; next at Fri 2026-11-20 09:00 GMT"
    assert lines == []


def test_a_list_imported_with_its_join_dates_does_not_make_the_first_run_skip(publication,
                                                                              tmp_path):
    # Another tool's export keeps when each reader joined it, years ago: the publication's
    # ledger still began with the import, after the last slot.
    write_reviews(publication, 2)
    config = publication.config
    export = tmp_path / "substack.csv"
    export.write_text("email,created_at\nann@example.net,2023-05-01T10:00:00.000Z\n")
    with open_store(config) as store:
        store.import_subscribers_csv(export, now=SLOT - timedelta(days=2))
    report, lines = run(config, SLOT - timedelta(seconds=1))
    assert report.outcome is None and not any("skipped" in line for line in lines)
    assert report.decision.reason.startswith("no issue due: the last scheduled time, Fri "
                                             "2026-11-13 09:00 GMT, passed before this "
                                             "publication's first run")


def test_fewer_than_min_reviews_records_the_slot_as_empty(publication):
    write_reviews(publication, 1, first=SLOT.date() + timedelta(days=3))  # not yet published
    config = publication.config
    report, lines = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 0 and report.outcome == "empty" and report.issue is None
    assert "no issue for the slot Fri 2026-11-20 09:00 GMT: only 0 new published reviews" \
        in lines.text()
    assert ledger(config) == ([], SLOT)
    # the review is published by the next Friday: that slot gets the issue
    use_maildir(publication)
    add_subscribers(publication.config, 2, SLOT)
    report, lines = run(publication.config, SLOT + timedelta(days=7, minutes=1))
    assert report.issue == 1 and report.exit_code == 0
    assert maildir_count(config) == 2


# --- grace, skip and catch-up -----------------------------------------------------------------


def test_a_newsletter_started_with_a_back_catalogue_mails_the_newest_and_says_so(publication,
                                                                                 cli):
    # Imported from the old site: more than max_reviews (10).
    config = ready_to_send(publication, reviews=14, subscribers=2)
    said = ("issue #1 is the newsletter's first: it holds the newest reviews, and the 4 older "
            "published reviews are the back catalogue, on the site and in the feeds but never "
            "mailed")

    rehearsal = cli("run", "--dry-run", now=SLOT + timedelta(minutes=1))
    assert rehearsal.exit_code == 0, rehearsal.output
    assert "  1. Film 5 (Priya Raman, 2026-11-05)" in rehearsal.stdout
    assert f"  ({said})" in rehearsal.stdout

    report, lines = run(config, SLOT + timedelta(minutes=1))
    assert report.issue == 1 and said in lines
    [issue], _ = ledger(config)
    assert [rid.rsplit(":", 1)[1] for rid in issue.review_ids] == [
        f"film-{n}" for n in range(5, 15)]
    assert (config.output_path / "reviews" / "film-1" / "index.html").is_file()

    # The next slot mails what is new since, and nothing of the back catalogue.
    write_reviews(publication, 1, first=SLOT.date() + timedelta(days=2), prefix="new")
    report, lines = run(config, SLOT + timedelta(days=7, minutes=1))
    issues, _ = ledger(config)
    assert [rid.rsplit(":", 1)[1] for rid in issues[1].review_ids] == ["new-1"]
    assert not any("back catalogue" in line for line in lines)


def test_an_old_review_added_after_the_first_issue_is_named_once_as_never_mailed(publication,
                                                                                 cli):
    """A review dated before the newsletter's start is back catalogue: the editor who adds one
    expecting the next issue to carry it hears so from check, and once from the run whose
    build publishes it; not from every run after."""
    # 1-3 November: issue #1 holds all three.
    config = ready_to_send(publication, reviews=3, subscribers=2)
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.issue == 1
    write_reviews(publication, [{"slug": "old-gem", "date": "2026-10-12"}])
    said = ("warning: reviews/old-gem.md:3: date: 2026-10-12 is before the oldest review an "
            "issue has mailed (2026-11-01), so no issue will carry this review: it is back "
            "catalogue, on the site and in the feeds only; if it is new, date it today and the "
            "next issue carries it")
    checked = cli("check", now=SLOT + timedelta(hours=2))
    assert said in checked.stderr.splitlines()
    report, lines = run(config, SLOT + timedelta(hours=2))
    assert report.exit_code == 0, report.problem
    assert said in lines
    report, lines = run(config, SLOT + timedelta(hours=3))
    assert not any("old-gem" in line for line in lines)
    assert "old-gem" not in cli("check", now=SLOT + timedelta(hours=3)).stderr


def test_a_review_the_next_issue_carries_is_not_called_back_catalogue(publication, cli):
    # The oldest reviews issue #1 mailed are made drafts: the newsletter still started on the
    # first one's date, so a review added since, dated after it, is the next issue's.
    write_reviews(publication, 3)  # 1-3 November: issue #1 holds all three
    use_maildir(publication)
    config = publication.config
    add_subscribers(config, 2, SLOT - timedelta(days=1))
    assert run(config, SLOT + timedelta(minutes=1))[0].issue == 1
    for n in (1, 2):
        mailed = publication.root / "reviews" / f"film-{n}.md"
        mailed.write_text(mailed.read_text().replace("rating: 4", "rating: 4\ndraft: true"))
    write_reviews(publication, [{"slug": "late-arrival", "date": "2026-11-02"}])
    checked = cli("check", now=SLOT + timedelta(hours=2))
    report, lines = run(config, SLOT + timedelta(hours=2))
    assert "late-arrival" not in checked.stderr
    assert not any("late-arrival" in line for line in lines)
    report, _ = run(config, SLOT + timedelta(days=7, minutes=1))
    issues, _ = ledger(config)
    assert [rid.rsplit(":", 1)[1] for rid in issues[1].review_ids] == ["late-arrival"]


def _rename_file(publication):
    review = publication.root / "reviews" / "film-2.md"
    review.rename(review.with_name("film-two.md"))


def _correct_date(publication):
    review = publication.root / "reviews" / "film-2.md"
    review.write_text(review.read_text().replace("date: 2026-11-02", "date: 2026-11-03"))


def _move_domain(publication):
    toml = publication.root / "publisher.toml"
    toml.write_text(toml.read_text().replace("https://reel.test/", "https://www.reel.test/"))


@pytest.mark.parametrize("edit", [_rename_file, _correct_date, _move_domain])
@pytest.mark.parametrize("sent_by", ["this publisher", "an older publisher"])
def test_a_review_mailed_once_is_not_mailed_again_under_its_new_feed_id(publication, edit,
                                                                       sent_by):
    # Each edit gives reviews without an id: line a new one; the issue that mailed them
    # holds the old, and readers must not get the same review twice. Issues sent before the
    # ledger froze them (migration 0004) hold only their reviews' ids: the first run after
    # the upgrade keeps what they are while the sources still hold them under those ids, so
    # that a file renamed later is still known for one mailed.
    write_reviews(publication, 2)
    use_maildir(publication)
    add_subscribers(publication.config, 2, SLOT - timedelta(days=1))
    assert run(publication.config, SLOT + timedelta(minutes=1))[0].issue == 1
    if sent_by == "an older publisher":
        with sqlite3.connect(publication.root / ".publisher" / "state.db") as db:
            db.execute("UPDATE issues SET frozen_issue = NULL, frozen_digest = NULL")
        db.close()
        report, _ = run(publication.config, SLOT + timedelta(days=1))  # cron's, after upgrading
        assert report.exit_code == 0 and report.issue is None
    edit(publication)
    write_reviews(publication, 1, first=SLOT.date() + timedelta(days=2), prefix="new")

    report, lines = run(publication.config, SLOT + timedelta(days=7, minutes=1))
    assert report.issue == 2, lines
    issues, _ = ledger(publication.config)
    assert [rid.rsplit(":", 1)[1] for rid in issues[1].review_ids] == ["new-1"]
    assert maildir_count(publication.config) == 4


def test_a_slot_beyond_grace_is_skipped_and_its_reviews_roll_into_the_next_issue(publication):
    config = ready_to_send(publication, reviews=3, subscribers=3)

    report, lines = run(config, SLOT + timedelta(days=2))
    assert report.exit_code == 0 and report.outcome == "skipped" and report.issue is None
    assert report.decision.skipped == (SLOT,)
    assert ("skipped the issue due Fri 2026-11-20 09:00 GMT: 2.0 days late, beyond the 36 h "
            "grace") in lines.text()
    assert ledger(config) == ([], SLOT)

    write_reviews(publication, 1, first=SLOT.date() + timedelta(days=3), prefix="late")
    report, lines = run(config, SLOT + timedelta(days=7, minutes=1))
    assert report.issue == 1
    issues, last = ledger(config)
    assert len(issues[0].review_ids) == 4  # the skipped slot's three, and the new one
    assert last == SLOT + timedelta(days=7)
    assert maildir_count(config) == 3


def test_catch_up_sends_a_late_slot_on_purpose(publication):
    config = ready_to_send(publication, reviews=2, subscribers=4)
    report, lines = run(config, SLOT + timedelta(days=3), catch_up=True)
    assert report.exit_code == 0 and report.issue == 1
    assert "3.0 days late, caught up on request" in lines.text()
    assert ledger(config)[0][0].slot == SLOT
    assert maildir_count(config) == 4


def test_catch_up_after_a_recorded_skip_sends_once(publication):
    config = ready_to_send(publication, reviews=2, subscribers=4)
    later = SLOT + timedelta(days=3)
    assert run(config, later)[0].outcome == "skipped"  # cron got there first

    # a review that does not load: nothing to catch up from, and nothing recorded
    publication.write_review("broken.md", "---\ntitle: Broken\n---\n")
    report, lines = run(config, later + timedelta(minutes=5), catch_up=True)
    assert report.exit_code == 1 and report.issue is None
    assert report.problems[1:] == ("nothing caught up for the skipped slot Fri 2026-11-20 "
                                   "09:00 GMT: the sources have problems (above)",)
    (publication.root / "reviews" / "broken.md").unlink()

    report, lines = run(config, later + timedelta(minutes=10), catch_up=True)
    assert report.exit_code == 0 and report.issue == 1
    assert "for the skipped slot Fri 2026-11-20 09:00 GMT, caught up on request" in lines.text()
    assert maildir_count(config) == 4

    # typed twice: nothing more
    report, lines = run(config, later + timedelta(minutes=11), catch_up=True)
    assert report.issue is None and report.exit_code == 0
    assert maildir_count(config) == 4
    assert len(ledger(config)[0]) == 1


# --- a clock that was ahead, an edited schedule ------------------------------------------------


def test_a_slot_recorded_while_the_clock_was_ahead_does_not_stop_the_newsletter(publication):
    config = ready_to_send(publication, reviews=2, subscribers=2)
    assert run(config, SLOT + timedelta(minutes=4))[0].issue == 1
    ahead = SLOT + timedelta(weeks=8)  # one cron run while the clock was eight weeks ahead
    write_reviews(publication, 1, first=SLOT.date() + timedelta(days=1), prefix="early")
    assert run(config, ahead + timedelta(minutes=4))[0].issue == 2

    # The clock is right again: the next Friday's issue goes out, and says why once.
    write_reviews(publication, 1, first=SLOT.date() + timedelta(days=3), prefix="week")
    week = SLOT + timedelta(days=7)
    report, lines = run(config, week + timedelta(minutes=4))
    assert report.exit_code == 0 and report.issue == 3 and report.decision.slot == week
    warning = ("warning: the ledger holds the slot Fri 2027-01-15 09:00 GMT, later than the "
               "clock (Fri 2026-11-27 09:04 GMT): the clock was ahead when a run recorded it, "
               "or is behind now; issues go on from the slots before it, and nothing more goes "
               "out for Fri 2027-01-15 09:00 GMT when that time comes")
    assert warning in lines
    report, lines = run(config, week + timedelta(minutes=9))
    assert report.issue is None and not any(line.startswith("warning:") for line in lines)
    # When the clock reaches the slot recorded ahead, it has had its issue.
    write_reviews(publication, 1, first=ahead.date() - timedelta(days=2), prefix="late")
    report, lines = run(config, ahead + timedelta(minutes=4))
    assert report.issue is None and report.outcome is None
    assert [i.number for i in ledger(config)[0]] == [1, 2, 3]
    assert run(config, ahead + timedelta(weeks=1, minutes=4))[0].issue == 4


def test_an_edited_schedule_does_not_send_a_time_of_its_own_that_passed_before(publication,
                                                                               cli):
    config = ready_to_send(publication, reviews=3, subscribers=2)
    assert run(config, SLOT + timedelta(minutes=4))[0].issue == 1
    write_reviews(publication, 1, first=SLOT.date() + timedelta(days=1), prefix="new")
    # Saturday 10:00: the editor moves the newsletter to Saturdays 08:00. Two hours ago is a
    # Saturday 08:00, but one before the edit: issue #2 must not follow #1 a day later.
    publication.add_config('[newsletter]\nschedule = "0 8 * * SAT"\n')
    config = publication.config
    saturday = SLOT + timedelta(days=1, hours=1)
    rehearsal = cli("run", "--dry-run", now=saturday)
    assert ("no issue due: newsletter.schedule was edited since the last slot, Fri 2026-11-20 "
            "09:00 GMT, and takes effect from the next time it names, not from Sat 2026-11-21 "
            "08:00 GMT, which had passed; next at Sat 2026-11-28 08:00 GMT"
            ) in rehearsal.stdout.splitlines()
    report, lines = run(config, saturday + timedelta(minutes=5))
    assert report.exit_code == 0 and report.issue is None and report.outcome is None
    assert not any("skipped" in line for line in lines)
    assert ledger(config)[1] == SLOT + timedelta(days=1, hours=-1)  # recorded: not sent later
    assert run(config, saturday + timedelta(minutes=10))[0].issue is None
    report, lines = run(config, SLOT + timedelta(days=8, minutes=-56))
    assert report.issue == 2 and report.decision.slot == SLOT + timedelta(days=8, hours=-1)

    # Thursdays, from the Saturday 09:00 after: no Thursday has passed since that slot, so the
    # next is the first of the new schedule.
    write_reviews(publication, 1, first=SLOT.date() + timedelta(days=9), prefix="thu")
    toml = publication.root / "publisher.toml"
    toml.write_text(toml.read_text().replace('"0 8 * * SAT"', '"0 9 * * THU"'))
    config = publication.config
    assert run(config, SLOT + timedelta(days=8, hours=1))[0].issue is None
    report, _ = run(config, SLOT + timedelta(days=13, minutes=4))
    assert report.issue == 3 and report.decision.slot == SLOT + timedelta(days=13)


# --- problems a person must act on --------------------------------------------------------------


def undated(name: str) -> str:
    """The line a run gives when reviews/NAME has no date and no reviewer."""
    return (f"2 problems in the sources: reviews/{name}:1: date: missing; every review needs "
            "a date (and 1 more); nothing is built and no issue composed until they are fixed "
            "('publisher check' lists them)")


def test_invalid_sources_build_nothing_and_leave_the_due_slot_open_until_fixed(publication):
    write_reviews(publication, 2)
    publication.write_review("broken.md", "---\ntitle: Broken\n---\nNo date, no reviewer.\n")
    config = publication.config
    report, lines = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 1
    assert report.problems == (
        undated("broken.md"),
        "no issue composed for the slot Fri 2026-11-20 09:00 GMT: the sources have "
        "problems (above)")
    assert not (config.output_path / "feed.xml").exists()
    assert ledger(config) == ([], None)

    # fixed within the slot's grace period: the next run composes and sends the slot's issue
    (publication.root / "reviews" / "broken.md").unlink()
    report, lines = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 0, report.problems
    assert report.outcome == "issued" and report.issue == 1
    assert (config.output_path / "feed.xml").is_file()


def test_an_issue_half_sent_goes_on_while_the_sources_are_broken(publication):
    # Issue #1 is frozen and queued, but the relay refused the connection; before the next
    # run a reviewer saves a review with no date. The subscribers still get the issue.
    write_reviews(publication, 2)
    port = free_port()
    use_smtp(publication, f"smtp://127.0.0.1:{port}")
    add_subscribers(publication.config, 5, SLOT - timedelta(days=1))
    report, _ = run(publication.config, SLOT + timedelta(minutes=1))
    assert report.problem.startswith("issue #1 not sent: cannot connect")
    assert not (publication.config.output_path / "issues" / "1").exists()
    publication.write_review("half-written.md", "---\ntitle: Half written\n---\n")

    with SmtpServer() as srv:
        text = (publication.root / "publisher.toml").read_text()
        publication.write_config(text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{srv.port}"))
        config = publication.config
        report, lines = run(config, SLOT + timedelta(minutes=6))
        assert report.exit_code == 1
        assert report.problems == (undated("half-written.md"),)
        assert len(srv.messages) == 5
        assert [(i.number, i.state) for i in ledger(config)[0]] == [(1, "sent")]
        assert report.archived == (1,) and report.written == 0
        assert not (config.output_path / "issues" / "1").exists()

        # the fix: the first run after it builds the archive page, and sends nothing again
        (publication.root / "reviews" / "half-written.md").unlink()
        report, lines = run(config, SLOT + timedelta(minutes=11))
        assert report.exit_code == 0, report.problems
        assert (config.output_path / "issues" / "1" / "index.html").is_file()
        assert len(srv.messages) == 5


def composed_without_the_secret(publication, monkeypatch):
    """Two reviews, three subscribers, and a run at the slot without PUBLISHER_SECRET: issue
    #1 composed, a draft. (config, that run's report)."""
    config = ready_to_send(publication, reviews=2, subscribers=3)
    monkeypatch.delenv("PUBLISHER_SECRET")
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert ledger(config)[0][0].state == "draft"
    return config, report


def test_a_draft_not_yet_frozen_waits_for_the_sources(publication, monkeypatch):
    # Composed for its slot while the secret was missing: a draft, made from the sources when
    # its sending starts. With the sources broken it waits; once they are fixed it goes out.
    config, _report = composed_without_the_secret(publication, monkeypatch)
    monkeypatch.setenv("PUBLISHER_SECRET", "now-it-is-set")
    publication.write_review("broken.md", "---\ntitle: Broken\n---\n")

    report, _ = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 1
    assert report.problems[1:] == (
        "issue #1: not sent yet: a draft is made from the review sources when its sending "
        "starts, and they have problems (above); the first run after they are fixed sends it",)
    assert ledger(config)[0][0].state == "draft"
    assert not (config.root / ".publisher" / "outbox").exists()  # nothing was sent

    (publication.root / "reviews" / "broken.md").unlink()
    report, _ = run(config, SLOT + timedelta(minutes=11))
    assert report.exit_code == 0, report.problems
    assert ledger(config)[0][0].state == "sent"
    assert maildir_count(config) == 3


def test_without_the_secret_the_issue_waits_and_goes_out_on_the_next_run(publication,
                                                                         monkeypatch):
    config, report = composed_without_the_secret(publication, monkeypatch)
    assert report.exit_code == 1 and report.issue == 1
    assert report.problem == ("issue #1 not sent: PUBLISHER_SECRET is not set; it signs "
                              "unsubscribe links; set it to a long random string (python3 -c "
                              "'import secrets; print(secrets.token_urlsafe(32))' makes one)")
    assert ledger(config)[0][0].state == "draft"

    monkeypatch.setenv("PUBLISHER_SECRET", "now-it-is-set")
    report, lines = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 0 and report.issue is None  # nothing new composed...
    assert [n for n, _ in report.delivered] == [1]  # ...but the waiting draft was sent
    assert ledger(config)[0][0].state == "sent"
    assert maildir_count(config) == 3


def test_refused_connection_is_one_line_and_the_next_run_delivers(publication):
    write_reviews(publication, 2)
    port = free_port()
    use_smtp(publication, f"smtp://127.0.0.1:{port}")
    config = publication.config
    add_subscribers(config, 5, SLOT - timedelta(days=1))
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 1
    assert report.problem == (f"issue #1 not sent: cannot connect to smtp://127.0.0.1:{port}: "
                              "connection refused")
    with open_store(config) as store:
        assert store.delivery_counts(1)["sent"] == 0
        assert store.delivery_counts(1)["queued"] == 5

    with SmtpServer() as srv:
        text = (publication.root / "publisher.toml").read_text()
        publication.write_config(text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{srv.port}"))
        report, _ = run(publication.config, SLOT + timedelta(minutes=6))
        assert report.exit_code == 0, report.problem
        assert len(srv.messages) == 5


def test_policy_refusal_pauses_the_issue_with_one_line(publication, server, cli):
    write_reviews(publication, 2)
    use_smtp(publication, server.url, connections=1)
    config = publication.config
    addresses = add_subscribers(config, 6, SLOT - timedelta(days=1))
    server.fail(addresses[2], "554", times=1)
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 1
    assert report.problem.startswith(f"issue #1 paused: the server refused {addresses[2]} for "
                                     "policy reasons")
    with open_store(config) as store:
        assert store.subscribers("active") and len(store.subscribers("active")) == 6
    # cron runs again: the pause holds (no knocking on a relay that refuses us), still one line
    sent_before = len(server.messages)
    report, _ = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 1 and report.problem.startswith("issue #1 paused:")
    assert "'publisher issue send 1' resumes it" in report.problem
    assert len(server.messages) == sent_before
    # a person fixed the cause (the fault fired once) and resumes: the issue is finished
    result = cli("issue", "send", "1", now=SLOT + timedelta(minutes=8))
    assert result.exit_code == 0, result.output
    report, _ = run(config, SLOT + timedelta(minutes=11))
    assert report.exit_code == 0, report.problem
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == addresses


def test_an_issue_whose_last_retry_left_with_its_subscriber_is_finished(publication, server):
    write_reviews(publication, 2)
    use_smtp(publication, server.url, connections=1)
    config = publication.config
    addresses = add_subscribers(config, 3, SLOT - timedelta(days=1))
    server.fail(addresses[0], "451")
    report, lines = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 0 and ledger(config)[0][0].state == "sending"
    # On the web with the first copy accepted: readers who have it follow its link at once,
    # while a greylisted address kept the page a 404 until its retries ended, days later.
    assert report.archived == (1,) and "archive: issue #1 published" in " ".join(lines)
    assert (config.output_path / "issues/1/index.html").is_file()
    atom = feedparser.parse((config.output_path / "issues" / "atom.xml").read_bytes())
    assert [e.link for e in atom.entries] == ["https://reel.test/issues/1/"]
    with open_store(config) as store:  # the one waiting for a retry unsubscribes meanwhile
        store.set_subscriber_status(addresses[0], "unsubscribed", now=SLOT + timedelta(minutes=2))

    report, lines = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 0, report.problem
    # Leaving the list is no failure of the issue: counted apart.
    assert lines[0] == ("issue #1: nothing left to send (2 sent, 0 bounced, 0 failed, 1 skipped: "
                        "left the list); issue #1 is sent")
    issues, _ = ledger(config)
    assert issues[0].state == "sent" and issues[0].sent_at == SLOT + timedelta(minutes=6)
    assert report.archived == () and (config.output_path / "issues/1/index.html").is_file()
    assert len(server.messages) == 2


def test_an_issue_whose_retries_end_the_next_day_is_archived_under_the_day_it_went_out(
        publication, server):
    write_reviews(publication, 2)
    use_smtp(publication, server.url, connections=1)
    config = publication.config
    addresses = add_subscribers(config, 3, SLOT - timedelta(days=1))
    server.fail(addresses[0], "451", times=3)  # greylisted: its retries end the next day
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 0 and ledger(config)[0][0].state == "sending"
    for later in (timedelta(minutes=10), timedelta(hours=1), timedelta(days=1)):
        report, _ = run(config, SLOT + later)
        assert report.exit_code == 0, report.problem
    issue = ledger(config)[0][0]
    assert issue.state == "sent" and issue.sent_at == SLOT + timedelta(days=1)
    assert len(server.messages) == 3

    mailed = server.messages[0].message
    body = mailed.get_body(("plain",)).get_content()
    assert "20 November 2026" in body and "21 November 2026" not in body
    page = (config.output_path / "issues" / "1" / "index.html").read_text()
    assert "20 November 2026" in page and "21 November 2026" not in page
    atom = feedparser.parse((config.output_path / "issues" / "atom.xml").read_bytes())
    assert atom.entries[0].updated == "2026-11-20T09:01:00Z"


def test_ambiguous_deliveries_are_reported_on_every_run_until_someone_decides(publication, server,
                                                                              cli):
    write_reviews(publication, 2)
    use_smtp(publication, server.url, connections=1)
    config = publication.config
    addresses = add_subscribers(config, 5, SLOT - timedelta(days=1))
    server.fail(addresses[1], "drop_after_data", times=1)
    report, lines = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 1
    assert report.problem.startswith("issue #1: 1 delivery is ambiguous")
    assert "resend-ambiguous 1" in report.problem
    assert len(server.received_by(addresses[1])) == 1  # it did arrive; the client cannot know

    report, lines = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 1 and report.delivered == ()
    assert addresses[1] in lines.text()  # listed by name on this run too
    assert all(len(server.received_by(a)) == 1 for a in addresses)

    # someone checks the relay's log and settles them as delivered: runs are clean again
    result = cli("issue", "settle-ambiguous", "1", now=SLOT + timedelta(minutes=8))
    assert result.exit_code == 0, result.output
    assert "1 ambiguous delivery recorded as delivered; the issue is sent" in result.output
    report, _ = run(config, SLOT + timedelta(minutes=11))
    assert report.exit_code == 0, report.problem
    assert all(len(server.received_by(a)) == 1 for a in addresses)


# --- the lock ---------------------------------------------------------------------------------


def test_a_run_steps_aside_while_another_holds_the_lock(publication):
    write_reviews(publication, 2)
    config = publication.config
    with run_lock(config.paths.lock) as pid:
        report, lines = run(config, SLOT + timedelta(minutes=1))
    assert report.locked_by == pid and report.exit_code == 0
    assert lines == [f"another publisher run holds the lock (pid {pid}); nothing done"]
    assert not config.output_path.exists()
    assert ledger(config) == ([], None)


def test_a_run_says_when_the_run_holding_the_lock_is_stuck_and_exits_3(publication, cli):
    # A run stopped (kill -STOP) or blocked on a dead mount keeps its lock for ever: cron's
    # later runs must not step aside as if all were well, and monitoring must see it.
    write_reviews(publication, 2)
    config = publication.config
    at = SLOT + timedelta(minutes=1)
    with run_lock(config.paths.lock) as pid:
        silent_since = time.time() - 31 * 60
        os.utime(config.paths.lock, (silent_since, silent_since))
        result = cli("run", now=at)
    assert result.exit_code == 3
    assert result.stdout == ""
    last = datetime.fromtimestamp(silent_since).astimezone().isoformat(timespec="seconds")
    assert re.fullmatch(
        rf"error: another publisher run \(pid {pid}, started \S+\) holds the lock and has made "
        rf"no progress since {re.escape(last)} \(31 minutes\): it is stopped or blocked \(a "
        r"dead mount, a mail server that stopped answering\); look at it \('ps -o "
        rf"pid,stat,wchan:20,args -p {pid}'\) and stop it \('kill {pid}', then 'kill -9 {pid}' "
        r"if it does not exit\): the next run goes on where it stopped, sending nothing twice "
        r"and naming what it had in flight as ambiguous, if anything\n", result.stderr)
    assert not config.output_path.exists()


def test_a_run_an_older_publisher_started_is_not_called_stuck_for_want_of_a_heartbeat(
        publication, cli):
    # publisher upgraded while the old one sends an issue paced by rate_limit: the old one
    # holds the lock as it did (its pid alone in the file) and never beats a heartbeat, so its
    # silence says nothing. Telling the operator to kill it would cut a healthy send short;
    # later runs step aside as they did before heartbeats, until it ends.
    write_reviews(publication, 2)
    config = publication.config
    config.paths.lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(config.paths.lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")  # what publishers before the heartbeat wrote
        taken = time.time() - 3 * 3600
        os.utime(config.paths.lock, (taken, taken))
        result = cli("run", now=SLOT + timedelta(minutes=1))
        checked = cli("check")
    finally:
        os.close(fd)
    assert result.exit_code == 0, result.output
    assert result.output == "another publisher run holds the lock (pid 4242); nothing done\n"
    assert "no progress" not in checked.output


def test_a_run_making_progress_is_not_called_stuck_however_long_it_has_held_the_lock(
        publication, cli, monkeypatch):
    write_reviews(publication, 2)
    config = publication.config
    monkeypatch.setattr(lock, "HEARTBEAT_EVERY", 0.0)
    with run_lock(config.paths.lock) as pid:
        taken = time.time() - 3 * 24 * 3600  # a send paced by rate_limit may take days
        os.utime(config.paths.lock, (taken, taken))
        heartbeat()  # it sent a batch
        result = cli("run", now=SLOT + timedelta(minutes=1))
    assert result.exit_code == 0
    assert result.output == f"another publisher run holds the lock (pid {pid}); nothing done\n"


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_run_beside_a_stuck_sender_on_postgresql_sends_and_exits_3(publication, database,
                                                                     monkeypatch):
    # Several senders hold the database's run lock shared: one stopped on another host stops
    # no run, which sends what it may (nothing the stuck one claimed) and says it for monitoring.
    write_reviews(publication, 2)
    config = publication.config
    add_subscribers(config, 3, SLOT - timedelta(days=1))
    monkeypatch.setattr(lock, "stuck_after", lambda config: 1.0)
    with psycopg.connect(config.state.database, autocommit=True,
                         application_name="far:4242:a1b2c3") as far:
        far.execute(f"SELECT pg_advisory_lock_shared({lock.RUN_LOCK})")
        time.sleep(1.5)
        report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 3
    assert [n for n, _ in report.delivered] == [1] and maildir_count(config) == 3
    assert report.problems[-1].startswith("another publisher run (pid 4242 on host far, started ")
    report, _ = run(config, SLOT + timedelta(minutes=6))  # it was stopped
    assert report.exit_code == 0, report.problem


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_sender_on_postgresql_beats_its_heartbeat_on_the_lock_connection(publication,
                                                                           database,
                                                                           monkeypatch):
    config = publication.config
    monkeypatch.setattr(lock, "stuck_after", lambda config: 2.0)
    monkeypatch.setattr(lock, "HEARTBEAT_EVERY", 0.0)
    with lock.database_lock(config, shared=True):
        time.sleep(2.5)
        silent = lock.stuck_database_holder(config)
        heartbeat()  # it sent a batch
        beating = lock.stuck_database_holder(config)
    assert silent is not None and silent.pid == os.getpid()
    assert beating is None


def test_cli_run_exit_codes(publication, cli):
    write_reviews(publication, 2)
    config = publication.config
    at = SLOT + timedelta(minutes=1)
    with run_lock(config.paths.lock) as pid:
        result = cli("run", now=at)
    assert result.exit_code == 0
    assert result.output == f"another publisher run holds the lock (pid {pid}); nothing done\n"

    publication.write_review("broken.md", "---\ntitle: Broken\n---\n")
    result = cli("run", now=at)
    assert result.exit_code == 1
    assert result.stdout == ""
    first, second = result.stderr.splitlines()
    assert first.startswith("error: 2 problems in the sources: reviews/broken.md:1: ")
    assert second == ("error: no issue composed for the slot Fri 2026-11-20 09:00 GMT: the "
                      "sources have problems (above)")


def test_cli_run_prints_every_problem_each_on_its_line(publication, monkeypatch, cli):
    # Issue #1 is being sent and two of its deliveries were left claimed by a crash; the secret
    # is missing, so the run cannot send the rest either. Both problems are printed.
    write_reviews(publication, 2)
    use_maildir(publication)
    config = publication.config
    add_subscribers(config, 5, SLOT)
    with open_store(config) as store:
        compose_issue(config, store, load_reviews(config), now=SLOT)
        store.queue_deliveries(1, now=SLOT)
        crashed = [d.id for d in store.due_deliveries(1, now=SLOT, limit=2)]
        assert store.claim(crashed, now=SLOT) == crashed
    monkeypatch.delenv("PUBLISHER_SECRET")
    result = cli("run", now=datetime(2026, 11, 20, 9, 10, tzinfo=UTC))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.stderr
    assert "PUBLISHER_SECRET is not set" in errors[0]
    assert "2 deliveries are ambiguous" in errors[1]


# --- README's main flow ---------------------------------------------------------------------


def test_readme_flow_on_the_sample_publication(tmp_path, monkeypatch):
    root = tmp_path / "sample"
    root.mkdir()
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True)
    assert (root / "reviews").is_dir(), "the sample publication's reviews/ is missing"
    monkeypatch.setenv("PUBLISHER_SECRET", "dev-only-not-secret")
    monkeypatch.chdir(root)
    # README runs with the real clock; a Monday keeps the catch-up meaningful and the test
    # repeatable (the latest Friday slot is three days old, beyond the 36 h grace)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    result = run_cli("subscribers", "import", "subscribers.csv", now=now)
    assert result.exit_code == 0, result.output
    subscribers = len(Path("subscribers.csv").read_text().strip().splitlines()) - 1

    result = run_cli("run", "--catch-up", now=now)
    assert result.exit_code == 0, result.output
    feed = feedparser.parse(Path("public/feed.xml").read_bytes())
    assert not feed.bozo and feed.feed.title == "The Second Reel" and feed.entries
    outbox = mailbox.Maildir(".publisher/outbox", create=False)
    recipients = sorted(msg["To"] for msg in outbox)
    assert len(recipients) == subscribers == 3
    assert all(msg["Subject"].startswith("The Second Reel #1") for msg in outbox)
    assert Path("public/issues/1/index.html").is_file()

    before = {p: p.stat().st_mtime_ns for p in Path("public").rglob("*") if p.is_file()}
    result = run_cli("run", now=now + timedelta(minutes=5))
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert len(mailbox.Maildir(".publisher/outbox", create=False)) == subscribers
    after = {p: p.stat().st_mtime_ns for p in Path("public").rglob("*") if p.is_file()}
    assert after == before


# --- the archive outlives its sources ---------------------------------------------------------


def test_a_review_deleted_after_its_issue_went_out_stays_on_its_archive_page_and_is_named(
        publication, cli):
    slugs = write_reviews(publication, 2)
    use_maildir(publication)
    config = publication.config
    add_subscribers(config, 2, SLOT - timedelta(days=1))
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 0 and report.issue == 1
    page = config.output_path / "issues" / "1" / "index.html"
    before = page.read_bytes()
    assert b"Film 2" in before

    # The page shows the issue as it was sent, from the ledger, not from today's sources; its
    # link (and the one in every copy of the email) now finds nothing, which the run says.
    (publication.root / "reviews" / f"{slugs[1]}.md").unlink()
    report, lines = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 0, report.problem
    assert not any("held review" in line for line in lines), lines
    assert page.read_bytes() == before
    url = f"{config.base_url}reviews/{slugs[1]}/"
    assert f'href="{url}"'.encode() in before
    lost = [line for line in lines if "sent readers a link" in line]
    assert lost == [f"warning: reviews/{slugs[1]}.md: aliases: issue #1 sent readers a link to "
                    f"{url} (Film 2), where nothing is published now; its review "
                    f"(reviews/{slugs[1]}.md) is gone from the sources: restore it, or add "
                    f"`aliases: [reviews/{slugs[1]}/]` to the review readers should find "
                    "instead"], lines

    # Later runs leave it to the builds, which keep naming it until the link lands again, and
    # to check, which reads the issues sent from the ledger (not as a pre-commit hook).
    report, lines = run(config, SLOT + timedelta(minutes=11))
    assert not any("sent readers a link" in line for line in lines), lines
    result = cli("build", now=None)
    assert result.exit_code == 0, result.output
    assert "issue #1 sent readers a link to" in result.output
    state = {p: p.read_bytes() for p in (publication.root / ".publisher").glob("state.db*")}
    assert "issue #1 sent readers a link to" in cli("check", now=None).output
    # check reads the ledger and writes nothing to it (no -wal or -shm file left either)
    assert {p: p.read_bytes() for p in (publication.root / ".publisher").glob("state.db*")} \
        == state
    assert "sent readers a link" not in cli("check", "--sources", now=None).output
    write_reviews(publication, [{"slug": "film-2-again", "aliases": [f"reviews/{slugs[1]}/"]}])
    result = cli("build", now=None)
    assert result.exit_code == 0, result.output
    assert "sent readers a link" not in result.output
    assert (config.output_path / "reviews" / slugs[1] / "index.html").is_file()


def test_a_review_withdrawn_after_its_issue_went_out_leaves_the_issue_archive_too(
        publication, cli):
    slugs = write_reviews(publication, 3)
    use_maildir(publication)
    config = publication.config
    add_subscribers(config, 2, SLOT - timedelta(days=1))
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 0 and report.issue == 1
    issues = config.output_path / "issues"
    assert b"Film 1" in (issues / "1" / "index.html").read_bytes()

    # A legal takedown: the file goes and its address is listed as withdrawn. Every copy of the
    # email is out of reach, but the issue's page on the web is ours: it shows the issue
    # without the review, its subject and the archive's index and feed no longer name it, and
    # no build asks for the file back.
    publication.add_config(f"""
        [site]
        withdrawn = ["reviews/{slugs[0]}/"]
        """)
    result = cli("build", now=None)
    assert (f"warning: reviews/{slugs[0]}.md: withdrawn: publisher.toml lists "
            f"{config.base_url}reviews/{slugs[0]}/ under site.withdrawn, yet this review is "
            "published there; delete the file (or make it draft: true), or take the address "
            "off the list") in result.output
    (publication.root / "reviews" / f"{slugs[0]}.md").unlink()
    result = cli("build", now=None)
    assert result.exit_code == 0, result.output
    assert "sent readers a link" not in result.output
    for rel in ("1/index.html", "index.html", "atom.xml"):
        text = (issues / rel).read_text(encoding="utf-8")
        assert "Film 1" not in text and "number 1." not in text, rel
        assert "Film 2" in text, rel
    assert "Film 3" in (issues / "1" / "index.html").read_text(encoding="utf-8")
    assert "sent readers a link" not in cli("check", now=None).output
    # The ledger keeps the issue as it went out: withdrawing is undone by taking the line away.
    publication.replace_config(f'withdrawn = ["reviews/{slugs[0]}/"]', "")
    assert "sent readers a link" in cli("build", now=None).output
    assert b"Film 1" in (issues / "1" / "index.html").read_bytes()


def test_check_names_a_body_link_to_an_issue_not_sent_once_the_ledger_has_sent_some(
        publication, cli):
    body = "See [the first issue](/issues/1/) and [the seventh](/issues/7/)."
    write_reviews(publication, [{"slug": "a"}, {"slug": "b", "body": body}])
    use_maildir(publication)
    config = publication.config
    result = cli("check", now=None)
    assert "/issues/" not in result.output  # no ledger: which issues exist is the build's

    add_subscribers(config, 1, SLOT - timedelta(days=1))
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 0 and report.issue == 1
    result = cli("check", now=None)
    broken = [line for line in result.output.splitlines() if "/issues/" in line]
    assert broken == [f"warning: reviews/b.md:8: body: links to {config.base_url}issues/7/, "
                      "where nothing is published (no review, page or file in static/ has "
                      "that address); correct the link"], result.output


def test_a_review_sent_then_made_a_draft_or_moved_is_named_with_its_fix(publication, cli):
    # An id in the front matter keeps the review the same one when its file is renamed.
    write_reviews(publication, [{"slug": "kept"}, {"slug": "drafted"},
                                {"slug": "moved", "id": "tag:example.org,2026:moved"}])
    use_maildir(publication)
    config = publication.config
    add_subscribers(config, 1, SLOT - timedelta(days=1))
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 0 and report.issue == 1

    # A draft again on the day it had: under the id readers have.
    write_reviews(publication, [{"slug": "drafted", "draft": "true", "date": "2026-11-02"}])
    reviews = publication.root / "reviews"
    (reviews / "moved.md").rename(reviews / "moved-on.md")
    report, lines = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 0, report.problem
    warnings = [line for line in lines if line.startswith("warning: ")]
    # The moved page is named once, by the moved-page warning; the draft by the lost link.
    assert len(warnings) == 2, warnings
    assert any("reviews/moved-on.md: aliases: its page moved from" in w for w in warnings)
    assert any(w.startswith("warning: reviews/drafted.md: aliases: issue #1 sent readers a "
                            "link to") and "it is the page of reviews/drafted.md, a draft: "
                            "publish it, or add `aliases: [reviews/drafted/]`" in w
               for w in warnings), warnings

    result = cli("build", now=None)
    assert result.exit_code == 0, result.output
    assert ("reviews/moved-on.md: aliases: issue #1 sent readers a link to "
            f"{config.base_url}reviews/moved/ (Moved), where nothing is published now; its "
            f"review's page is now {config.base_url}reviews/moved-on/: add "
            "`aliases: [reviews/moved/]`") in result.output
    assert "reviews/drafted.md: aliases: issue #1 sent readers" in result.output


def test_a_poster_an_issue_showed_then_renamed_in_static_is_named_with_its_fix(publication,
                                                                               cli):
    # Every copy of the email loads the poster from the site: renamed, it is broken in all.
    write_films(publication, 2)
    use_maildir(publication)
    config = publication.config
    add_subscribers(config, 1, SLOT - timedelta(days=1))
    assert run(config, SLOT + timedelta(minutes=1))[0].issue == 1
    title = load_reviews(config).reviews[0].title
    posters = publication.root / "static" / "posters"
    (posters / "film-1.png").rename(posters / "first.png")
    review = publication.root / "reviews" / "film-1.md"
    review.write_text(review.read_text().replace("posters/film-1.png", "posters/first.png"))

    said = (f"warning: reviews/film-1.md: poster: issue #1 showed readers the poster "
            f"{config.base_url}posters/film-1.png ({title}), where nothing is published now "
            "(every copy of the email loads it from there); put the file back at "
            "static/posters/film-1.png (its review may show another)")
    report, lines = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 0 and said in lines, lines
    result = cli("build", now=None)  # and every build after, until it is back
    assert f"{said}\n" in result.output
    shutil.copy(posters / "first.png", posters / "film-1.png")
    assert "poster:" not in cli("build", now=None).output


def test_a_review_sent_then_its_file_renamed_without_an_id_is_found_at_its_new_page(
        publication, cli):
    # Its derived id changed with its slug: it is known by its title, date and reviewer, not
    # taken for gone (restoring the old file would publish it twice).
    write_reviews(publication, [{"slug": "moved"}])
    use_maildir(publication)
    config = publication.config
    add_subscribers(config, 1, SLOT - timedelta(days=1))
    assert run(config, SLOT + timedelta(minutes=1))[0].issue == 1
    reviews = publication.root / "reviews"
    (reviews / "moved.md").rename(reviews / "moved-on.md")
    run(config, SLOT + timedelta(minutes=6))

    result = cli("build", now=None)
    assert result.exit_code == 0, result.output
    assert ("warning: reviews/moved-on.md: aliases: issue #1 sent readers a link to "
            f"{config.base_url}reviews/moved/ (Moved), where nothing is published now; its "
            f"review's page is now {config.base_url}reviews/moved-on/: add "
            "`aliases: [reviews/moved/]`\n") in result.output


def test_a_run_that_builds_a_moved_page_passes_the_warning_on_and_only_that_one(publication):
    write_reviews(publication, [{"slug": "x"}, {"slug": "y", "body": "[gone](/reviews/nope/)"}])
    config = publication.config
    report, _ = run(config, SLOT - timedelta(days=2))
    assert report.exit_code == 0, report.problem
    reviews = publication.root / "reviews"
    (reviews / "x.md").rename(reviews / "x-renamed.md")
    report, lines = run(config, SLOT - timedelta(days=2, minutes=-5))
    assert report.exit_code == 0, report.problem
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith(
        "warning: reviews/x-renamed.md: aliases: its page moved from ")
    assert "`aliases: [reviews/x/]`" in warnings[0]  # not the broken link: check says that


def test_an_issue_sent_before_issues_were_frozen_drops_a_deleted_review_with_a_warning(
        publication, cli):
    slugs = write_reviews(publication, 2)
    use_maildir(publication)
    config = publication.config
    add_subscribers(config, 2, SLOT - timedelta(days=1))
    report, _ = run(config, SLOT + timedelta(minutes=1))
    assert report.exit_code == 0 and report.issue == 1
    with sqlite3.connect(config.root / ".publisher" / "state.db") as db:  # as 0003 left it
        db.execute("UPDATE issues SET frozen_issue = NULL, frozen_digest = NULL")
    page = config.output_path / "issues" / "1" / "index.html"

    (publication.root / "reviews" / f"{slugs[1]}.md").unlink()
    report, lines = run(config, SLOT + timedelta(minutes=6))
    assert report.exit_code == 0, report.problem
    assert any(line.startswith("warning: reviews/:") and "issue #1 held review" in line
               and "leaves it out" in line for line in lines), lines
    text = page.read_text(encoding="utf-8")
    assert "Film 1" in text and "Film 2" not in text

    result = cli("build", now=None)
    assert result.exit_code == 0, result.output
    assert "issue #1 held review" in result.output


def test_reviews_beyond_max_reviews_are_said_to_wait_for_the_next_issue(publication):
    """A monthly newsletter with more reviews a month than max_reviews mailed each one later
    than the last, months late in the end, and no run said so: the run that leaves reviews
    over says how many wait, and why."""
    publication.add_config("[newsletter]\nmax_reviews = 3\n")
    config = ready_to_send(publication, reviews=2, subscribers=1)
    report, lines = run(config, SLOT + timedelta(minutes=1))
    assert report.issue == 1
    assert not any("wait for the next issue" in line for line in lines)
    write_reviews(publication, 5, first=SLOT.date() + timedelta(days=1), prefix="busy")
    said = ("2 more new reviews wait for the next issue: an issue holds at most "
            "newsletter.max_reviews = 3")
    week = SLOT + timedelta(days=7, minutes=1)
    rehearsal = run_cli("run", "--dry-run", root=publication.root, now=week)
    assert f"  ({said})" in rehearsal.stdout.splitlines(), rehearsal.output
    by_hand = run_cli("issue", "new", "--dry-run", root=publication.root, now=week)
    assert said in by_hand.stdout.splitlines(), by_hand.output
    report, lines = run(config, week)
    assert report.issue == 2
    assert said in lines
    report, lines = run(config, SLOT + timedelta(days=14, minutes=1))
    assert report.issue == 3
    assert not any("wait for the next issue" in line for line in lines)
