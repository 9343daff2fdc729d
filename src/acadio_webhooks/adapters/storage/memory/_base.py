"""The memory store's state and the rules every role applies to it (callers hold the lock)."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TypeVar

from acadio_webhooks.domain.messages import NO_HEADERS, Notification, Settlement, WorkItem
from acadio_webhooks.domain.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    Integration,
    Subscription,
)
from acadio_webhooks.domain.rate_limit import Pace, Throttle
from acadio_webhooks.domain.store_rules import due_time
from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import DeliveryQuery, Route

__all__ = ["MemoryBase"]

_RecordT = TypeVar("_RecordT")


@dataclass(frozen=True)
class _Lease:
    owner: str
    expires_at: datetime


class MemoryBase:
    """The dicts and heaps behind one lock that every role of the memory store works on."""

    nonblocking = True
    """Calls never wait on I/O, so the async worker makes them on its event loop."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._closed = False
        self._revision = 0
        self._integrations: dict[str, Integration] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._events: dict[str, Event] = {}
        self._dedup: dict[tuple[str, str], str] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._pending: set[str] = set()
        self._leases: dict[str, _Lease] = {}
        # The claim queue: a heap of (due time, id) of pending deliveries without a live lease,
        # so a claim pops the oldest due instead of sorting the backlog. ``_queued`` holds the
        # due time of each delivery's current entry; an entry that disagrees is stale.
        self._due: list[tuple[datetime, str]] = []
        self._queued: dict[str, datetime] = {}
        # (expiry, id) of leases, so expired ones go back into the queue without a scan.
        self._expiries: list[tuple[datetime, str]] = []
        self._attempts: dict[str, list[Attempt]] = {}
        self._attempt_ids: set[str] = set()
        self._notifications: dict[str, Notification] = {}
        self._sent_at: dict[str, datetime] = {}
        self._named_leases: dict[str, _Lease] = {}
        # Rate limits: each limited subscription's limiter state (sent_until, queued_until),
        # and the pending deliveries put off for a limit (see domain.rate_limit).
        self._throttled: dict[str, tuple[datetime | None, datetime | None]] = {}
        self._reserved: set[str] = set()
        # Per subscription, a heap of (due, id) of its reserved deliveries (stale entries
        # skipped), so the next one due is found without a scan.
        self._reserved_due: dict[str, list[tuple[datetime, str]]] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(deliveries={len(self._deliveries)})"

    # -- lookups every role makes, and the lifecycle ------------------------------------------

    def get_integration(self, integration_id: str) -> Integration:
        """The integration, or ``NotFound``."""
        return self._stored(self._integrations, "integration", integration_id)

    def get_subscription(self, subscription_id: str) -> Subscription:
        """The subscription, or ``NotFound``."""
        return self._stored(self._subscriptions, "subscription", subscription_id)

    def _stored(self, table: Mapping[str, _RecordT], kind: str, record_id: str) -> _RecordT:
        with self._lock:
            self._check_open()
            try:
                return table[record_id]
            except KeyError:
                raise NotFound(kind, record_id) from None

    def close(self) -> None:
        """Forget nothing, but refuse further use. Idempotent."""
        with self._lock:
            self._closed = True

    # -- internals (callers hold the lock) ----------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")

    def _put(self, delivery: Delivery) -> Delivery:
        if delivery.status is DeliveryStatus.PENDING and delivery.next_attempt_at is None:
            delivery = delivery.model_copy(update={"next_attempt_at": delivery.created_at})
        self._deliveries[delivery.id] = delivery
        if delivery.status is DeliveryStatus.PENDING:
            self._pending.add(delivery.id)
            self._enqueue_due(delivery)
        return delivery

    def _routes_of(self, tenant: str) -> tuple[Route, ...]:
        """The tenant's routes, oldest subscription first (the caller holds the lock)."""
        live = {i.id for i in self._integrations.values() if i.tenant == tenant and i.active}
        subs = sorted(
            (s for s in self._subscriptions.values() if s.active and s.integration_id in live),
            key=lambda s: (s.created_at, s.id),
        )
        return tuple(Route(s.id, s.integration_id, s.pattern) for s in subs)

    def _enqueue_due(self, delivery: Delivery) -> None:
        when = due_time(delivery)
        self._queued[delivery.id] = when
        heapq.heappush(self._due, (when, delivery.id))

    def _put_off(
        self, delivery: Delivery, subscription: Subscription, now: datetime, limits: _Limits
    ) -> bool:
        """Whether the subscription's rate limit puts the due delivery off (then queued
        again for when it may go, reserved); ``limits`` keeps what the claim met."""
        assert subscription.rate_limit is not None
        throttle = limits.throttles.get(subscription.id)
        if throttle is None:
            throttle = limits.throttles[subscription.id] = Throttle(
                Pace.of(subscription.rate_limit),
                *self._throttled.get(subscription.id, (None, None)),
            )
        reserved = delivery.id in self._reserved
        put_off = throttle.admit(now, reserved=reserved)
        if put_off is None:
            if reserved:
                self._reserved.discard(delivery.id)
                limits.sent_reserved.add(subscription.id)
            return False
        self._reserved.add(delivery.id)
        self._deliveries[delivery.id] = _updated(delivery, {"next_attempt_at": put_off})
        self._queued[delivery.id] = put_off
        heapq.heappush(self._due, (put_off, delivery.id))
        heapq.heappush(self._reserved_due.setdefault(subscription.id, []), (put_off, delivery.id))
        if limits.first_put_off is None or put_off < limits.first_put_off:
            limits.first_put_off = put_off
        return True

    def _next_reserved(self, subscription_id: str, now: datetime) -> datetime | None:
        """When the subscription's next reserved delivery comes due (after ``now``)."""
        queue = self._reserved_due.get(subscription_id, [])
        while queue:
            due, ident = queue[0]
            if ident in self._reserved and self._queued.get(ident) == due and due > now:
                return due
            heapq.heappop(queue)
        return None

    def _reset_throttle(self, subscription_id: str) -> None:
        """Forget the limiter state; reserved deliveries are due since they were created
        (they were due when put off)."""
        self._throttled.pop(subscription_id, None)
        self._reserved_due.pop(subscription_id, None)
        for delivery_id in self._pending_of(subscription_id=subscription_id):
            if delivery_id in self._reserved:
                self._reserved.discard(delivery_id)
                delivery = self._deliveries[delivery_id]
                delivery = _updated(delivery, {"next_attempt_at": delivery.created_at})
                self._deliveries[delivery_id] = delivery
                if delivery_id in self._queued:
                    self._enqueue_due(delivery)

    def _unpause(self, subscription_id: str) -> None:
        """The breaker closed: deliveries queued for the pause's end are due as before."""
        for delivery_id in self._pending_of(subscription_id=subscription_id):
            delivery = self._deliveries[delivery_id]
            queued = self._queued.get(delivery_id)
            if queued is not None and queued > due_time(delivery):
                self._enqueue_due(delivery)

    def _requeue_expired(self, now: datetime) -> None:
        """Queue again the pending deliveries whose lease ran out (their holder may have died).

        The lease itself stays until someone claims the delivery, so a slow holder that
        settles before that still owns the verdict."""
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            expires_at, delivery_id = heapq.heappop(expiries)
            lease = self._leases.get(delivery_id)
            if lease is None or lease.expires_at != expires_at or delivery_id in self._queued:
                continue
            if delivery_id in self._pending:
                self._enqueue_due(self._deliveries[delivery_id])

    def _subscription_active(self, subscription_id: str) -> bool:
        subscription = self._subscriptions.get(subscription_id)
        return subscription is not None and subscription.active

    def _pending_of(
        self, *, integration_id: str | None = None, subscription_id: str | None = None
    ) -> list[str]:
        return [
            d.id
            for d in (self._deliveries[i] for i in self._pending)
            if integration_id in (None, d.integration_id)
            and subscription_id in (None, d.subscription_id)
        ]

    def _cancel(self, delivery_ids: Iterable[str], *, now: datetime | None) -> None:
        for delivery_id in delivery_ids:
            delivery = self._deliveries[delivery_id]
            self._deliveries[delivery_id] = delivery.model_copy(
                update={
                    "status": DeliveryStatus.CANCELLED,
                    "next_attempt_at": None,
                    "updated_at": now or delivery.updated_at,
                }
            )
            self._pending.discard(delivery_id)
            self._leases.pop(delivery_id, None)
            self._queued.pop(delivery_id, None)
            self._reserved.discard(delivery_id)

    def _apply_verdict(self, settlement: Settlement, now: datetime) -> None:
        delivery_id = settlement.item.delivery_id
        attempt = settlement.attempt
        self._deliveries[delivery_id] = _updated(
            self._deliveries[delivery_id],
            {
                "status": settlement.status,
                "attempts": attempt.number,
                "next_attempt_at": settlement.next_attempt_at,
                "last_status_code": attempt.status_code,
                "last_error": attempt.error,
                "updated_at": now,
            },
        )
        self._leases.pop(delivery_id, None)
        if settlement.status is DeliveryStatus.PENDING:
            self._enqueue_due(self._deliveries[delivery_id])
        else:
            self._pending.discard(delivery_id)
            self._queued.pop(delivery_id, None)

    def _disable(self, settlement: Settlement, now: datetime) -> None:
        reason = settlement.disable_subscription
        subscription = self._subscriptions.get(settlement.item.subscription_id)
        if reason is None or subscription is None:
            return
        self._subscriptions[subscription.id] = subscription.model_copy(
            update={"active": False, "disabled_reason": reason[:500]}
        )
        self._cancel(self._pending_of(subscription_id=subscription.id), now=now)
        self._revision += 1

    def _work_item(
        self, delivery: Delivery, subscription: Subscription, signing_keys: tuple[bytes, ...]
    ) -> WorkItem:
        event = self._events[delivery.event_id]
        return WorkItem(
            delivery_id=delivery.id,
            event_id=delivery.event_id,
            topic=delivery.topic,
            tenant=delivery.tenant,
            payload=event.payload,
            endpoint=subscription.endpoint,
            subscription_id=subscription.id,
            integration_id=delivery.integration_id,
            signing_keys=signing_keys,
            attempt_number=delivery.attempts + 1,
            endpoint_failures=subscription.consecutive_failures,
            endpoint_failing_since=subscription.failing_since,
            endpoint_headers=MappingProxyType(subscription.headers)
            if subscription.headers
            else NO_HEADERS,
            trace_context=event.trace_context,
        )


@dataclass
class _Limits:
    """The rate limits one claim met: their limiters, the first delivery it put off, and
    the subscriptions whose reserved deliveries it let go."""

    throttles: dict[str, Throttle] = field(default_factory=dict)
    first_put_off: datetime | None = None
    sent_reserved: set[str] = field(default_factory=set)


def _updated(delivery: Delivery, changes: dict[str, object]) -> Delivery:
    """``delivery.model_copy(update=changes)``, as pydantic does it for a model without extra
    or private attributes (no validation either way), minus its generic copying: the store
    updates one delivery per attempt."""
    updated = object.__new__(Delivery)
    object.__setattr__(updated, "__dict__", {**delivery.__dict__, **changes})
    object.__setattr__(
        updated, "__pydantic_fields_set__", delivery.__pydantic_fields_set__ | changes.keys()
    )
    object.__setattr__(updated, "__pydantic_extra__", None)
    object.__setattr__(updated, "__pydantic_private__", None)
    return updated


def _matches(delivery: Delivery, query: DeliveryQuery) -> bool:
    checks = (
        (query.tenant, delivery.tenant),
        (query.integration_id, delivery.integration_id),
        (query.subscription_id, delivery.subscription_id),
        (query.event_id, delivery.event_id),
        (query.status, delivery.status),
        (query.topic, delivery.topic),
    )
    if any(wanted is not None and wanted != actual for wanted, actual in checks):
        return False
    if query.since is not None and delivery.created_at < query.since:
        return False
    return query.until is None or delivery.created_at < query.until


class _RoutingView:
    """The memory store's routing table, read under its lock."""

    def __init__(self, store: MemoryBase) -> None:
        self._store = store
        self.revision = store._revision

    def routes(self, tenants: Collection[str]) -> dict[str, tuple[Route, ...]]:
        return {tenant: self._store._routes_of(tenant) for tenant in tenants}
