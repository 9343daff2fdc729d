"""The delivery metrics through the OpenTelemetry metrics API, read with the SDK's in-memory
reader after real deliveries; the backlog gauges against the store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from acadio_webhooks import Dispatcher
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.observability.otel import instrument, observe_backlog, uninstrument
from tests.loopback import LoopbackReceiver, loopback_receiver

SECRET = "a-secret-of-16+-chars-otel-metrics"
TOPIC = "course/completion/create"
INSECURE = EndpointPolicy(allow_insecure=True)


@pytest.fixture
def reader() -> Iterator[tuple[InMemoryMetricReader, MeterProvider]]:
    found = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[found])
    instrument(meter_provider=provider, traces=False)
    try:
        yield found, provider
    finally:
        uninstrument()
        provider.shutdown()


@pytest.fixture
def receiver() -> Iterator[LoopbackReceiver]:
    with loopback_receiver(SECRET) as started:
        yield started


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Every metric's data points, by name."""
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def test_attempts_durations_and_latency_are_recorded(
    reader: tuple[InMemoryMetricReader, MeterProvider], receiver: LoopbackReceiver
) -> None:
    dispatcher = Dispatcher(MemoryStore(), endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("school-1", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url("/ok"))
    dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url("/down"))
    receiver.answers["/down"] = (503, {"Retry-After": "3600"})
    for n in range(3):
        dispatcher.emit(TOPIC, {"n": n}, tenant="school-1")
    report = dispatcher.drain()
    assert (report.delivered, report.retried) == (3, 3)

    found = points(reader[0])
    attempts = {
        (p.attributes["outcome"], p.attributes["status_class"]): p.value
        for p in found["acadio_webhooks.attempts"]
    }
    assert attempts == {("delivered", "2xx"): 3, ("retrying", "5xx"): 3}
    [durations] = found["acadio_webhooks.attempt.duration"]
    assert durations.count == 6
    assert list(durations.explicit_bounds)[:2] == [0.005, 0.01]
    [latency] = found["acadio_webhooks.delivery.latency"]
    assert latency.count == 3
    # The counts agree with the dispatcher's own record (what Prometheus is served).
    snapshot = dispatcher.metrics.snapshot()
    assert (snapshot.delivered, snapshot.retried) == (3, 3)
    assert snapshot.delivery_seconds.count == latency.count


def test_the_backlog_gauges_match_the_store(
    reader: tuple[InMemoryMetricReader, MeterProvider], receiver: LoopbackReceiver, tmp_path: Any
) -> None:
    store = SqlStore(tmp_path / "backlog.db")
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("school-1", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url("/down"))
    receiver.answers["/down"] = (503, {"Retry-After": "3600"})
    dispatcher.emit(TOPIC, {"n": 1}, tenant="school-1")
    dispatcher.drain()  # the first attempt fails: one pending delivery, retried in an hour
    dispatcher.emit(TOPIC, {"n": 2}, tenant="school-1")  # due now, not yet attempted
    observe_backlog(store, meter_provider=reader[1])

    found = points(reader[0])
    expected = store.backlog(now=datetime.now(timezone.utc))
    assert (expected.pending, expected.due) == (2, 1)

    def gauge(name: str, **labels: str) -> float:
        [value] = [
            p.value for p in found[name] if dict(p.attributes) == {"store": "sqlite", **labels}
        ]
        return float(value)

    assert gauge("acadio_webhooks.deliveries.pending") == 2
    assert gauge("acadio_webhooks.deliveries.due") == 1
    assert gauge("acadio_webhooks.deliveries.in_flight") == 0
    assert gauge("acadio_webhooks.deliveries.oldest_due_age") >= 0
    assert gauge("acadio_webhooks.subscriptions", state="failing") == 1
    assert gauge("acadio_webhooks.subscriptions", state="healthy") == 0
    store.close()
    # A store that cannot be read reports no backlog at that collection.
    after = points(reader[0])
    assert (
        "acadio_webhooks.deliveries.pending" not in after
        or not after["acadio_webhooks.deliveries.pending"]
    )


def test_a_store_without_a_backlog_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot report a backlog"):
        observe_backlog(object())  # type: ignore[arg-type]


def test_notices_are_counted_by_result(
    reader: tuple[InMemoryMetricReader, MeterProvider],
) -> None:
    from acadio_webhooks.observability import DeliveryMetrics

    metrics = DeliveryMetrics()
    metrics.record_notice(sent=True)
    metrics.record_notice(sent=False)
    found = points(reader[0])
    by_result = {p.attributes["result"]: p.value for p in found["acadio_webhooks.notices"]}
    assert by_result == {"sent": 1, "failed": 1}
