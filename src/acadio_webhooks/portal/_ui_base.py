"""What every portal page shares: the notices and error pages, the form state, the call a
handler gets, and the plumbing each route runs through (tenant, CSRF, library errors)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pydantic
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.errors import AcadioWebhooksError, NotFound, UnreadableRecord
from acadio_webhooks.portal._csrf import COOKIE_NAME, FIELD_NAME, CsrfSigner
from acadio_webhooks.portal._errors import (
    BadInput,
    failure_status,
    field_errors,
    pydantic_errors,
    unreadable,
)
from acadio_webhooks.portal._render import Renderer, path_for
from acadio_webhooks.portal._service import PortalService
from acadio_webhooks.portal._tenancy import TenantOf, resolve_tenant, well_formed_id

__all__ = ["PagesBase", "FormState", "UiCall"]

LOG_PAGE_SIZE = 25
_TYPE_KEY_AGAIN = (
    "Enter the secret key again: it is never sent back to your browser, so its field is empty"
)
OVERLAP_CHOICES = (
    (24 * 3600, "24 hours (recommended)"),
    (3600, "1 hour"),
    (0, "No overlap: replace the old key now"),
)
_NOTICES = {
    "installed": "Webhooks installed. Next, create a subscription: a pattern and the "
    "endpoint that receives it.",
    "subscribed": "Subscription saved.",
    "updated": "Subscription updated.",
    "enabled": "Subscription enabled.",
    "disabled": "Subscription disabled: nothing is sent to it until you enable it again.",
    "deleted": "Subscription deleted.",
    "secret": "Secret key changed. Receivers should verify with the new key now.",
    "email": "Notification e-mail saved.",
    "deactivated": "Webhooks deactivated: nothing is sent, and pending deliveries were cancelled.",
    "activated": "Webhooks activated.",
    "test": "Test event queued: its row below updates by itself as it is sent.",
    "resent": "Queued again as this new delivery.",
}
_PROBLEMS = {
    401: "Sign in required",
    403: "Not allowed",
    404: "Not found",
    409: "That cannot be done now",
    500: "This record cannot be read",
    503: "Temporarily unavailable",
}


@dataclass
class FormState:
    """What a form shows: the submitted values (never a secret) and a message per field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class UiCall:
    """What a page handler gets: the request, the tenant, and the submitted form fields."""

    request: Request
    tenant: str
    form: dict[str, str]

    def param(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    def field(self, name: str) -> str:
        return self.form.get(name, "").strip()

    def redirect(self, name: str, *, done: str | None = None, **params: str) -> Response:
        target = path_for(self.request, name, **params)
        if done is not None:
            target += f"?done={done}"
        return RedirectResponse(target, status_code=303)


def _subscription_fields(call: UiCall) -> dict[str, str]:
    return {
        "pattern": call.field("pattern"),
        "endpoint": call.field("endpoint"),
        "rate_limit": call.field("rate_limit"),
    }


def _with_rate_limit(values: Mapping[str, str]) -> dict[str, Any]:
    """The form's values with an empty rate limit as no limit."""
    return {**values, "rate_limit": values["rate_limit"] or None}


def _shown_rate(rate_limit: float | None) -> str:
    """A limit as the form shows it: ``5``, ``0.5``, or empty for none."""
    return "" if rate_limit is None else f"{rate_limit:g}"


def _validated(model: type[pydantic.BaseModel], data: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise BadInput(pydantic_errors(exc, default_field="form")) from None


def _problems(exc: AcadioWebhooksError) -> dict[str, str]:
    problems = field_errors(exc)
    if problems is None:
        raise exc
    return problems


def _secret_not_kept(problems: dict[str, str], submitted: str) -> dict[str, str]:
    """``problems``, saying so when a good secret key must be typed again: a page never
    carries a secret back to the browser, so its field comes back empty."""
    if submitted and "secret" not in problems:
        problems["secret"] = _TYPE_KEY_AGAIN
    return problems


def _liveness(statuses: Iterable[DeliveryStatus]) -> str:
    """``pending`` while a delivery shown may still change (the page's script then refreshes
    it), else ``settled``."""
    return "pending" if DeliveryStatus.PENDING in set(statuses) else "settled"


def _deliveries_queued(count: int) -> str:
    if count == 0:
        return "No failed deliveries were found to queue again."
    noun = "delivery" if count == 1 else "deliveries"
    return f"{count} failed {noun} queued again."


def _utc_from_form(value: str, name: str) -> datetime | None:
    """A ``datetime-local`` value (no zone: the page says UTC), or None when empty."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput({name: "enter a date and time, e.g. 2026-03-03T09:30"}) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _count(text: str | None) -> int:
    try:
        return max(0, int(text or "0"))
    except ValueError:
        return 0


class PagesBase:
    """The plumbing of the page handlers: rendering, error pages and routes."""

    def __init__(
        self,
        service: PortalService,
        tenant_of: TenantOf,
        signer: CsrfSigner,
        renderer: Renderer,
        *,
        sign_in_url: str | None = None,
    ) -> None:
        self._service = service
        self._tenant_of = tenant_of
        self._signer = signer
        self._renderer = renderer
        self._sign_in_url = sign_in_url

    def _page(self, call: UiCall, template: str, status: int = 200, **context: Any) -> Response:
        done = call.request.query_params.get("done", "")
        context.setdefault("notice", _NOTICES.get(done))
        context.setdefault("alert", None)
        # A form came back with problems: the page says so at its top, whichever form it was.
        context["form_problems"] = any(
            isinstance(value, FormState) and value.errors for value in context.values()
        )
        return self._renderer.page(
            call.request, template, context, tenant=call.tenant, status=status
        )

    def problem(
        self, request: Request, status: int, message: str, *, tenant: str | None
    ) -> Response:
        """An error page: what went wrong and a way back."""
        return self._renderer.page(
            request,
            "problem.html",
            {"heading": _PROBLEMS.get(status, "Something went wrong"), "message": message,
             "notice": None, "alert": None, "form_problems": False,
             # Sending a signed-out admin back to the portal's home would bring them here.
             "sign_in": self._sign_in_url if status == 401 else None},
            tenant=tenant,
            status=status,
        )  # fmt: skip

    def _refusal(self, request: Request, tenant: str, form: dict[str, str]) -> Response | None:
        """The answer to a request that must not reach its handler, if it is one."""
        if not all(well_formed_id(value) for value in request.path_params.values()):
            return self.problem(request, 404, "There is nothing here.", tenant=tenant)
        if request.method == "POST":
            nonce = request.cookies.get(COOKIE_NAME)
            if not self._signer.valid(tenant, nonce, form.get(FIELD_NAME)):
                message = (
                    "This form has expired or was not sent from this portal. Go back, reload "
                    "the page and try again."
                )
                return self.problem(request, 403, message, tenant=tenant)
        return None

    def _failure(self, request: Request, tenant: str, exc: AcadioWebhooksError) -> Response:
        """The page for a library exception a handler did not turn into field messages."""
        status = failure_status(exc, request.url.path)
        if status is None:
            raise exc
        if isinstance(exc, NotFound):
            message = f"{exc.kind.capitalize()} not found."
        elif isinstance(exc, UnreadableRecord):
            worded = unreadable(exc)
            message = worded[0].upper() + worded[1:]
        elif status == 503:
            message = "The webhooks store did not answer. Try again in a moment."
        else:
            message = f"{str(exc).capitalize()}."
        return self.problem(request, status, message, tenant=tenant)

    def _route(
        self, path: str, handler: Callable[[UiCall], Awaitable[Response]], *, name: str,
        method: str = "GET",
    ) -> Route:  # fmt: skip
        async def endpoint(request: Request) -> Response:
            tenant = await resolve_tenant(self._tenant_of, request)
            if tenant is None:
                message = "Sign in to the admin portal to manage webhooks."
                return self.problem(request, 401, message, tenant=None)
            form: dict[str, str] = {}
            if method == "POST":
                async with request.form() as submitted:
                    form = {k: v for k, v in submitted.items() if isinstance(v, str)}
            refusal = self._refusal(request, tenant, form)
            if refusal is not None:
                return refusal
            try:
                return await handler(UiCall(request, tenant, form))
            except AcadioWebhooksError as exc:
                return self._failure(request, tenant, exc)

        endpoint.__name__ = name
        return Route(path, endpoint, methods=[method], name=name)
