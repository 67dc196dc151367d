"""The command line: click only. Each command parses its options, calls the library, prints.

Commands live in one module per area (``publication``, ``digest``, ``subscribers``, ``issues``,
``schedule``, …) and are imported only when invoked: ``publisher --help`` and a mistyped command
answer without loading the library (start-up is most of what a cron run costs when nothing is
due). The registry below names each command's module and the one-line help that ``publisher
--help`` shows; tests hold it to the commands themselves.
"""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

import click

from .. import __version__

if TYPE_CHECKING:
    from ..config import Config

#: name → (module:attribute under publisher.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("publication:init_command", "Create a new publication in DIRECTORY."),
    "check": ("publication:check_command",
              "Check everything a run will need; write and send nothing."),
    "build": ("build:build_command",
              "Write the site: pages, feeds, archives and static files."),
    "preview": ("build:preview_command",
                "Serve the site on this machine, built again on every change."),
    "new": ("publication:new_command", "Start a review: a draft with the fields to fill in."),
    "import": ("publication:import_command",
               "Import review pages exported from a website builder."),
    "digest": ("digest:digest", "Render newsletter digests for inspection."),
    "subscribers": ("subscribers:subscribers", "Manage the subscriber list."),
    "issue": ("issues:issue", "Compose, inspect and send newsletter issues."),
    "schedule": ("schedule:schedule",
                 "Show when issues are due; print crontab or systemd units."),
    "run": ("run:run_command",
            "Do what is due: build, compose, deliver (cron calls this)."),
    "backup": ("backup:backup_command",
               "Copy the whole ledger to a file, safely while runs go on."),
    "restore": ("backup:restore_command", "Replace the ledger with a backup file."),
    "serve": ("reader:serve_command", "Serve subscribe, unsubscribe and preferences pages."),
    "inbox": ("reader:inbox_command", "Act on bounces, complaints and mailto unsubscribes."),
}


class State:
    """What the group's options give every command: where the publication is, and the clock."""

    def __init__(self, config_path: str | None, directory: str | None, now: datetime | None,
                 debug: bool):
        self.config_path = config_path
        self.directory = directory
        self._given_now = now
        self.debug = debug
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            # Imported on first use: ``publisher --help`` and a mistyped command never read a
            # config, and tomllib, zoneinfo and the dataclass machinery are a quarter of the
            # start-up they would otherwise pay.
            from ..config import load_config

            self._config = load_config(self.config_path, self.directory)
        return self._config

    @property
    def fixed_now(self) -> datetime | None:
        """--now / PUBLISHER_NOW as an aware time, or None when not given."""
        return self.now() if self._given_now is not None else None

    def now(self, tz: tzinfo | None = None) -> datetime:
        """The one clock: --now / PUBLISHER_NOW when given (tests walk schedules with it). A
        given date or time without an offset is read in ``tz``, by default the publication's
        zone, as a review's bare date is (``init`` passes the zone it is given)."""
        given = self._given_now
        if given is None:
            return datetime.now(UTC)
        if given.tzinfo is None:
            return given.replace(tzinfo=tz or self.config.tz)
        return given


def parse_now(value: str | None, *, from_environment: bool = False) -> datetime | None:
    """--now's value as a time (naive when it gives no offset), or None when not given.
    ``from_environment``: it came from PUBLISHER_NOW, which the error then names: a variable
    left in a crontab is no option anyone typed."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        wrong = "is not an ISO 8601 time such as 2026-03-29T09:00:00+01:00"
        if from_environment:
            raise click.BadParameter(
                f"PUBLISHER_NOW={value!r} (from the environment) {wrong}; unset PUBLISHER_NOW "
                "(left in a crontab or a shell?) to run on the real clock") from None
        raise click.BadParameter(f"--now {value!r} {wrong}") from None
    return parsed


def _never_writable_by_others() -> None:
    """Add group and world write to the umask (000 and 002 become 022): a directory others may
    write to lets them swap the ledger, or a cache file the next build unpickles, which runs
    their code as whoever runs publisher."""
    os.umask(os.umask(0o022) | 0o022)


class _LazyGroup(click.Group):
    """A group whose commands are imported from COMMANDS when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, _, attribute = entry[0].partition(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        command: click.Command = getattr(module, attribute)
        command.short_help = entry[1]
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Path to publisher.toml (default: ./publisher.toml).")
@click.option("-C", "directory", type=click.Path(file_okay=False),
              help="Publication directory holding publisher.toml.")
@click.option("--now", "now", envvar="PUBLISHER_NOW",
              help="Run as if the clock read this ISO 8601 time (also PUBLISHER_NOW); "
                   "without an offset, in the publication's time zone.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="publisher")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, directory: str | None, now: str | None,
         debug: bool) -> None:
    """Turn film-review sources into a website, feeds and email newsletters."""
    _never_writable_by_others()
    if os.environ.get("JOURNAL_STREAM"):  # a systemd service's: the check costs nothing else
        from ..logs import to_journal

        to_journal()
    from_environment = ctx.get_parameter_source("now") == click.core.ParameterSource.ENVIRONMENT
    ctx.obj = State(config_path, directory, parse_now(now, from_environment=from_environment),
                    debug)
