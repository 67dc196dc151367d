"""WebSub: tell the hub (``[feeds] hub``) which feeds a build changed, so that readers
subscribed through it hear of a new review at once instead of at their next poll.

A build reports the subscription feeds it wrote (``BuildReport.topics``: the site's, each
reviewer's and tag's, the newsletter archive's, each in RSS, Atom and JSON Feed). ``announce``
adds them to ``.publisher/websub.json`` and then sends the hub, for each queued feed, the
publish ping that hubs accept (``POST hub.mode=publish&hub.url=<feed URL>``; one feed per
request, which every hub understands). A feed leaves the queue when the hub accepts it (2xx) or
refuses it for good (4xx); when the hub cannot be reached, answers 5xx or is slower than the
timeout, the rest stays queued and the next build or run tries again. A hub problem never fails
a build: it is one line of the build's output.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from .. import __version__
from ..config import Config
from ..files import write_atomic

#: Seconds to wait for the hub's answer to one ping, and for all of them together.
TIMEOUT = 10.0
DEADLINE = 30.0


@dataclass(frozen=True)
class HubReport:
    """What announcing did: feeds the hub accepted, feeds it refused (with why), feeds left
    queued for the next run, and why they were left (""); ``line`` says it in one line."""

    hub: str
    accepted: tuple[str, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    queued: tuple[str, ...] = ()
    reason: str = ""

    @property
    def line(self) -> str:
        """One line for the build's output ("" when there was nothing to announce)."""
        parts = []
        if self.accepted:
            parts.append(f"told {self.hub} about {_feeds(len(self.accepted))}")
        if self.refused:
            topic, why = self.refused[0]
            more = f" and {len(self.refused) - 1} more" if len(self.refused) > 1 else ""
            parts.append(f"{self.hub} refused {topic}{more} ({why}); not retried")
        if self.queued:
            parts.append(f"{self.hub} {self.reason}; {_feeds(len(self.queued))} will be announced "
                         "on the next build")
        return "websub: " + "; ".join(parts) if parts else ""


def _feeds(n: int) -> str:
    return f"{n} feed{'' if n == 1 else 's'}"


def _load(config: Config) -> list[str]:
    try:
        data = json.loads(config.paths.websub_queue.read_bytes())
    except (OSError, ValueError):
        return []
    topics = data.get("topics") if isinstance(data, dict) else None
    return [t for t in topics if isinstance(t, str)] if isinstance(topics, list) else []


def _save(config: Config, topics: Iterable[str]) -> None:
    path = config.paths.websub_queue
    remaining = sorted(set(topics))
    if not remaining:
        path.unlink(missing_ok=True)
        return
    write_atomic(path, json.dumps({"topics": remaining}, indent=1).encode("utf-8"))


def _ping(hub: str, topic: str, timeout: float) -> tuple[str, str]:
    """("ok" | "refused" | "retry", why) for one publish ping."""
    # Imported when there is a hub to tell: with http.client and ssl, 11 ms of the start of
    # every build, and most publications have none.
    import urllib.error
    import urllib.request

    body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode("ascii")
    request = urllib.request.Request(hub, data=body, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": f"publisher/{__version__} (WebSub publisher)",
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            return "ok", str(response.status)
    except urllib.error.HTTPError as exc:
        why = f"HTTP {exc.code} {exc.reason}".strip()
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            return "refused", why
        return "retry", f"answered {why}"
    except TimeoutError:
        return "retry", f"did not answer within {timeout:g} s"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return "retry", f"did not answer within {timeout:g} s"
        text = getattr(reason, "strerror", None) or str(reason)
        return "retry", f"could not be reached ({text})"
    except OSError as exc:
        return "retry", f"could not be reached ({exc.strerror or exc})"


def announce(config: Config, topics: Iterable[str] = (), *, timeout: float = TIMEOUT,
             deadline: float = DEADLINE) -> HubReport:
    """Queue ``topics`` (feed URLs a build wrote) and ping the hub for everything queued.
    Without a hub configured the queue is dropped and nothing is sent. Never raises: a problem
    with the hub, or with the queue file, is in the report's line."""
    try:
        return _announce(config, topics, timeout=timeout, deadline=deadline)
    except OSError as exc:
        return HubReport(hub=config.feeds.hub, queued=tuple(topics),
                         reason=f"was not told: cannot write {config.paths.websub_queue} "
                                f"({exc.strerror or exc})")


def _announce(config: Config, topics: Iterable[str], *, timeout: float,
              deadline: float) -> HubReport:
    hub = config.feeds.hub
    queued = sorted(set(_load(config)) | set(topics))
    if not hub:
        if config.paths.websub_queue.exists():
            _save(config, ())
        return HubReport(hub="")
    if not queued:
        return HubReport(hub=hub)
    accepted: list[str] = []
    refused: list[tuple[str, str]] = []
    reason = ""
    stop = time.monotonic() + deadline
    left = list(queued)
    while left:
        if time.monotonic() > stop:
            reason = f"was too slow (over {deadline:g} s in all)"
            break
        topic = left[0]
        outcome, why = _ping(hub, topic, timeout)
        if outcome == "retry":
            reason = why
            break  # the hub is down or struggling: the rest waits for the next run
        left.pop(0)
        if outcome == "ok":
            accepted.append(topic)
        else:
            refused.append((topic, why))
    _save(config, left)
    return HubReport(hub=hub, accepted=tuple(accepted), refused=tuple(refused),
                     queued=tuple(left), reason=reason)
