"""The SQL store's outbox and delivery queue roles (their statements: ``_outbox``, ``_queue``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import update

from acadio_webhooks.adapters.storage.sql import _outbox, _queue, _settle
from acadio_webhooks.adapters.storage.sql._store_base import SqlBase
from acadio_webhooks.adapters.storage.sql.schema import deliveries
from acadio_webhooks.domain import store_rules
from acadio_webhooks.domain.messages import Claimed, Settlement, WorkItem
from acadio_webhooks.domain.models import Delivery, Event
from acadio_webhooks.ports.storage import DeliveryPlanner

__all__ = ["QueueRole"]


class QueueRole(SqlBase):
    """Enqueueing events, and claiming, taking, settling and releasing deliveries, in SQL."""

    def enqueue(
        self,
        event: Event,
        deliveries: Sequence[Delivery],
        *,
        connection: object | None = None,
    ) -> bool:
        """Store the event and its deliveries; False (nothing stored) for a known dedup key.

        With ``connection`` (an SQLAlchemy ``Connection`` to this store's database inside
        the host's transaction, or a :class:`JoinedCursor` of the host's own DB-API
        connection) the rows are written through it and not committed. If this
        raises there, the host should roll back (PostgreSQL refuses further statements in
        that transaction anyway).
        """
        store_rules.check_batch(event.id, deliveries)
        conflict = f"event {event.id!r} or one of its deliveries already exists"
        return self._in_outbox(
            "enqueueing an event",
            conflict,
            connection,
            lambda target, dialect: _outbox.enqueue(target, dialect, event, deliveries),
        )

    def enqueue_routed(
        self,
        events: Sequence[Event],
        plan: DeliveryPlanner,
        *,
        connection: object | None = None,
    ) -> list[bool]:
        """Store ``events`` with the deliveries ``plan`` makes from the routing table as this
        transaction reads it; False for an event a dedup key suppressed.

        One transaction (or the host's, with ``connection``) reads the routing revision, the
        routes of stale tenants if ``plan`` asks, and inserts the events and all their
        deliveries with one ``executemany`` each; a single event is inserted by the statement
        that reads the revision.
        """
        if not events:
            return []
        conflict = "an event or one of its deliveries already exists"
        return self._in_outbox(
            "enqueueing events",
            conflict,
            connection,
            lambda target, dialect: _outbox.enqueue_routed(target, dialect, events, plan),
        )

    def claim(
        self,
        *,
        now: datetime,
        limit: int,
        owner: str,
        lease: timedelta,
        skip_subscriptions: Collection[str] = (),
    ) -> Claimed:
        """Lease up to ``limit`` due deliveries, oldest due first; cancel inactive ones."""
        with self._transaction("claiming deliveries", write=True) as conn:
            return _queue.claim(
                conn,
                self._codec,
                now=now,
                limit=limit,
                owner=owner,
                lease=lease,
                skip_subscriptions=skip_subscriptions,
            )

    def take(
        self,
        delivery_ids: Sequence[str],
        *,
        owner: str,
        new_owner: str,
        now: datetime,
        lease: timedelta,
    ) -> list[WorkItem]:
        """Move ``owner``'s leases on ``delivery_ids`` to ``new_owner``; their work items."""
        if not delivery_ids:
            return []
        with self._transaction("taking over leases", write=True) as conn:
            return _queue.take(
                conn,
                self._codec,
                delivery_ids,
                owner=owner,
                new_owner=new_owner,
                now=now,
                lease=lease,
            )

    def settle(self, settlements: Sequence[Settlement], *, owner: str, now: datetime) -> None:
        """Record every attempt; apply the verdicts of deliveries ``owner`` still holds."""
        if not settlements:
            return
        with self._transaction("settling deliveries", write=True) as conn:
            if _settle.settle(conn, settlements, owner=owner, now=now):
                _queue.bump_revision(conn)

    def release(self, delivery_ids: Sequence[str], *, owner: str) -> None:
        """Give leases back unused: due again at once for others."""
        if not delivery_ids:
            return
        with self._transaction("releasing deliveries", write=True) as conn:
            released = conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(delivery_ids), deliveries.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )
            if released.rowcount:
                _queue.notify_due(conn, conn.dialect)
