"""``Dispatcher.prune`` and its async twin: retention as a host calls it, on a fake clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from acadio_webhooks.dispatcher import AsyncDispatcher, Dispatcher
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.retention import PruneReport
from acadio_webhooks.errors import NotFound

SECRET = "whsec-0123456789abcdef"
UP = "https://up.example.com/hooks"
DOWN = "https://down.example.com/hooks"
RESOLVER = StaticResolver(
    {"up.example.com": ["93.184.216.34"], "down.example.com": ["93.184.216.35"]}
)


def _dispatcher(path: Path, clock: FakeClock) -> Dispatcher:
    status = {UP: 200, DOWN: 503}
    dispatcher = Dispatcher(
        SqlStore(path),
        clock=clock,
        transport=RecordingTransport(lambda request: status[request.url]),
        resolver=RESOLVER,
    )
    integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", UP)
    return dispatcher


def test_prune_deletes_what_was_delivered_before_the_retention_period(tmp_path: Path) -> None:
    clock = FakeClock()
    dispatcher = _dispatcher(tmp_path / "webhooks.db", clock)
    old = [
        dispatcher.emit("course/completion/create", {"n": n}, tenant="tenant-1") for n in range(3)
    ]
    dispatcher.drain()
    clock.advance(days=31)
    recent = dispatcher.emit("course/completion/create", {"n": 3}, tenant="tenant-1")
    dispatcher.drain()
    [old_delivery] = dispatcher.deliveries(event_id=old[0]).items

    seen: list[PruneReport] = []
    would = dispatcher.prune(timedelta(days=30), dry_run=True, progress=seen.append)
    assert would == PruneReport(events=3, deliveries=3, attempts=3, examined=3, dry_run=True)
    assert seen[-1] == would
    assert dispatcher.event(old[0]).id == old[0]  # nothing deleted yet

    assert dispatcher.prune(timedelta(days=30)) == PruneReport(
        events=3, deliveries=3, attempts=3, examined=3
    )
    for event_id in old:
        with pytest.raises(NotFound):
            dispatcher.event(event_id)
    assert recent is not None
    assert dispatcher.event(recent).id == recent
    with pytest.raises(NotFound, match="pruned with its event's history"):
        dispatcher.resend(old_delivery.id)
    dispatcher.close()


def test_a_delivery_still_retrying_keeps_its_event_however_old(tmp_path: Path) -> None:
    clock = FakeClock()
    dispatcher = _dispatcher(tmp_path / "webhooks.db", clock)
    integration = dispatcher.integrations.install("tenant-2", secret=SECRET)
    dispatcher.integrations.subscribe(integration.id, "course/*", DOWN)
    failing = dispatcher.emit("course/completion/create", {"n": 1}, tenant="tenant-2")
    assert failing is not None
    dispatcher.drain()  # first attempt fails: pending, retried later
    clock.advance(days=40)
    assert dispatcher.prune(timedelta(days=30)).events == 0
    [pending] = dispatcher.deliveries(event_id=failing).items
    assert pending.status is DeliveryStatus.PENDING
    dispatcher.close()


@pytest.mark.parametrize("older_than", [timedelta(0), timedelta(days=-1)])
def test_prune_refuses_a_period_that_is_not_positive(tmp_path: Path, older_than: timedelta) -> None:
    dispatcher = _dispatcher(tmp_path / "webhooks.db", FakeClock())
    with pytest.raises(ValueError, match="older_than must be positive"):
        dispatcher.prune(older_than)
    dispatcher.close()


def test_the_async_twin_prunes_batch_by_batch(tmp_path: Path) -> None:
    clock = FakeClock()
    sync = _dispatcher(tmp_path / "webhooks.db", clock)
    for n in range(5):
        sync.emit("course/completion/create", {"n": n}, tenant="tenant-1")
    sync.drain()
    clock.advance(days=31)
    dispatcher = AsyncDispatcher(sync.store, clock=clock, resolver=RESOLVER)
    seen: list[PruneReport] = []

    async def prune() -> PruneReport:
        return await dispatcher.prune(timedelta(days=30), batch_size=2, progress=seen.append)

    report = anyio.run(prune)
    assert report == PruneReport(events=5, deliveries=5, attempts=5, examined=5)
    assert [total.events for total in seen][:3] == [2, 4, 5]
    sync.close()
