"""Named leases: ``acadio_leases``, so that one failure-notice flusher of a fleet mails at a time.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from acadio_webhooks.adapters.storage.sql._types import TIMESTAMP, table_options

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    options = table_options(op.get_context().dialect)
    op.create_table(
        "acadio_leases",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_acadio_leases")),
        **options,
    )


def downgrade() -> None:
    op.drop_table("acadio_leases")
