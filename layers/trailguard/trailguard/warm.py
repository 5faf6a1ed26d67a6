"""What a warm Lambda container keeps between invocations, in one visible object.

Each entry has its own time to live; a failure is never remembered. The object is created once per
container by the handler module and carried by the dependencies (`Deps.warm`); a test or the demo that
wants a cold container makes a new one, and one that wants time to pass moves the clock it injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

# How long each fact may be reused, in seconds.
ORGANIZATION_TTL = 300.0  # the organization's accounts and the enabled regions
SESSIONS_TTL = 6 * 3600.0  # the session factory (it renews each account's credentials itself)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Warm:
    def __init__(self, clock: Callable[[], float] = time.monotonic, wall: Callable[[], datetime] = _utc_now) -> None:
        self.clock = clock  # for times to live
        self.wall = wall  # the date and time: the finding lifecycle, the write budget's hour, exemption expiry
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str, ttl: float, compute: Callable[[], T], *, fresh: bool = False) -> tuple[T, bool]:
        """The value of `name` and whether it was reused (at most `ttl` seconds old); else computed and kept."""
        now = self.clock()
        with self._lock:
            hit = self._entries.get(name)
        if not fresh and hit is not None and now - hit[0] < ttl:
            return hit[1], True
        value = compute()
        with self._lock:
            self._entries[name] = (now, value)
        return value, False

    def value(self, name: str, ttl: float, compute: Callable[[], T]) -> T:
        return self.get(name, ttl, compute)[0]

    def put(self, name: str, value: Any) -> None:
        """Keep a value read elsewhere (the sweep's inventory) as if it had just been computed."""
        with self._lock:
            self._entries[name] = (self.clock(), value)

    def drop(self, *names: str) -> None:
        """Forget entries (facts that a write just changed, or a failure that must not be reused)."""
        with self._lock:
            for name in names:
                self._entries.pop(name, None)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
