"""The reader's pages and confirmation message as values: the message's headers and parts,
its DKIM signature checked by dkimpy, and its words in another language."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import dkim
import pytest

from publisher.errors import BadToken, ExpiredToken
from publisher.render.dkim import DkimSigner
from publisher.render.reader import confirmation_message
from publisher.render.sender import Sender
from publisher.render.site import Site
from publisher.render.strings import load_web_strings
from publisher.render.tokens import CONFIRM, MANAGE, UNDO, make_token, read_token
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


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_signed_confirmation_verifies_with_dkimpy(publication, keys, kind):  # noqa: F811
    source, record = keys[kind]
    key = publication.root / "secrets" / source.name
    key.parent.mkdir()
    shutil.copy(source, key)
    config = signed_config(publication, key)
    raw = message(config, DkimSigner.from_config(config))
    assert dkim.verify(raw, dnsfunc=dns_for(record))
    assert not dkim.verify(raw.replace(b"abc.def", b"abc.deg"), dnsfunc=dns_for(record))


def test_the_confirmation_speaks_the_publications_language(publication):
    (publication.root / "templates" / "web").mkdir(parents=True)
    (publication.root / "templates" / "web" / "strings.fr.toml").write_text(
        'mail_subject = "Confirmez votre abonnement à {publication}"\n'
        'mail_greeting = "Bonjour {name},"\n', encoding="utf-8")
    publication.write_config((publication.root / "publisher.toml").read_text()
                             .replace('language = "en"', 'language = "fr"'))
    msg = parse(message(publication.config, name="Zoé"))
    assert msg["Subject"] == "Confirmez votre abonnement à Test Reel"
    assert msg.get_body(("plain",)).get_content().startswith("Bonjour Zoé,")


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
