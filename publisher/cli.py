"""The click layer: parse options, call the library, print. No logic lives here."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from . import __version__
from .config import Config, load_config
from .errors import ImportError_, PublisherError, SourceError, TemplateError

if TYPE_CHECKING:
    from .store import Store

F = TypeVar("F", bound=Callable[..., Any])


class State:
    """What the group's options give every command: where the publication is, and the clock."""

    def __init__(self, config_path: str | None, directory: str | None, now: datetime | None,
                 debug: bool):
        self.config_path = config_path
        self.directory = directory
        self.fixed_now = now
        self.debug = debug
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, self.directory)
        return self._config

    def now(self) -> datetime:
        """The one clock: --now / PUBLISHER_NOW when given (tests walk schedules with it)."""
        return self.fixed_now or datetime.now(UTC)


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time such as 2026-03-29T09:00:00+01:00"
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; add one, e.g. +00:00")
    return parsed


def handle_errors(func: F) -> F:
    """Turn PublisherError into a clean message and exit code 1 (tracebacks only with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PublisherError as exc:
            ctx = click.get_current_context(silent=True)
            state = ctx.find_object(State) if ctx is not None else None
            if state is not None and state.debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Path to publisher.toml (default: ./publisher.toml).")
@click.option("-C", "directory", type=click.Path(file_okay=False),
              help="Publication directory holding publisher.toml.")
@click.option("--now", "now", envvar="PUBLISHER_NOW",
              help="Run as if the clock read this ISO 8601 time (also PUBLISHER_NOW).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="publisher")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, directory: str | None, now: str | None,
         debug: bool) -> None:
    """Turn film-review sources into feeds and email newsletters."""
    ctx.obj = State(config_path, directory, _parse_now(now), debug)


# --- commands are registered below, grouped by concern -------------------------------------
# Each area keeps its commands under its own heading.

# === init and check (sources) ===

#: Further checks that `publisher check` runs once the config has loaded: each takes the Config
#: and returns error lines (empty when all is well). Template lint belongs here.
CHECKS: list[Callable[[Config], list[str]]] = []


@main.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--title", default="Film Reviews", show_default=True,
              help="The publication's title.")
@click.option("--base-url", default="https://reviews.example.org/", show_default=True,
              help="Where the site is served; links in reviews are made absolute against it.")
@click.option("--timezone", "tz", default="UTC", show_default=True,
              help="IANA time zone for dates given without one, e.g. Europe/London.")
@click.option("--author", default="Editor", show_default=True,
              help="The editor's name (also the sample review's reviewer).")
@pass_state
@handle_errors
def init_command(state: State, directory: str, title: str, base_url: str, tz: str,
                 author: str) -> None:
    """Create a publication in DIRECTORY: publisher.toml and one sample review."""
    from .sources import init_publication

    written = init_publication(Path(directory), title=title, base_url=base_url, timezone=tz,
                               author=author, now=state.now())
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: publisher -C {directory} check, then publisher -C {directory} build")


@main.command("check")
@pass_state
@handle_errors
def check_command(state: State) -> None:
    """Validate publisher.toml and every review without writing anything.

    Prints every problem as FILE:LINE: FIELD: MESSAGE and exits 1 if there is any, so it can
    run as a pre-commit hook.
    """
    from .digest import check_digest, lint_templates
    from .sources import check_sources

    config = state.config
    result = check_sources(config)
    errors = [str(problem) for problem in result.problems]
    for extra_check in CHECKS:
        errors.extend(extra_check(config))
    now = state.now()
    published = [r for r in result.reviews if r.is_published(now)]
    # The digest of the latest reviews: template lint, HTML size, images without alt text.
    digest_line, warnings = "", [str(w) for w in result.warnings]
    try:
        digest_line, digest_warnings = check_digest(config, published, now=now)
        warnings.extend(digest_warnings)
    except TemplateError as exc:
        errors.append(str(exc))
        warnings.extend(lint_templates(config))  # usually the reason it did not compile
    for line in errors:
        click.echo(line, err=True)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if digest_line:
        click.echo(digest_line)
    drafts = sum(1 for r in result.reviews if r.draft)
    scheduled = len(result.reviews) - len(published) - drafts
    click.echo(f"{_count(result.files, 'review file')}: {len(published)} published, "
               f"{_count(drafts, 'draft')}, {scheduled} scheduled; "
               f"{_count(len(errors), 'error')}, {_count(len(warnings), 'warning')}")
    if errors:
        sys.exit(1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# === build (feeds, archive) ===


@main.command("build")
@click.option("--no-cache", is_flag=True,
              help="Ignore the caches in .publisher/cache: parse every source, render every feed.")
@pass_state
@handle_errors
def build_command(state: State, no_cache: bool) -> None:
    """Write the feeds (site, per reviewer, per tag), the issue archive and static/ files to
    the output directory. Nothing is written if any source is invalid."""
    from .build import build_publication

    config = state.config
    report = build_publication(config, now=state.now(), cache=not no_cache)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    removed = f", {len(report.removed)} removed" if report.removed else ""
    click.echo(f"{config.output_dir}/: {_count(len(report.written), 'file')} written, "
               f"{report.unchanged} unchanged{removed}; "
               f"{_count(len(report.warnings), 'warning')}")


# === import (importer) ===


@main.command(name="import")
@click.argument("pages", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--title", help="The film's title (default: made from the page's file name).")
@click.option("--date", "date",
              help="Publication date, e.g. 2026-03-01 (without it the review is a draft).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory to write the review to (default: the publication's reviews/).")
@click.option("--force", is_flag=True, help="Overwrite an existing review with the same slug.")
@pass_state
@handle_errors
def import_command(state: State, pages: tuple[str, ...], title: str | None, date: str | None,
                   out_dir: str | None, force: bool) -> None:
    """Import review pages exported from a website builder (PAGE.txt) as reviews/*.md."""
    from .importer import format_result, import_page

    if title is not None and len(pages) > 1:
        raise click.UsageError("--title names one film: import one page at a time with it")
    config, failed = state.config, False
    for page in pages:
        try:
            result = import_page(Path(page), config, title=title, date=date,
                                 out_dir=Path(out_dir) if out_dir else None, force=force,
                                 now=state.now())
        except ImportError_ as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        click.echo(format_result(result, base=Path.cwd()))
    if failed:
        sys.exit(1)


# === digest (preview, screenshot) ===


@main.group()
def digest() -> None:
    """Render newsletter digests for inspection."""


def _preview_digest(state: State, last: int | None, since: datetime | None) -> Any:
    """A RenderedDigest of the chosen published reviews (never stored, no subscriber data)."""
    from . import digest as digest_lib
    from .sources import load_reviews

    if last is not None and since is not None:
        raise click.UsageError("choose the reviews with --last N or --since DATE, not both")
    config, now = state.config, state.now()
    published = load_reviews(config).published(now)
    reviews = digest_lib.select_reviews(published, last=last,
                                        since=since.date() if since else None, config=config)
    if not reviews:
        raise PublisherError("no published reviews match; nothing to preview")
    return digest_lib.render_digest(digest_lib.preview_issue(config, reviews, now=now), config)


_preview_options = [
    click.option("--last", type=click.IntRange(min=1),
                 help="The N most recent published reviews (default: newsletter.max_reviews)."),
    click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
                 help="Every review published on or after DATE (YYYY-MM-DD)."),
]


def _with_preview_options(func: F) -> F:
    for option in reversed(_preview_options):
        func = option(func)
    return func


@digest.command("preview")
@_with_preview_options
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the HTML part to FILE.html (placeholder subscriber values).")
@click.option("--eml", type=click.Path(dir_okay=False),
              help="Write the whole message to FILE.eml (open it in a mail client).")
@click.option("--text", "show_text", is_flag=True, help="Print the plain-text part.")
@pass_state
@handle_errors
def digest_preview(state: State, last: int | None, since: datetime | None, out: str | None,
                   eml: str | None, show_text: bool) -> None:
    """Render a digest of recent reviews for inspection, with no subscriber data."""
    from . import digest as digest_lib

    config = state.config
    # Lint first: when a template trap stops MJML compiling, the warning says which one.
    for warning in digest_lib.lint_templates(config):
        click.echo(f"warning: {warning}", err=True)
    rendered = _preview_digest(state, last, since)
    html, text = digest_lib.personalise(rendered, digest_lib.preview_values(config))
    size = len(rendered.html.encode("utf-8")) / 1024
    click.echo(f"{rendered.subject}\n{_count(len(rendered.issue.reviews), 'review')}, "
               f"HTML {size:.1f} KB, text {len(text.encode('utf-8')) / 1024:.1f} KB", err=True)
    for warning in digest_lib.check_digest_html(rendered.html):
        click.echo(f"warning: {warning}", err=True)
    if out:
        digest_lib.write_output(Path(out), html.encode("utf-8"))
        click.echo(f"wrote {out}", err=True)
    if eml:
        from .mail import preview_message

        digest_lib.write_output(Path(eml), preview_message(rendered, config, date=state.now()))
        click.echo(f"wrote {eml}", err=True)
    if show_text:
        click.echo(text, nl=False)


@digest.command("screenshot")
@_with_preview_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for the PNG files (default: .publisher/screenshots).")
@click.option("--dark", is_flag=True,
              help="Also render in dark mode and with forced colour inversion.")
@pass_state
@handle_errors
def digest_screenshot(state: State, last: int | None, since: datetime | None,
                      out_dir: str | None, dark: bool) -> None:
    """Screenshot a digest at 375 px and 1200 px wide with headless Chromium (no network)."""
    from . import digest as digest_lib

    if digest_lib.find_chromium() is None:
        click.echo(digest_lib.CHROMIUM_HINT, err=True)
        sys.exit(1)
    config = state.config
    html, _ = digest_lib.personalise(_preview_digest(state, last, since),
                                     digest_lib.preview_values(config))
    html = digest_lib.local_assets(html, config)
    target = Path(out_dir) if out_dir else config.root / ".publisher" / "screenshots"
    schemes = ("light", "dark", "inverted") if dark else ("light",)
    for scheme in schemes:
        for path in digest_lib.screenshot(html, target, scheme=scheme):
            click.echo(str(path))


# === subscribers and issues (store) ===


@main.group()
def subscribers() -> None:
    """Manage the subscriber list."""


@main.group()
def issue() -> None:
    """Compose, inspect and send newsletter issues."""


def open_store_for(state: State) -> Store:
    """The publication's ledger, closed when the current command ends."""
    from .store import open_store

    store = open_store(state.config)
    click.get_current_context().call_on_close(store.close)
    return store


def _local_time(when: datetime | None, config: Config) -> str:
    return "-" if when is None else f"{when.astimezone(config.tz):%Y-%m-%d %H:%M %Z}"


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name (used in the greeting).")
@click.option("--force", is_flag=True,
              help="Subscribe again someone who unsubscribed, bounced or complained.")
@pass_state
@handle_errors
def subscribers_add(state: State, email: str, name: str, force: bool) -> None:
    """Add EMAIL to the list (the address is checked, without DNS look-ups)."""
    sub = open_store_for(state).add_subscriber(email, name, now=state.now(), force=force)
    click.echo(f"subscribed {sub.email}")


@subscribers.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True,
              help="Subscribe again those who unsubscribed, bounced or complained.")
@pass_state
@handle_errors
def subscribers_import(state: State, file: str, force: bool) -> None:
    """Add the subscribers in FILE.csv (a header row naming email and name, then one row each).

    Invalid rows are reported with their line numbers (and the exit code is 1); duplicates are
    skipped; someone who unsubscribed or bounced is not subscribed again without --force.
    """
    report = open_store_for(state).import_subscribers_csv(Path(file), now=state.now(),
                                                           force=force)
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    click.echo(report.summary())
    if report.problems:
        sys.exit(1)


@subscribers.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@pass_state
@handle_errors
def subscribers_export(state: State, file: str | None) -> None:
    """Write every subscriber as CSV (email,name,status,source,created_at) to FILE or stdout.

    'subscribers import' reads the file back, keeping unsubscribed and bounced addresses so.
    """
    from .files import write_atomic
    from .store import subscribers_csv

    subs = open_store_for(state).subscribers()
    text = subscribers_csv(subs)
    if file is None or file == "-":
        click.echo(text, nl=False)
    else:
        write_atomic(Path(file), text.encode("utf-8"))
        click.echo(f"wrote {_count(len(subs), 'subscriber')} to {file}")


@subscribers.command("list")
@click.option("--status", type=click.Choice(("active", "unsubscribed", "bounced", "complained")),
              help="Only subscribers with this status.")
@pass_state
@handle_errors
def subscribers_list(state: State, status: str | None) -> None:
    """List subscribers: address, status, when and how they joined, name."""
    subs = open_store_for(state).subscribers(status)
    if not subs:
        click.echo(f"no {status + ' ' if status else ''}subscribers")
        return
    width = max(len(sub.email) for sub in subs)
    source_width = max(len(sub.source) for sub in subs)
    tz = state.config.tz
    for sub in subs:
        joined = f"{sub.created_at.astimezone(tz):%Y-%m-%d}" if sub.created_at else "-"
        click.echo(f"{sub.email:<{width}}  {sub.status:<12}  {joined}  "
                   f"{sub.source:<{source_width}}  {sub.name}".rstrip())


@subscribers.command("remove")
@click.argument("email")
@pass_state
@handle_errors
def subscribers_remove(state: State, email: str) -> None:
    """Forget EMAIL entirely, with its delivery history (to keep someone off the list for good,
    use 'unsubscribe')."""
    open_store_for(state).remove_subscriber(email)
    click.echo(f"removed {email}")


@subscribers.command("unsubscribe")
@click.argument("email")
@pass_state
@handle_errors
def subscribers_unsubscribe(state: State, email: str) -> None:
    """Unsubscribe EMAIL: it stays on record so that no import subscribes it again."""
    sub = open_store_for(state).set_subscriber_status(email, "unsubscribed", now=state.now())
    click.echo(f"unsubscribed {sub.email}")


@issue.command("new")
@click.option("--dry-run", is_flag=True, help="Show what the issue would hold; write nothing.")
@click.option("--note", type=click.Path(dir_okay=False),
              help="An editor's note in Markdown (FILE.md), shown above the reviews.")
@pass_state
@handle_errors
def issue_new(state: State, dry_run: bool, note: str | None) -> None:
    """Compose the next issue from the published reviews that are in no issue yet."""
    from .compose import compose_issue, note_from_file
    from .sources import load_reviews

    config = state.config
    catalog = load_reviews(config)
    for warning in catalog.warnings:
        click.echo(f"warning: {warning}", err=True)
    note_html = note_from_file(Path(note), config) if note else ""
    record = compose_issue(config, open_store_for(state), catalog, now=state.now(),
                           dry_run=dry_run, note_html=note_html)
    verb = "would create" if dry_run else "created"
    click.echo(f"{verb} issue #{record.number} (draft): {record.subject}")
    for position, review_id in enumerate(record.review_ids, 1):
        review = catalog.by_id(review_id)
        assert review is not None
        click.echo(f"  {position}. {review.title} ({review.reviewer}, {review.date:%Y-%m-%d})")
    if dry_run:
        click.echo("(dry run: nothing written)")


@issue.command("list")
@pass_state
@handle_errors
def issue_list(state: State) -> None:
    """List issues: number, state, date, how many reviews, subject."""
    records = open_store_for(state).issues()
    if not records:
        click.echo("no issues yet; 'publisher issue new' composes one")
        return
    config = state.config
    for record in records:
        when = record.sent_at or record.created_at
        click.echo(f"#{record.number:<4} {record.state:<9}  {_local_time(when, config)}  "
                   f"{_count(len(record.review_ids), 'review')}  {record.subject}")


@issue.command("show")
@click.argument("number", type=int)
@pass_state
@handle_errors
def issue_show(state: State, number: int) -> None:
    """Show issue NUMBER: subject, state, reviews and delivery counts."""
    from .sources import load_reviews

    config = state.config
    store = open_store_for(state)
    record = store.issue(number)
    try:
        catalog = load_reviews(config)
    except SourceError as exc:
        catalog = None
        click.echo(f"warning: reviews not shown by title: {exc.problems[0]}", err=True)
    click.echo(f"issue #{record.number}: {record.subject}")
    click.echo(f"state: {record.state}" + (" (paused)" if record.paused_reason else ""))
    if record.paused_reason:
        click.echo(f"paused: {record.paused_reason}; 'publisher issue send {number}' resumes")
    click.echo(f"created: {_local_time(record.created_at, config)}")
    if record.slot is not None:
        click.echo(f"slot: {_local_time(record.slot, config)}")
    if record.sent_at is not None:
        click.echo(f"sent: {_local_time(record.sent_at, config)}")
    released = " (released when the issue was cancelled)" if record.state == "cancelled" else ""
    click.echo(f"reviews ({len(record.review_ids)}){released}:")
    for position, review_id in enumerate(record.review_ids, 1):
        review = catalog.by_id(review_id) if catalog is not None else None
        if review is None:
            missing = " (no longer in the sources)" if catalog is not None else ""
            click.echo(f"  {position}. {review_id}{missing}")
        else:
            click.echo(f"  {position}. {review.title} ({review.reviewer}, "
                       f"{review.date:%Y-%m-%d})  {review_id}")
    counts = store.delivery_counts(number)
    total = sum(counts.values())
    detail = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    click.echo(f"deliveries: {total}" + (f" ({detail})" if detail else ""))


@issue.command("cancel")
@click.argument("number", type=int)
@pass_state
@handle_errors
def issue_cancel(state: State, number: int) -> None:
    """Cancel draft issue NUMBER before sending starts; its reviews go into the next issue.
    (Its number is not reused.)"""
    record = open_store_for(state).set_issue_state(number, "cancelled", now=state.now())
    click.echo(f"cancelled issue #{number}; its {_count(len(record.review_ids), 'review')} "
               "will go into the next issue")


# === issue send (delivery) ===


@issue.command("send")
@click.argument("number", type=int)
@click.option("--dry-run", is_flag=True, help="Say what would be sent, and send nothing.")
@click.option("--to", "address", metavar="ADDRESS",
              help="Send one test copy to ADDRESS; nothing is queued or recorded.")
@pass_state
@handle_errors
def issue_send(state: State, number: int, dry_run: bool, address: str | None) -> None:
    """Queue issue NUMBER for every active subscriber and deliver it."""
    from . import delivery
    from .mail import load_secret
    from .sources import load_reviews

    config, now = state.config, state.now()
    store = open_store_for(state)
    if dry_run:
        for line in delivery.plan(config, store, number, now=now):
            click.echo(line)
        return
    secret = load_secret()
    catalog = load_reviews(config)
    if address is not None:
        from .compose import issue_from_record

        issue_ = issue_from_record(store.issue(number), catalog, config)
        reply = delivery.send_test(config, issue_, address, secret=secret, now=now)
        click.echo(f"sent a test copy of issue #{number} to {address}: {reply}")
        return
    with _sending_lock(config):
        report = delivery.deliver_issue(config, store, number, now=now, secret=secret,
                                        catalog=catalog, progress=sys.stderr.isatty(),
                                        echo=click.echo, resume=True)
    if report.paused:
        click.echo(f"error: {report.paused}", err=True)
        sys.exit(1)


def _sending_lock(config: Config) -> Any:
    """The run lock, so that a hand-started send and a cron run never send side by side (the
    ledger would keep them from sending twice, but each would report the other's messages in
    flight as ambiguous)."""
    from .run import lock_path
    from .schedule import run_lock

    return run_lock(lock_path(config))


@issue.command("resend-ambiguous")
@click.argument("number", type=int)
@pass_state
@handle_errors
def issue_resend_ambiguous(state: State, number: int) -> None:
    """Send again, on purpose, the deliveries of NUMBER whose fate is unknown (some recipients
    may receive a second copy)."""
    from . import delivery
    from .mail import load_secret
    from .sources import load_reviews

    config, now = state.config, state.now()
    store = open_store_for(state)
    with _sending_lock(config):
        report = delivery.resend_ambiguous(config, store, number, now=now, secret=load_secret(),
                                           catalog=load_reviews(config),
                                           progress=sys.stderr.isatty(), echo=click.echo)
    if report.paused:
        click.echo(f"error: {report.paused}", err=True)
        sys.exit(1)


@issue.command("settle-ambiguous")
@click.argument("number", type=int)
@pass_state
@handle_errors
def issue_settle_ambiguous(state: State, number: int) -> None:
    """Record NUMBER's ambiguous deliveries as delivered, without sending them again (when the
    relay's logs show they went out)."""
    store = open_store_for(state)
    with _sending_lock(state.config):
        count = store.settle_ambiguous(number, now=state.now())
        record = store.issue(number)
    click.echo(f"issue #{number}: {count} ambiguous deliver{'y' if count == 1 else 'ies'} "
               f"recorded as delivered; the issue is {record.state}")


# === schedule and run (cron) ===


@main.group(invoke_without_command=True)
@click.pass_context
@handle_errors
def schedule(ctx: click.Context) -> None:
    """Show when issues are due, or print a crontab line / systemd units."""
    if ctx.invoked_subcommand is None:
        from .schedule import describe

        state = ctx.find_object(State)
        for line in describe(state.config, state.now()):
            click.echo(line)


@schedule.command("crontab")
@pass_state
@handle_errors
def schedule_crontab(state: State) -> None:
    """Print a crontab entry that runs 'publisher run' every five minutes."""
    from .schedule import crontab_line, publication_command

    root = state.config.root
    click.echo(crontab_line(root, publication_command(state.config),
                            root / ".publisher" / "cron.log"), nl=False)


@schedule.command("systemd")
@pass_state
@handle_errors
def schedule_systemd(state: State) -> None:
    """Print a systemd .service and .timer pair that run 'publisher run' every five minutes."""
    from .schedule import publication_command, systemd_units

    config = state.config
    units = systemd_units(config.root, publication_command(config), title=config.title)
    timer = next(name for name in units if name.endswith(".timer"))
    click.echo("# Save these in ~/.config/systemd/user/, then:\n"
               f"#   systemctl --user enable --now {timer}")
    for name, text in units.items():
        click.echo(f"\n# --- {name} ---\n{text}", nl=False)


@main.command("run")
@click.option("--catch-up", is_flag=True,
              help="Send an issue whose slot is older than the grace window (instead of "
                   "skipping it).")
@pass_state
@handle_errors
def run_command(state: State, catch_up: bool) -> None:
    """Build feeds, compose the issue if one is due, deliver what is queued (cron calls this)."""
    from .run import run_once

    report = run_once(state.config, now=state.now(), catch_up=catch_up, echo=click.echo,
                      progress=sys.stderr.isatty())
    decision = report.decision
    if decision is not None and report.outcome is None and sys.stdout.isatty():
        click.echo(decision.reason)  # on a terminal, say why nothing was composed
    if report.problem:
        click.echo(f"error: {report.problem}", err=True)
        sys.exit(report.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
