"""``publisher inbox``: act on what came back by mail — bounces, complaints, mailto
unsubscribes — once each, and never lose one.

For each message in the mailbox: classify it (``newsletter.returns``); record what it says in the
ledger, in one transaction that also records the message's key; only then move it to the
processed folder. A crash between the two leaves the message in place and its key in the ledger,
so the next run only moves it: reprocessing never counts a bounce twice. A message publisher does
not act on — not a report, a delay warning, a report about someone else's mail, mail the email
package cannot read — is left where it is, unread, and counted: no message stops the run.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..config import Config
from ..delivery.mailbox import Mailbox, mailbox_from_config
from ..ledger import Store
from ..newsletter.returns import OTHER, classify
from ..render.sender import Sender

#: How a summary names each outcome.
_LABELS = {
    "bounced": "bounced", "soft-bounce": "soft bounce(s) counted",
    "repeat": "soft bounce(s) already counted",
    "complained": "complained", "unsubscribed": "unsubscribed",
    "no-change": "already off the list", "seen": "already processed (moved now)",
}


@dataclass
class InboxReport:
    """What one pass over the mailbox did: outcome → count; ``left``: messages left in place,
    with why (reason → count)."""

    mailbox: str
    outcomes: Counter[str] = field(default_factory=Counter)
    left: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    @property
    def processed(self) -> int:
        return sum(self.outcomes.values())

    def summary(self) -> str:
        verb = "would process" if self.dry_run else "processed"
        done = ", ".join(f"{n} {_LABELS.get(k, k)}" for k, n in sorted(self.outcomes.items()))
        left = sum(self.left.values())
        line = f"inbox {self.mailbox}: {verb} {self.processed}"
        line += f" ({done})" if done else ""
        if left:
            # Most first, ties by name: the mailbox's listing order (a Maildir's is the
            # directory's) must not change the line.
            reasons = "; ".join(f"{n} {k}" for k, n in sorted(self.left.items(),
                                                              key=lambda kn: (-kn[1], kn[0])))
            line += f"; left {left} unread ({reasons})"
        return line


def unsubscribe_addresses(config: Config) -> set[str]:
    mailto = Sender.from_config(config).unsubscribe_mailto
    return {mailto.removeprefix("mailto:").partition("?")[0].lower()}


def reply_addresses(config: Config) -> set[str]:
    """Where readers' replies go (From, Reply-To): the mailto's default address is one."""
    nl = config.newsletter
    return {a.lower() for a in (nl.from_address, nl.reply_to) if a}


def process_inbox(config: Config, store: Store, *, now: datetime, dry_run: bool = False,
                  mailbox: Mailbox | None = None) -> InboxReport:
    """One pass over ``[inbox] mailbox``. Raises ConfigError (no or a bad mailbox) or
    MailboxError (it cannot be read, or a message cannot be moved: what was recorded stays
    recorded, and the next run moves it)."""
    box = mailbox or mailbox_from_config(config)
    settings = config.inbox
    window = timedelta(days=settings.soft_bounce_days)
    ours = unsubscribe_addresses(config)
    replies = reply_addresses(config)
    report = InboxReport(box.description, dry_run=dry_run)
    with ExitStack() as stack:
        stack.callback(box.close)
        if dry_run:  # the same decisions, in one transaction rolled back at the end
            stack.enter_context(store.rehearsal())
        for message_id, raw in box.messages():
            returned = classify(raw, unsubscribe_addresses=ours, reply_addresses=replies)
            if returned.kind == OTHER:
                report.left[returned.reason] += 1
                continue
            outcome = store.record_returned(
                returned.key, returned.kind, message_ids=returned.message_ids,
                email=returned.addresses[0] if returned.addresses else "",
                detail=returned.detail, now=now, soft_limit=settings.soft_bounce_limit,
                soft_window=window)
            if outcome == "unmatched":
                report.left[f"{returned.kind.replace('-', ' ')} not about a message or "
                            "subscriber of ours"] += 1
                continue
            if not dry_run:
                box.move(message_id)  # only now: the ledger holds what the message said
            report.outcomes[outcome] += 1
    return report
