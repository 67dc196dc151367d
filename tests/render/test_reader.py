"""The reader's pages and confirmation message as values: the message's headers and parts,
its DKIM signature checked by dkimpy, and its words in another language."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import UTC, datetime
from email.header import decode_header, make_header

import dkim
import pytest

from publisher.errors import BadToken, ExpiredToken, TemplateError
from publisher.ledger.store import open_store
from publisher.models import Subscriber
from publisher.pipeline.reader import ReaderDesk
from publisher.render.dkim import DkimSigner
from publisher.render.reader import (
    LatestIssue,
    address_changed_message,
    address_link_message,
    confirmation_message,
    on_list_message,
    welcome_message,
)
from publisher.render.sender import Sender
from publisher.render.site import Site
from publisher.render.strings import load_web_strings
from publisher.render.tokens import CONFIRM, MANAGE, UNDO, make_token, read_token
from publisher.render.words import plural_rule
from tests.render.test_dkim import dns_for, keys, signed_config  # noqa: F401 (a fixture)
from tests.smtpserver import Received

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
URL = "https://list.reel.test/confirm?token=abc.def"


def message(config, signer=None, name="Zoë Å", email="zoe@example.com") -> bytes:
    return confirmation_message(Site.from_config(config), Sender.from_config(config),
                                load_web_strings(config.templates_path, config.language),
                                email=email, name=name, confirm_url=URL, hours=48, date=WHEN,
                                signer=signer)


def parse(raw: bytes):
    return Received("x", ("y",), raw, ("127.0.0.1", 1)).message


def test_the_confirmation_is_one_link_in_both_parts_and_not_list_mail(config):
    msg = parse(message(config))
    assert msg["Subject"] == "Confirm your subscription to Test Reel"
    assert msg["To"] == "Zoë Å <zoe@example.com>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["List-Unsubscribe"] is None and msg["Message-ID"].endswith("@reel.test>")
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert URL in text and f'href="{URL}"' in html
    assert text.startswith("Hello Zoë Å,") and "48 hours" in text
    assert all(len(line) <= 998 for line in message(config).split(b"\r\n"))


def test_a_subject_folded_before_non_ascii_has_no_empty_encoded_word(config):
    # The email package folded "… word 🎬 Night" as "… word =?utf-8?q??=\r\n =?utf-8?q?…":
    # an encoded-word with no text, which RFC 2047 forbids and strict readers show as is.
    site = dataclasses.replace(Site.from_config(config),
                               newsletter_name="Word word word word 🎬 Night")
    raw = confirmation_message(site, Sender.from_config(config),
                               load_web_strings(config.templates_path, config.language),
                               email="zoe@example.com", name="Zoë", confirm_url=URL, hours=48,
                               date=WHEN, signer=None)
    head = raw.partition(b"\r\n\r\n")[0]
    assert not re.search(rb"=\?[^?]*\?[bBqQ]\?\?=", head)
    assert parse(raw)["Subject"] == "Confirm your subscription to Word word word word 🎬 Night"


def signing(publication, source):
    """The publication's config, signing with the key file ``source`` (copied into it)."""
    key = publication.root / "secrets" / source.name
    key.parent.mkdir()
    shutil.copy(source, key)
    return signed_config(publication, key)


def in_language(publication, language: str, strings: str) -> None:
    """The publication in ``language``, with ``strings`` as its templates/web/strings file."""
    publication.write_template(f"web/strings.{language}.toml", strings)
    publication.set_language(language)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_signed_confirmation_verifies_with_dkimpy(publication, keys, kind):  # noqa: F811
    source, record = keys[kind]
    config = signing(publication, source)
    raw = message(config, DkimSigner.from_config(config))
    assert dkim.verify(raw, dnsfunc=dns_for(record))
    assert not dkim.verify(raw.replace(b"abc.def", b"abc.deg"), dnsfunc=dns_for(record))


def test_the_confirmation_speaks_the_publications_language(publication):
    in_language(publication, "fr", 'mail_subject = "Confirmez votre abonnement à {publication}"\n'
                                   'mail_greeting = "Bonjour {name},"\n')
    msg = parse(message(publication.config, name="Zoé"))
    assert msg["Subject"] == "Confirmez votre abonnement à Test Reel"
    assert msg.get_body(("plain",)).get_content().startswith("Bonjour Zoé,")


def test_the_hours_a_link_works_are_counted_in_the_languages_plural_forms(publication):
    # With confirm_hours = 1 the page and the message said "It works for 1 hours", and a
    # translation had one sentence for every number ("48 godzin" and "24 godzin" in Polish).
    strings = load_web_strings(publication.config.templates_path, "en")
    assert "It works for 1 hour. " in strings("check_inbox_body", address="a@b.org", hours=1)
    assert "It works for 48 hours. " in strings("check_inbox_body", address="a@b.org",
                                                hours=48)
    text = parse(confirmation_message(
        Site.from_config(publication.config), Sender.from_config(publication.config), strings,
        email="zoe@example.com", name="Zoë", confirm_url=URL, hours=1, date=WHEN,
        signer=None)).get_body(("plain",)).get_content()
    assert "The link works for 1 hour." in text
    in_language(publication, "pl", 'mail_expiry = { one = "Link działa {hours} godzinę.", '
                                   'few = "Link działa {hours} godziny.", '
                                   'many = "Link działa {hours} godzin.", '
                                   'other = "Link działa {hours} godziny." }\n'
                                   'undo_expired_body = "Przycisk działał {hours} h."\n')
    config = publication.config
    polish = load_web_strings(config.templates_path, "pl", plural_rule("pl"))
    assert [polish("mail_expiry", hours=hours) for hours in (1, 24, 48)] == [
        "Link działa 1 godzinę.", "Link działa 24 godziny.", "Link działa 48 godzin."]
    # A translation written once for every number, as before, still reads.
    assert polish("undo_expired_body", hours=1, publication="x") == "Przycisk działał 1 h."


def welcome(config, signer=None, *, latest=None, name="Zoë Å", email="zoe@example.com"
            ) -> bytes:
    sender = Sender.from_config(config)
    return welcome_message(Site.from_config(config), sender,
                           load_web_strings(config.templates_path, config.language),
                           email=email, name=name,
                           unsubscribe_url=sender.unsubscribe_url("s3cret", email),
                           preferences_url=sender.preferences_url("s3cret", email),
                           next_date="27 November 2026", latest=latest, date=WHEN,
                           signer=signer)


def test_the_welcome_is_list_mail_with_its_way_out_in_both_parts(config):
    raw = welcome(config)
    msg = parse(raw)
    sender = Sender.from_config(config)
    unsubscribe = sender.unsubscribe_url("s3cret", "zoe@example.com")
    # The link as mail clients read it: plain text, not RFC 2047 words (a long URL would be).
    assert f"List-Unsubscribe: <{unsubscribe}>,".encode() in raw
    assert msg["Subject"] == "Welcome to Test Reel" and msg["To"] == "Zoë Å <zoe@example.com>"
    assert msg["List-Id"] == f"{sender.list_name} <{sender.list_id}>"
    assert msg["List-Unsubscribe"] == f"<{unsubscribe}>, <{sender.unsubscribe_mailto}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert f"Unsubscribe:\n{unsubscribe}\n" in text.replace("\r\n", "\n")
    assert f'href="{unsubscribe.replace("&", "&amp;")}"' in html
    assert "planned for 27 November 2026" in text and "planned for 27 November 2026" in html
    assert all(len(line) <= 998 for line in welcome(config).split(b"\r\n"))


@pytest.mark.parametrize(("name", "part"), [("welcome.html.j2", "HTML"),
                                          ("welcome.txt.j2", "text part")])
def test_a_welcome_override_without_its_unsubscribe_link_is_a_template_error(publication,
                                                                            name, part):
    # List mail, as an issue is: its way out is in both parts, as publisher check then says.
    web = publication.root / "templates" / "web"
    web.mkdir(parents=True)
    (web / name).write_text("Welcome to {{ publication }}.\n", encoding="utf-8")
    with pytest.raises(TemplateError) as refused:
        welcome(publication.config)
    assert str(refused.value) == (
        f"{web / name}: the welcome's {part} has no unsubscribe link, which list mail must "
        "carry (CAN-SPAM, PECR; Gmail and Yahoo ask it of bulk senders); write "
        "{{ unsubscribe_url }} in it, as the default does")


def test_the_latest_issues_subject_is_text_in_the_welcome(config):
    latest = LatestIssue(3, "Tar & <Feathers>", "https://reel.test/issues/3/")
    msg = parse(welcome(config, latest=latest))
    html = msg.get_body(("html",)).get_content()
    assert ">Tar &amp; &lt;Feathers&gt;</a>" in html and "<Feathers>" not in html
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "#3:\nTar & <Feathers>\nhttps://reel.test/issues/3/" in text


def test_a_signed_welcome_verifies_with_dkimpy(publication, keys):  # noqa: F811
    source, record = keys["ed25519"]
    config = signing(publication, source)
    raw = welcome(config, DkimSigner.from_config(config))
    assert dkim.verify(raw, dnsfunc=dns_for(record))


def test_the_welcome_speaks_the_publications_language_dates_included(publication):
    in_language(publication, "fr", 'welcome_subject = "Bienvenue à {publication}"\n'
                                   'welcome_next = "Le prochain numéro est prévu le {date}."\n')
    config = publication.config
    with open_store(config) as store:
        desk = ReaderDesk(config, store, secret="s3cret", clock=lambda: WHEN)
        msg = parse(desk.welcome(Subscriber("zoe@example.com", "Zoé", id=1)))
    assert msg["Subject"] == "Bienvenue à Test Reel"
    assert "Le prochain numéro est prévu le 27 novembre 2026." in msg.get_body(
        ("plain",)).get_content()


def test_the_welcomes_labels_are_punctuated_as_the_language_writes_them(publication):
    # "Gérer votre abonnement:" — the colon after each link's label was the template's.
    in_language(publication, "fr", 'preferences_link = "Gérer votre abonnement"\n'
                                   'welcome_unsubscribe = "Se désabonner"\n'
                                   'welcome_past = "Tous les numéros"\n'
                                   'mail_label = "{label} :"\n')
    latest = LatestIssue(3, "Numéro 3", "https://reel.test/issues/3/")
    text = parse(welcome(publication.config, latest=latest)).get_body(
        ("plain",)).get_content().replace("\r\n", "\n")
    assert "Gérer votre abonnement :\n" in text and "Se désabonner :\n" in text
    assert "Tous les numéros : https://reel.test/issues/" in text


def test_the_note_to_a_subscriber_who_asked_again_links_preferences_in_both_parts(config):
    sender = Sender.from_config(config)
    preferences = sender.preferences_url("s3cret", "zoe@example.com")
    msg = parse(on_list_message(
        Site.from_config(config), sender, load_web_strings(config.templates_path, "en"),
        email="zoe@example.com", name="Zoë Å", from_address="news@reel.test",
        preferences_url=preferences, date=WHEN, signer=None))
    assert msg["Subject"] == "You are already subscribed to Test Reel"
    assert msg["To"] == "Zoë Å <zoe@example.com>" and msg["List-Unsubscribe"] is None
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert text.startswith("Hello Zoë Å,") and preferences in text
    assert f'href="{preferences.replace("&", "&amp;")}"' in html
    assert "add news@reel.test to your contacts" in text
    assert "add news@reel.test to your contacts" in html


def on_list(config, *, name="Zoë Å", email="zoe@example.com") -> bytes:
    return on_list_message(
        Site.from_config(config), Sender.from_config(config),
        load_web_strings(config.templates_path, config.language), email=email, name=name,
        from_address="news@reel.test", preferences_url="https://reel.test/preferences?token=x",
        date=WHEN, signer=None)


def address_messages(config) -> list[bytes]:
    """The link to a new address and the notice to the old one."""
    site, sender = Site.from_config(config), Sender.from_config(config)
    strings = load_web_strings(config.templates_path, config.language)
    return [address_link_message(site, sender, strings, email="zoe@new.example",
                                 old="zoe@example.com", hours=48, date=WHEN, signer=None,
                                 change_url="https://reel.test/change-address?token=x"),
            address_changed_message(site, sender, strings, email="zoe@example.com",
                                    name="Zoë Å", new="zoe@new.example", date=WHEN,
                                    signer=None)]


def readers_messages(config) -> list[bytes]:
    """The confirmation, the welcome (with an issue to read), the note to a subscriber who
    asked again, and the two messages of a change of address."""
    latest = LatestIssue(3, "Tar & Feathers", "https://reel.test/issues/3/")
    return [message(config), welcome(config, latest=latest), on_list(config),
            *address_messages(config)]


def test_every_readers_message_turns_dark_as_the_digest_does(config):
    for raw in readers_messages(config):
        html = parse(raw).get_body(("html",)).get_content()
        assert '<meta name="supported-color-schemes" content="light dark">' in html
        dark = html[html.index("@media (prefers-color-scheme: dark)"):html.index("</style>")]
        # The palette's dark page, card and text, and Outlook.com's own rules.
        assert all(colour in dark for colour in ("#161412", "#23201c", "#f1ece4"))
        assert "[data-ogsb] .dm-card" in dark and "[data-ogsc] .dm-muted" in dark
        assert re.search(r'<body class="dm-page"', html) and '<div class="dm-card"' in html
        # Every element given a colour inline has a class the dark rules recolour, but the
        # button, light on the accent in both.
        coloured = re.findall(r'<[^>]*[";]color:[^>]*>', html)
        assert coloured and all('class="dm-' in tag or "background:#8f2d1f" in tag
                                for tag in coloured), coloured


def test_every_readers_message_wraps_its_text_at_78_columns_as_an_issue_does(config):
    for raw in readers_messages(config):
        text = parse(raw).get_body(("plain",)).get_content().replace("\r\n", "\n")
        lines = text.splitlines()
        assert [line for line in lines if len(line) > 78 and " " in line] == []
        assert "-- " in lines  # the signature's separator keeps its space (RFC 3676)
        # Links are whole, each on a line of its own.
        assert [line for line in lines if "https://" in line and not line.startswith("https://")
                and len(line) > 78] == []


def test_every_readers_message_fits_a_phone_in_mail_apps_that_drop_overflow_wrap(config,
                                                                                   browser):
    # The confirmation's link, written out for a reader whose button does nothing, is one
    # unbroken word of ~130 characters; Gmail, Outlook.com and Yahoo drop overflow-wrap
    # (caniemail.com), and it ran 800 pixels wide on a 375-pixel phone, the whole message
    # with it. Those apps are played here: the styles as they keep them, no <style> block.
    token = "MyBuaWFAZXhhbXBsZS5jb20KMTc5NjQ1NjUzNQ.iQjM5i2SkbA4kwhPcbME6mqYKaVLBuTz9Ti8_zzDzXY"
    site, sender = Site.from_config(config), Sender.from_config(config)
    strings = load_web_strings(config.templates_path, config.language)
    long = [confirmation_message(site, sender, strings, email="zoe@example.com", name="",
                                 confirm_url=f"https://list.reel.test/confirm?token={token}",
                                 hours=48, date=WHEN, signer=None),
            address_link_message(site, sender, strings, email="zoe@new.example",
                                 old="zoe@example.com", hours=48, date=WHEN, signer=None,
                                 change_url=f"https://list.reel.test/change-address?token="
                                            f"{token}{token}")]
    page = browser.new_page(viewport={"width": 375, "height": 800})
    for raw in [*readers_messages(config), *long]:
        html = parse(raw).get_body(("html",)).get_content()
        kept = re.sub(r"overflow-wrap:[^;\"]*;?", "", re.sub(r"<style>.*?</style>", "", html,
                                                            flags=re.S))
        page.set_content(kept)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, html
    page.close()


def test_tokens_are_bound_to_their_purpose_list_and_expiry():
    secret, lid = "s3cret", "reel.test"
    token = make_token(secret, CONFIRM, lid, "7 ann@example.org", WHEN)
    before = datetime(2026, 11, 19, tzinfo=UTC)
    assert read_token(secret, CONFIRM, lid, token, now=before).subject == "7 ann@example.org"
    with pytest.raises(ExpiredToken):
        read_token(secret, CONFIRM, lid, token, now=WHEN)
    for purpose, list_id, key in [(MANAGE, lid, secret), (UNDO, lid, secret),
                                  (CONFIRM, "other.test", secret), (CONFIRM, lid, "other")]:
        with pytest.raises(BadToken) as caught:
            read_token(key, purpose, list_id, token, now=before)
        assert not isinstance(caught.value, ExpiredToken)
    payload, mac = token.split(".")
    forged_expiry = make_token("guess", CONFIRM, lid, "7 ann@example.org").split(".")[0]
    flipped = mac[:-1] + ("B" if mac.endswith("A") else "A")
    for forged in (f"{forged_expiry}.{mac}", f"{payload}.{flipped}", "", "a.b.c", "é.é"):
        with pytest.raises(BadToken):
            read_token(secret, CONFIRM, lid, forged, now=before)


def test_a_token_with_characters_added_or_changed_does_not_verify():
    secret, lid = "s3cret", "reel.test"
    token = make_token(secret, MANAGE, lid, "ann@example.org")
    payload, mac = token.split(".")
    assert read_token(secret, MANAGE, lid, token, now=WHEN).subject == "ann@example.org"
    # The last character of a base64 group that does not fill its bytes has bits no byte
    # holds: another letter that differs only there decodes to the same bytes.
    alias = mac[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(mac[-1]) ^ 1]
    for altered in (f"{payload}.!!!{mac}", f"{payload[:5]}!{payload[5:]}.{mac}",
                    f"{payload}.{mac[:4]} {mac[4:]}", f"{payload}.{mac}==", f"{payload}==.{mac}",
                    f"{payload}.{mac[:10]}+/{mac[12:]}", f"{payload}.{alias}",
                    f"{payload}.{mac}\n"):
        with pytest.raises(BadToken):
            read_token(secret, MANAGE, lid, altered, now=WHEN)


@pytest.mark.parametrize("name", ["N" * 70, "Александра Константиновна Иванова"])
def test_a_long_or_non_ascii_name_takes_several_words_in_every_readers_message(config, name):
    # format_address folds such a name over lines; the email package refuses a folded value
    # (ValueError), which left these readers without a confirmation and the log a traceback.
    for raw in (message(config, name=name), welcome(config, name=name)):
        head = raw.partition(b"\r\n\r\n")[0]
        to = re.search(rb"\r\nTo: (.*?) <zoe@example.com>\r\n", head, re.S)
        assert to is not None and head.isascii()
        assert str(make_header(decode_header(to.group(1).decode()))) == name


def test_a_long_publication_name_is_a_from_header_the_reader_messages_can_carry(publication):
    publication.add_config('[newsletter]\n'
                           'from_name = "Cinéma d’Été — les critiques de la Deuxième Bobine"\n')
    raw = message(publication.config)
    frm = re.search(rb"(?:^|\r\n)From: (.*?) <", raw, re.S)
    assert frm is not None
    assert str(make_header(decode_header(frm.group(1).decode()))) == \
        "Cinéma d’Été — les critiques de la Deuxième Bobine"


def test_a_utf8_local_part_is_written_as_rfc_6532_has_it_not_as_an_encoded_word(config):
    raw = message(config, name="José", email="José@example.com")
    to = re.search(rb"\r\nTo: (.*?) <(.*?)>\r\n", raw, re.S)
    assert to is not None and to.group(2) == "José@example.com".encode()
    assert str(make_header(decode_header(to.group(1).decode()))) == "José"


def test_a_right_to_left_publication_writes_its_pages_and_messages_right_to_left(publication):
    from publisher.render.reader import render_page

    in_language(publication, "he", 'subscribe_button = "הרשמה"\n')
    config = publication.config
    site, sender = Site.from_config(config), Sender.from_config(config)
    strings = load_web_strings(config.templates_path, "he")
    page = render_page(site, strings, "notice", {"title": "x", "body": "y", "links": [],
                                                 "css_url": "style.css", "icon_url": ""})
    assert '<html lang="he" dir="rtl">' in page
    messages = [message(config), welcome(config), on_list_message(
        site, sender, strings, email="zoe@example.com", name="", from_address="news@reel.test",
        preferences_url="https://reel.test/p", date=WHEN, signer=None)]
    for raw in messages:
        html = parse(raw).get_body(("html",)).get_content()
        assert '<html lang="he" dir="rtl">' in html


def test_the_welcome_sends_readers_to_the_site_that_has_the_pages(publication):
    # base_url only serves the feeds and the issue archive when another site has the pages.
    publication.add_config('[feeds]\npermalink = "https://www.reel.test/post/{slug}"\n')
    raw = welcome(publication.config)
    html = parse(raw).get_body(("html",)).get_content()
    text = parse(raw).get_body(("plain",)).get_content()
    assert 'href="https://www.reel.test/"' in html and "https://www.reel.test/" in text.splitlines()
    assert f'href="{publication.config.base_url}"' not in html
