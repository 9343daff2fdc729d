"""The JSON API under ``/api/``: one :class:`Operation` per endpoint.

Each operation declares its request body, query and response models; the routes, the
request validation and the OpenAPI document (:mod:`._openapi`) are all built from this one
table, so the document describes exactly what the handlers accept and return.

Every request needs a tenant from the host's ``tenant_of`` (else 401). Requests with a body
must send ``Content-Type: application/json`` (else 415): a cross-site HTML form cannot, and a
cross-site script cannot without a CORS preflight, which the portal never approves. That,
with the host's own authentication, is the API's CSRF defence.

Answers: 2xx with the declared model; 401/404/409/415 as ``{"error": "..."}``; bad input as
``422 {"errors": {"field": "message"}}``. A foreign tenant's id is answered 404, like an
unknown one. A store outage is ``503 {"error": "... try again shortly"}``; a stored record
that cannot be read (:class:`~acadio_webhooks.errors.UnreadableRecord`) is a 500 naming the
record's id and asking to contact support, since trying again will not help.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import pydantic
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from acadio_webhooks.errors import (
    AcadioWebhooksError,
    IntegrationInactive,
    NotFound,
    StorageError,
    UnreadableRecord,
)
from acadio_webhooks.integrations import Unchanged
from acadio_webhooks.portal._errors import (
    BadInput,
    Conflict,
    field_errors,
    pydantic_errors,
    unreadable,
)
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
from acadio_webhooks.portal._tenancy import TenantOf, resolve_tenant, well_formed_id
from acadio_webhooks.ports.storage import DeliveryQuery

__all__ = ["ApiCall", "Operation", "OPERATIONS", "api_routes", "json_error"]

logger = logging.getLogger("acadio_webhooks.portal")

M = TypeVar("M", bound=pydantic.BaseModel)
_PATH_PARAM = re.compile(r"{(\w+)}")


def json_error(status: int, message: str) -> JSONResponse:
    """``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status_code=status)


@dataclass(frozen=True)
class Operation:
    """One API endpoint: what it accepts, what it answers, and the handler."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    handler: Callable[[ApiCall], Awaitable[Response]]
    status: int = 200
    response: type[pydantic.BaseModel] | None = None
    body: type[pydantic.BaseModel] | None = None
    query: type[pydantic.BaseModel] | None = None
    conflicts: bool = False
    path_params: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path_params", tuple(_PATH_PARAM.findall(self.path)))

    @property
    def error_statuses(self) -> tuple[int, ...]:
        """Every refusal this operation can answer with."""
        statuses = {401}
        if self.path_params:
            statuses.add(404)
        if self.body is not None:
            statuses.update((415, 422))
        if self.query is not None:
            statuses.add(422)
        if self.conflicts:
            statuses.add(409)
        return tuple(sorted(statuses))


@dataclass
class ApiCall:
    """What a handler gets: the request, the caller's tenant, the service."""

    request: Request
    tenant: str
    service: PortalService
    operation: Operation

    def param(self, name: str) -> str:
        """A path parameter (already checked to be a well-formed id)."""
        value: str = self.request.path_params[name]
        return value

    async def body(self, model: type[M]) -> M:
        """The JSON body validated as ``model`` (which must be the declared one)."""
        if model is not self.operation.body:
            raise TypeError(f"{self.operation.operation_id} declares {self.operation.body}")
        try:
            return model.model_validate_json(await self.request.body())
        except pydantic.ValidationError as exc:
            raise BadInput(pydantic_errors(exc)) from None

    def query(self, model: type[M]) -> M:
        """The query string validated as ``model`` (which must be the declared one)."""
        if model is not self.operation.query:
            raise TypeError(f"{self.operation.operation_id} declares {self.operation.query}")
        try:
            return model.model_validate(dict(self.request.query_params))
        except pydantic.ValidationError as exc:
            raise BadInput(pydantic_errors(exc, default_field="query")) from None

    def reply(self, model: pydantic.BaseModel | None) -> Response:
        """The declared status with ``model`` (of the declared type) as JSON."""
        expected = self.operation.response
        if model is None or expected is None:
            if model is not None or expected is not None:
                raise TypeError(f"{self.operation.operation_id} answers {expected}")
            return Response(status_code=self.operation.status)
        if not isinstance(model, expected):
            raise TypeError(f"{self.operation.operation_id} answers {expected}")
        return JSONResponse(model.model_dump(mode="json"), status_code=self.operation.status)


def _is_json(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def _refusal(operation: Operation, request: Request) -> Response | None:
    """The answer to a request that must not reach the handler, if it is one."""
    for name in operation.path_params:
        if not well_formed_id(request.path_params[name]):
            return json_error(404, f"{name.removesuffix('_id')} not found")
    if operation.body is not None and not _is_json(request):
        return json_error(415, "send the request body as Content-Type: application/json")
    return None


def _failure(operation: Operation, exc: AcadioWebhooksError) -> Response:
    """The answer to a library exception; re-raises what is no fault of the input."""
    if isinstance(exc, NotFound):
        return json_error(404, str(exc))
    if isinstance(exc, (Conflict, IntegrationInactive)):
        return json_error(409, str(exc))
    if isinstance(exc, UnreadableRecord):
        logger.error("unreadable record during %s: %s", operation.operation_id, exc)
        return json_error(500, unreadable(exc))
    if isinstance(exc, StorageError):
        logger.error("webhooks store failed during %s", operation.operation_id, exc_info=exc)
        return json_error(503, "the webhooks store is unavailable; try again shortly")
    problems = field_errors(exc)
    if problems is None:
        raise exc
    return JSONResponse({"errors": problems}, status_code=422)


def _endpoint(
    operation: Operation, service: PortalService, tenant_of: TenantOf
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        tenant = await resolve_tenant(tenant_of, request)
        if tenant is None:
            return json_error(401, "not signed in")
        refusal = _refusal(operation, request)
        if refusal is not None:
            return refusal
        try:
            return await operation.handler(ApiCall(request, tenant, service, operation))
        except AcadioWebhooksError as exc:
            return _failure(operation, exc)

    endpoint.__name__ = operation.operation_id
    return endpoint


def api_routes(service: PortalService, tenant_of: TenantOf) -> list[Route]:
    """A route per operation, each behind tenant resolution and error mapping."""
    return [
        Route(
            operation.path,
            _endpoint(operation, service, tenant_of),
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
