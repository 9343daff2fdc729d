"""Tracing: events get ``trace_context``, the W3C trace context of a traced emit, so that its
delivery attempts join the emit's trace (``acadio_webhooks.observability.otel``).

Nullable, no index: read only with the event's payload when a delivery is claimed.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("acadio_events") as batch:
        batch.add_column(sa.Column("trace_context", sa.String(1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("acadio_events") as batch:
        batch.drop_column("trace_context")
