"""``publisher schedule``: when issues are due, and the crontab line or systemd units that run
``publisher run`` (``run.py``)."""

from __future__ import annotations

import click

from ..errors import SourceError
from ..newsletter.schedule import describe
from ..pipeline import units
from ..pipeline.slots import SOURCES_UNLOADED, ledger_decision, slot_shortfall
from ..sources import load_reviews
from . import State
from .context import publication_command


@click.group(invoke_without_command=True)
@publication_command
def schedule(state: State) -> None:
    """Show when issues are due (and what the next run does about one that has passed), or
    print a crontab line / systemd units."""
    if click.get_current_context().invoked_subcommand is None:
        config, now = state.config, state.now()
        decision = ledger_decision(config, now)
        shortfall = None
        if decision is not None and decision.slot is not None:
            try:
                shortfall = slot_shortfall(config, load_reviews(config), now)
            except SourceError:  # the run leaves the slot open until they load
                shortfall = SOURCES_UNLOADED
        for line in describe(config, now, decision, shortfall=shortfall):
            click.echo(line)


@schedule.command("crontab")
@publication_command
def schedule_crontab(state: State) -> None:
    """Print a crontab entry that runs 'publisher run' every five minutes."""
    config = state.config
    click.echo(units.crontab_line(config.root, units.publication_command(config),
                                  config.paths.cron_log),
               nl=False)


@schedule.command("systemd")
@publication_command
def schedule_systemd(state: State) -> None:
    """Print a systemd .service and .timer pair that run 'publisher run' every five minutes."""
    config = state.config
    unit_files = units.systemd_units(config.root, units.publication_command(config),
                                    title=config.title)
    timer = next(name for name in unit_files if name.endswith(".timer"))
    click.echo(units.user_unit_steps(unit_files, timer))
    for name, text in unit_files.items():
        click.echo(f"\n# --- {name} ---\n{text}", nl=False)
