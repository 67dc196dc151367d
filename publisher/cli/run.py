"""``publisher run``: what cron calls every few minutes.

Most calls find nothing to do: the idle check (``pipeline/idle.py``) answers those from stat
signatures, the record of the last idle run and one read of the ledger, under the run lock,
before anything heavy is imported. Anything else runs in full and, when it did nothing, is
recorded for the next call.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click

from .. import logs
from ..config import STATE_DIR, Config, find_config
from ..errors import ConfigError, LockHeld
from ..pipeline.idle import Answer, IdleCheck, forget
from ..pipeline.lock import run_lock
from . import State
from .context import publication_command


@click.command("run")
@click.option("--catch-up", is_flag=True,
              help="Send an issue whose slot is older than the grace window (instead of "
                   "skipping it).")
@click.option("--dry-run", is_flag=True,
              help="Say what the run would do (build, compose, deliver); write and send "
                   "nothing.")
@publication_command
def run_command(state: State, catch_up: bool, dry_run: bool) -> int:
    """Do what is due (cron calls this): read the [inbox], build the site and its feeds when
    sources changed, compose the issue if one is due, deliver what is queued, update the issue
    archive."""
    try:
        config = state.config
    except ConfigError:
        # A publisher.toml an edit broke fails every run until it is fixed: its line in the
        # log says when that began (the log where the crontab line puts it, by default).
        logs.to_cron_log(find_config(state.config_path, state.directory).absolute().parent
                       / STATE_DIR / "cron.log")
        raise
    logs.to_cron_log(config.paths.cron_log)
    now = state.now()
    if dry_run:
        return _rehearse(state, catch_up)
    if state.fixed_now is not None:  # cron gives no --now: only a rehearsal pays this import
        from ..pipeline.rehearsal import refuse_future_clock

        refuse_future_clock(config, state.fixed_now)
    check, answer = (None, None) if catch_up else _idle(config, now)
    if answer is not None:
        for line in answer.stdout:
            click.echo(line)
        if answer.decision is not None and sys.stdout.isatty():
            click.echo(answer.decision.reason)  # as below: say why nothing was composed
        return answer.exit_code
    # Loaded only now that there may be work: most of what an idle run would otherwise cost.
    from ..pipeline.run import run_once
    from .progress import terminal_progress

    said: list[str] = []

    def echo(line: str) -> None:
        said.append(line)
        click.echo(line)

    report = run_once(config, now=now, catch_up=catch_up, echo=echo,
                      progress=terminal_progress("sending"))
    decision = report.decision
    if decision is not None and report.outcome is None and sys.stdout.isatty():
        click.echo(decision.reason)  # on a terminal, say why nothing was composed
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    nothing_else = (check is not None and report.exit_code == 0 and report.locked_by is None
                    and decision is not None and decision.slot is None and not decision.skipped
                    and report.outcome is None and not report.delivered and not report.archived)
    if check is not None and nothing_else and not said and not report.written:
        check.record(steady=report.steady)
        return report.exit_code
    if report.locked_by is None:
        forget(config)
    if check is not None and nothing_else and report.written \
            and not config.paths.websub_queue.exists():
        # It only built (a review changed): the build is deterministic and nothing is due, so
        # the next run would do nothing and print nothing. Recorded now, under a signature
        # taken after the writes, rather than by one more full run (~1 s at 10,000 reviews).
        check.record_after(steady=report.steady)
    return report.exit_code


def _rehearse(state: State, catch_up: bool) -> int:
    """``run --dry-run``: what a run would do, doing none of it (no lock, no idle record)."""
    from ..pipeline.rehearsal import rehearse_run

    plan = rehearse_run(state.config, now=state.now(), catch_up=catch_up)
    for line in plan.lines:
        click.echo(line)
    for problem in plan.problems:
        click.echo(f"error: {problem}", err=True)
    return plan.exit_code


def _idle(config: Config, now: datetime) -> tuple[IdleCheck | None, Answer | None]:
    """The idle check, taken under the run lock; (None, None) when another run holds it (the
    full path reports that), or when an [inbox] is set: mail may have come back since the last
    run, and the mailbox is no part of the idle signature, so such a run always reads it."""
    if config.inbox.mailbox:
        return None, None
    try:
        # The host's file lock: what the idle check reads is this host's files and a SQLite
        # ledger (a PostgreSQL one is never idle-checked, and its run lock is for senders).
        with run_lock(config.paths.lock):
            check = IdleCheck.take(config, "run")
            return check, check.answer(now)
    except LockHeld:
        return None, None
