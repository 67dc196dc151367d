"""Commands about the publication itself: init, check, import (build is in ``build.py``)."""

from __future__ import annotations

import codecs
import shlex
from datetime import UTC, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ..errors import PageImportError
from ..files import shown_from
from ..pipeline.check import check_publication
from ..sources.importer import ImportResult, format_result, format_summary, import_page
from ..sources.scaffold import init_publication, new_review
from . import State
from .context import publication_command, warn


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--title", default="Film Reviews", show_default=True,
              help="The publication's title.")
@click.option("--base-url", default="https://reviews.example.org/", show_default=True,
              help="Where the site is served; links in reviews are made absolute against it.")
@click.option("--timezone", "tz", default="UTC", show_default=True,
              help="IANA time zone for dates given without one, e.g. Europe/London.")
@click.option("--author", default="Editor", show_default=True,
              help="The editor's name (also the sample review's reviewer).")
@publication_command
def init_command(state: State, directory: str, title: str, base_url: str, tz: str,
                 author: str) -> None:
    """Create a publication in DIRECTORY: publisher.toml, a sample review and an about page."""
    zone: tzinfo
    try:
        zone = ZoneInfo(tz)
    except (ValueError, ZoneInfoNotFoundError):
        zone = UTC  # init_publication names the unknown zone
    written = init_publication(Path(directory), title=title, base_url=base_url, timezone=tz,
                               author=author, now=state.now(zone))
    for path in written:
        click.echo(f"wrote {path}")
    where = shlex.quote(directory)  # to be pasted into a shell: a space would split it
    click.echo(f"next: publisher -C {where} check, then publisher -C {where} build")


@click.command("check")
@click.option("--connect", is_flag=True,
              help="Also connect to the SMTP relay: TLS, EHLO, STARTTLS and login, sending "
                   "nothing.")
@click.option("--sources", "sources_only", is_flag=True,
              help="Check only publisher.toml, the reviews and the templates (for a pre-commit "
                   "hook, where the secret and the relay are not at hand).")
@publication_command
def check_command(state: State, connect: bool, sources_only: bool) -> int:
    """Check everything a run will need, writing nothing: publisher.toml, every review, the
    templates, the schedule (with the next due time), the transport, the addresses, the
    secret, the DKIM key (with the DNS record to publish), the ledger and the directories.

    Prints every problem as FILE:LINE: FIELD: MESSAGE and exits 1 if there is any.
    """
    report = check_publication(state.config, now=state.now(), connect=connect,
                               sources_only=sources_only)
    for line in report.errors:
        click.echo(line, err=True)
    warn(report.warnings)
    for line in report.info:
        click.echo(line)
    return 0 if report.ok else 1


@click.command("new")
@click.argument("title")
@click.option("--reviewer", help="Who reviews it (default: the publication's author).")
@click.option("--date", "date", help="Publication date, e.g. 2026-03-01 (default: today).")
@click.option("--slug", help="The review's slug: its file name and address (default: made "
                             "from the title).")
@publication_command
def new_command(state: State, title: str, reviewer: str | None, date: str | None,
                slug: str | None) -> None:
    """Start a review: write reviews/SLUG.md, a draft with TITLE and the fields to fill in
    (the skeleton is templates/new-review.md when the publication has one)."""
    config = state.config
    path = new_review(config, title, reviewer=reviewer, date=date, slug=slug, now=state.now())
    # The path as the editor can open it from where they are, as import and check print it
    # (pub/reviews/x.md after -C pub), not relative to the publication.
    click.echo(f"wrote {shown_from(path.absolute(), Path.cwd())}, a draft: publisher preview "
               "--drafts shows it; delete its draft: true line to publish it")


@click.command(name="import")
@click.argument("pages", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--title", help="The film's title (default: the page's Title: line, else the film "
                               "its closing line names, else the file's name).")
@click.option("--date", "date",
              help="Publication date, e.g. 2026-03-01 (default: the page's Date: line; "
                   "without either the review is a draft).")
@click.option("--slug", help="The review's slug: its file name and address (default: made "
                             "from the title).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory to write the review to (default: the publication's reviews/).")
@click.option("--force", is_flag=True, help="Overwrite an existing review with the same slug.")
@click.option("--encoding", help="How pages that are not UTF-8 were saved, e.g. windows-1252 "
                                 "(Windows' \"ANSI\"); UTF-8 pages are read as UTF-8 still.")
@publication_command
def import_command(state: State, pages: tuple[str, ...], title: str | None, date: str | None,
                   slug: str | None, out_dir: str | None, force: bool,
                   encoding: str | None) -> int:
    """Import review pages exported from a website builder (PAGE.txt) as reviews/*.md."""
    for option, value in (("--title", title), ("--slug", slug)):
        if value is not None and len(pages) > 1:
            raise click.UsageError(f"{option} names one film: import one page at a time with it")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise click.UsageError(f"--encoding: {encoding!r} is not an encoding Python knows; "
                                   "e.g. windows-1252") from None
    config, refused = state.config, 0
    results: list[ImportResult] = []
    for page in pages:
        try:
            result = import_page(Path(page), config, title=title, date=date, slug=slug,
                                 out_dir=Path(out_dir) if out_dir else None, force=force,
                                 now=state.now(), encoding=encoding)
        except PageImportError as exc:  # one bad page does not stop the others
            click.echo(f"error: {exc}", err=True)
            refused += 1
            continue
        results.append(result)
        click.echo(format_result(result, base=Path.cwd()))
    if len(pages) > 1:
        click.echo(format_summary(results, refused))
    return 1 if refused else 0
