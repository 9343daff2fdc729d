"""The memory store's outbox and delivery queue roles."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from acadio_webhooks.adapters.storage.memory._base import MemoryBase, _Lease, _Limits, _RoutingView
from acadio_webhooks.domain.core import is_paused
from acadio_webhooks.domain.messages import Claimed, Settlement, WorkItem
from acadio_webhooks.domain.models import Delivery, Event
from acadio_webhooks.domain.store_rules import (
    check_batch,
    check_planned,
    due_time,
    fold_health,
    later,
    not_repeated_in_batch,
)
from acadio_webhooks.errors import StorageError
from acadio_webhooks.ports.storage import DeliveryPlanner

__all__ = ["QueuePart"]


class QueuePart(MemoryBase):
    """Enqueueing events, and claiming, taking, settling and releasing deliveries, in memory."""

    def enqueue(
        self,
        event: Event,
        deliveries: Sequence[Delivery],
        *,
        connection: object | None = None,
    ) -> bool:
        """Store the event and its deliveries; False (nothing stored) for a known dedup key."""
        if connection is not None:
            raise TypeError("MemoryStore cannot join a host transaction; pass connection=None")
        check_batch(event.id, deliveries)
        with self._lock:
            self._check_open()
            dedup = (event.tenant, event.dedup_key) if event.dedup_key is not None else None
            if dedup is not None and dedup in self._dedup:
                return False
            if event.id in self._events:
                raise StorageError(f"event {event.id!r} already exists")
            if any(d.id in self._deliveries for d in deliveries):
                raise StorageError(f"a delivery of event {event.id!r} already exists")
            self._events[event.id] = event
            if dedup is not None:
                self._dedup[dedup] = event.id
            for delivery in deliveries:
                self._put(delivery)
            return True

    def enqueue_routed(
        self,
        events: Sequence[Event],
        plan: DeliveryPlanner,
        *,
        connection: object | None = None,
    ) -> list[bool]:
        """Store ``events`` with the deliveries ``plan`` makes from the routing table as it is
        under the store's lock; False for an event a dedup key suppressed."""
        if connection is not None:
            raise TypeError("MemoryStore cannot join a host transaction; pass connection=None")
        if not events:
            return []
        with self._lock:
            self._check_open()
            storing = [
                first and (event.tenant, event.dedup_key) not in self._dedup
                for event, first in zip(events, not_repeated_in_batch(events), strict=True)
            ]
            candidates = [event for event, keep in zip(events, storing, strict=True) if keep]
            planned = plan(_RoutingView(self), candidates) if candidates else []
            check_planned(candidates, planned)
            event_ids = {event.id for event in candidates}
            # The keys view's isdisjoint walks its argument; a set's would walk every event
            # stored so far, making each emit slower than the last.
            if len(event_ids) != len(candidates) or not self._events.keys().isdisjoint(event_ids):
                raise StorageError("an event of the batch already exists")
            if any(d.id in self._deliveries for batch in planned for d in batch):
                raise StorageError("a delivery of the batch already exists")
            for event, batch in zip(candidates, planned, strict=True):
                self._events[event.id] = event
                if event.dedup_key is not None:
                    self._dedup[(event.tenant, event.dedup_key)] = event.id
                for delivery in batch:
                    self._put(delivery)
            return storing

    # -- the delivery queue -----------------------------------------------------------------

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
        skipped = frozenset(skip_subscriptions)
        put_back: list[tuple[datetime, str]] = []
        with self._lock:
            self._check_open()
            self._requeue_expired(now)
            items: list[WorkItem] = []
            dead: list[str] = []
            keys: dict[str, tuple[bytes, ...]] = {}
            limits = _Limits()
            expires_at = now + lease
            due = self._due
            while due and len(items) < limit and due[0][0] <= now:
                when, delivery_id = heapq.heappop(due)
                if self._queued.get(delivery_id) != when:
                    continue  # superseded by a newer entry, or no longer pending
                delivery = self._deliveries[delivery_id]
                if delivery.subscription_id in skipped:
                    put_back.append((when, delivery_id))
                    if len(put_back) > 4 * limit + 100:
                        break  # "up to limit": a claim need not dig through a whole backlog
                    continue
                del self._queued[delivery_id]
                subscription = self._subscriptions.get(delivery.subscription_id)
                integration = self._integrations.get(delivery.integration_id)
                if subscription is None or integration is None:
                    dead.append(delivery.id)
                    continue
                if not (subscription.active and integration.active):
                    dead.append(delivery.id)
                    continue
                paused = subscription.paused_until
                if paused is not None and is_paused(paused, now):
                    # Circuit breaker: stays pending, queued again for the pause's end
                    # (or sooner, if a success ends the pause: see _unpause).
                    self._queued[delivery_id] = paused
                    heapq.heappush(due, (paused, delivery_id))
                    continue
                if subscription.rate_limit is not None and self._put_off(
                    delivery, subscription, now, limits
                ):
                    continue
                self._leases[delivery.id] = _Lease(owner, expires_at)
                heapq.heappush(self._expiries, (expires_at, delivery.id))
                if integration.id not in keys:
                    keys[integration.id] = integration.signing_keys(now)
                items.append(self._work_item(delivery, subscription, keys[integration.id]))
            for entry in put_back:
                heapq.heappush(due, entry)
            self._cancel(dead, now=now)
            for subscription_id, throttle in limits.throttles.items():
                self._throttled[subscription_id] = (throttle.sent_until, throttle.queued_until)
            firsts = [self._next_reserved(ident, now) for ident in limits.sent_reserved]
            firsts.append(limits.first_put_off)
            return Claimed(items, min((f for f in firsts if f is not None), default=None))

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
        with self._lock:
            self._check_open()
            held = sorted(
                (
                    self._deliveries[i]
                    for i in set(delivery_ids)
                    if i in self._pending
                    and (current := self._leases.get(i)) is not None
                    and current.owner == owner
                ),
                key=lambda d: (due_time(d), d.id),
            )
            items: list[WorkItem] = []
            dead: list[str] = []
            expires_at = now + lease
            for delivery in held:
                subscription = self._subscriptions.get(delivery.subscription_id)
                integration = self._integrations.get(delivery.integration_id)
                if not (
                    subscription is not None
                    and subscription.active
                    and integration is not None
                    and integration.active
                ):
                    dead.append(delivery.id)
                    continue
                self._leases[delivery.id] = _Lease(new_owner, expires_at)
                heapq.heappush(self._expiries, (expires_at, delivery.id))
                items.append(self._work_item(delivery, subscription, integration.signing_keys(now)))
            self._cancel(dead, now=now)
            return items

    def settle(self, settlements: Sequence[Settlement], *, owner: str, now: datetime) -> None:
        """Record every attempt; apply the verdicts of deliveries ``owner`` still holds.

        A settlement whose attempt is already recorded is skipped whole (a retried settle).
        """
        with self._lock:
            self._check_open()
            owned: list[Settlement] = []
            for settlement in settlements:
                if settlement.item.delivery_id not in self._deliveries:
                    continue  # erased while its attempt was in flight
                if settlement.attempt.id in self._attempt_ids:
                    continue
                self._attempt_ids.add(settlement.attempt.id)
                delivery_id = settlement.item.delivery_id
                self._attempts.setdefault(delivery_id, []).append(settlement.attempt)
                lease = self._leases.get(delivery_id)
                if delivery_id in self._pending and lease is not None and lease.owner == owner:
                    owned.append(settlement)
                    self._apply_verdict(settlement, now)
            for change in fold_health(owned):
                subscription = self._subscriptions.get(change.subscription_id)
                if subscription is None:
                    continue
                if change.reset:
                    failures, since = change.failures, change.failing_since
                    paused = change.paused_until
                else:
                    failures = subscription.consecutive_failures + change.failures
                    since = subscription.failing_since or change.failing_since
                    paused = later(subscription.paused_until, change.paused_until)
                self._subscriptions[subscription.id] = subscription.model_copy(
                    update={
                        "consecutive_failures": failures,
                        "failing_since": since,
                        "paused_until": paused,
                    }
                )
                if subscription.paused_until is not None and paused is None:
                    self._unpause(subscription.id)
            for settlement in owned:
                self._disable(settlement, now)
                for notification in settlement.notifications:
                    self._notifications.setdefault(notification.id, notification)

    def release(self, delivery_ids: Sequence[str], *, owner: str) -> None:
        """Give leases back unused: due again at once for others."""
        with self._lock:
            self._check_open()
            for delivery_id in delivery_ids:
                lease = self._leases.get(delivery_id)
                if lease is not None and lease.owner == owner:
                    del self._leases[delivery_id]
                    if delivery_id in self._pending:
                        self._enqueue_due(self._deliveries[delivery_id])
