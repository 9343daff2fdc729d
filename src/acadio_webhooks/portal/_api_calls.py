"""What every request of the JSON API under ``/api/`` goes through: its :class:`Operation`
(the table of them is ``_api.OPERATIONS``), tenant resolution, body and query checks, errors.

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

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pydantic
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from acadio_webhooks.errors import AcadioWebhooksError, UnreadableRecord
from acadio_webhooks.portal._errors import (
    BadInput,
    failure_status,
    field_errors,
    pydantic_errors,
    unreadable,
)
from acadio_webhooks.portal._service import PortalService
from acadio_webhooks.portal._tenancy import TenantOf, resolve_tenant, well_formed_id

__all__ = ["ApiCall", "Operation", "json_error", "operation_endpoint"]

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
    status = failure_status(exc, operation.operation_id)
    if status is None:
        problems = field_errors(exc)
        if problems is None:
            raise exc
        return JSONResponse({"errors": problems}, status_code=422)
    if isinstance(exc, UnreadableRecord):
        return json_error(status, unreadable(exc))
    if status == 503:
        return json_error(status, "the webhooks store is unavailable; try again shortly")
    return json_error(status, str(exc))


def operation_endpoint(
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
