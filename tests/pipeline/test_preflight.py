"""`publisher check` is the pre-flight for everything cron will need: the schedule, the
transport (with --connect, a real session against a real SMTP server with TLS and AUTH, sending
nothing), the addresses, the secret, the DKIM key, the ledger and the directories; and what it
passes does not fail at send time for a reason it could have seen."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import time
from datetime import timedelta

import dkim
import dns.resolver
import psycopg
import pytest
from sqlalchemy import create_engine

from publisher.config import load_config
from publisher.ledger.migrate import migrate
from publisher.ledger.readers import Owed
from publisher.ledger.schema import SCHEMA_REVISION
from publisher.ledger.store import open_store
from publisher.models import Subscriber
from publisher.pipeline import lock
from publisher.pipeline.lock import RUN_LOCK, run_lock
from publisher.pipeline.preflight import check_dkim, check_dmarc, documentation_settings
from publisher.render.dkim import DkimSigner
from publisher.render.message import MessageTemplate
from publisher.render.sender import Sender
from tests.dnsserver import DnsServer
from tests.fixtures import (
    ISSUE_DATE,
    NOW,
    SLOT,
    add_subscribers,
    make_digest,
    write_reviews,
)
from tests.mounts import read_only
from tests.render.test_dkim import make_key, needs_openssl
from tests.smtpserver import SmtpServer, make_certificate

SECRET = "a-secret-of-at-least-thirty-two-bytes"
ENV = {"PUBLISHER_SECRET": SECRET}
PASSWORD = "relay-password-for-tests"
OWN = """\
newsletter.from_address = "news@secondlooks.org"
newsletter.postal_address = "1 Reel Street, Bristol"
"""


def root_keys(publication, text: str) -> None:
    """Add keys (dotted, like newsletter.schedule) at the top of publisher.toml, before any
    [table], so that tests can also add whole tables such as [delivery] below."""
    path = publication.root / "publisher.toml"
    path.write_text(text + path.read_text())


def toml_without(publication, *keys: str) -> str:
    """publisher.toml's text without the lines that set ``keys``."""
    text = (publication.root / "publisher.toml").read_text()
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.partition("=")[0].strip() not in keys)


@pytest.fixture(autouse=True)
def local_dns():
    """check --connect looks up DNS records (DKIM, DMARC): here a real DNS server on loopback
    that knows no name, never the network's."""
    with DnsServer({}) as dns_server:
        before = dns.resolver.default_resolver
        dns.resolver.default_resolver = dns_server.resolver()
        try:
            yield dns_server
        finally:
            dns.resolver.default_resolver = before


@pytest.fixture
def publication(publication):
    """A publication whose addresses are its own (not example.org), with two reviews."""
    publication.write_config(publication.root.joinpath("publisher.toml").read_text()
                             .replace("https://reel.test/", "https://secondlooks.org/")
                             .replace("editor@reel.test", "editor@secondlooks.org"))
    root_keys(publication, OWN)
    write_reviews(publication, 2)
    return publication


def check(cli, *args, env=ENV, now=None):
    kwargs = {"now": now} if now else {}
    result = cli("check", *args, env=env, **kwargs)
    assert "Traceback" not in result.output
    return result


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]


def warnings(result) -> list[str]:
    return [line[len("warning: "):] for line in result.stderr.splitlines()
            if line.startswith("warning: ")]


def test_a_publication_ready_for_cron_passes_and_says_what_it_checked(publication, cli):
    result = check(cli)
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    # No ledger yet: the first run, three hours after a slot, sends its issue (as run does).
    assert out[0] == ("schedule: '0 9 * * FRI' in Europe/London; issue for Fri 2026-11-20 09:00 "
                      "GMT is due now (3 h late; the next run sends it); the next after it is "
                      "due Fri 2026-11-27 09:00 GMT")
    assert out[1].startswith("transport: maildir://") and out[1].endswith(
        "(local: messages stay on this machine)")
    assert "secret: PUBLISHER_SECRET is set (37 bytes)" in out
    assert SECRET not in result.output
    assert any(line.startswith("ledger: sqlite:///") and "does not exist yet" in line
               for line in out)
    assert "directories: public/ and .publisher/ are writable" in out
    assert ("readers: forms and links go to https://secondlooks.org/subscribe, …/unsubscribe, "
            "…/preferences under base_url; the site's host must pass those paths to publisher "
            "serve, or set [server] url to where serve answers") in out
    assert result.stderr == ""


def test_the_readers_line_names_the_server_and_what_the_newsletter_points_elsewhere(
        publication, cli):
    root_keys(publication, 'newsletter.subscribe_url = "https://signup.secondlooks.org/"\n')
    publication.add_config('[server]\nurl = "https://list.secondlooks.org/"\n')
    out = check(cli).stdout.splitlines()
    assert ("readers: publisher serve at https://list.secondlooks.org/ (newsletter.subscribe_url "
            "given)") in out


@pytest.mark.parametrize(("template", "body", "says"), [
    ("welcome.txt.j2", "{{ latest.number }}", "'None' has no attribute 'number'"),
    ("confirmation.html.j2", "{% if %}", "Expected an expression"),
    ("on_list.txt.j2", "{{ confirm_url.x }}", "'confirm_url' is undefined"),
    ("address_link.html.j2", "{{ confirm_url.x }}", "'confirm_url' is undefined"),
    ("address_changed.txt.j2", "{% if %}", "Expected an expression"),
])
def test_a_readers_message_that_would_not_render_is_an_error(publication, cli, template, body,
                                                              says):
    publication.write_template(f"web/{template}", body)
    result = check(cli)
    assert result.exit_code == 1
    (line,) = [e for e in errors(result) if e.startswith("readers' messages: ")]
    assert f"web/{template}" in line and says in line


def test_no_welcome_no_welcome_template_checked(publication, cli):
    publication.write_template("web/welcome.txt.j2", "{{ latest.number }}")
    publication.add_config("[newsletter]\nwelcome = false\n")
    assert not [e for e in errors(check(cli)) if "readers' messages" in e]


@pytest.mark.parametrize(("config", "where", "link"), [
    ('base_url = "http://secondlooks.org/"\n', "base_url", "http://secondlooks.org/unsubscribe"),
    ('[server]\nurl = "http://list.secondlooks.org/"\n', "server.url",
     "http://list.secondlooks.org/unsubscribe"),
])
def test_an_unsubscribe_link_over_plain_http_is_a_warning(publication, cli, config, where, link):
    text = (publication.root / "publisher.toml").read_text("utf-8")
    if config.startswith("base_url"):
        text = text.replace('base_url = "https://secondlooks.org/"\n', config)
    else:
        text += config
    publication.write_config(text)
    result = check(cli)
    assert [w for w in warnings(result) if "plain http" in w] == [
        f"{publication.root / 'publisher.toml'}: {where}: the unsubscribe link in every message "
        f"is plain http ({link}); one-click unsubscribe (RFC 8058, which Gmail and Yahoo "
        "require of bulk senders) must be https; serve it over https"]


def test_a_site_tried_out_on_this_machine_needs_no_https(publication, cli):
    publication.add_config('[server]\nurl = "http://127.0.0.1:8080/"\n')
    assert not [w for w in warnings(check(cli)) if "plain http" in w]


@pytest.mark.parametrize(("grace", "warned"), [("0", True), ("0.05", True), ("0.1", False),
                                             ("36", False)])
def test_a_grace_shorter_than_the_runs_apart_is_a_warning(publication, cli, grace, warned):
    """grace_hours = 0 skipped every slot: the run every five minutes comes after it."""
    root_keys(publication, f"newsletter.grace_hours = {grace}\n")
    result = check(cli)
    assert result.exit_code == 0, result.output
    expected = (f"{publication.root / 'publisher.toml'}: newsletter.grace_hours: {grace} hours is "
                "shorter than the 5 minutes between the runs publisher schedule sets up (crontab "
                "or systemd), so a run can find an issue past its grace and skip it; set "
                "grace_hours = 1 or more")
    assert [w for w in warnings(result) if "grace_hours" in w] == ([expected] if warned else [])


def test_check_says_a_due_slot_gets_no_issue_when_too_few_reviews_are_new(publication, cli,
                                                                          database):
    """The slot is due, but the run records it as empty: check says so, as the run does."""
    assert cli("run", now=SLOT + timedelta(minutes=5), env=ENV).exit_code == 0
    root_keys(publication, "newsletter.min_reviews = 2\n")
    write_reviews(publication, 1, first=(SLOT + timedelta(days=2)).date(), prefix="new")
    week = SLOT + timedelta(days=7)
    expected = ("schedule: '0 9 * * FRI' in Europe/London; the slot Fri 2026-11-27 09:00 GMT is "
                "due now (5 min late), but the next run composes no issue for it: only 1 new "
                "published review since issue #1; need at least 2 (newsletter.min_reviews); the "
                "next after it is due Fri 2026-12-04 09:00 GMT")
    assert check(cli, now=week + timedelta(minutes=5)).stdout.splitlines()[0] == expected
    run = cli("run", now=week + timedelta(minutes=5), env=ENV)
    assert ("no issue for the slot Fri 2026-11-27 09:00 GMT: only 1 new published review since "
            "issue #1; need at least 2 (newsletter.min_reviews)") in run.stdout.splitlines()
    # A second new review makes the issue: check says the run sends it.
    write_reviews(publication, 2, first=(SLOT + timedelta(days=2)).date(), prefix="new")
    twoweeks = check(cli, now=week + timedelta(days=7, minutes=5)).stdout.splitlines()[0]
    assert "(5 min late; the next run sends it)" in twoweeks


def test_check_names_an_issue_every_run_stops_on(publication, cli):
    """Ambiguous deliveries and a paused issue make every run exit 1 until a person decides:
    check, which says what a run will need, says so too, with the same line."""
    add_subscribers(publication.config, 3, SLOT - timedelta(days=1))
    assert cli("issue", "new", env=ENV).exit_code == 0
    with open_store(publication.config) as crashed:  # a send killed with messages on the wire
        crashed.queue_deliveries(1, now=NOW)
        first, *_ = crashed.due_deliveries(1, now=NOW)
        assert crashed.claim([first.id], now=NOW) == [first.id]
    result = check(cli)
    assert result.exit_code == 1
    assert errors(result) == [
        "issue #1: 1 delivery is ambiguous (a send was interrupted); decide, then run "
        "'publisher issue resend-ambiguous 1' to send them again or 'publisher issue "
        "settle-ambiguous 1' to record them as delivered"]
    with open_store(publication.config) as store:
        store.pause_issue(1, "the server refused reader0000@example.org for policy reasons")
    paused = errors(check(cli))
    assert paused[0].startswith("issue #1 paused: the server refused "
                                "reader0000@example.org for policy reasons; fix the cause")
    assert cli("issue", "settle-ambiguous", "1", env=ENV).exit_code == 0
    assert errors(check(cli)) == paused[:1]


def test_check_names_a_stuck_run_holding_the_lock(publication, cli):
    """Under systemd the timer starts no run while one is active, so no later run can say a
    stopped one is stuck: check, run by the operator's monitoring, says it with a run's line."""
    config = publication.config
    with run_lock(config.paths.lock) as pid:
        assert check(cli).exit_code == 0  # a run making progress is no problem
        silent_since = time.time() - 3 * 3600
        os.utime(config.paths.lock, (silent_since, silent_since))
        result = check(cli)
    assert result.exit_code == 1
    assert len(errors(result)) == 1
    assert errors(result)[0].startswith(f"another publisher run (pid {pid}, started ")
    assert "has made no progress since" in errors(result)[0] and "(3 hours)" in errors(result)[0]
    assert check(cli).exit_code == 0


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_check_names_a_stuck_sender_holding_the_database_run_lock(publication, database,
                                                                  postgres_url, cli,
                                                                  monkeypatch):
    """On PostgreSQL a sender stopped on another host stops no other (they send beside it)
    and no later run steps aside for it: without a heartbeat nobody would ever say it."""
    silence = [3600.0]  # how long a holder may be silent, as the test says
    monkeypatch.setattr(lock, "stuck_after", lambda config: silence[0])
    with psycopg.connect(postgres_url, autocommit=True,
                         application_name="far:4242:a1b2c3") as far:
        far.execute(f"SELECT pg_advisory_lock_shared({RUN_LOCK})")
        time.sleep(1.5)
        assert check(cli).exit_code == 0  # silent for less than it may be
        silence[0] = 1.0
        stuck = check(cli)
        settle = cli("issue", "settle-ambiguous", "1", env=ENV)
    assert check(cli).exit_code == 0  # stopped: its connection closed, its lock with it
    assert stuck.exit_code == 1
    assert settle.exit_code == 1 and errors(settle) == [f"error: {errors(stuck)[0]}"]
    assert re.fullmatch(
        r"another publisher run \(pid 4242 on host far, started \S+\) holds the lock and "
        r"has made no progress since \S+ \(0 minutes\): it is stopped or blocked \(a dead "
        r"mount, a mail server that stopped answering\); on far, look at it \('ps -o "
        r"pid,stat,wchan:20,args -p 4242'\) and stop it \('kill 4242', then 'kill -9 4242' if "
        r"it does not exit\): the next run goes on where it stopped, sending nothing twice and "
        r"naming what it had in flight as ambiguous, if anything", stuck.stderr.strip())


def test_check_says_what_the_next_run_does_about_a_slot_that_passed(publication, cli,
                                                                     database):
    assert cli("run", now=SLOT + timedelta(minutes=5), env=ENV).exit_code == 0
    write_reviews(publication, 1, first=(SLOT + timedelta(days=2)).date(), prefix="new")
    week = SLOT + timedelta(days=7)  # the machine was off over its slot
    late = check(cli, now=week + timedelta(hours=25))
    assert late.stdout.splitlines()[0] == (
        "schedule: '0 9 * * FRI' in Europe/London; issue for Fri 2026-11-27 09:00 GMT is due now "
        "(25 h late; the next run sends it); the next after it is due Fri 2026-12-04 09:00 GMT")
    missed = check(cli, now=week + timedelta(hours=49))
    assert ("schedule: the slot Fri 2026-11-27 09:00 GMT was missed beyond grace_hours (2.0 days "
            "late, 36 h grace): the next run skips it ('publisher run --catch-up' sends it)"
            ) in warnings(missed)
    assert missed.stdout.splitlines()[0] == ("schedule: '0 9 * * FRI' in Europe/London; next "
                                             "issue due Fri 2026-12-04 09:00 GMT")
    # Mondays from the Tuesday after: the Monday gone by was before the edit.
    root_keys(publication, 'newsletter.schedule = "0 9 * * MON"\n')
    edited = check(cli, now=week + timedelta(days=4, hours=1))
    assert edited.stdout.splitlines()[0] == (
        "schedule: '0 9 * * MON' in Europe/London; next issue due Mon 2026-12-07 09:00 GMT (an "
        "edited newsletter.schedule takes effect from the next time it names: Mon 2026-11-30 "
        "09:00 GMT, which passed before the edit, sends nothing (the next run records it))")


def test_check_warns_of_a_slot_the_ledger_holds_after_the_clock(publication, cli):
    ahead = SLOT + timedelta(weeks=8)
    for now in (SLOT, ahead):  # one run while the clock was eight weeks ahead
        assert cli("run", now=now + timedelta(minutes=5), env=ENV).exit_code == 0
    result = check(cli, now=SLOT + timedelta(days=7, hours=-1))
    assert result.exit_code == 0, result.output
    assert ("schedule: the ledger holds the slot Fri 2027-01-15 09:00 GMT, later than the clock "
            "(Fri 2026-11-27 08:00 GMT): the clock was ahead when a run recorded it, or is "
            "behind now; issues go on from the slots before it, and nothing more goes out for "
            "Fri 2027-01-15 09:00 GMT when that time comes") in warnings(result)
    assert result.stdout.splitlines()[0] == ("schedule: '0 9 * * FRI' in Europe/London; next "
                                             "issue due Fri 2026-11-27 09:00 GMT")


# --- what the issue found check passing ---------------------------------------------------------


@pytest.mark.parametrize(("table", "says"), [
    ('newsletter.schedule = "every friday"\n',
     "newsletter.schedule: 'every friday' has 2 fields; cron syntax has five"),
    ('newsletter.schedule = "@weekly"\n',
     "newsletter.schedule: '@weekly' is a crontab nickname; write its five fields instead: "
     "\"0 0 * * 0\""),
    ('[delivery]\ntransport = "smtpp://relay.test:25"\n',
     "delivery.transport: unsupported transport URL 'smtpp://relay.test:25'"),
    ('[delivery]\ntransport = "smtp://[::1:25"\n',
     "delivery.transport: 'smtp://[::1:25' is not a valid URL (Invalid IPv6 URL)"),
    ('[delivery]\ntransport = "maildir://"\n', "delivery.transport: 'maildir://' names no "
                                               "directory"),
    ('newsletter.reply_to = "editor@@secondlooks.org"\n', "newsletter.reply_to: 'editor@@"
     "secondlooks.org' is not a valid email address"),
    ('[delivery]\ntransport = "smtp://relay.test:587"\nsmtp_user = "news"\n',
     "PUBLISHER_SMTP_PASSWORD is not set"),
    # Every run reads the inbox first: a mistake there stops each one.
    ('[inbox]\nmailbox = "imap://mail.secondlooks.org/INBOX"\n',
     "inbox.mailbox: unsupported mailbox 'imap://mail.secondlooks.org/INBOX'"),
    ('[inbox]\nmailbox = "imaps://mail.secondlooks.org/INBOX"\nuser = "news"\n',
     "PUBLISHER_IMAP_PASSWORD is not set"),
    ('[inbox]\nmailbox = "maildir://.publisher/no-such-box"\n',
     "no-such-box is not a Maildir (no new/ or cur/)"),
])
def test_what_a_run_would_fail_on_is_an_error(publication, cli, table, says):
    if table.startswith("["):
        publication.add_config(table)
    else:
        root_keys(publication, table)
    result = check(cli)
    assert result.exit_code == 1
    assert [line for line in errors(result) if says in line], result.stderr


def test_the_inbox_a_run_reads_is_named(publication, cli):
    for sub in ("new", "cur", "tmp"):
        (publication.root / "bounces" / sub).mkdir(parents=True)
    publication.add_config('[inbox]\nmailbox = "maildir://bounces"\n')
    result = check(cli)
    assert result.exit_code == 0, result.output
    assert f"inbox: maildir://{publication.root / 'bounces'}" in result.stdout.splitlines()


def test_mail_to_a_relay_with_nothing_reading_what_comes_back_is_named(publication, cli):
    # A hosted relay takes every message and reports a dead address later, by mail to the
    # envelope sender; unsubscribes by mail and complaints come back the same way. Without
    # [inbox] nobody read them, and each dead address was mailed every issue, its bounce
    # counted against the sender's reputation every time; check said nothing.
    publication.add_config('[delivery]\ntransport = "smtp://smtp.secondlooks.org:587"\n')
    result = check(cli)
    assert result.exit_code == 0, result.output
    assert [w for w in warnings(result) if w.startswith("inbox: ")] == [
        "inbox: not set, so nothing reads what comes back by mail: bounces (to "
        "news@secondlooks.org), complaints, and unsubscribes mailed to news@secondlooks.org "
        "(List-Unsubscribe's mailto); a dead address is mailed every issue, and people who "
        "asked to leave stay on the list. Set [inbox] mailbox to where they arrive (README: "
        "\"What comes back by mail\")"]
    # A local outbox sends nothing anywhere, and an inbox that is read says so.
    publication.write_config(toml_without(publication, "transport"))
    assert not [w for w in warnings(check(cli)) if w.startswith("inbox: ")]
    for sub in ("new", "cur", "tmp"):
        (publication.root / "bounces" / sub).mkdir(parents=True)
    publication.add_config('[delivery]\ntransport = "smtp://smtp.secondlooks.org:587"\n'
                           '[inbox]\nmailbox = "maildir://bounces"\n')
    assert not [w for w in warnings(check(cli)) if w.startswith("inbox: ")]


def test_an_imap_inbox_is_contacted_only_with_connect(publication, cli):
    publication.add_config('[inbox]\nmailbox = "imaps://mail.secondlooks.org/Bounces"\n'
                           'user = "news"\n')
    result = check(cli, env={**ENV, "PUBLISHER_IMAP_PASSWORD": "imap-secret"})
    assert result.exit_code == 0, result.output
    assert ("inbox: imaps://mail.secondlooks.org:993/Bounces (not contacted; 'publisher check "
            "--connect' logs in)") in result.stdout.splitlines()
    assert "imap-secret" not in result.output


def test_an_invalid_from_address_is_an_error(publication, cli):
    text = publication.root.joinpath("publisher.toml").read_text()
    publication.write_config(text.replace("news@secondlooks.org", "news at secondlooks.org"))
    result = check(cli)
    assert result.exit_code == 1
    assert [line for line in errors(result) if "newsletter: 'news at secondlooks.org' is not a "
            "usable address" in line], result.stderr


def test_the_scaffolds_example_org_is_a_warning_for_the_outbox_and_an_error_for_a_relay(
        tmp_path, cli):
    root = tmp_path / "new"
    assert cli("init", str(root)).exit_code == 0
    result = cli("check", root=root, env=ENV)
    assert result.exit_code == 0
    [placeholder] = [w for w in warnings(result) if "reserved for examples" in w]
    assert "newsletter.from_address" in placeholder and "base_url" in placeholder
    text = (root / "publisher.toml").read_text()
    (root / "publisher.toml").write_text(text.replace(
        'transport = "maildir://.publisher/outbox"', 'transport = "smtp://relay.test:587"'))
    result = cli("check", root=root, env=ENV)
    assert result.exit_code == 1
    assert [e for e in errors(result) if "reserved for examples" in e]


def _scaffold_sending_to(server, tmp_path, cli):
    """A publication as publisher init writes it, its mail going to ``server``'s relay: its
    directory and its publisher.toml."""
    root = tmp_path / "new"
    assert cli("init", str(root)).exit_code == 0
    toml = root / "publisher.toml"
    toml.write_text(toml.read_text().replace(
        'transport = "maildir://.publisher/outbox"',
        f'transport = "{server.url}"\nstarttls = false'))
    return root, toml


def test_the_scaffolds_example_org_stops_every_send_to_a_relay_but_a_test_copy(tmp_path, cli,
                                                                            server):
    # What check says as an error, sending stops on too: cron does not run check, and an
    # issue from (and unsubscribed at) example.org cannot be taken back.
    root, toml = _scaffold_sending_to(server, tmp_path, cli)
    sample = root / "reviews" / "first-review.md"  # written: the sample is never mailed
    sample.write_text(sample.read_text().replace("One sentence that sells", "A line that sells")
                      .replace("Write the review here, in Markdown:", "A review, with"))
    add_subscribers(load_config(toml), 2, SLOT - timedelta(days=1))
    assert cli("issue", "new", root=root, env=ENV).exit_code == 0
    refusal = (f"{toml}: newsletter.from_address, base_url (where the unsubscribe link "
               "points): still a domain reserved for examples, which reaches nobody (replies, "
               f"bounces, unsubscribes); no issue goes to {server.url} until you set your own")

    sent = cli("issue", "send", "1", root=root, env=ENV)
    assert (sent.exit_code, sent.stderr) == (1, f"error: {refusal}\n")
    ran = cli("run", root=root, env=ENV)
    assert ran.exit_code == 1
    assert f"error: issue #1: {refusal}" in ran.stderr.splitlines()
    rehearsed = cli("run", "--dry-run", root=root, env=ENV)
    assert f"error: issue #1 would not be sent: {refusal}" in rehearsed.stderr.splitlines()
    assert server.messages == []
    with open_store(load_config(toml)) as store:
        assert store.issue(1).state == "draft"  # nothing frozen, nothing queued

    # A test copy goes to the editor, who sees the From it would go out with.
    copy = cli("issue", "send", "1", "--to", "editor@secondlooks.org", root=root, env=ENV)
    assert copy.exit_code == 0, copy.output
    assert [tuple(m.rcpt_tos) for m in server.messages] == [("editor@secondlooks.org",)]

    # Readers unsubscribe at publisher serve's own address (base_url stays: the issue's
    # reviews keep their ids).
    toml.write_text(toml.read_text().replace(
        "[newsletter]\n", '[newsletter]\nfrom_address = "news@secondlooks.org"\n')
        + '\n[server]\nurl = "https://list.secondlooks.org/"\n')
    sent = cli("issue", "send", "1", root=root, env=ENV)
    assert sent.exit_code == 0, sent.output
    assert len(server.messages) == 3


def test_publisher_serve_refuses_the_scaffolds_example_org_for_a_relay_as_issues_do(
        tmp_path, cli, server):
    # Its confirmations and welcomes go out from the issue's From with the issue's unsubscribe
    # link: a reader who subscribes would get mail from, and unsubscribe at, example.org.
    root, toml = _scaffold_sending_to(server, tmp_path, cli)
    with socket.socket() as taken:  # a server that got past the refusal stops at listening
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = cli("serve", "--port", str(port), root=root, env=ENV)
        toml.write_text(toml.read_text().replace(
            "[newsletter]\n", '[newsletter]\nfrom_address = "news@secondlooks.org"\n')
            + '\n[server]\nurl = "https://list.secondlooks.org/"\n')
        started = cli("serve", "--port", str(port), root=root, env=ENV)
    assert (refused.exit_code, refused.stderr) == (1, (
        f"error: {toml}: newsletter.from_address, base_url (where the unsubscribe link points): "
        "still a domain reserved for examples, which reaches nobody (replies, bounces, "
        f"unsubscribes); serve sends no confirmation or welcome through {server.url} until "
        "you set your own\n"))
    assert started.exit_code == 1
    assert started.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert server.messages == []


@pytest.mark.parametrize(("keys", "named"), [
    ('base_url = "https://reviews.example.org/"\n'
     'newsletter.from_address = "news@secondlooks.org"',
     ["base_url (where the unsubscribe link points)"]),
    # The link goes to publisher serve at its own address: the site's is not in it.
    ('base_url = "https://reviews.example.org/"\nserver.url = "https://list.secondlooks.org/"\n'
     'newsletter.from_address = "news@secondlooks.org"', []),
    ('base_url = "https://secondlooks.org/"\nnewsletter.from_address = "news@secondlooks.org"\n'
     'newsletter.unsubscribe_url = "https://lists.example.com/u"\n'
     'newsletter.bounce_address = "bounces@mail.example.net"',
     ["newsletter.bounce_address", "newsletter.unsubscribe_url (where the unsubscribe link "
                                   "points)"]),
    # .test is kept for testing (RFC 6761): a staging relay may carry it; check names it.
    ('base_url = "https://reel.test/"\nnewsletter.from_address = "news@reel.test"', []),
])
def test_the_settings_sending_stops_on_are_those_at_a_documentation_domain(publication, keys,
                                                                            named):
    text = toml_without(publication, "base_url", "newsletter.from_address")
    (publication.root / "publisher.toml").write_text(keys + "\n" + text)
    assert documentation_settings(publication.config) == named


def test_a_missing_secret_is_an_error(publication, cli):
    result = check(cli, env={"PUBLISHER_SECRET": None})
    assert result.exit_code == 1
    assert errors(result) == ["PUBLISHER_SECRET is not set; it signs unsubscribe links; set it "
                              "to a long random string (python3 -c 'import secrets; "
                              "print(secrets.token_urlsafe(32))' makes one)"]


def test_a_short_secret_is_refused_before_a_new_publication_sends_real_mail(publication, cli,
                                                                           server):
    short = {"PUBLISHER_SECRET": "only-twenty-one-bytes"}
    result = check(cli, env=short)  # the local outbox: a rehearsal
    assert result.exit_code == 0
    assert [w for w in warnings(result) if w.startswith(
        "PUBLISHER_SECRET is 21 bytes; a new publication needs at least 32")]
    publication.add_config(f'[delivery]\ntransport = "{server.url}"\nstarttls = false\n')
    result = check(cli, env=short)
    assert result.exit_code == 1
    assert [e for e in errors(result) if e.startswith("PUBLISHER_SECRET is 21 bytes; a new "
                                                      "publication needs at least 32")]
    # and sending refuses it too, with the same words: check and send agree
    add_subscribers(publication.config, 2, SLOT - timedelta(days=1))
    assert cli("issue", "new", env=short).exit_code == 0
    sent = cli("issue", "send", "1", env=short)
    assert sent.exit_code == 1
    assert sent.stderr.startswith("error: PUBLISHER_SECRET is 21 bytes; a new publication needs")
    assert server.messages == []


def test_an_established_publication_keeps_its_short_secret_with_a_warning(publication, cli,
                                                                          server):
    short = {"PUBLISHER_SECRET": "only-twenty-one-bytes"}  # the outbox is the default transport
    add_subscribers(publication.config, 2, SLOT - timedelta(days=1))
    assert cli("run", now=SLOT + timedelta(minutes=1), env=short).exit_code == 0  # issue #1
    publication.add_config(f'[delivery]\ntransport = "{server.url}"\nstarttls = false\n')
    result = check(cli, env=short)
    assert result.exit_code == 0, result.output
    assert [w for w in warnings(result) if "changing it would break the unsubscribe links" in w]


# --- --connect: a real session, nothing sent ---------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    pair = make_certificate(tmp_path_factory.mktemp("tls"))
    if pair is None:
        pytest.skip("the openssl command is not installed (needed to make a test certificate)")
    return pair


def relay_config(publication, srv) -> None:
    publication.add_config(f'[delivery]\ntransport = "{srv.url}"\nsmtp_user = "user"\n'
                           "timeout = 10\n")


def test_connect_logs_in_over_starttls_and_sends_nothing(publication, cli, certificate):
    cert, _ = certificate
    env = {**ENV, "PUBLISHER_SMTP_PASSWORD": PASSWORD, "PUBLISHER_SMTP_CAFILE": str(cert)}
    with SmtpServer(password=PASSWORD, tls=certificate) as srv:
        relay_config(publication, srv)
        quiet = check(cli, env=env)
        assert quiet.exit_code == 0, quiet.output
        assert srv.handler.connections == 0  # without --connect, nobody is called
        result = check(cli, "--connect", env=env)
    assert result.exit_code == 0, result.output
    assert (f"transport: smtp://127.0.0.1:{srv.port}: connected, STARTTLS, logged in as user; "
            "nothing sent") in result.stdout.splitlines()
    assert srv.handler.connections >= 1  # (a session counts again after STARTTLS)
    assert srv.handler.rcpt_attempts == {} and srv.messages == []
    assert PASSWORD not in result.output
    # The From domain's DMARC record is looked up too (the loopback DNS knows none).
    assert [w for w in warnings(result) if w.startswith("dmarc: secondlooks.org has no DMARC")]
    assert not [w for w in warnings(quiet) if w.startswith("dmarc: ")]


def test_connect_reports_a_wrong_password_and_an_untrusted_certificate(publication, cli,
                                                                      certificate):
    cert, _ = certificate
    with SmtpServer(password=PASSWORD, tls=certificate) as srv:
        relay_config(publication, srv)
        wrong = check(cli, "--connect", env={**ENV, "PUBLISHER_SMTP_PASSWORD": "wrong-one",
                                             "PUBLISHER_SMTP_CAFILE": str(cert)})
        untrusted = check(cli, "--connect", env={**ENV, "PUBLISHER_SMTP_PASSWORD": PASSWORD,
                                                 "PUBLISHER_SMTP_CAFILE": None})
    assert wrong.exit_code == 1
    assert [e for e in errors(wrong) if "SMTP authentication failed for user 'user'" in e]
    assert "wrong-one" not in wrong.output
    assert untrusted.exit_code == 1
    assert [e for e in errors(untrusted) if "TLS certificate is not trusted" in e]
    assert srv.messages == []


def test_connect_reports_a_refused_connection(publication, cli):
    from tests.fixtures import free_port

    publication.add_config(f'[delivery]\ntransport = "smtp://127.0.0.1:{free_port()}"\n'
                           "starttls = false\n")
    result = check(cli, "--connect")
    assert result.exit_code == 1
    assert [e for e in errors(result) if "connection refused" in e]


# --- DKIM ---------------------------------------------------------------------------------------


@needs_openssl
@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_dkim_prints_the_dns_record_that_verifies_its_signatures(publication, cli, kind):
    key, expected = make_key(publication.root, kind)
    key.chmod(0o600)
    publication.add_config(f'[dkim]\nkey_file = "{key.name}"\nselector = "s2026"\n'
                           'domain = "secondlooks.org"\n')
    result = check(cli)
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith("dkim: ")]
    prefix = "publish this DNS TXT record there: "
    assert line.startswith(f"dkim: {'rsa' if kind == 'rsa' else 'ed25519'}-sha256 as "
                           "s2026._domainkey.secondlooks.org; " + prefix)
    record = line.split(prefix, 1)[1]
    assert record == expected.decode()
    # the record, published, verifies what publisher signs (dkimpy, independent of our code)
    config = publication.config
    template = MessageTemplate.from_digest(make_digest(config), Sender.from_config(config),
                                           secret=SECRET, date=ISSUE_DATE,
                                           signer=DkimSigner.from_config(config))
    message = template.render(Subscriber(email="ada@example.net"))
    assert dkim.verify(message, dnsfunc=lambda name, timeout=5: record.encode())


@needs_openssl
def test_dkim_problems_are_named(publication, cli):
    key, _ = make_key(publication.root, "rsa")
    key.chmod(0o644)
    publication.add_config(f'[dkim]\nkey_file = "{key.name}"\nselector = "bad selector"\n'
                           'domain = "other.example.net"\n')
    result = check(cli)
    assert result.exit_code == 1
    assert [e for e in errors(result) if "dkim.selector: 'bad selector' is not a DNS name" in e]
    assert [w for w in warnings(result) if "is readable by others; chmod 600 it" in w]
    assert [w for w in warnings(result) if "DMARC will not count this signature" in w]
    publication.add_config("")  # a missing key file is an error naming it
    key.unlink()
    result = check(cli)
    assert [e for e in errors(result) if "dkim.key_file: cannot read" in e]


# --- the ledger ---------------------------------------------------------------------------------


def test_the_ledger_is_reported_and_never_created_or_migrated(publication, cli):
    ledger = publication.root / ".publisher" / "state.db"
    check(cli)
    assert not ledger.exists()
    add_subscribers(publication.config, 3, SLOT)
    ledger.chmod(0o600)
    result = check(cli)
    assert f"ledger: sqlite:///{ledger}: 3 subscribers, 0 issues (0 sent or being sent)" in (
        result.stdout.splitlines())
    ledger.unlink()
    engine = create_engine(f"sqlite:///{ledger}")
    migrate(engine, "0003")
    engine.dispose()
    ledger.chmod(0o644)
    result = check(cli)
    assert result.exit_code == 0, result.output
    assert (f"ledger: sqlite:///{ledger}: schema 0003, upgraded to {SCHEMA_REVISION} by the next "
            "command that opens it") in result.stdout.splitlines()
    assert [w for w in warnings(result) if "readable by others" in w]
    version = sqlite3.connect(ledger).execute("SELECT version_num FROM alembic_version")
    assert version.fetchone() == ("0003",)  # check migrated nothing


def test_readers_mail_the_relay_has_not_taken_is_a_warning_until_it_goes(publication, cli,
                                                                         database):
    with open_store(publication.config) as store:
        _, ann = store.request_subscription("ann@example.org", "", form="-", ip=None, now=NOW,
                                            expires=NOW + timedelta(hours=48), per_day=3)
        store.request_subscription("bob@example.org", "", form="-", ip=None, now=NOW,
                                   expires=NOW + timedelta(hours=48), per_day=3)
        _, cat = store.request_subscription("cat@example.org", "", form="-", ip=None, now=NOW,
                                            expires=NOW + timedelta(hours=48), per_day=3)
        assert store.confirm_subscription(cat.id, "cat@example.org", now=NOW,
                                          welcome=True).joined
    owed = [w for w in warnings(check(cli)) if w.startswith("readers: the relay")]
    assert owed == ["readers: the relay has not taken 2 confirmations and 1 welcome yet; "
                    "publisher serve tries again every five minutes (its log says why; "
                    "publisher check --connect tests the relay)"]
    with open_store(publication.config) as store:
        store.settle_owed(Owed.CONFIRMATION, ann.id)
        store.record_welcome("cat@example.org", "<w@reel.test>", now=NOW)
    owed = [w for w in warnings(check(cli)) if w.startswith("readers: the relay")]
    assert owed == ["readers: the relay has not taken 1 confirmation yet; publisher serve tries "
                    "again every five minutes (its log says why; publisher check --connect "
                    "tests the relay)"]
    # Two days on, bob's link has expired: nothing is owed that could still be sent.
    result = check(cli, now=NOW + timedelta(days=2))
    assert not [w for w in warnings(result) if w.startswith("readers: the relay")]


def test_a_damaged_or_newer_ledger_is_an_error(publication, cli):
    ledger = publication.root / ".publisher" / "state.db"
    with open_store(publication.config):
        pass
    conn = sqlite3.connect(ledger)
    conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    conn.commit()
    conn.close()
    result = check(cli)
    assert result.exit_code == 1
    assert [e for e in errors(result) if "schema revision 9999_future is unknown" in e]
    ledger.write_bytes(b"garbage" * 1000)
    result = check(cli)
    assert [e for e in errors(result) if "the ledger is damaged" in e]


def test_a_ledger_damaged_where_no_query_has_looked_yet_is_an_error(publication, cli):
    ledger = publication.root / ".publisher" / "state.db"
    with open_store(publication.config) as store:
        for n in range(300):
            store.add_subscriber(f"reader{n}@example.org", now=NOW)
    sqlite3.connect(ledger).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    page = sqlite3.connect(ledger).execute("PRAGMA page_size").fetchone()[0]
    with open(ledger, "r+b") as fh:  # a page in the middle of the file, overwritten
        fh.seek(page * (ledger.stat().st_size // page // 2))
        fh.write(b"\xff" * page)
    result = check(cli)
    assert result.exit_code == 1
    assert [e for e in errors(result) if e.startswith(f"ledger: {ledger}: damaged")
            and "'publisher restore FILE'" in e], result.stderr


# --- directories --------------------------------------------------------------------------------


def test_public_as_a_file_and_read_only_directories_are_errors(publication, cli):
    (publication.root / "public").write_text("oops\n")
    result = check(cli)
    assert result.exit_code == 1
    assert [e for e in errors(result) if e.startswith("public/: ") and "is a file" in e]
    (publication.root / "public").unlink()
    with read_only(publication.root / ".publisher"):
        result = check(cli)
    assert result.exit_code == 1
    assert [e for e in errors(result) if e.startswith(".publisher/: ")
            and "not writable (read-only file system)" in e]
    with read_only(publication.root / "public"):
        result = check(cli)
    assert result.exit_code == 1
    assert [e for e in errors(result) if e.startswith("public/: ")
            and "not writable (read-only file system)" in e]


@pytest.mark.parametrize("address", ["reel.reviews@gmail.com", "Reel@Yahoo.co.uk",
                                     "reel@hotmail.com", "reel@aol.com", "reel@icloud.com"])
def test_a_from_address_at_a_mailbox_providers_domain_is_named(publication, cli, address):
    # Sent through the editor's relay, mail from yahoo.com or aol.com fails their DMARC
    # (p=reject: receivers refuse it) and from gmail.com is what Google's sender guidelines ask
    # bulk senders never to do; check said nothing, and the first issue bounced or went to spam.
    publication.write_config(toml_without(publication, "newsletter.from_address"))
    root_keys(publication, f'newsletter.from_address = "{address}"\n')
    domain = address.rpartition("@")[2].lower()
    said = [w for w in warnings(check(cli)) if "newsletter.from_address" in w]
    assert said == [f"{publication.root / 'publisher.toml'}: newsletter.from_address: {domain} "
                    "is a mailbox provider's: mail from it that the provider's own servers did "
                    "not send fails DMARC, and receivers reject it or file it as spam; send "
                    "from an address at a domain of your own"], said


def test_an_address_at_a_domain_of_ones_own_is_not_named(publication, cli):
    for address in ("news@secondlooks.org", "news@mail.gmail.example.org", "news@outlook.org"):
        publication.write_config(toml_without(publication, "newsletter.from_address"))
        root_keys(publication, f'newsletter.from_address = "{address}"\n')
        assert not [w for w in warnings(check(cli)) if "mailbox provider" in w], address


def test_connect_looks_up_the_from_domains_dmarc_record(publication):
    # Gmail and Yahoo require a DMARC record of bulk senders' From domains (2024); without one
    # their mail is refused ("5.7.26 ... DMARC policy") once a list passes 5,000 a day.
    config = publication.config
    record = "v=DMARC1; p=none; rua=mailto:dmarc@secondlooks.org"
    with DnsServer({"_dmarc.secondlooks.org.": [record, "unrelated"]}) as dns_server:
        found = check_dmarc(config, connect=True, resolver=dns_server.resolver())
        assert dns_server.queries == ["_dmarc.secondlooks.org."]
    assert found.info == [f"dmarc: {record} (at _dmarc.secondlooks.org)"]
    assert found.warnings == found.errors == []
    # A From at a subdomain is under its parent's record (DMARC's tree walk).
    publication.write_config(toml_without(publication, "newsletter.from_address"))
    root_keys(publication, 'newsletter.from_address = "news@mail.secondlooks.org"\n')
    with DnsServer({"_dmarc.secondlooks.org.": [record]}) as dns_server:
        found = check_dmarc(publication.config, connect=True, resolver=dns_server.resolver())
        assert dns_server.queries == ["_dmarc.mail.secondlooks.org.", "_dmarc.secondlooks.org."]
    assert found.info == [f"dmarc: {record} (at _dmarc.secondlooks.org)"]
    with DnsServer({}) as dns_server:
        found = check_dmarc(publication.config, connect=True, resolver=dns_server.resolver())
    assert found.warnings == [
        "dmarc: mail.secondlooks.org has no DMARC record (_dmarc.mail.secondlooks.org, nor "
        "at a parent domain): Gmail, Yahoo and Microsoft refuse bulk mail from a domain "
        "without one; publish a TXT record there, at least 'v=DMARC1; p=none'"]
    # Without --connect, DNS is not asked.
    with DnsServer({}) as dns_server:
        found = check_dmarc(config, resolver=dns_server.resolver())
        assert dns_server.queries == [] and found.warnings == found.info == []


def test_sources_only_is_for_a_pre_commit_hook(publication, cli):
    publication.add_config('[delivery]\ntransport = "smtpp://typo"\n')
    result = check(cli, "--sources", env={"PUBLISHER_SECRET": None})
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("2 review files: 2 published")


@needs_openssl
def test_connect_compares_the_dkim_record_published_in_dns(publication, tmp_path):
    key, record = make_key(publication.root, "rsa")
    key.chmod(0o600)
    other, other_record = make_key(tmp_path, "rsa")
    publication.add_config(f'[dkim]\nkey_file = "{key.name}"\nselector = "s2026"\n'
                           'domain = "secondlooks.org"\n')
    config = publication.config
    name = "s2026._domainkey.secondlooks.org"
    cases = [
        ({f"{name}.": [record.decode()]}, "info", f"dkim: the record published at {name} "
                                                  "matches the key"),
        ({}, "errors", f"dkim: no DKIM record is published at {name}"),
        ({f"{name}.": [other_record.decode()]}, "errors", f"dkim: the record published at "
                                                          f"{name} holds another key"),
        ({f"{name}.": ["v=DKIM1; k=rsa; p="]}, "errors", "holds another key (an empty p=: "
                                                         "revoked)"),
    ]
    for records, kind, says in cases:
        with DnsServer(records) as dns_server:
            found = check_dkim(config, connect=True, resolver=dns_server.resolver())
            assert dns_server.queries == [f"{name}."]
        lines = getattr(found, kind)
        assert [line for line in lines if says in line], (records, found)
    # without --connect, DNS is not asked
    with DnsServer({}) as dns_server:
        found = check_dkim(config, resolver=dns_server.resolver())
        assert dns_server.queries == [] and found.errors == []


def test_a_schedule_naming_both_day_fields_is_a_warning(publication, cli):
    """'0 9 1-7 * MON' reads as the first Monday of the month; cron sends on the 1st to the 7th
    and on every Monday besides."""
    root_keys(publication, 'newsletter.schedule = "0 9 1-7 * MON"\n')
    result = check(cli)
    assert result.exit_code == 0, result.output
    assert [w for w in warnings(result) if "newsletter.schedule" in w] == [
        f"{publication.root / 'publisher.toml'}: newsletter.schedule: '0 9 1-7 * MON' names a "
        "day of the month and a day of the week, and cron sends on every day that matches "
        "either of them, not only on days that match both; for the first Monday of the month "
        "write \"0 9 * * MON#1\""]
    root_keys(publication, 'newsletter.schedule = "0 9 * * MON#1"\n')
    (publication.root / "publisher.toml").write_text(
        (publication.root / "publisher.toml").read_text().replace(
            'newsletter.schedule = "0 9 1-7 * MON"\n', ""))
    assert not [w for w in warnings(check(cli)) if "newsletter.schedule" in w]


def test_a_due_slot_is_not_promised_while_the_sources_do_not_load(publication, cli):
    write_reviews(publication, 2)
    publication.write_review("broken.md", "---\ntitle: Broken\n---\nNo date, no reviewer.\n")
    result = check(cli, now=SLOT + timedelta(hours=3))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == (
        "schedule: '0 9 * * FRI' in Europe/London; the slot Fri 2026-11-20 09:00 GMT is due now "
        "(3 h late), but the next run composes no issue for it: the sources have problems "
        "('publisher check' lists them); the first run within grace_hours after they load "
        "composes it; the next after it is due Fri 2026-11-27 09:00 GMT")
