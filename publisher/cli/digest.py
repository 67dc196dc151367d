"""``publisher digest``: render a digest for inspection, as HTML, .eml, text or screenshots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click

from ..errors import PublisherError
from ..models import RenderedDigest
from ..pipeline.preview import preview_digest, write_output
from ..pipeline.screenshot import CHROMIUM_HINT, find_chromium, local_assets, screenshot
from ..render.digest import personalise, preview_values
from ..render.lint import check_digest_html, lint_templates
from ..render.message import preview_message
from ..render.sender import Sender
from ..text import count
from . import State
from .context import publication_command, warn

F = TypeVar("F", bound=Callable[..., object])


@click.group()
def digest() -> None:
    """Render newsletter digests for inspection."""


def _choose_reviews(func: F) -> F:
    """--last N / --since DATE, shared by preview and screenshot."""
    func = click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
                        help="Every review published on or after DATE (YYYY-MM-DD).")(func)
    return click.option(
        "--last", type=click.IntRange(min=1),
        help="The N most recent published reviews (default: those the next issue would "
             "hold; the latest newsletter.max_reviews when none is waiting).")(func)


def _preview(state: State, last: int | None, since: datetime | None) -> RenderedDigest:
    if last is not None and since is not None:
        raise click.UsageError("choose the reviews with --last N or --since DATE, not both")
    return preview_digest(state.config, now=state.now(), last=last,
                          since=since.date() if since else None,
                          note=lambda line: click.echo(line, err=True))


@digest.command("preview")
@_choose_reviews
@click.option("--out", type=click.Path(dir_okay=False),
              help="Write the HTML part to FILE, as named (digest.html, say; placeholder "
                   "subscriber values).")
@click.option("--eml", type=click.Path(dir_okay=False),
              help="Write the whole message to FILE, as named (digest.eml opens in a mail "
                   "client).")
@click.option("--text", "show_text", is_flag=True, help="Print the plain-text part.")
@publication_command
def digest_preview(state: State, last: int | None, since: datetime | None, out: str | None,
                   eml: str | None, show_text: bool) -> None:
    """Render a digest for inspection, with no subscriber data: the next issue as it would go
    out, or the reviews chosen with --last or --since."""
    config = state.config
    # Lint first: when a template trap stops MJML compiling, the warning says which one.
    warn(lint_templates(config.templates_path))
    rendered = _preview(state, last, since)
    sender = Sender.from_config(config)
    html, text = personalise(rendered, preview_values(sender))
    size = len(rendered.html.encode("utf-8")) / 1024
    click.echo(f"{rendered.subject}\n{count(len(rendered.issue.reviews), 'review')}, "
               f"HTML {size:.1f} KB, text {len(text.encode('utf-8')) / 1024:.1f} KB", err=True)
    warn(check_digest_html(rendered.html))
    if out:
        write_output(Path(out), html.encode("utf-8"))
        click.echo(f"wrote {out}", err=True)
    if eml:
        write_output(Path(eml), preview_message(rendered, sender, date=state.now()))
        click.echo(f"wrote {eml}", err=True)
    if show_text:
        click.echo(text, nl=False)


@digest.command("screenshot")
@_choose_reviews
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for the PNG files (default: .publisher/screenshots).")
@click.option("--dark", is_flag=True,
              help="Also render in dark mode and with forced colour inversion.")
@publication_command
def digest_screenshot(state: State, last: int | None, since: datetime | None,
                      out_dir: str | None, dark: bool) -> None:
    """Screenshot a digest at 375 px and 1200 px wide with headless Chromium (no network)."""
    if find_chromium() is None:
        raise PublisherError(CHROMIUM_HINT)
    config = state.config
    html, _ = personalise(_preview(state, last, since),
                          preview_values(Sender.from_config(config)))
    html = local_assets(html, config)
    target = Path(out_dir) if out_dir else config.paths.screenshots
    schemes = ("light", "dark", "inverted") if dark else ("light",)
    for scheme in schemes:
        for path in screenshot(html, target, scheme=scheme):
            click.echo(str(path))
