"""The portal's subscription pages and forms: subscribe, edit, enable or disable, delete, test."""

from __future__ import annotations

from starlette.responses import Response

from acadio_webhooks.domain.models import Subscription
from acadio_webhooks.errors import AcadioWebhooksError
from acadio_webhooks.integrations import Unchanged
from acadio_webhooks.portal._errors import BadInput
from acadio_webhooks.portal._schemas import SubscriptionIn, SubscriptionPatch
from acadio_webhooks.portal._ui_base import (
    FormState,
    UiCall,
    _problems,
    _shown_rate,
    _subscription_fields,
    _validated,
    _with_rate_limit,
)
from acadio_webhooks.portal._ui_integrations import IntegrationPages

__all__ = ["SubscriptionPages"]


class SubscriptionPages(IntegrationPages):
    """A subscription's page and its forms (the subscribe form sits on the integration
    page, which a refused subscription comes back to)."""

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
