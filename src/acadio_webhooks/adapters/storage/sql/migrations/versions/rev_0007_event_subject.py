"""Erasure: events get ``subject`` (whom the event is about) and an index on it.

``Store.erase(subject=...)`` finds a student's events through the index; without it each
erasure request would scan the whole events table.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("acadio_events") as batch:
        batch.add_column(sa.Column("subject", sa.String(255), nullable=True))
    op.create_index(op.f("ix_acadio_events_subject"), "acadio_events", ["subject"])


def downgrade() -> None:
    op.drop_index(op.f("ix_acadio_events_subject"), table_name="acadio_events")
    with op.batch_alter_table("acadio_events") as batch:
        batch.drop_column("subject")
