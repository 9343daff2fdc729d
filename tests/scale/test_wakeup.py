"""PostgreSQL wake-ups: ``NOTIFY`` on commit of queued work, a listener that survives losing
its connection, and workers of one process woken by emits of another."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.wakeup import APPLICATION_NAME, PostgresWakeup, wakeup_for
from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
from acadio_webhooks.dispatcher import Dispatcher, NewEvent
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.worker import WorkerSettings
from tests.adapters.sql_helpers import wipe
from tests.contract.builders import delivery, event, integration, subscription
from tests.loopback import wait_until

pytestmark = pytest.mark.services

SECRET = "whsec-wakeup-0123456789abcdef"


@pytest.fixture
def store(postgres_url: str) -> Iterator[SqlStore]:
    made = SqlStore(postgres_url)
    wipe(made)
    yield made
    made.close()


class Counter:
    """A thread-safe callback that counts its calls and signals each one."""

    def __init__(self) -> None:
        self.calls = 0
        self.called = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.calls += 1
        self.called.set()

    def wait_for_next(self, timeout: float = 10.0) -> bool:
        fired = self.called.wait(timeout)
        self.called.clear()
        return fired


def queue_one(store: SqlStore, *, connection: sa.Connection | None = None) -> None:
    owner = integration()
    store.add_integration(owner)
    sub = subscription(owner)
    store.add_subscription(sub)
    evt = event(owner.tenant)
    store.enqueue(evt, [delivery(evt, sub)], connection=connection)


def test_enqueue_notifies_on_commit_only(store: SqlStore) -> None:
    counter = Counter()
    with PostgresWakeup(store.engine, [counter]) as wakeup:
        assert wakeup.listening
        assert counter.wait_for_next()  # the catch-up wake-up after connecting
        with store.engine.connect() as conn, conn.begin() as transaction:
            queue_one(store, connection=conn)
            transaction.rollback()
        queue_one(store)
        assert counter.wait_for_next()
        # Exactly one notification: the rolled-back transaction announced nothing.
        assert wakeup.notifications == 1


def test_a_batch_announces_itself_once_when_committed(store: SqlStore) -> None:
    dispatcher = Dispatcher(store, endpoint_policy=EndpointPolicy(allow_insecure=True))
    owner = dispatcher.integrations.install("tenant-1", secret=SECRET)
    dispatcher.integrations.subscribe(owner.id, "course/*", "http://127.0.0.1:9/hooks")
    counter = Counter()
    with PostgresWakeup(store.engine, [counter]) as wakeup:
        assert counter.wait_for_next()  # the catch-up wake-up after connecting
        with store.engine.connect() as conn, conn.begin() as transaction:
            dispatcher.emit_many(
                [NewEvent("course/completion/create", {}, tenant="tenant-1")], connection=conn
            )
            transaction.rollback()
        dispatcher.emit_many(
            NewEvent("course/completion/create", {"n": n}, tenant="tenant-1") for n in range(50)
        )
        assert counter.wait_for_next()
        dispatcher.emit_many([NewEvent("identity/user/create", {}, tenant="tenant-1")])
        dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
        assert counter.wait_for_next()
        # One per committed transaction that queued deliveries: the batch and the last emit.
        assert wakeup.notifications == 2


def test_the_listener_reconnects_after_losing_its_connection(store: SqlStore) -> None:
    counter = Counter()
    with PostgresWakeup(store.engine, [counter], reconnect_delay=0.05) as wakeup:
        assert counter.wait_for_next()
        with store.engine.begin() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": APPLICATION_NAME},
            ).scalar()
        assert killed == 1
        assert counter.wait_for_next()  # reconnected: the catch-up wake-up again
        wait_until(lambda: wakeup.listening, timeout=10, what="the listener to reconnect")
        queue_one(store)
        assert counter.wait_for_next()


def test_a_failing_callback_does_not_silence_the_others(store: SqlStore) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    counter = Counter()
    with PostgresWakeup(store.engine, [broken, counter]):
        assert counter.wait_for_next()
        queue_one(store)
        assert counter.wait_for_next()


def test_only_postgresql_stores_get_a_listener(tmp_path: object, store: SqlStore) -> None:
    assert isinstance(wakeup_for(store), PostgresWakeup)
    sqlite = SqlStore(f"{tmp_path}/w.db")
    try:
        assert wakeup_for(sqlite) is None
    finally:
        sqlite.close()
    with pytest.raises(ValueError, match="PostgreSQL"):
        PostgresWakeup(f"sqlite:///{tmp_path}/w.db")


def test_a_worker_thread_is_woken_by_another_process_emit(
    store: SqlStore, postgres_url: str
) -> None:
    transport = AsyncRecordingTransport()
    # A poll interval far beyond the wait below: only a notification can make it in time.
    settings = WorkerSettings(poll_interval=3600.0)
    policy = EndpointPolicy(allow_insecure=True)
    with Dispatcher(postgres_url, settings=settings, endpoint_policy=policy) as worker_side:
        worker_side.start_worker(transport=transport)
        # A separate dispatcher and store: as another process (the LMS web app) would emit.
        with Dispatcher(postgres_url, endpoint_policy=policy) as web:
            owner = web.integrations.install("tenant-1", secret=SECRET)
            web.integrations.subscribe(owner.id, "course/*", "http://127.0.0.1:9/hooks")
            web.emit("course/completion/create", {"n": 1}, tenant="tenant-1")
            wait_until(lambda: len(transport.requests) == 1, timeout=20, what="the delivery")
