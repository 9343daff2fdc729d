"""The host's entry point: ``Dispatcher`` (sync) and ``AsyncDispatcher`` (async), twins with
the same method names — awaited in the async one, as httpx's ``Client``/``AsyncClient``.

::

    dispatcher = Dispatcher("sqlite:///webhooks.db")
    integration = dispatcher.integrations.install("tenant-42", secret=key)
    dispatcher.integrations.subscribe(integration.id, "course/*", "https://example.com/hooks")
    dispatcher.emit("course/completion/create", {"course_id": 7}, tenant="tenant-42")
    dispatcher.start_worker()          # or a separate `acadio-webhooks worker` process

``emit`` stores the event and one delivery per matching active subscription before it
returns (with a SQL store it can join the host's own transaction: ``connection=``);
``emit_many`` stores a batch of :class:`NewEvent` the same way in one transaction. Workers
then deliver at least once, retrying on the policy's schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread

from acadio_webhooks._async_outbox import async_host_connection, run_joined
from acadio_webhooks._emitter import NewEvent
from acadio_webhooks._host import DispatcherBase, delivery_query, tallied
from acadio_webhooks.domain.models import Attempt, Delivery, Event
from acadio_webhooks.domain.payloads import EventData
from acadio_webhooks.domain.retention import PruneReport
from acadio_webhooks.event_loop import EventLoopName
from acadio_webhooks.ports.storage import DeliveryQuery, Page
from acadio_webhooks.ports.transport import AsyncTransport, Transport
from acadio_webhooks.worker import AsyncWorker, DrainReport, SyncWorker, WorkerThread

__all__ = ["Dispatcher", "AsyncDispatcher", "NewEvent"]

_HOST_DOC = """
    Parameters (shared by both twins):

    * ``store`` — a :class:`~acadio_webhooks.ports.storage.Store`, or a URL or path for
      ``open_store`` (``sqlite:///path.db``, a SQLite file's path, ``postgresql://...``,
      ``memory://``).
    * ``catalog`` — the topics that may be emitted (default: the 16 documented ``TOPICS``).
    * ``clock`` — time source (default: the system clock); tests pass a fake clock.
    * ``policy`` — retry schedule and endpoint-health rules (:class:`DeliveryPolicy`).
    * ``endpoint_policy`` — which endpoints are allowed; ``EndpointPolicy(allow_insecure=True)``
      permits ``http://`` and loopback for local development and tests only.
    * ``resolver`` — host-name resolution used for endpoint checks and connection pinning.
    * ``transport`` — how requests are sent: a sync ``Transport`` for ``Dispatcher.drain``
      (default: the httpx adapter), an ``AsyncTransport`` for ``AsyncDispatcher`` (default:
      the fastest installed, ``AiohttpTransport`` with the ``aiohttp`` extra, else httpx).
    * ``notifier`` — where failure notices go (e.g. ``SmtpNotifier``); None queues them only.
    * ``settings`` — worker concurrency, batch sizes, lease and intervals.
    * ``max_payload_bytes`` — largest event body ``emit`` accepts (default 256 KiB).
"""


class Dispatcher(DispatcherBase[Transport]):
    """The sync dispatcher: for Django, Flask and other sync hosts."""

    __doc__ = (__doc__ or "") + _HOST_DOC

    def emit(
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
        """Store an event and its deliveries; return the event id.

        ``subject`` names whom the event is about (``"student-3"``), so that
        :meth:`erase` can find and delete it on an erasure request; it is stored with the
        event, indexed, and never sent.

        Returns None, storing nothing, when ``dedup_key`` was seen before: for
        ``course/activity/create`` (required there) within the same UTC day, for other
        topics ever. ``connection``: the host's SQLAlchemy ``Connection`` inside its own
        transaction, so the event commits or rolls back with the host's data.

        Raises ``UnknownTopic``/``InvalidTopic`` for the topic and ``InvalidPayload`` for
        data that is not a JSON object, holds non-JSON values (NaN, bytes, objects), nests
        too deep or is too large — storing nothing.

        One transaction on a SQL store: the routing revision is read in it, and the cached
        routing index is reused while the revision is unchanged (a subscription added,
        changed or removed in any process is honoured by the next emit).
        """
        return self._host.emitter.emit(
            topic,
            data,
            tenant=tenant,
            dedup_key=dedup_key,
            occurred_at=occurred_at,
            connection=connection,
            subject=subject,
        )

    def emit_many(
        self, events: Iterable[NewEvent], *, connection: object | None = None
    ) -> list[str | None]:
        """Store many events and their deliveries in one transaction; return their ids, in
        order, with None for each one ``dedup_key`` suppressed.

        Each :class:`NewEvent` holds the arguments of :meth:`emit`, and each is treated as
        ``emit`` would treat it, only all at once: far cheaper per event on a SQL store (one
        commit for the batch; bulk jobs such as a course import). A ``dedup_key`` already
        stored, or used by an earlier event of the batch, suppresses the event (None). Deliveries
        of events with the same ``occurred_at`` are attempted in the order given.

        Every event is checked before anything is stored: a bad one raises what ``emit`` would
        raise (``UnknownTopic``, ``InvalidTopic``, ``InvalidPayload``), its message starting
        with its position (``events[3].topic: ...``), and nothing of the batch is stored.
        ``connection``: as for :meth:`emit`, the whole batch joins the host's transaction.
        The batch is held in memory and written in one transaction: pass thousands, not
        millions, at a time.
        """
        return self._host.emitter.emit_many(events, connection=connection)

    def send_test_event(self, subscription_id: str, *, topic: str | None = None) -> str:
        """Send a test event to one subscription only, of ``topic`` or the first catalog topic
        its pattern matches; return the event id. Its data is ``{"test": true, "message":
        ...}``, or for a typed topic with an example, that example."""
        return self._host.send_test_event(subscription_id, topic)

    def resend(self, delivery_id: str) -> Delivery:
        """Queue a fresh delivery of a (failed) delivery's event to the same endpoint.

        ``NotFound`` for an unknown delivery, and for one pruned with its event's history."""
        return self._host.resend(delivery_id)

    def resend_failed(self, integration_id: str, *, since: datetime) -> int:
        """Resend every failed delivery of an integration created since ``since``."""
        return self._host.resend_failed(integration_id, since)

    def prune(
        self,
        older_than: timedelta,
        *,
        dry_run: bool = False,
        batch_size: int = 500,
        progress: Callable[[PruneReport], None] | None = None,
    ) -> PruneReport:
        """Delete the delivery history older than ``older_than``; return what went.

        Events stored more than ``older_than`` ago go with their deliveries and attempts
        once every one of those deliveries is final (delivered, failed, cancelled) and was
        last changed before the same cut-off; a pending delivery keeps its event whatever
        its age. Failure notices sent before the cut-off go too; unsent ones stay. The work is
        done in batches of at most ``batch_size`` events, one short transaction each, paced
        by the store so that emits and workers carry on meanwhile (SQL stores: a few
        milliseconds each, with rests between them); ``progress`` is called with the running
        total after each. ``dry_run=True`` deletes nothing and returns what would go.

        A dedup key is remembered only as long as its event is kept.
        """
        total = PruneReport(dry_run=dry_run)
        for batch in self._host.prune(older_than, dry_run, batch_size):
            total = tallied(total, batch, progress)
        return total

    def erase(
        self,
        *,
        subject: str | None = None,
        tenant: str | None = None,
        dry_run: bool = False,
        batch_size: int = 500,
        progress: Callable[[PruneReport], None] | None = None,
    ) -> PruneReport:
        """Delete every event about ``subject`` (``emit(..., subject=...)``), or every event
        of ``tenant``, with its deliveries, their attempts and the failure notices naming it;
        return what went. For erasure requests (GDPR Art. 17, FERPA).

        Exactly one of ``subject`` and ``tenant``. Whatever the events' age or state:
        pending deliveries go too, atomically with their event, so no worker claims them
        halfway (an attempt already in flight is not recorded). Batches of at most
        ``batch_size`` events, one short transaction each, paced as :meth:`prune`'s are,
        ``progress`` told the running total after each;
        ``dry_run=True`` deletes nothing and returns what would go. Integrations and
        subscriptions stay: they are configuration (deactivate a tenant's integration with
        :meth:`~acadio_webhooks.integrations.Integrations.deactivate`).
        """
        total = PruneReport(dry_run=dry_run)
        batches = self._host.erase(subject, tenant, dry_run, batch_size)
        for batch in batches:
            total = tallied(total, batch, progress)
        return total

    def deliveries(self, query: DeliveryQuery | None = None, **filters: Any) -> Page[Delivery]:
        """List deliveries, newest first: a ``DeliveryQuery`` or its fields as keywords."""
        return self._host.store.list_deliveries(delivery_query(query, filters))

    def delivery(self, delivery_id: str) -> Delivery:
        """One delivery, or ``NotFound``."""
        return self._host.store.get_delivery(delivery_id)

    def attempts(self, delivery_id: str) -> list[Attempt]:
        """The attempts of one delivery, in order."""
        return self._host.store.list_attempts(delivery_id)

    def event(self, event_id: str) -> Event:
        """One stored event, or ``NotFound``."""
        return self._host.store.get_event(event_id)

    def drain(self) -> DrainReport:
        """Send everything due now from this thread, then flush failure notices (tests, cron).

        Each call uses a new :class:`SyncWorker`: when the store fails to record a batch, the
        ``StorageError`` is raised and those deliveries are attempted again once their leases
        expire (see :meth:`SyncWorker.drain`, whose own next call records them at once).
        """
        return SyncWorker(
            self._host.store, self._sync_transport(), **self._host.worker_options()
        ).drain()

    def start_worker(
        self, *, transport: AsyncTransport | None = None, event_loop: EventLoopName = "auto"
    ) -> WorkerThread:
        """Deliver continuously from a background thread with its own event loop.

        ``event_loop`` is that loop: ``"auto"`` (uvloop with the ``uvloop`` extra, else
        asyncio's), ``"uvloop"`` (``ImportError`` without it) or ``"asyncio"``.

        ``transport`` defaults to the fastest installed async transport (``AiohttpTransport``
        with the ``aiohttp`` extra, else ``AsyncHttpxTransport``; see
        :func:`~acadio_webhooks.adapters.transport.default.default_async_transport`) with this
        dispatcher's endpoint policy and resolver; the worker closes it when it stops. Emits
        from this dispatcher wake it at once; on PostgreSQL so do other processes' emits
        (``LISTEN``/``NOTIFY``, see
        :class:`~acadio_webhooks.adapters.storage.sql.wakeup.PostgresWakeup`). Call ``stop()``
        on the result (or ``close()`` here) to finish in-flight attempts and stop.
        """
        host = self._host

        def make_worker() -> AsyncWorker:
            chosen = transport
            if chosen is None:
                from acadio_webhooks.adapters.transport.default import default_async_transport

                chosen = default_async_transport(
                    policy=host.endpoint_policy, resolver=host.resolver
                )
            return AsyncWorker(host.store, chosen, **host.worker_options())

        thread = WorkerThread(make_worker, event_loop=event_loop).start()
        host.wakers.append(thread)
        host.listen(thread.wake)
        return thread

    def close(self) -> None:
        """Stop worker threads, close the transport and the store."""
        self._host.stop_listening()
        for thread in [waker for waker in self._host.wakers if isinstance(waker, WorkerThread)]:
            thread.stop()
            self._host.wakers.remove(thread)
        if self._transport is not None:
            self._transport.close()
        self._host.store.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sync_transport(self) -> Transport:
        if self._transport is None:
            from acadio_webhooks.adapters.transport.httpx import HttpxTransport

            self._transport = HttpxTransport(
                policy=self._host.endpoint_policy, resolver=self._host.resolver
            )
        return self._transport


class AsyncDispatcher(DispatcherBase[AsyncTransport]):
    """The async dispatcher: for FastAPI, Starlette and other asyncio hosts.

    Same methods as :class:`Dispatcher`, awaited. Store calls run in a worker thread, so the
    event loop never blocks on the database; an ``emit`` joined to the host's
    ``AsyncConnection`` runs on the loop, through the host's async driver.
    """

    __doc__ = (__doc__ or "") + _HOST_DOC

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
        total = PruneReport(dry_run=dry_run)
        while (batch := await anyio.to_thread.run_sync(next, batches, None)) is not None:
            total = tallied(total, batch, progress)
        return total

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
        total = PruneReport(dry_run=dry_run)
        while (batch := await anyio.to_thread.run_sync(next, batches, None)) is not None:
            total = tallied(total, batch, progress)
        return total

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
