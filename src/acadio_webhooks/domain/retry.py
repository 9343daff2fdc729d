"""Retry policy: when a failed delivery attempt is tried again, and when it is given up.

The decision (retry or give up, given an attempt's outcome) lives in
:mod:`acadio_webhooks.domain.core`; this module only computes *when*. Tenacity computes the
exponential waits; it never appears in a public signature.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

import tenacity

__all__ = ["RetryPolicy", "DEFAULT_RETRY_POLICY"]


@dataclass(frozen=True)
class RetryPolicy:
    """How failed attempts are retried. Frozen: pass a new one to change it.

    The wait before retry ``n`` (1-based; ``n = 1`` is the first retry, after attempt 1) is::

        base(n)  = min(initial * factor ** (n - 1), max_delay)
        delay(n) = base(n) * (1 + jitter * u),  u uniform in [-1, 1) from the injected rng

    With the defaults (``initial=5 s, factor=7, max_delay=24 h, jitter=0.2, max_retries=6``)
    the first attempt is sent at once and retries follow at about::

        retry      1      2       3        4        5         6
        wait       5 s    35 s    4 min    29 min   3.3 h     23.3 h
        since t0   5 s    40 s    4.7 min  33 min   3.9 h     27.2 h

    so a delivery is given up (and the integration e-mailed) about 27 hours after the event,
    spanning a full day of receiver outage — 7 attempts in all, as the customer page promises
    ("Acadio will retry sending the payload up to 6 times").

    A ``Retry-After`` header on a 429 or 503 replaces the computed wait, clamped into
    ``[min_retry_after, max_retry_after]`` so an endpoint can neither hammer itself nor park a
    delivery for weeks.
    """

    max_retries: int = 6
    initial: float = 5.0
    factor: float = 7.0
    max_delay: float = 24 * 3600.0
    jitter: float = 0.2
    min_retry_after: float = 1.0
    max_retry_after: float = 6 * 3600.0
    _wait: tenacity.wait.wait_exponential = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.initial <= 0 or self.factor < 1 or self.max_delay < self.initial:
            raise ValueError("need initial > 0, factor >= 1 and max_delay >= initial")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if not 0 <= self.min_retry_after <= self.max_retry_after:
            raise ValueError("need 0 <= min_retry_after <= max_retry_after")
        wait = tenacity.wait_exponential(
            multiplier=self.initial, exp_base=self.factor, max=self.max_delay, min=0
        )
        object.__setattr__(self, "_wait", wait)

    @property
    def max_attempts(self) -> int:
        """The first attempt plus every retry."""
        return self.max_retries + 1

    def base_delay(self, retry_number: int) -> float:
        """The wait in seconds before retry ``retry_number`` (1-based), without jitter."""
        if retry_number < 1:
            raise ValueError("retry_number is 1-based")
        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = retry_number
        return float(self._wait(state))

    def delay(
        self,
        retry_number: int,
        rng: random.Random | None = None,
        *,
        retry_after: float | None = None,
    ) -> timedelta:
        """The wait before retry ``retry_number``: jittered backoff, or the clamped Retry-After."""
        if retry_after is not None:
            clamped = min(max(retry_after, self.min_retry_after), self.max_retry_after)
            return timedelta(seconds=clamped)
        base = self.base_delay(retry_number)
        spread = (rng or random).uniform(-1.0, 1.0) * self.jitter
        return timedelta(seconds=base * (1.0 + spread))

    def schedule(self) -> tuple[float, ...]:
        """The un-jittered waits before each retry, for docs and the demo's announcement."""
        return tuple(self.base_delay(n) for n in range(1, self.max_retries + 1))


DEFAULT_RETRY_POLICY = RetryPolicy()
