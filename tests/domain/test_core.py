"""The sans-I/O delivery core: planning emits, preparing signed requests, settling outcomes."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from acadio_webhooks.domain.core import DeliveryPolicy, prepare, settle
from acadio_webhooks.domain.messages import (
    ErrorKind,
    NotificationKind,
    TransportResult,
    WorkItem,
)
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.planning import dedup_scope, plan_event
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import InvalidPayload

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc)
SECRET = b"0123456789abcdef-secret"
POLICY = DeliveryPolicy(rng=random.Random(1))


def item(**changes: object) -> WorkItem:
    base = WorkItem(
        delivery_id="dlv_1",
        event_id="evt_1",
        topic="course/completion/create",
        tenant="t1",
        payload=b'{"id":"evt_1"}',
        endpoint="https://hooks.example.com/in",
        subscription_id="sub_1",
        integration_id="int_1",
        signing_keys=(SECRET,),
        attempt_number=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def result(status: int | None = 200, **changes: object) -> TransportResult:
    return replace(TransportResult(status_code=status, duration=0.05), **changes)  # type: ignore[arg-type]


# -- plan_event ---------------------------------------------------------------------------


def test_plan_event_serialises_the_wire_body_once_with_one_delivery_per_route() -> None:
    planned = plan_event(
        topic=TOPICS["course/completion/create"],
        data={"course_id": 7, "name": "Ünïcode"},
        tenant="t1",
        occurred_at=NOW,
        routes=[("sub_a", "int_1"), ("sub_b", "int_2")],
    )
    body = json.loads(planned.event.payload)
    assert body == {
        "id": planned.event.id,
        "topic": "course/completion/create",
        "created_at": "2026-03-03T12:00:00.000000Z",
        "tenant": "t1",
        "data": {"course_id": 7, "name": "Ünïcode"},
    }
    assert [(d.subscription_id, d.integration_id) for d in planned.deliveries] == [
        ("sub_a", "int_1"),
        ("sub_b", "int_2"),
    ]
    assert {d.event_id for d in planned.deliveries} == {planned.event.id}
    assert all(d.next_attempt_at == NOW for d in planned.deliveries)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"score": float("nan")}, "data['score']"),
        ({"scores": [1.0, float("inf")]}, "data['scores'][1]"),
        ({"blob": b"bytes"}, "data['blob']"),
        ({"when": NOW}, "data['when']"),
        ({1: "x"}, "non-string key"),
    ],
)
def test_plan_event_names_the_offending_value(data: dict[object, object], where: str) -> None:
    with pytest.raises(InvalidPayload, match=__import__("re").escape(where)):
        plan_event(
            topic=TOPICS["course/completion/create"],
            data=data,  # type: ignore[arg-type]
            tenant="t1",
            occurred_at=NOW,
            routes=[],
        )


def test_plan_event_refuses_non_objects_deep_nesting_and_oversize() -> None:
    topic = TOPICS["course/completion/create"]
    with pytest.raises(InvalidPayload, match="JSON object"):
        plan_event(topic=topic, data=[1, 2], tenant="t", occurred_at=NOW, routes=[])  # type: ignore[arg-type]
    deep: dict[str, object] = {}
    node = deep
    for _ in range(100):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    with pytest.raises(InvalidPayload, match="deeper than 64"):
        plan_event(topic=topic, data=deep, tenant="t", occurred_at=NOW, routes=[])
    with pytest.raises(InvalidPayload, match="over the limit of 1000 bytes"):
        plan_event(
            topic=topic,
            data={"s": "x" * 2000},
            tenant="t",
            occurred_at=NOW,
            routes=[],
            max_payload_bytes=1000,
        )


def test_once_a_day_topic_needs_a_dedup_key_scoped_to_the_utc_day() -> None:
    activity = TOPICS["course/activity/create"]
    assert activity.once_per_day
    with pytest.raises(InvalidPayload, match="at most once a day"):
        plan_event(topic=activity, data={}, tenant="t", occurred_at=NOW, routes=[])
    late = NOW.replace(hour=23, minute=59)
    next_day = NOW + timedelta(days=1)
    assert dedup_scope(activity, "t", "s1:a1", NOW) == dedup_scope(activity, "t", "s1:a1", late)
    assert dedup_scope(activity, "t", "s1:a1", NOW) != dedup_scope(activity, "t", "s1:a1", next_day)
    other = TOPICS["course/completion/create"]
    assert dedup_scope(other, "t", "k", NOW) == dedup_scope(other, "t", "k", next_day)
    assert dedup_scope(other, "t", "k", NOW) != dedup_scope(other, "u", "k", NOW)


# -- prepare ------------------------------------------------------------------------------


def test_prepare_signs_with_the_attempt_time_and_keeps_the_event_id() -> None:
    request = prepare(item(), now=NOW)
    assert request.url == "https://hooks.example.com/in"
    assert request.body == b'{"id":"evt_1"}'
    assert request.headers["webhook-id"] == "evt_1"
    assert request.headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    later = prepare(item(attempt_number=2), now=NOW + timedelta(hours=3))
    assert later.headers["webhook-id"] == "evt_1"
    assert later.headers["webhook-signature"] != request.headers["webhook-signature"]


# -- settle -------------------------------------------------------------------------------


def test_any_2xx_delivers() -> None:
    for status in (200, 201, 204, 299):
        verdict = settle(item(), result(status), started_at=NOW, now=NOW, policy=POLICY)
        assert verdict.status is DeliveryStatus.DELIVERED
        assert verdict.next_attempt_at is None
        assert verdict.attempt.succeeded


@pytest.mark.parametrize(
    "outcome",
    [
        result(301),
        result(400),
        result(500),
        result(None, error_kind=ErrorKind.TIMEOUT, error="read timed out"),
        result(None, error_kind=ErrorKind.BLOCKED, error="127.0.0.1 is loopback"),
    ],
)
def test_everything_else_is_retried_on_schedule(outcome: TransportResult) -> None:
    verdict = settle(item(), outcome, started_at=NOW, now=NOW, policy=POLICY)
    assert verdict.status is DeliveryStatus.PENDING
    assert verdict.next_attempt_at is not None
    wait = (verdict.next_attempt_at - NOW).total_seconds()
    assert 4.0 <= wait <= 6.0  # 5 s ± 20 %
    assert not verdict.attempt.succeeded


def test_error_text_is_recorded_with_its_kind() -> None:
    outcome = result(None, error_kind=ErrorKind.CONNECT, error="connection refused")
    verdict = settle(item(), outcome, started_at=NOW, now=NOW, policy=POLICY)
    assert verdict.attempt.error == "connect: connection refused"
    assert verdict.attempt.summary == "connect: connection refused"


def test_the_seventh_failure_gives_up_and_tells_the_integration() -> None:
    verdict = settle(item(attempt_number=7), result(500), started_at=NOW, now=NOW, policy=POLICY)
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.next_attempt_at is None
    kinds = [n.kind for n in verdict.notifications]
    assert kinds == [NotificationKind.DELIVERY_FAILED]
    assert verdict.notifications[0].detail == "7 attempts, last: 500"


def test_retry_after_is_honoured_on_429_and_503_only() -> None:
    for status in (429, 503):
        verdict = settle(
            item(), result(status, retry_after=120.0), started_at=NOW, now=NOW, policy=POLICY
        )
        assert verdict.next_attempt_at == NOW + timedelta(seconds=120)
    verdict = settle(item(), result(500, retry_after=120.0), started_at=NOW, now=NOW, policy=POLICY)
    assert verdict.next_attempt_at != NOW + timedelta(seconds=120)


def test_410_gone_disables_the_subscription_at_once() -> None:
    verdict = settle(item(), result(410), started_at=NOW, now=NOW, policy=POLICY)
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.disable_subscription == "endpoint answered 410 Gone"
    assert [n.kind for n in verdict.notifications] == [NotificationKind.ENDPOINT_DISABLED]


def test_the_fourth_consecutive_failure_reports_the_endpoint_failing_once() -> None:
    third = settle(item(endpoint_failures=2), result(500), started_at=NOW, now=NOW, policy=POLICY)
    fourth = settle(item(endpoint_failures=3), result(500), started_at=NOW, now=NOW, policy=POLICY)
    fifth = settle(item(endpoint_failures=4), result(500), started_at=NOW, now=NOW, policy=POLICY)
    assert third.notifications == ()
    assert [n.kind for n in fourth.notifications] == [NotificationKind.ENDPOINT_FAILING]
    assert fifth.notifications == ()


def test_recovery_is_reported_only_after_the_endpoint_was_reported_failing() -> None:
    quiet = settle(item(endpoint_failures=2), result(200), started_at=NOW, now=NOW, policy=POLICY)
    loud = settle(item(endpoint_failures=9), result(200), started_at=NOW, now=NOW, policy=POLICY)
    assert quiet.notifications == ()
    assert [n.kind for n in loud.notifications] == [NotificationKind.ENDPOINT_RECOVERED]


def test_an_endpoint_failing_for_five_days_is_disabled() -> None:
    since = NOW - timedelta(days=5, seconds=1)
    verdict = settle(
        item(endpoint_failures=30, endpoint_failing_since=since),
        result(503),
        started_at=NOW,
        now=NOW,
        policy=POLICY,
    )
    assert verdict.status is DeliveryStatus.FAILED
    assert verdict.disable_subscription is not None
    assert "5 days" in verdict.disable_subscription
    young = settle(
        item(endpoint_failures=30, endpoint_failing_since=NOW - timedelta(days=4)),
        result(503),
        started_at=NOW,
        now=NOW,
        policy=POLICY,
    )
    assert young.status is DeliveryStatus.PENDING


def test_response_excerpt_is_capped_and_decoded_leniently() -> None:
    body = b"\xff\xfe" + b"x" * 5000
    verdict = settle(item(), result(500, body_excerpt=body), started_at=NOW, now=NOW, policy=POLICY)
    assert len(verdict.attempt.response_excerpt) == POLICY.excerpt_chars
    assert verdict.attempt.response_excerpt.startswith("\ufffd")


def test_signing_keys_never_show_in_reprs() -> None:
    assert SECRET.decode() not in repr(item())
    assert "signing_keys" not in repr(item())


def test_prepared_request_verifies_for_the_receiver() -> None:
    request = prepare(item(), now=NOW)
    body = json.dumps(
        {
            "id": "evt_1",
            "topic": "course/completion/create",
            "created_at": "2026-03-03T12:00:00Z",
            "tenant": "t1",
            "data": {},
        }
    ).encode()
    signed = prepare(item(payload=body), now=NOW)
    event = verify(body, dict(signed.headers), SECRET, now=NOW)
    assert event.id == "evt_1"
    assert request.headers["X-Acadio-Topic"] == "course/completion/create"
