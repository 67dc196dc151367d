"""``publisher run``: the one command cron calls, safe to call every few minutes.

Under the run lock: load the sources, build the feeds, decide whether a schedule slot is due,
compose its issue (the slot is UNIQUE in the ledger, so double firing, overlapping runs or a
restored backup never make a second issue for one slot), deliver every issue with deliveries due,
and rebuild the archive when an issue has gone out. Problems a person must act on (invalid
sources, a paused issue, a transport error, ambiguous deliveries) end the run with one line each
and a non-zero exit code; everything else prints only summary lines.

Sources that do not load stop what is made from them (the build, a new issue) and nothing else:
an issue frozen in the ledger goes on being sent, and returned mail is read first, as always.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ..config import Config
from ..delivery.engine import DeliveryReport, Progress, ambiguous_problem
from ..errors import (
    LockHeld,
    NotEnoughReviews,
    PublisherError,
    RunStuck,
    SlotTaken,
    SourceError,
    TransportError,
    first_line,
)
from ..ledger import Store, open_store
from ..models import SKIPPED, DeliveryStatus, IssueRecord, IssueState
from ..newsletter.compose import first_issue_note, waiting_note
from ..newsletter.schedule import (
    Decision,
    clock_warning,
    config_schedule,
    format_local,
    latest_time,
    schedule_key,
)
from ..sources import Catalog, load_reviews
from .build import steady
from .inbox import process_inbox
from .issues import compose_issue, freeze_sent_issues, issued_review_ids, lost_ledger
from .lock import heartbeat, is_database_locked, run_locks, stuck_database_holder
from .preflight import sending_secret
from .publish import publish_site
from .send import ambiguous_line, deliver
from .slots import decide_slot


@dataclass(frozen=True)
class RunReport:
    """What one run did.

    ``locked_by``: the pid holding the lock when this run stepped aside (0 if unknown), else None;
    ``stuck`` when that holder, or another sender holding the database's lock beside this run,
    has made no progress for long (its line is among the ``problems``).
    ``outcome``: what was recorded for the due slot (issued / skipped / empty), if anything.
    ``delivered``: (issue number, DeliveryReport) per issue delivered. ``problem``: the one line
    a person must act on, or None.
    """

    locked_by: int | None = None
    stuck: bool = False
    decision: Decision | None = None
    outcome: str | None = None
    issue: int | None = None
    delivered: tuple[tuple[int, DeliveryReport], ...] = ()
    written: int = 0
    archived: tuple[int, ...] = ()
    problem: str | None = None
    problems: tuple[str, ...] = field(default=(), repr=False)
    #: The clock times over which the same sources publish the same reviews (Catalog.steady).
    steady: tuple[datetime | None, datetime | None] = (None, None)

    @property
    def exit_code(self) -> int:
        if self.stuck:
            return STUCK_EXIT
        return 1 if self.problem else 0


#: ``publisher run``'s exit code when a stuck run holds the lock: cron's next turns cannot help,
#: and monitoring tells it from the errors a person fixes in publisher.toml or the sources.
STUCK_EXIT = 3


def run_once(config: Config, *, now: datetime, catch_up: bool = False,
             echo: Callable[[str], Any] = print,
             progress: Progress | None = None) -> RunReport:
    """One cron run at ``now``. Steps aside (exit code 0, one line) when another run holds the
    lock, and reports it as the problem (exit code STUCK_EXIT) when that run has made no progress
    for long (``lock.stuck_after``). Raises ConfigError for a bad schedule; every other problem
    is in the report."""
    schedule = config_schedule(config)  # a bad schedule is a config error: say so first
    with ExitStack() as stack:
        try:
            stack.enter_context(run_locks(config))
        except RunStuck as exc:
            return RunReport(locked_by=exc.pid or 0, stuck=True, problem=exc.stepped_aside,
                             problems=(exc.stepped_aside,))
        except LockHeld as exc:
            echo(exc.stepped_aside)
            return RunReport(locked_by=exc.pid or 0)
        report = _Run(config, schedule, now=now, catch_up=catch_up, echo=echo,
                      progress=progress).run()
    # On PostgreSQL a stuck sender holds the lock shared and stops nobody: this run has sent
    # what the others may (its leases lapse), and says it for monitoring, as a stuck file lock.
    stuck = stuck_database_holder(config) if is_database_locked(config) else None
    if stuck is None:
        return report
    return replace(report, stuck=True, problem=report.problem or stuck.stepped_aside,
                   problems=(*report.problems, stuck.stepped_aside))


def sources_problem(exc: SourceError) -> str:
    """The line a run (or its rehearsal) gives for sources that do not load."""
    return (f"{first_line(exc)}; nothing is built and no issue composed until they are fixed "
            "('publisher check' lists them)")


#: Why a slot's issue waits, when the sources do not load.
SOURCES_BROKEN = "the sources have problems (above)"


def skipped_and_unsent(store: Store, last: datetime, expr: str, tz: tzinfo,
                       now: datetime) -> bool:
    """The last slot was skipped, is still the latest scheduled time, and no issue was composed
    since: --catch-up may send it now."""
    outcome = store.slot_outcome(last)
    if outcome is None or outcome[0] != "skipped" or latest_time(expr, tz, now) != last:
        return False
    return not any(r.created_at >= last for r in store.issues() if r.state != "cancelled")


class _Run:
    """The steps of one locked run; collects problems instead of stopping at the first."""

    def __init__(self, config: Config, schedule: tuple[str, tzinfo, timedelta], *,
                 now: datetime, catch_up: bool, echo: Callable[[str], Any],
                 progress: Progress | None):
        self.config, self.now, self.catch_up = config, now, catch_up
        self.expr, self.tz, self.grace = schedule  # from config_schedule(config)
        self.schedule_key = schedule_key(self.expr, self.tz)  # recorded with each slot
        self.echo, self.progress = echo, progress
        self.problems: list[str] = []

    def run(self) -> RunReport:
        catalog: Catalog | None = None
        try:
            # With bodies, as ``publisher build`` loads (its first build takes them).
            catalog = load_reviews(self.config, bodies=True)
        except SourceError as exc:
            # A reviewer's half-written draft must not hold up an issue that half the
            # subscribers already have: what is frozen needs no source (module docstring).
            self.problems.append(sources_problem(exc))
        try:
            return self._steps(catalog)
        finally:
            if catalog is not None:
                catalog.end_meanwhile()

    def _steps(self, catalog: Catalog | None) -> RunReport:
        lost = lost_ledger(self.config)
        if lost:  # opening it would make a new one: nothing is done until it is restored
            return self._report(problems=[lost])
        with open_store(self.config) as store:
            heartbeat()  # between steps: a later run tells a slow run from a stuck one
            self._inbox(store)  # first: a bounce or complaint that came back stops the next send
            if catalog is not None:  # once, after an upgrade from before issues were frozen
                freeze_sent_issues(self.config, store, catalog)
            heartbeat()
            written = self._build(store, catalog) if catalog is not None else 0
            if catalog is not None:
                catalog.end_meanwhile()  # none left working through a send, whatever the build did
            heartbeat()
            decision, outcome, number = self._schedule(store, catalog)
            on_the_web = store.web_issue_numbers()
            delivered = self._deliver(store, catalog, number)
            heartbeat()
            # An issue goes on the web archive with the first copy the relay accepts (readers
            # who have it follow its link), not when its last retry ends, days later perhaps.
            archived = tuple(sorted(store.web_issue_numbers() - on_the_web))
            if archived and catalog is not None:  # else the first build after the fix does
                written += self._build(store, catalog, archive=archived)
            self._check_ambiguous(store, {n for n, _ in delivered})
        return self._report(decision=decision, outcome=outcome, issue=number,
                            delivered=tuple(delivered), written=written, archived=archived,
                            steady=(steady(self.config, catalog, self.now)
                                    if catalog is not None else (None, None)))

    def _report(self, *, problems: list[str] | None = None, **fields: Any) -> RunReport:
        found = tuple(dict.fromkeys(problems or self.problems))  # a build fails alike twice
        return RunReport(problem=found[0] if found else None, problems=found, **fields)

    # --- returned mail -------------------------------------------------------------------------

    def _inbox(self, store: Store) -> None:
        if not self.config.inbox.mailbox:
            return
        try:
            report = process_inbox(self.config, store, now=self.now)
        except PublisherError as exc:
            self.problems.append(f"inbox not read: {first_line(exc)}")
            return
        if report.processed:
            self.echo(report.summary())

    # --- feeds and archive ---------------------------------------------------------------------

    def _build(self, store: Store, catalog: Catalog, archive: tuple[int, ...] = ()) -> int:
        published = publish_site(self.config, store, catalog, now=self.now, echo=self.echo,
                                 archive=archive)
        if published.problem:
            self.problems.append(published.problem)
        return published.written

    # --- the schedule --------------------------------------------------------------------------

    def _schedule(self, store: Store, catalog: Catalog | None
                  ) -> tuple[Decision, str | None, int | None]:
        decision, history = decide_slot(store, (self.expr, self.tz, self.grace), self.now,
                                        self.catch_up)
        last, key = history.last, self.schedule_key
        if decision.ahead is not None and (decision.slot is not None or decision.skipped):
            # Said with a slot decided (once a week, say), not by every run in between.
            self.echo(f"warning: {clock_warning(decision.ahead, self.now, self.tz)}")
        if decision.quiet:
            # Recorded, so that --catch-up cannot send it later; but no issue was skipped.
            for slot in decision.skipped:
                store.record_slot(slot, "skipped", now=self.now, schedule=key)
            return decision, None, None
        if decision.edited and decision.slot is None and not decision.skipped \
                and last is not None:
            # None of the edited schedule's times has passed since the last slot: its next one
            # is due, as it would be after a slot recorded under it.
            store.record_schedule(last, key)
        for slot in decision.skipped:
            if store.record_slot(slot, "skipped", now=self.now, schedule=key):
                self.echo(decision.reason)
        if decision.slot is None:
            if self.catch_up and last is not None and self._skipped_and_unsent(store, last):
                if catalog is None:
                    self.problems.append(f"nothing caught up for the skipped slot "
                                         f"{format_local(last, self.tz)}: {SOURCES_BROKEN}")
                    return decision, None, None
                return self._catch_up_skipped(store, catalog, decision, last)
            return decision, ("skipped" if decision.skipped else None), None

        slot, when = decision.slot, format_local(decision.slot, self.tz)
        if catalog is None:
            # The slot stays open: the first run within its grace period after the fix
            # composes its issue.
            self.problems.append(f"no issue composed for the slot {when}: {SOURCES_BROKEN}")
            return decision, None, None
        drafts = [r for r in store.issues() if r.state == IssueState.DRAFT and r.slot is None]
        if drafts:  # composed by hand: it is what the editor means to send at the slot
            try:
                record = store.adopt_draft(drafts[0].number, slot, now=self.now, schedule=key)
            except SlotTaken as exc:
                self.echo(f"no issue sent: {exc}")
                return decision, None, None
            waiting = "".join(f"; draft issue #{r.number} waits for the next slot"
                              for r in drafts[1:])
            self.echo(f"issue #{record.number}, composed by hand, goes out for the slot "
                      f"{when}: {record.subject}{waiting}")
            return decision, "issued", record.number
        issued = issued_review_ids(store, catalog)
        try:
            record = compose_issue(self.config, store, catalog, now=self.now, slot=slot,
                                   schedule=key)
        except NotEnoughReviews as exc:
            store.record_slot(slot, "empty", now=self.now, schedule=key)
            self.echo(f"no issue for the slot {when}: {exc}")
            return decision, "empty", None
        except SlotTaken as exc:  # another publisher on another copy of the ledger, say
            self.echo(f"no issue composed: {exc}")
            return decision, None, None
        except PublisherError as exc:  # a subject template error, say: the slot stays open
            self.problems.append(f"no issue composed for the slot {when}: {first_line(exc)}")
            return decision, None, None
        self.echo(f"composed issue #{record.number} ({decision.reason}): {record.subject}")
        self._composed_notes(catalog, issued, record)
        return decision, "issued", record.number

    def _composed_notes(self, catalog: Catalog, issued: set[str], record: IssueRecord) -> None:
        note = first_issue_note(catalog, issued, record.number, record.review_ids, self.now)
        if note:
            self.echo(note)
        waiting = waiting_note(self.config, catalog, issued, record.review_ids, self.now)
        if waiting:
            self.echo(waiting)

    def _skipped_and_unsent(self, store: Store, last: datetime) -> bool:
        return skipped_and_unsent(store, last, self.expr, self.tz, self.now)

    def _catch_up_skipped(self, store: Store, catalog: Catalog, decision: Decision,
                          last: datetime) -> tuple[Decision, str | None, int | None]:
        # The slot's row already says "skipped", so the issue cannot be keyed by it; the check
        # above (no issue composed since the slot) keeps a repeated --catch-up from sending twice.
        when = format_local(last, self.tz)
        issued = issued_review_ids(store, catalog)
        try:
            record = compose_issue(self.config, store, catalog, now=self.now)
        except NotEnoughReviews as exc:
            self.echo(f"nothing to catch up for the skipped slot {when}: {exc}")
            return decision, None, None
        self.echo(f"composed issue #{record.number} for the skipped slot {when}, caught up on "
                  f"request: {record.subject}")
        self._composed_notes(catalog, issued, record)
        return decision, "issued", record.number

    # --- delivery ------------------------------------------------------------------------------

    def _deliver(self, store: Store, catalog: Catalog | None,
                 composed: int | None) -> list[tuple[int, DeliveryReport]]:
        todo = []
        done: list[tuple[int, DeliveryReport]] = []
        for record in store.issues():
            # A draft with a slot was composed (or, composed by hand, adopted) for a slot by a
            # run, one killed before it queued the issue perhaps; other drafts composed by hand
            # wait for the next slot, or for 'publisher issue send'.
            if record.number == composed or (record.state == IssueState.DRAFT
                                             and record.slot is not None):
                todo.append(record.number)
            elif (record.state == IssueState.SENDING
                  and store.due_count(record.number, now=self.now)):
                todo.append(record.number)
            elif record.state == IssueState.SENDING:
                finished = self._finish_if_done(store, record.number)
                if finished is not None:
                    done.append((record.number, finished))
        if not todo:
            return done
        try:
            secret = sending_secret(self.config, store)
        except PublisherError as exc:
            numbers = ", ".join(f"#{n}" for n in todo)
            self.problems.append(f"issue {numbers} not sent: {exc}")
            return done
        for number in todo:
            try:
                report = deliver(self.config, store, number, now=self.now, secret=secret,
                                 catalog=catalog, progress=self.progress, echo=self.echo)
            except TransportError as exc:
                self.problems.append(f"issue #{number} not sent: {first_line(exc)}")
                break  # the same transport would fail for the next issue too
            except PublisherError as exc:
                line = first_line(exc)  # named already by most ("issue #1 holds review …")
                self.problems.append(line if line.startswith(f"issue #{number} ")
                                     else f"issue #{number}: {line}")
                continue
            self.problems.extend(report.problems(number))
            done.append((number, report))
        return done

    def _finish_if_done(self, store: Store, number: int) -> DeliveryReport | None:
        """An issue being sent with nothing left to send or settle — its last queued deliveries
        went with subscribers who left, say — is sent (and archived); else None."""
        record = store.finish_if_done(number, now=self.now)
        if record.state != IssueState.SENT:
            return None
        counts = store.delivery_counts(number)
        skipped = f", {counts[SKIPPED]} skipped: left the list" if counts[SKIPPED] else ""
        self.echo(f"issue #{number}: nothing left to send ({counts['sent']} sent, "
                  f"{counts['bounced']} bounced, {counts['failed']} failed{skipped}); "
                  f"issue #{number} is sent")
        return DeliveryReport(state=record.state)

    def _check_ambiguous(self, store: Store, delivered: set[int]) -> None:
        """Ambiguous deliveries of issues this run did not deliver (a delivered issue's report
        has said so already): listed, and a problem until a person decides."""
        for record in store.issues():
            if record.state != IssueState.SENDING or record.number in delivered:
                continue
            if not store.delivery_counts(record.number)[DeliveryStatus.SENDING]:
                continue
            # Other workers' messages in flight (PostgreSQL) are theirs to record, not in doubt.
            count = len(store.ambiguous_deliveries(record.number))
            if count:
                self.echo(ambiguous_line(store, record.number))
                self.problems.append(ambiguous_problem(record.number, count))
