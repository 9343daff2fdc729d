"""The memory store's history role, and its backlog view."""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from acadio_webhooks.adapters.storage.memory._base import MemoryBase, _matches
from acadio_webhooks.domain.backlog import SUBSCRIPTION_STATES, Backlog, subscription_state
from acadio_webhooks.domain.core import is_paused
from acadio_webhooks.domain.models import Attempt, Delivery, DeliveryStatus, Event
from acadio_webhooks.domain.store_rules import decode_cursor, encode_cursor, fresh_delivery
from acadio_webhooks.ports.storage import DeliveryQuery, Page

__all__ = ["HistoryPart"]


class HistoryPart(MemoryBase):
    """Stored events, deliveries and attempts; resends; the backlog counts."""

    def get_event(self, event_id: str) -> Event:
        """The event, or ``NotFound``."""
        return self._stored(self._events, "event", event_id)

    def get_delivery(self, delivery_id: str) -> Delivery:
        """The delivery, or ``NotFound``."""
        return self._stored(self._deliveries, "delivery", delivery_id)

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
