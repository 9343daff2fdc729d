"""The JSON API under ``/api/``: its handlers and :data:`OPERATIONS`, one
:class:`~acadio_webhooks.portal._api_calls.Operation` per endpoint (see :mod:`._api_calls`
for what every request and answer goes through).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from acadio_webhooks.integrations import Unchanged
from acadio_webhooks.portal._api_calls import ApiCall, Operation, json_error, operation_endpoint
from acadio_webhooks.portal._schemas import (
    DeliveryFilters,
    DeliveryOut,
    DeliveryPage,
    EmptyIn,
    InstallIn,
    IntegrationList,
    IntegrationOut,
    IntegrationPatch,
    QueuedCount,
    QueuedEvent,
    ResendFailedIn,
    SecretIn,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionPatch,
    TestEventIn,
    TopicFilter,
    TopicList,
    TopicOut,
)
from acadio_webhooks.portal._service import PortalService
from acadio_webhooks.portal._tenancy import TenantOf
from acadio_webhooks.ports.storage import DeliveryQuery

__all__ = ["ApiCall", "Operation", "OPERATIONS", "api_routes", "json_error"]


def api_routes(service: PortalService, tenant_of: TenantOf) -> list[Route]:
    """A route per operation, each behind tenant resolution and error mapping."""
    return [
        Route(
            operation.path,
            operation_endpoint(operation, service, tenant_of),
            methods=[operation.method],
            name=f"api:{operation.operation_id}",
        )
        for operation in OPERATIONS
    ]


# -- handlers -------------------------------------------------------------------------------


async def list_topics(call: ApiCall) -> Response:
    pattern = call.query(TopicFilter).pattern
    topics = call.service.topics(pattern)
    return call.reply(TopicList(pattern=pattern, topics=[TopicOut.of(t) for t in topics]))


async def list_integrations(call: ApiCall) -> Response:
    integrations = await call.service.integrations(call.tenant)
    return call.reply(IntegrationList(items=[IntegrationOut.of(i) for i in integrations]))


async def install_integration(call: ApiCall) -> Response:
    body = await call.body(InstallIn)
    integration = await call.service.install(
        call.tenant, secret=body.secret, notification_email=body.notification_email
    )
    return call.reply(IntegrationOut.of(integration))


async def get_integration(call: ApiCall) -> Response:
    integration = await call.service.integration(call.tenant, call.param("integration_id"))
    return call.reply(IntegrationOut.of(integration))


async def update_integration(call: ApiCall) -> Response:
    body = await call.body(IntegrationPatch)
    integration = await call.service.set_notification_email(
        call.tenant, call.param("integration_id"), body.notification_email
    )
    return call.reply(IntegrationOut.of(integration))


async def set_secret(call: ApiCall) -> Response:
    body = await call.body(SecretIn)
    integration = await call.service.rotate_secret(
        call.tenant,
        call.param("integration_id"),
        body.secret,
        overlap=timedelta(seconds=body.overlap_seconds),
    )
    return call.reply(IntegrationOut.of(integration))


async def deactivate_integration(call: ApiCall) -> Response:
    await call.body(EmptyIn)
    integration = await call.service.deactivate(call.tenant, call.param("integration_id"))
    return call.reply(IntegrationOut.of(integration))


async def activate_integration(call: ApiCall) -> Response:
    await call.body(EmptyIn)
    integration = await call.service.activate(call.tenant, call.param("integration_id"))
    return call.reply(IntegrationOut.of(integration))


async def list_subscriptions(call: ApiCall) -> Response:
    subscriptions = await call.service.subscriptions(call.tenant, call.param("integration_id"))
    return call.reply(SubscriptionList(items=[SubscriptionOut.of(s) for s in subscriptions]))


async def create_subscription(call: ApiCall) -> Response:
    body = await call.body(SubscriptionIn)
    subscription = await call.service.subscribe(
        call.tenant,
        call.param("integration_id"),
        pattern=body.pattern,
        endpoint=body.endpoint,
        headers=body.headers,
        rate_limit=body.rate_limit,
        allow_future_topics=body.allow_future_topics,
    )
    return call.reply(SubscriptionOut.of(subscription))


async def resend_failed(call: ApiCall) -> Response:
    body = await call.body(ResendFailedIn)
    queued = await call.service.resend_failed(call.tenant, call.param("integration_id"), body.since)
    return call.reply(QueuedCount(queued=queued))


async def get_subscription(call: ApiCall) -> Response:
    subscription = await call.service.subscription(call.tenant, call.param("subscription_id"))
    return call.reply(SubscriptionOut.of(subscription))


async def update_subscription(call: ApiCall) -> Response:
    body = await call.body(SubscriptionPatch)
    subscription = await call.service.update_subscription(
        call.tenant,
        call.param("subscription_id"),
        pattern=body.pattern,
        endpoint=body.endpoint,
        active=body.active,
        headers=body.headers,
        # null lifts the limit; left out, it stays.
        rate_limit=body.rate_limit if "rate_limit" in body.model_fields_set else Unchanged.KEEP,
        allow_future_topics=body.allow_future_topics,
    )
    return call.reply(SubscriptionOut.of(subscription))


async def delete_subscription(call: ApiCall) -> Response:
    await call.service.unsubscribe(call.tenant, call.param("subscription_id"))
    return call.reply(None)


async def send_test_event(call: ApiCall) -> Response:
    body = await call.body(TestEventIn)
    event_id = await call.service.send_test_event(
        call.tenant, call.param("subscription_id"), body.topic
    )
    return call.reply(QueuedEvent(event_id=event_id))


async def list_deliveries(call: ApiCall) -> Response:
    filters = call.query(DeliveryFilters)
    page = await call.service.deliveries(call.tenant, DeliveryQuery(**filters.model_dump()))
    return call.reply(
        DeliveryPage(
            items=[DeliveryOut.of(item.delivery, item.attempts) for item in page.items],
            next_cursor=page.next_cursor,
        )
    )


async def get_delivery(call: ApiCall) -> Response:
    found = await call.service.delivery(call.tenant, call.param("delivery_id"))
    return call.reply(DeliveryOut.of(found.delivery, found.attempts))


async def resend_delivery(call: ApiCall) -> Response:
    await call.body(EmptyIn)
    queued = await call.service.resend(call.tenant, call.param("delivery_id"))
    return call.reply(DeliveryOut.of(queued, []))


_INTEGRATION = "/api/integrations/{integration_id}"
_SUBSCRIPTION = "/api/subscriptions/{subscription_id}"
_DELIVERY = "/api/deliveries/{delivery_id}"


def _op(
    method: str, path: str, operation_id: str, summary: str, tag: str, **rest: Any
) -> Operation:
    return Operation(method, path, operation_id, summary, tag, **rest)


OPERATIONS: tuple[Operation, ...] = (
    _op("GET", "/api/topics", "listTopics", "The topic catalog, or what a pattern receives",
        "topics", handler=list_topics, query=TopicFilter, response=TopicList),
    _op("GET", "/api/integrations", "listIntegrations", "The tenant's integrations",
        "integrations", handler=list_integrations, response=IntegrationList),
    _op("POST", "/api/integrations", "installIntegration", "Install webhooks with a secret key",
        "integrations", handler=install_integration, body=InstallIn, status=201,
        response=IntegrationOut, conflicts=True),
    _op("GET", _INTEGRATION, "getIntegration", "One integration (never its secret)",
        "integrations", handler=get_integration, response=IntegrationOut),
    _op("PATCH", _INTEGRATION, "updateIntegration", "Set or clear the notification e-mail",
        "integrations", handler=update_integration, body=IntegrationPatch,
        response=IntegrationOut),
    _op("PUT", f"{_INTEGRATION}/secret", "setSecret", "Set a new secret key (rotation)",
        "integrations", handler=set_secret, body=SecretIn, response=IntegrationOut),
    _op("POST", f"{_INTEGRATION}/deactivate", "deactivateIntegration",
        "Deactivate: stop every delivery now", "integrations", handler=deactivate_integration,
        body=EmptyIn, response=IntegrationOut),
    _op("POST", f"{_INTEGRATION}/activate", "activateIntegration",
        "Activate a deactivated integration", "integrations", handler=activate_integration,
        body=EmptyIn, response=IntegrationOut),
    _op("GET", f"{_INTEGRATION}/subscriptions", "listSubscriptions",
        "Subscriptions of an integration", "subscriptions", handler=list_subscriptions,
        response=SubscriptionList),
    _op("POST", f"{_INTEGRATION}/subscriptions", "createSubscription",
        "Subscribe an endpoint to a pattern", "subscriptions", handler=create_subscription,
        body=SubscriptionIn, status=201, response=SubscriptionOut),
    _op("POST", f"{_INTEGRATION}/resend-failed", "resendFailed",
        "Resend every failed delivery since a time", "deliveries", handler=resend_failed,
        body=ResendFailedIn, status=202, response=QueuedCount, conflicts=True),
    _op("GET", _SUBSCRIPTION, "getSubscription", "One subscription", "subscriptions",
        handler=get_subscription, response=SubscriptionOut),
    _op("PATCH", _SUBSCRIPTION, "updateSubscription",
        "Change a subscription's pattern, endpoint or active flag", "subscriptions",
        handler=update_subscription, body=SubscriptionPatch, response=SubscriptionOut),
    _op("DELETE", _SUBSCRIPTION, "deleteSubscription", "Delete a subscription",
        "subscriptions", handler=delete_subscription, status=204),
    _op("POST", f"{_SUBSCRIPTION}/test", "sendTestEvent", "Send a test event to a subscription",
        "subscriptions", handler=send_test_event, body=TestEventIn, status=202,
        response=QueuedEvent, conflicts=True),
    _op("GET", "/api/deliveries", "listDeliveries", "The delivery log, newest first",
        "deliveries", handler=list_deliveries, query=DeliveryFilters, response=DeliveryPage),
    _op("GET", _DELIVERY, "getDelivery", "One delivery with its attempts", "deliveries",
        handler=get_delivery, response=DeliveryOut),
    _op("POST", f"{_DELIVERY}/resend", "resendDelivery",
        "Resend a failed or cancelled delivery", "deliveries", handler=resend_delivery,
        body=EmptyIn, status=202, response=DeliveryOut, conflicts=True),
)  # fmt: skip
