"""The store's tables as Django sees them: unmanaged models, no database operation.

The tables themselves are created and upgraded by the library's own (Alembic) revisions,
which the app runs after every ``manage.py migrate`` (``apps._upgrade_store``).
"""

from __future__ import annotations

from typing import ClassVar

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies: ClassVar[list[tuple[str, str]]] = []

    operations: ClassVar[list[migrations.operations.base.Operation]] = [
        migrations.CreateModel(
            name="Integration",
            fields=[
                ("id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("tenant", models.CharField(max_length=255)),
                ("notification_email", models.CharField(blank=True, max_length=320, null=True)),
                ("active", models.BooleanField()),
                ("created_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
            ],
            options={
                "db_table": "acadio_integrations",
                "ordering": ("-created_at",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Delivery",
            fields=[
                ("id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("event_id", models.CharField(max_length=64)),
                ("subscription_id", models.CharField(max_length=64)),
                ("integration_id", models.CharField(max_length=64)),
                ("tenant", models.CharField(max_length=255)),
                ("topic", models.CharField(max_length=255)),
                ("status", models.CharField(max_length=16)),
                ("attempts", models.IntegerField()),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("last_status_code", models.IntegerField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True, null=True)),
                ("created_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
            ],
            options={
                "verbose_name_plural": "deliveries",
                "db_table": "acadio_deliveries",
                "ordering": ("-created_at",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Subscription",
            fields=[
                ("id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("pattern", models.CharField(max_length=255)),
                ("endpoint", models.CharField(max_length=2048)),
                ("active", models.BooleanField()),
                ("disabled_reason", models.CharField(blank=True, max_length=500, null=True)),
                ("consecutive_failures", models.IntegerField()),
                ("failing_since", models.DateTimeField(blank=True, null=True)),
                ("paused_until", models.DateTimeField(blank=True, null=True)),
                ("rate_limit", models.FloatField(blank=True, null=True)),
                ("created_at", models.DateTimeField()),
                (
                    "integration",
                    models.ForeignKey(
                        db_column="integration_id",
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        to="acadio_webhooks.integration",
                    ),
                ),
            ],
            options={
                "db_table": "acadio_subscriptions",
                "ordering": ("-created_at",),
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="Attempt",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("number", models.IntegerField()),
                ("started_at", models.DateTimeField()),
                ("duration_ms", models.FloatField()),
                ("status_code", models.IntegerField(blank=True, null=True)),
                ("error", models.CharField(blank=True, max_length=1000, null=True)),
                ("response_excerpt", models.TextField()),
                ("succeeded", models.BooleanField()),
                (
                    "delivery",
                    models.ForeignKey(
                        db_column="delivery_id",
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="attempt_set",
                        to="acadio_webhooks.delivery",
                    ),
                ),
            ],
            options={
                "db_table": "acadio_attempts",
                "ordering": ("delivery", "number"),
                "managed": False,
            },
        ),
    ]
