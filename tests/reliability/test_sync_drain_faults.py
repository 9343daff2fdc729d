"""``SyncWorker.drain()`` when recording its attempts fails: it raises the ``StorageError``, keeps
the attempts it made, and records them first thing on its next call. Nothing is sent twice,
nothing is lost, and the worker goes on working once the database is back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport.httpx import HttpxTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.errors import StorageError
from acadio_webhooks.worker import DrainReport, SyncWorker, WorkerSettings
from tests.loopback import wait_until
from tests.reliability import test_faults
from tests.reliability.hostile import HostileServer, answer, gated
from tests.reliability.test_faults import TOPIC, AckLostStore
from tests.reliability.worlds import INSECURE, SECRET, Figures, ledger

# The fault suite's database, made unreachable on demand (SQLite and PostgreSQL).
stopping_store = test_faults.stopping_store

EVENTS = 4
SETTINGS = WorkerSettings(concurrency=EVENTS, per_endpoint=EVENTS, batch_size=EVENTS)


def test_drain_raises_when_recording_fails_and_records_on_its_next_call(
    hostile_server: HostileServer,
    stopping_store: tuple[SqlStore, Callable[[], AbstractContextManager[None]]],
    caplog: pytest.LogCaptureFixture,
    figures: Figures,
) -> None:
    store, unreachable = stopping_store
    gate = threading.Event()
    listener = hostile_server.add("gated", gated(gate))
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", listener.url())
    accepted = [dispatcher.emit(TOPIC, {"n": n}, tenant="acme") for n in range(EVENTS)]
    transport = HttpxTransport(policy=INSECURE)
    worker = SyncWorker(store, transport, settings=SETTINGS)
    outcome: list[DrainReport | BaseException] = []

    def first_drain() -> None:
        try:
            outcome.append(worker.drain())
        except BaseException as exc:
            outcome.append(exc)

    drainer = threading.Thread(target=first_drain)
    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.worker"):
        drainer.start()
        wait_until(lambda: listener.requests == EVENTS, what="every attempt in flight")
        with unreachable():
            gate.set()  # the attempts end; recording them fails
            drainer.join(60)
    [raised] = outcome
    assert isinstance(raised, StorageError)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"recording {EVENTS} attempts failed" in m for m in warnings)

    # The database is back: the same worker records what it sent, and sends nothing again.
    report = worker.drain()
    transport.close()

    assert (report.attempts, report.delivered) == (EVENTS, EVENTS)
    assert listener.requests == EVENTS
    book = ledger(store)
    assert book.by_status == {DeliveryStatus.DELIVERED: EVENTS}
    assert book.attempts_recorded == book.attempts_counted == EVENTS
    assert sorted(listener.event_ids()) == sorted(i or "" for i in accepted)
    figures.add("faults", faults_injected=1, deliveries_checked=EVENTS, lost=0)


def test_attempts_kept_after_a_lost_acknowledgement_are_recorded_once(
    hostile_server: HostileServer, tmp_path: Path, figures: Figures
) -> None:
    listener = hostile_server.add("ok", answer(200))
    store = AckLostStore(tmp_path / "acks.db")
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", listener.url())
    for n in range(EVENTS):
        dispatcher.emit(TOPIC, {"n": n}, tenant="acme")
    transport = HttpxTransport(policy=INSECURE)
    worker = SyncWorker(store, transport, settings=SETTINGS)
    store.losses = 1  # the settle commits, then reports a failure

    with pytest.raises(StorageError):
        worker.drain()
    report = worker.drain()  # records the kept attempts again: the store skips them
    transport.close()

    assert report.attempts == EVENTS
    assert listener.requests == EVENTS
    book = ledger(store)
    assert book.by_status == {DeliveryStatus.DELIVERED: EVENTS}
    assert book.attempts_recorded == book.attempts_counted == EVENTS
    store.close()
    figures.add("faults", faults_injected=1, acks_lost=1, deliveries_checked=EVENTS, lost=0)
