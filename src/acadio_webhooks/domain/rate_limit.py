"""Rate limits per endpoint: how many deliveries a second one subscription may receive.

The limiter is the generic cell rate algorithm (GCRA), the leaky bucket kept as one
timestamp: the *theoretical arrival time* (``sent_until``) at which the endpoint would have
caught up with every delivery already sent if they had gone out exactly one ``interval``
apart. A delivery may go when ``now >= sent_until - tolerance``; the tolerance lets a quiet
endpoint take up to one second's worth at once (the burst), never more.

Deliveries that may not go yet are put off to the time they may, each one ``interval``
after the last one put off (``queued_until``), and marked *reserved*: when a reserved
delivery comes due it goes ahead of newer ones, so an endpoint's backlog leaves in order and
each delivery is rescheduled once, not at every claim. Every delivery that goes, reserved or
not, passes the bucket at that moment: deliveries put off while a worker was down do not all
go at once when it comes back.

The state lives on the subscription in the store and is read and written inside the claim's
transaction, so one worker, a fleet of them and the Celery pump all share one limit.
Waiting for the limit is not an attempt: no retry is used, the circuit breaker is not told.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "MIN_RATE_LIMIT",
    "MAX_RATE_LIMIT",
    "check_rate_limit",
    "Pace",
    "Throttle",
]

MIN_RATE_LIMIT = 0.01
"""The lowest limit: one delivery every 100 seconds."""

MAX_RATE_LIMIT = 10_000.0
"""The highest limit, in deliveries per second (above it, leave the endpoint unlimited)."""


def check_rate_limit(value: object) -> float | None:
    """``value`` as a limit in deliveries per second (None: unlimited).

    Raises TypeError for anything but a number or None, and ValueError for a number outside
    :data:`MIN_RATE_LIMIT` .. :data:`MAX_RATE_LIMIT` (NaN and infinities included).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"must be a number of deliveries per second, not {type(value).__name__}")
    rate = float(value)
    if not (math.isfinite(rate) and MIN_RATE_LIMIT <= rate <= MAX_RATE_LIMIT):
        raise ValueError(
            f"must be between {MIN_RATE_LIMIT} and {MAX_RATE_LIMIT:,.0f} deliveries per second"
            f" (None for no limit), got {value!r}"
        )
    return rate


@dataclass(frozen=True, slots=True)
class Pace:
    """The GCRA parameters of one rate: ``interval`` between deliveries and the
    ``tolerance`` that allows a burst of one second's worth (at least one delivery)."""

    interval: timedelta
    tolerance: timedelta

    @classmethod
    def of(cls, rate: float) -> Pace:
        """The pace of ``rate`` deliveries per second."""
        # Whole microseconds, as stored times are; rounded up, so the limit is never passed.
        interval = timedelta(microseconds=math.ceil(1_000_000 / rate))
        burst = max(1, math.floor(rate))
        return cls(interval, interval * (burst - 1))


@dataclass(slots=True)
class Throttle:
    """One subscription's limiter during one claim: says for each due delivery, oldest
    first, whether it goes now or when it is put off to; updates the state as it goes.

    ``sent_until`` and ``queued_until`` are the stored state (None when the endpoint has not
    been throttled yet).
    """

    pace: Pace
    sent_until: datetime | None = None
    queued_until: datetime | None = None

    def admit(self, now: datetime, *, reserved: bool) -> datetime | None:
        """None when the delivery may go now; otherwise the time it is put off to (later
        than ``now``), and the delivery is then reserved."""
        interval = self.pace.interval
        queued = self.queued_until is not None and self.queued_until > now
        opens = None if self.sent_until is None else self.sent_until - self.pace.tolerance
        # A reserved delivery goes ahead of the queue it is part of; a new one waits its turn.
        if (reserved or not queued) and (opens is None or opens <= now):
            start = now if self.sent_until is None else max(self.sent_until, now)
            self.sent_until = start + interval
            return None
        # To the back of the queue: a new delivery, or a reserved one whose turn came while
        # the bucket was full (claimed late, after others had gone).
        put_off = now if opens is None else max(opens, now)
        if self.queued_until is not None:
            put_off = max(put_off, self.queued_until + interval)
        self.queued_until = put_off
        return put_off
