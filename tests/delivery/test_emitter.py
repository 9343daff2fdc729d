"""The emitter both dispatchers share: it wakes this process's workers once per stored
batch that has deliveries, and never for work that is not committed yet or not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from acadio_webhooks._emitter import Emitter, NewEvent
from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.domain.planning import DEFAULT_MAX_PAYLOAD_BYTES
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.ports.storage import Store
from tests.contract.builders import integration, subscription

TOPIC = "course/completion/create"


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def emitter_on(store: Store, wakes: Wakes) -> Emitter:
    owner = integration("acme")
    store.add_integration(owner)
    store.add_subscription(subscription(owner, "course/*"))
    return Emitter(
        store,
        catalog=TOPICS,
        clock=FakeClock(),
        max_payload_bytes=DEFAULT_MAX_PAYLOAD_BYTES,
        wake=wakes,
    )


def test_a_batch_with_deliveries_wakes_the_workers_once() -> None:
    wakes = Wakes()
    emitter = emitter_on(MemoryStore(), wakes)
    emitter.emit_many([NewEvent(TOPIC, {}, tenant="acme") for _ in range(5)], connection=None)
    assert wakes.count == 1
    emitter.emit(TOPIC, {}, tenant="acme", dedup_key=None, occurred_at=None, connection=None)
    assert wakes.count == 2


def test_nothing_to_deliver_wakes_nobody() -> None:
    wakes = Wakes()
    emitter = emitter_on(MemoryStore(), wakes)
    unrouted = [
        NewEvent("identity/user/create", {}, tenant="acme"),
        NewEvent(TOPIC, {}, tenant="x"),
    ]
    emitter.emit_many(unrouted, connection=None)
    emitter.emit_many([], connection=None)
    emitter.emit(TOPIC, {}, tenant="acme", dedup_key="k", occurred_at=None, connection=None)
    assert wakes.count == 1
    assert emitter.emit_many(
        [NewEvent(TOPIC, {}, tenant="acme", dedup_key="k")], connection=None
    ) == [None]
    assert wakes.count == 1  # the batch was suppressed whole: nothing new is due


def test_a_host_transaction_wakes_nobody_before_it_commits(tmp_path: Path) -> None:
    from acadio_webhooks.adapters.storage.sql import SqlStore

    store = SqlStore(tmp_path / "wake.db")
    try:
        wakes = Wakes()
        emitter = emitter_on(store, wakes)
        with store.engine.begin() as conn:
            ids = emitter.emit_many([NewEvent(TOPIC, {}, tenant="acme")], connection=conn)
        assert all(ids)
        assert wakes.count == 0
    finally:
        store.close()


def test_a_bad_event_raises_before_the_store_is_asked() -> None:
    class Untouchable(MemoryStore):
        def enqueue_routed(self, *args: object, **kwargs: object) -> list[bool]:
            raise AssertionError("the store must not be asked")

    emitter = emitter_on(Untouchable(), Wakes())
    with pytest.raises(ValueError, match=r"^events\[0\]\.tenant must be 1 to 255 characters"):
        emitter.emit_many([NewEvent(TOPIC, {}, tenant="")], connection=None)
