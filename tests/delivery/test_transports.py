"""Transports against a real aiosmtpd server on loopback, a real Maildir and real files."""

from __future__ import annotations

import email.policy
import hmac
import mailbox
import threading
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest

from publisher.delivery.local import FileTransport, MaildirTransport, message_id_of
from publisher.delivery.smtp import SmtpTransport, _Client
from publisher.delivery.transports import transport_from_url
from publisher.errors import (
    AmbiguousDeliveryError,
    ConfigError,
    PermanentDeliveryError,
    PolicyDeliveryError,
    TemporaryDeliveryError,
    TransportError,
)
from publisher.newsletter.policy import classify
from tests.fixtures import at_once, free_port
from tests.smtpserver import SmtpServer, make_certificate

SENDER = "bounces@reel.test"
PASSWORD = "correct horse battery staple"


def make_message(to: str, body: str = "Hello.\n", mid: str | None = None) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "Test Reel <newsletter@reel.test>"
    msg["To"] = to
    msg["Subject"] = "Test Reel #1"
    msg["Message-ID"] = mid or f"<1.{to.replace('@', '.')}@reel.test>"
    msg.set_content(body)
    return msg.as_bytes()


def smtp(server: SmtpServer, **kwargs: object) -> SmtpTransport:
    options: dict[str, object] = {"starttls": False, "timeout": 5.0}
    options.update(kwargs)
    return SmtpTransport("127.0.0.1", server.port, **options)  # type: ignore[arg-type]


# --- reply classification ----------------------------------------------------------------------


@pytest.mark.parametrize(("stage", "code", "text", "kind", "bounce"), [
    ("rcpt", 451, "4.3.0 try later", TemporaryDeliveryError, False),
    ("rcpt", 452, "4.2.2 mailbox full", TemporaryDeliveryError, False),
    ("rcpt", 421, "4.3.2 closing", TemporaryDeliveryError, False),
    ("rcpt", 550, "5.1.1 User unknown", PermanentDeliveryError, True),
    ("rcpt", 550, "No such user", PermanentDeliveryError, True),
    ("rcpt", 551, "User not local", PermanentDeliveryError, True),
    ("rcpt", 553, "5.1.3 Bad address", PermanentDeliveryError, True),
    ("rcpt", 552, "5.2.2 Mailbox full", PermanentDeliveryError, False),
    ("rcpt", 554, "5.7.1 Refused by policy", PolicyDeliveryError, False),
    ("rcpt", 550, "5.7.1 Client host blocked", PolicyDeliveryError, False),
    ("data", 554, "Transaction failed", PolicyDeliveryError, False),
    ("data", 550, "5.1.1 unknown user (checked after DATA)", PermanentDeliveryError, True),
    # Any 5xx at MAIL is about OUR address or session (5.1.7 bad sender, 5.1.8 sender
    # domain, a login wanted, a policy on who may send): stop, nobody bounced or blamed
    ("mail", 530, "5.7.0 Authentication required", TransportError, False),
    ("mail", 553, "5.3.0 Sender address rejected", TransportError, False),
    ("mail", 553, "5.1.8 Sender address rejected: Domain not found", TransportError, False),
    ("mail", 550, "5.1.7 Bad sender mailbox syntax", TransportError, False),
    ("mail", 550, "5.7.1 <bounces@reel.test>: Sender address rejected: not owned by user",
     TransportError, False),
    # ... and so are refusals of our sender or of relaying that come at RCPT, in the codes of
    # a bad recipient: Postfix's sender checks, Exim, qmail, Sendmail, Postfix, Exchange
    ("rcpt", 550, "5.1.8 <bounces@reel.test>: Sender address rejected: Domain not found",
     TransportError, False),
    ("rcpt", 550, "5.1.0 <bounces@reel.test>: Sender address rejected: User unknown",
     TransportError, False),
    ("rcpt", 550, "relay not permitted", TransportError, False),
    ("rcpt", 553, "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)",
     TransportError, False),
    ("rcpt", 550, "5.7.1 <reader@elsewhere.test>... Relaying denied", TransportError, False),
    ("rcpt", 554, "5.7.1 <reader@elsewhere.test>: Relay access denied", TransportError, False),
    ("rcpt", 550, "5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
     TransportError, False),
    ("rcpt", 530, "5.7.0 Authentication required", TransportError, False),
    # qmail's code comes last, in brackets
    ("rcpt", 553, "sorry, no mailbox here by that name (#5.1.1)", PermanentDeliveryError, True),
    ("rcpt", 554, "sorry, your message looks like spam (#5.7.1)", PolicyDeliveryError, False),
])
def test_replies_are_classified_by_code_and_enhanced_status(stage, code, text, kind, bounce):
    error = classify(stage, code, text.encode())
    assert type(error) is kind
    assert getattr(error, "bounce", False) is bounce
    assert str(code) in str(error)


# --- choosing a transport ----------------------------------------------------------------------


def test_unknown_transport_url_is_a_config_error_naming_the_url_and_the_schemes(publication):
    publication.add_config('[delivery]\ntransport = "carrier-pigeon://loft"\n')
    with pytest.raises(ConfigError) as info:
        transport_from_url(publication.config)
    message = str(info.value)
    assert "carrier-pigeon://loft" in message and "delivery.transport" in message
    for scheme in ("smtp://", "smtps://", "maildir://", "file://"):
        assert scheme in message


def test_relative_maildir_and_file_paths_are_taken_from_the_publication(publication):
    publication.add_config('[delivery]\ntransport = "maildir://.publisher/outbox"\n')
    transport = transport_from_url(publication.config)
    assert isinstance(transport, MaildirTransport)
    assert transport.path == publication.root / ".publisher" / "outbox"
    publication.write_config(publication.root.joinpath("publisher.toml").read_text()
                             .replace("maildir://.publisher/outbox", "file:///tmp/eml out"))
    transport = transport_from_url(publication.config)
    assert isinstance(transport, FileTransport) and transport.path == Path("/tmp/eml out")


def test_smtp_url_gives_host_port_and_tls_choice(publication, monkeypatch):
    monkeypatch.delenv("PUBLISHER_SMTP_CAFILE", raising=False)
    publication.add_config('[delivery]\ntransport = "smtps://mail.reel.test"\n')
    transport = transport_from_url(publication.config)
    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.implicit_tls) == ("mail.reel.test", 465, True)


def test_password_in_the_url_is_refused(publication):
    publication.add_config('[delivery]\ntransport = "smtp://me:hunter2@mail.reel.test:587"\n')
    with pytest.raises(ConfigError) as info:
        transport_from_url(publication.config)
    assert "PUBLISHER_SMTP_PASSWORD" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("url", ["smtp+tls://me:hunter2@mail.reel.test:587",
                                 "smtp:/me:hunter2@mail.reel.test"])
def test_a_password_in_an_unsupported_url_is_not_repeated(publication, url):
    publication.add_config(f'[delivery]\ntransport = "{url}"\n')
    with pytest.raises(ConfigError, match="unsupported transport URL") as info:
        transport_from_url(publication.config)
    assert "hunter2" not in str(info.value) and "mail.reel.test" in str(info.value)


def test_a_password_in_the_config_file_is_refused_without_repeating_it(publication):
    publication.add_config('[delivery]\ntransport = "smtp://mail.reel.test:587"\n'
                           'smtp_user = "me"\nsmtp_password = "hunter2"\n')
    with pytest.raises(ConfigError, match="passwords come only from the environment "
                                          r"\(PUBLISHER_SMTP_PASSWORD\)") as info:
        publication.config  # noqa: B018 - loading the config is what refuses it
    assert "hunter2" not in str(info.value)


def test_smtp_user_without_password_in_the_environment_is_a_clear_error(publication, monkeypatch):
    monkeypatch.delenv("PUBLISHER_SMTP_PASSWORD", raising=False)
    publication.add_config('[delivery]\ntransport = "smtp://mail.reel.test:587"\n'
                           'smtp_user = "me"\n')
    with pytest.raises(ConfigError, match="PUBLISHER_SMTP_PASSWORD is not set"):
        transport_from_url(publication.config)


def test_password_never_appears_in_the_transport_repr(publication, monkeypatch):
    monkeypatch.setenv("PUBLISHER_SMTP_PASSWORD", PASSWORD)
    publication.add_config('[delivery]\ntransport = "smtp://mail.reel.test:587"\n'
                           'smtp_user = "me"\n')
    transport = transport_from_url(publication.config)
    assert transport.password == PASSWORD
    assert PASSWORD not in repr(transport) and PASSWORD not in transport.description


# --- SMTP ----------------------------------------------------------------------------------


def test_many_messages_travel_in_one_session(server):
    with smtp(server).session() as session:
        replies = [session.send(SENDER, f"r{i}@reel.test", make_message(f"r{i}@reel.test"))
                   for i in range(5)]
    assert all(reply.startswith("250") for reply in replies)
    assert server.handler.connections == 1
    assert [m.rcpt_tos for m in server.messages] == [(f"r{i}@reel.test",) for i in range(5)]
    assert {m.mail_from for m in server.messages} == {SENDER}


def test_message_bytes_arrive_intact_with_dots_and_bare_newlines_fixed(server):
    body = ".starts with a dot\n..two dots\nend\n"
    raw = make_message("ann@reel.test", body).replace(b"\r\n", b"\n")  # bare LF on purpose
    with smtp(server).session() as session:
        session.send(SENDER, "ann@reel.test", raw)
    (received,) = server.messages
    assert received.data == raw.replace(b"\n", b"\r\n")
    assert received.message.get_content().replace("\r\n", "\n") == body


@pytest.mark.parametrize(("kind", "error"), [
    ("451", TemporaryDeliveryError),
    ("452", TemporaryDeliveryError),
    ("421", TemporaryDeliveryError),
    ("550", PermanentDeliveryError),
    ("553", PermanentDeliveryError),
    ("554", PolicyDeliveryError),
    ("554_data", PolicyDeliveryError),
    ("drop_after_data", AmbiguousDeliveryError),
])
def test_a_refused_recipient_does_not_stop_the_session(server, kind, error):
    server.fail("bad@reel.test", kind)
    with smtp(server).session() as session:
        session.send(SENDER, "a@reel.test", make_message("a@reel.test"))
        with pytest.raises(error):
            session.send(SENDER, "bad@reel.test", make_message("bad@reel.test"))
        session.send(SENDER, "b@reel.test", make_message("b@reel.test"))
    acknowledged = [m.rcpt_tos[0] for m in server.messages if m.acknowledged]
    assert acknowledged == ["a@reel.test", "b@reel.test"]
    # Closing connections (421, a drop after DATA) cost one reconnect; the rest none.
    assert server.handler.connections == (2 if kind in ("421", "drop_after_data") else 1)


def test_bounce_flag_marks_unknown_users_only(server):
    server.fail("gone@reel.test", "550")
    server.fail("full@reel.test", "452")
    with smtp(server).session() as session:
        with pytest.raises(PermanentDeliveryError) as gone:
            session.send(SENDER, "gone@reel.test", make_message("gone@reel.test"))
        with pytest.raises(TemporaryDeliveryError) as full:
            session.send(SENDER, "full@reel.test", make_message("full@reel.test"))
    assert gone.value.bounce is True and gone.value.reply.startswith("550 5.1.1")
    assert full.value.bounce is False


def test_disconnect_after_data_is_ambiguous_although_the_server_got_it(server):
    server.fail("eve@reel.test", "drop_after_data")
    with smtp(server).session() as session:
        with pytest.raises(AmbiguousDeliveryError, match="after DATA"):
            session.send(SENDER, "eve@reel.test", make_message("eve@reel.test"))
    (received,) = server.received_by("eve@reel.test")
    assert not received.acknowledged


def test_connection_dropped_before_data_reconnects_and_carries_on(server):
    server.fail("flaky@reel.test", "drop_before_data", times=1)
    with smtp(server).session() as session:
        session.send(SENDER, "a@reel.test", make_message("a@reel.test"))
        reply = session.send(SENDER, "flaky@reel.test", make_message("flaky@reel.test"))
        session.send(SENDER, "b@reel.test", make_message("b@reel.test"))
    assert reply.startswith("250")
    assert [m.rcpt_tos[0] for m in server.messages] == ["a@reel.test", "flaky@reel.test",
                                                        "b@reel.test"]
    assert server.handler.connections == 2
    assert server.handler.rcpt_attempts["flaky@reel.test"] == 2


def test_connection_that_keeps_dropping_before_data_is_temporary(server):
    server.fail("flaky@reel.test", "drop_before_data")
    with smtp(server).session() as session:
        with pytest.raises(TemporaryDeliveryError, match="lost twice before the end"):
            session.send(SENDER, "flaky@reel.test", make_message("flaky@reel.test"))
        session.send(SENDER, "a@reel.test", make_message("a@reel.test"))
    assert [m.rcpt_tos[0] for m in server.messages] == ["a@reel.test"]


def test_connection_refused_is_one_clear_line():
    port = free_port()
    with pytest.raises(TransportError) as info:
        with SmtpTransport("127.0.0.1", port, starttls=False, timeout=5).session():
            pass
    assert str(info.value) == f"cannot connect to smtp://127.0.0.1:{port}: connection refused"


def test_a_session_refused_at_ehlo_is_a_transport_error():
    with SmtpServer(max_connections=1) as srv:
        with smtp(srv).session():
            with pytest.raises(TransportError, match="refused the session: 421 4.7.0"):
                with smtp(srv).session():
                    pass


def test_starttls_required_but_not_offered(server):
    with pytest.raises(TransportError, match="does not offer STARTTLS"):
        with smtp(server, starttls=True).session():
            pass


def test_auth_with_the_right_password_sends(publication, monkeypatch):
    with SmtpServer(password=PASSWORD) as srv:
        with smtp(srv, user="user", password=PASSWORD).session() as session:
            session.send(SENDER, "a@reel.test", make_message("a@reel.test"))
    assert len(srv.messages) == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_password_beyond_ascii_logs_in_as_utf8(mechanism):
    # RFC 4616 (PLAIN) and every relay take UTF-8; smtplib encodes AUTH as ASCII and raised
    # UnicodeEncodeError, a traceback from check --connect, run and serve alike.
    password = "Kennwört-€-ß…"
    excluded = [m for m in ("PLAIN", "LOGIN") if m != mechanism]
    with SmtpServer(password=password, user="rédaction", exclude_auth=excluded) as srv:
        with smtp(srv, user="rédaction", password=password).session() as session:
            session.send(SENDER, "a@reel.test", make_message("a@reel.test"))
        with pytest.raises(TransportError, match="authentication failed"):
            with smtp(srv, user="rédaction", password="Kennwort-€-ss…").session():
                pass
    assert len(srv.messages) == 1


def test_cram_md5_keys_its_digest_with_the_utf8_password():
    client = _Client()
    client.user, client.password = "rédaction", "Kennwört"
    challenge = b"<1896.697170952@relay.test>"
    digest = hmac.HMAC("Kennwört".encode(), challenge, "md5").hexdigest()
    assert client.auth_cram_md5(challenge) == f"rédaction {digest}"


def test_wrong_password_is_a_transport_error_without_the_password(capfd):
    with SmtpServer(password=PASSWORD) as srv:
        with pytest.raises(TransportError) as info:
            with smtp(srv, user="user", password="wrong-secret-xyz").session():
                pass
    message = str(info.value)
    assert "authentication failed" in message and "535" in message
    assert "PUBLISHER_SMTP_PASSWORD" in message
    captured = capfd.readouterr()
    for text in (message, captured.out, captured.err):
        assert "wrong-secret-xyz" not in text
    assert srv.messages == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    pair = make_certificate(tmp_path_factory.mktemp("tls"))
    if pair is None:
        pytest.skip("the openssl command is not installed (needed to make a test certificate)")
    return pair


def test_starttls_verifies_against_the_configured_ca_and_then_authenticates(certificate):
    cert, _ = certificate
    with SmtpServer(password=PASSWORD, tls=certificate) as srv:
        transport = smtp(srv, starttls=True, user="user", password=PASSWORD, cafile=str(cert))
        with transport.session() as session:
            session.send(SENDER, "a@reel.test", make_message("a@reel.test"))
    assert len(srv.messages) == 1


def test_an_untrusted_certificate_is_refused(certificate, monkeypatch):
    with SmtpServer(tls=certificate) as srv:
        with pytest.raises(TransportError, match="not trusted.*PUBLISHER_SMTP_CAFILE"):
            with smtp(srv, starttls=True).session():
                pass
    assert srv.messages == []


def test_smtps_speaks_tls_from_the_start(certificate, publication, monkeypatch):
    cert, _ = certificate
    monkeypatch.setenv("PUBLISHER_SMTP_CAFILE", str(cert))
    with SmtpServer(tls=certificate, implicit_tls=True) as srv:
        publication.add_config(f'[delivery]\ntransport = "{srv.url}"\n')
        transport = transport_from_url(publication.config)
        assert transport.implicit_tls and transport.cafile == str(cert)
        with transport.session() as session:
            session.send(SENDER, "a@reel.test", make_message("a@reel.test"))
    assert len(srv.messages) == 1


def test_password_is_never_sent_unencrypted_to_a_remote_host():
    transport = SmtpTransport("192.0.2.1", 25, starttls=False, user="u", password="p", timeout=1)
    with pytest.raises(TransportError, match="refusing to send the SMTP password unencrypted"):
        with transport.session():
            pass


# --- local transports ------------------------------------------------------------------------


def test_maildir_messages_have_lf_endings_and_parse(tmp_path):
    transport = MaildirTransport(tmp_path / "outbox")
    with transport.session() as session:
        for name in ("ann", "bob"):
            reply = session.send(SENDER, f"{name}@reel.test", make_message(f"{name}@reel.test"))
            assert str(tmp_path / "outbox") in reply
    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    files = sorted((tmp_path / "outbox" / "new").iterdir())
    assert len(files) == 2 and not list((tmp_path / "outbox" / "tmp").iterdir())
    for path in files:
        raw = path.read_bytes()
        assert b"\r\n" not in raw
    assert sorted(m["To"] for m in box) == ["ann@reel.test", "bob@reel.test"]


def test_file_transport_writes_one_eml_per_message_id(tmp_path):
    transport = FileTransport(tmp_path / "eml")
    message = make_message("ann@reel.test", mid="<1.abc/def@reel.test>")
    with transport.session() as session:
        session.send(SENDER, "ann@reel.test", message)
        session.send(SENDER, "ann@reel.test", message)  # a resend replaces, never duplicates
    (path,) = (tmp_path / "eml").iterdir()
    assert path.name == "1.abc_def@reel.test.eml"
    assert path.read_bytes() == message
    parsed = message_from_bytes(path.read_bytes())
    assert parsed["To"] == "ann@reel.test" and parsed.get_content_type() == "text/plain"


def test_message_id_is_read_from_folded_headers():
    raw = b"Subject: x\r\nMessage-ID:\r\n <folded@reel.test>\r\n\r\nMessage-ID: <body@x>\r\n"
    assert message_id_of(raw) == "folded@reel.test"
    assert message_id_of(b"Subject: none\r\n\r\nMessage-ID: <body@x>\r\n") == ""


def test_sessions_opened_at_once_on_a_new_maildir_all_deliver(tmp_path: Path):
    # serve sends confirmations from several threads; the first ones create the outbox.
    for round_ in range(20):
        transport = MaildirTransport(tmp_path / f"outbox{round_}")
        start = threading.Barrier(8)
        failures: list[Exception] = []

        def send(n: int, transport: MaildirTransport = transport,
                 start: threading.Barrier = start, failures: list[Exception] = failures) -> None:
            start.wait()
            try:
                with transport.session() as session:
                    session.send("list@example.org", f"r{n}@example.org",
                                 f"Subject: {n}\r\n\r\nhello\r\n".encode())
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(exc)

        at_once(send, [(n,) for n in range(8)])
        assert failures == []
        assert len(mailbox.Maildir(transport.path, create=False)) == 8
