"""``publisher build``: the site's pages, the feeds and their archives, the issue archive and the
static files.

A build with nothing to do is answered by the idle check (``pipeline/idle.py``) without loading
the sources, the renderers or the database layer; those are imported only when there is work.
"""

from __future__ import annotations

import click

from ..pipeline.idle import IdleCheck, forget
from . import State
from .context import count, publication_command


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
    config, now = state.config, state.now()
    check = None if no_cache else IdleCheck.take(config, "build")
    answer = check.answer(now) if check is not None else None
    if answer is not None:
        for line in answer.stderr:
            click.echo(line, err=True)
        for line in answer.stdout:
            click.echo(line)
        return
    # Loaded only now that there is work: most of what an idle build would otherwise cost.
    from ..pipeline.build import build_publication

    report = build_publication(config, now=now, cache=not no_cache)
    warnings = [f"warning: {line}" for line in report.warnings]
    removed = f", {len(report.removed)} removed" if report.removed else ""
    summary = (f"{config.output_dir}/: {count(len(report.written), 'file')} written, "
               f"{report.unchanged} unchanged{removed}; "
               f"{count(len(report.warnings), 'warning')}")
    for line in warnings:
        click.echo(line, err=True)
    click.echo(summary)
    if report.websub:
        click.echo(report.websub)
    # Idle from now on only when nothing was written and the WebSub hub has nothing waiting
    # (a ping to retry must be retried by the next build, not replayed).
    if check is not None and not report.written and not report.removed and not report.websub:
        check.record(steady=report.steady, stdout=[summary], stderr=warnings)
    else:
        forget(config)
