"""The schedule decided on what the ledger recorded: by a run, its rehearsal (``run --dry-run``),
``publisher check`` and ``publisher schedule`` alike, so that what they say is what the run does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, tzinfo

from ..config import Config
from ..errors import NotEnoughReviews, PublisherError, StoreError
from ..ledger import Store
from ..ledger.probe import LedgerStatus, probe_ledger, readonly_store
from ..models import IssueState, SlotHistory
from ..newsletter.compose import plan_issue
from ..newsletter.schedule import (
    Decision,
    before_first_run,
    config_schedule,
    decide,
    format_local,
    next_times,
)
from ..sources import Catalog
from .issues import issued_review_ids


def quiet_first_skip(store: Store, decision: Decision, last: datetime | None) -> bool:
    """Whether the slots ``decision`` skips passed before the publication existed (its first
    run finds them): recorded, but no issue was skipped."""
    if not decision.skipped or last is not None:
        return False
    first = store.first_record()
    return first is None or decision.skipped[-1] < first


def decide_slot(store: Store | None, schedule: tuple[str, tzinfo, timedelta], now: datetime,
                catch_up: bool = False) -> tuple[Decision, SlotHistory]:
    """``decide()`` at ``now`` from the slots ``store`` recorded (None: no ledger yet), with the
    slot history it read. A slot recorded after ``now`` does not hold the schedule up (it is
    the decision's ``ahead``); slots that passed before the publication's first run are skipped
    quietly, as those of a schedule edited since the last slot are."""
    expr, tz, grace = schedule
    history = store.slot_history(now) if store is not None else SlotHistory()
    decision = decide(expr, tz, now, history.last, grace, catch_up,
                      last_schedule=history.schedule, ahead=history.ahead)
    if decision.skipped and not decision.quiet and (
            store is None or quiet_first_skip(store, decision, history.last)):
        decision = replace(decision, quiet=True,
                           reason=before_first_run(expr, tz, now, decision.skipped[-1]))
    return decision, history


def _readable(config: Config, status: LedgerStatus | None) -> LedgerStatus | None:
    """What ``probe_ledger`` finds (``status``, when the caller has it) if the ledger can be
    read as it is, without being created, migrated or written; else None (a problem, or an
    older schema revision: ``check`` says which)."""
    if status is None:
        status = probe_ledger(config)
    return None if status.problem or (status.exists and not status.current) else status


def ledger_decision(config: Config, now: datetime,
                    status: LedgerStatus | None = None) -> Decision | None:
    """What the next run decides at ``now``, the ledger read without being created, migrated or
    written (``status``: what ``probe_ledger`` just found, if the caller has it). None when the
    ledger cannot be read so (a problem, or an older schema revision: ``check`` says which).
    Raises ConfigError for a bad schedule."""
    schedule = config_schedule(config)
    if (status := _readable(config, status)) is None:
        return None
    try:
        with readonly_store(config, status) as store:
            return decide_slot(store, schedule, now)[0]
    except StoreError:
        return None


#: Why a run composes no issue for a due slot while a review does not load: the slot stays open
#: (``run``), so the first run within its grace after the fix composes it.
SOURCES_UNLOADED = ("the sources have problems ('publisher check' lists them); the first run "
                    "within grace_hours after they load composes it")


def slot_shortfall(config: Config, catalog: Catalog, now: datetime,
                   status: LedgerStatus | None = None) -> str | None:
    """Why a run at ``now`` would compose no issue for the slot due then: fewer new reviews
    than newsletter.min_reviews (the words the run prints, naming a review not written yet),
    so that ``check`` and ``schedule`` do not promise an issue the run records as empty. None
    when it would compose one or send a draft composed by hand, and when the ledger cannot be
    read without writing (as ``ledger_decision``). ``status``: what ``probe_ledger`` found."""
    if (status := _readable(config, status)) is None:
        return None
    try:
        with readonly_store(config, status) as store:
            records = store.issues() if store is not None else []
            if any(r.state == IssueState.DRAFT and r.slot is None for r in records):
                return None  # the run sends that draft for the slot
            issued = issued_review_ids(store, catalog) if store is not None else set()
            plan_issue(config, catalog, issued=issued, records=records, now=now)
    except NotEnoughReviews as exc:
        return str(exc)
    except PublisherError:
        return None  # a broken subject template or ledger: check names it on its own line
    return None


def draft_outlook(config: Config, store: Store, number: int, now: datetime, *,
                  dry_run: bool = False) -> str:
    """When a run sends draft ``number``, composed by hand: runs adopt one such draft per
    scheduled time, oldest first, from the slot due at ``now`` (decided as the run decides) or
    else the next; the line ``issue new`` prints, which also says how to send it at once."""
    expr, tz, _ = schedule = config_schedule(config)
    waiting = [r.number for r in store.issues()
               if r.state == IssueState.DRAFT and r.slot is None and r.number < number]
    due = decide_slot(store, schedule, now)[0].slot
    times = ([due] if due is not None else []) + next_times(expr, tz, now, len(waiting) + 1)
    when = format_local(times[len(waiting)], tz)
    goes = "would go out" if dry_run else "goes out"
    if not waiting and due is not None:
        line = f"issue #{number} {goes} with the next run, for the slot {when}, which is due"
    elif not waiting:
        line = f"issue #{number} {goes} with the first run after {when}, the next scheduled time"
    else:
        drafts = ("draft " if len(waiting) == 1 else "drafts ") + ", ".join(
            f"#{n}" for n in waiting)
        line = (f"issue #{number} {goes} with the first run after {when} (after {drafts}: one "
                "draft per scheduled time)")
    return f"{line}; 'publisher issue send {number}' sends it now"
