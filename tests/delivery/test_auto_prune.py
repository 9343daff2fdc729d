"""Pruning by itself: the worker's retention setting, one pruner of a fleet at a time."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport.recording import (
    AsyncRecordingTransport,
    RecordingTransport,
)
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.retention import PruneReport
from acadio_webhooks.errors import NotFound
from acadio_webhooks.pruning import PRUNE_LEASE, Pruner
from acadio_webhooks.worker import AsyncWorker, WorkerSettings
from tests.loopback import wait_until

SECRET = "whsec-0123456789abcdef"
ENDPOINT = "https://up.example.com/hooks"
RESOLVER = StaticResolver({"up.example.com": ["93.184.216.34"]})
MONTH = timedelta(days=30)


def _history(path: Path, clock: FakeClock, *, old: int, recent: int) -> tuple[list[str], list[str]]:
    """``old`` events delivered 31 days ago and ``recent`` delivered now, in a SQLite file."""
    with Dispatcher(
        SqlStore(path), clock=clock, transport=RecordingTransport(), resolver=RESOLVER
    ) as dispatcher:
        integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
        dispatcher.integrations.subscribe(integration.id, "course/*", ENDPOINT)
        emit = dispatcher.emit
        olds = [emit("course/completion/create", {"n": n}, tenant="tenant-1") for n in range(old)]
        dispatcher.drain()
        clock.advance(days=31)
        news = [
            emit("course/completion/create", {"n": n}, tenant="tenant-1") for n in range(recent)
        ]
        dispatcher.drain()
    return [e for e in olds if e], [e for e in news if e]


def _kept(store: SqlStore, event_ids: list[str]) -> list[str]:
    kept = []
    for event_id in event_ids:
        try:
            kept.append(store.get_event(event_id).id)
        except NotFound:
            pass
    return kept


def test_a_pruner_deletes_what_is_past_retention_in_batches(tmp_path: Path) -> None:
    clock = FakeClock()
    old, recent = _history(tmp_path / "w.db", clock, old=5, recent=2)
    store = SqlStore(tmp_path / "w.db")
    batches: list[int] = []
    pruner = Pruner(store, retention=MONTH, clock=clock, batch_size=2)

    report = pruner.prune(keep_going=lambda: batches.append(1) is None)

    assert report == PruneReport(events=5, deliveries=5, attempts=5, examined=5)
    assert len(batches) >= 3  # 5 events, 2 per batch
    assert _kept(store, old) == []
    assert _kept(store, recent) == recent
    store.close()


def test_a_fleet_prunes_once_per_interval_whichever_pruner_gets_there_first(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    old, _recent = _history(tmp_path / "w.db", clock, old=2, recent=0)
    first, second = SqlStore(tmp_path / "w.db"), SqlStore(tmp_path / "w.db")
    interval = timedelta(hours=1)
    one = Pruner(first, retention=MONTH, clock=clock, interval=interval, owner="one")
    other = Pruner(second, retention=MONTH, clock=clock, interval=interval, owner="other")

    assert one.prune() == PruneReport(events=2, deliveries=2, attempts=2, examined=2)
    assert other.prune() is None  # the lease holds for an interval after the last batch
    assert one.prune() == PruneReport()  # its holder may prune again (its own next tick)
    clock.advance(minutes=61)
    assert other.prune() == PruneReport()  # the lease ran out: anyone's turn
    assert one.prune() is None
    assert _kept(first, old) == []
    first.close()
    second.close()


def test_a_stopping_worker_ends_its_prune_after_the_batch_in_hand(tmp_path: Path) -> None:
    clock = FakeClock()
    old, _recent = _history(tmp_path / "w.db", clock, old=6, recent=0)
    store = SqlStore(tmp_path / "w.db")
    pruner = Pruner(store, retention=MONTH, clock=clock, batch_size=2)

    assert pruner.prune(keep_going=lambda: False) == PruneReport(
        events=2, deliveries=2, attempts=2, examined=2
    )
    assert len(_kept(store, old)) == 4  # the rest waits for the next prune
    store.close()


def test_a_pruner_that_lost_its_lease_stops_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    old, _recent = _history(tmp_path / "w.db", clock, old=6, recent=0)
    store = SqlStore(tmp_path / "w.db")
    interval = timedelta(hours=1)
    slow = Pruner(store, retention=MONTH, clock=clock, interval=interval, batch_size=2)

    def a_batch_outlives_the_lease() -> bool:
        clock.advance(hours=2)
        assert store.acquire_lease(PRUNE_LEASE, "someone-else", now=clock.now(), ttl=interval)
        return True

    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.pruning"):
        report = slow.prune(keep_going=a_batch_outlives_the_lease)

    assert report is not None
    assert report.events == 2
    assert len(_kept(store, old)) == 4
    assert "lost the acadio_webhooks.prune lease after 1 batches" in caplog.text
    store.close()


def test_nonsense_pruning_settings_are_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="retention must be a positive timedelta or None"):
        WorkerSettings(retention=timedelta(0))
    with pytest.raises(ValueError, match="retention must be a positive timedelta"):
        WorkerSettings(retention=30)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prune interval"):
        WorkerSettings(prune_interval=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="prune batch size"):
        WorkerSettings(prune_batch_size=0)
    assert WorkerSettings().retention == MONTH  # the documented default
    assert WorkerSettings(retention=None).retention is None


@pytest.mark.parametrize("retention", [MONTH, None])
def test_a_running_worker_prunes_by_itself_unless_told_to_keep_everything(
    tmp_path: Path, retention: timedelta | None
) -> None:
    clock = FakeClock()
    old, recent = _history(tmp_path / "w.db", clock, old=3, recent=1)
    store = SqlStore(tmp_path / "w.db")

    async def run_for_a_while() -> None:
        worker = AsyncWorker(
            store,
            AsyncRecordingTransport(),
            clock=clock,
            settings=WorkerSettings(retention=retention, poll_interval=0.05),
        )
        stop = asyncio.Event()
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run, stop)
            if retention is not None:
                await anyio.to_thread.run_sync(
                    lambda: wait_until(lambda: not _kept(store, old), timeout=30)
                )
            else:
                # The worker would have pruned at start: it has run its first rounds by now.
                await anyio.sleep(0.5)
            stop.set()

    asyncio.run(run_for_a_while())
    assert _kept(store, old) == ([] if retention is not None else old)
    assert _kept(store, recent) == recent
    store.close()
