"""DKIM: messages signed with keys generated here, verified by dkimpy against a stub DNS."""

from __future__ import annotations

import base64
import multiprocessing
import re
import shutil
import subprocess
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest

from publisher.config import Config
from publisher.errors import AddressError, ConfigError
from publisher.models import Subscriber
from publisher.render.dkim import DKIM_HEADERS, DkimSigner
from publisher.render.message import MessageTemplate
from publisher.render.sender import Sender
from tests.fixtures import AWKWARD_SUBSCRIBERS, ISSUE_DATE, make_digest, many_subscribers

SECRET = "test-secret-only-for-tests"
SELECTOR, DOMAIN = "reel2026", "reel.test"
REQUIRED = {"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
            "list-unsubscribe-post", "mime-version", "content-type"}

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="openssl is not installed (it generates the test keys)")


def openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


def make_key(directory: Path, kind: str) -> tuple[Path, bytes]:
    """A fresh private key file and its DNS TXT record, as an operator would make them."""
    path = directory / f"{kind}.pem"
    if kind == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", str(path))
        public = openssl("pkey", "-in", str(path), "-pubout", "-outform", "DER")
        record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    elif kind == "ed25519":
        openssl("genpkey", "-algorithm", "ed25519", "-out", str(path))
        public = openssl("pkey", "-in", str(path), "-pubout", "-outform", "DER")[-32:]
        record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(public)
    else:  # dkimpy's dknewkey --ktype ed25519 format: a base64 seed on one line
        import nacl.signing

        key = nacl.signing.SigningKey.generate()
        path = directory / "ed25519.key"
        path.write_bytes(base64.b64encode(bytes(key)))
        record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(key.verify_key))
    return path, record


def dns_for(record: bytes):  # type: ignore[no-untyped-def]
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode(), name
        return record

    return lookup


def signed_config(publication, key: Path) -> Config:  # type: ignore[no-untyped-def]
    publication.add_config(f"""
        [newsletter]
        from_address = "news@{DOMAIN}"
        reply_to = "editor@{DOMAIN}"

        [dkim]
        key_file = "{key.relative_to(publication.root)}"
        selector = "{SELECTOR}"
        domain = "{DOMAIN}"
    """)
    return publication.config


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, bytes]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (it generates the test keys)")
    directory = tmp_path_factory.mktemp("keys")
    return {kind: make_key(directory, kind) for kind in ("rsa", "ed25519", "seed")}


@pytest.fixture(params=["rsa", "ed25519", "seed"])
def signing(request, publication, keys):  # type: ignore[no-untyped-def]
    """(template, dns lookup) for each kind of key, the key file inside the publication."""
    source, record = keys[request.param]
    key = publication.root / "secrets" / source.name
    key.parent.mkdir()
    shutil.copy(source, key)
    config = signed_config(publication, key)
    template = MessageTemplate.from_digest(make_digest(config), Sender.from_config(config),
                                           secret=SECRET, date=ISSUE_DATE,
                                           signer=DkimSigner.from_config(config))
    return template, dns_for(record)


def signature_tags(raw: bytes) -> dict[str, str]:
    header = message_from_bytes(raw, policy=policy.compat32)["DKIM-Signature"]
    value = re.sub(r"\s+", "", header)
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


def test_a_signed_message_verifies_and_covers_the_list_headers(signing):
    template, lookup = signing
    raw = template.render(Subscriber("ann@example.com", "Ann Example"))

    assert raw.startswith(b"DKIM-Signature: ")
    assert dkim.verify(raw, dnsfunc=lookup)
    tags = signature_tags(raw)
    assert tags["c"] == "relaxed/relaxed"
    assert (tags["d"], tags["s"]) == (DOMAIN, SELECTOR)
    assert tags["a"] in ("rsa-sha256", "ed25519-sha256")
    assert REQUIRED <= set(tags["h"].split(":"))
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    signature = raw[:raw.index(b"\r\nDate: ")]
    assert max(len(line) for line in signature.split(b"\r\n")) <= 78


@pytest.mark.parametrize("field, old, new", [
    ("Subject", b"Subject: Test Reel #1", b"Subject: Test Reel #2"),
    ("List-Unsubscribe", b"token=", b"token=x"),
    ("body", b"Read the full review", b"Read the fake review"),
])
def test_tampering_breaks_the_signature(signing, field, old, new):
    template, lookup = signing
    raw = template.render(Subscriber("ann@example.com", "Ann"))
    assert old in raw

    assert not dkim.verify(raw.replace(old, new, 1), dnsfunc=lookup)


@pytest.mark.parametrize("added", [
    b"From: Mallory <mallory@evil.test>\r\n",
    b"Reply-To: mallory@evil.test\r\n",
    b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click\r\n",
])
def test_an_added_header_breaks_the_signature(signing, added):
    """Oversigning: headers listed once more than they occur cannot be added afterwards."""
    template, lookup = signing
    raw = template.render(Subscriber("ann@example.com", "Ann"))
    sig_end = raw.index(b"\r\n", raw.index(b"\r\nDate: ") - 1) + 2  # after the signature
    assert dkim.verify(raw, dnsfunc=lookup)

    assert not dkim.verify(raw[:sig_end] + added + raw[sig_end:], dnsfunc=lookup)


def test_white_space_changes_a_relay_may_make_still_verify(signing):
    """relaxed/relaxed: refolding headers and re-spacing must not break the signature."""
    template, lookup = signing
    raw = template.render(Subscriber("ann@example.com", "Ann"))
    refolded = raw.replace(b"Subject: Test Reel #1", b"Subject:   Test Reel\r\n\t#1   ", 1)

    assert dkim.verify(refolded, dnsfunc=lookup)


def test_awkward_subscribers_are_signed_correctly(signing):
    template, lookup = signing
    for s in AWKWARD_SUBSCRIBERS:
        assert dkim.verify(template.render(s), dnsfunc=lookup), s.email


def test_render_many_signs_in_order_and_matches_render(signing):
    """The signatures are deterministic (RSA PKCS#1 v1.5 and Ed25519 both)."""
    template, lookup = signing
    subscribers = many_subscribers(40)
    messages = list(template.render_many(subscribers))

    assert messages == [template.render(s) for s in subscribers]
    assert all(dkim.verify(m, dnsfunc=lookup) for m in messages)


def test_signing_starts_no_process_that_a_killed_send_could_leave_behind(signing):
    template, _ = signing
    for message in template.render_many(many_subscribers(50)):
        assert message.startswith(b"DKIM-Signature: ")
    assert multiprocessing.active_children() == []


def test_the_key_path_is_taken_from_the_publication_and_the_key_never_shown(publication, keys):
    source, _ = keys["rsa"]
    key = publication.root / "dkim.pem"
    shutil.copy(source, key)
    signer = DkimSigner.from_config(signed_config(publication, key))

    assert signer is not None and signer.algorithm == "rsa-sha256"
    secret = signer.key.private_numbers().d  # type: ignore[union-attr]
    assert repr(signer) == "DkimSigner(reel2026._domainkey.reel.test, rsa-sha256)"
    assert str(secret) not in repr(signer) and str(secret) not in str(signer)


def test_no_dkim_table_means_no_signature(publication):
    config = publication.config
    assert DkimSigner.from_config(config) is None
    raw = MessageTemplate.from_digest(make_digest(config), Sender.from_config(config),
                                      secret=SECRET, date=ISSUE_DATE,
                                      signer=DkimSigner.from_config(config)
                                      ).render(Subscriber("a@example.com"))
    assert b"DKIM-Signature" not in raw


@pytest.mark.parametrize("dkim_table, message", [
    ('key_file = "k.pem"\nselector = "s"', r"dkim\.domain: required when"),
    ('selector = "s"\ndomain = "reel.test"', r"dkim\.key_file: required when"),
    ('key_file = "missing.pem"\nselector = "s"\ndomain = "reel.test"',
     r"dkim\.key_file: cannot read .*missing\.pem"),
    ('key_file = "garbage.pem"\nselector = "s"\ndomain = "reel.test"',
     r"dkim\.key_file: .*garbage\.pem: not a key"),
    ('key_file = "bad.pem"\nselector = "s"\ndomain = "reel.test"',
     r"dkim\.key_file: .*bad\.pem: not an RSA or Ed25519 private key"),
])
def test_dkim_config_errors_name_the_key(publication, dkim_table, message):
    (publication.root / "garbage.pem").write_text("hello\n")
    (publication.root / "bad.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    publication.add_config("[dkim]\n" + dkim_table + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        DkimSigner.from_config(publication.config)
    assert str(info.value).startswith(str(publication.root / "publisher.toml"))


@needs_openssl
def test_a_short_rsa_key_is_refused(publication):
    key = publication.root / "short.pem"
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:768", "-out", str(key))
    with pytest.raises(ConfigError, match="shorter than 1024 bits"):
        DkimSigner.from_config(signed_config(publication, key))


def test_signed_header_list_oversigns_what_must_not_be_added():
    assert DKIM_HEADERS.count("from") == 2 and DKIM_HEADERS.count("reply-to") == 2
    assert REQUIRED <= set(DKIM_HEADERS)


def test_render_many_raises_an_address_error_exactly_in_its_place(signing):
    """The caller learns which subscriber failed: everything before it has come out."""
    template, lookup = signing
    people = many_subscribers(30)
    people[17] = Subscriber("broken\r\nBcc: x@example.net", "Broken")
    got = []
    with pytest.raises(AddressError, match="broken"):
        for message in template.render_many(people):
            got.append(message)

    assert got == [template.render(s) for s in people[:17]]
