"""Issues and schedule slots: composing, moving through their states, pausing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import SlotTaken, StoreError
from ..models import (
    DeliveryStatus,
    Issue,
    IssueRecord,
    IssueState,
    RenderedDigest,
    Review,
    SlotHistory,
    SlotOutcome,
)
from .base import StoreBase, chunks
from .schema import deliveries_t, issue_reviews_t, issues_t, slots_t, subscribers_t
from .snapshot import decode_digest, decode_issue, encode_issue

#: Which issues the web archive shows (``IssueStore.frozen_issues``): frozen, and sent, or still
#: being sent once the relay has accepted a copy.
_ON_THE_WEB = (
    issues_t.c.frozen_issue.is_not(None),
    (issues_t.c.state == IssueState.SENT)
    | ((issues_t.c.state == IssueState.SENDING)
       & select(deliveries_t.c.id).where(deliveries_t.c.issue_number == issues_t.c.number,
                                         deliveries_t.c.status == DeliveryStatus.SENT).exists()),
)


class IssueStore(StoreBase):
    """The issues (and schedule slots) part of the ledger."""

    def _issue_records(self, conn: Connection, where: Any = None) -> list[IssueRecord]:
        # Every column but the frozen issue and digest, which only sending and the archive read.
        query = select(*(c for c in issues_t.c if not c.name.startswith("frozen_"))).order_by(
            issues_t.c.number)
        if where is not None:
            query = query.where(where)
        rows = conn.execute(query).all()
        if not rows:
            return []
        reviews: dict[int, list[str]] = {row.number: [] for row in rows}
        for chunk in chunks(list(reviews)):
            for number, review_id in conn.execute(
                select(issue_reviews_t.c.issue_number, issue_reviews_t.c.review_id)
                .where(issue_reviews_t.c.issue_number.in_(chunk))
                .order_by(issue_reviews_t.c.issue_number, issue_reviews_t.c.position)
            ):
                reviews[number].append(review_id)
        return [
            IssueRecord(number=row.number, subject=row.subject, state=IssueState(row.state),
                        slot=row.slot, created_at=row.created_at, sent_at=row.sent_at,
                        review_ids=tuple(reviews[row.number]), note_html=row.note_html,
                        paused_reason=row.paused_reason or "")
            for row in rows
        ]

    def frozen_issue(self, number: int) -> Issue | None:
        """What issue ``number`` was when sending started (None while it is a draft, and for
        an issue being sent before the ledger could freeze it)."""
        with self._read() as conn:
            text = conn.execute(
                select(issues_t.c.frozen_issue).where(issues_t.c.number == number)
            ).scalar()
        return None if text is None else decode_issue(text)

    def frozen_issues(self) -> dict[int, Issue]:
        """The issues frozen for the web archive, by number: those sent, and those still being
        sent once the relay has accepted a copy. A reader who has the issue follows its "read
        on the web" link at once, while one greylisted address can keep the issue sending for
        days (give_up_hours); before any copy is accepted (the relay refused the connection)
        nobody has the link yet."""
        with self._read() as conn:
            rows = conn.execute(
                select(issues_t.c.number, issues_t.c.frozen_issue).where(*_ON_THE_WEB)
            ).all()
        return {row.number: decode_issue(row.frozen_issue) for row in rows}

    def mailed_reviews(self) -> list[Review]:
        """The reviews of every issue that left draft, as it froze them: what readers may
        have been mailed, under the ids and from the files they had then."""
        with self._read() as conn:
            texts = conn.execute(
                select(issues_t.c.frozen_issue).where(issues_t.c.frozen_issue.is_not(None),
                                                      issues_t.c.state != IssueState.CANCELLED)
            ).scalars().all()
        return [review for text in texts for review in decode_issue(text).reviews]

    def unfrozen_sent_issues(self) -> list[IssueRecord]:
        """The issues sent before the ledger froze issues (migration 0004), which hold their
        reviews' ids alone."""
        with self._read() as conn:
            return self._issue_records(conn, (issues_t.c.state == IssueState.SENT)
                                       & issues_t.c.frozen_issue.is_(None))

    def freeze_sent_issue(self, issue: Issue) -> None:
        """Keep what a sent issue that was never frozen is (``unfrozen_sent_issues``), as the
        sources give it now; an issue frozen meanwhile is left as it was."""
        with self._write() as conn:
            conn.execute(update(issues_t).where(
                issues_t.c.number == issue.number, issues_t.c.state == IssueState.SENT,
                issues_t.c.frozen_issue.is_(None),
            ).values(frozen_issue=encode_issue(issue)))

    def web_issue_numbers(self) -> set[int]:
        """The numbers of ``frozen_issues``, without reading the issues."""
        with self._read() as conn:
            return set(conn.execute(select(issues_t.c.number).where(*_ON_THE_WEB)).scalars())

    def frozen_digest(self, number: int) -> RenderedDigest | None:
        """Issue ``number``'s digest as rendered when sending started (None before that)."""
        with self._read() as conn:
            row = conn.execute(
                select(issues_t.c.frozen_issue, issues_t.c.frozen_digest)
                .where(issues_t.c.number == number)
            ).first()
        if row is None or row.frozen_issue is None or row.frozen_digest is None:
            return None
        return decode_digest(row.frozen_digest, decode_issue(row.frozen_issue))

    def issues(self) -> list[IssueRecord]:
        """Every issue, cancelled ones included, by number."""
        with self._read() as conn:
            return self._issue_records(conn)

    def last_issue(self) -> IssueRecord | None:
        """The highest-numbered issue, whatever its state, or None."""
        with self._read() as conn:
            highest = conn.execute(select(func.max(issues_t.c.number))).scalar()
            if highest is None:
                return None
            return self._issue_records(conn, issues_t.c.number == highest)[0]

    def issue(self, number: int) -> IssueRecord:
        """Issue ``number``; StoreError naming it if there is none."""
        with self._read() as conn:
            found = self._issue_records(conn, issues_t.c.number == number)
            if found:
                return found[0]
            highest = conn.execute(select(func.max(issues_t.c.number))).scalar()
        known = "there are no issues yet" if highest is None else (
            "the only issue is #1" if highest == 1 else f"issues are #1 to #{highest}"
        )
        raise StoreError(f"no issue #{number}; {known}")

    def issued_review_ids(self) -> set[str]:
        """Ids of the reviews held by any issue that was not cancelled."""
        with self._read() as conn:
            return set(conn.execute(
                select(issue_reviews_t.c.review_id).where(issue_reviews_t.c.claimed.is_not(None))
            ).scalars())

    def create_issue(self, *, subject: str, review_ids: Sequence[str], now: datetime,
                     slot: datetime | None = None, note_html: str = "",
                     number: int | None = None, schedule: str | None = None) -> IssueRecord:
        """Create a draft issue numbered highest + 1 (numbers are never reused).

        With ``slot``, the slot is recorded as issued (under ``schedule``, the schedule_key it
        is a time of) in the same transaction; SlotTaken if it already has a row. ``number``,
        when given, is the number the caller expects (its subject may name it): StoreError if
        another issue took it meanwhile. StoreError if a review is already in a live issue.
        """
        ids = tuple(review_ids)
        if not ids:
            raise StoreError("an issue needs at least one review")
        if len(set(ids)) != len(ids):
            raise StoreError("the same review is listed twice for one issue")
        try:
            with self._write() as conn:
                check_slot_free(conn, slot)
                for chunk in chunks(ids):
                    taken = conn.execute(
                        select(issue_reviews_t.c.review_id, issue_reviews_t.c.issue_number)
                        .where(issue_reviews_t.c.review_id.in_(chunk),
                               issue_reviews_t.c.claimed.is_not(None))
                    ).first()
                    if taken is not None:
                        raise StoreError(
                            f"review {taken.review_id} is already in issue #{taken.issue_number}"
                        )
                highest = conn.execute(select(func.max(issues_t.c.number))).scalar() or 0
                if number is not None and number != highest + 1:
                    raise StoreError(
                        f"cannot create issue #{number}: the next number is #{highest + 1} "
                        "(another issue was created meanwhile); compose it again"
                    )
                new = highest + 1
                conn.execute(insert(issues_t).values(
                    number=new, subject=subject, state=IssueState.DRAFT, slot=slot, created_at=now,
                    sent_at=None, note_html=note_html,
                ))
                conn.execute(insert(issue_reviews_t), [
                    {"issue_number": new, "review_id": rid, "position": i, "claimed": True}
                    for i, rid in enumerate(ids)
                ])
                if slot is not None:
                    conn.execute(insert(slots_t).values(
                        slot=slot, outcome="issued", issue_number=new, recorded_at=now,
                        schedule=schedule,
                    ))
        except IntegrityError as exc:
            # Only another database client (say, PostgreSQL without our write lock) gets here.
            if slot is not None:
                with self._read() as conn:
                    check_slot_free(conn, slot)
            raise StoreError(f"could not create the issue: {exc.orig}") from None
        return IssueRecord(number=new, subject=subject, state=IssueState.DRAFT, slot=slot,
                           created_at=now, sent_at=None, review_ids=ids, note_html=note_html)

    def adopt_draft(self, number: int, slot: datetime, *, now: datetime,
                    schedule: str | None = None) -> IssueRecord:
        """Give a draft composed by hand the schedule slot it goes out for, recording the slot
        as issued (under ``schedule``), in one transaction. SlotTaken if the slot already has a
        row; StoreError unless issue ``number`` is a draft without a slot."""
        with self._write() as conn:
            check_slot_free(conn, slot)
            done = conn.execute(update(issues_t).where(
                issues_t.c.number == number, issues_t.c.state == IssueState.DRAFT,
                issues_t.c.slot.is_(None),
            ).values(slot=slot))
            if done.rowcount != 1:
                raise StoreError(f"issue #{number} is not a draft waiting for a slot")
            conn.execute(insert(slots_t).values(
                slot=slot, outcome="issued", issue_number=number, recorded_at=now,
                schedule=schedule,
            ))
            return self._issue_records(conn, issues_t.c.number == number)[0]

    def cancel_issue(self, number: int, *, now: datetime) -> IssueRecord:
        """Cancel a draft issue, which releases its reviews for a later issue (the cancelled
        issue keeps the record of them). Cancelling it again changes nothing. StoreError once
        sending has started. (An issue becomes ``sending`` when it is queued and ``sent`` when
        its deliveries are over: ``DeliveryStore.start_sending`` and ``finish_if_done``.)"""
        with self._write() as conn:
            current = conn.execute(
                select(issues_t.c.state).where(issues_t.c.number == number)
            ).scalar()
            if current is None:
                raise StoreError(f"no issue #{number}")
            if current not in (IssueState.DRAFT, IssueState.CANCELLED):
                raise StoreError(f"issue #{number} is {current}: only a draft issue can be "
                                 "cancelled, before sending starts")
            if current == IssueState.DRAFT:
                conn.execute(update(issues_t).where(
                    issues_t.c.number == number, issues_t.c.state == current,
                ).values(state=IssueState.CANCELLED))
                conn.execute(update(issue_reviews_t)
                             .where(issue_reviews_t.c.issue_number == number)
                             .values(claimed=None))
            return self._issue_records(conn, issues_t.c.number == number)[0]

    def pause_issue(self, number: int, reason: str) -> None:
        """Remember that sending issue ``number`` is paused, and why (a 5.7.x refusal): runs
        leave it alone until a person resumes it (``resume_issue``)."""
        with self._write() as conn:
            done = conn.execute(update(issues_t).where(issues_t.c.number == number)
                                .values(paused_reason=reason or "paused"))
            if done.rowcount != 1:
                raise StoreError(f"no issue #{number}")

    def resume_issue(self, number: int) -> bool:
        """Clear a pause; True if the issue was paused."""
        with self._write() as conn:
            done = conn.execute(update(issues_t).where(
                issues_t.c.number == number, issues_t.c.paused_reason.is_not(None),
            ).values(paused_reason=None))
            return done.rowcount == 1

    def record_slot(self, slot: datetime, outcome: str, *, now: datetime,
                    issue_number: int | None = None, schedule: str | None = None) -> bool:
        """Record what happened at a schedule slot, a time of ``schedule`` (its schedule_key);
        False if the slot already has a row. (create_issue with a slot records it as issued
        itself.)"""
        if outcome not in tuple(SlotOutcome):
            raise ValueError(f"unknown slot outcome {outcome!r}")
        try:
            with self._write() as conn:
                if conn.execute(select(slots_t.c.slot).where(slots_t.c.slot == slot)).first():
                    return False
                conn.execute(insert(slots_t).values(
                    slot=slot, outcome=outcome, issue_number=issue_number, recorded_at=now,
                    schedule=schedule,
                ))
        except IntegrityError:
            return False
        return True

    def first_record(self) -> datetime | None:
        """When the ledger first recorded anything (a subscriber or an issue), or None: a
        schedule slot before it passed before the publication existed. A subscriber counts
        from when the row was written (``status_changed_at``), not from ``created_at``: an
        imported list keeps when each joined the tool it came from, years before this one."""
        with self._read() as conn:
            times = [conn.execute(select(func.min(column))).scalar()
                     for column in (subscribers_t.c.status_changed_at, issues_t.c.created_at)]
        present = [t for t in times if t is not None]
        return min(present) if present else None

    def slot_history(self, now: datetime) -> SlotHistory:
        """The latest slot recorded at or before ``now`` and its schedule, and the latest one
        after ``now`` (recorded by a run whose clock was ahead)."""
        with self._read() as conn:
            last = conn.execute(
                select(slots_t.c.slot, slots_t.c.schedule).where(slots_t.c.slot <= now)
                .order_by(slots_t.c.slot.desc()).limit(1)
            ).first()
            ahead = conn.execute(select(func.max(slots_t.c.slot)).where(slots_t.c.slot > now)
                                 ).scalar()
        if last is None:
            return SlotHistory(ahead=ahead)
        return SlotHistory(last=last.slot, schedule=last.schedule, ahead=ahead)

    def record_schedule(self, slot: datetime, schedule: str) -> None:
        """Record that runs go by ``schedule`` after ``slot`` (an edited schedule none of whose
        times passed since): its next time is then not taken for one before the edit."""
        with self._write() as conn:
            conn.execute(update(slots_t).where(slots_t.c.slot == slot).values(schedule=schedule))

    def slot_outcome(self, slot: datetime) -> tuple[str, int | None] | None:
        """(outcome, issue number) recorded for ``slot``, or None."""
        with self._read() as conn:
            row = conn.execute(
                select(slots_t.c.outcome, slots_t.c.issue_number).where(slots_t.c.slot == slot)
            ).first()
        return None if row is None else (row.outcome, row.issue_number)



def check_slot_free(conn: Connection, slot: datetime | None) -> None:
    if slot is None:
        return
    row = conn.execute(
        select(slots_t.c.outcome, slots_t.c.issue_number).where(slots_t.c.slot == slot)
    ).first()
    if row is not None:
        what = f"issue #{row.issue_number}" if row.issue_number is not None else row.outcome
        when = slot.astimezone(UTC)
        raise SlotTaken(f"the schedule slot {when:%Y-%m-%d %H:%M} UTC is already taken ({what})")

