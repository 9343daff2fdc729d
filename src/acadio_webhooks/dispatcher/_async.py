"""The async dispatcher, for FastAPI, Starlette and other asyncio hosts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread

from acadio_webhooks._async_outbox import async_host_connection, run_joined
from acadio_webhooks._emitter import NewEvent
from acadio_webhooks._host import HOST_PARAMETERS_DOC, DispatcherBase, delivery_query, tallied
from acadio_webhooks.domain.models import Attempt, Delivery, Event
from acadio_webhooks.domain.payloads import EventData
from acadio_webhooks.domain.retention import PruneReport
from acadio_webhooks.ports.storage import DeliveryQuery, Page
from acadio_webhooks.ports.transport import AsyncTransport
from acadio_webhooks.worker import AsyncWorker, DrainReport

__all__ = ["AsyncDispatcher"]


class AsyncDispatcher(DispatcherBase[AsyncTransport]):
    """The async dispatcher: for FastAPI, Starlette and other asyncio hosts.

    Same methods as :class:`Dispatcher`, awaited. Store calls run in a worker thread, so the
    event loop never blocks on the database; an ``emit`` joined to the host's
    ``AsyncConnection`` runs on the loop, through the host's async driver.
    """

    __doc__ = (__doc__ or "") + HOST_PARAMETERS_DOC

    async def emit(
        self,
        topic: str,
        data: EventData,
        *,
        tenant: str,
        dedup_key: str | None = None,
        occurred_at: datetime | None = None,
        connection: object | None = None,
        subject: str | None = None,
    ) -> str | None:
        """Store an event and its deliveries; see :meth:`Dispatcher.emit`.

        ``connection``: the host's SQLAlchemy ``AsyncConnection`` (or ``AsyncSession``) inside
        its own transaction, on PostgreSQL (asyncpg, psycopg) or SQLite (aiosqlite): the event
        and its deliveries are written on it, on the event loop, and commit or roll back with
        the host's rows. Without it the store's own transaction runs in a worker thread.
        """
        emitter = self._host.emitter

        def emit_on(target: object | None) -> str | None:
            return emitter.emit(
                topic,
                data,
                tenant=tenant,
                dedup_key=dedup_key,
                occurred_at=occurred_at,
                connection=target,
                subject=subject,
            )

        joined = async_host_connection(connection)
        if joined is not None:
            return await run_joined(joined, emit_on)
        return await anyio.to_thread.run_sync(emit_on, connection)

    async def emit_many(
        self, events: Iterable[NewEvent], *, connection: object | None = None
    ) -> list[str | None]:
        """Store many events in one transaction; see :meth:`Dispatcher.emit_many`.
        ``connection`` as for :meth:`emit`."""
        batch = list(events)  # iterated here, on the caller's thread, not the worker thread
        emitter = self._host.emitter

        def emit_on(target: object | None) -> list[str | None]:
            return emitter.emit_many(batch, connection=target)

        joined = async_host_connection(connection)
        if joined is not None:
            return await run_joined(joined, emit_on)
        return await anyio.to_thread.run_sync(emit_on, connection)

    async def send_test_event(self, subscription_id: str, *, topic: str | None = None) -> str:
        """See :meth:`Dispatcher.send_test_event`."""
        return await anyio.to_thread.run_sync(self._host.send_test_event, subscription_id, topic)

    async def resend(self, delivery_id: str) -> Delivery:
        """See :meth:`Dispatcher.resend`."""
        return await anyio.to_thread.run_sync(self._host.resend, delivery_id)

    async def resend_failed(self, integration_id: str, *, since: datetime) -> int:
        """See :meth:`Dispatcher.resend_failed`."""
        return await anyio.to_thread.run_sync(self._host.resend_failed, integration_id, since)

    async def prune(
        self,
        older_than: timedelta,
        *,
        dry_run: bool = False,
        batch_size: int = 500,
        progress: Callable[[PruneReport], None] | None = None,
    ) -> PruneReport:
        """See :meth:`Dispatcher.prune`; each batch runs in a worker thread, and cancelling
        stops between batches."""
        batches = self._host.prune(older_than, dry_run, batch_size)
        return await _totalled_off_loop(batches, dry_run, progress)

    async def erase(
        self,
        *,
        subject: str | None = None,
        tenant: str | None = None,
        dry_run: bool = False,
        batch_size: int = 500,
        progress: Callable[[PruneReport], None] | None = None,
    ) -> PruneReport:
        """See :meth:`Dispatcher.erase`; each batch runs in a worker thread, and cancelling
        stops between batches."""
        batches = self._host.erase(subject, tenant, dry_run, batch_size)
        return await _totalled_off_loop(batches, dry_run, progress)

    async def deliveries(
        self, query: DeliveryQuery | None = None, **filters: Any
    ) -> Page[Delivery]:
        """See :meth:`Dispatcher.deliveries`."""
        resolved = delivery_query(query, filters)
        return await anyio.to_thread.run_sync(self._host.store.list_deliveries, resolved)

    async def delivery(self, delivery_id: str) -> Delivery:
        """See :meth:`Dispatcher.delivery`."""
        return await anyio.to_thread.run_sync(self._host.store.get_delivery, delivery_id)

    async def attempts(self, delivery_id: str) -> list[Attempt]:
        """See :meth:`Dispatcher.attempts`."""
        return await anyio.to_thread.run_sync(self._host.store.list_attempts, delivery_id)

    async def event(self, event_id: str) -> Event:
        """See :meth:`Dispatcher.event`."""
        return await anyio.to_thread.run_sync(self._host.store.get_event, event_id)

    def worker(self) -> AsyncWorker:
        """An :class:`AsyncWorker` on this dispatcher's store, transport and policies."""
        return AsyncWorker(self._host.store, self._async_transport(), **self._host.worker_options())

    async def drain(self) -> DrainReport:
        """Send everything due now, then flush failure notices (tests, cron)."""
        return await self.worker().drain()

    async def run_worker(self, stop: Any = None) -> None:
        """Deliver until the ``asyncio.Event`` ``stop`` is set; emits here (and on PostgreSQL,
        emits of other processes) wake it at once."""
        worker = self.worker()
        self._host.wakers.append(worker)
        await anyio.to_thread.run_sync(self._host.listen, worker.wake)
        try:
            await worker.run(stop)
        finally:
            self._host.unlisten(worker.wake)
            self._host.wakers.remove(worker)

    async def aclose(self) -> None:
        """Close the transport and the store."""
        await anyio.to_thread.run_sync(self._host.stop_listening)
        if self._transport is not None:
            await self._transport.close()
        await anyio.to_thread.run_sync(self._host.store.close)

    async def __aenter__(self) -> AsyncDispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _async_transport(self) -> AsyncTransport:
        if self._transport is None:
            from acadio_webhooks.adapters.transport.default import default_async_transport

            self._transport = default_async_transport(
                policy=self._host.endpoint_policy, resolver=self._host.resolver
            )
        return self._transport


async def _totalled_off_loop(
    batches: Iterator[PruneReport],
    dry_run: bool,
    progress: Callable[[PruneReport], None] | None,
) -> PruneReport:
    """The sum of a prune's (or an erasure's) batches, each run in a worker thread; a
    cancellation stops between batches, and ``progress`` is told on the event loop."""
    total = PruneReport(dry_run=dry_run)
    while (batch := await anyio.to_thread.run_sync(next, batches, None)) is not None:
        total = tallied(total, batch, progress)
    return total
