"""Circuit breaker: subscriptions get ``paused_until``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from acadio_webhooks.adapters.storage.sql._types import TIMESTAMP

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a table in place beyond ADD COLUMN, and needs no more here,
    # but batch keeps one code path for both dialects.
    with op.batch_alter_table("acadio_subscriptions") as batch:
        batch.add_column(sa.Column("paused_until", TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acadio_subscriptions") as batch:
        batch.drop_column("paused_until")
