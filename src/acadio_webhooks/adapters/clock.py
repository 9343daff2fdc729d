"""A clock tests can move by hand, so retry schedules and leases run instantly."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

__all__ = ["FakeClock"]


class FakeClock:
    """Implements :class:`~acadio_webhooks.ports.clock.Clock`; time moves only when told.

    ::

        clock = FakeClock()                 # 2026-01-01T00:00:00Z unless given
        clock.advance(hours=2)
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The fake current time."""
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move forward by ``delta`` or ``timedelta(**parts)``; return the new time."""
        step = delta if delta is not None else timedelta(**parts)
        if step < timedelta(0):
            raise ValueError("FakeClock only moves forward; build a new one to go back")
        with self._lock:
            self._now += step
            return self._now

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (aware), forwards or backwards — for clock-jump tests."""
        if when.tzinfo is None:
            raise ValueError("time must be timezone-aware")
        with self._lock:
            self._now = when.astimezone(timezone.utc)

    def __repr__(self) -> str:
        return f"FakeClock({self.now().isoformat()})"
