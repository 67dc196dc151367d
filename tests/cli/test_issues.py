"""Composing issues (compose.py) and `publisher issue new/list/show/cancel`, against real
review sources and a real ledger in the publication."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from publisher.config import Config, load_config
from publisher.errors import MissingReview, NotEnoughReviews, SlotTaken
from publisher.ledger.deliveries import Attempt
from publisher.ledger.store import open_store
from publisher.newsletter.compose import fresh_reviews, issue_from_record
from publisher.newsletter.policy import Action, Outcome
from publisher.pipeline.issues import compose_issue
from publisher.sources.catalog import load_reviews
from tests.fixtures import NOW, add_subscribers, run_cli, write_reviews
from tests.pausing import Pause


def october(days: list[int], *, draft_day: int | None = None,
            future_day: int | None = None) -> list[dict[str, object]]:
    """For write_reviews: one review per October day in ``days`` (film-DD, "Film DD", by Sam
    Okafor, unrated), plus a draft and one dated after NOW when asked."""
    def review(slug: str, day: str, **extra: object) -> dict[str, object]:
        return {"slug": slug, "date": day, "reviewer": "Sam Okafor", "rating": None,
                "summary": None, **extra}

    reviews = [review(f"film-{day:02d}", f"2026-10-{day:02d}") for day in days]
    if draft_day is not None:
        reviews.append(review("a-draft", f"2026-10-{draft_day:02d}", draft="true"))
    if future_day is not None:
        reviews.append(review("the-future", f"2026-12-{future_day:02d}"))
    return reviews


def review_id(day: int) -> str:
    return f"tag:reel.test,2026-10-{day:02d}:film-{day:02d}"


# --- composing ------------------------------------------------------------------------------


def next_issue_reviews(catalog, store, config, *, now):
    return fresh_reviews(catalog, store.issued_review_ids(), now)[: config.newsletter.max_reviews]


def test_next_issue_holds_published_reviews_in_no_issue_oldest_first(publication):
    write_reviews(publication, october([5, 1, 3], draft_day=2, future_day=1))
    config = publication.config
    catalog = load_reviews(config)
    with open_store(config) as store:
        chosen = next_issue_reviews(catalog, store, config, now=NOW)
        assert [r.id for r in chosen] == [review_id(1), review_id(3), review_id(5)]
        record = compose_issue(config, store, catalog, now=NOW)
        assert record.number == 1
        assert record.review_ids == (review_id(1), review_id(3), review_id(5))
        assert record.subject == "Test Reel #1: Film 01 and 2 more"
        assert next_issue_reviews(catalog, store, config, now=NOW) == []
        # The future review is published once its date has passed.
        later = datetime(2026, 12, 2, tzinfo=UTC)
        assert [r.slug for r in next_issue_reviews(catalog, store, config, now=later)] == [
            "the-future"]


def test_after_the_first_issue_at_most_max_reviews_go_out_and_the_rest_roll_over(publication):
    publication.add_config("[newsletter]\nmax_reviews = 2\n")
    write_reviews(publication, october([1]))
    config = publication.config
    with open_store(config) as store:
        first = compose_issue(config, store, load_reviews(config), now=NOW)
        write_reviews(publication, october([1, 2, 3, 4, 5, 6]))  # a busy week
        catalog = load_reviews(config)
        second = compose_issue(config, store, catalog, now=NOW)
        third = compose_issue(config, store, catalog, now=NOW)
        fourth = compose_issue(config, store, catalog, now=NOW)
    assert [first.review_ids, second.review_ids, third.review_ids, fourth.review_ids] == [
        (review_id(1),), (review_id(2), review_id(3)), (review_id(4), review_id(5)),
        (review_id(6),)]
    assert [first.number, second.number, third.number, fourth.number] == [1, 2, 3, 4]


def test_the_first_issue_holds_the_newest_reviews_and_the_back_catalogue_is_never_mailed(
        publication):
    # A publication that starts its newsletter with reviews imported from its old site: issue
    # #1 holds the newest, not the oldest with the rest dripping out for a year behind them.
    publication.add_config("[newsletter]\nmax_reviews = 2\n")
    write_reviews(publication, october([1, 2, 3, 4, 5]))
    config = publication.config
    with open_store(config) as store:
        first = compose_issue(config, store, load_reviews(config), now=NOW)
        assert first.review_ids == (review_id(4), review_id(5))
        assert first.subject == "Test Reel #1: Film 04 and 1 more"
        with pytest.raises(NotEnoughReviews, match="only 0 new published reviews since issue #1"):
            compose_issue(config, store, load_reviews(config), now=NOW)
        # A review written since goes out; so does one added late, dated after the newsletter
        # began; an old review imported later is back catalogue too.
        write_reviews(publication, october([1, 2, 3, 4, 5, 7, 8]) + [
            {"slug": "found-in-a-drawer", "date": "2026-10-02", "reviewer": "Sam Okafor"}])
        second = compose_issue(config, store, load_reviews(config), now=NOW)
        assert second.review_ids == (review_id(7), review_id(8))
        with pytest.raises(NotEnoughReviews):
            compose_issue(config, store, load_reviews(config), now=NOW)


def test_a_cancelled_first_issue_leaves_the_next_one_first(publication, cli):
    publication.add_config("[newsletter]\nmax_reviews = 2\n")
    write_reviews(publication, october([1, 2, 3]))
    assert cli("issue", "new", now=NOW).exit_code == 0
    assert cli("issue", "cancel", "1", now=NOW).exit_code == 0
    result = cli("issue", "new", now=NOW)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "created issue #2 (draft): Test Reel #2: Film 02 and 1 more",
        "  1. Film 02 (Sam Okafor, 2026-10-02)",
        "  2. Film 03 (Sam Okafor, 2026-10-03)",
        "issue #2 is the newsletter's first: it holds the newest reviews, and the 1 older "
        "published review are the back catalogue, on the site and in the feeds but never mailed",
        "issue #2 goes out with the next run, for the slot Fri 2026-11-20 09:00 GMT, which is "
        "due; 'publisher issue send 2' sends it now",
    ]


def test_fewer_than_min_reviews_is_refused_with_a_clear_line(publication):
    publication.add_config("[newsletter]\nmin_reviews = 3\n")
    write_reviews(publication, october([1, 2]))
    config = publication.config
    catalog = load_reviews(config)
    with open_store(config) as store:
        with pytest.raises(NotEnoughReviews) as caught:
            compose_issue(config, store, catalog, now=NOW)
        assert str(caught.value) == ("only 2 new published reviews for issue #1; need at least 3 "
                                     "(newsletter.min_reviews)")
        assert (caught.value.found, caught.value.needed) == (2, 3)
        assert store.issues() == []


def test_dry_run_writes_nothing(publication):
    write_reviews(publication, october([1, 2]))
    config = publication.config
    catalog = load_reviews(config)
    with open_store(config) as store:
        preview = compose_issue(config, store, catalog, now=NOW, dry_run=True)
        assert (preview.number, preview.review_ids) == (1, (review_id(1), review_id(2)))
        assert store.issues() == [] and store.issued_review_ids() == set()
        assert compose_issue(config, store, catalog, now=NOW) == preview


def test_a_slot_gets_one_issue(publication):
    write_reviews(publication, october([1]))
    config = publication.config
    slot = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with open_store(config) as store:
        compose_issue(config, store, load_reviews(config), now=NOW, slot=slot)
        write_reviews(publication, october([1, 2]))
        with pytest.raises(SlotTaken):
            compose_issue(config, store, load_reviews(config), now=NOW, slot=slot)
        assert [i.slot for i in store.issues()] == [slot]
        assert store.issued_review_ids() == {review_id(1)}


def test_issue_from_record_uses_current_sources_and_names_a_lost_review(publication):
    write_reviews(publication, october([1, 2]))
    config = publication.config
    with open_store(config) as store:
        record = compose_issue(config, store, load_reviews(config), now=NOW,
                               note_html="<p>Hello</p>")
    issue = issue_from_record(record, load_reviews(config), config)
    assert (issue.number, issue.subject, issue.date, issue.note_html) == (
        1, record.subject, NOW, "<p>Hello</p>")
    assert [r.title for r in issue.reviews] == ["Film 01", "Film 02"]

    (publication.root / "reviews" / "film-02.md").unlink()
    with pytest.raises(MissingReview, match=f"issue #1 holds review {review_id(2)}, no longer "
                                            "in the sources \\(reviews/\\)"):
        issue_from_record(record, load_reviews(config), config)


# --- the CLI --------------------------------------------------------------------------------


def test_issue_new_dry_run_then_for_real(publication, cli):
    write_reviews(publication, october([2, 1], draft_day=3))
    dry = cli("issue", "new", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        "would create issue #1 (draft): Test Reel #1: Film 01 and 1 more",
        "  1. Film 01 (Sam Okafor, 2026-10-01)",
        "  2. Film 02 (Sam Okafor, 2026-10-02)",
        "issue #1 would go out with the next run, for the slot Fri 2026-11-20 09:00 GMT, which "
        "is due; 'publisher issue send 1' sends it now",
        "(dry run: nothing written)",
    ]
    assert cli("issue", "list").stdout == (
        "no issues yet; 'publisher issue new' composes one\n")

    real = cli("issue", "new")
    assert real.exit_code == 0, real.output
    assert real.stdout.splitlines()[0] == (
        "created issue #1 (draft): Test Reel #1: Film 01 and 1 more")
    assert cli("issue", "list").stdout == (
        "#1    draft      2026-11-20 12:00 GMT  2 reviews  Test Reel #1: Film 01 and 1 more\n")

    again = cli("issue", "new")
    assert again.exit_code == 1
    assert again.stderr == ("error: only 0 new published reviews since issue #1; need at least 1"
                            " (newsletter.min_reviews)\n")


def test_issue_new_with_an_editors_note(publication, tmp_path, cli):
    write_reviews(publication, october([1]))
    note = tmp_path / "note.md"
    note.write_text("Hello *readers*. <script>alert(1)</script> See [the list](/films/).",
                    encoding="utf-8")
    assert cli("issue", "new", "--note", str(note)).exit_code == 0
    with open_store(publication.config) as store:
        html = store.issue(1).note_html
    assert "<em>readers</em>" in html and "<script" not in html
    assert 'href="https://reel.test/films/"' in html
    missing = cli("issue", "new", "--note", str(tmp_path / "nope.md"))
    assert missing.exit_code == 1 and "nope.md: no such file" in missing.stderr


def test_issue_show_prints_reviews_and_delivery_counts(publication, cli):
    write_reviews(publication, october([1, 2]))
    cli("subscribers", "add", "a@example.org")
    cli("subscribers", "add", "b@example.org")
    assert cli("issue", "new").exit_code == 0
    with open_store(publication.config) as store:
        store.queue_deliveries(1, now=NOW)
        first = store.due_deliveries(1, now=NOW)[0]
        assert store.claim([first.id], now=NOW) == [first.id]
        store.record([Attempt(first.id, first.subscriber_id, Outcome(Action.SENT, "250 OK"),
                              "<1@reel.test>")], now=NOW)
    result = cli("issue", "show", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "issue #1: Test Reel #1: Film 01 and 1 more",
        "state: sending",
        "created: 2026-11-20 12:00 GMT",
        "reviews (2):",
        f"  1. Film 01 (Sam Okafor, 2026-10-01)  {review_id(1)}",
        f"  2. Film 02 (Sam Okafor, 2026-10-02)  {review_id(2)}",
        "deliveries: 2 (1 queued, 1 sent)",
    ]
    missing = cli("issue", "show", "7")
    assert (missing.exit_code, missing.stderr) == (1, "error: no issue #7; the only issue is #1\n")


def test_issue_show_counts_who_left_the_list_while_it_was_sent_apart_from_failures(
        publication, cli):
    write_reviews(publication, october([1, 2]))
    for address in ("a@example.org", "b@example.org", "c@example.org", "d@example.org"):
        cli("subscribers", "add", address)
    assert cli("issue", "new").exit_code == 0
    with open_store(publication.config) as store:
        store.queue_deliveries(1, now=NOW)
        first, second, *_ = store.due_deliveries(1, now=NOW)
        assert store.claim([first.id, second.id], now=NOW) == [first.id, second.id]
        store.record([Attempt(first.id, first.subscriber_id, Outcome(Action.SENT, "250 OK"),
                              "<1@reel.test>"),
                      Attempt(second.id, second.subscriber_id,
                              Outcome(Action.FAIL, "550 5.1.1 User unknown"), "<2@reel.test>")],
                     now=NOW)
    assert cli("subscribers", "unsubscribe", "c@example.org").exit_code == 0
    assert cli("issue", "show", "1").stdout.splitlines()[-1] == (
        "deliveries: 4 (1 queued, 1 sent, 1 failed, 1 skipped: left the list)")


def test_issue_show_during_a_send_calls_its_messages_in_flight_not_ambiguous(publication, cli,
                                                                              tmp_path,
                                                                              monkeypatch):
    """On SQLite a send holds the publication's lock; the messages it has on the wire are
    its to record, not in doubt, and resend-ambiguous would only be refused."""
    write_reviews(publication, october([1, 2]))
    publication.add_config('[delivery]\ntransport = "maildir://.publisher/outbox"\n'
                           "connections = 1\n")
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        cli("subscribers", "add", address)
    assert cli("issue", "new").exit_code == 0
    monkeypatch.setenv("PUBLISHER_SECRET", "s" * 40)
    # Held as it records its first message: that one is claimed, on its way, unrecorded.
    with Pause(tmp_path / "pause", "publisher.ledger.deliveries:DeliveryStore.record",
               call=2) as pause:
        proc = pause.start("-C", str(publication.root), "issue", "send", "1",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pause.wait(proc.pid)
        shown = cli("issue", "show", "1").stdout
        pause.release()
        assert proc.wait(timeout=60) == 0
    assert "deliveries: 3 (2 queued, 1 sending)" in shown
    assert "in flight: 1 with 1 sender at work (" in shown and f":{proc.pid}:" in shown
    assert "ambiguous" not in shown
    assert cli("issue", "show", "1").stdout.splitlines()[-1] == "deliveries: 3 (3 sent)"


def test_issue_show_reads_a_sent_issue_from_the_ledger_not_the_sources(publication, cli):
    # What went out is frozen in the ledger: `issue show` needs no source of the publication
    # (in a publication of thousands of reviews, loading them cost more than the ledger).
    write_reviews(publication, october([1, 2]))
    cli("subscribers", "add", "a@example.org")
    publication.add_config('[delivery]\ntransport = "maildir://.publisher/outbox"\n')
    assert cli("issue", "new").exit_code == 0
    sent = cli("issue", "send", "1", env={"PUBLISHER_SECRET": "s" * 40})
    assert sent.exit_code == 0, sent.output
    (publication.root / "reviews" / "film-01.md").write_text("---\ntitle: [broken\n---\n")
    (publication.root / "reviews" / "film-02.md").unlink()
    result = cli("issue", "show", "1")
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.splitlines()[4:7] == [
        "reviews (2):",
        f"  1. Film 01 (Sam Okafor, 2026-10-01)  {review_id(1)}",
        f"  2. Film 02 (Sam Okafor, 2026-10-02)  {review_id(2)}",
    ]


def test_issue_list_and_show_load_neither_the_delivery_engine_nor_the_renderer(publication,
                                                                             cli):
    # They must answer within 0.5 s on a ledger of a million deliveries (issue 10); the engine
    # and the renderer (Jinja, MJML, the message template) were 0.2 s of imports they never use.
    write_reviews(publication, october([1, 2]))
    assert cli("issue", "new").exit_code == 0
    script = ("import sys\n"
              "from publisher.cli import main\n"
              "try:\n"
              "    main(sys.argv[1:])\n"
              "except SystemExit as exc:\n"
              "    assert not exc.code, exc.code\n"
              "print(sorted(m for m in sys.modules if m.startswith(\n"
              "    ('publisher.delivery', 'publisher.render', 'jinja2', 'mrml'))))\n")
    for command in (["issue", "list"], ["issue", "show", "1"]):
        done = subprocess.run([sys.executable, "-c", script, "-C", str(publication.root),
                               *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "[]", (command, done.stdout)


def test_cancel_releases_reviews_and_the_number_is_not_reused(publication, cli):
    write_reviews(publication, october([1, 2]))
    cli("issue", "new")
    result = cli("issue", "cancel", "1")
    assert result.exit_code == 0
    assert result.stdout == "cancelled issue #1; its 2 reviews are released for the next issue\n"
    shown = cli("issue", "show", "1").stdout
    assert "state: cancelled" in shown and "reviews (2) (released when the issue was cancelled)" \
        in shown
    second = cli("issue", "new")
    assert second.stdout.splitlines()[0] == (
        "created issue #2 (draft): Test Reel #2: Film 01 and 1 more")
    assert [line.split()[:2] for line in cli("issue", "list").stdout.splitlines()] \
        == [["#1", "cancelled"], ["#2", "draft"]]


def test_an_issue_being_sent_cannot_be_cancelled(publication, cli):
    write_reviews(publication, october([1]))
    cli("subscribers", "add", "a@example.org")
    cli("issue", "new")
    with open_store(publication.config) as store:
        store.queue_deliveries(1, now=NOW)
    result = cli("issue", "cancel", "1")
    assert result.exit_code == 1
    assert result.stderr == ("error: issue #1 is sending: only a draft issue can be cancelled, "
                             "before sending starts\n")


def test_issue_new_reports_broken_sources(publication, cli):
    publication.write_review("broken.md", "---\ntitle: Broken\n---\nNo date.\n")
    result = cli("issue", "new")
    assert result.exit_code == 1
    assert "broken.md" in result.stderr and "date" in result.stderr


def test_issue_new_uses_the_clock_option(publication, cli):
    write_reviews(publication, october([1], future_day=1))
    early = cli("issue", "new", "--dry-run", now=NOW + timedelta(days=12))
    assert "The Future" in early.stdout
    assert "The Future" not in cli("issue", "new", "--dry-run").stdout


# --- publisher init's sample ----------------------------------------------------------------


def _write_the_sample(root) -> None:
    """What an editor does to init's sample: their own summary and body in its place."""
    sample = root / "reviews" / "first-review.md"
    text = sample.read_text("utf-8").replace("One sentence that sells the film;", "A film;")
    sample.write_text(text.replace("Write the review here, in Markdown:", "A review, with"),
                      "utf-8")


def _imported_review(root, slug: str, day: str) -> None:
    (root / "reviews" / f"{slug}.md").write_text(
        f"---\ntitle: {slug.title()}\ndate: {day}\nreviewer: Ana Ruiz\n---\nA review.\n",
        encoding="utf-8")


def test_the_untouched_sample_review_is_never_mailed(tmp_path):
    # The sample is the newest review of a new publication: issue #1 would lead with "Your
    # First Review" and, dating the newsletter's start, make every review imported before it
    # back catalogue.
    root = tmp_path / "new"
    assert run_cli("init", str(root)).exit_code == 0
    alone = run_cli("issue", "new", root=root)
    assert alone.exit_code == 1
    assert alone.stderr.splitlines()[-1] == (
        "error: only 0 new published reviews for issue #1; need at least 1 "
        "(newsletter.min_reviews); reviews/first-review.md is the sample publisher init "
        "wrote, never mailed: write your own review there, or delete it")

    _imported_review(root, "older", "2026-10-01")
    first = run_cli("issue", "new", root=root)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[:2] == ["created issue #1 (draft): Film Reviews #1: Older",
                                             "  1. Older (Ana Ruiz, 2026-10-01)"]

    # Written, it is the editor's review, and the next issue's.
    _write_the_sample(root)
    second = run_cli("issue", "new", root=root)
    assert second.exit_code == 0, second.output
    assert second.stdout.splitlines()[0] == (
        "created issue #2 (draft): Film Reviews #2: Your First Review")


def _published_unwritten(root, skeleton: str | None = None):
    """A publication whose one review is what ``publisher new`` wrote (from ``skeleton``, the
    house one, when given), its draft line deleted and nothing else: (the review's file, the
    refusal of ``issue new``'s last line, the warning ``check`` gives about it)."""
    assert run_cli("init", str(root)).exit_code == 0
    (root / "reviews" / "first-review.md").unlink()
    if skeleton is not None:
        (root / "templates").mkdir()
        (root / "templates" / "new-review.md").write_text(skeleton, "utf-8")
    assert run_cli("new", "The Long Goodbye", "--date", "2026-11-19", root=root).exit_code == 0
    review = root / "reviews" / "the-long-goodbye.md"
    review.write_text(review.read_text("utf-8").replace("draft: true\n", ""), "utf-8")
    alone = run_cli("issue", "new", root=root)
    assert alone.exit_code == 1
    [warning] = [line for line in run_cli("check", "--sources", root=root).stderr.splitlines()
                 if "the-long-goodbye.md" in line]
    return review, alone.stderr.splitlines()[-1], warning


def test_a_new_review_published_before_it_is_written_is_never_mailed(tmp_path):
    # publisher new's skeleton with its draft line deleted: the site shows "Write the review
    # here, in Markdown." with a warning; every subscriber's inbox would show it for good.
    root = tmp_path / "new"
    skeleton, refusal, warning = _published_unwritten(root)
    assert refusal == (
        "error: only 0 new published reviews for issue #1; need at least 1 "
        "(newsletter.min_reviews); reviews/the-long-goodbye.md is not written yet (its body "
        "still begins with the skeleton's placeholder), never mailed until it is")
    # At the skeleton's placeholder line, wherever the skeleton's comments leave it.
    line = skeleton.read_text("utf-8").splitlines().index(
        "Write the review here, in Markdown.") + 1
    assert warning.startswith(f"warning: reviews/the-long-goodbye.md:{line}: body: still "
                              "begins with the skeleton's placeholder")

    # Its summary uncommented but not written keeps it out too; written, it goes out.
    _imported_review(root, "older", "2026-11-01")
    text = skeleton.read_text("utf-8").replace("Write the review here, in Markdown.",
                                               "Altman's Marlowe, adrift.")
    skeleton.write_text(text.replace("# summary: One", "summary: One"), "utf-8")
    first = run_cli("issue", "new", root=root)
    assert first.stdout.splitlines()[:2] == ["created issue #1 (draft): Film Reviews #1: Older",
                                             "  1. Older (Ana Ruiz, 2026-11-01)"]
    assert "issues leave the review out until then" in run_cli(
        "check", "--sources", root=root).stderr
    skeleton.write_text(text.replace("# summary: One sentence that sells the film; without "
                                     "it the review's opening words are used.", ""), "utf-8")
    second = run_cli("issue", "new", root=root)
    assert second.stdout.splitlines()[0] == (
        "created issue #2 (draft): Film Reviews #2: The Long Goodbye")


def test_a_review_left_as_the_publications_own_skeleton_made_it_is_never_mailed(tmp_path):
    # A house skeleton has its own words where the review goes; a review still holding them,
    # whole, is not written yet. Its headings alone do not make one unwritten: written
    # reviews keep them.
    root = tmp_path / "new"
    review, refusal, warning = _published_unwritten(root, (
        "---\ntitle: {title}\ndate: {date}\nreviewer: {reviewer}\ndraft: true\n---\n\n"
        "## {title}: the verdict\n\nTODO: the verdict,   in a paragraph.\n\n"
        "## Where to see it\n\nTODO\n"))
    assert refusal == (
        "error: only 0 new published reviews for issue #1; need at least 1 "
        "(newsletter.min_reviews); reviews/the-long-goodbye.md is not written yet (its body "
        "is still templates/new-review.md's, untouched), never mailed until it is")
    assert warning == (
        "warning: reviews/the-long-goodbye.md:7: body: is still the body of "
        "templates/new-review.md, untouched: write the review in its place, before readers "
        "find it on the site and in the feeds; issues leave the review out until then")
    # The parse cache follows the skeleton: without one, nothing marks the review.
    skeleton = root / "templates" / "new-review.md"
    skeleton.rename(root / "templates" / "kept.md")
    assert run_cli("issue", "new", "--dry-run", root=root).exit_code == 0
    (root / "templates" / "kept.md").rename(skeleton)
    assert run_cli("issue", "new", "--dry-run", root=root).exit_code == 1

    # Written under the skeleton's headings, it goes out.
    review.write_text(review.read_text("utf-8").replace(
        "TODO: the verdict,   in a paragraph.", "Altman's Marlowe, adrift."), "utf-8")
    first = run_cli("issue", "new", root=root)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[0] == (
        "created issue #1 (draft): Film Reviews #1: The Long Goodbye")
    assert "the-long-goodbye.md" not in run_cli("check", "--sources", root=root).stderr


def _draft_of_the_one_review(root) -> Config:
    """Issue #1 made a draft in the ledger with the publication's one review, as a ledger from
    before such reviews were kept out of issues may hold it; two subscribers to send it to.
    Returns the publication's config."""
    config = load_config(directory=root)
    [review] = load_reviews(config).reviews
    add_subscribers(config, 2, NOW - timedelta(days=1))
    with open_store(config) as store:
        store.create_issue(subject="Film Reviews #1: Your First Review",
                           review_ids=(review.id,), now=NOW)
    return config


def test_a_draft_holding_a_review_not_written_yet_is_refused_when_sending_starts(tmp_path):
    root = tmp_path / "new"
    assert run_cli("init", str(root)).exit_code == 0
    _write_the_sample(root)
    _draft_of_the_one_review(root)
    sample = root / "reviews" / "first-review.md"  # its body put back as it was
    sample.write_text(sample.read_text("utf-8").replace(
        "A review, with", "Write the review here, in Markdown:"), "utf-8")
    refused = run_cli("issue", "send", "1", root=root, env={"PUBLISHER_SECRET": "s" * 40})
    assert (refused.exit_code, refused.stderr.splitlines()[-1]) == (1, (
        "error: issue #1 holds reviews/first-review.md, not written yet (its body still "
        "begins with the skeleton's placeholder), which is never mailed; write your own "
        "review there (the issue then carries it), or cancel the issue ('publisher issue "
        "cancel 1') so that the next one is composed without it"))
    assert not list((root / ".publisher" / "outbox").glob("*/*"))


def test_a_draft_composed_with_the_sample_is_refused_until_it_is_written_or_cancelled(
        tmp_path):
    # A ledger from before the sample was kept out of issues may hold a draft with it.
    root = tmp_path / "new"
    assert run_cli("init", str(root)).exit_code == 0
    config = _draft_of_the_one_review(root)
    secret = {"PUBLISHER_SECRET": "s" * 40}
    refused = run_cli("issue", "send", "1", root=root, env=secret)
    assert (refused.exit_code, refused.stderr.splitlines()[-1]) == (1, (
        "error: issue #1 holds reviews/first-review.md, still the sample review publisher init "
        "wrote, which is never mailed; write your own review there (the issue then carries "
        "it), or cancel the issue ('publisher issue cancel 1') so that the next one is "
        "composed without it"))
    outbox = root / ".publisher" / "outbox"
    assert not list(outbox.glob("*/*"))
    with open_store(config) as store:
        assert store.issue(1).state == "draft"

    _write_the_sample(root)
    sent = run_cli("issue", "send", "1", root=root, env=secret)
    assert sent.exit_code == 0, sent.output
    assert len(list(outbox.glob("new/*"))) == 2


def test_issue_new_says_when_the_draft_goes_out(publication, cli):
    # Runs send one draft composed by hand per scheduled time, oldest first: the editor is told
    # which run that is, and how to send it at once instead.
    publication.add_config("[newsletter]\nmax_reviews = 2\n")
    write_reviews(publication, october([1, 2]))
    # Friday's slot is due (within grace_hours) and no run has taken it yet.
    assert cli("issue", "new", "--dry-run", now=NOW).stdout.splitlines()[-2] == (
        "issue #1 would go out with the next run, for the slot Fri 2026-11-20 09:00 GMT, which "
        "is due; 'publisher issue send 1' sends it now")
    tuesday = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    first = cli("issue", "new", now=tuesday)
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[-1] == (
        "issue #1 goes out with the first run after Fri 2026-11-20 09:00 GMT, the next "
        "scheduled time; 'publisher issue send 1' sends it now")
    write_reviews(publication, october(list(range(1, 9))))
    second = cli("issue", "new", "--dry-run", now=tuesday)
    assert second.stdout.splitlines()[-2:] == [
        "issue #2 would go out with the first run after Fri 2026-11-27 09:00 GMT (after draft "
        "#1: one draft per scheduled time); 'publisher issue send 2' sends it now",
        "(dry run: nothing written)"]

    assert cli("issue", "new", now=NOW).stdout.splitlines()[-1] == (
        "issue #2 goes out with the first run after Fri 2026-11-27 09:00 GMT (after draft #1: "
        "one draft per scheduled time); 'publisher issue send 2' sends it now")
    assert cli("issue", "cancel", "1", now=NOW).exit_code == 0
    assert cli("issue", "new", now=NOW).stdout.splitlines()[-1] == (
        "issue #3 goes out with the first run after Fri 2026-11-27 09:00 GMT (after draft #2: "
        "one draft per scheduled time); 'publisher issue send 3' sends it now")
    assert cli("issue", "cancel", "2", now=NOW).exit_code == 0
    # What the next run does, rehearsed: the oldest draft for the slot due now.
    assert "would send issue #3, composed by hand, for the slot Fri 2026-11-20 09:00 GMT" in (
        cli("run", "--dry-run", now=NOW).stdout)


def test_cancelling_a_draft_of_one_review_says_it_is_released(publication, cli):
    write_reviews(publication, october([1]))
    cli("issue", "new")
    result = cli("issue", "cancel", "1")
    assert result.exit_code == 0
    assert result.stdout == "cancelled issue #1; its 1 review is released for the next issue\n"
