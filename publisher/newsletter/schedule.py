"""When an issue is due: a pure decision over a cron schedule in a local time zone.

Times handed in and out are aware datetimes; slots come back in UTC so that comparisons never trip
over PEP 495 (two aware datetimes sharing a tzinfo compare by wall time and ignore ``fold``).

DST follows cronsim's Debian-cron behaviour for five-field expressions with a fixed minute and hour
(read from cronsim 2.8's source, and pinned by tests/newsletter/test_schedule.py): 09:00 local
stays 09:00 local; a time that does not exist on a spring-forward day runs at the first valid
minute after the gap (Sydney's 02:30 on the first Sunday of October runs at 03:00 AEDT); a time
repeated on a fall-back day runs once, at its first occurrence. Interval schedules
(``*/5 * * * *``) tick in real time instead, so the repeated hour gets its slots twice, as real
minutes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from cronsim import CronSim, CronSimError

from ..config import Config
from ..errors import ConfigError

#: How many passed-over slots decide() counts before it stops counting (a long outage with an
#: every-five-minutes schedule would otherwise walk tens of thousands of them).
_MISSED_COUNT_LIMIT = 1000


@dataclass(frozen=True)
class Decision:
    """What a run should do about the schedule at ``now``.

    ``slot``: the scheduled time (UTC) to compose an issue for, or None. ``skipped``: slots (UTC)
    to record as skipped because they are older than the grace window. ``missed``: how many earlier
    slots passed without a run and are folded into this one (one issue, not one per slot; counted
    up to 1000). ``reason``: one line for people. ``quiet``: the skipped slots passed before the
    schedule applied to them (before the publication's first run, or before the schedule was
    edited): recorded, but no issue was skipped. ``edited``: the schedule differs from the one
    recorded with the last slot; a run records it (with the slot it skips, or with the last
    slot). ``ahead``: a recorded slot after ``now`` (``clock_warning``), or None.
    """

    slot: datetime | None
    skipped: tuple[datetime, ...] = ()
    reason: str = ""
    missed: int = 0
    quiet: bool = False
    edited: bool = False
    ahead: datetime | None = None


#: crontab(5)'s nicknames and the five fields each stands for.
_NICKNAMES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
              "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
              "@hourly": "0 * * * *"}


@functools.lru_cache(maxsize=64)
def check_schedule(schedule: str) -> None:
    """Raise ConfigError unless ``schedule`` is a five-field cron expression cronsim accepts."""
    fields = schedule.split()
    nickname = _NICKNAMES.get(schedule.strip().lower())
    if nickname is not None:  # crontab(5) knows them; cronsim, and so the schedule, does not
        raise ConfigError(
            f"newsletter.schedule: {schedule.strip()!r} is a crontab nickname; write its five "
            f"fields instead: \"{nickname}\" (or pick the day and hour, e.g. \"0 9 * * FRI\")")
    if len(fields) != 5:
        raise ConfigError(
            f"newsletter.schedule: {schedule!r} has {len(fields)} fields; cron syntax has five: "
            "minute hour day-of-month month day-of-week, e.g. \"0 9 * * FRI\""
        )
    try:
        CronSim(schedule, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise ConfigError(
            f"newsletter.schedule: {schedule!r} is not a valid cron expression ({exc})"
        ) from None


#: A day-of-month range that is one week of the month, and which of the month's weekdays it holds.
_WEEKS = {"1-7": (1, "first"), "8-14": (2, "second"), "15-21": (3, "third"),
          "22-28": (4, "fourth")}
_DAY_NAMES = {"0": "Sunday", "1": "Monday", "2": "Tuesday", "3": "Wednesday", "4": "Thursday",
              "5": "Friday", "6": "Saturday", "7": "Sunday", "SUN": "Sunday", "MON": "Monday",
              "TUE": "Tuesday", "WED": "Wednesday", "THU": "Thursday", "FRI": "Friday",
              "SAT": "Saturday"}


def day_fields_warning(schedule: str) -> str | None:
    """Why a schedule that restricts both the day of the month and the day of the week sends
    more often than it reads, or None. cron (and cronsim, after Debian cron) takes such a day
    when it matches *either* field: "0 9 1-7 * MON", written for the first Monday of the month,
    sends on the 1st to the 7th and on every Monday — eleven issues a month, not one. A field
    starting with '*' (``*/2`` too) makes the other field the rule, as intended."""
    fields = schedule.split()
    if len(fields) != 5:
        return None
    minute, hour, dom, month, dow = fields
    if dom.startswith("*") or dow.startswith("*"):
        return None
    week = _WEEKS.get(dom)
    day = _DAY_NAMES.get(dow.upper())
    if week is not None and day is not None:
        advice = (f"for the {week[1]} {day} of the month write "
                  f"\"{minute} {hour} * {month} {dow}#{week[0]}\"")
    else:
        every = f"every {day}" if day is not None else f"the days of the week {dow}"
        advice = (f"write * in one of them: \"{minute} {hour} {dom} {month} *\" for those days "
                  f"of the month, \"{minute} {hour} * {month} {dow}\" for {every}")
    return (f"newsletter.schedule: {' '.join(fields)!r} names a day of the month and a day of "
            "the week, and cron sends on every day that matches either of them, not only on "
            f"days that match both; {advice}")


def config_schedule(config: Config) -> tuple[str, tzinfo, timedelta]:
    """The publication's (schedule, zone, grace), checked; a bad schedule names the file."""
    try:
        check_schedule(config.newsletter.schedule)
    except ConfigError as exc:
        raise ConfigError(f"{config.path}: {exc}") from None
    return (config.newsletter.schedule, config.newsletter_tz,
            timedelta(hours=config.newsletter.grace_hours))


def schedule_key(schedule: str, tz: tzinfo) -> str:
    """The schedule as the ledger records it with each slot: the five fields (spacing and case
    are no edit) and the zone, e.g. '0 9 * * FRI Europe/London'."""
    return f"{' '.join(schedule.upper().split())} {getattr(tz, 'key', tz)}"


def describe(config: Config, now: datetime, decision: Decision | None = None,
             count: int = 5, *, shortfall: str | None = None) -> list[str]:
    """Lines for ``publisher schedule``: the schedule; what the next run does about a slot
    that has passed (``shortfall``: why it would compose no issue for a due one), and a
    recorded slot after the clock, when ``decision`` (the ledger's, at ``now``) says so; a
    schedule whose day fields send more often than it reads (``day_fields_warning``); then the
    next due times, local and UTC (once, for a zone that is UTC)."""
    expr, tz, grace = config_schedule(config)
    head = (f"{expr!r} in {getattr(tz, 'key', tz)}; a missed issue still goes out up to "
            f"{_hours(grace)} late.")
    said: list[str] = []
    if decision is not None:
        status = outlook(decision, tz, now, grace, shortfall)
        if status:
            said.append(f"{status[0].upper()}{status[1:]}.")
        if decision.ahead is not None:
            said.append(f"warning: {clock_warning(decision.ahead, now, tz)}")
    days = day_fields_warning(expr)
    if days is not None:
        said.append(f"warning: {days}")
    lines = [head, *said, f"Next {count}:"] if said else [f"{head} Next {count}:"]
    times = [(format_local(t, tz), f"{t:%a %Y-%m-%d %H:%M} UTC")
             for t in next_times(expr, tz, now, count)]
    if all(local == utc for local, utc in times):  # a publication in UTC: one column says it
        return lines + [f"  {utc}" for _, utc in times]
    width = max((len(local) for local, _ in times), default=0)
    return lines + [f"  {local:<{width}}   {utc}" for local, utc in times]


def _aware(name: str, dt: datetime) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {dt!r}")


def _iter(schedule: str, start: datetime, tz: tzinfo, *, reverse: bool = False
          ) -> Iterator[datetime]:
    """cronsim's ticks from ``start`` (exclusive) in zone ``tz``, as UTC datetimes."""
    check_schedule(schedule)
    for tick in CronSim(schedule, start.astimezone(tz), reverse=reverse):
        yield tick.astimezone(UTC)


def next_times(schedule: str, tz: tzinfo, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` scheduled times strictly after ``after``, in UTC, ascending."""
    _aware("after", after)
    after = after.astimezone(UTC)
    out: list[datetime] = []
    # cronsim walks local wall time; from the second pass of a fall-back hour its first tick can
    # land before ``after`` in real time, so filter by the real instant.
    for tick in _iter(schedule, after, tz):
        if tick > after:
            out.append(tick)
            if len(out) == count:
                break
    return out


def latest_time(schedule: str, tz: tzinfo, now: datetime) -> datetime | None:
    """The latest scheduled time at or before ``now`` (to the second), in UTC."""
    _aware("now", now)
    now = now.astimezone(UTC)
    # cronsim's reverse iteration starts one second before a whole-second start, so start one
    # second after ``now`` to include a slot at exactly ``now``.
    start = now.replace(microsecond=0) + timedelta(seconds=1)
    candidate = next(_iter(schedule, start, tz, reverse=True), None)
    if candidate is None:
        return None
    # Reverse iteration walks wall time too: at 01:20 in the *second* pass of a fall-back hour it
    # finds yesterday's 01:30 although today's (first-pass) 01:30 has already happened. Step
    # forward while the next tick is still in the past.
    for tick in _iter(schedule, candidate, tz):
        if tick > now:
            break
        candidate = tick
    return candidate


def _count_between(schedule: str, tz: tzinfo, after: datetime, before: datetime) -> int:
    """How many scheduled times lie strictly between ``after`` and ``before`` (capped)."""
    count = 0
    for tick in _iter(schedule, after, tz):
        if tick >= before or count >= _MISSED_COUNT_LIMIT:
            break
        if tick > after:
            count += 1
    return count


def format_local(dt: datetime, tz: tzinfo) -> str:
    """'Fri 2026-11-27 09:00 GMT' — a slot as a person in the publication's zone reads it."""
    return dt.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.0f} h" if hours >= 1 else f"{delta.total_seconds() / 60:.0f} min"


def decide(schedule: str, tz: tzinfo, now: datetime, last_slot: datetime | None,
           grace: timedelta, catch_up: bool = False, *, last_schedule: str | None = None,
           ahead: datetime | None = None) -> Decision:
    """Is an issue due at ``now``? A pure function of its arguments (the clock is ``now``).

    The due slot is the latest scheduled time ≤ now that is after ``last_slot`` (the latest slot
    a run dealt with, whatever the outcome, at or before ``now``); with no ``last_slot``, the
    latest scheduled time ≤ now. Several passed slots give ONE decision, for the latest. A slot
    older than ``grace`` is returned in ``skipped`` instead, unless ``catch_up``.

    ``last_schedule``: the schedule_key recorded with ``last_slot`` (None: not known). When it is
    not this schedule's, the schedule was edited since, and an edited schedule takes effect from
    the next time it names: its latest time is returned in ``skipped``, quiet, unless
    ``catch_up``. ``ahead``: a recorded slot after ``now`` (the clock was ahead when a run
    recorded it), passed on in the decision; it does not hold the schedule up.

    Raises ConfigError for a bad schedule, ValueError for naive datetimes and for a
    ``last_slot`` after ``now``.
    """
    _aware("now", now)
    now = now.astimezone(UTC)
    if last_slot is not None:
        _aware("last_slot", last_slot)
        last_slot = last_slot.astimezone(UTC)
        if last_slot > now:
            raise ValueError(f"last_slot {last_slot.isoformat()} is after now "
                             f"{now.isoformat()}: pass a slot recorded after now as ahead")
    latest = latest_time(schedule, tz, now)
    edited = (last_slot is not None and last_schedule is not None
              and last_schedule != schedule_key(schedule, tz))
    upcoming = next_times(schedule, tz, now, 1)
    later = f"; next at {format_local(upcoming[0], tz)}" if upcoming else ""
    if latest is None or (last_slot is not None and latest <= last_slot):
        return Decision(None, (), f"no issue due{later}", edited=edited, ahead=ahead)
    if edited and not catch_up:
        assert last_slot is not None  # for mypy: edited needs one
        return Decision(
            None, (latest,),
            f"no issue due: newsletter.schedule was edited since the last slot, "
            f"{format_local(last_slot, tz)}, and takes effect from the next time it names, not "
            f"from {format_local(latest, tz)}, which had passed{later}",
            quiet=True, edited=True, ahead=ahead)

    missed = 0 if last_slot is None else _count_between(schedule, tz, last_slot, latest)
    passed = ""
    if missed:
        more = "more than " if missed >= _MISSED_COUNT_LIMIT else ""
        passed = (f"; {more}{missed} earlier scheduled time{'s' if missed != 1 else ''} passed "
                  "without a run")
    age = now - latest
    when = format_local(latest, tz)
    if age > grace and not catch_up:
        return Decision(
            None, (latest,),
            f"skipped the issue due {when}: {_hours(age)} late, beyond the {_hours(grace)} grace"
            f"; its reviews roll into the next issue ('publisher run --catch-up' sends it now)"
            f"{passed}",
            missed, edited=edited, ahead=ahead,
        )
    late = f", {_hours(age)} late, caught up on request" if age > grace else ""
    one = ", one issue for the latest" if missed else ""
    return Decision(latest, (), f"issue due {when}{late}{passed}{one}", missed, edited=edited,
                    ahead=ahead)


def clock_warning(ahead: datetime, now: datetime, tz: tzinfo) -> str:
    """Why the ledger holds a slot after the clock, and what comes of it."""
    when = format_local(ahead, tz)
    return (f"the ledger holds the slot {when}, later than the clock "
            f"({format_local(now, tz)}): the clock was ahead when a run recorded it, or is "
            f"behind now; issues go on from the slots before it, and nothing more goes out for "
            f"{when} when that time comes")


def outlook(decision: Decision, tz: tzinfo, now: datetime, grace: timedelta,
            shortfall: str | None = None) -> str | None:
    """What the next run does about a slot that has passed, for ``publisher check`` and
    ``publisher schedule`` (which decide as the run does, at ``now``); None when it does
    nothing (or only records a slot that passed before the publication's first run).
    ``shortfall``: why the run would compose no issue for a due slot (too few new reviews),
    if it would not."""
    if decision.slot is not None:
        age = now - decision.slot
        late = f"{_hours(age)} late" if age >= timedelta(minutes=1) else ""
        when = format_local(decision.slot, tz)
        if shortfall:
            return (f"the slot {when} is due now{f' ({late})' if late else ''}, but the next "
                    f"run composes no issue for it: {shortfall}")
        return f"issue for {when} is due now ({f'{late}; ' if late else ''}the next run sends it)"
    if not decision.skipped:
        return None
    when = format_local(decision.skipped[-1], tz)
    if decision.edited and decision.quiet:
        return (f"an edited newsletter.schedule takes effect from the next time it names: "
                f"{when}, which passed before the edit, sends nothing (the next run records it)")
    if decision.quiet:
        return None
    age = now - decision.skipped[-1]
    return (f"the slot {when} was missed beyond grace_hours ({_hours(age)} late, "
            f"{_hours(grace)} grace): the next run skips it ('publisher run --catch-up' sends "
            "it)")



def before_first_run(schedule: str, tz: tzinfo, now: datetime, slot: datetime) -> str:
    """Why nothing goes out for ``slot``, a scheduled time that passed before the publication
    existed (its first run finds it beyond the grace window): not a skipped issue."""
    upcoming = next_times(schedule, tz, now, 1)
    later = f"; next at {format_local(upcoming[0], tz)}" if upcoming else ""
    return (f"no issue due: the last scheduled time, {format_local(slot, tz)}, passed before "
            f"this publication's first run{later}")
