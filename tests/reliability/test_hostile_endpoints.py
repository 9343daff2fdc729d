"""Hostile and broken endpoints against the whole worker: a real worker, real transports and a
SQLite store, with every endpoint a real server on 127.0.0.1.

For each bad behaviour the promise is the same: the attempt is recorded, failed or succeeded
as the status says, within the configured timeouts, with bounded memory, and the worker keeps
serving everyone else meanwhile.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport import TransportTimeouts
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.core import DeliveryPolicy
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest
from acadio_webhooks.domain.models import Delivery, DeliveryStatus
from acadio_webhooks.domain.retry import RetryPolicy
from acadio_webhooks.worker import AsyncWorker, SyncWorker, WorkerSettings
from tests.reliability.hostile import BEHAVIOURS, HostileServer
from tests.reliability.hostile_process import Answer, HostileProcess
from tests.reliability.worlds import (
    ASYNC_TRANSPORTS,
    INSECURE,
    SECRET,
    Figures,
    RssSampler,
    all_deliveries,
    async_transport,
    eventually,
    ledger,
    loopback_names,
    serving,
    sqlite_store,
    sync_transport,
    timeouts,
    unfinished,
)

TOTAL = 2.0  # the attempt's total timeout
READ = 1.0  # each wait for the socket: the silent endpoints end here, the drips at TOTAL
SLACK = 2.0  # scheduling slack on a busy two-core machine, far below any hang
MAX_RESPONSE_BYTES = 64 * 1024
RETRY_AFTER_CAP = 6 * 3600.0
# Three attempts instead of seven keep the "every delivery reaches a final state" rounds short.
POLICY = DeliveryPolicy(retry=RetryPolicy(max_retries=2))
# Connecting to loopback is instant; a generous connect bound keeps a loaded machine from
# turning a healthy endpoint into a timeout.
HOSTILE_TIMEOUTS = TransportTimeouts(connect=TOTAL, read=READ, write=READ, total=TOTAL)
MEMORY_BOUND = 32 * 1024 * 1024  # growth of resident memory over one drain, whole process


@dataclass(frozen=True)
class Expected:
    """How an attempt at a behaviour must be recorded."""

    status: int | None
    kinds: frozenset[ErrorKind] = frozenset()
    scheme: str = "http"

    @property
    def succeeds(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def fails_with(*kinds: ErrorKind, scheme: str = "http") -> Expected:
    return Expected(None, frozenset(kinds), scheme)


TIMEOUT, PROTOCOL, TLS = ErrorKind.TIMEOUT, ErrorKind.PROTOCOL, ErrorKind.TLS
EXPECTED: dict[str, Expected] = {
    "ok": Expected(200),
    "slow-ok": Expected(200),
    "empty-2xx": Expected(204),
    "garbage-2xx": Expected(200),
    "huge-2xx-body": Expected(200),  # read up to the cap, then the connection is dropped
    "endless-body": Expected(200),
    "status-500": Expected(500),
    "retry-after-forever": Expected(429),
    "redirect-public": Expected(302),
    "redirect-metadata": Expected(307),
    "redirect-loopback": Expected(301),
    "huge-headers": fails_with(PROTOCOL),
    "endless-headers": fails_with(PROTOCOL),
    "drip-headers": fails_with(TIMEOUT),
    "drip-body": fails_with(TIMEOUT),
    "hang": fails_with(TIMEOUT),
    "no-accept": fails_with(TIMEOUT),
    "reset-before-status": fails_with(PROTOCOL, ErrorKind.CONNECT),
    "reset-mid-body": fails_with(PROTOCOL),
    "close-mid-body": fails_with(PROTOCOL),
    "not-http": fails_with(PROTOCOL),
    "tls-plain-answer": fails_with(TLS, scheme="https"),
    "tls-random-answer": fails_with(TLS, scheme="https"),
    "tls-silent": fails_with(TIMEOUT, scheme="https"),
    "refused": fails_with(ErrorKind.CONNECT),
}


# What only the total timeout can end, and where the async transports say it ended.
CUT_OFF_BY_THE_TOTAL = {
    "drip-headers": "while waiting for the response from",
    "drip-body": "while reading the response body from",
}


class Hostiles:
    """One listener per behaviour, plus a redirect target that must never be contacted.

    The listeners live in a process of their own: in this one they would share the GIL
    with the 64 threads of the sync worker under test and answer late on a busy machine.
    """

    def __init__(self) -> None:
        self.server = HostileProcess()
        for name in [*BEHAVIOURS, "no-accept"]:
            self.server.add(name)
        self.stolen = self.server.add("redirect-target", Answer(200, "you followed me"))
        self.server.add(
            "redirect-loopback",
            Answer(301, "", (f"Location: {self.stolen.url('/admin')}",)),
        )
        self.server.add("refused", Answer(200))
        self.server.refuse("refused")

    @staticmethod
    def host(name: str) -> str:
        return f"{name}.hooks.test"

    def url(self, name: str) -> str:
        listener = self.server.listeners[name]
        return listener.url(f"/{name}", scheme=EXPECTED[name].scheme, host=self.host(name))

    def resolver_names(self) -> list[str]:
        return [self.host(name) for name in self.server.listeners]


@pytest.fixture(scope="module")
def hostiles() -> Iterator[Hostiles]:
    made = Hostiles()
    yield made
    made.server.close()


@dataclass
class World:
    store: SqlStore
    dispatcher: Dispatcher
    clock: FakeClock
    urls: dict[str, str]  # endpoint URL -> behaviour


def build_world(tmp_path: Path, hostiles: Hostiles, events: int) -> World:
    store = sqlite_store(tmp_path)
    clock = FakeClock()
    resolver = loopback_names(hostiles.resolver_names())
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE, resolver=resolver)
    integration = dispatcher.integrations.install("acme", secret=SECRET)
    urls = {}
    for name in EXPECTED:
        url = hostiles.url(name)
        dispatcher.integrations.subscribe(integration.id, "course/*", url)
        urls[url] = name
    for number in range(events):
        dispatcher.emit("course/completion/create", {"n": number}, tenant="acme")
    return World(store, dispatcher, clock, urls)


def check_first_attempts(
    world: World, hostiles: Hostiles, *, phases: bool = False
) -> list[Delivery]:
    """Every delivery has exactly one recorded attempt, judged as its behaviour demands;
    with ``phases``, attempts the total timeout ended say where they were and with whom."""
    deliveries = all_deliveries(world.store)
    subscriptions = {
        s.id: s.endpoint
        for i in world.store.list_integrations()
        for s in world.store.list_subscriptions(i.id)
    }
    for delivery in deliveries:
        behaviour = world.urls[subscriptions[delivery.subscription_id]]
        expected = EXPECTED[behaviour]
        [attempt] = world.store.list_attempts(delivery.id)
        assert attempt.succeeded is expected.succeeds, (behaviour, attempt)
        assert attempt.status_code == expected.status, (behaviour, attempt)
        if expected.kinds:
            kind = ErrorKind((attempt.error or "").split(":")[0])
            assert kind in expected.kinds, (behaviour, attempt.error)
        assert attempt.duration_ms <= (TOTAL + SLACK) * 1000, (behaviour, attempt.duration_ms)
        if expected.succeeds:
            assert delivery.status is DeliveryStatus.DELIVERED, behaviour
        else:
            assert delivery.status is DeliveryStatus.PENDING, behaviour
            assert delivery.next_attempt_at is not None
            wait = delivery.next_attempt_at - world.clock.now()
            assert timedelta(0) < wait <= timedelta(seconds=RETRY_AFTER_CAP), behaviour
        if behaviour == "retry-after-forever":
            assert wait == timedelta(seconds=RETRY_AFTER_CAP)
        if phases and behaviour in CUT_OFF_BY_THE_TOTAL:
            where = f"{CUT_OFF_BY_THE_TOTAL[behaviour]} {hostiles.host(behaviour)}"
            assert f"total timeout ({TOTAL:g} s) ran out {where}" in (attempt.error or "")
        if behaviour == "garbage-2xx":
            assert attempt.response_excerpt.startswith("\x00\x01\x02")
        if behaviour in ("huge-2xx-body", "endless-body"):
            assert attempt.response_excerpt == "e" * 1024
    assert hostiles.stolen.connections == 0, "a redirect was followed"
    return deliveries


async def settle_everything(worker: AsyncWorker | SyncWorker, world: World) -> int:
    """Drain, move the fake clock past every retry wait, repeat until nothing is pending."""
    rounds = 0
    while unfinished(world.store):
        world.clock.advance(hours=7)
        if isinstance(worker, AsyncWorker):
            await worker.drain()
        else:
            await anyio.to_thread.run_sync(worker.drain)
        rounds += 1
        assert rounds <= POLICY.retry.max_attempts
    return rounds


def check_final(world: World, events: int) -> None:
    """Every delivery is delivered or failed after its last attempt: none lost or stuck."""
    deliveries = all_deliveries(world.store)
    book = ledger(world.store, deliveries)
    succeeding = sum(EXPECTED[name].succeeds for name in EXPECTED)
    assert book.deliveries == events * len(EXPECTED)
    assert book.by_status == {
        DeliveryStatus.DELIVERED: events * succeeding,
        DeliveryStatus.FAILED: events * (len(EXPECTED) - succeeding),
    }
    assert book.attempts_recorded == book.attempts_counted
    failed = [d for d in deliveries if d.status is DeliveryStatus.FAILED]
    assert {d.attempts for d in failed} == {POLICY.retry.max_attempts}
    assert len(world.store.unsent_notifications()) >= len(failed)


def settings() -> WorkerSettings:
    return WorkerSettings(concurrency=64, per_endpoint=4, batch_size=32, poll_interval=0.05)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ASYNC_TRANSPORTS)
async def test_every_hostile_endpoint_yields_a_recorded_attempt_within_bounds(
    kind: str, tmp_path: Path, hostiles: Hostiles, figures: Figures
) -> None:
    if kind in ("aiohttp", "httptools"):
        pytest.importorskip(kind)
    events = 2
    world = build_world(tmp_path, hostiles, events)
    transport = async_transport(
        kind,
        policy=INSECURE,
        resolver=loopback_names(hostiles.resolver_names()),
        timeouts=HOSTILE_TIMEOUTS,
        max_response_bytes=MAX_RESPONSE_BYTES,
    )
    worker = AsyncWorker(
        world.store, transport, clock=world.clock, policy=POLICY, settings=settings()
    )
    try:
        with RssSampler() as memory:
            report = await worker.drain()

        assert report.attempts == events * len(EXPECTED)
        deliveries = check_first_attempts(world, hostiles, phases=True)
        # The huge bodies alone offered 2 x 64 MiB and the endless ones had no end.
        growth = memory.growth
        assert growth < MEMORY_BOUND, f"resident memory grew {growth / 2**20:.1f} MiB"

        rounds = await settle_everything(worker, world)
        check_final(world, events)
    finally:
        # Also when a check fails: its open connections must not surface in a later test.
        await worker.aclose()
        world.store.close()
    figures.add(
        "hostile",
        cases=len(EXPECTED),
        transports=1,
        deliveries_checked=len(deliveries),
        attempts=ledger_attempts(tmp_path),
        lost=0,
    )
    figures.set_max(
        "hostile",
        behaviours=len(EXPECTED),
        rss_growth_mib=memory.growth // 2**20 + 1,
        retry_rounds=rounds,
    )


def ledger_attempts(tmp_path: Path) -> int:
    store = sqlite_store(tmp_path)
    try:
        return ledger(store).attempts_recorded
    finally:
        store.close()


def test_the_sync_worker_survives_the_same_endpoints(
    tmp_path: Path, hostiles: Hostiles, figures: Figures
) -> None:
    events = 1
    world = build_world(tmp_path, hostiles, events)
    transport = sync_transport(
        policy=INSECURE,
        resolver=loopback_names(hostiles.resolver_names()),
        timeouts=HOSTILE_TIMEOUTS,
        max_response_bytes=MAX_RESPONSE_BYTES,
    )
    worker = SyncWorker(
        world.store, transport, clock=world.clock, policy=POLICY, settings=settings()
    )
    try:
        report = worker.drain()

        assert report.attempts == events * len(EXPECTED)
        deliveries = check_first_attempts(world, hostiles)
        anyio.run(settle_everything, worker, world)
        check_final(world, events)
    finally:
        # Also when a check fails: its open connections must not surface in a later test.
        transport.close()
        world.store.close()
    figures.add(
        "hostile", cases=len(EXPECTED), transports=1, deliveries_checked=len(deliveries), lost=0
    )


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ASYNC_TRANSPORTS)
async def test_attempts_cut_off_mid_handshake_leave_no_connection_open(
    kind: str, hostiles: Hostiles, figures: Figures
) -> None:
    # The total timeout cancels the TLS handshake of an endpoint that never answers it; the
    # socket must be closed then, not when the garbage collector happens to find it.
    if kind in ("aiohttp", "httptools"):
        pytest.importorskip(kind)
    listener = hostiles.server.listeners["tls-silent"]
    name = hostiles.host("tls-silent")
    transport = async_transport(
        kind,
        policy=INSECURE,
        resolver=loopback_names([name]),
        timeouts=TransportTimeouts(connect=10, read=10, write=10, total=0.3),
    )
    request = OutboundRequest(url=hostiles.url("tls-silent"), headers={}, body=b"{}")
    connections = listener.connections
    gc.disable()  # only an explicit close may free the sockets
    try:
        for _ in range(5):
            result = await transport.send(request)
            assert result.error_kind is ErrorKind.TIMEOUT
            assert f"during the TLS handshake with {name}" in (result.error or "")
        assert listener.connections == connections + 5
        await eventually(lambda: listener.open_connections == 0, within=5)
    finally:
        gc.enable()
        await transport.close()
    figures.add("hostile", handshake_cutoffs=5)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ASYNC_TRANSPORTS)
async def test_the_worker_keeps_serving_while_hostile_attempts_hang(
    hostile_server: HostileServer, kind: str, tmp_path: Path, figures: Figures
) -> None:
    if kind in ("aiohttp", "httptools"):
        pytest.importorskip(kind)
    server = hostile_server
    stuck_names = ["hang", "no-accept", "drip-body", "drip-headers", "tls-silent"]
    stuck = {name: server.add(name) for name in stuck_names}
    accepting = [name for name in stuck_names if name != "no-accept"]  # nobody counts those
    healthy = server.add("ok")
    names = [f"{name}.hooks.test" for name in [*stuck_names, "ok"]]
    resolver = loopback_names(names)
    store = sqlite_store(tmp_path)
    clock = FakeClock()
    dispatcher = Dispatcher(store, clock=clock, endpoint_policy=INSECURE, resolver=resolver)
    bad = dispatcher.integrations.install("hostile-tenant", secret=SECRET)
    good = dispatcher.integrations.install("healthy-tenant", secret=SECRET)
    for name, listener in stuck.items():
        scheme = "https" if name.startswith("tls") else "http"
        url = listener.url("/hook", scheme=scheme, host=f"{name}.hooks.test")
        dispatcher.integrations.subscribe(bad.id, "course/*", url)
    dispatcher.integrations.subscribe(good.id, "course/*", healthy.url(host="ok.hooks.test"))
    # Hostile attempts hold their slots for up to 6 s, long enough to watch others go by.
    transport = async_transport(
        kind, policy=INSECURE, resolver=resolver, timeouts=timeouts(6.0, step=5.0)
    )
    worker = AsyncWorker(store, transport, clock=clock, policy=POLICY, settings=settings())
    hostile_events = 4  # per_endpoint is 4: every hostile slot of every endpoint is taken
    healthy_events = 40

    async with serving(worker):  # a graceful stop waits for the hostile attempts to time out
        for number in range(hostile_events):
            dispatcher.emit("course/completion/create", {"n": number}, tenant="hostile-tenant")
        worker.wake()
        await eventually(
            lambda: all(stuck[name].connections == hostile_events for name in accepting),
            within=10,
        )
        for number in range(healthy_events):
            dispatcher.emit("course/completion/create", {"n": number}, tenant="healthy-tenant")
        worker.wake()
        await eventually(
            lambda: len(all_deliveries(store, status=DeliveryStatus.DELIVERED)) == healthy_events,
            within=10,
        )
        # Every healthy delivery went through while no hostile attempt had been settled yet.
        assert all(d.attempts == 0 for d in all_deliveries(store, tenant="hostile-tenant")), (
            "hostile attempts ended before the healthy deliveries were done"
        )
        assert all(stuck[name].open_connections == hostile_events for name in accepting)

    hostile = all_deliveries(store, tenant="hostile-tenant")
    assert len(hostile) == hostile_events * len(stuck)
    for delivery in hostile:
        [attempt] = store.list_attempts(delivery.id)
        assert (attempt.error or "").startswith("timeout")
        assert delivery.status is DeliveryStatus.PENDING  # retry scheduled, nothing lost
    assert healthy.requests == healthy_events
    store.close()
    figures.add(
        "hostile",
        deliveries_checked=len(hostile) + healthy_events,
        concurrent_hangs=hostile_events * len(stuck),
        lost=0,
    )
