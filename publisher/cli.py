"""The click layer: parse options, call the library, print. No logic lives here."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar

import click

from . import __version__
from .config import Config, load_config
from .errors import PublisherError

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
        return self.fixed_now or datetime.now(timezone.utc)


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
            if ctx is not None and ctx.find_object(State) and ctx.find_object(State).debug:
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


# === build (feeds, archive) ===


# === import (importer) ===


# === digest (preview, screenshot) ===


@main.group()
def digest() -> None:
    """Render newsletter digests for inspection."""


# === subscribers and issues (store) ===


@main.group()
def subscribers() -> None:
    """Manage the subscriber list."""


@main.group()
def issue() -> None:
    """Compose, inspect and send newsletter issues."""


# === issue send (delivery) ===


# === schedule and run (cron) ===


@main.group(invoke_without_command=True)
@click.pass_context
def schedule(ctx: click.Context) -> None:
    """Show when issues are due, or print a crontab line / systemd units."""


if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(sys.argv[0]))
