"""Tenant-scoped operations behind both the JSON API and the HTML pages.

Every method takes the tenant the host's ``tenant_of`` returned and looks up each object it
is given an id of, checking that the object belongs to that tenant. A foreign id is answered
exactly like an unknown one (:class:`~acadio_webhooks.errors.NotFound`), so no response tells
a tenant that another tenant's object exists. That holds for a stored record that cannot be
read (:class:`~acadio_webhooks.errors.UnreadableRecord`) too: it cannot say whose it is, so
an integration or subscription looked up by id is reported unreadable only when the tenant's
own listings meet it, and a delivery looked up by id is answered as not found (the tenant's
delivery log, which lists only its own, names it).

The dispatcher's store calls block, so each operation runs as one function in a worker
thread (``anyio.to_thread.run_sync``); the event loop never waits on the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from acadio_webhooks.dispatcher import AsyncDispatcher, Dispatcher
from acadio_webhooks.domain.models import (
    Delivery,
    Integration,
    Subscription,
)
from acadio_webhooks.domain.topics import TopicCatalog
from acadio_webhooks.errors import (
    NotFound,
    UnreadableRecord,
)

__all__ = ["ServiceBase"]

T = TypeVar("T")

logger = logging.getLogger("acadio_webhooks.portal")


class ServiceBase:
    """The dispatcher behind the portal, its worker thread, and the ownership checks every
    operation makes."""

    def __init__(self, dispatcher: Dispatcher | AsyncDispatcher) -> None:
        self._dispatcher = dispatcher
        # Both dispatchers do their work through one sync host; the portal calls it in its
        # worker thread, so a check and the action it guards take one trip there.
        self._host = dispatcher._host
        self._integrations = dispatcher.integrations
        self._store = dispatcher.store

    @property
    def catalog(self) -> TopicCatalog:
        """The dispatcher's topic catalog."""
        return self._dispatcher.catalog

    async def _run(self, function: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(function)

    async def _checked(self, check: Callable[[], None], act: Callable[[], T]) -> T:
        """``act`` once ``check`` passed, both in one call in the worker thread."""

        def checked() -> T:
            check()
            return act()

        return await self._run(checked)

    # -- ownership checks (run inside the worker thread) ------------------------------------

    def _integration(self, tenant: str, integration_id: str) -> Integration:
        try:
            integration = self._store.get_integration(integration_id)
        except UnreadableRecord as exc:
            raise self._if_listed(exc, lambda: self._store.list_integrations(tenant)) from None
        if integration.tenant != tenant:
            raise NotFound("integration", integration_id)
        return integration

    def _subscription(self, tenant: str, subscription_id: str) -> Subscription:
        try:
            subscription = self._store.get_subscription(subscription_id)
        except UnreadableRecord as exc:

            def every_subscription() -> None:
                for integration in self._store.list_integrations(tenant):
                    self._store.list_subscriptions(integration.id)

            raise self._if_listed(exc, every_subscription) from None
        try:
            self._integration(tenant, subscription.integration_id)
        except NotFound:
            raise NotFound("subscription", subscription_id) from None
        return subscription

    def _delivery(self, tenant: str, delivery_id: str) -> Delivery:
        try:
            delivery = self._store.get_delivery(delivery_id)
        except UnreadableRecord:
            logger.exception("an unreadable delivery looked up by id is answered as not found")
            raise NotFound("delivery", delivery_id) from None
        if delivery.tenant != tenant:
            raise NotFound("delivery", delivery_id)
        return delivery

    @staticmethod
    def _if_listed(exc: UnreadableRecord, tenants_own: Callable[[], object]) -> Exception:
        """What to raise for a record looked up by id that cannot be read: the error itself
        when reading the tenant's own records meets it, else ``NotFound``."""
        try:
            tenants_own()
        except UnreadableRecord as listed:
            # Another of the tenant's own records may stop the listing first: name that one.
            return listed
        return NotFound(exc.kind, exc.record_id)
