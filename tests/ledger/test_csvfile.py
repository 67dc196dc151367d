"""Subscriber CSV files: what export writes is safe to open in a spreadsheet, and import reads
back exactly what export wrote."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.errors import CsvError
from publisher.ledger import subscribers_csv_lines
from publisher.ledger.csvfile import iter_subscriber_csv, read_subscriber_csv
from publisher.models import Subscriber, SubscriberStatus

JOINED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_cells_a_spreadsheet_would_run_start_with_an_apostrophe(tmp_path):
    subs = [
        Subscriber(email="ada@example.org", name='=HYPERLINK("http://evil.test","x")',
                   status=SubscriberStatus.ACTIVE, source="cli", created_at=JOINED),
        Subscriber(email="-dash@example.org", name="+44 20 7946 0000",
                   status=SubscriberStatus.ACTIVE, source="@import", created_at=JOINED),
        Subscriber(email="plain@example.org", name="Plain Name",
                   status=SubscriberStatus.ACTIVE, source="cli", created_at=JOINED),
    ]
    rows = cells("".join(subscribers_csv_lines(subs)))
    assert rows[1][:2] == ["ada@example.org", '\'=HYPERLINK("http://evil.test","x")']
    assert rows[2][:2] == ["'-dash@example.org", "'+44 20 7946 0000"]
    assert rows[2][3] == "'@import"
    assert rows[3][:2] == ["plain@example.org", "Plain Name"]
    # no cell of the file starts with a formula trigger
    assert not [c for row in rows for c in row if c[:1] in ("=", "+", "-", "@")]


# Names as stored (header-safe, one line) and the odd addresses that start with a trigger.
names = st.text(st.sampled_from("='+-@ aZé\"x,"), max_size=12).map(lambda s: " ".join(s.split()))
locals_ = st.sampled_from(["ada", "-ada", "=ada", "+ada", "'ada", "'=ada", "''ada", "o'brien"])


@given(local=locals_, name=names)
def test_export_then_import_gives_back_every_value(tmp_path_factory, local, name):
    sub = Subscriber(email=f"{local}@example.org", name=name,
                     status=SubscriberStatus.UNSUBSCRIBED, source="import:old.csv",
                     created_at=JOINED)
    path = tmp_path_factory.mktemp("csv") / "export.csv"
    path.write_text("".join(subscribers_csv_lines([sub])), encoding="utf-8")
    rows, problems = read_subscriber_csv(path)
    assert problems == []
    [row] = rows
    assert (row.address, row.name, row.status, row.source, row.created_at) == (
        sub.email, sub.name, "unsubscribed", "import:old.csv", JOINED)


def test_a_hand_written_apostrophe_is_kept(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,name\nada@example.org,'Twas Brillig\n", encoding="utf-8")
    rows, _ = read_subscriber_csv(path)
    assert rows[0][2] == "'Twas Brillig"


def test_a_file_that_cannot_be_read_is_one_line_naming_it(tmp_path):
    with pytest.raises(CsvError, match=r"nope\.csv: no such file$"):
        list(iter_subscriber_csv(tmp_path / "nope.csv"))
    with pytest.raises(CsvError, match=r": is a directory, not a CSV file$"):
        list(iter_subscriber_csv(tmp_path))
