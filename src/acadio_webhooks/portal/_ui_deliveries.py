"""The portal's delivery log, one delivery with its attempts, resends, and the topic list."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response

from acadio_webhooks.domain.models import DeliveryStatus, Subscription
from acadio_webhooks.errors import AcadioWebhooksError, NotFound
from acadio_webhooks.portal._errors import BadInput
from acadio_webhooks.portal._render import path_for
from acadio_webhooks.portal._service import RESENDABLE
from acadio_webhooks.portal._ui_base import (
    LOG_PAGE_SIZE,
    FormState,
    PagesBase,
    UiCall,
    _count,
    _deliveries_queued,
    _liveness,
    _problems,
    _utc_from_form,
)
from acadio_webhooks.ports.storage import DeliveryQuery

__all__ = ["DeliveryPages"]


class DeliveryPages(PagesBase):
    """The delivery log, a delivery, resends and the topics page."""

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
