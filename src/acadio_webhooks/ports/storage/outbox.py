"""The outbox role: what ``emit`` writes, in the host's transaction or the store's own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.models import Delivery, Event
from acadio_webhooks.ports.storage.values import DeliveryPlanner

__all__ = ["Outbox"]


@runtime_checkable
class Outbox(Protocol):
    """Where ``emit`` and ``emit_many`` store events with their deliveries, atomically."""

    def enqueue(
        self,
        event: Event,
        deliveries: Sequence[Delivery],
        *,
        connection: object | None = None,
    ) -> bool:
        """Atomically store the event and its deliveries (due at ``next_attempt_at``).

        With ``event.dedup_key`` set and already stored, store nothing and return False.
        With ``connection`` (SQL stores: the host's SQLAlchemy ``Connection`` inside its own
        transaction), write through it and do not commit: the host's commit or rollback
        decides (transactional outbox). Stores that cannot join a host transaction raise
        ``TypeError`` when given one.
        """
        ...

    def enqueue_routed(
        self,
        events: Sequence[Event],
        plan: DeliveryPlanner,
        *,
        connection: object | None = None,
    ) -> list[bool]:
        """Atomically store ``events`` with the deliveries ``plan`` makes for them from the
        routing table as of this very transaction; one flag per event, in order.

        Routing and storing in one transaction is what lets a cached routing index be used
        safely and cheaply: ``plan`` compares ``view.revision`` with the revision its cache
        was built at and asks ``view.routes`` only for tenants that are stale. ``plan`` is
        called at most once, inside the transaction, before any delivery is written (the
        store may insert the events before or after), with the events that may be stored: an
        event whose ``dedup_key`` an earlier event of the batch already has is left out; one
        whose key is already stored may be included, and its deliveries are then dropped. It
        must return one sequence of deliveries per event it is given, and must not call the
        store. Whatever it raises propagates, and the store's own transaction stores nothing
        (with ``connection``, roll the host's transaction back, as after any error here).

        Flags: False for an event not stored because of its ``dedup_key`` (already stored, or
        taken by an earlier event of the same batch — the first one wins, as if the events
        had been enqueued one by one). ``connection`` as for :meth:`enqueue`: the routing
        table is then read in the host's transaction too. On PostgreSQL one ``NOTIFY`` goes
        out per transaction that stored deliveries.
        """
        ...
