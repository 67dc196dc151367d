"""The shared fixtures keep their promises: review files load cleanly and say what they were
asked to, a golden comparison fails on one changed byte, the frozen clock reaches code that reads
the time itself."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from publisher.sources.catalog import load_reviews
from tests.fixtures import FILMS, REGEN, golden, write_films, write_reviews


def test_written_reviews_load_without_a_problem_and_as_asked(publication):
    assert write_reviews(publication, 2, first=date(2026, 10, 30), prefix="late") == [
        "late-1", "late-2"]
    write_reviews(publication, [{"slug": "unrated", "rating": None, "draft": "true"}])
    assert write_films(publication, 3) == ["film-1", "film-2", "film-3"]
    catalog = load_reviews(publication.config, cache=False)
    assert catalog.warnings == ()
    by_slug = {r.slug: r for r in catalog.reviews}
    assert sorted(by_slug) == ["film-1", "film-2", "film-3", "late-1", "late-2", "unrated"]
    late = by_slug["late-2"]
    assert (late.title, late.reviewer, late.rating) == ("Late 2", "Priya Raman", Decimal(4))
    assert late.date.date() == date(2026, 10, 31)
    assert by_slug["unrated"].rating is None and by_slug["unrated"].draft
    for i, title in enumerate(f[0] for f in FILMS[:3]):
        film = by_slug[f"film-{i + 1}"]
        assert film.title == title and film.poster is not None
        assert (publication.root / "static" / "posters" / f"film-{i + 1}.png").is_file()


@pytest.mark.skipif(REGEN, reason="PUBLISHER_REGEN_GOLDEN=1 rewrites instead of comparing")
def test_a_golden_comparison_fails_on_one_changed_byte_or_a_missing_file(tmp_path):
    (tmp_path / "x.txt").write_bytes(b"same\r\n")
    golden("x.txt", b"same\r\n", directory=tmp_path)
    with pytest.raises(AssertionError, match="differs from the golden file"):
        golden("x.txt", b"same\n", directory=tmp_path)
    with pytest.raises(AssertionError, match="is missing"):
        golden("y.txt", b"", directory=tmp_path)


def test_the_frozen_clock_reaches_modules_that_read_the_time(clock):
    from publisher import cli

    frozen = clock.freeze("publisher.")
    assert "publisher.cli" in frozen and sys.modules["publisher.cli"] is cli
    assert cli.datetime.now(UTC) == clock.now
    clock.advance(timedelta(days=400))
    assert cli.datetime.now(UTC) == clock.now == datetime(2027, 12, 25, 12, 0, tzinfo=UTC)
    assert isinstance(datetime(2026, 1, 1), cli.datetime)  # isinstance checks still hold


def test_the_outbox_reads_oldest_first_within_a_second(tmp_path):
    from tests.webserver import outbox_messages

    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    # mailbox.Maildir's names, microseconds not zero-padded: as text, the later sorts first.
    for name, subject in (("1796063248.M98765P10Q1.host", "first"),
                          ("1796063248.M123456P10Q2.host", "second"),
                          ("1796063249.M5P10Q3.host", "third")):
        (tmp_path / "new" / name).write_text(f"Subject: {subject}\n\nx\n")
    assert [m["Subject"] for m in outbox_messages(tmp_path)] == ["first", "second", "third"]
