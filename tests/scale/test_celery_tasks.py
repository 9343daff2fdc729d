"""The Celery integration's tasks without a broker: retry delays live in the store, never in a
countdown; a duplicated message finds nothing to take; one endpoint's backlog cannot keep
another endpoint's events out of a round; the pump chain runs alone and stops when idle."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.transport.recording import (
    AsyncRecordingTransport,
    RecordingTransport,
)
from acadio_webhooks.celery import CeleryDelivery, CelerySettings
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.core import DeliveryPolicy
from acadio_webhooks.domain.messages import OutboundRequest
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import NotFound

SECRET = "whsec-celery-0123456789abcdef"
RESOLVER = StaticResolver({"a.example.com": ["93.184.216.1"], "b.example.com": ["93.184.216.2"]})
ENDPOINT_A = "https://a.example.com/hook"
ENDPOINT_B = "https://b.example.com/hook"


class Sent:
    """Stands in for ``apply_async``: records each call's arguments and options."""

    def __init__(self, run: Any = None) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self._run = run

    def __call__(self, args: tuple[Any, ...] = (), **options: Any) -> None:
        self.calls.append((tuple(args), options))
        if self._run is not None:
            self._run(*args)


class Chain:
    """Stands in for the pump task's ``apply_async``: keeps each next step a chain queues."""

    def __init__(self) -> None:
        self.steps: list[tuple[Any, ...]] = []

    def __call__(self, args: tuple[Any, ...] = (), **options: Any) -> None:
        assert set(options) <= {"queue"}  # never a countdown or an ETA
        self.steps.append(tuple(args))


def pump(webhooks: CeleryDelivery) -> int:
    """A pump as beat starts it, then every next step its chain queues, in order, until the
    chain stops; how many deliveries were handed out in all."""
    chain = webhooks.pump_task.apply_async
    assert isinstance(chain, Chain)
    handed = webhooks.pump()
    while chain.steps:
        token, size, count, sent_at = chain.steps.pop(0)
        handed += webhooks.pump(token, size=size, handed=count, sent_at=sent_at)
    return handed


def setup(
    handler: Any, *, settings: CelerySettings | None = None
) -> tuple[Dispatcher, CeleryDelivery, RecordingTransport, FakeClock]:
    clock = FakeClock()
    store = MemoryStore()
    transport = RecordingTransport(handler)
    dispatcher = Dispatcher(store, clock=clock, resolver=RESOLVER)
    webhooks = CeleryDelivery(
        Celery("test", broker="memory://", set_as_current=False),
        store,
        transport=lambda: transport,
        clock=clock,
        policy=DeliveryPolicy(rng=random.Random(5)),
        settings=settings,
        schedule=False,
    )
    webhooks.pump_task.apply_async = Chain()  # type: ignore[method-assign]
    return dispatcher, webhooks, transport, clock


def subscribe(dispatcher: Dispatcher, *endpoints: str) -> None:
    integration = dispatcher.integrations.install("t", secret=SECRET)
    for pattern, endpoint in zip(("course/*", "identity/*"), endpoints):
        dispatcher.integrations.subscribe(integration.id, pattern, endpoint)


def pumped(dispatcher: Dispatcher, clock: FakeClock, count: int) -> list[str]:
    """Emit ``count`` events to ENDPOINT_A and lease their deliveries to the pump, as a
    round does before it sends attempt tasks; their delivery ids."""
    subscribe(dispatcher, ENDPOINT_A)
    for n in range(count):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    items = dispatcher.store.claim(
        now=clock.now(), limit=count, owner="pump", lease=timedelta(minutes=5)
    )
    return [item.delivery_id for item in items]


def test_a_failed_attempt_is_retried_from_the_store_never_with_a_countdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter([503, 200])
    dispatcher, webhooks, transport, clock = setup(lambda _request: next(answers))
    subscribe(dispatcher, ENDPOINT_A)
    sent = Sent(run=lambda ids, owner: webhooks.attempt(ids, owner, f"task-{len(sent.calls)}"))
    monkeypatch.setattr(webhooks.attempt_task, "apply_async", sent)
    dispatcher.emit("course/completion/create", {"n": 1}, tenant="t")

    assert pump(webhooks) == 1
    [delivery] = dispatcher.deliveries().items
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at is not None
    wait = delivery.next_attempt_at - clock.now()
    assert timedelta(seconds=3) < wait < timedelta(seconds=7)  # the policy's first retry
    assert pump(webhooks) == 0  # not due yet: nothing queued in the broker meanwhile

    clock.advance(seconds=10)
    assert pump(webhooks) == 1
    assert dispatcher.delivery(delivery.id).status is DeliveryStatus.DELIVERED
    assert len(transport.requests) == 2
    assert all(set(options) <= {"queue"} for _args, options in sent.calls)  # no countdown/eta


def test_a_duplicated_attempt_message_finds_nothing_to_take() -> None:
    dispatcher, webhooks, transport, clock = setup(lambda _request: 200)
    subscribe(dispatcher, ENDPOINT_A)
    dispatcher.emit("course/completion/create", {"n": 1}, tenant="t")
    [item] = dispatcher.store.claim(
        now=clock.now(), limit=1, owner="pump-1", lease=timedelta(minutes=5)
    )
    assert webhooks.attempt([item.delivery_id], "pump-1", "task-a") == 1
    assert webhooks.attempt([item.delivery_id], "pump-1", "task-a") == 0  # redelivered copy
    assert len(transport.requests) == 1
    assert webhooks.metrics.snapshot().delivered == 1


def test_a_round_gives_every_endpoint_its_turn_before_a_backlog_takes_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = CelerySettings(per_endpoint=4, chunk=3, batch_size=100)
    dispatcher, webhooks, _transport, clock = setup(lambda _request: 200, settings=settings)
    subscribe(dispatcher, ENDPOINT_A, ENDPOINT_B)
    for n in range(30):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    for n in range(2):
        dispatcher.emit("identity/user/create", {"n": n}, tenant="t")
    sent = Sent()
    monkeypatch.setattr(webhooks.attempt_task, "apply_async", sent)

    # A first round is 4 chunks (12): A's share (4), then B's 2 although emitted last, then
    # the rest of the round to A, whose backlog is all that is left: a share is no ceiling.
    assert webhooks.pump() == 12
    tasks = [
        ({dispatcher.delivery(i).topic.split("/")[0] for i in args[0]}, len(args[0]))
        for args, _options in sent.calls
    ]
    # B's one task goes first, then A's in chunks of 3 (one subscription per task).
    assert tasks == [
        ({"identity"}, 2),
        ({"course"}, 3),
        ({"course"}, 3),
        ({"course"}, 3),
        ({"course"}, 1),
    ]
    # The chain's next step went out halfway, after the first three tasks (8 deliveries):
    # it claims the next round while the pool works on the rest of this one.
    chain = webhooks.pump_task.apply_async
    assert isinstance(chain, Chain)
    [(_token, size, ahead, _sent_at)] = chain.steps
    assert (size, ahead) == (12, 8)
    # The rest of A's backlog is still due, not leased away.
    later = dispatcher.store.claim(
        now=clock.now(), limit=100, owner="other", lease=timedelta(minutes=5)
    )
    assert len(later) == 20


def test_the_chain_keeps_pumping_while_work_is_due_and_stops_when_idle() -> None:
    settings = CelerySettings(chunk=5, batch_size=40)
    dispatcher, webhooks, transport, clock = setup(lambda _request: 200, settings=settings)
    subscribe(dispatcher, ENDPOINT_A)
    for n in range(150):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    sizes: list[int] = []
    chain = webhooks.pump_task.apply_async
    assert isinstance(chain, Chain)

    def attempt(ids: list[str], owner: str) -> None:
        webhooks.attempt(ids, owner, f"task-{len(transport.requests)}")

    webhooks.attempt_task.apply_async = Sent(run=attempt)  # type: ignore[method-assign]
    handed = webhooks.pump()
    while chain.steps:
        token, size, count, sent_at = chain.steps.pop(0)
        clock.advance(seconds=0.01)  # the pool takes a round in 10 ms: rounds grow
        handed += webhooks.pump(token, size=size, handed=count, sent_at=sent_at)
        sizes.append(size)

    assert handed == 150
    assert len(transport.requests) == 150
    # 20, then doubling to the largest round (40) while the pool keeps up; the last step
    # found nothing due and ended the chain.
    assert sizes == [20, 40, 40, 40, 40]
    assert dispatcher.store.acquire_lease(
        "acadio_webhooks.pump-chain", "someone-else", now=clock.now(), ttl=timedelta(seconds=1)
    )


def test_a_pump_started_while_a_chain_runs_leaves_the_work_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dispatcher, webhooks, _transport, clock = setup(lambda _request: 200)
    subscribe(dispatcher, ENDPOINT_A)
    for n in range(300):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    monkeypatch.setattr(webhooks.attempt_task, "apply_async", Sent())
    chain = webhooks.pump_task.apply_async
    assert isinstance(chain, Chain)

    assert webhooks.pump() == 200  # the first round: 4 chunks of 50
    assert webhooks.pump() == 0  # beat's, a kick's: the chain's next round sees the work
    [step] = chain.steps
    clock.advance(seconds=10)
    token, size, count, sent_at = step
    assert webhooks.pump(token, size=size, handed=count, sent_at=sent_at) == 100

    # A step lost with its process: once the chain's lease lapses, beat starts a new chain,
    # and the stale step, should it still arrive, stops instead of running a second chain.
    chain.steps.clear()
    for n in range(10):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    clock.advance(seconds=16)
    assert webhooks.pump() == 10
    assert webhooks.pump(token, size=size, handed=count, sent_at=sent_at) == 0


def test_the_pump_keeps_a_rate_limited_endpoint_within_its_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dispatcher, webhooks, _transport, clock = setup(lambda _request: 200)
    integration = dispatcher.integrations.install("t", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", ENDPOINT_A, rate_limit=5.0)
    dispatcher.integrations.subscribe(integration.id, "identity/*", ENDPOINT_B)
    for n in range(12):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    for n in range(12):
        dispatcher.emit("identity/user/create", {"n": n}, tenant="t")
    sent = Sent(run=lambda ids, owner: webhooks.attempt(ids, owner, f"task-{len(sent.calls)}"))
    monkeypatch.setattr(webhooks.attempt_task, "apply_async", sent)

    def pumped() -> dict[str, int]:
        before = len(sent.calls)
        pump(webhooks)
        handed: dict[str, int] = {}
        for args, _options in sent.calls[before:]:
            for delivery_id in args[0]:
                family = dispatcher.delivery(delivery_id).topic.split("/")[0]
                handed[family] = handed.get(family, 0) + 1
        return handed

    # One second's worth of A (its burst) and all of B: B never waits behind A's limit.
    assert pumped() == {"course": 5, "identity": 12}
    assert pumped() == {}  # the same instant: A's next one is not due yet
    clock.advance(timedelta(seconds=1))
    assert pumped() == {"course": 5}  # five a second, however often the pump runs
    clock.advance(timedelta(seconds=0.4))
    assert pumped() == {"course": 2}
    delivered = dispatcher.deliveries(status=DeliveryStatus.DELIVERED).items
    assert len(delivered) == 24
    assert sum(d.attempts for d in delivered) == 24  # waiting for the limit used no attempt


def test_beat_schedules_the_pump_and_the_notices() -> None:
    app = Celery("test", broker="memory://", set_as_current=False)
    webhooks = CeleryDelivery(
        app, MemoryStore(), settings=CelerySettings(pump_interval=2.0, notify_interval=60.0)
    )
    schedule = app.conf.beat_schedule
    assert schedule[webhooks.pump_task.name]["schedule"] == 2.0
    assert schedule[webhooks.notify_task.name]["schedule"] == 60.0
    assert webhooks.attempt_task.acks_late
    assert webhooks.attempt_task.reject_on_worker_lost


def test_beat_prunes_history_past_retention_unless_told_to_keep_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dispatcher, webhooks, _transport, clock = setup(lambda _request: 200)
    subscribe(dispatcher, ENDPOINT_A)
    sent = Sent(run=lambda ids, owner: webhooks.attempt(ids, owner, f"task-{len(sent.calls)}"))
    monkeypatch.setattr(webhooks.attempt_task, "apply_async", sent)
    old = dispatcher.emit("course/completion/create", {"n": 1}, tenant="t")
    assert pump(webhooks) == 1
    clock.advance(days=31)
    recent = dispatcher.emit("course/completion/create", {"n": 2}, tenant="t")
    assert pump(webhooks) == 1
    assert old is not None
    assert recent is not None
    assert webhooks.prune_task is not None
    assert webhooks.beat_schedule()[webhooks.prune_task.name]["schedule"] == 3600.0

    assert webhooks.prune() == 1
    assert dispatcher.event(recent).id == recent
    with pytest.raises(NotFound):
        dispatcher.event(old)

    keeping = CeleryDelivery(
        Celery("keep", broker="memory://", set_as_current=False),
        MemoryStore(),
        settings=CelerySettings(retention=None),
    )
    assert keeping.prune_task is None
    assert keeping.prune() == 0
    assert set(keeping.beat_schedule()) == {keeping.pump_task.name, keeping.notify_task.name}


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="chunk"):
        CelerySettings(chunk=0)
    with pytest.raises(ValueError, match="per_endpoint"):
        CelerySettings(per_endpoint=0)
    with pytest.raises(ValueError, match="task_seconds"):
        CelerySettings(task_seconds=0)
    with pytest.raises(ValueError, match="lease"):
        CelerySettings(lease=timedelta(0))
    with pytest.raises(ValueError, match="retention"):
        CelerySettings(retention=timedelta(days=-1))


def test_requests_are_signed_by_the_same_core() -> None:
    seen: list[OutboundRequest] = []

    def handler(request: OutboundRequest) -> int:
        seen.append(request)
        return 200

    dispatcher, webhooks, _transport, clock = setup(handler)
    [delivery_id] = pumped(dispatcher, clock, 1)
    webhooks.attempt([delivery_id], "pump", "task")

    [request] = seen
    # Signed at the fake clock's time: verify as of then.
    signed = verify(request.body, request.headers, SECRET, now=clock.now())
    assert signed.id == dispatcher.delivery(delivery_id).event_id


def setup_default_transport(
    monkeypatch: pytest.MonkeyPatch, handler: Any, settings: CelerySettings
) -> tuple[Dispatcher, CeleryDelivery, AsyncRecordingTransport, FakeClock]:
    """Like :func:`setup`, but the host names no transport: the Celery path makes its own
    async one (recorded here in place of the network)."""
    transport = AsyncRecordingTransport(handler)
    made: list[dict[str, Any]] = []

    def fastest(**options: Any) -> AsyncRecordingTransport:
        made.append(options)
        return transport

    monkeypatch.setattr("acadio_webhooks.celery.default_async_transport", fastest)
    clock = FakeClock()
    store = MemoryStore()
    dispatcher = Dispatcher(store, clock=clock, resolver=RESOLVER)
    webhooks = CeleryDelivery(
        Celery("test", broker="memory://", set_as_current=False),
        store,
        clock=clock,
        resolver=RESOLVER,
        settings=settings,
        schedule=False,
    )
    webhooks._resources.get()  # what the first task in a pool process does
    assert made[0]["resolver"] is RESOLVER  # SSRF pinning uses the host's resolver
    return dispatcher, webhooks, transport, clock


def test_the_default_transport_attempts_a_chunk_several_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_flight, most = 0, 0

    async def answer(_request: OutboundRequest) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return 200

    settings = CelerySettings(concurrency=3)
    dispatcher, webhooks, transport, clock = setup_default_transport(monkeypatch, answer, settings)
    delivery_ids = pumped(dispatcher, clock, 10)

    assert webhooks.attempt(delivery_ids, "pump", "task") == 10
    assert most == 3  # never more than concurrency at once to the one endpoint
    assert len(dispatcher.deliveries(status=DeliveryStatus.DELIVERED).items) == 10
    for request in transport.requests:
        verify(request.body, request.headers, SECRET, now=clock.now())

    webhooks._resources.close()  # what a stopping pool process does
    assert transport.closed


@pytest.mark.parametrize("transport_kind", ["host's sync transport", "default async transport"])
def test_an_attempt_task_gives_back_what_it_cannot_start_in_task_seconds(
    monkeypatch: pytest.MonkeyPatch, transport_kind: str
) -> None:
    elapsed = [0.0]

    def slow(_request: OutboundRequest) -> int:
        elapsed[0] += 0.6  # each attempt takes 0.6 s of the task's 1 s
        return 200

    async def slow_async(request: OutboundRequest) -> int:
        answer = slow(request)
        await asyncio.sleep(0)  # lets the other lane start meanwhile
        return answer

    # The time module's own: the task sets its deadline and the senders check it by it.
    monkeypatch.setattr("acadio_webhooks.celery._senders.time.monotonic", lambda: elapsed[0])
    if transport_kind == "host's sync transport":
        dispatcher, webhooks, transport, clock = setup(slow)
    else:
        settings = CelerySettings(concurrency=2)
        dispatcher, webhooks, transport, clock = setup_default_transport(
            monkeypatch, slow_async, settings
        )
    delivery_ids = pumped(dispatcher, clock, 5)

    # One after another: started at 0 and 0.6 s. Two at a time: both started before 1 s.
    # Either way, by 1.2 s the task is past its second: three go back.
    assert webhooks.attempt(delivery_ids, "pump", "task") == 2
    assert len(transport.requests) == 2
    statuses = [dispatcher.delivery(ident).status for ident in delivery_ids]
    assert statuses.count(DeliveryStatus.DELIVERED) == 2
    returned = dispatcher.store.claim(
        now=clock.now(), limit=5, owner="next-round", lease=timedelta(minutes=5)
    )
    assert len(returned) == 3  # due again at once, not leased away for five minutes


def test_a_pool_process_that_cannot_open_its_store_at_start_tries_again_in_its_first_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    opened: list[str] = []

    def open_store() -> MemoryStore:
        opened.append("tried")
        if len(opened) == 1:
            raise ConnectionError("postgresql://lms:hunter2@db/lms is unreachable")
        return store

    transport = RecordingTransport(lambda _request: 200)
    webhooks = CeleryDelivery(
        Celery("test", broker="memory://", set_as_current=False),
        open_store,
        transport=lambda: transport,
        schedule=False,
    )
    webhooks.pump_task.apply_async = Chain()  # type: ignore[method-assign]
    webhooks._warm()  # what the pool process's start (worker_process_init) runs, in a thread
    assert "ConnectionError" in caplog.text
    assert "hunter2" not in caplog.text  # the store's address may hold a password
    assert webhooks.pump() == 0  # nothing due, but the store opened this time
    assert opened == ["tried", "tried"]
