"""The retry policy: documented default schedule, jitter bounds, Retry-After clamping."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acadio_webhooks.domain.retry import DEFAULT_RETRY_POLICY, RetryPolicy


def test_default_schedule_is_the_documented_one() -> None:
    assert DEFAULT_RETRY_POLICY.max_attempts == 7
    assert DEFAULT_RETRY_POLICY.schedule() == (5.0, 35.0, 245.0, 1715.0, 12005.0, 84035.0)


def test_default_schedule_spans_more_than_a_day() -> None:
    assert sum(DEFAULT_RETRY_POLICY.schedule()) > 24 * 3600


@given(retry=st.integers(min_value=1, max_value=6), seed=st.integers())
def test_jitter_stays_within_twenty_percent(retry: int, seed: int) -> None:
    base = DEFAULT_RETRY_POLICY.base_delay(retry)
    delay = DEFAULT_RETRY_POLICY.delay(retry, random.Random(seed)).total_seconds()
    assert base * 0.8 <= delay <= base * 1.2


def test_same_rng_seed_gives_same_delay() -> None:
    first = DEFAULT_RETRY_POLICY.delay(3, random.Random(7))
    assert DEFAULT_RETRY_POLICY.delay(3, random.Random(7)) == first


def test_max_delay_caps_the_exponential_growth() -> None:
    policy = RetryPolicy(initial=1, factor=10, max_delay=50, jitter=0)
    assert policy.schedule() == (1.0, 10.0, 50.0, 50.0, 50.0, 50.0)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(0.0, 1.0), (30.0, 30.0), (10**9, 6 * 3600.0)],
)
def test_retry_after_replaces_backoff_within_bounds(retry_after: float, expected: float) -> None:
    delay = DEFAULT_RETRY_POLICY.delay(1, random.Random(0), retry_after=retry_after)
    assert delay == timedelta(seconds=expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial": 0},
        {"factor": 0.5},
        {"initial": 10, "max_delay": 5},
        {"jitter": 1.0},
        {"min_retry_after": 10, "max_retry_after": 5},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_retry_numbers_are_one_based() -> None:
    with pytest.raises(ValueError, match="1-based"):
        DEFAULT_RETRY_POLICY.base_delay(0)
