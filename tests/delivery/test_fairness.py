"""Fairness: one slow or dead endpoint cannot starve the others.

A worker holds at most a few waves (``WAVES_HELD`` x ``per_endpoint``) of one subscription's
deliveries and asks the store for other work meanwhile; the circuit breaker pauses an endpoint
that keeps failing, and the worker hands back what it had queued for it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import timedelta

import pytest

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.transport.recording import AsyncRecordingTransport
from acadio_webhooks.dispatcher import AsyncDispatcher
from acadio_webhooks.domain.core import CircuitBreaker, DeliveryPolicy
from acadio_webhooks.domain.messages import OutboundRequest
from acadio_webhooks.worker import WorkerSettings
from tests.reliability.worlds import eventually

pytestmark = pytest.mark.anyio

SECRET = "whsec-0123456789abcdef"
RESOLVER = StaticResolver(
    {"slow.example.com": ["93.184.216.1"], "ok.example.com": ["93.184.216.2"]}
)
SLOW = "https://slow.example.com/hook"
FAST = "https://ok.example.com/hook"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def backlog(dispatcher: AsyncDispatcher, *, old: int, new: int) -> None:
    """``old`` deliveries to SLOW, then ``new`` to FAST: the slow backlog is due first."""
    integration = dispatcher.integrations.install("t", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/completion/create", SLOW)
    dispatcher.integrations.subscribe(integration.id, "identity/user/create", FAST)
    for n in range(old):
        await dispatcher.emit("course/completion/create", {"n": n}, tenant="t")
    for n in range(new):
        await dispatcher.emit("identity/user/create", {"n": n}, tenant="t")


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    try:
        await eventually(condition, within=30)
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what}") from None


async def test_an_old_backlog_on_a_slow_endpoint_does_not_fill_the_worker() -> None:
    release_slow = asyncio.Event()
    answered: list[str] = []

    async def handler(request: OutboundRequest) -> int:
        if request.url == SLOW:
            await release_slow.wait()
        answered.append(request.url)
        return 200

    settings = WorkerSettings(concurrency=4, per_endpoint=2, batch_size=10)
    dispatcher = AsyncDispatcher(
        MemoryStore(),
        resolver=RESOLVER,
        transport=AsyncRecordingTransport(handler),
        settings=settings,
    )
    await backlog(dispatcher, old=30, new=10)
    drain = asyncio.ensure_future(dispatcher.drain())
    # Every fast delivery gets through while the slow endpoint holds its two slots.
    await wait_for(lambda: answered.count(FAST) == 10, "the fast endpoint's deliveries")
    assert answered.count(SLOW) == 0
    release_slow.set()
    report = await asyncio.wait_for(drain, 30)
    assert report.delivered == 40


async def test_a_dead_endpoint_is_paused_and_the_others_are_served() -> None:
    async def handler(request: OutboundRequest) -> int:
        return 503 if request.url == SLOW else 200

    transport = AsyncRecordingTransport(handler)
    policy = DeliveryPolicy(breaker=CircuitBreaker(threshold=3), rng=random.Random(3))
    dispatcher = AsyncDispatcher(
        MemoryStore(),
        resolver=RESOLVER,
        transport=transport,
        policy=policy,
        settings=WorkerSettings(concurrency=4, per_endpoint=1, batch_size=20),
    )
    await backlog(dispatcher, old=20, new=10)
    report = await asyncio.wait_for(dispatcher.drain(), 30)

    # Three failures open the breaker (per_endpoint=1: one at a time); nothing else is sent
    # to the dead endpoint, and nothing of it is lost: it all waits, pending.
    assert len(transport.requests_to(SLOW)) == 3
    assert len(transport.requests_to(FAST)) == 10
    assert report.delivered == 10
    dead = (await dispatcher.deliveries(status="pending", limit=100)).items
    assert len(dead) == 20
    subscription = next(
        s for s in dispatcher.store.list_subscriptions(dead[0].integration_id) if s.endpoint == SLOW
    )
    assert subscription.paused_until is not None
    assert subscription.paused_until - subscription.failing_since >= timedelta(seconds=30)  # type: ignore[operator]
    assert subscription.active
