"""Commands about the publication itself: init, check, build, import."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import PageImportError
from ..pipeline.build import build_publication
from ..pipeline.check import check_publication
from ..sources.importer import format_result, import_page
from ..sources.scaffold import init_publication
from . import State
from .context import count, publication_command, warn


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
    """Create a publication in DIRECTORY: publisher.toml and one sample review."""
    written = init_publication(Path(directory), title=title, base_url=base_url, timezone=tz,
                               author=author, now=state.now())
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: publisher -C {directory} check, then publisher -C {directory} build")


@click.command("check")
@publication_command
def check_command(state: State) -> int:
    """Validate publisher.toml, every review and the templates without writing anything.

    Prints every problem as FILE:LINE: FIELD: MESSAGE and exits 1 if there is any, so it can
    run as a pre-commit hook.
    """
    report = check_publication(state.config, now=state.now())
    for line in report.errors:
        click.echo(line, err=True)
    warn(report.warnings)
    for line in report.info:
        click.echo(line)
    return 0 if report.ok else 1


@click.command("build")
@click.option("--no-cache", is_flag=True,
              help="Ignore the caches in .publisher/cache: parse every source, render every feed.")
@publication_command
def build_command(state: State, no_cache: bool) -> None:
    """Write the site to the output directory: a page per review, the home page and indexes,
    the feeds (site, per reviewer, per tag) with their monthly archives, the issue archive
    and static/ files. All or nothing: if anything fails (an invalid source, a full disk),
    the previous output stays as it was. Tells the WebSub hub ([feeds] hub) which feeds
    changed."""
    config = state.config
    report = build_publication(config, now=state.now(), cache=not no_cache)
    warn(report.warnings)
    removed = f", {len(report.removed)} removed" if report.removed else ""
    click.echo(f"{config.output_dir}/: {count(len(report.written), 'file')} written, "
               f"{report.unchanged} unchanged{removed}; "
               f"{count(len(report.warnings), 'warning')}")
    if report.websub:
        click.echo(report.websub)


@click.command(name="import")
@click.argument("pages", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--title", help="The film's title (default: made from the page's file name).")
@click.option("--date", "date",
              help="Publication date, e.g. 2026-03-01 (without it the review is a draft).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory to write the review to (default: the publication's reviews/).")
@click.option("--force", is_flag=True, help="Overwrite an existing review with the same slug.")
@publication_command
def import_command(state: State, pages: tuple[str, ...], title: str | None, date: str | None,
                   out_dir: str | None, force: bool) -> int:
    """Import review pages exported from a website builder (PAGE.txt) as reviews/*.md."""
    if title is not None and len(pages) > 1:
        raise click.UsageError("--title names one film: import one page at a time with it")
    config, failed = state.config, False
    for page in pages:
        try:
            result = import_page(Path(page), config, title=title, date=date,
                                 out_dir=Path(out_dir) if out_dir else None, force=force,
                                 now=state.now())
        except PageImportError as exc:  # one bad page does not stop the others
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        click.echo(format_result(result, base=Path.cwd()))
    return 1 if failed else 0
