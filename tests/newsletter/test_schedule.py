"""The schedule decision (pure, clock injected), DST in London and Sydney, the run lock, and the
`publisher schedule` commands."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.errors import ConfigError, LockHeld
from publisher.newsletter.schedule import decide, latest_time, next_times, schedule_key
from publisher.pipeline.lock import run_lock
from publisher.pipeline.units import (
    crontab_line,
    publisher_command,
    server_unit,
    systemd_units,
    unit_name,
)
from tests.fixtures import SLOT, run_cli, use_smtp, write_reviews

LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
WEEKLY = "0 9 * * FRI"
GRACE = timedelta(hours=36)

# The 2026 change days (all Sundays): London 29 March (01:00 GMT → 02:00 BST) and 25 October
# (02:00 BST → 01:00 GMT); Sydney 5 April (03:00 AEDT → 02:00 AEST) and 4 October
# (02:00 AEST → 03:00 AEDT).
LONDON_SPRING, LONDON_FALL = date(2026, 3, 29), date(2026, 10, 25)
SYDNEY_FALL, SYDNEY_SPRING = date(2026, 4, 5), date(2026, 10, 4)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=tz, fold=fold)


# --- expected slots, computed without cronsim ---------------------------------------------------


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def expected_local_slot(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Debian cron's answer for a fixed local time on ``day``: the first valid minute from ``at``
    on (spring forward), the first occurrence when it is repeated (fall back). In UTC."""
    naive = datetime.combine(day, at)
    while not _exists(naive, tz):
        naive += timedelta(minutes=1)
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def expected_slots(at: time, tz: ZoneInfo, start: date, end: date,
                   weekday: int | None = None) -> list[datetime]:
    out, day = [], start
    while day < end:
        if weekday is None or day.weekday() == weekday:
            out.append(expected_local_slot(day, at, tz))
        day += timedelta(days=1)
    return out


def walk(schedule: str, tz: ZoneInfo, times: list[datetime], *, last_slot: datetime | None,
         grace: timedelta = GRACE) -> tuple[list[tuple[datetime, datetime]], list[datetime]]:
    """Run decide() at each of ``times`` as cron would, remembering the last slot dealt with.
    Returns (slot, when it was issued) pairs and the skipped slots."""
    issued, skipped = [], []
    for now in times:
        decision = decide(schedule, tz, now, last_slot, grace)
        if decision.slot is not None:
            issued.append((decision.slot, now))
            last_slot = decision.slot
        for slot in decision.skipped:
            skipped.append(slot)
            last_slot = slot
    return issued, skipped


def checkpoints(start: datetime, end: datetime, step: timedelta,
                slots: list[datetime]) -> list[datetime]:
    """Every ``step`` from start to end, plus each slot and the moments just around it."""
    points = set()
    t = start
    while t < end:
        points.add(t)
        t += step
    for slot in slots:
        for offset in (-300, -1, 0, 1, 299):
            points.add(slot + timedelta(seconds=offset))
    return sorted(p for p in points if start <= p < end)


# --- a year walked --------------------------------------------------------------------------

YEAR_CASES = [
    # (schedule, zone, local time, weekday or None)
    ("30 2 * * *", SYDNEY, time(2, 30), None),   # missing on 4 Oct, repeated on 5 Apr
    ("30 2 * * *", LONDON, time(2, 30), None),   # exists exactly once every day in London
    ("30 1 * * *", LONDON, time(1, 30), None),   # missing on 29 Mar, repeated on 25 Oct
    (WEEKLY, LONDON, time(9), 4),
    (WEEKLY, SYDNEY, time(9), 4),
]


@pytest.mark.parametrize(("schedule", "tz", "at", "weekday"), YEAR_CASES,
                         ids=[f"{c[1].key}-{c[0]}" for c in YEAR_CASES])
def test_a_year_walked_issues_every_slot_once_on_its_local_day_and_time(schedule, tz, at,
                                                                        weekday):
    start, end = utc(2026, 1, 1), utc(2027, 1, 1)
    slots = [s for s in expected_slots(at, tz, date(2025, 12, 31), date(2027, 1, 2), weekday)
             if start <= s < end]
    # cron every five minutes is walked every three hours plus the minutes around each slot
    times = checkpoints(start, end, timedelta(hours=3), slots)
    issued, skipped = walk(schedule, tz, times, last_slot=start - timedelta(seconds=1))

    assert [slot for slot, _ in issued] == slots  # each slot, in order, none twice
    assert skipped == []
    for slot, when in issued:
        assert when == slot  # the run at the slot's own second issued it
        local_slot = slot.astimezone(tz)
        if weekday is not None:
            assert local_slot.weekday() == weekday
            assert local_slot.time() == at  # 09:00 local in summer and in winter
    utc_hours = {slot.astimezone(UTC).hour for slot, _ in issued}
    assert len(utc_hours) == 2  # ...which is two different UTC hours across the year


@pytest.mark.parametrize(("tz", "days"), [(LONDON, (LONDON_SPRING, LONDON_FALL)),
                                          (SYDNEY, (SYDNEY_FALL, SYDNEY_SPRING))])
@pytest.mark.parametrize("at", [time(1, 30), time(2, 30)])
def test_change_days_walked_every_five_minutes(tz, days, at):
    for day in days:
        start = datetime.combine(day - timedelta(days=1), time(12), tzinfo=tz).astimezone(UTC)
        times = [start + timedelta(minutes=5 * i) for i in range(2 * 24 * 12)]
        issued, skipped = walk(f"{at.minute} {at.hour} * * *", tz, times, last_slot=start)
        expected = [expected_local_slot(d, at, tz) for d in (day, day + timedelta(days=1))]
        assert [slot for slot, _ in issued] == expected
        assert all(timedelta(0) <= when - slot < timedelta(minutes=5) for slot, when in issued)
        assert skipped == []


# --- the change days, spelled out -----------------------------------------------------------

DST_TABLE = [
    # Sydney, 02:30 daily: 4 Oct 2026 has no 02:30 (02:00 AEST → 03:00 AEDT): runs at 03:00 AEDT.
    ("30 2 * * *", SYDNEY, local(SYDNEY, 2026, 10, 3, 2, 30), local(SYDNEY, 2026, 10, 4, 3, 0)),
    ("30 2 * * *", SYDNEY, local(SYDNEY, 2026, 10, 4, 3, 0), local(SYDNEY, 2026, 10, 5, 2, 30)),
    # Sydney, 5 Apr 2026: 02:30 happens twice (AEDT, then AEST); only the first counts.
    ("30 2 * * *", SYDNEY, local(SYDNEY, 2026, 4, 4, 2, 30), local(SYDNEY, 2026, 4, 5, 2, 30)),
    ("30 2 * * *", SYDNEY, local(SYDNEY, 2026, 4, 5, 2, 30), local(SYDNEY, 2026, 4, 6, 2, 30)),
    # London, 01:30 daily: 29 Mar 2026 has no 01:30 (01:00 GMT → 02:00 BST): runs at 02:00 BST.
    ("30 1 * * *", LONDON, local(LONDON, 2026, 3, 28, 1, 30), local(LONDON, 2026, 3, 29, 2, 0)),
    # London, 25 Oct 2026: 01:30 happens twice; only the first (BST) counts.
    ("30 1 * * *", LONDON, local(LONDON, 2026, 10, 25, 1, 30), local(LONDON, 2026, 10, 26, 1, 30)),
    # London, 02:30 daily exists on both change days, once.
    ("30 2 * * *", LONDON, local(LONDON, 2026, 3, 28, 2, 30), local(LONDON, 2026, 3, 29, 2, 30)),
    ("30 2 * * *", LONDON, local(LONDON, 2026, 10, 24, 2, 30), local(LONDON, 2026, 10, 25, 2, 30)),
    # Weekly: 09:00 local on the Fridays either side of each change.
    (WEEKLY, LONDON, local(LONDON, 2026, 3, 27, 9), local(LONDON, 2026, 4, 3, 9)),
    (WEEKLY, LONDON, local(LONDON, 2026, 10, 23, 9), local(LONDON, 2026, 10, 30, 9)),
    (WEEKLY, SYDNEY, local(SYDNEY, 2026, 4, 3, 9), local(SYDNEY, 2026, 4, 10, 9)),
    (WEEKLY, SYDNEY, local(SYDNEY, 2026, 10, 2, 9), local(SYDNEY, 2026, 10, 9, 9)),
    # Weekly on the change day itself, at the missing / repeated hour.
    ("30 2 * * SUN", SYDNEY, local(SYDNEY, 2026, 9, 27, 2, 30), local(SYDNEY, 2026, 10, 4, 3, 0)),
    ("30 2 * * SUN", SYDNEY, local(SYDNEY, 2026, 3, 29, 2, 30), local(SYDNEY, 2026, 4, 5, 2, 30)),
]


@pytest.mark.parametrize(("schedule", "tz", "previous", "expected"), DST_TABLE)
def test_next_slot_across_a_change(schedule, tz, previous, expected):
    assert next_times(schedule, tz, previous, 1) == [expected.astimezone(UTC)]
    # due exactly at it, not a second before, and only once
    slot = expected.astimezone(UTC)
    before = decide(schedule, tz, slot - timedelta(seconds=1), previous, GRACE)
    at = decide(schedule, tz, slot, previous, GRACE)
    again = decide(schedule, tz, slot + timedelta(minutes=59), slot, GRACE)
    assert before.slot is None
    assert at.slot == slot
    assert again.slot is None


def test_repeated_hour_second_pass_still_sees_the_first_pass_slot():
    # 02:20 AEST on 5 Apr happens 50 minutes after 02:30 AEDT: that slot has passed. (cronsim's
    # reverse walk alone would answer yesterday's 02:30, since it walks wall-clock time.)
    now = local(SYDNEY, 2026, 4, 5, 2, 20, fold=1)
    first_pass = local(SYDNEY, 2026, 4, 5, 2, 30, fold=0).astimezone(UTC)
    assert now.astimezone(UTC) - first_pass == timedelta(minutes=50)
    assert latest_time("30 2 * * *", SYDNEY, now) == first_pass
    yesterday = local(SYDNEY, 2026, 4, 4, 2, 30)
    assert decide("30 2 * * *", SYDNEY, now, yesterday, GRACE).slot == first_pass


def test_interval_schedules_tick_in_real_minutes_through_the_repeated_hour():
    # Every 30 minutes over London's fall-back night: 00:00-03:00 local is four real hours.
    start = local(LONDON, 2026, 10, 25, 0, 0).astimezone(UTC)
    times = [start + timedelta(minutes=5 * i) for i in range(1, 4 * 12 + 1)]
    issued, _ = walk("*/30 * * * *", LONDON, times, last_slot=start)
    assert [s for s, _ in issued] == [start + timedelta(minutes=30 * i) for i in range(1, 9)]


# --- outages, grace, catch-up, first run -------------------------------------------------------


def test_a_long_outage_gives_one_issue_for_the_latest_slot():
    last = local(LONDON, 2026, 1, 2, 9).astimezone(UTC)
    back = local(LONDON, 2026, 6, 5, 10).astimezone(UTC)  # a Friday, an hour after its slot
    decision = decide(WEEKLY, LONDON, back, last, GRACE)
    assert decision.slot == local(LONDON, 2026, 6, 5, 9).astimezone(UTC)
    assert decision.skipped == ()
    assert decision.missed == 21  # the Fridays from 9 January to 29 May
    assert "21 earlier scheduled times passed" in decision.reason
    # and the next run, five minutes later, does nothing
    assert decide(WEEKLY, LONDON, back + timedelta(minutes=5), decision.slot, GRACE).slot is None


def test_an_outage_walked_gives_one_issue_then_the_schedule_resumes():
    slots = expected_slots(time(9), SYDNEY, date(2026, 5, 1), date(2026, 8, 1), weekday=4)
    start, end = slots[0] - timedelta(hours=1), slots[-1] + timedelta(hours=1)
    off_from, off_until = slots[2] + timedelta(hours=1), slots[7] + timedelta(hours=2)
    times = [t for t in checkpoints(start, end, timedelta(hours=1), slots)
             if not off_from <= t < off_until]
    issued, skipped = walk(WEEKLY, SYDNEY, times, last_slot=start - timedelta(days=1))
    # slots 3..6 passed while off; slot 7 is 2 h old when the machine is back: one issue for it
    assert [s for s, _ in issued] == slots[:3] + slots[7:]
    assert issued[3][1] == off_until
    assert skipped == []


def test_an_outage_longer_than_grace_skips_the_slot():
    slots = expected_slots(time(9), LONDON, date(2026, 5, 1), date(2026, 6, 30), weekday=4)
    start, end = slots[0] - timedelta(hours=1), slots[-1] + timedelta(hours=1)
    off_from, off_until = slots[1] + timedelta(hours=1), slots[4] + timedelta(hours=40)
    times = [t for t in checkpoints(start, end, timedelta(hours=1), slots)
             if not off_from <= t < off_until]
    issued, skipped = walk(WEEKLY, LONDON, times, last_slot=start - timedelta(days=1))
    assert skipped == [slots[4]]  # recorded once, at the first run after the outage
    assert [s for s, _ in issued] == slots[:2] + slots[5:]


def test_a_skip_after_a_long_outage_does_not_promise_an_issue():
    last = local(LONDON, 2026, 1, 2, 9).astimezone(UTC)
    back = local(LONDON, 2026, 6, 7, 10).astimezone(UTC)  # a Sunday: Friday's slot is 49 h old
    decision = decide(WEEKLY, LONDON, back, last, GRACE)
    assert decision.slot is None and decision.missed == 21
    assert decision.reason.startswith("skipped the issue due Fri 2026-06-05 09:00 BST")
    assert decision.reason.endswith("; 21 earlier scheduled times passed without a run")
    assert "one issue" not in decision.reason


@pytest.mark.parametrize(("age", "due"), [
    (timedelta(hours=36), True),
    (timedelta(hours=36, seconds=1), False),
])
def test_grace_boundary(age, due):
    slot = local(LONDON, 2026, 11, 20, 9).astimezone(UTC)
    last = slot - timedelta(days=7)
    decision = decide(WEEKLY, LONDON, slot + age, last, GRACE)
    assert (decision.slot == slot) is due
    assert decision.skipped == (() if due else (slot,))


def test_skipped_slot_says_so_and_catch_up_sends_it():
    slot = local(LONDON, 2026, 11, 20, 9).astimezone(UTC)
    now = slot + timedelta(days=3)
    skipped = decide(WEEKLY, LONDON, now, slot - timedelta(days=7), GRACE)
    assert skipped.slot is None and skipped.skipped == (slot,)
    assert "skipped the issue due Fri 2026-11-20 09:00 GMT" in skipped.reason
    assert "--catch-up" in skipped.reason
    caught = decide(WEEKLY, LONDON, now, slot - timedelta(days=7), GRACE, catch_up=True)
    assert caught.slot == slot and caught.skipped == ()
    assert "caught up on request" in caught.reason


def test_first_run_of_a_new_publication_takes_the_most_recent_slot_within_grace():
    slot = local(LONDON, 2026, 11, 20, 9).astimezone(UTC)
    assert decide(WEEKLY, LONDON, slot + timedelta(hours=3), None, GRACE).slot == slot
    late = decide(WEEKLY, LONDON, slot + timedelta(days=2), None, GRACE)
    assert late.slot is None and late.skipped == (slot,)


def test_nothing_due_names_the_next_time():
    slot = local(LONDON, 2026, 11, 20, 9).astimezone(UTC)
    decision = decide(WEEKLY, LONDON, slot + timedelta(hours=1), slot, GRACE)
    assert decision.slot is None and decision.skipped == ()
    assert decision.reason == "no issue due; next at Fri 2026-11-27 09:00 GMT"


def test_decide_is_pure_and_takes_any_zone_for_now():
    slot = local(SYDNEY, 2026, 11, 20, 9).astimezone(UTC)
    in_sydney = local(SYDNEY, 2026, 11, 20, 9, 5)
    in_utc = in_sydney.astimezone(UTC)
    assert decide(WEEKLY, SYDNEY, in_sydney, None, GRACE) == decide(WEEKLY, SYDNEY, in_utc,
                                                                   None, GRACE)
    assert decide(WEEKLY, SYDNEY, in_utc, None, GRACE).slot == slot


@pytest.mark.parametrize(("schedule", "message"), [
    ("0 9 * FRI", "has 4 fields"),
    ("0 0 9 * * FRI", "has 6 fields"),
    ("0 25 * * FRI", "not a valid cron expression"),
    ("0 9 * * FUNDAY", "not a valid cron expression"),
])
def test_bad_schedules_are_config_errors(schedule, message):
    with pytest.raises(ConfigError, match=message):
        decide(schedule, LONDON, utc(2026, 1, 1), None, GRACE)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="aware"):
        decide(WEEKLY, LONDON, datetime(2026, 1, 1), None, GRACE)


def test_next_times_are_ascending_and_strictly_after():
    slot = local(LONDON, 2026, 3, 20, 9)
    times = next_times(WEEKLY, LONDON, slot, 5)
    assert [t.astimezone(LONDON).strftime("%m-%d %H:%M %Z") for t in times] == [
        "03-27 09:00 GMT", "04-03 09:00 BST", "04-10 09:00 BST", "04-17 09:00 BST",
        "04-24 09:00 BST"]


# --- a clock that was ahead, an edited schedule ----------------------------------------------


def test_a_slot_recorded_while_the_clock_was_ahead_does_not_hold_the_schedule_up():
    # One run at a clock eight weeks ahead recorded Fri 1 March; the clock is right again.
    recorded = local(LONDON, 2024, 1, 5, 9).astimezone(UTC)
    ahead = local(LONDON, 2024, 3, 1, 9).astimezone(UTC)
    now = local(LONDON, 2024, 1, 12, 9, 5).astimezone(UTC)
    decision = decide(WEEKLY, LONDON, now, recorded, GRACE, ahead=ahead)
    assert decision.slot == local(LONDON, 2024, 1, 12, 9).astimezone(UTC)
    assert decision.ahead == ahead
    # The slot recorded ahead is the last one at or before the clock once it comes: not due.
    at_ahead = decide(WEEKLY, LONDON, ahead + timedelta(minutes=5), ahead, GRACE)
    assert at_ahead.slot is None and at_ahead.skipped == ()
    with pytest.raises(ValueError, match="is after now"):
        decide(WEEKLY, LONDON, now, ahead, GRACE)


def test_an_edited_schedule_takes_effect_from_the_next_time_it_names():
    last = local(LONDON, 2024, 1, 5, 9).astimezone(UTC)  # a Friday, under the old schedule
    fridays = schedule_key(WEEKLY, LONDON)
    tuesday = local(LONDON, 2024, 1, 9, 10).astimezone(UTC)
    monday = local(LONDON, 2024, 1, 8, 9).astimezone(UTC)
    # Unedited, Monday's slot would be due (25 h late, within grace).
    assert decide("0 9 * * MON", LONDON, tuesday, last, GRACE).slot == monday
    edited = decide("0 9 * * MON", LONDON, tuesday, last, GRACE, last_schedule=fridays)
    assert edited.slot is None and edited.skipped == (monday,)
    assert edited.quiet and edited.edited
    assert edited.reason == (
        "no issue due: newsletter.schedule was edited since the last slot, Fri 2024-01-05 09:00 "
        "GMT, and takes effect from the next time it names, not from Mon 2024-01-08 09:00 GMT, "
        "which had passed; next at Mon 2024-01-15 09:00 GMT")
    # Spacing and case are no edit; the zone is part of the schedule.
    assert decide(" 0  9 * * fri", LONDON, tuesday, last, GRACE,
                  last_schedule=fridays).edited is False
    assert decide(WEEKLY, SYDNEY, tuesday, last, GRACE, last_schedule=fridays).edited
    # Thursdays, from Friday 10:00: no time of theirs passed since the last slot; the next is due.
    thursdays = decide("0 9 * * THU", LONDON, last + timedelta(hours=1), last, GRACE,
                       last_schedule=fridays)
    assert thursdays.slot is None and thursdays.skipped == () and thursdays.edited
    # --catch-up sends it on purpose, as it sends a slot beyond grace.
    caught = decide("0 9 * * MON", LONDON, tuesday, last, GRACE, True, last_schedule=fridays)
    assert caught.slot == monday


# --- the lock -------------------------------------------------------------------------------


def test_lock_is_exclusive_and_names_the_holder(tmp_path):
    path = tmp_path / ".publisher" / "run.lock"
    with run_lock(path) as pid:
        assert pid == os.getpid()
        with pytest.raises(LockHeld) as info:
            with run_lock(path):
                pass
        assert info.value.pid == os.getpid()
        assert str(info.value) == (f"another publisher run holds the lock (pid {os.getpid()}); "
                                   "nothing done: run this command again once that one ends")
    with run_lock(path):  # released on exit
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from publisher.pipeline.lock import run_lock
            with run_lock(Path({str(path)!r})):
                print("held", flush=True)
                time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld) as info:
            with run_lock(path):
                pass
        assert info.value.pid == holder.pid
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        # the stale file is still there: the pid, then when it took the lock
        assert path.read_text().splitlines()[0] == str(holder.pid)
        with run_lock(path) as pid:
            assert path.read_text().splitlines()[0] == str(pid)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()


# --- crontab and systemd ----------------------------------------------------------------------


def test_crontab_line_runs_every_five_minutes_from_the_publication(tmp_path):
    root = tmp_path / "my reel"
    text = crontab_line(root, ["/opt/venv/bin/publisher"], root / ".publisher" / "cron.log")
    entry = [line for line in text.splitlines() if not line.startswith("#")]
    assert entry == [f"*/5 * * * * cd '{root}' && mkdir -p '{root}/.publisher' && "
                     f"(umask 077 && : >> '{root}/.publisher/cron.log') && "
                     f"/opt/venv/bin/publisher run >> '{root}/.publisher/cron.log' 2>&1"]
    assert "PUBLISHER_SECRET" in text


def test_crontab_escapes_percent_signs(tmp_path):
    text = crontab_line(Path("/srv/100%"), ["/bin/publisher"], Path("/srv/100%/cron.log"))
    assert r"/srv/100\%" in text and "100%/" not in text


def test_publisher_command_prefers_the_running_script_then_the_venv(tmp_path):
    script = tmp_path / "bin" / "publisher"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert publisher_command(str(script), "/usr/bin/python3") == [str(script.resolve())]
    python = tmp_path / "bin" / "python"
    assert publisher_command("/x/publisher/__main__.py", str(python)) == [str(script)]
    assert publisher_command("/x/publisher/__main__.py", "/nowhere/python") == [
        "/nowhere/python", "-m", "publisher"]


def test_systemd_units_are_a_oneshot_service_and_a_five_minute_timer(tmp_path):
    units = systemd_units(tmp_path / "pub", ["/opt/venv/bin/publisher"], title="Test Reel")
    name = unit_name(tmp_path / "pub", "Test Reel")
    assert re.fullmatch(r"publisher-test-reel-[0-9a-f]{6}", name)
    assert sorted(units) == [f"{name}.service", f"{name}.timer"]
    service, timer = units[f"{name}.service"], units[f"{name}.timer"]
    assert f"WorkingDirectory={tmp_path / 'pub'}\n" in service
    assert "ExecStart=/opt/venv/bin/publisher run\n" in service
    assert "Type=oneshot" in service and "EnvironmentFile=" in service
    assert "PUBLISHER_SECRET" in service
    assert "OnCalendar=*:0/5\n" in timer and "Persistent=true" in timer


def test_two_publications_of_one_title_get_units_and_secrets_of_their_own(tmp_path):
    # A staging copy, or an edition in another language, keeps the title: saved under the
    # same name, its units would replace the other's, whose newsletter would stop unnoticed.
    command = ["/opt/venv/bin/publisher"]
    live = systemd_units(tmp_path / "live" / "reel", command, title="Test Reel")
    staging = systemd_units(tmp_path / "staging" / "reel", command, title="Test Reel")
    assert set(live).isdisjoint(staging)
    assert unit_name(tmp_path / "live" / "x" / ".." / "reel", "Test Reel") == unit_name(
        tmp_path / "live" / "reel", "Test Reel")  # however the directory was named
    [live_env] = re.findall(r"EnvironmentFile=(.*)", live[next(iter(live))])
    [staging_env] = re.findall(r"EnvironmentFile=(.*)", staging[next(iter(staging))])
    assert live_env != staging_env
    # serve's unit reads the run's secrets
    [serve] = server_unit(tmp_path / "live" / "reel", command, title="Test Reel").values()
    assert f"EnvironmentFile={live_env}\n" in serve


# --- the CLI ----------------------------------------------------------------------------------


def test_schedule_prints_the_next_five_times_local_and_utc(publication, cli):
    write_reviews(publication, 2, first=date(2026, 3, 1))
    result = cli("schedule", now=datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == ("'0 9 * * FRI' in Europe/London; a missed issue still goes out up to "
                        "36 h late.")
    # No ledger yet: the first run, three hours after a slot, sends its issue.
    assert lines[1:3] == ["Issue for Fri 2026-03-20 09:00 GMT is due now (3 h late; the next "
                          "run sends it).", "Next 5:"]
    assert lines[3:] == [
        "  Fri 2026-03-27 09:00 GMT   Fri 2026-03-27 09:00 UTC",
        "  Fri 2026-04-03 09:00 BST   Fri 2026-04-03 08:00 UTC",
        "  Fri 2026-04-10 09:00 BST   Fri 2026-04-10 08:00 UTC",
        "  Fri 2026-04-17 09:00 BST   Fri 2026-04-17 08:00 UTC",
        "  Fri 2026-04-24 09:00 BST   Fri 2026-04-24 08:00 UTC",
    ]


def test_schedule_in_utc_prints_each_time_once(publication, cli):
    publication.add_config('[newsletter]\ntimezone = "UTC"\n')
    result = cli("schedule", now=datetime(2026, 3, 19, 12, 0, tzinfo=UTC))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("'0 9 * * FRI' in UTC")
    assert result.output.splitlines()[0].endswith(" Next 5:")  # nothing due: one line
    assert result.output.splitlines()[1:3] == [
        "  Fri 2026-03-20 09:00 UTC",
        "  Fri 2026-03-27 09:00 UTC",
    ]


def test_a_now_without_an_offset_is_read_in_the_publications_zone(publication, cli):
    # README's `publisher --now 2026-12-24 preview`: a bare date, midnight in Europe/London.
    publication.add_config('[newsletter]\nschedule = "30 0 * * *"\n')
    midnight_bst = datetime(2026, 7, 3, tzinfo=LONDON)  # 2 July, 23:00 UTC
    expected = cli("schedule", now=midnight_bst).output
    assert expected.splitlines()[3] == "  Fri 2026-07-03 00:30 BST   Thu 2026-07-02 23:30 UTC"
    for given in ("2026-07-03", "2026-07-03T00:00", "2026-07-03 00:00:00"):
        result = cli("--now", given, "schedule", now=None)
        assert result.exit_code == 0, result.output
        assert result.output == expected
    # and the commands that send compare it with the real clock, as they do an aware one
    far = f"{datetime.now(UTC).year + 2}-01-01"
    use_smtp(publication, "smtp://127.0.0.1:9")
    result = cli("--now", far, "run", now=None, env={"PUBLISHER_SECRET": "x" * 32})
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: --now {far}T00:00:00+00:00 is in the future and ")


def test_schedule_says_a_due_slot_gets_no_issue_without_enough_new_reviews(publication, cli):
    write_reviews(publication, 2)
    env = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}
    assert cli("run", now=SLOT + timedelta(minutes=5), env=env).exit_code == 0
    week = SLOT + timedelta(days=7)
    lines = cli("schedule", now=week + timedelta(hours=2)).output.splitlines()
    assert lines[1] == ("The slot Fri 2026-11-27 09:00 GMT is due now (2 h late), but the next "
                        "run composes no issue for it: only 0 new published reviews since issue "
                        "#1; need at least 1 (newsletter.min_reviews).")


def test_schedule_says_what_the_next_run_does_about_a_slot_that_passed(publication, cli):
    write_reviews(publication, 2)
    env = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}
    assert cli("run", now=SLOT + timedelta(minutes=5), env=env).exit_code == 0
    write_reviews(publication, 1, first=(SLOT + timedelta(days=2)).date(), prefix="new")
    week = SLOT + timedelta(days=7)  # the machine was off over its slot
    late = cli("schedule", now=week + timedelta(hours=25)).output.splitlines()
    assert late[1:3] == ["Issue for Fri 2026-11-27 09:00 GMT is due now (25 h late; the next "
                         "run sends it).", "Next 5:"]
    missed = cli("schedule", now=week + timedelta(hours=49)).output.splitlines()
    assert missed[1] == ("The slot Fri 2026-11-27 09:00 GMT was missed beyond grace_hours (2.0 "
                         "days late, 36 h grace): the next run skips it ('publisher run "
                         "--catch-up' sends it).")
    assert cli("run", now=week + timedelta(hours=49), env=env).exit_code == 0
    recorded = cli("schedule", now=week + timedelta(hours=50)).output.splitlines()
    assert recorded[0].endswith(" Next 5:")  # skipped and said so by that run
    # Mondays from the Tuesday after: the Monday gone by was before the edit.
    publication.add_config('[newsletter]\nschedule = "0 9 * * MON"\n')
    edited = cli("schedule", now=week + timedelta(days=4, hours=1)).output.splitlines()
    assert edited[1:4] == [
        "An edited newsletter.schedule takes effect from the next time it names: Mon 2026-11-30 "
        "09:00 GMT, which passed before the edit, sends nothing (the next run records it).",
        "Next 5:", "  Mon 2026-12-07 09:00 GMT   Mon 2026-12-07 09:00 UTC"]


def test_schedule_names_a_slot_the_ledger_holds_after_the_clock(publication, cli):
    write_reviews(publication, 2)
    env = {"PUBLISHER_SECRET": "a-secret-of-at-least-thirty-two-bytes"}
    ahead = SLOT + timedelta(weeks=8)
    for now in (SLOT, ahead, SLOT):  # one run while the clock was eight weeks ahead
        assert cli("run", now=now + timedelta(minutes=5), env=env).exit_code == 0
    lines = cli("schedule", now=SLOT + timedelta(days=1)).output.splitlines()
    assert lines[1] == (
        "warning: the ledger holds the slot Fri 2027-01-15 09:00 GMT, later than the clock "
        "(Sat 2026-11-21 09:00 GMT): the clock was ahead when a run recorded it, or is behind "
        "now; issues go on from the slots before it, and nothing more goes out for Fri "
        "2027-01-15 09:00 GMT when that time comes")
    assert lines[3] == "  Fri 2026-11-27 09:00 GMT   Fri 2026-11-27 09:00 UTC"


def test_schedule_uses_the_newsletter_zone_and_rejects_a_bad_schedule(publication, cli):
    publication.add_config('[newsletter]\nschedule = "30 2 * * SUN"\n'
                           'timezone = "Australia/Sydney"\n')
    result = cli("schedule", now=datetime(2026, 9, 28, 0, 0, tzinfo=UTC))
    assert "  Sun 2026-10-04 03:00 AEDT   Sat 2026-10-03 16:00 UTC" in result.output.splitlines()
    publication.write_config((publication.root / "publisher.toml").read_text()
                             .replace("30 2 * * SUN", "30 2 * *"))
    result = cli("schedule")
    assert result.exit_code == 1
    assert "publisher.toml: newsletter.schedule: '30 2 * *' has 4 fields" in result.output


def test_schedule_crontab_and_systemd_commands(publication, cli):
    root = publication.root.resolve()
    cron = cli("schedule", "crontab")
    assert cron.exit_code == 0
    entry = [line for line in cron.output.splitlines() if line.startswith("*/5")]
    assert len(entry) == 1
    assert entry[0].startswith(f"*/5 * * * * cd {root} && ")
    command = entry[0].split(" && ")[-1].split(" run >> ")[0]
    assert Path(command.split()[0]).is_absolute() and Path(command.split()[0]).exists()
    assert entry[0].endswith(f">> {root}/.publisher/cron.log 2>&1")
    assert "PUBLISHER_SECRET" in cron.output

    units = cli("schedule", "systemd")
    assert units.exit_code == 0
    name = unit_name(publication.config.root, "Test Reel")
    assert f"# --- {name}.service ---" in units.output
    assert f"# --- {name}.timer ---" in units.output
    assert f"WorkingDirectory={root}" in units.output
    assert "OnCalendar=*:0/5" in units.output
    assert f"systemctl --user enable --now {name}.timer" in units.output
    # A user's units run only while they are logged in: on a server, the timer would stop
    # with the ssh session that enabled it, and the slot pass unsent.
    assert "loginctl enable-linger" in units.output.split("# ---")[0]


def test_crontab_and_systemd_name_a_config_file_not_called_publisher_toml(publication):
    root = publication.root.resolve()
    (root / "publisher.toml").rename(root / "site.toml")
    args = ["--config", str(root / "site.toml")]
    cron = run_cli(*args, "schedule", "crontab")
    assert cron.exit_code == 0, cron.output
    (entry,) = [line for line in cron.output.splitlines() if line.startswith("*/5")]
    command = entry.split(" && ")[-1].split(" >> ")[0]
    assert command.endswith(f" --config {root / 'site.toml'} run")
    # the entry's command, run from its working directory, finds the publication
    found = subprocess.run([*shlex.split(command)[:-1], "schedule"], cwd=root,
                           capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("'0 9 * * FRI' in ")

    units = run_cli(*args, "schedule", "systemd")
    assert f"--config {root / 'site.toml'} run\n" in units.output


@pytest.mark.parametrize(("schedule", "advice"), [
    ("0 9 1-7 * MON", "for the first Monday of the month write \"0 9 * * MON#1\""),
    ("30 8 15-21 * 5", "for the third Friday of the month write \"30 8 * * 5#3\""),
    ("0 9 1,15 * FRI", "write * in one of them: \"0 9 1,15 * *\" for those days of the month, "
                       "\"0 9 * * FRI\" for every Friday"),
])
def test_a_day_of_month_with_a_day_of_week_is_warned_of(publication, cli, schedule, advice):
    """cron sends on a day that matches either field when both are set: '0 9 1-7 * MON',
    written for the first Monday of the month, mailed the list on every day from the 1st to the
    7th and on every Monday besides."""
    publication.add_config(f'[newsletter]\nschedule = "{schedule}"\n')
    result = cli("schedule", now=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1, result.output
    assert warning[0].startswith(
        f"warning: newsletter.schedule: {schedule!r} names a day of the month and a day of the "
        "week, and cron sends on every day that matches either of them, not only on days that "
        "match both; ")
    assert warning[0].endswith(advice)


@pytest.mark.parametrize("schedule", ["0 9 * * MON#1", "0 9 1 * *", "0 9 */2 * MON",
                                      "0 9 1-7 * *", "0 9 * * TUE,FRI"])
def test_one_day_field_is_no_warning(publication, cli, schedule):
    publication.add_config(f'[newsletter]\nschedule = "{schedule}"\n')
    result = cli("schedule", now=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_a_due_slot_is_not_promised_while_the_sources_do_not_load(publication, cli):
    """With a half-written review in reviews/, 'publisher schedule' said the due issue was
    'due now (the next run sends it)', while every run stopped on the sources and at last
    skipped the slot beyond its grace."""
    write_reviews(publication, 2)
    publication.write_review("broken.md", "---\ntitle: Broken\n---\nNo date, no reviewer.\n")
    lines = cli("schedule", now=SLOT + timedelta(hours=3)).output.splitlines()
    assert lines[1] == ("The slot Fri 2026-11-20 09:00 GMT is due now (3 h late), but the next "
                        "run composes no issue for it: the sources have problems ('publisher "
                        "check' lists them); the first run within grace_hours after they load "
                        "composes it.")
