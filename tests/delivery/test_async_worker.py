"""The async worker: concurrency bounds, batching, wake-ups and graceful shutdown."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import anyio
import pytest

from acadio_webhooks import verify
from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
from acadio_webhooks.dispatcher import AsyncDispatcher, Dispatcher, NewEvent
from acadio_webhooks.domain.messages import OutboundRequest
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.ports.storage import DeliveryQuery, WouldWait
from acadio_webhooks.worker import AsyncWorker, WorkerSettings
from tests.loopback import wait_until
from tests.reliability.worlds import eventually

pytestmark = pytest.mark.anyio

SECRET = "whsec-0123456789abcdef"
# Seconds a test waits for what it expects; only a broken run gets anywhere near it.
GENEROUS = 30.0
RESOLVER = StaticResolver({f"h{i}.example.com": [f"93.184.216.{i}"] for i in range(1, 6)})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_dispatcher(store: MemoryStore, **kwargs: object) -> AsyncDispatcher:
    return AsyncDispatcher(store, resolver=RESOLVER, **kwargs)  # type: ignore[arg-type]


def subscribe_hosts(dispatcher: AsyncDispatcher | Dispatcher, hosts: int) -> None:
    integration = dispatcher.integrations.install("t", secret=SECRET)
    for i in range(1, hosts + 1):
        dispatcher.integrations.subscribe(
            integration.id, "course/*", f"https://h{i}.example.com/hook"
        )


class Gauge:
    """Counts requests in flight, overall and per endpoint, and their peaks."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.now = 0
        self.peak = 0
        self.per_url: dict[str, int] = {}
        self.peak_per_url = 0

    async def __call__(self, request: OutboundRequest) -> int:
        self.now += 1
        self.per_url[request.url] = self.per_url.get(request.url, 0) + 1
        self.peak = max(self.peak, self.now)
        self.peak_per_url = max(self.peak_per_url, self.per_url[request.url])
        await asyncio.sleep(self.delay)
        self.now -= 1
        self.per_url[request.url] -= 1
        return 200


async def test_drain_delivers_everything_due_within_the_concurrency_bounds() -> None:
    store = MemoryStore()
    gauge = Gauge()
    transport = AsyncRecordingTransport(gauge)
    settings = WorkerSettings(concurrency=8, per_endpoint=3, batch_size=16)
    dispatcher = make_dispatcher(store, transport=transport, settings=settings)
    subscribe_hosts(dispatcher, 5)
    for n in range(40):
        await dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    report = await dispatcher.drain()
    assert report.delivered == 200
    assert len(transport.requests) == 200
    assert gauge.peak <= 8
    assert gauge.peak_per_url <= 3
    assert gauge.peak > 3  # concurrency actually happened across endpoints


async def test_one_slow_endpoint_does_not_hold_back_the_others() -> None:
    store = MemoryStore()
    finished: list[str] = []
    release_slow = asyncio.Event()

    async def handler(request: OutboundRequest) -> int:
        if "h1." in request.url:
            await release_slow.wait()
        finished.append(request.url)
        return 200

    settings = WorkerSettings(concurrency=10, per_endpoint=2, batch_size=10)
    dispatcher = make_dispatcher(
        store, transport=AsyncRecordingTransport(handler), settings=settings
    )
    subscribe_hosts(dispatcher, 2)
    for n in range(10):
        await dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    drain = asyncio.ensure_future(dispatcher.drain())
    await eventually(lambda: sum("h2." in url for url in finished) == 10, within=GENEROUS)
    release_slow.set()
    report = await drain
    assert report.delivered == 20


async def test_run_wakes_on_emit_and_stops_gracefully() -> None:
    store = MemoryStore()
    transport = AsyncRecordingTransport()
    settings = WorkerSettings(poll_interval=30.0)  # only a wake-up can make it fast
    dispatcher = make_dispatcher(store, transport=transport, settings=settings)
    subscribe_hosts(dispatcher, 1)
    stop = asyncio.Event()
    runner = asyncio.ensure_future(dispatcher.run_worker(stop))
    await asyncio.sleep(0.05)
    await dispatcher.emit("course/completion/create", {}, tenant="t")
    await eventually(lambda: len(transport.requests) == 1, within=GENEROUS)
    stop.set()
    await asyncio.wait_for(runner, GENEROUS)
    [delivery] = (await dispatcher.deliveries()).items
    assert delivery.status is DeliveryStatus.DELIVERED


async def test_run_wakes_once_on_emit_many() -> None:
    store = MemoryStore()
    transport = AsyncRecordingTransport()
    settings = WorkerSettings(poll_interval=30.0)  # only a wake-up can make it fast
    dispatcher = make_dispatcher(store, transport=transport, settings=settings)
    subscribe_hosts(dispatcher, 2)
    stop = asyncio.Event()
    runner = asyncio.ensure_future(dispatcher.run_worker(stop))
    await asyncio.sleep(0.05)
    await dispatcher.emit_many(
        NewEvent("course/completion/create", {}, tenant="t") for _ in range(3)
    )
    await eventually(lambda: len(transport.requests) == 6, within=GENEROUS)
    stop.set()
    await asyncio.wait_for(runner, GENEROUS)


async def test_shutdown_finishes_in_flight_attempts_and_releases_the_rest() -> None:
    store = MemoryStore()
    started = asyncio.Event()
    proceed = asyncio.Event()

    async def handler(_request: OutboundRequest) -> int:
        started.set()
        await proceed.wait()
        return 200

    settings = WorkerSettings(concurrency=1, per_endpoint=1, batch_size=5, poll_interval=30.0)
    clock = FakeClock()
    dispatcher = make_dispatcher(
        store, transport=AsyncRecordingTransport(handler), settings=settings, clock=clock
    )
    subscribe_hosts(dispatcher, 1)
    for n in range(3):
        await dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    worker = dispatcher.worker()
    stop = asyncio.Event()
    runner = asyncio.ensure_future(worker.run(stop))
    await asyncio.wait_for(started.wait(), GENEROUS)
    stop.set()
    proceed.set()
    await asyncio.wait_for(runner, GENEROUS)
    statuses = sorted(d.status.value for d in (await dispatcher.deliveries()).items)
    assert statuses == ["delivered", "pending", "pending"]
    # released leases: the other two are claimable at once by another worker
    assert (
        len(store.claim(now=clock.now(), limit=10, owner="other", lease=timedelta(minutes=1))) == 2
    )


async def test_each_attempt_is_signed_for_the_second_it_starts_in() -> None:
    # The worker signs a claim's deliveries together when it claims them; one that waits for
    # a lane into a later second must still go out signed for the second it starts in.
    store = MemoryStore()
    clock = FakeClock(datetime(2026, 12, 7, 12, 0, 0, 500_000, tzinfo=timezone.utc))
    started_at: list[datetime] = []

    async def slow_second(_request: OutboundRequest) -> int:
        started_at.append(clock.now())
        await asyncio.sleep(0)  # the worker claims (and signs) the next while this one runs
        clock.advance(seconds=0.4)  # every second attempt starts in a new second
        return 200

    transport = AsyncRecordingTransport(slow_second)
    settings = WorkerSettings(concurrency=1, per_endpoint=1, batch_size=5)
    dispatcher = make_dispatcher(store, transport=transport, settings=settings, clock=clock)
    subscribe_hosts(dispatcher, 1)
    for n in range(5):
        await dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    report = await dispatcher.drain()
    assert report.delivered == 5
    seconds = [str(int(moment.timestamp())) for moment in started_at]
    assert [request.headers["webhook-timestamp"] for request in transport.requests] == seconds
    assert len(set(seconds)) == 3  # signed ahead, signed again, and in between
    for request, moment in zip(transport.requests, started_at, strict=True):
        verify(request.body, dict(request.headers), SECRET, now=moment, tolerance=1)


async def test_a_transport_that_raises_records_a_failed_attempt_instead_of_losing_it() -> None:
    store = MemoryStore()

    async def broken(_request: OutboundRequest) -> int:
        raise RuntimeError("bug in a custom transport")

    dispatcher = make_dispatcher(store, transport=AsyncRecordingTransport(broken))
    subscribe_hosts(dispatcher, 1)
    await dispatcher.emit("course/completion/create", {}, tenant="t")
    report = await dispatcher.drain()
    assert report.retried == 1
    [delivery] = (await dispatcher.deliveries()).items
    [attempt] = await dispatcher.attempts(delivery.id)
    assert attempt.error == "other: RuntimeError"


async def test_a_bug_outside_the_transport_stops_the_worker_with_its_exception() -> None:
    store = MemoryStore()

    class BrokenClock(FakeClock):
        """Reads the time once for the claim, then breaks inside the attempts."""

        reads = 0

        def now(self) -> datetime:
            self.reads += 1
            if self.reads > 1:
                raise RuntimeError("bug in the delivery path")
            return super().now()

    dispatcher = make_dispatcher(store, transport=AsyncRecordingTransport())
    subscribe_hosts(dispatcher, 2)
    for n in range(5):
        await dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    clock = BrokenClock(datetime.now(timezone.utc) + timedelta(minutes=1))
    worker = AsyncWorker(store, AsyncRecordingTransport(), clock=clock)
    with pytest.raises(BaseException) as raised:  # noqa: PT011 - unwrapped below
        with anyio.fail_after(10):  # it must stop, not hang with attempts unaccounted for
            await worker.drain()
    # Out of the worker's task group, wrapped in an exception group as anyio does.
    error = raised.value
    while not isinstance(error, RuntimeError) and getattr(error, "exceptions", None):
        error = error.exceptions[0]  # type: ignore[attr-defined]
    assert str(error) == "bug in the delivery path"


async def test_worker_owner_names_are_unique() -> None:
    store = MemoryStore()
    first = AsyncWorker(store, AsyncRecordingTransport())
    second = AsyncWorker(store, AsyncRecordingTransport())
    assert first.owner != second.owner


@pytest.fixture
def sync_world() -> Iterator[tuple[Dispatcher, threading.Event]]:
    delivered = threading.Event()
    store = MemoryStore()
    dispatcher = Dispatcher(store, resolver=RESOLVER)
    yield dispatcher, delivered
    dispatcher.close()


def test_worker_thread_serves_a_sync_host(sync_world: tuple[Dispatcher, threading.Event]) -> None:
    dispatcher, _ = sync_world
    subscribe_hosts(dispatcher, 1)
    transport = AsyncRecordingTransport()
    from acadio_webhooks.worker import WorkerThread

    thread = WorkerThread(
        lambda: AsyncWorker(
            dispatcher.store, transport, settings=WorkerSettings(poll_interval=0.05)
        )
    ).start()
    try:
        dispatcher.emit("course/completion/create", {}, tenant="t")
        wait_until(lambda: len(transport.requests) == 1, timeout=GENEROUS, what="the delivery")
    finally:
        thread.stop()
    assert transport.closed


class _ThreadedSqlStore(SqlStore):
    """SQLite called as a database server is: always from a worker thread."""

    def without_waiting(self) -> None:
        return None


@pytest.mark.parametrize("store_class", [SqlStore, _ThreadedSqlStore])
async def test_every_attempt_made_before_a_stop_is_recorded(
    tmp_path: Path, store_class: type[SqlStore]
) -> None:
    # Writes are in flight (on the loop, or in a worker thread) when the stop comes.
    store = store_class(tmp_path / "webhooks.db")
    dispatcher = Dispatcher(store, resolver=RESOLVER)
    subscribe_hosts(dispatcher, 1)
    for n in range(120):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    stop = asyncio.Event()
    sent = 0

    async def stop_after_some(_request: OutboundRequest) -> int:
        nonlocal sent
        sent += 1
        if sent == 60:
            stop.set()
        await asyncio.sleep(0)
        return 200

    settings = WorkerSettings(concurrency=10, per_endpoint=10, batch_size=5, settle_interval=0)
    worker = AsyncWorker(store, AsyncRecordingTransport(stop_after_some), settings=settings)
    with anyio.fail_after(30):
        await worker.run(stop)
    delivered = store.list_deliveries(DeliveryQuery(status=DeliveryStatus.DELIVERED, limit=500))
    pending = store.list_deliveries(DeliveryQuery(status=DeliveryStatus.PENDING, limit=500))
    assert len(delivered.items) == sent
    assert len(pending.items) == 120 - sent
    store.close()


class _SlowRecordingStore(MemoryStore):
    """A store that records settlements slowly, from a worker thread (as SQL stores do)."""

    nonblocking = False

    def settle(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        threading.Event().wait(0.02)
        super().settle(*args, **kwargs)  # type: ignore[arg-type]


async def test_drain_waits_for_slow_recording_instead_of_stopping_with_work_due() -> None:
    # A fast endpoint and a slow store: attempts finish long before they are recorded, so
    # the worker stops claiming until the store catches up. drain() must then wait, not
    # take the pause for "nothing due" and return with deliveries still pending.
    store = _SlowRecordingStore()
    settings = WorkerSettings(concurrency=5, per_endpoint=5, batch_size=5)
    dispatcher = make_dispatcher(store, transport=AsyncRecordingTransport(), settings=settings)
    subscribe_hosts(dispatcher, 1)
    await dispatcher.emit_many(
        NewEvent("course/completion/create", {"n": n}, tenant="t") for n in range(200)
    )
    report = await dispatcher.drain()
    assert report.delivered == 200
    pending = await dispatcher.deliveries(DeliveryQuery(status=DeliveryStatus.PENDING))
    assert pending.items == ()


async def test_a_sqlite_write_lock_held_elsewhere_never_blocks_the_event_loop(
    tmp_path: Path,
) -> None:
    # The worker calls SQLite on its event loop, where waiting for a lock would freeze every
    # attempt in flight: a call that would wait is made again in a thread. Here the lock is
    # let go by the loop itself, once a claim waits for it in a thread: a worker that waited
    # on the loop would hold the loop until its busy timeout and never see the lock go.
    path = tmp_path / "webhooks.db"
    store = SqlStore(path, sqlite_busy_timeout=GENEROUS)
    dispatcher = Dispatcher(store, resolver=RESOLVER)
    subscribe_hosts(dispatcher, 1)
    for n in range(20):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    loop_thread = threading.get_ident()
    claims: list[str] = []  # where each claim ran: "loop", "loop: would wait", "thread"
    waiting_in_thread = threading.Event()
    claim = store.claim

    def recorded_claim(*args: object, **kwargs: object) -> object:
        if threading.get_ident() != loop_thread:
            claims.append("thread")
            waiting_in_thread.set()
            return claim(*args, **kwargs)  # type: ignore[arg-type]
        try:
            found = claim(*args, **kwargs)  # type: ignore[arg-type]
        except WouldWait:
            claims.append("loop: would wait")
            raise
        claims.append("loop")
        return found

    store.claim = recorded_claim  # type: ignore[method-assign]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    worker = AsyncWorker(store, AsyncRecordingTransport(lambda _request: 200))
    try:
        with anyio.fail_after(GENEROUS * 2):
            draining = asyncio.ensure_future(worker.drain())
            assert await anyio.to_thread.run_sync(waiting_in_thread.wait, GENEROUS)
            other.execute("COMMIT")
            report = await draining
    finally:
        other.close()
    assert report.delivered == 20
    assert claims[:2] == ["loop: would wait", "thread"]
    assert "loop" in claims[2:]  # once the lock is free, claims are made on the loop again
    store.close()
