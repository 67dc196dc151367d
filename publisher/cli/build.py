"""``publisher build``: the site's pages, the feeds and their archives, the issue archive and the
static files; ``publisher preview``: the same, built for a server on this machine and kept up
to date while an editor works.

A build with nothing to do is answered by the idle check (``pipeline/idle.py``) without loading
the sources, the renderers or the database layer; those are imported only when there is work.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from ..pipeline.idle import IdleCheck, forget
from ..text import count
from . import State
from .context import publication_command

if TYPE_CHECKING:
    from ..pipeline.build import BuildReport


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
    # Only a clock set ahead can publish early, and only it pays for the import of the
    # pipeline (cron gives no --now; a look back must stay an idle answer, bench/build.py's
    # included, which builds at a fixed past --now).
    if state.fixed_now is not None and state.fixed_now > datetime.now(UTC):
        from ..pipeline.rehearsal import refuse_early_build

        refuse_early_build(config, state.fixed_now)
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
        # What moved, and a new review no issue mails, are said by the build that finds them;
        # the build after, which this answers for, knows their pages.
        lasting = [w for w in report.warnings if w not in report.moved]
        again = _summary(config.output_dir, 0, len(report.written) + report.unchanged, 0,
                         len(lasting))
        check.record_after(steady=report.steady, stdout=[again],
                           stderr=[f"warning: {line}" for line in lasting],
                           written=report.output)


def _summary(output_dir: str, written: int, unchanged: int, removed: int,
             warnings: int) -> str:
    gone = f", {removed:,} removed" if removed else ""
    return (f"{output_dir}/: {count(written, 'file')} written, {unchanged:,} unchanged{gone}; "
            f"{count(warnings, 'warning')}")


@click.command("preview")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (this machine only, unless told otherwise).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on; 0 for any free port.")
@click.option("-D", "--drafts", is_flag=True,
              help="Show the drafts too, each marked as one (publisher build leaves them out).")
@click.option("-F", "--future", is_flag=True,
              help="Show the reviews scheduled for later too, each marked with its date.")
@publication_command
def preview_command(state: State, host: str, port: int, drafts: bool, future: bool) -> None:
    """Build the site for this machine and serve it, building again when a review, template,
    static file or publisher.toml changes; open pages reload themselves. Writes under
    .publisher/preview/, never the output directory; tells no WebSub hub. Shows what is
    published at the clock's time, and with --drafts and --future what is not yet, marked on
    its page and on every link to it. Ctrl-C stops."""
    import threading

    from ..models import Showing
    from ..pipeline.sitepreview import SitePreview, watch
    from ..web.preview import create_preview_app
    from ..web.server import listen, serve

    # Not [server]'s address: that is serve's, which may be running at the same time.
    sock = listen(host, port, choose="--host/--port (--port 0 takes any free one)")
    bound = sock.getsockname()[1]
    site = SitePreview(state.config, f"http://{_url_host(host)}:{bound}/", clock=state.now,
                       showing=Showing(drafts=drafts, future=future))
    try:
        report = site.build()
    except BaseException:
        sock.close()
        raise
    _report(site.config.output_dir, report)
    click.echo(f"previewing {state.config.title} at {site.url} (built again when a source "
               "changes); Ctrl-C stops")
    if drafts or future:
        labels = [note.label for note in site.status.notes.values()]
        shown = [count(labels.count(label), noun) for flag, label, noun in (
            (drafts, "Draft", "draft"), (future, "Scheduled", "scheduled review")) if flag]
        click.echo(f"  showing {' and '.join(shown)} too, marked as such on their pages "
                   "(publisher build leaves them out)")
    if site.config.external_pages:
        click.echo("  another site has the review pages (feeds.permalink): the preview holds "
                   "the feeds (feed.xml, …), the issue archive and static/ files, listed at "
                   "its address")

    def built(report: BuildReport) -> None:
        _report(site.config.output_dir, report)

    def failed(why: str) -> None:
        click.echo(f"error: {why}", err=True)

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(site, stop),
                               kwargs={"built": built, "failed": failed},
                               name="preview-watch", daemon=True)
    watcher.start()
    try:
        serve(create_preview_app(str(site.config.output_path), site.url, host,
                                 lambda: site.status),
              sock, trusted_proxies="", quiet=True)
    finally:
        stop.set()
        watcher.join(timeout=60)  # a build under way finishes: its output is all or nothing
    click.echo("preview stopped")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _report(output_dir: str, report: BuildReport) -> None:
    for problem in report.warnings:
        click.echo(f"warning: {problem}", err=True)
    click.echo(_summary(output_dir, len(report.written), report.unchanged,
                        len(report.removed), len(report.warnings)))
