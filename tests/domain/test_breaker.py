"""The circuit breaker: when settle() pauses an endpoint that keeps failing, and for how long."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from acadio_webhooks.domain.core import CircuitBreaker, DeliveryPolicy, is_paused, settle
from acadio_webhooks.domain.messages import TransportResult, WorkItem
from acadio_webhooks.domain.models import DeliveryStatus

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc)
POLICY = DeliveryPolicy(rng=random.Random(7))


def item(**changes: object) -> WorkItem:
    base = WorkItem(
        delivery_id="dlv_1",
        event_id="evt_1",
        topic="course/completion/create",
        tenant="t1",
        payload=b"{}",
        endpoint="https://hooks.example.com/in",
        subscription_id="sub_1",
        integration_id="int_1",
        signing_keys=(b"0123456789abcdef-secret",),
        attempt_number=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def failed(status: int = 503) -> TransportResult:
    return TransportResult(status_code=status, duration=0.1)


def test_no_pause_below_the_threshold() -> None:
    verdict = settle(
        item(endpoint_failures=3, endpoint_failing_since=NOW - timedelta(minutes=5)),
        failed(),
        started_at=NOW,
        now=NOW,
        policy=POLICY,
    )
    assert verdict.pause_until is None
    assert verdict.status is DeliveryStatus.PENDING


def test_the_threshold_th_failure_pauses_for_the_minimum() -> None:
    verdict = settle(
        item(endpoint_failures=4, endpoint_failing_since=NOW - timedelta(seconds=10)),
        failed(),
        started_at=NOW,
        now=NOW,
        policy=POLICY,
    )
    assert verdict.pause_until == NOW + timedelta(seconds=30)
    # The delivery keeps its own retry schedule; the pause only holds the claim back.
    assert verdict.status is DeliveryStatus.PENDING
    assert verdict.next_attempt_at is not None


@pytest.mark.parametrize(
    ("failing_for", "pause"),
    [
        (timedelta(seconds=60), timedelta(seconds=30)),
        (timedelta(seconds=90), timedelta(seconds=45)),
        (timedelta(minutes=20), timedelta(minutes=10)),
        (timedelta(hours=3), timedelta(minutes=15)),
    ],
)
def test_pauses_grow_with_how_long_the_endpoint_has_failed_up_to_the_cap(
    failing_for: timedelta, pause: timedelta
) -> None:
    verdict = settle(
        item(endpoint_failures=40, endpoint_failing_since=NOW - failing_for),
        failed(),
        started_at=NOW,
        now=NOW,
        policy=POLICY,
    )
    assert verdict.pause_until == NOW + pause


def test_the_last_attempt_still_pauses_the_endpoint() -> None:
    verdict = settle(
        item(
            attempt_number=7,
            endpoint_failures=9,
            endpoint_failing_since=NOW - timedelta(hours=1),
        ),
        failed(),
        started_at=NOW,
        now=NOW,
        policy=POLICY,
    )
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.pause_until == NOW + timedelta(minutes=15)


def test_success_and_disabling_never_pause() -> None:
    busy = item(endpoint_failures=50, endpoint_failing_since=NOW - timedelta(hours=1))
    ok = settle(busy, TransportResult(200, 0.1), started_at=NOW, now=NOW, policy=POLICY)
    gone = settle(busy, failed(410), started_at=NOW, now=NOW, policy=POLICY)
    assert ok.pause_until is None
    assert gone.pause_until is None
    assert gone.disable_subscription is not None


def test_a_policy_without_breaker_never_pauses() -> None:
    verdict = settle(
        item(endpoint_failures=50, endpoint_failing_since=NOW - timedelta(hours=1)),
        failed(),
        started_at=NOW,
        now=NOW,
        policy=DeliveryPolicy(breaker=None),
    )
    assert verdict.pause_until is None


@pytest.mark.parametrize(
    "options",
    [
        {"threshold": 0},
        {"min_pause": timedelta(0)},
        {"min_pause": timedelta(minutes=5), "max_pause": timedelta(minutes=1)},
        {"growth": -0.1},
        {"max_pause": timedelta(days=2)},
    ],
)
def test_nonsense_breaker_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        CircuitBreaker(**options)  # type: ignore[arg-type]


def test_a_pause_holds_until_its_end_and_one_beyond_a_day_is_void() -> None:
    assert is_paused(NOW + timedelta(seconds=30), NOW)
    assert not is_paused(NOW, NOW)
    assert not is_paused(None, NOW)
    # Set before the clock was stepped back a day or more: void, not a day-long pause.
    assert not is_paused(NOW + timedelta(days=1, seconds=1), NOW)
