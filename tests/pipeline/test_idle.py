"""The idle check (pipeline/idle.py) against the full path: ``build`` and ``run`` answered from
the record only while nothing they read has changed and nothing is due; every change a full
command would act on sends it down the full path.

The full path is made to fail loudly (``full`` below): a test that expects the idle answer would
see the failure if the full path ran, and a test that expects the full path checks that it ran.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
from datetime import UTC, datetime, timedelta

import pytest

from publisher.pipeline import build as build_module
from publisher.pipeline import idle
from publisher.pipeline import run as run_module
from tests.fixtures import NOW, SLOT, add_subscribers, use_maildir, write_reviews


@pytest.fixture(autouse=True)
def trust_fresh_files(monkeypatch):
    """The files under test were written a moment ago; the tests change them in ways a stat
    always shows (new sizes, or a bumped mtime), so no racy margin is needed here."""
    monkeypatch.setattr(idle, "RACY_NS", -10**12)
    monkeypatch.setenv("PUBLISHER_SECRET", "test-secret-not-for-production")


class Calls:
    """Counts calls of the full build and the full run, still making them."""

    def __init__(self, monkeypatch):
        self.build = self.run = 0
        real_build, real_run = build_module.build_publication, run_module.run_once

        def build(*args, **kwargs):
            self.build += 1
            return real_build(*args, **kwargs)

        def run(*args, **kwargs):
            self.run += 1
            return real_run(*args, **kwargs)

        monkeypatch.setattr(build_module, "build_publication", build)
        monkeypatch.setattr(run_module, "run_once", run)


@pytest.fixture
def full(monkeypatch) -> Calls:
    return Calls(monkeypatch)


def bump(path) -> None:
    """Change a file's mtime as an editor's save would (a tick later)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def idle_build(cli, full, **kwargs):
    """Build twice (the second records itself as idle); return the third's result, which
    must be the idle answer."""
    cli("build", **kwargs)
    second = cli("build", **kwargs)
    before = full.build
    third = cli("build", **kwargs)
    assert full.build == before, "the third build ran in full"
    assert third.output == second.output
    return third


# --- build ------------------------------------------------------------------------------------


def test_an_idle_build_answers_as_the_full_one_did(publication, cli, full):
    write_reviews(publication, 3)
    first = cli("build")
    assert "files written" in first.output and full.build == 1
    second = cli("build")
    assert full.build == 1  # answered from the record the first build left after writing
    assert second.exit_code == 0
    assert second.output.startswith("public/: 0 files written, ")
    third = cli("build")
    assert full.build == 1 and third.output == second.output
    # What the full path says when it runs again finding nothing to do: the same line.
    idle.forget(publication.config)
    fourth = cli("build")
    assert full.build == 2 and fourth.output == second.output


def test_a_review_edited_in_a_linked_folder_is_built_by_the_next(publication, cli, full):
    """reviews/2024 → ../archive/2024 is read by the build, so the idle check looks in it."""
    write_reviews(publication, 3)
    archive = publication.root / "archive" / "2024"
    archive.mkdir(parents=True)
    review = archive / "linked-film.md"
    (publication.root / "reviews" / "film-3.md").rename(review)
    (publication.root / "reviews" / "2024").symlink_to(archive, target_is_directory=True)
    idle_build(cli, full)
    review.write_text(review.read_text().replace("Film 3", "Film Three"))
    before = full.build
    cli("build")
    assert full.build == before + 1, "the edit in the linked folder was taken as idle"
    assert "Film Three" in (publication.root / "public" / "reviews" / "linked-film" /
                            "index.html").read_text()


def test_a_review_saved_while_a_build_runs_is_built_by_the_next(publication, cli, full,
                                                                 monkeypatch):
    """The record a build that wrote leaves is taken after its writes: a review saved after
    the build read the sources must not be recorded as built."""
    write_reviews(publication, 3)
    review = publication.root / "reviews" / "film-2.md"
    real = build_module.build_publication

    def build_while_the_editor_saves(*args, **kwargs):
        report = real(*args, **kwargs)
        review.write_text(review.read_text().replace("Film 2", "Film Two"))
        return report

    monkeypatch.setattr(build_module, "build_publication", build_while_the_editor_saves)
    cli("build")
    monkeypatch.setattr(build_module, "build_publication", real)
    before = full.build
    result = cli("build")
    assert full.build == before + 1, "the saved review was taken as built"
    assert "Film Two" in (publication.root / "public" / "reviews" / "film-2" / "index.html"
                          ).read_text()
    assert "public/: 0 files written" not in result.output


def test_the_record_a_build_leaves_signs_the_sources_as_read_before_it(publication, cli, full,
                                                                       monkeypatch):
    """A build that wrote records itself with the stat rows of the sources taken before it
    (a file changed meanwhile has a later ctime, which the next signature sees: the test
    above): each source tree is walked once, not again after the build."""
    write_reviews(publication, 3)
    walked = []
    real = idle._tree

    def tree(root, inside):
        walked.append(root)
        return real(root, inside)

    monkeypatch.setattr(idle, "_tree", tree)
    cli("build")
    assert full.build == 1 and len(walked) == len(set(walked)) == 4
    cli("build")
    assert full.build == 1, "the record after the first build was not the idle answer"


def test_an_output_edited_after_the_build_wrote_it_is_made_again_by_the_next(
        publication, cli, full, monkeypatch):
    """The record a build that wrote leaves signs its output as the build left it (the stats
    it took for its manifest): a page edited by hand before the record is taken is not
    recorded as the build's, and the next build puts the page back."""
    write_reviews(publication, 3)
    page = publication.root / "public" / "reviews" / "film-2" / "index.html"
    real = build_module.build_publication

    def build_while_someone_edits_a_page(*args, **kwargs):
        report = real(*args, **kwargs)
        page.write_text(page.read_text().replace("Film 2", "Film Two"))
        return report

    monkeypatch.setattr(build_module, "build_publication", build_while_someone_edits_a_page)
    cli("build")
    monkeypatch.setattr(build_module, "build_publication", real)
    before = full.build
    result = cli("build")
    assert full.build == before + 1, "the edited page was taken as the build's"
    assert "Film Two" not in page.read_text()
    assert "public/: 1 file written" in result.output


def test_a_build_that_wrote_is_not_recorded_while_a_websub_ping_waits(publication, cli, full):
    with socket.socket() as closed:  # a hub that is down: nothing listens on this port
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    publication.add_config(f'[feeds]\nhub = "http://127.0.0.1:{port}/"\n')
    write_reviews(publication, 2)
    result = cli("build")
    assert "will be announced on the next build" in result.output
    assert full.build == 1
    cli("build")
    assert full.build == 2  # the ping to retry is the next build's work


def test_an_idle_build_at_a_past_clock_is_not_held_up_by_the_early_publishing_check(
        publication, cli, full, monkeypatch):
    # `--now` in the past (a look back, a benchmark) cannot publish early: it stays the idle
    # answer, a tenth of a second because it imports none of the pipeline; the check for a
    # clock set ahead (pipeline/rehearsal.py, which imports all of it) is not even imported.
    write_reviews(publication, 2)
    monkeypatch.delitem(sys.modules, "publisher.pipeline.rehearsal", raising=False)
    idle_build(cli, full, now=NOW)
    assert "publisher.pipeline.rehearsal" not in sys.modules


def test_an_idle_build_repeats_the_warnings(publication, cli, full):
    write_reviews(publication, 2)
    publication.write_review("odd.md", "---\ntitle: Odd\x07\ndate: 2026-11-02\n"
                                       "reviewer: Sam\n---\nBody\n")
    result = idle_build(cli, full)
    assert "warning: reviews/odd.md:2: title: removed 1 control character" in result.stderr


def test_an_idle_build_does_not_repeat_what_only_the_build_that_found_it_says(publication, cli,
                                                                               full):
    """A page that moved is news for the build that moves it; the build after (idle or full)
    knows its page and says nothing of it."""
    write_reviews(publication, 2)
    cli("build")
    reviews = publication.root / "reviews"
    (reviews / "film-1.md").rename(reviews / "film-one.md")
    moving = cli("build")
    assert "warning: reviews/film-one.md: aliases: its page moved from " in moving.stderr
    after = cli("build")
    assert "its page moved" not in after.stderr and after.output.endswith("; 0 warnings\n")
    idle.forget(publication.config)
    assert cli("build").output == after.output  # as the full path says it


@pytest.mark.parametrize("change", [
    "edit a review", "add a review", "remove a review", "edit the config",
    "touch an output", "delete an output", "delete a review page", "add a static file",
    "edit a template", "a killed build's new files", "a killed build's staging",
    "add a page of the site's own",
])
def test_any_change_sends_build_down_the_full_path(publication, cli, full, change):
    write_reviews(publication, 3)
    idle_build(cli, full)
    root = publication.root
    review = root / "reviews" / "film-1.md"
    if change == "edit a review":
        review.write_text(review.read_text().replace("Film 1", "Film One"))
    elif change == "add a review":
        write_reviews(publication, 1, prefix="extra")
    elif change == "remove a review":
        review.unlink()
    elif change == "edit the config":
        publication.add_config("[feeds]\nlimit = 2\n")
    elif change == "touch an output":
        bump(root / "public" / "feed.xml")
    elif change == "delete an output":
        (root / "public" / "atom.xml").unlink()
    elif change == "delete a review page":
        (root / "public" / "reviews" / "film-2" / "index.html").unlink()
    elif change == "a killed build's new files":
        (root / ".publisher" / "new-files-x1.txt").write_text("reviews/film-9/index.html\n")
    elif change == "a killed build's staging":
        (root / ".publisher" / "staging-x1").mkdir()
    elif change == "add a static file":
        (root / "static").mkdir()
        (root / "static" / "humans.txt").write_text("Made by people.\n")
    elif change == "add a page of the site's own":
        (root / "pages").mkdir()
        (root / "pages" / "about.md").write_text("---\ntitle: About\n---\nUs.\n")
    elif change == "edit a template":
        (root / "templates").mkdir()
        (root / "templates" / "archive.html.j2").write_text("{{ issue.subject }}\n")
    before = full.build
    result = cli("build")
    assert full.build == before + 1, f"{change}: answered from the record"
    assert result.exit_code == 0, result.output
    # A touched output is rendered again and found equal; there is no archive for the
    # template to change. Every other change writes something.
    if change not in ("touch an output", "edit a template", "a killed build's new files",
                      "a killed build's staging"):
        assert "public/: 0 files written" not in result.output


def test_a_build_that_renders_everything_again_and_writes_nothing_is_recorded(
        publication, cli, full):
    """A new publisher version changes every unit's digest in the build manifest: the first
    build renders everything, finds every file as it was and writes the new digests; the next
    is answered from the record that build left."""
    import json

    write_reviews(publication, 3)
    idle_build(cli, full)
    manifest = publication.config.paths.build_manifest
    data = json.loads(manifest.read_bytes())
    for entry in data["units"].values():
        if "inputs" in entry:
            entry["inputs"] = "from an earlier version"
    manifest.write_text(json.dumps(data))
    idle.forget(publication.config)
    before = full.build
    result = cli("build")
    assert full.build == before + 1 and "public/: 0 files written" in result.output
    cli("build")
    assert full.build == before + 1  # answered from the record


def test_the_output_is_signed_only_when_the_inputs_are_the_recorded_ones(publication, cli, full,
                                                                           monkeypatch):
    """Stat'ing every output costs as much as every source (10,000 each at 10,000 reviews): a
    build whose sources changed is not idle whatever the output holds, and skips it."""
    write_reviews(publication, 3)
    idle_build(cli, full)
    signed = []
    real = idle._outputs

    def outputs(*args):
        signed.append(args[0])
        return real(*args)

    monkeypatch.setattr(idle, "_outputs", outputs)
    config = publication.config
    assert idle.IdleCheck.take(config, "build").answer(NOW) is not None
    assert len(signed) == 1
    write_reviews(publication, 1, prefix="extra")
    check = idle.IdleCheck.take(config, "build")
    assert check.answer(NOW) is None and len(signed) == 1
    before = full.build
    cli("build")
    assert full.build == before + 1
    cli("build")
    assert full.build == before + 1  # the build that wrote left a whole record


def test_a_build_whose_inputs_changed_but_wrote_nothing_is_recorded(publication, cli, full):
    """A review saved again unchanged (its mtime moved): the full build writes nothing, and
    the next is answered from the record, its output signed after the build."""
    write_reviews(publication, 3)
    idle_build(cli, full)
    bump(publication.root / "reviews" / "film-1.md")
    before = full.build
    assert "public/: 0 files written" in cli("build").output
    assert full.build == before + 1
    cli("build")
    assert full.build == before + 1


def test_files_the_build_does_not_make_leave_it_idle(publication, cli, full):
    """The output's own files are signed from the build manifest, not by walking the output:
    a file someone else put there (a CDN's verification file) changes nothing a build reads."""
    write_reviews(publication, 3)
    idle_build(cli, full)
    (publication.root / "public" / "google1234.html").write_text("verification\n")
    (publication.root / "public" / "reviews" / "notes").mkdir()
    before = full.build
    cli("build")
    assert full.build == before


def test_the_clock_reaching_a_scheduled_review_sends_build_down_the_full_path(
        publication, cli, full):
    write_reviews(publication, 2)
    write_reviews(publication, [{"date": "2026-11-25"}], prefix="later")
    idle_build(cli, full)
    assert "later-1" not in (publication.root / "public" / "feed.xml").read_text()
    before = full.build
    cli("build", now=datetime(2026, 11, 24, 23, 59, tzinfo=UTC))
    assert full.build == before  # still before it: the record holds
    result = cli("build", now=datetime(2026, 11, 25, 0, 0, tzinfo=UTC))
    assert full.build == before + 1 and "public/: 0 files written" not in result.output
    assert "later-1" in (publication.root / "public" / "feed.xml").read_text()


def test_a_clock_set_back_before_the_newest_review_is_not_answered(publication, cli, full):
    write_reviews(publication, 2, first=datetime(2026, 11, 10).date())
    idle_build(cli, full)
    before = full.build
    cli("build", now=datetime(2026, 11, 10, 12, 0, tzinfo=UTC))
    assert full.build == before + 1


def test_no_cache_always_builds_in_full(publication, cli, full):
    write_reviews(publication, 1)
    idle_build(cli, full)
    before = full.build
    cli("build", "--no-cache")
    assert full.build == before + 1


def test_a_racy_signature_is_not_recorded(publication, cli, full, monkeypatch):
    monkeypatch.setattr(idle, "RACY_NS", idle.RACY_NS * -1)  # everything is "just changed"
    write_reviews(publication, 1)
    for _ in range(3):
        cli("build")
    assert full.build == 3
    assert not idle.record_path(publication.config).exists()


def test_a_sent_issue_sends_build_down_the_full_path(publication, cli, full):
    write_reviews(publication, 2)
    use_maildir(publication)
    cli("run")  # composes and sends issue #1 (to nobody) and archives it
    idle_build(cli, full)
    with sqlite3.connect(publication.root / ".publisher" / "state.db") as db:
        db.execute("UPDATE issues SET subject = 'Edited' WHERE number = 1")
    before = full.build
    cli("build")
    assert full.build == before + 1


# --- run --------------------------------------------------------------------------------------


def idle_run(cli, full, **kwargs):
    cli("run", **kwargs)
    second = cli("run", **kwargs)
    before = full.run
    third = cli("run", **kwargs)
    assert full.run == before, "the third run ran in full"
    assert third.exit_code == second.exit_code == 0
    assert third.output == second.output
    return third


def test_an_idle_run_answers_without_the_full_path(publication, cli, full):
    write_reviews(publication, 2)
    use_maildir(publication)
    first = cli("run")
    assert "composed issue #1" in first.output
    idle_run(cli, full)
    assert full.run == 2


def test_a_run_that_only_built_leaves_the_next_run_idle(publication, cli, full):
    write_reviews(publication, 2)
    use_maildir(publication)
    idle_run(cli, full)
    write_reviews(publication, [{"date": "2026-11-19"}], prefix="new")  # for the next issue
    built = cli("run")
    assert built.exit_code == 0 and "files written" in built.output
    before = full.run
    again = cli("run")
    assert full.run == before, "the run after the one that built ran in full"
    assert again.exit_code == 0 and again.output == ""
    review = publication.root / "reviews" / "new-1.md"
    review.write_text(review.read_text().replace("Film 1", "Film One"))
    cli("run")
    assert full.run == before + 1  # and any change still goes down the full path


def test_a_due_slot_sends_run_down_the_full_path(publication, cli, full):
    write_reviews(publication, 2)
    use_maildir(publication)
    idle_run(cli, full)
    write_reviews(publication, [{"date": "2026-11-21"}], prefix="new")
    next_slot = SLOT + timedelta(days=7)
    cli("run", now=next_slot - timedelta(minutes=2))  # builds the new review
    cli("run", now=next_slot - timedelta(minutes=1))  # finds nothing to do: recorded
    before = full.run
    cli("run", now=next_slot - timedelta(seconds=1))
    assert full.run == before  # nothing due yet: idle
    result = cli("run", now=next_slot + timedelta(minutes=5))
    assert full.run == before + 1
    assert "composed issue #2" in result.output


def test_queued_deliveries_send_run_down_the_full_path(publication, cli, full, config):
    write_reviews(publication, 2)
    use_maildir(publication)
    idle_run(cli, full)
    add_subscribers(publication.config, 2, NOW)
    assert cli("issue", "new").exit_code == 1  # nothing new to compose: no draft either
    write_reviews(publication, 1, prefix="more")
    assert cli("issue", "new").exit_code == 0
    assert cli("issue", "send", "2").exit_code == 0
    with sqlite3.connect(publication.root / ".publisher" / "state.db") as db:
        db.execute("UPDATE issues SET state = 'sending' WHERE number = 2")
        db.execute("UPDATE deliveries SET status = 'sending' WHERE issue_number = 2")
    before = full.run
    for _ in range(2):  # ambiguous deliveries: reported, exit 1, every time, never idle
        result = cli("run")
        assert result.exit_code == 1 and "ambiguous" in result.output
    assert full.run == before + 2


def test_a_held_lock_is_reported_by_the_full_path(publication, cli, full):
    from publisher.pipeline.lock import publication_lock

    write_reviews(publication, 1)
    use_maildir(publication)
    idle_run(cli, full)
    with publication_lock(publication.config):
        result = cli("run")
    assert result.exit_code == 0 and "run" in result.output.lower()
    assert full.run == 3


def test_catch_up_always_runs_in_full(publication, cli, full):
    write_reviews(publication, 1)
    use_maildir(publication)
    idle_run(cli, full)
    cli("run", "--catch-up")
    assert full.run == 3


def test_no_ledger_runs_in_full(publication, cli, full):
    write_reviews(publication, 1)
    use_maildir(publication)
    cli("build")
    cli("build")
    check = idle.IdleCheck.take(publication.config, "run")
    assert check.signature is None  # the full run creates the ledger


def test_deliveries_waiting_for_a_retry_keep_run_off_the_idle_path(publication, cli, full):
    """An issue being sent whose deliveries wait for their retry time has nothing due now, and
    the ledger does not change while the clock reaches that time: only the issue's state can
    tell the idle check that a run will have work then."""
    write_reviews(publication, 2)
    use_maildir(publication)
    idle_run(cli, full)
    add_subscribers(publication.config, 2, NOW)
    write_reviews(publication, 1, prefix="more")
    assert cli("issue", "new").exit_code == 0
    assert cli("issue", "send", "2").exit_code == 0
    retry_at = NOW + timedelta(hours=1)
    with sqlite3.connect(publication.root / ".publisher" / "state.db") as db:
        db.execute("UPDATE issues SET state = 'sending', sent_at = NULL WHERE number = 2")
        db.execute("UPDATE deliveries SET status = 'queued', next_attempt_at = ? "
                   "WHERE issue_number = 2", (f"{retry_at:%Y-%m-%d %H:%M:%S.%f}",))
    before = full.run
    for _ in range(3):
        result = cli("run")
        assert result.exit_code == 0 and "sent" not in result.output
    assert full.run == before + 3
    result = cli("run", now=retry_at + timedelta(minutes=5))
    assert full.run == before + 4
    assert "issue #2: 2 sent" in result.output
