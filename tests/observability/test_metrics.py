"""DeliveryMetrics: what each settled attempt adds, by outcome, status class and (when asked)
endpoint host; how long attempts and deliveries took; failure e-mails."""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from acadio_webhooks.domain.core import DeliveryPolicy, settle
from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.messages import ErrorKind, Settlement, TransportResult, WorkItem
from acadio_webhooks.domain.retry import RetryPolicy
from acadio_webhooks.observability import (
    ATTEMPT_SECONDS_BUCKETS,
    AttemptKey,
    DeliveryMetrics,
    status_class,
)

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc)
POLICY = DeliveryPolicy(retry=RetryPolicy(max_retries=2), rng=random.Random(1))


def item(
    *, made: datetime = NOW, attempt: int = 1, endpoint: str = "https://a.example/in"
) -> WorkItem:
    return WorkItem(
        delivery_id=new_id("dlv", now=made.timestamp()),
        event_id="evt_1",
        topic="course/completion/create",
        tenant="t1",
        payload=b"{}",
        endpoint=endpoint,
        subscription_id="sub_1",
        integration_id="int_1",
        signing_keys=(b"0123456789abcdef-secret",),
        attempt_number=attempt,
    )


def settled(
    work: WorkItem, status: int | None, *, seconds: float = 0.05, started: datetime = NOW
) -> Settlement:
    result = TransportResult(
        status_code=status,
        duration=seconds,
        error_kind=ErrorKind.TIMEOUT if status is None else None,
        error="timed out" if status is None else None,
    )
    return settle(work, result, started_at=started, now=started, policy=POLICY)


@pytest.mark.parametrize(
    ("code", "shown"),
    [(200, "2xx"), (204, "2xx"), (301, "3xx"), (410, "4xx"), (503, "5xx"), (None, "error")],
)
def test_status_classes(code: int | None, shown: str) -> None:
    assert status_class(code) == shown


def test_each_attempt_is_counted_by_outcome_and_status_class() -> None:
    metrics = DeliveryMetrics()
    metrics.record_many(
        [
            settled(item(), 200),
            settled(item(), 503),  # retried later
            settled(item(attempt=3), None),  # the last attempt: given up
            settled(item(), 410),  # 410 Gone: given up at once
        ]
    )
    snapshot = metrics.snapshot()
    assert dict(snapshot.attempts_by) == {
        AttemptKey("delivered", "2xx"): 1,
        AttemptKey("retrying", "5xx"): 1,
        AttemptKey("failed", "error"): 1,
        AttemptKey("failed", "4xx"): 1,
    }
    assert (snapshot.attempts, snapshot.delivered, snapshot.retried, snapshot.failed) == (
        4,
        1,
        1,
        2,
    )


def test_attempt_durations_fill_the_histogram_buckets() -> None:
    metrics = DeliveryMetrics()
    for seconds in (0.004, 0.2, 0.2, 45.0):
        metrics.record(settled(item(), 200, seconds=seconds))
    [(host, histogram)] = metrics.snapshot().attempt_seconds.items()
    assert host == ""
    assert histogram.buckets == ATTEMPT_SECONDS_BUCKETS
    cumulative = dict(histogram.cumulative())
    assert cumulative[0.005] == 1
    assert cumulative[0.25] == 3
    assert cumulative[30.0] == 3  # 45 s is above every bound ...
    assert cumulative[float("inf")] == histogram.count == 4  # ... and counted in +Inf
    assert histogram.sum == pytest.approx(45.404)
    assert metrics.snapshot().latency_ms_max == pytest.approx(45_000)


def test_delivery_latency_runs_from_the_emit_to_the_delivering_attempts_record() -> None:
    metrics = DeliveryMetrics()
    # Emitted ten minutes ago (the delivery id says when), retried, delivered now.
    emitted = datetime.now(timezone.utc) - timedelta(minutes=10)
    metrics.record(settled(item(made=emitted, attempt=4), 200, seconds=2.0))
    metrics.record(settled(item(made=emitted), 503))  # not delivered: no latency
    latency = metrics.snapshot().delivery_seconds
    assert latency.count == 1
    assert 600 <= latency.sum < 900  # ten minutes, and however long this test took
    assert dict(latency.cumulative())[900.0] == 1
    assert dict(latency.cumulative())[300.0] == 0


def test_the_endpoint_host_label_is_opt_in() -> None:
    plain, labelled = DeliveryMetrics(), DeliveryMetrics(endpoint_host_label=True)
    batch = [
        settled(item(endpoint="https://a.example/in?token=secret"), 200),
        settled(item(endpoint="https://b.example:8443/x"), 500),
    ]
    plain.record_many(batch)
    labelled.record_many(batch)
    assert {key.endpoint_host for key in plain.snapshot().attempts_by} == {""}
    by_host = labelled.snapshot()
    assert dict(by_host.attempts_by) == {
        AttemptKey("delivered", "2xx", "a.example"): 1,
        AttemptKey("retrying", "5xx", "b.example"): 1,
    }
    assert sorted(by_host.attempt_seconds) == ["a.example", "b.example"]


def test_failure_emails_are_counted_sent_or_failed() -> None:
    metrics = DeliveryMetrics()
    metrics.record_notice(sent=True)
    metrics.record_notice(sent=True)
    metrics.record_notice(sent=False)
    snapshot = metrics.snapshot()
    assert (snapshot.notices_sent, snapshot.notices_failed) == (2, 1)


def test_counts_from_many_threads_add_up() -> None:
    metrics = DeliveryMetrics()
    batch = [settled(item(), 200), settled(item(), 503)]

    def record() -> None:
        for _ in range(500):
            metrics.record_many(batch)

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = metrics.snapshot()
    assert (snapshot.delivered, snapshot.retried) == (2000, 2000)
    assert snapshot.attempt_seconds[""].count == 4000


def test_a_delivery_id_of_another_shape_counts_no_latency() -> None:
    metrics = DeliveryMetrics()
    metrics.record(settled(replace(item(), delivery_id="dlv_custom"), 200))
    assert metrics.snapshot().delivered == 1
    assert metrics.snapshot().delivery_seconds.count == 0
