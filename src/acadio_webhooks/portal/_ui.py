"""The HTML pages: the customer page's "Manage Integrations" flow over the same service the
JSON API uses.

Manage Integrations → Install (secret key, notification e-mail) → the integration page
(subscriptions with the topic help, Save; secret key; notification e-mail; Deactivate) →
the delivery log → one delivery with its attempts and a Resend button.

Every POST is a form checked against the signed double-submit CSRF token (:mod:`._csrf`)
before anything else happens, and answers with a redirect (post/redirect/get) or, for bad
input, the same page again with each message next to its field (status 422).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pydantic
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from acadio_webhooks.domain.models import DeliveryStatus, Subscription
from acadio_webhooks.domain.topics import Topic
from acadio_webhooks.errors import (
    AcadioWebhooksError,
    IntegrationInactive,
    NotFound,
    StorageError,
    UnreadableRecord,
)
from acadio_webhooks.integrations import Unchanged
from acadio_webhooks.portal._csrf import COOKIE_NAME, FIELD_NAME, CsrfSigner
from acadio_webhooks.portal._errors import (
    BadInput,
    Conflict,
    field_errors,
    pydantic_errors,
    unreadable,
)
from acadio_webhooks.portal._render import Renderer, path_for
from acadio_webhooks.portal._schemas import (
    InstallIn,
    IntegrationPatch,
    SecretIn,
    SubscriptionIn,
    SubscriptionPatch,
)
from acadio_webhooks.portal._service import RESENDABLE, PortalService
from acadio_webhooks.portal._tenancy import TenantOf, resolve_tenant, well_formed_id
from acadio_webhooks.ports.storage import DeliveryQuery

__all__ = ["Pages", "FormState"]

logger = logging.getLogger("acadio_webhooks.portal")

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


class Pages:
    """The page handlers and their routes."""

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

    # -- plumbing ---------------------------------------------------------------------------

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
        if isinstance(exc, NotFound):
            return self.problem(request, 404, f"{exc.kind.capitalize()} not found.", tenant=tenant)
        if isinstance(exc, (Conflict, IntegrationInactive)):
            return self.problem(request, 409, f"{str(exc).capitalize()}.", tenant=tenant)
        if isinstance(exc, UnreadableRecord):
            logger.error("unreadable record on %s: %s", request.url.path, exc)
            message = unreadable(exc)
            return self.problem(request, 500, message[0].upper() + message[1:], tenant=tenant)
        if isinstance(exc, StorageError):
            logger.error("webhooks store failed on %s", request.url.path, exc_info=exc)
            message = "The webhooks store did not answer. Try again in a moment."
            return self.problem(request, 503, message, tenant=tenant)
        raise exc

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

    def routes(self) -> list[Route]:
        """Every page and form route."""
        r = self._route
        return [
            r("/", self.home, name="home"),
            r("/install", self.install_form, name="install_form"),
            r("/install", self.install, name="install", method="POST"),
            r("/topics", self.topics, name="topics"),
            r("/integrations/{integration_id}", self.integration, name="integration"),
            r("/integrations/{integration_id}/secret", self.rotate_secret, name="secret",
              method="POST"),
            r("/integrations/{integration_id}/email", self.email, name="email", method="POST"),
            r("/integrations/{integration_id}/deactivate", self.deactivate, name="deactivate",
              method="POST"),
            r("/integrations/{integration_id}/activate", self.activate, name="activate",
              method="POST"),
            r("/integrations/{integration_id}/subscriptions", self.subscribe,
              name="subscribe", method="POST"),
            r("/integrations/{integration_id}/deliveries", self.deliveries, name="deliveries"),
            r("/integrations/{integration_id}/resend-failed", self.resend_failed,
              name="resend_failed", method="POST"),
            r("/subscriptions/{subscription_id}", self.subscription, name="subscription"),
            r("/subscriptions/{subscription_id}", self.update_subscription,
              name="subscription_update", method="POST"),
            r("/subscriptions/{subscription_id}/toggle", self.toggle_subscription,
              name="subscription_toggle", method="POST"),
            r("/subscriptions/{subscription_id}/delete", self.delete_subscription,
              name="subscription_delete", method="POST"),
            r("/subscriptions/{subscription_id}/test", self.test_event, name="test_event",
              method="POST"),
            r("/deliveries/{delivery_id}", self.delivery, name="delivery"),
            r("/deliveries/{delivery_id}/resend", self.resend, name="resend", method="POST"),
        ]  # fmt: skip

    # -- Manage Integrations and Install ----------------------------------------------------

    async def home(self, call: UiCall) -> Response:
        integrations = await self._service.integrations(call.tenant)
        return self._page(call, "home.html", integrations=integrations)

    async def install_form(self, call: UiCall) -> Response:
        installed = await self._service.integrations(call.tenant)
        if installed:
            return call.redirect("integration", integration_id=installed[0].id)
        return self._page(call, "install.html", form=FormState())

    async def install(self, call: UiCall) -> Response:
        email = call.field("notification_email")
        try:
            body: InstallIn = _validated(
                InstallIn, {"secret": call.form.get("secret", ""),
                            "notification_email": email or None},
            )  # fmt: skip
            integration = await self._service.install(
                call.tenant, secret=body.secret, notification_email=body.notification_email
            )
        except AcadioWebhooksError as exc:
            problems = _secret_not_kept(_problems(exc), call.form.get("secret", ""))
            form = FormState({"notification_email": email}, problems)
            return self._page(call, "install.html", 422, form=form)
        return call.redirect("integration", done="installed", integration_id=integration.id)

    # -- the integration page ---------------------------------------------------------------

    async def _integration_page(
        self,
        call: UiCall,
        integration_id: str,
        *,
        status: int = 200,
        forms: dict[str, FormState] | None = None,
        alert: str | None = None,
        preview: list[Topic] | None = None,
    ) -> Response:
        integration = await self._service.integration(call.tenant, integration_id)
        subscriptions = await self._service.subscriptions(call.tenant, integration_id)
        catalog = self._service.catalog
        forms = forms or {}
        email = integration.notification_email or ""
        return self._page(
            call,
            "integration.html",
            status,
            integration=integration,
            subscriptions=subscriptions,
            matched={s.id: len(catalog.matching(s.pattern)) for s in subscriptions},
            topics=list(catalog),
            overlap_choices=OVERLAP_CHOICES,
            subscribe_form=forms.get("subscribe", FormState()),
            secret_form=forms.get("secret", FormState()),
            email_form=forms.get("email", FormState({"notification_email": email})),
            alert=alert,
            preview=preview,
        )

    async def integration(self, call: UiCall) -> Response:
        return await self._integration_page(call, call.param("integration_id"))

    async def rotate_secret(self, call: UiCall) -> Response:
        integration_id = call.param("integration_id")
        try:
            body: SecretIn = _validated(
                SecretIn, {"secret": call.form.get("secret", ""),
                           "overlap_seconds": call.field("overlap_seconds") or "86400"},
            )  # fmt: skip
            await self._service.rotate_secret(
                call.tenant,
                integration_id,
                body.secret,
                overlap=timedelta(seconds=body.overlap_seconds),
            )
        except AcadioWebhooksError as exc:
            problems = _secret_not_kept(_problems(exc), call.form.get("secret", ""))
            form = FormState({"overlap_seconds": call.field("overlap_seconds")}, problems)
            return await self._integration_page(
                call, integration_id, status=422, forms={"secret": form}
            )
        return call.redirect("integration", done="secret", integration_id=integration_id)

    async def email(self, call: UiCall) -> Response:
        integration_id = call.param("integration_id")
        email = call.field("notification_email")
        try:
            body: IntegrationPatch = _validated(
                IntegrationPatch, {"notification_email": email or None}
            )
            await self._service.set_notification_email(
                call.tenant, integration_id, body.notification_email
            )
        except AcadioWebhooksError as exc:
            form = FormState({"notification_email": email}, _problems(exc))
            return await self._integration_page(
                call, integration_id, status=422, forms={"email": form}
            )
        return call.redirect("integration", done="email", integration_id=integration_id)

    async def deactivate(self, call: UiCall) -> Response:
        integration = await self._service.deactivate(call.tenant, call.param("integration_id"))
        return call.redirect("integration", done="deactivated", integration_id=integration.id)

    async def activate(self, call: UiCall) -> Response:
        integration = await self._service.activate(call.tenant, call.param("integration_id"))
        return call.redirect("integration", done="activated", integration_id=integration.id)

    async def subscribe(self, call: UiCall) -> Response:
        integration_id = call.param("integration_id")
        values = _subscription_fields(call)
        allow_future = call.form.get("allow_future_topics") == "yes"
        if call.form.get("action") == "preview":
            return await self._preview(call, integration_id, values, allow_future)
        try:
            body: SubscriptionIn = _validated(
                SubscriptionIn, {**_with_rate_limit(values), "allow_future_topics": allow_future}
            )
            await self._service.subscribe(
                call.tenant,
                integration_id,
                pattern=body.pattern,
                endpoint=body.endpoint,
                rate_limit=body.rate_limit,
                allow_future_topics=body.allow_future_topics,
            )
        except AcadioWebhooksError as exc:
            values["allow_future_topics"] = "yes" if allow_future else ""
            form = FormState(values, _problems(exc))
            return await self._integration_page(
                call, integration_id, status=422, forms={"subscribe": form}
            )
        return call.redirect("integration", done="subscribed", integration_id=integration_id)

    async def _preview(
        self, call: UiCall, integration_id: str, values: dict[str, str], allow_future: bool
    ) -> Response:
        """The integration page again with the form as typed and, under it, the topics the
        typed pattern receives; nothing is saved."""
        values["allow_future_topics"] = "yes" if allow_future else ""
        pattern = values["pattern"]
        try:
            if not pattern:
                raise BadInput({"pattern": "Enter a pattern to preview what it receives"})
            preview = self._service.topics(pattern)
        except AcadioWebhooksError as exc:
            form = FormState(values, _problems(exc))
            return await self._integration_page(
                call, integration_id, status=422, forms={"subscribe": form}
            )
        return await self._integration_page(
            call, integration_id, forms={"subscribe": FormState(values)}, preview=preview
        )

    # -- one subscription -------------------------------------------------------------------

    async def _subscription_page(
        self, call: UiCall, subscription: Subscription, form: FormState, status: int = 200
    ) -> Response:
        return self._page(
            call,
            "subscription.html",
            status,
            subscription=subscription,
            form=form,
            topics=list(self._service.catalog),
        )

    async def subscription(self, call: UiCall) -> Response:
        subscription = await self._service.subscription(call.tenant, call.param("subscription_id"))
        values = {
            "pattern": subscription.pattern,
            "endpoint": subscription.endpoint,
            "rate_limit": _shown_rate(subscription.rate_limit),
        }
        return await self._subscription_page(call, subscription, FormState(values))

    async def update_subscription(self, call: UiCall) -> Response:
        subscription = await self._service.subscription(call.tenant, call.param("subscription_id"))
        values = _subscription_fields(call)
        allow_future = call.form.get("allow_future_topics") == "yes"
        try:
            body: SubscriptionPatch = _validated(
                SubscriptionPatch,
                {**_with_rate_limit(values), "allow_future_topics": allow_future},
            )
            await self._service.update_subscription(
                call.tenant,
                subscription.id,
                pattern=body.pattern,
                endpoint=body.endpoint,
                active=None,
                # The form shows the limit: emptied, it is lifted; not posted, it stays.
                rate_limit=body.rate_limit if "rate_limit" in call.form else Unchanged.KEEP,
                allow_future_topics=body.allow_future_topics,
            )
        except AcadioWebhooksError as exc:
            values["allow_future_topics"] = "yes" if allow_future else ""
            form = FormState(values, _problems(exc))
            return await self._subscription_page(call, subscription, form, status=422)
        return call.redirect(
            "integration", done="updated", integration_id=subscription.integration_id
        )

    async def toggle_subscription(self, call: UiCall) -> Response:
        active = call.field("active") == "true"
        subscription = await self._service.update_subscription(
            call.tenant,
            call.param("subscription_id"),
            pattern=None,
            endpoint=None,
            active=active,
            allow_future_topics=False,
        )
        return call.redirect(
            "integration",
            done="enabled" if active else "disabled",
            integration_id=subscription.integration_id,
        )

    async def delete_subscription(self, call: UiCall) -> Response:
        subscription = await self._service.subscription(call.tenant, call.param("subscription_id"))
        await self._service.unsubscribe(call.tenant, subscription.id)
        return call.redirect(
            "integration", done="deleted", integration_id=subscription.integration_id
        )

    async def test_event(self, call: UiCall) -> Response:
        subscription = await self._service.subscription(call.tenant, call.param("subscription_id"))
        try:
            await self._service.send_test_event(call.tenant, subscription.id, None)
        except AcadioWebhooksError as exc:
            problem = " ".join(_problems(exc).values())
            return await self._integration_page(
                call,
                subscription.integration_id,
                status=422,
                alert=f"No test event was sent: {problem}.",
            )
        return call.redirect("deliveries", done="test", integration_id=subscription.integration_id)

    # -- the delivery log -------------------------------------------------------------------

    async def deliveries(self, call: UiCall, resend_form: FormState | None = None) -> Response:
        integration_id = call.param("integration_id")
        integration = await self._service.integration(call.tenant, integration_id)
        query = call.request.query_params
        filters = {name: query.get(name, "").strip() for name in ("status", "topic", "since")}
        errors: dict[str, str] = {}
        status_filter = None
        if filters["status"]:
            try:
                status_filter = DeliveryStatus(filters["status"])
            except ValueError:
                errors["status"] = "choose one of the listed statuses"
        if filters["topic"] and filters["topic"] not in self._service.catalog:
            errors["topic"] = "choose one of the listed topics"
        try:
            since = _utc_from_form(filters["since"], "since")
        except BadInput as exc:
            errors.update(exc.problems)
            since = None
        subscriptions = await self._service.subscriptions(call.tenant, integration_id)
        page = None
        if not errors:
            page = await self._service.deliveries(
                call.tenant,
                DeliveryQuery(
                    integration_id=integration_id,
                    status=status_filter,
                    topic=filters["topic"] or None,
                    since=since,
                    cursor=query.get("cursor") or None,
                    limit=LOG_PAGE_SIZE,
                ),
            )
        older = None
        if page is not None and page.next_cursor:
            kept = {k: v for k, v in filters.items() if v}
            target = path_for(call.request, "deliveries", integration_id=integration_id)
            older = f"{target}?{urlencode({**kept, 'cursor': page.next_cursor})}"
        done = call.request.query_params.get("done")
        notice = None
        if done == "resent_failed":
            notice = _deliveries_queued(_count(query.get("count")))
        return self._page(
            call,
            "deliveries.html",
            422 if errors or resend_form else 200,
            integration=integration,
            endpoints={s.id: s.endpoint for s in subscriptions},
            status_options=[(status.value, status.value.capitalize()) for status in DeliveryStatus],
            topic_options=[(topic.name, topic.name) for topic in self._service.catalog],
            filters=FormState(filters, errors),
            page=page,
            older=older,
            resendable={status.value for status in RESENDABLE},
            sendable={s.id for s in subscriptions if self._service.sendable(s, integration.active)},
            resend_form=resend_form or FormState(),
            live=_liveness(item.delivery.status for item in (page.items if page else ())),
            **({"notice": notice} if notice else {}),
        )

    async def resend_failed(self, call: UiCall) -> Response:
        integration_id = call.param("integration_id")
        since_text = call.field("since")
        try:
            since = _utc_from_form(since_text, "since")
            if since is None:
                raise BadInput({"since": "enter the time to resend failures from"})
            queued = await self._service.resend_failed(call.tenant, integration_id, since)
        except AcadioWebhooksError as exc:
            form = FormState({"since": since_text}, _problems(exc))
            return await self.deliveries(call, resend_form=form)
        target = path_for(call.request, "deliveries", integration_id=integration_id)
        return RedirectResponse(f"{target}?done=resent_failed&count={queued}", status_code=303)

    async def delivery(self, call: UiCall) -> Response:
        found = await self._service.delivery(call.tenant, call.param("delivery_id"))
        try:
            subscription: Subscription | None = await self._service.subscription(
                call.tenant, found.delivery.subscription_id
            )
        except NotFound:
            subscription = None
        integration = await self._service.integration(call.tenant, found.delivery.integration_id)
        return self._page(
            call,
            "delivery.html",
            delivery=found.delivery,
            attempts=found.attempts,
            subscription=subscription,
            resendable=found.delivery.status in RESENDABLE
            and self._service.sendable(subscription, integration.active),
            live=_liveness([found.delivery.status]),
        )

    async def resend(self, call: UiCall) -> Response:
        queued = await self._service.resend(call.tenant, call.param("delivery_id"))
        return call.redirect("delivery", done="resent", delivery_id=queued.id)

    # -- topic help -------------------------------------------------------------------------

    async def topics(self, call: UiCall) -> Response:
        pattern = call.request.query_params.get("pattern", "").strip()
        errors: dict[str, str] = {}
        matched = None
        if pattern:
            try:
                matched = self._service.topics(pattern)
            except AcadioWebhooksError as exc:
                errors = _problems(exc)
        return self._page(
            call,
            "topics.html",
            422 if errors else 200,
            form=FormState({"pattern": pattern}, errors),
            matched=matched,
            topics=list(self._service.catalog),
        )


def _count(text: str | None) -> int:
    try:
        return max(0, int(text or "0"))
    except ValueError:
        return 0
