"""`publisher run` and what the editor did by hand: a draft composed with `issue new` goes out at
the next slot instead of being passed over, or the run says why not; and the first run of a new
publication does not report skipping a slot from before it existed."""

from __future__ import annotations

import mailbox
from datetime import timedelta

from publisher.ledger.store import open_store
from tests.fixtures import SLOT, add_subscribers, use_maildir, write_reviews

SECRET = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}


def outbox(publication) -> list:
    path = publication.root / ".publisher" / "outbox"
    return list(mailbox.Maildir(path, create=False)) if path.exists() else []


def issues(publication) -> list[tuple[int, str, object]]:
    with open_store(publication.config) as store:
        return [(r.number, r.state, r.slot) for r in store.issues()]


def test_a_draft_composed_by_hand_goes_out_at_the_next_slot(publication, cli, tmp_path):
    write_reviews(publication, 3)
    use_maildir(publication)
    add_subscribers(publication.config, 2, SLOT - timedelta(days=2))
    note = tmp_path / "note.md"
    note.write_text("A word from the editor.\n")
    composed = cli("issue", "new", "--note", str(note), now=SLOT - timedelta(days=1))
    assert composed.exit_code == 0, composed.output
    write_reviews(publication, [{"slug": "late-arrival", "date": "2026-11-19"}])

    result = cli("run", now=SLOT + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 0, result.output
    assert ("issue #1, composed by hand, goes out for the slot Fri 2026-11-20 09:00 GMT: "
            in result.stdout)
    assert "composed issue #2" not in result.stdout
    assert issues(publication) == [(1, "sent", SLOT)]
    messages = outbox(publication)
    assert len(messages) == 2
    assert "A word from the editor." in messages[0].get_payload()[0].get_payload(decode=True) \
        .decode()
    # the review published after the draft was composed waits for the next issue
    with open_store(publication.config) as store:
        assert "late-arrival" not in " ".join(store.issue(1).review_ids)


def test_issue_send_builds_the_pages_its_links_point_at_then_archives_the_issue(publication,
                                                                               cli):
    write_reviews(publication, 2)
    use_maildir(publication)
    add_subscribers(publication.config, 1, SLOT - timedelta(days=2))
    assert cli("build", now=SLOT - timedelta(days=2)).exit_code == 0
    write_reviews(publication, [{"slug": "late-arrival", "date": "2026-11-19"}], prefix="x")
    assert cli("issue", "new", now=SLOT - timedelta(hours=1)).exit_code == 0

    result = cli("issue", "send", "1", now=SLOT, env=SECRET)
    assert result.exit_code == 0, result.output
    [message] = outbox(publication)
    html = message.get_payload()[1].get_payload(decode=True).decode()
    assert "https://reel.test/reviews/late-arrival/" in html
    # Each link of the issue lands: the review's page, built before the issue went out (it was
    # a 404 until the next run), and the issue's own page in the web archive, once it is sent.
    public = publication.root / "public"
    assert (public / "reviews" / "late-arrival" / "index.html").exists()
    assert (public / "issues" / "1" / "index.html").exists()
    assert "build: " in result.stdout and "archive: issue #1 published" in result.stdout


def test_a_draft_composed_days_before_its_slot_is_dated_the_day_it_goes_out(publication, cli):
    write_reviews(publication, 2)
    use_maildir(publication)
    add_subscribers(publication.config, 1, SLOT - timedelta(days=4))
    assert cli("issue", "new", now=SLOT - timedelta(days=3)).exit_code == 0  # Tuesday

    result = cli("run", now=SLOT + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 0, result.output
    [message] = outbox(publication)
    body = message.get_payload()[0].get_payload(decode=True).decode()
    assert "20 November 2026" in body and "17 November 2026" not in body
    page = (publication.config.output_path / "issues" / "1" / "index.html").read_text()
    assert "20 November 2026" in page and "17 November 2026" not in page


def test_two_drafts_go_out_one_per_slot_and_the_run_says_so(publication, cli):
    write_reviews(publication, 2)
    use_maildir(publication)
    add_subscribers(publication.config, 1, SLOT - timedelta(days=2))
    assert cli("issue", "new", now=SLOT - timedelta(days=1)).exit_code == 0
    write_reviews(publication, 4)  # two more written since
    assert cli("issue", "new", now=SLOT - timedelta(days=1)).exit_code == 0
    result = cli("run", now=SLOT + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 0, result.output
    assert "; draft issue #2 waits for the next slot" in result.stdout
    week = SLOT + timedelta(days=7)
    result = cli("run", now=week + timedelta(minutes=2), env=SECRET)
    assert "issue #2, composed by hand, goes out for the slot Fri 2026-11-27" in result.stdout
    assert issues(publication) == [(1, "sent", SLOT), (2, "sent", week)]


def test_a_draft_that_cannot_go_out_is_named_with_the_reason(publication, cli):
    slugs = write_reviews(publication, 2)
    use_maildir(publication)
    add_subscribers(publication.config, 1, SLOT - timedelta(days=2))
    assert cli("issue", "new", now=SLOT - timedelta(days=1)).exit_code == 0
    (publication.root / "reviews" / f"{slugs[0]}.md").unlink()  # a review it holds is gone
    result = cli("run", now=SLOT + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 1
    assert "issue #1, composed by hand, goes out for the slot" in result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("error: issue #1 holds review ")
    assert "no longer in the sources" in line
    assert outbox(publication) == []


def test_a_review_taken_off_the_site_after_its_draft_issue_was_composed_is_not_mailed(
        publication, cli):
    # An editor composes the issue on Thursday, then makes one review a draft again and moves
    # another to next month: the slot's run must not mail them (or put them in the archive).
    slugs = write_reviews(publication, 3)
    use_maildir(publication)
    add_subscribers(publication.config, 1, SLOT - timedelta(days=2))
    assert cli("issue", "new", now=SLOT - timedelta(days=1)).exit_code == 0
    write_reviews(publication, [{"slug": slugs[0], "draft": "true"},
                                {"slug": slugs[1], "date": "2026-12-24",
                                 "id": f"tag:reel.test,2026-11-02:{slugs[1]}"}])
    rehearsal = cli("run", "--dry-run", now=SLOT + timedelta(minutes=1), env=SECRET)
    assert rehearsal.exit_code == 1
    assert f"issue #1 would not be sent: issue #1 holds reviews/{slugs[0]}.md (a draft)" \
        in rehearsal.output
    result = cli("run", now=SLOT + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line == (
        f"error: issue #1 holds reviews/{slugs[0]}.md (a draft); reviews/{slugs[1]}.md "
        "(scheduled for 2026-12-24 00:00 GMT), not published now; publish them again, or "
        "cancel the issue ('publisher issue cancel 1') so that the next one is composed from "
        "what is published")
    assert outbox(publication) == []
    assert issues(publication) == [(1, "draft", SLOT)]
    assert not (publication.root / "public" / "issues" / "1").exists()
    copy = cli("issue", "send", "1", "--to", "editor@example.org",
               now=SLOT + timedelta(minutes=3), env=SECRET)
    assert copy.exit_code == 1 and "not published now" in copy.output
    assert outbox(publication) == []

    # Cancelled, its one published review goes out in the issue composed at the next slot.
    assert cli("issue", "cancel", "1", now=SLOT + timedelta(minutes=4)).exit_code == 0
    week = SLOT + timedelta(days=7)
    result = cli("run", now=week + timedelta(minutes=2), env=SECRET)
    assert result.exit_code == 0, result.output
    with open_store(publication.config) as store:
        assert [r.review_ids for r in store.issues() if r.state == "sent"] == [
            (f"tag:reel.test,2026-11-03:{slugs[2]}",)]
    assert len(outbox(publication)) == 1


def test_the_first_run_does_not_report_a_slot_from_before_the_publication(publication, cli):
    write_reviews(publication, 2)
    use_maildir(publication)
    three_days_late = SLOT + timedelta(days=3)
    add_subscribers(publication.config, 1, SLOT + timedelta(days=2))  # set up after the slot
    result = cli("run", now=three_days_late, env=SECRET)
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output
    assert issues(publication) == []


def test_a_slot_missed_after_the_publication_existed_is_reported(publication, cli):
    write_reviews(publication, 2)
    use_maildir(publication)
    add_subscribers(publication.config, 1, SLOT - timedelta(days=2))  # set up before the slot
    result = cli("run", now=SLOT + timedelta(days=3), env=SECRET)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith(
        "skipped the issue due Fri 2026-11-20 09:00 GMT: 3.0 days late")
