"""The SQL store's registry role: integrations, subscriptions, routing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from acadio_webhooks.adapters.storage.sql import _codec, _outbox, _queue, _throttle
from acadio_webhooks.adapters.storage.sql._store_base import SqlBase
from acadio_webhooks.adapters.storage.sql.schema import deliveries, integrations, subscriptions
from acadio_webhooks.domain import store_rules
from acadio_webhooks.domain.models import Integration, Subscription
from acadio_webhooks.errors import NotFound
from acadio_webhooks.ports.storage import RoutingSnapshot

__all__ = ["RegistryRole"]


class RegistryRole(SqlBase):
    """Integrations, subscriptions and the routing table, in SQL."""

    def add_integration(self, integration: Integration) -> None:
        """Store a new integration (its id must be new)."""
        conflict = f"integration {integration.id!r} already exists"
        with self._transaction("adding an integration", write=True, conflict=conflict) as conn:
            conn.execute(integrations.insert(), _codec.integration_row(integration, self._codec))
            _queue.bump_revision(conn)

    def update_integration(self, integration: Integration) -> None:
        """Replace the integration with the same id; ``NotFound`` if there is none."""
        row = _codec.integration_row(integration, self._codec)
        with self._transaction("updating an integration", write=True) as conn:
            result = conn.execute(
                update(integrations).where(integrations.c.id == integration.id).values(row)
            )
            if result.rowcount == 0:
                raise NotFound("integration", integration.id)
            _queue.bump_revision(conn)

    def list_integrations(self, tenant: str | None = None) -> list[Integration]:
        """Integrations of ``tenant`` (all when None), oldest first."""
        query = select(integrations).order_by(integrations.c.created_at, integrations.c.id)
        if tenant is not None:
            query = query.where(integrations.c.tenant == tenant)
        with self._transaction("listing integrations") as conn:
            rows = conn.execute(query).mappings().all()
        return [self._codec.to_integration(row) for row in rows]

    def check_sealed_secrets(self) -> dict[str, bool]:
        """Integrations whose signing secrets are sealed, each mapped to whether this store's
        ``secret_box`` opens them (never, without a box); ``{}`` when none are sealed.

        Not part of the storage port: a start-up check for tools handed a key, so that a
        missing or wrong key shows at once rather than as deliveries that cannot be signed.
        """
        query = select(integrations.c.id, integrations.c.secrets).order_by(
            integrations.c.created_at, integrations.c.id
        )
        with self._transaction("checking sealed secrets") as conn:
            rows = conn.execute(query).all()
        checked = {row.id: self._codec.opens(row.secrets) for row in rows}
        return {ident: opens for ident, opens in checked.items() if opens is not None}

    def add_subscription(self, subscription: Subscription) -> None:
        """Store a new subscription; ``NotFound`` if its integration does not exist."""
        conflict = f"subscription {subscription.id!r} already exists"
        with self._transaction("adding a subscription", write=True, conflict=conflict) as conn:
            self._require(conn, integrations, subscription.integration_id, "integration")
            conn.execute(subscriptions.insert(), self._codec.subscription_row(subscription))
            _queue.bump_revision(conn)

    def update_subscription(self, subscription: Subscription) -> None:
        """Replace the subscription with the same id; ``NotFound`` if there is none.

        A changed rate limit starts afresh: deliveries put off for the old one come due now.
        """
        with self._transaction("updating a subscription", write=True) as conn:
            self._require(conn, integrations, subscription.integration_id, "integration")
            stored = conn.execute(
                select(subscriptions.c.rate_limit).where(subscriptions.c.id == subscription.id)
            ).first()
            if stored is not None and stored.rate_limit != subscription.rate_limit:
                _throttle.reset_throttle(conn, subscription.id)
            result = conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription.id)
                .values(self._codec.subscription_row(subscription))
            )
            if result.rowcount == 0:
                raise NotFound("subscription", subscription.id)
            _queue.bump_revision(conn)

    def delete_subscription(self, subscription_id: str) -> None:
        """Remove a subscription and cancel its pending deliveries; ``NotFound`` if unknown."""
        with self._transaction("deleting a subscription", write=True) as conn:
            result = conn.execute(
                subscriptions.delete().where(subscriptions.c.id == subscription_id)
            )
            if result.rowcount == 0:
                raise NotFound("subscription", subscription_id)
            _queue.cancel_where(conn, deliveries.c.subscription_id == subscription_id, now=None)
            _queue.bump_revision(conn)

    def list_subscriptions(self, integration_id: str) -> list[Subscription]:
        """Subscriptions of one integration, oldest first."""
        query = (
            select(subscriptions)
            .where(subscriptions.c.integration_id == integration_id)
            .order_by(subscriptions.c.created_at, subscriptions.c.id)
        )
        with self._transaction("listing subscriptions") as conn:
            rows = conn.execute(query).mappings().all()
        return [self._codec.to_subscription(row) for row in rows]

    def routing_revision(self) -> int:
        """A number that changes whenever any integration or subscription changes."""
        with self._transaction("reading the routing revision") as conn:
            return _outbox.revision_of(conn, conn.dialect)

    def routes(self, tenant: str) -> RoutingSnapshot:
        """Active subscriptions of the tenant's active integrations, with the revision."""
        with self._transaction("reading routes") as conn:
            # Revision first: a change landing in between makes the routes newer than the
            # revision, so the next check rebuilds; never the other way round.
            revision = _outbox.revision_of(conn, conn.dialect)
            routes = _outbox.routes_of(conn, conn.dialect, [tenant])[tenant]
        return RoutingSnapshot(revision, routes)

    def cancel_pending(
        self,
        *,
        now: datetime,
        integration_id: str | None = None,
        subscription_id: str | None = None,
    ) -> int:
        """Cancel pending deliveries of an integration or a subscription; return the count."""
        store_rules.require_target(integration_id, subscription_id)
        conditions: list[Any] = []
        with self._transaction("cancelling deliveries", write=True) as conn:
            if integration_id is not None:
                self._require(conn, integrations, integration_id, "integration")
                conditions.append(deliveries.c.integration_id == integration_id)
            if subscription_id is not None:
                self._require(conn, subscriptions, subscription_id, "subscription")
                conditions.append(deliveries.c.subscription_id == subscription_id)
            return _queue.cancel_where(conn, *conditions, now=now)
