"""Retention: events get an index on ``(created_at, id)``.

``Store.prune`` walks the events older than the retention period in this order, a batch per
transaction; without the index each batch would scan the whole events table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_acadio_events_created_at_id"), "acadio_events", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_acadio_events_created_at_id"), table_name="acadio_events")
