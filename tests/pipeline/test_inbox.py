"""publisher inbox against a real Maildir and the real ledger: 50 delivery reports, 5
complaints, 5 mailto unsubscribes and 10 messages of no concern, about an issue really sent;
run twice, killed mid-way once, and from publisher run."""

from __future__ import annotations

import mailbox
import os
import re
import signal
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.ledger.store import open_store
from publisher.pipeline.inbox import InboxReport
from tests.fixtures import NOW, REPO, Publication, add_subscribers, run_cli, write_reviews
from tests.pausing import Pause

SECRET = {"PUBLISHER_SECRET": "inbox-test-secret-of-forty-characters-ok"}
SAMPLES = REPO / "tests" / "data" / "inbox"
ORIGINAL = b"<issue-3.b803e1f2203e6fcc485ef6a2@reel.test>"

#: (sample, readers it is about): 35 hard bounces; 3 soft ones each for five readers (the third
#: marks them bounced); 5 complaints; 5 mailto unsubscribes.
REPORTS = (
    [("postfix-hard.eml", i) for i in range(0, 15)]
    + [("qmail-hard.eml", i) for i in range(15, 20)]
    + [("gmail-hard.eml", i) for i in range(20, 35)]
    + [(name, i) for i in range(35, 40)
       for name in ("yahoo-soft.eml", "qmail-soft.eml" if i % 2 else "postfix-soft.eml",
                    "yahoo-policy.eml")]
    + [("arf-yahoo.eml", i) for i in range(40, 43)]
    + [("arf-generic.eml", i) for i in range(43, 45)]
    + [("mailto-unsubscribe.eml", i) for i in range(45, 50)]
)
UNRELATED = (["unrelated.eml"] * 4 + ["autoreply.eml"] * 2 + ["postfix-delayed.eml"] * 2
             + ["arf-not-spam.eml"] * 2)


def with_inbox(publication: Publication) -> None:
    """The newsletter's own address, and a Maildir inbox in .publisher/inbox."""
    publication.add_config("""
        [newsletter]
        from_address = "news@reel.test"

        [inbox]
        mailbox = "maildir://.publisher/inbox"
        """)


def maildir_inbox(publication: Publication,
                  *subscribers: str) -> tuple[Config, Path, mailbox.Maildir]:
    """``with_inbox``, its Maildir made (empty), and ``subscribers`` on the list."""
    with_inbox(publication)
    config = publication.config
    inbox = config.root / ".publisher" / "inbox"
    inbox.parent.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(inbox, factory=None, create=True)
    with open_store(config) as store:
        for address in subscribers:
            store.add_subscriber(address, now=NOW)
    return config, inbox, box


def variant(name: str, n: int, recipient: str = "zoe@example.com",
            message_id: bytes = ORIGINAL) -> bytes:
    """Sample ``name`` about ``message_id`` sent to ``recipient``, with an identity of its own."""
    raw = (SAMPLES / name).read_bytes()
    head, sep, body = raw.partition(b"\n\n")
    head = re.sub(rb"(?im)^(Message-I[dD]: <)", rb"\g<1>" + f"n{n}.".encode(), head, count=1)
    raw = head + sep + body
    return raw.replace(ORIGINAL, message_id).replace(b"zoe@example.com", recipient.encode())


@pytest.fixture
def sent(publication: Publication):
    """Issue #1 sent (Maildir transport) to 60 readers, and their Message-IDs."""
    with_inbox(publication)
    write_reviews(publication, 2)
    config = publication.config
    addresses = add_subscribers(config, 60, NOW)
    assert run_cli("issue", "new", root=config.root).exit_code == 0
    assert run_cli("issue", "send", "1", root=config.root, env=SECRET).exit_code == 0
    with open_store(config) as store:
        ids = {d.email: d.message_id.encode() for d in store.deliveries(1)}
    assert len(ids) == 60 and all(ids.values())
    return config, addresses, ids


def fill_inbox(config, addresses, ids) -> Path:
    path = config.root / ".publisher" / "inbox"
    box = mailbox.Maildir(path, factory=None, create=True)
    for n, (name, i) in enumerate(REPORTS):
        box.add(variant(name, n, addresses[i], ids[addresses[i]]))
    for n, name in enumerate(UNRELATED, start=len(REPORTS)):
        box.add(variant(name, n))
    return path


def count_files(path: Path) -> int:
    return sum(len(os.listdir(path / sub)) for sub in ("new", "cur") if (path / sub).is_dir())


def statuses(config) -> Counter[str]:
    with open_store(config) as store:
        return Counter(s.status for s in store.subscribers())


EXPECTED = Counter(active=10, bounced=40, complained=5, unsubscribed=5)


def test_the_reasons_left_unread_come_in_the_same_order_however_the_mailbox_lists_them():
    # A Maildir lists its messages in the directory's order, which differs from run to run.
    reasons = ["a delay warning", "sent by a machine", "a delay warning", "sent by a machine",
               "not a report", "not a report", "not a report"]
    lines = {InboxReport("maildir:///in", left=Counter(order)).summary()
             for order in (reasons, reasons[::-1])}
    assert lines == {"inbox maildir:///in: processed 0; left 7 unread (3 not a report; "
                     "2 a delay warning; 2 sent by a machine)"}


def test_inbox_acts_on_each_report_once_and_leaves_the_rest_unread(sent):
    config, addresses, ids = sent
    inbox = fill_inbox(config, addresses, ids)
    result = run_cli("inbox", root=config.root)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"inbox maildir://{inbox}: processed 60 (40 bounced, 5 complained, "
        "10 soft bounce(s) counted, 5 unsubscribed); left 10 unread (4 not a report, nor "
        "addressed to the unsubscribe address; 2 a delay warning (the server is still trying); "
        "2 a feedback report of type not-spam; 2 sent by a machine (Auto-Submitted: "
        "auto-replied))\n")
    assert statuses(config) == EXPECTED
    assert count_files(inbox / ".processed") == 60
    assert len(os.listdir(inbox / "new")) == 10  # untouched, still unread
    assert all(name.endswith(":2,S") for name in os.listdir(inbox / ".processed" / "cur"))

    again = run_cli("inbox", root=config.root)
    assert again.stdout.startswith(f"inbox maildir://{inbox}: processed 0; left 10 unread")
    assert statuses(config) == EXPECTED
    with open_store(config) as store:
        history = store.subscriber_data(addresses[35])["history"]
        assert [e["event"] for e in history] == ["soft-bounce"] * 3 + ["bounced"]
        assert "issue #1: 5.1.1" in store.subscriber_data(addresses[0])["history"][0]["detail"]


def test_one_message_reported_soft_bounced_again_and_again_is_counted_once(sent):
    # A relay that reports one failed message three times, each report with an id of its own:
    # one failed message, not the three soft bounces that would suppress the reader.
    config, addresses, ids = sent
    box = mailbox.Maildir(config.root / ".publisher" / "inbox", factory=None, create=True)
    for n in range(3):
        box.add(variant("postfix-soft.eml", n, addresses[0], ids[addresses[0]]))
    result = run_cli("inbox", root=config.root)
    assert result.exit_code == 0, result.output
    assert "processed 3 (2 soft bounce(s) already counted, 1 soft bounce(s) counted)" \
        in result.stdout
    assert statuses(config) == Counter(active=60)
    with open_store(config) as store:
        history = store.subscriber_data(addresses[0])["history"]
        assert [e["event"] for e in history] == ["soft-bounce"]


def test_a_report_moved_back_by_hand_is_recognised_and_not_counted_twice(sent):
    config, addresses, ids = sent
    inbox = fill_inbox(config, addresses, ids)
    run_cli("inbox", root=config.root)
    for name in os.listdir(inbox / ".processed" / "cur"):
        os.replace(inbox / ".processed" / "cur" / name, inbox / "new" / name.split(":")[0])
    result = run_cli("inbox", root=config.root)
    assert "processed 60 (60 already processed (moved now))" in result.stdout
    assert statuses(config) == EXPECTED


def test_killed_mid_way_it_loses_nothing_and_counts_nothing_twice(sent, tmp_path):
    config, addresses, ids = sent
    inbox = fill_inbox(config, addresses, ids)
    processed = inbox / ".processed"
    # Killed between the two steps of a report: the sixth one's outcome is committed to the
    # ledger with its key, and the run is about to move it to the processed folder.
    with Pause(tmp_path / "pause", "publisher.delivery.mailbox:MaildirBox.move",
               call=6) as pause:
        proc = pause.start("-C", str(config.root), "--now", NOW.isoformat(), "inbox",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pause.wait(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    keys = {row[0] for row in sqlite3.connect(config.root / ".publisher" / "state.db")
            .execute("SELECT key FROM inbox_messages")}
    assert count_files(processed) == 5 and len(keys) == 6  # one recorded, not moved
    assert count_files(inbox) + count_files(processed) == 70  # nothing lost

    result = run_cli("inbox", root=config.root)
    assert result.exit_code == 0
    assert "1 already processed (moved now)" in result.stdout  # moved, not acted on again
    assert count_files(processed) == 60 and count_files(inbox) == 10
    assert statuses(config) == EXPECTED
    with open_store(config) as store:
        for i in range(35, 40):
            history = [e["event"] for e in store.subscriber_data(addresses[i])["history"]]
            assert history == ["soft-bounce"] * 3 + ["bounced"]


def test_run_reads_the_inbox_before_it_sends(sent):
    config, addresses, ids = sent
    fill_inbox(config, addresses, ids)
    result = run_cli("run", root=config.root, env=SECRET)
    assert result.exit_code == 0, result.output
    assert "processed 60 (40 bounced" in result.stdout
    assert statuses(config) == EXPECTED


def test_a_missing_mailbox_is_one_line_and_a_dry_run_changes_nothing(sent):
    config, addresses, ids = sent
    result = run_cli("inbox", root=config.root)
    assert result.exit_code == 1
    assert result.stderr == (f"error: maildir://{config.root}/.publisher/inbox: not a Maildir "
                             "(no new/ or cur/)\n")
    inbox = fill_inbox(config, addresses, ids)
    dry = run_cli("inbox", "--dry-run", root=config.root)
    assert "would process 60" in dry.stdout
    assert statuses(config) == Counter(active=60)
    assert count_files(inbox) == 70
    # It says what the run then does, forged and unmatched reports included.
    real = run_cli("inbox", root=config.root)
    assert dry.stdout.replace("would process", "processed") == real.stdout


def test_an_inbox_setting_that_is_not_a_mailbox_names_the_key(publication: Publication):
    publication.add_config('[inbox]\nmailbox = "imap://mail.example.org/INBOX"\n')
    result = run_cli("inbox", root=publication.root)
    assert result.exit_code == 1
    assert "inbox.mailbox: unsupported mailbox 'imap://mail.example.org/INBOX'" in result.stderr
    assert "IMAP without TLS is refused" in result.stderr


@pytest.mark.parametrize(("url", "says"), [
    ("imap://news:hunter2@mail.example.org/INBOX", "unsupported mailbox 'imap://***@mail."),
    ("imaps://news:hun/ter2@mail.example.org/INBOX", "'imaps://***@mail.example.org/INBOX' has"),
    ("imaps://[::1:993/INBOX", "is not a valid URL (Invalid IPv6 URL)"),
])
def test_a_mailbox_url_that_does_not_read_is_one_line_without_its_password(
        publication: Publication, url: str, says: str):
    """Before, the password was printed back, and an unclosed "[" was a traceback that ended
    every cron run before the build and the send."""
    publication.add_config(f'[inbox]\nmailbox = "{url}"\nuser = "news"\n')
    for args in (("inbox",), ("run",)):
        result = run_cli(*args, root=publication.root,
                         env={"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"})
        assert result.exit_code == 1, result.output
        assert result.stderr.count("\n") == 1 and "inbox.mailbox: " in result.stderr
        assert says in result.stderr
        assert "hunter2" not in result.output and "hun/ter2" not in result.output


# --- IMAP over TLS, against Dovecot ----------------------------------------------------------


@pytest.fixture
def dovecot():
    from tests.imapserver import Dovecot, unavailable

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    with Dovecot() as server:
        yield server


def use_imap(publication: Publication, dovecot) -> dict[str, str]:
    from tests.imapserver import PASSWORD, USER

    text = (publication.root / "publisher.toml").read_text()
    text = re.sub(r'mailbox = ".*"', f'mailbox = "{dovecot.url}"\nuser = "{USER}"', text)
    (publication.root / "publisher.toml").write_text(text)
    return {"PUBLISHER_IMAP_PASSWORD": PASSWORD,
            "PUBLISHER_IMAP_CAFILE": str(dovecot.cert)}


def test_an_imap_inbox_over_tls_is_read_without_marking_anything_read(sent, dovecot,
                                                                      publication):
    config, addresses, ids = sent
    env = use_imap(publication, dovecot)
    dovecot.append(variant("postfix-hard.eml", 1, addresses[0], ids[addresses[0]]))
    dovecot.append(variant("arf-yahoo.eml", 2, addresses[1], ids[addresses[1]]))
    dovecot.append(variant("mailto-unsubscribe.eml", 3, addresses[2]))
    dovecot.append(variant("unrelated.eml", 4))
    dovecot.append(variant("postfix-delayed.eml", 5))

    result = run_cli("inbox", root=config.root, env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"inbox {dovecot.url}: processed 3 (1 bounced, "
                                    "1 complained, 1 unsubscribed); left 2 unread")
    assert len(dovecot.flags("processed")) == 3
    left = dovecot.flags("INBOX")
    assert len(left) == 2 and not any("\\Seen" in flags for flags in left)
    again = run_cli("inbox", root=config.root, env=env)
    assert "processed 0; left 2 unread" in again.stdout
    assert statuses(config) == Counter(active=57, bounced=1, complained=1, unsubscribed=1)


def test_check_connect_logs_in_to_the_inbox_a_run_will_read(sent, dovecot, publication):
    config, _, _ = sent
    env = use_imap(publication, dovecot)
    result = run_cli("check", "--connect", root=config.root, env=env)
    assert f"inbox: {dovecot.url}: logged in" in result.stdout.splitlines()
    wrong = run_cli("check", "--connect", root=config.root,
                    env={**env, "PUBLISHER_IMAP_PASSWORD": "nope"})
    assert wrong.exit_code == 1 and f"inbox: {dovecot.url}: " in wrong.stderr.splitlines()[0]
    assert "nope" not in wrong.output


def test_an_imap_password_beyond_ascii_logs_in(sent, dovecot, publication):
    # IMAP's LOGIN takes 7-bit strings and imaplib raised UnicodeEncodeError, a traceback;
    # AUTHENTICATE PLAIN carries the password as UTF-8 (RFC 4616), as mail apps send it.
    from tests.imapserver import UTF8_PASSWORD, UTF8_USER

    config, _, _ = sent
    env = use_imap(publication, dovecot)
    publication.replace_config('user = "reader"', f'user = "{UTF8_USER}"')
    env["PUBLISHER_IMAP_PASSWORD"] = UTF8_PASSWORD
    result = run_cli("check", "--connect", root=config.root, env=env)
    assert f"inbox: {dovecot.url}: logged in" in result.stdout.splitlines(), result.output
    assert run_cli("inbox", root=config.root, env=env).exit_code == 0
    wrong = run_cli("inbox", root=config.root,
                    env={**env, "PUBLISHER_IMAP_PASSWORD": UTF8_PASSWORD + "x"})
    assert wrong.exit_code == 1 and wrong.stderr.startswith(f"error: {dovecot.url}: ")
    assert wrong.stderr.count("\n") == 1 and UTF8_PASSWORD not in wrong.stderr


def test_imap_failures_are_one_line_naming_the_fix(sent, dovecot, publication):
    config, _, _ = sent
    env = use_imap(publication, dovecot)
    wrong = run_cli("inbox", root=config.root, env={**env, "PUBLISHER_IMAP_PASSWORD": "nope"})
    assert wrong.exit_code == 1
    assert wrong.stderr.startswith(f"error: {dovecot.url}: ") and "\n" == wrong.stderr[-1]
    assert wrong.stderr.count("\n") == 1 and "nope" not in wrong.stderr
    untrusted = run_cli("inbox", root=config.root,
                        env={**env, "PUBLISHER_IMAP_CAFILE": ""})
    assert untrusted.exit_code == 1
    assert "certificate not trusted" in untrusted.stderr
    assert "PUBLISHER_IMAP_CAFILE" in untrusted.stderr
    missing = run_cli("inbox", root=config.root, env={"PUBLISHER_IMAP_PASSWORD": ""})
    assert missing.exit_code == 1
    assert "PUBLISHER_IMAP_PASSWORD is not set" in missing.stderr


def test_a_run_with_an_inbox_is_never_answered_as_idle(publication: Publication):
    """An idle run is answered from a record of what it read; mail that came back since is no
    part of it, so a run with an [inbox] reads the mailbox every time."""
    config, inbox, box = maildir_inbox(publication, "zoe@example.com")
    assert run_cli("run", root=config.root, env=SECRET).exit_code == 0  # builds, skips a slot
    for _ in range(2):  # a quiet run is recorded, and the next would be answered from it
        result = run_cli("run", root=config.root, env=SECRET)
        assert result.exit_code == 0 and result.stdout == ""
    box.add(variant("mailto-unsubscribe.eml", 1))
    result = run_cli("run", root=config.root, env=SECRET)
    assert "processed 1 (1 unsubscribed)" in result.stdout
    assert statuses(config) == Counter(unsubscribed=1)


def test_a_reply_to_the_newsletters_own_address_unsubscribes_nobody(publication: Publication):
    """The mailto defaults to from_address, where readers' replies go too: there, only the
    subject the mailto carries ("unsubscribe") says a message is a request to leave."""
    with_inbox(publication)
    config = publication.config
    (config.root / ".publisher").mkdir(exist_ok=True)
    box = mailbox.Maildir(config.root / ".publisher" / "inbox", factory=None, create=True)
    with open_store(config) as store:
        store.add_subscriber("ann@example.org", now=NOW)
        store.add_subscriber("zoe@example.com", now=NOW)
    box.add(variant("unrelated.eml", 1).replace(b"To: Test Reel <editor@reel.test>",
                                                b"To: Test Reel <news@reel.test>"))
    box.add(variant("mailto-unsubscribe.eml", 2))
    result = run_cli("inbox", root=config.root)
    assert result.exit_code == 0, result.output
    assert "processed 1 (1 unsubscribed); left 1 unread (1 a reply to the newsletter" \
        "'s own address)" in result.stdout
    with open_store(config) as store:
        assert {s.email: s.status for s in store.subscribers()} == {
            "ann@example.org": "active", "zoe@example.com": "unsubscribed"}


def test_a_complaint_about_the_welcome_is_tied_to_its_subscriber(publication: Publication):
    # The welcome publisher serve sends is its own message, not an issue's delivery: its
    # Message-ID is kept in the subscriber's history, so a complaint quoting it is ours.
    from publisher.pipeline.reader import ReaderDesk
    from tests.webserver import outbox_messages

    publication.add_config('[inbox]\nmailbox = "maildir://.publisher/inbox"\n')
    config = publication.config
    with open_store(config) as store:
        ann = store.add_subscriber("ann@example.org", now=NOW)
        desk = ReaderDesk(config, store, secret=SECRET["PUBLISHER_SECRET"], clock=lambda: NOW)
        assert desk.send_welcome(ann)
    [welcome] = outbox_messages(config.root / ".publisher" / "outbox")
    box = mailbox.Maildir(config.root / ".publisher" / "inbox", factory=None, create=True)
    box.add(variant("arf-yahoo.eml", 1, "ann@example.org", str(welcome["Message-ID"]).encode()))
    result = run_cli("inbox", root=config.root)
    assert result.exit_code == 0, result.output
    assert "processed 1 (1 complained)" in result.stdout
    assert statuses(config) == Counter(complained=1)


def test_mail_the_email_package_cannot_read_is_left_unread_and_the_run_goes_on(
        publication: Publication):
    """Before, "Message-ID: <<<>>>" on any message in the inbox was a traceback that ended
    every cron run before the build and the send, the message left there to end the next."""
    config, inbox, box = maildir_inbox(publication, "zoe@example.com")
    unsubscribe = (SAMPLES / "mailto-unsubscribe.eml").read_bytes()
    box.add(re.sub(rb"Message-ID: .*", b"Message-ID: <<<>>>", unsubscribe))
    box.add(variant("arf-generic.eml", 1, message_id=b"<[>"))  # the id of no message of ours
    box.add(b"To: news@reel.test\nSubject: unsubscribe\n" + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(1500)))
    result = run_cli("run", root=config.root, env=SECRET)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"inbox maildir://{inbox}: processed 1 (1 unsubscribed); left 2 unread (1 complaint "
        "not about a message or subscriber of ours; 1 unreadable by Python's email package "
        "(RecursionError))\n")
    assert statuses(config) == Counter(unsubscribed=1)
    assert len(os.listdir(inbox / "new")) == 2
    assert run_cli("run", root=config.root, env=SECRET).exit_code == 0  # and the next run


def test_a_mail_unsubscribe_names_no_one_but_its_sender(publication: Publication):
    """Before, CPython's parseaddr (CVE-2023-27043) read these From headers as Ada's and Bo's,
    and the attacker's mail unsubscribed them."""
    config, inbox, box = maildir_inbox(publication, "ada.reader@example.com",
                                       "bo.nguyen@example.net", "zoe@example.com")
    for n, sender in enumerate([b"ada.reader@example.com <attacker@evil.example>",
                                b"bo.nguyen@example.net)<attacker@evil.example>",
                                b"Zoe <zoe@example.com>"]):
        box.add(re.sub(rb"(?m)^From: .*", b"From: " + sender,
                       variant("mailto-unsubscribe.eml", n)))
    result = run_cli("inbox", root=config.root)
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"inbox maildir://{inbox}: processed 1 (1 unsubscribed); left 2 "
                             "unread (2 an unsubscribe request whose From is not one "
                             "well-formed address)\n")
    with open_store(config) as store:
        assert {s.email: s.status for s in store.subscribers()} == {
            "ada.reader@example.com": "active", "bo.nguyen@example.net": "active",
            "zoe@example.com": "unsubscribed"}
