"""The async column of ``bench_emit.py``: ``AsyncDispatcher.emit`` as an asyncio host calls it.

``async emit (thread)``
    ``await dispatcher.emit(...)`` without a connection: the store's own transaction in a
    worker thread (anyio's pool), one hop there and back per event.
``async emit, joined``
    ``async with engine.begin() as conn: await dispatcher.emit(..., connection=conn)``: the
    host's ``AsyncConnection`` (aiosqlite on SQLite, asyncpg on PostgreSQL), its begin and
    commit included, the statements run on the event loop through ``run_sync``.

Both run on one event loop kept for the whole benchmark; only the awaited emits are timed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.dispatcher import AsyncDispatcher
from acadio_webhooks.domain.endpoints import EndpointPolicy

__all__ = ["AsyncEmits"]

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


def async_url(url: URL) -> URL | None:
    """The store's database through an async driver, or None where none is tested."""
    driver = _ASYNC_DRIVERS.get(url.get_backend_name())
    return None if driver is None else url.set(drivername=driver)


class AsyncEmits:
    """The async cases for one store, on a loop of their own; :meth:`close` when done."""

    def __init__(self, store: SqlStore, topic: str, data: dict[str, Any], tenant: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._dispatcher = AsyncDispatcher(
            store, endpoint_policy=EndpointPolicy(allow_insecure=True)
        )
        url = async_url(store.engine.url)
        self._engine: AsyncEngine | None = None if url is None else create_async_engine(url)
        self._emit = (topic, data, tenant)

    def cases(self) -> dict[str, Callable[[int], float]]:
        """Each case: a function storing ``count`` events, returning the seconds it took."""
        found = {"async emit (thread)": self._threaded}
        if self._engine is not None:
            found["async emit, joined"] = self._joined
        return found

    def _threaded(self, count: int) -> float:
        topic, data, tenant = self._emit

        async def run() -> float:
            started = time.perf_counter()
            for _ in range(count):
                await self._dispatcher.emit(topic, data, tenant=tenant)
            return time.perf_counter() - started

        return self._loop.run_until_complete(run())

    def _joined(self, count: int) -> float:
        topic, data, tenant = self._emit
        engine = self._engine
        assert engine is not None

        async def run() -> float:
            started = time.perf_counter()
            for _ in range(count):
                async with engine.begin() as conn:
                    await self._dispatcher.emit(topic, data, tenant=tenant, connection=conn)
            return time.perf_counter() - started

        return self._loop.run_until_complete(run())

    def close(self) -> None:
        if self._engine is not None:
            self._loop.run_until_complete(self._engine.dispose())
        self._loop.close()
