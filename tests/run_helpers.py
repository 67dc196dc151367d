"""Helpers for the `publisher run` tests: reviews, subscribers and transports for a publication."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta

from publisher.config import Config
from publisher.ledger.store import open_store

#: Friday 20 November 2026, 09:00 in London (GMT): a slot of the default "0 9 * * FRI".
SLOT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def write_reviews(publication, count: int, *, first: date = date(2026, 11, 1),
                  prefix: str = "film") -> list[str]:
    """``count`` minimal valid reviews dated a day apart from ``first``; returns their slugs."""
    slugs = []
    for i in range(count):
        slug = f"{prefix}-{i + 1}"
        day = first + timedelta(days=i)
        publication.write_review(f"{slug}.md", f"""
            ---
            title: "{prefix.title()} {i + 1}"
            date: {day.isoformat()}
            reviewer: Priya Raman
            rating: 4
            summary: "A film worth seeing, number {i + 1}."
            ---
            The body of review {i + 1}, with *emphasis* and a [link](/about/).
            """)
        slugs.append(slug)
    return slugs


def use_smtp(publication, url: str, *, connections: int = 4) -> None:
    publication.add_config(f"""
        [delivery]
        transport = "{url}"
        starttls = false
        connections = {connections}
        timeout = 10
        """)


def use_maildir(publication, path: str = ".publisher/outbox") -> None:
    publication.add_config(f'[delivery]\ntransport = "maildir://{path}"\n')


def subscriber_addresses(count: int) -> list[str]:
    return [f"reader{i:04d}@example.net" for i in range(count)]


def add_subscribers(config: Config, count: int, now: datetime) -> list[str]:
    """``count`` active subscribers, imported from a CSV file as a user would."""
    addresses = subscriber_addresses(count)
    path = config.root / "subscribers.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "name"])
        for i, address in enumerate(addresses):
            writer.writerow([address, f"Reader {i}"])
    with open_store(config) as store:
        report = store.import_subscribers_csv(path, now=now)
    assert report.added == count, report
    return addresses
