"""PostgreSQL: the deliveries table keeps half of each new page free (``fillfactor`` 50).

A claim's lease sets ``lease_owner``, ``lease_expires_at`` and ``rate_reserved``, which no
index holds. With room on the row's page PostgreSQL writes that as a HOT update, beside the
row; on a full page (the default, 100) it makes a new row version and enters it in all seven
of the table's indexes. Measured on a drain of 3,000 deliveries (instant transport, c=50):
PostgreSQL's own CPU 195 µs per delivery before, 148 µs after (medians of six). New pages
are about twice as many; the indexes, entered once per delivery fewer, grow less between
vacuums.

Pages already written keep their fill until the table is rewritten (``VACUUM FULL``,
``CLUSTER``, pg_repack); new ones get the room. Other databases: nothing to do (InnoDB and
SQLite write an update of unindexed columns in place).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _on_postgresql() -> bool:
    return bool(op.get_context().dialect.name == "postgresql")


def upgrade() -> None:
    if _on_postgresql():
        op.execute("ALTER TABLE acadio_deliveries SET (fillfactor = 50)")


def downgrade() -> None:
    if _on_postgresql():
        op.execute("ALTER TABLE acadio_deliveries RESET (fillfactor)")
