"""The rate limiter: the bound it keeps whenever claims happen, and the limits it accepts."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acadio_webhooks.domain.rate_limit import Pace, Throttle, check_rate_limit

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("rate", "interval", "burst"), [(5.0, 0.2, 5), (0.5, 2.0, 1), (2.5, 0.4, 2), (1.0, 1.0, 1)]
)
def test_the_burst_is_one_seconds_worth_and_at_least_one(
    rate: float, interval: float, burst: int
) -> None:
    pace = Pace.of(rate)
    assert pace.interval == timedelta(seconds=interval)
    throttle = Throttle(pace)
    sent = sum(throttle.admit(T0, reserved=False) is None for _ in range(10))
    assert sent == burst


@pytest.mark.parametrize("value", [0.0, 0.001, -1, 10_001, math.nan, math.inf])
def test_limits_outside_the_range_are_refused_with_the_range(value: float) -> None:
    with pytest.raises(ValueError, match=r"between 0\.01 and 10,000 deliveries per second"):
        check_rate_limit(value)


@pytest.mark.parametrize("value", [True, "5", [5]])
def test_limits_that_are_not_numbers_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="must be a number"):
        check_rate_limit(value)


def test_none_and_numbers_in_range_are_accepted() -> None:
    assert check_rate_limit(None) is None
    assert check_rate_limit(5) == 5.0
    assert check_rate_limit(0.01) == 0.01
    assert check_rate_limit(10_000) == 10_000.0


class _Queue:
    """Deliveries of one endpoint as a store keeps them: due time, reserved flag."""

    def __init__(self, rate: float) -> None:
        self.throttle = Throttle(Pace.of(rate))
        self.due: dict[int, tuple[datetime, bool]] = {}
        self.sent: list[tuple[datetime, int]] = []
        self.next_id = 0
        self.resume_at: datetime | None = None

    def arrive(self, now: datetime, count: int) -> None:
        for _ in range(count):
            self.due[self.next_id] = (now, False)
            self.next_id += 1

    def claim(self, now: datetime) -> None:
        """Claim what is due, oldest first; keep when to claim again as the worker does:
        the earliest of its hints (a claim's first delivery put off, and the next one due
        behind a reserved delivery it let go), dropping those that have passed."""
        if self.resume_at is not None and self.resume_at <= now:
            self.resume_at = None
        hints: list[datetime] = []
        for ident, (due, reserved) in sorted(self.due.items(), key=lambda kv: (kv[1][0], kv[0])):
            if due > now:
                continue
            put_off = self.throttle.admit(now, reserved=reserved)
            if put_off is None:
                del self.due[ident]
                self.sent.append((now, ident))
                following = [d for d, r in self.due.values() if r and d > now]
                if reserved and following:
                    hints.append(min(following))
            else:
                assert put_off > now  # never put off to a time that is already due
                self.due[ident] = (put_off, True)
                hints.append(put_off)
        if self.resume_at is not None:
            hints.append(self.resume_at)
        self.resume_at = min(hints, default=None)


@given(
    rate=st.sampled_from([0.5, 1.0, 3.0, 5.0, 20.0]),
    steps=st.lists(st.tuples(st.floats(0.0, 3.0), st.integers(0, 12)), min_size=1, max_size=40),
)
def test_whenever_claims_happen_no_window_sees_more_than_the_rate_plus_the_burst(
    rate: float, steps: list[tuple[float, int]]
) -> None:
    queue = _Queue(rate)
    now = 0.0
    for gap, arriving in steps:
        now += gap
        queue.arrive(_at(now), arriving)
        queue.claim(_at(now))
    # Then claims only when the limiter says (the worker's resume_at), until all went.
    for _ in range(10_000):
        if not queue.due:
            break
        wake = queue.resume_at
        assert wake is not None, "deliveries left waiting with no time to claim them again"
        queue.claim(wake)
    assert not queue.due

    burst = max(1, math.floor(rate))
    times = [(t - T0).total_seconds() for t, _ in queue.sent]
    for first in range(len(times)):
        for last in range(first, len(times)):
            window = times[last] - times[first]
            assert last - first + 1 <= burst + window * rate + 1e-6


@given(rate=st.sampled_from([1.0, 5.0]), backlog=st.integers(1, 60))
def test_a_backlog_claimed_on_time_leaves_in_order_at_the_rate(rate: float, backlog: int) -> None:
    queue = _Queue(rate)
    queue.arrive(T0, backlog)
    queue.claim(T0)
    while queue.due:
        assert queue.resume_at is not None
        queue.claim(queue.resume_at)
    assert [ident for _, ident in queue.sent] == list(range(backlog))
    burst = max(1, math.floor(rate))
    last = (queue.sent[-1][0] - T0).total_seconds()
    assert last == pytest.approx(max(0, backlog - burst) / rate)
