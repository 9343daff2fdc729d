"""The clock port: every "now" in the library comes from here, so tests can move time."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Source of the current time.

    Called by the dispatcher (event time, dedup day), the worker (which deliveries are due,
    lease expiry, retry times) and the notifier batching. Must return an aware UTC datetime
    and never go backwards within one process more than the host's own clock does.
    """

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """``datetime.now(timezone.utc)``."""
        return datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"
