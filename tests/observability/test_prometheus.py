"""The Prometheus exposition: ``acadio-webhooks worker --metrics-port`` scraped over HTTP and
parsed with ``prometheus_client``'s own parser, its figures held against the store."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from acadio_webhooks import DeliveryStatus, Dispatcher
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.observability import DeliveryMetrics
from acadio_webhooks.observability.prometheus import WebhooksCollector, serve_metrics
from tests.loopback import loopback_receiver, wait_until
from tests.mail import free_port
from tests.observability.test_metrics import item, settled

SECRET = "a-secret-of-16+-chars-metrics"
INSECURE = EndpointPolicy(allow_insecure=True)
ATTEMPTS = "acadio_webhooks_attempts_total"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of ``url``'s exposition, by name and sorted labels."""
    text = httpx.get(url, timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'metrics.db'}"


def test_a_worker_serves_figures_that_match_its_store(sqlite_url: str) -> None:
    store = SqlStore(sqlite_url)
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    port = free_port()
    with loopback_receiver(SECRET) as receiver:
        # The down endpoint asks for its retry in an hour: the figures hold still meanwhile.
        receiver.answers["/down"] = (503, {"Retry-After": "3600"})
        integration = dispatcher.integrations.install("school-1", secret=SECRET)
        dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url("/ok"))
        dispatcher.integrations.subscribe(integration.id, "course/*", receiver.url("/down"))
        # Four: a fifth failure in a row would pause the endpoint (the circuit breaker).
        for n in range(4):
            dispatcher.emit("course/completion/create", {"n": n}, tenant="school-1")
        command = [sys.executable, "-m", "acadio_webhooks", "worker", "--db", sqlite_url,
                   "--allow-insecure-endpoints", "--poll-interval", "0.1",
                   "--metrics-port", str(port)]  # fmt: skip
        worker = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        url = f"http://127.0.0.1:{port}/metrics"
        try:
            found: list[Samples] = []

            def all_settled() -> bool:
                try:
                    found.append(scrape(url))
                except httpx.TransportError:
                    return False  # not listening yet
                made = sum(v for (name, _), v in found[-1].items() if name == ATTEMPTS)
                held = value(found[-1], "acadio_webhooks_deliveries_in_flight", store="sqlite")
                return made == 8 and held == 0

            wait_until(all_settled, timeout=60, what="eight attempts settled and scraped")
            samples = found[-1]
        finally:
            worker.send_signal(signal.SIGTERM)
            output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output
        assert f"metrics at {url}" in output

    delivered = dispatcher.deliveries(status=DeliveryStatus.DELIVERED, limit=100).items
    pending = dispatcher.deliveries(status=DeliveryStatus.PENDING, limit=100).items
    assert (len(delivered), len(pending)) == (4, 4)
    assert value(samples, ATTEMPTS, outcome="delivered", status_class="2xx") == 4
    assert value(samples, ATTEMPTS, outcome="retrying", status_class="5xx") == 4
    assert value(samples, ATTEMPTS, outcome="failed", status_class="5xx") == 0
    assert value(samples, "acadio_webhooks_attempt_duration_seconds_count") == 8
    assert value(samples, "acadio_webhooks_attempt_duration_seconds_bucket", le="+Inf") == 8
    assert value(samples, "acadio_webhooks_delivery_latency_seconds_count") == 4
    # The backlog, read from the store at the scrape: the four retries wait an hour.
    backlog = store.backlog(now=datetime.now(timezone.utc))
    assert value(samples, "acadio_webhooks_backlog_up", store="sqlite") == 1
    assert (
        value(samples, "acadio_webhooks_deliveries_pending", store="sqlite") == backlog.pending == 4
    )
    assert value(samples, "acadio_webhooks_deliveries_due", store="sqlite") == backlog.due == 0
    assert value(samples, "acadio_webhooks_oldest_due_age_seconds", store="sqlite") == 0
    subscriptions = "acadio_webhooks_subscriptions"
    assert value(samples, subscriptions, store="sqlite", state="healthy") == 1
    assert value(samples, subscriptions, store="sqlite", state="failing") == 1
    assert value(samples, "acadio_webhooks_notices_total", result="sent") == 0
    store.close()


def test_every_attempt_series_is_there_from_the_start_and_a_store_failure_shows() -> None:
    store = MemoryStore()
    server = serve_metrics(WebhooksCollector(DeliveryMetrics(), store), port=0)
    try:
        before = scrape(server.url)
        attempts = [key for key in before if key[0] == "acadio_webhooks_attempts_total"]
        assert len(attempts) == 15  # 3 outcomes x 5 status classes, all 0
        assert all(before[key] == 0 for key in attempts)
        assert value(before, "acadio_webhooks_backlog_up", store="memory") == 1
        assert value(before, "acadio_webhooks_deliveries_pending", store="memory") == 0
        store.close()  # the store cannot be read any more
        after = scrape(server.url)
        assert value(after, "acadio_webhooks_backlog_up", store="memory") == 0
        assert not any(name == "acadio_webhooks_deliveries_pending" for name, _ in after)
        assert len([key for key in after if key[0] == "acadio_webhooks_attempts_total"]) == 15
    finally:
        server.close()


def test_metrics_are_served_on_loopback_unless_told_otherwise() -> None:
    server = serve_metrics(WebhooksCollector(DeliveryMetrics()), port=0)
    try:
        assert server.host == "127.0.0.1"  # the address the socket is bound to
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx.get(server.url, timeout=10).status_code == 200
    finally:
        server.close()


def test_a_busy_metrics_port_is_a_clear_error(sqlite_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "acadio_webhooks", "worker", "--db", sqlite_url,
                   "--metrics-port", str(port)]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in done.stderr


def test_the_endpoint_host_label_reaches_the_exposition() -> None:
    metrics = DeliveryMetrics(endpoint_host_label=True)
    metrics.record(settled(item(endpoint="https://hooks.school.example/in?key=secret"), 200))
    server = serve_metrics(WebhooksCollector(metrics), port=0)
    try:
        samples = scrape(server.url)
    finally:
        server.close()
    labels = {
        "outcome": "delivered",
        "status_class": "2xx",
        "endpoint_host": "hooks.school.example",
    }
    assert value(samples, "acadio_webhooks_attempts_total", **labels) == 1
    count = "acadio_webhooks_attempt_duration_seconds_count"
    assert value(samples, count, endpoint_host="hooks.school.example") == 1
    assert not any("secret" in str(key) for key in samples)  # never the path or query
