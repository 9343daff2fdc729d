"""The store's tables as unmanaged Django models, for the admin and for reading in the ORM.

Django never creates, alters or writes these tables: the store does (its own migrations run
after ``manage.py migrate``; every change goes through the library, which keeps the delivery
rules). Signing secrets and custom headers are not mapped, so no page or query shows them.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models


class Integration(models.Model):
    """An LMS tenant's installed integration (its signing secrets stay unmapped)."""

    id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=64)
    tenant: models.CharField[str, str] = models.CharField(max_length=255)
    notification_email: models.CharField[str | None, str | None] = models.CharField(
        max_length=320, null=True, blank=True
    )
    active: models.BooleanField[bool, bool] = models.BooleanField()
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    updated_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "acadio_integrations"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.tenant} ({self.id})"


class Subscription(models.Model):
    """An endpoint subscribed to a topic pattern (its custom headers stay unmapped)."""

    id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=64)
    integration: models.ForeignKey[Integration, Integration] = models.ForeignKey(
        Integration, on_delete=models.DO_NOTHING, db_column="integration_id", db_constraint=False
    )
    pattern: models.CharField[str, str] = models.CharField(max_length=255)
    endpoint: models.CharField[str, str] = models.CharField(max_length=2048)
    active: models.BooleanField[bool, bool] = models.BooleanField()
    disabled_reason: models.CharField[str | None, str | None] = models.CharField(
        max_length=500, null=True, blank=True
    )
    consecutive_failures: models.IntegerField[int, int] = models.IntegerField()
    failing_since: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    paused_until: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    rate_limit: models.FloatField[float | None, float | None] = models.FloatField(
        null=True, blank=True
    )
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "acadio_subscriptions"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.pattern} -> {self.endpoint}"


class Delivery(models.Model):
    """One event's delivery to one subscription, and where it stands."""

    id: models.CharField[str, str] = models.CharField(primary_key=True, max_length=64)
    event_id: models.CharField[str, str] = models.CharField(max_length=64)
    # Deliveries outlive their subscription (history): no relation.
    subscription_id: models.CharField[str, str] = models.CharField(max_length=64)
    integration_id: models.CharField[str, str] = models.CharField(max_length=64)
    tenant: models.CharField[str, str] = models.CharField(max_length=255)
    topic: models.CharField[str, str] = models.CharField(max_length=255)
    status: models.CharField[str, str] = models.CharField(max_length=16)
    attempts: models.IntegerField[int, int] = models.IntegerField()
    next_attempt_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    last_status_code: models.IntegerField[int | None, int | None] = models.IntegerField(
        null=True, blank=True
    )
    last_error: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    updated_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "acadio_deliveries"
        ordering = ("-created_at",)
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.topic} to {self.subscription_id} ({self.status})"


class Attempt(models.Model):
    """One HTTP attempt of a delivery."""

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    delivery: models.ForeignKey[Delivery, Delivery] = models.ForeignKey(
        Delivery,
        on_delete=models.DO_NOTHING,
        db_column="delivery_id",
        db_constraint=False,
        related_name="attempt_set",
    )
    delivery_id: str
    number: models.IntegerField[int, int] = models.IntegerField()
    started_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    duration_ms: models.FloatField[float, float] = models.FloatField()
    status_code: models.IntegerField[int | None, int | None] = models.IntegerField(
        null=True, blank=True
    )
    error: models.CharField[str | None, str | None] = models.CharField(
        max_length=1000, null=True, blank=True
    )
    response_excerpt: models.TextField[str, str] = models.TextField()
    succeeded: models.BooleanField[bool, bool] = models.BooleanField()

    class Meta:
        managed = False
        db_table = "acadio_attempts"
        ordering = ("delivery", "number")

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
