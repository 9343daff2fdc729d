"""Tenant-scoped operations behind both the JSON API and the HTML pages (the ownership rules
they follow are described in :mod:`._service_base`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from acadio_webhooks.domain.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Integration,
    Subscription,
)
from acadio_webhooks.domain.patterns import Pattern
from acadio_webhooks.domain.topics import Topic
from acadio_webhooks.errors import (
    InvalidEndpoint,
    InvalidPattern,
    NotFound,
    PatternMatchesNothing,
)
from acadio_webhooks.integrations import Unchanged
from acadio_webhooks.portal._errors import BadInput, Conflict, field_errors
from acadio_webhooks.portal._service_base import ServiceBase
from acadio_webhooks.ports.storage import DeliveryQuery

__all__ = ["DeliveryWithAttempts", "LogPage", "PortalService", "RESENDABLE"]

RESENDABLE = frozenset({DeliveryStatus.FAILED, DeliveryStatus.CANCELLED})
"""A pending delivery is still being tried, and a delivered one would reach a receiver that
de-duplicates on the event id and drops it: only these can be resent."""

_CONSISTENT_READS = 3  # tries at one picture of a delivery and its attempts (see delivery())


@dataclass(frozen=True)
class DeliveryWithAttempts:
    """A delivery and its attempts, in order."""

    delivery: Delivery
    attempts: list[Attempt]


@dataclass(frozen=True)
class LogPage:
    """One page of the delivery log."""

    items: list[DeliveryWithAttempts]
    next_cursor: str | None


class PortalService(ServiceBase):
    """The admin operations, each confined to one tenant's objects."""

    # -- integrations -----------------------------------------------------------------------

    async def integrations(self, tenant: str) -> list[Integration]:
        """The tenant's integrations, oldest first."""
        return await self._run(lambda: self._integrations.list(tenant))

    async def install(
        self, tenant: str, *, secret: str, notification_email: str | None
    ) -> Integration:
        """Install the tenant's webhooks integration; ``Conflict`` if it has one already."""

        def install() -> Integration:
            if self._integrations.list(tenant):
                raise Conflict(
                    "webhooks are already installed for this account; change the secret key "
                    "or activate the existing integration instead"
                )
            return self._integrations.install(
                tenant, secret=secret, notification_email=notification_email
            )

        return await self._run(install)

    async def integration(self, tenant: str, integration_id: str) -> Integration:
        """One of the tenant's integrations."""
        return await self._run(lambda: self._integration(tenant, integration_id))

    async def set_notification_email(
        self, tenant: str, integration_id: str, email: str | None
    ) -> Integration:
        """Set or clear the address told about failing deliveries."""

        def change() -> Integration:
            self._integration(tenant, integration_id)
            return self._integrations.set_notification_email(integration_id, email)

        return await self._run(change)

    async def rotate_secret(
        self, tenant: str, integration_id: str, secret: str, *, overlap: timedelta
    ) -> Integration:
        """Make ``secret`` the signing secret; the old one signs beside it for ``overlap``."""

        def rotate() -> Integration:
            self._integration(tenant, integration_id)
            return self._integrations.rotate_secret(integration_id, secret, overlap=overlap)

        return await self._run(rotate)

    async def deactivate(self, tenant: str, integration_id: str) -> Integration:
        """Disconnect: stop every delivery now."""

        def deactivate() -> Integration:
            self._integration(tenant, integration_id)
            return self._integrations.deactivate(integration_id)

        return await self._run(deactivate)

    async def activate(self, tenant: str, integration_id: str) -> Integration:
        """Reconnect a deactivated integration."""

        def activate() -> Integration:
            self._integration(tenant, integration_id)
            return self._integrations.activate(integration_id)

        return await self._run(activate)

    # -- subscriptions ----------------------------------------------------------------------

    async def subscriptions(self, tenant: str, integration_id: str) -> list[Subscription]:
        """Subscriptions of one of the tenant's integrations."""

        def listing() -> list[Subscription]:
            self._integration(tenant, integration_id)
            return self._integrations.subscriptions(integration_id)

        return await self._run(listing)

    async def subscribe(
        self,
        tenant: str,
        integration_id: str,
        *,
        pattern: str,
        endpoint: str,
        allow_future_topics: bool,
        headers: Mapping[str, str] | None = None,
        rate_limit: float | None = None,
    ) -> Subscription:
        """Subscribe ``endpoint`` to ``pattern`` (the library validates both, and the
        custom headers and rate limit)."""

        def subscribe() -> Subscription:
            self._integration(tenant, integration_id)
            try:
                return self._integrations.subscribe(
                    integration_id,
                    pattern,
                    endpoint,
                    headers=headers,
                    rate_limit=rate_limit,
                    allow_future_topics=allow_future_topics,
                )
            except (InvalidPattern, PatternMatchesNothing) as exc:
                raise self._with_endpoint_problem(exc, endpoint) from None

        return await self._run(subscribe)

    def _with_endpoint_problem(
        self, exc: InvalidPattern | PatternMatchesNothing, endpoint: str | None
    ) -> BadInput:
        """The library stops at the pattern; check the endpoint too, so a form shows both."""
        problems = field_errors(exc) or {}
        if endpoint is not None:
            try:
                self._integrations.check_endpoint(endpoint)
            except InvalidEndpoint as endpoint_exc:
                problems.update(field_errors(endpoint_exc) or {})
        return BadInput(problems)

    async def subscription(self, tenant: str, subscription_id: str) -> Subscription:
        """One of the tenant's subscriptions."""
        return await self._run(lambda: self._subscription(tenant, subscription_id))

    async def update_subscription(
        self,
        tenant: str,
        subscription_id: str,
        *,
        pattern: str | None,
        endpoint: str | None,
        active: bool | None,
        allow_future_topics: bool,
        headers: Mapping[str, str] | None = None,
        rate_limit: float | Unchanged | None = Unchanged.KEEP,
    ) -> Subscription:
        """Change a subscription's pattern, endpoint, active flag, custom headers or rate
        limit."""

        def update() -> Subscription:
            self._subscription(tenant, subscription_id)
            try:
                return self._integrations.update_subscription(
                    subscription_id,
                    pattern=pattern,
                    endpoint=endpoint,
                    active=active,
                    headers=headers,
                    rate_limit=rate_limit,
                    allow_future_topics=allow_future_topics,
                )
            except (InvalidPattern, PatternMatchesNothing) as exc:
                raise self._with_endpoint_problem(exc, endpoint) from None

        return await self._run(update)

    async def unsubscribe(self, tenant: str, subscription_id: str) -> None:
        """Delete a subscription; its pending deliveries are cancelled."""

        def unsubscribe() -> None:
            self._subscription(tenant, subscription_id)
            self._integrations.unsubscribe(subscription_id)

        await self._run(unsubscribe)

    async def send_test_event(self, tenant: str, subscription_id: str, topic: str | None) -> str:
        """Queue a test event for one subscription; return the event id."""

        def check() -> None:
            subscription = self._subscription(tenant, subscription_id)
            self._require_sendable(subscription)
            if topic is not None:
                known = self.catalog[topic]
                if not Pattern(subscription.pattern).matches(known.name):
                    problem = f"{topic!r} does not match the subscription's pattern"
                    raise BadInput({"topic": problem})
            elif not self.catalog.matching(subscription.pattern):
                raise BadInput(
                    {"topic": "the subscription's pattern matches no known topic yet; name one"}
                )

        return await self._checked(
            check, lambda: self._host.send_test_event(subscription_id, topic)
        )

    def sendable(self, subscription: Subscription | None, integration_active: bool) -> bool:
        """Whether deliveries to ``subscription`` can be queued now (what resend and test
        events require); pages offer those actions only then."""
        return subscription is not None and subscription.active and integration_active

    def _require_sendable(self, subscription: Subscription) -> None:
        if not self._store.get_integration(subscription.integration_id).active:
            raise Conflict("the integration is deactivated; activate it first")
        if not subscription.active:
            raise Conflict("the subscription is disabled; enable it first")

    # -- the delivery log -------------------------------------------------------------------

    async def deliveries(self, tenant: str, query: DeliveryQuery) -> LogPage:
        """A page of the tenant's deliveries matching ``query``, each with its attempts."""
        scoped = replace(query, tenant=tenant)

        def listing() -> LogPage:
            try:
                page = self._store.list_deliveries(scoped)
            except ValueError:
                # Stores refuse a cursor they did not write with ValueError.
                if scoped.cursor is None:
                    raise
                problem = "is not a cursor this log returned; start again from the first page"
                raise BadInput({"cursor": problem}) from None
            return LogPage(
                items=[
                    DeliveryWithAttempts(item, self._store.list_attempts(item.id))
                    for item in page.items
                ],
                next_cursor=page.next_cursor,
            )

        return await self._run(listing)

    async def delivery(self, tenant: str, delivery_id: str) -> DeliveryWithAttempts:
        """One of the tenant's deliveries with its attempts."""

        def lookup() -> DeliveryWithAttempts:
            # Two reads, one picture: the attempts are read between two reads of the delivery,
            # and kept only when the delivery did not change meanwhile (an attempt and its
            # delivery's new state are recorded together), so the page never shows "Pending,
            # 0 attempts" above a recorded attempt.
            delivery = self._delivery(tenant, delivery_id)
            for _ in range(_CONSISTENT_READS):
                attempts = self._store.list_attempts(delivery_id)
                again = self._delivery(tenant, delivery_id)
                if again == delivery:
                    break
                delivery = again
            return DeliveryWithAttempts(delivery, attempts)

        return await self._run(lookup)

    async def resend(self, tenant: str, delivery_id: str) -> Delivery:
        """Queue the delivery's event again to the same endpoint; return the new delivery."""

        def check() -> None:
            delivery = self._delivery(tenant, delivery_id)
            if delivery.status not in RESENDABLE:
                raise Conflict(
                    f"only failed or cancelled deliveries can be resent; this one is "
                    f"{delivery.status.value}"
                )
            try:
                subscription = self._store.get_subscription(delivery.subscription_id)
            except NotFound:
                raise Conflict("its subscription was deleted") from None
            self._require_sendable(subscription)

        return await self._checked(check, lambda: self._host.resend(delivery_id))

    async def resend_failed(self, tenant: str, integration_id: str, since: datetime) -> int:
        """Resend every failed delivery of the integration created since ``since``."""

        def check() -> None:
            if not self._integration(tenant, integration_id).active:
                raise Conflict("the integration is deactivated; activate it first")
            if since > self._dispatcher.clock.now():
                raise BadInput(
                    {"since": "choose a time in the past: failures since then are sent again"}
                )

        return await self._checked(check, lambda: self._host.resend_failed(integration_id, since))

    # -- the topic catalog (no I/O) ---------------------------------------------------------

    def topics(self, pattern: str | None) -> list[Topic]:
        """Every topic, or those ``pattern`` matches (``InvalidPattern`` if malformed)."""
        if pattern is None:
            return list(self.catalog)
        return self.catalog.matching(pattern)
