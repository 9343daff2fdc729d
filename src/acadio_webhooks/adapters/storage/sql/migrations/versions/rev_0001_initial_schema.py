"""Initial schema: integrations, subscriptions, events, deliveries, attempts, notices.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from acadio_webhooks.adapters.storage.sql._types import DOUBLE, PAYLOAD, TIMESTAMP, table_options

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    options = table_options(op.get_context().dialect)
    op.create_table(
        "acadio_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("payload", PAYLOAD, nullable=False),
        sa.Column("dedup_key", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acadio_events")),
        sa.UniqueConstraint("tenant", "dedup_key", name=op.f("uq_acadio_events_tenant_dedup_key")),
        **options,
    )
    op.create_table(
        "acadio_integrations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=255), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("notification_email", sa.String(length=320), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acadio_integrations")),
        **options,
    )
    op.create_index(
        op.f("ix_acadio_integrations_tenant_created_at"),
        "acadio_integrations",
        ["tenant", "created_at"],
        unique=False,
    )

    op.create_table(
        "acadio_notifications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("delivery_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acadio_notifications")),
        **options,
    )
    op.create_index(
        op.f("ix_acadio_notifications_integration_id_sent_at"),
        "acadio_notifications",
        ["integration_id", "sent_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_acadio_notifications_sent_at_created_at"),
        "acadio_notifications",
        ["sent_at", "created_at"],
        unique=False,
    )

    routing_revision = op.create_table(
        "acadio_routing_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acadio_routing_revision")),
        **options,
    )
    # The store only ever updates this one row, so it must exist from the start.
    op.bulk_insert(routing_revision, [{"id": 1, "revision": 0}])
    op.create_table(
        "acadio_deliveries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["acadio_events.id"], name=op.f("fk_acadio_deliveries_event_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acadio_deliveries")),
        **options,
    )
    op.create_index(
        op.f("ix_acadio_deliveries_created_at_id"),
        "acadio_deliveries",
        ["created_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_acadio_deliveries_event_id"), "acadio_deliveries", ["event_id"], unique=False
    )
    op.create_index(
        op.f("ix_acadio_deliveries_integration_id_created_at"),
        "acadio_deliveries",
        ["integration_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_acadio_deliveries_status_next_attempt_at_id"),
        "acadio_deliveries",
        ["status", "next_attempt_at", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_acadio_deliveries_subscription_id_status"),
        "acadio_deliveries",
        ["subscription_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_acadio_deliveries_tenant_created_at"),
        "acadio_deliveries",
        ["tenant", "created_at"],
        unique=False,
    )

    op.create_table(
        "acadio_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("integration_id", sa.String(length=64), nullable=False),
        sa.Column("pattern", sa.String(length=255), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["acadio_integrations.id"],
            name=op.f("fk_acadio_subscriptions_integration_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acadio_subscriptions")),
        **options,
    )
    op.create_index(
        op.f("ix_acadio_subscriptions_integration_id_created_at"),
        "acadio_subscriptions",
        ["integration_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "acadio_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("duration_ms", DOUBLE, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["acadio_deliveries.id"], name=op.f("fk_acadio_attempts_delivery_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acadio_attempts")),
        **options,
    )
    op.create_index(
        op.f("ix_acadio_attempts_delivery_id_number"),
        "acadio_attempts",
        ["delivery_id", "number"],
        unique=False,
    )


def downgrade() -> None:
    # Children first; a table's indexes go with it (MySQL refuses to drop an index that a
    # foreign key still needs, so they are not dropped one by one).
    for table in (
        "acadio_attempts",
        "acadio_subscriptions",
        "acadio_deliveries",
        "acadio_routing_revision",
        "acadio_notifications",
        "acadio_integrations",
        "acadio_events",
    ):
        op.drop_table(table)
