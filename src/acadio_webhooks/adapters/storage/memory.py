"""An in-memory :class:`~acadio_webhooks.ports.storage.Store`: for tests and quick starts.

Everything lives in dicts behind one lock, so it is safe across threads of one process and
lost when the process ends. It passes the same contract suite as the SQL store, which is why
it is shipped for users' own tests. It cannot join a host's database transaction:
``enqueue(..., connection=...)`` raises ``TypeError``.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from acadio_webhooks.adapters.storage._common import (
    check_batch,
    check_erase,
    check_lease,
    check_planned,
    check_prune,
    decode_cursor,
    due_time,
    encode_cursor,
    fold_health,
    fresh_delivery,
    later,
    not_repeated_in_batch,
    require_target,
)
from acadio_webhooks.domain.backlog import SUBSCRIPTION_STATES, Backlog, subscription_state
from acadio_webhooks.domain.core import is_paused
from acadio_webhooks.domain.messages import NO_HEADERS, Claimed, Notification, Settlement, WorkItem
from acadio_webhooks.domain.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    Integration,
    Subscription,
)
from acadio_webhooks.domain.rate_limit import Pace, Throttle
from acadio_webhooks.domain.retention import FINAL_STATUSES, PruneReport
from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import (
    DeliveryPlanner,
    DeliveryQuery,
    Page,
    Route,
    RoutingSnapshot,
)

__all__ = ["MemoryStore"]


@dataclass(frozen=True)
class _Lease:
    owner: str
    expires_at: datetime


class MemoryStore:
    """A thread-safe store kept in process memory (see the module docstring)."""

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

    # -- integrations and subscriptions -----------------------------------------------------

    def add_integration(self, integration: Integration) -> None:
        """Store a new integration (its id must be new)."""
        with self._lock:
            self._check_open()
            if integration.id in self._integrations:
                raise StorageError(f"integration {integration.id!r} already exists")
            self._integrations[integration.id] = integration
            self._revision += 1

    def update_integration(self, integration: Integration) -> None:
        """Replace the integration with the same id; ``NotFound`` if there is none."""
        with self._lock:
            self.get_integration(integration.id)
            self._integrations[integration.id] = integration
            self._revision += 1

    def get_integration(self, integration_id: str) -> Integration:
        """The integration, or ``NotFound``."""
        with self._lock:
            self._check_open()
            try:
                return self._integrations[integration_id]
            except KeyError:
                raise NotFound("integration", integration_id) from None

    def list_integrations(self, tenant: str | None = None) -> list[Integration]:
        """Integrations of ``tenant`` (all when None), oldest first."""
        with self._lock:
            self._check_open()
            found = [i for i in self._integrations.values() if tenant in (None, i.tenant)]
        return sorted(found, key=lambda i: (i.created_at, i.id))

    def add_subscription(self, subscription: Subscription) -> None:
        """Store a new subscription; ``NotFound`` if its integration does not exist."""
        with self._lock:
            self.get_integration(subscription.integration_id)
            if subscription.id in self._subscriptions:
                raise StorageError(f"subscription {subscription.id!r} already exists")
            self._subscriptions[subscription.id] = subscription
            self._revision += 1

    def update_subscription(self, subscription: Subscription) -> None:
        """Replace the subscription with the same id; ``NotFound`` if there is none.

        A changed rate limit starts afresh: deliveries put off for the old one come due now.
        """
        with self._lock:
            stored = self.get_subscription(subscription.id)
            self.get_integration(subscription.integration_id)
            self._subscriptions[subscription.id] = subscription
            self._revision += 1
            if stored.rate_limit != subscription.rate_limit:
                self._reset_throttle(subscription.id)

    def delete_subscription(self, subscription_id: str) -> None:
        """Remove a subscription and cancel its pending deliveries; ``NotFound`` if unknown."""
        with self._lock:
            subscription = self.get_subscription(subscription_id)
            self._cancel(self._pending_of(subscription_id=subscription.id), now=None)
            del self._subscriptions[subscription_id]
            self._revision += 1

    def get_subscription(self, subscription_id: str) -> Subscription:
        """The subscription, or ``NotFound``."""
        with self._lock:
            self._check_open()
            try:
                return self._subscriptions[subscription_id]
            except KeyError:
                raise NotFound("subscription", subscription_id) from None

    def list_subscriptions(self, integration_id: str) -> list[Subscription]:
        """Subscriptions of one integration, oldest first."""
        with self._lock:
            self._check_open()
            found = [s for s in self._subscriptions.values() if s.integration_id == integration_id]
        return sorted(found, key=lambda s: (s.created_at, s.id))

    def routing_revision(self) -> int:
        """A number that changes whenever any integration or subscription changes."""
        with self._lock:
            self._check_open()
            return self._revision

    def routes(self, tenant: str) -> RoutingSnapshot:
        """Active subscriptions of the tenant's active integrations, with the revision."""
        with self._lock:
            self._check_open()
            return RoutingSnapshot(self._revision, self._routes_of(tenant))

    # -- the outbox -------------------------------------------------------------------------

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

    # -- views and operations ---------------------------------------------------------------

    def get_event(self, event_id: str) -> Event:
        """The event, or ``NotFound``."""
        with self._lock:
            self._check_open()
            try:
                return self._events[event_id]
            except KeyError:
                raise NotFound("event", event_id) from None

    def get_delivery(self, delivery_id: str) -> Delivery:
        """The delivery, or ``NotFound``."""
        with self._lock:
            self._check_open()
            try:
                return self._deliveries[delivery_id]
            except KeyError:
                raise NotFound("delivery", delivery_id) from None

    def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]:
        """Deliveries matching ``query``, newest first, one page at a time."""
        after = decode_cursor(query.cursor) if query.cursor is not None else None
        with self._lock:
            self._check_open()
            found = [d for d in self._deliveries.values() if _matches(d, query)]
        found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        if after is not None:
            found = [d for d in found if (d.created_at, d.id) < after]
        page = found[: max(query.limit, 0)]
        more = len(found) > len(page) and bool(page)
        cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
        return Page(tuple(page), cursor)

    def list_attempts(self, delivery_id: str) -> list[Attempt]:
        """Attempts of one delivery, in order; ``NotFound`` if the delivery is unknown."""
        with self._lock:
            self.get_delivery(delivery_id)
            attempts = list(self._attempts.get(delivery_id, ()))
        return sorted(attempts, key=lambda a: (a.number, a.started_at))

    def resend(self, delivery_id: str, *, now: datetime) -> Delivery:
        """Queue a new delivery of the same event to the same subscription, due now."""
        with self._lock:
            old = self.get_delivery(delivery_id)
            self.get_subscription(old.subscription_id)
            return self._put(fresh_delivery(old, now))

    def resend_failed(self, integration_id: str, *, since: datetime, now: datetime) -> int:
        """Resend every failed delivery of the integration created at or after ``since``."""
        with self._lock:
            integration = self.get_integration(integration_id)
            if not integration.active:
                return 0
            failed = [
                d
                for d in self._deliveries.values()
                if d.integration_id == integration_id
                and d.status is DeliveryStatus.FAILED
                and d.created_at >= since
                and self._subscription_active(d.subscription_id)
            ]
            for delivery in sorted(failed, key=lambda d: (d.created_at, d.id)):
                self._put(fresh_delivery(delivery, now))
            return len(failed)

    def cancel_pending(
        self,
        *,
        now: datetime,
        integration_id: str | None = None,
        subscription_id: str | None = None,
    ) -> int:
        """Cancel pending deliveries of an integration or a subscription; return the count."""
        require_target(integration_id, subscription_id)
        with self._lock:
            if integration_id is not None:
                self.get_integration(integration_id)
            if subscription_id is not None:
                self.get_subscription(subscription_id)
            doomed = self._pending_of(
                integration_id=integration_id, subscription_id=subscription_id
            )
            self._cancel(doomed, now=now)
            return len(doomed)

    def backlog(self, *, now: datetime) -> Backlog:
        """See :meth:`acadio_webhooks.ports.storage.BacklogView.backlog`."""
        with self._lock:
            self._check_open()
            states = dict.fromkeys(SUBSCRIPTION_STATES, 0)
            paused: set[str] = set()
            for subscription in self._subscriptions.values():
                integration = self._integrations.get(subscription.integration_id)
                state = subscription_state(
                    active=subscription.active and integration is not None and integration.active,
                    disabled=subscription.disabled_reason is not None,
                    failing=subscription.consecutive_failures > 0,
                    paused=is_paused(subscription.paused_until, now),
                )
                states[state] += 1
                if state == "paused":
                    paused.add(subscription.id)
            due = in_flight = 0
            oldest: datetime | None = None
            for delivery_id in self._pending:
                lease = self._leases.get(delivery_id)
                if lease is not None and lease.expires_at > now:
                    in_flight += 1
                    continue
                delivery = self._deliveries[delivery_id]
                when = delivery.next_attempt_at
                if when is not None and when <= now and delivery.subscription_id not in paused:
                    due += 1
                    oldest = when if oldest is None else min(oldest, when)
            return Backlog(
                pending=len(self._pending),
                due=due,
                in_flight=in_flight,
                oldest_due_at=oldest,
                subscriptions=MappingProxyType(states),
            )

    # -- failure notifications --------------------------------------------------------------

    def unsent_notifications(self, limit: int = 1000) -> list[Notification]:
        """Queued notifications not yet sent, oldest first."""
        with self._lock:
            self._check_open()
            unsent = [n for n in self._notifications.values() if n.id not in self._sent_at]
        return sorted(unsent, key=lambda n: (n.created_at, n.id))[: max(limit, 0)]

    def mark_notifications_sent(self, notification_ids: Sequence[str], *, now: datetime) -> None:
        """Record that these notifications went out in a notice at ``now``."""
        with self._lock:
            self._check_open()
            for notification_id in notification_ids:
                if notification_id in self._notifications:
                    self._sent_at[notification_id] = now

    def last_notice_at(self, integration_id: str) -> datetime | None:
        """When the integration was last sent a notice, for rate limiting."""
        with self._lock:
            self._check_open()
            times = [
                self._sent_at[n.id]
                for n in self._notifications.values()
                if n.integration_id == integration_id and n.id in self._sent_at
            ]
        return max(times, default=None)

    # -- retention --------------------------------------------------------------------------

    def prune(
        self, before: datetime, *, limit: int = 500, dry_run: bool = False
    ) -> Iterator[PruneReport]:
        """See :meth:`acadio_webhooks.ports.storage.Retention.prune`."""
        check_prune(before, limit)
        return self._pruned(before, limit, dry_run)

    def _pruned(self, before: datetime, limit: int, dry_run: bool) -> Iterator[PruneReport]:
        after: tuple[datetime, str] | None = None
        while True:
            with self._lock:
                self._check_open()
                report, after = self._prune_events(before, after, limit, dry_run)
            yield report
            if after is None:
                break
        with self._lock:
            self._check_open()
            sent = sorted((when, ident) for ident, when in self._sent_at.items() if when < before)
            if not dry_run:
                for _, ident in sent:
                    del self._sent_at[ident]
                    del self._notifications[ident]
        yield PruneReport(notifications=len(sent), dry_run=dry_run)

    def _prune_events(
        self, before: datetime, after: tuple[datetime, str] | None, limit: int, dry_run: bool
    ) -> tuple[PruneReport, tuple[datetime, str] | None]:
        old = sorted(
            (event.created_at, event.id)
            for event in self._events.values()
            if event.created_at < before and (after is None or (event.created_at, event.id) > after)
        )[:limit]
        if not old:
            return PruneReport(dry_run=dry_run), None
        examined = {ident for _, ident in old}
        theirs: dict[str, list[Delivery]] = {}
        for delivery in self._deliveries.values():
            if delivery.event_id in examined:
                theirs.setdefault(delivery.event_id, []).append(delivery)
        going = [
            ident
            for _, ident in old
            if all(
                d.status in FINAL_STATUSES and d.updated_at < before for d in theirs.get(ident, ())
            )
        ]
        gone_deliveries = [d.id for ident in going for d in theirs.get(ident, ())]
        report = self._delete_events(going, gone_deliveries, dry_run=dry_run)
        report = replace(report, examined=len(old))
        return report, old[-1] if len(old) == limit else None

    def _delete_events(
        self, going: Sequence[str], their_deliveries: Sequence[str], *, dry_run: bool
    ) -> PruneReport:
        """Delete events ``going`` with ``their_deliveries`` (none pending) and attempts."""
        gone_attempts = sum(len(self._attempts.get(ident, ())) for ident in their_deliveries)
        if not dry_run:
            for delivery_id in their_deliveries:
                for attempt in self._attempts.pop(delivery_id, ()):
                    self._attempt_ids.discard(attempt.id)
                del self._deliveries[delivery_id]
                self._reserved.discard(delivery_id)
            for ident in going:
                event = self._events.pop(ident)
                if event.dedup_key is not None:
                    self._dedup.pop((event.tenant, event.dedup_key), None)
        return PruneReport(
            events=len(going),
            deliveries=len(their_deliveries),
            attempts=gone_attempts,
            dry_run=dry_run,
        )

    def erase(
        self,
        *,
        subject: str | None = None,
        tenant: str | None = None,
        limit: int = 500,
        dry_run: bool = False,
    ) -> Iterator[PruneReport]:
        """See :meth:`acadio_webhooks.ports.storage.Retention.erase`."""
        check_erase(subject, tenant, limit)
        return self._erased(subject, tenant, limit, dry_run)

    def _erased(
        self, subject: str | None, tenant: str | None, limit: int, dry_run: bool
    ) -> Iterator[PruneReport]:
        counted = 0  # a dry run deletes nothing: its next batch steps over what it counted
        while True:
            with self._lock:
                self._check_open()
                going = sorted(
                    e.id
                    for e in self._events.values()
                    if (subject is not None and e.subject == subject)
                    or (tenant is not None and e.tenant == tenant)
                )[counted : counted + limit]
                if not going:
                    return
                wanted = set(going)
                theirs = [d.id for d in self._deliveries.values() if d.event_id in wanted]
                notices = [
                    ident
                    for ident, notice in self._notifications.items()
                    if notice.event_id in wanted
                ]
                if not dry_run:
                    # Out of the queue and its leases first; deleted with the rest below.
                    self._cancel([i for i in theirs if i in self._pending], now=None)
                    for ident in notices:
                        del self._notifications[ident]
                        self._sent_at.pop(ident, None)
                report = self._delete_events(going, theirs, dry_run=dry_run)
            yield replace(report, notifications=len(notices), examined=len(going))
            if dry_run:
                counted += len(going)

    # -- named leases -----------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
        """Hold ``name`` for ``owner`` until ``now + ttl`` if it is free, expired or ours."""
        check_lease(name, owner, now=now, ttl=ttl)
        with self._lock:
            self._check_open()
            held = self._named_leases.get(name)
            if held is not None and held.owner != owner and held.expires_at > now:
                return False
            self._named_leases[name] = _Lease(owner, now + ttl)
            return True

    def release_lease(self, name: str, owner: str) -> None:
        """Give ``name`` up if ``owner`` holds it; otherwise do nothing."""
        check_lease(name, owner)
        with self._lock:
            self._check_open()
            held = self._named_leases.get(name)
            if held is not None and held.owner == owner:
                del self._named_leases[name]

    # -- lifecycle --------------------------------------------------------------------------

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

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self.revision = store._revision

    def routes(self, tenants: Collection[str]) -> dict[str, tuple[Route, ...]]:
        return {tenant: self._store._routes_of(tenant) for tenant in tenants}
