"""Building blocks of the reliability suites: real stores, real transports, and the
bookkeeping that proves nothing was lost."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport import TransportTimeouts
from acadio_webhooks.adapters.transport.httpx import AsyncHttpxTransport, HttpxTransport
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.models import Attempt, Delivery, DeliveryStatus
from acadio_webhooks.ports.storage import DeliveryQuery, Store
from acadio_webhooks.ports.transport import AsyncTransport
from acadio_webhooks.worker import AsyncWorker

SECRET = "whsec-reliability-0123456789abcdef"
INSECURE = EndpointPolicy(allow_insecure=True)
ASYNC_TRANSPORTS = ["httpx-async", "aiohttp", "httptools"]
FINAL = {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED}


def sqlite_store(folder: Path, name: str = "webhooks.db") -> SqlStore:
    return SqlStore(folder / name)


def loopback_names(names: Iterable[str]) -> StaticResolver:
    """Every name resolves to 127.0.0.1 (only with an ``allow_insecure`` policy)."""
    return StaticResolver({name: ["127.0.0.1"] for name in names})


def async_transport(kind: str, **options: Any) -> AsyncTransport:
    if kind == "httpx-async":
        return AsyncHttpxTransport(**options)
    if kind == "aiohttp":
        from acadio_webhooks.adapters.transport.aiohttp import AiohttpTransport

        return AiohttpTransport(**options)
    if kind == "httptools":
        from acadio_webhooks.adapters.transport.httptools import HttptoolsTransport

        return HttptoolsTransport(**options)
    raise ValueError(kind)


def sync_transport(**options: Any) -> HttpxTransport:
    return HttpxTransport(**options)


def timeouts(total: float, *, step: float | None = None) -> TransportTimeouts:
    """Connect, read and write bounds of ``step`` (half the total by default)."""
    each = step if step is not None else total / 2
    return TransportTimeouts(connect=each, read=each, write=each, total=total)


def all_deliveries(store: Store, **filters: Any) -> list[Delivery]:
    """Every delivery matching ``filters``, through the store's own paging."""
    found: list[Delivery] = []
    cursor = None
    while True:
        page = store.list_deliveries(DeliveryQuery(limit=500, cursor=cursor, **filters))
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


@dataclass(frozen=True)
class Ledger:
    """What the store holds, summed: the numbers that must reconcile after a run."""

    deliveries: int
    by_status: dict[DeliveryStatus, int]
    attempts_recorded: int
    attempts_counted: int

    @property
    def unfinished(self) -> int:
        return sum(n for status, n in self.by_status.items() if status not in FINAL)


def ledger(store: Store, deliveries: list[Delivery] | None = None) -> Ledger:
    rows = deliveries if deliveries is not None else all_deliveries(store)
    recorded = sum(len(store.list_attempts(d.id)) for d in rows)
    return Ledger(
        deliveries=len(rows),
        by_status=dict(Counter(d.status for d in rows)),
        attempts_recorded=recorded,
        attempts_counted=sum(d.attempts for d in rows),
    )


def unfinished(store: Store) -> int:
    """Deliveries not yet in a final state (cheap enough to poll: no attempts are read)."""
    return sum(d.status not in FINAL for d in all_deliveries(store))


def attempts_of(store: Store, delivery: Delivery) -> list[Attempt]:
    return store.list_attempts(delivery.id)


@asynccontextmanager
async def serving(worker: AsyncWorker) -> AsyncIterator[None]:
    """Run ``worker`` while the body runs, then stop it gracefully and close its transport.

    If the body fails, the worker is cancelled instead (an attempt held open on purpose would
    keep a graceful stop waiting) and its transport still closed, so a failing test leaves no
    socket behind to trip a later test's ResourceWarning.
    """
    stop = asyncio.Event()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(worker.run, stop)
            yield
            stop.set()
    finally:
        await worker.aclose()


async def eventually(predicate: Callable[[], bool], *, within: float, poll: float = 0.02) -> None:
    """Wait until ``predicate()`` holds (it reads a store or a server thread: nothing to await);
    raise ``TimeoutError`` after ``within`` seconds."""
    with anyio.fail_after(within):
        while not predicate():  # noqa: ASYNC110 - polls state owned by other threads
            await anyio.sleep(poll)


class RssSampler:
    """Samples this process's resident memory every few milliseconds from a thread: the
    peak over a run, compared with the level before it, bounds what the run allocated."""

    def __init__(self, interval: float = 0.005) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.baseline = rss_bytes()
        self.peak = self.baseline

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def rss_bytes() -> int:
    """Resident set size of this process now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    """File descriptors this process holds now (Linux)."""
    return len(os.listdir("/proc/self/fd"))


class Figures:
    """Counters per suite, summed over the tests of a run."""

    def __init__(self) -> None:
        self.suites: dict[str, Counter[str]] = {}

    def add(self, suite: str, **counts: int) -> None:
        self.suites.setdefault(suite, Counter()).update(counts)

    def set_max(self, suite: str, **values: int) -> None:
        counter = self.suites.setdefault(suite, Counter())
        for name, value in values.items():
            counter[name] = max(counter[name], value)

    def dump(self, path: Path) -> None:
        merged: dict[str, Any] = {}
        if path.exists():
            merged = json.loads(path.read_text())
        for suite, counts in self.suites.items():
            merged.setdefault(suite, {}).update(counts)
        path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
