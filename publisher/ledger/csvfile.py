"""Subscriber lists as CSV: read (every bad row reported by line) and written back."""

from __future__ import annotations

import csv
import io
import ipaddress
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from ..errors import CsvError, InvalidAddress
from ..files import open_given
from ..models import Subscriber, SubscriberStatus
from ..text import one_line
from .addresses import AddressNormaliser, clean_name

_STATUSES = tuple(status.value for status in SubscriberStatus)

@dataclass(frozen=True)
class ImportReport:
    """What a CSV import did; ``problems`` holds one "FILE:LINE: ..." line per rejected row.

    ``suppressed``: rows asking for an active subscriber whose address unsubscribed, bounced or
    complained before (not subscribed again without --force). ``recorded``: rows the file itself
    marks unsubscribed, bounced or complained (an export's), recorded as such."""

    added: int
    duplicates: int
    suppressed: int
    problems: tuple[str, ...]
    recorded: int = 0
    ignored: tuple[str, ...] = ()  # columns of another tool's export that mean nothing here
    unconfirmed: int = 0  # rows another tool marks as never confirmed: no consent, left out

    def summary(self) -> str:
        """One line: 'added 3 subscribers; 1 duplicate skipped; ...'."""
        def n(count: int, word: str) -> str:
            return f"{count} {word}{'' if count == 1 else 's'}"

        parts = [f"added {n(self.added, 'subscriber')}"]
        if self.duplicates:
            parts.append(f"{n(self.duplicates, 'duplicate')} skipped")
        if self.recorded:
            parts.append(f"{self.recorded} recorded as unsubscribed, bounced or complained, as "
                         "the file says (kept off the list)")
        if self.suppressed:
            parts.append(f"{self.suppressed} not subscribed again (they unsubscribed, bounced "
                         "or complained before; --force subscribes them)")
        if self.unconfirmed:
            parts.append(f"{self.unconfirmed} left out as the file says they never confirmed "
                         "their subscription (no consent to mail them; the subscribe form "
                         "asks them again)")
        if self.problems:
            parts.append(f"{n(len(self.problems), 'invalid row')} rejected")
        if self.ignored:
            shown = ", ".join(self.ignored[:IGNORED_NAMED])
            more = len(self.ignored) - IGNORED_NAMED
            parts.append(f"columns left out: {shown}{f' and {more} more' if more > 0 else ''}")
        return "; ".join(parts)



_CSV_COLUMNS = ("email", "name", "status", "source", "created_at", "consent_at", "consent_ip",
                "consent_form", "confirmed_at")
_OUR_COLUMNS = frozenset(" ".join(column.split("_")) for column in _CSV_COLUMNS)

# Spreadsheets run a cell that starts with one of these as a formula ("CSV injection": a name
# such as =HYPERLINK(...) in an exported list). Such a cell is written with a leading
# apostrophe, which spreadsheets show as text; so is a cell that starts with an apostrophe, so
# that import, which removes one, gives back exactly what was exported.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralised(value: str) -> str:
    """A cell as exported: an apostrophe before a formula trigger (or an apostrophe)."""
    return "'" + value if value.startswith((*_FORMULA_START, "'")) else value


def _restored(value: str) -> str:
    """A cell as imported: the apostrophe that ``_neutralised`` added, removed."""
    if value.startswith("'") and value[1:].startswith((*_FORMULA_START, "'")):
        return value[1:]
    return value


class CsvRow(NamedTuple):
    """A valid row, as staged for the merge ('' or None where the file says nothing)."""

    line: int
    address: str
    name: str
    status: str
    source: str
    created_at: datetime | None
    consent_at: datetime | None = None
    consent_ip: str | None = None
    consent_form: str = ""
    confirmed_at: datetime | None = None
    left_at: datetime | None = None  # when a column such as UNSUB_TIME says they left



def read_subscriber_csv(path: Path) -> tuple[list[CsvRow], list[str]]:
    """A row for each valid line, and a problem line for each invalid one (all in memory: for
    a large file, iterate ``iter_subscriber_csv``)."""
    rows: list[CsvRow] = []
    problems: list[str] = []
    for item in iter_subscriber_csv(path):
        if isinstance(item, str):
            problems.append(item)
        else:
            rows.append(item)
    return rows, problems


def _decoded_lines(path: Path) -> Iterator[str]:
    """The file's lines as text, one at a time (a BOM is fine); CsvError naming the line of
    the first bytes that are not UTF-8."""
    with open_given(path, CsvError, what="a CSV file") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise CsvError(f"{path}:{number}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                               "save the file as UTF-8 CSV") from None


#: Columns left out of an import that its summary names; the rest are counted.
IGNORED_NAMED = 4

# Other tools' exports, read as they are (Mailchimp, Buttondown, Ghost, Substack, Listmonk):
# their names for the address and the name, with case, spaces, "_" and "-" not counting.
_EMAIL_ALIASES = ("email", "email address", "e mail", "e mail address")
_NAME_ALIASES = ("name", "full name")
_FIRST_LAST = (("first name", "fname", "firstname"), ("last name", "lname", "lastname"))
# When they joined, and their consent: when they asked, from which address (Mailchimp's
# CONFIRM_IP when a single opt-in left OPTIN_IP empty), on which form, when they confirmed.
_CREATED_ALIASES = ("created at", "creation date")
_CONSENT_AT_ALIASES = ("consent at", "optin time")
_CONSENT_IP_ALIASES = ("consent ip", "optin ip", "ip address", "confirm ip")
_CONSENT_FORM_ALIASES = ("consent form",)
_CONFIRMED_ALIASES = ("confirmed at", "confirm time")
# A column saying that someone left, by the words in its name: any value but an empty or a
# false one means that status (Mailchimp's UNSUB_TIME and CLEAN_TIME, a date of unsubscribing,
# …). Importing such a person as active would mail someone who said no.
_LEAVING_WORDS = (("unsub", "unsubscribed"), ("opt out", "unsubscribed"),
                  ("optout", "unsubscribed"), ("blocklist", "unsubscribed"),
                  ("blacklist", "unsubscribed"), ("suppress", "unsubscribed"),
                  ("deleted", "unsubscribed"), ("disabled", "unsubscribed"),
                  ("clean", "bounced"), ("bounce", "bounced"), ("complain", "complained"))
# The opposite sense: a false value means unsubscribed (Ghost's subscribed_to_emails).
_STAYING = ("subscribed", "subscribed to emails", "email subscribed")
_FALSE = frozenset({"", "false", "0", "no", "n", "f"})
# A status's column: ours, and Buttondown's.
_STATUS_COLUMNS = ("status", "subscriber type")
# Other tools' words for a status, in a status column (Listmonk: enabled, disabled,
# blocklisted; Mailchimp's API: subscribed, cleaned; Kit: cancelled, and cold for someone
# subscribed who reads little; Flodesk: archived; MailerLite: junk, a complaint; Buttondown's
# subscriber types: paid, free, paused or lapsing are all still subscribed, removed by the
# newsletter or deemed spammy by Buttondown are kept off).
_STATUS_ALIASES = {"enabled": "active", "subscribed": "active", "disabled": "unsubscribed",
                   "blocklisted": "unsubscribed", "cleaned": "bounced",
                   "cancelled": "unsubscribed", "canceled": "unsubscribed", "cold": "active",
                   "archived": "unsubscribed", "junk": "complained",
                   "regular": "active", "premium": "active", "gifted": "active",
                   "trialed": "active", "past_due": "active", "churning": "active",
                   "paused": "active", "unpaid": "active", "removed": "unsubscribed",
                   "spammy": "unsubscribed", "undeliverable": "bounced"}
# A status that says the address never confirmed its subscription (Kit's inactive, Mailchimp's
# pending): there is no consent to import, whatever the file says.
_UNCONFIRMED_VALUES = frozenset({"inactive", "unactivated", "unconfirmed", "pending"})
# A value that says someone left or never confirmed, in a column this import does not read:
# the row is refused rather than imported as active (a subscriber "type", a misspelt
# "stauts").
_LEAVING_VALUES = _UNCONFIRMED_VALUES | {
    "unsubscribed", "bounced", "cleaned", "complained", "blocklisted", "blacklisted", "blocked",
    "suppressed", "spam", "spammy", "removed", "deleted", "undeliverable", "disabled",
    "cancelled", "canceled", "archived", "junk"}


# Excel writes semicolons where a comma is the decimal point (most of Europe); tabs, some
# other tools.
_SEPARATORS = (",", ";", "\t")


def _separator(header: str) -> str:
    """The separator of a file whose header line is ``header``: the one that splits it into a
    column naming the address (a comma when none does: the header's error says so)."""
    for separator in _SEPARATORS:
        cells = next(csv.reader([header], delimiter=separator), [])
        if any(_plain(cell) in _EMAIL_ALIASES for cell in cells):
            return separator
    return ","


def _plain(name: str) -> str:
    """A header cell as compared: "Email Address", "email_address" and "EMAIL-ADDRESS" alike."""
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


@dataclass(frozen=True)
class _Columns:
    """Where each thing is in a file's rows (indexes into a row), from its header."""

    email: int
    names: tuple[int, ...]  # the name's column, or the first and the last name's
    status: int | None
    source: int | None
    created_at: int | None
    consent_at: int | None
    consent_ips: tuple[int, ...]  # the first not empty counts
    consent_form: int | None
    confirmed_at: int | None
    leaving: tuple[tuple[int, str, bool], ...]  # (column, status it means, whether "yes" stays)
    ignored: tuple[int, ...]
    header: tuple[str, ...]  # as written
    ours: bool  # only publisher's own columns (an export of ours: created_at read strictly)


def _columns(path: Path, line: int, header: list[str]) -> _Columns:
    plain = [_plain(name) for name in header]
    if len(set(plain)) != len(plain):
        raise CsvError(f"{path}:{line}: a column is named twice in the header")

    def find(*aliases: str) -> int | None:
        return next((plain.index(a) for a in aliases if a in plain), None)

    email = find(*_EMAIL_ALIASES)
    if email is None:
        looks_like_data = any("@" in field for field in header)
        hint = ("the first line must be a header naming the columns, e.g. email,name"
                if looks_like_data else "no 'email' column; the header must name email "
                "(and optionally name)")
        raise CsvError(f"{path}:{line}: {hint}")
    name = find(*_NAME_ALIASES)
    first, last = find(*_FIRST_LAST[0]), find(*_FIRST_LAST[1])
    names = (name,) if name is not None else tuple(i for i in (first, last) if i is not None)
    status, source = find(*_STATUS_COLUMNS), find("source")
    created = find(*_CREATED_ALIASES)
    consent_at, confirmed = find(*_CONSENT_AT_ALIASES), find(*_CONFIRMED_ALIASES)
    consent_ips = tuple(plain.index(a) for a in _CONSENT_IP_ALIASES if a in plain)
    consent_form = find(*_CONSENT_FORM_ALIASES)
    used = {email, *names, status, source, created, consent_at, *consent_ips, consent_form,
            confirmed}
    leaving = []
    for i, text in enumerate(plain):
        if i in used:
            continue
        if text in _STAYING:
            leaving.append((i, "unsubscribed", True))
            continue
        meaning = next((said for word, said in _LEAVING_WORDS if word in text), None)
        if meaning is not None:
            leaving.append((i, meaning, False))
    read = used | {i for i, _status, _stays in leaving}
    ignored = tuple(i for i in range(len(header)) if i not in read)
    ours = all(text in _OUR_COLUMNS for text in plain) and \
        header[email].strip().lower() == "email"
    return _Columns(email, names, status, source, created, consent_at, consent_ips,
                    consent_form, confirmed, tuple(leaving), ignored,
                    tuple(field.strip() for field in header), ours)


class SubscriberCsv:
    """A subscriber list as CSV, read one line at a time: ``rows()`` gives each valid row or
    a problem line ("FILE:LINE: ...") for an invalid one, in file order, memory flat however
    long the file; then ``ignored`` names the columns that were left out and ``unconfirmed``
    counts the rows left out because the file says they never confirmed (Kit's inactive,
    Mailchimp's pending, Buttondown's unactivated: every such export has them, and there is
    nothing to fix in the file). Raises CsvError
    (before or while reading) if the file cannot be read or has no usable header. Its cells
    are separated by commas, semicolons or tabs: whichever finds the address in the header.

    Besides publisher's own export (email, name, status, source, created_at, and the consent:
    consent_at, consent_ip, consent_form, confirmed_at), another tool's export is read as it
    is: its name for the address and the name (first and last joined), when they joined and
    their consent (a time without an offset is UTC, as Mailchimp's are), and any column that
    says someone unsubscribed, bounced or complained (and when)."""

    def __init__(self, path: Path):
        self.path = path
        self.ignored: tuple[str, ...] = ()
        self.unconfirmed = 0

    def rows(self) -> Iterator[CsvRow | str]:
        path = self.path
        lines = _decoded_lines(path)
        head: list[str] = []  # up to the header's line
        for text in lines:
            head.append(text)
            if text.strip():
                break
        reader = csv.reader(itertools.chain(head, lines),
                            delimiter=_separator(head[-1]) if head else ",")
        normalise = AddressNormaliser()
        columns: _Columns | None = None
        last_line = 0
        try:
            for record in reader:
                line, last_line = last_line + 1, reader.line_num
                if not any(field.strip() for field in record):
                    continue
                if columns is None:
                    columns = _columns(path, line, record)
                    self.ignored = tuple(columns.header[i] for i in columns.ignored)
                    continue
                row = _parse_row(path, columns, record, line, reader.line_num, normalise)
                if row is _UNCONFIRMED:
                    self.unconfirmed += 1
                else:
                    yield row
        except csv.Error as exc:
            yield f"{path}:{reader.line_num}: malformed CSV: {exc}"
        if columns is None:
            raise CsvError(f"{path}: empty; the first line must be a header such as: email,name")


def iter_subscriber_csv(path: Path) -> Iterator[CsvRow | str]:
    """``SubscriberCsv(path).rows()``."""
    return SubscriberCsv(path).rows()


#: What ``_parse_row`` gives for a row whose status says it never confirmed.
_UNCONFIRMED = "unconfirmed"


def _parse_row(path: Path, columns: _Columns, record: list[str], line: int,
               end_line: int, normalise: AddressNormaliser) -> CsvRow | str:
    if len(record) > len(columns.header):
        return (f"{path}:{line}: {len(record)} fields, but the header names "
                f"{len(columns.header)}; quote values that contain commas")

    def cell(index: int | None) -> str:
        return _restored(record[index]) if index is not None and index < len(record) else ""

    email = cell(columns.email).strip()
    if not email:
        return f"{path}:{line}: email: missing"
    if "\n" in email or "\r" in email:  # a stray quote swallowed the following lines
        return (f"{path}:{line}: email: a quote (\") on this line is not closed, so lines "
                f"{line}-{end_line} were read as one row; remove or close the quote")
    given = cell(columns.status).strip().lower()
    status = _STATUS_ALIASES.get(given, given) or "active"
    said = "status" if columns.status is None else columns.header[columns.status]
    if status in _UNCONFIRMED_VALUES:
        return _UNCONFIRMED
    if status not in _STATUSES:
        return f"{path}:{line}: {said}: {given!r} is not one of {', '.join(_STATUSES)}"
    left_at: datetime | None = None
    for index, meaning, stays in columns.leaving:
        value = cell(index).strip().lower()
        if (value in _FALSE) == stays and status == "active":
            status = meaning  # the file says they left: kept off the list, on record
            # when, if the column holds a time (UNSUB_TIME) rather than a yes
            left_at = None if stays else _other_tools_time(value)
    for index in columns.ignored if status == "active" else ():
        if cell(index).strip().lower() in _LEAVING_VALUES:
            return (f"{path}:{line}: {columns.header[index]}: says {cell(index).strip()!r}, "
                    "and publisher reads whether someone left only from a column named "
                    "status; rename the column to status, or leave the row out")
    try:
        address = normalise(email)
        name = clean_name(" ".join(cell(i).strip() for i in columns.names))
    except InvalidAddress as exc:
        field = "name" if str(exc).startswith("name ") else "email"
        return f"{path}:{line}: {field}: {exc}"
    source = one_line(cell(columns.source))[:200]
    times: list[datetime | None] = []
    for column in (columns.created_at, columns.consent_at, columns.confirmed_at):
        given = cell(column).strip()
        when = (_our_time(given) if columns.ours else _other_tools_time(given)) if given else None
        if column is not None and given and when is None:
            where = f"{path}:{line}: {columns.header[column]}: {given!r}"
            if columns.ours:
                return (f"{where} is not an ISO 8601 time with a UTC offset, e.g. "
                        "2026-11-20T12:00:00+00:00")
            return (f"{where} is not a time; write it as 2026-11-20 12:00:00 (read as UTC) "
                    "or 2026-11-20T12:00:00+01:00, or empty the cell")
        times.append(when)
    created_at, consent_at, confirmed_at = times
    consent_ip: str | None = None
    for index in columns.consent_ips:
        given = cell(index).strip()
        if not given:
            continue
        try:
            consent_ip = str(ipaddress.ip_address(given))
        except ValueError:
            return (f"{path}:{line}: {columns.header[index]}: {given!r} is not an IP address; "
                    "correct it or empty the cell")
        break
    # Another tool that has no time of joining: they joined when they confirmed, or asked.
    joined = created_at or confirmed_at or consent_at
    return CsvRow(line, address, name, status, source, joined, consent_at, consent_ip,
                  one_line(cell(columns.consent_form))[:200], confirmed_at, left_at)


def _our_time(text: str) -> datetime | None:
    """A time as publisher's export writes it (ISO 8601 with its offset), or None."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _other_tools_time(text: str) -> datetime | None:
    """A time as other tools write it, or None: ISO 8601, with "T" or a space, an offset,
    "Z" or a trailing "UTC" (Kit's), or none at all — then UTC, as Mailchimp's are."""
    bare = text.strip()
    if bare[-4:].upper() in (" UTC", " GMT"):
        bare = bare[:-4] + "+00:00"
    try:
        when = datetime.fromisoformat(bare)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def subscribers_csv_lines(subscribers: Iterable[Subscriber]) -> Iterator[str]:
    """CSV with a header (email,name,status,source,created_at,consent_at,consent_ip,
    consent_form,confirmed_at) that import reads back, a line at a time as ``subscribers``
    come. A cell a spreadsheet would run as a formula (starting with =, +, -, @) gets a
    leading apostrophe, which import removes."""
    def time(when: datetime | None) -> str:
        return when.isoformat() if when else ""

    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")

    def line(cells: Iterable[str]) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow(cells)
        return out.getvalue()

    yield line(_CSV_COLUMNS)
    for sub in subscribers:
        yield line([_neutralised(value) for value in (
            sub.email, sub.name, sub.status, sub.source, time(sub.created_at),
            time(sub.consent_at), sub.consent_ip or "", sub.consent_form,
            time(sub.confirmed_at))])

