"""`publisher subscribers ...` through the CLI, against a real ledger in the publication."""

from __future__ import annotations

import mailbox
import os
import stat
import subprocess
import sys
import tracemalloc
from pathlib import Path

from publisher.cli.subscribers import subscribers
from publisher.ledger.store import open_store
from publisher.models import SubscriberStatus
from tests.fixtures import EXAMPLE, NOW, add_subscribers, write_reviews


def emails(publication, status: str | None = None) -> dict[str, str]:
    with open_store(publication.config) as store:
        return {s.email: s.status for s in store.subscribers(status)}


def test_add_then_list(publication, cli):
    result = cli("subscribers", "add", "Ada@Example.COM", "--name", "Ada Reader")
    assert result.exit_code == 0, result.output
    assert result.stdout == "subscribed Ada@example.com\n"
    cli("subscribers", "add", "bo@example.net")
    listed = cli("subscribers", "list")
    assert listed.stdout.splitlines() == [  # address, status, when and how joined, name
        "Ada@example.com  active        2026-11-20  cli  Ada Reader",
        "bo@example.net   active        2026-11-20  cli",
    ]


def test_adding_twice_or_an_invalid_address_is_one_clear_error(publication, cli):
    cli("subscribers", "add", "ada@example.com")
    again = cli("subscribers", "add", "ADA@example.com")
    assert again.exit_code == 1
    assert again.stderr == "error: ada@example.com is already subscribed\n"
    bad = cli("subscribers", "add", "ada@@example.com")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: 'ada@@example.com' is not a valid email address")
    assert emails(publication) == {"ada@example.com": "active"}


def test_unsubscribed_needs_force_to_come_back(publication, cli):
    cli("subscribers", "add", "ada@example.com")
    result = cli("subscribers", "unsubscribe", "Ada@example.com")
    assert result.stdout == "unsubscribed ada@example.com\n"
    refused = cli("subscribers", "add", "ada@example.com")
    assert refused.exit_code == 1
    assert "ada@example.com is unsubscribed (since 2026-11-20)" in refused.stderr
    assert "--force" in refused.stderr
    assert cli("subscribers", "add", "ada@example.com", "--force").exit_code == 0
    assert emails(publication) == {"ada@example.com": "active"}


def test_the_editor_moves_a_subscriber_to_the_address_they_wrote_from(publication, cli):
    # A reader writes "please send it to my new address": 'remove' then 'add' lost their
    # consent, history and the issues queued for them.
    cli("subscribers", "add", "ada@old.example", "--name", "Ada")
    moved = cli("subscribers", "move", "Ada@old.example", "ada@new.example")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout == "moved ada@old.example to ada@new.example\n"
    assert emails(publication) == {"ada@new.example": "active"}
    with open_store(publication.config) as store:
        history = store.subscriber_data("ada@new.example")["history"]
    assert history[-1]["detail"] == "from ada@old.example to ada@new.example"

    cli("subscribers", "add", "bo@example.net")
    taken = cli("subscribers", "move", "ada@new.example", "bo@example.net")
    assert taken.exit_code == 1
    assert taken.stderr == ("error: bo@example.net has a subscription of its own (active); "
                            "remove it first ('publisher subscribers remove bo@example.net') "
                            "to move ada@new.example there\n")
    gone = cli("subscribers", "move", "nobody@example.net", "ada@else.example")
    assert gone.exit_code == 1
    assert gone.stderr == "error: no subscriber 'nobody@example.net'\n"
    assert emails(publication) == {"ada@new.example": "active", "bo@example.net": "active"}


def test_moving_a_subscriber_to_their_own_address_never_says_to_remove_them(publication,
                                                                           cli):
    # Its own record is not "a subscription of its own" at the new address: that message told
    # the editor to remove the very subscriber they meant to correct.
    cli("subscribers", "add", "Ann.Smith@Example.org", "--name", "Ann")
    recased = cli("subscribers", "move", "ann.smith@example.org", "ann.smith@example.org")
    assert recased.exit_code == 0, recased.output
    assert recased.stdout == "moved Ann.Smith@example.org to ann.smith@example.org\n"
    assert emails(publication) == {"ann.smith@example.org": "active"}
    same = cli("subscribers", "move", "ann.smith@example.org", "ann.smith@example.org")
    assert same.exit_code == 1
    assert same.stderr == ("error: ann.smith@example.org is already the subscription's "
                           "address; nothing to move\n")


def test_list_by_status_and_remove(publication, cli):
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        cli("subscribers", "add", address)
    cli("subscribers", "unsubscribe", "b@example.org")
    assert cli("subscribers", "list", "--status", "unsubscribed").stdout == (
        "b@example.org  unsubscribed  2026-11-20  cli\n")
    assert cli("subscribers", "list", "--status", "bounced").stdout == (
        "no bounced subscribers\n")
    assert cli("subscribers", "remove", "c@example.org").stdout == (
        "removed c@example.org\n")
    assert emails(publication) == {"a@example.org": "active", "b@example.org": "unsubscribed"}
    missing = cli("subscribers", "remove", "c@example.org")
    assert (missing.exit_code, missing.stderr) == (1, "error: no subscriber 'c@example.org'\n")


def test_import_reports_bad_rows_by_line_and_keeps_the_good_ones(publication, tmp_path: Path, cli):
    cli("subscribers", "add", "known@example.org")
    path = tmp_path / "list.csv"
    path.write_text(
        "\ufeffemail,name\n"
        "ada@example.com,Ada\n"
        "ada.example.com,Typo\n"
        "known@example.org,Known\n"
        "bo@example.net,Bo\n"
        "bo@example.net,Bo again\n"
        "@example.org,Nobody\n",
        encoding="utf-8",
    )
    result = cli("subscribers", "import", str(path))
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert [line.split(":")[2] for line in errors] == ["3", "7"]
    assert errors[0].startswith(f"error: {path}:3: email: 'ada.example.com' is not a valid")
    assert result.stdout == (
        "added 2 subscribers; 2 duplicates skipped; 2 invalid rows rejected\n")
    assert emails(publication) == {"ada@example.com": "active", "bo@example.net": "active",
                                   "known@example.org": "active"}


def test_import_of_the_example_list_succeeds(publication, cli):
    example = EXAMPLE / "subscribers.csv"
    result = cli("subscribers", "import", str(example))
    assert result.exit_code == 0, result.output
    rows = [line for line in example.read_text(encoding="utf-8").splitlines()[1:] if line]
    assert result.stdout == f"added {len(rows)} subscribers\n"
    assert len(emails(publication, "active")) == len(rows)
    again = cli("subscribers", "import", str(example))
    assert again.stdout == f"added 0 subscribers; {len(rows)} duplicates skipped\n"


def test_import_never_resubscribes_without_force(publication, tmp_path: Path, cli):
    cli("subscribers", "add", "gone@example.org")
    cli("subscribers", "unsubscribe", "gone@example.org")
    path = tmp_path / "list.csv"
    path.write_text("email,name\ngone@example.org,Gone\n", encoding="utf-8")
    result = cli("subscribers", "import", str(path))
    assert result.exit_code == 0
    assert result.stdout.startswith("added 0 subscribers; 1 not subscribed again")
    assert emails(publication) == {"gone@example.org": "unsubscribed"}
    forced = cli("subscribers", "import", str(path), "--force")
    assert forced.stdout == "added 1 subscriber\n"
    assert emails(publication) == {"gone@example.org": "active"}


def test_import_of_a_file_without_header_is_refused(publication, tmp_path: Path, cli):
    path = tmp_path / "list.csv"
    path.write_text("ada@example.com,Ada\n", encoding="utf-8")
    result = cli("subscribers", "import", str(path))
    assert result.exit_code == 1
    assert result.stderr == (f"error: {path}:1: the first line must be a header naming the "
                             "columns, e.g. email,name\n")


def test_export_to_stdout_and_to_a_file_reads_back(publication, tmp_path: Path, cli):
    cli("subscribers", "add", "ada@example.com", "--name", "Ada, Reader")
    cli("subscribers", "add", "bo@example.net")
    cli("subscribers", "unsubscribe", "bo@example.net")
    stdout = cli("subscribers", "export")
    assert stdout.exit_code == 0
    assert stdout.stdout == (
        "email,name,status,source,created_at,consent_at,consent_ip,consent_form,confirmed_at\n"
        'ada@example.com,"Ada, Reader",active,cli,2026-11-20T12:00:00+00:00,,,,\n'
        "bo@example.net,,unsubscribed,cli,2026-11-20T12:00:00+00:00,,,,\n"
    )
    out = tmp_path / "backup.csv"
    result = cli("subscribers", "export", str(out))
    assert result.stdout == f"wrote 2 subscribers to {out}\n"
    assert out.read_text(encoding="utf-8") == stdout.stdout

    cli("subscribers", "remove", "ada@example.com")
    cli("subscribers", "remove", "bo@example.net")
    restored = cli("subscribers", "import", str(out))
    assert restored.exit_code == 0
    assert emails(publication) == {"ada@example.com": "active", "bo@example.net": "unsubscribed"}


def test_list_status_choices_are_the_ledger_statuses():
    command = subscribers.commands["list"]
    status = next(p for p in command.params if p.name == "status")
    assert tuple(status.type.choices) == tuple(s.value for s in SubscriberStatus)


def test_export_to_a_file_is_private_whatever_the_umask(publication, cli, tmp_path):
    cli("subscribers", "add", "ada@example.com", "--name", "Ada")
    target = tmp_path / "backup.csv"
    target.write_text("old\n")
    target.chmod(0o644)  # an older export, or a file made by hand: replaced, and made private
    old = os.umask(0o022)
    try:
        result = cli("subscribers", "export", str(target))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().startswith("email,name,status,source,created_at,consent_at,"
                                         "consent_ip,consent_form,confirmed_at\nada@example.com")


def test_a_local_part_longer_than_64_bytes_is_refused_at_add_and_import(publication, cli,
                                                                        tmp_path):
    longest = "a" * 64 + "@example.org"
    assert cli("subscribers", "add", longest).exit_code == 0
    refused = cli("subscribers", "add", "b" * 65 + "@example.org")
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1
    assert "the part before the @ is 65 bytes" in refused.stderr
    # octets, not characters: 33 × "é" is 66 bytes of UTF-8 (SMTPUTF8 counts octets)
    assert cli("subscribers", "add", "é" * 33 + "@example.org").exit_code == 1
    people = tmp_path / "people.csv"
    people.write_text(f"email,name\nok@example.org,Ok\n{'c' * 65}@example.org,Long\n")
    imported = cli("subscribers", "import", str(people))
    assert imported.exit_code == 1
    assert f"{people}:3: email:" in imported.stderr
    assert "65 bytes" in imported.stderr
    assert emails(publication) == {longest: "active", "ok@example.org": "active"}


def test_bounced_rows_of_an_export_are_reported_as_recorded(publication, cli, tmp_path):
    """A CSV whose rows say bounced or unsubscribed (an export) records them as such; the
    summary said they were "suppressed … not subscribed; --force subscribes them again"."""
    path = tmp_path / "export.csv"
    path.write_text("email,name,status\nok@example.org,Ok,active\nb@example.org,B,bounced\n"
                    "u@example.org,U,unsubscribed\n")
    result = cli("subscribers", "import", str(path))
    assert result.exit_code == 0
    assert result.stdout == ("added 1 subscriber; 2 recorded as unsubscribed, bounced or "
                             "complained, as the file says (kept off the list)\n")
    assert emails(publication) == {"ok@example.org": "active", "b@example.org": "bounced",
                                   "u@example.org": "unsubscribed"}


def test_the_name_goes_where_the_help_says(publication, cli):
    help_text = cli("subscribers", "add", "--help").stdout
    assert "greeting" not in help_text and "To: header" in help_text
    write_reviews(publication, 1)  # the local outbox is the default transport
    cli("subscribers", "add", "ada@example.org", "--name", "Ada Reader")
    assert cli("issue", "new").exit_code == 0
    sent = cli("issue", "send", "1", env={"PUBLISHER_SECRET": "x" * 32})
    assert sent.exit_code == 0, sent.output
    [message] = mailbox.Maildir(publication.root / ".publisher" / "outbox", create=False)
    assert message["To"] == "Ada Reader <ada@example.org>"


def test_a_listing_whose_reader_leaves_early_stops_quietly(publication):
    # `publisher subscribers list | head`: more than a pipe's buffer of lines, read one.
    add_subscribers(publication.config, 3000, NOW)
    listing = subprocess.Popen([sys.executable, "-m", "publisher", "-C", str(publication.root),
                                "subscribers", "list"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert listing.stdout is not None and listing.stderr is not None
    assert listing.stdout.readline()
    listing.stdout.close()
    errors = listing.stderr.read()
    assert listing.wait(timeout=60) == 141  # 128 + SIGPIPE, as a shell reports `yes | head`
    assert errors == b""


def test_export_and_list_read_the_list_a_batch_at_a_time(publication, cli, tmp_path):
    # Both held every subscriber at once, as objects and then as text: 126 MB to export
    # 100,000, and a million would not fit a small server that imports them (import streams).
    addresses = add_subscribers(publication.config, 8000, NOW)
    out = tmp_path / "all.csv"
    tracemalloc.start()
    try:
        exported = cli("subscribers", "export", str(out))
        export_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        listed = cli("subscribers", "list")
        list_peak = tracemalloc.get_traced_memory()[1] - len(listed.stdout_bytes)
    finally:
        tracemalloc.stop()
    assert exported.stdout == f"wrote 8,000 subscribers to {out}\n"
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8001 and lines[1].startswith(min(addresses) + ",")
    rows = listed.stdout.splitlines()
    assert [row.split()[0] for row in rows] == sorted(addresses)
    assert len({row.index(" active ") for row in rows}) == 1  # one column, however long each
    # All of them held at once: about 6 MB for either; a batch of a thousand: well under 3.
    assert export_peak < 3_000_000 and list_peak < 3_000_000, (export_peak, list_peak)
