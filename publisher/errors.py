"""One exception tree for publisher: every error a user can act on derives from PublisherError.

The CLI turns these into one clear line (or one line per problem) and a non-zero exit code;
anything else is a bug and gets a traceback behind ``--debug``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class PublisherError(Exception):
    """Root of every error publisher raises on purpose."""


class ConfigError(PublisherError, ValueError):
    """publisher.toml is missing, unreadable or invalid."""


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
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in review sources"
        super().__init__(head + ":\n" + "\n".join(str(p) for p in self.problems))


class ImportError_(PublisherError, ValueError):
    """An exported page could not be imported (the trailing underscore avoids the builtin)."""


class TemplateError(PublisherError, ValueError):
    """A digest or archive template failed to render or compile."""


class StoreError(PublisherError):
    """The ledger database is unusable: unreachable, too new, or in an impossible state."""


class DeliveryError(PublisherError):
    """Sending a message failed."""


class TemporaryDeliveryError(DeliveryError):
    """A 4xx reply or a transient network fault: retry later."""


class PermanentDeliveryError(DeliveryError):
    """A 5xx reply about the recipient: do not retry, mark the subscriber bounced."""


class AmbiguousDeliveryError(DeliveryError):
    """The message may or may not have been accepted (connection lost after DATA)."""


class TransportError(DeliveryError):
    """The transport itself is unusable (bad URL, refused connection, authentication failed):
    stop, mark nothing sent."""


class PolicyDeliveryError(DeliveryError):
    """A 5.7.x reply (policy, authentication, reputation): pause the issue, never suppress the
    subscriber."""
