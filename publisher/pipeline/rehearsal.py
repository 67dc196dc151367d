"""Rehearsals without consequences.

``rehearse_run`` is ``publisher run --dry-run``: every decision a run would make at ``now`` —
what the build would change, which slots it would record, the issue it would compose (or the
draft it would send), how many deliveries it would make and through what, what it would report —
made against the ledger opened read-only (``ledger.probe.readonly_store``), with the output
directory rendered in memory. Nothing is written (but the sources' parse cache), no lock is
taken, nothing is sent.

``refuse_future_clock`` keeps ``--now`` a rehearsal tool: a clock set in the future may drive
the local outbox, but never real mail (mail dated days ahead, and an issue and archive page
permanently dated then). ``refuse_early_build`` does the same for ``publisher build``: the
output directory is the site, so a clock set ahead may not put a scheduled review on it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from ..config import Config
from ..delivery.transports import transport_from_url
from ..errors import MissingReview, NotEnoughReviews, PublisherError, SourceError, first_line
from ..ledger import Store
from ..ledger.probe import readonly_store
from ..models import DeliveryStatus, Issue, IssueRecord, IssueState
from ..newsletter.compose import (
    archived_issues,
    first_issue_note,
    issue_from_record,
    plan_issue,
    waiting_note,
)
from ..newsletter.schedule import clock_warning, config_schedule, format_local
from ..sources import Catalog, load_reviews
from .build import build_site
from .issues import issued_review_ids, lost_ledger, refuse_archived
from .lock import file_lock_holder, stuck_holder
from .preflight import (
    is_local,
    refuse_documentation_settings,
    sending_secret,
    writable_problem,
)
from .run import (
    SOURCES_BROKEN,
    skipped_and_unsent,
    sources_problem,
)
from .slots import decide_slot

#: How far ahead of the wall clock --now may be before it counts as "in the future" (a script
#: that passes the time it read a moment ago is not rehearsing).
FUTURE_TOLERANCE = timedelta(minutes=1)


@dataclass(frozen=True)
class RunPlan:
    """What a run would do: ``lines`` to print, and the ``problems`` it would end with."""

    lines: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def refuse_future_clock(config: Config, now: datetime | None,
                        wall: datetime | None = None) -> None:
    """PublisherError when ``now`` (``--now``, None when not given) is ahead of the wall clock
    (``wall``, read here when not given: what --now is compared with is the real time) and the
    transport sends real mail; the local outbox and file transports take any clock."""
    wall = wall or datetime.now(UTC)
    if now is None or now <= wall + FUTURE_TOLERANCE:
        return
    transport = transport_from_url(config)
    if is_local(transport):
        return
    raise PublisherError(
        f"--now {now.isoformat()} is in the future and {transport.description} sends real mail: "
        "it would go out now, dated then, and the issue and its archive page would stay dated "
        "then; rehearse with 'publisher run --dry-run', or point delivery.transport at the "
        "local outbox (maildir://.publisher/outbox)")


def refuse_early_build(config: Config, now: datetime | None,
                       wall: datetime | None = None) -> None:
    """PublisherError when ``now`` (``--now``) is ahead of the wall clock (``wall``, read here
    when not given) and a build at ``now`` would publish reviews still scheduled at the real
    time: the output directory is the site (served as it is, or deployed), and the WebSub hub
    would be told of the feeds holding them. ``publisher preview`` shows that day instead."""
    wall = wall or datetime.now(UTC)
    if now is None or now <= wall + FUTURE_TOLERANCE:
        return
    early = [r for r in load_reviews(config).published(now) if not r.is_published(wall)]
    if not early:
        return
    named = ", ".join(
        f"{r.source_path} (scheduled for {format_local(r.date, r.date.tzinfo or UTC)})"
        for r in early[:3])
    more = f" and {len(early) - 3} more" if len(early) > 3 else ""
    raise PublisherError(
        f"--now {now.isoformat()} is in the future: this build would publish {named}{more} "
        f"before {'its' if len(early) == 1 else 'their'} time, in {config.output_dir}/"
        f"{' and to the WebSub hub' if config.feeds.hub else ''}; see the site as it will be "
        f"then with 'publisher --now "
        f"{now.isoformat()} preview'")


def rehearse_run(config: Config, *, now: datetime, catch_up: bool = False,
                 environ: Mapping[str, str] = os.environ) -> RunPlan:
    """What ``publisher run`` would do at ``now``, doing none of it. Raises ConfigError for a
    bad schedule (as a run does); every other problem is in the plan."""
    expr, tz, grace = config_schedule(config)
    lines: list[str] = ["dry run: nothing is written, nothing is sent"]
    problems: list[str] = []
    holder = file_lock_holder(config.paths.lock)
    stuck = stuck_holder(config) if holder is not None else None
    if stuck is not None:  # a run now would exit 3 with this line
        problems.append(stuck.stepped_aside)
    elif holder is not None:
        who = f"pid {holder}" if holder else "pid unknown"
        lines.append(f"another run holds the lock ({who}): a run now would step aside and do "
                     "nothing; what follows is what the next one would do")
    lost = lost_ledger(config)
    if lost:  # a run would stop there, doing nothing
        return RunPlan(tuple(lines), (*problems, lost))
    catalog: Catalog | None = None
    try:
        catalog = load_reviews(config, store=False)  # "nothing is written": not even the cache
    except SourceError as exc:  # as a run: what is frozen would still go out
        problems.append(sources_problem(exc))
    with readonly_store(config) as store:
        _Plan(config, store, catalog, now, lines, problems).rehearse(expr, tz, grace, catch_up,
                                                                      environ)
    return RunPlan(tuple(lines), tuple(dict.fromkeys(problems)))


class _Plan:
    """The steps of ``rehearse_run``, in the order a run takes them."""

    def __init__(self, config: Config, store: Store | None, catalog: Catalog | None,
                 now: datetime, lines: list[str], problems: list[str]):
        self.config, self.store, self.catalog, self.now = config, store, catalog, now
        self.lines, self.problems = lines, problems
        self.records: list[IssueRecord] = store.issues() if store is not None else []

    def rehearse(self, expr: str, tz: tzinfo, grace: timedelta, catch_up: bool,
                 environ: Mapping[str, str]) -> None:
        self._build()
        composed = self._schedule(expr, tz, grace, catch_up)
        self._deliveries(composed, environ)

    def _build(self) -> None:
        config = self.config
        if self.catalog is None:
            self.lines.append("build: none, the sources have problems")
            return
        try:
            sent: list[Issue] = []
            if self.store is not None:
                sent, _ = archived_issues(self.records, self.catalog, config,
                                          self.store.frozen_issues())
            report = build_site(config, now=self.now, issues=sent, catalog=self.catalog,
                                dry_run=True)
        except (PublisherError, OSError) as exc:
            self.problems.append(f"build would fail, feeds not updated: {first_line(exc)}")
            return
        if report.written or report.removed:
            # The dry run writes nothing, so ask the kernel whether the real build could:
            # public/ as a file or a read-only mount fails only when the first file is written.
            unwritable = writable_problem(config.paths.output)
            if unwritable:
                self.problems.append(f"build would fail, feeds not updated: {unwritable}")
                return
            removed = f", {len(report.removed)} removed" if report.removed else ""
            self.lines.append(f"build: {len(report.written)} files would be written to "
                              f"{config.output_dir}/{removed}")
        else:
            self.lines.append(f"build: {config.output_dir}/ is up to date")

    def _schedule(self, expr: str, tz: tzinfo, grace: timedelta,
                  catch_up: bool) -> tuple[int, str] | None:
        """Say what the schedule decides; (number, what) of the issue it would send, or None."""
        store, now = self.store, self.now
        decision, history = decide_slot(store, (expr, tz, grace), now, catch_up)
        last = history.last
        if decision.ahead is not None and (decision.slot is not None or decision.skipped):
            self.lines.append(f"warning: {clock_warning(decision.ahead, now, tz)}")
        if decision.skipped:
            if decision.quiet:
                self.lines.append(decision.reason)
                return None
            self.lines.append(f"would record: {decision.reason}")
        if decision.slot is None:
            if (catch_up and store is not None and last is not None
                    and skipped_and_unsent(store, last, expr, tz, now)):
                return self._compose(f"the skipped slot {format_local(last, tz)}")
            if not decision.skipped:
                self.lines.append(decision.reason)
            return None
        when = format_local(decision.slot, tz)
        self.lines.append(decision.reason)
        drafts = [r for r in self.records if r.state == IssueState.DRAFT and r.slot is None]
        if drafts and self.catalog is not None:  # else the slot stays open, as a run leaves it
            self.lines.append(f"would send issue #{drafts[0].number}, composed by hand, for the "
                              f"slot {when}: {drafts[0].subject}")
            try:  # what the run's send would stop on: a review gone, or no longer published
                issue_from_record(drafts[0], self.catalog, self.config, now=self.now)
            except MissingReview as exc:
                self.problems.append(f"issue #{drafts[0].number} would not be sent: {exc}")
            return drafts[0].number, "draft"
        return self._compose(f"the slot {when}")

    def _compose(self, what: str) -> tuple[int, str] | None:
        if self.catalog is None:
            self.problems.append(f"no issue would be composed for {what}: {SOURCES_BROKEN}")
            return None
        issued = (issued_review_ids(self.store, self.catalog) if self.store is not None
                  else set())
        try:
            plan = plan_issue(self.config, self.catalog, issued=issued, records=self.records,
                              now=self.now)
            refuse_archived(self.config, plan.number)
        except NotEnoughReviews as exc:
            self.lines.append(f"would record {what} as empty: {exc}")
            return None
        except PublisherError as exc:
            self.problems.append(f"no issue would be composed for {what}: {first_line(exc)}")
            return None
        self.lines.append(f"would compose issue #{plan.number} for {what}: {plan.subject}")
        for position, review in enumerate(plan.reviews, 1):
            self.lines.append(f"  {position}. {review.title} ({review.reviewer}, "
                              f"{review.date:%Y-%m-%d})")
        first = first_issue_note(self.catalog, issued, plan.number,
                                 [review.id for review in plan.reviews], self.now)
        if first:
            self.lines.append(f"  ({first})")
        waiting = waiting_note(self.config, self.catalog, issued,
                               [review.id for review in plan.reviews], self.now)
        if waiting:
            self.lines.append(f"  ({waiting})")
        return plan.number, "new"

    def _deliveries(self, composed: tuple[int, str] | None, environ: Mapping[str, str]) -> None:
        store, config = self.store, self.config
        todo: list[tuple[int, int, str]] = []  # (number, deliveries, what)
        active = store.subscriber_counts()["active"] if store is not None else 0
        if composed is not None:
            todo.append((composed[0], active, "queued, one per active subscriber"))
        for record in self.records:
            if composed is not None and record.number == composed[0]:
                continue
            if record.paused_reason:
                self.lines.append(f"issue #{record.number} is paused ({record.paused_reason}); "
                                  f"a run sends nothing for it until 'publisher issue send "
                                  f"{record.number}'")
                self.problems.append(f"issue #{record.number} is paused")
            elif record.state == IssueState.DRAFT and record.slot is not None:
                if self.catalog is None:  # made from the sources when its sending starts
                    self.problems.append(f"issue #{record.number} would not be sent: "
                                         f"{SOURCES_BROKEN}")
                    continue
                todo.append((record.number, active, "queued, one per active subscriber"))
            elif record.state == IssueState.SENDING and store is not None:
                due = store.due_count(record.number, now=self.now)
                if due:
                    todo.append((record.number, due, "due now"))
                ambiguous = store.delivery_counts(record.number)[DeliveryStatus.SENDING]
                if ambiguous:
                    self.problems.append(
                        f"issue #{record.number}: {ambiguous} ambiguous deliver"
                        f"{'y' if ambiguous == 1 else 'ies'} wait for 'publisher issue "
                        f"resend-ambiguous {record.number}' or 'settle-ambiguous "
                        f"{record.number}'")
        if not todo:
            self.lines.append("deliver: nothing to send")
            return
        try:
            transport = transport_from_url(config)
        except PublisherError as exc:
            self.problems.append(f"nothing would be sent: {first_line(exc)}")
            return
        numbers = ", ".join(f"#{n}" for n, _, _ in todo)
        for refusal in (lambda: sending_secret(config, store, environ),
                        lambda: refuse_documentation_settings(config, transport)):
            try:
                refusal()
            except PublisherError as exc:
                self.problems.append(f"issue {numbers} would not be sent: {first_line(exc)}")
        for number, count, what in todo:
            page = (f"its archive page in {config.output_dir}/issues/{number}/"
                    if self.catalog is not None else
                    "its archive page with the first build after the sources are fixed")
            self.lines.append(f"deliver: issue #{number}: {count} deliver"
                              f"{'y' if count == 1 else 'ies'} ({what}) via "
                              f"{transport.description}, then {page}")
