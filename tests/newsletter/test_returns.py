"""What returned mail means, read from samples in the shapes Postfix, Gmail and Yahoo send
(tests/data/inbox/): pure, no mailbox, no ledger."""

from __future__ import annotations

import pytest

from publisher.newsletter.returns import COMPLAINT, HARD, OTHER, SOFT, UNSUBSCRIBE, classify
from tests.fixtures import DATA

INBOX = DATA / "inbox"
ORIGINAL = "<issue-3.b803e1f2203e6fcc485ef6a2@reel.test>"
OURS = {"news@reel.test"}


def read(name: str) -> bytes:
    return (INBOX / name).read_bytes()


@pytest.mark.parametrize(("name", "kind", "status"), [
    ("postfix-hard.eml", HARD, "5.1.1"),
    ("gmail-hard.eml", HARD, "5.1.1"),
    ("postfix-soft.eml", SOFT, "4.4.1"),
    ("yahoo-soft.eml", SOFT, "4.2.2"),
    ("yahoo-policy.eml", SOFT, "5.7.9"),
    ("qmail-hard.eml", HARD, "5.1.1"),  # the remote server's status, in the explanation
    ("qmail-soft.eml", SOFT, "4.4.2"),  # qmail's own (#4.4.2): gave up, the queue too long
])
def test_delivery_reports_are_hard_or_soft_bounces_of_our_message(name, kind, status):
    returned = classify(read(name), unsubscribe_addresses=OURS)
    assert returned.kind == kind
    assert returned.message_ids == (ORIGINAL,)
    assert returned.addresses == ("zoe@example.com",)
    assert status in returned.detail and "\n" not in returned.detail


@pytest.mark.parametrize("name", ["arf-yahoo.eml", "arf-generic.eml"])
def test_feedback_reports_are_complaints_even_with_the_recipient_redacted(name):
    returned = classify(read(name), unsubscribe_addresses=OURS)
    assert (returned.kind, returned.message_ids) == (COMPLAINT, (ORIGINAL,))
    assert returned.addresses == (() if "yahoo" in name else ("zoe@example.com",))


def test_mail_to_the_unsubscribe_address_unsubscribes_its_sender():
    returned = classify(read("mailto-unsubscribe.eml"), unsubscribe_addresses=OURS)
    assert (returned.kind, returned.addresses) == (UNSUBSCRIBE, ("zoe@example.com",))
    # Addressed elsewhere, the subject alone says it.
    other = read("mailto-unsubscribe.eml").replace(b"To: news@reel.test", b"To: x@reel.test")
    assert classify(other, unsubscribe_addresses=OURS).kind == UNSUBSCRIBE
    chatty = other.replace(b"Subject: unsubscribe", b"Subject: how do I unsubscribe?")
    assert classify(chatty, unsubscribe_addresses=OURS).kind == OTHER


def test_a_qmail_bounce_is_told_by_its_recipient_paragraphs_not_its_greeting():
    # QSBMF begins "Hi. This is the"; so may a reader's reply. Without a paragraph naming a
    # recipient, it is not a bounce. Without a status, qmail gave up all the same: 5.0.0.
    reply = (b"From: Zoe <zoe@example.com>\nTo: editor@reel.test\nSubject: Re: issue 3\n\n"
             b"Hi. This is the reader from issue 3.\n\nLoved it.\n")
    assert classify(reply, unsubscribe_addresses=OURS).kind == OTHER
    bare = read("qmail-hard.eml").replace(b"550 5.1.1 ", b"")
    assert classify(bare, unsubscribe_addresses=OURS).detail.startswith("5.0.0: ")


@pytest.mark.parametrize(("name", "why"), [
    ("postfix-delayed.eml", "a delay warning"),
    ("arf-not-spam.eml", "feedback report of type not-spam"),
    ("autoreply.eml", "Auto-Submitted: auto-replied"),
    ("unrelated.eml", "not a report"),
])
def test_everything_else_is_left_alone_with_a_reason(name, why):
    returned = classify(read(name), unsubscribe_addresses=OURS)
    assert returned.kind == OTHER and why in returned.reason


def test_each_message_has_a_stable_key_of_its_own():
    keys = {classify(read(p.name), unsubscribe_addresses=OURS).key
            for p in INBOX.glob("*.eml")}
    assert len(keys) == len(list(INBOX.glob("*.eml")))
    assert classify(read("postfix-hard.eml"), unsubscribe_addresses=OURS).key == \
        "mid:20261120090512.4F1A2C0012@mail.reel.test"
    no_id = read("unrelated.eml").replace(b"Message-ID: <reply-1@example.org>\n", b"")
    key = classify(no_id, unsubscribe_addresses=OURS).key
    assert key.startswith("sha256:") and key == classify(no_id, unsubscribe_addresses=OURS).key


@pytest.mark.parametrize("junk", [b"", b"\x00\xff" * 100, b"Content-Type: multipart/report; "
                                  b"report-type=delivery-status; boundary=x\n\n--x\n",
                                  b"Subject: unsubscribe\nFrom: nobody\n\n"])
def test_malformed_mail_is_other_never_an_exception(junk):
    assert classify(junk, unsubscribe_addresses=OURS).kind == OTHER


#: Values CPython's header parsers raise on (an IndexError, AttributeError, TypeError or
#: UnboundLocalError from email._header_value_parser, not a defect), found by fuzzing 3.11.
MALFORMED = [b"<<<>>>", b"<[>", b"<", b'"', b"<a@[>", b"\\", b"=?", b"", b"\xff\xfe <\xff@>",
             b".:)=?utf-8?b?a", b" .=?utf-8?q?\\?*\t:=", b"=**@[\t", b"<@\x00*a=?x?q?. ?:",
             b"\t:=?x?q?=?utf-8?b?b?==?utf-8?b?;=?utf-8?q?", b"=?utf-8?b?.?=(,\";?==?utf-8?b?)",
             b":.\\;>:]:%'?=", b"\x00, :=?x?q??@", b"=?utf-8?q?<?==?utf-8?q?@=>')",
             b"multipart/report; report-type*=''%ZZ; boundary=", b"text/plain; charset*=x'y'%ZZ",
             b'text/plain; charset="\\', b"ada.reader@example.com <attacker@evil.example>"]
#: Every header the inbox reads, and those the email package reads as it parses.
HEADERS = ["From", "To", "Cc", "Reply-To", "Sender", "Message-ID", "In-Reply-To", "References",
           "Subject", "Date", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
           "Content-Disposition", "Auto-Submitted", "Precedence", "List-Id", "List-Unsubscribe",
           "Delivered-To", "X-Original-To", "X-Autoreply"]


@pytest.mark.parametrize("header", HEADERS)
def test_no_malformed_header_stops_a_message_being_read(header):
    """Before, "Message-ID: <<<>>>" raised an IndexError from the email package: the message
    stayed in the inbox, and every cron run stopped on it before the send."""
    for value in MALFORMED:
        line = header.encode() + b": " + value + b"\n"
        # First in the message, so that it is the one read of a header the message has too.
        top = classify(line + read("mailto-unsubscribe.eml"), unsubscribe_addresses=OURS,
                       reply_addresses=OURS)
        assert "unreadable" not in top.reason, (header, value)
        # In the message a report returns: the report is what it was.
        for name, anchor, kind in [("arf-generic.eml", b"Received: from mail.reel", COMPLAINT),
                                   ("gmail-hard.eml", b"DKIM-Signature: ", HARD),
                                   ("postfix-hard.eml", b"Return-Path: <bounces@", HARD)]:
            inner = read(name).replace(anchor, line + anchor, 1)
            assert classify(inner, unsubscribe_addresses=OURS).kind == kind, (name, value)


def test_a_message_too_deeply_nested_to_read_is_left_with_a_reason():
    # The email package parses nested parts recursively: a thousand deep, it cannot.
    nested = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
                      for i in range(1500))
    raw = b"From: zoe@example.com\nTo: news@reel.test\nSubject: unsubscribe\n" + nested
    returned = classify(raw, unsubscribe_addresses=OURS)
    assert returned.kind == OTHER
    assert returned.reason == "unreadable by Python's email package (RecursionError)"


def test_a_fault_in_publishers_own_code_is_not_taken_for_malformed_mail():
    # The email package raises a TypeError on some malformed values; one raised by
    # publisher's own code (here, given no addresses at all) is a bug, for its traceback.
    with pytest.raises(TypeError):
        classify(read("mailto-unsubscribe.eml"), unsubscribe_addresses=None)


def unsubscribe_from(*senders: bytes, to: bytes = b"news@reel.test") -> bytes:
    head = b"".join(b"From: " + sender + b"\n" for sender in senders)
    return head + b"To: " + to + b"\nSubject: please\nMessage-ID: <u1@example.com>\n\nbye\n"


@pytest.mark.parametrize("sender", [
    b"Ada Reader <ada.reader@example.com>",
    b"ada.reader@example.com",
    b"ada.reader@example.com (Ada Reader)",
    b'"Reader, Ada" <ada.reader@example.com>',
    b"=?utf-8?q?ev=40evil.example?= <ada.reader@example.com>",  # a display name, decoded
    "Ada Lovelace-Bj\u00f6rk <ada.reader@example.com>".encode(),  # RFC 6532: UTF-8
    # RFC 5322's obs-phrase, which a reader must accept: a period in a name left unquoted
    b"A. Reader <ada.reader@example.com>",
    b"Dr. Ada Reader Jr. <ada.reader@example.com>",
])
def test_an_unsubscribe_by_mail_acts_on_its_one_sender(sender):
    returned = classify(unsubscribe_from(sender), unsubscribe_addresses=OURS)
    assert (returned.kind, returned.addresses) == (UNSUBSCRIBE, ("ada.reader@example.com",))


@pytest.mark.parametrize(("senders", "why"), [
    # CPython's parseaddr reads the first address of each (CVE-2023-27043): Ada, Bo, not the
    # attacker whose mailbox the message came from.
    ([b"ada.reader@example.com <attacker@evil.example>"], "is not one well-formed address"),
    ([b"bo.nguyen@example.net)<attacker@evil.example>"], "is not one well-formed address"),
    ([b"<ada.reader@example.com><attacker@evil.example>"], "is not one well-formed address"),
    ([b"Ada <ada.reader@example.com>, Eve <attacker@evil.example>"],
     "is not one well-formed address"),
    ([b"ada.reader@example.com", b"attacker@evil.example"], "is not one well-formed address"),
    ([b"<a@[>"], "is not one well-formed address"),  # the email package's AttributeError
    # obsolete forms beside an invalid one are no excuse
    ([b"ada.reader@example.com. <attacker@evil.example>"], "is not one well-formed address"),
    ([b"<ada.reader@example.com>. Eve <attacker@evil.example>"],
     "is not one well-formed address"),
    ([b"undisclosed-recipients:;"], "without a sender address"),
    ([], "without a sender address"),
])
def test_an_unsubscribe_from_anything_but_one_well_formed_address_is_left(senders, why):
    returned = classify(unsubscribe_from(*senders), unsubscribe_addresses=OURS)
    assert (returned.kind, returned.addresses) == (OTHER, ())
    assert returned.reason.startswith("an unsubscribe request ") and why in returned.reason


def test_a_recipient_is_read_as_strictly_as_a_sender():
    # Leniently read, this is addressed to the unsubscribe address (CVE-2023-27043).
    returned = classify(unsubscribe_from(b"ada.reader@example.com",
                                         to=b"news@reel.test <ada@elsewhere.example>"),
                        unsubscribe_addresses=OURS)
    assert returned.kind == OTHER and "nor addressed to the unsubscribe address" in \
        returned.reason
