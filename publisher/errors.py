"""One exception tree for publisher: every error a user can act on derives from PublisherError.

The CLI turns these into one clear line (or one line per problem) and a non-zero exit code;
anything else is a bug and gets a traceback behind ``--debug``.

    PublisherError
    ├── ConfigError            publisher.toml, the environment, a transport URL
    ├── SourceError            review sources (every Problem at once)
    ├── PageImportError        an exported page that cannot be imported
    ├── TemplateError          a digest, archive or subject template
    ├── ComposeError           an issue that cannot be composed
    │   ├── NotEnoughReviews
    │   └── MissingReview
    ├── StoreError             the ledger
    │   ├── SlotTaken
    │   ├── AlreadySubscribed
    │   └── Suppressed
    ├── InvalidAddress         an email address (also a ValueError)
    ├── CsvError               a subscriber CSV file
    ├── LockHeld               another run holds the publication's lock
    │   └── RunStuck           … and has made no progress for a long time
    ├── BadToken               a reader's link that does not verify (also a ValueError)
    │   └── ExpiredToken
    ├── MailboxError           the inbox cannot be read or a message cannot be moved
    └── DeliveryError          sending one message; ``reply`` and ``bounce`` say what happened
        ├── TemporaryDeliveryError
        ├── PermanentDeliveryError
        │   └── AddressError
        ├── PolicyDeliveryError
        ├── AmbiguousDeliveryError
        └── TransportError

    Interrupted                a signal (SIGINT, SIGTERM, SIGHUP) asked publisher to stop; not
                               an error, and not a PublisherError, so that nothing on the way
                               out takes it for one: the CLI says what was done and exits
                               128 + the signal
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class PublisherError(Exception):
    """Root of every error publisher raises on purpose."""


class ConfigError(PublisherError, ValueError):
    """publisher.toml is missing, unreadable or invalid; or the environment lacks a secret."""


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one source file, located well enough for an editor to fix it."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        where = f"{self.path}:{self.line}:" if self.line else f"{self.path}:"  # 0: whole file
        return f"{where}{field} {self.message}"


class SourceError(PublisherError, ValueError):
    """One or more review sources are invalid; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(problems)
        super().__init__(self.head + ":\n" + "\n".join(str(p) for p in self.problems))

    @property
    def head(self) -> str:
        """'2 problems in the sources': reviews or the site's own pages, as each path says."""
        count = len(self.problems)
        return f"{count} problem{'s' if count != 1 else ''} in the sources"


def first_line(exc: BaseException) -> str:
    """An error in one line, as a run's summary gives it: sources' problems by the first and
    how many more."""
    if isinstance(exc, SourceError):
        count = len(exc.problems)
        more = f" (and {count - 1} more)" if count > 1 else ""
        return f"{exc.head}: {exc.problems[0]}{more}"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PageImportError(PublisherError, ValueError):
    """An exported page could not be imported."""


class TemplateError(PublisherError, ValueError):
    """A digest, archive or subject template failed to render or compile."""


class ComposeError(PublisherError):
    """An issue cannot be composed or rebuilt."""


class NotEnoughReviews(ComposeError):
    """Fewer new published reviews than newsletter.min_reviews."""

    def __init__(self, message: str, *, found: int, needed: int):
        super().__init__(message)
        self.found = found
        self.needed = needed


class MissingReview(ComposeError):
    """An issue in the ledger names a review that is no longer in the sources."""


class StoreError(PublisherError):
    """The ledger database is unusable: unreachable, too new, or in an impossible state."""


class SlotTaken(StoreError):
    """The schedule slot already has a row: an issue, or a recorded skip."""


class AlreadySubscribed(StoreError):
    """The address is already on the list and active."""


class Suppressed(StoreError):
    """The address unsubscribed, bounced or complained; only --force subscribes it again."""


class InvalidAddress(PublisherError, ValueError):
    """Not a valid email address (syntax only; no DNS look-ups)."""


class CsvError(PublisherError, ValueError):
    """A subscriber CSV file cannot be read at all (missing, not UTF-8, no header)."""


class LockHeld(PublisherError):
    """Another process holds the publication's run lock."""

    def __init__(self, path: Path, pid: int | None, *, holder: str = ""):
        self.path = path
        self.pid = pid
        who = f"pid {pid}" if pid else "pid unknown"
        if holder:  # the database's run lock (PostgreSQL): the holders' worker names
            who = f"in the database: {holder}"
        #: What ``publisher run`` says as it steps aside: cron's next turn does what it would.
        self.stepped_aside = f"another publisher run holds the lock ({who}); nothing done"
        super().__init__(f"{self.stepped_aside}: run this command again once that one ends")


class RunStuck(LockHeld):
    """The run lock's holder is alive (the kernel drops a dead one's lock) but has not beaten
    its heartbeat for longer than any step of a run waits: stopped, or blocked on a dead mount
    or a socket. ``started`` and ``last_beat`` are times as the host's clock reads them;
    ``host``: the holder's, when it holds the database's lock (it may be on any host)."""

    def __init__(self, path: Path, pid: int | None, *, started: str, last_beat: str,
                 silent_for: str, host: str = ""):
        super().__init__(path, pid)
        who = f"pid {pid}" if pid else "pid unknown"
        look = (f"look at it ('ps -o pid,stat,wchan:20,args -p {pid}') and stop it ('kill "
                f"{pid}', then 'kill -9 {pid}' if it does not exit)" if pid else "stop it")
        if host:  # the database's run lock (PostgreSQL): a sender on any host
            who = f"{who} on host {host}"
            look = f"on {host}, {look}"
        began = f", started {started}" if started else ""
        # SIGTERM first: a run that can still act records what it has in flight on its way out.
        self.stepped_aside = (
            f"another publisher run ({who}{began}) holds the lock and has made no progress "
            f"since {last_beat} ({silent_for}): it is stopped or blocked (a dead mount, a mail "
            f"server that stopped answering); {look}: the next run goes on where it stopped, "
            "sending nothing twice and naming what it had in flight as ambiguous, if anything")
        self.args = (self.stepped_aside,)  # a person's command says the same: it will not end


class BadToken(PublisherError, ValueError):
    """A token in a reader's link is malformed, forged, or made for another purpose. Its
    message is for logs only: pages say nothing about why."""


class ExpiredToken(BadToken):
    """A genuine token past its expiry (a confirmation link older than server.confirm_hours)."""


class MailboxError(PublisherError):
    """The inbox (a Maildir or an IMAP folder) cannot be opened, read or written."""


class DeliveryError(PublisherError):
    """Sending a message failed.

    ``reply`` is the server's reply as one line ("" when no server replied: a refused
    connection, a local write error); ``bounce`` is true when the reply says the address does
    not exist, so the subscriber is marked bounced.
    """

    def __init__(self, message: str, *, reply: str = "", bounce: bool = False):
        super().__init__(message)
        self.reply = reply
        self.bounce = bounce


class TemporaryDeliveryError(DeliveryError):
    """A 4xx reply or a transient network fault: retry later."""


class PermanentDeliveryError(DeliveryError):
    """A 5xx reply about the recipient: do not retry; ``bounce`` marks the subscriber."""


class AddressError(PermanentDeliveryError, ValueError):
    """A subscriber address that cannot be put in a header safely (so it is never sent to)."""


class PolicyDeliveryError(DeliveryError):
    """A 5.7.x reply (policy, authentication, reputation): pause the issue, never suppress the
    subscriber."""


class AmbiguousDeliveryError(DeliveryError):
    """The message may or may not have been accepted (connection lost after DATA)."""


class TransportError(DeliveryError):
    """The transport itself is unusable (refused connection, authentication failed, the sender
    refused): stop, mark nothing sent. ``reply`` is set when a server said so."""


class Interrupted(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its kin
    """A signal asked publisher to stop, and it stopped cleanly: ``signum`` is the signal,
    ``detail`` what was done before stopping ("" when nothing was under way). Derives from
    BaseException, as KeyboardInterrupt does, so that ``except Exception`` and ``except
    PublisherError`` let it through; ``exit_code`` is the shell's 128 + the signal's number."""

    def __init__(self, signum: int, detail: str = ""):
        self.signum = signum
        self.detail = detail
        super().__init__(f"interrupted by {self.name}" + (f": {detail}" if detail else ""))

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
