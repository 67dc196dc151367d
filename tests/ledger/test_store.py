"""The ledger against a real SQLite file: migrations, subscribers, issues, slots, deliveries,
and two senders racing for the same deliveries."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.config import Config, StateSettings
from publisher.errors import (
    AlreadySubscribed,
    CsvError,
    InvalidAddress,
    SlotTaken,
    StoreError,
    Suppressed,
)
from publisher.ledger.csvfile import subscribers_csv_lines
from publisher.ledger.deliveries import Attempt
from publisher.ledger.migrate import migrate
from publisher.ledger.schema import MIGRATIONS, SCHEMA_REVISION, metadata
from publisher.ledger.store import Store, database_url, open_store
from publisher.models import SlotHistory, Trailer
from publisher.newsletter.policy import Action, Outcome
from publisher.render.digest import render_digest
from publisher.render.site import Site
from tests.fixtures import END_OF_TIME, at_once, make_issue

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def db_path(config: Config) -> Path:
    return config.root / ".publisher" / "state.db"


def raw_engine(config: Config) -> sa.Engine:
    """An engine on the publication's database, without publisher's store around it."""
    return sa.create_engine(database_url(config))


def add_many(store: Store, count: int) -> None:
    for i in range(count):
        store.add_subscriber(f"reader{i:04d}@example.org", f"Reader {i}", now=NOW)


def sent(delivery, reply: str = "250 OK", message_id: str = "") -> Attempt:
    """What the engine records for a 250."""
    return Attempt(delivery.id, delivery.subscriber_id, Outcome(Action.SENT, reply), message_id)


def new_issue(store: Store, *ids: str, **kwargs) -> int:
    return store.create_issue(subject="Issue", review_ids=ids or ("tag:x,2026:a",), now=NOW,
                              **kwargs).number


# --- opening and migrations -----------------------------------------------------------------


def test_open_creates_the_database_in_wal_mode_with_safe_pragmas(sqlite_config: Config):
    config = sqlite_config
    with open_store(config) as store, store._engine.connect() as conn:
        assert db_path(config).is_file()
        pragma = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")}
    assert pragma == {"journal_mode": "wal", "busy_timeout": 30000, "synchronous": 2,
                      "foreign_keys": 1}


def test_the_migrated_schema_matches_the_tables_the_store_queries(store: Store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store._engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(context, metadata)
    # Only differences that matter for queries: tables and columns.
    assert [d for d in diffs if d[0] in ("add_table", "remove_table", "add_column",
                                          "remove_column")] == []


def test_the_schema_revision_opened_without_alembic_is_the_newest_migration():
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_REVISION


def test_relative_database_path_is_taken_from_the_publication(tmp_path: Path):
    config = Config(title="T", base_url="https://t.test/", root=tmp_path / "pub",
                    state=StateSettings(database="sqlite:///var/ledger.db"))
    with open_store(config):
        pass
    assert (tmp_path / "pub" / "var" / "ledger.db").is_file()


def test_an_older_database_is_upgraded_on_open_keeping_its_data(empty_config: Config):
    config = empty_config
    engine = raw_engine(config)
    migrate(engine, "0001")
    with engine.begin() as conn:
        assert "slots" not in sa.inspect(conn).get_table_names()
        conn.execute(sa.text(
            "INSERT INTO subscribers (email, email_normalised, name, status, source, created_at,"
            " status_changed_at) VALUES ('old@example.org', 'old@example.org', 'Old', 'active',"
            " 'cli', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000')"))
        conn.execute(sa.text(
            "INSERT INTO issues (number, subject, state, slot, created_at, note_html) VALUES "
            "(1, 'First', 'sent', '2026-01-02 09:00:00.000000', '2026-01-02 09:00:00.000000', '')"))
    engine.dispose()

    with open_store(config) as store:
        assert [s.email for s in store.subscribers()] == ["old@example.org"]
        # 0002 created the slots table and recorded the old issue's slot in it.
        assert store.slot_history(END_OF_TIME).last == datetime(2026, 1, 2, 9, 0, tzinfo=UTC)
        assert store.slot_history(NOW).schedule is None  # 0007: its schedule is not known
        with pytest.raises(SlotTaken):
            store.create_issue(subject="again", review_ids=["r"], now=NOW,
                               slot=datetime(2026, 1, 2, 9, 0, tzinfo=UTC))
    with raw_engine(config).connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert version == SCHEMA_REVISION
        indexes = {ix["name"] for ix in sa.inspect(conn).get_indexes("deliveries")}
        issue_columns = {c["name"] for c in sa.inspect(conn).get_columns("issues")}
        slot_columns = {c["name"] for c in sa.inspect(conn).get_columns("slots")}
    assert "ix_deliveries_queue" in indexes  # the run's keyset pages (0005_delivery)
    assert "schedule" in slot_columns  # 0007: NULL for the old slot, its schedule unknown
    assert "paused_reason" in issue_columns  # 0003
    assert {"frozen_issue", "frozen_digest"} <= issue_columns  # 0004


def test_a_paused_issue_remembers_why_until_resumed(store: Store):
    number = new_issue(store)
    store.pause_issue(number, "the server refused a@example.org for policy reasons")
    assert store.issue(number).paused_reason.startswith("the server refused")
    assert store.resume_issue(number) is True
    assert store.issue(number).paused_reason == ""
    assert store.resume_issue(number) is False
    with pytest.raises(StoreError, match="no issue #99"):
        store.pause_issue(99, "x")


def test_a_database_from_a_newer_publisher_is_refused(config: Config):
    open_store(config).close()
    engine = raw_engine(config)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"0099_future.*created by a newer publisher; "
                                         r"upgrade publisher"):
        open_store(config)


def test_a_file_that_is_not_a_database_is_a_clear_error(sqlite_config: Config):
    path = db_path(sqlite_config)
    config = sqlite_config
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite, just some text " * 200)
    with pytest.raises(StoreError, match="the ledger is damaged .file is not a database"):
        open_store(config)


def test_a_malformed_database_url_names_the_key(tmp_path: Path):
    config = Config(title="T", base_url="https://t.test/", root=tmp_path,
                    state=StateSettings(database="not a url"))
    with pytest.raises(StoreError, match="state.database: 'not a url' is not a database URL"):
        open_store(config)


def test_times_are_stored_as_utc_and_naive_times_refused(store: Store):
    paris = timezone(timedelta(hours=1))
    sub = store.add_subscriber("tz@example.org", now=datetime(2026, 11, 20, 13, 0, tzinfo=paris))
    again = store.subscriber("tz@example.org")
    assert again is not None and again.created_at == NOW and again.created_at.tzinfo == UTC
    assert sub.id == again.id
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.add_subscriber("naive@example.org", now=datetime(2026, 11, 20, 12, 0))


# --- subscribers ------------------------------------------------------------------------------


def test_addresses_are_normalised_and_unique_whatever_their_case(store: Store):
    sub = store.add_subscriber("  Jane.Doe@Example.ORG ", "  Jane   Doe ", now=NOW)
    assert (sub.email, sub.name, sub.status, sub.source) == (
        "Jane.Doe@example.org", "Jane Doe", "active", "cli")
    with pytest.raises(AlreadySubscribed, match="Jane.Doe@example.org is already subscribed"):
        store.add_subscriber("jane.doe@EXAMPLE.org", now=NOW)
    assert len(store.subscribers()) == 1


def test_an_international_domain_is_stored_in_its_deliverable_ascii_form(store: Store):
    assert store.add_subscriber("ann@BÜCHER.example", now=NOW).email == (
        "ann@xn--bcher-kva.example")
    with pytest.raises(AlreadySubscribed):
        store.add_subscriber("ANN@xn--bcher-kva.example", now=NOW)
    # A non-ASCII local part needs SMTPUTF8 whatever the domain: kept in Unicode.
    assert store.add_subscriber("Zoë@Exämple.ORG", now=NOW).email == "Zoë@exämple.org"
    with pytest.raises(AlreadySubscribed):
        store.add_subscriber("zoë@xn--exmple-cua.org", now=NOW)


@pytest.mark.parametrize("bad", ["", "no-at-sign", "two@@example.org", "a@b", "x@example..org"])
def test_invalid_addresses_are_refused(store: Store, bad: str):
    with pytest.raises(InvalidAddress):
        store.add_subscriber(bad, now=NOW)
    assert store.subscribers() == []


def test_someone_who_left_is_not_subscribed_again_without_force(store: Store):
    store.add_subscriber("gone@example.org", "Gone", now=NOW)
    store.set_subscriber_status("GONE@example.org", "unsubscribed", now=LATER)
    with pytest.raises(Suppressed, match="gone@example.org is unsubscribed.*--force"):
        store.add_subscriber("gone@example.org", now=LATER)
    back = store.add_subscriber("gone@example.org", now=LATER, force=True)
    assert back.status == "active" and back.name == "Gone"
    assert store.subscriber_counts() == {"active": 1, "unsubscribed": 0, "bounced": 0,
                                         "complained": 0}


def test_status_filter_and_unknown_addresses(store: Store):
    store.add_subscriber("a@example.org", now=NOW)
    store.add_subscriber("b@example.org", now=NOW)
    store.set_subscriber_status("b@example.org", "complained", now=NOW)
    assert [s.email for s in store.subscribers("active")] == ["a@example.org"]
    assert [s.email for s in store.subscribers("complained")] == ["b@example.org"]
    with pytest.raises(StoreError, match="no subscriber 'c@example.org'"):
        store.set_subscriber_status("c@example.org", "unsubscribed", now=NOW)
    with pytest.raises(StoreError, match="no subscriber"):
        store.remove_subscriber("c@example.org")
    store.remove_subscriber("A@EXAMPLE.ORG")
    assert [s.email for s in store.subscribers()] == ["b@example.org"]


def write_csv(tmp_path: Path, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / "subscribers.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def test_csv_import_reports_every_invalid_row_with_its_line(store: Store, tmp_path: Path):
    store.add_subscriber("known@example.org", now=NOW)
    store.add_subscriber("left@example.org", now=NOW)
    store.set_subscriber_status("left@example.org", "bounced", now=NOW)
    path = write_csv(tmp_path, (
        "Email,Name\n"                          # 1 header (any case, BOM before it)
        "ada@example.com,Ada Reader\n"          # 2 added
        "not-an-address,Bad\n"                  # 3 invalid
        "\n"                                    # 4 blank: ignored
        '"bo@example.net","Bo, ""the"" Reader\n'  # 5-6 quoted name over two lines
        'and friend"\n'
        ",No Address\n"                         # 7 missing email
        "ADA@example.com,Ada Again\n"           # 8 duplicate in the file
        "known@example.org,Known\n"             # 9 duplicate in the database
        "left@example.org,Left\n"               # 10 bounced: suppressed
        "cy@example.org,Cy,extra\n"             # 11 too many fields
        "dee@example.org\n"                     # 12 added, no name
    ), bom=True)
    report = store.import_subscribers_csv(path, now=NOW)
    assert (report.added, report.duplicates, report.suppressed) == (3, 2, 1)
    assert [p.split(":")[1] for p in report.problems] == ["3", "7", "11"]
    assert "not-an-address" in report.problems[0] and report.problems[0].startswith(str(path))
    assert "email: missing" in report.problems[1]
    assert "3 fields" in report.problems[2]
    assert {s.email: s.name for s in store.subscribers("active")} == {
        "ada@example.com": "Ada Reader", "bo@example.net": 'Bo, "the" Reader and friend',
        "dee@example.org": "", "known@example.org": ""}
    assert store.subscriber("left@example.org").status == "bounced"
    assert store.subscriber("ada@example.com").source == "import:subscribers.csv"
    assert report.summary() == (
        "added 3 subscribers; 2 duplicates skipped; 1 not subscribed again (they unsubscribed, "
        "bounced or complained before; --force subscribes them); 3 invalid rows rejected")


def test_an_unclosed_quote_is_named_with_the_lines_it_swallowed(store: Store, tmp_path: Path):
    path = write_csv(tmp_path, (
        "email,name\n"
        "ada@example.com,Ada\n"
        '"bo@example.net,Bo\n'       # 3: the quote is never closed...
        "cy@example.org,Cy\n"         # ...so these lines become part of row 3
        "dee@example.org,Dee\n"
    ))
    report = store.import_subscribers_csv(path, now=NOW)
    assert report.added == 1
    assert report.problems == (f'{path}:3: email: a quote (") on this line is not closed, so '
                               "lines 3-5 were read as one row; remove or close the quote",)


def test_csv_import_with_force_subscribes_suppressed_addresses_again(store: Store,
                                                                     tmp_path: Path):
    store.add_subscriber("left@example.org", now=NOW)
    store.set_subscriber_status("left@example.org", "unsubscribed", now=NOW)
    path = write_csv(tmp_path, "email,name\nleft@example.org,Left\n")
    report = store.import_subscribers_csv(path, now=LATER, force=True)
    assert (report.added, report.suppressed) == (1, 0)
    assert store.subscriber("left@example.org").status == "active"


MAILCHIMP_COLUMNS = ("Email Address,First Name,Last Name,Company,MEMBER_RATING,OPTIN_TIME,"
                     "CONFIRM_TIME,GMTOFF,DSTOFF,TIMEZONE,LEID,EUID,NOTES,TAGS")


def test_a_mailchimp_export_imports_as_it_is_keeping_who_left_off_the_list(
        store: Store, tmp_path: Path):
    # Mailchimp exports an audience as three files; each imports as it is.
    subscribed = tmp_path / "subscribed_members_export.csv"
    subscribed.write_text(
        f"\ufeff{MAILCHIMP_COLUMNS}\n"
        "ann@example.org,Ann, Lee ,Reel Co,2,2024-01-05 10:00:00,2024-01-05 10:01:00,0,0,,1,a,,\n"
        'bo@example.org,,,,1,2024-02-01 09:00:00,,0,0,,2,b,,"""Critics"""\n', encoding="utf-8")
    unsubscribed = tmp_path / "unsubscribed_members_export.csv"
    unsubscribed.write_text(
        f"{MAILCHIMP_COLUMNS},UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_REASON\n"
        "cy@example.org,Cy,,,1,2023-01-01 08:00:00,,0,0,,3,c,,,2024-03-01 12:00:00,Issue 9,\n",
        encoding="utf-8")
    cleaned = tmp_path / "cleaned_members_export.csv"
    cleaned.write_text(
        f"{MAILCHIMP_COLUMNS},CLEAN_TIME,CLEAN_CAMPAIGN_TITLE\n"
        "dee@example.org,,,,1,2023-01-01 08:00:00,,0,0,,4,d,,,2024-04-01 12:00:00,Issue 10\n",
        encoding="utf-8")
    report = store.import_subscribers_csv(subscribed, now=NOW)
    assert report.summary() == ("added 2 subscribers; columns left out: Company, MEMBER_RATING, "
                                "GMTOFF, DSTOFF and 5 more")
    assert store.import_subscribers_csv(unsubscribed, now=NOW).recorded == 1
    assert store.import_subscribers_csv(cleaned, now=NOW).recorded == 1
    assert {(s.email, s.name, s.status) for s in store.subscribers()} == {
        ("ann@example.org", "Ann Lee", "active"), ("bo@example.org", "", "active"),
        ("cy@example.org", "Cy", "unsubscribed"), ("dee@example.org", "", "bounced")}
    # On record: the subscribed file imported again (an older copy, say) does not bring back
    # anyone who left since.
    again = write_csv(tmp_path, "Email Address,First Name\ncy@example.org,Cy\n")
    assert store.import_subscribers_csv(again, now=LATER).suppressed == 1
    assert store.subscriber("cy@example.org").status == "unsubscribed"


def consent(store: Store, email: str) -> tuple:
    """When they joined, and their consent, as their data download shows them."""
    held = store.subscriber_data(email)["subscriber"]
    return (held["created_at"], *held["consent"].values())


@pytest.mark.parametrize(("text", "expected"), [
    # Mailchimp, in UTC without saying so; a single opt-in's IP is its CONFIRM_IP.
    ("Email Address,First Name,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LEID\n"
     "ann@example.org,Ann,2019-03-04 10:22:11,203.0.113.7,2019-03-04 10:25:40,203.0.113.8,1\n"
     "bo@example.org,Bo,,,2020-05-06 07:00:00,2001:db8::1,2\n",
     {"ann@example.org": ("2019-03-04T10:25:40+00:00", "2019-03-04T10:22:11+00:00",
                          "203.0.113.7", "", "2019-03-04T10:25:40+00:00"),
      "bo@example.org": ("2020-05-06T07:00:00+00:00", None, "2001:db8::1", "",
                         "2020-05-06T07:00:00+00:00")}),
    # Buttondown: when the subscriber was created, and the address they subscribed from.
    ("id,email,creation_date,subscriber_type,ip_address\n"
     "a1,ann@example.org,2022-03-04T10:00:00+01:00,regular,198.51.100.4\n",
     {"ann@example.org": ("2022-03-04T09:00:00+00:00", None, "198.51.100.4", "", None)}),
    # Kit, its times followed by UTC; Substack's in ISO 8601.
    ("first_name,email_address,created_at\nAnn,ann@example.org,2021-01-01 10:00:00 UTC\n",
     {"ann@example.org": ("2021-01-01T10:00:00+00:00", None, None, "", None)}),
    ("email,active_subscription,email_disabled,created_at\n"
     "ann@example.org,false,false,2024-01-01T10:00:00.000Z\n",
     {"ann@example.org": ("2024-01-01T10:00:00+00:00", None, None, "", None)}),
])
def test_other_tools_exports_keep_when_and_how_each_person_consented(
        store: Store, tmp_path: Path, text: str, expected: dict):
    report = store.import_subscribers_csv(write_csv(tmp_path, text), now=NOW)
    assert report.problems == ()
    assert {email: consent(store, email) for email in expected} == expected


def test_an_import_keeps_a_subscribers_own_consent_and_the_time_they_left(store: Store,
                                                                       tmp_path: Path):
    store.add_subscriber("known@example.org", now=NOW)
    path = write_csv(tmp_path, (
        "Email Address,OPTIN_TIME,OPTIN_IP,UNSUB_TIME\n"
        "known@example.org,2019-03-04 10:22:11,203.0.113.7,\n"
        "left@example.org,2019-03-04 10:22:11,203.0.113.7,2023-01-01 10:00:00\n"))
    report = store.import_subscribers_csv(path, now=LATER)
    assert (report.duplicates, report.recorded) == (1, 1)
    # who is on the list already keeps their own record (none, here: added by hand)
    assert consent(store, "known@example.org") == (NOW.isoformat(), None, None, "", None)
    # who left, left when the file says
    assert store.subscriber("left@example.org").status_changed_at == datetime(
        2023, 1, 1, 10, 0, tzinfo=UTC)


def test_a_time_or_an_address_of_another_tool_that_is_not_one_refuses_the_row(
        store: Store, tmp_path: Path):
    path = write_csv(tmp_path, (
        "Email Address,OPTIN_TIME,OPTIN_IP\n"
        "ann@example.org,2019-03-04 10:22:11,203.0.113.7\n"
        "bo@example.org,last Tuesday,\n"
        "cy@example.org,,localhost\n"))
    report = store.import_subscribers_csv(path, now=NOW)
    assert report.problems == (
        f"{path}:3: OPTIN_TIME: 'last Tuesday' is not a time; write it as 2026-11-20 12:00:00 "
        "(read as UTC) or 2026-11-20T12:00:00+01:00, or empty the cell",
        f"{path}:4: OPTIN_IP: 'localhost' is not an IP address; correct it or empty the cell")
    assert [s.email for s in store.subscribers()] == ["ann@example.org"]


@pytest.mark.parametrize(("text", "expected"), [
    # Ghost: subscribed_to_emails false is someone who unsubscribed.
    ("id,email,name,note,subscribed_to_emails,complimentary_plan,stripe_customer_id,created_at,"
     "deleted_at,labels,tiers\n"
     "1,ann@example.org,Ann,,true,false,,2022-03-16T08:03:11.000Z,,,\n"
     "2,bo@example.org,Bo,,false,false,,2022-03-16T08:03:11.000Z,,,\n",
     {("ann@example.org", "Ann", "active"), ("bo@example.org", "Bo", "unsubscribed")}),
    # Listmonk: its words for a status.
    ("uuid,email,name,attributes,status,created_at,updated_at\n"
     "u1,ann@example.org,Ann,{},enabled,2024-01-01 10:00:00.123456+00,\n"
     "u2,bo@example.org,Bo,{},blocklisted,2024-01-01 10:00:00+00,\n",
     {("ann@example.org", "Ann", "active"), ("bo@example.org", "Bo", "unsubscribed")}),
    # Kit, its state column renamed status (as the refusal below asks): cancelled is someone
    # who unsubscribed, cold someone still subscribed.
    ("first_name,email_address,status,created_at\n"
     "Ann,ann@example.org,cold,2024-01-01T10:00:00Z\n"
     "Bo,bo@example.org,cancelled,2024-01-01T10:00:00Z\n",
     {("ann@example.org", "Ann", "active"), ("bo@example.org", "Bo", "unsubscribed")}),
    # MailerLite: junk is a complaint.
    ("Email,Name,Status\nann@example.org,Ann,active\nbo@example.org,Bo,junk\n",
     {("ann@example.org", "Ann", "active"), ("bo@example.org", "Bo", "complained")}),
    # Substack: email_disabled.
    ("email,active_subscription,expiry,plan,email_disabled,created_at\n"
     "ann@example.org,false,,,false,2024-01-01T10:00:00.000Z\n"
     "bo@example.org,false,,,true,2024-01-01T10:00:00.000Z\n",
     {("ann@example.org", "", "active"), ("bo@example.org", "", "unsubscribed")}),
])
def test_other_tools_exports_import_with_who_left_recorded(store: Store, tmp_path: Path,
                                                            text: str, expected: set):
    report = store.import_subscribers_csv(write_csv(tmp_path, text), now=NOW)
    assert report.problems == ()
    assert {(s.email, s.name, s.status) for s in store.subscribers()} == expected


def test_a_buttondown_export_reads_its_subscriber_type_as_the_status(store: Store,
                                                                     tmp_path: Path):
    types = {"regular": "active", "premium": "active", "gifted": "active", "trialed": "active",
             "past_due": "active", "churning": "active", "paused": "active", "unpaid": "active",
             "unsubscribed": "unsubscribed", "removed": "unsubscribed",
             "spammy": "unsubscribed", "undeliverable": "bounced"}
    rows = "".join(f"a{i},{kind}@example.org,2022-03-04T10:00:00+00:00,embed_form,{kind},"
                   "198.51.100.4\n" for i, kind in enumerate([*types, "unactivated"]))
    path = write_csv(tmp_path,
                     "id,email,creation_date,source,subscriber_type,ip_address\n" + rows)
    report = store.import_subscribers_csv(path, now=NOW)
    # never confirmed: no consent to import, counted as such (not a row to fix)
    assert report.problems == ()
    assert {s.email: s.status for s in store.subscribers()} == {
        f"{kind}@example.org": status for kind, status in types.items()}
    assert report.summary() == ("added 8 subscribers; 4 recorded as unsubscribed, bounced or "
                                "complained, as the file says (kept off the list); 1 left out "
                                "as the file says they never confirmed their subscription (no "
                                "consent to mail them; the subscribe form asks them again); "
                                "columns left out: id")


def test_a_column_this_import_does_not_read_saying_someone_left_refuses_the_row(
        store: Store, tmp_path: Path):
    path = write_csv(tmp_path, "email,nom,type\nann@example.org,Ann,regular\n"
                               "bo@example.org,Bo,Unsubscribed\n"
                               "cy@example.org,Cy,cancelled\n")  # Kit's state column's word
    report = store.import_subscribers_csv(path, now=NOW)
    assert report.problems == (
        f"{path}:3: type: says 'Unsubscribed', and publisher reads whether someone left only "
        "from a column named status; rename the column to status, or leave the row out",
        f"{path}:4: type: says 'cancelled', and publisher reads whether someone left only "
        "from a column named status; rename the column to status, or leave the row out")
    assert report.summary() == ("added 1 subscriber; 2 invalid rows rejected; columns left out: "
                                "nom, type")
    assert [s.email for s in store.subscribers()] == ["ann@example.org"]


def test_a_status_that_was_never_confirmed_is_left_out_and_counted(store: Store, tmp_path: Path):
    # Kit's inactive and Mailchimp's pending: no consent to import. Every such export has some,
    # and nothing in the file is wrong: counted, not a rejected row (which would fail the
    # import's exit status and ask the editor to edit the file).
    path = write_csv(tmp_path, "email_address,status\nann@example.org,active\n"
                               "bo@example.org,inactive\ncy@example.org,Pending\n")
    report = store.import_subscribers_csv(path, now=NOW)
    assert (report.problems, report.unconfirmed) == ((), 2)
    assert report.summary().startswith("added 1 subscriber; 2 left out as the file says they "
                                       "never confirmed their subscription")
    assert [s.email for s in store.subscribers()] == ["ann@example.org"]


@pytest.mark.parametrize(("text", "expected"), [
    # Excel in European locales separates with semicolons.
    ("Email Address;First Name;Last Name\r\nhelene@example.fr;Hélène;Garçon\r\n",
     "Hélène Garçon"),
    ("\n\nemail\tname\nhelene@example.fr\tHélène Garçon\n", "Hélène Garçon"),
    # the separator is the one that finds the address's column, whatever the rows hold
    ("email,name\nhelene@example.fr,Hélène; Garçon\n", "Hélène; Garçon"),
])
def test_a_file_separated_by_semicolons_or_tabs_reads_as_it_is(store: Store, tmp_path: Path,
                                                                text: str, expected: str):
    report = store.import_subscribers_csv(write_csv(tmp_path, text, bom=True), now=NOW)
    assert (report.added, report.problems) == (1, ())
    assert store.subscriber("helene@example.fr").name == expected


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty; the first line must be a header"),
    (b"ada@example.com,Ada\n", ":1: the first line must be a header naming the columns"),
    (b"mail,name\nada@example.com,Ada\n", ":1: no 'email' column"),
    (b"email,name\nad\xe9@example.com,Ad\xe9\n", ":2: not UTF-8 text"),
])
def test_unreadable_csv_files_are_refused_whole(store: Store, tmp_path: Path, content: bytes,
                                                message: str):
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(CsvError, match=message):
        store.import_subscribers_csv(path, now=NOW)
    assert store.subscribers() == []


def test_each_subscriber_reads_the_list_in_batches_as_subscribers_gives_it(store: Store):
    # Upper case and a lower-case twin around each batch's edge: batches go by the same key
    # as the order, the normalised address, so no one is read twice or skipped.
    for address in ("b@example.org", "A@example.org", "c@example.org", "d@example.org",
                    "e@example.org", "Émile@example.org", "f@example.org"):
        store.add_subscriber(address, now=NOW)
    store.set_subscriber_status("c@example.org", "unsubscribed", now=NOW)
    for batch in (1, 2, 3, 1000):
        assert list(store.each_subscriber(batch=batch)) == store.subscribers()
        assert (list(store.each_subscriber("active", batch=batch))
                == store.subscribers("active"))
    assert [s.email for s in store.each_subscriber("unsubscribed", batch=1)] == [
        "c@example.org"]
    assert store.subscriber_widths() == (len("Émile@example.org"), len("cli"))
    assert store.subscriber_widths("bounced") == (0, 0)


def test_export_and_import_round_trip_keeps_suppressions(store: Store, tmp_path: Path,
                                                         publication):
    store.add_subscriber("a@example.org", "Ann", now=NOW)
    store.add_subscriber("b@example.org", "Ben, Jr.", now=NOW)
    store.set_subscriber_status("b@example.org", "unsubscribed", now=NOW)
    text = "".join(subscribers_csv_lines(store.subscribers()))
    assert text.splitlines() == [
        "email,name,status,source,created_at,consent_at,consent_ip,consent_form,confirmed_at",
        "a@example.org,Ann,active,cli,2026-11-20T12:00:00+00:00,,,,",
        'b@example.org,"Ben, Jr.",unsubscribed,cli,2026-11-20T12:00:00+00:00,,,,',
    ]
    path = write_csv(tmp_path, text)
    other = dataclasses.replace(publication.config,
                                state=StateSettings(database=f"sqlite:///{tmp_path}/other.db"))
    with open_store(other) as fresh:
        report = fresh.import_subscribers_csv(path, now=LATER)
        # the unsubscribed row is recorded as the file says: not "suppressed … not subscribed"
        assert (report.added, report.recorded, report.suppressed) == (1, 1, 0)
        assert report.summary() == ("added 1 subscriber; 1 recorded as unsubscribed, bounced or "
                                    "complained, as the file says (kept off the list)")
        assert [(s.email, s.status) for s in fresh.subscribers()] == [
            ("a@example.org", "active"), ("b@example.org", "unsubscribed")]
        # when and how they joined travels with them
        assert {(s.source, s.created_at) for s in fresh.subscribers()} == {("cli", NOW)}


def test_export_and_import_move_each_persons_consent(store: Store, tmp_path: Path,
                                                     publication):
    _, request = store.request_subscription("ann@example.org", "Ann", form="home-page",
                                            ip="203.0.113.7", now=NOW,
                                            expires=NOW + timedelta(days=2), per_day=5)
    store.confirm_subscription(request.id, "ann@example.org", now=LATER)
    store.add_subscriber("bo@example.org", now=NOW)
    assert consent(store, "ann@example.org") == (
        LATER.isoformat(), NOW.isoformat(), "203.0.113.7", "home-page", LATER.isoformat())
    text = "".join(subscribers_csv_lines(store.subscribers()))
    assert text.splitlines()[0] == ("email,name,status,source,created_at,consent_at,consent_ip,"
                                    "consent_form,confirmed_at")
    other = dataclasses.replace(publication.config,
                                state=StateSettings(database=f"sqlite:///{tmp_path}/other.db"))
    with open_store(other) as fresh:
        assert fresh.import_subscribers_csv(write_csv(tmp_path, text), now=LATER).added == 2
        for email in ("ann@example.org", "bo@example.org"):
            assert consent(fresh, email) == consent(store, email)


def test_bytes_that_are_not_utf8_after_valid_rows_import_nothing(store: Store, tmp_path: Path):
    # The file streams: rows before the bad line were already staged, and are rolled back.
    path = tmp_path / "in.csv"
    path.write_bytes(b"email,name\na@example.org,Ann\nb@example.org,Ben\nc@example.org,C\xe9\n")
    with pytest.raises(CsvError, match=r"in.csv:4: not UTF-8 text \(byte 0xe9\)"):
        store.import_subscribers_csv(path, now=NOW)
    assert store.subscribers() == []
    path.write_bytes(b"email,name\na@example.org,Ann\n")
    assert store.import_subscribers_csv(path, now=NOW).added == 1  # nothing left behind


def test_a_suppression_in_an_imported_file_fails_what_was_queued(store: Store, tmp_path: Path):
    add_many(store, 3)
    number = new_issue(store)
    store.queue_deliveries(number, now=NOW)
    path = write_csv(tmp_path, (
        "email,name,status\n"
        "reader0001@example.org,Reader 1,unsubscribed\n"
        "reader0001@example.org,Reader 1,active\n"      # a repeat: the first row counts
        "reader0002@example.org,Reader 2,complained\n"
        "new@example.org,New,bounced\n"
    ))
    report = store.import_subscribers_csv(path, now=LATER)
    assert (report.added, report.duplicates, report.suppressed, report.recorded) == (0, 1, 0, 3)
    statuses = {s.email: s.status for s in store.subscribers()}
    assert statuses == {"reader0000@example.org": "active",
                        "reader0001@example.org": "unsubscribed",
                        "reader0002@example.org": "complained", "new@example.org": "bounced"}
    replies = {d.email: (d.status, d.last_reply) for d in store.deliveries(number)}
    assert replies == {"reader0000@example.org": ("queued", ""),
                       "reader0001@example.org": ("failed", "not sent: subscriber unsubscribed"),
                       "reader0002@example.org": ("failed", "not sent: subscriber complained")}
    assert store.subscriber("reader0001@example.org").created_at == NOW  # not re-created


@pytest.mark.parametrize("text", [
    "email,name,status\n"
    "same.person@example.com,Same,active\n"
    "known@example.org,Known,active\n"
    "Same.Person@Example.com,Same,unsubscribed\n"
    "KNOWN@example.org,Known,unsubscribed\n",
    # Mailchimp's files joined into one: a later row's UNSUB_TIME says they left.
    "Email Address,First Name,UNSUB_TIME\n"
    "same.person@example.com,Same,\n"
    "known@example.org,Known,\n"
    "SAME.PERSON@example.com,Same,2023-01-01 10:00:00\n"
    "KNOWN@example.org,Known,2023-01-01 10:00:00\n",
])
def test_a_later_row_of_the_same_address_saying_it_left_wins_over_an_active_one(
        store: Store, tmp_path: Path, text: str):
    store.add_subscriber("known@example.org", now=NOW)
    report = store.import_subscribers_csv(write_csv(tmp_path, text), now=LATER)
    assert (report.added, report.duplicates, report.recorded) == (0, 2, 2)
    assert report.summary().startswith("added 0 subscribers; 2 duplicates skipped; 2 recorded")
    assert {s.email.lower(): s.status for s in store.subscribers()} == {
        "same.person@example.com": "unsubscribed", "known@example.org": "unsubscribed"}


def test_importing_the_same_file_twice_adds_nobody_the_second_time(store: Store,
                                                                    tmp_path: Path):
    path = write_csv(tmp_path, "email,name\n" + "".join(
        f"person{i}@example.org,Person {i}\n" for i in range(2500)))
    assert store.import_subscribers_csv(path, now=NOW).added == 2500
    again = store.import_subscribers_csv(path, now=LATER)
    assert (again.added, again.duplicates, again.suppressed) == (0, 2500, 0)
    assert store.subscriber_counts()["active"] == 2500


def test_an_imported_join_time_must_carry_its_offset(store: Store, tmp_path: Path):
    path = write_csv(tmp_path, (
        "email,name,created_at\n"
        "a@example.org,Ann,2026-01-05T08:00:00+01:00\n"
        "b@example.org,Ben,2026-01-05 08:00\n"
        "c@example.org,Cy,last Tuesday\n"
        "d@example.org,Dee,\n"
    ))
    report = store.import_subscribers_csv(path, now=NOW)
    assert report.added == 2
    assert [p.split(":", 2)[1:] for p in report.problems] == [
        ["3", " created_at: '2026-01-05 08:00' is not an ISO 8601 time with a UTC offset, "
              "e.g. 2026-11-20T12:00:00+00:00"],
        ["4", " created_at: 'last Tuesday' is not an ISO 8601 time with a UTC offset, "
              "e.g. 2026-11-20T12:00:00+00:00"]]
    joined = {s.email: (s.source, s.created_at) for s in store.subscribers()}
    assert joined == {"a@example.org": ("import:subscribers.csv", datetime(2026, 1, 5, 7, 0,
                                                                           tzinfo=UTC)),
                      "d@example.org": ("import:subscribers.csv", NOW)}


# --- issues and slots -------------------------------------------------------------------------


def test_issue_numbers_follow_on_and_are_never_reused(store: Store):
    assert store.last_issue() is None
    first = store.create_issue(subject="One", review_ids=["r1", "r2"], now=NOW, note_html="<p>Hi")
    assert (first.number, first.state, first.review_ids, first.note_html) == (
        1, "draft", ("r1", "r2"), "<p>Hi")
    assert store.issued_review_ids() == {"r1", "r2"}
    cancelled = store.cancel_issue(1, now=NOW)
    # The cancelled issue keeps its record, but its reviews are free again.
    assert cancelled.review_ids == ("r1", "r2") and cancelled.state == "cancelled"
    assert store.issued_review_ids() == set()
    second = store.create_issue(subject="Two", review_ids=["r2", "r1"], now=NOW)
    assert second.number == 2 and second.review_ids == ("r2", "r1")
    assert [i.number for i in store.issues()] == [1, 2]
    assert store.last_issue() == second
    assert store.issue(1).state == "cancelled"


def test_a_review_goes_into_one_live_issue_only(store: Store):
    new_issue(store, "r1", "r2")
    with pytest.raises(StoreError, match="review r2 is already in issue #1"):
        new_issue(store, "r3", "r2")
    assert [i.number for i in store.issues()] == [1]


def test_an_expected_number_guards_against_a_concurrent_compose(store: Store):
    new_issue(store, "r1")
    with pytest.raises(StoreError, match="cannot create issue #1: the next number is #2"):
        store.create_issue(subject="#1", review_ids=["r2"], now=NOW, number=1)
    assert store.create_issue(subject="#2", review_ids=["r2"], now=NOW, number=2).number == 2


def test_missing_issue_is_named(store: Store):
    with pytest.raises(StoreError, match="no issue #4; there are no issues yet"):
        store.issue(4)
    new_issue(store, "r1")
    new_issue(store, "r2")
    with pytest.raises(StoreError, match="no issue #4; issues are #1 to #2"):
        store.issue(4)


def test_an_issue_frozen_for_sending_keeps_its_reviews_trailers(store: Store, config: Config):
    # The web archive renders a sent issue from what was frozen: its trailer links too.
    issue = make_issue(config, 2, number=1)
    with_trailer = dataclasses.replace(issue.reviews[0], trailer=Trailer("vimeo", "7", "ab12"))
    issue = dataclasses.replace(issue, reviews=(with_trailer, issue.reviews[1]))
    new_issue(store, *(review.id for review in issue.reviews))
    store.start_sending(render_digest(issue, Site.from_config(config)), now=NOW)
    frozen = store.frozen_issue(1)
    assert [review.trailer for review in frozen.reviews] == [Trailer("vimeo", "7", "ab12"), None]


def test_only_a_draft_can_be_cancelled(store: Store):
    new_issue(store, "r1")
    store.queue_deliveries(1, now=NOW)  # nobody subscribed: sending, with nothing to send
    with pytest.raises(StoreError, match="issue #1 is sending: only a draft issue can be "
                                         "cancelled, before sending starts"):
        store.cancel_issue(1, now=NOW)
    sent = store.finish_if_done(1, now=LATER)
    assert (sent.state, sent.sent_at) == ("sent", LATER)
    with pytest.raises(StoreError, match="issue #1 is sent: only a draft issue can be"):
        store.cancel_issue(1, now=LATER)
    assert store.issued_review_ids() == {"r1"}


def test_a_slot_holds_one_issue_or_one_outcome(store: Store):
    slot = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert store.slot_history(END_OF_TIME).last is None
    new_issue(store, "r1", slot=slot)
    assert store.slot_outcome(slot) == ("issued", 1)
    with pytest.raises(SlotTaken, match="2026-11-20 09:00 UTC is already taken \\(issue #1\\)"):
        new_issue(store, "r2", slot=slot.astimezone(timezone(timedelta(hours=-5))))
    assert [i.number for i in store.issues()] == [1]
    assert store.record_slot(slot, "skipped", now=NOW) is False
    earlier = slot - timedelta(days=7)
    assert store.record_slot(earlier, "skipped", now=NOW) is True
    assert store.record_slot(earlier, "empty", now=NOW) is False
    assert store.slot_outcome(earlier) == ("skipped", None)
    assert store.slot_history(END_OF_TIME).last == slot
    later = slot + timedelta(days=7)
    assert store.record_slot(later, "empty", now=NOW) is True
    assert store.slot_history(END_OF_TIME).last == later
    with pytest.raises(SlotTaken, match=r"\(empty\)"):
        new_issue(store, "r2", slot=later)


def test_slot_history_goes_on_from_the_last_slot_before_now_with_its_schedule(store: Store):
    slot = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    fridays, mondays = "0 9 * * FRI Europe/London", "0 9 * * MON Europe/London"
    assert store.slot_history(NOW) == SlotHistory()
    store.create_issue(subject="One", review_ids=["r1"], now=NOW, slot=slot, schedule=fridays)
    ahead = slot + timedelta(weeks=8)  # recorded by a run whose clock was ahead
    assert store.record_slot(ahead, "empty", now=ahead, schedule=fridays) is True
    assert store.record_slot(slot - timedelta(days=7), "skipped", now=NOW) is True  # no schedule
    assert store.slot_history(NOW) == SlotHistory(last=slot, schedule=fridays, ahead=ahead)
    assert store.slot_history(ahead) == SlotHistory(last=ahead, schedule=fridays)
    store.record_schedule(slot, mondays)
    assert store.slot_history(NOW).schedule == mondays
    assert store.slot_history(slot - timedelta(days=1)) == SlotHistory(
        last=slot - timedelta(days=7), schedule=None, ahead=ahead)


# --- deliveries ---------------------------------------------------------------------------------


def test_queueing_is_one_per_active_subscriber_and_idempotent(store: Store):
    add_many(store, 3)
    store.add_subscriber("left@example.org", now=NOW)
    store.set_subscriber_status("left@example.org", "unsubscribed", now=NOW)
    number = new_issue(store, "r1")
    assert store.queue_deliveries(number, now=NOW) == 3
    assert store.issue(number).state == "sending"
    assert store.queue_deliveries(number, now=NOW) == 0
    store.add_subscriber("late@example.org", now=LATER)
    assert store.queue_deliveries(number, now=LATER) == 1
    assert store.delivery_counts(number) == {"queued": 4, "sending": 0, "sent": 0, "failed": 0,
                                             "bounced": 0, "skipped": 0}
    assert "left@example.org" not in {d.email for d in store.deliveries(number)}
    for d in store.due_deliveries(number, now=LATER):
        store.claim([d.id], now=LATER)
        store.record([Attempt(d.id, d.subscriber_id, Outcome(Action.SENT, "250"))], now=LATER)
    assert store.finish_if_done(number, now=LATER).state == "sent"
    with pytest.raises(StoreError, match="issue #1 is sent; it cannot be queued"):
        store.queue_deliveries(number, now=LATER)


def test_a_claim_takes_each_delivery_once_and_a_250_is_recorded_once(store: Store):
    add_many(store, 5)
    number = new_issue(store)
    store.queue_deliveries(number, now=NOW)
    due = store.due_deliveries(number, now=NOW, limit=3)
    assert [d.email for d in due] == [f"reader{i:04d}@example.org" for i in range(3)]
    ids = [d.id for d in due]
    assert store.claim(ids, now=NOW) == ids
    assert store.claim(ids + [999], now=NOW) == []
    assert {d.id for d in store.due_deliveries(number, now=NOW)}.isdisjoint(ids)
    store.record([sent(due[0], "250 2.0.0 Ok: queued", "<a@x>")], now=NOW)
    done = store.delivery(ids[0])
    assert (done.status, done.attempts, done.last_reply, done.message_id) == (
        "sent", 1, "250 2.0.0 Ok: queued", "<a@x>")
    # Recording it again changes nothing: it is no longer sending.
    store.record([sent(due[0], "250 again", "<b@x>")], now=LATER)
    assert store.delivery(ids[0]) == done


def test_one_transaction_records_a_group_of_replies_and_claims_the_next(store: Store):
    add_many(store, 6)
    number = new_issue(store)
    store.queue_deliveries(number, now=NOW)
    due = store.due_deliveries(number, now=NOW)
    ids = [d.id for d in due]
    store.claim(ids[:3], now=NOW)
    taken = store.record([sent(d, f"250 ok {d.id}", f"<{d.id}@x>") for d in due[:4]],
                         claim=ids[4:], now=NOW)
    assert taken == ids[4:]
    # ids[3] was never claimed: a 250 for it is not recorded
    assert [store.delivery(i).status for i in ids] == [
        "sent", "sent", "sent", "queued", "sending", "sending"]
    assert store.delivery(ids[1]).message_id == f"<{ids[1]}@x>"
    assert store.delivery_counts(number)["sent"] == 3


def test_retry_backs_off_and_failure_suppresses_bounced_subscribers(store: Store):
    add_many(store, 3)
    number = new_issue(store, "r1")
    store.queue_deliveries(number, now=NOW)
    first, second, third = store.due_deliveries(number, now=NOW)
    d0, d1, d2 = first.id, second.id, third.id
    store.claim([d0, d1, d2], now=NOW)

    store.record([Attempt(d0, first.subscriber_id,
                          Outcome(Action.RETRY, "451 4.3.0 try later", retry_at=LATER))], now=NOW)
    retried = store.delivery(d0)
    assert (retried.status, retried.attempts, retried.next_attempt_at) == ("queued", 1, LATER)
    assert store.due_deliveries(number, now=NOW) == []
    assert [d.id for d in store.due_deliveries(number, now=LATER)] == [d0]

    store.record([Attempt(d1, second.subscriber_id,
                          Outcome(Action.BOUNCE, "550 5.1.1 no such user"))], now=NOW)
    assert store.delivery(d1).status == "bounced"
    assert store.subscriber("reader0001@example.org").status == "bounced"
    store.record([Attempt(d2, third.subscriber_id,
                          Outcome(Action.FAIL, "554 5.6.0 message refused"))], now=NOW)
    assert store.delivery(d2).status == "failed"
    assert store.subscriber("reader0002@example.org").status == "active"

    # A later issue skips the bounced subscriber.
    later = new_issue(store, "r2")
    store.queue_deliveries(later, now=LATER)
    assert {d.email for d in store.deliveries(later)} == {"reader0000@example.org",
                                                          "reader0002@example.org"}


def test_leaving_the_list_cancels_queued_deliveries(store: Store):
    add_many(store, 2)
    number = new_issue(store)
    store.queue_deliveries(number, now=NOW)
    store.set_subscriber_status("reader0000@example.org", "unsubscribed", now=LATER)
    gone = store.deliveries(number, "failed")
    assert [(d.email, d.last_reply) for d in gone] == [
        ("reader0000@example.org", "not sent: subscriber unsubscribed")]
    counts = store.delivery_counts(number)  # no failure of the send: counted apart
    assert (counts["failed"], counts["skipped"]) == (0, 1)
    assert [d.email for d in store.due_deliveries(number, now=LATER)] == [
        "reader0001@example.org"]
    store.remove_subscriber("reader0001@example.org")
    assert store.delivery_counts(number)["queued"] == 0


def test_ambiguous_deliveries_are_listed_released_and_requeued(store: Store):
    add_many(store, 4)
    number = new_issue(store)
    store.queue_deliveries(number, now=NOW)
    ids = [d.id for d in store.due_deliveries(number, now=NOW)]
    store.claim(ids, now=NOW)
    assert store.pending_issues() == []  # nothing queued: the sender holds them all
    assert store.release(ids[:1], now=NOW) == 1
    assert store.delivery(ids[0]).attempts == 0
    assert [i.number for i in store.pending_issues()] == [number]
    assert [d.id for d in store.ambiguous_deliveries(number)] == ids[1:]
    assert store.requeue_ambiguous(number, now=LATER) == 3
    assert store.ambiguous_deliveries(number) == []
    assert sorted(d.id for d in store.due_deliveries(number, now=LATER)) == ids


# --- concurrency ------------------------------------------------------------------------------


def test_threads_on_two_stores_racing_never_take_the_same_delivery(config: Config):
    with open_store(config) as setup:
        add_many(setup, 200)
        number = new_issue(setup)
        setup.queue_deliveries(number, now=NOW)
        due = setup.due_deliveries(number, now=NOW)
        ids = [d.id for d in due]
        subscribers = {d.id: d.subscriber_id for d in due}
    barrier = threading.Barrier(4)
    taken: dict[int, list[int]] = {}

    errors: list[BaseException] = []

    def sender(worker: int, store: Store, order: list[int]) -> None:
        barrier.wait()
        mine: list[int] = []
        try:
            # What the engine does: record the previous outcomes and claim the next ones in
            # one transaction.
            previous: list[Attempt] = []
            for start in range(0, len(order) + 7, 7):
                got = store.record(previous, claim=order[start:start + 7], now=NOW)
                previous = [Attempt(i, subscribers[i], Outcome(Action.SENT, "250"), f"<{worker}>")
                            for i in got]
                mine += got
        except BaseException as exc:  # a thread's exception would otherwise go unseen
            errors.append(exc)
        taken[worker] = mine

    # Two stores (as two processes would have), each shared by two threads.
    with open_store(config) as first, open_store(config) as second:
        at_once(sender, [(0, first, ids), (1, first, ids[::-1]), (2, second, ids),
                         (3, second, ids[::-1])])
        assert errors == []
        assert first.delivery_counts(number)["sent"] == 200
    everything = [i for mine in taken.values() for i in mine]
    assert sorted(everything) == ids  # each taken exactly once
    assert len(taken) == 4


def test_concurrent_composes_get_distinct_numbers_without_lock_errors(config: Config):
    # create_issue reads the highest number, then writes: without taking the write lock first
    # (BEGIN IMMEDIATE) a second writer would fail with "database is locked" instead of waiting.
    open_store(config).close()
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def composer(worker: int) -> None:
        with open_store(config) as store:
            barrier.wait()
            try:
                for i in range(5):
                    store.create_issue(subject="x", review_ids=[f"r{worker}-{i}"], now=NOW)
            except BaseException as exc:
                errors.append(exc)

    at_once(composer, [(w,) for w in range(6)])
    assert errors == []
    with open_store(config) as store:
        assert [i.number for i in store.issues()] == list(range(1, 31))


RACER = """
import sys, time
from datetime import datetime
from pathlib import Path
from publisher.config import load_config
from publisher.ledger import open_store

root, go, reverse = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "1"
now = datetime.fromisoformat("2026-11-20T12:00:00+00:00")
with open_store(load_config(directory=root)) as store:
    ids = [d.id for d in store.due_deliveries(1, now=now)]
    if reverse:
        ids.reverse()
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    for start in range(0, len(ids), 5):
        for taken in store.claim(ids[start:start + 5], now=now):
            print(taken, flush=True)
"""


@pytest.mark.slow
def test_two_processes_racing_never_take_the_same_delivery(config: Config, tmp_path: Path):
    with open_store(config) as setup:
        add_many(setup, 300)
        setup.queue_deliveries(new_issue(setup), now=NOW)
        ids = [d.id for d in setup.due_deliveries(1, now=NOW)]
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", RACER, str(config.root), str(go), reverse],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for reverse in ("0", "1")
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    time.sleep(0.05)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append([int(line) for line in out.split()])
    a, b = results
    assert set(a).isdisjoint(b)
    assert sorted(a + b) == ids
    with open_store(config) as check:
        assert check.delivery_counts(1)["sending"] == 300
