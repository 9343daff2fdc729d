"""Idempotent settles: attempts get ``attempt_id``, unique.

A settle whose commit landed but whose acknowledgement was lost is retried by the worker; the
unique id lets the retry find its attempts already recorded instead of recording them twice.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable in the database: making it NOT NULL would have SQLite copy the whole attempts
    # table (its largest) and keep the migration from rendering as SQL offline. The store
    # always writes it, and the backfill below leaves no row without one.
    with op.batch_alter_table("acadio_attempts") as batch:
        batch.add_column(sa.Column("attempt_id", sa.String(length=64), nullable=True))
    # Built as an expression: text concatenation is spelled `||` on SQLite and PostgreSQL,
    # CONCAT() on MySQL (where `||` means OR).
    table = sa.table("acadio_attempts", sa.column("id"), sa.column("attempt_id"))
    op.execute(
        table.update()
        .where(table.c.attempt_id.is_(None))
        .values(attempt_id=sa.literal("att_legacy_") + sa.cast(table.c.id, sa.String(20)))
    )
    op.create_index(
        op.f("ix_acadio_attempts_attempt_id"), "acadio_attempts", ["attempt_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_acadio_attempts_attempt_id"), table_name="acadio_attempts")
    with op.batch_alter_table("acadio_attempts") as batch:
        batch.drop_column("attempt_id")
