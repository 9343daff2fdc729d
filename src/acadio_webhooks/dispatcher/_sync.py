"""The sync dispatcher, for Django, Flask and other sync hosts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from acadio_webhooks._emitter import NewEvent
from acadio_webhooks._host import HOST_PARAMETERS_DOC, DispatcherBase, delivery_query, totalled
from acadio_webhooks.domain.models import Attempt, Delivery, Event
from acadio_webhooks.domain.payloads import EventData
from acadio_webhooks.domain.retention import PruneReport
from acadio_webhooks.event_loop import EventLoopName
from acadio_webhooks.ports.storage import DeliveryQuery, Page
from acadio_webhooks.ports.transport import AsyncTransport, Transport
from acadio_webhooks.worker import AsyncWorker, DrainReport, SyncWorker, WorkerThread

__all__ = ["Dispatcher"]


class Dispatcher(DispatcherBase[Transport]):
    """The sync dispatcher: for Django, Flask and other sync hosts."""

    __doc__ = (__doc__ or "") + HOST_PARAMETERS_DOC

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
        too deep or is too large, and for an ``occurred_at`` that is not an aware datetime
        from 1970 to 9999 in UTC — storing nothing.

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
        return totalled(self._host.prune(older_than, dry_run, batch_size), dry_run, progress)

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
        batches = self._host.erase(subject, tenant, dry_run, batch_size)
        return totalled(batches, dry_run, progress)

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
