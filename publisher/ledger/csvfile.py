"""Subscriber lists as CSV: read (every bad row reported by line) and written back."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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
        if self.problems:
            parts.append(f"{n(len(self.problems), 'invalid row')} rejected")
        return "; ".join(parts)



_CSV_COLUMNS = ("email", "name", "status", "source", "created_at")

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


#: line, address, name, status, source ('' if none), created_at (None if none).
_CsvRow = tuple[int, str, str, str, str, datetime | None]


def read_subscriber_csv(path: Path) -> tuple[list[_CsvRow], list[str]]:
    """A row for each valid line, and a problem line for each invalid one (all in memory: for
    a large file, iterate ``iter_subscriber_csv``)."""
    rows: list[_CsvRow] = []
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


def iter_subscriber_csv(path: Path) -> Iterator[_CsvRow | str]:
    """Each valid row of the file, or a problem line ("FILE:LINE: ...") for an invalid one, in
    file order, reading one line at a time: memory stays flat however long the file. Raises
    CsvError (before or while reading) if the file cannot be read or has no usable header."""
    reader = csv.reader(_decoded_lines(path))
    normalise = AddressNormaliser()
    header: list[str] | None = None
    last_line = 0
    try:
        for record in reader:
            line, last_line = last_line + 1, reader.line_num
            if not any(field.strip() for field in record):
                continue
            if header is None:
                header = [field.strip().lower() for field in record]
                _check_header(path, line, header)
                continue
            yield _parse_row(path, header, record, line, reader.line_num, normalise)
    except csv.Error as exc:
        yield f"{path}:{reader.line_num}: malformed CSV: {exc}"
    if header is None:
        raise CsvError(f"{path}: empty; the first line must be a header such as: email,name")


def _parse_row(path: Path, header: list[str], record: list[str], line: int,
               end_line: int, normalise: AddressNormaliser) -> _CsvRow | str:
    if len(record) > len(header):
        return (f"{path}:{line}: {len(record)} fields, but the header names {len(header)}; "
                "quote values that contain commas")
    values = {key: _restored(value) for key, value in zip(header, record, strict=False)}
    email = values.get("email", "").strip()
    if not email:
        return f"{path}:{line}: email: missing"
    if "\n" in email or "\r" in email:  # a stray quote swallowed the following lines
        return (f"{path}:{line}: email: a quote (\") on this line is not closed, so lines "
                f"{line}-{end_line} were read as one row; remove or close the quote")
    status = values.get("status", "").strip().lower() or "active"
    if status not in _STATUSES:
        return f"{path}:{line}: status: {status!r} is not one of {', '.join(_STATUSES)}"
    try:
        address = normalise(email)
        name = clean_name(values.get("name", ""))
    except InvalidAddress as exc:
        field = "name" if str(exc).startswith("name ") else "email"
        return f"{path}:{line}: {field}: {exc}"
    source = one_line(values.get("source", ""))[:200]
    created = values.get("created_at", "").strip()
    joined: datetime | None = None
    if created:
        try:
            joined = datetime.fromisoformat(created)
        except ValueError:
            joined = None
        if joined is None or joined.tzinfo is None:
            return (f"{path}:{line}: created_at: {created!r} is not an ISO 8601 time with a "
                    "UTC offset, e.g. 2026-11-20T12:00:00+00:00")
    return line, address, name, status, source, joined


def _check_header(path: Path, line: int, header: list[str]) -> None:
    if "email" not in header:
        looks_like_data = any("@" in field for field in header)
        hint = ("the first line must be a header naming the columns, e.g. email,name"
                if looks_like_data else "no 'email' column; the header must name email "
                "(and optionally name)")
        raise CsvError(f"{path}:{line}: {hint}")
    unknown = [name for name in header if name not in _CSV_COLUMNS]
    if unknown:
        raise CsvError(f"{path}:{line}: unknown column {unknown[0]!r}; the columns are "
                       f"{', '.join(_CSV_COLUMNS)} (email required)")
    if len(set(header)) != len(header):
        raise CsvError(f"{path}:{line}: a column is named twice in the header")


def subscribers_csv(subscribers: Iterable[Subscriber]) -> str:
    """CSV with a header (email,name,status,source,created_at) that import reads back. A cell
    a spreadsheet would run as a formula (starting with =, +, -, @) gets a leading apostrophe,
    which import removes."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_COLUMNS)
    for sub in subscribers:
        created = sub.created_at.isoformat() if sub.created_at else ""
        writer.writerow([_neutralised(value)
                         for value in (sub.email, sub.name, sub.status, sub.source, created)])
    return out.getvalue()

