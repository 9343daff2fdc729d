"""Soak: a worker under sustained load with 10% failing endpoints, watched for leaks.

Events are emitted at a steady rate for ``ACADIO_WEBHOOKS_SOAK_SECONDS`` (12 s by default,
what CI runs; the documented long run is 60 s) to twenty loopback endpoints, two of which
always answer 500. Meanwhile resident memory, open file descriptors and open connections
are sampled. Afterwards every delivery must have reached its final state: delivered, or
failed after its seventh attempt, and the counts must reconcile.

    ACADIO_WEBHOOKS_SOAK_SECONDS=60 python3 dev.py test tests/reliability/test_soak.py
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport.httpx import AsyncHttpxTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.core import CircuitBreaker, DeliveryPolicy
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.retry import RetryPolicy
from acadio_webhooks.worker import AsyncWorker, WorkerSettings
from tests.reliability.hostile import HostileServer, answer
from tests.reliability.worlds import (
    INSECURE,
    SECRET,
    Figures,
    all_deliveries,
    eventually,
    ledger,
    open_fds,
    rss_bytes,
    serving,
    unfinished,
)

SOAK_SECONDS = float(os.environ.get("ACADIO_WEBHOOKS_SOAK_SECONDS", "12"))
EVENTS_PER_SECOND = 40
TENANTS = 10  # two subscriptions each: every event makes two deliveries
FAILING = {"tenant-3": 1, "tenant-7": 1}  # one of the two endpoints of these always fails
MAX_CONNECTIONS = 40
# Time compressed: failing deliveries use all 7 attempts within seconds (about 4 s of waits),
# and the circuit breaker pauses a failing endpoint for 0.1 s to 0.25 s instead of 30 s to
# 15 min. Each pause lets one wave of probes through; with longer pauses the probes could
# not keep up with this rate of failing deliveries and their backlog would outlast the run.
RETRY = RetryPolicy(initial=0.2, factor=2.0, max_delay=1.0, jitter=0.2)
BREAKER = CircuitBreaker(min_pause=timedelta(seconds=0.1), max_pause=timedelta(seconds=0.25))
MEMORY_GROWTH_BOUND = 24 * 1024 * 1024


class Sampler:
    """Resident memory, descriptors and open connections, every half second."""

    def __init__(self, server: HostileServer) -> None:
        self.server = server
        self.samples: list[tuple[float, int, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(0.5):
            connections = sum(x.open_connections for x in self.server.listeners.values())
            self.samples.append((time.monotonic() - started, rss_bytes(), open_fds(), connections))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def rss_between(self, start: float, end: float) -> list[int]:
        return [rss for at, rss, _, _ in self.samples if start <= at < end]


@pytest.mark.slow
@pytest.mark.timeout(max(180, int(SOAK_SECONDS * 4)))
def test_sustained_load_with_failing_endpoints_leaks_nothing(
    hostile_server: HostileServer, tmp_path: Path, figures: Figures
) -> None:
    server = hostile_server
    endpoints: dict[str, list[str]] = {}
    failing_listeners, healthy_listeners = [], []
    for number in range(TENANTS):
        tenant = f"tenant-{number}"
        endpoints[tenant] = []
        for slot in range(2):
            failing = FAILING.get(tenant) == slot
            behaviour = answer(500, b"always failing") if failing else answer(200, b"ok")
            listener = server.add(f"{tenant}-{slot}", behaviour)
            (failing_listeners if failing else healthy_listeners).append(listener)
            endpoints[tenant].append(listener.url(f"/{tenant}/{slot}"))
    fds_before = open_fds()

    store = SqlStore(tmp_path / "soak.db")
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    for tenant, urls in endpoints.items():
        integration = dispatcher.integrations.install(tenant, secret=SECRET)
        for url in urls:
            dispatcher.integrations.subscribe(integration.id, "course/*", url)
    transport = AsyncHttpxTransport(policy=INSECURE, max_connections=MAX_CONNECTIONS)
    worker = AsyncWorker(
        store,
        transport,
        policy=DeliveryPolicy(retry=RETRY, breaker=BREAKER),
        settings=WorkerSettings(concurrency=32, per_endpoint=8, poll_interval=0.05),
    )
    sampler = Sampler(server)
    emitted: list[str] = []
    tail: list[float] = []  # seconds from the last emit until every delivery was final

    def emit_steadily() -> None:
        interval = 1.0 / EVENTS_PER_SECOND
        started = time.monotonic()
        number = 0
        while (elapsed := time.monotonic() - started) < SOAK_SECONDS:
            if number * interval > elapsed:
                time.sleep(number * interval - elapsed)
            tenant = f"tenant-{number % TENANTS}"
            event_id = dispatcher.emit("course/completion/create", {"n": number}, tenant=tenant)
            assert event_id is not None
            emitted.append(event_id)
            worker.wake()
            number += 1

    async def soak() -> None:
        async with serving(worker):
            await anyio.to_thread.run_sync(emit_steadily)
            emitted_at = time.monotonic()
            # The failing endpoints' deliveries still have retries ahead, and the breaker lets
            # only a wave of probes through per pause: their backlog drains after the load.
            await eventually(lambda: unfinished(store) == 0, within=SOAK_SECONDS + 60, poll=0.5)
            tail.append(time.monotonic() - emitted_at)

    sampler.start()
    anyio.run(soak)
    sampler.stop()

    deliveries = all_deliveries(store)
    book = ledger(store, deliveries)
    failing_urls = {endpoints[tenant][slot] for tenant, slot in FAILING.items()}
    subscriptions = {
        s.id: s.endpoint for i in store.list_integrations() for s in store.list_subscriptions(i.id)
    }
    failing_deliveries = [d for d in deliveries if subscriptions[d.subscription_id] in failing_urls]
    assert book.deliveries == 2 * len(emitted)
    assert book.by_status == {
        DeliveryStatus.DELIVERED: book.deliveries - len(failing_deliveries),
        DeliveryStatus.FAILED: len(failing_deliveries),
    }
    assert {d.attempts for d in failing_deliveries} == {RETRY.max_attempts}
    assert book.attempts_recorded == book.attempts_counted
    received = sum(listener.requests for listener in healthy_listeners)
    assert received == book.deliveries - len(failing_deliveries)  # each exactly once

    # Memory: the last third of the run against the first third after warm-up.
    third = SOAK_SECONDS / 3
    early = statistics.median(sampler.rss_between(1.0, third) or [0])
    late = statistics.median(sampler.rss_between(2 * third, SOAK_SECONDS) or [0])
    assert early, "too few memory samples"
    assert late, "too few memory samples"
    growth = late - early
    assert growth < MEMORY_GROWTH_BOUND, f"resident memory grew {growth / 2**20:.1f} MiB"
    peak_connections = max(connections for *_, connections in sampler.samples)
    assert peak_connections <= MAX_CONNECTIONS

    store.close()
    dispatcher.close()
    time.sleep(0.2)  # the server notices the last closed connections
    assert sum(x.open_connections for x in server.listeners.values()) == 0
    assert open_fds() <= fds_before, "file descriptors leaked"
    figures.add(
        "soak",
        seconds=int(SOAK_SECONDS),
        events=len(emitted),
        deliveries_checked=book.deliveries,
        attempts=book.attempts_recorded,
        failed_final=len(failing_deliveries),
        lost=0,
    )
    figures.set_max(
        "soak",
        rss_growth_mib=int(max(0, growth) // 2**20),
        peak_connections=peak_connections,
        final_state_tail_seconds=int(tail[0]) + 1,
        peak_fds=max(fds for _, _, fds, _ in sampler.samples),
    )
