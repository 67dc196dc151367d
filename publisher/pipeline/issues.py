"""Composing issues: the next issue chosen (``newsletter.compose``) and recorded in the ledger."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..config import Config
from ..errors import ComposeError
from ..files import read_text
from ..ledger import Store
from ..models import IssueRecord, IssueState
from ..newsletter.compose import plan_issue
from ..render.archive import archive_page
from ..sources import Catalog
from ..sources.markdown import markdown_to_html


def compose_issue(config: Config, store: Store, catalog: Catalog, *, now: datetime,
                  slot: datetime | None = None, dry_run: bool = False,
                  note_html: str = "") -> IssueRecord:
    """Create the next issue as a draft (or, with ``dry_run``, only say what it would be).

    Raises NotEnoughReviews below newsletter.min_reviews, SlotTaken if ``slot`` already has a
    row, StoreError if another issue took the number meanwhile, ComposeError if the web archive
    already has an issue of that number (``refuse_archived``).
    """
    plan = plan_issue(config, catalog, issued=store.issued_review_ids(), records=store.issues(),
                      now=now)
    refuse_archived(config, plan.number)
    ids = tuple(review.id for review in plan.reviews)
    if dry_run:
        return IssueRecord(number=plan.number, subject=plan.subject, state=IssueState.DRAFT,
                           slot=slot, created_at=now, sent_at=None, review_ids=ids,
                           note_html=note_html)
    return store.create_issue(subject=plan.subject, review_ids=ids, now=now, slot=slot,
                              note_html=note_html, number=plan.number)


def refuse_archived(config: Config, number: int) -> None:
    """ComposeError if the web archive already holds a page for issue ``number``: the ledger
    that sent it was lost, or restored from an older backup, and the reviews in that issue
    would go to every subscriber again."""
    page = config.output_path / archive_page(number)
    if page.is_file():
        where = f"{config.output_dir}/issues/{number}/"
        raise ComposeError(
            f"issue #{number} not composed: the web archive already has an issue #{number} "
            f"({where}) that this ledger does not know, so the ledger was lost or restored from "
            f"an older backup and its readers would get those reviews again; restore the latest "
            f"backup ('publisher restore FILE'), or, if those pages belong to a ledger you have "
            f"given up, move {config.output_dir}/issues/ away")


def note_from_file(path: Path, config: Config) -> str:
    """An editor's note in Markdown, as sanitised HTML with absolute links."""
    text = read_text(path, ComposeError, what="an editor's note", hint="save the note as UTF-8")
    return markdown_to_html(text, config.base_url)
