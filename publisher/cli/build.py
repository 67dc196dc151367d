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
    summary = _summary(config.output_dir, len(report.written), report.unchanged,
                       len(report.removed), len(report.warnings))
    for line in warnings:
        click.echo(line, err=True)
    click.echo(summary)
    if report.websub:
        click.echo(report.websub)
    if check is None:
        return
    # Idle from now on only when nothing was written and the WebSub hub has nothing waiting
    # (a ping to retry must be retried by the next build, not replayed).
    if not report.written and not report.removed and not report.websub:
        check.record(steady=report.steady, stdout=[summary], stderr=warnings)
        return
    forget(config)
    if report.written or report.removed:
        # A build is deterministic: run again now, it would render nothing, write nothing and
        # say so. Its signature is taken afresh, after the writes, so that the next build is
        # answered at once instead of reading every source and stat'ing every output to find
        # that out (1.2 s at 10,000 reviews); any change since (or a ping still to retry)
        # sends it down the full path as usual.
        if config.paths.websub_queue.exists():
            return
        again = _summary(config.output_dir, 0, len(report.written) + report.unchanged, 0,
                         len(report.warnings))
        check.record_after(steady=report.steady, stdout=[again], stderr=warnings)


def _summary(output_dir: str, written: int, unchanged: int, removed: int,
             warnings: int) -> str:
    gone = f", {removed} removed" if removed else ""
    return (f"{output_dir}/: {count(written, 'file')} written, {unchanged} unchanged{gone}; "
            f"{count(warnings, 'warning')}")
