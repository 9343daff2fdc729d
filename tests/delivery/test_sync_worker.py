"""``SyncWorker``'s threads: a drain attempts in at most ``concurrency`` threads, reused from
batch to batch, and leaves none behind."""

from __future__ import annotations

import threading

from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from acadio_webhooks.dispatcher import Dispatcher, NewEvent
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import OutboundRequest
from acadio_webhooks.worker import SyncWorker, WorkerSettings

SETTINGS = WorkerSettings(concurrency=3, per_endpoint=3, batch_size=6)
BATCHES = 5


def test_a_drain_reuses_its_threads_across_batches_and_leaves_none_behind() -> None:
    store = MemoryStore()
    dispatcher = Dispatcher(store, endpoint_policy=EndpointPolicy(allow_insecure=True))
    owner = dispatcher.integrations.install("acme", secret="whsec-threads-0123456789")
    dispatcher.integrations.subscribe(owner.id, "course/*", "http://127.0.0.1:9/hook")
    dispatcher.emit_many(
        NewEvent("course/completion/create", {"n": n}, tenant="acme")
        for n in range(SETTINGS.batch_size * BATCHES)
    )
    # The thread objects themselves, held so that none is freed and its identity reused.
    senders: set[threading.Thread] = set()

    def answer(_request: OutboundRequest) -> int:
        senders.add(threading.current_thread())
        return 200

    report = SyncWorker(store, RecordingTransport(answer), settings=SETTINGS).drain()

    assert report.delivered == SETTINGS.batch_size * BATCHES
    assert 1 <= len(senders) <= SETTINGS.concurrency
    assert threading.main_thread() not in senders
    assert not any(thread.is_alive() for thread in senders)
