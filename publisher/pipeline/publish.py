"""The site as a sending command publishes it: built with the issues sent so far, the feeds'
hub told, the build's warnings said. ``publisher run`` and ``publisher issue send`` both build
before an issue goes out, so that every link in it lands (its reviews' pages, new since the
last build), and again once it is sent, to put it in the web archive.

A build that fails does not hold up the newsletter: the problem is one line for the caller to
report, and the subscribers still get the issue (what is frozen needs no page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config import Config
from ..errors import PublisherError, first_line
from ..files import describe_os_error
from ..ledger import Store
from ..newsletter.compose import archived_issues
from ..sources import Catalog
from .build import build_site
from .websub import announce


@dataclass(frozen=True)
class Published:
    """What one build of a sending command wrote (a count), or the line saying why it did not."""

    written: int = 0
    problem: str | None = None


def publish_site(config: Config, store: Store, catalog: Catalog, *, now: datetime,
                 echo: Callable[[str], Any], archive: tuple[int, ...] = ()) -> Published:
    """Build the site with every issue sent so far, tell the hub of the feeds that changed,
    and say what was written (``archive``: the issues just sent, which the line names when this
    build wrote their pages)."""
    try:
        sent, warnings = archived_issues(store.issues(), catalog, config, store.frozen_issues())
        report = build_site(config, now=now, issues=sent, catalog=catalog)
    except PublisherError as exc:
        return Published(problem=f"build failed, feeds not updated: {first_line(exc)}")
    except OSError as exc:  # a read-only or full disk: the newsletter still goes out
        return Published(problem=f"build failed, feeds not updated: {describe_os_error(exc)}")
    hub = announce(config, report.topics)  # never raises; retried by the next run
    if hub.line:
        echo(hub.line)
    # A page that moved is said by the build that moves it only: cron's mail is where the
    # editor hears of it (the other warnings stay for `publisher check`).
    for warning in (*warnings, *report.moved):
        echo(f"warning: {warning}")
    if archive and report.written:
        # Senders sharing a ledger (PostgreSQL) each build once the first copy is accepted; on
        # one host the first writes the issue's pages and the others find them written: the
        # publication is said once, by the sender that made it, as the build's own line is.
        numbers = ", ".join(f"#{n}" for n in archive)
        echo(f"archive: issue {numbers} published "
             f"({len(report.written)} files written to {config.output_dir}/)")
    elif report.written:
        echo(f"build: {len(report.written)} files written to {config.output_dir}/")
    return Published(written=len(report.written))
