"""Emitting events: what ``Dispatcher.emit`` and ``emit_many`` do, for both dispatcher twins
(the async one calls it from a worker thread, as it does every store call).

One emit, or one ``emit_many`` batch, is one call of
:meth:`~acadio_webhooks.ports.storage.outbox.Outbox.enqueue_routed`, so one transaction:

1. every event is validated and serialised first (nothing is stored if one is bad);
2. in the transaction, the store reads the routing revision; the per-tenant pattern indexes
   cached here are reused while it is unchanged, and a stale tenant's routes are read again
   in that same transaction (a subscription added, changed or removed in any process is
   therefore honoured by the next emit that starts after it committed);
3. the events and their deliveries are inserted with one ``executemany`` each (a single
   event by the very statement that reads the revision), and on PostgreSQL one ``NOTIFY``
   wakes the workers of every process when it commits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import NamedTuple

from acadio_webhooks.domain.ids import IdSequence
from acadio_webhooks.domain.models import Delivery, Event
from acadio_webhooks.domain.patterns import PatternIndex
from acadio_webhooks.domain.payloads import EventData
from acadio_webhooks.domain.planning import new_event, plan_deliveries
from acadio_webhooks.domain.topics import TopicCatalog
from acadio_webhooks.errors import InvalidPattern, InvalidPayload, InvalidTopic, UnknownTopic
from acadio_webhooks.observability import _hooks
from acadio_webhooks.observability._hooks import EmitTrace
from acadio_webhooks.ports.clock import Clock
from acadio_webhooks.ports.storage import Outbox, Route, RoutingView

__all__ = ["NewEvent", "Emitter"]

logger = logging.getLogger("acadio_webhooks.dispatcher")


@dataclass(frozen=True)
class NewEvent:
    """One event for :meth:`Dispatcher.emit_many <acadio_webhooks.Dispatcher.emit_many>`:
    the arguments of ``emit``, in the same order and with the same keywords::

        NewEvent("course/completion/create", {"course_id": 7}, tenant="tenant-42")

    Nothing is checked when it is made; ``emit_many`` checks every one before storing any.
    """

    topic: str
    data: EventData
    _: KW_ONLY
    tenant: str
    dedup_key: str | None = None
    occurred_at: datetime | None = None
    subject: str | None = None


class _TenantIndex:
    """One tenant's routes as a pattern index, built at one routing revision."""

    def __init__(self, revision: int, routes: Sequence[Route]) -> None:
        self.revision = revision
        self._index: PatternIndex[str] = PatternIndex()
        self._owners: dict[str, str] = {}
        # Topics come from the catalog, so this stays as small as the catalog.
        self._matches: dict[str, list[tuple[str, str]]] = {}
        unparsable: list[str] = []
        for route in routes:
            try:
                self._index.add(route.pattern, route.subscription_id)
            except InvalidPattern:
                # A stored pattern this version cannot parse (written by hand or by a newer
                # version) matches nothing; the tenant's other routes still work.
                unparsable.append(route.subscription_id)
                continue
            self._owners[route.subscription_id] = route.integration_id
        if unparsable:
            logger.error(
                "subscriptions %s have stored patterns that do not parse; they receive no "
                "events until their patterns are corrected",
                ", ".join(unparsable),
                extra={"subscription_ids": unparsable},
            )

    def matching(self, topic: str) -> list[tuple[str, str]]:
        """``(subscription_id, integration_id)`` of the subscriptions matching ``topic``."""
        found = self._matches.get(topic)
        if found is None:
            found = [(sub, self._owners[sub]) for sub in sorted(self._index.match(topic))]
            self._matches[topic] = found
        return found


class _Routing:
    """Per-tenant pattern indexes, rebuilt when the routing revision moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, _TenantIndex] = {}

    def plan(
        self,
        view: RoutingView,
        events: Sequence[Event],
        new_delivery_id: Callable[[], str] | None,
    ) -> list[tuple[Delivery, ...]]:
        """Each event's deliveries, routed at the revision ``view`` reads."""
        revision = view.revision
        # Resolved once into a local table: another thread may replace a cached index at
        # another revision meanwhile, and this batch must route at its own.
        indexes: dict[str, _TenantIndex] = {}
        stale: set[str] = set()
        for event in events:
            if event.tenant in indexes or event.tenant in stale:
                continue
            cached = self._tenants.get(event.tenant)
            if cached is not None and cached.revision == revision:
                indexes[event.tenant] = cached
            else:
                stale.add(event.tenant)
        if stale:
            for tenant, routes in view.routes(stale).items():
                indexes[tenant] = _TenantIndex(revision, routes)
            with self._lock:
                self._tenants.update((tenant, indexes[tenant]) for tenant in stale)
        return [
            plan_deliveries(
                event,
                indexes[event.tenant].matching(event.topic),
                new_delivery_id=new_delivery_id,
            )
            for event in events
        ]


class Emitter:
    """Validates, routes and stores events for a dispatcher; ``wake`` is called after a
    commit of this process that stored deliveries (its own workers then start at once)."""

    def __init__(
        self,
        store: Outbox,
        *,
        catalog: TopicCatalog,
        clock: Clock,
        max_payload_bytes: int,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._max_payload_bytes = max_payload_bytes
        self._wake = wake
        self._routing = _Routing()

    def emit(
        self,
        topic: str,
        data: EventData,
        *,
        tenant: str,
        dedup_key: str | None,
        occurred_at: datetime | None,
        connection: object | None,
        subject: str | None = None,
    ) -> str | None:
        """See :meth:`acadio_webhooks.Dispatcher.emit`."""
        tracer = _hooks.tracer
        if tracer is None:
            return self._emit_one(topic, data, tenant, dedup_key, occurred_at, subject, connection)
        with tracer.emitting(topic=topic, tenant=tenant, events=1) as span:
            return self._emit_one(
                topic, data, tenant, dedup_key, occurred_at, subject, connection, span
            )

    def _emit_one(  # noqa: PLR0917 - emit's own arguments, passed on in its order
        self,
        topic: str,
        data: EventData,
        tenant: str,
        dedup_key: str | None,
        occurred_at: datetime | None,
        subject: str | None,
        connection: object | None,
        span: EmitTrace | None = None,
    ) -> str | None:
        event = self._event(
            topic,
            data,
            tenant=tenant,
            dedup_key=dedup_key,
            occurred_at=occurred_at,
            subject=subject,
            trace_context=None if span is None else span.context,
        )
        outcome = self._store_batch([event], connection, new_delivery_id=None)
        if span is not None:
            span.stored(events=sum(outcome.flags), deliveries=outcome.deliveries)
        return event.id if outcome.flags[0] else None

    def emit_many(
        self, events: Iterable[NewEvent], *, connection: object | None
    ) -> list[str | None]:
        """See :meth:`acadio_webhooks.Dispatcher.emit_many`."""
        tracer = _hooks.tracer
        if tracer is None:
            return self._emit_batch(events, connection, span=None)
        events = list(events)
        # Named on the span when all share one; bad items are _emit_batch's to report.
        named = [(getattr(item, "topic", None), getattr(item, "tenant", None)) for item in events]
        topics = {topic for topic, _ in named if isinstance(topic, str)}
        tenants = {tenant for _, tenant in named if isinstance(tenant, str)}
        with tracer.emitting(
            topic=next(iter(topics)) if len(topics) == 1 else None,
            tenant=next(iter(tenants)) if len(tenants) == 1 else None,
            events=len(events),
        ) as span:
            return self._emit_batch(events, connection, span=span)

    def _emit_batch(
        self, events: Iterable[NewEvent], connection: object | None, *, span: EmitTrace | None
    ) -> list[str | None]:
        trace_context = None if span is None else span.context
        batch: list[Event] = []
        for index, item in enumerate(events):
            if not isinstance(item, NewEvent):
                raise TypeError(f"events[{index}] must be a NewEvent, not {type(item).__name__}")
            try:
                batch.append(
                    self._event(
                        item.topic,
                        item.data,
                        tenant=item.tenant,
                        dedup_key=item.dedup_key,
                        occurred_at=item.occurred_at,
                        subject=item.subject,
                        trace_context=trace_context,
                    )
                )
            except (InvalidTopic, UnknownTopic) as exc:
                raise _located(exc, f"events[{index}].topic: ") from None
            except InvalidPayload as exc:
                # Its message starts with the argument it is about: "data['x'] is nan ...".
                raise _located(exc, f"events[{index}].") from None
        if not batch:
            return []
        # Deliveries of events sharing a due time are claimed in id order: one sequence keeps
        # that order the order of ``events``.
        outcome = self._store_batch(batch, connection, new_delivery_id=IdSequence("dlv"))
        if span is not None:
            span.stored(events=sum(outcome.flags), deliveries=outcome.deliveries)
        flags = outcome.flags
        return [event.id if kept else None for event, kept in zip(batch, flags, strict=True)]

    def _event(
        self,
        topic: str,
        data: EventData,
        *,
        tenant: str,
        dedup_key: str | None,
        occurred_at: datetime | None,
        subject: str | None,
        trace_context: str | None = None,
    ) -> Event:
        return new_event(
            topic=self._catalog[topic],
            data=data,
            tenant=tenant,
            occurred_at=self._clock.now() if occurred_at is None else occurred_at,
            dedup_key=dedup_key,
            max_payload_bytes=self._max_payload_bytes,
            subject=subject,
            trace_context=trace_context,
        )

    def _store_batch(
        self,
        batch: Sequence[Event],
        connection: object | None,
        *,
        new_delivery_id: Callable[[], str] | None,
    ) -> _Stored:
        # Deliveries planned per event, of the last plan the store asked for.
        planned_for: dict[str, int] = {}

        def plan(view: RoutingView, events: Sequence[Event]) -> list[tuple[Delivery, ...]]:
            planned = self._routing.plan(view, events, new_delivery_id)
            planned_for.update((e.id, len(ds)) for e, ds in zip(events, planned, strict=True))
            return planned

        stored = self._store.enqueue_routed(batch, plan, connection=connection)
        # With the host's connection nothing is committed yet: PostgreSQL's NOTIFY wakes the
        # workers when the host commits, and SQLite's workers poll.
        deliveries = sum(
            planned_for.get(event.id, 0) for event, kept in zip(batch, stored, strict=True) if kept
        )
        if connection is None and deliveries:
            self._wake()
        return _Stored(stored, deliveries)


class _Stored(NamedTuple):
    """What the store kept of a batch: a flag per event (False: deduplicated away) and how
    many deliveries the kept ones got. (A tuple: made on every emit.)"""

    flags: list[bool]
    deliveries: int


def _located(exc: Exception, prefix: str) -> Exception:
    """``exc``, its type and attributes kept, with its message prefixed by where it arose."""
    exc.args = (prefix + str(exc), *exc.args[1:])
    return exc
