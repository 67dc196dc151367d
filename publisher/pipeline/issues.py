"""Composing issues: the next issue chosen (``newsletter.compose``) and recorded in the ledger."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from ..config import Config
from ..errors import ComposeError
from ..files import read_text
from ..ledger import Store
from ..ledger.probe import LedgerStatus, probe_ledger
from ..models import IssueRecord, IssueState
from ..newsletter.compose import issue_from_record, issued_ids, plan_issue
from ..render.archive import archive_page
from ..sources import Catalog
from ..sources.markdown import markdown_to_html

_ARCHIVED = re.compile(r"[1-9][0-9]*")


def issued_review_ids(store: Store, catalog: Catalog) -> set[str]:
    """The ids of the reviews in a live issue, those mailed under an id they no longer have
    (a file renamed, say) by their ids now: the reviews no new issue may hold."""
    return issued_ids(catalog, store.issued_review_ids(), store.mailed_reviews())


def freeze_sent_issues(config: Config, store: Store, catalog: Catalog) -> None:
    """Keep what each issue sent before the ledger froze issues (migration 0004) is, while the
    sources still hold every review it mailed under the id it holds: a file renamed, a date
    corrected or base_url's domain moved later is then known for a review mailed
    (``issued_review_ids``), as for the issues frozen as they were sent. One whose review
    has left the sources already is left to the archive's warning (the file may come back)."""
    for record in store.unfrozen_sent_issues():
        if all(catalog.by_id(rid) is not None for rid in record.review_ids):
            store.freeze_sent_issue(issue_from_record(record, catalog, config))


def compose_issue(config: Config, store: Store, catalog: Catalog, *, now: datetime,
                  slot: datetime | None = None, dry_run: bool = False,
                  note_html: str = "", schedule: str | None = None) -> IssueRecord:
    """Create the next issue as a draft (or, with ``dry_run``, only say what it would be), for
    ``slot``, a time of ``schedule`` (its schedule_key), when given.

    Raises NotEnoughReviews below newsletter.min_reviews, SlotTaken if ``slot`` already has a
    row, StoreError if another issue took the number meanwhile, ComposeError if the web archive
    already has an issue of that number (``refuse_archived``).
    """
    if not dry_run:
        freeze_sent_issues(config, store, catalog)
    plan = plan_issue(config, catalog, issued=issued_review_ids(store, catalog),
                      records=store.issues(), now=now)
    refuse_archived(config, plan.number)
    ids = tuple(review.id for review in plan.reviews)
    if dry_run:
        return IssueRecord(number=plan.number, subject=plan.subject, state=IssueState.DRAFT,
                           slot=slot, created_at=now, sent_at=None, review_ids=ids,
                           note_html=note_html)
    return store.create_issue(subject=plan.subject, review_ids=ids, now=now, slot=slot,
                              note_html=note_html, number=plan.number, schedule=schedule)


def refuse_archived(config: Config, number: int) -> None:
    """ComposeError if the web archive already holds a page for issue ``number``: the ledger
    that sent it was lost, or restored from an older backup, and the reviews in that issue
    would go to every subscriber again."""
    if _archived(config, number):
        where = f"{config.output_dir}/issues/{number}/"
        raise ComposeError(
            f"issue #{number} not composed: the web archive already has an issue #{number} "
            f"({where}) that this ledger does not know, so the ledger was lost or restored from "
            f"an older backup and its readers would get those reviews again; "
            f"{_restore_or_give_up(config)}")


def lost_ledger(config: Config, status: LedgerStatus | None = None) -> str | None:
    """Why the ledger cannot be the one that sent the issues of the web archive — it is
    missing, an empty file, or holds no issue, while public/issues/<n>/ has a page — or None.
    A ledger made anew in its place would send issue #1 again at the next slot, and the next
    backup would take the last good one's place. ``status``: what ``probe_ledger`` just found,
    if the caller has it; the ledger is looked at only when the archive has an issue."""
    archived = archived_numbers(config)
    if not archived:  # nothing sent yet, or the archive moved away: a ledger may be made
        return None
    if status is None:
        status = probe_ledger(config)
    if status.problem or (status.exists and status.issues):  # a problem is said by its reader
        return None
    number = archived[0]
    return (f"{status.url} {'holds no issue' if status.exists else 'is missing or empty'}, but "
            f"the web archive has issue #{number} ({config.output_dir}/issues/{number}/): the "
            "ledger that sent it was lost, and a new one would send its readers those reviews "
            f"again; {_restore_or_give_up(config)}")


def _restore_or_give_up(config: Config) -> str:
    return ("restore the latest backup ('publisher restore FILE'), or, if those pages belong to "
            f"a ledger you have given up, move {config.output_dir}/issues/ away")


def _archived(config: Config, number: int) -> bool:
    return (config.output_path / archive_page(number)).is_file()


def archived_numbers(config: Config) -> list[int]:
    """The issue numbers that have a page in the web archive (public/issues/<n>/), ascending."""
    directory = config.output_path / "issues"
    try:
        names = [p.name for p in directory.iterdir() if _ARCHIVED.fullmatch(p.name)]
    except OSError:  # no archive yet (or none readable): nothing to compare
        return []
    return sorted(number for number in map(int, names) if _archived(config, number))


def note_from_file(path: Path, config: Config) -> str:
    """An editor's note in Markdown, as sanitised HTML with absolute links."""
    text = read_text(path, ComposeError, what="an editor's note", hint="save the note as UTF-8")
    return markdown_to_html(text, config.base_url, language=config.language)
