"""The memory store's registry role: integrations, subscriptions, routing."""

from __future__ import annotations

from datetime import datetime

from acadio_webhooks.adapters.storage.memory._base import MemoryBase
from acadio_webhooks.domain.models import Integration, Subscription
from acadio_webhooks.domain.store_rules import require_target
from acadio_webhooks.errors import StorageError
from acadio_webhooks.ports.storage import RoutingSnapshot

__all__ = ["RegistryPart"]


class RegistryPart(MemoryBase):
    """Integrations, subscriptions and the routing table, in memory."""

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
