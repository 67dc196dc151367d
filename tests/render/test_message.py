"""Personalised messages: built once per issue, spliced per subscriber, parsed back here with the
email package exactly as a mail client would."""

from __future__ import annotations

import base64
import binascii
import html
import random
import re
from dataclasses import replace
from datetime import datetime
from email import message_from_bytes, message_from_string, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from publisher.config import Config, load_secret
from publisher.errors import AddressError, ConfigError, PermanentDeliveryError
from publisher.models import Issue, RenderedDigest, Subscriber
from publisher.render.digest import compose_subject, personalise, render_digest
from publisher.render.dkim import DkimSigner
from publisher.render.message import (
    MessageTemplate,
    _qp_static,
    _qp_value,
    preview_message,
)
from publisher.render.sender import Sender, format_address, requires_smtputf8
from publisher.render.site import Site
from publisher.render.tokens import unsubscribe_token, verify_unsubscribe_token
from publisher.text import SUBJECT_MAX, header_text
from tests.fixtures import (
    AWKWARD_SUBSCRIBERS,
    FIRST_NAMES,
    ISSUE_DATE,
    LAST_NAMES,
    golden,
    make_digest,
    make_issue,
    many_subscribers,
)

SECRET = "test-secret-only-for-tests"
PERSONAL_HEADERS = ("To", "Message-ID", "List-Unsubscribe")

NEWSLETTER = """
[newsletter]
from_name = "Test Reel"
from_address = "news@reel.test"
reply_to = "editor@reel.test"
bounce_address = "bounces@reel.test"
postal_address = "Test Reel, 1 Film Street, Bristol BS1 1AA"
"""


@pytest.fixture
def config(publication) -> Config:
    publication.add_config(NEWSLETTER)
    return publication.config


@pytest.fixture
def digest(config: Config) -> RenderedDigest:
    return make_digest(config)


def template_for(digest: RenderedDigest, config: Config, *, secret: str,
                 date: datetime) -> MessageTemplate:
    """The message template as pipeline.send builds it: sender and signer from the config."""
    return MessageTemplate.from_digest(digest, Sender.from_config(config), secret=secret,
                                       date=date, signer=DkimSigner.from_config(config))


@pytest.fixture
def template(digest: RenderedDigest, config: Config) -> MessageTemplate:
    return template_for(digest, config, secret=SECRET, date=ISSUE_DATE)


def parse(raw: bytes) -> EmailMessage:
    # RFC 6532 headers (a UTF-8 local part) are parsed from text; everything else is ASCII.
    if raw.isascii():
        return message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]
    return message_from_string(raw.decode("utf-8"), policy=policy.default)  # type: ignore


def decoded(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content().replace("\r\n", "\n")


def to_address(raw: bytes) -> tuple[str, str]:
    """(addr-spec, display name) of the To header as an RFC 2047 reader decodes them: Python's
    address parser keeps the folding white space between the encoded-words of a long name,
    which RFC 2047 says to ignore."""
    (address,) = parse(raw)["To"].addresses
    field = re.search(rb"\r\nTo: (.*?)\r\n(?![ \t])", raw.partition(b"\r\n\r\n")[0], re.S)
    phrase = field.group(1).rpartition(b" <")[0].decode("utf-8")
    if phrase.count("=?utf-8?") > 1:
        return address.addr_spec, str(make_header(decode_header(phrase)))
    return address.addr_spec, address.display_name


def personal_values(template: MessageTemplate, s: Subscriber) -> dict[str, str]:
    return {"email": s.email, "name": header_text(s.name),
            "unsubscribe_url": template.unsubscribe_url(s),
            "preferences_url": template.preferences_url(s)}


def expected_parts(digest: RenderedDigest, values: dict[str, str]) -> tuple[str, str]:
    text, page = digest.text, digest.html
    for field, marker in digest.markers.items():
        text = text.replace(marker, values[field])
        page = page.replace(marker, html.escape(values[field]))
    return text, page


# --- structure and headers -----------------------------------------------------------------


def test_message_is_multipart_alternative_with_text_first_then_html(template):
    msg = parse(template.render(Subscriber("ann@example.com", "Ann")))

    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg.defects == [] and all(p.defects == [] for p in parts)


def test_every_header_is_there_and_right(template, config):
    s = Subscriber("ann@example.com", "Ann Example")
    raw = template.render(s)
    msg = parse(raw)

    assert str(msg["From"]) == "Test Reel <news@reel.test>"
    assert str(msg["Reply-To"]) == "editor@reel.test"
    assert str(msg["To"]) == "Ann Example <ann@example.com>"
    assert str(msg["Subject"]) == "Test Reel #1"
    assert msg["Date"].datetime == ISSUE_DATE
    assert msg["MIME-Version"] == "1.0"
    assert msg["Message-ID"] == template.message_id(s)
    assert re.fullmatch(r"<issue-1\.[0-9a-f]{24}@reel\.test>", msg["Message-ID"])
    assert msg["List-Id"] == "Test Reel <reel.test>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Feedback-ID"] == "1:reel.test:digest:reel.test"
    https, mailto = re.fullmatch(r"<([^>]+)>,\s*<([^>]+)>", msg["List-Unsubscribe"]).groups()
    assert https == Sender.from_config(config).unsubscribe_url(SECRET, s.email)
    assert https.startswith("https://reel.test/unsubscribe?address=ann%40example.com&token=")
    assert mailto == "mailto:news@reel.test?subject=unsubscribe"
    # Bounces go to the envelope sender; Return-Path is the receiving server's to write.
    assert template.envelope_from == "bounces@reel.test"
    assert "Return-Path" not in msg and "Precedence" not in msg
    header_names = [name.lower() for name in msg.keys()]
    assert len(header_names) == len(set(header_names)), "a header appears twice"


def test_reply_to_absent_and_envelope_sender_defaults_to_from(publication):
    publication.add_config('[newsletter]\nfrom_address = "news@reel.test"\n')
    config = publication.config
    template = template_for(make_digest(config), config, secret=SECRET, date=ISSUE_DATE)
    msg = parse(template.render(Subscriber("ann@example.com")))

    assert "Reply-To" not in msg
    assert template.envelope_from == "news@reel.test"
    assert str(msg["To"]) == "ann@example.com"
    assert str(msg["From"]) == "Test Reel <news@reel.test>"  # from_name defaults to the title


def test_date_is_in_the_newsletter_time_zone_and_must_be_aware(digest, config):
    msg = parse(template_for(digest, config, secret=SECRET, date=ISSUE_DATE)
                .render(Subscriber("a@example.com")))
    assert msg["Date"] == "Fri, 20 Nov 2026 09:00:00 +0000"  # Europe/London in November

    with pytest.raises(ValueError, match="timezone-aware"):
        template_for(digest, config, secret=SECRET,
                     date=datetime(2026, 11, 20, 9))


# --- the golden message ------------------------------------------------------------------------


def normalised(raw: bytes) -> bytes:
    """``raw`` with what may differ between runs masked, as rss2email normalises its expected
    emails: the Date header, and the DKIM signature (b=) of a key made for the run."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    fields = re.split(rb"\r\n(?![ \t])", head)
    for k, field in enumerate(fields):
        name = field.partition(b":")[0].lower()
        if name == b"date":
            fields[k] = b"Date: (masked)"
        elif name == b"dkim-signature":
            fields[k] = re.sub(rb"(;\s*b=)[^;]*$", rb"\1(masked)", field)
    return b"\r\n".join(fields) + sep + body


def test_a_signed_message_matches_the_golden_file(publication):
    # tests/data/golden/message.eml: the compiled digest of two FILMS for a subscriber whose
    # name needs RFC 2047, DKIM-signed. After an intended change to the message, regenerate it
    # with PUBLISHER_REGEN_GOLDEN=1 and review the diff.
    key = publication.root / "secrets" / "dkim.key"
    key.parent.mkdir()
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    key.write_bytes(base64.b64encode(seed))
    publication.add_config(NEWSLETTER + '[dkim]\nkey_file = "secrets/dkim.key"\n'
                           'selector = "reel2026"\ndomain = "reel.test"\n')
    config = publication.config
    digest = render_digest(make_issue(config, 2), Site.from_config(config))
    template = template_for(digest, config, secret=SECRET, date=ISSUE_DATE)
    raw = template.render(Subscriber("zoe@example.com", "Zoë Ångström-Łukasiewicz"))
    masked = normalised(raw)
    assert masked.startswith(b"DKIM-Signature: ") and masked.count(b"b=(masked)") == 1
    assert masked.count(b"\r\nDate: (masked)\r\n") == 1
    golden("message.eml", masked)


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("subscriber", AWKWARD_SUBSCRIBERS, ids=lambda s: s.email)
def test_decoded_parts_are_the_digest_with_the_values_put_in(template, digest, subscriber):
    raw = template.render(subscriber)
    msg = parse(raw)
    text, page = expected_parts(digest, personal_values(template, subscriber))

    assert decoded(msg, "plain") == text
    assert decoded(msg, "html") == page


@pytest.mark.parametrize("subscriber", AWKWARD_SUBSCRIBERS, ids=lambda s: s.email)
def test_every_line_is_crlf_terminated_and_short(template, subscriber):
    raw = template.render(subscriber)
    head, _, body = raw.partition(b"\r\n\r\n")

    assert raw.endswith(b"\r\n")
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    # The bodies keep quoted-printable's own limit, personal values included.
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert body.isascii()


def test_a_marker_lands_anywhere_on_a_line_without_being_split(config, digest):
    """Soft line breaks fall every 76 characters: put markers at every column across two of
    them, in both parts, with a value longer than a QP line."""
    m = digest.markers
    text = "".join("x" * col + m["unsubscribe_url"] + " y\n" for col in range(160))
    page = "<p>" + "".join("é" * col + f'<a href="{m["unsubscribe_url"]}">{m["name"]}</a>'
                           for col in range(0, 160, 3)) + "</p>\n"
    custom = replace(digest, text=text + m["email"] + "\n", html=page)
    template = template_for(custom, config, secret=SECRET, date=ISSUE_DATE)
    s = Subscriber("marker.test@example.com", "Zoë <Z> & \"Q\"")

    raw = template.render(s)
    msg = parse(raw)
    expected_text, expected_html = expected_parts(custom, personal_values(template, s))
    assert decoded(msg, "plain") == expected_text
    assert decoded(msg, "html") == expected_html
    assert max(len(line) for line in raw.partition(b"\r\n\r\n")[2].split(b"\r\n")) <= 76
    assert m["name"].encode() not in raw and m["unsubscribe_url"].encode() not in raw


def test_white_space_and_dots_survive_exactly(config, digest):
    text = "a  b\t\tc   \n\t\n.\n  \n" + "word " * 40 + "\n" + ". " * 60 + "\nend\n"
    custom = replace(digest, text=text, html=text.replace("\n", "<br>\n"))
    msg = parse(template_for(custom, config, secret=SECRET, date=ISSUE_DATE)
                .render(Subscriber("a@example.com")))

    assert decoded(msg, "plain") == text
    assert decoded(msg, "html") == custom.html


def smtp_data(content: bytes) -> bytes:
    """RFC 5321 4.5.2, written out: a "." before every line that starts with one, CRLF.CRLF."""
    lines = content.split(b"\r\n")
    assert lines[-1] == b""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n"
                    for line in lines[:-1]) + b".\r\n"


def test_the_smtp_form_is_the_message_dot_stuffed_with_the_same_message_id(config, digest):
    # Dots at the start of lines in the static text, and in the values spliced in per reader:
    # a name of dots lands at the start of a quoted-printable line of its own.
    m = digest.markers
    text = ".lead\n..two\n" + "x" * 74 + ".\n" + m["name"] + "\n.\n" + m["email"] + "\nend\n"
    custom = replace(digest, text=text, html=".<p>" + m["name"] + "</p>\n.\n")
    template = template_for(custom, config, secret=SECRET, date=ISSUE_DATE)
    for reader in (Subscriber(".dot@example.com", "...Dots. ." * 12), Subscriber("a@example.com")):
        rendered = template.personalise(reader)
        assert rendered.content == template.render(reader)
        assert rendered.data == smtp_data(rendered.content)
        assert rendered.message_id == template.message_id(reader)
        assert parse(rendered.content)["Message-ID"] == rendered.message_id


def test_html_part_links_every_review_and_text_part_is_plain_and_wrapped(template, digest):
    msg = parse(template.render(Subscriber("ann@example.com", "Ann")))
    page, text = decoded(msg, "html"), decoded(msg, "plain")

    for review in digest.issue.reviews:
        assert html.escape(review.title) in page
        assert f'href="{html.escape(review.url)}"' in page
        assert review.title in text and review.url in text
    tags = r"</?(?:p|a|br|div|span|table|tbody|tr|td|img|h[1-6]|html|head|body|style|meta)\b"
    assert not re.search(tags, text, re.I), "HTML tag in the text part"
    assert not re.search(r"&(?:amp|lt|gt|quot|#\d+);", text), "HTML entity in the text part"
    for line in text.splitlines():
        assert len(line) <= 78 or "https://" in line, line  # only a URL may run long


def test_a_real_compiled_digest_arrives_intact(config):
    """render_digest's MRML output (one line of ~58,000 characters) through the splice,
    checked against personalise, an independent substitution."""
    reviews = make_digest(config, count=10).issue.reviews
    site = Site.from_config(config)
    issue = Issue(number=7, subject=compose_subject(site, 7, reviews), date=ISSUE_DATE,
                  reviews=reviews)
    rendered = render_digest(issue, site)
    assert max(len(line) for line in rendered.html.splitlines()) > 37_000  # why QP is needed
    template = template_for(rendered, config, secret=SECRET, date=ISSUE_DATE)

    for s in AWKWARD_SUBSCRIBERS:
        raw = template.render(s)
        msg = parse(raw)
        page, text = personalise(rendered, personal_values(template, s))
        assert not page.endswith("\n")  # MRML ends without one; a MIME part ends with one
        assert decoded(msg, "html") == page + "\n"
        assert decoded(msg, "plain") == text
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        assert str(msg["Subject"]) == rendered.subject
    for review in reviews:
        assert review.title in html.unescape(page) and f'href="{review.url}"' in page
        assert review.url in text
    assert s.email in text and template.unsubscribe_url(s) in text
    assert not re.search(r"</?(?:p|a|br|div|span|table|td|img)\b", text, re.I)
    assert all(len(line) <= 78 or "https://" in line for line in text.splitlines())


# --- headers that carry text from reviews and subscribers -------------------------------------


def test_a_title_with_line_breaks_cannot_add_a_header(config, digest):
    evil = "Fast & Furious\r\nBcc: victim@example.net\r\n\r\n<b>body</b>\x00\u202etxt.exe"
    template = template_for(replace(digest, subject=evil), config,
                            secret=SECRET, date=ISSUE_DATE)
    raw = template.render(Subscriber("ann@example.com"))
    msg = parse(raw)

    assert "Bcc" not in msg
    assert str(msg["Subject"]) == "Fast & Furious Bcc: victim@example.net <b>body</b> txt.exe"
    assert msg.get_content_type() == "multipart/alternative"  # the header block held together
    assert b"\x00" not in raw and "\u202e".encode() not in raw


def test_a_non_ascii_subject_is_rfc2047_encoded(config, digest):
    subject = "Crouching Tiger (卧虎藏龙) — Amélie & Léon: «the best» of 2026"
    raw = template_for(replace(digest, subject=subject), config, secret=SECRET,
                       date=ISSUE_DATE).render(Subscriber("a@example.com"))
    head = raw.partition(b"\r\n\r\n")[0]

    assert head.isascii() and b"=?utf-8?" in head
    assert str(parse(raw)["Subject"]) == subject


def test_a_subject_that_looks_encoded_reads_literally(config, digest):
    subject = "Review of =?utf-8?q?Hacked?= and more"
    msg = parse(template_for(replace(digest, subject=subject), config,
                             secret=SECRET, date=ISSUE_DATE)
                .render(Subscriber("a@example.com")))
    assert str(msg["Subject"]) == subject


@pytest.mark.parametrize("subject", [
    "Reel #2: word word word word word word word word 🎬 night and 3 more",
    "Reel #3: Paper Moons Winter Ferry Signal Noise Thexyz 卧虎藏龙 and 2 more",
])
def test_a_subject_folded_before_non_ascii_has_no_empty_encoded_word(config, digest, subject):
    # Python's folder wrote "… word =?utf-8?q??=\r\n =?utf-8?q?=F0=9F=8E=AC?= night": an
    # encoded-word with no text, which RFC 2047 does not allow and strict readers show as is.
    raw = template_for(replace(digest, subject=subject), config, secret=SECRET,
                       date=ISSUE_DATE).render(Subscriber("a@example.com"))
    head = raw.partition(b"\r\n\r\n")[0]

    assert not re.search(rb"=\?[^?]*\?[bBqQ]\?\?=", head)
    assert str(parse(raw)["Subject"]) == subject
    assert max(map(len, head.split(b"\r\n"))) <= 998


def test_a_long_subject_is_cut_at_a_word_near_200_characters(config, digest):
    subject = " ".join(f"Film{i:03d}" for i in range(60))  # 479 characters
    msg = parse(template_for(replace(digest, subject=subject), config,
                             secret=SECRET, date=ISSUE_DATE)
                .render(Subscriber("a@example.com")))
    got = str(msg["Subject"])

    assert got.endswith("…") and len(got) <= 201
    assert subject.startswith(got[:-1]) and subject[len(got) - 1] == " "
    assert header_text("x" * 300, SUBJECT_MAX).startswith("x" * 190)  # one huge word is cut inside


def test_header_text():
    assert header_text("  a\r\n\tb\x00c\x85d\u2028e  ") == "a b c d e"
    assert header_text("abc\u202edef\u2066g\u2069") == "abcdefg"
    assert header_text("Zoë 👩‍👩‍👧 café") == "Zoë 👩‍👩‍👧 café"  # ZWJ kept
    assert header_text("bad\ud800surrogate") == "badsurrogate"


@pytest.mark.parametrize("subscriber", AWKWARD_SUBSCRIBERS, ids=lambda s: s.email)
def test_names_and_addresses_round_trip_through_the_to_header(template, subscriber):
    raw = template.render(subscriber)
    head = raw.partition(b"\r\n\r\n")[0]
    msg = parse(raw)
    (address,) = msg["To"].addresses

    assert address.display_name.replace(" ", "") == header_text(subscriber.name).replace(
        " ", "")
    if head.count(b"=?utf-8?") > 1:
        # A long name takes several encoded-words. RFC 2047 readers ignore the folding white
        # space between them; Python's address parser keeps it, so decode this one the RFC way.
        raw_phrase = re.search(rb"\nTo: (.*?) <", head, re.S).group(1).decode()
        assert str(make_header(decode_header(raw_phrase))) == header_text(subscriber.name)
    else:
        assert address.display_name == header_text(subscriber.name)
    assert address.addr_spec == subscriber.email
    assert "Bcc" not in msg
    assert head.isascii() == (not requires_smtputf8(subscriber.email))


def test_an_ascii_local_part_at_an_idn_domain_uses_punycode(template):
    raw = template.render(Subscriber("ann@exämple.org", "Ann"))
    assert b"To: Ann <ann@xn--exmple-cua.org>\r\n" in raw
    assert raw.partition(b"\r\n\r\n")[0].isascii()


def test_format_address_quotes_and_encodes():
    assert format_address("Ann Lee", "a@x.org") == "Ann Lee <a@x.org>"
    assert format_address('Ed "K" O\'B', "a@x.org") == '"Ed \\"K\\" O\'B" <a@x.org>'
    assert format_address("Smith, J.", "a@x.org") == '"Smith, J." <a@x.org>'
    assert format_address("", "a@x.org") == "a@x.org"
    assert format_address("Zoë", "a@x.org") == "=?utf-8?b?Wm/Dqw==?= <a@x.org>"
    long = format_address("é" * 100, "a@x.org")
    assert all(len(line) <= 78 for line in long.split("\r\n"))


@pytest.mark.parametrize("email", [
    "victim@example.net\r\nBcc: x@example.net", "no-at-sign", "a b@example.net",
    "<a@example.net>", "a@", "@example.net", "a@b,c@d", "tab\t@example.net",
    "x" * 65 + "@example.net", "a@" + "b" * 250 + ".net",
])
def test_an_unusable_address_is_refused_not_sent(template, email):
    with pytest.raises(AddressError) as info:
        template.render(Subscriber(email, "Name"))
    assert isinstance(info.value, PermanentDeliveryError)


def test_the_longest_addresses_still_fit_every_line(template):
    ascii_address = "a" * 64 + "@" + ".".join(["b" * 62, "b" * 62, "b" * 60]) + ".cc"
    utf8_address = "é" * 32 + "@" + ".".join(["ü" * 31, "ü" * 31, "ü" * 30]) + ".de"
    for email in (ascii_address, utf8_address):
        assert len(email.encode()) == 254
        raw = template.render(Subscriber(email, "Ö" * 300))
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        assert parse(raw)["To"].addresses[0].addr_spec in (email, ascii_address)


# --- many subscribers ---------------------------------------------------------------------------


def test_messages_differ_only_in_the_personal_fields(template, digest, config):
    # Every kind of awkward subscriber once, then enough of many_subscribers' random names to
    # draw each first and each last name at least once (the seed draws them all by the 34th;
    # checked here, so that a change to the lists or the seed cannot quietly drop one). Each
    # kind goes through its own header path (atom, quoted string, RFC 2047 words, UTF-8
    # address); a thousand messages took six seconds to repeat these 55.
    varied = many_subscribers(40)
    for first in FIRST_NAMES:
        assert any(s.name.startswith(f"{first} ") for s in varied), first
    for last in LAST_NAMES:
        assert any(re.fullmatch(rf"\S+ {re.escape(last)} \d{{4}}", s.name) for s in varied), last
    subscribers = [*AWKWARD_SUBSCRIBERS, *varied]
    lid = Sender.from_config(config).list_id
    first = None
    message_ids, tokens = set(), set()
    for i, s in enumerate(subscribers):
        raw = template.render(s)
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        msg = parse(raw)

        assert to_address(raw) == (s.email, header_text(s.name))
        message_ids.add(msg["Message-ID"])
        url = re.match(r"<([^>]+)>", msg["List-Unsubscribe"]).group(1)
        query = parse_qs(urlsplit(url).query)
        assert query["address"] == [s.email]
        (token,) = query["token"]
        tokens.add(token)
        assert verify_unsubscribe_token(SECRET, lid, s.email, token)
        assert verify_unsubscribe_token(SECRET, lid, s.email.upper(), token)
        other = subscribers[i - 1]
        assert not verify_unsubscribe_token(SECRET, lid, other.email, token)

        # The bodies are the digest with this subscriber's values where the markers were (put
        # in, not taken out: taking out an empty name, or one the digest also says, would
        # mark places that were never personal), and the other headers are every message's.
        text, page = expected_parts(digest, personal_values(template, s))
        assert (decoded(msg, "plain"), decoded(msg, "html")) == (text, page), (
            f"message {i} differs outside its personal fields")
        headers = [(k, str(v)) for k, v in msg.items() if k not in PERSONAL_HEADERS]
        if first is None:
            first = headers
        assert headers == first, f"message {i} differs outside its personal fields"
    assert len(message_ids) == len(subscribers)
    # Verification recomputes the expected token, so distinct tokens mean each one fails for
    # every other subscriber, not just the neighbour checked above.
    assert len(tokens) == len(subscribers)


def test_rendering_is_deterministic(digest, config):
    s = Subscriber("ann@example.com", "Ann")
    a = template_for(digest, config, secret=SECRET, date=ISSUE_DATE).render(s)
    b = template_for(digest, config, secret=SECRET, date=ISSUE_DATE).render(s)
    assert a == b


def test_render_many_is_render_for_each(template):
    subscribers = many_subscribers(25)
    assert list(template.render_many(subscribers)) == [template.render(s) for s in subscribers]


# --- message ids, tokens and the secret ---------------------------------------------------------


def test_message_id_is_stable_per_issue_and_subscriber(digest, config, template):
    ann, bob = Subscriber("ann@example.com"), Subscriber("bob@example.com")
    again = template_for(digest, config, secret=SECRET, date=ISSUE_DATE)
    issue2 = template_for(make_digest(config, number=2), config, secret=SECRET,
                          date=ISSUE_DATE)

    assert template.message_id(ann) == again.message_id(ann)
    assert template.message_id(ann) == template.message_id(Subscriber("ANN@example.com", "A"))
    assert template.message_id(ann) != template.message_id(bob)
    assert template.message_id(ann) != issue2.message_id(ann)
    assert issue2.message_id(ann).startswith("<issue-2.")
    assert "ann" not in template.message_id(ann)


def test_unsubscribe_tokens_verify_only_for_their_own_address_and_list():
    token = unsubscribe_token(SECRET, "reel.test", "Ann@Example.com")

    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert verify_unsubscribe_token(SECRET, "reel.test", "ann@example.com", token)
    assert not verify_unsubscribe_token(SECRET, "reel.test", "bob@example.com", token)
    assert not verify_unsubscribe_token(SECRET, "other.test", "ann@example.com", token)
    assert not verify_unsubscribe_token("another-secret", "reel.test", "ann@example.com", token)
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not verify_unsubscribe_token(SECRET, "reel.test", "ann@example.com", forged)
    assert not verify_unsubscribe_token(SECRET, "reel.test", "ann@example.com", "")
    assert not verify_unsubscribe_token(SECRET, "reel.test", "ann@example.com", "é" * 43)


def test_unsubscribe_url_is_urlencoded_onto_the_configured_endpoint(publication):
    config = publication.config
    url = Sender.from_config(config).unsubscribe_url(SECRET, "a+b@example.com")
    assert url.startswith("https://reel.test/unsubscribe?address=a%2bb%40example.com&token=")
    assert parse_qs(urlsplit(url).query)["address"] == ["a+b@example.com"]

    publication.add_config('[newsletter]\nunsubscribe_url = "https://lists.test/u?list=reel"\n')
    url = Sender.from_config(publication.config).unsubscribe_url(SECRET, "a@example.com")
    assert url.startswith("https://lists.test/u?list=reel&address=a%40example.com&token=")


def test_an_unsubscribe_link_to_a_non_ascii_address_reads_as_no_template_placeholder(
        publication):
    """SpamAssassin's UNRESOLVED_TEMPLATE scores 3 points for a header with "%" and two capital
    letters (HeaderEval.pm: /%[A-Z][A-Z_-]/), as "zo%C3%AB" has."""
    url = Sender.from_config(publication.config).unsubscribe_url(SECRET, "Zoë@müller.example")
    assert "address=Zo%c3%ab%40m%c3%bcller.example&token=" in url
    assert not re.search(r"%[A-Z][A-Z_-]", url)
    assert parse_qs(urlsplit(url).query)["address"] == ["Zoë@müller.example"]


def test_a_missing_secret_is_a_clear_error(monkeypatch, digest, config):
    monkeypatch.delenv("PUBLISHER_SECRET", raising=False)
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET is not set; it signs unsubscribe"):
        load_secret()
    with pytest.raises(ConfigError, match="PUBLISHER_SECRET"):
        template_for(digest, config, secret="", date=ISSUE_DATE)

    monkeypatch.setenv("PUBLISHER_SECRET", "from-the-environment")
    assert load_secret() == "from-the-environment"


def test_a_bad_list_id_is_a_config_error(publication):
    publication.add_config('[newsletter]\nlist_id = "not a list id"\n')
    with pytest.raises(ConfigError, match=r"publisher\.toml: newsletter\.list_id"):
        Sender.from_config(publication.config)


# --- preview ------------------------------------------------------------------------------------


def test_preview_needs_no_secret_and_carries_placeholders(monkeypatch, digest, config):
    monkeypatch.delenv("PUBLISHER_SECRET", raising=False)
    raw = preview_message(digest, Sender.from_config(config), date=ISSUE_DATE)
    msg = parse(raw)

    assert str(msg["To"]) == "Subscriber <subscriber@example.org>"
    assert "token=preview" in msg["List-Unsubscribe"]
    assert "Hello Subscriber," in decoded(msg, "plain")
    assert "subscriber@example.org" in decoded(msg, "html")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert "DKIM-Signature" not in msg


# --- the quoted-printable encoder itself ----------------------------------------------------------


def random_texts(count: int, seed: int = 11) -> list[str]:
    rnd = random.Random(seed)
    alphabet = "ab =.\t\n-é€😀<>&\"'" + "x" * 10
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 400)))
            for _ in range(count)]


@pytest.mark.parametrize("soft_end", [False, True])
def test_static_stretches_decode_exactly_and_stay_dkim_canonical(soft_end):
    for text in random_texts(300):
        if not soft_end:
            text += "\n"  # a part's final stretch always ends a line
        encoded = _qp_static(text, soft_end=soft_end)
        lines = encoded.split(b"\r\n")
        assert lines[-1] == b"" and all(len(line) <= 76 for line in lines)
        assert binascii.a2b_qp(encoded).replace(b"\r\n", b"\n") == text.encode()
        assert not re.search(rb"\t|  | \r\n", encoded), "relaxed canonicalisation would change it"
        if soft_end and text and not text.endswith("\n"):
            assert encoded.endswith(b"=\r\n")


def test_personal_values_are_encoded_on_their_own_soft_broken_lines():
    for value in [*random_texts(300, seed=5), "x" * 75, "x" * 76, "x" * 74 + "é", "=" * 40]:
        value = value.replace("\n", "")
        encoded = _qp_value(value)
        if not value:
            assert encoded == b""
            continue
        lines = encoded.split(b"\r\n")
        assert lines[-1] == b"" and all(line.endswith(b"=") for line in lines[:-1])
        assert all(len(line) <= 76 for line in lines)
        assert binascii.a2b_qp(encoded) == value.encode()
        assert b" " not in encoded and b"\t" not in encoded
