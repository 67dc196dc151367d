"""publisher serve over a real socket: subscribe with double opt-in, confirm once, RFC 8058
one-click unsubscribe and its undo, preferences (rename, export, erase), and the abuse a public
endpoint gets: forged, swapped, expired and reused tokens, floods, huge bodies, foreign Host
headers, path traversal, and errors that must not show a traceback."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from urllib.parse import parse_qs, urlsplit

import httpx
import lxml.html
import pytest

from publisher.config import READER_PATHS, Config
from publisher.ledger.store import Store, open_store
from publisher.newsletter.subscriptions import OWED_RETRY
from publisher.pipeline.reader import ReaderDesk
from publisher.render.sender import Sender
from publisher.render.tokens import CONFIRM, MANAGE, UNDO, make_token, unsubscribe_token
from tests.fixtures import NOW, Page, use_smtp, wait_for, write_png
from tests.smtpserver import ScriptedServer
from tests.web.conftest import SECRET, Reader, serve_publication, serving
from tests.webserver import MutableClock, outbox_messages, wait_for_messages


def visible(response: httpx.Response) -> str:
    return Page(response.text).visible


def form_actions(response: httpx.Response) -> list[tuple[str, str]]:
    return [(attrs.get("method", ""), attrs.get("action", "")) for tag, attrs
            in Page(response.text).tags if tag == "form"]


def wait_for_answered(caplog, request: str, count: int) -> None:
    """Until the access log has ``count`` lines of ``request`` ("POST /subscribe"): a line is
    written once its request is over, the message sent after the answer included, so the
    outbox then holds every message those requests send, and will hold no more."""
    wait_for(lambda: sum(r.getMessage().startswith(f"{request} ") for r in caplog.records
                         if r.name == "publisher.serve") >= count,
             what=f"{count} {request} answered")


# --- subscribing -----------------------------------------------------------------------------


def test_subscribing_sends_a_confirmation_and_only_its_link_activates(reader: Reader):
    page = reader.client.get("subscribe")
    assert page.status_code == 200
    assert ("post", f"{reader.url}subscribe") in form_actions(page)

    answer = reader.subscribe("ann@example.org", "Ann")
    assert answer.status_code == 200 and "Check your inbox" in visible(answer)
    (mail,) = wait_for_messages(reader.outbox, 1)
    assert mail["To"] == "ann@example.org"  # the form's name is anyone's words: see below
    assert mail["Subject"] == "Confirm your subscription to Test Reel"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["List-Unsubscribe"] is None
    link = reader.confirmation_link()
    assert urlsplit(link).netloc == f"127.0.0.1:{reader.server.port}"
    assert "ann@example.org" not in link  # the address travels only inside the token

    asked = reader.client.get(link)  # what a mail scanner does: nothing changes
    assert asked.status_code == 200 and "Yes, subscribe me" in visible(asked)
    assert reader.store.subscriber("ann@example.org") is None

    done = reader.client.post(link)
    assert done.status_code == 200 and "You are subscribed" in visible(done)
    sub = reader.store.subscriber("ann@example.org")
    assert sub.status == "active" and sub.name == "Ann" and sub.source == "web:test"
    consent = reader.store.subscriber_data("ann@example.org")["subscriber"]["consent"]
    assert consent["ip"] == "127.0.0.1" and consent["form"] == "test"
    assert consent["asked_at"] == consent["confirmed_at"] == NOW.isoformat()


@pytest.mark.parametrize(("settings", "trusted", "recorded"), [
    ("", "127.0.0.1", "203.0.113.9"),  # behind the reverse proxy: the reader's own address
    ("", "10.0.0.1", "127.0.0.1"),  # a client's own X-Forwarded-For is not believed
    ("store_ip = false", "127.0.0.1", None),  # the publication keeps no addresses
])
def test_consent_records_the_readers_ip_only_as_configured(publication, settings, trusted,
                                                           recorded):
    with serving(publication, server=settings, trusted_proxies=trusted) as reader:
        reader.client.post("subscribe", data={"email": "ann@example.org", "form": "t"},
                           headers={"X-Forwarded-For": "203.0.113.9"})
        assert reader.client.post(reader.confirmation_link()).status_code == 200
        consent = reader.store.subscriber_data("ann@example.org")["subscriber"]["consent"]
    assert consent["ip"] == recorded


def test_the_limit_counts_an_ipv6_client_by_its_network_and_says_when_to_come_back(
        publication):
    with serving(publication, trusted_proxies="127.0.0.1") as reader:
        def subscribe(n: int, client: str) -> httpx.Response:
            return reader.client.post("subscribe", data={"email": f"r{n}@example.org"},
                                      headers={"X-Forwarded-For": client})

        # One line's /64 holds more addresses than anyone could count one by one.
        codes = [subscribe(n, f"2001:db8:1:2::{n + 1:x}").status_code for n in range(11)]
        assert codes == [200] * 10 + [429]
        refused = subscribe(11, "2001:db8:1:2:ffff::9")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "3600"
        assert subscribe(12, "2001:db8:1:3::1").status_code == 200  # the next network


def test_the_answer_is_the_same_for_a_new_a_waiting_and_a_subscribed_address(reader: Reader):
    reader.store.add_subscriber("old@example.org", now=NOW)
    reader.subscribe("waiting@example.org")
    bodies = {}
    for email in ("new@example.org", "waiting@example.org", "old@example.org"):
        response = reader.subscribe(email)
        assert response.status_code == 200
        bodies[email] = response.text.replace(email, "ADDRESS")
    assert len(set(bodies.values())) == 1
    messages = wait_for_messages(reader.outbox, 4)
    assert sorted((str(m["To"]), str(m["Subject"])) for m in messages) == [
        ("new@example.org", "Confirm your subscription to Test Reel"),
        ("old@example.org", "You are already subscribed to Test Reel"),  # told, not asked
        ("waiting@example.org", "Confirm your subscription to Test Reel"),
        ("waiting@example.org", "Confirm your subscription to Test Reel")]


def test_the_confirmation_carries_no_words_from_the_form_but_the_address(reader: Reader):
    # Anyone may fill in the form for any address: a name such as this one would otherwise
    # reach that address in a message from the publication, in To: and in its greeting.
    spam = "Claim your prize at https://prize.example"
    reader.subscribe("ann@example.org", spam)
    (mail,) = wait_for_messages(reader.outbox, 1)
    assert mail["To"] == "ann@example.org"
    assert "prize" not in mail.as_string()
    assert mail.get_body(("plain",)).get_content().startswith("Hello,")
    # She confirms: the name she gave is hers from then on.
    reader.client.post(reader.confirmation_link())
    assert reader.store.subscriber("ann@example.org").name == spam


def test_a_subscriber_who_asks_again_is_told_so_with_their_preferences_and_nothing_changes(
        reader: Reader, caplog):
    caplog.set_level("INFO", logger="publisher.serve")
    reader.store.add_subscriber("ann@example.org", name="Ann", now=NOW)
    before = reader.store.subscriber("ann@example.org")
    reader.subscribe("ann@example.org", "Someone Else")
    (note,) = wait_for_messages(reader.outbox, 1)
    assert note["To"] == "Ann <ann@example.org>"  # the list's name for her, not the form's
    assert "Someone Else" not in note.as_string()
    assert note["Auto-Submitted"] == "auto-generated"
    assert note["List-Unsubscribe"] is None  # an answer to a form anyone may fill in
    text = note.get_body(("plain",)).get_content()
    prose = " ".join(text.split())  # as read, whichever lines the wrapping made
    assert "ann@example.org to Test Reel. It is subscribed already: nothing has changed" in prose
    assert "add news@reel.test to your contacts" in prose
    assert reader.preferences_url("ann@example.org") in text
    assert "confirm?token=" not in text
    assert reader.store.subscriber("ann@example.org") == before  # the name too

    # The form's daily cap counts these notes: nobody's inbox is flooded from it.
    for _ in range(4):
        reader.subscribe("ann@example.org")
    wait_for_answered(caplog, "POST /subscribe", 5)
    assert len(outbox_messages(reader.outbox)) == 3


def test_a_bad_address_shows_the_form_again_with_what_was_typed(reader: Reader):
    response = reader.subscribe("not-an-address", "Ann <b>")
    assert response.status_code == 400
    assert "does not look like an email address" in visible(response)
    assert 'value="not-an-address"' in response.text and "Ann &lt;b&gt;" in response.text
    # A screen reader on the field hears what is wrong with it.
    field = lxml.html.fromstring(response.text).get_element_by_id("subscribe-email")
    assert field.get("aria-invalid") == "true"
    assert field.get("aria-describedby") == "subscribe-error"


def test_a_misspelt_mail_provider_is_questioned_before_any_mail_goes_there(reader: Reader):
    # ann@gmial.com gets no confirmation (or a typo-squatter gets it), and the reader waits
    # for a mail that never comes. Mailchimp's forms ask "did you mean"; so do these, before
    # anything is sent, and the reader picks either address with one button, no script.
    asked = reader.subscribe("ann@gmial.com", "Ann")
    assert asked.status_code == 200 and "Did you mean ann@gmail.com?" in visible(asked)
    time.sleep(0.5)
    assert outbox_messages(reader.outbox) == []
    page = lxml.html.fromstring(asked.text)
    choices = {b.get("value"): b for b in page.xpath("//form//button[@name='email']")}
    assert set(choices) == {"ann@gmail.com", "ann@gmial.com"}
    form = choices["ann@gmail.com"].xpath("ancestor::form")[0]
    fields = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
    chosen = reader.client.post("subscribe", data={**fields, "email": "ann@gmail.com"})
    assert "Check your inbox" in visible(chosen)
    assert reader.confirmation_link()
    assert [m["To"] for m in outbox_messages(reader.outbox)] == ["ann@gmail.com"]
    kept = reader.client.post("subscribe", data={**fields, "email": "bob@gmial.com"})
    assert "Check your inbox" in visible(kept)  # the reader said it is right: no second ask
    for fine in ("cat@gmail.com", "dan@mail.com", "eve@email.com", "fay@example.org"):
        assert "Did you mean" not in visible(reader.subscribe(fine))


@pytest.mark.parametrize("body", [
    b"email=%FF%FEx1@readers.org",  # percent-escapes of bytes that are not UTF-8
    b"email=\xff\xfex1@readers.org",  # the same bytes, raw
    b"email=%EF%BF%BDx1@readers.org",  # U+FFFD: what a decoder made of such bytes
    b"email=x1@readers.org&name=%C0%AF",  # an overlong UTF-8 sequence, in any field
])
def test_form_bytes_that_are_not_text_are_not_an_address(reader: Reader, body: bytes):
    response = reader.client.post("subscribe", content=body, headers={
        "content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "does not look like an email address" in visible(response)
    assert "\ufffd" not in response.text
    assert reader.store.subscriber_data("x1@readers.org") is None
    assert wait_for_messages(reader.outbox, 1, timeout=0.3) == []


def test_a_form_in_utf_8_is_read_as_utf_8_escaped_or_not(reader: Reader):
    for body in ("email=zoe@example.org&name=Zo%C3%AB+Q", "email=zoe@example.org&name=Zoë Q"):
        assert reader.client.post("subscribe", content=body.encode("utf-8"), headers={
            "content-type": "application/x-www-form-urlencoded"}).status_code == 200
    reader.client.post(reader.confirmation_link())
    assert reader.store.subscriber("zoe@example.org").name == "Zoë Q"
    assert reader.store.subscriber_data("zoe@example.org")["subscription_requests"][1][
        "name"] == "Zoë Q"  # not "ZoÃ« Q"

    # Every form is read so: a name for the preferences page too.
    url = reader.preferences_url("zoe@example.org")
    refused = reader.client.post(url, content=b"action=name&name=%FF", headers={
        "content-type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 400 and "This form could not be read" in visible(refused)
    assert reader.store.subscriber("zoe@example.org").name == "Zoë Q"


def test_the_honeypot_and_the_per_address_cap_send_nothing_yet_answer_alike(reader: Reader,
                                                                            caplog):
    caplog.set_level("INFO", logger="publisher.serve")
    bot = reader.subscribe("bot@example.org", website="http://spam.example")
    assert bot.status_code == 200 and "Check your inbox" in visible(bot)
    for _ in range(5):
        reader.subscribe("ann@example.org")
    wait_for_answered(caplog, "POST /subscribe", 6)
    to = [str(m["To"]) for m in outbox_messages(reader.outbox)]
    assert to == ["ann@example.org"] * 3  # confirmations_per_day, and none for the bot


def test_the_per_address_cap_counts_one_mailbox_however_its_address_is_written(reader: Reader,
                                                                              caplog):
    # Subscription bombing: a victim's inbox flooded from many sites' forms, to bury a bank's
    # warning. The cap of three a day held for one spelling only: victim+1@, victim+2@, … (and
    # at Gmail v.ictim@, vi.ctim@, …) reach one mailbox, and each had three of its own, from
    # as many addresses as the attacker held.
    caplog.set_level("INFO", logger="publisher.serve")
    variants = ["victim+1@example.org", "victim+2@example.org", "Victim@example.org",
                "victim+news@example.org", "v.ictim@gmail.com", "victim+a@gmail.com",
                "VIC.TIM@googlemail.com", "vi.c.tim+b@gmail.com"]
    for n, email in enumerate(variants):
        answer = reader.client.post("subscribe", data={"email": email},
                                    headers={"X-Forwarded-For": f"198.51.100.{n + 1}"})
        assert answer.status_code == 200 and "Check your inbox" in visible(answer)
    reader.subscribe("victim2@example.org")  # another mailbox: its own count
    wait_for_answered(caplog, "POST /subscribe", len(variants) + 1)
    to = sorted(str(m["To"]) for m in outbox_messages(reader.outbox))
    assert to == sorted(["victim+1@example.org", "victim+2@example.org", "Victim@example.org",
                         "v.ictim@gmail.com", "victim+a@gmail.com", "VIC.TIM@googlemail.com",
                         "victim2@example.org"])


def test_a_thousand_subscribe_posts_from_one_address_are_stopped_at_the_limit(reader: Reader):
    codes = [reader.subscribe(f"flood{i}@example.org").status_code for i in range(1000)]
    assert codes.count(200) == 10 and codes.count(429) == 990
    assert codes[:10] == [200] * 10
    wait_for_messages(reader.outbox, 10)
    assert len(outbox_messages(reader.outbox)) == 10
    # Another hour, and the same address may ask again.
    reader.clock.now = NOW + timedelta(hours=1)
    assert reader.subscribe("later@example.org").status_code == 200


# --- confirmation tokens ---------------------------------------------------------------------


def test_a_confirmation_link_works_once(reader: Reader):
    reader.subscribe("ann@example.org")
    link = reader.confirmation_link()
    assert reader.client.post(link).status_code == 200
    reader.client.post(reader.unsubscribe_url("ann@example.org"))
    assert "already been used" in visible(reader.client.get(link))  # no button to press
    again = reader.client.post(link)
    assert "already been used" in visible(again)
    assert reader.store.subscriber("ann@example.org").status == "unsubscribed"


def test_a_confirmation_link_expires_after_confirm_hours(reader: Reader):
    reader.subscribe("ann@example.org")
    link = reader.confirmation_link()
    reader.clock.now = NOW + timedelta(hours=48)
    late = reader.client.post(link)
    assert late.status_code == 410 and "This link has expired" in visible(late)
    assert reader.store.subscriber("ann@example.org") is None


@pytest.mark.parametrize("tail", [".", ">", "%3E", ")", ",", "%22", "%E2%80%9D"])
def test_a_link_a_mail_client_glued_punctuation_onto_still_works(reader: Reader, tail: str):
    # A plain-text link at the end of a sentence, or in <angle brackets>, comes back from many
    # mail clients and from copying with the full stop or the bracket on it. No token ends in
    # one of these characters, so they are the client's, not the link's: the reader confirms
    # instead of being told the link is broken.
    reader.subscribe("ann@example.org")
    link = reader.confirmation_link()
    response = reader.client.post(link + tail)
    assert response.status_code == 200 and "subscribed" in visible(response).lower()
    assert reader.store.subscriber("ann@example.org").status == "active"
    manage = reader.desk.manage_token("ann@example.org")
    page = reader.client.get(f"preferences?token={manage}{tail}")
    assert page.status_code == 200 and "ann@example.org" in page.text
    one_click = reader.client.post(reader.unsubscribe_url("ann@example.org") + tail)
    assert one_click.status_code == 200
    assert reader.store.subscriber("ann@example.org").status == "unsubscribed"


# --- the welcome -----------------------------------------------------------------------------


def test_a_confirmed_reader_is_welcomed_once_with_the_way_out_every_issue_has(reader: Reader):
    reader.subscribe("ann@example.org", "Ann")
    link = reader.confirmation_link()
    reader.client.get(link)  # a mail scanner's visit confirms nothing, and welcomes nobody
    assert len(wait_for_messages(reader.outbox, 2, timeout=0.5)) == 1

    assert reader.client.post(link).status_code == 200
    confirmation, welcome = wait_for_messages(reader.outbox, 2)
    assert welcome["To"] == "Ann <ann@example.org>"
    assert welcome["Subject"] == "Welcome to Test Reel"
    assert welcome["Auto-Submitted"] == "auto-generated"
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = welcome.get_body(("plain",)).get_content()
    assert text.startswith("Hello Ann,")
    # The default schedule's next Friday, in the newsletter's zone; no issue yet, so the site.
    assert "The next issue is planned for 27 November 2026." in text
    assert "the latest reviews are on the site:\nhttps://reel.test/" in text
    assert reader.preferences_url("ann@example.org") in text

    # Back at the used link, she is told what matters: she is on the list. No second welcome.
    for again in (reader.client.post(link), reader.client.get(link)):
        assert "You are subscribed" in visible(again) and "button" not in again.text
    assert len(wait_for_messages(reader.outbox, 3, timeout=0.5)) == 2

    # Its List-Unsubscribe is the one-click link that works, as an issue's does.
    header_url = re.search(r"<(https?://[^>]+)>", welcome["List-Unsubscribe"]).group(1)
    assert header_url == reader.unsubscribe_url("ann@example.org")
    assert reader.client.post(header_url, content=b"List-Unsubscribe=One-Click").status_code \
        == 200
    assert reader.store.subscriber("ann@example.org").status == "unsubscribed"


def test_a_reader_who_asked_twice_and_confirms_both_links_is_welcomed_once(reader: Reader):
    reader.subscribe("ann@example.org", "Ann")
    reader.subscribe("ann@example.org", "Ann")  # the first mail was slow to arrive
    first, second = reader.confirmation_link(1), reader.confirmation_link(2)
    assert "You are subscribed" in visible(reader.client.post(first))
    assert wait_for_messages(reader.outbox, 3)[-1]["Subject"] == "Welcome to Test Reel"

    # The second link still confirms (it is unused and unexpired), but she is on the list
    # already: she has had her welcome.
    assert "You are subscribed" in visible(reader.client.post(second))
    assert len(wait_for_messages(reader.outbox, 4, timeout=0.5)) == 3


def test_a_reader_who_left_and_comes_back_is_welcomed_again(reader: Reader):
    reader.subscribe("ann@example.org")
    reader.client.post(reader.confirmation_link(1))
    wait_for_messages(reader.outbox, 2)
    reader.store.unsubscribe("ann@example.org", now=NOW, via="one-click")
    reader.subscribe("ann@example.org")
    reader.client.post(reader.confirmation_link(3))
    welcomes = [m for m in wait_for_messages(reader.outbox, 4)
                if m["Subject"] == "Welcome to Test Reel"]
    assert len(welcomes) == 2


def test_the_welcome_points_to_the_latest_issue_sent(reader: Reader):
    from tests.fixtures import run_cli, write_reviews

    root = reader.config.root
    write_reviews(reader.publication, 2)
    reader.store.add_subscriber("first@example.org", now=NOW - timedelta(days=1))
    assert run_cli("issue", "new", root=root).exit_code == 0
    assert run_cli("issue", "send", "1", root=root, env={"PUBLISHER_SECRET": SECRET}
                   ).exit_code == 0
    write_reviews(reader.publication, 1, prefix="later")
    assert run_cli("issue", "new", root=root).exit_code == 0  # a draft: sent to nobody yet
    subject = reader.store.issue(1).subject

    reader.subscribe("ann@example.org")
    reader.client.post(reader.confirmation_link(2))
    welcome = wait_for_messages(reader.outbox, 3)[-1]
    text = welcome.get_body(("plain",)).get_content()
    assert f"read the latest issue, #1:\n{subject}\nhttps://reel.test/issues/1/" in text
    assert "Every past issue: https://reel.test/issues/" in text
    html = welcome.get_body(("html",)).get_content()
    assert 'href="https://reel.test/issues/1/"' in html


def test_no_welcome_when_the_publication_says_so(publication):
    with serving(publication, extra="welcome = false") as reader:
        reader.client.post("subscribe", data={"email": "ann@example.org"})
        assert "You are subscribed" in visible(reader.client.post(reader.confirmation_link()))
        assert len(wait_for_messages(reader.outbox, 2, timeout=0.5)) == 1
        assert reader.store.subscriber("ann@example.org").status == "active"


def test_a_welcome_the_relay_refuses_leaves_the_subscription_and_one_line(publication, server,
                                                                        caplog):
    use_smtp(publication, server.url, connections=1)
    with serving(publication) as reader, caplog.at_level("WARNING", logger="publisher.serve"):
        reader.client.post("subscribe", data={"email": "ann@example.org"})
        deadline = time.monotonic() + 10
        while not server.received_by("ann@example.org") and time.monotonic() < deadline:
            time.sleep(0.02)
        (confirmation,) = server.received_by("ann@example.org")
        link = re.search(r"(http\S+/confirm\?token=\S+)", confirmation.message.get_body(
            ("plain",)).get_content()).group(1)
        server.fail("ann@example.org", "550_named")  # the reply names her
        done = reader.client.post(link)
        assert done.status_code == 200 and "You are subscribed" in visible(done)
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.02)
        subscriber = reader.store.subscriber("ann@example.org")
    assert subscriber.status == "active"
    assert len(server.received_by("ann@example.org")) == 1  # the confirmation alone
    (line,) = [r.getMessage() for r in caplog.records if "welcome" in r.getMessage()]
    assert line.startswith(f"welcome for subscriber {subscriber.id} not sent: ")
    assert "ann@" not in line and "<the reader's address>: Recipient address rejected" in line


def test_a_confirmation_and_a_welcome_the_relay_put_off_go_out_once_it_takes_them(
        publication, server, caplog):
    use_smtp(publication, server.url, connections=1)

    def logged(text: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if text in r.getMessage()]

    with serving(publication, owed_every=0.02) as reader, \
            caplog.at_level("INFO", logger="publisher.serve"):
        clock = reader.clock
        server.refuse_sender("451 4.3.0 Try again later")  # the relay takes nothing
        answer = reader.client.post("subscribe", data={"email": "ann@example.org"})
        assert "Check your inbox" in visible(answer)
        wait_for(lambda: logged("not sent"), what="the confirmation's try")
        (line,) = logged("not sent")
        assert line.startswith("confirmation for request 1 not sent: ")
        assert line.endswith("; tried again in 5 minutes") and "ann@" not in line

        server.refuse_sender(None)  # the relay is back; the server waits its five minutes
        time.sleep(0.3)
        assert server.messages == [] and len(logged("not sent")) == 1
        clock.now = NOW + timedelta(minutes=5)
        wait_for(lambda: server.received_by("ann@example.org"), what="the confirmation")
        wait_for(lambda: logged("mail owed to readers: 1 sent"), what="the round's line")
        (confirmation,) = server.received_by("ann@example.org")
        link = re.search(r"(http\S+/confirm\?token=\S+)", confirmation.message.get_body(
            ("plain",)).get_content()).group(1)

        server.fail("ann@example.org", "451", times=1)  # "try later", for the welcome
        assert "You are subscribed" in visible(reader.client.post(link))
        wait_for(lambda: len(logged("not sent")) == 2, what="the welcome's try")
        assert logged("not sent")[1].startswith("welcome for subscriber 1 not sent: 451")
        clock.now = NOW + timedelta(minutes=10)
        wait_for(lambda: len(server.received_by("ann@example.org")) == 2,
                 what="the welcome")
        wait_for(lambda: len(logged("mail owed to readers: 1 sent")) == 2,
                 what="the welcome's round ending")
        # Rounds go on, and find nothing more owed: each message went out once.
        rounds = len(logged("mail owed"))
        clock.now = NOW + timedelta(hours=1)
        time.sleep(0.3)
        assert reader.store.owed_welcomes(clock.now) == []
        assert reader.store.owed_confirmations(clock.now) == []
    welcome = server.received_by("ann@example.org")[1].message
    assert welcome["Subject"] == "Welcome to Test Reel"
    assert len(server.received_by("ann@example.org")) == 2
    assert len(logged("mail owed")) == rounds  # no round sent anything more


def greet_then_nothing(relay: ScriptedServer, conn) -> None:
    """A relay that takes the connection, greets, and never answers again."""
    conn.sendall(b"220 sink.test ESMTP\r\n")
    relay.closed.wait()


def test_a_relay_that_never_answers_holds_up_no_request(publication, caplog):
    # Confirmations go out after the answer, each waiting on the relay in a thread: they must
    # not take the threads the requests' ledger calls need (a one-click unsubscribe).
    relay = ScriptedServer(greet_then_nothing)
    # Long enough that no send gives up while the test runs (which would let the next in).
    use_smtp(publication, relay.url, connections=2, timeout=20)
    with serving(publication) as reader, relay, \
            caplog.at_level("INFO", logger="publisher.serve"):
        reader.store.add_subscriber("ann@example.org", now=NOW)
        # More than the 40 threads requests have, each from a client of its own (the
        # per-IP limit is not what is tested), each answered well before delivery.timeout.
        for n in range(50):
            answer = reader.client.post("subscribe", data={"email": f"r{n}@example.org"},
                                        headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
                                        timeout=2)
            assert answer.status_code == 200
        wait_for(lambda: relay.connections >= 2, what="the relay's connections")
        started = time.monotonic()
        unsubscribed = reader.client.post(reader.unsubscribe_url("ann@example.org"))
        took = time.monotonic() - started
        assert unsubscribed.status_code == 200 and took < 2
        assert relay.connections == 2  # no more than [delivery] connections at once
        assert reader.store.subscriber("ann@example.org").status == "unsubscribed"
        # What could not wait its turn is owed, as if the relay had put it off: nothing lost.
        assert len(reader.store.owed_confirmations(NOW + OWED_RETRY, limit=None)) == 50
    assert any("not sent now" in r.getMessage() for r in caplog.records)


@contextlib.contextmanager
def desk_alone(publication, server) -> Iterator[tuple[ReaderDesk, Store, MutableClock]]:
    """The reader's desk sending through ``server``, on a clock the test moves, with no app
    around it: the test calls its rounds of owed mail."""
    use_smtp(publication, server.url, connections=1)
    sock, config = serve_publication(publication)
    sock.close()
    clock = MutableClock(NOW)
    with open_store(config) as store:
        yield ReaderDesk(config, store, secret=SECRET, clock=clock), store, clock


def test_a_round_stops_at_a_relay_that_takes_nothing_and_drops_what_it_refuses_for_good(
        publication, server, caplog):
    with desk_alone(publication, server) as (desk, _, clock):
        server.refuse_sender("451 4.3.0 Try again later")
        for name in ("ann", "bob", "cat"):
            asked = desk.subscribe(f"{name}@example.org", "", form="-", ip=None)
            assert not desk.send_after_subscribe(asked)
        clock.now = NOW + OWED_RETRY
        caplog.clear()
        with caplog.at_level("WARNING", logger="publisher.serve"):
            assert desk.send_owed() == 0
        assert len(caplog.records) == 1  # one try, not one a reader: the others wait

        server.refuse_sender(None)
        server.fail("bob@example.org", "550")  # no such mailbox, for good
        clock.now = NOW + 2 * OWED_RETRY
        assert desk.send_owed() == 2
        clock.now = NOW + 3 * OWED_RETRY
        assert desk.send_owed() == 0  # bob's is given up, not tried every five minutes
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == [
        "ann@example.org", "cat@example.org"]


def test_a_welcome_owed_to_a_reader_who_left_meanwhile_is_given_up(publication, server,
                                                                   caplog):
    with desk_alone(publication, server) as (desk, store, clock):
        asked = desk.subscribe("ann@example.org", "", form="-", ip=None)
        assert desk.send_after_subscribe(asked)
        token = re.search(r"confirm\?token=(\S+)", server.messages[0].message.get_body(
            ("plain",)).get_content()).group(1)
        server.fail("ann@example.org", "451", times=1)
        _, _, joined = desk.confirm(token, commit=True)
        assert not desk.send_welcome(joined)
        desk.unsubscribe("ann@example.org", via="one-click")
        clock.now = NOW + OWED_RETRY
        with caplog.at_level("INFO", logger="publisher.serve"):
            assert desk.send_owed() == 0
        assert store.owed_welcomes(NOW + timedelta(days=1)) == []
    assert len(server.messages) == 1  # the confirmation alone
    assert f"welcome for subscriber {joined.id} given up: no longer subscribed" in [
        r.getMessage() for r in caplog.records]


def test_a_confirmation_template_that_breaks_is_one_line_in_the_log_not_a_traceback(
        publication, caplog):
    publication.write_template("web/confirmation.txt.j2", "{{ nothing.here }}")
    with serving(publication) as reader, caplog.at_level("WARNING"):
        answer = reader.client.post("subscribe", data={"email": "ann@example.org"})
        assert answer.status_code == 200 and "Check your inbox" in visible(answer)
        deadline = time.monotonic() + 10
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.02)
    (record,) = caplog.records
    assert record.getMessage().startswith("confirmation for request 1 not sent: ")
    assert "web/confirmation.txt.j2" in record.getMessage() and record.exc_info is None
    assert "ann@" not in record.getMessage()


def test_forged_and_swapped_purpose_tokens_get_a_plain_400_that_names_nobody(reader: Reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    list_id = reader.desk.list_id
    unsub = unsubscribe_token(SECRET, list_id, "ann@example.org")
    manage = make_token(SECRET, MANAGE, list_id, "ann@example.org")
    attempts = [
        "unsubscribe?address=ann%40example.org&token=" + "A" * 43,  # forged
        "unsubscribe?address=bob%40example.org&token=" + unsub,  # another address
        "unsubscribe?address=ann%40example.org&token=" + manage,  # preferences token
        "unsubscribe?address=ann%40example.org",
        "confirm?token=" + manage,  # a preferences token cannot confirm
        "confirm?token=" + make_token(SECRET, UNDO, list_id, "1 ann@example.org"),
        "preferences?token=" + make_token(SECRET, CONFIRM, list_id, "ann@example.org"),
        "preferences?token=" + make_token("another secret", MANAGE, list_id, "ann@example.org"),
        "preferences?token=" + manage[:-2],
        "preferences?token=" + manage.replace(".", ".!!!"),  # junk the decoder used to skip
        "preferences?token=" + manage + "%3D%3D",  # padding
        "resubscribe?token=" + manage,
        "preferences?token=%00%ff..",
    ]
    for path in attempts:
        method = "POST" if path.startswith("resubscribe") else "GET"
        for verb in {method, "POST"}:
            response = reader.client.request(verb, path)
            assert response.status_code == 400, (verb, path)
            assert "This link does not work" in visible(response)
            assert "ann@" not in response.text and "bob@" not in response.text
    assert reader.store.subscriber("ann@example.org").status == "active"


# --- unsubscribing ---------------------------------------------------------------------------


def test_the_one_click_post_exactly_as_gmail_sends_it(reader: Reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    response = httpx.post(
        reader.unsubscribe_url("ann@example.org"), content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "User-Agent": "curl/8.5.0", "Accept": "*/*"},
        follow_redirects=False)
    assert response.status_code == 200 and "location" not in response.headers
    assert "set-cookie" not in response.headers
    assert reader.store.subscriber("ann@example.org").status == "unsubscribed"
    history = reader.store.subscriber_data("ann@example.org")["history"]
    assert [(e["event"], e["detail"]) for e in history] == [("unsubscribed", "one-click")]
    # Twice is harmless.
    again = httpx.post(reader.unsubscribe_url("ann@example.org"),
                       content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert again.status_code == 200


def test_get_never_unsubscribes_and_shows_one_button_that_posts(reader: Reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    url = reader.unsubscribe_url("ann@example.org")
    page = reader.client.get(url)
    assert page.status_code == 200 and "Stop sending Test Reel to ann@example.org?" in \
        visible(page)
    (form,) = form_actions(page)
    assert form[0] == "post" and parse_qs(urlsplit(form[1]).query) == parse_qs(
        urlsplit(url).query)
    assert reader.store.subscriber("ann@example.org").status == "active"
    assert "<script" not in page.text.lower()


def test_head_changes_nothing(reader: Reader):
    # Link previewers and mail scanners send HEAD to every link, and Starlette answers HEAD
    # with the GET route: only POST may change anything.
    reader.store.add_subscriber("ann@example.org", now=NOW)
    url = reader.unsubscribe_url("ann@example.org")
    assert reader.client.head(url).status_code == 200
    assert reader.store.subscriber("ann@example.org").status == "active"
    assert reader.store.subscriber_data("ann@example.org")["history"] == []

    reader.subscribe("bob@example.org")
    assert reader.client.head(reader.confirmation_link()).status_code == 200
    assert reader.store.subscriber("bob@example.org") is None


def test_the_unsubscribed_page_offers_undo_for_a_while_and_links_to_preferences(reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    done = reader.client.post(reader.unsubscribe_url("ann@example.org"),
                              data={"List-Unsubscribe": "One-Click"})
    assert "You are unsubscribed" in visible(done)
    links = [href for href, _ in Page(done.text).links]
    assert any(href.startswith("preferences?token=") for href in links)
    undo = next(action for method, action in form_actions(done)
                if action.startswith("resubscribe"))

    again = reader.client.get(reader.unsubscribe_url("ann@example.org"))
    assert "You are already unsubscribed" in visible(again)

    back = reader.client.post(undo)
    assert back.status_code == 200 and "You are subscribed again" in visible(back)
    assert reader.store.subscriber("ann@example.org").status == "active"

    reader.client.post(reader.unsubscribe_url("ann@example.org"))
    reader.clock.now = NOW + timedelta(hours=169)
    assert reader.client.post(undo).status_code == 410  # the undo window is over
    assert reader.store.subscriber("ann@example.org").status == "unsubscribed"


def test_undo_is_offered_and_honoured_only_for_undo_hours_after_the_reader_left(reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    url = reader.unsubscribe_url("ann@example.org")

    def undo_button(page: httpx.Response) -> str | None:
        return next((action for _, action in form_actions(page)
                     if action.startswith("resubscribe")), None)

    reader.client.post(url)
    reader.clock.now = NOW + timedelta(hours=167)  # the unsubscribe link, kept in the mail
    undo = undo_button(reader.client.get(url))
    assert undo is not None

    # Over undo_hours after she left: the link, which never expires, offers undo no more, and
    # a button from a page shown within them is refused, saying why.
    reader.clock.now = NOW + timedelta(hours=169)
    late = reader.client.get(url)
    assert "You are already unsubscribed" in visible(late) and undo_button(late) is None
    refused = reader.client.post(undo)
    assert refused.status_code == 410
    assert "This button has expired" in visible(refused)
    assert ("subscribe", "Subscribe") in Page(refused.text).links
    assert reader.store.subscriber("ann@example.org").status == "unsubscribed"

    # Within undo_hours, it works: pressed at the 167th hour, it would have.
    reader.client.post(reader.preferences_url("ann@example.org"), data={"action": "resubscribe"})
    reader.client.post(url)  # she leaves again, now: a new window
    again = undo_button(reader.client.get(url))
    back = reader.client.post(again)
    assert back.status_code == 200 and "You are subscribed again" in visible(back)
    assert reader.store.subscriber("ann@example.org").status == "active"


def test_an_address_not_on_the_list_is_told_so(reader: Reader):
    page = reader.client.post(reader.unsubscribe_url("gone@example.org"))
    assert page.status_code == 200 and "not on the list" in visible(page)


def test_links_in_messages_sent_before_purpose_bound_tokens_still_unsubscribe(reader: Reader):
    import base64
    import hashlib
    import hmac

    reader.store.add_subscriber("ann@example.org", now=NOW)
    mac = hmac.digest(SECRET.encode(), f"{reader.desk.list_id}\0ann@example.org".encode(),
                      hashlib.sha256)
    legacy = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    response = reader.client.post(f"unsubscribe?address=ann%40example.org&token={legacy}")
    assert response.status_code == 200
    assert reader.store.subscriber("ann@example.org").status == "unsubscribed"


# --- preferences -----------------------------------------------------------------------------


def test_preferences_show_rename_unsubscribe_and_resubscribe(reader: Reader):
    reader.store.add_subscriber("ann@example.org", "Ann", now=NOW)
    url = reader.preferences_url("ann@example.org")
    page = reader.client.get(url)
    assert page.status_code == 200
    assert "Address ann@example.org Status Subscribed" in visible(page)
    assert reader.client.post(url, data={"action": "name", "name": "Ann Smith"}).status_code \
        == 200
    assert reader.store.subscriber("ann@example.org").name == "Ann Smith"
    long = reader.client.post(url, data={"action": "name", "name": "A" * 201})
    assert long.status_code == 400 and "That name is too long" in visible(long)
    assert reader.store.subscriber("ann@example.org").name == "Ann Smith"
    page = reader.client.post(url, data={"action": "unsubscribe"})
    assert "Status Unsubscribed" in visible(page)
    page = reader.client.post(url, data={"action": "resubscribe"})
    assert "Status Subscribed" in visible(page)
    labels = {attrs.get("for") for tag, attrs in Page(page.text).tags if tag == "label"}
    inputs = {attrs.get("id") for tag, attrs in Page(page.text).tags
              if tag == "input" and attrs.get("type") in ("text", "email", "checkbox")}
    assert inputs <= labels  # every field has its label


def test_the_data_download_holds_everything_the_ledger_has_about_the_subscriber(reader):
    reader.subscribe("ann@example.org", "Ann")
    reader.client.post(reader.confirmation_link())
    reader.store.add_subscriber("bob@example.org", now=NOW)
    response = reader.client.post(reader.preferences_url("ann@example.org"),
                                  data={"action": "export"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert data["address"] == "ann@example.org"
    assert data["subscriber"]["consent"]["form"] == "test"
    assert data["subscription_requests"][0]["ip"] == "127.0.0.1"
    assert "bob@" not in response.text


def test_erasure_needs_the_box_ticked_then_leaves_nothing_but_a_hash(reader: Reader):
    reader.store.add_subscriber("ann@example.org", "Ann", now=NOW)
    url = reader.preferences_url("ann@example.org")
    refused = reader.client.post(url, data={"action": "erase"})
    assert refused.status_code == 400 and "Tick the box" in visible(refused)
    assert reader.store.subscriber("ann@example.org") is not None
    erased = reader.client.post(url, data={"action": "erase", "confirm": "yes"})
    assert erased.status_code == 200 and "Your data is erased" in visible(erased)
    assert reader.store.subscriber_data("ann@example.org") is None
    assert reader.store.is_suppressed("ann@example.org")
    assert reader.client.get(url).status_code == 404


# --- changing address ------------------------------------------------------------------------


def received_text(server, address: str, count: int = 1) -> list[str]:
    """The text parts of the messages the SMTP server took for ``address`` (once it took
    ``count``), each on one line."""
    wait_for(lambda: len(server.received_by(address)) >= count, what=f"mail to {address}")
    return [" ".join(message_from_bytes(m.data, policy=default_policy)
                     .get_body(("plain",)).get_content().split())
            for m in server.received_by(address)]


def change_link(text: str) -> str:
    return re.search(r"(http\S+/change-address\?token=\S+)", text).group(1)


@pytest.fixture
def served_over_smtp(publication, server) -> Iterator[tuple[Config, Store]]:
    """publisher serve sending through a real SMTP server: (its config, the ledger)."""
    use_smtp(publication, server.url, connections=1)
    with serving(publication) as reader:
        yield reader.config, reader.store


def test_a_reader_moves_their_subscription_once_the_new_address_confirms(served_over_smtp,
                                                                          server, caplog):
    caplog.set_level("INFO", logger="publisher.serve")
    config, store = served_over_smtp
    store.add_subscriber("ann@old.example", "Ann", now=NOW)
    ann = store.subscriber("ann@old.example")
    preferences = Sender.from_config(config).preferences_url(SECRET, "ann@old.example")
    asked = httpx.post(preferences, data={"action": "address", "email": "Ann@New.Example"})
    assert asked.status_code == 200
    assert "We sent a link to Ann@new.example" in visible(asked)
    (text,) = received_text(server, "Ann@new.example")
    assert "move the subscription of ann@old.example" in text
    # Nothing moves until the new mailbox answers, nor when a scanner fetches the link.
    link = change_link(text)
    shown = httpx.get(link)
    assert shown.status_code == 200 and "Yes, use this address" in visible(shown)
    assert store.subscriber("ann@old.example").status == "active"

    done = httpx.post(link)
    assert done.status_code == 200 and "now goes to Ann@new.example" in visible(done)
    assert store.subscriber("ann@old.example") is None
    moved = store.subscriber("ann@new.example")
    assert (moved.id, moved.name, moved.status) == (ann.id, "Ann", "active")
    (notice,) = received_text(server, "ann@old.example")
    assert "now goes to Ann@new.example" in notice and "reply to this message" in notice
    # The link works once, and pressing it again sends the old address nothing more.
    again = httpx.post(link)
    assert again.status_code == 200 and "already been used" in visible(again)
    wait_for_answered(caplog, "POST /change-address", 2)
    assert len(server.received_by("ann@old.example")) == 1

    export = httpx.post(Sender.from_config(config).preferences_url(SECRET, "Ann@new.example"),
                        data={"action": "export"}).json()
    assert export["address"] == "Ann@new.example"
    assert ("address-changed", "from ann@old.example to Ann@new.example") in [
        (event["event"], event["detail"]) for event in export["history"]]


@pytest.mark.parametrize("status", ["active", "unsubscribed"])
def test_an_address_with_a_subscription_of_its_own_is_not_taken_over(reader: Reader, status):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    reader.store.add_subscriber("bob@example.org", now=NOW)
    reader.store.set_subscriber_status("bob@example.org", status, now=NOW)
    reader.client.post(reader.preferences_url("ann@example.org"),
                       data={"action": "address", "email": "bob@example.org"})
    link = change_link(wait_for_messages(reader.outbox, 1)[0].get_body(("plain",)).get_content())
    refused = reader.client.post(link)
    assert refused.status_code == 409
    assert "bob@example.org has a subscription of its own" in visible(refused)
    assert reader.store.subscriber("ann@example.org").status == "active"
    assert reader.store.subscriber("bob@example.org").status == status
    assert len(wait_for_messages(reader.outbox, 2, timeout=0.5)) == 1  # no notice to Ann


def test_the_new_address_must_be_one_and_another(reader: Reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    url = reader.preferences_url("ann@example.org")
    for typed, error in (("ann@", "does not look like an email address"),
                         ("ANN@example.org", "already go to")):
        refused = reader.client.post(url, data={"action": "address", "email": typed})
        assert refused.status_code == 400 and error in visible(refused)
        assert f'value="{typed}"' in refused.text and 'aria-invalid="true"' in refused.text
    assert wait_for_messages(reader.outbox, 1, timeout=0.5) == []


def test_a_change_address_link_expires_and_cannot_be_forged(reader: Reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    reader.client.post(reader.preferences_url("ann@example.org"),
                       data={"action": "address", "email": "ann@new.example"})
    link = change_link(wait_for_messages(reader.outbox, 1)[0].get_body(("plain",)).get_content())
    manage = make_token(SECRET, MANAGE, reader.desk.list_id,
                        "ann@example.org mallory@evil.example 1")
    assert reader.client.post(f"change-address?token={manage}").status_code == 400
    reader.clock.now = NOW + timedelta(hours=reader.desk.confirm_hours)
    expired = reader.client.post(link)
    assert expired.status_code == 410 and "This link has expired" in visible(expired)
    assert reader.store.subscriber("ann@example.org").status == "active"
    assert reader.store.subscriber("ann@new.example") is None


def test_a_link_works_once_even_after_moving_back(reader: Reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)

    def move(old: str, new: str, count: int) -> str:
        reader.client.post(reader.preferences_url(old), data={"action": "address", "email": new})
        texts = [m.get_body(("plain",)).get_content()
                 for m in wait_for_messages(reader.outbox, count) if m["To"] == new]
        link = change_link(next(text for text in texts if "/change-address?" in text))
        assert reader.client.post(link).status_code == 200
        return link

    there = move("ann@example.org", "ann@new.example", 1)
    reader.clock.now = NOW + timedelta(minutes=5)
    move("ann@new.example", "ann@example.org", 3)  # a link, and the notice of the first move
    replayed = reader.client.post(there)
    assert "already been used" in visible(replayed)
    assert reader.store.subscriber("ann@example.org").status == "active"
    assert reader.store.subscriber("ann@new.example") is None


def test_links_to_a_new_address_count_toward_its_daily_cap_and_answer_alike(reader: Reader,
                                                                           caplog):
    # Anyone on the list could otherwise have the publication mail a stranger at every press
    # (subscribe_per_ip_hour from each address they hold): the cap the subscribe form keeps
    # on one address's messages a day counts these links too.
    caplog.set_level("INFO", logger="publisher.serve")
    reader.store.add_subscriber("ann@example.org", now=NOW)
    reader.subscribe("stranger@example.net")
    url = reader.preferences_url("ann@example.org")
    for _ in range(4):
        asked = reader.client.post(url, data={"action": "address",
                                              "email": "stranger@example.net"})
        assert asked.status_code == 200
        assert "We sent a link to stranger@example.net" in visible(asked)
    wait_for_answered(caplog, "POST /preferences", 4)
    to = [str(m["To"]) for m in outbox_messages(reader.outbox)]
    assert to == ["stranger@example.net"] * 3  # confirmations_per_day
    # A day later, the link goes out again.
    reader.clock.now = NOW + timedelta(days=1, minutes=1)
    reader.client.post(url, data={"action": "address", "email": "stranger@example.net"})
    assert len(wait_for_messages(reader.outbox, 4)) == 4


def test_a_bounced_subscription_moved_to_an_address_that_answers_is_active(reader: Reader):
    reader.store.add_subscriber("ann@dead.example", now=NOW)
    reader.store.set_subscriber_status("ann@dead.example", "bounced", now=NOW)
    # The new address was once erased: the reader has just proved it is theirs.
    reader.store.add_subscriber("ann@live.example", now=NOW)
    reader.store.erase_subscriber("ann@live.example", now=NOW)
    reader.client.post(reader.preferences_url("ann@dead.example"),
                       data={"action": "address", "email": "ann@live.example"})
    link = change_link(wait_for_messages(reader.outbox, 1)[0].get_body(("plain",)).get_content())
    assert reader.client.post(link).status_code == 200
    assert reader.store.subscriber("ann@live.example").status == "active"
    assert not reader.store.is_suppressed("ann@live.example")


def test_an_address_that_reported_spam_is_sent_no_notice_of_its_move(reader: Reader):
    reader.store.add_subscriber("cx@example.org", now=NOW)
    reader.store.set_subscriber_status("cx@example.org", "complained", now=NOW)
    reader.client.post(reader.preferences_url("cx@example.org"),
                       data={"action": "address", "email": "cy@example.org"})
    link = change_link(wait_for_messages(reader.outbox, 1)[0].get_body(("plain",)).get_content())
    assert reader.client.post(link).status_code == 200
    # Its status moves with it: nothing goes to the new address either until it resubscribes.
    assert reader.store.subscriber("cy@example.org").status == "complained"
    time.sleep(0.5)  # the notice would have been sent by now, after the answer
    assert [m["To"] for m in outbox_messages(reader.outbox)] == ["cy@example.org"]


def test_an_issue_queued_before_the_move_goes_once_to_the_new_address(reader: Reader):
    from tests.fixtures import run_cli, write_reviews

    root = reader.config.root
    write_reviews(reader.publication, 2)
    reader.store.add_subscriber("ann@example.org", now=NOW - timedelta(days=1))
    assert run_cli("issue", "new", root=root).exit_code == 0
    assert reader.store.queue_deliveries(1, now=NOW) == 1
    reader.client.post(reader.preferences_url("ann@example.org"),
                       data={"action": "address", "email": "ann@new.example"})
    link = change_link(wait_for_messages(reader.outbox, 1)[0].get_body(("plain",)).get_content())
    reader.client.post(link)
    wait_for_messages(reader.outbox, 2)  # the notice to the old address
    assert run_cli("issue", "send", "1", root=root, env={"PUBLISHER_SECRET": SECRET}
                   ).exit_code == 0
    issues = [m for m in wait_for_messages(reader.outbox, 3) if "List-Unsubscribe" in m]
    assert [m["To"] for m in issues] == ["ann@new.example"]
    assert "address=ann%40new.example" in issues[0]["List-Unsubscribe"]


# --- what a public endpoint gets -------------------------------------------------------------


def test_every_response_carries_the_security_headers(reader: Reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    responses = [
        reader.client.get("subscribe"), reader.client.get("nowhere"),
        reader.client.get("unsubscribe?address=x&token=y"), reader.client.get("healthz"),
        reader.client.get("style.css"), reader.client.post("subscribe", content=b"x" * 20_000),
        reader.client.get(reader.preferences_url("ann@example.org")),
    ]
    for response in responses:
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "server" not in headers


def test_a_ten_megabyte_body_is_refused_and_the_server_carries_on(reader: Reader):
    big = reader.client.post("subscribe", content=b"email=" + b"a" * 10_000_000,
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and "Request too large" in visible(big)

    def chunks():
        for _ in range(1000):
            yield b"a" * 10_000

    streamed = reader.client.post("subscribe", content=chunks(),
                                  headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413
    assert reader.client.get("healthz").text == "ok\n"


def test_a_body_that_trickles_in_is_refused_and_the_server_carries_on(publication):
    import socket

    with serving(publication, body_seconds=0.5) as reader, \
            socket.create_connection(("127.0.0.1", reader.server.port), timeout=10) as slow:
        started = time.monotonic()
        slow.sendall(b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 100\r\n\r\nemail=ann%40exa")
        answer = b""
        while chunk := slow.recv(65536):  # the server closes the connection after it
            answer += chunk
        took = time.monotonic() - started
        assert reader.client.get("healthz").text == "ok\n"
        assert reader.store.subscriber_data("ann@example.org") is None
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower()
    assert b"Request timed out" in body
    assert 0.5 <= took < 3


def test_headers_past_16_kib_are_refused_and_the_server_carries_on(reader: Reader):
    # The limit was h11's setting, and uvicorn reads requests with httptools: a header of any
    # size was taken in whole, into memory, and the request answered.
    import socket

    for name, value in ((b"X-Big", b"a" * 20_000), (b"Cookie", b"c=" + b"b" * 5_000_000)):
        with socket.create_connection(("127.0.0.1", reader.server.port), timeout=10) as big:
            try:
                big.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + name + b": "
                            + value + b"\r\n\r\n")
            except OSError:  # refused and closed while the rest was on its way
                pass
            answer = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := big.recv(65536):
                    answer += chunk
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
        assert b"connection: close" in answer.lower()
    many = {f"x-h{i}": "v" * 100 for i in range(200)}  # 20 KiB in many small headers
    assert reader.client.get("healthz", headers=many).status_code == 431
    assert reader.client.get("healthz", headers={"x-fine": "v" * 8_000}).text == "ok\n"


def test_a_connection_that_sends_no_request_or_trickles_its_headers_is_closed(publication):
    # Without a proxy in front, each such connection was held open for ever: a few thousand
    # of them and the server had no file descriptors left for readers.
    import socket

    with serving(publication, head_seconds=0.5) as reader:
        port = reader.server.port
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            started = time.monotonic()
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for _ in range(5):
                time.sleep(0.1)
                slow.sendall(b"X-A: b\r\n")
            answers = []
            for connection in (idle, slow):
                answer = b""
                while chunk := connection.recv(65536):
                    answer += chunk
                answers.append(answer)
            took = time.monotonic() - started
            assert reader.client.get("healthz").text == "ok\n"
        assert answers[0] == b""  # nothing asked, nothing said
        assert answers[1].startswith(b"HTTP/1.1 408 ")
        assert 0.5 <= took < 3
        # A request that came whole is answered, and kept alive as before.
        with httpx.Client(base_url=reader.url) as client:
            assert client.get("healthz").text == "ok\n"
            time.sleep(0.8)
            assert client.get("healthz").text == "ok\n"


def test_a_client_gone_mid_body_is_one_access_line_not_an_error(reader: Reader, caplog):
    import socket

    caplog.set_level("INFO", logger="publisher.serve")
    with socket.create_connection(("127.0.0.1", reader.server.port)) as gone:
        gone.sendall(b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 100\r\n\r\nemail=ann%40exa")
    wait_for_answered(caplog, "POST /subscribe", 1)
    lines = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records
             if r.name == "publisher.serve"]
    assert len(lines) == 1
    ((level, line, exc_info),) = lines
    assert level == "INFO" and exc_info is None
    assert re.fullmatch(r"POST /subscribe 499 \d+\.\dms", line)
    assert reader.client.get("healthz").text == "ok\n"


def test_a_host_header_of_another_site_is_refused(reader: Reader):
    response = reader.client.get("subscribe", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert reader.client.get("subscribe", headers={"Host": "localhost"}).status_code == 200


@pytest.mark.parametrize("path", [
    "/../publisher.toml", "/%2e%2e/publisher.toml", "/style.css/../../publisher.toml",
    "//etc/passwd", "/static/..%2f..%2fpublisher.toml", "/.publisher/state.db",
    "/subscribe/../../../etc/passwd",
])
def test_paths_outside_the_routes_are_404_and_read_no_file(reader: Reader, path: str):
    with httpx.Client() as raw:  # no URL normalisation on our side
        request = raw.build_request("GET", reader.url.rstrip("/"))
        request.url = request.url.copy_with(raw_path=path.encode())
        response = raw.send(request)
    assert response.status_code in (404, 400), path
    assert "base_url" not in response.text and "root:" not in response.text
    assert "SQLite" not in response.text


def test_an_unexpected_error_shows_a_plain_page_and_no_traceback(reader: Reader, caplog):
    (reader.config.root / "templates" / "web").mkdir(parents=True)
    (reader.config.root / "templates" / "web" / "subscribe.html.j2").write_text(
        "{{ no_such_thing.at_all }}")
    from publisher.render.engine import _environment

    _environment.cache_clear()
    response = reader.client.get("subscribe")
    assert response.status_code == 500
    assert "Something went wrong" in visible(response)
    for leak in ("Traceback", "TemplateError", "no_such_thing", "subscribe.html.j2",
                 str(reader.config.root)):
        assert leak not in response.text
    assert response.headers["content-security-policy"]
    assert reader.client.get("healthz").status_code == 200


def test_the_access_log_holds_no_token_and_no_address(reader: Reader, caplog):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    with caplog.at_level("INFO", logger="publisher.serve"):
        reader.client.post(reader.unsubscribe_url("ann@example.org"))
        reader.subscribe("bob@example.org")
        # The access line is written once the confirmation is sent: after it is in the outbox.
        wait_for_answered(caplog, "POST /subscribe", 1)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST /unsubscribe 200" in logged and "POST /subscribe 200" in logged
    assert "ann@" not in logged and "bob@" not in logged and "token" not in logged



def test_a_path_cannot_write_a_line_of_its_own_into_the_log(reader: Reader, caplog):
    # The path is percent-decoded: %0A would end the access line and forge the next one.
    with caplog.at_level("INFO", logger="publisher.serve"):
        reader.client.get("x%0A2026-11-20 12:00:00 publisher.serve WARNING forged%E2%80%A8x")
        deadline = time.monotonic() + 5  # the line is written once the answer is sent
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.isprintable() and line.startswith("GET /x%0A2026-11-20") and " 404 " in line
    assert "forged%E2%80%A8x 404" in line

def test_the_pages_carry_the_publications_icon_served_from_their_own_origin(publication):
    (publication.root / "static" / "img").mkdir(parents=True)
    write_png(publication.root / "static" / "img" / "mark.png", 64, 64, (200, 40, 40))
    publication.add_config('[site]\nicon = "img/mark.png"\n')
    with serving(publication) as reader:
        page = Page(reader.client.get("subscribe").text)
        icon = reader.client.get("icon.png")
    links = [(attrs.get("rel"), attrs.get("href"), attrs.get("type"))
             for tag, attrs in page.tags if tag == "link" and "icon" in attrs.get("rel", "")]
    # Relative, as style.css is: the CSP allows images of the server's own origin only.
    assert links == [("icon", "icon.png", "image/png"), ("apple-touch-icon", "icon.png", None)]
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
    assert icon.content == (publication.root / "static" / "img" / "mark.png").read_bytes()
    assert icon.headers["content-security-policy"].startswith("default-src 'none'")


def test_an_icon_file_that_is_not_there_is_one_line_and_the_server_still_starts(publication,
                                                                                caplog):
    publication.add_config('[site]\nicon = "icon.png"\n')
    config = publication.config
    with open_store(config) as store, caplog.at_level("WARNING", logger="publisher.serve"):
        desk = ReaderDesk(config, store, secret=SECRET, clock=MutableClock(NOW))
    assert desk.icon is None
    (line,) = [r.getMessage() for r in caplog.records]
    assert line == ("site.icon: static/icon.png cannot be read (No such file or directory); "
                    "the pages show no icon")


def test_an_icon_linked_from_outside_the_publication_is_never_served(publication, caplog,
                                                                      tmp_path):
    secret = tmp_path / "secret.png"
    write_png(secret, 8, 8, (0, 0, 0))
    (publication.root / "static").mkdir(exist_ok=True)
    (publication.root / "static" / "icon.png").symlink_to(secret)
    publication.add_config('[site]\nicon = "icon.png"\n')
    config = publication.config
    with open_store(config) as store, caplog.at_level("WARNING", logger="publisher.serve"):
        desk = ReaderDesk(config, store, secret=SECRET, clock=MutableClock(NOW))
    assert desk.icon is None
    assert [r.getMessage() for r in caplog.records] == [
        "site.icon: static/icon.png leads out of the publication; the pages show no icon"]


def test_without_an_icon_the_pages_name_none_and_the_path_is_404(reader: Reader):
    assert 'rel="icon"' not in reader.client.get("subscribe").text
    assert reader.client.get("icon.png").status_code == 404


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "subscribe", {"GET", "HEAD", "POST"}),
    ("DELETE", "unsubscribe?address=x&token=y", {"GET", "HEAD", "POST"}),
    ("GET", "resubscribe?token=x", {"POST"}),
    ("POST", "healthz", {"GET", "HEAD"}),
])
def test_a_method_a_page_does_not_take_is_405_saying_which_it_takes(reader: Reader, method,
                                                                     path, allowed):
    response = reader.client.request(method, path)
    assert response.status_code == 405  # RFC 9110 15.5.6: with Allow
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    assert "Method not allowed" in visible(response) and "not found" not in visible(response)
    assert response.headers["content-security-policy"]


def test_healthz_and_a_sensible_404(reader: Reader):
    assert reader.client.get("healthz").text == "ok\n"
    missing = reader.client.get("wp-login.php")
    assert missing.status_code == 404 and "Page not found" in visible(missing)


def test_pages_speak_the_publications_language_from_a_strings_file(publication):
    publication.set_language("fr-CA")
    publication.write_template(
        "web/strings.fr.toml",
        'subscribe_title = "Abonnez-vous à {publication}"\n'
        'subscribe_button = "S’abonner"\n')
    with serving(publication) as reader:
        page = reader.client.get("subscribe")
    assert '<html lang="fr-CA" dir="ltr">' in page.text
    assert "Abonnez-vous à Test Reel" in visible(page) and "S’abonner" in visible(page)
    assert "Adresse e-mail" in visible(page)  # a key left out: publisher's own French


def test_a_french_publication_reads_french_from_the_form_to_the_welcome(publication):
    """publisher ships its pages' and mail's words in French: nothing to translate first."""
    publication.set_language("fr")
    with serving(publication) as reader:
        form = visible(reader.client.get("subscribe"))
        asked = visible(reader.subscribe("ann@example.org", "Ann"))
        link = reader.confirmation_link()
        confirm = visible(reader.client.get(link))
        done = visible(reader.client.post(link))
        confirmation, welcome = wait_for_messages(reader.outbox, 2)
    assert "S’abonner à Test Reel" in form and "Nom (facultatif)" in form
    # (A page's visible text folds the no-break spaces French puts before "?" and ":".)
    assert "Il fonctionne pendant 48 heures. Rien reçu ?" in asked
    assert "Abonner ann@example.org à Test Reel ?" in confirm
    assert "Votre abonnement est confirmé" in done
    assert confirmation["Subject"] == "Confirmez votre abonnement à Test Reel"
    assert welcome["Subject"] == "Bienvenue dans Test Reel"
    mail = confirmation.get_body(("plain",)).get_content()
    text = welcome.get_body(("plain",)).get_content()
    assert mail.startswith("Bonjour,") and "ouvrez ce lien\u00a0:" in mail
    assert text.startswith("Bonjour Ann,")
    assert "Le prochain numéro est prévu le 27 novembre 2026." in text
    assert "Se désabonner\u00a0:" in text
    english = ["Subscribe", "Email address", "Check your inbox", "Yes, subscribe me",
               "You are subscribed", "Hello", "Confirm my", "Welcome", "Unsubscribe", "issue"]
    for shown in (form, asked, confirm, done, mail, text):
        assert [w for w in english if w in shown] == []


def test_the_hours_a_link_works_take_the_languages_plural_form_on_the_page(publication):
    publication.set_language("pl")
    publication.write_template(
        "web/strings.pl.toml",
        'check_inbox_body = { one = "{address}: {hours} godzinę.", few = "{address}: {hours} '
        'godziny.", many = "{address}: {hours} godzin.", other = "{address}: {hours} '
        'godziny." }\n')
    with serving(publication, server="confirm_hours = 25") as reader:
        page = reader.client.post("subscribe", data={"email": "ola@example.org"})
    assert "ola@example.org: 25 godzin." in visible(page)


def test_a_broken_strings_file_is_one_line_naming_the_file_and_key(publication, tmp_path):
    from publisher.errors import TemplateError
    from publisher.render.strings import load_web_strings

    web = publication.root / "templates" / "web"
    web.mkdir(parents=True)
    (web / "strings.de.toml").write_text('confirm_body = "Abonnieren {adresse}?"\n')
    with pytest.raises(TemplateError, match=r"strings.de.toml: confirm_body: unknown "
                                            r"placeholder \{adresse\}"):
        load_web_strings(publication.root / "templates", "de")
    (web / "strings.de.toml").write_text('confirm_bdy = "x"\n')
    with pytest.raises(TemplateError, match="confirm_bdy: unknown string"):
        load_web_strings(publication.root / "templates", "de")


def test_no_page_holds_a_script_or_an_inline_style(reader: Reader):
    reader.store.add_subscriber("ann@example.org", now=NOW)
    pages = [reader.client.get("subscribe"), reader.subscribe("x@example.org"),
             reader.client.get(reader.unsubscribe_url("ann@example.org")),
             reader.client.get(reader.preferences_url("ann@example.org")),
             reader.client.get("nowhere")]
    for page in pages:
        assert not re.search(r"<script|<style|\sstyle=|\son\w+=", page.text, re.I), page.url


def test_the_style_sheet_is_served(reader: Reader):
    css = reader.client.get("style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in css.text and "&#" not in css.text


def test_the_export_is_valid_json_even_for_awkward_names(reader: Reader):
    reader.store.add_subscriber("ann@example.org", 'Zoë "Q" <x>', now=NOW)
    data = reader.client.post(reader.preferences_url("ann@example.org"),
                              data={"action": "export"}).content
    assert json.loads(data)["subscriber"]["name"] == 'Zoë "Q" <x>'


def test_the_listening_socket_sends_small_responses_without_delay():
    """Without TCP_NODELAY (which accepted sockets inherit), each response's body waited for
    the client's delayed ACK of its headers: 40 ms a request."""
    import socket

    from publisher.web.server import listen

    sock = listen("127.0.0.1", 0, choose="--port")
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()


def test_a_port_in_use_is_one_line_saying_what_to_change():
    from publisher.errors import ConfigError
    from publisher.web.server import listen

    sock = listen("127.0.0.1", 0, choose="--port")
    try:
        # Each command says how it is given another address (preview: not [server]'s).
        with pytest.raises(ConfigError, match=r"^cannot listen on 127.0.0.1:\d+: Address already "
                                              r"in use; choose another with --port$"):
            listen("127.0.0.1", sock.getsockname()[1], choose="--port")
    finally:
        sock.close()


def test_the_addresses_a_page_may_not_take_are_ones_serve_answers(reader: Reader):
    # config.READER_PATHS is what a page of the site's own may not be called when serve shares
    # the site's address: each is a page serve has, and a page's usual names are free.
    for path in READER_PATHS:
        assert reader.client.get(path).status_code != 404, path
    for path in ("about", "contact", "newsletter"):
        assert reader.client.get(path).status_code == 404, path


# --- stopping --------------------------------------------------------------------------------


def test_sigterm_stops_the_server_soon_whatever_a_slow_client_is_doing(publication):
    import signal
    import socket
    import subprocess
    import sys

    from publisher.web.server import GRACEFUL_SHUTDOWN
    from tests.pipeline.test_run_processes import environment

    sock, config = serve_publication(publication)
    port = sock.getsockname()[1]
    sock.close()  # the process binds it itself
    stderr = config.root.parent / "serve-stderr"
    with open(stderr, "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "publisher", "-C", str(config.root), "serve", "--port",
             str(port)], env=environment(), stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: "Application startup complete" in stderr.read_text(), timeout=30,
                 what="the server to start")
        with socket.create_connection(("127.0.0.1", port)) as slow:
            # Headers and part of the body, and then nothing: the request waits for the rest.
            slow.sendall(b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: 100\r\n\r\nemail=ann%40exa")
            time.sleep(0.3)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=GRACEFUL_SHUTDOWN + 10)
            took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert took < GRACEFUL_SHUTDOWN + 2
    lines = stderr.read_text().splitlines()
    assert lines[-1].endswith(" publisher.serve INFO stopped")
    # The request cut off is its access line, not a traceback: a slow client is not a bug.
    assert any(re.search(r"publisher.serve INFO POST /subscribe 503 \d+", line)
               for line in lines)
    assert "Traceback" not in stderr.read_text()


@contextlib.contextmanager
def ledger_down(postgres, url: str) -> Iterator[None]:
    """The ledger's database refusing every connection for the block, as while it is down."""
    name = url.rsplit("/", 1)[1]
    postgres._admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    postgres._admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                    f"'{name}'")
    try:
        yield
    finally:
        postgres._admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")


@pytest.fixture
def ledger_on_postgres(publication, postgres) -> Iterator[str]:
    """The publication on a PostgreSQL ledger of its own: the database's URL."""
    from tests.fixtures import use_database

    url = postgres.database()
    use_database(publication, url)
    yield url
    postgres.drop(url)


def test_a_ledger_that_does_not_answer_is_a_503_and_one_log_line_per_request(
        publication, ledger_on_postgres, postgres, caplog):
    # Each request during a database outage logged two chained tracebacks (some 125 lines),
    # and a load balancer's /healthz every few seconds filled the log with them.
    url = ledger_on_postgres
    caplog.set_level("INFO", logger="publisher.serve")
    with serving(publication, reconnect=True) as reader:
        reader.store.add_subscriber("ann@example.net", now=NOW)
        with ledger_down(postgres, url):
            health = reader.client.get("healthz")
            unsubscribe = reader.client.post(
                reader.unsubscribe_url("ann@example.net"),
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert health.status_code == 503
    assert unsubscribe.status_code == 503 and unsubscribe.headers["retry-after"] == "60"
    assert "try again in a few minutes" in visible(unsubscribe)
    problems = [r for r in caplog.records if r.levelname != "INFO"]
    assert [r.exc_info for r in problems] == [None, None]  # no traceback
    why = f'database "{url.rsplit("/", 1)[1]}" is not currently accepting connections'
    assert problems[0].getMessage().startswith("healthz: the ledger does not answer: ")
    assert problems[1].getMessage().startswith("POST /unsubscribe failed: the ledger does not "
                                               "answer: ")
    assert all(why in r.getMessage() and "\n" not in r.getMessage() for r in problems)


def test_a_round_of_owed_mail_is_one_log_line_while_the_ledger_does_not_answer(
        publication, ledger_on_postgres, postgres, caplog):
    # It logged a traceback of some 118 lines every minute of a database outage.
    url = ledger_on_postgres
    caplog.set_level("INFO", logger="publisher.serve")
    with serving(publication, reconnect=True, owed_every=0.05), ledger_down(postgres, url):
        wait_for(lambda: sum("mail owed to readers not tried" in r.getMessage()
                             for r in caplog.records) >= 2, what="two rounds")
    rounds = [r for r in caplog.records if "mail owed to readers not tried" in r.getMessage()]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in rounds)
    # A round running as the outage begins meets its connection closed under it ("consuming
    # input failed: server closed the connection"); the rounds after it cannot connect.
    cause = "mail owed to readers not tried: the ledger does not answer: "
    assert all(r.getMessage().startswith(cause) for r in rounds)
    assert any(r.getMessage().startswith(cause + "connection failed: ") for r in rounds)
