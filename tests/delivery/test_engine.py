"""Delivering issues exactly once, against a real aiosmtpd server and a real SQLite ledger."""

from __future__ import annotations

import base64
import dataclasses
import email.policy
import logging
import mailbox
import re
import threading
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes

import pytest

from publisher.cli.progress import PlainNotes, TerminalProgress, terminal_progress
from publisher.delivery.engine import Run
from publisher.delivery.senders import Pacer
from publisher.errors import DeliveryError, LockHeld, TransportError
from publisher.ledger.store import open_store
from publisher.newsletter.compose import issue_from_record
from publisher.pipeline.issues import compose_issue
from publisher.pipeline.lock import publication_lock
from publisher.pipeline.send import deliver_issue, resend_ambiguous, send_test, settle_ambiguous
from publisher.render.digest import render_digest
from publisher.render.site import Site
from publisher.sources.catalog import load_reviews
from tests.fixtures import NOW, at_once, free_port, run_cli
from tests.smtpserver import SmtpServer

SECRET = "test-secret-for-unsubscribe-links"
PASSWORD = "s3cret-smtp-pa55word"
READERS = [f"reader{i:02d}@example.org" for i in range(20)]

REVIEW = """\
---
title: {title}
date: {date}
reviewer: Sam Okafor
film:
  year: 2026
  director: Ada Brandt
rating: 4
summary: A film called {title}.
---
A review of **{title}**, with enough words to make an excerpt of it.
"""


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


#: Every test here runs on SQLite and on PostgreSQL (the publication's ledger follows the
#: ``database`` fixture).
pytestmark = pytest.mark.usefixtures("database")


class Newsletter:
    """A publication with two reviews, 20 subscribers and issue #1 composed (a draft)."""

    def __init__(self, publication, transport: str, **delivery: object):
        self.publication = publication
        settings = {"transport": transport, "starttls": False, "timeout": 5.0,
                    "retry_base_seconds": 60.0, **delivery}
        publication.add_config("[delivery]\n" + "".join(
            f"{key} = {toml_value(value)}\n" for key, value in settings.items()))
        publication.write_review("first.md", REVIEW.format(title="First Light", date="2026-11-01"))
        publication.write_review("second.md", REVIEW.format(title="Second Wind",
                                                            date="2026-11-02"))
        self.config = publication.config
        self.store = open_store(self.config)
        for address in READERS:
            self.store.add_subscriber(address, f"Reader {address[6:8]}", now=NOW)
        self.issue = compose_issue(self.config, self.store, self.catalog(), now=NOW)
        self.lines: list[str] = []

    def catalog(self):
        return load_reviews(self.config)

    def deliver(self, now: datetime = NOW, number: int | None = None, **kwargs):
        return deliver_issue(self.config, self.store, number or self.issue.number, now=now,
                             secret=SECRET, catalog=self.catalog(), echo=self.lines.append,
                             **kwargs)

    def status(self, address: str, number: int | None = None):
        (found,) = [d for d in self.store.deliveries(number or self.issue.number)
                    if d.email == address]
        return found

    def counts(self, number: int | None = None) -> dict[str, int]:
        return {k: v for k, v in self.store.delivery_counts(number or self.issue.number).items()
                if v}

    def state(self, number: int | None = None) -> str:
        return self.store.issue(number or self.issue.number).state

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def make_newsletter(publication):
    made: list[Newsletter] = []

    def make(transport: str, **delivery: object) -> Newsletter:
        newsletter = Newsletter(publication, transport, **delivery)
        made.append(newsletter)
        return newsletter

    yield make
    for newsletter in made:
        newsletter.close()


def copies(server: SmtpServer) -> Counter[str]:
    return Counter(r for m in server.messages for r in m.rcpt_tos)


def cli(newsletter: Newsletter, *args: str, env: dict[str, str] | None = None):
    return run_cli(*args, root=newsletter.publication.root, now=NOW,
                   env={"PUBLISHER_SECRET": SECRET, **(env or {})})


# --- the happy path ----------------------------------------------------------------------------


def test_every_subscriber_gets_exactly_one_copy(server, make_newsletter):
    newsletter = make_newsletter(server.url, connections=4)
    report = newsletter.deliver()
    assert (report.sent, report.retried, report.failed, report.bounced, report.ambiguous) == (
        20, 0, 0, 0, 0)
    assert copies(server) == Counter(READERS)
    assert newsletter.counts() == {"sent": 20}
    record = newsletter.store.issue(1)
    assert record.state == "sent" and record.sent_at == NOW
    assert 1 <= server.handler.connections <= 4
    for received in server.messages:
        (address,) = received.rcpt_tos
        message = received.message
        assert address in message["To"]
        assert message["Message-ID"] == newsletter.status(address).message_id
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert received.mail_from == "newsletter@reel.test"  # from_address: base_url's host
    assert newsletter.lines[-1].startswith("issue #1: 20 sent, 0 to retry later")
    assert newsletter.lines[-1].endswith("issue #1 is sent")
    # Running again sends nothing.
    again = newsletter.deliver(now=NOW + timedelta(hours=1))
    assert again.sent == 0 and len(server.messages) == 20


def test_without_progress_only_a_summary_line_is_printed(server, make_newsletter, capsys):
    newsletter = make_newsletter(server.url)
    newsletter.deliver()
    assert len(newsletter.lines) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_goes_to_stderr(server, make_newsletter, capsys):
    newsletter = make_newsletter(server.url)
    newsletter.deliver(progress=TerminalProgress("issue #1"))
    captured = capsys.readouterr()
    assert "20/20" in captured.err and captured.out == ""
    assert len(newsletter.lines) == 1


def test_a_note_goes_to_stderr_above_the_bar_and_without_a_bar(capsys):
    bar = TerminalProgress("issue #1")
    bar.start(10)
    bar.advance(3)
    bar.note("SIGINT taken: [not markup]")
    bar.close()
    captured = capsys.readouterr()
    assert "SIGINT taken: [not markup]\n" in captured.err and captured.out == ""

    TerminalProgress("issue #1").note("before any bar")
    assert capsys.readouterr().err == "before any bar\n"


def test_off_a_terminal_there_is_no_bar_but_each_note_is_a_line_on_stderr(capsys):
    notes = terminal_progress("issue #1")  # pytest's stderr is not a terminal
    assert isinstance(notes, PlainNotes)
    notes.start(20)
    notes.advance(20)
    notes.note("SIGTERM taken: stopping")
    notes.close()
    assert capsys.readouterr() == ("", "SIGTERM taken: stopping\n")


def test_many_messages_per_session_up_to_session_messages(server, make_newsletter):
    newsletter = make_newsletter(server.url, connections=1, session_messages=7)
    assert newsletter.deliver().sent == 20
    assert server.handler.connections == 3  # 7 + 7 + 6
    assert copies(server) == Counter(READERS)


def test_a_relay_that_allows_fewer_connections_gets_everything_over_those(make_newsletter):
    with SmtpServer(max_connections=1) as server:
        newsletter = make_newsletter(server.url, connections=4)
        report = newsletter.deliver()
    assert (report.sent, report.state) == (20, "sent")
    assert copies(server) == Counter(READERS)
    assert server.handler.connections == 1
    assert any("the others carried on" in line and "421 4.7.0" in line
               for line in newsletter.lines)


class VirtualClock:
    """A clock that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now = max(self.now, self.now + seconds)


def test_rate_limit_spaces_messages_across_connections():
    clock = VirtualClock()
    pacer = Pacer(1200, clock=clock, sleep=clock.sleep)  # one message per 50 ms
    released: list[float] = []

    def connection() -> None:
        for _ in range(5):
            pacer.wait()
            released.append(clock())

    at_once(connection, [()] * 4)
    gaps = [b - a for a, b in zip(sorted(released), sorted(released)[1:], strict=False)]
    assert len(released) == 20 and min(gaps) >= 0.05 - 1e-9
    assert max(released) - min(released) >= 19 * 0.05 - 1e-9


def test_the_configured_rate_limit_reaches_the_pacer(server, make_newsletter):
    newsletter = make_newsletter(server.url, rate_limit=600)
    run = Run(newsletter.config, newsletter.store, 1, now=NOW, transport=None,
              template=None)  # type: ignore[arg-type]
    assert run.pacer.interval == 0.1


# --- temporary failures ------------------------------------------------------------------------


def test_4xx_is_retried_later_with_exponential_backoff(server, make_newsletter):
    newsletter = make_newsletter(server.url, retry_base_seconds=60.0)
    slow = READERS[3]
    server.fail(slow, "451", times=2)
    report = newsletter.deliver()
    assert (report.sent, report.retried, report.waiting) == (19, 1, 1)
    delivery = newsletter.status(slow)
    assert (delivery.status, delivery.attempts) == ("queued", 1)
    assert delivery.next_attempt_at == NOW + timedelta(seconds=60)
    assert delivery.last_reply.startswith("451 4.3.0")
    assert newsletter.state() == "sending"

    assert newsletter.deliver(now=NOW + timedelta(seconds=30)).sent == 0  # not due yet
    second = NOW + timedelta(seconds=60)
    assert newsletter.deliver(now=second).retried == 1
    delivery = newsletter.status(slow)
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == second + timedelta(seconds=120)  # doubled

    final = newsletter.deliver(now=second + timedelta(seconds=120))
    assert final.sent == 1 and final.state == "sent"
    assert copies(server) == Counter(READERS)
    assert newsletter.status(slow).status == "sent"


def test_4xx_gives_up_after_give_up_hours_without_bouncing(server, make_newsletter):
    newsletter = make_newsletter(server.url, give_up_hours=1.0)
    full = READERS[0]
    server.fail(full, "452")
    assert newsletter.deliver().retried == 1
    report = newsletter.deliver(now=NOW + timedelta(hours=2))
    assert (report.failed, report.bounced, report.state) == (1, 0, "sent")
    delivery = newsletter.status(full)
    assert delivery.status == "failed" and "gave up after 1 hours" in delivery.last_reply
    assert newsletter.store.subscriber(full).status == "active"


@pytest.mark.parametrize("command", [("issue", "send", "1"), ("run",)])
def test_giving_up_on_subscribers_is_a_non_zero_exit_and_a_line_to_read(
        server, make_newsletter, command):
    newsletter = make_newsletter(server.url, give_up_hours=1.0, connections=1)
    server.fail(READERS[0], "452")
    server.fail(READERS[1], "451")
    first = cli(newsletter, "issue", "send", "1")
    assert first.exit_code == 0, first.output  # retrying is not yet a problem
    later = run_cli(*command, root=newsletter.publication.root, now=NOW + timedelta(hours=2),
                    env={"PUBLISHER_SECRET": SECRET})
    assert later.exit_code == 1, later.output
    assert "2 failed (2 given up after retrying)" in later.stdout
    assert later.stderr.splitlines() == [
        "error: issue #1: 2 subscribers will not get it: their mail servers were still "
        "answering 'try again later' after 1 hours (delivery.give_up_hours), so publisher "
        "gave up; the last reply: 451 4.3.0 Temporary local problem, try later"]
    assert newsletter.state() == "sent"


def test_issue_send_goes_on_with_a_frozen_issue_while_the_sources_are_broken(
        server, make_newsletter):
    newsletter = make_newsletter(server.url, connections=1)
    broken = newsletter.publication.root / "reviews" / "broken.md"
    # a draft is made from the sources when its sending starts: it waits for them
    newsletter.publication.write_review("broken.md", "---\ntitle: Broken\n---\n")
    refused = cli(newsletter, "issue", "send", "1")
    assert refused.exit_code == 1
    assert "reviews/broken.md:1: date: missing" in refused.stderr
    assert newsletter.state() == "draft" and server.messages == []

    broken.unlink()
    server.fail(READERS[0], "451", times=1)
    assert cli(newsletter, "issue", "send", "1").exit_code == 0  # frozen; one retry waits
    assert newsletter.state() == "sending"
    newsletter.publication.write_review("broken.md", "---\ntitle: Broken\n---\n")
    later = run_cli("issue", "send", "1", root=newsletter.publication.root,
                    now=NOW + timedelta(hours=1), env={"PUBLISHER_SECRET": SECRET})
    assert later.exit_code == 0, later.output
    assert later.stderr.splitlines() == [
        "warning: 2 problems in the sources: reviews/broken.md:1: date: missing; every review "
        "needs a date (and 1 more); issue #1 is frozen and goes out as it is"]
    assert newsletter.state() == "sent"
    assert copies(server) == Counter(READERS)


class _PausingProgress:
    """A progress bar that holds the main thread once, after the first delivery is done, so
    that the sender's next reports arrive together (as they do on a busy machine)."""

    def __init__(self) -> None:
        self.paused = False

    def start(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        if count and not self.paused:
            self.paused = True
            threading.Event().wait(0.5)

    def note(self, line: str) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_refusal_reported_with_the_reply_before_it_is_recorded_not_waited_for(
        server, make_newsletter):
    # One connection: the sender reports reader01's 250, goes straight on to reader02 (handed
    # to it before it needed it), is refused at RCPT (before the gate, so without waiting for
    # the claim) and reports that too. Both reports reach the main thread in one batch; the
    # claim of reader02 is asked for while the first is settled, and must be committed before
    # the refusal is settled (it once waited for a commit nobody had asked for: a hang).
    newsletter = make_newsletter(server.url, connections=1)
    server.fail(READERS[2], "451")
    reports = []

    def deliver() -> None:
        reports.append(newsletter.deliver(progress=_PausingProgress()))

    worker = threading.Thread(target=deliver, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "the run hung on the claim of a refused delivery"
    (report,) = reports
    assert (report.sent, report.retried, report.ambiguous) == (19, 1, 0)
    assert newsletter.status(READERS[2]).status == "queued"
    assert copies(server) == Counter(r for r in READERS if r != READERS[2])


# --- permanent failures ------------------------------------------------------------------------


def test_550_bounces_and_the_next_issue_skips_the_subscriber(server, make_newsletter):
    newsletter = make_newsletter(server.url)
    gone = READERS[7]
    server.fail(gone, "550")
    report = newsletter.deliver()
    assert (report.sent, report.bounced, report.state) == (19, 1, "sent")
    assert newsletter.status(gone).status == "bounced"
    assert newsletter.store.subscriber(gone).status == "bounced"

    newsletter.publication.write_review("third.md", REVIEW.format(title="Third Act",
                                                                  date="2026-11-25"))
    later = NOW + timedelta(days=7)
    second = compose_issue(newsletter.config, newsletter.store, newsletter.catalog(), now=later)
    report = newsletter.deliver(now=later, number=second.number)
    assert report.sent == 19
    assert gone not in {d.email for d in newsletter.store.deliveries(second.number)}
    assert copies(server)[gone] == 0
    assert copies(server) == Counter({r: 2 for r in READERS if r != gone})


def test_policy_rejection_pauses_the_issue_and_suppresses_nobody(server, make_newsletter):
    newsletter = make_newsletter(server.url, connections=4)
    blocked = READERS[5]
    server.fail(blocked, "554", times=1)
    report = newsletter.deliver()
    assert report.paused is not None and "5.7.1" in report.paused and blocked in report.paused
    assert "\n" not in report.paused
    assert newsletter.store.subscriber(blocked).status == "active"
    assert newsletter.state() == "sending"
    counts = newsletter.counts()
    assert set(counts) <= {"sent", "queued"} and counts["queued"] >= 1
    assert counts.get("sent", 0) == report.sent == len(server.messages)
    blocked_delivery = newsletter.status(blocked)
    assert (blocked_delivery.status, blocked_delivery.attempts) == ("queued", 0)
    assert max(copies(server).values(), default=1) == 1

    assert newsletter.store.issue(1).paused_reason.startswith(f"the server refused {blocked}")
    again = newsletter.deliver()  # cron runs again: the pause holds, nothing is sent
    assert again.paused == report.paused and again.sent == 0
    assert len(server.messages) == report.sent

    resumed = newsletter.deliver(resume=True)  # a person fixed the cause: carry on
    assert resumed.paused is None and resumed.state == "sent"
    assert newsletter.store.issue(1).paused_reason == ""
    assert copies(server) == Counter(READERS)


# --- ambiguity -------------------------------------------------------------------------------


def test_disconnect_after_data_is_ambiguous_and_only_resent_on_purpose(server, make_newsletter):
    newsletter = make_newsletter(server.url)
    eve = READERS[11]
    server.fail(eve, "drop_after_data", times=1)
    report = newsletter.deliver()
    assert (report.sent, report.ambiguous, report.state) == (19, 1, "sending")
    assert newsletter.status(eve).status == "sending"
    assert eve in newsletter.lines[-1] and "resend-ambiguous 1" in newsletter.lines[-1]
    assert len(server.received_by(eve)) == 1  # it did arrive; we cannot know that

    again = newsletter.deliver(now=NOW + timedelta(hours=1))
    assert (again.sent, again.ambiguous) == (0, 1)
    assert len(server.received_by(eve)) == 1

    resent = resend_ambiguous(newsletter.config, newsletter.store, 1, now=NOW + timedelta(hours=2),
                              secret=SECRET, catalog=newsletter.catalog(),
                              echo=newsletter.lines.append)
    assert (resent.sent, resent.ambiguous, resent.state) == (1, 0, "sent")
    assert len(server.received_by(eve)) == 2
    assert copies(server) == Counter({**Counter(READERS), eve: 2})


def test_deliveries_left_sending_by_a_crash_are_not_resent(server, make_newsletter):
    newsletter = make_newsletter(server.url)
    newsletter.store.queue_deliveries(1, now=NOW)
    crashed = newsletter.store.due_deliveries(1, now=NOW, limit=2)
    newsletter.store.claim([d.id for d in crashed], now=NOW)  # then the process died
    report = newsletter.deliver()
    assert (report.sent, report.ambiguous, report.state) == (18, 2, "sending")
    assert {d.email for d in crashed}.isdisjoint(copies(server))
    assert "2 ambiguous" in newsletter.lines[-1]


def test_connection_dropped_mid_session_reconnects_and_carries_on(server, make_newsletter):
    newsletter = make_newsletter(server.url, connections=1)
    server.fail(READERS[9], "drop_before_data", times=1)
    report = newsletter.deliver()
    assert (report.sent, report.retried, report.state) == (20, 0, "sent")
    assert copies(server) == Counter(READERS)
    assert server.handler.connections == 2


# --- the transport is unusable -----------------------------------------------------------------


def test_wrong_smtp_password_is_a_clear_error_and_nothing_is_sent(make_newsletter, caplog):
    caplog.set_level(logging.DEBUG)
    with SmtpServer(password=PASSWORD) as server:
        newsletter = make_newsletter(server.url, smtp_user="user")
        result = cli(newsletter, "issue", "send", "1",
                     env={"PUBLISHER_SMTP_PASSWORD": "wrong-" + PASSWORD})
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "SMTP authentication failed for user 'user'" in errors[0]
    assert "PUBLISHER_SMTP_PASSWORD" in errors[0]
    everything = result.output + caplog.text
    for secret in (PASSWORD, base64.b64encode(f"\0user\0wrong-{PASSWORD}".encode()).decode()):
        assert secret not in everything
    assert server.messages == []
    assert server.handler.connections <= 1  # one failed login, not one per connection
    assert newsletter.counts() == {"queued": 20}


def test_right_smtp_password_from_the_environment_sends(make_newsletter):
    with SmtpServer(password=PASSWORD) as server:
        newsletter = make_newsletter(server.url, smtp_user="user")
        result = cli(newsletter, "issue", "send", "1", env={"PUBLISHER_SMTP_PASSWORD": PASSWORD})
    assert result.exit_code == 0, result.output
    assert copies(server) == Counter(READERS)
    assert PASSWORD not in result.output


def test_connection_refused_is_one_clear_line(make_newsletter):
    port = free_port()
    newsletter = make_newsletter(f"smtp://127.0.0.1:{port}")
    with pytest.raises(TransportError):
        newsletter.deliver()
    assert newsletter.counts() == {"queued": 20}
    result = cli(newsletter, "issue", "send", "1")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"error: cannot connect to smtp://127.0.0.1:{port}: connection refused")
    assert newsletter.counts() == {"queued": 20}


@pytest.mark.parametrize("reply", [
    "553 5.1.8 Sender address rejected: Domain not found",
    # a policy code, but at MAIL FROM: about our sender, not the subscriber it would be blamed on
    "550 5.7.1 <bounces@reel.test>: Sender address rejected: not owned by user",
])
def test_a_refused_sender_stops_the_run_and_bounces_nobody(server, make_newsletter, reply):
    newsletter = make_newsletter(server.url, connections=4)
    server.refuse_sender(reply)
    with pytest.raises(TransportError, match=f"refused the sender: {reply[:9]}") as info:
        newsletter.deliver()
    assert "newsletter.bounce_address" in str(info.value)
    assert not any("the others carried on" in line for line in newsletter.lines)
    assert server.messages == []
    assert newsletter.counts() == {"queued": 20}  # nothing sent, failed or bounced
    assert not newsletter.store.issue(1).paused_reason
    assert len(newsletter.store.subscribers("active")) == len(READERS)


def test_a_relay_that_will_not_relay_stops_the_run_and_bounces_nobody(server, make_newsletter):
    # Exim's answer to a client without a login, at RCPT, in the codes of a bad recipient.
    newsletter = make_newsletter(server.url, connections=4)
    server.refuse_recipients("550 relay not permitted")
    with pytest.raises(TransportError, match="refused to relay publisher's mail: 550 relay not"):
        newsletter.deliver()
    assert newsletter.counts() == {"queued": 20}
    assert len(newsletter.store.subscribers("active")) == len(READERS)


def test_a_relay_refusing_every_recipient_in_words_unknown_bounces_nobody(server,
                                                                          make_newsletter):
    # Nothing in the reply says it is about the relay: the run stops after the first few, as
    # no message was accepted, and nobody is marked bounced; they are retried later.
    newsletter = make_newsletter(server.url, connections=2)
    server.refuse_recipients("550 5.1.1 <{address}>: Recipient address rejected: not here")
    report = newsletter.deliver()
    assert report.halted is not None
    assert "refused the first 5 recipients" in report.halted
    assert "nobody was marked bounced" in report.halted
    assert report.bounced == 0 and report.sent == 0
    assert 5 <= report.retried <= 6  # a second connection's reply may come in after the stop
    assert len(newsletter.store.subscribers("active")) == len(READERS)
    assert set(newsletter.counts()) == {"queued"}
    assert newsletter.lines[-1].endswith("; 20 still queued")  # 5 or 6 for a retry, the others
    result = cli(newsletter, "issue", "send", "1")  # the next run: the same, one line
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        "error: issue #1: sending stopped: the relay refused the first 5 recipients")
    assert len(newsletter.store.subscribers("active")) == len(READERS)


def test_bounces_before_any_message_is_accepted_are_bounces_at_their_retry(server,
                                                                           make_newsletter):
    newsletter = make_newsletter(server.url, connections=1)
    first_four = READERS[:4]  # the first four in the queue
    for reader in first_four:
        server.fail(reader, "550")
    report = newsletter.deliver()
    assert (report.sent, report.retried, report.bounced) == (16, 4, 0)
    assert report.halted is None
    report = newsletter.deliver(now=NOW + timedelta(minutes=2))  # retry_base_seconds is 60
    assert (report.sent, report.bounced, report.state) == (0, 4, "sent")
    assert {s.email for s in newsletter.store.subscribers("bounced")} == set(first_four)


def test_unknown_transport_url_fails_before_anything_is_queued(make_newsletter):
    newsletter = make_newsletter("pigeon://loft/7")
    result = cli(newsletter, "issue", "send", "1")
    assert result.exit_code == 1
    assert "unsupported transport URL 'pigeon://loft/7'" in result.output
    assert "smtp://host:port" in result.output
    assert newsletter.state() == "draft" and newsletter.counts() == {}


# --- local transports ------------------------------------------------------------------------


def test_maildir_transport_delivers_messages_that_parse(make_newsletter):
    newsletter = make_newsletter("maildir://.publisher/outbox")
    report = newsletter.deliver()
    assert report.sent == 20 and report.state == "sent"
    outbox = newsletter.publication.root / ".publisher" / "outbox"
    box = mailbox.Maildir(outbox, factory=None, create=False)
    messages = [message_from_bytes(box.get_bytes(key), policy=email.policy.default)
                for key in box.keys()]
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in messages) == READERS
    for message in messages:
        assert message.get_content_type() == "multipart/alternative"
        assert "First Light" in message.get_body(("plain",)).get_content()
    assert all(b"\r\n" not in p.read_bytes() for p in (outbox / "new").iterdir())


def test_file_transport_writes_an_eml_per_message_id(make_newsletter, tmp_path):
    out = tmp_path / "eml"
    newsletter = make_newsletter(f"file://{out}")
    assert newsletter.deliver().sent == 20
    files = sorted(out.glob("*.eml"))
    assert len(files) == 20
    ids = {d.message_id.strip("<>") + ".eml" for d in newsletter.store.deliveries(1)}
    assert {f.name for f in files} == ids
    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert message["Subject"] and message.get_body(("html",)) is not None


# --- test copies and dry runs ------------------------------------------------------------------


def test_send_to_one_address_records_nothing(server, make_newsletter):
    newsletter = make_newsletter(server.url)
    result = cli(newsletter, "issue", "send", "1", "--to", "editor@example.org")
    assert result.exit_code == 0, result.output
    assert "sent a test copy of issue #1 to editor@example.org: 250" in result.output
    assert copies(server) == Counter(["editor@example.org"])
    assert newsletter.state() == "draft" and newsletter.counts() == {}


def test_send_test_refuses_an_invalid_address(server, make_newsletter):
    newsletter = make_newsletter(server.url)
    with pytest.raises(DeliveryError, match="--to 'not an address'"):
        send_test(newsletter.config, newsletter.store, 1, "not an address", secret=SECRET,
                  now=NOW, catalog=newsletter.catalog())
    assert server.messages == []


def test_dry_run_says_what_would_happen_and_sends_nothing(server, make_newsletter):
    newsletter = make_newsletter(server.url)
    result = cli(newsletter, "issue", "send", "1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would queue 20 deliveries (one per active subscriber) and send them via " \
           f"smtp://127.0.0.1:{server.port}" in result.output
    assert server.messages == [] and newsletter.state() == "draft"


def test_dry_run_names_what_the_send_would_refuse_and_exits_as_it_would(server,
                                                                        make_newsletter):
    newsletter = make_newsletter(server.url)
    newsletter.publication.add_config('[newsletter]\nfrom_address = "news@example.org"\n')
    toml = newsletter.publication.root / "publisher.toml"
    (newsletter.publication.root / "reviews" / "second.md").unlink()
    result = cli(newsletter, "issue", "send", "1", "--dry-run", env={"PUBLISHER_SECRET": ""})
    real = cli(newsletter, "issue", "send", "1", env={"PUBLISHER_SECRET": ""})
    assert result.exit_code == real.exit_code == 1
    errors = result.stderr.splitlines()
    assert errors[0] == ("error: PUBLISHER_SECRET is not set; it signs unsubscribe links; set "
                         "it to a long random string (python3 -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))' makes one)")
    assert errors[0] in real.stderr.splitlines()  # the first thing the send stops on
    assert errors[1].startswith(f"error: {toml}: newsletter.from_address: still a domain "
                                "reserved for examples")
    assert errors[2].startswith("error: issue #1 holds review tag:reel.test,2026-11-02:second,")
    assert "would queue 20 deliveries" in result.stdout
    assert server.messages == [] and newsletter.state() == "draft"


AMBIGUOUS_ONE = ("error: issue #1: 1 delivery is ambiguous (a send was interrupted); decide, "
                 "then run 'publisher issue resend-ambiguous 1' to send them again or "
                 "'publisher issue settle-ambiguous 1' to record them as delivered")


def test_send_and_resend_exit_non_zero_while_deliveries_are_ambiguous_as_run_does(
        server, make_newsletter):
    newsletter = make_newsletter(server.url)
    server.fail(READERS[0], "drop_after_data", times=2)
    first = cli(newsletter, "issue", "send", "1")
    assert first.exit_code == 1 and "1 ambiguous" in first.stdout
    assert first.stderr.splitlines() == [AMBIGUOUS_ONE]
    # the same rule, the same line, in `run`
    ran = cli(newsletter, "run")
    assert ran.exit_code == 1 and ran.stderr.splitlines() == [AMBIGUOUS_ONE]
    # a resend that loses the connection again leaves it ambiguous: still non-zero
    again = cli(newsletter, "issue", "resend-ambiguous", "1")
    assert again.exit_code == 1 and again.stderr.splitlines() == [AMBIGUOUS_ONE]
    result = cli(newsletter, "issue", "resend-ambiguous", "1")
    assert result.exit_code == 0, result.output
    assert "requeued 1 ambiguous delivery" in result.output and result.stderr == ""
    assert newsletter.state() == "sent"
    assert copies(server)[READERS[0]] == 3


def test_paused_issue_exits_non_zero_with_one_line(server, make_newsletter):
    newsletter = make_newsletter(server.url, connections=1)
    server.fail(READERS[0], "554")
    result = cli(newsletter, "issue", "send", "1")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "paused" in errors[0]
    assert newsletter.store.subscriber(READERS[0]).status == "active"


# --- one definition of "finished" --------------------------------------------------------------


def test_an_issue_paused_then_settled_with_nothing_left_is_sent_and_not_paused(
        server, make_newsletter):
    # Pause on a 5.7.1 for the last reader, one delivery left ambiguous; the refused reader
    # unsubscribes (their queued delivery fails), then a person settles the ambiguous one:
    # nothing is left to send, so the issue is sent, and no longer paused.
    newsletter = make_newsletter(server.url, connections=1)
    server.fail(READERS[3], "drop_after_data", times=1)
    server.fail(READERS[19], "554")
    report = newsletter.deliver()
    assert report.paused and report.ambiguous == 1
    assert cli(newsletter, "subscribers", "unsubscribe", READERS[19]).exit_code == 0

    settled = cli(newsletter, "issue", "settle-ambiguous", "1")
    assert settled.exit_code == 0, settled.output
    assert "the issue is sent" in settled.output
    record = newsletter.store.issue(1)
    assert (record.state, record.paused_reason) == ("sent", "")
    shown = cli(newsletter, "issue", "show", "1")
    assert "state: sent\n" in shown.output
    assert "paused" not in shown.output and "issue send 1" not in shown.output


# --- what an issue is, frozen when sending starts ------------------------------------------------


def test_a_review_edited_between_a_4xx_and_its_retry_does_not_change_the_issue(
        server, make_newsletter):
    newsletter = make_newsletter(server.url, connections=1)
    late = READERS[7]
    server.fail(late, "451", times=1)
    first = newsletter.deliver()
    assert first.retried == 1
    newsletter.publication.write_review(
        "first.md", REVIEW.format(title="First Light", date="2026-11-01")
        .replace("with enough words", "REWRITTEN AFTER THE ISSUE WENT OUT, with enough words"))
    retried = newsletter.deliver(now=NOW + timedelta(hours=1))
    assert (retried.sent, retried.state) == (1, "sent")
    def text(address: str) -> str:  # the plain-text part, the reader's own values masked
        body = server.received_by(address)[0].message.get_body(("plain",)).get_content()
        body = re.sub(r"preferences\?token=\S+", "preferences?…", body)
        return re.sub(r"unsubscribe\?address=\S+", "unsubscribe?…", body.replace(address, "…"))

    assert "REWRITTEN" not in text(late)
    assert text(late) == text(READERS[0])


def test_a_review_deleted_mid_send_neither_stalls_the_issue_nor_leaves_it(
        server, make_newsletter, tmp_path):
    newsletter = make_newsletter(server.url, connections=1)
    late = READERS[7]
    server.fail(late, "451", times=1)
    newsletter.deliver()
    (newsletter.publication.root / "reviews" / "second.md").unlink()
    retried = newsletter.deliver(now=NOW + timedelta(hours=1))
    assert (retried.sent, retried.state) == (1, "sent")
    text = server.received_by(late)[0].message.get_body(("plain",)).get_content()
    assert "Second Wind" in text

    # A test copy and the web archive read the same frozen issue.
    assert cli(newsletter, "issue", "send", "1", "--to", "editor@example.org").exit_code == 0
    copy = server.received_by("editor@example.org")[0].message
    assert "Second Wind" in copy.get_body(("plain",)).get_content()
    built = cli(newsletter, "build")
    assert built.exit_code == 0, built.output
    page = (newsletter.publication.root / "public" / "issues" / "1" / "index.html").read_text()
    assert "Second Wind" in page and "no longer in the sources" not in built.output


# --- the run lock, in the library ----------------------------------------------------------------


def test_every_library_entry_point_that_sends_takes_the_run_lock(server, make_newsletter):
    newsletter = make_newsletter(server.url)
    # another process deciding about ambiguous deliveries, as far as the kernel (SQLite's file
    # lock) or the database (PostgreSQL's advisory lock) can tell
    with publication_lock(newsletter.config):
        with pytest.raises(LockHeld):
            newsletter.deliver()
        with pytest.raises(LockHeld):
            resend_ambiguous(newsletter.config, newsletter.store, 1, now=NOW, secret=SECRET,
                             catalog=newsletter.catalog(), echo=newsletter.lines.append)
        with pytest.raises(LockHeld):
            settle_ambiguous(newsletter.config, newsletter.store, 1, now=NOW)
    assert server.messages == [] and newsletter.state() == "draft"


# --- several workers ---------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_senders_share_the_database_run_lock_and_settling_waits_for_them(server,
                                                                          make_newsletter):
    newsletter = make_newsletter(server.url)
    with publication_lock(newsletter.config, shared=True):  # a worker on another host
        report = newsletter.deliver()  # sends beside it
        assert report.sent == len(READERS)
        with pytest.raises(LockHeld, match=r"holds the lock \(in the database: [^)]+:\d+:"):
            settle_ambiguous(newsletter.config, newsletter.store, 1, now=NOW)
    assert settle_ambiguous(newsletter.config, newsletter.store, 1, now=NOW) == 0


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_sender_that_finishes_first_does_not_call_what_others_are_sending_still_queued(
        server, make_newsletter):
    # Several senders on one PostgreSQL ledger: the deliveries another live worker has
    # reserved are being sent, by it; "still queued" would send the operator looking for why.
    newsletter = make_newsletter(server.url, retry_base_seconds=60.0)
    for address in READERS[:5]:
        server.fail(address, "451", times=1)
    first = newsletter.deliver()
    assert first.waiting == 5 and newsletter.lines[-1].endswith("; 5 still queued")
    later = NOW + timedelta(minutes=5)
    with open_store(newsletter.config) as other:  # a sender on another host
        assert len(other.take_due(1, now=later, limit=3)) == 3
        report = newsletter.deliver(now=later)
        assert (report.sent, report.waiting) == (2, 0)
        assert newsletter.lines[-1].endswith("; 3 being sent by another sender")
    assert newsletter.state() == "sending"


def test_a_worker_that_finds_the_issue_frozen_by_another_sends_what_was_frozen(
        server, make_newsletter, monkeypatch):
    # Two hosts start sending the draft at once, each having rendered it from its own copy of
    # the sources; the other host's freeze lands first. This one must send that, not its own.
    newsletter = make_newsletter(server.url, connections=2)
    issue = issue_from_record(newsletter.issue, newsletter.catalog(), newsletter.config)
    theirs = render_digest(dataclasses.replace(issue, subject="As the other host froze it"),
                           Site.from_config(newsletter.config))
    own = newsletter.store.start_sending

    def start_sending_second(digest, *, now):
        with open_store(newsletter.config) as other_host:
            other_host.start_sending(theirs, now=now)
        return own(digest, now=now)

    monkeypatch.setattr(newsletter.store, "start_sending", start_sending_second)
    newsletter.deliver()
    subjects = {message.message["Subject"] for message in server.messages}
    assert subjects == {"As the other host froze it"}
    assert len(server.messages) == len(READERS)
