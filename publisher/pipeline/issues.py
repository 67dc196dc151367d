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
from ..sources import Catalog
from ..sources.markdown import markdown_to_html


def compose_issue(config: Config, store: Store, catalog: Catalog, *, now: datetime,
                  slot: datetime | None = None, dry_run: bool = False,
                  note_html: str = "") -> IssueRecord:
    """Create the next issue as a draft (or, with ``dry_run``, only say what it would be).

    Raises NotEnoughReviews below newsletter.min_reviews, SlotTaken if ``slot`` already has a
    row, StoreError if another issue took the number meanwhile.
    """
    plan = plan_issue(config, catalog, issued=store.issued_review_ids(), records=store.issues(),
                      now=now)
    ids = tuple(review.id for review in plan.reviews)
    if dry_run:
        return IssueRecord(number=plan.number, subject=plan.subject, state=IssueState.DRAFT,
                           slot=slot, created_at=now, sent_at=None, review_ids=ids,
                           note_html=note_html)
    return store.create_issue(subject=plan.subject, review_ids=ids, now=now, slot=slot,
                              note_html=note_html, number=plan.number)


def note_from_file(path: Path, config: Config) -> str:
    """An editor's note in Markdown, as sanitised HTML with absolute links."""
    text = read_text(path, ComposeError, what="an editor's note", hint="save the note as UTF-8")
    return markdown_to_html(text, config.base_url)
