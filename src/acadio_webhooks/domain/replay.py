"""Replay guards: remember which signed messages a receiver has already accepted.

The timestamp tolerance of ``verify()`` stops a captured request from being replayed *later*;
a replay guard also stops it from being replayed *within* the tolerance window.

What the guard remembers is one signed message: ``verify()`` passes the key
``"<webhook-id>.<webhook-timestamp>"``. A retry of the same event is a new attempt with a new
timestamp, so it has a new key and gets through: the guard never turns our own retry of an
event your handler failed to process into a rejection. De-duplicating *events* (processing
each ``webhook-id`` once) is your handler's job, after its work is committed.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["ReplayGuard", "MemoryReplayGuard"]


@runtime_checkable
class ReplayGuard(Protocol):
    """Where ``verify()`` records the messages it accepts.

    ``verify()`` calls :meth:`seen` once per request, only after the signature, timestamp and
    body checked out, so an attacker cannot fill the guard with made-up keys. An implementation
    shared by many processes (a Redis ``SET key 1 NX EXAT expires_at``, a SQL insert on a
    unique key) must do the check and the insert in one atomic step. Whatever it raises
    (a store being down) propagates from ``verify()`` unchanged.
    """

    def seen(self, key: str, expires_at: float) -> bool:
        """Record ``key`` until at least ``expires_at`` (unix seconds); return whether it was
        already recorded and not yet expired."""
        ...


class MemoryReplayGuard:
    """A thread-safe in-memory :class:`ReplayGuard` for one process.

    Each key is remembered until ``max(expires_at, now + ttl)``; expired keys are dropped on
    every call. At most ``max_entries`` keys are kept: when a new key arrives at the limit, the
    key closest to expiry is forgotten first, so memory stays bounded under a flood (at the
    price of forgetting that key early). With several worker processes, use a shared store
    instead: each process would otherwise have its own memory.

    ``clock`` returns unix seconds; when ``verify()`` is given a fake ``now``, give the guard
    the same clock, or keys from the fake past look expired at once.
    """

    def __init__(
        self,
        *,
        ttl: float = 0.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not math.isfinite(ttl) or ttl < 0:
            raise ValueError(f"ttl must be a finite number of seconds >= 0, not {ttl!r}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries!r}")
        self.ttl = float(ttl)
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        # Exactly one (expiry, key) per remembered key: the soonest expiry is always on top.
        self._queue: list[tuple[float, str]] = []

    def seen(self, key: str, expires_at: float) -> bool:
        """Record ``key``; return whether it was already recorded and not expired."""
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            if key in self._expiry:
                return True
            expiry = max(expires_at, now + self.ttl)
            if expiry <= now:
                return False  # expired on arrival: nothing could replay it in time
            while len(self._expiry) >= self.max_entries:
                _, oldest = heapq.heappop(self._queue)
                del self._expiry[oldest]
            self._expiry[key] = expiry
            heapq.heappush(self._queue, (expiry, key))
            return False

    def _drop_expired(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            _, key = heapq.heappop(self._queue)
            del self._expiry[key]

    def __len__(self) -> int:
        """How many keys are remembered (expired ones may linger until the next call)."""
        return len(self._expiry)

    def __repr__(self) -> str:
        return (
            f"MemoryReplayGuard(ttl={self.ttl!r}, max_entries={self.max_entries!r}, "
            f"remembered={len(self._expiry)})"
        )
