"""What ``Dispatcher`` and ``AsyncDispatcher`` share: the host's objects and its sync logic.

:class:`_Host` holds the store, catalog, policies, emitter and integrations, and does every
piece of work a dispatcher offers, synchronously. :class:`DispatcherBase` builds it and shows
its parts; each twin in :mod:`acadio_webhooks.dispatcher` adds only the methods native to its
hosts (plain calls, or awaits that run the same work in a worker thread).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from acadio_webhooks._emitter import Emitter
from acadio_webhooks.domain.core import DeliveryPolicy
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.ids import new_id
from acadio_webhooks.domain.models import Delivery, DeliveryStatus
from acadio_webhooks.domain.planning import DEFAULT_MAX_PAYLOAD_BYTES, plan_event
from acadio_webhooks.domain.retention import PruneReport, prune_cutoff
from acadio_webhooks.domain.topics import TOPICS, TopicCatalog
from acadio_webhooks.errors import NotFound, UnknownTopic
from acadio_webhooks.integrations import Integrations
from acadio_webhooks.observability import DeliveryMetrics
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.notifier import Notifier
from acadio_webhooks.ports.resolver import Resolver
from acadio_webhooks.ports.storage import DeliveryQuery, Store
from acadio_webhooks.worker import AsyncWorker, WorkerSettings, WorkerThread

if TYPE_CHECKING:
    from acadio_webhooks.adapters.storage.sql.wakeup import PostgresWakeup

# What both dispatchers take, appended to each one's docstring.
HOST_PARAMETERS_DOC = """
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

_PRUNED_HINT = ": unknown, or pruned with its event's history"
_TEST_DATA = {"test": True, "message": "A test event sent from the webhooks settings."}


def tallied(
    total: PruneReport, batch: PruneReport, progress: Callable[[PruneReport], None] | None
) -> PruneReport:
    """The running total of a prune, told to ``progress`` after each batch."""
    total += batch
    if progress is not None:
        progress(total)
    return total


def totalled(
    batches: Iterable[PruneReport],
    dry_run: bool,
    progress: Callable[[PruneReport], None] | None,
) -> PruneReport:
    """The sum of a prune's (or an erasure's) batches, run here one after another."""
    total = PruneReport(dry_run=dry_run)
    for batch in batches:
        total = tallied(total, batch, progress)
    return total


class _Host:
    """Everything both dispatchers share; all of it sync (the async twin runs it in a thread)."""

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        *,
        catalog: TopicCatalog | None,
        clock: Clock | None,
        policy: DeliveryPolicy | None,
        endpoint_policy: EndpointPolicy | None,
        resolver: Resolver | None,
        notifier: Notifier | None,
        settings: WorkerSettings | None,
        max_payload_bytes: int,
    ) -> None:
        if isinstance(store, (str, os.PathLike)):
            from acadio_webhooks.adapters.storage import open_store

            store = open_store(store)
        self.store: Store = store
        if resolver is None:
            from acadio_webhooks.adapters.resolver import SystemResolver

            resolver = SystemResolver()
        self.catalog = catalog or TOPICS
        self.clock = clock or SystemClock()
        self.policy = policy or DeliveryPolicy()
        self.endpoint_policy = endpoint_policy or EndpointPolicy()
        self.resolver = resolver
        self.notifier = notifier
        self.settings = settings or WorkerSettings()
        self.max_payload_bytes = max_payload_bytes
        self.metrics = DeliveryMetrics()
        self.integrations = Integrations(
            self.store,
            catalog=self.catalog,
            clock=self.clock,
            endpoint_policy=self.endpoint_policy,
            resolver=resolver,
        )
        self.wakers: list[AsyncWorker | WorkerThread] = []
        self.emitter = Emitter(
            self.store,
            catalog=self.catalog,
            clock=self.clock,
            max_payload_bytes=max_payload_bytes,
            wake=self.wake_workers,
        )
        self._listener_lock = threading.Lock()
        self._listener: PostgresWakeup | None = None
        self._listener_checked = False

    def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when the store announces due deliveries (PostgreSQL ``NOTIFY``):
        emits of other processes and machines then wake this process's workers at once.
        Other stores announce nothing; their workers poll."""
        with self._listener_lock:
            if not self._listener_checked:
                self._listener_checked = True
                from acadio_webhooks.adapters.storage.sql.wakeup import wakeup_for

                self._listener = wakeup_for(self.store)
                if self._listener is not None:
                    self._listener.start()
            if self._listener is not None:
                self._listener.add(wake)

    def unlisten(self, wake: Callable[[], None]) -> None:
        """Stop calling ``wake`` on the store's announcements."""
        if self._listener is not None:
            self._listener.remove(wake)

    def stop_listening(self) -> None:
        """Stop the notification listener, if one was started."""
        with self._listener_lock:
            if self._listener is not None:
                self._listener.stop()
                self._listener = None
            self._listener_checked = False

    def wake_workers(self) -> None:
        """Tell this process's workers that deliveries became due."""
        for worker in self.wakers:
            worker.wake()

    def send_test_event(self, subscription_id: str, topic: str | None) -> str:
        subscription = self.store.get_subscription(subscription_id)
        integration = self.store.get_integration(subscription.integration_id)
        matching = self.catalog.matching(subscription.pattern)
        chosen = self.catalog[topic] if topic else (matching[0] if matching else None)
        if chosen is None:
            raise UnknownTopic(subscription.pattern)
        now = self.clock.now()
        data: Mapping[str, Any] = _TEST_DATA
        if chosen.payload is not None:
            if chosen.payload.example is not None:
                # What the topic's schema promises, as its example shows it: a typed receiver
                # takes it as it takes real events.
                data = chosen.payload.example
            else:
                # Nothing that fits the schema to send: the plain test object, unchecked.
                chosen = replace(chosen, payload=None)
        planned = plan_event(
            topic=chosen,
            data=data,
            tenant=integration.tenant,
            occurred_at=now,
            routes=[(subscription.id, integration.id)],
            dedup_key=f"test:{new_id('tst')}" if chosen.once_per_day else None,
            max_payload_bytes=self.max_payload_bytes,
        )
        self.store.enqueue(planned.event, planned.deliveries)
        self.wake_workers()
        return planned.event.id

    def resend(self, delivery_id: str) -> Delivery:
        try:
            delivery = self.store.resend(delivery_id, now=self.clock.now())
        except NotFound as exc:
            if exc.kind != "delivery":
                raise
            raise NotFound("delivery", delivery_id, hint=_PRUNED_HINT) from None
        self.wake_workers()
        return delivery

    def prune(self, older_than: timedelta, dry_run: bool, batch_size: int) -> Iterator[PruneReport]:
        cutoff = prune_cutoff(self.clock.now(), older_than)
        return self.store.prune(cutoff, limit=batch_size, dry_run=dry_run)

    def erase(
        self, subject: str | None, tenant: str | None, dry_run: bool, batch_size: int
    ) -> Iterator[PruneReport]:
        return self.store.erase(subject=subject, tenant=tenant, limit=batch_size, dry_run=dry_run)

    def resend_failed(self, integration_id: str, since: datetime) -> int:
        count = self.store.resend_failed(integration_id, since=since, now=self.clock.now())
        self.wake_workers()
        return count

    def worker_options(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "policy": self.policy,
            "settings": self.settings,
            "notifier": self.notifier,
            "metrics": self.metrics,
        }


def delivery_query(query: DeliveryQuery | None, filters: dict[str, Any]) -> DeliveryQuery:
    if query is not None and filters:
        raise TypeError("pass either a DeliveryQuery or keyword filters, not both")
    if "status" in filters and isinstance(filters["status"], str):
        filters["status"] = DeliveryStatus(filters["status"])
    return query or DeliveryQuery(**filters)


TransportT = TypeVar("TransportT")


class DispatcherBase(Generic[TransportT]):
    """The constructor and the parts both dispatchers show; ``TransportT`` is the kind of
    transport the twin's own ``drain`` sends with (sync or async)."""

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        *,
        catalog: TopicCatalog | None = None,
        clock: Clock | None = None,
        policy: DeliveryPolicy | None = None,
        endpoint_policy: EndpointPolicy | None = None,
        resolver: Resolver | None = None,
        transport: TransportT | None = None,
        notifier: Notifier | None = None,
        settings: WorkerSettings | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self._host = _Host(
            store,
            catalog=catalog,
            clock=clock,
            policy=policy,
            endpoint_policy=endpoint_policy,
            resolver=resolver,
            notifier=notifier,
            settings=settings,
            max_payload_bytes=max_payload_bytes,
        )
        self._transport = transport

    @property
    def store(self) -> Store:
        """The store this dispatcher writes to."""
        return self._host.store

    @property
    def integrations(self) -> Integrations:
        """The admin flow: install, subscribe, rotate secrets, deactivate (sync methods: an
        async host calls them from a thread, or at start-up)."""
        return self._host.integrations

    @property
    def metrics(self) -> DeliveryMetrics:
        """Counters of every attempt this dispatcher's workers settled."""
        return self._host.metrics

    @property
    def catalog(self) -> TopicCatalog:
        """The topics this dispatcher emits and checks subscription patterns against."""
        return self._host.catalog

    @property
    def clock(self) -> Clock:
        """The clock this dispatcher reads (the system clock unless one was given)."""
        return self._host.clock
