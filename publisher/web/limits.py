"""A per-client request limit for the subscribe form: pure bookkeeping over a given ``now``.

Counters live in the server process (one per worker): they stop a script hammering the form
from one address, which is what they are for; the ledger's cap on confirmation messages per
address per day holds across workers and restarts.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from datetime import datetime, timedelta


def client_key(ip: str | None) -> str:
    """What the limit counts for a client at ``ip``: the address itself, or for IPv6 its /64 —
    one subscriber line gets a /64 or more, and each of its addresses would have a count of
    its own."""
    if not ip:
        return "-"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:  # a name, behind a proxy that passes one: counted as it is
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class RateLimiter:
    """At most ``limit`` hits per ``window`` for each key (fixed windows). Memory is bounded:
    past ``max_keys`` keys, the expired ones are dropped, and if none has expired the oldest
    window goes."""

    def __init__(self, limit: int, window: timedelta, *, max_keys: int = 100_000):
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, tuple[datetime, int]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: datetime) -> bool:
        """Count one hit for ``key`` at ``now``; False when it is over the limit."""
        with self._lock:
            start, count = self._hits.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= self.limit:
                return False
            if key not in self._hits and len(self._hits) >= self.max_keys:
                self._prune(now)
            self._hits[key] = (start, count + 1)
            return True

    def retry_after(self, key: str, now: datetime) -> int:
        """Whole seconds until ``key``'s window ends (for a Retry-After header)."""
        with self._lock:
            start, _ = self._hits.get(key, (now, 0))
        return max(1, math.ceil((start + self.window - now).total_seconds()))

    def _prune(self, now: datetime) -> None:
        expired = [k for k, (start, _) in self._hits.items() if now - start >= self.window]
        for key in expired or [min(self._hits, key=lambda k: self._hits[k][0])]:
            del self._hits[key]
