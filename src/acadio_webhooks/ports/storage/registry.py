"""The registry role: integrations, subscriptions and the routing table built from them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.models import Integration, Subscription
from acadio_webhooks.ports.storage.values import RoutingSnapshot

__all__ = ["Registry"]


@runtime_checkable
class Registry(Protocol):
    """What the admin flow (:class:`~acadio_webhooks.integrations.Integrations`, the portal,
    the CLI) manages, and what the dispatcher routes on."""

    def add_integration(self, integration: Integration) -> None:
        """Store a new integration (its id must be new)."""
        ...

    def update_integration(self, integration: Integration) -> None:
        """Replace the integration with the same id; ``NotFound`` if there is none."""
        ...

    def get_integration(self, integration_id: str) -> Integration:
        """The integration, or ``NotFound``."""
        ...

    def list_integrations(self, tenant: str | None = None) -> list[Integration]:
        """Integrations of ``tenant`` (all when None), oldest first."""
        ...

    def add_subscription(self, subscription: Subscription) -> None:
        """Store a new subscription; ``NotFound`` if its integration does not exist."""
        ...

    def update_subscription(self, subscription: Subscription) -> None:
        """Replace the subscription with the same id; ``NotFound`` if there is none."""
        ...

    def delete_subscription(self, subscription_id: str) -> None:
        """Remove a subscription and cancel its pending deliveries; ``NotFound`` if unknown."""
        ...

    def get_subscription(self, subscription_id: str) -> Subscription:
        """The subscription, or ``NotFound``."""
        ...

    def list_subscriptions(self, integration_id: str) -> list[Subscription]:
        """Subscriptions of one integration, oldest first."""
        ...

    def routing_revision(self) -> int:
        """A number that changes whenever any integration or subscription changes.

        The dispatcher caches its pattern index per tenant and rebuilds it when this moves
        (it reads it through the view that
        :meth:`~acadio_webhooks.ports.storage.outbox.Outbox.enqueue_routed` gives it, in the
        transaction that stores the events), so the read must be cheap (one indexed row)."""
        ...

    def routes(self, tenant: str) -> RoutingSnapshot:
        """Active subscriptions of the tenant's active integrations, with the revision."""
        ...

    def cancel_pending(
        self,
        *,
        now: datetime,
        integration_id: str | None = None,
        subscription_id: str | None = None,
    ) -> int:
        """Cancel pending deliveries of an integration or a subscription; return the count."""
        ...
