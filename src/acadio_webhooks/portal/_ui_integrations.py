"""The portal's integration pages: Manage Integrations, Install, and one integration's settings."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import Response

from acadio_webhooks.domain.topics import Topic
from acadio_webhooks.errors import AcadioWebhooksError
from acadio_webhooks.portal._schemas import InstallIn, IntegrationPatch, SecretIn
from acadio_webhooks.portal._ui_base import (
    OVERLAP_CHOICES,
    FormState,
    PagesBase,
    UiCall,
    _problems,
    _secret_not_kept,
    _validated,
)

__all__ = ["IntegrationPages"]


class IntegrationPages(PagesBase):
    """Manage Integrations, Install, an integration's page and its forms."""

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
