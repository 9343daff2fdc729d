"""Rate limits per endpoint: subscriptions get ``rate_limit`` and the limiter's state,
deliveries the flag of one put off for it.

Every column is nullable and has no default: adding them rewrites no table, and no existing
subscription is limited. The deliveries' index on (subscription_id, status) gains
next_attempt_at, so a claim finds the next delivery put off for a limit with an index walk.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from acadio_webhooks.adapters.storage.sql._types import TIMESTAMP

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("acadio_subscriptions") as batch:
        batch.add_column(sa.Column("rate_limit", sa.Double(), nullable=True))
        batch.add_column(sa.Column("rate_sent_until", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("rate_queued_until", TIMESTAMP, nullable=True))
    with op.batch_alter_table("acadio_deliveries") as batch:
        batch.add_column(sa.Column("rate_reserved", sa.Boolean(), nullable=True))
    op.create_index(
        op.f("ix_acadio_deliveries_subscription_id_status_next_attempt_at"),
        "acadio_deliveries",
        ["subscription_id", "status", "next_attempt_at"],
    )
    op.drop_index(op.f("ix_acadio_deliveries_subscription_id_status"), "acadio_deliveries")


def downgrade() -> None:
    op.create_index(
        op.f("ix_acadio_deliveries_subscription_id_status"),
        "acadio_deliveries",
        ["subscription_id", "status"],
    )
    op.drop_index(
        op.f("ix_acadio_deliveries_subscription_id_status_next_attempt_at"), "acadio_deliveries"
    )
    with op.batch_alter_table("acadio_deliveries") as batch:
        batch.drop_column("rate_reserved")
    with op.batch_alter_table("acadio_subscriptions") as batch:
        batch.drop_column("rate_queued_until")
        batch.drop_column("rate_sent_until")
        batch.drop_column("rate_limit")
