"""``publisher schedule`` and ``publisher run``: what cron sees."""

from __future__ import annotations

import sys

import click

from ..newsletter.schedule import describe
from ..pipeline import units
from ..pipeline.rehearsal import refuse_future_clock, rehearse_run
from ..pipeline.run import run_once
from . import State
from .context import publication_command
from .progress import terminal_progress


@click.group(invoke_without_command=True)
@publication_command
def schedule(state: State) -> None:
    """Show when issues are due, or print a crontab line / systemd units."""
    if click.get_current_context().invoked_subcommand is None:
        for line in describe(state.config, state.now()):
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
    click.echo("# Save these in ~/.config/systemd/user/, then:\n"
               f"#   systemctl --user enable --now {timer}")
    for name, text in unit_files.items():
        click.echo(f"\n# --- {name} ---\n{text}", nl=False)


@click.command("run")
@click.option("--catch-up", is_flag=True,
              help="Send an issue whose slot is older than the grace window (instead of "
                   "skipping it).")
@click.option("--dry-run", is_flag=True,
              help="Say what the run would do (build, compose, deliver); write and send "
                   "nothing.")
@publication_command
def run_command(state: State, catch_up: bool, dry_run: bool) -> int:
    """Build feeds, compose the issue if one is due, deliver what is queued (cron calls this)."""
    if dry_run:
        plan = rehearse_run(state.config, now=state.now(), catch_up=catch_up)
        for line in plan.lines:
            click.echo(line)
        for problem in plan.problems:
            click.echo(f"error: {problem}", err=True)
        return plan.exit_code
    refuse_future_clock(state.config, state.fixed_now)
    report = run_once(state.config, now=state.now(), catch_up=catch_up, echo=click.echo,
                      progress=terminal_progress("sending"))
    decision = report.decision
    if decision is not None and report.outcome is None and sys.stdout.isatty():
        click.echo(decision.reason)  # on a terminal, say why nothing was composed
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    return report.exit_code
