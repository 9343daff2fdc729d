"""Admin pages for integrations, subscriptions, deliveries and attempts.

Read-only views of the store's tables; every change is an action that calls the library
(deactivate, reactivate, resend), so the delivery rules — cancelling pending deliveries on
deactivation, a fresh attempt on resend — hold. Signing secrets and custom headers are not
mapped by the models, so no page shows them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from acadio_webhooks.contrib.django._emit import webhooks
from acadio_webhooks.contrib.django.models import Attempt, Delivery, Integration, Subscription
from acadio_webhooks.errors import AcadioWebhooksError


class _ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows are written by the store only: no add, edit or delete; actions act."""

    actions_on_bottom = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_act_permission(self, request: HttpRequest) -> bool:
        """Actions need the model's *change* permission, though the pages never edit."""
        meta = self.model._meta
        user: Any = request.user  # a custom user model without permissions has none
        has_perm = getattr(user, "has_perm", None)
        return callable(has_perm) and bool(has_perm(f"{meta.app_label}.change_{meta.model_name}"))

    def _each(
        self, request: HttpRequest, chosen: QuerySet[Any], act: Callable[[Any], object], done: str
    ) -> None:
        """``act`` on every chosen row; one message for those done (``3 integrations
        deactivated``), one per row refused, in the library's words."""
        succeeded = 0
        for row in chosen:
            refused = _refusal(act, row)
            if refused is None:
                succeeded += 1
            else:
                self.message_user(request, f"{row}: {refused}", level=messages.ERROR)
        if succeeded:
            meta = self.model._meta
            rows = meta.verbose_name if succeeded == 1 else meta.verbose_name_plural
            self.message_user(request, f"{succeeded} {rows} {done}")


def _refusal(act: Callable[[Any], object], row: Any) -> AcadioWebhooksError | None:
    try:
        act(row)
    except AcadioWebhooksError as exc:
        return exc
    return None


@admin.register(Integration)
class IntegrationAdmin(_ReadOnly):
    list_display = ("tenant", "id", "active", "notification_email", "created_at")
    list_filter = ("active",)
    search_fields = ("tenant", "id", "notification_email")

    @admin.action(description="Deactivate (cancels pending deliveries)", permissions=["act"])
    def deactivate(self, request: HttpRequest, chosen: QuerySet[Integration]) -> None:
        integrations = webhooks().integrations
        self._each(request, chosen, lambda row: integrations.deactivate(row.id), "deactivated")

    @admin.action(description="Reactivate", permissions=["act"])
    def activate(self, request: HttpRequest, chosen: QuerySet[Integration]) -> None:
        integrations = webhooks().integrations
        self._each(request, chosen, lambda row: integrations.activate(row.id), "reactivated")

    actions = ("deactivate", "activate")


@admin.register(Subscription)
class SubscriptionAdmin(_ReadOnly):
    list_display = (
        "pattern",
        "endpoint",
        "integration",
        "active",
        "disabled_reason",
        "consecutive_failures",
        "created_at",
    )
    list_filter = ("active",)
    search_fields = ("pattern", "endpoint", "id", "integration__tenant")

    @admin.action(description="Deactivate (cancels pending deliveries)", permissions=["act"])
    def deactivate(self, request: HttpRequest, chosen: QuerySet[Subscription]) -> None:
        integrations = webhooks().integrations
        self._each(
            request,
            chosen,
            lambda row: integrations.update_subscription(row.id, active=False),
            "deactivated",
        )

    @admin.action(description="Reactivate (clears its failure history)", permissions=["act"])
    def activate(self, request: HttpRequest, chosen: QuerySet[Subscription]) -> None:
        integrations = webhooks().integrations
        self._each(
            request,
            chosen,
            lambda row: integrations.update_subscription(row.id, active=True),
            "reactivated",
        )

    actions = ("deactivate", "activate")


class AttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Attempt
    fields = ("number", "started_at", "status_code", "duration_ms", "succeeded", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = (
        "id",
        "topic",
        "tenant",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "topic")
    search_fields = ("id", "event_id", "topic", "tenant", "subscription_id")
    inlines = (AttemptInline,)

    @admin.action(description="Resend (a new attempt now)", permissions=["act"])
    def resend(self, request: HttpRequest, chosen: QuerySet[Delivery]) -> None:
        dispatcher = webhooks()
        self._each(request, chosen, lambda row: dispatcher.resend(row.id), "resent")

    actions = ("resend",)


@admin.register(Attempt)
class AttemptAdmin(_ReadOnly):
    list_display = ("delivery", "number", "started_at", "status_code", "succeeded", "duration_ms")
    list_filter = ("succeeded",)
    search_fields = ("delivery__id",)
